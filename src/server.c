/* SPDX-License-Identifier: Apache-2.0
 * The server: start-up in nats-server's order and words, the client listener
 * (accepting on worker 0 and spreading connections round-robin over the
 * workers), the client INFO, the ports file, and shutdown. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "authpool.h"
#include "client.h"
#include "common.h"
#include "conn.h"
#include "dial.h"
#include "gateway.h"
#include "log.h"
#include "mem.h"
#include "monitor.h"
#include "net.h"
#include "opts.h"
#include "proto.h"
#include "route.h"
#include "sysacc.h"
#include "sbuf.h"
#include "tls.h"
#include "version.h"
#include "worker.h"

#define SERVER_GO_FIELD "natsd " NATSD_VERSION

/* Pause accepting this long after running out of file descriptors. */
#define SERVER_ACCEPT_BACKOFF_NS (100ull * 1000000ull)

static struct loop_timer server_accept_timer;

static void server_on_accept(struct loop *l, struct loop_watch *wt, unsigned events);
static void server_on_tls_rate_timer(struct loop *l, struct loop_timer *t);
static struct tls_ctx *server_new_tls_ctx(struct server *s, const struct opts *o, char *err,
                                          size_t errsize);
static void server_info(struct server *s, const struct conn *c, bool ldm, struct sbuf *out);

/* nats-server's rateCounter interval, and its logRejectedTLSConns ticker. */
#define SERVER_TLS_RATE_WINDOW_NS (1000ull * 1000000ull)

static int server_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void server_on_accept_timer(struct loop *l, struct loop_timer *t)
{
    struct server *s = t->arg;
    if (!atomic_load(&s->lame_duck) && s->listen_fd >= 0)
        loop_watch_add(l, &s->listen_watch, LOOP_READ);
}

static void server_stop_accepting(struct server *s, struct loop *l)
{
    if (s->listen_fd < 0)
        return;
    loop_watch_del(l, &s->listen_watch);
    loop_timer_disarm(l, &server_accept_timer);
    close(s->listen_fd);
    s->listen_fd = -1;
}

static void server_on_accept(struct loop *l, struct loop_watch *wt, unsigned events)
{
    struct server *s = wt->arg;
    (void)events;
    if (atomic_load(&s->lame_duck) || atomic_load(&s->shutting_down)) {
        server_stop_accepting(s, l);
        return;
    }
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage peer;
        int fd = net_accept(s->listen_fd, &peer);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            NLOG_ERROR("Temporary Client Accept Error(%s), sleeping 100ms", strerror(errno));
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: stop polling the listener for a while
                 * instead of spinning on an always-ready socket */
                loop_watch_del(l, &s->listen_watch);
                loop_timer_arm(l, &server_accept_timer, SERVER_ACCEPT_BACKOFF_NS);
            }
            return;
        }
        unsigned idx = atomic_fetch_add(&s->next_worker, 1) % (unsigned)s->nworkers;
        if (idx == 0)
            client_accept(s->workers[0], fd, &peer);
        else
            worker_hand_over(s->workers[idx], fd, &peer);
    }
}

static void server_task_stop_accepting(struct worker *w, void *arg)
{
    (void)arg;
    server_stop_accepting(w->s, w->loop);
}

static void server_task_send_ldm(struct worker *w, void *arg)
{
    (void)arg;
    struct sbuf info = {0};
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->kind != CONN_KIND_CLIENT || c->opts.protocol < 1 || !(c->flags & CONN_F_PONG_SENT))
            continue;
        sbuf_reset(&info);
        server_info(w->s, c, true, &info);
        conn_send(c, info.p, info.len);
    }
    sbuf_free(&info);
}

struct server_close_req {
    size_t want;
    size_t closed;
    size_t left;
};

