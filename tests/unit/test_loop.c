/* SPDX-License-Identifier: Apache-2.0
 * The event loop: timer order and disarm, cross-thread wake-ups, and no
 * callback for a watch removed earlier in the same batch. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

struct rec {
    int order[64];
    int n;
};

struct tagged_timer {
    struct loop_timer t;
    int tag;
    struct rec *rec;
};

static void on_timer(struct loop *l, struct loop_timer *t)
{
    struct tagged_timer *tt = (struct tagged_timer *)t;
    tt->rec->order[tt->rec->n++] = tt->tag;
    if (tt->tag == 99)
        loop_stop(l);
}

Test(loop, timers_fire_in_deadline_order)
{
    struct loop *l = loop_new();
    cr_assert_not_null(l);
    struct rec rec = {0};
    struct tagged_timer t[6];
    /* deadlines 5,1,4,2,3 ms and a stop at 20 ms */
    int delays[] = {5, 1, 4, 2, 3, 20};
    int tags[] = {5, 1, 4, 2, 3, 99};
    for (int i = 0; i < 6; i++) {
        t[i].tag = tags[i];
        t[i].rec = &rec;
        loop_timer_init(&t[i].t, on_timer, NULL);
        loop_timer_arm(l, &t[i].t, (uint64_t)delays[i] * 1000000ull);
    }
    cr_assert_eq(loop_run(l), 0);
    int expect[] = {1, 2, 3, 4, 5, 99};
    cr_assert_eq(rec.n, 6);
    cr_assert_arr_eq(rec.order, expect, sizeof(expect));
    loop_free(l);
}

Test(loop, disarmed_and_rearmed_timers)
{
    struct loop *l = loop_new();
    struct rec rec = {0};
    struct tagged_timer t[40];
    for (int i = 0; i < 40; i++) {
        t[i].tag = i;
        t[i].rec = &rec;
        loop_timer_init(&t[i].t, on_timer, NULL);
        loop_timer_arm(l, &t[i].t, (uint64_t)(40 - i) * 100000ull);
    }
    /* disarm every odd one, move 0 to the very end, disarm one twice */
    for (int i = 1; i < 40; i += 2)
        loop_timer_disarm(l, &t[i].t);
    loop_timer_disarm(l, &t[3].t);
    cr_assert_not(loop_timer_armed(&t[3].t));
    loop_timer_arm(l, &t[0].t, 9000000ull);
    struct tagged_timer stop = {.tag = 99, .rec = &rec};
    loop_timer_init(&stop.t, on_timer, NULL);
    loop_timer_arm(l, &stop.t, 10000000ull);
    loop_run(l);
    cr_assert_eq(rec.n, 21);
    for (int i = 0; i < 19; i++)
        cr_assert_eq(rec.order[i], 38 - 2 * i, "position %d", i);
    cr_assert_eq(rec.order[19], 0);
    cr_assert_eq(rec.order[20], 99);
    loop_free(l);
}

struct wake_ctx {
    struct loop *l;
    int wakes;
};

static void on_wake(struct loop *l, void *arg)
{
    struct wake_ctx *w = arg;
    w->wakes++;
    loop_stop(l);
}

static void *waker(void *arg)
{
    struct wake_ctx *w = arg;
    for (int i = 0; i < 1000; i++)
        loop_wake(w->l);
    return NULL;
}

Test(loop, wake_from_another_thread_is_coalesced)
{
    struct wake_ctx w = {.l = loop_new()};
    loop_set_wake_hook(w.l, on_wake, &w);
    pthread_t th;
    pthread_create(&th, NULL, waker, &w);
    pthread_join(th, NULL);
    cr_assert_eq(loop_run(w.l), 0);
    cr_assert_eq(w.wakes, 1, "a thousand wakes before the loop ran are one wake-up");
    loop_free(w.l);
}

struct pair {
    struct loop_watch w;
    struct pair *other;
    int calls;
};

