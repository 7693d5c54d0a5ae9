/* SPDX-License-Identifier: Apache-2.0
 * Solicited routes (nats-server's connectToRoute, reConnectToRoute and
 * processImplicitRoute, 2.9.10): one record per route to dial, configured
 * (explicit, retried for ever) or learned from a peer's gossip (implicit,
 * tried 1 + connect_retries times), dialled on worker 0 through dial.c (the
 * host looked up at every attempt, off the loop; a 1 s connect deadline),
 * the retry delays, and the throttling of dial error logs
 * (connect_error_reports / reconnect_error_reports). */
#include "route_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "opts.h"
#include "proto.h"
#include "sbuf.h"
#include "server.h"
#include "util.h"
#include "worker.h"

/* The URL's host, or for an IP the first host name of the configured routes
 * when there is one (as nats-server, so that gossiped routes, known by IP,
 * verify too). */
const char *route_tls_name(const struct route_state *rt, const struct route_remote *r)
{
    return net_host_is_ip(r->host) && rt->tls_name ? rt->tls_name : r->host;
}

void route_remote_free(struct route_remote *r)
{
    struct route_state *rt = r->s->rt;
    for (struct route_remote **pp = &rt->remotes; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    loop_timer_disarm(rt->w->loop, &r->timer);
    dial_cancel(&r->dial); /* a lookup in flight is dropped when it answers */
    free(r->url);
    free(r->host);
    free(r->port);
    free(r->hostport);
    free(r->user);
    free(r->pass);
    free(r);
}

static void route_on_retry(struct loop *l, struct loop_timer *t)
{
    (void)l;
    route_dial(t->arg);
}

void route_schedule(struct route_remote *r, uint64_t delay_ns)
{
    loop_timer_arm(r->s->rt->w->loop, &r->timer, delay_ns);
}

struct conn *route_find_id(struct route_state *rt, const char *id)
{
    struct conn *found = NULL;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->nregd && !found; i++)
        if (strcmp(route_data(rt->regd[i])->remote_id, id) == 0)
            found = rt->regd[i];
    pthread_mutex_unlock(&rt->mu);
    return found;
}

/* A failed attempt (why: Go's error text), reported as an error or at debug
 * level (shouldReportConnectErr), then retried or given up (connectToRoute). */
static void route_dial_failed(struct route_remote *r, const char *why)
{
    struct server *s = r->s;
    const struct opts *o = server_opts(s);
    r->attempts++;
    if (dial_should_report(r->first_connect, r->attempts, o->connect_error_reports,
                           o->reconnect_error_reports))
        NLOG_ERROR("Error trying to connect to route (attempt %d): %s", r->attempts, why);
    else
        NLOG_DEBUG("Error trying to connect to route (attempt %d): %s", r->attempts, why);
    if (!r->configured && r->attempts > o->cluster.connect_retries) {
        route_remote_free(r);
        return;
    }
    route_schedule(r, ROUTE_CONNECT_DELAY_NS);
}

static void route_on_dial(struct dial *d, enum dial_event ev, int fd)
{
    struct route_remote *r = d->arg;
    switch (ev) {
    case DIAL_EV_CONNECTING:
        NLOG_DEBUG("Trying to connect to route on %s (%s)", r->hostport, d->addr);
        return;
    case DIAL_EV_LOOKUP_FAILED:
    case DIAL_EV_CONNECT_FAILED:
        route_dial_failed(r, d->err);
        return;
    case DIAL_EV_CONNECTED:
        break;
    }
    if (atomic_load(&r->s->shutting_down)) {
        close(fd);
        return;
    }
    r->attempts = 0;
    if (!route_create(r->s->rt->w, fd, &d->sa, r))
        route_schedule(r, ROUTE_CONNECT_DELAY_NS);
}