static void server_task_close_clients(struct worker *w, void *arg)
{
    struct server_close_req *r = arg;
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->kind == CONN_KIND_CLIENT) {
            if (r->closed < r->want) {
                conn_close(c, "Server Shutdown");
                r->closed++;
            } else {
                r->left++;
            }
        }
        c = next;
    }
}

size_t server_ldm_begin(struct server *s)
{
    NLOG_INFO("Entering lame duck mode, stop accepting new clients");
    atomic_store(&s->lame_duck, true);
    worker_call(s->workers[0], server_task_stop_accepting, NULL);
    size_t n = (size_t)atomic_load(&s->nclients);
    /* routes first, then clients; without clients the server stops at once
     * and tells nobody (lameDuckMode) */
    if (n > 0)
        route_send_ldm(s);
    for (int i = 0; i < s->nworkers; i++)
        worker_call(s->workers[i], server_task_send_ldm, NULL);
    return n;
}

size_t server_close_clients(struct server *s, size_t n)
{
    struct server_close_req r = {.want = n};
    for (int i = 0; i < s->nworkers; i++)
        worker_call(s->workers[i], server_task_close_clients, &r);
    return r.left;
}

void server_client_info(struct server *s, const struct conn *c, struct sbuf *out)
{
    server_info(s, c, false, out);
}

static void server_info(struct server *s, const struct conn *c, bool ldm, struct sbuf *out)
{
    const struct opts *o = server_opts(s);
    struct tls_ctx *tls = server_tls_ctx(s);
    struct proto_info in = {
        .server_id = s->id,
        .server_name = s->name,
        .version = NATSD_PROTOCOL_VERSION,
        .proto = 1,
        .go = SERVER_GO_FIELD,
        .host = o->host ? o->host : OPTS_DEFAULT_HOST,
        .port = s->port,
        .headers = !o->no_header_support,
        .auth_required = s->auth_required && !o->no_auth_user,
        .tls_required = tls && !o->allow_non_tls,
        .tls_verify = tls_ctx_verify(tls),
        .tls_available = tls && o->allow_non_tls,
        .max_payload = o->max_payload,
        .client_id = c ? c->cid : 0,
        .client_ip = c ? c->ip : NULL,
        .nonce = c && c->nonce[0] ? c->nonce : NULL,
        .ldm = ldm,
    };
    /* in a cluster: our client URL and those learned from routes */
    char **urls = NULL;
    size_t nurls = route_client_urls(s, &urls);
    char cluster[256];
    if (server_cluster_name(s, cluster, sizeof(cluster)))
        in.cluster = cluster;
    in.connect_urls = (const char *const *)urls;
    in.n_connect_urls = nurls;
    proto_info_line(&in, out);
    route_urls_free(urls, nurls);
}

bool server_cluster_name(struct server *s, char *buf, size_t size)
{
    if (route_cluster(s, buf, size))
        return true;
    /* a gateway without a cluster block names the cluster (validateCluster
     * copied its name into the options) */
    const char *name = server_opts(s)->cluster.name;
    if (!name || !name[0])
        return false;
    snprintf(buf, size, "%s", name);
    return true;
}

