/* SPDX-License-Identifier: Apache-2.0
 * One worker's event loop over epoll. A turn is:
 *
 *   now = clock
 *   fetch up to LOOP_BATCH events (sleeping until the nearest timer at most)
 *   dispatch each event whose watch is still registered
 *   fire every expired timer
 *   run the before-sleep hook (flush outbound queues, finish closes)
 *
 * Watches removed during a batch have their not-yet-dispatched events dropped
 * (the batch is scanned; removals are rare next to events), so a connection
 * closed by one event never sees the next one.
 */
#include "loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"

#define LOOP_BATCH 256

struct loop {
    int epfd;
    int wakefd;
    atomic_bool stopping;
    atomic_bool wake_pending; /* coalesces eventfd writes from other threads */
    uint64_t now_ns;

    struct loop_timer **heap; /* min-heap on when_ns */
    size_t nheap;
    size_t capheap;

    struct epoll_event batch[LOOP_BATCH];
    int batch_n;
    int batch_i; /* index of the event being dispatched */

    loop_hook_cb *wake_cb;
    void *wake_arg;
    loop_hook_cb *sleep_cb;
    void *sleep_arg;
    loop_hook_cb *wait_cb;
    loop_hook_cb *resume_cb;
    void *wait_arg;
    struct loop_watch wake_watch;
};

uint64_t loop_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now(const struct loop *l)
{
    return l->now_ns;
}

static uint32_t loop_epoll_events(unsigned events)
{
    uint32_t e = 0;
    if (events & LOOP_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & LOOP_WRITE)
        e |= EPOLLOUT;
    return e;
}

static void loop_on_wake(struct loop *l, struct loop_watch *w, unsigned events)
{
    (void)events;
    uint64_t v;
    /* Drain first, then clear the flag. The other order loses wake-ups: a
     * loop_wake() between the two would see the flag clear, write, have its
     * write swallowed by our read, and leave the flag set, so every later
     * wake would return early while this loop sleeps. In this order a wake
     * that still sees the flag set has queued its work before calling, and
     * this turn's before-sleep hook, which runs after us, picks it up. */
    while (read(w->fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    atomic_store(&l->wake_pending, false);
    if (l->wake_cb)
        l->wake_cb(l, l->wake_arg);
}

struct loop *loop_new(void)
{
    struct loop *l = xcalloc(1, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wakefd < 0) {
        int e = errno;
        close(l->epfd);
        free(l);
        errno = e;
        return NULL;
    }
    l->wake_watch = (struct loop_watch){.fd = l->wakefd, .cb = loop_on_wake, .arg = l};
    if (loop_watch_add(l, &l->wake_watch, LOOP_READ) != 0) {
        int e = errno;
        close(l->wakefd);
        close(l->epfd);
        free(l);
        errno = e;
        return NULL;
    }
    l->now_ns = loop_clock_ns();
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->wakefd);
    close(l->epfd);
    free(l->heap);
    free(l);
}

int loop_watch_add(struct loop *l, struct loop_watch *w, unsigned events)
{
    struct epoll_event ev = {.events = loop_epoll_events(events), .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0)
        return -errno;
    w->events = events;
    return 0;
}

int loop_watch_mod(struct loop *l, struct loop_watch *w, unsigned events)
{
    if (w->events == events)
        return 0;
    struct epoll_event ev = {.events = loop_epoll_events(events), .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_watch_del(struct loop *l, struct loop_watch *w)
{
    /* EPOLL_CTL_DEL can only fail for an fd already gone; nothing to undo */
    (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->events = 0;
    for (int i = l->batch_i + 1; i < l->batch_n; i++)
        if (l->batch[i].data.ptr == w)
            l->batch[i].data.ptr = NULL;
}

/* --- timers: a binary min-heap; each timer knows its index for O(log n) moves */

static void loop_heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
    l->heap[i] = t;
    t->heap_idx = i;
}

static void loop_heap_up(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->when_ns <= t->when_ns)
            break;
        loop_heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    loop_heap_set(l, i, t);
}

static void loop_heap_down(struct loop *l, size_t i)
{
    struct loop_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && l->heap[c + 1]->when_ns < l->heap[c]->when_ns)
            c++;
        if (t->when_ns <= l->heap[c]->when_ns)
            break;
        loop_heap_set(l, i, l->heap[c]);
        i = c;
    }
    loop_heap_set(l, i, t);
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb *cb, void *arg)
{
    *t = (struct loop_timer){.heap_idx = SIZE_MAX, .cb = cb, .arg = arg};
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    l->nheap--;
    if (i == l->nheap)
        return;
    /* the last timer fills the hole, then moves up or down to its place */
    struct loop_timer *m = l->heap[l->nheap];
    loop_heap_set(l, i, m);
    loop_heap_up(l, i);
    loop_heap_down(l, m->heap_idx);
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t delay_ns)
{
    loop_timer_disarm(l, t);
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 64;
        l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
    }
    t->when_ns = loop_clock_ns() + delay_ns;
    loop_heap_set(l, l->nheap, t);
    l->nheap++;
    loop_heap_up(l, l->nheap - 1);
}

