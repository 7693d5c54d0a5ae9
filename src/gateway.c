/* SPDX-License-Identifier: Apache-2.0
 * The GATEWAY kind, connection side: listener, inbound handshake (INFO,
 * CONNECT, auth, registration on the peer's first INFO), outbound dialling
 * (URL passes in random order, connect_retries for implicit remotes,
 * reconnects), discovery (gossip from inbound peers, outbound peers and
 * routes), PING/PONG with the RTT order of outbounds, and the interest lines
 * received on outbounds (handed to gwint). Messages and the interest we send
 * are in gateway_msg.c. Everything here runs on worker 0 unless a comment
 * says otherwise. */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "gateway_int.h"
#include "gwint.h"
#include "log.h"
#include "mem.h"
#include "opts.h"
#include "parser.h"
#include "proto.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "tls.h"
#include "util.h"
#include "version.h"
#include "worker.h"

/* Returned by callbacks that closed the connection: parsing stops. */
#define GW_STOP 1

#define GW_RECONNECT_NS  (1ull * GW_NS) /* explicit, after a close */
#define GW_JITTER_NS     (100ull * 1000000ull)
#define GW_FIRST_PING_NS (1ull * GW_NS)
#define GW_MAX_PING_NS   (15ull * GW_NS)
/* A peer that connected to us must send CONNECT within the auth timeout; one
 * we connected to must send its INFO within this (nats-server waits for
 * ever). */
#define GW_INFO_DEADLINE_NS (10ull * GW_NS)

static int gw_on_op(void *ctx, const struct parser_cmd *cmd);
static int gw_on_msg_start(void *ctx, const struct parser_cmd *cmd);
static int gw_on_msg(void *ctx, const struct parser_cmd *cmd);
static void gw_on_close(struct conn *c);
static void gw_on_free(struct conn *c);
static void gw_on_tls_ready(struct conn *c);

static const struct parser_cb gw_parser_cb = {
    .on_op = gw_on_op,
    .on_msg_start = gw_on_msg_start,
    .on_msg = gw_on_msg,
    .on_not_connect = NULL, /* anything but CONNECT first: Authorization Violation */
};

static const struct conn_kind_ops gw_ops = {
    .name = "Gateway",
    .log_tag = "gid",
    .pkind = &parser_kind_gateway,
    .pcb = &gw_parser_cb,
    .on_close = gw_on_close,
    .on_flush = NULL,
    .on_free = gw_on_free,
    .on_tls_ready = gw_on_tls_ready,
};

static struct gw_conn *gw_data(struct conn *c)
{
    return c->kdata;
}

/* --- hashes (routed replies) */

void gateway_hash6(const char *s, size_t len, char out[GW_HASH_LEN + 1])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, d);
    for (int i = 0; i < GW_HASH_LEN; i++)
        out[i] = digits[d[i] % 62];
    out[GW_HASH_LEN] = '\0';
}

void gw_oldhash(const char *s, size_t len, char out[5])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, d);
    for (int i = 0; i < 2; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[4] = '\0';
}

/* --- INFO lines we send */

/* Our handshake INFO (also sent again on inbounds when the cluster's URLs
 * change). Under gs->mu. */
static void gw_info_line(struct gw_state *gs, struct sbuf *out)
{
    struct server *s = gs->s;
    const struct opts *o = server_opts(s);
    const char **urls = xcalloc(gs->ncurls ? gs->ncurls : 1, sizeof(*urls));
    for (size_t i = 0; i < gs->ncurls; i++)
        urls[i] = gs->curls[i].url;
    struct proto_info in = {
        .server_id = s->id,
        .server_name = o->server_name ? o->server_name : "",
        .version = NATSD_PROTOCOL_VERSION,
        .proto = 0,
        .go = "",
        .host = gs->host,
        .port = gs->port,
        .headers = !o->no_header_support,
        .auth_required = o->gateway.username && o->gateway.username[0],
        .tls_required = gs->tls_server != NULL,
        .tls_verify = gs->tls_server != NULL,
        .max_payload = o->max_payload,
        .gateway = gs->name,
        .gateway_urls = urls,
        .n_gateway_urls = gs->ncurls,
        .gateway_url = gs->url,
        .gateway_nrp = true,
        .gateway_iom = true,
        .no_space = true,
    };
    proto_info_line(&in, out);
    free(urls);
}

/* A gossip INFO about remote r (gateway_cmd 1). id is the server_id to put
 * in it, sname the server_name. Under gs->mu. */
static void gw_gossip_line(const struct gw_remote *r, const char *id, const char *sname,
                           struct sbuf *out)
{
    const char **urls = xcalloc(r->nurls ? r->nurls : 1, sizeof(*urls));
    for (size_t i = 0; i < r->nurls; i++)
        urls[i] = r->urls[i].hostport;
    struct proto_info in = {
        .server_id = id,
        .server_name = sname,
        .version = "",
        .go = "",
        .host = "",
        .gateway = r->name,
        .gateway_urls = urls,
        .n_gateway_urls = r->nurls,
        .gateway_cmd = 1,
        .no_space = true,
    };
    proto_info_line(&in, out);
    free(urls);
}

static void gw_trace_out(struct conn *c, const char *p, size_t len)
{
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [%.*s]", (int)(len >= 2 ? len - 2 : len), p);
}

