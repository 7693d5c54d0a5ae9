/* SPDX-License-Identifier: Apache-2.0
 * The ROUTE kind (nats-server's route.go, 2.9.10): one TCP connection per
 * pair of servers, INFO/CONNECT handshake, RS+/RS- interest per account,
 * RMSG/HMSG one hop only, gossip of new peers (implicit routes), duplicate
 * and self detection, reconnects. Every route connection, the listener and
 * the solicit records belong to worker 0 (see route.h for the threads). */
#include "route.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "account.h"
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
#include "proto.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "tls.h"
#include "util.h"
#include "version.h"
#include "worker.h"

/* Returned by callbacks that closed the connection: parsing stops. */
#define ROUTE_STOP 1

#define ROUTE_NS               1000000000ull
#define ROUTE_FIRST_PING_NS    (1ull * ROUTE_NS) /* nats-server's firstPingInterval for routes */
#define ROUTE_CONNECT_DELAY_NS (1ull * ROUTE_NS) /* DEFAULT_ROUTE_CONNECT */
#define ROUTE_RECONNECT_NS     (1ull * ROUTE_NS) /* DEFAULT_ROUTE_RECONNECT */
#define ROUTE_JITTER_NS        (100ull * 1000000ull)
/* An implicit route that drops this soon after it was made is retried (the
 * duplicate-route race of two servers dialling each other). */
#define ROUTE_YOUNG_NS           (3ull * ROUTE_NS)
#define ROUTE_IMPLICIT_MIN_TRIES 3

/* A route to solicit: a configured URL (explicit, retried forever) or one a
 * peer told us about (implicit, tried 1 + connect_retries times). Worker 0. */
struct route_remote {
    struct server *s;
    struct route_remote *next;
    char *url;  /* for logs */
    char *host; /* the URL's host: the TLS server name */
    char hostport[NET_ADDR_STRLEN];
    char *user, *pass;
    struct sockaddr_storage sa;
    socklen_t salen;
    bool configured;
    bool self; /* it led back to this server: never again */
    int attempts;
    struct loop_watch dial; /* fd >= 0 while a connect is in progress */
    struct loop_timer timer;
    struct conn *c;     /* the connection made for it, while open */
    char remote_id[57]; /* learned from the peer's INFO */
};

/* Local interest per account: "acc subject[ queue]" -> member count. */
struct route_lint {
    int32_t n;
    bool queue;
    uint32_t keylen;
    char key[];
};

/* A peer's interest, inserted in the account's sublist with owner = route. */
struct route_rsub {
    struct sub sub;
    struct account *acc;
    uint32_t keylen;
    char key[]; /* "acc subject[ queue]" */
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
    char cluster[64];
    bool dynamic;
    atomic_int nroutes;

    /* cluster tls {}: both sides of every route (NULL: plaintext); tls_name
     * is the first host name of the configured routes, the TLS server name
     * of routes known by IP. Read-only after route_init. */
    struct tls_ctx *tls;
    char *tls_name;

    /* worker 0 only */
    struct worker *w;
    int listen_fd;
    int port;
    struct loop_watch listen_watch;
    struct route_remote *remotes;
};

struct route_data {
    struct route_remote *remote; /* solicit record, NULL for an accepted route */
    bool solicited;
    bool registered;
    bool configured;
    char remote_id[57];
    char *remote_name;
    char *url; /* nats-route://ip:port/ of the peer, for gossip */
    int remote_port;
    char **curls; /* the peer's client URLs, counted in route_state */
    size_t ncurls;
    char *info_json; /* the peer's INFO as we forward it */
    struct hmap rsubs;
    atomic_uint nsubs; /* rsubs.n, for /routez */
    char *gw_url;      /* the peer's gateway URL (route INFO gateway_url) */
    char idhash[7];    /* gateway_hash6 of remote_id: routed replies */
    uint64_t made_ns;
};

