/* SPDX-License-Identifier: Apache-2.0
 * The ROUTE kind (nats-server's route.go, 2.9.10): one TCP connection per
 * pair of servers, INFO/CONNECT handshake, RS+/RS- interest per account,
 * RMSG/HMSG one hop only, gossip of new peers (implicit routes), duplicate
 * and self detection, reconnects. Every route connection, the listener and
 * the solicit records belong to worker 0 (see route.h for the threads). */
#include "route.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "gateway.h"
#include "hmap.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "nkey.h"
#include "opts.h"
#include "parser.h"
#include "perms.h"
#include "proto.h"
#include "route_int.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "tls.h"
#include "util.h"
#include "version.h"
#include "worker.h"

/* Returned by callbacks that closed the connection: parsing stops. */
#define ROUTE_STOP 1

/* A peer's interest, inserted in the account's sublist with owner = route. */
struct route_rsub {
    struct sub sub;
    uint64_t msgs; /* messages routed on it (under the route's out_mu) */
    struct account *acc;
    uint32_t keylen;
    char key[]; /* "acc subject[ queue]" */
};

static int route_on_op(void *ctx, const struct parser_cmd *cmd);
static int route_on_msg_start(void *ctx, const struct parser_cmd *cmd);
static int route_on_msg(void *ctx, const struct parser_cmd *cmd);
static void route_on_close(struct conn *c);
static void route_on_free(struct conn *c);
static void route_on_tls_ready(struct conn *c);
static void route_begin(struct conn *c);

static const struct parser_cb route_parser_cb = {
    .on_op = route_on_op,
    .on_msg_start = route_on_msg_start,
    .on_msg = route_on_msg,
    .on_not_connect = NULL, /* cluster auth and no CONNECT first: violation */
};

static const struct conn_kind_ops route_ops = {
    .name = "Router", /* nats-server's kindString for ROUTER */
    .log_tag = "rid",
    .pkind = &parser_kind_route,
    .pcb = &route_parser_cb,
    .on_close = route_on_close,
    .on_flush = NULL,
    .on_free = route_on_free,
    .on_tls_ready = route_on_tls_ready,
};

static void route_lint_key(const void *val, const char **key, size_t *len)
{
    const struct route_lint *l = val;
    *key = l->key;
    *len = l->keylen;
}

static const struct hmap_ops route_lint_ops = {.key = route_lint_key};

static void route_rsub_key(const void *val, const char **key, size_t *len)
{
    const struct route_rsub *r = val;
    *key = r->key;
    *len = r->keylen;
}

static const struct hmap_ops route_rsub_ops = {.key = route_rsub_key};

bool route_listen_addr(const struct server *s, struct sockaddr_storage *out)
{
    return s->rt && s->rt->listen_fd >= 0 && net_local_addr(s->rt->listen_fd, out) == 0;
}

int route_listen_port(const struct server *s)
{
    return s->rt ? s->rt->port : 0;
}

int route_count(const struct server *s)
{
    return s->rt ? atomic_load_explicit(&s->rt->nroutes, memory_order_relaxed) : 0;
}

/* --- INFO and CONNECT we send */

/* Host and port we announce to peers (cluster.advertise or the listener). */
static void route_advertised(struct server *s, char *host, size_t hsize, int *port)
{
    const struct opts *o = server_opts(s);
    const char *adv = o->cluster.advertise;
    *port = s->rt->port;
    if (adv && adv[0]) {
        char *h = NULL, *p = NULL;
        if (util_split_host_port(adv, &h, &p) == 0) {
            snprintf(host, hsize, "%s", h);
            *port = atoi(p);
        } else {
            snprintf(host, hsize, "%s", adv);
        }
        free(h);
        free(p);
        return;
    }
    snprintf(host, hsize, "%s", o->cluster.host ? o->cluster.host : OPTS_DEFAULT_HOST);
}

/* One direction of the cluster permissions as the INFO shows it. */
static const struct proto_perm *route_info_perm(const struct opts_subject_perm *p,
                                                struct proto_perm *buf)
{
    if (!p->set)
        return NULL;
    *buf = (struct proto_perm){p->allow.v, p->allow.n, p->deny.v, p->deny.n};
    return buf;
}

/* Our route INFO (nats-server's routeInfo): c is the connection it goes to
 * (its nonce), NULL for an async INFO; ldm set in lame duck mode. */
static void route_info_line(struct server *s, const struct conn *c, bool ldm, struct sbuf *out)
{
    const struct opts *o = server_opts(s);
    struct route_state *rt = s->rt;
    char host[256], ip[300] = "";
    int port;
    route_advertised(s, host, sizeof(host), &port);
    if (o->cluster.advertise && o->cluster.advertise[0])
        snprintf(ip, sizeof(ip), "nats-route://%s:%d/", host, port);
    pthread_mutex_lock(&rt->mu);
    char cluster[64];
    memcpy(cluster, rt->cluster, sizeof(cluster));
    bool dyn = rt->dynamic;
    pthread_mutex_unlock(&rt->mu);
    char gwurl[NET_ADDR_STRLEN + 64];
    bool has_gw = gateway_own_url(s, gwurl, sizeof(gwurl));
    struct proto_perm imp, exp;
    const struct opts_perms *perms = o->cluster.perms;
    struct proto_info in = {
        .gateway_url = has_gw ? gwurl : NULL,
        .server_id = s->id,
        .server_name = s->name,
        .version = NATSD_PROTOCOL_VERSION,
        .proto = 2, /* RouteProtoV2: accounts on every line */
        .go = "natsd " NATSD_VERSION,
        .host = host,
        .port = port,
        .headers = !o->no_header_support,
        .auth_required = o->cluster.username && o->cluster.username[0],
        .tls_required = rt->tls != NULL,
        .tls_verify = rt->tls != NULL,
        .max_payload = o->max_payload,
        .ip = ip[0] ? ip : NULL,
        .nonce = c && c->nonce[0] ? c->nonce : NULL,
        .cluster = cluster,
        .cluster_dynamic = dyn,
        .connect_urls = o->cluster.no_advertise ? NULL : (const char *const *)rt->own_urls,
        .n_connect_urls = o->cluster.no_advertise ? 0 : rt->n_own_urls,
        .ldm = ldm,
        .perm_import = perms ? route_info_perm(&perms->publish, &imp) : NULL,
        .perm_export = perms ? route_info_perm(&perms->subscribe, &exp) : NULL,
    };
    proto_info_line(&in, out);
}

