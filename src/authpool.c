/* SPDX-License-Identifier: Apache-2.0
 * The password pool (see authpool.h): a FIFO of jobs under one mutex, threads
 * started on demand, verdicts posted back to the connections' workers. */
#include "authpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "common.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "worker.h"

/* At most one "queue full" warning per this interval. */
#define AUTHPOOL_WARN_NS (1000000000ull)

struct authpool_job {
    struct worker_post post; /* back to w: authpool_on_done */
    struct worker *w;        /* c's worker */
    struct conn *c;          /* read on w only, and only while not cancelled */
    struct authpool *pool;
    /* Set by w when c closes after a thread took the job; read by the pool
     * to skip the hash. */
    atomic_bool cancelled;
    bool done;   /* w only: came back, the verdict is in ok */
    bool ok;     /* written by the pool thread before it posts the job */
    size_t glen; /* bytes of given kept */
    /* The queue, under the pool's mu: a job still queued when its connection
     * closes leaves it at once, so dead connections hold no place in it. */
    bool queued;
    struct authpool_job *qprev, *qnext;
    char given[AUTHPOOL_PASS_MAX + 1];
    char hash[]; /* NUL-terminated copy */
};

struct authpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct authpool_job *head, *tail; /* queued, not started */
    size_t n;
    int max_threads, nthreads, idle;
    bool stopping;
    pthread_t threads[AUTHPOOL_THREADS_MAX];
    uint64_t refused;   /* refused since the last warning */
    uint64_t warned_ns; /* when the last warning was logged */
};

/* The part of a password bcrypt reads. */
static size_t authpool_given_len(const char *given)
{
    size_t n = strnlen(given, AUTHPOOL_PASS_MAX + 1);
    return n > AUTHPOOL_PASS_MAX ? AUTHPOOL_PASS_MAX : n;
}

/* Take j off the queue. The pool's mu is held. */
static void authpool_unlink(struct authpool *p, struct authpool_job *j)
{
    if (j->qprev)
        j->qprev->qnext = j->qnext;
    else
        p->head = j->qnext;
    if (j->qnext)
        j->qnext->qprev = j->qprev;
    else
        p->tail = j->qprev;
    j->qprev = j->qnext = NULL;
    j->queued = false;
    p->n--;
}

static void *authpool_main(void *arg)
{
    struct authpool *p = arg;
    pthread_setname_np(pthread_self(), "natsd-auth");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (p->stopping)
            break;
        struct authpool_job *j = p->head;
        authpool_unlink(p, j);
        pthread_mutex_unlock(&p->mu);
        /* a job whose connection is gone is not worth the CPU */
        if (!atomic_load_explicit(&j->cancelled, memory_order_relaxed))
            j->ok = auth_password_ok(j->hash, j->given);
        worker_post(j->w, &j->post); /* its inbox lock publishes ok */
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct authpool *authpool_new(int threads)
{
    struct authpool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > AUTHPOOL_THREADS_MAX)
        threads = AUTHPOOL_THREADS_MAX;
    p->max_threads = threads;
    return p;
}

void authpool_stop(struct authpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    int n = p->nthreads;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        p->nthreads = 0;
        struct authpool_job *j = p->head;
        if (j)
            authpool_unlink(p, j);
        pthread_mutex_unlock(&p->mu);
        if (!j)
            break;
        worker_post(j->w, &j->post); /* ok stays false */
    }
}