static int route_on_op(void *ctx, const struct parser_cmd *cmd);
static int route_on_msg_start(void *ctx, const struct parser_cmd *cmd);
static int route_on_msg(void *ctx, const struct parser_cmd *cmd);
static void route_on_close(struct conn *c);
static void route_on_free(struct conn *c);
static void route_on_tls_ready(struct conn *c);
static void route_begin(struct conn *c);
static void route_dial(struct route_remote *r);
static void route_schedule(struct route_remote *r, uint64_t delay_ns);

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

static struct route_data *route_data(struct conn *c)
{
    return c->kdata;
}

int route_count(const struct server *s)
{
    return s->rt ? atomic_load_explicit(&s->rt->nroutes, memory_order_relaxed) : 0;
}

/* --- INFO and CONNECT we send */

/* Our own client URL (getClientConnectURLs, loopback and named hosts kept as
 * written; a wildcard host gives 127.0.0.1: natsd does not list interfaces). */
static void route_own_client_url(struct server *s, char *buf, size_t size)
{
    const struct opts *o = server_opts(s);
    if (o->client_advertise && o->client_advertise[0]) {
        if (strchr(o->client_advertise, ':'))
            snprintf(buf, size, "%s", o->client_advertise);
        else
            snprintf(buf, size, "%s:%d", o->client_advertise, s->port);
        return;
    }
    const char *h = o->host && o->host[0] ? o->host : OPTS_DEFAULT_HOST;
    if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
        h = "127.0.0.1";
    snprintf(buf, size, "%s:%d", h, s->port);
}

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

static void route_info_line(struct server *s, const struct conn *c, struct sbuf *out)
{
    const struct opts *o = server_opts(s);
    struct route_state *rt = s->rt;
    char host[256], ip[300] = "", curl[300];
    int port;
    route_advertised(s, host, sizeof(host), &port);
    if (o->cluster.advertise && o->cluster.advertise[0])
        snprintf(ip, sizeof(ip), "nats-route://%s:%d/", host, port);
    route_own_client_url(s, curl, sizeof(curl));
    const char *urls[1] = {curl};
    pthread_mutex_lock(&rt->mu);
    char cluster[64];
    memcpy(cluster, rt->cluster, sizeof(cluster));
    bool dyn = rt->dynamic;
    pthread_mutex_unlock(&rt->mu);
    char gwurl[NET_ADDR_STRLEN + 64];
    bool has_gw = gateway_own_url(s, gwurl, sizeof(gwurl));
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
        .connect_urls = o->cluster.no_advertise ? NULL : urls,
        .n_connect_urls = o->cluster.no_advertise ? 0 : 1,
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
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_AUTH_TIMEOUT);
    conn_send_err(c, PROTO_ERR_AUTH_TIMEOUT);
    conn_close(c, "Authentication Timeout");
}

/* --- connection creation (createRoute) */

