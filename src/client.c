/* SPDX-License-Identifier: Apache-2.0
 * The CLIENT kind, as nats-server's client.go treats a client connection:
 * CONNECT (onto verbose/pedantic/echo defaults), PUB and HPUB (limits, pedantic
 * subject check, reserved prefixes, +OK, fan-out, no-responders), SUB and UNSUB
 * (sids, auto-unsubscribe), PING/PONG and the ping timer, close. */
#include "client.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "gateway.h"
#include "hmap.h"
#include "imports.h"
#include "log.h"
#include "mem.h"
#include "nkey.h"
#include "monitor.h"
#include "opts.h"
#include "parser.h"
#include "perms.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "subject.h"
#include "sublist.h"
#include "tls.h"
#include "worker.h"

/* Returned by callbacks that closed the connection: parsing stops. */
#define CLIENT_STOP 1

/* First ping after CONNECT (nats-server firstPingInterval), and how long an
 * RTT measurement is trusted before a ping is sent regardless of traffic. */
#define CLIENT_FIRST_PING_NS  (2ull * 1000000000ull)
#define CLIENT_RTT_MAX_AGE_NS (3600ull * 1000000000ull)

static void client_sid_key(const void *val, const char **key, size_t *len)
{
    const struct csub *cs = val;
    *key = csub_sid(cs);
    *len = cs->sid_len;
}

static const struct hmap_ops client_sid_ops = {.key = client_sid_key};

struct client_data {
    struct hmap subs;       /* sid -> struct csub */
    struct csub *done_subs; /* reached their max; under the conn's out_mu */
    /* Client TLS: a reference to the context the connection was offered
     * (a reload may replace the server's meanwhile), whether the TLS rate
     * limit already let it through, and with allow_non_tls the wait for the
     * first byte that tells TLS from plaintext. */
    struct tls_ctx *tls_ref;
    bool tls_admitted;
    struct loop_timer tls_wait;
};

static int client_on_op(void *ctx, const struct parser_cmd *cmd);
static int client_on_msg_start(void *ctx, const struct parser_cmd *cmd);
static int client_on_msg(void *ctx, const struct parser_cmd *cmd);
static void client_on_close(struct conn *c);
static void client_on_flush(struct conn *c);
static void client_on_free(struct conn *c);

static const struct parser_cb client_parser_cb = {
    .on_op = client_on_op,
    .on_msg_start = client_on_msg_start,
    .on_msg = client_on_msg,
    .on_not_connect = NULL, /* auth required and no CONNECT first: violation */
};

static const struct conn_kind_ops client_ops = {
    .name = "Client",
    .log_tag = "cid",
    .pkind = &parser_kind_client,
    .pcb = &client_parser_cb,
    .on_close = client_on_close,
    .on_flush = client_on_flush,
    .on_free = client_on_free,
};

static struct client_data *client_data(struct conn *c)
{
    return c->kdata;
}

static void client_trace_in(struct conn *c, const struct parser_cmd *cmd)
{
    if (c->flags & CONN_F_REPLAY) {
        c->flags &= ~CONN_F_REPLAY; /* a parked CONNECT, traced when it came */
        return;
    }
    if (cmd->line.len)
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s %.*s]", parser_op_name(cmd->op), (int)cmd->line.len,
                 cmd->line.p);
    else
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s]", parser_op_name(cmd->op));
}

static void client_send_ok(struct conn *c)
{
    if (c->opts.verbose) {
        conn_send(c, "+OK\r\n", 5);
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [OK]");
    }
}

/* -ERR, then close (the queued -ERR goes out first). */
static int client_fail(struct conn *c, const char *err, const char *reason)
{
    conn_send_err(c, err);
    conn_close(c, reason);
    return CLIENT_STOP;
}

/* A protocol error nats-server logs and answers by closing, without -ERR. */
static int client_parse_fail(struct conn *c, const char *what, const struct parser_cmd *cmd)
{
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s Parse Error: \"%.*s\"", what, (int)cmd->line.len, cmd->line.p);
    conn_close(c, "Protocol Violation");
    return CLIENT_STOP;
}

/* --- ping timer (processPingTimer) */

static void client_arm_ping(struct conn *c, uint64_t delay_ns)
{
    loop_timer_arm(c->w->loop, &c->ping_timer, delay_ns);
}