/* An errno text as Go prints it: lower case ("no such file or directory"). */
static void server_errno_text(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

/* nats-server's ports file: <dir>/<basename of argv[0]>_<pid>.ports, so
 * that a launcher that started us as "nats-server" finds the file it waits
 * for. */
static void server_ports_path(const char *dir, char *path, size_t size)
{
    snprintf(path, size, "%s/%s_%d.ports", dir, program_invocation_short_name, (int)getpid());
}

/* One key of the ports file: the URLs a listener bound to ss is reached at,
 * as nats-server's formatURL: its own address, or, bound to the unspecified
 * address, every address of every interface. Nothing when there is none
 * (Go's omitempty). */
static void server_ports_urls(struct sbuf *b, const char *key, const char *scheme,
                              const struct sockaddr_storage *ss)
{
    enum { SERVER_MAX_IPS = 256 };
    char(*ips)[NET_IP_STRLEN] = xcalloc(SERVER_MAX_IPS, sizeof(*ips));
    size_t n = 1;
    if (net_addr_is_any(ss)) {
        n = net_all_ips(ips, SERVER_MAX_IPS);
        n = n < SERVER_MAX_IPS ? n : SERVER_MAX_IPS;
    } else {
        net_ip_str(ss, ips[0], sizeof(ips[0]));
    }
    if (n > 0) {
        sbuf_addf(b, "%s\"%s\":[", b->len > 1 ? "," : "", key);
        for (size_t i = 0; i < n; i++) {
            bool v6 = strchr(ips[i], ':') != NULL;
            sbuf_addf(b, "%s\"%s://%s%s%s:%d\"", i ? "," : "", scheme, v6 ? "[" : "", ips[i],
                      v6 ? "]" : "", net_addr_port(ss));
        }
        sbuf_addf(b, "]");
    }
    free(ips);
}

/* Write the ports file with the client, monitoring and cluster URLs, once
 * every listener is bound (nats-server's logPorts; natsd serves no profiler
 * and no websocket, so their keys never appear). Main thread. */
static void server_write_ports_file(struct server *s)
{
    const struct opts *o = server_opts(s);
    if (!o->ports_file_dir || !o->ports_file_dir[0])
        return;
    char path[4096];
    server_ports_path(o->ports_file_dir, path, sizeof(path));
    struct sbuf b = {0};
    struct sockaddr_storage ss;
    bool https;
    sbuf_addf(&b, "{");
    struct tls_ctx *tls = server_tls_ctx(s);
    if (s->listen_fd >= 0 && net_local_addr(s->listen_fd, &ss) == 0)
        server_ports_urls(&b, "nats", tls && !o->allow_non_tls ? "tls" : "nats", &ss);
    if (monitor_listen_addr(s, &ss, &https))
        server_ports_urls(&b, "monitoring", https ? "https" : "http", &ss);
    if (route_listen_addr(s, &ss))
        server_ports_urls(&b, "cluster", o->cluster.tls.set ? "tls" : "nats", &ss);
    sbuf_addf(&b, "}");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    char et[128];
    if (fd < 0) {
        server_errno_text(errno, et, sizeof(et));
        NLOG_ERROR("Error writing ports file (%s): open %s: %s", path, path, et);
    } else if (write(fd, b.p, b.len) != (ssize_t)b.len) {
        server_errno_text(errno, et, sizeof(et));
        NLOG_ERROR("Error writing ports file (%s): write %s: %s", path, path, et);
    }
    if (fd >= 0)
        close(fd);
    sbuf_free(&b);
}

static void server_delete_ports_file(const char *dir)
{
    if (!dir || !dir[0])
        return;
    char path[4096];
    server_ports_path(dir, path, sizeof(path));
    if (unlink(path) != 0) {
        char et[128];
        server_errno_text(errno, et, sizeof(et));
        NLOG_ERROR("Error cleaning up ports file %s: remove %s: %s", path, path, et);
    }
}

/* NOLINTNEXTLINE(readability-function-size): the server's construction in order, kept whole */
struct server *server_new(const struct opts *o)
{
    struct server *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->tls_rate.mu, NULL);
    atomic_store(&s->opts, o);
    s->first_opts = o;
    s->listen_fd = -1;
    proto_server_id(s->id);
    s->name = xstrdup(o->server_name ? o->server_name : s->id);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_unix_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    atomic_store(&s->epoch, 1);
    s->auth_required = auth_required(o);

    NLOG_INFO("Starting natsd");
    NLOG_INFO("  Version:  %s (nats-server protocol %s)", NATSD_VERSION, NATSD_PROTOCOL_VERSION);
    NLOG_INFO("  Git:      [not set]");
    if (o->cluster.name && o->cluster.name[0])
        NLOG_INFO("  Cluster:  %s", o->cluster.name);
    NLOG_INFO("  Name:     %s", s->name);
    NLOG_INFO("  ID:       %s", s->id);
    if (o->config_file)
        NLOG_INFO("Using configuration file: %s", o->config_file);
    for (size_t i = 0; i < o->unsupported.n; i++)
        NLOG_WARN("Option \"%s\" is not supported by natsd and is ignored", o->unsupported.v[i]);
    if (opts_has_plaintext_passwords(o))
        NLOG_WARN("Plaintext passwords detected, use nkeys or bcrypt");
    if (o->max_payload > 8 * 1024 * 1024)
        NLOG_WARN("Maximum payloads over 8.00 MB are generally discouraged and could lead to "
                  "poor performance");

    s->accounts = xcalloc(1, sizeof(*s->accounts));
    account_table_build(s->accounts, o);
    s->gacc = s->accounts->gacc;
    if (s->accounts->sysacc)
        NLOG_DEBUG("Created system account: \"%s\"", s->accounts->sysacc->name);
    s->tls_rate.limit = o->tls.set ? o->tls.connection_rate_limit : 0;
    if (o->tls.set) {
        char terr[1024];
        struct tls_ctx *x = server_new_tls_ctx(s, o, terr, sizeof(terr));
        if (!x) {
            NLOG_FATAL("Error creating the client TLS context: %s", terr);
            server_free(s);
            return NULL;
        }
        atomic_store(&s->tls_ctx, x);
    }
    s->nworkers = o->threads > 0 ? o->threads : server_cpus();
    /* a verifier per two CPUs (at least one, at most the pool's cap): under a
     * flood of bcrypt CONNECTs the loops keep the other half */
    s->authpool = authpool_new(server_cpus() / 2);
    s->workers = xcalloc((size_t)s->nworkers, sizeof(*s->workers));
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i] = worker_new(s, i);
        if (!s->workers[i]) {
            NLOG_FATAL("Error creating worker %d: %s", i, strerror(errno));
            server_free(s);
            return NULL;
        }
    }

    if (monitor_start(s) != 0) {
        server_free(s);
        return NULL;
    }
    if (o->cluster.port != 0 || o->gateway.port != 0)
        s->resolver = dial_resolver_new(DIAL_RESOLVER_THREADS, NULL);
    if (gateway_init(s) != 0) {
        server_free(s);
        return NULL;
    }
    char err[512];
    s->listen_fd = net_listen(o->host, o->port, err, sizeof(err));
    if (s->listen_fd < 0) {
        NLOG_FATAL("Error listening on port: %s:%d, \"%s\"", o->host ? o->host : "0.0.0.0", o->port,
                   err);
        server_free(s);
        return NULL;
    }
    s->port = net_local_port(s->listen_fd);
    s->listen_watch = (struct loop_watch){.fd = s->listen_fd, .cb = server_on_accept, .arg = s};
    loop_timer_init(&server_accept_timer, server_on_accept_timer, s);
    NLOG_INFO("Listening for client connections on %s:%d", o->host ? o->host : "0.0.0.0", s->port);
    if (atomic_load(&s->tls_ctx))
        NLOG_INFO("TLS required for client connections");
    if (route_init(s) != 0) {
        server_free(s);
        return NULL;
    }
    return s;
}