/* --- the outbound list published for senders */

static void gw_outs_free(void *p)
{
    free(p);
}

/* Rebuild the RTT-ordered snapshot (under gs->mu). */
static void gw_outs_publish(struct gw_state *gs)
{
    /* insertion sort by RTT: a new outbound has RTT 0 and goes first */
    for (size_t i = 1; i < gs->nout; i++) {
        struct conn *c = gs->out[i];
        size_t j = i;
        while (j > 0 && gs->out[j - 1]->rtt_ns > c->rtt_ns) {
            gs->out[j] = gs->out[j - 1];
            j--;
        }
        gs->out[j] = c;
    }
    struct gw_outs *o = xmalloc(sizeof(*o) + gs->nout * sizeof(o->v[0]));
    o->n = gs->nout;
    memcpy(o->v, gs->out, gs->nout * sizeof(o->v[0]));
    struct gw_outs *old = atomic_exchange(&gs->outs, o);
    atomic_store(&gs->nouts, (int)gs->nout);
    atomic_fetch_add_explicit(&gs->igen, 1, memory_order_release);
    if (old)
        worker_retire(gs->w, old, gw_outs_free);
}

/* --- timers */

static uint64_t gw_ping_interval(const struct server *s)
{
    uint64_t iv = (uint64_t)server_opts(s)->ping_interval_ns;
    return iv > GW_MAX_PING_NS || iv == 0 ? GW_MAX_PING_NS : iv;
}

static void gw_on_ping_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = t->arg;
    if (gw_data(c)->registered || (c->flags & CONN_F_CONNECTED)) {
        if (conn_send_ping(c))
            loop_timer_arm(l, &c->ping_timer, gw_ping_interval(c->s));
        return;
    }
    /* an outbound whose peer never sent its INFO */
    CONN_LOG(LOG_LEVEL_ERROR, c, "Gateway did not send its INFO in time");
    conn_close(c, "Stale Connection");
}

static void gw_first_ping(struct conn *c)
{
    uint64_t d = gw_ping_interval(c->s);
    if (d > GW_FIRST_PING_NS)
        d = GW_FIRST_PING_NS;
    d += worker_rand(c->w) % (d / 5 + 1);
    loop_timer_arm(c->w->loop, &c->ping_timer, d);
}

static void gw_on_auth_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (c->flags & CONN_F_CONNECTED)
        return;
    CONN_LOG(LOG_LEVEL_DEBUG, c, "%s", PROTO_ERR_AUTH_TIMEOUT);
    conn_send_err(c, PROTO_ERR_AUTH_TIMEOUT);
    conn_close(c, "Authentication Timeout");
}

/* --- connection creation */

static void gw_send_info(struct conn *c)
{
    struct gw_state *gs = c->s->gw;
    struct sbuf b = {0};
    pthread_mutex_lock(&gs->mu);
    gw_info_line(gs, &b);
    pthread_mutex_unlock(&gs->mu);
    conn_send(c, b.p, b.len);
    gw_trace_out(c, b.p, b.len);
    sbuf_free(&b);
}

/* The TLS handshake finished: the acceptor's INFO goes inside the session. */
static void gw_on_tls_ready(struct conn *c)
{
    if (!gw_data(c)->outbound)
        gw_send_info(c);
}

struct conn *gw_create(struct worker *w, int fd, const struct sockaddr_storage *peer,
                       struct gw_remote *r)
{
    struct server *s = w->s;
    struct gw_state *gs = s->gw;
    const struct opts *o = server_opts(s);
    struct conn *c = xmalloc(sizeof(*c));
    conn_init(c, w, fd, CONN_KIND_GATEWAY, &gw_ops, peer);
    struct gw_conn *gd = xcalloc(1, sizeof(*gd));
    c->kdata = gd;
    c->acc = s->gacc;
    gd->remote = r;
    gd->outbound = r != NULL;
    gd->configured = r && r->configured;
    /* a gateway is not bound by a client's max_pending */
    c->max_pending = (int64_t)64 * 1024 * 1024;
    c->parser.await_connect = r == NULL;
    loop_timer_init(&c->ping_timer, gw_on_ping_timer, c);
    loop_timer_init(&c->auth_timer, gw_on_auth_timer, c);
    if (conn_start(c) != 0) {
        close(fd);
        proto_connect_free(&c->opts);
        free(gd);
        free(c);
        return NULL;
    }
    if (r) {
        r->c = c;
        CONN_LOG(LOG_LEVEL_INFO, c, "Creating outbound gateway connection to \"%s\"", r->name);
        if (r->tls)
            conn_tls_connect(c, r->tls, r->tls_name, r->tls_timeout);
        /* nothing is sent before the peer's INFO; do not wait for ever */
        loop_timer_arm(w->loop, &c->ping_timer, GW_INFO_DEADLINE_NS);
        return c;
    }
    CONN_LOG(LOG_LEVEL_INFO, c, "Processing inbound gateway connection");
    double secs = o->gateway.auth_timeout > 0 ? o->gateway.auth_timeout
                                              : (gs->tls_server ? gs->tls_timeout + 1.0 : 2.0);
    loop_timer_arm(w->loop, &c->auth_timer, (uint64_t)(secs * 1e9));
    if (gs->tls_server)
        conn_tls_accept_now(c, gs->tls_server, gs->tls_timeout);
    else
        gw_send_info(c);
    return c;
}

