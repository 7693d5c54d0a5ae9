/* SPDX-License-Identifier: Apache-2.0
 * The monitoring server: the listener and libmicrohttpd daemon, routing under
 * http_base_path as Go's ServeMux routes nats-server's patterns, query
 * decoding with nats-server's error texts, JSONP, http_req_stats, and the
 * endpoints that need no connection snapshot (/varz, /healthz, /accountz,
 * /routez, /gatewayz, /leafz, /accstatz, /jsz, the index page).
 *
 * Threads: the daemon runs a small pool of its own threads (epoll), so a slow
 * request never holds a worker. Endpoints read server-wide figures from
 * atomics and take snapshots of what workers own with worker_call()
 * (monitor_connz.c); nothing here blocks a worker longer than one copy of its
 * connection list. */
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "account.h"
#include "common.h"
#include "gateway.h"
#include "gwint.h"
#include "log.h"
#include "mem.h"
#include "monitor_internal.h"
#include "net.h"
#include "opts.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "util.h"
#include "version.h"
#include "worker.h"

/* Threads answering requests. Each takes connections from the shared
 * listener and serves them one request at a time. */
#define MONITOR_THREADS 4
/* Concurrent HTTP connections, and how long an idle keep-alive one stays. */
#define MONITOR_CONN_LIMIT   16384
#define MONITOR_CONN_TIMEOUT 120
/* A request line and headers of up to Go's http.DefaultMaxHeaderBytes (1 MB)
 * plus its 4 KB of slack, with room for the reply's headers: libmicrohttpd's
 * per-connection pool (mapped, so only what a request uses is resident). */
#define MONITOR_CONN_MEMORY (1024 * 1024 + 16 * 1024)
#define MONITOR_GO_FIELD    "natsd " NATSD_VERSION

typedef void monitor_handler(const struct monitor_req *rq, struct monitor_reply *r);

struct monitor_route {
    const char *path; /* under the base path */
    int stat;         /* enum monitor_stat, or -1: not counted */
    bool json;        /* JSONP applies */
    monitor_handler *fn;
};

static monitor_handler monitor_varz, monitor_healthz, monitor_accountz, monitor_routez,
    monitor_gatewayz, monitor_leafz, monitor_accstatz, monitor_jsz, monitor_ipqueuesz;

/* Paths as nats-server registers them in startMonitoring (plus /metrics). */
static const struct monitor_route monitor_routes[] = {
    {"/varz", MONITOR_STAT_VARZ, true, monitor_varz},
    {"/connz", -1, true, monitor_connz}, /* counted after decoding */
    {"/routez", -1, true, monitor_routez},
    {"/gatewayz", MONITOR_STAT_GATEWAYZ, true, monitor_gatewayz},
    {"/leafz", MONITOR_STAT_LEAFZ, true, monitor_leafz},
    {"/subsz", MONITOR_STAT_SUBSZ, true, monitor_subsz},
    {"/subscriptionsz", MONITOR_STAT_SUBSZ, true, monitor_subsz},
    {"/accountz", MONITOR_STAT_ACCOUNTZ, true, monitor_accountz},
    {"/accstatz", MONITOR_STAT_ACCSTATZ, true, monitor_accstatz},
    {"/jsz", MONITOR_STAT_JSZ, true, monitor_jsz},
    {"/healthz", MONITOR_STAT_HEALTHZ, true, monitor_healthz},
    {"/ipqueuesz", -1, true, monitor_ipqueuesz},
    {"/metrics", -1, false, monitor_metrics},
};

static const char *const monitor_stat_paths[MONITOR_STAT_COUNT] = {
    "/",    "/accstatz", "/accountz", "/connz", "/gatewayz", "/healthz",
    "/jsz", "/leafz",    "/routez",   "/subsz", "/varz",
};

/* --- small helpers */

int64_t monitor_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t monitor_mono_to_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t mono = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    return monitor_wall_ns() - mono;
}

size_t monitor_accounts(struct server *s, struct account ***out)
{
    /* the table only grows at its end ($G first) and its entries never move:
     * readable from the monitoring threads without a lock. Accounts a reload
     * removed stay in it for the connections that still point at them;
     * nats-server forgets them, and so do the listings. */
    size_t n = atomic_load(&s->accounts->n), k = 0;
    struct account **v = xmalloc((n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        if (!account_is_removed(s->accounts->v[i]))
            v[k++] = s->accounts->v[i];
    *out = v;
    return k;
}

const char *monitor_system_account(const struct server *s)
{
    const struct opts *o = server_opts(s);
    if (o->no_system_account)
        return NULL;
    return o->system_account && o->system_account[0] ? o->system_account : ACCOUNT_SYSTEM;
}

void monitor_reply_text(struct monitor_reply *r, int status, const char *text)
{
    r->status = status;
    r->body = xstrdup(text);
    r->len = strlen(text);
    r->ctype = "text/plain; charset=utf-8";
}

/* "host:port", with brackets around an IPv6 host (Go's net.JoinHostPort). */
static void monitor_host_port(const char *host, int port, char *buf, size_t size)
{
    if (strchr(host, ':'))
        snprintf(buf, size, "[%s]:%d", host, port);
    else
        snprintf(buf, size, "%s:%d", host, port);
}

/* --- query parameters */

/* A parameter of a system account request, NULL when absent. */
static const char *monitor_kv(const struct monitor_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->nkv; i++)
        if (strcmp(rq->kv[2 * i], name) == 0)
            return rq->kv[2 * i + 1];
    return NULL;
}

const char *monitor_arg(const struct monitor_req *rq, const char *name)
{
    const char *v = rq->mhd_conn
                        ? MHD_lookup_connection_value(rq->mhd_conn, MHD_GET_ARGUMENT_KIND, name)
                        : monitor_kv(rq, name);
    return v ? v : "";
}

/* The value of parameter name and its decoded length, which is longer than
 * strlen() when it holds a NUL ("%00"): Go's parsers see every byte and
 * refuse it. "" and 0 when absent. */
static const char *monitor_arg_n(const struct monitor_req *rq, const char *name, size_t *len)
{
    const char *v = NULL;
    *len = 0;
    if (!rq->mhd_conn) {
        v = monitor_kv(rq, name);
        *len = v ? strlen(v) : 0;
        return v ? v : "";
    }
    if (MHD_lookup_connection_value_n(rq->mhd_conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      len) != MHD_YES ||
        !v) {
        *len = 0;
        return "";
    }
    return v;
}

static void monitor_bad_arg(struct monitor_reply *r, const char *type, const char *name,
                            const char *func, const char *val, size_t len, const char *why)
{
    struct sbuf b = {0};
    sbuf_addf(&b, "Error decoding %s for '%s': strconv.%s: parsing ", type, name, func);
    util_go_quote_sbuf(&b, val, len);
    sbuf_addf(&b, ": %s", why);
    monitor_reply_text(r, 400, b.p);
    sbuf_free(&b);
}

void monitor_reply_textf(struct monitor_reply *r, int status, const char *fmt, ...)
{
    /* no cut at a fixed size: nats-server echoes the whole value */
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* out of memory, as the mem.h wrappers */
    monitor_reply_text(r, status, text);
    free(text);
}

int monitor_arg_bool(const struct monitor_req *rq, const char *name, bool *out,
                     struct monitor_reply *r)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    size_t len;
    const char *v = monitor_arg_n(rq, name, &len);
    *out = false;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < ARRAY_LEN(yes) && strlen(v) == len; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    monitor_bad_arg(r, "boolean", name, "ParseBool", v, len, "invalid syntax");
    return -1;
}

