/* SPDX-License-Identifier: Apache-2.0
 * The event loop of one worker thread: fd watches (epoll), timers (a min-heap),
 * a cross-thread wake-up (eventfd) and a hook run before each sleep. A loop is
 * owned by one thread; only loop_wake() and loop_stop() may be called from
 * others. */
#ifndef NATSD_LOOP_H
#define NATSD_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_watch;
struct loop_timer;

#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u /* reported only: hang-up or socket error */

typedef void loop_io_cb(struct loop *l, struct loop_watch *w, unsigned events);
typedef void loop_timer_cb(struct loop *l, struct loop_timer *t);
typedef void loop_hook_cb(struct loop *l, void *arg);

/* A watched fd. Embedded in its owner (a connection, a listener); the loop
 * borrows it from loop_watch_add() to loop_watch_del(). After loop_watch_del()
 * no further callback is made for it, even for events already fetched in the
 * current batch, as long as the memory stays valid until the batch ends (close
 * is deferred to the loop's after-dispatch hook for that reason). */
struct loop_watch {
    int fd;
    unsigned events; /* LOOP_READ | LOOP_WRITE currently asked for */
    loop_io_cb *cb;
    void *arg;
};

/* A one-shot timer. Embedded in its owner; re-arm from the callback to repeat. */
struct loop_timer {
    uint64_t when_ns; /* monotonic deadline */
    size_t heap_idx;  /* position in the heap; SIZE_MAX when not armed */
    loop_timer_cb *cb;
    void *arg;
};

/* A new loop, or NULL with errno set when epoll or eventfd cannot be created. */
struct loop *loop_new(void);

/* Free the loop. Watches and timers still registered are forgotten, not called. */
void loop_free(struct loop *l);

/* Watch w->fd for events (LOOP_READ and/or LOOP_WRITE); fill fd, cb, arg first.
 * Returns 0 or -errno. Owner thread only. */
int loop_watch_add(struct loop *l, struct loop_watch *w, unsigned events);

/* Change the events asked for; a no-op when unchanged. Returns 0 or -errno. */
int loop_watch_mod(struct loop *l, struct loop_watch *w, unsigned events);

/* Stop watching w (the fd is not closed). Pending events of the current batch
 * for w are dropped. Owner thread only. */
void loop_watch_del(struct loop *l, struct loop_watch *w);

/* Arm t to fire after delay_ns (re-arming an armed timer moves it). */
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ns);

/* Disarm t; a no-op when it is not armed. */
void loop_timer_disarm(struct loop *l, struct loop_timer *t);

static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

/* Initialise an unarmed timer. */
void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *arg);

/* Called on the loop thread after a loop_wake() from any thread (coalesced: one
 * call for any number of wakes since the last). */
void loop_set_wake_hook(struct loop *l, loop_hook_cb *cb, void *arg);

/* Called on the loop thread once per turn, after the events and timers of the
 * turn and before the loop sleeps: where connections are flushed and closed. */
void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg);

/* Called on the loop thread right before it blocks in epoll_wait (on_wait)
 * and right after it returns (on_resume): between the two the thread touches
 * no shared state, which the worker layer uses to reclaim memory safely. */
void loop_set_wait_hooks(struct loop *l, loop_hook_cb *on_wait, loop_hook_cb *on_resume, void *arg);

/* Wake the loop from any thread. Async-signal-safe. */
void loop_wake(struct loop *l);

/* Run turns until loop_stop(). Returns 0, or -errno if epoll_wait fails. */
int loop_run(struct loop *l);

/* Make loop_run() return after the current turn. Any thread. */
void loop_stop(struct loop *l);

/* The monotonic time in nanoseconds cached at the start of the current turn. */
uint64_t loop_now(const struct loop *l);

/* The monotonic clock, read now. */
uint64_t loop_clock_ns(void);

#endif
