/* SPDX-License-Identifier: Apache-2.0
 * A worker: one thread, one event loop, the connections it owns, its inbox for
 * other threads (connections handed over, connections to flush), its match
 * cache, and its part of the quiescent-state reclamation that lets any worker
 * read a connection or subscription it found in a sublist until the end of its
 * loop turn, whoever closes it meanwhile. */
#ifndef NATSD_WORKER_H
#define NATSD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "sbuf.h"
#include "sublist.h"

struct account;
struct conn;
struct loop;
struct server;
struct parser_slice;
struct worker;

/* An object waiting for every worker to pass a quiescent point. */
struct worker_retired {
    void *p;
    void (*free_fn)(void *p);
    uint64_t epoch;
};

/* A function another thread asked this worker to run on its own thread. */
struct worker_task {
    void (*fn)(struct worker *w, void *arg);
    void *arg;
    struct worker_task *next;
    bool done; /* under the worker's inbox_mu */
};

/* A message another thread posts to a worker without waiting for it
 * (worker_post): embedded in the poster's object, which fn owns from then on
 * (it frees it, or hands it on). */
struct worker_post {
    void (*fn)(struct worker *w, struct worker_post *p);
    struct worker_post *next;
};

/* An accepted socket handed to a worker. */
struct worker_newconn {
    int fd;
    struct sockaddr_storage peer;
};

struct worker {
    struct server *s;
    int idx;
    pthread_t thread;
    bool running; /* under inbox_mu: set before the thread starts, cleared
                   * after it joined and its last tasks ran */
    struct loop *loop;

    /* Other threads write here under inbox_mu, then wake the loop. */
    pthread_mutex_t inbox_mu;
    struct conn *inbox_flush;         /* conns to flush, linked by flush_next */
    struct worker_newconn *inbox_new; /* accepted fds to adopt */
    struct worker_task *inbox_tasks;  /* functions to run, then signal */
    struct worker_post *inbox_posts;  /* posted messages, newest first */
    pthread_cond_t tasks_cv;
    size_t n_inbox_new, cap_inbox_new;

    /* Owner only. */
    struct conn *local_flush;  /* conns of this worker to flush this turn */
    struct conn *direct_flush; /* other workers' conns this one writes itself */
    struct conn *conns;        /* every connection owned, doubly linked */
    size_t nconns;
    struct conn **closing; /* closed this turn, to retire at its end */
    size_t nclosing, capclosing;
    struct sublist_cache *cache;
    struct sublist_result scratch; /* for uncached matches */
    bool *wake;                    /* workers to wake at the end of this turn */
    bool wake_any;
    uint64_t rng; /* xorshift state for queue picks */

    /* Reclamation: the epoch this worker last came online at, or UINT64_MAX
     * while it is blocked in epoll_wait holding nothing. */
    atomic_uint_fast64_t seen_epoch;
    struct worker_retired *retired;
    size_t nretired, capretired;
    struct loop_timer reclaim_timer; /* retries while another worker lags */

    /* Counted by the owner without atomics, published once per turn. */
    uint64_t n_in_msgs, n_in_bytes, n_out_msgs, n_out_bytes;
    uint64_t turn_in_msgs; /* n_in_msgs when the current turn began */
    /* Traffic counted for one account, added to it when another account
     * comes up or the turn ends (worker_acc_flush). */
    struct account *st_acc;
    uint64_t st_in_msgs, st_in_bytes, st_out_msgs, st_out_bytes;
    /* Messages that came in on routes and gateways, which nats-server
     * counts as received by the global account; added to it per turn. */
    uint64_t st_peer_msgs, st_peer_bytes;
    struct sbuf line;    /* scratch for the MSG line pieces of one message */
    void *gw_send_cache; /* gateway_msg.c's, allocated on first use; freed here */
    /* deliver.c's room for one message's queue groups past what its records
     * hold inline (struct deliver_served), and hash indexes (position + 1,
     * 0 empty) over those groups and over the groups a routed message names.
     * Grown on demand, kept between messages; freed here. */
    struct parser_slice *sv_spill;
    size_t sv_spill_cap;
    bool sv_spill_busy;
    uint32_t *sv_index, *rq_index;
    size_t sv_index_cap, rq_index_cap;
    bool stall; /* a delivery left a target over half its max_pending */