static void client_on_ping_timer(struct loop *l, struct loop_timer *t)
{
    struct conn *c = t->arg;
    const struct opts *o = server_opts(c->s);
    uint64_t now = loop_now(l);
    uint64_t interval = (uint64_t)o->ping_interval_ns;
    /* the CONNECT's estimate is no measurement: the first PING goes out */
    bool need_rtt =
        c->rtt_ns == 0 || c->rtt_start_ns == 0 || now - c->rtt_start_ns > CLIENT_RTT_MAX_AGE_NS;
    conn_lock_out(c);
    uint64_t last = c->last_out_ns > c->last_activity_ns ? c->last_out_ns : c->last_activity_ns;
    conn_unlock_out(c);
    if (!need_rtt && (now - last < interval || now - c->ping_in_ns < interval)) {
        /* traffic or a PING of its own within the interval proves the
         * client alive (processPingTimer) */
        client_arm_ping(c, interval);
        return;
    }
    if (conn_send_ping(c))
        client_arm_ping(c, interval);
}

static void client_on_auth_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (c->flags & CONN_F_CONNECTED)
        return;
    /* a debug line in nats-server (authTimeout: sendErrAndDebug) */
    CONN_LOG(LOG_LEVEL_DEBUG, c, "%s", PROTO_ERR_AUTH_TIMEOUT);
    client_fail(c, PROTO_ERR_AUTH_TIMEOUT, "Authentication Timeout");
}

static void client_arm_auth(struct conn *c)
{
    double secs = auth_timeout_secs(c->s);
    loop_timer_arm(c->w->loop, &c->auth_timer, (uint64_t)(secs * 1e9));
}

/* --- client TLS */

bool client_tls_admit(struct conn *c, void *arg)
{
    (void)arg;
    struct client_data *cd = client_data(c);
    if (c->kind != CONN_KIND_CLIENT || cd->tls_admitted)
        return true;
    cd->tls_admitted = true;
    if (server_tls_rate_allow(c->s))
        return true;
    /* createClient: the -ERR goes out in plaintext, after the INFO */
    conn_send_err(c, "Connection throttling is active. Please try again later.");
    conn_close(c, "Maximum Connections Exceeded");
    return false;
}

/* allow_non_tls: tls.timeout passed since the INFO. As createClient, whose
 * read of the first bytes has that deadline, a client that sent nothing is
 * plaintext from now on (a ClientHello coming later is read as protocol),
 * and the auth timer starts only now. */
static void client_on_tls_wait(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (c->tls_next && (c->flags & CONN_F_TLS_OPTIONAL)) {
        c->tls_next = NULL;
        c->flags &= ~CONN_F_TLS_OPTIONAL;
    }
    if (c->parser.await_connect && !(c->flags & CONN_F_CONNECTED))
        client_arm_auth(c);
}

/* --- accept */

void client_accept(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    struct server *s = w->s;
    const struct opts *o = server_opts(s);
    struct conn *c = xmalloc(sizeof(*c));
    conn_init(c, w, fd, CONN_KIND_CLIENT, &client_ops, peer);
    struct client_data *cd = xcalloc(1, sizeof(*cd));
    c->kdata = cd;
    c->acc = s->gacc;
    c->parser.await_connect = s->auth_required && !o->no_auth_user;
    loop_timer_init(&c->ping_timer, client_on_ping_timer, c);
    loop_timer_init(&c->auth_timer, client_on_auth_timer, c);
    loop_timer_init(&cd->tls_wait, client_on_tls_wait, c);
    atomic_fetch_add(&s->stats.total_connections, 1);
    if (conn_start(c) != 0) {
        close(fd);
        proto_connect_free(&c->opts);
        free(c->kdata);
        free(c);
        return;
    }
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Client connection created");

    if (auth_nonce_required(o))
        nkey_nonce(c->nonce);
    /* INFO always goes first, even to a connection about to be refused. */
    struct sbuf info = {0};
    server_client_info(s, c, &info);
    conn_send(c, info.p, info.len);
    sbuf_free(&info);

    atomic_fetch_add(&c->acc->nclients, 1);
    if (atomic_fetch_add(&s->nclients, 1) >= o->max_connections) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_MAX_CONNECTIONS);
        client_fail(c, PROTO_ERR_MAX_CONNECTIONS, "Maximum Connections Exceeded");
        return;
    }
    /* TLS: the client upgrades right after the plaintext INFO (createClient);
     * a required handshake passes the rate limit now, an optional one when
     * the ClientHello comes (the context's admission hook) */
    struct tls_ctx *x = server_tls_ctx(s);
    bool optional = x && o->allow_non_tls;
    if (x) {
        cd->tls_ref = tls_ctx_ref(x);
        if (!optional && !client_tls_admit(c, NULL))
            return;
        conn_tls_upgrade(c, x, optional, o->tls.timeout);
        if (optional)
            loop_timer_arm(w->loop, &cd->tls_wait, (uint64_t)(o->tls.timeout * 1e9));
    }
    if (c->parser.await_connect && !optional)
        client_arm_auth(c);
    client_arm_ping(c, (uint64_t)o->ping_interval_ns);
}