static void route_send_connect(struct conn *c, const struct route_remote *r)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    struct sbuf b = {0};
    sbuf_adds(&b, "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false");
    if (r->user) {
        sbuf_adds(&b, ",\"user\":");
        sbuf_add_json_str(&b, r->user, strlen(r->user));
        sbuf_adds(&b, ",\"pass\":");
        sbuf_add_json_str(&b, r->pass ? r->pass : "", r->pass ? strlen(r->pass) : 0);
    }
    sbuf_addf(&b, ",\"tls_required\":%s,\"headers\":%s,\"name\":\"%s\",\"cluster\":",
              s->rt->tls ? "true" : "false", o->no_header_support ? "false" : "true", s->id);
    pthread_mutex_lock(&s->rt->mu);
    sbuf_add_json_str(&b, s->rt->cluster, strlen(s->rt->cluster));
    bool dyn = s->rt->dynamic;
    pthread_mutex_unlock(&s->rt->mu);
    if (dyn)
        sbuf_adds(&b, ",\"cluster_dynamic\":true");
    sbuf_adds(&b, "}\r\n");
    conn_send(c, b.p, b.len);
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [%.*s]", (int)b.len - 2, b.p);
    sbuf_free(&b);
}

/* --- ping timer (as for clients; routes ping first after 1 s) */

static void route_on_ping_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = t->arg;
    const struct opts *o = server_opts(c->s);
    uint64_t interval = (uint64_t)o->ping_interval_ns;
    if (conn_send_ping(c))
        loop_timer_arm(l, &c->ping_timer, interval);
}

static void route_on_auth_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (c->flags & CONN_F_CONNECTED)
        return;
    CONN_LOG(LOG_LEVEL_DEBUG, c, "%s", PROTO_ERR_AUTH_TIMEOUT); /* as sendErrAndDebug */
    conn_send_err(c, PROTO_ERR_AUTH_TIMEOUT);
    conn_close(c, "Authentication Timeout");
}

/* --- connection creation (createRoute) */

struct conn *route_create(struct worker *w, int fd, const struct sockaddr_storage *peer,
                          struct route_remote *r)
{
    struct server *s = w->s;
    const struct opts *o = server_opts(s);
    struct conn *c = xmalloc(sizeof(*c));
    conn_init(c, w, fd, CONN_KIND_ROUTE, &route_ops, peer);
    struct route_data *rd = xcalloc(1, sizeof(*rd));
    c->kdata = rd;
    c->acc = s->gacc;
    rd->remote = r;
    rd->solicited = r != NULL;
    rd->configured = r && r->configured;
    rd->made_ns = loop_now(w->loop);
    /* a route is not subject to max_pending as a client is (64 MB) */
    c->max_pending = (int64_t)64 * 1024 * 1024;
    c->parser.await_connect = !r && o->cluster.username && o->cluster.username[0];
    /* the cluster permissions apply to every route, accepted or solicited
     * (setRoutePermissions): import is publish, export is subscribe */
    c->perms = perms_conn_new(o->cluster.perms);
    loop_timer_init(&c->ping_timer, route_on_ping_timer, c);
    loop_timer_init(&c->auth_timer, route_on_auth_timer, c);
    if (conn_start(c) != 0) {
        close(fd);
        perms_conn_free(c->perms);
        proto_connect_free(&c->opts);
        free(rd);
        free(c);
        return NULL;
    }
    if (r)
        r->c = c;
    nkey_nonce(c->nonce); /* sent, never checked, as nats-server does for routes */
    if (s->rt->tls) {
        /* TLS first, both ways; the route starts once it is up */
        if (r)
            conn_tls_connect(c, s->rt->tls, route_tls_name(s->rt, r), o->cluster.tls.timeout);
        else
            conn_tls_accept_now(c, s->rt->tls, o->cluster.tls.timeout);
        return c;
    }
    route_begin(c);
    return c;
}

static void route_on_tls_ready(struct conn *c)
{
    route_begin(c);
}

/* The route protocol starts (after TLS when the cluster has it): CONNECT
 * when we dialled, our INFO, the auth and first ping timers. */
static void route_begin(struct conn *c)
{
    struct server *s = c->s;
    struct worker *w = c->w;
    const struct opts *o = server_opts(s);
    struct route_data *rd = route_data(c);
    struct route_remote *r = rd->solicited ? rd->remote : NULL;
    CONN_LOG(LOG_LEVEL_INFO, c, "Route connection created");
    if (r) {
        route_send_connect(c, r);
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Route connect msg sent");
    }
    struct sbuf info = {0};
    route_info_line(s, c, false, &info);
    conn_send(c, info.p, info.len);
    sbuf_free(&info);
    if (!r) {
        /* Every accepted route must send CONNECT in time, with or without
         * cluster authorization (nats-server arms this timer only with it):
         * a silent peer does not hold a connection for ever. */
        double secs = o->cluster.auth_timeout > 0 ? o->cluster.auth_timeout : 2.0;
        loop_timer_arm(w->loop, &c->auth_timer, (uint64_t)(secs * 1e9));
    }
    loop_timer_arm(w->loop, &c->ping_timer, ROUTE_FIRST_PING_NS);
}

static void route_on_accept(struct loop *l, struct loop_watch *wt, unsigned events)
{
    (void)l;
    (void)events;
    struct server *s = wt->arg;
    struct route_state *rt = s->rt;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        int fd = net_accept(rt->listen_fd, &peer);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                NLOG_ERROR("Temporary Route Accept Error(%s)", strerror(errno));
            return;
        }
        if (atomic_load(&s->shutting_down)) {
            close(fd);
            continue;
        }
        (void)route_create(rt->w, fd, &peer, NULL);
    }
}

/* --- interest (RS+ / RS-) */

static void route_lint_line(struct sbuf *b, const struct route_lint *l)
{
    if (l->n > 0) {
        sbuf_adds(b, "RS+ ");
        sbuf_add(b, l->key, l->keylen);
        if (l->queue)
            sbuf_addf(b, " %d", (int)l->n);
    } else {
        sbuf_adds(b, "RS- ");
        sbuf_add(b, l->key, l->keylen);
    }
    sbuf_adds(b, "\r\n");
}

static void route_key(struct sbuf *b, const struct account *acc, const struct sub *sub)
{
    sbuf_adds(b, acc->name);
    sbuf_addc(b, ' ');
    sbuf_add(b, sub->subject, sub->subject_len);
    if (sub->queue) {
        sbuf_addc(b, ' ');
        sbuf_add(b, sub->queue, sub->queue_len);
    }
}