void gw_on_accept(struct loop *l, struct loop_watch *wt, unsigned events)
{
    (void)l;
    (void)events;
    struct server *s = wt->arg;
    struct gw_state *gs = s->gw;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        int fd = net_accept(gs->listen_fd, &peer);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                NLOG_ERROR("Temporary Gateway Accept Error(%s)", strerror(errno));
            return;
        }
        if (atomic_load(&s->shutting_down)) {
            close(fd);
            continue;
        }
        (void)gw_create(gs->w, fd, &peer, NULL);
    }
}

/* --- registration */

static void gw_register_out(struct gw_state *gs, struct conn *c)
{
    pthread_mutex_lock(&gs->mu);
    if (gs->nout == gs->capout) {
        gs->capout = gs->capout ? 2 * gs->capout : 4;
        gs->out = xrealloc(gs->out, gs->capout * sizeof(*gs->out));
    }
    gs->out[gs->nout++] = c;
    gw_data(c)->registered = true;
    gw_outs_publish(gs);
    pthread_mutex_unlock(&gs->mu);
}

static void gw_unregister(struct gw_state *gs, struct conn *c)
{
    struct gw_conn *gd = gw_data(c);
    pthread_mutex_lock(&gs->mu);
    struct conn **v = gd->outbound ? gs->out : gs->in;
    size_t *n = gd->outbound ? &gs->nout : &gs->nin;
    for (size_t i = 0; i < *n; i++) {
        if (v[i] == c) {
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
            (*n)--;
            break;
        }
    }
    if (gd->outbound)
        gw_outs_publish(gs);
    gd->registered = false;
    pthread_mutex_unlock(&gs->mu);
}

/* Gossip INFO lines for every remote we have an outbound to, as sent to
 * routes: server_id "GW<our id>", so that no route takes it for a route
 * announcement. Under gs->mu. */
static void gw_route_gossip_locked(struct gw_state *gs, const struct gw_remote *only,
                                   const char *sname, struct sbuf *out)
{
    struct server *s = gs->s;
    char id[64];
    snprintf(id, sizeof(id), "GW%s", s->id);
    for (struct gw_remote *r = gs->remotes; r; r = r->next) {
        if (only && r != only)
            continue;
        if (!r->c || !gw_data(r->c)->registered)
            continue;
        gw_gossip_line(r, id, sname, out);
    }
}

void gateway_route_gossip(struct server *s, struct sbuf *out)
{
    struct gw_state *gs = s->gw;
    if (!gs)
        return;
    pthread_mutex_lock(&gs->mu);
    gw_route_gossip_locked(gs, NULL, "", out);
    pthread_mutex_unlock(&gs->mu);
}

/* The outbound to r learned (new) URLs: tell the routes. */
static void gw_tell_routes(struct gw_state *gs, const struct gw_remote *r)
{
    const struct opts *o = server_opts(gs->s);
    struct sbuf b = {0};
    pthread_mutex_lock(&gs->mu);
    gw_route_gossip_locked(gs, r, o->server_name ? o->server_name : "", &b);
    pthread_mutex_unlock(&gs->mu);
    if (b.len)
        route_send_all(gs->s, b.p, b.len);
    sbuf_free(&b);
}

/* The inbound c sent its first INFO: register it under the name it gives,
 * send the initial burst, and dial back when we have no outbound there. */
static int gw_register_in(struct conn *c, const struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct gw_state *gs = s->gw;
    struct gw_conn *gd = gw_data(c);
    snprintf(gd->name, sizeof(gd->name), "%s", pi->gateway ? pi->gateway : "");
    snprintf(gd->remote_id, sizeof(gd->remote_id), "%s", pi->server_id ? pi->server_id : "");
    snprintf(gd->remote_sname, sizeof(gd->remote_sname), "%s",
             pi->server_name ? pi->server_name : "");
    char **urls = pi->gateway_urls;
    size_t nurls = pi->n_gateway_urls;

    struct sbuf b = {0};
    pthread_mutex_lock(&gs->mu);
    if (gs->nin == gs->capin) {
        gs->capin = gs->capin ? 2 * gs->capin : 4;
        gs->in = xrealloc(gs->in, gs->capin * sizeof(*gs->in));
    }
    gs->in[gs->nin++] = c;
    gd->registered = true;
    CONN_LOG(LOG_LEVEL_INFO, c, "Inbound gateway connection from \"%s\" (%s) registered", gd->name,
             gd->remote_id);
    gw_queue_lines(gs, &b);
    if (b.len) {
        conn_send(c, b.p, b.len);
        gw_trace_out(c, b.p, b.len);
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Sent queue subscriptions to gateway");
    }
    sbuf_reset(&b);
    for (struct gw_remote *r = gs->remotes; r; r = r->next)
        if (strcmp(r->name, gd->name) != 0 && strcmp(r->name, gs->name) != 0 && !r->own)
            gw_gossip_line(r, s->id, "", &b);
    if (b.len)
        conn_send(c, b.p, b.len);
    sbuf_reset(&b);
    gw_accounts_switch_lines(gs, &b);
    if (b.len) {
        conn_send(c, b.p, b.len);
        gw_trace_out(c, b.p, b.len);
    }
    if (LOG_ENABLED(LOG_LEVEL_DEBUG)) {
        struct account_table *t = s->accounts;
        size_t na = atomic_load(&t->n);
        for (size_t i = 0; i < na; i++) {
            CONN_LOG(LOG_LEVEL_DEBUG, c, "Gateway \"%s\": switching account \"%s\" to %s mode",
                     gd->name, t->v[i]->name, "Interest-Only");
            CONN_LOG(LOG_LEVEL_DEBUG, c,
                     "Gateway \"%s\": switching account \"%s\" to %s mode complete", gd->name,
                     t->v[i]->name, "Interest-Only");
        }
    }
    struct gw_remote *dial = NULL;
    if (!gw_remote_find(gs, gd->name) || nurls)
        dial = gw_implicit_locked(gs, gd->name, urls, nurls);
    pthread_mutex_unlock(&gs->mu);
    sbuf_free(&b);
    gw_implicit_dial(dial);
    return 0;
}