/* --- CONNECT (processConnect) */

/* Bind c to its user's account and permissions (registerWithAccount,
 * setPermissions). u NULL: the token or single user, in $G without
 * permissions. Returns -1 when the user's account does not exist (a reload
 * publishes the accounts before the users naming them, so only a removed
 * account, of a user of the options being replaced, is missing). */
static int client_bind_user(struct conn *c, const struct opts_user *u)
{
    if (!u)
        return 0;
    if (u->account) {
        struct account *acc = account_table_find(c->s->accounts, u->account);
        if (!acc)
            return -1;
        if (acc != c->acc) {
            atomic_fetch_sub(&c->acc->nclients, 1);
            atomic_fetch_add(&acc->nclients, 1);
            c->acc = acc;
        }
    }
    c->perms = perms_conn_new(u->perms);
    return 0;
}

/* nats-server's getAuthUser, for violation log lines. */
static void client_auth_user(const struct conn *c, struct sbuf *b)
{
    if (c->opts.nkey) {
        sbuf_adds(b, "Nkey ");
        perms_quote(b, c->opts.nkey, strlen(c->opts.nkey));
    } else if (c->opts.user && c->opts.user[0]) {
        sbuf_adds(b, "User ");
        perms_quote(b, c->opts.user, strlen(c->opts.user));
    } else {
        sbuf_adds(b, "User \"N/A\"");
    }
}

/* pubPermissionViolation: -ERR and an [ERR] line; the connection stays. */
static void client_pub_violation(struct conn *c, struct parser_slice subj)
{
    struct sbuf e = {0}, who = {0};
    sbuf_adds(&e, "Permissions Violation for Publish to ");
    perms_quote(&e, subj.p, subj.len);
    sbuf_addc(&e, '\0');
    conn_send_err(c, e.p);
    client_auth_user(c, &who);
    sbuf_addc(&who, '\0');
    sbuf_reset(&e);
    perms_quote(&e, subj.p, subj.len);
    sbuf_addc(&e, '\0');
    CONN_LOG(LOG_LEVEL_ERROR, c, "Publish Violation - %s, Subject %s", who.p, e.p);
    sbuf_free(&e);
    sbuf_free(&who);
}

/* subPermissionViolation */
static void client_sub_violation(struct conn *c, struct parser_slice subj,
                                 struct parser_slice queue, struct parser_slice sid)
{
    struct sbuf e = {0}, who = {0}, qs = {0}, qq = {0};
    perms_quote(&qs, subj.p, subj.len);
    sbuf_addc(&qs, '\0');
    if (queue.len) {
        perms_quote(&qq, queue.p, queue.len);
        sbuf_addc(&qq, '\0');
    }
    client_auth_user(c, &who);
    sbuf_addc(&who, '\0');
    sbuf_addf(&e, "Permissions Violation for Subscription to %s", qs.p);
    if (queue.len)
        sbuf_addf(&e, " using queue %s", qq.p);
    sbuf_addc(&e, '\0');
    conn_send_err(c, e.p);
    if (queue.len)
        CONN_LOG(LOG_LEVEL_ERROR, c, "Subscription Violation - %s, Subject %s, Queue: %s, SID %.*s",
                 who.p, qs.p, qq.p, (int)sid.len, sid.p);
    else
        CONN_LOG(LOG_LEVEL_ERROR, c, "Subscription Violation - %s, Subject %s, SID %.*s", who.p,
                 qs.p, (int)sid.len, sid.p);
    sbuf_free(&e);
    sbuf_free(&who);
    sbuf_free(&qs);
    sbuf_free(&qq);
}