/* Go's base-10 parse of an optionally signed integer: -1 syntax, -2 range. */
static int monitor_parse_dec(const char *v, bool sign_ok, bool *neg, uint64_t *mag)
{
    const char *p = v;
    *neg = false;
    if (sign_ok && (*p == '+' || *p == '-')) {
        *neg = *p == '-';
        p++;
    }
    if (!*p)
        return -1;
    uint64_t x = 0;
    bool range = false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            range = true;
        else
            x = x * 10 + d;
    }
    *mag = x;
    return range ? -2 : 0;
}

int monitor_arg_int(const struct monitor_req *rq, const char *name, int64_t *out,
                    struct monitor_reply *r)
{
    size_t len;
    const char *v = monitor_arg_n(rq, name, &len);
    *out = 0;
    if (len == 0)
        return 0;
    bool neg;
    uint64_t mag = 0;
    int rc = strlen(v) == len ? monitor_parse_dec(v, true, &neg, &mag) : -1;
    if (rc == 0 && mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        rc = -2;
    if (rc != 0) {
        monitor_bad_arg(r, "int", name, "Atoi", v, len,
                        rc == -1 ? "invalid syntax" : "value out of range");
        return -1;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int monitor_arg_u64(const struct monitor_req *rq, const char *name, uint64_t *out,
                    struct monitor_reply *r)
{
    size_t len;
    const char *v = monitor_arg_n(rq, name, &len);
    *out = 0;
    if (len == 0)
        return 0;
    bool neg;
    int rc = strlen(v) == len ? monitor_parse_dec(v, false, &neg, out) : -1;
    if (rc != 0) {
        monitor_bad_arg(r, "uint64", name, "ParseUint", v, len,
                        rc == -1 ? "invalid syntax" : "value out of range");
        *out = 0;
        return -1;
    }
    return 0;
}

/* --- process figures */

void monitor_proc_usage(struct monitor *m, int64_t *rss, double *pcpu)
{
    *rss = 0;
    *pcpu = 0;
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* fields after the ")" that ends the command name: state is field 3 */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    long long f[64] = {0};
    int idx = 3;
    for (char *save = NULL, *tok = strtok_r(p + 2, " ", &save); tok && idx < 64;
         tok = strtok_r(NULL, " ", &save), idx++)
        f[idx] = atoll(tok);
    /* 1-based fields of proc(5): utime 14, stime 15, starttime 22, rss 24 */
    *rss = (int64_t)f[24] * 4096;
    long long total = f[14] + f[15];
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    double secs = (double)si.uptime - (double)f[22] / (double)hz;
    pthread_mutex_lock(&m->cpu_mu);
    /* sampled at most once a second, as nats-server's pse does */
    if (secs - m->cpu_last_secs >= 1.0) {
        double dsecs = secs - m->cpu_last_secs;
        int64_t dticks = total - m->cpu_last_ticks;
        /* integer per-mille first, as nats-server's pse */
        /* NOLINTNEXTLINE(bugprone-integer-division) */
        int64_t ipcpu = (int64_t)((double)(dticks * 1000 / hz) / dsecs);
        m->pcpu = (double)ipcpu / 10.0;
        m->cpu_last_secs = secs;
        m->cpu_last_ticks = total;
    }
    *pcpu = m->pcpu;
    pthread_mutex_unlock(&m->cpu_mu);
}

void monitor_totals(struct monitor *m, struct monitor_totals *t)
{
    struct server *s = m->s;
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = s->workers[i];
        t->in_msgs += atomic_load_explicit(&w->in_msgs, memory_order_relaxed);
        t->in_bytes += atomic_load_explicit(&w->in_bytes, memory_order_relaxed);
        t->out_msgs += atomic_load_explicit(&w->out_msgs, memory_order_relaxed);
        t->out_bytes += atomic_load_explicit(&w->out_bytes, memory_order_relaxed);
    }
    t->slow_consumers = atomic_load(&s->stats.slow_consumers);
    t->total_connections = atomic_load(&s->stats.total_connections);
    t->connections = atomic_load(&s->nclients);
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    for (size_t i = 0; i < na; i++)
        t->subscriptions += sublist_count(accs[i]->sl);
    free(accs);
}

/* --- /varz */

static void monitor_strlist(cJSON *obj, const char *key, const struct strlist *l)
{
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    for (size_t i = 0; i < l->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
}

/* "host:port" of a route or gateway URL as Go's url.URL.Host: scheme and
 * user info dropped. */
static cJSON *monitor_url_hosts(const struct strlist *urls)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < urls->n; i++) {
        const char *u = urls->v[i];
        const char *p = strstr(u, "://");
        p = p ? p + 3 : u;
        const char *at = strchr(p, '@');
        const char *slash = strchr(p, '/');
        if (at && (!slash || at < slash))
            p = at + 1;
        size_t n = slash && slash > p ? (size_t)(slash - p) : strlen(p);
        char *h = xstrndup(p, n);
        cJSON_AddItemToArray(a, cJSON_CreateString(h));
        free(h);
    }
    return a;
}

/* As nats-server's ClusterOptsVarz: the cluster name the server has now
 * (negotiated, or a gateway's name without a cluster block) and the bound
 * port (a random one with -1). */
static cJSON *monitor_varz_cluster(struct server *s, const struct opts *o)
{
    const struct opts_cluster *c = &o->cluster;
    cJSON *j = cJSON_CreateObject();
    char name[256];
    if (server_cluster_name(s, name, sizeof(name)))
        monitor_json_str(j, "name", name);
    if (c->port == 0)
        return j;
    bool tls = c->tls.set && c->tls.cert_file;
    if (c->host && c->host[0])
        monitor_json_str(j, "addr", c->host);
    int port = route_listen_port(s);
    monitor_json_i64(j, "cluster_port", port ? port : c->port);
    if (c->auth_timeout != 0)
        monitor_json_f64(j, "auth_timeout", c->auth_timeout);
    if (c->routes.n > 0)
        cJSON_AddItemToObject(j, "urls", monitor_url_hosts(&c->routes));
    if (c->tls.timeout != 0)
        monitor_json_f64(j, "tls_timeout", c->tls.timeout);
    if (tls) {
        monitor_json_bool(j, "tls_required", true);
        monitor_json_bool(j, "tls_verify", true);
    }
    return j;
}

/* The "urls" of a configured remote in /varz: the remote's current URL set
 * (discovered ones included) as nats-server's updateVarzRuntimeFields
 * reports it, or the configured URLs for the entry with our own name. */
static void monitor_varz_remote_urls(struct server *s, const struct opts_gateway *g,
                                     const struct opts_remote_gateway *r, cJSON *e)
{
    if (g->name && strcmp(r->name, g->name) == 0) {
        if (r->urls.n > 0)
            cJSON_AddItemToObject(e, "urls", monitor_url_hosts(&r->urls));
        return;
    }
    char **urls;
    size_t n = gateway_remote_urls(s, r->name, &urls);
    if (n > 0) {
        cJSON *a = cJSON_AddArrayToObject(e, "urls");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(urls[i]));
    }
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
}