static bool route_host_is_ip(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The TLS server name of a route we dial: the URL's host, or for an IP the
 * first host name of the configured routes when there is one (as
 * nats-server, so that gossiped routes, known by IP, verify too). */
static const char *route_tls_name(const struct route_state *rt, const struct route_remote *r)
{
    return route_host_is_ip(r->host) && rt->tls_name ? rt->tls_name : r->host;
}

static struct conn *route_create(struct worker *w, int fd, const struct sockaddr_storage *peer,
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
    loop_timer_init(&c->ping_timer, route_on_ping_timer, c);
    loop_timer_init(&c->auth_timer, route_on_auth_timer, c);
    if (conn_start(c) != 0) {
        close(fd);
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
    route_info_line(s, c, &info);
    conn_send(c, info.p, info.len);
    sbuf_free(&info);
    if (c->parser.await_connect) {
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

/* --- solicit (connectToRoute, reConnectToRoute) */

static void route_remote_free(struct route_remote *r)
{
    struct route_state *rt = r->s->rt;
    for (struct route_remote **pp = &rt->remotes; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    loop_timer_disarm(rt->w->loop, &r->timer);
    if (r->dial.fd >= 0) {
        loop_watch_del(rt->w->loop, &r->dial);
        close(r->dial.fd);
    }
    free(r->url);
    free(r->host);
    free(r->user);
    free(r->pass);
    free(r);
}

static void route_on_retry(struct loop *l, struct loop_timer *t)
{
    (void)l;
    route_dial(t->arg);
}

static void route_schedule(struct route_remote *r, uint64_t delay_ns)
{
    loop_timer_arm(r->s->rt->w->loop, &r->timer, delay_ns);
}

/* A registered route with this remote id, or NULL. Worker 0 (the list only
 * changes there, so reading it without mu is safe on worker 0... but take it
 * anyway for the sanitizers). */
static struct conn *route_find_id(struct route_state *rt, const char *id)
{
    struct conn *found = NULL;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd && !found; i++)
        if (strcmp(route_data(rt->regd[i])->remote_id, id) == 0)
            found = rt->regd[i];
    pthread_mutex_unlock(&rt->mu);
    return found;
}

static void route_dial_failed(struct route_remote *r, int err)
{
    struct server *s = r->s;
    const struct opts *o = server_opts(s);
    r->attempts++;
    char e[128];
    snprintf(e, sizeof(e), "%s", strerror(err));
    if (e[0] >= 'A' && e[0] <= 'Z')
        e[0] = (char)(e[0] - 'A' + 'a'); /* Go's syscall error texts are lower case */
    if (r->attempts == 1 || r->configured)
        NLOG_ERROR("Error trying to connect to route (attempt %d): dial tcp %s: connect: %s",
                   r->attempts, r->hostport, e);
    else
        NLOG_DEBUG("Error trying to connect to route (attempt %d): dial tcp %s: connect: %s",
                   r->attempts, r->hostport, e);
    if (!r->configured && r->attempts > o->cluster.connect_retries) {
        route_remote_free(r);
        return;
    }
    route_schedule(r, ROUTE_CONNECT_DELAY_NS);
}

static void route_on_dial(struct loop *l, struct loop_watch *wt, unsigned events)
{
    (void)events;
    struct route_remote *r = wt->arg;
    int fd = r->dial.fd;
    loop_watch_del(l, &r->dial);
    r->dial.fd = -1;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        close(fd);
        route_dial_failed(r, err);
        return;
    }
    r->attempts = 0;
    if (!route_create(r->s->rt->w, fd, &r->sa, r))
        route_schedule(r, ROUTE_CONNECT_DELAY_NS);
}

static void route_dial(struct route_remote *r)
{
    struct server *s = r->s;
    struct route_state *rt = s->rt;
    if (atomic_load(&s->shutting_down) || r->self || r->c || r->dial.fd >= 0)
        return;
    if (r->remote_id[0]) {
        struct conn *c = route_find_id(rt, r->remote_id);
        if (c) {
            /* connected through the peer's own dial: follow that one */
            struct route_data *rd = route_data(c);
            if (!rd->remote) {
                rd->remote = r;
                r->c = c;
            } else if (!r->configured) {
                route_remote_free(r);
            } else {
                route_schedule(r, ROUTE_CONNECT_DELAY_NS);
            }
            return;
        }
    }
    NLOG_DEBUG("Trying to connect to route on %s (%s)", r->hostport, r->hostport);
    int fd = net_connect_start((const struct sockaddr *)&r->sa, r->salen);
    if (fd < 0) {
        route_dial_failed(r, errno);
        return;
    }
    r->dial = (struct loop_watch){.fd = fd, .cb = route_on_dial, .arg = r};
    if (loop_watch_add(rt->w->loop, &r->dial, LOOP_WRITE) != 0) {
        close(fd);
        r->dial.fd = -1;
        route_dial_failed(r, errno);
    }
}

/* A new solicit record for url (host must be numeric unless resolve). */
static struct route_remote *route_remote_new(struct server *s, const char *url, bool configured,
                                             bool resolve)
{
    struct util_url u;
    if (util_url_parse(url, &u) != 0 || !u.host || !u.host[0] || !u.port) {
        NLOG_ERROR("Error parsing URL from INFO: %s", url);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (!resolve)
        hints.ai_flags = AI_NUMERICHOST;
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(u.host, u.port, &hints, &ai);
    if (rc != 0 || !ai) {
        NLOG_ERROR("Error resolving route %s: %s", url, gai_strerror(rc));
        util_url_free(&u);
        return NULL;
    }
    struct route_remote *r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->url = xstrdup(url);
    r->host = xstrdup(u.host);
    memcpy(&r->sa, ai->ai_addr, ai->ai_addrlen);
    r->salen = ai->ai_addrlen;
    freeaddrinfo(ai);
    net_addr_str(&r->sa, r->hostport, sizeof(r->hostport));
    if (u.user && u.user[0]) {
        r->user = xstrdup(u.user);
        r->pass = xstrdup(u.password ? u.password : "");
    }
    util_url_free(&u);
    r->configured = configured;
    r->dial.fd = -1;
    loop_timer_init(&r->timer, route_on_retry, r);
    r->next = s->rt->remotes;
    s->rt->remotes = r;
    return r;
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
        if (delta < 0)
            goto out;
        l = xcalloc(1, sizeof(*l) + key.len);
        memcpy(l->key, key.p, key.len);
        l->keylen = (uint32_t)key.len;
        l->queue = sub->queue != NULL;
        hmap_put(&rt->interest, &route_lint_ops, l);
    }
    int32_t before = l->n;
    l->n += delta;
    if (l->n < 0)
        l->n = 0;
    bool send = l->queue ? before != l->n : (before == 0) != (l->n == 0);
    if (send && rt->nregd > 0) {
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
out:
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
    route_lint_line(d->b, val);
}

/* --- routes registry (addRoute) */

static void route_curls_add(struct route_state *rt, char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < rt->ncurls; j++)
            if (strcmp(rt->curls[j].url, v[i]) == 0)
                break;
        if (j < rt->ncurls) {
            rt->curls[j].refs++;
            continue;
        }
        if (rt->ncurls == rt->capcurls) {
            rt->capcurls = rt->capcurls ? rt->capcurls * 2 : 8;
            rt->curls = xrealloc(rt->curls, rt->capcurls * sizeof(*rt->curls));
        }
        rt->curls[rt->ncurls++] = (struct route_curl){xstrdup(v[i]), 1};
    }
}

static void route_curls_del(struct route_state *rt, char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < rt->ncurls; j++) {
            if (strcmp(rt->curls[j].url, v[i]) != 0)
                continue;
            if (--rt->curls[j].refs == 0) {
                free(rt->curls[j].url);
                rt->curls[j] = rt->curls[--rt->ncurls];
            }
            break;
        }
    }
}