static int client_connect(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    struct proto_connect *co = &c->opts;
    if (proto_connect_parse(cmd->args[0].p, cmd->args[0].len, co) != 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "invalid CONNECT: %.*s", (int)cmd->args[0].len,
                 cmd->args[0].p);
        conn_close(c, "Protocol Violation");
        return CLIENT_STOP;
    }
    if (!(c->flags & CONN_F_CONNECTED) && s->auth_required) {
        const struct opts_user *u = NULL;
        enum auth_result ar = auth_connect_client(s, c, &u);
        if (ar == AUTH_PENDING)
            return PARSER_PAUSE; /* parked: this CONNECT runs again with the verdict */
        if (ar != AUTH_OK || client_bind_user(c, u) != 0) {
            auth_log_violation(s, c);
            return client_fail(c, PROTO_ERR_AUTH_VIOLATION, "Authentication Failure");
        }
    }
    if ((co->account && co->account[0]) || co->new_account) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_AUTH_VIOLATION);
        return client_fail(c, PROTO_ERR_AUTH_VIOLATION, "Authentication Failure");
    }
    if (co->protocol < 0 || co->protocol > 1) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_BAD_CLIENT_PROTOCOL);
        return client_fail(c, PROTO_ERR_BAD_CLIENT_PROTOCOL, "Bad Client Protocol Version");
    }
    c->headers = co->headers && !o->no_header_support;
    if (co->no_responders && !c->headers) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_NO_RESPONDERS_HDRS);
        return client_fail(c, PROTO_ERR_NO_RESPONDERS_HDRS, "No Responders Requires Headers");
    }
    bool first = !(c->flags & CONN_F_CONNECTED);
    c->flags |= CONN_F_CONNECTED;
    c->parser.await_connect = false;
    loop_timer_disarm(c->w->loop, &c->auth_timer);
    client_send_ok(c);
    /* a CONNECT is activity, and the time it took from the accept is the
     * first RTT estimate until a PONG measures one (processConnect) */
    uint64_t now = loop_clock_ns();
    c->last_activity_ns = now;
    c->rtt_ns = now > c->start_ns ? now - c->start_ns : 1;
    if (first) {
        /* the first ping comes early, to measure the RTT (setFirstPingTimer) */
        uint64_t d = CLIENT_FIRST_PING_NS;
        if ((uint64_t)o->ping_interval_ns < d)
            d = (uint64_t)o->ping_interval_ns;
        d += worker_rand(c->w) % (d / 5 + 1);
        client_arm_ping(c, d);
    }
    return 0;
}

/* --- SUB / UNSUB (processSubEx, processUnsub) */

static void client_free_csub(void *p)
{
    free(p);
}

static void client_remove_sub(struct conn *c, struct csub *cs)
{
    hmap_del(&client_data(c)->subs, &client_sid_ops, csub_sid(cs), cs->sid_len);
    sublist_remove(c->acc->sl, &cs->sub);
    route_sub_changed(c->s, c->acc, &cs->sub, -1);
    gateway_sub_changed(c->s, c->acc, &cs->sub, -1);
    worker_retire(c->w, cs, client_free_csub);
}