int server_start(struct server *s)
{
    /* Registered before worker 0 runs, so no thread races for its loop. */
    if (loop_watch_add(s->workers[0]->loop, &s->listen_watch, LOOP_READ) != 0) {
        NLOG_FATAL("Error watching the client listener: %s", strerror(errno));
        return -1;
    }
    if (s->tls_rate.limit > 0) {
        /* on worker 0's loop, armed before it runs (as the listener) */
        loop_timer_init(&s->tls_rate_timer, server_on_tls_rate_timer, s);
        loop_timer_arm(s->workers[0]->loop, &s->tls_rate_timer, SERVER_TLS_RATE_WINDOW_NS);
    }
    for (int i = 0; i < s->nworkers; i++) {
        int rc = worker_start(s->workers[i]);
        if (rc != 0) {
            NLOG_FATAL("Error starting worker %d: %s", i, strerror(-rc));
            return -1;
        }
    }
    /* its subscriptions exist before any route or gateway connects */
    if (sysacc_start(s) != 0)
        return -1;
    /* after every worker runs: route events may call into all of them */
    if (route_start(s) != 0)
        return -1;
    if (gateway_start(s) != 0)
        return -1;
    if (monitor_run(s) != 0)
        return -1;
    server_write_ports_file(s);
    NLOG_INFO("Server is ready");
    return 0;
}

