/* SPDX-License-Identifier: Apache-2.0
 * /metrics: the server's figures in the Prometheus text exposition format
 * (version 0.0.4), so no exporter has to translate /varz. Server-wide figures
 * come from atomics; per-route and per-gateway link figures from a snapshot of
 * the route and gateway connections only (client connections are not copied),
 * gateway rows labelled with the remote's name and the direction.
 * Names are listed in docs/monitoring.md. */
#include "monitor_internal.h"

#include <string.h>

#include "account.h"
#include "common.h"
#include "gateway.h"
#include "mem.h"
#include "opts.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "version.h"
#include "worker.h"

static const char *const monitor_metric_paths[MONITOR_STAT_COUNT] = {
    "/",    "/accstatz", "/accountz", "/connz", "/gatewayz", "/healthz",
    "/jsz", "/leafz",    "/routez",   "/subsz", "/varz",
};

/* "# HELP" and "# TYPE" lines of one family. */
static void monitor_metric_head(struct sbuf *b, const char *name, const char *type,
                                const char *help)
{
    sbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void monitor_metric_u64(struct sbuf *b, const char *name, const char *type, const char *help,
                               uint64_t v)
{
    monitor_metric_head(b, name, type, help);
    sbuf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void monitor_metric_f64(struct sbuf *b, const char *name, const char *type, const char *help,
                               double v)
{
    char num[64];
    monitor_go_float(v, num, sizeof(num));
    monitor_metric_head(b, name, type, help);
    sbuf_addf(b, "%s %s\n", name, num);
}

/* A label value with the format's escapes: backslash, quote, newline. */
static void monitor_metric_label(struct sbuf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            sbuf_addc(b, '\\');
        if (*p == '\n') {
            sbuf_adds(b, "\\n");
            continue;
        }
        sbuf_addc(b, *p);
    }
}

/* The registered gateway connection cid in gws, or NULL (still in its
 * handshake, or closed meanwhile). */
static const struct gateway_conn_info *monitor_metric_gw(const struct gateway_conn_info *gws,
                                                         size_t ngws, uint64_t cid)
{
    for (size_t i = 0; i < ngws; i++)
        if (gws[i].cid == cid)
            return &gws[i];
    return NULL;
}

/* The registered route cid in rts, or NULL. */
static const struct route_peer *monitor_metric_rt(const struct route_peer *rts, size_t nrts,
                                                  uint64_t cid)
{
    for (size_t i = 0; i < nrts; i++)
        if (rts[i].cid == cid)
            return &rts[i];
    return NULL;
}

/* What the per-link families are built from. */
struct monitor_links {
    struct monitor_snap snap;
    struct gateway_conn_info *gws;
    size_t ngws;
    struct route_peer *rts;
    size_t nrts;
};

/* The labels of link ci: routes rid, remote_id, remote_name, ip, port;
 * gateways gid, gateway (remote name), direction (outbound/inbound),
 * configured, remote_id, remote_name, ip, port. Returns false for a link
 * that is not registered (still in its handshake, or closed meanwhile). */
static bool monitor_metric_link_labels(struct sbuf *b, const struct monitor_links *lk,
                                       const struct monitor_conninfo *ci)
{
    const char *rid, *rname;
    if (ci->kind == CONN_KIND_ROUTE) {
        const struct route_peer *r = monitor_metric_rt(lk->rts, lk->nrts, ci->cid);
        if (!r)
            return false;
        sbuf_addf(b, "{rid=\"%llu\"", (unsigned long long)ci->cid);
        rid = r->remote_id;
        rname = r->remote_name ? r->remote_name : "";
    } else {
        const struct gateway_conn_info *g = monitor_metric_gw(lk->gws, lk->ngws, ci->cid);
        if (!g)
            return false;
        sbuf_addf(b, "{gid=\"%llu\",gateway=\"", (unsigned long long)ci->cid);
        monitor_metric_label(b, g->name);
        sbuf_addf(b, "\",direction=\"%s\",configured=\"%s\"", g->outbound ? "outbound" : "inbound",
                  g->configured ? "true" : "false");
        rid = g->remote_id;
        rname = g->remote_name;
    }
    sbuf_adds(b, ",remote_id=\"");
    monitor_metric_label(b, rid);
    sbuf_adds(b, "\",remote_name=\"");
    monitor_metric_label(b, rname);
    sbuf_adds(b, "\",ip=\"");
    monitor_metric_label(b, ci->ip);
    sbuf_addf(b, "\",port=\"%d\"}", ci->port);
    return true;
}

/* One family of per-link figures, one row per registered connection of
 * kind; a field in ns is printed in seconds. */
static void monitor_metric_links(struct sbuf *b, const struct monitor_links *lk,
                                 enum conn_kind kind, const char *name, const char *type,
                                 const char *help, size_t field, bool ns)
{
    monitor_metric_head(b, name, type, help);
    for (size_t i = 0; i < lk->snap.n; i++) {
        const struct monitor_conninfo *ci = &lk->snap.v[i];
        if (ci->kind != kind)
            continue;
        uint64_t v;
        memcpy(&v, (const char *)ci + field, sizeof(v));
        size_t mark = b->len;
        sbuf_adds(b, name);
        if (!monitor_metric_link_labels(b, lk, ci)) {
            b->len = mark;
            continue;
        }
        if (ns) {
            char num[64];
            monitor_go_float((double)v / 1e9, num, sizeof(num));
            sbuf_addf(b, " %s\n", num);
        } else {
            sbuf_addf(b, " %llu\n", (unsigned long long)v);
        }
    }
}

static void monitor_metrics_links(struct monitor *m, struct sbuf *b)
{
    static const struct {
        const char *suffix, *type, *help;
        size_t field;
        bool ns;
    } figs[] = {
        {"in_msgs_total", "counter", "Messages received on the link.",
         offsetof(struct monitor_conninfo, in_msgs), false},
        {"out_msgs_total", "counter", "Messages sent on the link.",
         offsetof(struct monitor_conninfo, out_msgs), false},
        {"in_bytes_total", "counter", "Payload bytes received on the link.",
         offsetof(struct monitor_conninfo, in_bytes), false},
        {"out_bytes_total", "counter", "Payload bytes sent on the link.",
         offsetof(struct monitor_conninfo, out_bytes), false},
        {"pending_bytes", "gauge", "Bytes queued for the link, not yet written.",
         offsetof(struct monitor_conninfo, pending), false},
        {"rtt_seconds", "gauge", "Last measured round-trip time of the link.",
         offsetof(struct monitor_conninfo, rtt_ns), true},
    };
    struct monitor_links lk;
    lk.ngws = gateway_conns(m->s, false, NULL, &lk.gws);
    lk.nrts = route_peers(m->s, &lk.rts);
    monitor_snapshot(m, (1u << CONN_KIND_ROUTE) | (1u << CONN_KIND_GATEWAY), 0, false, false,
                     &lk.snap);
    size_t nroutes = 0, ngw_open = 0;
    for (size_t i = 0; i < lk.snap.n; i++) {
        nroutes += lk.snap.v[i].kind == CONN_KIND_ROUTE;
        ngw_open += lk.snap.v[i].kind == CONN_KIND_GATEWAY &&
                    monitor_metric_gw(lk.gws, lk.ngws, lk.snap.v[i].cid) != NULL;
    }
    monitor_metric_u64(b, "natsd_routes", "gauge", "Route connections open now.", nroutes);
    monitor_metric_u64(b, "natsd_gateways", "gauge",
                       "Gateway connections registered now, inbound and outbound.", ngw_open);
    char name[96];
    for (size_t i = 0; i < ARRAY_LEN(figs); i++) {
        snprintf(name, sizeof(name), "natsd_route_%s", figs[i].suffix);
        monitor_metric_links(b, &lk, CONN_KIND_ROUTE, name, figs[i].type, figs[i].help,
                             figs[i].field, figs[i].ns);
        snprintf(name, sizeof(name), "natsd_gateway_%s", figs[i].suffix);
        monitor_metric_links(b, &lk, CONN_KIND_GATEWAY, name, figs[i].type, figs[i].help,
                             figs[i].field, figs[i].ns);
    }
    /* what each outbound holds of its remote cluster's interest */
    monitor_metric_head(b, "natsd_gateway_remote_subscriptions", "gauge",
                        "Subscriptions of the remote cluster stored for an outbound gateway.");
    for (size_t i = 0; i < lk.ngws; i++) {
        const struct gateway_conn_info *g = &lk.gws[i];
        if (!g->outbound || !monitor_snap_find(&lk.snap, g->cid))
            continue;
        sbuf_addf(b, "natsd_gateway_remote_subscriptions{gid=\"%llu\",gateway=\"",
                  (unsigned long long)g->cid);
        monitor_metric_label(b, g->name);
        sbuf_addf(b, "\"} %u\n", g->nsubs);
    }
    monitor_snap_free(&lk.snap);
    gateway_conns_free(lk.gws, lk.ngws);
    route_peers_free(lk.rts, lk.nrts);
}

/* Per account, as /accstatz (unused ones included, so a series does not
 * come and go with its account's connections). */
static void monitor_metrics_accounts(struct monitor *m, struct sbuf *b)
{
    static const struct {
        const char *name, *type, *help;
        size_t field; /* 0: connections */
    } figs[] = {
        {"natsd_account_connections", "gauge", "Client connections of the account.", 0},
        {"natsd_account_received_msgs_total", "counter",
         "Messages received in the account (its clients' publishes, and for the global account "
         "what routes and gateways brought in).",
         offsetof(struct account, in_msgs)},
        {"natsd_account_received_bytes_total", "counter", "Payload bytes of those messages.",
         offsetof(struct account, in_bytes)},
        {"natsd_account_sent_msgs_total", "counter",
         "Deliveries of messages published in the account.", offsetof(struct account, out_msgs)},
        {"natsd_account_sent_bytes_total", "counter", "Payload bytes of those deliveries.",
         offsetof(struct account, out_bytes)},
        {"natsd_account_slow_consumers_total", "counter",
         "Client connections of the account closed as slow consumers.",
         offsetof(struct account, slow_consumers)},
    };
    struct account **accs;
    size_t na = monitor_accounts(m->s, &accs);
    for (size_t f = 0; f < ARRAY_LEN(figs); f++) {
        monitor_metric_head(b, figs[f].name, figs[f].type, figs[f].help);
        for (size_t i = 0; i < na; i++) {
            uint64_t v;
            if (figs[f].field == 0) {
                int n = atomic_load(&accs[i]->nclients);
                v = n > 0 ? (uint64_t)n : 0;
            } else {
                atomic_uint_fast64_t *p = (atomic_uint_fast64_t *)((char *)accs[i] + figs[f].field);
                v = atomic_load_explicit(p, memory_order_relaxed);
            }
            sbuf_addf(b, "%s{account=\"", figs[f].name);
            monitor_metric_label(b, accs[i]->name);
            sbuf_addf(b, "\"} %llu\n", (unsigned long long)v);
        }
    }
    free(accs);
}

static void monitor_metrics_sublist(struct monitor *m, struct sbuf *b)
{
    /* counters never go back: the accounts a reload removed still count
     * (the table only grows, its entries never move) */
    const struct account_table *t = m->s->accounts;
    size_t na = atomic_load(&t->n);
    uint64_t ins = 0, rem = 0, matches = 0, hits = 0;
    for (size_t i = 0; i < na; i++) {
        struct sublist_stats st;
        sublist_get_stats(t->v[i]->sl, &st);
        ins += st.num_inserts;
        rem += st.num_removes;
        matches += st.num_matches;
        hits += st.cache_hits;
    }
    monitor_metric_u64(b, "natsd_sublist_inserts_total", "counter",
                       "Subscriptions inserted into the subscription lists.", ins);
    monitor_metric_u64(b, "natsd_sublist_removes_total", "counter",
                       "Subscriptions removed from the subscription lists.", rem);
    monitor_metric_u64(b, "natsd_sublist_matches_total", "counter",
                       "Subject matches, computed or served from a cache.", matches);
    monitor_metric_u64(b, "natsd_sublist_cache_hits_total", "counter",
                       "Subject matches served from a worker's match cache.", hits);
}

static void monitor_metrics_workers(struct monitor *m, struct sbuf *b)
{
    struct server *s = m->s;
    static const struct {
        const char *name, *help;
        size_t field;
    } figs[] = {
        {"natsd_worker_in_msgs_total", "Messages received by the worker's connections.",
         offsetof(struct worker, in_msgs)},
        {"natsd_worker_out_msgs_total", "Messages delivered by the worker.",
         offsetof(struct worker, out_msgs)},
    };
    for (size_t f = 0; f < ARRAY_LEN(figs); f++) {
        monitor_metric_head(b, figs[f].name, "counter", figs[f].help);
        for (int i = 0; i < s->nworkers; i++) {
            atomic_uint_fast64_t *p =
                (atomic_uint_fast64_t *)((char *)s->workers[i] + figs[f].field);
            sbuf_addf(b, "%s{worker=\"%d\"} %llu\n", figs[f].name, i,
                      (unsigned long long)atomic_load_explicit(p, memory_order_relaxed));
        }
    }
}

void monitor_metrics(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    struct monitor_totals t;
    monitor_totals(m, &t);
    int64_t rss;
    double pcpu;
    monitor_proc_usage(m, &rss, &pcpu);
    int64_t now = monitor_wall_ns();

    struct sbuf b = {0};
    monitor_metric_head(&b, "natsd_info", "gauge", "Server identity; the value is always 1.");
    sbuf_adds(&b, "natsd_info{server_id=\"");
    monitor_metric_label(&b, s->id);
    sbuf_adds(&b, "\",server_name=\"");
    monitor_metric_label(&b, s->name);
    sbuf_addf(&b, "\",version=\"%s\",proto_version=\"%s\",cluster=\"", NATSD_VERSION,
              NATSD_PROTOCOL_VERSION);
    char cluster[256];
    monitor_metric_label(&b, server_cluster_name(s, cluster, sizeof(cluster)) ? cluster : "");
    sbuf_adds(&b, "\"} 1\n");
    monitor_metric_f64(&b, "natsd_start_time_seconds", "gauge",
                       "Start time of the server, Unix seconds.", (double)s->start_unix_ns / 1e9);
    monitor_metric_f64(&b, "natsd_uptime_seconds", "gauge", "Seconds since the server started.",
                       (double)(now - s->start_unix_ns) / 1e9);
    monitor_metric_u64(&b, "natsd_mem_bytes", "gauge", "Resident memory of the process.",
                       (uint64_t)rss);
    monitor_metric_f64(&b, "natsd_cpu_percent", "gauge",
                       "CPU use of the process, percent of one core.", pcpu);
    monitor_metric_u64(&b, "natsd_workers", "gauge", "Worker threads.", (uint64_t)s->nworkers);
    monitor_metric_u64(&b, "natsd_connections", "gauge", "Client connections open now.",
                       t.connections > 0 ? (uint64_t)t.connections : 0);
    monitor_metric_u64(&b, "natsd_connections_total", "counter",
                       "Client connections accepted since start.", t.total_connections);
    monitor_metric_u64(&b, "natsd_max_connections", "gauge", "Client connection limit.",
                       (uint64_t)server_opts(s)->max_connections);
    monitor_metric_u64(&b, "natsd_subscriptions", "gauge", "Subscriptions in all accounts.",
                       t.subscriptions);
    monitor_metric_u64(&b, "natsd_in_msgs_total", "counter", "Messages received.", t.in_msgs);
    monitor_metric_u64(&b, "natsd_out_msgs_total", "counter", "Messages delivered.", t.out_msgs);
    monitor_metric_u64(&b, "natsd_in_bytes_total", "counter", "Payload bytes received.",
                       t.in_bytes);
    monitor_metric_u64(&b, "natsd_out_bytes_total", "counter", "Payload bytes delivered.",
                       t.out_bytes);
    monitor_metric_u64(&b, "natsd_slow_consumers_total", "counter",
                       "Connections closed as slow consumers.", t.slow_consumers);
    pthread_mutex_lock(&m->closed_mu);
    size_t nclosed = m->closed_n;
    pthread_mutex_unlock(&m->closed_mu);
    monitor_metric_u64(&b, "natsd_closed_connections", "gauge",
                       "Closed client connections kept for /connz?state=closed.", nclosed);
    monitor_metrics_sublist(m, &b);
    monitor_metrics_workers(m, &b);

    monitor_metrics_links(m, &b);
    monitor_metrics_accounts(m, &b);
    monitor_metric_u64(&b, "natsd_healthy", "gauge",
                       "1 while /healthz answers ok, 0 once it answers error (shutting down).",
                       atomic_load(&s->shutting_down) ? 0 : 1);

    monitor_metric_head(&b, "natsd_http_requests_total", "counter",
                        "Monitoring requests by endpoint, as /varz http_req_stats.");
    for (int i = 0; i < MONITOR_STAT_COUNT; i++)
        sbuf_addf(&b, "natsd_http_requests_total{path=\"%s\"} %llu\n", monitor_metric_paths[i],
                  (unsigned long long)atomic_load(&m->stats[i]));

    r->status = 200;
    r->body = b.p;
    r->len = b.len;
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}