static int client_sub(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    struct parser_slice subj, queue = {NULL, 0}, sid;
    if (cmd->nargs_total == 2) {
        subj = cmd->args[0];
        sid = cmd->args[1];
    } else if (cmd->nargs_total == 3) {
        subj = cmd->args[0];
        queue = cmd->args[1];
        sid = cmd->args[2];
    } else {
        return client_parse_fail(c, "processSub", cmd);
    }
    struct client_data *cd = client_data(c);
    /* permissions come first, as in processSubEx */
    if (c->perms && !perms_can_subscribe(c->perms, subj.p, subj.len, queue.p, queue.len)) {
        client_sub_violation(c, subj, queue, sid);
        return 0;
    }
    if (!subject_is_valid(subj.p, subj.len)) {
        conn_send_err(c, PROTO_ERR_INVALID_SUBJECT);
        return 0;
    }
    struct csub *old = hmap_get(&cd->subs, &client_sid_ops, sid.p, sid.len);
    if (old) {
        conn_lock_out(c);
        bool done = old->done;
        conn_unlock_out(c);
        if (!done) {
            client_send_ok(c); /* a sid in use: the original stays */
            return 0;
        }
        /* it reached its max this turn and awaits removal: remove it now, so
         * that the sid is free again at once, as in nats-server */
        client_on_flush(c);
    }
    int max_subs = server_opts(s)->max_subs;
    if (max_subs > 0 && cd->subs.n >= (size_t)max_subs) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_MAX_SUBSCRIPTIONS);
        conn_send_err(c, PROTO_ERR_MAX_SUBSCRIPTIONS);
        return 0;
    }
    int max_tokens = server_opts(s)->max_sub_tokens;
    if (max_tokens > 0 && subject_num_tokens(subj.p, subj.len) > (size_t)max_tokens) {
        char err[512];
        snprintf(err, sizeof(err),
                 "Permissions Violation for Subscription to \"%.*s\", too many tokens",
                 (int)subj.len, subj.p);
        conn_send_err(c, err);
        return 0;
    }
    struct csub *cs = xcalloc(1, sizeof(*cs) + subj.len + queue.len + sid.len);
    char *p = cs->data;
    memcpy(p, subj.p, subj.len);
    cs->sub.subject = p;
    cs->sub.subject_len = (uint32_t)subj.len;
    p += subj.len;
    if (queue.len) {
        memcpy(p, queue.p, queue.len);
        cs->sub.queue = p;
        cs->sub.queue_len = (uint32_t)queue.len;
        p += queue.len;
    }
    memcpy(p, sid.p, sid.len);
    cs->sid_len = (uint32_t)sid.len;
    cs->sub.owner = c;
    cs->sub.qweight = 1;
    if (sublist_insert(c->acc->sl, &cs->sub) != 0) {
        free(cs);
        conn_send_err(c, PROTO_ERR_INVALID_SUBJECT);
        return 0;
    }
    hmap_put(&cd->subs, &client_sid_ops, cs);
    route_sub_changed(s, c->acc, &cs->sub, 1);
    gateway_sub_changed(s, c->acc, &cs->sub, 1);
    c->last_activity_ns = loop_now(c->w->loop);
    client_send_ok(c);
    return 0;
}

static int client_unsub(struct conn *c, const struct parser_cmd *cmd)
{
    if (cmd->nargs_total != 1 && cmd->nargs_total != 2)
        return client_parse_fail(c, "processUnsub", cmd);
    /* The max is read as nats-server's parseSize reads it: 1 to 9 digits, or
     * -1 for anything else, which removes the subscription at once. */
    uint64_t max = 0;
    if (cmd->nargs_total == 2) {
        const struct parser_slice *m = &cmd->args[1];
        bool ok = m->len > 0 && m->len <= 9;
        for (size_t i = 0; ok && i < m->len; i++) {
            ok = m->p[i] >= '0' && m->p[i] <= '9';
            max = max * 10 + (uint64_t)(m->p[i] - '0');
        }
        if (!ok)
            max = 0;
    }
    struct csub *cs =
        hmap_get(&client_data(c)->subs, &client_sid_ops, cmd->args[0].p, cmd->args[0].len);
    if (cs) {
        /* Decided under out_mu: a delivery on another worker may be reaching
         * the max at this moment, and exactly one side removes it. */
        conn_lock_out(c);
        bool remove = !cs->done && (max == 0 || max <= cs->delivered);
        if (remove)
            cs->done = true; /* claimed here: no delivery finishes it any more */
        else if (!cs->done)
            cs->max = max;
        conn_unlock_out(c);
        /* done by a delivery: it is on the finished list, removed from there */
        if (remove)
            client_remove_sub(c, cs);
    }
    c->last_activity_ns = loop_now(c->w->loop);
    client_send_ok(c);
    return 0;
}

void client_sub_done_locked(struct csub *cs)
{
    struct conn *c = csub_conn(cs);
    struct client_data *cd = client_data(c);
    cs->done_next = cd->done_subs;
    cd->done_subs = cs;
    c->hook_due = true; /* the owner removes it: no direct flush alone */
}

static void client_on_flush(struct conn *c)
{
    struct client_data *cd = client_data(c);
    conn_lock_out(c);
    struct csub *done = cd->done_subs;
    cd->done_subs = NULL;
    conn_unlock_out(c);
    while (done) {
        struct csub *next = done->done_next;
        client_remove_sub(c, done);
        done = next;
    }
}