/* As nats-server's GatewayOptsVarz: every field omitted when empty. */
static cJSON *monitor_varz_gateway(struct server *s, const struct opts *o)
{
    const struct opts_gateway *g = &o->gateway;
    cJSON *j = cJSON_CreateObject();
    if (g->port == 0)
        return j;
    bool tls = g->tls.set && g->tls.cert_file;
    if (g->name && g->name[0])
        monitor_json_str(j, "name", g->name);
    if (g->host && g->host[0])
        monitor_json_str(j, "host", g->host);
    /* the bound port (a random one with -1), as nats-server reports it */
    int port = gateway_listen_port(s);
    monitor_json_i64(j, "port", port ? port : g->port);
    if (g->auth_timeout != 0)
        monitor_json_f64(j, "auth_timeout", g->auth_timeout);
    if (g->tls.timeout != 0)
        monitor_json_f64(j, "tls_timeout", g->tls.timeout);
    if (tls) {
        monitor_json_bool(j, "tls_required", true);
        monitor_json_bool(j, "tls_verify", true);
    }
    if (g->advertise && g->advertise[0])
        monitor_json_str(j, "advertise", g->advertise);
    if (g->connect_retries != 0)
        monitor_json_i64(j, "connect_retries", g->connect_retries);
    if (g->n_gateways > 0) {
        /* configured remotes only, in configuration order */
        cJSON *a = cJSON_AddArrayToObject(j, "gateways");
        for (size_t i = 0; i < g->n_gateways; i++) {
            const struct opts_remote_gateway *r = &g->gateways[i];
            cJSON *e = cJSON_CreateObject();
            monitor_json_str(e, "name", r->name);
            if (r->tls.set && r->tls.timeout != 0)
                monitor_json_f64(e, "tls_timeout", r->tls.timeout);
            monitor_varz_remote_urls(s, g, r, e);
            cJSON_AddItemToArray(a, e);
        }
    }
    if (g->reject_unknown)
        monitor_json_bool(j, "reject_unknown", true);
    return j;
}

/* The fields up to max_pending, as nats-server's createVarz fills them. */
static void monitor_varz_head(struct monitor *m, cJSON *v)
{
    struct server *s = m->s;
    const struct opts *o = server_opts(s);
    monitor_json_str(v, "server_id", s->id);
    monitor_json_str(v, "server_name", s->name);
    monitor_json_str(v, "version", NATSD_PROTOCOL_VERSION);
    monitor_json_i64(v, "proto", 1);
    monitor_json_str(v, "go", MONITOR_GO_FIELD);
    monitor_json_str(v, "host", o->host && o->host[0] ? o->host : OPTS_DEFAULT_HOST);
    monitor_json_i64(v, "port", s->port);
    if (s->auth_required && !o->no_auth_user)
        monitor_json_bool(v, "auth_required", true);
    if (o->tls.set && o->tls.cert_file) {
        if (!o->allow_non_tls)
            monitor_json_bool(v, "tls_required", true);
        if (o->tls.verify || o->tls.verify_and_map)
            monitor_json_bool(v, "tls_verify", true);
    }
    /* the client URLs of the cluster, as the client INFO has them */
    char **urls = NULL;
    size_t nurls = route_client_urls(s, &urls);
    if (nurls > 0) {
        cJSON *a = cJSON_AddArrayToObject(v, "connect_urls");
        for (size_t i = 0; i < nurls; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(urls[i]));
    }
    route_urls_free(urls, nurls);
    monitor_json_i64(v, "max_connections", o->max_connections);
    if (o->max_subs > 0)
        monitor_json_i64(v, "max_subscriptions", o->max_subs);
    monitor_json_i64(v, "ping_interval", o->ping_interval_ns);
    monitor_json_i64(v, "ping_max", o->ping_max);
    monitor_json_str(v, "http_host", o->http_host);
    monitor_json_i64(v, "http_port", o->http_port);
    monitor_json_str(v, "http_base_path", o->http_base_path);
    monitor_json_i64(v, "https_port", o->https_port);
    monitor_json_f64(v, "auth_timeout", o->auth_timeout);
    monitor_json_i64(v, "max_control_line", o->max_control_line);
    monitor_json_i64(v, "max_payload", o->max_payload);
    monitor_json_i64(v, "max_pending", o->max_pending);
}

static void monitor_varz(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    const struct opts *o = server_opts(s);
    int64_t rss;
    double pcpu;
    monitor_proc_usage(m, &rss, &pcpu);
    int64_t now = monitor_wall_ns();
    struct monitor_totals t;
    monitor_totals(m, &t);

    cJSON *v = cJSON_CreateObject();
    monitor_varz_head(m, v);
    cJSON_AddItemToObject(v, "cluster", monitor_varz_cluster(s, o));
    cJSON_AddItemToObject(v, "gateway", monitor_varz_gateway(s, o));
    cJSON_AddObjectToObject(v, "leaf");
    cJSON_AddObjectToObject(v, "mqtt");
    cJSON_AddObjectToObject(v, "websocket");
    cJSON_AddObjectToObject(v, "jetstream");
    monitor_json_f64(v, "tls_timeout", o->tls.timeout);
    monitor_json_i64(v, "write_deadline", o->write_deadline_ns);
    monitor_json_time(v, "start", s->start_unix_ns);
    monitor_json_time(v, "now", now);
    char up[64];
    monitor_uptime_str(now - s->start_unix_ns, up, sizeof(up));
    monitor_json_str(v, "uptime", up);
    monitor_json_i64(v, "mem", rss);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    monitor_json_i64(v, "cores", cores > 0 ? cores : 1);
    monitor_json_i64(v, "gomaxprocs", s->nworkers);
    monitor_json_f64(v, "cpu", pcpu);
    monitor_json_i64(v, "connections", t.connections);
    monitor_json_u64(v, "total_connections", t.total_connections);
    /* one route per remote server: routes and remotes are the same count */
    monitor_json_i64(v, "routes", route_count(s));
    monitor_json_i64(v, "remotes", route_count(s));
    monitor_json_i64(v, "leafnodes", 0);
    monitor_json_u64(v, "in_msgs", t.in_msgs);
    monitor_json_u64(v, "out_msgs", t.out_msgs);
    monitor_json_u64(v, "in_bytes", t.in_bytes);
    monitor_json_u64(v, "out_bytes", t.out_bytes);
    monitor_json_u64(v, "slow_consumers", t.slow_consumers);
    monitor_json_u64(v, "subscriptions", t.subscriptions);
    cJSON *hs = cJSON_AddObjectToObject(v, "http_req_stats");
    for (int i = 0; i < MONITOR_STAT_COUNT; i++) {
        uint64_t n = atomic_load(&m->stats[i]);
        if (n > 0)
            monitor_json_u64(hs, monitor_stat_paths[i], n);
    }
    monitor_json_time(v, "config_load_time", s->start_unix_ns);
    if (o->server_tags.n > 0)
        monitor_strlist(v, "tags", &o->server_tags);
    const char *sys = monitor_system_account(s);
    if (sys)
        monitor_json_str(v, "system_account", sys);
    monitor_reply_json(r, v, false);
}