/* --- CONNECT (inbound) */

static int gw_fail(struct conn *c, const char *err, const char *reason)
{
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s", err);
    conn_send_err(c, err);
    conn_close(c, reason);
    return GW_STOP;
}

/* isGatewayAuthorized: the certificate with a tls map or known-URL check,
 * else the authorization block's user and password, if any (a bcrypt one
 * may leave it pending, auth.h). */
static enum auth_result gw_connect_authorized(struct conn *c, const struct opts *o,
                                              const struct proto_peer_connect *pc)
{
    const struct opts_tls *t = &o->gateway.tls;
    if (t->verify_and_map || t->verify_cert_and_check_known_urls) {
        size_t n = t->verify_cert_and_check_known_urls ? o->gateway.n_gateways : 0;
        const struct strlist **lists = n ? xmalloc(n * sizeof(*lists)) : NULL;
        for (size_t i = 0; i < n; i++)
            lists[i] = &o->gateway.gateways[i].urls;
        bool ok = auth_tls_peer_ok(c, o->gateway.username, t->verify_and_map, lists, n);
        free(lists);
        return ok ? AUTH_OK : AUTH_FAIL;
    }
    if (!o->gateway.username || !o->gateway.username[0])
        return AUTH_OK;
    if (strcmp(pc->user, o->gateway.username) != 0 || !o->gateway.password)
        return AUTH_FAIL;
    return auth_connect_password(c, o->gateway.password, pc->pass);
}

/* NOLINTNEXTLINE(readability-function-size): a gateway CONNECT's checks in order, kept whole */
static int gw_connect(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    struct gw_state *gs = s->gw;
    const struct opts *o = server_opts(s);
    struct gw_conn *gd = gw_data(c);
    if (gd->outbound || (c->flags & CONN_F_CONNECTED)) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Gateway received an unexpected CONNECT");
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    struct parser_slice a = cmd->nargs ? cmd->args[0] : (struct parser_slice){"", 0};
    struct proto_peer_connect pc;
    char err[512];
    int prc = proto_peer_connect_parse(a.p, a.len, &pc, err, sizeof(err));
    if (prc == -1) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", err);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    int rc = 0;
    const char *gw = pc.gateway;
    enum auth_result ar =
        pc.has_account || pc.new_account ? AUTH_FAIL : gw_connect_authorized(c, o, &pc);
    if (ar == AUTH_PENDING) {
        proto_peer_connect_free(&pc);
        return PARSER_PAUSE; /* parked: this CONNECT runs again with the verdict */
    }
    if (ar != AUTH_OK) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error");
        conn_send_err(c, PROTO_ERR_AUTH_VIOLATION);
        conn_close(c, "Authentication Failure");
        rc = GW_STOP;
    } else if (prc == -2) {
        /* a type error in the gateway part, found after the credentials */
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", err);
        conn_close(c, "Protocol Violation");
        rc = GW_STOP;
    } else if (!gw[0]) {
        rc = gw_fail(c, "attempted to connect to gateway port", "Incorrect Port");
    } else if (o->gateway.reject_unknown) {
        pthread_mutex_lock(&gs->mu);
        const struct gw_remote *r = gw_remote_find(gs, gw);
        bool known = r && !r->own;
        pthread_mutex_unlock(&gs->mu);
        if (!known) {
            CONN_LOG(LOG_LEVEL_ERROR, c, "Rejecting connection from gateway \"%s\"", gw);
            char e[256];
            snprintf(e, sizeof(e), "Connection to gateway \"%s\" rejected", gs->name);
            conn_send_err(c, e);
            conn_close(c, "Wrong Gateway");
            rc = GW_STOP;
        }
    }
    if (rc == 0) {
        c->flags |= CONN_F_CONNECTED;
        c->parser.await_connect = false;
        c->opts.verbose = pc.verbose;
        loop_timer_disarm(c->w->loop, &c->auth_timer);
        snprintf(gd->name, sizeof(gd->name), "%s", gw);
        gw_first_ping(c);
    }
    proto_peer_connect_free(&pc);
    return rc;
}

/* --- INFO */

/* A non-empty server name that is ours or a route peer's. */
static bool gw_duplicate_name(struct server *s, const char *sname)
{
    const struct opts *o = server_opts(s);
    return sname && sname[0] &&
           ((o->server_name && strcmp(sname, o->server_name) == 0) ||
            route_has_server_name(s, sname));
}