size_t route_client_urls(struct server *s, char ***out)
{
    struct route_state *rt = s->rt;
    *out = NULL;
    if (!rt)
        return 0;
    const struct opts *o = server_opts(s);
    char own[300];
    route_own_client_url(s, own, sizeof(own));
    pthread_mutex_lock(&rt->mu);
    if (rt->ncurls == 0 || o->cluster.no_advertise) {
        /* nats-server lists none until a peer told it its URLs */
        pthread_mutex_unlock(&rt->mu);
        return 0;
    }
    size_t n = 1 + rt->ncurls;
    char **v = xcalloc(n, sizeof(*v));
    v[0] = xstrdup(own);
    size_t k = 1;
    for (size_t i = 0; k < n && i < rt->ncurls; i++)
        if (strcmp(rt->curls[i].url, own) != 0)
            v[k++] = xstrdup(rt->curls[i].url);
    pthread_mutex_unlock(&rt->mu);
    *out = v;
    return k;
}

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

void route_urls_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Send every connection of w an async INFO with the new connect_urls
 * (sendAsyncInfoToClients). */
static void route_task_async_info(struct worker *w, void *arg)
{
    (void)arg;
    struct sbuf info = {0};
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->kind != CONN_KIND_CLIENT || c->opts.protocol < 1 || !(c->flags & CONN_F_PONG_SENT) ||
            (c->flags & CONN_F_CLOSING))
            continue;
        sbuf_reset(&info);
        server_client_info(w->s, c, &info);
        conn_send(c, info.p, info.len);
    }
    sbuf_free(&info);
}