/* --- /healthz */

static void monitor_healthz(const struct monitor_req *rq, struct monitor_reply *r)
{
    bool js_enabled, js_enabled_only, js_server_only;
    if (monitor_arg_bool(rq, "js-enabled", &js_enabled, r) != 0)
        return;
    if (js_enabled)
        NLOG_WARN("Healthcheck: js-enabled deprecated, use js-enabled-only instead");
    if (monitor_arg_bool(rq, "js-enabled-only", &js_enabled_only, r) != 0 ||
        monitor_arg_bool(rq, "js-server-only", &js_server_only, r) != 0)
        return;
    cJSON *h = cJSON_CreateObject();
    if (atomic_load(&rq->m->s->shutting_down)) {
        monitor_json_str(h, "status", "error");
        monitor_json_str(h, "error", "server is shutting down");
        NLOG_WARN("Healthcheck failed: \"server is shutting down\"");
        monitor_reply_json(r, h, true);
        r->status = 503;
        return;
    }
    monitor_json_str(h, "status", "ok");
    monitor_reply_json(r, h, true);
}

/* --- /accountz */

static void monitor_account_detail(struct monitor *m, struct account *acc, const char *name,
                                   cJSON *into)
{
    struct server *s = m->s;
    cJSON *d = cJSON_AddObjectToObject(into, "account_detail");
    const char *sys = monitor_system_account(s);
    monitor_json_str(d, "account_name", name);
    monitor_json_time(d, "update_time", s->start_unix_ns);
    if (sys && strcmp(name, sys) == 0)
        monitor_json_bool(d, "is_system", true);
    monitor_json_bool(d, "expired", false);
    monitor_json_bool(d, "complete", true);
    monitor_json_bool(d, "jetstream_enabled", false);
    monitor_json_i64(d, "leafnode_connections", 0);
    monitor_json_i64(d, "client_connections", acc ? atomic_load(&acc->nclients) : 0);
    monitor_json_u64(d, "subscriptions", acc ? sublist_count(acc->sl) : 0);
    cJSON *st = cJSON_AddObjectToObject(d, "sublist_stats");
    monitor_sublist_stats(m, acc ? name : NULL, st);
}

static void monitor_accountz(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    const char *want = monitor_arg(rq, "acc");
    const char *sys = monitor_system_account(s);
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    cJSON *a = cJSON_CreateObject();
    monitor_json_str(a, "server_id", s->id);
    monitor_json_time(a, "now", monitor_wall_ns());
    if (sys)
        monitor_json_str(a, "system_account", sys);
    if (!want[0]) {
        cJSON *l = cJSON_AddArrayToObject(a, "accounts");
        bool sys_listed = false;
        for (size_t i = 0; i < na; i++) {
            cJSON_AddItemToArray(l, cJSON_CreateString(accs[i]->name));
            sys_listed = sys_listed || (sys && strcmp(accs[i]->name, sys) == 0);
        }
        if (sys && !sys_listed)
            cJSON_AddItemToArray(l, cJSON_CreateString(sys));
        free(accs);
        monitor_reply_json(r, a, false);
        return;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(accs[i]->name, want) == 0) {
            monitor_account_detail(m, accs[i], want, a);
            free(accs);
            monitor_reply_json(r, a, false);
            return;
        }
    }
    free(accs);
    if (sys && strcmp(want, sys) == 0) {
        /* the system account has no clients or subscriptions in natsd */
        monitor_account_detail(m, NULL, want, a);
        monitor_reply_json(r, a, false);
        return;
    }
    cJSON_Delete(a);
    monitor_reply_textf(r, 400, "Account %s does not exist", want);
}

/* --- endpoints for what natsd does not have yet: as nats-server answers
 * with none configured */

static cJSON *monitor_head(struct monitor *m)
{
    cJSON *j = cJSON_CreateObject();
    monitor_json_str(j, "server_id", m->s->id);
    monitor_json_time(j, "now", monitor_wall_ns());
    return j;
}

/* A SubjectPermission as Go prints it: allow and deny, each left out when
 * empty. */
static void monitor_perm_json(cJSON *j, const char *key, char *const *allow, size_t nallow,
                              char *const *deny, size_t ndeny)
{
    cJSON *o = cJSON_AddObjectToObject(j, key);
    const char *const names[2] = {"allow", "deny"};
    char *const *lists[2] = {allow, deny};
    size_t ns[2] = {nallow, ndeny};
    for (int k = 0; k < 2; k++) {
        if (ns[k] == 0)
            continue;
        cJSON *a = cJSON_AddArrayToObject(o, names[k]);
        for (size_t i = 0; i < ns[k]; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(lists[k][i]));
    }
}