/* --- control ops */

static int client_on_op(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        client_trace_in(c, cmd);
    switch (cmd->op) {
    case PARSER_OP_CONNECT:
        return client_connect(c, cmd);
    case PARSER_OP_PING:
        /* an INFO with news could precede the first PONG; nothing changes yet */
        conn_send(c, "PONG\r\n", 6);
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [PONG]");
        c->flags |= CONN_F_PONG_SENT;
        c->ping_in_ns = loop_now(c->w->loop);
        return 0;
    case PARSER_OP_PONG:
        conn_got_pong(c);
        return 0;
    case PARSER_OP_SUB:
        return client_sub(c, cmd);
    case PARSER_OP_UNSUB:
        return client_unsub(c, cmd);
    case PARSER_OP_INFO:
    case PARSER_OP_OK:
        return 0; /* accepted and ignored */
    case PARSER_OP_ERR:
        /* a client sending -ERR is closed silently (processErr) */
        CONN_LOG(LOG_LEVEL_ERROR, c, "Client Error %.*s", (int)cmd->line.len, cmd->line.p);
        conn_close(c, "Parse Error");
        return CLIENT_STOP;
    default:
        return client_fail(c, PROTO_ERR_UNKNOWN_OP, "Protocol Violation");
    }
}

/* --- PUB / HPUB */

/* Subject and reply of a PUB or HPUB, from the argument count. */
static bool client_pub_args(const struct parser_cmd *cmd, struct parser_slice *subj,
                            struct parser_slice *reply)
{
    size_t sizes = cmd->op == PARSER_OP_HPUB ? 2 : 1;
    size_t n = cmd->nargs_total;
    if (n != sizes + 1 && n != sizes + 2)
        return false;
    *subj = cmd->args[0];
    if (n == sizes + 2)
        *reply = cmd->args[1];
    else
        *reply = (struct parser_slice){NULL, 0};
    return true;
}

static int client_on_msg_start(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    struct parser_slice subj, reply;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        client_trace_in(c, cmd);
    if (cmd->op != PARSER_OP_PUB && cmd->op != PARSER_OP_HPUB)
        return client_fail(c, PROTO_ERR_UNKNOWN_OP, "Protocol Violation");
    if (!client_pub_args(cmd, &subj, &reply))
        return client_parse_fail(c, cmd->op == PARSER_OP_PUB ? "processPub" : "processHeaderPub",
                                 cmd);
    if (cmd->op == PARSER_OP_HPUB && !c->headers) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "message headers not supported");
        conn_close(c, "Protocol Violation");
        return CLIENT_STOP;
    }
    int32_t max = server_opts(c->s)->max_payload;
    if (cmd->total_len > (size_t)max) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "maximum payload exceeded: %zu vs %d", cmd->total_len, max);
        return client_fail(c, PROTO_ERR_MAX_PAYLOAD, "Maximum Message Payload Exceeded");
    }
    return 0;
}

static bool client_has_prefix(struct parser_slice s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.p, prefix, n) == 0;
}

/* No responders: the publisher asked for a 503 status when nobody got its
 * request; it goes to the publisher's own plain subscription on the reply. */
static void client_no_responders(struct conn *c, struct parser_slice reply)
{
    const struct sublist_result *r =
        sublist_cache_match(c->w->cache, c->acc->sl, reply.p, reply.len);
    for (size_t i = 0; i < r->npsubs; i++) {
        struct csub *cs = csub_of(r->psubs[i]);
        if (csub_conn(cs) != c)
            continue;
        struct sbuf b = {0};
        sbuf_addf(&b, "HMSG %.*s %.*s 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", (int)reply.len, reply.p,
                  (int)cs->sid_len, csub_sid(cs));
        conn_send(c, b.p, b.len);
        sbuf_free(&b);
        return;
    }
}

/* pubAllowed: the lists, else a reply subject received (allow_responses). */
static bool client_pub_allowed(struct conn *c, struct parser_slice subj)
{
    enum perms_pub r = perms_pub_check(c->perms, subj.p, subj.len);
    if (r != PERMS_PUB_REPLY)
        return r == PERMS_PUB_ALLOW;
    conn_lock_out(c);
    bool ok = perms_reply_use_locked(c->perms, subj.p, subj.len, loop_clock_ns());
    conn_unlock_out(c);
    return ok;
}