/* Clients' connect_urls changed: every protocol-1 client gets an INFO. Worker
 * 0 runs the task on the other workers with worker_call: it waits for one
 * turn of each, which is deadlock-free because no other worker ever waits
 * for worker 0 (monitoring and signals call from their own threads). A route
 * joining or leaving is rare enough for that pause. */
static void route_clients_changed(struct server *s)
{
    if (server_opts(s)->cluster.no_advertise || atomic_load(&s->shutting_down))
        return;
    route_task_async_info(s->rt->w, NULL);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i] != s->rt->w)
            worker_call(s->workers[i], route_task_async_info, NULL);
}

/* Forward the INFO of newly registered route c to every other route
 * (forwardNewRouteInfoToKnownServers): they dial it (implicit route). */
static void route_gossip(struct route_state *rt, struct conn *c)
{
    struct route_data *rd = route_data(c);
    if (!rd->info_json)
        return;
    struct sbuf b = {0};
    sbuf_adds(&b, "INFO ");
    sbuf_adds(&b, rd->info_json);
    sbuf_adds(&b, "\r\n");
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd; i++)
        if (rt->regd[i] != c)
            conn_send(rt->regd[i], b.p, b.len);
    pthread_mutex_unlock(&rt->mu);
    sbuf_free(&b);
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
        v[i].did_solicit = rd->solicited;
        v[i].is_configured = rd->configured;
        v[i].nsubs = atomic_load(&rd->nsubs);
    }
    pthread_mutex_unlock(&rt->mu);
    *out = v;
    return n;
}

/* --- CONNECT from a soliciting peer (processRouteConnect) */

static const char *route_json_str(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool route_json_bool(const cJSON *j, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, key));
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

static int route_connect(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    const struct opts *o = server_opts(s);
    struct route_data *rd = route_data(c);
    cJSON *j = cJSON_ParseWithLength(cmd->args[0].p, cmd->args[0].len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        CONN_LOG(LOG_LEVEL_ERROR, c, "invalid CONNECT: %.*s", (int)cmd->args[0].len,
                 cmd->args[0].p);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    int rc = 0;
    const char *user = route_json_str(j, "user"), *pass = route_json_str(j, "pass");
    const char *lang = route_json_str(j, "lang"), *gw = route_json_str(j, "gateway");
    const char *cl = route_json_str(j, "cluster"), *name = route_json_str(j, "name");
    if (o->cluster.username && o->cluster.username[0] &&
        (!user || strcmp(user, o->cluster.username) != 0 || !pass || !o->cluster.password ||
         strcmp(pass, o->cluster.password) != 0)) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "authentication error - User \"%s\"", user ? user : "");
        conn_send_err(c, PROTO_ERR_AUTH_VIOLATION);
        conn_close(c, "Authentication Failure");
        rc = ROUTE_STOP;
    } else if (lang && lang[0]) {
        conn_send_err(c, PROTO_ERR_ROUTE_PORT);
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_ROUTE_PORT);
        conn_close(c, "Incorrect Port");
        rc = ROUTE_STOP;
    } else if (gw && gw[0]) {
        char e[300];
        snprintf(e, sizeof(e), "Rejecting connection from gateway \"%s\" on the Route port", gw);
        rc = route_fail(c, e, "Wrong Gateway");
    } else {
        char ours[64];
        if (!route_cluster_ok(s->rt, cl ? cl : "", route_json_bool(j, "cluster_dynamic"), ours,
                              sizeof(ours))) {
            char e[300];
            snprintf(e, sizeof(e),
                     "Rejecting connection, cluster name \"%s\" does not match \"%s\"",
                     cl ? cl : "", ours);
            rc = route_fail(c, e, "Cluster Name Conflict");
            /* the error processConnect returns, logged by the read loop */
            CONN_LOG(LOG_LEVEL_ERROR, c, "cluster name from remote server conflicts");
        }
    }
    if (rc == 0) {
        c->flags |= CONN_F_CONNECTED;
        c->parser.await_connect = false;
        loop_timer_disarm(c->w->loop, &c->auth_timer);
        if (name)
            snprintf(rd->remote_id, sizeof(rd->remote_id), "%s", name);
        c->headers = route_json_bool(j, "headers") && !o->no_header_support;
    }
    cJSON_Delete(j);
    return rc;
}