/* NOLINTNEXTLINE(readability-function-size): one /routez document in one place */
static void monitor_routez(const struct monitor_req *rq, struct monitor_reply *r)
{
    bool subs = false;
    bool detail = strcasecmp(monitor_arg(rq, "subs"), "detail") == 0;
    if (!detail && monitor_arg_bool(rq, "subs", &subs, r) != 0)
        return;
    atomic_fetch_add(&rq->m->stats[MONITOR_STAT_ROUTEZ], 1);
    cJSON *j = monitor_head(rq->m);
    /* the cluster's import/export permissions (never reloaded) */
    const struct opts_perms *cp = server_opts(rq->m->s)->cluster.perms;
    if (cp) {
        /* a direction not configured is left out */
        const struct opts_subject_perm *im = &cp->publish, *ex = &cp->subscribe;
        if (im->set)
            monitor_perm_json(j, "import", im->allow.v, im->allow.n, im->deny.v, im->deny.n);
        if (ex->set)
            monitor_perm_json(j, "export", ex->allow.v, ex->allow.n, ex->deny.v, ex->deny.n);
    }
    struct route_peer *peers;
    size_t np = route_peers(rq->m->s, &peers);
    struct monitor_snap snap = {0};
    if (np > 0)
        monitor_snapshot(rq->m, 1u << CONN_KIND_ROUTE, 0, subs || detail, subs || detail, &snap);
    int64_t now = monitor_wall_ns();
    cJSON *a = cJSON_CreateArray();
    size_t shown = 0;
    for (size_t i = 0; i < np; i++) {
        const struct monitor_conninfo *ci = NULL;
        for (size_t k = 0; k < snap.n && !ci; k++)
            if (snap.v[k].cid == peers[i].cid)
                ci = &snap.v[k];
        if (!ci)
            continue; /* closed meanwhile */
        char buf[64];
        cJSON *o = cJSON_CreateObject();
        monitor_json_u64(o, "rid", ci->cid);
        monitor_json_str(o, "remote_id", peers[i].remote_id);
        monitor_json_bool(o, "did_solicit", peers[i].did_solicit);
        monitor_json_bool(o, "is_configured", peers[i].is_configured);
        monitor_json_str(o, "ip", ci->ip);
        monitor_json_i64(o, "port", ci->port);
        monitor_json_time(o, "start", ci->start_ns);
        monitor_json_time(o, "last_activity", ci->last_ns);
        if (ci->rtt_ns) {
            monitor_duration_str((int64_t)ci->rtt_ns, buf, sizeof(buf));
            monitor_json_str(o, "rtt", buf);
        }
        monitor_uptime_str(now - ci->start_ns, buf, sizeof(buf));
        monitor_json_str(o, "uptime", buf);
        monitor_uptime_str(now - ci->last_ns, buf, sizeof(buf));
        monitor_json_str(o, "idle", buf);
        const struct proto_perm *im = peers[i].import, *ex = peers[i].export;
        if (im)
            monitor_perm_json(o, "import", im->allow, im->n_allow, im->deny, im->n_deny);
        if (ex)
            monitor_perm_json(o, "export", ex->allow, ex->n_allow, ex->deny, ex->n_deny);
        monitor_json_u64(o, "pending_size", ci->pending);
        monitor_json_u64(o, "in_msgs", ci->in_msgs);
        monitor_json_u64(o, "out_msgs", ci->out_msgs);
        monitor_json_u64(o, "in_bytes", ci->in_bytes);
        monitor_json_u64(o, "out_bytes", ci->out_bytes);
        monitor_json_u64(o, "subscriptions", peers[i].nsubs);
        if (subs || detail)
            monitor_subs_json(o, ci, detail);
        cJSON_AddItemToArray(a, o);
        shown++;
    }
    monitor_json_i64(j, "num_routes", (int64_t)shown);
    cJSON_AddItemToObject(j, "routes", a);
    monitor_snap_free(&snap);
    route_peers_free(peers, np);
    monitor_reply_json(r, j, false);
}

/* --- /gatewayz */

/* nats-server's gatewayMaxRUnsubBeforeSwitch, reported per account. */
#define MONITOR_GW_IO_THRESHOLD 1000

/* Order of the rows: by remote name (Go prints a map's keys sorted), then by
 * cid (the inbound arrays). */
static int monitor_gw_cmp(const void *pa, const void *pb)
{
    const struct gateway_conn_info *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a->cid < b->cid ? -1 : a->cid > b->cid;
}

static int monitor_gw_acc_cmp(const void *pa, const void *pb)
{
    const struct gwint_acc_info *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

/* The accounts array of one connection (AccountGatewayz rows), omitted when
 * empty. Inbound rows carry no subscription counts. */
static void monitor_gw_accounts(cJSON *o, struct gateway_conn_info *e)
{
    if (e->naccs == 0)
        return;
    if (e->naccs > 1)
        qsort(e->accs, e->naccs, sizeof(*e->accs), monitor_gw_acc_cmp);
    cJSON *a = cJSON_AddArrayToObject(o, "accounts");
    for (size_t i = 0; i < e->naccs; i++) {
        const struct gwint_acc_info *ai = &e->accs[i];
        cJSON *row = cJSON_CreateObject();
        monitor_json_str(row, "name", ai->name);
        monitor_json_str(row, "interest_mode", gwint_mode_name(ai->mode));
        if (ai->no_interest_count)
            monitor_json_u64(row, "no_interest_count", ai->no_interest_count);
        monitor_json_i64(row, "interest_only_threshold", MONITOR_GW_IO_THRESHOLD);
        if (e->outbound && ai->num_subs)
            monitor_json_u64(row, "num_subs", ai->num_subs);
        if (e->outbound && ai->num_queue_subs)
            monitor_json_u64(row, "num_queue_subs", ai->num_queue_subs);
        cJSON_AddItemToArray(a, row);
    }
}

/* One RemoteGatewayz object: configured, the ConnInfo of the connection
 * (name is the remote server id), the accounts. */
static cJSON *monitor_gw_remote(struct gateway_conn_info *e, const struct monitor_conninfo *ci,
                                int64_t now)
{
    struct monitor_conninfo tmp = *ci;
    tmp.name = e->remote_id[0] ? e->remote_id : NULL;
    tmp.lang = tmp.version = NULL;
    tmp.nsubs = e->nsubs;
    tmp.nsublist = 0;
    cJSON *o = cJSON_CreateObject();
    monitor_json_bool(o, "configured", e->configured);
    cJSON_AddItemToObject(o, "connection", monitor_conninfo_json(&tmp, now, false, false, false));
    monitor_gw_accounts(o, e);
    return o;
}

/* As nats-server's HandleGatewayz and Gatewayz: gw_name filters by remote
 * (no outbound to it: "outbound_gateways": null), acc_name selects one
 * account and implies accs. */
static void monitor_gatewayz(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    bool accs;
    if (monitor_arg_bool(rq, "accs", &accs, r) != 0)
        return;
    const char *want = monitor_arg(rq, "gw_name");
    const char *acc = monitor_arg(rq, "acc_name");
    if (acc[0])
        accs = true;
    cJSON *j = monitor_head(m);
    char name[256], host[256];
    int port = 0;
    if (!gateway_name(s, name, sizeof(name)) || !gateway_advertised(s, host, sizeof(host), &port)) {
        cJSON_AddObjectToObject(j, "outbound_gateways");
        cJSON_AddObjectToObject(j, "inbound_gateways");
        monitor_reply_json(r, j, false);
        return;
    }
    if (name[0])
        monitor_json_str(j, "name", name);
    if (host[0])
        monitor_json_str(j, "host", host);
    if (port != 0)
        monitor_json_i64(j, "port", port);

    struct gateway_conn_info *v;
    size_t n = gateway_conns(s, accs, acc[0] ? acc : NULL, &v);
    if (n > 1)
        qsort(v, n, sizeof(*v), monitor_gw_cmp);
    struct monitor_snap snap = {0};
    if (n > 0)
        monitor_snapshot(m, 1u << CONN_KIND_GATEWAY, 0, false, false, &snap);
    int64_t now = monitor_wall_ns();

    cJSON *out = cJSON_CreateObject();
    cJSON *in = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        struct gateway_conn_info *e = &v[i];
        const struct monitor_conninfo *ci = monitor_snap_find(&snap, e->cid);
        if (!ci || (want[0] && strcmp(want, e->name) != 0))
            continue; /* closed meanwhile, or filtered out */
        cJSON *o = monitor_gw_remote(e, ci, now);
        if (e->outbound) {
            if (!cJSON_GetObjectItemCaseSensitive(out, e->name))
                cJSON_AddItemToObject(out, e->name, o);
            else
                cJSON_Delete(o); /* one outbound per remote: never expected */
            continue;
        }
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, e->name);
        if (!arr)
            arr = cJSON_AddArrayToObject(in, e->name);
        cJSON_AddItemToArray(arr, o);
    }
    if (want[0] && !out->child) {
        cJSON_Delete(out);
        out = cJSON_CreateNull();
    }
    cJSON_AddItemToObject(j, "outbound_gateways", out);
    cJSON_AddItemToObject(j, "inbound_gateways", in);
    monitor_snap_free(&snap);
    gateway_conns_free(v, n);
    monitor_reply_json(r, j, false);
}