static int client_on_msg(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    struct worker *w = c->w;
    struct parser_slice subj = {NULL, 0}, reply = {NULL, 0};
    client_pub_args(cmd, &subj, &reply); /* checked in client_on_msg_start */
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- MSG_PAYLOAD: [\"%.*s\"]", (int)cmd->payload.len,
                 cmd->payload.p);

    c->in_msgs++;
    c->in_bytes += cmd->total_len;
    c->last_activity_ns = loop_now(w->loop);
    w->n_in_msgs++;
    w->n_in_bytes += cmd->total_len;
    if (c->acc)
        worker_acc_in(w, c->acc, cmd->total_len);

    if (c->opts.pedantic && !subject_is_valid_publish(subj.p, subj.len))
        conn_send_err(c, PROTO_ERR_INVALID_PUB_SUBJECT); /* and still delivered */
    if (client_has_prefix(subj, "_GR_.")) {
        char err[512];
        snprintf(err, sizeof(err), "Permissions Violation for Publish to \"%.*s\"", (int)subj.len,
                 subj.p);
        conn_send_err(c, err);
        return 0;
    }
    if (c->perms && !client_pub_allowed(c, subj)) {
        client_pub_violation(c, subj);
        return 0;
    }
    if (reply.len && (client_has_prefix(reply, "_R_.") || client_has_prefix(reply, "$JS.ACK.") ||
                      client_has_prefix(reply, "_GR_."))) {
        char err[512];
        snprintf(err, sizeof(err), "Permissions Violation for Publish with Reply of \"%.*s\"",
                 (int)reply.len, reply.p);
        conn_send_err(c, err);
        return 0;
    }
    client_send_ok(c);

    size_t ntok = cmd->nargs_total;
    struct deliver_msg m = {
        .subject = subj.p,
        .subject_len = subj.len,
        .reply = reply.len ? reply.p : NULL,
        .reply_len = reply.len,
        .total_tok = cmd->args[ntok - 1].p,
        .total_tok_len = cmd->args[ntok - 1].len,
        .hdr_len = cmd->hdr_len,
        .total_len = cmd->total_len,
        .payload = cmd->payload.p,
    };
    if (cmd->op == PARSER_OP_HPUB) {
        m.hdr_tok = cmd->args[ntok - 2].p;
        m.hdr_tok_len = cmd->args[ntok - 2].len;
    }
    struct account *acc = c->acc;
    /* the answer to a request that came through a gateway goes back there */
    if (atomic_load_explicit(&c->gwr_n, memory_order_relaxed) && gateway_client_reply(w, c, &m))
        return 0;
    size_t n = deliver_local(w, c, acc, &m);
    if (account_has_services_in(acc) || atomic_load_explicit(&acc->nresp, memory_order_relaxed))
        n += imports_services(w, c, acc, &m);
    if (n == 0 && reply.len && c->opts.no_responders)
        client_no_responders(c, reply);
    return 0;
}

/* --- reload (reloadAuthorization, processSubsOnConfigReload) */

static void client_free_perms(void *p)
{
    perms_conn_free(p);
}

/* Publish pc as c's permissions; the old ones are retired, since deliverers
 * on other workers may be reading them this turn. */
static void client_set_perms(struct conn *c, struct perms_conn *pc)
{
    struct perms_conn *old = c->perms;
    conn_lock_out(c);
    if (old && pc)
        perms_conn_take_replies_locked(pc, old);
    c->perms = pc;
    conn_unlock_out(c);
    if (old)
        worker_retire(c->w, old, client_free_perms);
}

static void client_collect_csub(void *val, void *arg)
{
    struct csub ***p = arg;
    **p = val;
    (*p)++;
}

/* Remove the subscriptions c's permissions no longer allow, each with an
 * -ERR to the client and a notice in the log (processSubsOnConfigReload:
 * kept when the subject alone, or with its queue, may be subscribed). */