void route_sub_changed(struct server *s, struct account *acc, const struct sub *sub, int delta)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return;
    struct sbuf key = {0}, line = {0};
    route_key(&key, acc, sub);
    pthread_mutex_lock(&rt->mu);
    struct route_lint *l = hmap_get(&rt->interest, &route_lint_ops, key.p, key.len);
    if (!l) {
        /* a removal always follows its subscription's insertion: a count
         * going below zero is a subscription removed twice */
        NASSERT(delta > 0);
        l = xcalloc(1, sizeof(*l) + key.len);
        memcpy(l->key, key.p, key.len);
        l->keylen = (uint32_t)key.len;
        l->queue = sub->queue != NULL;
        /* nats-server's canImport: interest the cluster permissions do not
         * import is kept (counted) but never told to routes */
        l->imported = !rt->import || perms_pub_check(rt->import, sub->subject, sub->subject_len) ==
                                         PERMS_PUB_ALLOW;
        hmap_put(&rt->interest, &route_lint_ops, l);
    }
    int32_t before = l->n;
    l->n += delta;
    NASSERT(l->n >= 0);
    bool send = l->queue ? before != l->n : (before == 0) != (l->n == 0);
    if (send && l->imported && rt->nregd > 0) {
        route_lint_line(&line, l);
        for (size_t i = 0; i < rt->nregd; i++) {
            conn_send(rt->regd[i], line.p, line.len);
            if (LOG_ENABLED(LOG_LEVEL_TRACE))
                CONN_LOG(LOG_LEVEL_TRACE, rt->regd[i], "->> [%.*s]", (int)line.len - 2, line.p);
        }
    }
    if (l->n == 0) {
        hmap_del(&rt->interest, &route_lint_ops, l->key, l->keylen);
        free(l);
    }
    pthread_mutex_unlock(&rt->mu);
    sbuf_free(&key);
    sbuf_free(&line);
}

struct route_dump {
    struct sbuf *b;
};

static void route_dump_one(void *val, void *arg)
{
    struct route_dump *d = arg;
    const struct route_lint *l = val;
    if (l->imported)
        route_lint_line(d->b, l);
}

/* --- routes registry (addRoute) */

bool route_cluster(struct server *s, char *buf, size_t size)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return false;
    pthread_mutex_lock(&rt->mu);
    snprintf(buf, size, "%s", rt->cluster);
    pthread_mutex_unlock(&rt->mu);
    return true;
}

/* Forward the INFO of newly registered route c to every other route
 * (forwardNewRouteInfoToKnownServers): they dial it (implicit route). */
static void route_gossip(struct route_state *rt, struct conn *c)
{
    struct route_data *rd = route_data(c);
    if (!rd->gossip)
        return;
    size_t n = strlen(rd->gossip);
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++)
        if (rt->regd[i] != c)
            conn_send(rt->regd[i], rd->gossip, n);
    pthread_mutex_unlock(&rt->mu);
}

/* Register c under its remote id. Returns false when it is a duplicate. */
static bool route_register(struct conn *c)
{
    struct server *s = c->s;
    struct route_state *rt = s->rt;
    struct route_data *rd = route_data(c);
    struct sbuf b = {0};
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++) {
        struct route_data *od = route_data(rt->regd[i]);
        if (strcmp(od->remote_id, rd->remote_id) == 0) {
            /* the survivor inherits the solicit data (addRoute) */
            if (rd->remote && !od->remote) {
                od->remote = rd->remote;
                od->remote->c = rt->regd[i];
                od->solicited = true;
                od->configured = rd->remote->configured;
                rd->remote = NULL;
            }
            pthread_mutex_unlock(&rt->mu);
            return false;
        }
    }
    if (rt->nregd == rt->capregd) {
        rt->capregd = rt->capregd ? rt->capregd * 2 : 8;
        rt->regd = xrealloc(rt->regd, rt->capregd * sizeof(*rt->regd));
    }
    rt->regd[rt->nregd++] = c;
    atomic_fetch_add(&rt->nroutes, 1);
    rd->registered = true;
    struct route_dump d = {&b};
    hmap_each(&rt->interest, route_dump_one, &d);
    gateway_route_gossip(s, &b);
    if (b.len)
        conn_send(c, b.p, b.len);
    route_curls_add(rt, rd->curls, rd->ncurls);
    pthread_mutex_unlock(&rt->mu);
    gateway_cluster_url(s, rd->gw_url, true);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Sent local subscriptions to route");
    sbuf_free(&b);
    return true;
}

static void route_unregister(struct conn *c)
{
    struct route_state *rt = c->s->rt;
    struct route_data *rd = route_data(c);
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++) {
        if (rt->regd[i] == c) {
            rt->regd[i] = rt->regd[--rt->nregd];
            atomic_fetch_sub(&rt->nroutes, 1);
            break;
        }
    }
    route_curls_del(rt, rd->curls, rd->ncurls);
    pthread_mutex_unlock(&rt->mu);
    rd->registered = false;
    gateway_cluster_url(c->s, rd->gw_url, false);
}

void route_sub_sid(const struct sub *sub, const char **p, size_t *len)
{
    const struct route_rsub *rs =
        (const struct route_rsub *)((const char *)sub - offsetof(struct route_rsub, sub));
    *p = rs->key;
    *len = rs->keylen;
}

size_t route_peers(struct server *s, struct route_peer **out)
{
    struct route_state *rt = s->rt;
    *out = NULL;
    if (!rt)
        return 0;
    pthread_mutex_lock(&rt->mu);
    size_t n = rt->nregd;
    struct route_peer *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct route_data *rd = route_data(rt->regd[i]);
        v[i].cid = rt->regd[i]->cid;
        memcpy(v[i].remote_id, rd->remote_id, sizeof(v[i].remote_id));
        v[i].remote_name = rd->remote_name ? xstrdup(rd->remote_name) : NULL;
        v[i].did_solicit = rd->solicited;
        v[i].is_configured = rd->configured;
        v[i].nsubs = atomic_load(&rd->nsubs);
        v[i].import = proto_perm_dup(rd->peer_import);
        v[i].export = proto_perm_dup(rd->peer_export);
    }
    pthread_mutex_unlock(&rt->mu);
    *out = v;
    return n;
}

void route_peers_free(struct route_peer *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].remote_name);
        proto_perm_free(v[i].import);
        proto_perm_free(v[i].export);
    }
    free(v);
}

/* --- CONNECT from a soliciting peer (processRouteConnect) */

/* A body nats-server's decoder refuses: the error is logged as its read loop
 * logs a parse error, and the route closes without -ERR. */
static int route_bad_json(struct conn *c, const char *err)
{
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s", err);
    conn_close(c, "Protocol Violation");
    return ROUTE_STOP;
}

static int route_fail(struct conn *c, const char *err, const char *reason)
{
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s", err);
    conn_send_err(c, err);
    conn_close(c, reason);
    return ROUTE_STOP;
}

/* Cluster name check shared by CONNECT and INFO. Returns true to go on. */
static bool route_cluster_ok(struct route_state *rt, const char *theirs, bool their_dyn, char *ours,
                             size_t size)
{
    bool ok = true;
    pthread_mutex_lock(&rt->mu);
    if (strcmp(theirs, rt->cluster) != 0) {
        ok = false;
        if (rt->dynamic && (!their_dyn || strcmp(rt->cluster, theirs) < 0)) {
            snprintf(rt->cluster, sizeof(rt->cluster), "%s", theirs);
            rt->dynamic = their_dyn;
            NLOG_INFO("Cluster name updated to %s", rt->cluster);
            ok = true;
        }
    }
    snprintf(ours, size, "%s", rt->cluster);
    pthread_mutex_unlock(&rt->mu);
    return ok;
}

