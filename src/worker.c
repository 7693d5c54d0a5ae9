/* SPDX-License-Identifier: Apache-2.0
 * Worker threads. Each runs one loop; a turn ends in worker_before_sleep():
 *
 *   1. adopt sockets handed over by the acceptor;
 *   2. flush every connection queued for flushing (its own appends and, from
 *      the inbox, other workers'), one writev each;
 *   3. write to the other workers' connections this turn delivered to whose
 *      owners allow it (conn_flush_direct), and wake the owners of the rest
 *      (once each);
 *   4. retire the connections closed this turn, and free what every worker
 *      has since passed a quiescent point for.
 *
 * Reclamation. A worker may hold pointers to connections and subscriptions of
 * other workers (from a match result) during a turn, and holds none while it
 * is blocked in epoll_wait. The server keeps an epoch; retiring an object
 * advances it and tags the object with the new value. A worker publishes the
 * epoch it saw when it came online, and UINT64_MAX while blocked. An object is
 * freed once every worker has published a value at least its tag: each has
 * either been blocked since, or started a new turn after the object had
 * already been unlinked from everything shared.
 */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "client.h"
#include "common.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "opts.h"
#include "server.h"

/* The most messages a turn may have taken in for it to write other workers'
 * connections itself (see worker_before_sleep). */
#define WORKER_DIRECT_TURN_MSGS 16

static __thread struct worker *worker_tl;

struct worker *worker_current(void)
{
    return worker_tl;
}

uint64_t worker_rand(struct worker *w)
{
    /* xorshift64*: fast, and plenty for picking queue members */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void worker_queue_flush(struct worker *w, struct conn *c, struct worker *cur)
{
    if (cur == w) {
        c->flush_next = w->local_flush;
        w->local_flush = c;
        return;
    }
    pthread_mutex_lock(&w->inbox_mu);
    c->flush_next = w->inbox_flush;
    w->inbox_flush = c;
    pthread_mutex_unlock(&w->inbox_mu);
    if (cur) {
        /* woken once at the end of cur's turn, not once per message */
        if (!cur->wake[w->idx]) {
            cur->wake[w->idx] = true;
            cur->wake_any = true;
        }
    } else {
        loop_wake(w->loop);
    }
}

void worker_acc_flush(struct worker *w)
{
    if (w->st_peer_msgs) {
        struct account *g = w->s->gacc;
        atomic_fetch_add_explicit(&g->in_msgs, w->st_peer_msgs, memory_order_relaxed);
        atomic_fetch_add_explicit(&g->in_bytes, w->st_peer_bytes, memory_order_relaxed);
        w->st_peer_msgs = w->st_peer_bytes = 0;
    }
    struct account *a = w->st_acc;
    if (!a)
        return;
    /* accounts are never freed while workers run (a removed one stays in
     * the table), so the pointer kept across turns is safe */
    if (w->st_in_msgs) {
        atomic_fetch_add_explicit(&a->in_msgs, w->st_in_msgs, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->in_bytes, w->st_in_bytes, memory_order_relaxed);
    }
    if (w->st_out_msgs) {
        atomic_fetch_add_explicit(&a->out_msgs, w->st_out_msgs, memory_order_relaxed);
        atomic_fetch_add_explicit(&a->out_bytes, w->st_out_bytes, memory_order_relaxed);
    }
    w->st_in_msgs = w->st_in_bytes = w->st_out_msgs = w->st_out_bytes = 0;
}

void worker_wake_marked(struct worker *cur)
{
    if (!cur->wake_any)
        return;
    for (int i = 0; i < cur->s->nworkers; i++) {
        if (cur->wake[i]) {
            cur->wake[i] = false;
            loop_wake(cur->s->workers[i]->loop);
        }
    }
    cur->wake_any = false;
}

void worker_hand_over(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    pthread_mutex_lock(&w->inbox_mu);
    if (w->n_inbox_new == w->cap_inbox_new) {
        w->cap_inbox_new = w->cap_inbox_new ? w->cap_inbox_new * 2 : 16;
        w->inbox_new = xrealloc(w->inbox_new, w->cap_inbox_new * sizeof(*w->inbox_new));
    }
    w->inbox_new[w->n_inbox_new].fd = fd;
    w->inbox_new[w->n_inbox_new].peer = *peer;
    w->n_inbox_new++;
    pthread_mutex_unlock(&w->inbox_mu);
    loop_wake(w->loop);
}

void worker_add_closing(struct worker *w, struct conn *c)
{
    if (w->nclosing == w->capclosing) {
        w->capclosing = w->capclosing ? w->capclosing * 2 : 16;
        w->closing = xrealloc(w->closing, w->capclosing * sizeof(*w->closing));
    }
    w->closing[w->nclosing++] = c;
}

void worker_retire(struct worker *w, void *p, void (*free_fn)(void *p))
{
    if (w->nretired == w->capretired) {
        w->capretired = w->capretired ? w->capretired * 2 : 64;
        w->retired = xrealloc(w->retired, w->capretired * sizeof(*w->retired));
    }
    uint64_t tag = atomic_fetch_add(&w->s->epoch, 1) + 1;
    w->retired[w->nretired++] = (struct worker_retired){.p = p, .free_fn = free_fn, .epoch = tag};
}

static uint64_t worker_min_seen(const struct server *s)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < s->nworkers; i++) {
        uint64_t v = atomic_load(&s->workers[i]->seen_epoch);
        if (v < min)
            min = v;
    }
    return min;
}