void server_shutdown(struct server *s)
{
    monitor_stop(s);
    sysacc_stop(s); /* while the workers run: a handler may wait for them */
    atomic_store(&s->shutting_down, true);
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i])
            worker_stop(s->workers[i]);
    authpool_stop(s->authpool); /* after the workers: none queues a job now */
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    server_delete_ports_file(server_opts(s)->ports_file_dir);
}

bool server_tls_rate_allow(struct server *s)
{
    struct server_tls_rate *r = &s->tls_rate;
    if (r->limit <= 0)
        return true;
    uint64_t now = loop_clock_ns();
    pthread_mutex_lock(&r->mu);
    if (now > r->end_ns) {
        r->count = 0;
        r->end_ns = now + SERVER_TLS_RATE_WINDOW_NS;
    } else {
        r->count++;
    }
    bool allow = r->count < r->limit;
    if (!allow)
        r->blocked++;
    pthread_mutex_unlock(&r->mu);
    return allow;
}

static void server_on_tls_rate_timer(struct loop *l, struct loop_timer *t)
{
    struct server *s = t->arg;
    pthread_mutex_lock(&s->tls_rate.mu);
    uint64_t blocked = s->tls_rate.blocked;
    s->tls_rate.blocked = 0;
    pthread_mutex_unlock(&s->tls_rate.mu);
    if (blocked > 0)
        NLOG_WARN("Rejected %llu connections due to TLS rate limiting",
                  (unsigned long long)blocked);
    loop_timer_arm(l, t, SERVER_TLS_RATE_WINDOW_NS);
}

static struct tls_ctx *server_new_tls_ctx(struct server *s, const struct opts *o, char *err,
                                          size_t errsize)
{
    struct tls_ctx *x = tls_ctx_new_server(&o->tls, err, errsize);
    if (x && s->tls_rate.limit > 0)
        tls_ctx_set_admit(x, client_tls_admit, NULL);
    return x;
}

struct server_reload {
    struct tls_ctx *tls;     /* built from next's tls block; NULL: none */
    struct tls_ctx *old_tls; /* the server's reference to the replaced one */
    struct account_imports **old_imp;
    size_t n_old_imp;
};