/* The CONNECT's credentials and account (isRouterAuthorized, then the
 * account designation every connection kind refuses); a bcrypt password
 * may leave it pending (auth.h). */
static enum auth_result route_connect_authorized(struct conn *c, const struct opts *o,
                                                 const struct proto_peer_connect *pc)
{
    if (pc->account[0] || pc->new_account)
        return AUTH_FAIL;
    const struct opts_tls *t = &o->cluster.tls;
    if (t->verify_and_map || t->verify_cert_and_check_known_urls) {
        const struct strlist *routes = &o->cluster.routes;
        return auth_tls_peer_ok(c, o->cluster.username, t->verify_and_map, &routes,
                                t->verify_cert_and_check_known_urls ? 1 : 0)
                   ? AUTH_OK
                   : AUTH_FAIL;
    }
    if (!o->cluster.username || !o->cluster.username[0])
        return AUTH_OK;
    if (strcmp(pc->user, o->cluster.username) != 0)
        return AUTH_FAIL;
    return auth_connect_password(c, o->cluster.password ? o->cluster.password : "", pc->pass);
}

static int route_connect(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    struct route_data *rd = route_data(c);
    struct proto_peer_connect pc;
    char err[256];
    int prc = proto_peer_connect_parse(cmd->args[0].p, cmd->args[0].len, &pc, err, sizeof(err));
    if (prc == -1)
        return route_bad_json(c, err);
    int rc = 0;
    enum auth_result ar = route_connect_authorized(c, o, &pc);
    if (ar == AUTH_PENDING) {
        proto_peer_connect_free(&pc);
        return PARSER_PAUSE; /* parked: this CONNECT runs again with the verdict */
    }
    if (ar != AUTH_OK) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error - User \"%s\"", pc.user);
        conn_send_err(c, PROTO_ERR_AUTH_VIOLATION);
        conn_close(c, "Authentication Failure");
        rc = ROUTE_STOP;
    } else if (pc.lang[0]) {
        conn_send_err(c, PROTO_ERR_ROUTE_PORT);
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_ROUTE_PORT);
        conn_close(c, "Incorrect Port");
        rc = ROUTE_STOP;
    } else if (prc != 0) {
        rc = route_bad_json(c, err); /* the route record itself did not decode */
    } else if (pc.gateway[0]) {
        char e[300];
        snprintf(e, sizeof(e), "Rejecting connection from gateway \"%s\" on the Route port",
                 pc.gateway);
        rc = route_fail(c, e, "Wrong Gateway");
    } else {
        char ours[64];
        if (!route_cluster_ok(s->rt, pc.cluster, pc.cluster_dynamic, ours, sizeof(ours))) {
            char e[300];
            snprintf(e, sizeof(e),
                     "Rejecting connection, cluster name \"%s\" does not match \"%s\"", pc.cluster,
                     ours);
            rc = route_fail(c, e, "Cluster Name Conflict");
            /* the error processConnect returns, logged by the read loop */
            CONN_LOG(LOG_LEVEL_ERROR, c, "cluster name from remote server conflicts");
        }
    }
    if (rc == 0) {
        c->flags |= CONN_F_CONNECTED;
        c->parser.await_connect = false;
        loop_timer_disarm(c->w->loop, &c->auth_timer);
        snprintf(rd->remote_id, sizeof(rd->remote_id), "%s", pc.name);
        c->headers = pc.headers && !o->no_header_support;
        rd->verbose = pc.verbose;
    }
    proto_peer_connect_free(&pc);
    return rc;
}

/* --- INFO from the peer (processRouteInfo) */

/* The peer entered lame duck mode: its client URLs leave our clients'
 * connect_urls (processRouteInfo with ldm). */
static void route_peer_ldm(struct conn *c)
{
    struct route_state *rt = c->s->rt;
    struct route_data *rd = route_data(c);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Peer %s is in lame duck mode", rd->remote_id);
    pthread_mutex_lock(&rt->mu);
    route_curls_del(rt, rd->curls, rd->ncurls);
    pthread_mutex_unlock(&rt->mu);
    for (size_t i = 0; i < rd->ncurls; i++)
        free(rd->curls[i]);
    rd->ncurls = 0;
    route_clients_changed(c->s);
}

/* A stand-in that answers "does this export permission let subj in" (a
 * route's export is a subscribe permission). NULL p: everything. */
static struct perms_conn *route_export_tester(const struct proto_perm *p)
{
    struct opts_perms op = {0};
    if (p) {
        op.subscribe.set = true;
        op.subscribe.allow = (struct strlist){p->allow, p->n_allow};
        op.subscribe.deny = (struct strlist){p->deny, p->n_deny};
    }
    return perms_conn_new(&op);
}

/* The subject of a local interest key "acc subject[ queue]" of $G, the only
 * account nats-server looks at here. Returns false for other accounts. */
static bool route_lint_global_subject(const struct route_lint *l, const char **subj, size_t *len)
{
    static const char g[] = "$G ";
    if (l->keylen <= sizeof(g) - 1 || memcmp(l->key, g, sizeof(g) - 1) != 0)
        return false;
    *subj = l->key + sizeof(g) - 1;
    const char *end = memchr(*subj, ' ', l->keylen - (sizeof(g) - 1));
    *len = end ? (size_t)(end - *subj) : l->keylen - (sizeof(g) - 1);
    return true;
}

struct route_reexport {
    struct sbuf *b;
    struct perms_conn *was, *now;
};

static void route_reexport_one(void *val, void *arg)
{
    struct route_reexport *x = arg;
    const struct route_lint *l = val;
    const char *subj;
    size_t len;
    if (!l->imported || !route_lint_global_subject(l, &subj, &len))
        return;
    if (perms_can_subscribe(x->now, subj, len, NULL, 0) &&
        !perms_can_subscribe(x->was, subj, len, NULL, 0))
        route_lint_line(x->b, l);
}

/* A later INFO of the peer itself, not in lame duck mode: its configuration
 * was reloaded. Local interest of $G that its new export permission lets in,
 * that the old one did not, and that our import allows is sent again
 * (updateRemoteRoutePerms). Worker 0. */