static void worker_reclaim(struct worker *w)
{
    if (w->nretired == 0)
        return;
    uint64_t min = worker_min_seen(w->s);
    size_t keep = 0;
    for (size_t i = 0; i < w->nretired; i++) {
        if (w->retired[i].epoch <= min)
            w->retired[i].free_fn(w->retired[i].p);
        else
            w->retired[keep++] = w->retired[i];
    }
    w->nretired = keep;
    if (keep > 0 && !loop_timer_armed(&w->reclaim_timer)) {
        /* Another worker is mid-turn: look again shortly, even if nothing else
         * wakes this loop (not at once: that would spin while it works). */
        loop_timer_arm(w->loop, &w->reclaim_timer, 1000000ull);
    }
}

static void worker_on_reclaim_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    (void)t; /* the turn's before-sleep hook does the work */
}

static void worker_free_conn(void *p)
{
    struct conn *c = p;
    if (c->kops->on_free)
        c->kops->on_free(c);
    proto_connect_free(&c->opts);
    pthread_mutex_destroy(&c->out_mu);
    free(c);
}

static void worker_adopt(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    client_accept(w, fd, peer);
}

static void worker_on_wake(struct loop *l, void *arg)
{
    (void)l;
    (void)arg;
    /* the inbox is drained in worker_before_sleep, which runs every turn */
}

static void worker_on_wait(struct loop *l, void *arg)
{
    (void)l;
    struct worker *w = arg;
    atomic_store(&w->seen_epoch, UINT64_MAX);
}

static void worker_on_resume(struct loop *l, void *arg)
{
    (void)l;
    struct worker *w = arg;
    /* seq_cst: published before this turn reads anything shared */
    atomic_store(&w->seen_epoch, atomic_load(&w->s->epoch));
}

static void worker_flush_list(struct conn *c)
{
    while (c) {
        struct conn *next = c->flush_next;
        c->flush_next = NULL;
        conn_flush(c); /* skips connections already closing */
        c = next;
    }
}

void worker_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
    struct worker_task t = {.fn = fn, .arg = arg};
    /* running is read under inbox_mu, where worker_stop clears it after
     * draining the tasks: a task queued here is always run by one of them */
    pthread_mutex_lock(&w->inbox_mu);
    if (!w->running) {
        pthread_mutex_unlock(&w->inbox_mu);
        fn(w, arg);
        return;
    }
    t.next = w->inbox_tasks;
    /* t lives on this stack until the worker marks it done, and we wait for
     * that below: the list never holds it past this call */
    w->inbox_tasks = &t; /* cppcheck-suppress autoVariables */
    pthread_mutex_unlock(&w->inbox_mu);
    loop_wake(w->loop);
    pthread_mutex_lock(&w->inbox_mu);
    while (!t.done)
        pthread_cond_wait(&w->tasks_cv, &w->inbox_mu);
    pthread_mutex_unlock(&w->inbox_mu);
}