void authpool_free(struct authpool *p)
{
    if (!p)
        return;
    authpool_stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The job came back to its worker (w's thread). */
static void authpool_on_done(struct worker *w, struct worker_post *post)
{
    (void)w;
    struct authpool_job *j = (struct authpool_job *)post;
    if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) {
        free(j); /* its connection closed: c may be freed already */
        return;
    }
    struct conn *c = j->c;
    NASSERT(c->auth_job == j && (c->flags & CONN_F_PARKED));
    j->done = true;
    conn_unpark(c); /* the parked op runs again and finds the verdict */
}

enum authpool_queued {
    AUTHPOOL_QUEUED = 0,
    AUTHPOOL_FULL,      /* AUTHPOOL_QUEUE_MAX jobs wait already */
    AUTHPOOL_NO_THREAD, /* stopping, or no thread could be started */
};

/* Queue j unless the queue is full; start a thread when none is idle. */
static enum authpool_queued authpool_enqueue(struct authpool *p, struct authpool_job *j)
{
    enum authpool_queued rc = AUTHPOOL_NO_THREAD;
    bool warn = false;
    uint64_t refused = 0;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        /* no thread will ever run it */
    } else if (p->n >= AUTHPOOL_QUEUE_MAX) {
        rc = AUTHPOOL_FULL;
        p->refused++;
        uint64_t now = loop_clock_ns();
        if (p->warned_ns == 0 || now - p->warned_ns >= AUTHPOOL_WARN_NS) {
            warn = true;
            refused = p->refused;
            p->refused = 0;
            p->warned_ns = now;
        }
    } else {
        if (p->idle == 0 && p->nthreads < p->max_threads &&
            pthread_create(&p->threads[p->nthreads], NULL, authpool_main, p) == 0)
            p->nthreads++;
        if (p->nthreads > 0) {
            j->qnext = NULL;
            j->qprev = p->tail;
            if (p->tail)
                p->tail->qnext = j;
            else
                p->head = j;
            p->tail = j;
            j->queued = true;
            p->n++;
            pthread_cond_signal(&p->cv);
            rc = AUTHPOOL_QUEUED;
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (warn)
        NLOG_WARN("Password verification queue full (%d jobs): refused %llu CONNECT(s)",
                  AUTHPOOL_QUEUE_MAX, (unsigned long long)refused);
    return rc;
}

enum authpool_verdict authpool_check(struct authpool *p, struct conn *c, const char *hash,
                                     const char *given)
{
    if (!hash)
        hash = "";
    if (!given)
        given = "";
    size_t glen = authpool_given_len(given);
    struct authpool_job *j = c->auth_job;
    if (j && j->done) {
        if (strcmp(j->hash, hash) == 0 && j->glen == glen && memcmp(j->given, given, glen) == 0)
            return j->ok ? AUTHPOOL_OK : AUTHPOOL_BAD;
        authpool_conn_release(c); /* for another hash: a reload changed it */
    }
    NASSERT(!c->auth_job);
    size_t hlen = strlen(hash);
    j = xcalloc(1, sizeof(*j) + hlen + 1);
    j->post.fn = authpool_on_done;
    j->w = c->w;
    j->c = c;
    j->pool = p;
    atomic_init(&j->cancelled, false);
    memcpy(j->given, given, glen);
    j->glen = glen;
    memcpy(j->hash, hash, hlen + 1);
    switch (authpool_enqueue(p, j)) {
    case AUTHPOOL_QUEUED:
        c->auth_job = j;
        return AUTHPOOL_PENDING;
    case AUTHPOOL_FULL:
        free(j);
        return AUTHPOOL_BAD;
    case AUTHPOOL_NO_THREAD:
    default:
        free(j);
        /* breaks principle 10 only where no thread exists to keep it */
        return auth_password_ok(hash, given) ? AUTHPOOL_OK : AUTHPOOL_BAD;
    }
}

void authpool_conn_release(struct conn *c)
{
    struct authpool_job *j = c->auth_job;
    if (!j)
        return;
    c->auth_job = NULL;
    if (j->done) {
        free(j);
        return;
    }
    struct authpool *p = j->pool;
    bool mine = false;
    pthread_mutex_lock(&p->mu);
    if (j->queued) {
        authpool_unlink(p, j); /* no thread has it: it never comes back */
        mine = true;
    } else {
        atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->mu);
    if (mine)
        free(j);
}