static void gw_send_connect(struct conn *c, const struct gw_remote *r)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    struct gw_state *gs = s->gw;
    /* an outbound gateway always has its remote */
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
    const struct gw_url *u = r->dial_url < r->nurls ? &r->urls[r->dial_url] : NULL;
    const char *user = u && u->user ? u->user : o->gateway.username;
    const char *pass = u && u->user ? u->pass : o->gateway.password;
    struct sbuf b = {0};
    sbuf_adds(&b, "CONNECT {\"echo\":false,\"verbose\":false,\"pedantic\":false");
    if (user && user[0]) {
        sbuf_adds(&b, ",\"user\":");
        sbuf_add_json_str(&b, user, strlen(user));
        if (pass && pass[0]) {
            sbuf_adds(&b, ",\"pass\":");
            sbuf_add_json_str(&b, pass, strlen(pass));
        }
    }
    sbuf_addf(&b,
              ",\"tls_required\":%s,\"headers\":false,\"name\":\"%s\",\"cluster\":\"\","
              "\"gateway\":",
              r->tls ? "true" : "false", s->id);
    sbuf_add_json_str(&b, gs->name, strlen(gs->name));
    sbuf_adds(&b, "}\r\n");
    size_t connect_len = b.len;
    pthread_mutex_lock(&gs->mu);
    gw_info_line(gs, &b);
    pthread_mutex_unlock(&gs->mu);
    conn_send(c, b.p, b.len);
    if (LOG_ENABLED(LOG_LEVEL_TRACE)) {
        gw_trace_out(c, b.p, connect_len);
        gw_trace_out(c, b.p + connect_len, b.len - connect_len);
    }
    sbuf_free(&b);
}

/* First INFO on an outbound: check it is the cluster we wanted, answer with
 * CONNECT and our INFO, register. */
/* the whole first INFO of an outbound in one place */
/* NOLINTNEXTLINE(readability-function-size) */
static int gw_out_first_info(struct conn *c, const struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct gw_state *gs = s->gw;
    struct gw_conn *gd = gw_data(c);
    struct gw_remote *r = gd->remote;
    const char *want = r ? r->name : gd->name;
    const char *gw = pi->has_gateway ? pi->gateway : NULL;
    char e[512];
    if (!gw) {
        snprintf(e, sizeof(e), "Attempt to connect to gateway \"%s\" using wrong port", want);
        return gw_fail(c, e, "Incorrect Port");
    }
    if (strcmp(gw, want) != 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c,
                 "Failing connection to gateway \"%s\", remote gateway name is \"%s\"", want, gw);
        snprintf(e, sizeof(e),
                 "Connection from \"%s\" rejected, wanted to connect to \"%s\", this is \"%s\"",
                 gs->name, want, gw);
        conn_send_err(c, e);
        conn_close(c, "Wrong Gateway");
        return GW_STOP;
    }
    const char *sname = pi->server_name;
    const struct opts *o = server_opts(s);
    if (gw_duplicate_name(s, sname)) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Remote server has a duplicate name: \"%s\"", sname);
        conn_close(c, "Duplicate Server Name");
        return GW_STOP;
    }
    const char *id = pi->server_id;
    snprintf(gd->name, sizeof(gd->name), "%s", gw);
    snprintf(gd->remote_id, sizeof(gd->remote_id), "%s", id ? id : "");
    snprintf(gd->remote_sname, sizeof(gd->remote_sname), "%s", sname ? sname : "");
    gd->peer_iom = pi->gateway_iom;
    gd->peer_nrp = pi->gateway_nrp;
    c->headers = pi->headers && !o->no_header_support;
    char **urls = pi->gateway_urls;
    size_t nurls = pi->n_gateway_urls;
    pthread_mutex_lock(&gs->mu);
    bool dup = false;
    for (size_t i = 0; i < gs->nout; i++)
        if (strcmp(gw_data(gs->out[i])->name, gw) == 0)
            dup = true;
    if (!dup)
        gw_urls_rebuild(r, urls, nurls);
    pthread_mutex_unlock(&gs->mu);
    if (dup) {
        /* a second outbound to the same cluster: never reconnected */
        gd->remote = NULL;
        /* an outbound gateway always has its remote */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        r->c = NULL;
        conn_close(c, "Wrong Gateway");
        return GW_STOP;
    }
    gw_send_connect(c, r);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Gateway connect protocol sent to \"%s\"", gw);
    gd->gi = gwint_new(gd->peer_iom);
    gwint_share_gen(gd->gi, &gs->igen);
    gateway_hash6(gw, strlen(gw), gd->hash);
    gw_oldhash(gw, strlen(gw), gd->oldhash);
    c->flags |= CONN_F_CONNECTED;
    gw_register_out(gs, c);
    CONN_LOG(LOG_LEVEL_INFO, c, "Outbound gateway connection to \"%s\" (%s) registered", gw,
             gd->remote_id);
    loop_timer_disarm(c->w->loop, &c->ping_timer);
    gw_first_ping(c);
    gw_tell_routes(gs, r);
    return 0;
}