void worker_post(struct worker *w, struct worker_post *p)
{
    pthread_mutex_lock(&w->inbox_mu);
    p->next = w->inbox_posts;
    w->inbox_posts = p;
    pthread_mutex_unlock(&w->inbox_mu);
    loop_wake(w->loop);
}

/* A worker_post_to() call: the post with its function and argument. */
struct worker_post_call {
    struct worker_post post; /* first: the post is the call */
    void (*fn)(void *arg);
    void *arg;
};

static void worker_post_call_run(struct worker *w, struct worker_post *p)
{
    (void)w;
    struct worker_post_call *c = (struct worker_post_call *)p;
    c->fn(c->arg);
    free(c);
}

void worker_post_to(void *w, void (*fn)(void *arg), void *arg)
{
    struct worker_post_call *c = xmalloc(sizeof(*c));
    c->post.fn = worker_post_call_run;
    c->post.next = NULL;
    c->fn = fn;
    c->arg = arg;
    worker_post(w, &c->post);
}

/* Run the posts of list (newest first) oldest first. */
static void worker_run_posts(struct worker *w, struct worker_post *list)
{
    struct worker_post *rev = NULL;
    while (list) {
        struct worker_post *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        struct worker_post *next = rev->next;
        rev->next = NULL;
        rev->fn(w, rev); /* may free rev */
        rev = next;
    }
}

static void worker_run_tasks(struct worker *w, struct worker_task *t)
{
    while (t) {
        struct worker_task *next = t->next;
        t->fn(w, t->arg);
        pthread_mutex_lock(&w->inbox_mu);
        t->done = true; /* t lives on the caller's stack: not touched after this */
        pthread_cond_broadcast(&w->tasks_cv);
        pthread_mutex_unlock(&w->inbox_mu);
        t = next;
    }
}

static void worker_before_sleep(struct loop *l, void *arg)
{
    (void)l;
    struct worker *w = arg;

    pthread_mutex_lock(&w->inbox_mu);
    struct worker_newconn *news = w->inbox_new;
    size_t nnew = w->n_inbox_new;
    w->inbox_new = NULL;
    w->n_inbox_new = w->cap_inbox_new = 0;
    struct conn *remote = w->inbox_flush;
    w->inbox_flush = NULL;
    struct worker_task *tasks = w->inbox_tasks;
    w->inbox_tasks = NULL;
    struct worker_post *posts = w->inbox_posts;
    w->inbox_posts = NULL;
    pthread_mutex_unlock(&w->inbox_mu);

    worker_run_tasks(w, tasks);
    worker_run_posts(w, posts);

    for (size_t i = 0; i < nnew; i++)
        worker_adopt(w, news[i].fd, &news[i].peer);
    free(news);

    /* The counters first: a client that got the answer flushed below (a
     * PONG) finds its messages counted in /varz. */
    atomic_store_explicit(&w->in_msgs, w->n_in_msgs, memory_order_relaxed);
    atomic_store_explicit(&w->in_bytes, w->n_in_bytes, memory_order_relaxed);
    atomic_store_explicit(&w->out_msgs, w->n_out_msgs, memory_order_relaxed);
    atomic_store_explicit(&w->out_bytes, w->n_out_bytes, memory_order_relaxed);

    /* Flushing can queue more (a close that answers with -ERR): loop until
     * the local list stays empty. */
    worker_flush_list(remote);
    while (w->local_flush) {
        struct conn *local = w->local_flush;
        w->local_flush = NULL;
        worker_flush_list(local);
    }
    /* Last, the other workers' connections this turn delivered to (flushing
     * above may have queued more of them). After a turn that took in a few
     * messages (a request, a reply, a trickle) they are written from here,
     * sooner than by waking their owners; after a busy turn (a stream) their
     * owners write them, in parallel with the next read here. */
    bool direct = w->n_in_msgs - w->turn_in_msgs <= WORKER_DIRECT_TURN_MSGS;
    w->turn_in_msgs = w->n_in_msgs;
    while (w->direct_flush) {
        struct conn *c = w->direct_flush;
        w->direct_flush = c->flush_next;
        c->flush_next = NULL;
        conn_flush_direct(c, w, direct);
    }
    worker_wake_marked(w);

    worker_acc_flush(w);

    for (size_t i = 0; i < w->nclosing; i++)
        worker_retire(w, w->closing[i], worker_free_conn);
    w->nclosing = 0;
    worker_reclaim(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    worker_tl = w;
    char name[16];
    snprintf(name, sizeof(name), "natsd-w%d", w->idx);
    pthread_setname_np(pthread_self(), name);
    int rc = loop_run(w->loop);
    if (rc != 0)
        NLOG_ERROR("Worker %d loop failed: %s", w->idx, strerror(-rc));
    return NULL;
}

struct worker *worker_new(struct server *s, int idx)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->s = s;
    w->idx = idx;
    w->loop = loop_new();
    if (!w->loop) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->inbox_mu, NULL);
    pthread_cond_init(&w->tasks_cv, NULL);
    w->cache = sublist_cache_new(server_opts(s)->disable_sublist_cache ? 0 : 1024);
    sublist_result_init(&w->scratch);
    w->wake = xcalloc((size_t)s->nworkers, sizeof(bool));
    w->rng =
        0x9E3779B97F4A7C15ULL ^ ((uint64_t)(idx + 1) * 0xD1B54A32D192ED03ULL) ^ loop_clock_ns();
    atomic_store(&w->seen_epoch, UINT64_MAX);
    loop_timer_init(&w->reclaim_timer, worker_on_reclaim_timer, w);
    loop_set_wake_hook(w->loop, worker_on_wake, w);
    loop_set_before_sleep(w->loop, worker_before_sleep, w);
    loop_set_wait_hooks(w->loop, worker_on_wait, worker_on_resume, w);
    return w;
}

