/* SPDX-License-Identifier: Apache-2.0
 * The GATEWAY kind, remote clusters: the configuration turned into remotes
 * (explicit ones, and our own name kept for /varz only), the URL set of each
 * remote (configured URLs plus what its servers announce), the dial loop
 * (one pass = every URL once in random order, each one's host looked up
 * off the loop at every attempt and connected with a 1 s deadline through
 * dial.c, 1 s between passes, connect_retries for implicit remotes,
 * reconnects after a close), implicit remotes learned by gossip, and the listener's start-up
 * (advertised address, TLS contexts). Worker 0 unless said otherwise. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conn.h"
#include "gateway.h"
#include "gateway_int.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "opts.h"
#include "server.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define GW_SOLICIT_DELAY_NS (1ull * GW_NS) /* explicit remotes, after start */
#define GW_CONNECT_DELAY_NS (1ull * GW_NS) /* between passes */
#define GW_DIAL_TIMEOUT_NS  (1ull * GW_NS)

static void gw_dial_next(struct gw_remote *r);
static void gw_pass_start(struct gw_remote *r);
static void gw_on_dial(struct dial *d, enum dial_event ev, int fd);

bool gw_curls_add(struct gw_state *gs, const char *url)
{
    for (size_t i = 0; i < gs->ncurls; i++) {
        if (strcmp(gs->curls[i].url, url) == 0) {
            gs->curls[i].refs++;
            return false;
        }
    }
    if (gs->ncurls == gs->capcurls) {
        gs->capcurls = gs->capcurls ? 2 * gs->capcurls : 4;
        gs->curls = xrealloc(gs->curls, gs->capcurls * sizeof(*gs->curls));
    }
    gs->curls[gs->ncurls++] = (struct gw_curl){xstrdup(url), 1};
    return true;
}

bool gw_curls_del(struct gw_state *gs, const char *url)
{
    for (size_t i = 0; i < gs->ncurls; i++) {
        if (strcmp(gs->curls[i].url, url) != 0)
            continue;
        if (--gs->curls[i].refs > 0)
            return false;
        free(gs->curls[i].url);
        gs->curls[i] = gs->curls[--gs->ncurls];
        return true;
    }
    return false;
}