/* --- INFO from the peer (processRouteInfo) */

static void route_implicit(struct conn *c, const cJSON *j)
{
    struct server *s = c->s;
    struct route_state *rt = s->rt;
    const char *id = route_json_str(j, "server_id");
    const char *ip = route_json_str(j, "ip");
    if (!id || !ip || strcmp(id, s->id) == 0 || route_find_id(rt, id))
        return;
    struct util_url u;
    if (util_url_parse(ip, &u) != 0)
        return;
    char hp[NET_ADDR_STRLEN];
    snprintf(hp, sizeof(hp), "%s:%s", u.host ? u.host : "", u.port ? u.port : "");
    util_url_free(&u);
    for (struct route_remote *r = rt->remotes; r; r = r->next)
        if (strcmp(r->remote_id, id) == 0 || strcmp(r->hostport, hp) == 0)
            return; /* configured or already being dialled (hasThisRouteConfigured) */
    struct sbuf url = {0};
    const struct opts *o = server_opts(s);
    if (route_json_bool(j, "auth_required") && o->cluster.username) {
        /* the cluster's own credentials go along (processImplicitRoute) */
        const char *p = strstr(ip, "://");
        sbuf_add(&url, ip, p ? (size_t)(p + 3 - ip) : 0);
        sbuf_addf(&url, "%s:%s@%s", o->cluster.username,
                  o->cluster.password ? o->cluster.password : "", p ? p + 3 : ip);
    } else {
        sbuf_adds(&url, ip);
    }
    sbuf_addc(&url, '\0');
    struct route_remote *r = route_remote_new(s, url.p, false, false);
    sbuf_free(&url);
    if (!r)
        return;
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", id);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Received INFO about implicit route %s", hp);
    route_dial(r);
}

static void route_take_curls(struct route_data *rd, const cJSON *j)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "connect_urls");
    if (!cJSON_IsArray(a))
        return;
    size_t n = (size_t)cJSON_GetArraySize(a);
    rd->curls = xcalloc(n ? n : 1, sizeof(char *));
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (cJSON_IsString(e))
            rd->curls[rd->ncurls++] = xstrdup(e->valuestring);
    }
}

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

/* The first INFO's checks (processRouteInfo): route to self, duplicate
 * server name, cluster name. Returns the close reason, or NULL to go on. */
static const char *route_info_refused(struct conn *c, const cJSON *j, const char *id)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    if (strcmp(id, s->id) == 0) {
        if (rd->remote)
            rd->remote->self = true; /* never dialled again */
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Detected route to self, ignoring %s",
                 rd->remote ? rd->remote->url : c->peer);
        return "Duplicate Route";
    }
    const char *name = route_json_str(j, "server_name");
    if (!rd->solicited && name && strcmp(name, s->name) == 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Remote server has a duplicate name: \"%s\"", name);
        return "Duplicate Server Name";
    }
    const char *cl = route_json_str(j, "cluster");
    char ours[64];
    if (!route_cluster_ok(s->rt, cl ? cl : "", route_json_bool(j, "cluster_dynamic"), ours,
                          sizeof(ours))) {
        CONN_LOG(LOG_LEVEL_ERROR, c,
                 "Rejecting connection, cluster name \"%s\" does not match \"%s\"", cl ? cl : "",
                 ours);
        return "Cluster Name Conflict";
    }
    return NULL;
}

/* Keep what the first INFO says of the peer, and the INFO we forward to
 * other routes (with ip set, without the nonce). */