int server_reload_prepare(struct server *s, const struct opts *next, struct server_reload **out,
                          char *err, size_t errsize)
{
    *out = NULL;
    if (account_table_check(s->accounts, next, err, errsize) != 0)
        return -1;
    struct server_reload *r = xcalloc(1, sizeof(*r));
    if (next->tls.set) {
        r->tls = server_new_tls_ctx(s, next, err, errsize);
        if (!r->tls) {
            free(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

void server_reload_abort(struct server_reload *r)
{
    if (!r)
        return;
    tls_ctx_free(r->tls);
    free(r->old_imp);
    free(r);
}

static void server_reload_collect(void *arg, struct account_imports *old)
{
    struct server_reload *r = arg;
    r->old_imp = xrealloc(r->old_imp, (r->n_old_imp + 1) * sizeof(*r->old_imp));
    r->old_imp[r->n_old_imp++] = old;
}

static void server_tls_ctx_release(void *p)
{
    tls_ctx_free(p);
}

/* Worker 0: what the reload replaced goes to the reclamation, tagged after
 * the new pointers were published, so it is freed once every worker has
 * finished the turn that may have read the old ones. */
static void server_task_retire(struct worker *w, void *arg)
{
    struct server_reload *r = arg;
    for (size_t i = 0; i < r->n_old_imp; i++)
        worker_retire(w, r->old_imp[i], account_imports_free);
    if (r->old_tls)
        worker_retire(w, r->old_tls, server_tls_ctx_release);
}

/* Each worker: its clients under the new options (reloadAuthorization). */
static void server_task_recheck(struct worker *w, void *arg)
{
    const struct opts *old = arg;
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->kind == CONN_KIND_CLIENT)
            client_reload(c, old);
        c = next;
    }
}

void server_reload(struct server *s, struct opts *next, struct server_reload *r)
{
    const struct opts *old = server_opts(s);
    /* accounts first: a client connecting meanwhile finds the accounts the
     * new users name */
    size_t nacc = atomic_load(&s->accounts->n);
    account_table_update(s->accounts, next, server_reload_collect, r);
    for (size_t i = nacc; i < atomic_load(&s->accounts->n); i++)
        gateway_account_added(s, s->accounts->v[i]);
    r->old_tls = atomic_exchange(&s->tls_ctx, r->tls);
    r->tls = NULL;
    if (old != s->first_opts) {
        s->old_opts = xrealloc(s->old_opts, (s->n_old_opts + 1) * sizeof(*s->old_opts));
        s->old_opts[s->n_old_opts++] = (struct opts *)old;
    }
    atomic_store(&s->opts, next);
    atomic_store(&s->auth_required, auth_required(next));
    if (strcmp(old->ports_file_dir ? old->ports_file_dir : "",
               next->ports_file_dir ? next->ports_file_dir : "") != 0) {
        /* portsFileDirOption: the old file goes, the new one is written */
        server_delete_ports_file(old->ports_file_dir);
        server_write_ports_file(s);
    }
    worker_call(s->workers[0], server_task_retire, r);
    /* old stays valid: replaced options are kept until shutdown */
    for (int i = 0; i < s->nworkers; i++)
        worker_call(s->workers[i], server_task_recheck, (void *)old);
    server_reload_abort(r);
}

void server_free(struct server *s)
{
    if (!s)
        return;
    const struct opts *cur = server_opts(s);
    if (cur != s->first_opts) {
        opts_free((struct opts *)cur);
        free((struct opts *)cur);
    }
    for (size_t i = 0; i < s->n_old_opts; i++) {
        opts_free(s->old_opts[i]);
        free(s->old_opts[i]);
    }
    free(s->old_opts);
    authpool_stop(s->authpool); /* jobs in flight go back to the workers */
    sysacc_stop(s);             /* before the monitor its handlers use */
    /* Workers are stopped: close what they own, then free them together (a
     * worker's retired objects may belong to another's connections). */
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i])
            while (s->workers[i]->conns)
                conn_close(s->workers[i]->conns, "Server Shutdown");
    monitor_free(s);
    route_free(s); /* its solicit timers and watches are on worker 0's loop */
    gateway_free(s);
    /* every dial is cancelled: no lookup answer is posted after this, and
     * those already posted are dropped by worker_free */
    dial_resolver_stop(s->resolver);
    s->resolver = NULL;
    for (int i = 0; i < s->nworkers; i++)
        worker_free(s->workers[i]);
    free(s->workers);
    sysacc_free(s); /* no worker matches its subscriptions any more */
    authpool_free(s->authpool);
    tls_ctx_free(atomic_load(&s->tls_ctx)); /* the server's reference */
    pthread_mutex_destroy(&s->tls_rate.mu);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->accounts)
        account_table_free(s->accounts);
    free(s->accounts);
    free(s->name);
    free(s);
}