/* The first readable watch of the batch removes the other one. */
static void on_readable(struct loop *l, struct loop_watch *w, unsigned events)
{
    struct pair *p = (struct pair *)w;
    (void)events;
    p->calls++;
    loop_watch_del(l, &p->other->w);
    loop_watch_del(l, &p->w);
    loop_stop(l);
}

Test(loop, no_event_after_removal_in_the_same_batch)
{
    struct loop *l = loop_new();
    int a[2], b[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    struct pair pa = {.w = {.fd = a[0], .cb = on_readable}},
                pb = {.w = {.fd = b[0], .cb = on_readable}};
    pa.other = &pb;
    pb.other = &pa;
    cr_assert_eq(loop_watch_add(l, &pa.w, LOOP_READ), 0);
    cr_assert_eq(loop_watch_add(l, &pb.w, LOOP_READ), 0);
    /* both become readable before the loop looks: one batch holds both */
    cr_assert_eq(write(a[1], "x", 1), 1);
    cr_assert_eq(write(b[1], "x", 1), 1);
    loop_run(l);
    cr_assert_eq(pa.calls + pb.calls, 1);
    loop_free(l);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

static int sleeps;

static void before_sleep(struct loop *l, void *arg)
{
    (void)arg;
    if (++sleeps == 3)
        loop_stop(l);
}

/* Re-armed from now on every expiry: never more than one expiry per turn,
 * however late a loaded machine wakes the loop (three timers armed up front
 * could all expire in one late turn, leaving nothing to wake the loop). */
static void rearm_timer(struct loop *l, struct loop_timer *t)
{
    loop_timer_arm(l, t, 2000000ull);
}

Test(loop, before_sleep_runs_every_turn)
{
    struct loop *l = loop_new();
    struct loop_timer t;
    sleeps = 0;
    loop_set_before_sleep(l, before_sleep, NULL);
    loop_timer_init(&t, rearm_timer, NULL);
    loop_timer_arm(l, &t, 2000000ull);
    loop_run(l);
    cr_assert_eq(sleeps, 3);
    loop_timer_disarm(l, &t);
    loop_free(l);
}

/* Ping-pong between a thread and a loop: the thread posts one item and wakes
 * the loop, then waits until the loop's before-sleep hook has taken it, while
 * another thread wakes the loop at random moments (so that some wake lands
 * while the loop is handling the previous one). A lost wake-up leaves the loop
 * asleep with the item posted, and the test times out. */
struct pingpong {
    struct loop *l;
    atomic_int posted;
    atomic_int taken;
    atomic_bool done;
    int rounds;
};

static void *pingpong_noise(void *arg)
{
    struct pingpong *pp = arg;
    while (!atomic_load(&pp->done))
        loop_wake(pp->l);
    return NULL;
}

static void pingpong_take(struct loop *l, void *arg)
{
    struct pingpong *pp = arg;
    atomic_store(&pp->taken, atomic_load(&pp->posted));
    if (atomic_load(&pp->taken) == pp->rounds)
        loop_stop(l);
}

static void *pingpong_poster(void *arg)
{
    struct pingpong *pp = arg;
    for (int i = 1; i <= pp->rounds; i++) {
        atomic_store(&pp->posted, i);
        loop_wake(pp->l);
        while (atomic_load(&pp->taken) < i)
            ;
    }
    atomic_store(&pp->done, true);
    return NULL;
}

Test(loop, no_wake_up_is_lost, .timeout = 60)
{
    struct pingpong pp = {.l = loop_new(), .rounds = 20000};
    loop_set_before_sleep(pp.l, pingpong_take, &pp);
    pthread_t th, noise;
    pthread_create(&th, NULL, pingpong_poster, &pp);
    pthread_create(&noise, NULL, pingpong_noise, &pp);
    cr_assert_eq(loop_run(pp.l), 0);
    pthread_join(th, NULL);
    pthread_join(noise, NULL);
    cr_assert_eq(atomic_load(&pp.taken), pp.rounds);
    loop_free(pp.l);
}
