/* SPDX-License-Identifier: Apache-2.0
 * Client URLs in a cluster (nats-server's getClientConnectURLs,
 * addConnectURLsAndSendINFOToClients, removeConnectURLsAndSendINFOToClients):
 * ours, announced in the route INFO, and those the route peers announce,
 * counted per URL, listed in the clients' INFO connect_urls and sent again
 * to the clients when they change. */
#include "route.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "opts.h"
#include "route_int.h"
#include "sbuf.h"
#include "server.h"
#include "util.h"
#include "worker.h"

void route_curls_add(struct route_state *rt, char **v, size_t n)
{
    if (n > 0)
        rt->curls_seen = true;
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

void route_curls_del(struct route_state *rt, char **v, size_t n)
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

static bool route_is_own_url(const struct route_state *rt, const char *url)
{
    for (size_t i = 0; i < rt->n_own_urls; i++)
        if (strcmp(rt->own_urls[i], url) == 0)
            return true;
    return false;
}

size_t route_client_urls(struct server *s, char ***out)
{
    struct route_state *rt = s->rt;
    *out = NULL;
    if (!rt)
        return 0;
    const struct opts *o = server_opts(s);
    pthread_mutex_lock(&rt->mu);
    if (!rt->curls_seen || o->cluster.no_advertise) {
        /* nats-server lists none until a peer told it its URLs */
        pthread_mutex_unlock(&rt->mu);
        return 0;
    }
    /* in lame duck mode our own URLs are gone for good (sendLDMToClients) */
    bool own = !atomic_load(&s->lame_duck);
    size_t cap = (own ? rt->n_own_urls : 0) + rt->ncurls;
    char **v = xcalloc(cap ? cap : 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; own && i < rt->n_own_urls; i++)
        v[k++] = xstrdup(rt->own_urls[i]);
    for (size_t i = 0; i < rt->ncurls; i++)
        if (!route_is_own_url(rt, rt->curls[i].url))
            v[k++] = xstrdup(rt->curls[i].url);
    pthread_mutex_unlock(&rt->mu);
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    return k;
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
void route_clients_changed(struct server *s)
{
    if (server_opts(s)->cluster.no_advertise || atomic_load(&s->shutting_down))
        return;
    route_task_async_info(s->rt->w, NULL);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i] != s->rt->w)
            worker_call(s->workers[i], route_task_async_info, NULL);
}

static void route_own_url_add(struct route_state *rt, const char *host, int port)
{
    char u[NET_ADDR_STRLEN + 256];
    snprintf(u, sizeof(u), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    rt->own_urls = xrealloc(rt->own_urls, (rt->n_own_urls + 1) * sizeof(char *));
    rt->own_urls[rt->n_own_urls++] = xstrdup(u);
}

/* Our client URLs, as nats-server's getClientConnectURLs: client_advertise,
 * else every non-local address when the client host is a wildcard, else the
 * host itself. */
void route_own_urls(struct server *s, struct route_state *rt, const struct opts *o)
{
    const char *adv = o->client_advertise;
    if (adv && adv[0]) {
        char *h = NULL, *p = NULL;
        if (util_split_host_port(adv, &h, &p) == 0)
            route_own_url_add(rt, h, atoi(p));
        else
            route_own_url_add(rt, adv, s->port);
        free(h);
        free(p);
        return;
    }
    const char *host = o->host && o->host[0] ? o->host : OPTS_DEFAULT_HOST;
    if (!net_host_is_any(host)) {
        route_own_url_add(rt, host, s->port);
        return;
    }
    NLOG_DEBUG("Get non local IPs for \"%s\"", host);
    char ips[16][NET_IP_STRLEN];
    size_t n = net_nonlocal_ips(ips, ARRAY_LEN(ips));
    for (size_t i = 0; i < n && i < ARRAY_LEN(ips); i++) {
        NLOG_DEBUG("  ip=%s", ips[i]);
        route_own_url_add(rt, ips[i], s->port);
    }
    if (n == 0)
        NLOG_ERROR("Address \"%s\" can not be resolved properly", host);
}