static void client_prune_subs(struct conn *c)
{
    struct client_data *cd = client_data(c);
    struct perms_conn *pc = c->perms;
    size_t n = cd->subs.n;
    if (!pc || n == 0)
        return;
    struct csub **all = xmalloc(n * sizeof(*all));
    struct csub **p = all;
    hmap_each(&cd->subs, client_collect_csub, &p);
    struct sbuf e = {0}, who = {0};
    client_auth_user(c, &who);
    sbuf_addc(&who, '\0');
    for (size_t i = 0; i < n; i++) {
        struct csub *cs = all[i];
        const struct sub *sb = &cs->sub;
        if (perms_can_subscribe(pc, sb->subject, sb->subject_len, NULL, 0) ||
            (sb->queue_len &&
             perms_can_subscribe(pc, sb->subject, sb->subject_len, sb->queue, sb->queue_len)))
            continue;
        conn_lock_out(c);
        bool mine = !cs->done; /* else a delivery reached its max: on its way out */
        cs->done = true;
        conn_unlock_out(c);
        if (!mine)
            continue;
        sbuf_reset(&e);
        sbuf_adds(&e, "Permissions Violation for Subscription to ");
        perms_quote(&e, sb->subject, sb->subject_len);
        sbuf_adds(&e, " (sid ");
        perms_quote(&e, csub_sid(cs), cs->sid_len);
        sbuf_adds(&e, ")");
        sbuf_addc(&e, '\0');
        conn_send_err(c, e.p);
        /* "Removed sub "foo" (sid "1") for User "a" - not authorized" */
        NLOG_INFO("Removed sub %s for %s - not authorized",
                  e.p + strlen("Permissions Violation for Subscription to "), who.p);
        client_remove_sub(c, cs);
    }
    sbuf_free(&e);
    sbuf_free(&who);
    free(all);
}

void client_reload(struct conn *c, const struct opts *old)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    if (c->flags & CONN_F_CLOSING)
        return;
    if (!(c->flags & CONN_F_CONNECTED)) {
        /* no CONNECT yet: it will be checked against the new options */
        bool need = atomic_load(&s->auth_required) && !o->no_auth_user;
        if (need && !c->parser.await_connect && !loop_timer_armed(&client_data(c)->tls_wait))
            client_arm_auth(c);
        else if (!need)
            loop_timer_disarm(c->w->loop, &c->auth_timer);
        c->parser.await_connect = need;
        return;
    }
    const struct opts_user *u = NULL;
    switch (auth_recheck_client(s, c, old, &u)) {
    case AUTH_RECHECK_MOVED:
        /* nats-server closes it without a word; it reconnects as it should */
        conn_close(c, "Client Closed");
        return;
    case AUTH_RECHECK_DENIED:
        auth_log_violation(s, c);
        client_fail(c, PROTO_ERR_AUTH_VIOLATION, "Authentication Failure");
        return;
    case AUTH_RECHECK_REBIND:
        client_set_perms(c, perms_conn_new(u->perms));
        break;
    case AUTH_RECHECK_KEEP:
        break;
    }
    client_prune_subs(c);
}

/* --- close */

static void client_collect(void *val, void *arg)
{
    struct sub ***p = arg;
    **p = &((struct csub *)val)->sub;
    (*p)++;
}

static void client_on_close(struct conn *c)
{
    struct server *s = c->s;
    struct client_data *cd = client_data(c);
    loop_timer_disarm(c->w->loop, &cd->tls_wait);
    size_t n = cd->subs.n;
    if (n > 0) {
        struct sub **subs = xmalloc(n * sizeof(*subs));
        struct sub **p = subs;
        hmap_each(&cd->subs, client_collect, &p);
        monitor_conn_closed(c, subs, n);
        sublist_remove_batch(c->acc->sl, subs, n);
        for (size_t i = 0; i < n; i++) {
            route_sub_changed(s, c->acc, subs[i], -1);
            gateway_sub_changed(s, c->acc, subs[i], -1);
            worker_retire(c->w, (char *)subs[i] - offsetof(struct csub, sub), client_free_csub);
        }
        free(subs);
    } else {
        monitor_conn_closed(c, NULL, 0);
    }
    hmap_free(&cd->subs);
    cd->done_subs = NULL; /* they were in the map, retired above */
    atomic_fetch_sub(&s->nclients, 1);
    atomic_fetch_sub(&c->acc->nclients, 1);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Client connection closed: %s", c->close_reason);
}

static void client_on_free(struct conn *c)
{
    perms_conn_free(c->perms);
    c->perms = NULL;
    gateway_conn_free(c);
    tls_ctx_free(client_data(c)->tls_ref);
    free(c->kdata);
    c->kdata = NULL;
}