static void route_peer_perms_changed(struct conn *c, struct proto_peer_info *pi)
{
    struct route_state *rt = c->s->rt;
    struct route_data *rd = route_data(c);
    struct perms_conn *was = route_export_tester(rd->peer_export);
    struct perms_conn *now = route_export_tester(pi->perm_export);
    struct sbuf b = {0};
    struct route_reexport x = {&b, was, now};
    pthread_mutex_lock(&rt->mu);
    proto_perm_free(rd->peer_export);
    rd->peer_export = pi->perm_export;
    pi->perm_export = NULL;
    proto_perm_free(rd->peer_import);
    rd->peer_import = pi->perm_import;
    pi->perm_import = NULL;
    hmap_each(&rt->interest, route_reexport_one, &x);
    if (b.len)
        conn_send(c, b.p, b.len);
    pthread_mutex_unlock(&rt->mu);
    sbuf_free(&b);
    perms_conn_free(was);
    perms_conn_free(now);
}

/* The first INFO's checks (processRouteInfo): route to self, duplicate
 * server name, cluster name. Returns the close reason, or NULL to go on. */
static const char *route_info_refused(struct conn *c, const struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    if (strcmp(pi->server_id, s->id) == 0) {
        if (rd->remote)
            rd->remote->self = true; /* never dialled again */
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Detected route to self, ignoring %s",
                 rd->remote ? rd->remote->url : c->peer);
        return "Duplicate Route";
    }
    if (!rd->solicited && strcmp(pi->server_name, s->name) == 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Remote server has a duplicate name: \"%s\"", pi->server_name);
        return "Duplicate Server Name";
    }
    char ours[64];
    if (!route_cluster_ok(s->rt, pi->cluster, pi->cluster_dynamic, ours, sizeof(ours))) {
        CONN_LOG(LOG_LEVEL_ERROR, c,
                 "Rejecting connection, cluster name \"%s\" does not match \"%s\"", pi->cluster,
                 ours);
        return "Cluster Name Conflict";
    }
    return NULL;
}

/* Keep what the first INFO says of the peer, and the INFO we forward to
 * other routes: re-encoded, with ip set and without the nonce. Takes the
 * client URLs and the export permission out of pi. */
static void route_info_take(struct conn *c, struct proto_peer_info *pi)
{
    struct route_data *rd = route_data(c);
    const struct opts *o = server_opts(c->s);
    if (rd->solicited)
        c->flags |= CONN_F_CONNECTED;
    if (rd->solicited || !(c->flags & CONN_F_CONNECTED))
        c->headers = pi->headers && !o->no_header_support;
    const char *id = pi->server_id;
    snprintf(rd->remote_id, sizeof(rd->remote_id), "%s", id);
    gateway_hash6(id, strlen(id), rd->idhash);
    free(rd->gw_url);
    rd->gw_url = pi->gateway_url[0] ? xstrdup(pi->gateway_url) : NULL;
    if (rd->remote)
        snprintf(rd->remote->remote_id, sizeof(rd->remote->remote_id), "%s", id);
    free(rd->remote_name);
    rd->remote_name = xstrdup(pi->server_name);
    rd->remote_port = pi->port;
    struct sbuf u = {0};
    if (pi->ip[0])
        sbuf_adds(&u, pi->ip);
    else if (strchr(c->ip, ':'))
        sbuf_addf(&u, "nats-route://[%s]:%d/", c->ip, rd->remote_port);
    else
        sbuf_addf(&u, "nats-route://%s:%d/", c->ip, rd->remote_port);
    rd->url = xstrdup(u.p);
    sbuf_free(&u);
    free(pi->nonce);
    pi->nonce = xstrdup("");
    if (!pi->ip[0]) {
        free(pi->ip);
        pi->ip = xstrdup(rd->url);
    }
    struct sbuf g = {0};
    proto_peer_info_line(pi, &g);
    rd->gossip = xstrdup(g.p);
    sbuf_free(&g);
    rd->curls = pi->connect_urls;
    rd->ncurls = pi->n_connect_urls;
    pi->connect_urls = NULL;
    pi->n_connect_urls = 0;
    rd->peer_export = pi->perm_export;
    pi->perm_export = NULL;
    rd->peer_import = pi->perm_import;
    pi->perm_import = NULL;
}

/* An INFO after the first one: gossip about a gateway or another server,
 * lame duck mode, or the peer's new permissions. */
static void route_info_async(struct conn *c, struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    if (!rd->registered)
        return; /* the duplicate being closed */
    if (pi->gateway[0]) {
        if (!s->gw)
            NLOG_ERROR("Received information about gateway \"%s\" from %s, but gateway is not "
                       "configured",
                       pi->gateway, rd->remote_id);
        else
            gateway_info_from_route(s, pi);
    } else if (strcmp(pi->server_id, rd->remote_id) != 0) {
        route_implicit(c, pi);
    } else if (pi->ldm) {
        if (rd->ncurls)
            route_peer_ldm(c);
    } else {
        route_peer_perms_changed(c, pi);
    }
}

static int route_info(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    struct proto_peer_info pi;
    char err[256];
    if (proto_peer_info_parse(cmd->args[0].p, cmd->args[0].len, &pi, err, sizeof(err)) != 0)
        return route_bad_json(c, err);
    if (rd->registered || rd->gossip) {
        if (strcmp(pi.server_id, rd->remote_id) == 0)
            conn_peer_set_max_payload(c, pi.max_payload); /* the peer's own, e.g. reloaded */
        route_info_async(c, &pi);
        proto_peer_info_free(&pi);
        return 0;
    }
    const char *reason = !pi.server_id[0] ? "Protocol Violation" : route_info_refused(c, &pi);
    if (reason) {
        if (!pi.server_id[0])
            CONN_LOG(LOG_LEVEL_ERROR, c, "Route Error invalid INFO: no server_id");
        proto_peer_info_free(&pi);
        conn_close(c, reason);
        return ROUTE_STOP;
    }
    route_info_take(c, &pi);
    conn_peer_set_max_payload(c, pi.max_payload);
    proto_peer_info_free(&pi);
    if (!route_register(c)) {
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Detected duplicate remote route \"%s\"", rd->remote_id);
        conn_close(c, "Duplicate Route");
        return ROUTE_STOP;
    }
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Registering remote route \"%s\"", rd->remote_id);
    route_gossip(s->rt, c);
    if (rd->ncurls)
        route_clients_changed(s);
    return 0;
}

/* --- RS+ / RS- (processRemoteSub, processRemoteUnsub) */

static void route_free_rsub(void *p)
{
    free(p);
}

static int route_parse_fail(struct conn *c, const char *what, const struct parser_cmd *cmd)
{
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s Parse Error: '%.*s'", what, (int)cmd->line.len, cmd->line.p);
    conn_close(c, "Protocol Violation");
    return ROUTE_STOP;
}