static void monitor_leafz(const struct monitor_req *rq, struct monitor_reply *r)
{
    bool subs;
    if (monitor_arg_bool(rq, "subs", &subs, r) != 0)
        return;
    cJSON *j = monitor_head(rq->m);
    monitor_json_i64(j, "leafnodes", 0);
    cJSON_AddNullToObject(j, "leafs");
    monitor_reply_json(r, j, false);
}

static void monitor_accstatz(const struct monitor_req *rq, struct monitor_reply *r)
{
    bool unused;
    if (monitor_arg_bool(rq, "unused", &unused, r) != 0)
        return;
    struct server *s = rq->m->s;
    cJSON *j = monitor_head(rq->m);
    cJSON *l = cJSON_AddArrayToObject(j, "account_statz");
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    for (size_t i = 0; i < na; i++) {
        int n = atomic_load(&accs[i]->nclients);
        if (n == 0 && !unused)
            continue;
        cJSON *e = cJSON_CreateObject();
        monitor_json_str(e, "acc", accs[i]->name);
        monitor_json_i64(e, "conns", n);
        monitor_json_i64(e, "leafnodes", 0);
        monitor_json_i64(e, "total_conns", n);
        const struct account *a = accs[i];
        cJSON *sent = cJSON_AddObjectToObject(e, "sent");
        monitor_json_u64(sent, "msgs", atomic_load_explicit(&a->out_msgs, memory_order_relaxed));
        monitor_json_u64(sent, "bytes", atomic_load_explicit(&a->out_bytes, memory_order_relaxed));
        cJSON *recv = cJSON_AddObjectToObject(e, "received");
        monitor_json_u64(recv, "msgs", atomic_load_explicit(&a->in_msgs, memory_order_relaxed));
        monitor_json_u64(recv, "bytes", atomic_load_explicit(&a->in_bytes, memory_order_relaxed));
        monitor_json_u64(e, "slow_consumers",
                         atomic_load_explicit(&a->slow_consumers, memory_order_relaxed));
        cJSON_AddItemToArray(l, e);
    }
    free(accs);
    monitor_reply_json(r, j, false);
}

static void monitor_jsz(const struct monitor_req *rq, struct monitor_reply *r)
{
    cJSON *j = monitor_head(rq->m);
    monitor_json_bool(j, "disabled", true);
    cJSON *cfg = cJSON_AddObjectToObject(j, "config");
    monitor_json_i64(cfg, "max_memory", 0);
    monitor_json_i64(cfg, "max_storage", 0);
    static const char *const zeros[] = {"memory",           "storage",  "reserved_memory",
                                        "reserved_storage", "accounts", "ha_assets"};
    for (size_t i = 0; i < ARRAY_LEN(zeros); i++)
        monitor_json_i64(j, zeros[i], 0);
    cJSON *api = cJSON_AddObjectToObject(j, "api");
    monitor_json_i64(api, "total", 0);
    monitor_json_i64(api, "errors", 0);
    monitor_json_i64(j, "streams", 0);
    monitor_json_i64(j, "consumers", 0);
    monitor_json_i64(j, "messages", 0);
    monitor_json_i64(j, "bytes", 0);
    monitor_reply_json(r, j, false);
}

static void monitor_ipqueuesz(const struct monitor_req *rq, struct monitor_reply *r)
{
    (void)rq;
    monitor_reply_json(r, cJSON_CreateObject(), false);
}

/* --- the index page */

static void monitor_index(struct monitor *m, struct monitor_reply *r)
{
    static const struct {
        const char *path, *label;
    } links[] = {
        {"varz", "General"},
        {"jsz", "JetStream"},
        {"connz", "Connections"},
        {"accountz", "Accounts"},
        {"accstatz", "Account Stats"},
        {"subsz", "Subscriptions"},
        {"routez", "Routes"},
        {"leafz", "LeafNodes"},
        {"gatewayz", "Gateways"},
        {"healthz", "Health Probe"},
        {"metrics", "Prometheus Metrics"},
    };
    struct sbuf b = {0};
    sbuf_adds(&b, "<html lang=\"en\">\n<head>\n<title>natsd monitoring</title>\n"
                  "<style type=\"text/css\">\n"
                  "  body { font-family: sans-serif; margin-left: 32px }\n"
                  "  a { display: block; padding-bottom: 6px; text-decoration: none }\n"
                  "</style>\n</head>\n<body>\n");
    sbuf_addf(&b, "<h1>natsd</h1>\n<p>v%s (nats-server protocol %s)</p>\n", NATSD_VERSION,
              NATSD_PROTOCOL_VERSION);
    /* relative links, as nats-server's, so they work under any base path */
    const char *base = m->base;
    const char *last = strrchr(base, '/');
    const char *dir = last && last[1] ? last + 1 : NULL;
    for (size_t i = 0; i < ARRAY_LEN(links); i++) {
        if (dir)
            sbuf_addf(&b, "<a href=./%s/%s>%s</a>\n", dir, links[i].path, links[i].label);
        else
            sbuf_addf(&b, "<a href=./%s>%s</a>\n", links[i].path, links[i].label);
    }
    sbuf_adds(&b, "<a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring>"
                  "Help</a>\n</body>\n</html>");
    r->status = 200;
    r->body = b.p;
    r->len = b.len;
    r->ctype = "text/html; charset=utf-8";
}

/* --- routing */

/* The route for url under the base path, or NULL; *root for the index. */
static const struct monitor_route *monitor_find(const struct monitor *m, const char *url,
                                                bool *root)
{
    *root = false;
    size_t bl = strlen(m->base);
    const char *rest = url;
    if (bl > 1) {
        if (strncmp(url, m->base, bl) != 0)
            return NULL;
        rest = url + bl;
        if (rest[0] == '\0') {
            *root = true;
            return NULL;
        }
    } else if (strcmp(url, "/") == 0) {
        *root = true;
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_LEN(monitor_routes); i++)
        if (strcmp(rest, monitor_routes[i].path) == 0)
            return &monitor_routes[i];
    return NULL;
}