int worker_start(struct worker *w)
{
    pthread_mutex_lock(&w->inbox_mu);
    w->running = true;
    pthread_mutex_unlock(&w->inbox_mu);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        pthread_mutex_lock(&w->inbox_mu);
        w->running = false;
        pthread_mutex_unlock(&w->inbox_mu);
    }
    return rc == 0 ? 0 : -rc;
}

void worker_stop(struct worker *w)
{
    pthread_mutex_lock(&w->inbox_mu);
    bool running = w->running;
    pthread_mutex_unlock(&w->inbox_mu);
    if (!running)
        return;
    loop_stop(w->loop);
    pthread_join(w->thread, NULL);
    /* tasks posted while it stopped still get run, so no caller waits forever */
    pthread_mutex_lock(&w->inbox_mu);
    struct worker_task *tasks = w->inbox_tasks;
    w->inbox_tasks = NULL;
    w->running = false;
    pthread_mutex_unlock(&w->inbox_mu);
    worker_run_tasks(w, tasks);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    /* Stopped: no other thread can reach these any more (server_free has
     * closed the connections of every worker first). */
    for (size_t i = 0; i < w->n_inbox_new; i++)
        close(w->inbox_new[i].fd);
    free(w->inbox_new);
    /* nothing posts any more (the password pool is stopped): what is left
     * belongs to closed connections and only needs freeing */
    worker_run_posts(w, w->inbox_posts);
    w->inbox_posts = NULL;
    for (size_t i = 0; i < w->nretired; i++)
        w->retired[i].free_fn(w->retired[i].p);
    free(w->retired);
    for (size_t i = 0; i < w->nclosing; i++)
        worker_free_conn(w->closing[i]);
    free(w->closing);
    sublist_cache_free(w->cache);
    sublist_result_free(&w->scratch);
    sbuf_free(&w->line);
    free(w->gw_send_cache);
    free(w->sv_spill);
    free(w->sv_index);
    free(w->rq_index);
    free(w->wake);
    pthread_cond_destroy(&w->tasks_cv);
    pthread_mutex_destroy(&w->inbox_mu);
    loop_free(w->loop);
    free(w);
}
