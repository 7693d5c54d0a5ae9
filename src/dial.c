/* SPDX-License-Identifier: Apache-2.0
 * Non-blocking dialling: resolver threads for host names, connects with a
 * deadline on the owner's loop, and the error texts and report throttling
 * routes and gateways share (nats-server's getRandomIP, natsDialTimeout and
 * shouldReportConnectErr, 2.9.10).
 *
 * A request to the resolver is a heap object apart from the dial: the dial
 * may be cancelled (its route or gateway dropped, the server stopping) while
 * a thread is blocked in getaddrinfo with the request in hand. Ownership of
 * a request moves in one direction: the resolver's queue, then one thread,
 * then the dialling loop (through the post), which frees it. The dial only
 * points at it, and cancelling clears that pointer (req->d) on the loop's
 * thread, which is the only thread that reads it. */
#include "dial.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"

struct dial_req {
    struct dial_req *next;
    /* the dial waiting for the answer; NULL once it gave up. Loop thread. */
    struct dial *d;
    /* set with d = NULL: a thread that has not begun may skip the lookup */
    atomic_bool cancelled;
    dial_post_fn *post;
    void *post_ctx;
    char *host, *port;
    /* the answer, written by the resolver thread before the post */
    int rc;
    size_t naddrs;
    struct sockaddr_storage addrs[DIAL_MAX_ADDRS];
    char err[DIAL_ERR_LEN];
};

struct dial_resolver {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    struct dial_req *head, **tail;
    unsigned nthreads, idle, max;
    unsigned refs; /* the owner's, and one per thread */
    bool stopped;
    dial_lookup_fn *lookup;
};

static void dial_req_free(struct dial_req *q)
{
    free(q->host);
    free(q->port);
    free(q);
}

/* Drop one reference under r->mu (released here); the last frees r. */
static void dial_resolver_unref(struct dial_resolver *r)
{
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
}

static void dial_on_resolved(void *arg);

static void *dial_resolver_thread(void *arg)
{
    struct dial_resolver *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->head && !r->stopped) {
            r->idle++;
            pthread_cond_wait(&r->cv, &r->mu);
            r->idle--;
        }
        if (r->stopped)
            break;
        struct dial_req *q = r->head;
        r->head = q->next;
        if (!r->head)
            r->tail = &r->head;
        pthread_mutex_unlock(&r->mu);
        if (atomic_load(&q->cancelled)) {
            q->rc = -1;
            q->err[0] = '\0';
        } else {
            q->rc = r->lookup(q->host, q->port, q->addrs, DIAL_MAX_ADDRS, &q->naddrs, q->err,
                              sizeof(q->err));
        }
        pthread_mutex_lock(&r->mu);
        if (r->stopped) {
            dial_req_free(q);
            break;
        }
        /* under mu, so that dial_resolver_stop() returning means no post
         * can follow (lock order: resolver mu, then the owner's inbox) */
        q->post(q->post_ctx, dial_on_resolved, q);
    }
    r->nthreads--;
    dial_resolver_unref(r);
    return NULL;
}

struct dial_resolver *dial_resolver_new(unsigned max_threads, dial_lookup_fn *lookup)
{
    struct dial_resolver *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->tail = &r->head;
    r->max = max_threads ? max_threads : 1;
    r->refs = 1;
    r->lookup = lookup ? lookup : dial_lookup_getaddrinfo;
    return r;
}

void dial_resolver_stop(struct dial_resolver *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopped = true;
    while (r->head) {
        struct dial_req *q = r->head;
        r->head = q->next;
        dial_req_free(q);
    }
    r->tail = &r->head;
    pthread_cond_broadcast(&r->cv);
    dial_resolver_unref(r);
}

/* Queue q; a thread is started when none is idle and the pool is not full.
 * Returns -1 when the pool is stopped or no thread can run it. */