static int gw_cmd_account(struct conn *c, const struct proto_peer_info *pi, int cmd, char *acc,
                          size_t size)
{
    size_t n = pi->gateway_cmd_payload_len < size ? pi->gateway_cmd_payload_len : 0;
    if (n)
        memcpy(acc, pi->gateway_cmd_payload, n);
    acc[n] = '\0';
    if (n == 0) {
        const char *e = cmd == 2 ? "Account absent from receive-all-subscriptions-start command"
                                 : "Account absent from receive-all-subscriptions-complete command";
        return gw_fail(c, e, "Protocol Violation");
    }
    return 0;
}

/* A later INFO on an outbound: URL refresh, gossip, interest-mode switch. */
static int gw_out_info(struct conn *c, const struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct gw_state *gs = s->gw;
    struct gw_conn *gd = gw_data(c);
    const char *gw = pi->has_gateway ? pi->gateway : NULL;
    int cmd = pi->gateway_cmd;
    if (cmd == 1 && gw && strcmp(gw, gd->name) != 0) {
        char **urls = pi->gateway_urls;
        size_t n = pi->n_gateway_urls;
        pthread_mutex_lock(&gs->mu);
        struct gw_remote *dial = NULL;
        const struct gw_remote *known = gw_remote_find(gs, gw);
        if (!server_opts(s)->gateway.reject_unknown || known)
            dial = gw_implicit_locked(gs, gw, urls, n);
        pthread_mutex_unlock(&gs->mu);
        gw_implicit_dial(dial);
        return 0;
    }
    if (!gw || strcmp(gw, gd->name) != 0) {
        char e[512];
        CONN_LOG(LOG_LEVEL_ERROR, c,
                 "Failing connection to gateway \"%s\", remote gateway name is \"%s\"", gd->name,
                 gw ? gw : "");
        snprintf(e, sizeof(e),
                 "Connection from \"%s\" rejected, wanted to connect to \"%s\", this is \"%s\"",
                 gs->name, gd->name, gw ? gw : "");
        conn_send_err(c, e);
        conn_close(c, "Wrong Gateway");
        return GW_STOP;
    }
    if (cmd == 2 || cmd == 3) {
        char acc[256];
        int rc = gw_cmd_account(c, pi, cmd, acc, sizeof(acc));
        if (rc)
            return rc;
        if (cmd == 2) {
            CONN_LOG(LOG_LEVEL_DEBUG, c, "Gateway \"%s\": switching account \"%s\" to %s mode",
                     gd->name, acc, "Interest-Only");
            gwint_all_subs_start(gd->gi, acc, strlen(acc));
        } else {
            CONN_LOG(LOG_LEVEL_DEBUG, c,
                     "Gateway \"%s\": switching account \"%s\" to %s mode complete", gd->name, acc,
                     "Interest-Only");
            gwint_all_subs_complete(gd->gi, acc, strlen(acc));
        }
        return 0;
    }
    if (cmd != 0 && cmd != 1) {
        CONN_LOG(LOG_LEVEL_WARN, c, "Received unknown command %d from gateway \"%s\"", cmd,
                 gd->name);
        return 0;
    }
    /* the peer's cluster URLs changed */
    pthread_mutex_lock(&gs->mu);
    if (gd->remote)
        gw_urls_rebuild(gd->remote, pi->gateway_urls, pi->n_gateway_urls);
    pthread_mutex_unlock(&gs->mu);
    if (gd->remote)
        gw_tell_routes(gs, gd->remote);
    return 0;
}