static int route_rs_plus(struct conn *c, const struct parser_cmd *cmd)
{
    struct route_data *rd = route_data(c);
    size_t n = cmd->nargs_total;
    if (n != 2 && n != 4)
        return route_parse_fail(c, "processRemoteSub", cmd);
    struct parser_slice a = cmd->args[0], subj = cmd->args[1];
    struct account *acc = account_table_find_n(c->s->accounts, a.p, a.len);
    if (!acc) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Unknown account \"%.*s\" for remote subject \"%.*s\"",
                 (int)a.len, a.p, (int)subj.len, subj.p);
        return 0;
    }
    /* the cluster's export permission (canExport: the subject only) */
    if (c->perms && !perms_can_subscribe(c->perms, subj.p, subj.len, NULL, 0)) {
        if (LOG_ENABLED(LOG_LEVEL_DEBUG)) {
            struct sbuf q = {0};
            perms_quote(&q, subj.p, subj.len);
            CONN_LOG(LOG_LEVEL_DEBUG, c, "Can not export %s, ignoring remote subscription request",
                     q.p);
            sbuf_free(&q);
        }
        return 0;
    }
    int32_t weight = 1;
    if (n == 4) {
        int64_t w = 0;
        const struct parser_slice *ws = &cmd->args[3];
        bool ok = ws->len > 0 && ws->len <= 9;
        for (size_t i = 0; ok && i < ws->len; i++) {
            ok = ws->p[i] >= '0' && ws->p[i] <= '9';
            w = w * 10 + (ws->p[i] - '0');
        }
        weight = ok && w > 0 ? (int32_t)w : 1;
    }
    /* key: the line up to the weight */
    size_t keylen = n == 4 ? (size_t)(cmd->args[2].p + cmd->args[2].len - a.p)
                           : (size_t)(subj.p + subj.len - a.p);
    struct route_rsub *rs = hmap_get(&rd->rsubs, &route_rsub_ops, a.p, keylen);
    if (rs) {
        if (rs->sub.queue && rs->sub.qweight != weight)
            sublist_update_qweight(acc->sl, &rs->sub, weight);
        return 0;
    }
    rs = xcalloc(1, sizeof(*rs) + keylen);
    memcpy(rs->key, a.p, keylen);
    rs->keylen = (uint32_t)keylen;
    rs->acc = acc;
    rs->sub.subject = rs->key + (subj.p - a.p);
    rs->sub.subject_len = (uint32_t)subj.len;
    if (n == 4) {
        rs->sub.queue = rs->key + (cmd->args[2].p - a.p);
        rs->sub.queue_len = (uint32_t)cmd->args[2].len;
    }
    rs->sub.owner = c;
    rs->sub.qweight = weight;
    if (sublist_insert(acc->sl, &rs->sub) != 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Could not insert subscription: sublist: invalid subject");
        free(rs);
        return 0;
    }
    hmap_put(&rd->rsubs, &route_rsub_ops, rs);
    atomic_store(&rd->nsubs, (unsigned)rd->rsubs.n);
    gateway_sub_changed(c->s, acc, &rs->sub, 1);
    return 0;
}

static int route_rs_minus(struct conn *c, const struct parser_cmd *cmd)
{
    struct route_data *rd = route_data(c);
    size_t n = cmd->nargs_total;
    if (n != 2 && n != 3) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "processRemoteUnsub parse error: '%.*s'", (int)cmd->line.len,
                 cmd->line.p);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    struct parser_slice a = cmd->args[0];
    size_t keylen = (size_t)(cmd->args[n - 1].p + cmd->args[n - 1].len - a.p);
    struct route_rsub *rs = hmap_del(&rd->rsubs, &route_rsub_ops, a.p, keylen);
    if (!rs) {
        if (!account_table_find_n(c->s->accounts, a.p, a.len))
            CONN_LOG(LOG_LEVEL_DEBUG, c, "Unknown account \"%.*s\" for subject \"%.*s\"",
                     (int)a.len, a.p, (int)cmd->args[1].len, cmd->args[1].p);
        return 0;
    }
    sublist_remove(rs->acc->sl, &rs->sub);
    gateway_sub_changed(c->s, rs->acc, &rs->sub, -1);
    worker_retire(c->w, rs, route_free_rsub);
    atomic_store(&rd->nsubs, (unsigned)rd->rsubs.n);
    return 0;
}

/* --- control ops */

static int route_on_op(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        conn_trace_in(c, cmd);
    switch (cmd->op) {
    case PARSER_OP_CONNECT:
        return route_connect(c, cmd);
    case PARSER_OP_INFO:
        return route_info(c, cmd);
    case PARSER_OP_PING:
        conn_send(c, "PONG\r\n", 6);
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [PONG]");
        return 0;
    case PARSER_OP_PONG:
        conn_got_pong(c);
        return 0;
    case PARSER_OP_RS_PLUS:
        return route_rs_plus(c, cmd);
    case PARSER_OP_RS_MINUS:
        return route_rs_minus(c, cmd);
    case PARSER_OP_ERR:
        CONN_LOG(LOG_LEVEL_ERROR, c, "Route Error %.*s", (int)cmd->line.len, cmd->line.p);
        conn_close(c, "Parse Error");
        return ROUTE_STOP;
    case PARSER_OP_OK:
    case PARSER_OP_A_PLUS:
    case PARSER_OP_A_MINUS:
    case PARSER_OP_SUB:
    case PARSER_OP_UNSUB:
    case PARSER_OP_LS_PLUS:
    case PARSER_OP_LS_MINUS:
        /* we never announce lnoc: a peer has no reason to send LS+/LS- */
        return 0;
    default:
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
}

/* --- RMSG / HMSG (processRoutedMsgArgs, processInboundRoutedMsg) */

/* Split the arguments of an RMSG/HMSG. args holds every token. Returns 0 or
 * -1 after logging the reference's error. */
int route_msg_args(struct conn *c, const struct parser_cmd *cmd, const struct parser_slice *args,
                   size_t n, struct route_margs *ma)
{
    bool hdr = cmd->op == PARSER_OP_HMSG;
    const char *fn = hdr ? "processRoutedHeaderMsgArgs" : "processRoutedMsgArgs";
    size_t sizes = hdr ? 2 : 1;
    memset(ma, 0, sizeof(*ma));
    if (n < 2 + sizes) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s Parse Error: '%.*s'", fn, (int)cmd->line.len, cmd->line.p);
        return -1;
    }
    ma->acc = args[0];
    ma->subj = args[1];
    size_t rest = n - 2 - sizes;
    if (rest == 1) {
        ma->reply = args[2];
    } else if (rest >= 2) {
        const struct parser_slice *ind = &args[2];
        if (ind->len == 1 && ind->p[0] == '+' && rest >= 3) {
            ma->reply = args[3];
            ma->q = &args[4];
            ma->nq = rest - 2;
        } else if (ind->len == 1 && ind->p[0] == '|') {
            ma->q = &args[3];
            ma->nq = rest - 1;
        } else {
            CONN_LOG(LOG_LEVEL_ERROR, c, "%s Bad or Missing Reply Indicator: '%.*s'", fn,
                     (int)ind->len, ind->p);
            return -1;
        }
    }
    return 0;
}