static void loop_fire_timers(struct loop *l)
{
    while (l->nheap > 0 && l->heap[0]->when_ns <= l->now_ns) {
        struct loop_timer *t = l->heap[0];
        loop_timer_disarm(l, t);
        t->cb(l, t);
    }
}

static int loop_timeout_ms(const struct loop *l)
{
    if (l->nheap == 0)
        return -1;
    uint64_t when = l->heap[0]->when_ns;
    if (when <= l->now_ns)
        return 0;
    uint64_t ms = (when - l->now_ns + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

void loop_set_wake_hook(struct loop *l, loop_hook_cb *cb, void *arg)
{
    l->wake_cb = cb;
    l->wake_arg = arg;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg)
{
    l->sleep_cb = cb;
    l->sleep_arg = arg;
}

void loop_set_wait_hooks(struct loop *l, loop_hook_cb *on_wait, loop_hook_cb *on_resume, void *arg)
{
    l->wait_cb = on_wait;
    l->resume_cb = on_resume;
    l->wait_arg = arg;
}

void loop_wake(struct loop *l)
{
    if (atomic_exchange_explicit(&l->wake_pending, true, memory_order_acq_rel))
        return; /* a wake is already on its way */
    uint64_t one = 1;
    while (write(l->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void loop_stop(struct loop *l)
{
    atomic_store(&l->stopping, true);
    uint64_t one = 1;
    while (write(l->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

int loop_run(struct loop *l)
{
    while (!atomic_load(&l->stopping)) {
        l->now_ns = loop_clock_ns();
        if (l->wait_cb)
            l->wait_cb(l, l->wait_arg);
        int n = epoll_wait(l->epfd, l->batch, LOOP_BATCH, loop_timeout_ms(l));
        if (l->resume_cb)
            l->resume_cb(l, l->wait_arg);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        l->now_ns = loop_clock_ns();
        l->batch_n = n;
        for (l->batch_i = 0; l->batch_i < n; l->batch_i++) {
            struct epoll_event *ev = &l->batch[l->batch_i];
            struct loop_watch *w = ev->data.ptr;
            if (!w)
                continue; /* its watch was removed earlier in this batch */
            unsigned events = 0;
            if (ev->events & (EPOLLIN | EPOLLRDHUP))
                events |= LOOP_READ;
            if (ev->events & EPOLLOUT)
                events |= LOOP_WRITE;
            if (ev->events & (EPOLLERR | EPOLLHUP))
                events |= LOOP_ERROR | LOOP_READ;
            w->cb(l, w, events);
        }
        l->batch_n = 0;
        l->batch_i = 0;
        loop_fire_timers(l);
        if (l->sleep_cb)
            l->sleep_cb(l, l->sleep_arg);
    }
    return 0;
}