void route_dial(struct route_remote *r)
{
    struct server *s = r->s;
    struct route_state *rt = s->rt;
    if (atomic_load(&s->shutting_down) || r->self || r->c || dial_busy(&r->dial))
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
    (void)dial_start(&r->dial, r->host, r->port, ROUTE_DIAL_TIMEOUT_NS, worker_rand(rt->w));
}

/* "host:port" as a URL's Host is written ("[v6]:port" for IPv6). */
static char *route_join_hostport(const char *host, const char *port)
{
    struct sbuf b = {0};
    sbuf_addf(&b, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    sbuf_addc(&b, '\0');
    return b.p;
}

struct route_remote *route_remote_new(struct server *s, const char *url, bool configured)
{
    struct util_url u;
    bool parsed = util_url_parse(url, &u) == 0;
    if (!parsed || !u.host || !u.host[0] || !u.port || !u.port[0]) {
        NLOG_ERROR("Error parsing URL from INFO: %s", url);
        if (parsed)
            util_url_free(&u);
        return NULL;
    }
    struct route_state *rt = s->rt;
    struct route_remote *r = xcalloc(1, sizeof(*r));
    r->s = s;
    r->url = xstrdup(url);
    r->host = xstrdup(u.host);
    r->port = xstrdup(u.port);
    r->hostport = route_join_hostport(u.host, u.port);
    if (u.user && u.user[0]) {
        r->user = xstrdup(u.user);
        r->pass = xstrdup(u.password ? u.password : "");
    }
    util_url_free(&u);
    r->configured = configured;
    r->first_connect = true;
    dial_init(&r->dial, rt->w->loop, s->resolver, worker_post_to, rt->w, route_on_dial, r);
    loop_timer_init(&r->timer, route_on_retry, r);
    r->next = rt->remotes;
    rt->remotes = r;
    return r;
}

void route_remote_closed(struct conn *c, struct route_remote *r)
{
    struct server *s = c->s;
    struct route_state *rt = s->rt;
    struct route_data *rd = route_data(c);
    r->c = NULL;
    if (atomic_load(&s->shutting_down) || r->self) {
        if (r->self && !r->configured)
            route_remote_free(r);
        return;
    }
    /* a new dial loop: its failures are reported as reconnects */
    r->first_connect = false;
    uint64_t jitter = worker_rand(rt->w) % ROUTE_JITTER_NS;
    if (r->configured) {
        r->attempts = 0;
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

void route_implicit(struct conn *c, const struct proto_peer_info *pi)
{
    struct server *s = c->s;
    struct route_state *rt = s->rt;
    const char *id = pi->server_id, *ip = pi->ip;
    if (!id[0] || !ip[0] || strcmp(id, s->id) == 0 || route_find_id(rt, id))
        return;
    struct util_url u;
    if (util_url_parse(ip, &u) != 0)
        return;
    char *hp = route_join_hostport(u.host ? u.host : "", u.port ? u.port : "");
    util_url_free(&u);
    for (struct route_remote *r = rt->remotes; r; r = r->next) {
        if (strcmp(r->remote_id, id) == 0 || strcmp(r->hostport, hp) == 0) {
            free(hp);
            return; /* configured or already being dialled (hasThisRouteConfigured) */
        }
    }
    struct sbuf url = {0};
    const struct opts *o = server_opts(s);
    if (pi->auth_required && o->cluster.username) {
        /* the cluster's own credentials go along (processImplicitRoute) */
        const char *p = strstr(ip, "://");
        sbuf_add(&url, ip, p ? (size_t)(p + 3 - ip) : 0);
        sbuf_addf(&url, "%s:%s@%s", o->cluster.username,
                  o->cluster.password ? o->cluster.password : "", p ? p + 3 : ip);
    } else {
        sbuf_adds(&url, ip);
    }
    sbuf_addc(&url, '\0');
    struct route_remote *r = route_remote_new(s, url.p, false);
    sbuf_free(&url);
    if (!r) {
        free(hp);
        return;
    }
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", id);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Received INFO about implicit route %s", hp);
    free(hp);
    route_dial(r);
}