static int gw_info(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    struct gw_conn *gd = gw_data(c);
    struct parser_slice a = cmd->nargs ? cmd->args[0] : (struct parser_slice){"", 0};
    struct proto_peer_info pi;
    char err[512];
    if (proto_peer_info_parse(a.p, a.len, &pi, err, sizeof(err)) != 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Gateway Error %s", err);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    int rc = 0;
    if (gd->outbound) {
        rc = gd->registered ? gw_out_info(c, &pi) : gw_out_first_info(c, &pi);
    } else if (!gd->registered && (c->flags & CONN_F_CONNECTED)) {
        if (gw_duplicate_name(s, pi.server_name)) {
            CONN_LOG(LOG_LEVEL_ERROR, c, "Remote server has a duplicate name: \"%s\"",
                     pi.server_name);
            conn_close(c, "Duplicate Server Name");
            rc = GW_STOP;
        } else {
            rc = gw_register_in(c, &pi);
        }
    }
    if (!gd->outbound && rc == 0)
        conn_peer_set_max_payload(c, pi.max_payload); /* the first INFO, or a later one */
    /* any later INFO on an inbound is ignored */
    proto_peer_info_free(&pi);
    return rc;
}

/* --- interest received on an outbound (RS+ RS- A+ A-) */

static int gw_wrong_direction(struct conn *c, const char *op)
{
    char e[128];
    snprintf(e, sizeof(e), "Received %s from gateway on inbound connection", op);
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s", e);
    /* nats-server sends nothing for RS+/RS-; natsd says why for A+/A- */
    if (op[0] == 'A')
        conn_send_err(c, e);
    conn_close(c, "Protocol Violation");
    return GW_STOP;
}

static int gw_interest(struct conn *c, const struct parser_cmd *cmd)
{
    struct gw_conn *gd = gw_data(c);
    const char *op = parser_op_name(cmd->op);
    if (!gd->outbound)
        return gw_wrong_direction(c, op);
    if (!gd->registered) {
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    size_t n = cmd->nargs_total;
    const struct parser_slice *v = cmd->args;
    int rc = 0;
    switch (cmd->op) {
    case PARSER_OP_A_PLUS:
    case PARSER_OP_A_MINUS:
        if (n != 1) {
            CONN_LOG(LOG_LEVEL_ERROR, c, "processGatewayAccount%s Parse Error: '%.*s'",
                     cmd->op == PARSER_OP_A_PLUS ? "Sub" : "Unsub", (int)cmd->line.len,
                     cmd->line.p);
            conn_close(c, "Protocol Violation");
            return GW_STOP;
        }
        if (cmd->op == PARSER_OP_A_PLUS)
            rc = gwint_account_sub(gd->gi, c->w, v[0].p, v[0].len);
        else
            rc = gwint_account_unsub(gd->gi, c->w, v[0].p, v[0].len);
        break;
    case PARSER_OP_RS_PLUS: {
        if (n != 2 && n != 4) {
            CONN_LOG(LOG_LEVEL_ERROR, c, "processGatewaySubjectSub Parse Error: '%.*s'",
                     (int)cmd->line.len, cmd->line.p);
            conn_close(c, "Protocol Violation");
            return GW_STOP;
        }
        int32_t w = 1;
        if (n == 4) {
            int64_t x = 0;
            for (size_t i = 0; i < v[3].len && i < 9; i++)
                x = v[3].p[i] >= '0' && v[3].p[i] <= '9' ? x * 10 + (v[3].p[i] - '0') : -1;
            w = x > 0 ? (int32_t)x : 1;
        }
        rc = gwint_sub(gd->gi, c->w, v[0].p, v[0].len, v[1].p, v[1].len, n == 4 ? v[2].p : NULL,
                       n == 4 ? v[2].len : 0, w);
        break;
    }
    case PARSER_OP_RS_MINUS:
        if (n != 2 && n != 3) {
            CONN_LOG(LOG_LEVEL_ERROR, c, "processGatewaySubjectUnsub Parse Error: '%.*s'",
                     (int)cmd->line.len, cmd->line.p);
            conn_close(c, "Protocol Violation");
            return GW_STOP;
        }
        rc = gwint_unsub(gd->gi, c->w, v[0].p, v[0].len, v[1].p, v[1].len, n == 3 ? v[2].p : NULL,
                         n == 3 ? v[2].len : 0);
        break;
    default:
        break;
    }
    if (rc != 0) {
        /* nats-server stores nothing for an invalid subject and goes on */
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Gateway %s with an invalid subject ignored: '%.*s'", op,
                 (int)cmd->line.len, cmd->line.p);
    }
    return 0;
}

/* --- control ops */

/* A PONG on an outbound re-sorts the outbounds by RTT. */
static void gw_pong(struct conn *c)
{
    conn_got_pong(c);
    struct gw_conn *gd = gw_data(c);
    if (!gd->outbound || !gd->registered)
        return;
    struct gw_state *gs = c->s->gw;
    pthread_mutex_lock(&gs->mu);
    bool sorted = true;
    for (size_t i = 1; i < gs->nout && sorted; i++)
        sorted = gs->out[i - 1]->rtt_ns <= gs->out[i]->rtt_ns;
    if (!sorted)
        gw_outs_publish(gs);
    pthread_mutex_unlock(&gs->mu);
}

static int gw_on_op(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        conn_trace_in(c, cmd);
    switch (cmd->op) {
    case PARSER_OP_CONNECT:
        return gw_connect(c, cmd);
    case PARSER_OP_INFO:
        return gw_info(c, cmd);
    case PARSER_OP_PING:
        conn_send(c, "PONG\r\n", 6);
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [PONG]");
        return 0;
    case PARSER_OP_PONG:
        gw_pong(c);
        return 0;
    case PARSER_OP_RS_PLUS:
    case PARSER_OP_RS_MINUS:
    case PARSER_OP_A_PLUS:
    case PARSER_OP_A_MINUS:
        return gw_interest(c, cmd);
    case PARSER_OP_ERR:
        CONN_LOG(LOG_LEVEL_ERROR, c, "Gateway Error %.*s", (int)cmd->line.len, cmd->line.p);
        conn_close(c, "Parse Error");
        return GW_STOP;
    case PARSER_OP_OK:
        return 0;
    default:
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        CONN_LOG(LOG_LEVEL_ERROR, c, "Gateway parser ERROR, unexpected %s",
                 parser_op_name(cmd->op));
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
}

/* --- RMSG / HMSG (inbound only) */

static int gw_on_msg_start(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        conn_trace_in(c, cmd);
    struct gw_conn *gd = gw_data(c);
    if (cmd->op != PARSER_OP_RMSG && cmd->op != PARSER_OP_HMSG) {
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    if (gd->outbound) {
        /* messages only travel from the side that connected */
        const char *e = "Received message from gateway on outbound connection";
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", e);
        conn_send_err(c, e);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    if (!(c->flags & CONN_F_CONNECTED)) {
        conn_send_err(c, PROTO_ERR_UNKNOWN_OP);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    if (conn_peer_msg_too_big(c, cmd))
        return GW_STOP;
    struct route_margs ma;
    if (cmd->nargs_total <= cmd->nargs &&
        route_msg_args(c, cmd, cmd->args, cmd->nargs_total, &ma) != 0) {
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    return 0;
}

static int gw_on_msg(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    struct route_margs ma;
    struct deliver_msg m;
    struct parser_slice *big;
    if (route_msg_decode(c, cmd, &ma, &m, &big) != 0) {
        free(big);
        conn_close(c, "Protocol Violation");
        return GW_STOP;
    }
    gw_inbound_msg(c, ma.acc, &m);
    free(big);
    if (c->opts.verbose)
        conn_send(c, "+OK\r\n", 5);
    return 0;
}

/* --- close */

static void gw_on_close(struct conn *c)
{
    struct server *s = c->s;
    struct gw_state *gs = s->gw;
    struct gw_conn *gd = gw_data(c);
    if (gd->registered)
        gw_unregister(gs, c);
    CONN_LOG(LOG_LEVEL_INFO, c, "Gateway connection closed: %s", c->close_reason);
    struct gw_remote *r = gd->remote;
    gd->remote = NULL;
    if (!r)
        return;
    r->c = NULL;
    if (atomic_load(&s->shutting_down))
        return;
    NLOG_DEBUG("Attempting reconnect for gateway \"%s\"", r->name);
    uint64_t jitter = worker_rand(gs->w) % GW_JITTER_NS;
    r->attempts = 0;
    r->reconnect = true;
    gw_schedule(r, r->configured ? GW_RECONNECT_NS + jitter : jitter);
}

static void gw_on_free(struct conn *c)
{
    struct gw_conn *gd = c->kdata;
    if (!gd)
        return;
    gwint_free(gd->gi, NULL);
    hmap_free(&gd->amiss);
    for (size_t i = 0; i < gd->namiss; i++)
        free(gd->amiss_keys[i]);
    free(gd->amiss_keys);
    free(gd);
    c->kdata = NULL;
}

/* --- route integration */

bool gateway_own_url(struct server *s, char *buf, size_t size)
{
    if (!s->gw)
        return false;
    snprintf(buf, size, "%s", s->gw->url);
    return true;
}

/* Every inbound gets our INFO again (its gateway_urls changed). */
static void gw_async_info(struct gw_state *gs)
{
    struct sbuf b = {0};
    pthread_mutex_lock(&gs->mu);
    gw_info_line(gs, &b);
    for (size_t i = 0; i < gs->nin; i++)
        conn_send(gs->in[i], b.p, b.len);
    pthread_mutex_unlock(&gs->mu);
    sbuf_free(&b);
}

void gateway_cluster_url(struct server *s, const char *url, bool add)
{
    struct gw_state *gs = s->gw;
    if (!gs || !url || !url[0])
        return;
    pthread_mutex_lock(&gs->mu);
    bool changed = add ? gw_curls_add(gs, url) : gw_curls_del(gs, url);
    pthread_mutex_unlock(&gs->mu);
    if (changed)
        gw_async_info(gs);
}

void gateway_info_from_route(struct server *s, const struct proto_peer_info *pi)
{
    struct gw_state *gs = s->gw;
    if (!gs || !pi->has_gateway || !pi->gateway || pi->gateway_cmd != 1)
        return;
    pthread_mutex_lock(&gs->mu);
    struct gw_remote *dial =
        gw_implicit_locked(gs, pi->gateway, pi->gateway_urls, pi->n_gateway_urls);
    pthread_mutex_unlock(&gs->mu);
    gw_implicit_dial(dial);
}

/* --- monitoring */

size_t gateway_conns(struct server *s, bool accs, const char *acc, struct gateway_conn_info **out)
{
    struct gw_state *gs = s->gw;
    *out = NULL;
    if (!gs)
        return 0;
    pthread_mutex_lock(&gs->mu);
    size_t n = gs->nin + gs->nout, k = 0;
    struct gateway_conn_info *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < gs->nout + gs->nin; i++) {
        struct conn *c = i < gs->nout ? gs->out[i] : gs->in[i - gs->nout];
        struct gw_conn *gd = gw_data(c);
        struct gateway_conn_info *e = &v[k++];
        e->cid = c->cid;
        snprintf(e->name, sizeof(e->name), "%s", gd->name);
        memcpy(e->remote_id, gd->remote_id, sizeof(e->remote_id));
        snprintf(e->remote_name, sizeof(e->remote_name), "%s", gd->remote_sname);
        e->outbound = gd->outbound;
        e->configured = gd->outbound && gd->configured;
        if (gd->outbound && gd->gi) {
            e->nsubs = gwint_num_subs(gd->gi);
            if (accs)
                e->naccs = gwint_accounts(gd->gi, acc, &e->accs);
        } else if (accs) {
            e->naccs = gw_inbound_accounts(s, gd, acc, &e->accs);
        }
    }
    pthread_mutex_unlock(&gs->mu);
    *out = v;
    return k;
}

void gateway_conns_free(struct gateway_conn_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].accs);
    free(v);
}

bool gateway_name(struct server *s, char *buf, size_t size)
{
    if (!s->gw)
        return false;
    snprintf(buf, size, "%s", s->gw->name);
    return true;
}

bool gateway_advertised(struct server *s, char *host, size_t hsize, int *port)
{
    if (!s->gw)
        return false;
    snprintf(host, hsize, "%s", s->gw->host);
    *port = s->gw->port;
    return true;
}
