/* SPDX-License-Identifier: Apache-2.0
 * State shared by route.c (connections, handshake, interest, messages),
 * route_dial.c (solicit records, dialling, retries, implicit routes) and
 * route_urls.c (client URLs). Private to those files. */
#ifndef NATSD_ROUTE_INT_H
#define NATSD_ROUTE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn.h"
#include "dial.h"
#include "hmap.h"
#include "loop.h"
#include "net.h"

struct server;
struct opts;
struct conn;
struct worker;
struct tls_ctx;
struct perms_conn;
struct proto_perm;
struct proto_peer_info;

#define ROUTE_NS               1000000000ull
#define ROUTE_FIRST_PING_NS    (1ull * ROUTE_NS) /* nats-server's firstPingInterval for routes */
#define ROUTE_CONNECT_DELAY_NS (1ull * ROUTE_NS) /* DEFAULT_ROUTE_CONNECT */
#define ROUTE_RECONNECT_NS     (1ull * ROUTE_NS) /* DEFAULT_ROUTE_RECONNECT */
#define ROUTE_JITTER_NS        (100ull * 1000000ull)
#define ROUTE_DIAL_TIMEOUT_NS  (1ull * ROUTE_NS) /* DEFAULT_ROUTE_DIAL */
/* An implicit route that drops this soon after it was made is retried (the
 * duplicate-route race of two servers dialling each other). */
#define ROUTE_YOUNG_NS           (3ull * ROUTE_NS)
#define ROUTE_IMPLICIT_MIN_TRIES 3

/* A route to solicit: a configured URL (explicit, retried forever) or one a
 * peer told us about (implicit, tried 1 + connect_retries times). Its host
 * is resolved at every dial, off the loop (dial.c), so a peer whose name
 * moves to another address is reached there. Worker 0. */
struct route_remote {
    struct server *s;
    struct route_remote *next;
    char *url;      /* for logs */
    char *host;     /* the URL's host: looked up, and the TLS server name */
    char *port;     /* the URL's port */
    char *hostport; /* "host:port" as the URL has it (rURL.Host) */
    char *user, *pass;
    bool configured;
    bool self; /* it led back to this server: never again */
    /* the first dial loop (connect_error_reports) rather than a reconnect
     * after a route closed (reconnect_error_reports) */
    bool first_connect;
    int attempts;
    struct dial dial; /* busy while a lookup or a connect is in progress */
    struct loop_timer timer;
    struct conn *c;     /* the connection made for it, while open */
    char remote_id[57]; /* learned from the peer's INFO */
};

/* Local interest per account: "acc subject[ queue]" -> member count. */
struct route_lint {
    int32_t n;
    bool queue;
    bool imported; /* the cluster's import permission lets it go to routes */
    uint32_t keylen;
    char key[];
};

/* A client URL learned from peers, reference counted. */
struct route_curl {
    char *url;
    int refs;
};

struct route_state {
    pthread_mutex_t mu;
    /* under mu */
    struct conn **regd; /* registered routes */
    size_t nregd, capregd;
    struct hmap interest;
    struct route_curl *curls;
    size_t ncurls, capcurls;
    bool curls_seen; /* a peer's client URLs were added once */
    char cluster[64];
    bool dynamic;
    /* cluster permissions: which local interest we send (import, as
     * nats-server's canImport); its publish cache is used under mu */
    struct perms_conn *import;
    atomic_int nroutes;

    /* Read-only after route_init. */
    /* cluster tls {}: both sides of every route (NULL: plaintext); tls_name
     * is the first host name of the configured routes, the TLS server name
     * of routes known by IP. */
    struct tls_ctx *tls;
    char *tls_name;
    /* our client URLs (getClientConnectURLs) */
    char **own_urls;
    size_t n_own_urls;

    /* worker 0 only */
    struct worker *w;
    int listen_fd;
    int port;
    struct loop_watch listen_watch;
    struct route_remote *remotes;
};

/* Kind state of a route connection (conn.kdata). */
struct route_data {
    struct route_remote *remote; /* solicit record, NULL for an accepted route */
    bool solicited;
    bool registered;
    bool configured;
    bool verbose; /* the peer's CONNECT asked for +OK after each message */
    char remote_id[57];
    char *remote_name;
    char *url; /* nats-route://ip:port/ of the peer, for gossip */
    int remote_port;
    char **curls; /* the peer's client URLs, counted in route_state */
    size_t ncurls;
    char *gossip; /* the peer's INFO line as we forward it; NULL until its INFO */
    /* the peer's export permission as its INFO says (NULL: none); compared
     * with a later INFO's to resend interest (updateRemoteRoutePerms) */
    struct proto_perm *peer_export;
    /* the peer's import permission as its INFO says (NULL: none), for
     * /routez; both change under route_state.mu once registered */
    struct proto_perm *peer_import;
    struct hmap rsubs;
    atomic_uint nsubs; /* rsubs.n, for /routez */
    char *gw_url;      /* the peer's gateway URL (route INFO gateway_url) */
    char idhash[7];    /* gateway_hash6 of remote_id: routed replies */
    uint64_t made_ns;
};

static inline struct route_data *route_data(struct conn *c)
{
    return c->kdata;
}

/* route.c */

/* A route connection around fd: accepted (r NULL) or solicited for r.
 * Worker 0. Returns NULL when it could not start (fd closed). */
struct conn *route_create(struct worker *w, int fd, const struct sockaddr_storage *peer,
                          struct route_remote *r);

/* route_urls.c; under rt->mu unless said otherwise */

/* Count the client URLs v of a peer (curls_seen set when n > 0). */
void route_curls_add(struct route_state *rt, char **v, size_t n);
/* Drop one count of each of the client URLs v. */
void route_curls_del(struct route_state *rt, char **v, size_t n);
/* Clients' connect_urls changed: every protocol-1 client gets an INFO.
 * Worker 0, mu not held. */
void route_clients_changed(struct server *s);
/* Fill rt->own_urls (route_init). */
void route_own_urls(struct server *s, struct route_state *rt, const struct opts *o);

/* route_dial.c; worker 0 unless said otherwise */

/* A new solicit record for url, linked into rt->remotes; its host (a name
 * or an address) is not looked up here but at each dial. Logs and returns
 * NULL when the URL is unusable. Worker 0, or the main thread before the
 * workers run. */
struct route_remote *route_remote_new(struct server *s, const char *url, bool configured);
/* Unlink and free r (its timer and dial stopped). */
void route_remote_free(struct route_remote *r);
/* Dial r after delay_ns. */
void route_schedule(struct route_remote *r, uint64_t delay_ns);
/* Dial r now (unless it is connected, dialling, or leads to ourselves). */
void route_dial(struct route_remote *r);
/* The route of r closed (c was made for it): reconnect as nats-server does,
 * or drop r. */
void route_remote_closed(struct conn *c, struct route_remote *r);
/* A registered route whose peer has this server id, or NULL. Takes mu. */
struct conn *route_find_id(struct route_state *rt, const char *id);
/* A peer told us (through c) of server pi: dial it unless known
 * (processImplicitRoute). */
void route_implicit(struct conn *c, const struct proto_peer_info *pi);
/* The TLS server name for dialling r. */
const char *route_tls_name(const struct route_state *rt, const struct route_remote *r);

#endif
