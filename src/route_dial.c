/* SPDX-License-Identifier: Apache-2.0
 * Solicited routes (nats-server's connectToRoute, reConnectToRoute and
 * processImplicitRoute, 2.9.10): one record per route to dial, configured
 * (explicit, retried for ever) or learned from a peer's gossip (implicit,
 * tried 1 + connect_retries times), non-blocking connects on worker 0, the
 * retry delays, and the throttling of dial error logs
 * (connect_error_reports / reconnect_error_reports). */
#include "route_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
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

bool route_host_is_ip(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The URL's host, or for an IP the first host name of the configured routes
 * when there is one (as nats-server, so that gossiped routes, known by IP,
 * verify too). */
const char *route_tls_name(const struct route_state *rt, const struct route_remote *r)
{
    return route_host_is_ip(r->host) && rt->tls_name ? rt->tls_name : r->host;
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

/* Whether this failed attempt is logged as an error (the others at debug
 * level): the first one, then every connect_error_reports-th of the first
 * dial loop, every reconnect_error_reports-th of a reconnect
 * (shouldReportConnectErr). */
static bool route_report_err(const struct opts *o, const struct route_remote *r)
{
    int every = r->first_connect ? o->connect_error_reports : o->reconnect_error_reports;
    return r->attempts == 1 || (every != 0 && r->attempts % every == 0);
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
    if (route_report_err(o, r))
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

void route_dial(struct route_remote *r)
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

struct route_remote *route_remote_new(struct server *s, const char *url, bool configured,
                                      bool resolve)
{
    struct util_url u;
    if (util_url_parse(url, &u) != 0 || !u.host || !u.host[0] || !u.port) {
        NLOG_ERROR("Error parsing URL from INFO: %s", url);
        util_url_free(&u); /* a URL that parsed without a host or port has parts */
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
    r->first_connect = true;
    r->dial.fd = -1;
    loop_timer_init(&r->timer, route_on_retry, r);
    r->next = s->rt->remotes;
    s->rt->remotes = r;
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
    char hp[NET_ADDR_STRLEN];
    snprintf(hp, sizeof(hp), "%s:%s", u.host ? u.host : "", u.port ? u.port : "");
    util_url_free(&u);
    for (struct route_remote *r = rt->remotes; r; r = r->next)
        if (strcmp(r->remote_id, id) == 0 || strcmp(r->hostport, hp) == 0)
            return; /* configured or already being dialled (hasThisRouteConfigured) */
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
    struct route_remote *r = route_remote_new(s, url.p, false, false);
    sbuf_free(&url);
    if (!r)
        return;
    snprintf(r->remote_id, sizeof(r->remote_id), "%s", id);
    CONN_LOG(LOG_LEVEL_DEBUG, c, "Received INFO about implicit route %s", hp);
    route_dial(r);
}