static int route_on_msg_start(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        conn_trace_in(c, cmd);
    /* before anything else: the payload is not buffered yet */
    if (conn_peer_msg_too_big(c, cmd))
        return ROUTE_STOP;
    if (cmd->op != PARSER_OP_RMSG && cmd->op != PARSER_OP_HMSG) {
        if (cmd->op == PARSER_OP_PUB || cmd->op == PARSER_OP_HPUB)
            return 0; /* framed, ignored (a route has no publisher rights) */
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    if (!(c->flags & CONN_F_CONNECTED)) {
        /* nothing but CONNECT/INFO/PING before the handshake */
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    struct route_margs ma;
    if (cmd->nargs_total <= cmd->nargs &&
        route_msg_args(c, cmd, cmd->args, cmd->nargs_total, &ma) != 0) {
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    return 0;
}

int route_msg_decode(struct conn *c, const struct parser_cmd *cmd, struct route_margs *ma,
                     struct deliver_msg *m, struct parser_slice **big)
{
    size_t n = cmd->nargs_total;
    const struct parser_slice *args = cmd->args;
    *big = NULL;
    if (n > cmd->nargs) {
        *big = xmalloc(n * sizeof(**big));
        parser_split_args(cmd->line, *big, n);
        args = *big;
    }
    if (route_msg_args(c, cmd, args, n, ma) != 0)
        return -1;
    struct worker *w = c->w;
    c->in_msgs++;
    c->in_bytes += cmd->total_len;
    c->last_activity_ns = loop_now(w->loop);
    w->n_in_msgs++;
    w->n_in_bytes += cmd->total_len;
    /* nats-server's route and gateway connections belong to the global
     * account: /accstatz counts what they bring in there, whatever the
     * message's account */
    worker_acc_peer_in(w, cmd->total_len);
    *m = (struct deliver_msg){
        .subject = ma->subj.p,
        .subject_len = ma->subj.len,
        .reply = ma->reply.len ? ma->reply.p : NULL,
        .reply_len = ma->reply.len,
        .total_tok = args[n - 1].p,
        .total_tok_len = args[n - 1].len,
        .hdr_len = cmd->hdr_len,
        .total_len = cmd->total_len,
        .payload = cmd->payload.p,
        .rqueues = ma->q,
        .nrqueues = ma->nq,
    };
    if (cmd->op == PARSER_OP_HMSG) {
        m->hdr_tok = args[n - 2].p;
        m->hdr_tok_len = args[n - 2].len;
    }
    return 0;
}

static int route_on_msg(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    struct worker *w = c->w;
    if (cmd->op != PARSER_OP_RMSG && cmd->op != PARSER_OP_HMSG)
        return 0;
    struct route_margs ma;
    struct deliver_msg m;
    struct parser_slice *big;
    if (route_msg_decode(c, cmd, &ma, &m, &big) != 0) {
        free(big);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    if (route_data(c)->verbose)
        conn_send(c, "+OK\r\n", 5);
    struct account *acc = account_table_find_n(c->s->accounts, ma.acc.p, ma.acc.len);
    if (!acc) {
        CONN_LOG(LOG_LEVEL_DEBUG, c,
                 "Unknown account \"%.*s\" for routed message on subject: \"%.*s\"",
                 (int)ma.acc.len, ma.acc.p, (int)ma.subj.len, ma.subj.p);
        free(big);
        return 0;
    }
    if (c->s->gw && gateway_routed_reply(w, c, acc, &m)) {
        free(big);
        return 0;
    }
    deliver_local(w, c, acc, &m);
    free(big);
    return 0;
}

bool route_forward(struct worker *w, struct conn *rc, const struct account *acc,
                   const struct deliver_msg *m, const struct parser_slice *q, size_t nq)
{
    return route_forward_sub(w, rc, NULL, acc, m, q, nq);
}

static struct route_rsub *route_rsub_of(const struct sub *sub)
{
    return (struct route_rsub *)((const char *)sub - offsetof(struct route_rsub, sub));
}

uint64_t route_sub_msgs(const struct sub *sub)
{
    return route_rsub_of(sub)->msgs;
}

bool route_forward_sub(struct worker *w, struct conn *rc, struct sub *sub,
                       const struct account *acc, const struct deliver_msg *m,
                       const struct parser_slice *q, size_t nq)
{
    /* an export deny entry inside a wildcard interest of the peer
     * (checkDenySub on the route) */
    if (rc->perms && perms_deliver_denied(rc->perms, m->subject, m->subject_len))
        return false;
    /* The line goes at the end of the worker's scratch buffer, after the
     * local MSG lines of this message (deliver resets it per message). */
    struct sbuf *b = &w->line;
    size_t off = b->len;
    bool hmsg = m->hdr_len > 0 && rc->headers;
    const char *body = m->payload;
    size_t body_len = m->total_len;
    if (m->hdr_len > 0 && !hmsg) {
        body += m->hdr_len; /* the peer takes no headers: strip them */
        body_len -= m->hdr_len;
    }
    sbuf_adds(b, hmsg ? "HMSG " : "RMSG ");
    sbuf_adds(b, acc->name);
    sbuf_addc(b, ' ');
    sbuf_add(b, m->subject, m->subject_len);
    if (nq > 0) {
        if (m->reply) {
            sbuf_adds(b, " + ");
            sbuf_add(b, m->reply, m->reply_len);
        } else {
            sbuf_adds(b, " |");
        }
        for (size_t i = 0; i < nq; i++) {
            sbuf_addc(b, ' ');
            sbuf_add(b, q[i].p, q[i].len);
        }
    } else if (m->reply) {
        sbuf_addc(b, ' ');
        sbuf_add(b, m->reply, m->reply_len);
    }
    sbuf_addc(b, ' ');
    if (hmsg) {
        sbuf_add_u64(b, m->hdr_len);
        sbuf_addc(b, ' ');
    }
    sbuf_add_u64(b, hmsg ? m->total_len : body_len);
    sbuf_add(b, "\r\n", 2);
    size_t len = b->len - off;
    struct iovec iov[3] = {{b->p + off, len}, {(void *)body, body_len}, {"\r\n", 2}};
    conn_lock_out(rc);
    bool ok = conn_append_locked(rc, iov, 3, len + body_len + 2, body_len);
    if (ok) {
        rc->last_out_ns = loop_now(w->loop);
        if (sub)
            route_rsub_of(sub)->msgs++;
    }
    if (ok || rc->slow_consumer)
        conn_mark_flush_locked(rc, w);
    conn_unlock_out(rc);
    if (ok) {
        w->n_out_msgs++;
        w->n_out_bytes += body_len;
    }
    return ok;
}

void route_send_ldm(struct server *s)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return;
    struct sbuf b = {0};
    route_info_line(s, NULL, true, &b);
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++) {
        conn_send(rt->regd[i], b.p, b.len);
        if (LOG_ENABLED(LOG_LEVEL_TRACE))
            CONN_LOG(LOG_LEVEL_TRACE, rt->regd[i], "->> [%.*s]", (int)b.len - 2, b.p);
    }
    pthread_mutex_unlock(&rt->mu);
    sbuf_free(&b);
}

bool route_has_server_name(struct server *s, const char *name)
{
    struct route_state *rt = s->rt;
    if (!rt || !name || !name[0])
        return false;
    bool found = false;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd && !found; i++) {
        const char *n = route_data(rt->regd[i])->remote_name;
        found = n && strcmp(n, name) == 0;
    }
    pthread_mutex_unlock(&rt->mu);
    return found;
}

void route_send_all(struct server *s, const void *p, size_t n)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++)
        conn_send(rt->regd[i], p, n);
    pthread_mutex_unlock(&rt->mu);
}