    /* Message figures of this worker's connections, summed by /varz
     * (published copies of the n_ counters above, updated once per turn). */
    atomic_uint_fast64_t in_msgs;
    atomic_uint_fast64_t in_bytes;
    atomic_uint_fast64_t out_msgs;
    atomic_uint_fast64_t out_bytes;
};

/* The worker whose loop runs on this thread, or NULL. */
struct worker *worker_current(void);

/* Create worker idx of s (thread not started). Returns NULL with errno. */
struct worker *worker_new(struct server *s, int idx);

/* Start its thread. Returns 0 or -errno. */
int worker_start(struct worker *w);

/* Stop its loop (any thread) and join its thread (not from itself). */
void worker_stop(struct worker *w);

/* Free a stopped worker and every connection it still owns. */
void worker_free(struct worker *w);

/* Hand an accepted socket to w (any thread); w adopts it on its loop. */
void worker_hand_over(struct worker *w, int fd, const struct sockaddr_storage *peer);

/* Run fn(w, arg) on w's own thread at the end of its current turn and wait
 * until it has run: a way for other threads (monitoring, signals) to read or
 * change what only the owner may touch, without locks on the owner's side.
 * Not from w's own thread (it would wait for itself). Returns after fn ran, or
 * at once when w is not running (fn is then run here). */
void worker_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);

/* Post p to w: p->fn(w, p) runs on w's thread at the end of its current (or
 * next) turn, and the caller does not wait. Any thread, worker threads
 * included (w itself too). Posts run in the order they were posted. A post
 * still queued when w is freed runs on the freeing thread, after every
 * connection was closed. */
void worker_post(struct worker *w, struct worker_post *p);

/* Run fn(arg) on w's own thread at the end of its current turn, without
 * waiting: worker_post() with a post allocated here and freed after fn ran
 * (the answers of name lookups come back this way; a dial_post_fn, hence the
 * void pointer). Posts still queued when w stops run from worker_free(): their
 * owners must have made them harmless by then (a cancelled dial only frees
 * its request). */
void worker_post_to(void *w, void (*fn)(void *arg), void *arg);

/* Queue c (owned by w) for flushing; cur is the calling worker (or NULL). */
void worker_queue_flush(struct worker *w, struct conn *c, struct worker *cur);

/* Wake the workers marked during this turn (done at the end of each turn;
 * call it directly from threads that are not workers). */
void worker_wake_marked(struct worker *cur);

/* Reclaim p with free_fn once no worker can still hold it. Owner thread of
 * the caller's worker (any worker). */
void worker_retire(struct worker *w, void *p, void (*free_fn)(void *p));

/* Add c to the list of connections closed this turn. */
void worker_add_closing(struct worker *w, struct conn *c);

/* A random 64-bit value from the worker's generator. */
uint64_t worker_rand(struct worker *w);

/* Add the traffic counted for w->st_acc to that account, and start over. */
void worker_acc_flush(struct worker *w);

/* A client of acc published a message of bytes (payload and headers). */
static inline void worker_acc_in(struct worker *w, struct account *acc, uint64_t bytes)
{
    if (w->st_acc != acc) {
        worker_acc_flush(w);
        w->st_acc = acc;
    }
    w->st_in_msgs++;
    w->st_in_bytes += bytes;
}

/* A message of bytes came in on a route or an inbound gateway. */
static inline void worker_acc_peer_in(struct worker *w, uint64_t bytes)
{
    w->st_peer_msgs++;
    w->st_peer_bytes += bytes;
}

/* A message of bytes published in acc was delivered n times. */
static inline void worker_acc_out(struct worker *w, struct account *acc, uint64_t n, uint64_t bytes)
{
    if (w->st_acc != acc) {
        worker_acc_flush(w);
        w->st_acc = acc;
    }
    w->st_out_msgs += n;
    w->st_out_bytes += n * bytes;
}

#endif