static void route_info_take(struct conn *c, cJSON *j, const char *id)
{
    struct route_data *rd = route_data(c);
    const struct opts *o = server_opts(c->s);
    if (rd->solicited)
        c->flags |= CONN_F_CONNECTED;
    if (rd->solicited || !(c->flags & CONN_F_CONNECTED))
        c->headers = route_json_bool(j, "headers") && !o->no_header_support;
    snprintf(rd->remote_id, sizeof(rd->remote_id), "%s", id);
    gateway_hash6(id, strlen(id), rd->idhash);
    const char *gwurl = route_json_str(j, "gateway_url");
    free(rd->gw_url);
    rd->gw_url = gwurl && gwurl[0] ? xstrdup(gwurl) : NULL;
    if (rd->remote)
        snprintf(rd->remote->remote_id, sizeof(rd->remote->remote_id), "%s", id);
    const char *name = route_json_str(j, "server_name");
    free(rd->remote_name);
    rd->remote_name = xstrdup(name ? name : "");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(j, "port");
    rd->remote_port = cJSON_IsNumber(port) ? port->valueint : 0;
    const char *ip = route_json_str(j, "ip");
    struct sbuf u = {0};
    if (ip && ip[0])
        sbuf_adds(&u, ip);
    else if (strchr(c->ip, ':'))
        sbuf_addf(&u, "nats-route://[%s]:%d/", c->ip, rd->remote_port);
    else
        sbuf_addf(&u, "nats-route://%s:%d/", c->ip, rd->remote_port);
    sbuf_addc(&u, '\0');
    rd->url = xstrdup(u.p);
    sbuf_free(&u);
    route_take_curls(rd, j);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "nonce");
    if (!cJSON_GetObjectItemCaseSensitive(j, "ip"))
        cJSON_AddStringToObject(j, "ip", rd->url);
    rd->info_json = cJSON_PrintUnformatted(j);
}

static int route_info(struct conn *c, const struct parser_cmd *cmd)
{
    struct server *s = c->s;
    struct route_data *rd = route_data(c);
    cJSON *j = cJSON_ParseWithLength(cmd->args[0].p, cmd->args[0].len);
    const char *id = j ? route_json_str(j, "server_id") : NULL;
    if (!j || !cJSON_IsObject(j) || !id) {
        cJSON_Delete(j);
        CONN_LOG(LOG_LEVEL_ERROR, c, "Route Error invalid INFO");
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    if (rd->registered || rd->info_json) {
        /* async INFO: gossip about another server (implicit route) or
         * about a gateway; a second INFO of the peer itself changes
         * nothing we use */
        if (rd->registered && cJSON_GetObjectItemCaseSensitive(j, "gateway"))
            gateway_info_from_route(s, cmd->args[0].p, cmd->args[0].len);
        else if (rd->registered && strcmp(id, rd->remote_id) != 0)
            route_implicit(c, j);
        else if (rd->registered && route_json_bool(j, "ldm") && rd->ncurls)
            route_peer_ldm(c);
        cJSON_Delete(j);
        return 0;
    }
    const char *reason = route_info_refused(c, j, id);
    if (reason) {
        cJSON_Delete(j);
        conn_close(c, reason);
        return ROUTE_STOP;
    }
    route_info_take(c, j, id);
    cJSON_Delete(j);
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

static struct account *route_account(struct server *s, struct parser_slice a)
{
    char name[256];
    if (a.len >= sizeof(name))
        return NULL;
    memcpy(name, a.p, a.len);
    name[a.len] = '\0';
    return account_table_find(s->accounts, name);
}

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
    struct account *acc = route_account(c->s, a);
    if (!acc) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "Unknown account \"%.*s\" for remote subject \"%.*s\"",
                 (int)a.len, a.p, (int)subj.len, subj.p);
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
        if (!route_account(c->s, a))
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

static void route_trace_in(struct conn *c, const struct parser_cmd *cmd)
{
    if (cmd->line.len)
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s %.*s]", parser_op_name(cmd->op), (int)cmd->line.len,
                 cmd->line.p);
    else
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s]", parser_op_name(cmd->op));
}