struct conn *route_find_by_hash(struct server *s, const char *hash)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return NULL;
    struct conn *found = NULL;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd && !found; i++)
        if (memcmp(route_data(rt->regd[i])->idhash, hash, 6) == 0)
            found = rt->regd[i];
    pthread_mutex_unlock(&rt->mu);
    return found;
}

/* --- close */

static void route_collect(void *val, void *arg)
{
    struct route_rsub ***p = arg;
    **p = val;
    (*p)++;
}

static void route_on_close(struct conn *c)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    bool was_registered = rd->registered;
    if (rd->registered)
        route_unregister(c);
    size_t n = rd->rsubs.n;
    if (n > 0) {
        struct route_rsub **v = xmalloc(n * sizeof(*v)), **p = v;
        hmap_each(&rd->rsubs, route_collect, &p);
        for (size_t i = 0; i < n; i++) {
            sublist_remove(v[i]->acc->sl, &v[i]->sub);
            gateway_sub_changed(s, v[i]->acc, &v[i]->sub, -1);
            worker_retire(c->w, v[i], route_free_rsub);
        }
        free(v);
    }
    hmap_free(&rd->rsubs);
    CONN_LOG(LOG_LEVEL_INFO, c, "Router connection closed: %s", c->close_reason);
    if (was_registered && rd->ncurls)
        route_clients_changed(s);

    struct route_remote *r = rd->remote;
    rd->remote = NULL;
    if (r)
        route_remote_closed(c, r);
}

static void route_on_free(struct conn *c)
{
    struct route_data *rd = c->kdata;
    if (!rd)
        return;
    for (size_t i = 0; i < rd->ncurls; i++)
        free(rd->curls[i]);
    free(rd->curls);
    free(rd->remote_name);
    free(rd->url);
    free(rd->gw_url);
    free(rd->gossip);
    proto_perm_free(rd->peer_export);
    proto_perm_free(rd->peer_import);
    free(rd);
    c->kdata = NULL;
    perms_conn_free(c->perms);
    c->perms = NULL;
}

/* --- start and stop */

static void route_cluster_name(struct route_state *rt, const struct opts *o)
{
    if (o->cluster.name && o->cluster.name[0]) {
        snprintf(rt->cluster, sizeof(rt->cluster), "%s", o->cluster.name);
        return;
    }
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[22];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 7, sizeof(r));
    for (size_t i = 0; i < sizeof(r); i++)
        rt->cluster[i] = alphabet[r[i] % 62];
    rt->cluster[sizeof(r)] = '\0';
    rt->dynamic = true;
}

int route_init(struct server *s)
{
    const struct opts *o = server_opts(s);
    if (o->cluster.port == 0)
        return 0;
    struct route_state *rt = xcalloc(1, sizeof(*rt));
    s->rt = rt;
    pthread_mutex_init(&rt->mu, NULL);
    rt->w = s->workers[0];
    rt->listen_fd = -1;
    route_cluster_name(rt, o);
    route_own_urls(s, rt, o);
    rt->import = perms_conn_new(o->cluster.perms);
    NLOG_INFO("Cluster name is %s", rt->cluster);
    if (rt->dynamic)
        NLOG_WARN("Cluster name was dynamically generated, consider setting one");
    char err[512];
    const char *host = o->cluster.host ? o->cluster.host : OPTS_DEFAULT_HOST;
    rt->listen_fd = net_listen(host, o->cluster.port, err, sizeof(err));
    if (rt->listen_fd < 0) {
        NLOG_FATAL("Error listening on router: %s:%d, \"%s\"", host, o->cluster.port, err);
        return -1;
    }
    rt->port = net_local_port(rt->listen_fd);
    rt->listen_watch = (struct loop_watch){.fd = rt->listen_fd, .cb = route_on_accept, .arg = s};
    NLOG_INFO("Listening for route connections on %s:%d", host, rt->port);
    if (o->cluster.tls.set) {
        rt->tls = tls_ctx_new_mutual(&o->cluster.tls, err, sizeof(err));
        if (!rt->tls) {
            NLOG_FATAL("Error creating the route TLS context: %s", err);
            return -1;
        }
        if (o->cluster.tls.insecure)
            NLOG_WARN("TLS certificate chain and hostname of solicited routes will not be "
                      "verified. DO NOT USE IN PRODUCTION!");
    }
    for (size_t i = 0; i < o->cluster.routes.n; i++) {
        struct route_remote *r = route_remote_new(s, o->cluster.routes.v[i], true);
        if (r && !rt->tls_name && !net_host_is_ip(r->host))
            rt->tls_name = xstrdup(r->host);
    }
    return 0;
}

static void route_task_start(struct worker *w, void *arg)
{
    struct server *s = w->s;
    struct route_state *rt = s->rt;
    int *rc = arg;
    if (loop_watch_add(rt->w->loop, &rt->listen_watch, LOOP_READ) != 0) {
        NLOG_FATAL("Error watching the route listener: %s", strerror(errno));
        *rc = -1;
        return;
    }
    for (struct route_remote *r = rt->remotes; r; r = r->next)
        route_schedule(r, 1);
}

int route_start(struct server *s)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return 0;
    int rc = 0;
    worker_call(rt->w, route_task_start, &rc);
    return rc;
}

static void route_lint_free(void *val, void *arg)
{
    (void)arg;
    free(val);
}

void route_free(struct server *s)
{
    struct route_state *rt = s->rt;
    if (!rt)
        return;
    while (rt->remotes)
        route_remote_free(rt->remotes);
    if (rt->listen_fd >= 0)
        close(rt->listen_fd);
    hmap_each(&rt->interest, route_lint_free, NULL);
    hmap_free(&rt->interest);
    for (size_t i = 0; i < rt->ncurls; i++)
        free(rt->curls[i].url);
    free(rt->curls);
    free(rt->regd);
    tls_ctx_free(rt->tls);
    free(rt->tls_name);
    route_urls_free(rt->own_urls, rt->n_own_urls);
    perms_conn_free(rt->import);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    s->rt = NULL;
}