struct gw_remote *gw_remote_find(struct gw_state *gs, const char *name)
{
    for (struct gw_remote *r = gs->remotes; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct gw_url *gw_url_find(struct gw_remote *r, const char *hostport)
{
    for (size_t i = 0; i < r->nurls; i++)
        if (strcmp(r->urls[i].hostport, hostport) == 0)
            return &r->urls[i];
    return NULL;
}

static void gw_url_clear(struct gw_url *u)
{
    free(u->hostport);
    free(u->host);
    free(u->port);
    free(u->user);
    free(u->pass);
}

/* Add a URL (a configured one with scheme and userinfo, or an announced
 * "host:port"). Returns false when it is malformed. Under gs->mu. */
static bool gw_url_add(struct gw_remote *r, const char *url, bool configured)
{
    struct util_url u;
    struct sbuf tmp = {0};
    if (!strstr(url, "://")) {
        sbuf_addf(&tmp, "nats://%s", url);
        sbuf_addc(&tmp, '\0');
        url = tmp.p;
    }
    if (util_url_parse(url, &u) != 0) {
        sbuf_free(&tmp);
        return false;
    }
    if (!u.host || !u.host[0] || !u.port || !u.port[0]) {
        util_url_free(&u); /* parsed, but no use without a host and a port */
        sbuf_free(&tmp);
        return false;
    }
    char hp[NET_ADDR_STRLEN + 64];
    if (strchr(u.host, ':'))
        snprintf(hp, sizeof(hp), "[%s]:%s", u.host, u.port);
    else
        snprintf(hp, sizeof(hp), "%s:%s", u.host, u.port);
    struct gw_url *e = gw_url_find(r, hp);
    if (!e) {
        if (r->nurls == r->capurls) {
            r->capurls = r->capurls ? 2 * r->capurls : 4;
            r->urls = xrealloc(r->urls, r->capurls * sizeof(*r->urls));
        }
        e = &r->urls[r->nurls++];
        memset(e, 0, sizeof(*e));
        e->hostport = xstrdup(hp);
        e->host = xstrdup(u.host);
        e->port = xstrdup(u.port);
    }
    if (configured) {
        e->configured = true;
        if (u.user && u.user[0] && !e->user) {
            e->user = xstrdup(u.user);
            e->pass = xstrdup(u.password ? u.password : "");
        }
    }
    /* remember a hostname for TLS verification of bare-IP URLs */
    if (!r->tls_name && !net_host_is_ip(u.host))
        r->tls_name = xstrdup(u.host);
    util_url_free(&u);
    sbuf_free(&tmp);
    return true;
}

/* The URL set becomes the configured URLs plus urls (an INFO's
 * gateway_urls). Under gs->mu. */
void gw_urls_rebuild(struct gw_remote *r, char **urls, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nurls; i++) {
        if (r->urls[i].configured)
            r->urls[k++] = r->urls[i];
        else
            gw_url_clear(&r->urls[i]);
    }
    r->nurls = k;
    for (size_t i = 0; i < n; i++)
        (void)gw_url_add(r, urls[i], false);
    free(r->order);
    r->order = NULL;
    r->norder = r->pos = 0;
}

static struct gw_remote *gw_remote_new(struct gw_state *gs, const char *name, bool configured)
{
    struct gw_remote *r = xcalloc(1, sizeof(*r));
    r->gs = gs;
    r->name = xstrdup(name);
    r->configured = configured;
    r->tls = gs->tls_client;
    r->tls_timeout = gs->tls_timeout;
    dial_init(&r->dial, gs->w->loop, gs->s->resolver, worker_post_to, gs->w, gw_on_dial, r);
    loop_timer_init(&r->timer, NULL, r);
    /* appended: /varz lists configured remotes in configuration order */
    struct gw_remote **pp = &gs->remotes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    return r;
}

/* Take r off the list and free it (an implicit remote given up). Worker 0,
 * gs->mu not held. */
static void gw_remote_drop(struct gw_remote *r)
{
    struct gw_state *gs = r->gs;
    pthread_mutex_lock(&gs->mu);
    for (struct gw_remote **pp = &gs->remotes; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&gs->mu);
    loop_timer_disarm(gs->w->loop, &r->timer);
    dial_cancel(&r->dial); /* a lookup in flight is dropped when it answers */
    free(r->dial_hostport);
    for (size_t i = 0; i < r->nurls; i++)
        gw_url_clear(&r->urls[i]);
    free(r->urls);
    free(r->order);
    free(r->name);
    free(r->tls_name);
    if (r->tls_owned)
        tls_ctx_free(r->tls);
    free(r);
}

/* Is there a registered inbound from the cluster named name? Under gs->mu. */
bool gw_has_inbound(struct gw_state *gs, const char *name)
{
    for (size_t i = 0; i < gs->nin; i++)
        if (strcmp(((struct gw_conn *)gs->in[i]->kdata)->name, name) == 0)
            return true;
    return false;
}

/* A gossip or an inbound told us of cluster name at urls: learn it and dial
 * it at once when it is new (an implicit remote). Worker 0, gs->mu held by
 * the caller; returns the remote to dial (after unlocking), or NULL. */
struct gw_remote *gw_implicit_locked(struct gw_state *gs, const char *name, char **urls, size_t n)
{
    if (strcmp(name, gs->name) == 0 || n == 0)
        return NULL;
    struct gw_remote *r = gw_remote_find(gs, name);
    if (r) {
        for (size_t i = 0; i < n; i++)
            (void)gw_url_add(r, urls[i], false);
        return NULL;
    }
    r = gw_remote_new(gs, name, false);
    for (size_t i = 0; i < n; i++)
        (void)gw_url_add(r, urls[i], false);
    if (r->nurls == 0) {
        /* nothing usable: forget it */
        for (struct gw_remote **pp = &gs->remotes; *pp; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
        free(r->urls);
        free(r->name);
        free(r->tls_name);
        free(r);
        return NULL;
    }
    return r;
}

void gw_implicit_dial(struct gw_remote *r)
{
    if (r) {
        r->attempts = 0;
        r->reconnect = false;
        gw_pass_start(r);
    }
}

static const char *gw_kind(const struct gw_remote *r)
{
    return r->configured ? "explicit" : "implicit";
}

static bool gw_should_report(const struct gw_remote *r)
{
    const struct opts *o = server_opts(r->gs->s);
    return dial_should_report(!r->reconnect, r->attempts, o->connect_error_reports,
                              o->reconnect_error_reports);
}

static void gw_on_retry(struct loop *l, struct loop_timer *t)
{
    (void)l;
    gw_pass_start(t->arg);
}

void gw_schedule(struct gw_remote *r, uint64_t delay_ns)
{
    r->timer.cb = gw_on_retry;
    loop_timer_arm(r->gs->w->loop, &r->timer, delay_ns ? delay_ns : 1);
}

/* Every URL of the pass failed. */
static void gw_pass_failed(struct gw_remote *r)
{
    struct gw_state *gs = r->gs;
    const struct opts *o = server_opts(gs->s);
    if (!r->configured &&
        (o->gateway.connect_retries == 0 || r->attempts > o->gateway.connect_retries)) {
        pthread_mutex_lock(&gs->mu);
        bool in = gw_has_inbound(gs, r->name);
        pthread_mutex_unlock(&gs->mu);
        if (!in) {
            gw_remote_drop(r);
            return;
        }
        /* an inbound from that cluster is up: keep trying, with a pause
         * (nats-server retries at once in a busy loop) */
    }
    gw_schedule(r, GW_CONNECT_DELAY_NS);
}

/* NOLINTNEXTLINE(misc-no-recursion): a failed dial tries the next URL; ends with the list */
static void gw_dial_failed(struct gw_remote *r, const char *why)
{
    if (gw_should_report(r))
        NLOG_ERROR("Error connecting to %s gateway \"%s\" (%s) at %s (attempt %d): %s", gw_kind(r),
                   r->name, r->dial_hostport, r->dial.addr, r->attempts, why);
    else
        NLOG_DEBUG("Error connecting to %s gateway \"%s\" (%s) at %s (attempt %d): %s", gw_kind(r),
                   r->name, r->dial_hostport, r->dial.addr, r->attempts, why);
    gw_dial_next(r);
}

static void gw_on_dial(struct dial *d, enum dial_event ev, int fd)
{
    struct gw_remote *r = d->arg;
    switch (ev) {
    case DIAL_EV_CONNECTING:
        if (gw_should_report(r))
            NLOG_INFO("Connecting to %s gateway \"%s\" (%s) at %s (attempt %d)", gw_kind(r),
                      r->name, r->dial_hostport, d->addr, r->attempts);
        else
            NLOG_DEBUG("Connecting to %s gateway \"%s\" (%s) at %s (attempt %d)", gw_kind(r),
                       r->name, r->dial_hostport, d->addr, r->attempts);
        return;
    case DIAL_EV_LOOKUP_FAILED:
        /* solicitGateway: this URL is skipped, the pass goes on */
        NLOG_ERROR("Error getting IP for %s gateway \"%s\" (%s): %s", gw_kind(r), r->name,
                   r->dial_hostport, d->err);
        gw_dial_next(r);
        return;
    case DIAL_EV_CONNECT_FAILED:
        gw_dial_failed(r, d->err);
        return;
    case DIAL_EV_CONNECTED:
        break;
    }
    if (atomic_load(&r->gs->s->shutting_down)) {
        close(fd);
        return;
    }
    r->attempts = 0;
    const struct gw_url *u = gw_url_find(r, r->dial_hostport);
    r->dial_url = u ? (size_t)(u - r->urls) : SIZE_MAX;
    if (!gw_create(r->gs->w, fd, &d->sa, r))
        gw_schedule(r, GW_CONNECT_DELAY_NS);
}

/* Dial the next URL of the pass; the pass failed when none is left. */
/* NOLINTNEXTLINE(misc-no-recursion): a failed dial tries the next URL; ends with the list */
static void gw_dial_next(struct gw_remote *r)
{
    struct gw_state *gs = r->gs;
    struct server *s = gs->s;
    while (r->pos < r->norder) {
        if (atomic_load(&s->shutting_down))
            return;
        size_t idx = r->order[r->pos++];
        if (idx >= r->nurls)
            continue;
        /* a copy: the URL set may be rebuilt (an INFO) while this dials */
        const struct gw_url *u = &r->urls[idx];
        free(r->dial_hostport);
        r->dial_hostport = xstrdup(u->hostport);
        (void)dial_start(&r->dial, u->host, u->port, GW_DIAL_TIMEOUT_NS, worker_rand(gs->w));
        return;
    }
    gw_pass_failed(r);
}

/* Start a pass over r's URLs, shuffled. */
static void gw_pass_start(struct gw_remote *r)
{
    struct gw_state *gs = r->gs;
    if (atomic_load(&gs->s->shutting_down) || r->c || dial_busy(&r->dial) || r->own)
        return;
    pthread_mutex_lock(&gs->mu);
    free(r->order);
    r->norder = r->nurls;
    r->order = xcalloc(r->norder ? r->norder : 1, sizeof(*r->order));
    for (size_t i = 0; i < r->norder; i++)
        r->order[i] = i;
    for (size_t i = r->norder; i > 1; i--) {
        size_t j = (size_t)(worker_rand(gs->w) % i);
        size_t t = r->order[i - 1];
        r->order[i - 1] = r->order[j];
        r->order[j] = t;
    }
    pthread_mutex_unlock(&gs->mu);
    r->pos = 0;
    r->attempts++;
    gw_dial_next(r);
}

size_t gateway_remote_urls(struct server *s, const char *name, char ***out)
{
    struct gw_state *gs = s->gw;
    *out = NULL;
    if (!gs)
        return 0;
    pthread_mutex_lock(&gs->mu);
    struct gw_remote *r = gw_remote_find(gs, name);
    size_t n = r ? r->nurls : 0;
    char **v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = xstrdup(r->urls[i].hostport);
    pthread_mutex_unlock(&gs->mu);
    *out = v;
    return n;
}

static int gw_set_advertised(struct gw_state *gs, const struct opts *o)
{
    const char *adv = o->gateway.advertise;
    if (adv && adv[0]) {
        char *h = NULL, *p = NULL;
        if (util_split_host_port(adv, &h, &p) == 0) {
            snprintf(gs->host, sizeof(gs->host), "%s", h);
            int64_t port = 0;
            gs->port = util_atoi64(p, &port) == 0 && port > 0 && port < 65536 ? (int)port : 0;
        } else if (!strchr(adv, ':')) {
            snprintf(gs->host, sizeof(gs->host), "%s", adv);
            gs->port = gs->listen_port;
        } else {
            NLOG_FATAL("Error setting gateway INFO with Gateway.Advertise value of %s, "
                       "err=address %s: too many colons in address",
                       adv, adv);
            free(h);
            free(p);
            return -1;
        }
        free(h);
        free(p);
        if (gs->port <= 0)
            gs->port = gs->listen_port;
    } else {
        const char *h = o->gateway.host && o->gateway.host[0] ? o->gateway.host : OPTS_DEFAULT_HOST;
        snprintf(gs->host, sizeof(gs->host), "%s", h);
        if (net_host_is_any(h)) {
            if (net_first_nonlocal_ip(gs->host, sizeof(gs->host)) != 0)
                NLOG_ERROR("Could not find any non-local IP for gateway \"%s\" with listen "
                           "specification \"%s\"",
                           gs->name, h);
        }
        gs->port = gs->listen_port;
    }
    if (strchr(gs->host, ':'))
        snprintf(gs->url, sizeof(gs->url), "[%s]:%d", gs->host, gs->port);
    else
        snprintf(gs->url, sizeof(gs->url), "%s:%d", gs->host, gs->port);
    if (adv && adv[0])
        NLOG_INFO("Advertise address for gateway \"%s\" is set to %s", gs->name, gs->url);
    else
        NLOG_INFO("Address for gateway \"%s\" is %s", gs->name, gs->url);
    return 0;
}

static int gw_tls_init(struct gw_state *gs, const struct opts *o)
{
    char err[1024];
    gs->tls_timeout = o->gateway.tls.timeout > 0 ? o->gateway.tls.timeout : 2.0;
    bool insecure = false;
    if (o->gateway.tls.set) {
        /* one mutual context serves both sides */
        gs->tls_server = tls_ctx_new_mutual(&o->gateway.tls, err, sizeof(err));
        if (!gs->tls_server) {
            NLOG_FATAL("Error creating the gateway TLS context: %s", err);
            return -1;
        }
        gs->tls_client = gs->tls_server;
        insecure = o->gateway.tls.insecure;
    }
    for (struct gw_remote *r = gs->remotes; r; r = r->next) {
        const struct opts_remote_gateway *rg = NULL;
        for (size_t i = 0; i < o->gateway.n_gateways; i++)
            if (strcmp(o->gateway.gateways[i].name, r->name) == 0)
                rg = &o->gateway.gateways[i];
        if (!rg || !rg->tls.set) {
            r->tls = gs->tls_client; /* inherits the gateway block's */
            continue;
        }
        r->tls = tls_ctx_new_mutual(&rg->tls, err, sizeof(err));
        if (!r->tls) {
            NLOG_FATAL("Error creating the TLS context of gateway \"%s\": %s", r->name, err);
            return -1;
        }
        r->tls_owned = true;
        r->tls_timeout = rg->tls.timeout > 0 ? rg->tls.timeout : 2.0;
        insecure = insecure || rg->tls.insecure;
    }
    if (insecure)
        NLOG_WARN("TLS certificate chain and hostname of solicited gateways will not be "
                  "verified. DO NOT USE IN PRODUCTION!");
    return 0;
}

int gateway_init(struct server *s)
{
    const struct opts *o = server_opts(s);
    if (o->gateway.port == 0)
        return 0;
    struct gw_state *gs = xcalloc(1, sizeof(*gs));
    s->gw = gs;
    gs->s = s;
    gs->w = s->workers[0];
    gs->listen_fd = -1;
    pthread_mutex_init(&gs->mu, NULL);
    gs->recent = gw_recent_new();
    gs->name = xstrdup(o->gateway.name);
    gateway_hash6(gs->name, strlen(gs->name), gs->hash);
    gw_oldhash(gs->name, strlen(gs->name), gs->oldhash);
    gateway_hash6(s->id, strlen(s->id), gs->srvhash);
    NLOG_INFO("Gateway name is %s", gs->name);
    char err[512];
    const char *host = o->gateway.host && o->gateway.host[0] ? o->gateway.host : OPTS_DEFAULT_HOST;
    gs->listen_fd = net_listen(host, o->gateway.port, err, sizeof(err));
    if (gs->listen_fd < 0) {
        NLOG_FATAL("Error listening on gateway port: %d - %s", o->gateway.port, err);
        return -1;
    }
    gs->listen_port = net_local_port(gs->listen_fd);
    gs->listen_watch = (struct loop_watch){.fd = gs->listen_fd, .cb = gw_on_accept, .arg = s};
    NLOG_INFO("Listening for gateways connections on %s:%d", host, gs->listen_port);
    if (gw_set_advertised(gs, o) != 0)
        return -1;
    gw_curls_add(gs, gs->url);
    for (size_t i = 0; i < o->gateway.n_gateways; i++) {
        const struct opts_remote_gateway *rg = &o->gateway.gateways[i];
        struct gw_remote *r = gw_remote_find(gs, rg->name);
        if (!r)
            r = gw_remote_new(gs, rg->name, true);
        r->own = strcmp(rg->name, gs->name) == 0;
        for (size_t k = 0; k < rg->urls.n; k++)
            if (!gw_url_add(r, rg->urls.v[k], true)) {
                NLOG_FATAL("error parsing gateway url [\"%s\"]", rg->urls.v[k]);
                return -1;
            }
    }
    return gw_tls_init(gs, o);
}

static void gw_task_start(struct worker *w, void *arg)
{
    struct gw_state *gs = w->s->gw;
    int *rc = arg;
    if (loop_watch_add(gs->w->loop, &gs->listen_watch, LOOP_READ) != 0) {
        NLOG_FATAL("Error watching the gateway listener: %s", strerror(errno));
        *rc = -1;
        return;
    }
    for (struct gw_remote *r = gs->remotes; r; r = r->next)
        if (!r->own)
            gw_schedule(r, GW_SOLICIT_DELAY_NS);
}

int gateway_start(struct server *s)
{
    struct gw_state *gs = s->gw;
    if (!gs)
        return 0;
    int rc = 0;
    worker_call(gs->w, gw_task_start, &rc);
    return rc;
}

void gateway_free(struct server *s)
{
    struct gw_state *gs = s->gw;
    if (!gs)
        return;
    while (gs->remotes)
        /* gw_remote_drop unlinks the head it frees */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        gw_remote_drop(gs->remotes);
    if (gs->listen_fd >= 0)
        close(gs->listen_fd);
    gw_lint_free_all(gs);
    gw_recent_free_all(gs);
    for (size_t i = 0; i < gs->ncurls; i++)
        free(gs->curls[i].url);
    free(gs->curls);
    free(gs->in);
    free(gs->out);
    free(atomic_load(&gs->outs));
    tls_ctx_free(gs->tls_server); /* tls_client is the same context */
    pthread_mutex_destroy(&gs->mu);
    free(gs->name);
    free(gs);
    s->gw = NULL;
}

int gateway_listen_port(struct server *s)
{
    return s->gw ? s->gw->listen_port : 0;
}