static enum MHD_Result monitor_send(struct MHD_Connection *conn, struct monitor_reply *r,
                                    const char *version)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    /* Go answers a request in the version it came in (HTTP/1.0 too) */
    if (version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
        MHD_set_response_options(resp, MHD_RF_HTTP_1_0_SERVER, MHD_RO_END);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->nosniff)
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ?callback=cb wraps a JSON answer as cb(<json>) (nats-server's
 * ResponseHandler). */
static void monitor_jsonp(const struct monitor_req *rq, struct monitor_reply *r)
{
    const char *cb = monitor_arg(rq, "callback");
    if (!cb[0] || r->status != 200 || strcmp(r->ctype, "application/json") != 0)
        return;
    struct sbuf b = {0};
    sbuf_addf(&b, "%s(", cb);
    sbuf_add(&b, r->body, r->len);
    sbuf_addc(&b, ')');
    free(r->body);
    r->body = b.p;
    r->len = b.len;
    r->ctype = "application/javascript";
}

/* --- requests of the system account */

/* The endpoints $SYS.REQ.SERVER.<PING|id>.<name> answers, by name. */
static const struct {
    const char *name;
    monitor_handler *fn;
} monitor_sys_endpoints[] = {
    {"VARZ", monitor_varz},         {"CONNZ", monitor_connz}, {"ROUTEZ", monitor_routez},
    {"GATEWAYZ", monitor_gatewayz}, {"LEAFZ", monitor_leafz}, {"SUBSZ", monitor_subsz},
    {"ACCOUNTZ", monitor_accountz}, {"JSZ", monitor_jsz},     {"HEALTHZ", monitor_healthz},
};

int monitor_request(struct server *s, const char *endpoint, const char *const *kv, size_t nkv,
                    char **out, size_t *len)
{
    struct monitor *m = s->monitor;
    *out = NULL;
    *len = 0;
    if (!m)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(monitor_sys_endpoints); i++) {
        if (strcmp(monitor_sys_endpoints[i].name, endpoint) != 0)
            continue;
        struct monitor_req rq = {.m = m, .kv = kv, .nkv = nkv, .sys = true};
        struct monitor_reply r = {.status = 200};
        monitor_sys_endpoints[i].fn(&rq, &r);
        /* the system account's replies are Go's json.Marshal: compact */
        if (r.ctype && strcmp(r.ctype, "application/json") == 0 && r.body) {
            cJSON_Minify(r.body);
            r.len = strlen(r.body);
        }
        *out = r.body;
        *len = r.len;
        return r.status;
    }
    return -1;
}

/* A route's figures for the statsz event (nats-server's RouteStat). */
static cJSON *monitor_route_stat(const struct monitor_conninfo *ci, const struct route_peer *p)
{
    cJSON *j = cJSON_CreateObject();
    monitor_json_u64(j, "rid", ci->cid);
    if (p && p->remote_name && p->remote_name[0])
        monitor_json_str(j, "name", p->remote_name);
    cJSON *sent = cJSON_AddObjectToObject(j, "sent");
    monitor_json_u64(sent, "msgs", ci->out_msgs);
    monitor_json_u64(sent, "bytes", ci->out_bytes);
    cJSON *recv = cJSON_AddObjectToObject(j, "received");
    monitor_json_u64(recv, "msgs", ci->in_msgs);
    monitor_json_u64(recv, "bytes", ci->in_bytes);
    monitor_json_u64(j, "pending", ci->pending);
    return j;
}

char *monitor_statsz(struct server *s, size_t *len)
{
    struct monitor *m = s->monitor;
    *len = 0;
    if (!m)
        return NULL;
    int64_t rss;
    double pcpu;
    monitor_proc_usage(m, &rss, &pcpu);
    struct monitor_totals t;
    monitor_totals(m, &t);
    cJSON *j = cJSON_CreateObject();
    monitor_json_time(j, "start", s->start_unix_ns);
    monitor_json_i64(j, "mem", rss);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    monitor_json_i64(j, "cores", cores > 0 ? cores : 1);
    monitor_json_f64(j, "cpu", pcpu);
    monitor_json_i64(j, "connections", t.connections);
    monitor_json_u64(j, "total_connections", t.total_connections);
    /* accounts with a client connection (nats-server's activeAccounts) */
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    int64_t active = 0;
    for (size_t i = 0; i < na; i++)
        active += atomic_load(&accs[i]->nclients) > 0;
    free(accs);
    monitor_json_i64(j, "active_accounts", active);
    monitor_json_u64(j, "subscriptions", t.subscriptions);
    cJSON *sent = cJSON_AddObjectToObject(j, "sent");
    monitor_json_u64(sent, "msgs", t.out_msgs);
    monitor_json_u64(sent, "bytes", t.out_bytes);
    cJSON *recv = cJSON_AddObjectToObject(j, "received");
    monitor_json_u64(recv, "msgs", t.in_msgs);
    monitor_json_u64(recv, "bytes", t.in_bytes);
    monitor_json_u64(j, "slow_consumers", t.slow_consumers);
    struct route_peer *peers = NULL;
    size_t np = route_peers(s, &peers);
    if (np > 0) {
        struct monitor_snap snap;
        monitor_snapshot(m, 1u << CONN_KIND_ROUTE, 0, false, false, &snap);
        cJSON *a = NULL;
        for (size_t i = 0; i < snap.n; i++) {
            const struct route_peer *p = NULL;
            for (size_t k = 0; k < np && !p; k++)
                if (peers[k].cid == snap.v[i].cid)
                    p = &peers[k];
            if (!p)
                continue; /* not registered (yet): not a route of the server */
            if (!a)
                a = cJSON_AddArrayToObject(j, "routes");
            cJSON_AddItemToArray(a, monitor_route_stat(&snap.v[i], p));
        }
        monitor_snap_free(&snap);
    }
    route_peers_free(peers, np);
    monitor_json_i64(j, "active_servers", 1);
    struct monitor_reply r = {0};
    monitor_reply_json(&r, j, true);
    *len = r.len;
    return r.body;
}

char *monitor_api_reply(struct server *s, uint64_t seq, const char *key, const char *data, int code,
                        const char *desc, size_t *len)
{
    const struct opts *o = server_opts(s);
    cJSON *j = cJSON_CreateObject();
    cJSON *si = cJSON_AddObjectToObject(j, "server");
    monitor_json_str(si, "name", s->name);
    monitor_json_str(si, "host", o->host && o->host[0] ? o->host : OPTS_DEFAULT_HOST);
    monitor_json_str(si, "id", s->id);
    char cluster[256];
    if (server_cluster_name(s, cluster, sizeof(cluster)) && cluster[0])
        monitor_json_str(si, "cluster", cluster);
    monitor_json_str(si, "ver", NATSD_PROTOCOL_VERSION);
    if (o->server_tags.n > 0)
        monitor_strlist(si, "tags", &o->server_tags);
    monitor_json_u64(si, "seq", seq);
    monitor_json_bool(si, "jetstream", false);
    monitor_json_time(si, "time", monitor_wall_ns());
    if (data)
        cJSON_AddRawToObject(j, key, data);
    if (desc) {
        cJSON *e = cJSON_AddObjectToObject(j, "error");
        monitor_json_i64(e, "code", code);
        monitor_json_str(e, "description", desc);
    }
    struct monitor_reply r = {0};
    monitor_reply_json(&r, j, true);
    *len = r.len;
    return r.body;
}

