/* SPDX-License-Identifier: Apache-2.0
 * The GATEWAY kind: superclusters, wire-compatible with nats-server 2.9.10.
 *
 * Every server keeps one outbound connection to one server of each remote
 * cluster and accepts any number of inbound ones. Messages travel only on
 * outbound connections, interest (RS+/RS-/A+/A-, INFO gateway_cmd 2/3) only
 * back on inbound ones. Remote clusters are configured (explicit, retried
 * for ever) or learned by gossip from inbound peers, outbound peers and
 * routes (implicit, given up after connect_retries).
 *
 * Threads: the listener, every gateway connection and the dial records live
 * on worker 0, as routes do. Other workers reach gateways through
 * gateway_send() (the outbound list is an RTT-ordered snapshot published
 * with an atomic pointer and reclaimed through the worker layer; each
 * outbound's remote interest is a gwint) and gateway_sub_changed() (under
 * the gateway mutex). Lock order: gateway mutex -> route mutex is never
 * taken; gateway mutex -> conn.out_mu -> worker.inbox_mu. */
#ifndef NATSD_GATEWAY_H
#define NATSD_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct account;
struct sub;
struct conn;
struct worker;
struct deliver_msg;
struct deliver_served;
struct sbuf;

/* Length of the routed-reply prefix "_GR_.<cluster hash>.<server hash>." */
#define GATEWAY_REPLY_PREFIX_LEN 19

/* Set up the gateway when gateway.port is set: listener bound, log lines of
 * nats-server's start-up, remotes from the configuration. Returns 0 (also
 * without a gateway) or -1 after a fatal log line. Main thread. */
int gateway_init(struct server *s);

/* Register the listener and schedule the explicit remotes on worker 0 (they
 * are dialled 1 s later, once the local cluster had time to form). Main
 * thread, once every worker runs. */
int gateway_start(struct server *s);

/* Free the gateway state; every connection must be closed already. */
void gateway_free(struct server *s);

/* Interest of the local cluster changed: sub (of account acc; a client's or
 * a route peer's) was added (delta 1) or removed (delta -1). Sends RS+/RS-
 * to every inbound gateway on the first and last plain subscriber of a
 * subject and the first and last member of a queue group, and remembers new
 * plain subscriptions for reply mapping. Any worker; no lock held. */
void gateway_sub_changed(struct server *s, struct account *acc, const struct sub *sub, int delta);

/* A reload added account acc: every inbound gateway gets its interest-only
 * switch (cmd 2, its plain interest, cmd 3). Any thread. */
void gateway_account_added(struct server *s, struct account *acc);

/* Offer message m, published in acc by src (a client, or NULL for internal
 * publishers), to the remote clusters that want it, in RTT order, each queue
 * group once in the supercluster: the groups in sv, which the local delivery
 * served, are not offered, and each group given to a gateway is added to sv.
 * Returns the number of gateways it was sent to. Worker thread w; call after
 * the local delivery. */
size_t gateway_send(struct worker *w, struct conn *src, struct account *acc,
                    const struct deliver_msg *m, struct deliver_served *sv);

/* A message whose subject is a routed reply ("_GR_.<c>.<s>." or "$GR.<h>."),
 * received from a route (src) or a gateway: deliver it to the local client
 * it is for, or pass it to the route peer it is for. Returns true when the
 * subject was a routed reply (handled, or dropped when it is for another
 * cluster). Worker 0. */
bool gateway_routed_reply(struct worker *w, struct conn *src, struct account *acc,
                          const struct deliver_msg *m);

/* The reply as a local client sees it: a routed reply without its prefix.
 * Returns true and sets *p, *len when reply is routed. */
bool gateway_strip_reply(const char *reply, size_t len, const char **p, size_t *plen);

/* A client that got a request with a routed reply remembers for 2 s which
 * routed reply its answer goes to. Called when such a message is queued for
 * c (c->out_mu held). */
void gateway_track_reply_locked(struct conn *c, const char *full, size_t full_len);

/* Client c publishes m: when m's subject is a reply it was asked for through
 * a gateway (tracked above, not expired), send it to the gateway it belongs
 * to and return true (nothing is delivered locally then). Worker thread. */
bool gateway_client_reply(struct worker *w, struct conn *c, const struct deliver_msg *m);

/* The 6-character base-62 hash of routed replies (SHA-256 based) of s into
 * out[7]: of a gateway name (cluster part) or a server id (server part). */
void gateway_hash6(const char *s, size_t len, char out[7]);

/* Free c's reply map (conn free). */
void gateway_conn_free(struct conn *c);

/* Route integration. Our gateway URL for the route INFO's gateway_url
 * (false without a gateway). */
bool gateway_own_url(struct server *s, char *buf, size_t size);
/* A route peer announced (add true) or took back its gateway URL: the
 * cluster's URL set changes (inbound peers get a new INFO). Any worker. */
void gateway_cluster_url(struct server *s, const char *url, bool add);
/* A new route registered: tell it about every remote we have an outbound to
 * (appended to out as gossip INFO lines). */
void gateway_route_gossip(struct server *s, struct sbuf *out);
/* A route peer passed on an INFO with a "gateway" field (gossip about a
 * remote cluster: an implicit gateway when it is new). Worker 0. */
struct proto_peer_info;
void gateway_info_from_route(struct server *s, const struct proto_peer_info *pi);

/* Monitoring (any thread). */
struct gwint_acc_info;
struct gateway_conn_info {
    uint64_t cid;
    char name[64];         /* remote gateway name */
    char remote_id[57];    /* remote server_id */
    char remote_name[256]; /* remote server_name */
    bool configured;       /* outbound to an explicit remote */
    bool outbound;
    uint32_t nsubs; /* outbound: stored remote subscriptions */
    /* Accounts (when asked for): outbound, the remote interest per account;
     * inbound, what we switched to interest-only and A- markers. */
    struct gwint_acc_info *accs;
    size_t naccs;
};
/* The registered gateway connections into *out (free with
 * gateway_conns_free). With accs, the account rows too (only account acc
 * when not NULL). Returns the count; 0 and *out NULL without a gateway. */
size_t gateway_conns(struct server *s, bool accs, const char *acc, struct gateway_conn_info **out);
void gateway_conns_free(struct gateway_conn_info *v, size_t n);
/* Our gateway name (false without a gateway). */
bool gateway_name(struct server *s, char *buf, size_t size);
/* The current URLs of remote name (host:port, discovered ones included), as
 * a new array of new strings; returns the count. */
size_t gateway_remote_urls(struct server *s, const char *name, char ***out);
/* The port the gateway listener is bound to (0 without a gateway). */
int gateway_listen_port(struct server *s);
/* Advertised host and port of our gateway (INFO host/port). */
bool gateway_advertised(struct server *s, char *host, size_t hsize, int *port);

#endif