static int dial_resolver_submit(struct dial_resolver *r, struct dial_req *q)
{
    pthread_mutex_lock(&r->mu);
    if (r->stopped) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    if (r->idle == 0 && r->nthreads < r->max) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        /* detached: a thread stuck in a lookup must not hold up shutdown */
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t t;
        if (pthread_create(&t, &attr, dial_resolver_thread, r) == 0) {
            r->nthreads++;
            r->refs++;
        }
        pthread_attr_destroy(&attr);
        if (r->nthreads == 0) {
            pthread_mutex_unlock(&r->mu);
            return -1;
        }
    }
    q->next = NULL;
    *r->tail = q;
    r->tail = &q->next;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int dial_lookup_getaddrinfo(const char *host, const char *port, struct sockaddr_storage *out,
                            size_t max, size_t *n, char *err, size_t errsize)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    *n = 0;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) {
        char why[128];
        if (rc == 0 || rc == EAI_NONAME || rc == EAI_NODATA)
            snprintf(why, sizeof(why), "no such host"); /* Go's errNoSuchHost */
        else if (rc == EAI_SYSTEM)
            dial_go_errno(errno, why, sizeof(why));
        else
            snprintf(why, sizeof(why), "%s", gai_strerror(rc));
        if (why[0] >= 'A' && why[0] <= 'Z')
            why[0] = (char)(why[0] - 'A' + 'a');
        snprintf(err, errsize, "lookup for host \"%s\": lookup %s: %s", host, host, why);
        if (ai)
            freeaddrinfo(ai);
        return -1;
    }
    for (struct addrinfo *p = ai; p && *n < max; p = p->ai_next) {
        if (p->ai_addrlen > sizeof(*out))
            continue;
        memset(&out[*n], 0, sizeof(*out));
        memcpy(&out[*n], p->ai_addr, p->ai_addrlen);
        (*n)++;
    }
    freeaddrinfo(ai);
    if (*n == 0) {
        snprintf(err, errsize, "lookup for host \"%s\": lookup %s: no such host", host, host);
        return -1;
    }
    return 0;
}

static void dial_on_timer(struct loop *l, struct loop_timer *t);

void dial_init(struct dial *d, struct loop *l, struct dial_resolver *res, dial_post_fn *post,
               void *post_ctx, dial_cb *cb, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->loop = l;
    d->res = res;
    d->post = post;
    d->post_ctx = post_ctx;
    d->cb = cb;
    d->arg = arg;
    d->phase = DIAL_IDLE;
    d->watch.fd = -1;
    loop_timer_init(&d->timer, dial_on_timer, d);
}

/* Report a failure on the next timer (never from inside dial_start). */
static void dial_fail_later(struct dial *d, enum dial_event ev)
{
    d->phase = DIAL_FAILING;
    d->fail_ev = ev;
    loop_timer_arm(d->loop, &d->timer, 0);
}

/* End the dial with ev (it is idle again when the callback runs). */
static void dial_finish(struct dial *d, enum dial_event ev, int fd)
{
    d->phase = DIAL_IDLE;
    d->cb(d, ev, fd);
}

static void dial_on_writable(struct loop *l, struct loop_watch *wt, unsigned events)
{
    (void)events;
    struct dial *d = wt->arg;
    int fd = d->watch.fd;
    loop_watch_del(l, &d->watch);
    d->watch.fd = -1;
    loop_timer_disarm(l, &d->timer);
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        close(fd);
        char e[128];
        dial_go_errno(err, e, sizeof(e));
        snprintf(d->err, sizeof(d->err), "dial tcp %s: connect: %s", d->addr, e);
        dial_finish(d, DIAL_EV_CONNECT_FAILED, -1);
        return;
    }
    dial_finish(d, DIAL_EV_CONNECTED, fd);
}

/* The address is known: connect, on the loop. */
static void dial_connect(struct dial *d)
{
    net_addr_str(&d->sa, d->addr, sizeof(d->addr));
    d->phase = DIAL_CONNECTING;
    d->cb(d, DIAL_EV_CONNECTING, -1);
    int fd = net_connect_start((const struct sockaddr *)&d->sa, d->salen);
    if (fd < 0) {
        char e[128];
        dial_go_errno(errno, e, sizeof(e));
        snprintf(d->err, sizeof(d->err), "dial tcp %s: connect: %s", d->addr, e);
        dial_finish(d, DIAL_EV_CONNECT_FAILED, -1);
        return;
    }
    d->watch = (struct loop_watch){.fd = fd, .cb = dial_on_writable, .arg = d};
    int rc = loop_watch_add(d->loop, &d->watch, LOOP_WRITE);
    if (rc != 0) {
        close(fd);
        d->watch.fd = -1;
        char e[128];
        dial_go_errno(-rc, e, sizeof(e));
        snprintf(d->err, sizeof(d->err), "dial tcp %s: %s", d->addr, e);
        dial_finish(d, DIAL_EV_CONNECT_FAILED, -1);
        return;
    }
    loop_timer_arm(d->loop, &d->timer, d->timeout_ns);
}