static int route_on_op(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        route_trace_in(c, cmd);
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
        route_trace_in(c, cmd);
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

static int route_on_msg(void *ctx, const struct parser_cmd *cmd)
{
    struct conn *c = ctx;
    struct worker *w = c->w;
    if (cmd->op != PARSER_OP_RMSG && cmd->op != PARSER_OP_HMSG)
        return 0;
    size_t n = cmd->nargs_total;
    const struct parser_slice *args = cmd->args;
    struct parser_slice *big = NULL;
    if (n > cmd->nargs) {
        big = xmalloc(n * sizeof(*big));
        parser_split_args(cmd->line, big, n);
        args = big;
    }
    struct route_margs ma;
    if (route_msg_args(c, cmd, args, n, &ma) != 0) {
        free(big);
        conn_close(c, "Protocol Violation");
        return ROUTE_STOP;
    }
    c->in_msgs++;
    c->in_bytes += cmd->total_len;
    w->n_in_msgs++;
    w->n_in_bytes += cmd->total_len;
    struct account *acc = route_account(c->s, ma.acc);
    if (!acc) {
        CONN_LOG(LOG_LEVEL_DEBUG, c,
                 "Unknown account \"%.*s\" for routed message on subject: \"%.*s\"",
                 (int)ma.acc.len, ma.acc.p, (int)ma.subj.len, ma.subj.p);
        free(big);
        return 0;
    }
    struct deliver_msg m = {
        .subject = ma.subj.p,
        .subject_len = ma.subj.len,
        .reply = ma.reply.len ? ma.reply.p : NULL,
        .reply_len = ma.reply.len,
        .total_tok = args[n - 1].p,
        .total_tok_len = args[n - 1].len,
        .hdr_len = cmd->hdr_len,
        .total_len = cmd->total_len,
        .payload = cmd->payload.p,
        .rqueues = ma.q,
        .nrqueues = ma.nq,
    };
    if (cmd->op == PARSER_OP_HMSG) {
        m.hdr_tok = args[n - 2].p;
        m.hdr_tok_len = args[n - 2].len;
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
    if (hmsg)
        sbuf_addf(b, " %zu %zu\r\n", m->hdr_len, m->total_len);
    else
        sbuf_addf(b, " %zu\r\n", body_len);
    size_t len = b->len - off;
    struct iovec iov[3] = {{b->p + off, len}, {(void *)body, body_len}, {"\r\n", 2}};
    conn_lock_out(rc);
    bool ok = conn_append_locked(rc, iov, 3, len + body_len + 2, body_len);
    if (ok || rc->slow_consumer)
        conn_mark_flush_locked(rc, w);
    conn_unlock_out(rc);
    if (ok) {
        w->n_out_msgs++;
        w->n_out_bytes += body_len;
    }
    return ok;
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
    struct route_state *rt = s->rt;
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
    if (!r)
        return;
    r->c = NULL;
    if (atomic_load(&s->shutting_down) || r->self) {
        if (r->self && !r->configured)
            route_remote_free(r);
        return;
    }
    uint64_t jitter = worker_rand(rt->w) % ROUTE_JITTER_NS;
    if (r->configured) {
        route_schedule(r, ROUTE_RECONNECT_NS + jitter);
        return;
    }
    bool young = loop_now(c->w->loop) - rd->made_ns < ROUTE_YOUNG_NS;
    int max = server_opts(s)->cluster.connect_retries;
    if (max < ROUTE_IMPLICIT_MIN_TRIES)
        max = ROUTE_IMPLICIT_MIN_TRIES;
    if (young && ++r->attempts <= max)
        route_schedule(r, jitter + 1);
    else
        route_remote_free(r);
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
    cJSON_free(rd->info_json);
    free(rd);
    c->kdata = NULL;
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
        struct route_remote *r = route_remote_new(s, o->cluster.routes.v[i], true, true);
        if (r && !rt->tls_name && !route_host_is_ip(r->host))
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
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    s->rt = NULL;
}
