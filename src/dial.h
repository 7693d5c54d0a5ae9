/* SPDX-License-Identifier: Apache-2.0
 * Non-blocking dialling for the connections natsd solicits (routes and
 * gateways): a host name is resolved at every dial by a small pool of resolver
 * threads, never on a loop, and the answer comes back to the dialling loop
 * through the owner's cross-thread post; then a non-blocking connect to one
 * address of the answer (picked at random, as nats-server does) with a
 * deadline. Also the pieces of nats-server's dial error reports that routes
 * and gateways share: Go's error texts and the report throttling. */
#ifndef NATSD_DIAL_H
#define NATSD_DIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "net.h"

struct dial;
struct dial_req;
struct dial_resolver;

/* How many addresses of one answer are kept (one of them is dialled). */
#define DIAL_MAX_ADDRS 16
/* The resolver threads of one pool, started when requests wait and none is
 * idle. */
#define DIAL_RESOLVER_THREADS 4
/* Longest error text of a failed dial. */
#define DIAL_ERR_LEN 384

/* Resolve host:port into up to max addresses (out), their count in *n.
 * Returns 0, or -1 with a Go-style text in err ("lookup for host \"x\":
 * lookup x: no such host"). Runs on a resolver thread: may block. */
typedef int dial_lookup_fn(const char *host, const char *port, struct sockaddr_storage *out,
                           size_t max, size_t *n, char *err, size_t errsize);

/* Run fn(arg) on the dialling loop's thread, soon (ctx is the owner's, say
 * its worker). Called from a resolver thread; must not block for long. */
typedef void dial_post_fn(void *ctx, void (*fn)(void *arg), void *arg);

enum dial_event {
    DIAL_EV_CONNECTING = 0, /* address chosen (d->addr), connect starting */
    DIAL_EV_CONNECTED,      /* fd is connected and the callee's now */
    DIAL_EV_LOOKUP_FAILED,  /* the name did not resolve: d->err */
    DIAL_EV_CONNECT_FAILED, /* the connect failed or timed out: d->err */
};

/* Called on the dialling loop, never from inside dial_start() or
 * dial_cancel(). After every event but DIAL_EV_CONNECTING the dial is idle and
 * the callee may start it again or free what holds it. On DIAL_EV_CONNECTING
 * the callee may only look (log): neither cancel nor free. fd is -1 except for
 * DIAL_EV_CONNECTED. */
typedef void dial_cb(struct dial *d, enum dial_event ev, int fd);

enum dial_phase {
    DIAL_IDLE = 0,
    DIAL_RESOLVING,  /* a request is with the resolver */
    DIAL_READY,      /* address known, connect on the next timer */
    DIAL_FAILING,    /* failure known, reported on the next timer */
    DIAL_CONNECTING, /* connect in progress, deadline armed */
};

/* One dial, embedded in its owner (a route to solicit, a remote gateway).
 * Owned by one loop thread. */
struct dial {
    struct loop *loop;
    struct dial_resolver *res;
    dial_post_fn *post;
    void *post_ctx;
    dial_cb *cb;
    void *arg; /* the owner's */

    enum dial_phase phase;
    enum dial_event fail_ev; /* DIAL_FAILING: which failure */
    uint64_t timeout_ns;
    uint64_t rnd;
    struct dial_req *req; /* DIAL_RESOLVING */
    struct loop_watch watch;
    struct loop_timer timer;
    /* the address dialled, valid from DIAL_EV_CONNECTING on */
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr[NET_ADDR_STRLEN];
    char err[DIAL_ERR_LEN];
};

/* A resolver pool with at most max_threads threads, started on demand;
 * lookup NULL means getaddrinfo (dial_lookup_getaddrinfo). Main thread. */
struct dial_resolver *dial_resolver_new(unsigned max_threads, dial_lookup_fn *lookup);

/* Release the pool: queued requests are dropped, and a thread still inside a
 * lookup frees its request and exits when the lookup returns, posting
 * nothing. After this returns no post is made. Call it after every dial of
 * the pool was cancelled and before the loops that got posts are freed.
 * NULL is a no-op. */
void dial_resolver_stop(struct dial_resolver *r);

/* The default lookup: getaddrinfo, with nats-server's texts. */
int dial_lookup_getaddrinfo(const char *host, const char *port, struct sockaddr_storage *out,
                            size_t max, size_t *n, char *err, size_t errsize);

/* Set up an idle dial on loop l; results of name lookups come back through
 * post(post_ctx, ...). Any thread, before the first dial_start(). */
void dial_init(struct dial *d, struct loop *l, struct dial_resolver *res, dial_post_fn *post,
               void *post_ctx, dial_cb *cb, void *arg);

/* Dial host:port (a numeric address is not looked up): a connect deadline
 * of timeout_ns, rnd picks the address among several. The result comes as
 * an event, later. Returns 0, or -1 when the dial is not idle. Loop thread. */
int dial_start(struct dial *d, const char *host, const char *port, uint64_t timeout_ns,
               uint64_t rnd);

/* Stop a dial in any phase (no event follows); idle: a no-op. A lookup in
 * flight is abandoned: its answer is dropped when it comes. Loop thread, or
 * any thread once the loop has stopped for good. */
void dial_cancel(struct dial *d);

static inline bool dial_busy(const struct dial *d)
{
    return d->phase != DIAL_IDLE;
}

/* Whether failed attempt number attempts (from 1) is reported as an error
 * rather than at debug level (nats-server's shouldReportConnectErr): the
 * first, then every connect_every-th of a first dial loop, every
 * reconnect_every-th of a reconnect (0: the first only). */
bool dial_should_report(bool first_connect, int attempts, int connect_every, int reconnect_every);

/* strerror(err) as Go prints it (lower-case first letter) into buf. */
void dial_go_errno(int err, char *buf, size_t size);

#endif