static void dial_on_timer(struct loop *l, struct loop_timer *t)
{
    struct dial *d = t->arg;
    switch (d->phase) {
    case DIAL_READY:
        dial_connect(d);
        return;
    case DIAL_FAILING:
        dial_finish(d, d->fail_ev, -1);
        return;
    case DIAL_CONNECTING:
        /* the deadline */
        loop_watch_del(l, &d->watch);
        close(d->watch.fd);
        d->watch.fd = -1;
        snprintf(d->err, sizeof(d->err), "dial tcp %s: i/o timeout", d->addr);
        dial_finish(d, DIAL_EV_CONNECT_FAILED, -1);
        return;
    default:
        return;
    }
}

/* Keep one of n addresses, picked with d->rnd. */
static void dial_pick(struct dial *d, const struct sockaddr_storage *v, size_t n)
{
    const struct sockaddr_storage *a = &v[n > 1 ? d->rnd % n : 0];
    d->sa = *a;
    d->salen = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* The answer of a lookup, on the dialling loop's thread. */
static void dial_on_resolved(void *arg)
{
    struct dial_req *q = arg;
    struct dial *d = q->d;
    if (!d) {
        dial_req_free(q); /* the dial gave up meanwhile */
        return;
    }
    d->req = NULL;
    if (q->rc != 0) {
        snprintf(d->err, sizeof(d->err), "%s", q->err);
        dial_req_free(q);
        dial_finish(d, DIAL_EV_LOOKUP_FAILED, -1);
        return;
    }
    dial_pick(d, q->addrs, q->naddrs);
    dial_req_free(q);
    dial_connect(d);
}

/* A numeric host into d->sa without any lookup. Returns false when host is
 * not an IP address. */
static bool dial_numeric(struct dial *d, const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return false;
    bool ok = ai->ai_addrlen <= sizeof(d->sa);
    if (ok) {
        memset(&d->sa, 0, sizeof(d->sa));
        memcpy(&d->sa, ai->ai_addr, ai->ai_addrlen);
        d->salen = ai->ai_addrlen;
    }
    freeaddrinfo(ai);
    return ok;
}

int dial_start(struct dial *d, const char *host, const char *port, uint64_t timeout_ns,
               uint64_t rnd)
{
    if (d->phase != DIAL_IDLE)
        return -1;
    d->timeout_ns = timeout_ns;
    d->rnd = rnd;
    d->addr[0] = '\0';
    d->err[0] = '\0';
    if (net_host_is_ip(host)) {
        if (dial_numeric(d, host, port)) {
            d->phase = DIAL_READY;
            loop_timer_arm(d->loop, &d->timer, 0);
        } else {
            snprintf(d->err, sizeof(d->err), "dial tcp %s:%s: unknown port", host, port);
            dial_fail_later(d, DIAL_EV_CONNECT_FAILED);
        }
        return 0;
    }
    struct dial_req *q = xcalloc(1, sizeof(*q));
    q->d = d;
    q->post = d->post;
    q->post_ctx = d->post_ctx;
    q->host = xstrdup(host);
    q->port = xstrdup(port);
    if (!d->res || dial_resolver_submit(d->res, q) != 0) {
        dial_req_free(q);
        snprintf(d->err, sizeof(d->err), "lookup for host \"%s\": no resolver", host);
        dial_fail_later(d, DIAL_EV_LOOKUP_FAILED);
        return 0;
    }
    d->req = q;
    d->phase = DIAL_RESOLVING;
    return 0;
}

void dial_cancel(struct dial *d)
{
    switch (d->phase) {
    case DIAL_RESOLVING:
        /* the request is the resolver's or already posted: it is freed
         * where it is, unanswered */
        d->req->d = NULL;
        atomic_store(&d->req->cancelled, true);
        d->req = NULL;
        break;
    case DIAL_CONNECTING:
        loop_watch_del(d->loop, &d->watch);
        close(d->watch.fd);
        d->watch.fd = -1;
        break;
    default:
        break;
    }
    loop_timer_disarm(d->loop, &d->timer);
    d->phase = DIAL_IDLE;
}

bool dial_should_report(bool first_connect, int attempts, int connect_every, int reconnect_every)
{
    int every = first_connect ? connect_every : reconnect_every;
    return attempts == 1 || (every != 0 && attempts % every == 0);
}

void dial_go_errno(int err, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(err));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a'); /* Go's syscall texts are lower case */
}