static enum MHD_Result monitor_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload_data, size_t *upload_data_size,
                                          void **con_cls)
{
    struct monitor *m = cls;
    (void)method;
    (void)upload_data;
    /* The first call only announces the request (answering then would cost
     * the keep-alive); a body, which nobody sends, is read and ignored. */
    if (*con_cls == NULL) {
        *con_cls = m;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct monitor_req rq = {.m = m, .mhd_conn = conn};
    struct monitor_reply r = {.status = 200};
    bool root;
    const struct monitor_route *rt = monitor_find(m, url, &root);
    if (root) {
        atomic_fetch_add(&m->stats[MONITOR_STAT_ROOT], 1);
        monitor_index(m, &r);
    } else if (!rt) {
        monitor_reply_text(&r, 404, "404 page not found\n");
        r.nosniff = true;
    } else {
        if (rt->stat >= 0)
            atomic_fetch_add(&m->stats[rt->stat], 1);
        rt->fn(&rq, &r);
        if (rt->json)
            monitor_jsonp(&rq, &r);
    }
    return monitor_send(conn, &r, version);
}

static void monitor_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    NLOG_WARN("monitoring: %s", msg);
}

/* --- life cycle */

/* nats-server's normalizeBasePath: leading slash, then path.Clean. */
static char *monitor_base_path(const char *p)
{
    if (!p || !p[0])
        return xstrdup("/");
    /* split on '/', drop empty and "." segments, ".." pops */
    size_t n = strlen(p);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    const char *q = p;
    while (*q) {
        while (*q == '/')
            q++;
        const char *e = q;
        while (*e && *e != '/')
            e++;
        size_t sl = (size_t)(e - q);
        if (sl == 0 || (sl == 1 && q[0] == '.')) {
            /* nothing */
        } else if (sl == 2 && q[0] == '.' && q[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, q, sl);
            o += sl;
        }
        q = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static char *monitor_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > (16 << 20)) {
        close(fd);
        return NULL;
    }
    char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return buf;
}

static void monitor_destroy(struct monitor *m)
{
    if (!m)
        return;
    if (m->listen_fd >= 0)
        close(m->listen_fd);
    for (size_t i = 0; i < m->closed_n; i++) {
        size_t idx = (m->closed_head + MONITOR_MAX_CLOSED - m->closed_n + i) % MONITOR_MAX_CLOSED;
        monitor_closed_unref(m->closed[idx]);
    }
    free(m->closed);
    pthread_mutex_destroy(&m->closed_mu);
    pthread_mutex_destroy(&m->cpu_mu);
    free(m->tls_cert);
    free(m->tls_key);
    free(m->base);
    free(m);
}

int monitor_start(struct server *s)
{
    const struct opts *o = server_opts(s);
    bool http = o->http_port != 0 || o->https_port != 0;
    /* the system account's requests are answered with or without HTTP */
    if (!http && !monitor_system_account(s))
        return 0;
    if (o->http_port != 0 && o->https_port != 0) {
        NLOG_FATAL("Can't start monitoring: can't specify both HTTP (%d) and HTTPs (%d) ports",
                   o->http_port, o->https_port);
        return -1;
    }
    struct monitor *m = xcalloc(1, sizeof(*m));
    m->s = s;
    m->listen_fd = -1;
    pthread_mutex_init(&m->closed_mu, NULL);
    pthread_mutex_init(&m->cpu_mu, NULL);
    m->closed = xcalloc(MONITOR_MAX_CLOSED, sizeof(*m->closed));
    m->base = monitor_base_path(o->http_base_path);
    if (!http) {
        s->monitor = m;
        return 0;
    }
    m->http = true;
    m->https = o->http_port == 0;
    if (m->https) {
        if (!o->tls.set || !o->tls.cert_file || !o->tls.key_file) {
            NLOG_FATAL("Can't start monitoring: TLS cert and key required for HTTPS");
            monitor_destroy(m);
            return -1;
        }
        m->tls_cert = monitor_read_file(o->tls.cert_file);
        m->tls_key = monitor_read_file(o->tls.key_file);
        if (!m->tls_cert || !m->tls_key || MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            NLOG_FATAL("Can't start monitoring: can't read the TLS certificate and key for HTTPS");
            monitor_destroy(m);
            return -1;
        }
    }
    int port = m->https ? o->https_port : o->http_port;
    if (port < 0)
        port = 0;
    const char *host = o->http_host ? o->http_host : "";
    char err[512];
    m->listen_fd = net_listen(host, port, err, sizeof(err));
    if (m->listen_fd < 0) {
        NLOG_FATAL("Can't start monitoring: can't listen to the monitor port: %s", err);
        monitor_destroy(m);
        return -1;
    }
    m->port = net_local_port(m->listen_fd);
    (void)net_local_addr(m->listen_fd, &m->bound);
    char hp[300];
    monitor_host_port(host, m->port, hp, sizeof(hp));
    NLOG_INFO("Starting %s monitor on %s", m->https ? "https" : "http", hp);
    s->monitor = m;
    return 0;
}

int monitor_run(struct server *s)
{
    struct monitor *m = s->monitor;
    if (!m || !m->http || m->d)
        return 0;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (m->https)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, m->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, m->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
    m->d = MHD_start_daemon(flags, 0, NULL, NULL, monitor_on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                            monitor_mhd_log, m, MHD_OPTION_LISTEN_SOCKET, m->listen_fd,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)MONITOR_THREADS,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MONITOR_CONN_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MONITOR_CONN_TIMEOUT,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MONITOR_CONN_MEMORY,
                            MHD_OPTION_ARRAY, m->https ? tls_opts : none, MHD_OPTION_END);
    if (!m->d) {
        NLOG_FATAL("Error starting monitor on %d: %s", m->port, strerror(errno));
        return -1;
    }
    m->listen_fd = -1; /* the daemon closes it */
    return 0;
}

bool monitor_listen_addr(struct server *s, struct sockaddr_storage *out, bool *https)
{
    const struct monitor *m = s->monitor;
    if (!m || !m->http)
        return false;
    *out = m->bound;
    *https = m->https;
    return true;
}

void monitor_stop(struct server *s)
{
    struct monitor *m = s->monitor;
    if (!m || !m->d)
        return;
    MHD_stop_daemon(m->d);
    m->d = NULL;
}

void monitor_free(struct server *s)
{
    struct monitor *m = s->monitor;
    if (!m)
        return;
    monitor_stop(s);
    s->monitor = NULL;
    monitor_destroy(m);
}
