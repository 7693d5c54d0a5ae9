/* SPDX-License-Identifier: Apache-2.0
 * The ROUTE kind: cluster routes as nats-server 2.9.10 speaks them (route.go).
 * A route listener and the solicited routes (explicit from cluster.routes,
 * implicit from gossip), the INFO/CONNECT handshake with duplicate, self and
 * cluster name checks, interest exchange (RS+/RS- per account, queue weights),
 * messages (RMSG/HMSG with the +/| queue lists) and PING/PONG.
 *
 * route.c holds the connections, the handshake, interest and messages;
 * route_dial.c the solicit records and dialling; route_urls.c the client
 * URLs of the cluster (route_int.h is shared by the three). The route permissions of cluster {
 * permissions } are enforced as nats-server does: import filters the interest we send, export the
 * interest we accept (and messages on an export deny subject under a
 * wildcard interest); messages themselves are not checked.
 *
 * Threads: every route connection, the listener and the solicit records live
 * on worker 0. Other workers reach routes only by appending RMSG/HMSG to a
 * route connection's outbound queue (found in a sublist, as any target) and
 * through route_sub_changed(), which takes the route table's mutex; lock order
 * route mutex -> conn.out_mu -> worker.inbox_mu (docs/internals/locks.md). */
#ifndef NATSD_ROUTE_H
#define NATSD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser.h"

struct server;
struct account;
struct sub;
struct conn;
struct worker;
struct deliver_msg;
struct parser_slice;
struct sbuf;

/* Set up clustering when cluster.port is set: cluster name (generated when
 * absent), listener bound, configured route URLs resolved (blocking name
 * resolution: main thread, before the workers start). Logs nats-server's
 * start-up lines. Returns 0 (also when there is no cluster), or -1 after a
 * fatal log line. */
int route_init(struct server *s);

/* Register the listener and the first solicits on worker 0's loop (run
 * there through worker_call). Main thread, once every worker runs: route
 * events reach every worker. Returns 0 or -1. */
int route_start(struct server *s);

/* Free the route state. Every connection must be closed already. */
void route_free(struct server *s);

/* A local subscription sub of account acc was added (delta 1) or removed
 * (delta -1): tell every route as nats-server's updateRouteSubscriptionMap
 * (plain interest on 0->1 and 1->0, queue interest on every change with the
 * new member count). Any worker thread; no lock held by the caller. Does
 * nothing without a cluster. */
void route_sub_changed(struct server *s, struct account *acc, const struct sub *sub, int delta);

/* Send m (published in acc) to route connection rc as one RMSG/HMSG line,
 * naming the nq queue groups in q (may be 0) whose member on that route was
 * picked. Builds the line at the end of w->line (the caller's per-message
 * scratch). Worker w's thread. Returns true when queued. */
bool route_forward(struct worker *w, struct conn *rc, const struct account *acc,
                   const struct deliver_msg *m, const struct parser_slice *q, size_t nq);

/* route_forward, counting the message on sub (the route's first interest
 * the message matched, as nats-server's per-route target), which /routez
 * shows. */
struct sub;
bool route_forward_sub(struct worker *w, struct conn *rc, struct sub *sub,
                       const struct account *acc, const struct deliver_msg *m,
                       const struct parser_slice *q, size_t nq);

/* The messages routed on sub, a peer's interest held for a route. The
 * caller holds that route's out_mu. */
uint64_t route_sub_msgs(const struct sub *sub);

/* The connect_urls of the client INFO: our own client URL first, then the
 * client URLs learned from route peers (none with no_advertise). *out is a
 * new array of new strings, freed with route_urls_free. Returns the count (0
 * and *out NULL without a cluster). Any thread. */
size_t route_client_urls(struct server *s, char ***out);
void route_urls_free(char **v, size_t n);

/* What /routez shows of a registered route beyond the connection figures. */
struct route_peer {
    uint64_t cid;
    char remote_id[57];
    char *remote_name; /* the peer's server_name (copy; NULL: none) */
    bool did_solicit;
    bool is_configured;
    uint32_t nsubs; /* the peer's interest entries */
    /* the permissions the peer's INFO advertised (copies; NULL: none) */
    struct proto_perm *import, *export;
};

/* The registered routes, into *out (new array, free()). Returns the count.
 * Any thread (takes the route mutex). */
size_t route_peers(struct server *s, struct route_peer **out);
void route_peers_free(struct route_peer *v, size_t n);

/* The sid of sub, a peer's interest held for a route, as nats-server keys it:
 * "<account> <subject>[ <queue>]". Valid while sub is (the sublist's read
 * lock, or the route owner's thread). */
struct sub;
void route_sub_sid(const struct sub *sub, const char **p, size_t *len);

/* The cluster name now (it may change by negotiation) into buf. Returns
 * false without a cluster. Any thread. */
bool route_cluster(struct server *s, char *buf, size_t size);

/* The route listener's address into *out. Returns false without a cluster.
 * Any thread. */
struct sockaddr_storage;
bool route_listen_addr(const struct server *s, struct sockaddr_storage *out);

/* The port the route listener is bound to (a random one for -1), 0 without
 * a cluster. Any thread. */
int route_listen_port(const struct server *s);

/* The number of registered routes (lock-free). */
int route_count(const struct server *s);

/* The arguments of an RMSG/HMSG (routes and gateways share the grammar):
 * account, subject, reply, and the queue names of a "+"/"|" list. */
struct route_margs {
    struct parser_slice acc, subj, reply;
    const struct parser_slice *q;
    size_t nq;
};

/* Split the arguments of an RMSG/HMSG of c (args holds every token). Returns
 * 0, or -1 after logging nats-server's parse error. */
int route_msg_args(struct conn *c, const struct parser_cmd *cmd, const struct parser_slice *args,
                   size_t n, struct route_margs *ma);

/* An RMSG/HMSG of c decoded for delivery: the arguments split (*big holds
 * them when the queue list is long: the caller frees it, also on failure),
 * the message counted as received, *m filled. Returns 0, or -1 after the
 * parse error was logged (the caller closes c). Owner thread. */
int route_msg_decode(struct conn *c, const struct parser_cmd *cmd, struct route_margs *ma,
                     struct deliver_msg *m, struct parser_slice **big);

/* Is name (non-empty) the server_name of a registered route peer? Any
 * thread. */
bool route_has_server_name(struct server *s, const char *name);

/* Lame duck mode begins: every registered route gets our route INFO with
 * "ldm":true (sendLDMToRoutes), so that peers drop our client URLs from
 * their clients' connect_urls. Routes stay up until the server stops. Any
 * thread. */
void route_send_ldm(struct server *s);

/* Queue bytes on every registered route (gateway gossip). Any thread. */
void route_send_all(struct server *s, const void *p, size_t n);

/* The registered route whose peer's server id hashes (gateway_hash6) to
 * hash (6 characters), or NULL. Worker 0 (the caller's turn keeps it
 * valid). */
struct conn *route_find_by_hash(struct server *s, const char *hash);

#endif
