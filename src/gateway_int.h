/* SPDX-License-Identifier: Apache-2.0
 * State shared by gateway.c (connections, handshake, discovery) and
 * gateway_msg.c (interest sent to inbound peers, messages, routed replies).
 * Private to those two files. */
#ifndef NATSD_GATEWAY_INT_H
#define NATSD_GATEWAY_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "hmap.h"
#include "loop.h"
#include "net.h"
#include "sbuf.h"

struct server;
struct conn;
struct gwint;
struct tls_ctx;

#define GW_HASH_LEN 6
#define GW_NS       1000000000ull

/* One URL of a remote cluster. */
struct gw_url {
    char *hostport; /* "host:port" as written or announced (the set's key) */
    char *host;
    char *port;
    char *user, *pass; /* from a configured URL's userinfo; NULL: none */
    bool configured;
};

/* A remote cluster we keep (or try to keep) one outbound connection to.
 * Worker 0 owns dialling; the record and its URL list are read by
 * monitoring under gs->mu. */
struct gw_remote {
    struct gw_state *gs;
    struct gw_remote *next;
    char *name;
    bool configured; /* explicit: from the configuration, retried for ever */
    bool own;        /* an entry with our own name: kept for /varz only */
    struct gw_url *urls;
    size_t nurls, capurls;
    struct tls_ctx *tls; /* client context; NULL: plaintext */
    bool tls_owned;
    double tls_timeout;
    char *tls_name; /* a hostname of this remote, for TLS verification */
    int attempts;   /* passes of the current dial loop */
    bool reconnect; /* the dial loop was restarted by a closed connection */
    /* dial pass in progress */
    size_t *order;
    size_t norder, pos;
    /* one URL at a time: its host looked up off the loop, then a connect
     * with a 1 s deadline; busy while either is in progress */
    struct dial dial;
    char *dial_hostport;     /* the URL being dialled, for logs */
    size_t dial_url;         /* its index once connected (credentials) */
    struct loop_timer timer; /* next pass, reconnect */
    struct conn *c;          /* its outbound connection, while open */
};

/* A plain subject or queue group of the local cluster's interest:
 * "acc subject[ queue]" -> members (local clients and route peers). */
struct gw_lint {
    int32_t n;
    bool queue;
    uint32_t acclen; /* the account name is key[0..acclen) */
    uint32_t keylen;
    char key[];
};

/* A URL of our own cluster (ours and route peers'), reference counted. */
struct gw_curl {
    char *url;
    int refs;
};

/* Outbound connections in RTT order, published for the senders. */
struct gw_outs {
    size_t n;
    struct conn *v[];
};

struct gwrecent;

struct gw_state {
    struct server *s;
    struct worker *w; /* worker 0 */
    char *name;
    char hash[GW_HASH_LEN + 1];    /* H6(name) */
    char oldhash[5];               /* first 4 hex of SHA-256(name) */
    char srvhash[GW_HASH_LEN + 1]; /* H6(server id) */
    char host[256];                /* advertised */
    int port;                      /* advertised */
    char url[300];                 /* "host:port" advertised */
    int listen_port;
    int listen_fd;
    struct loop_watch listen_watch;
    struct tls_ctx *tls_server; /* NULL: plaintext */
    struct tls_ctx *tls_client; /* implicit remotes and remotes without their own tls */
    double tls_timeout;
    bool insecure;

    pthread_mutex_t mu;
    /* under mu */
    struct gw_remote *remotes;
    struct conn **in; /* registered inbounds */
    size_t nin, capin;
    struct conn **out; /* registered outbounds, ascending RTT */
    size_t nout, capout;
    struct hmap lint;
    struct gw_curl *curls;
    size_t ncurls, capcurls;

    _Atomic(struct gw_outs *) outs;
    atomic_int nouts;
    /* bumped by every change of any outbound's interest and by every new
     * outs snapshot: senders' cached decisions are valid while it holds */
    _Atomic uint64_t igen;

    struct gwrecent *recent; /* subscriptions of the last 2 s (reply mapping) */
};

/* Kind state of a gateway connection (conn.kdata). */
struct gw_conn {
    struct gw_remote *remote; /* outbound: its remote (NULL once dropped) */
    bool outbound;
    bool registered;
    bool configured;
    bool peer_iom, peer_nrp;
    char name[64];      /* remote gateway name */
    char remote_id[57]; /* remote server_id */
    char remote_sname[256];
    struct gwint *gi;           /* outbound: the remote's interest */
    char hash[GW_HASH_LEN + 1]; /* outbound: H6 and old hash of the remote name */
    char oldhash[5];
    struct hmap amiss; /* inbound: accounts answered with A- */
    char **amiss_keys; /* their names, owned */
    size_t namiss;
};

/* The routed-reply map of a client connection (conn.gwr, under out_mu). */
struct gw_rmap_entry {
    char *stripped;
    size_t stripped_len;
    char *full;
    size_t full_len;
    uint64_t expires_ns;
};
struct gw_rmap {
    struct gw_rmap_entry *v;
    size_t n, cap;
};

/* First 4 lower-case hex characters of SHA-256(s) into out[5]. */
void gw_oldhash(const char *s, size_t len, char out[5]);

/* gateway.c */
struct sockaddr_storage;
struct worker;
struct loop;
struct loop_watch;
/* A gateway connection around fd: inbound (r NULL) or the outbound of r. */
struct conn *gw_create(struct worker *w, int fd, const struct sockaddr_storage *peer,
                       struct gw_remote *r);
void gw_on_accept(struct loop *l, struct loop_watch *wt, unsigned events);

/* gateway_remote.c; under gs->mu unless said otherwise */
bool gw_curls_add(struct gw_state *gs, const char *url); /* true: new URL */
bool gw_curls_del(struct gw_state *gs, const char *url); /* true: gone */
struct gw_remote *gw_remote_find(struct gw_state *gs, const char *name);
void gw_urls_rebuild(struct gw_remote *r, char **urls, size_t n);
bool gw_has_inbound(struct gw_state *gs, const char *name);
/* Learn cluster name at urls; returns a new implicit remote to dial with
 * gw_implicit_dial once gs->mu is released, or NULL. */
struct gw_remote *gw_implicit_locked(struct gw_state *gs, const char *name, char **urls, size_t n);
void gw_implicit_dial(struct gw_remote *r); /* worker 0, mu not held; NULL ok */
/* Run the dial loop of r after delay_ns (worker 0, mu not held). */
void gw_schedule(struct gw_remote *r, uint64_t delay_ns);

/* gateway_msg.c: the interest part of an inbound registration, appended to
 * out under gs->mu: queue RS+ lines, then (after gossip written by the
 * caller through gw_gossip_lines) per account the cmd 2 INFO, plain RS+
 * lines and cmd 3 INFO. */
void gw_queue_lines(struct gw_state *gs, struct sbuf *out);
void gw_accounts_switch_lines(struct gw_state *gs, struct sbuf *out);
void gw_lint_free_all(struct gw_state *gs);
struct gwint_acc_info;
/* Monitoring rows of inbound gd: our accounts (interest-only) and the A-
 * markers. Under gs->mu. */
size_t gw_inbound_accounts(struct server *s, const struct gw_conn *gd, const char *acc,
                           struct gwint_acc_info **out);
struct gwrecent *gw_recent_new(void);
void gw_recent_free_all(struct gw_state *gs);
/* A message on an inbound connection c (RMSG/HMSG parsed into m). Worker 0. */
struct deliver_msg;
struct parser_slice;
void gw_inbound_msg(struct conn *c, struct parser_slice acc, const struct deliver_msg *m);

#endif
