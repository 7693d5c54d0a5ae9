/* SPDX-License-Identifier: Apache-2.0
 * The server: options, identity, accounts, workers, the client listener, the
 * figures /varz reports, and start/stop. main() creates one; everything else
 * reaches it through its connections and workers. */
#ifndef NATSD_SERVER_H
#define NATSD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"

struct opts;
struct worker;
struct account;
struct account_table;
struct dial_resolver;
struct conn;
struct monitor;
struct sysacc;
struct tls_ctx;
struct route_state;
struct authpool;

/* The client TLS handshake rate limit (tls connection_rate_limit), as
 * nats-server's rateCounter: per one-second window, the first limit
 * handshakes start and the others are refused. */
struct server_tls_rate {
    pthread_mutex_t mu;
    int64_t limit; /* 0: no limit; set at start, never reloaded */
    int64_t count;
    uint64_t end_ns;  /* monotonic end of the current window */
    uint64_t blocked; /* refused since the last warning */
};

struct server_stats {
    atomic_uint_fast64_t in_msgs;
    atomic_uint_fast64_t in_bytes;
    atomic_uint_fast64_t out_msgs;
    atomic_uint_fast64_t out_bytes;
    atomic_uint_fast64_t slow_consumers;
    atomic_uint_fast64_t total_connections;
};

struct server {
    /* The options in force: main's at start, swapped by server_reload(). Read
     * them through server_opts(); a pointer read stays valid until shutdown
     * (replaced options are kept until then, since monitoring threads read
     * them outside the workers' reclamation). */
    _Atomic(const struct opts *) opts;
    char id[57];
    char *name; /* server_name, or the id */
    int64_t start_unix_ns;

    struct worker **workers;
    int nworkers;
    atomic_uint next_worker; /* round-robin for accepted connections */

    struct account *gacc;           /* $G (accounts.gacc) */
    struct account_table *accounts; /* every account; updated in place by reloads */

    /* Client listener, on worker 0's loop. */
    int listen_fd;
    int port; /* actual port (after -1 / 0) */
    struct loop_watch listen_watch;

    atomic_uint_fast64_t next_cid;
    atomic_int nclients;
    atomic_bool lame_duck;
    atomic_bool shutting_down;
    atomic_uint_fast64_t epoch; /* reclamation epoch, see worker.c */

    /* Constant part of the client INFO (built once: server_id through
     * max_payload), and the tail (cluster, connect_urls, ...) */
    char *info_head;
    size_t info_head_len;
    atomic_bool auth_required;
    const struct opts *first_opts; /* main's, not ours to free */
    struct opts **old_opts;        /* replaced by reloads, freed at shutdown */
    size_t n_old_opts;

    struct server_stats stats;

    struct monitor *monitor; /* monitoring (HTTP server and the system account's
                              * requests); NULL when neither */

    /* The system account's internal client (sysacc.c); NULL with
     * no_system_account. */
    struct sysacc *sys;

    /* Client TLS (tls.h): built from the tls block, replaced by each reload
     * (new connections take the new context, open ones keep theirs); NULL
     * without TLS. The server holds one reference; a replaced context is
     * released through the workers' reclamation, so a worker may read the
     * pointer and take a reference within its loop turn (server_tls_ctx). */
    _Atomic(struct tls_ctx *) tls_ctx;
    struct server_tls_rate tls_rate;
    struct loop_timer tls_rate_timer; /* worker 0: the warning each second */

    /* Cluster routes (route.c); NULL without a cluster port. */
    struct route_state *rt;

    /* Gateways (gateway.c); NULL without a gateway port. */
    struct gw_state *gw;

    /* The resolver threads of route and gateway dials (dial.c); NULL
     * without a cluster or gateway port. */
    struct dial_resolver *resolver;

    /* The threads that verify bcrypt passwords off the loops (authpool.h). */
    struct authpool *authpool;
};

/* Build the server from o (borrowed, must outlive it): identity, accounts,
 * workers, listener bound. Logs nats-server's start-up lines. Returns NULL
 * after logging the fatal error. Main thread. */
struct server *server_new(const struct opts *o);

/* Start the workers and log "Server is ready". Returns 0 or -1. */
int server_start(struct server *s);

/* Stop accepting, close every connection, stop and join the workers. */
void server_shutdown(struct server *s);

void server_free(struct server *s);

/* Enter lame duck mode (SIGUSR2): stop accepting, and send protocol-1 clients
 * an INFO with "ldm":true. Logs nats-server's line. Returns the number of
 * client connections left to close. Main thread. */
size_t server_ldm_begin(struct server *s);

/* Close up to n client connections ("Server Shutdown"). Returns how many
 * client connections remain. Main thread. */
size_t server_close_clients(struct server *s, size_t n);

static inline const struct opts *server_opts(const struct server *s)
{
    return atomic_load_explicit(&s->opts, memory_order_acquire);
}

/* The client TLS context in force (NULL: none), valid until the end of the
 * calling worker's loop turn; take a reference to keep it longer. Worker
 * threads. */
static inline struct tls_ctx *server_tls_ctx(struct server *s)
{
    return atomic_load_explicit(&s->tls_ctx, memory_order_acquire);
}

/* Whether one more client TLS handshake may start now under the tls block's
 * connection_rate_limit (always true without one); a refusal is counted for
 * the warning nats-server logs each second ("Rejected N connections due to
 * TLS rate limiting"). Any thread. */
bool server_tls_rate_allow(struct server *s);

/* What a reload builds before it changes anything (the new client TLS
 * context); opaque. */
struct server_reload;

/* First step of a reload to next: build what may still fail (the client TLS
 * context from next's tls block, files read again even when the block did
 * not change, as nats-server does; the room for new accounts). Returns 0
 * with *r to pass to server_reload or server_reload_abort, or -1 with the
 * reason in err and nothing changed. Main thread. */
int server_reload_prepare(struct server *s, const struct opts *next, struct server_reload **r,
                          char *err, size_t errsize);

/* Drop what server_reload_prepare built (NULL is fine). Main thread. */
void server_reload_abort(struct server_reload *r);

/* Put next (owned by the server from now on) in force, as nats-server's
 * applyOptions and reloadAuthorization: the accounts are updated by name
 * (new ones added, removed ones flagged, every import table replaced), the
 * new TLS context serves new connections (open ones keep theirs), the
 * options are swapped, then every client is checked again on its worker: a
 * client whose user is gone or now belongs to another account is closed, one
 * whose credentials no longer authenticate gets "Authorization Violation",
 * and the subscriptions its new permissions refuse are removed with an -ERR.
 * New connections and every later read of an option see next; the
 * connections already open keep the limits they were set up with where
 * nats-server does (max_pending, max_control_line). Consumes r. Main thread,
 * while the workers run. */
void server_reload(struct server *s, struct opts *next, struct server_reload *r);

/* The cluster name the server has now into buf: the routes' (negotiated)
 * one, else the configured one (a gateway's name stands for it without a
 * cluster block, as in nats-server). Returns false when there is none. Any
 * thread. */
bool server_cluster_name(struct server *s, char *buf, size_t size);

/* The client INFO line for connection c into out (sbuf). */
struct sbuf;
void server_client_info(struct server *s, const struct conn *c, struct sbuf *out);

#endif
