/* SPDX-License-Identifier: Apache-2.0
 * Connection and subscription figures for the monitor: snapshots of the
 * workers' connections (taken on each worker's own thread with worker_call),
 * subscription counts and lists read from the accounts' sublists, the ring of
 * recently closed client connections, and the /connz and /subsz endpoints
 * with nats-server's options, sort orders, pagination and errors.
 *
 * Locks: a sublist's read lock is held while its subscriptions are visited,
 * and a connection's out_mu is taken inside it for a subscription's counters
 * (nothing takes them in the other order); closed_mu only guards the ring's
 * slots, whose entries are immutable and reference counted, so readers copy
 * pointers and build JSON without it. */
#include "monitor_internal.h"

#include <string.h>
#include <strings.h>

#include "account.h"
#include "client.h"
#include "common.h"
#include "loop.h"
#include "mem.h"
#include "monitor.h"
#include "opts.h"
#include "route.h"
#include "server.h"
#include "subject.h"
#include "sublist.h"
#include "worker.h"

enum monitor_sort {
    MONITOR_SORT_CID = 0,
    MONITOR_SORT_START,
    MONITOR_SORT_SUBS,
    MONITOR_SORT_PENDING,
    MONITOR_SORT_MSGS_TO,
    MONITOR_SORT_MSGS_FROM,
    MONITOR_SORT_BYTES_TO,
    MONITOR_SORT_BYTES_FROM,
    MONITOR_SORT_LAST,
    MONITOR_SORT_IDLE,
    MONITOR_SORT_UPTIME,
    MONITOR_SORT_STOP,
    MONITOR_SORT_REASON,
};

/* nats-server's SortOpt values, indexed by enum monitor_sort. */
static const char *const monitor_sort_names[] = {
    "cid",        "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to",
    "bytes_from", "last",  "idle", "uptime",  "stop",    "reason",
};

static char *monitor_dup(const char *s)
{
    return s && s[0] ? xstrdup(s) : NULL;
}

static char *monitor_dupn(const char *s, size_t n)
{
    return s ? xstrndup(s, n) : NULL;
}

/* --- connection info */

static void monitor_sub_deinit(struct monitor_sub *sd)
{
    free(sd->account);
    free(sd->subject);
    free(sd->queue);
    free(sd->sid);
}

void monitor_conninfo_deinit(struct monitor_conninfo *ci)
{
    free(ci->reason);
    free(ci->name);
    free(ci->lang);
    free(ci->version);
    free(ci->user);
    free(ci->account);
    for (size_t i = 0; i < ci->nsublist; i++)
        monitor_sub_deinit(&ci->subs[i]);
    free(ci->subs);
    memset(ci, 0, sizeof(*ci));
}

void monitor_closed_unref(struct monitor_conninfo *ci)
{
    if (ci && atomic_fetch_sub(&ci->refs, 1) == 1) {
        monitor_conninfo_deinit(ci);
        free(ci);
    }
}

/* The user a client authenticated as, as nats-server's getRawAuthUser. */
static const char *monitor_raw_user(const struct conn *c)
{
    if (c->opts.nkey && c->opts.nkey[0])
        return c->opts.nkey;
    if (c->opts.user && c->opts.user[0])
        return c->opts.user;
    if (c->opts.auth_token && c->opts.auth_token[0])
        return c->opts.auth_token;
    return NULL;
}

/* Copy what /connz shows of c. Owner thread of c. */
static void monitor_conninfo_fill(struct monitor_conninfo *ci, struct conn *c, int64_t off)
{
    ci->cid = c->cid;
    ci->kind = c->kind;
    snprintf(ci->ip, sizeof(ci->ip), "%s", c->ip);
    ci->port = c->port;
    ci->start_ns = (int64_t)c->start_ns + off;
    ci->last_ns = (int64_t)c->last_activity_ns + off;
    ci->rtt_ns = c->rtt_ns;
    ci->tls_version = c->tls_version;
    ci->tls_cipher = c->tls_cipher;
    ci->in_msgs = c->in_msgs;
    ci->in_bytes = c->in_bytes;
    conn_lock_out(c);
    ci->out_msgs = c->out_msgs;
    ci->out_bytes = c->out_bytes;
    ci->pending = c->oq.pending;
    if (c->last_out_ns > c->last_activity_ns)
        ci->last_ns = (int64_t)c->last_out_ns + off;
    conn_unlock_out(c);
    ci->name = monitor_dup(c->opts.name);
    ci->lang = monitor_dup(c->opts.lang);
    ci->version = monitor_dup(c->opts.version);
    ci->user = monitor_dup(monitor_raw_user(c));
    ci->account = monitor_dup(c->acc ? c->acc->name : NULL);
}

/* --- snapshots */

struct monitor_snap_task {
    uint64_t cid;
    unsigned kinds;
    int64_t off;
    struct monitor_snap *out;
};

static void monitor_snap_worker(struct worker *w, void *arg)
{
    struct monitor_snap_task *t = arg;
    struct monitor_snap *snap = t->out;
    for (struct conn *c = w->conns; c; c = c->next) {
        if ((c->flags & CONN_F_CLOSING) || (t->cid && c->cid != t->cid) ||
            !(t->kinds & (1u << c->kind)))
            continue;
        if (snap->n == snap->cap) {
            snap->cap = snap->cap ? snap->cap * 2 : 64;
            snap->v = xrealloc(snap->v, snap->cap * sizeof(*snap->v));
        }
        struct monitor_conninfo *ci = &snap->v[snap->n++];
        memset(ci, 0, sizeof(*ci));
        monitor_conninfo_fill(ci, c, t->off);
    }
}

static int monitor_cmp_cid(const void *a, const void *b)
{
    uint64_t x = ((const struct monitor_conninfo *)a)->cid;
    uint64_t y = ((const struct monitor_conninfo *)b)->cid;
    return x < y ? -1 : x > y;
}

struct monitor_conninfo *monitor_snap_find(struct monitor_snap *snap, uint64_t cid)
{
    size_t lo = 0, hi = snap->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (snap->v[mid].cid < cid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < snap->n && snap->v[lo].cid == cid ? &snap->v[lo] : NULL;
}

static struct csub *monitor_csub(struct sub *sub)
{
    return (struct csub *)((char *)sub - offsetof(struct csub, sub));
}

/* Fill sd from a client subscription. The sublist's read lock (or the
 * owner's thread) keeps it alive; its counters are under out_mu. */
static void monitor_sub_fill(struct monitor_sub *sd, struct sub *sub, const char *account)
{
    struct csub *cs = monitor_csub(sub);
    struct conn *c = csub_conn(cs);
    memset(sd, 0, sizeof(*sd));
    sd->account = monitor_dup(account);
    sd->subject = monitor_dupn(sub->subject, sub->subject_len);
    sd->queue = sub->queue ? monitor_dupn(sub->queue, sub->queue_len) : NULL;
    sd->sid = monitor_dupn(csub_sid(cs), cs->sid_len);
    sd->cid = c->cid;
    conn_lock_out(c);
    sd->msgs = cs->delivered;
    sd->max = cs->max;
    conn_unlock_out(c);
}

/* Fill sd from a peer's interest held for route c, with the messages
 * routed on it (under c's out_mu). */
static void monitor_route_sub_fill(struct monitor_sub *sd, struct sub *sub, struct conn *c)
{
    const char *sid;
    size_t sid_len;
    route_sub_sid(sub, &sid, &sid_len);
    memset(sd, 0, sizeof(*sd));
    sd->subject = monitor_dupn(sub->subject, sub->subject_len);
    sd->queue = sub->queue ? monitor_dupn(sub->queue, sub->queue_len) : NULL;
    sd->sid = monitor_dupn(sid, sid_len);
    sd->cid = c->cid;
    conn_lock_out(c);
    sd->msgs = route_sub_msgs(sub);
    conn_unlock_out(c);
}

struct monitor_count_walk {
    struct monitor_snap *snap;
    unsigned kinds; /* 1 << CONN_KIND_*: whose subscriptions count */
    bool lists;
};

static void monitor_count_sub(struct sub *sub, void *arg)
{
    struct monitor_count_walk *cw = arg;
    struct conn *c = sub->owner;
    if (!c || !(cw->kinds & (1u << c->kind)) || c->kind == CONN_KIND_GATEWAY)
        return;
    struct monitor_conninfo *ci = monitor_snap_find(cw->snap, c->cid);
    if (!ci)
        return;
    ci->nsubs++;
    if (!cw->lists)
        return;
    ci->subs = xrealloc(ci->subs, (ci->nsublist + 1) * sizeof(*ci->subs));
    if (c->kind == CONN_KIND_ROUTE)
        monitor_route_sub_fill(&ci->subs[ci->nsublist++], sub, c);
    else
        monitor_sub_fill(&ci->subs[ci->nsublist++], sub, NULL);
}

void monitor_snapshot(struct monitor *m, unsigned kinds, uint64_t cid, bool counts, bool lists,
                      struct monitor_snap *out)
{
    struct server *s = m->s;
    memset(out, 0, sizeof(*out));
    struct monitor_snap_task t = {
        .cid = cid, .kinds = kinds, .off = monitor_mono_to_wall(), .out = out};
    for (int i = 0; i < s->nworkers; i++)
        worker_call(s->workers[i], monitor_snap_worker, &t);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), monitor_cmp_cid);
    if (!counts || out->n == 0)
        return;
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    struct monitor_count_walk cw = {.snap = out, .kinds = kinds, .lists = lists};
    for (size_t i = 0; i < na; i++)
        sublist_for_each(accs[i]->sl, monitor_count_sub, &cw);
    free(accs);
}

void monitor_snap_free(struct monitor_snap *snap)
{
    for (size_t i = 0; i < snap->n; i++)
        monitor_conninfo_deinit(&snap->v[i]);
    free(snap->v);
    memset(snap, 0, sizeof(*snap));
}

/* --- closed connections */

void monitor_conn_closed(struct conn *c, struct sub *const *subs, size_t n)
{
    struct server *s = c->s;
    struct monitor *m = s->monitor;
    if (!m)
        return;
    struct monitor_conninfo *ci = xcalloc(1, sizeof(*ci));
    atomic_init(&ci->refs, 1);
    monitor_conninfo_fill(ci, c, monitor_mono_to_wall());
    ci->stop_ns = monitor_wall_ns();
    ci->reason = xstrdup(c->close_reason ? c->close_reason : "Client Closed");
    ci->nsubs = (uint32_t)n;
    if (n > 0) {
        const char *acc = c->acc ? c->acc->name : NULL;
        ci->subs = xcalloc(n, sizeof(*ci->subs));
        for (size_t i = 0; i < n; i++)
            monitor_sub_fill(&ci->subs[i], subs[i], acc);
        ci->nsublist = n;
    }
    struct monitor_conninfo *old = NULL;
    pthread_mutex_lock(&m->closed_mu);
    if (m->closed_n == MONITOR_MAX_CLOSED)
        old = m->closed[m->closed_head];
    else
        m->closed_n++;
    m->closed[m->closed_head] = ci;
    m->closed_head = (m->closed_head + 1) % MONITOR_MAX_CLOSED;
    pthread_mutex_unlock(&m->closed_mu);
    monitor_closed_unref(old);
}

/* References to the closed entries, oldest first. Caller unrefs each. */
static struct monitor_conninfo **monitor_closed_list(struct monitor *m, size_t *n)
{
    pthread_mutex_lock(&m->closed_mu);
    size_t cnt = m->closed_n;
    struct monitor_conninfo **v = xmalloc((cnt ? cnt : 1) * sizeof(*v));
    for (size_t i = 0; i < cnt; i++) {
        size_t idx = (m->closed_head + MONITOR_MAX_CLOSED - cnt + i) % MONITOR_MAX_CLOSED;
        v[i] = m->closed[idx];
        atomic_fetch_add(&v[i]->refs, 1);
    }
    pthread_mutex_unlock(&m->closed_mu);
    *n = cnt;
    return v;
}

/* --- ConnInfo JSON */

static cJSON *monitor_sub_json(const struct monitor_sub *sd)
{
    cJSON *j = cJSON_CreateObject();
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): callers pass a filled entry */
    if (sd->account)
        monitor_json_str(j, "account", sd->account);
    monitor_json_str(j, "subject", sd->subject);
    if (sd->queue)
        monitor_json_str(j, "qgroup", sd->queue);
    monitor_json_str(j, "sid", sd->sid);
    monitor_json_u64(j, "msgs", sd->msgs);
    if (sd->max)
        monitor_json_u64(j, "max", sd->max);
    monitor_json_u64(j, "cid", sd->cid);
    return j;
}

/* Go's getRTT: whole microseconds between 1us and 1ms, else nanoseconds. */
static void monitor_rtt_str(uint64_t rtt, char *buf, size_t size)
{
    if (rtt > 1000 && rtt < 1000000)
        rtt -= rtt % 1000;
    monitor_duration_str((int64_t)rtt, buf, size);
}

static const char *monitor_kind_name(enum conn_kind k)
{
    switch (k) {
    case CONN_KIND_ROUTE:
        return "Router";
    case CONN_KIND_GATEWAY:
        return "Gateway";
    default:
        return "Client";
    }
}

cJSON *monitor_conninfo_json(const struct monitor_conninfo *ci, int64_t now_ns, bool auth,
                             bool subs, bool detail)
{
    char buf[64];
    int64_t end = ci->stop_ns ? ci->stop_ns : now_ns;
    cJSON *j = cJSON_CreateObject();
    monitor_json_u64(j, "cid", ci->cid);
    monitor_json_str(j, "kind", monitor_kind_name(ci->kind));
    if (ci->kind == CONN_KIND_CLIENT)
        monitor_json_str(j, "type", "nats");
    monitor_json_str(j, "ip", ci->ip);
    monitor_json_i64(j, "port", ci->port);
    monitor_json_time(j, "start", ci->start_ns);
    monitor_json_time(j, "last_activity", ci->last_ns);
    if (ci->stop_ns) {
        monitor_json_time(j, "stop", ci->stop_ns);
        monitor_json_str(j, "reason", ci->reason);
    }
    monitor_rtt_str(ci->rtt_ns, buf, sizeof(buf));
    monitor_json_str(j, "rtt", buf);
    monitor_uptime_str(end - ci->start_ns, buf, sizeof(buf));
    monitor_json_str(j, "uptime", buf);
    monitor_uptime_str(end - ci->last_ns, buf, sizeof(buf));
    monitor_json_str(j, "idle", buf);
    monitor_json_u64(j, "pending_bytes", ci->pending);
    monitor_json_u64(j, "in_msgs", ci->in_msgs);
    monitor_json_u64(j, "out_msgs", ci->out_msgs);
    monitor_json_u64(j, "in_bytes", ci->in_bytes);
    monitor_json_u64(j, "out_bytes", ci->out_bytes);
    monitor_json_u64(j, "subscriptions", ci->nsubs);
    if (ci->name)
        monitor_json_str(j, "name", ci->name);
    if (ci->lang)
        monitor_json_str(j, "lang", ci->lang);
    if (ci->version)
        monitor_json_str(j, "version", ci->version);
    if (ci->tls_version)
        monitor_json_str(j, "tls_version", ci->tls_version);
    if (ci->tls_cipher)
        monitor_json_str(j, "tls_cipher_suite", ci->tls_cipher);
    if (auth) {
        if (ci->user)
            monitor_json_str(j, "authorized_user", ci->user);
        if (ci->account && strcmp(ci->account, ACCOUNT_GLOBAL) != 0)
            monitor_json_str(j, "account", ci->account);
    }
    if (subs || detail)
        monitor_subs_json(j, ci, detail);
    return j;
}

void monitor_subs_json(cJSON *j, const struct monitor_conninfo *ci, bool detail)
{
    if (ci->nsublist == 0)
        return;
    cJSON *a =
        cJSON_AddArrayToObject(j, detail ? "subscriptions_list_detail" : "subscriptions_list");
    for (size_t i = 0; i < ci->nsublist; i++) {
        if (detail) {
            /* open connections list theirs without the account, closed
             * ones with it (newClientSubDetail vs newSubDetail) */
            struct monitor_sub sd = ci->subs[i];
            if (!ci->stop_ns)
                sd.account = NULL;
            cJSON_AddItemToArray(a, monitor_sub_json(&sd));
        } else {
            cJSON_AddItemToArray(a, cJSON_CreateString(ci->subs[i].subject));
        }
    }
}

/* --- /connz */

struct monitor_connz_opts {
    enum monitor_sort sort;
    bool auth, subs, detail;
    int64_t offset, limit;
    uint64_t cid;
    int state; /* 0 open, 1 closed, 2 all */
    const char *user, *acc, *mqtt;
    int64_t now;
};

/* Sort key comparison: qsort with the connz options in a thread-local. */
static _Thread_local const struct monitor_connz_opts *monitor_sort_opts;

#define MONITOR_CMP(x, y) ((x) < (y) ? -1 : (x) > (y))

static int monitor_cmp_conns(const void *pa, const void *pb)
{
    const struct monitor_conninfo *a = *(const struct monitor_conninfo *const *)pa;
    const struct monitor_conninfo *b = *(const struct monitor_conninfo *const *)pb;
    const struct monitor_connz_opts *o = monitor_sort_opts;
    int r = 0;
    switch (o->sort) {
    case MONITOR_SORT_CID:
    case MONITOR_SORT_START:
        break;
    case MONITOR_SORT_SUBS:
        r = -MONITOR_CMP(a->nsubs, b->nsubs);
        break;
    case MONITOR_SORT_PENDING:
        r = -MONITOR_CMP(a->pending, b->pending);
        break;
    case MONITOR_SORT_MSGS_TO:
        r = -MONITOR_CMP(a->out_msgs, b->out_msgs);
        break;
    case MONITOR_SORT_MSGS_FROM:
        r = -MONITOR_CMP(a->in_msgs, b->in_msgs);
        break;
    case MONITOR_SORT_BYTES_TO:
        r = -MONITOR_CMP(a->out_bytes, b->out_bytes);
        break;
    case MONITOR_SORT_BYTES_FROM:
        r = -MONITOR_CMP(a->in_bytes, b->in_bytes);
        break;
    case MONITOR_SORT_LAST:
        r = -MONITOR_CMP(a->last_ns, b->last_ns);
        break;
    case MONITOR_SORT_IDLE:
        /* nats-server's byIdle compares last activity minus start */
        r = -MONITOR_CMP(a->last_ns - a->start_ns, b->last_ns - b->start_ns);
        break;
    case MONITOR_SORT_UPTIME: {
        int64_t ua = (a->stop_ns ? a->stop_ns : o->now) - a->start_ns;
        int64_t ub = (b->stop_ns ? b->stop_ns : o->now) - b->start_ns;
        r = MONITOR_CMP(ua, ub);
        break;
    }
    case MONITOR_SORT_STOP:
        r = -MONITOR_CMP(a->stop_ns, b->stop_ns);
        break;
    case MONITOR_SORT_REASON:
        r = strcmp(a->reason ? a->reason : "", b->reason ? b->reason : "");
        break;
    }
    return r ? r : MONITOR_CMP(a->cid, b->cid);
}

static int monitor_connz_parse(const struct monitor_req *rq, struct monitor_connz_opts *o,
                               struct monitor_reply *r)
{
    memset(o, 0, sizeof(*o));
    const char *sort = monitor_arg(rq, "sort");
    if (monitor_arg_bool(rq, "auth", &o->auth, r) != 0)
        return -1;
    o->detail = strcasecmp(monitor_arg(rq, "subs"), "detail") == 0;
    if (!o->detail && monitor_arg_bool(rq, "subs", &o->subs, r) != 0)
        return -1;
    if (monitor_arg_int(rq, "offset", &o->offset, r) != 0 ||
        monitor_arg_int(rq, "limit", &o->limit, r) != 0 ||
        monitor_arg_u64(rq, "cid", &o->cid, r) != 0)
        return -1;
    const char *state = monitor_arg(rq, "state");
    if (!state[0] || strcasecmp(state, "open") == 0) {
        o->state = 0;
    } else if (strcasecmp(state, "closed") == 0) {
        o->state = 1;
    } else if (strcasecmp(state, "any") == 0 || strcasecmp(state, "all") == 0) {
        o->state = 2;
    } else {
        monitor_reply_textf(r, 400, "Error decoding state for %s", state);
        return -1;
    }
    o->user = monitor_arg(rq, "user");
    o->acc = monitor_arg(rq, "acc");
    o->mqtt = monitor_arg(rq, "mqtt_client");
    atomic_fetch_add(&rq->m->stats[MONITOR_STAT_CONNZ], 1);

    /* the checks of nats-server's Connz() */
    o->sort = MONITOR_SORT_CID;
    if (sort[0]) {
        size_t i;
        for (i = 0; i < ARRAY_LEN(monitor_sort_names); i++)
            if (strcmp(sort, monitor_sort_names[i]) == 0)
                break;
        if (i == ARRAY_LEN(monitor_sort_names)) {
            monitor_reply_textf(r, 400, "invalid sorting option: %s", sort);
            return -1;
        }
        o->sort = (enum monitor_sort)i;
    }
    if (o->offset < 0)
        o->offset = 0;
    if (o->limit <= 0)
        o->limit = MONITOR_DEFAULT_LIMIT;
    if (o->sort == MONITOR_SORT_STOP && o->state != 1) {
        monitor_reply_text(r, 400, "sort by stop only valid on closed connections");
        return -1;
    }
    if (o->sort == MONITOR_SORT_REASON && o->state != 1) {
        monitor_reply_text(r, 400, "sort by reason only valid on closed connections");
        return -1;
    }
    if (o->cid > 0)
        o->limit = 1;
    return 0;
}

static bool monitor_connz_acc_known(struct server *s, const char *acc)
{
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    bool found = false;
    for (size_t i = 0; i < na && !found; i++)
        found = strcmp(accs[i]->name, acc) == 0;
    free(accs);
    if (found)
        return true;
    const char *sys = monitor_system_account(s);
    return sys && strcmp(sys, acc) == 0;
}

/* A closed connection's account as nats-server keeps it: "" for $G. */
static const char *monitor_closed_acc(const struct monitor_conninfo *ci)
{
    return ci->account && strcmp(ci->account, ACCOUNT_GLOBAL) != 0 ? ci->account : "";
}

/* NOLINTNEXTLINE(readability-function-size): one /connz document in one place */
void monitor_connz(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    struct monitor_connz_opts o;
    if (monitor_connz_parse(rq, &o, r) != 0)
        return;
    o.now = monitor_wall_ns();

    cJSON *j = cJSON_CreateObject();
    if (o.acc[0] && !monitor_connz_acc_known(s, o.acc)) {
        /* nats-server returns before filling anything else */
        monitor_json_str(j, "server_id", "");
        monitor_json_time(j, "now", o.now);
        monitor_json_i64(j, "num_connections", 0);
        monitor_json_i64(j, "total", 0);
        monitor_json_i64(j, "offset", o.offset);
        monitor_json_i64(j, "limit", o.limit);
        cJSON_AddNullToObject(j, "connections");
        monitor_reply_json(r, j, false);
        return;
    }

    struct monitor_snap snap = {0};
    struct monitor_conninfo **closed = NULL;
    size_t nclosed = 0;
    bool want_lists = o.subs || o.detail;
    int64_t total = 0;
    /* open clients: counted before any filter, as nats-server's Total */
    if (o.state != 1) {
        uint64_t cid = o.state == 0 ? o.cid : 0;
        monitor_snapshot(m, 1u << CONN_KIND_CLIENT, 0, true, want_lists, &snap);
        size_t keep = 0;
        for (size_t i = 0; i < snap.n; i++) {
            struct monitor_conninfo *ci = &snap.v[i];
            bool ok = ci->kind == CONN_KIND_CLIENT &&
                      (!o.acc[0] || (ci->account && strcmp(ci->account, o.acc) == 0));
            if (ok)
                total++;
            if (ok && o.cid > 0)
                ok = o.state == 0 && ci->cid == cid;
            if (ok && o.cid == 0 && o.user[0])
                ok = ci->user && strcmp(ci->user, o.user) == 0;
            if (ok && o.cid == 0 && o.mqtt[0])
                ok = false; /* natsd has no MQTT clients */
            if (!ok) {
                monitor_conninfo_deinit(ci);
                continue;
            }
            if (keep != i)
                snap.v[keep] = *ci;
            keep++;
        }
        snap.n = keep;
    }
    if (o.state != 0) {
        closed = monitor_closed_list(m, &nclosed);
        size_t keep = 0;
        int64_t ctotal = 0;
        for (size_t i = 0; i < nclosed; i++) {
            struct monitor_conninfo *ci = closed[i];
            bool ok = !o.acc[0] || strcmp(monitor_closed_acc(ci), o.acc) == 0;
            if (ok)
                ctotal++;
            if (ok && o.cid > 0)
                ok = ci->cid == o.cid;
            if (ok && o.cid == 0 && o.user[0])
                ok = ci->user && strcmp(ci->user, o.user) == 0;
            if (ok && o.cid == 0 && o.mqtt[0])
                ok = false;
            if (!ok) {
                monitor_closed_unref(ci);
                continue;
            }
            closed[keep++] = ci;
        }
        nclosed = keep;
        total += ctotal;
    }

    size_t n = snap.n + nclosed;
    const struct monitor_conninfo **list = xmalloc((n ? n : 1) * sizeof(*list));
    for (size_t i = 0; i < snap.n; i++)
        list[i] = &snap.v[i];
    for (size_t i = 0; i < nclosed; i++)
        list[snap.n + i] = closed[i];
    monitor_sort_opts = &o;
    qsort(list, n, sizeof(*list), monitor_cmp_conns);
    monitor_sort_opts = NULL;

    size_t minoff = (size_t)o.offset > n ? n : (size_t)o.offset;
    size_t maxoff = (uint64_t)o.offset + (uint64_t)o.limit > n ? n : (size_t)(o.offset + o.limit);
    monitor_json_str(j, "server_id", s->id);
    monitor_json_time(j, "now", o.now);
    monitor_json_i64(j, "num_connections", (int64_t)(maxoff - minoff));
    monitor_json_i64(j, "total", total);
    monitor_json_i64(j, "offset", o.offset);
    monitor_json_i64(j, "limit", o.limit);
    cJSON *a = cJSON_AddArrayToObject(j, "connections");
    for (size_t i = minoff; i < maxoff; i++)
        cJSON_AddItemToArray(a, monitor_conninfo_json(list[i], o.now, o.auth, o.subs, o.detail));
    free(list);
    for (size_t i = 0; i < nclosed; i++)
        monitor_closed_unref(closed[i]);
    free(closed);
    monitor_snap_free(&snap);
    monitor_reply_json(r, j, false);
}

/* --- sublist statistics */

struct monitor_cache_task {
    uint64_t n;
};

static void monitor_cache_worker(struct worker *w, void *arg)
{
    struct monitor_cache_task *t = arg;
    t->n += sublist_cache_count(w->cache);
}

void monitor_sublist_stats(struct monitor *m, const char *acc, cJSON *into)
{
    struct server *s = m->s;
    struct account **accs;
    size_t na = monitor_accounts(s, &accs);
    uint64_t nsubs = 0, ins = 0, rem = 0, matches = 0, hits = 0, maxf = 0;
    double totf = 0, cnt = 0;
    bool any = false;
    for (size_t i = 0; i < na; i++) {
        if (acc && strcmp(accs[i]->name, acc) != 0)
            continue;
        any = true;
        struct sublist_stats st;
        sublist_get_stats(accs[i]->sl, &st);
        nsubs += st.nsubs;
        ins += st.num_inserts;
        rem += st.num_removes;
        matches += st.num_matches;
        hits += st.cache_hits;
        if (st.max_fanout > maxf)
            maxf = st.max_fanout;
        uint64_t computed = st.num_matches - st.cache_hits;
        if (st.num_matches > 0 && computed > 0) {
            totf += st.avg_fanout * (double)computed;
            cnt += (double)computed;
        }
    }
    /* the match caches are per worker and shared by the accounts */
    struct monitor_cache_task ct = {0};
    if (any)
        for (int i = 0; i < s->nworkers; i++)
            worker_call(s->workers[i], monitor_cache_worker, &ct);
    free(accs);
    monitor_json_u64(into, "num_subscriptions", nsubs);
    monitor_json_u64(into, "num_cache", ct.n);
    monitor_json_u64(into, "num_inserts", ins);
    monitor_json_u64(into, "num_removes", rem);
    monitor_json_u64(into, "num_matches", matches);
    monitor_json_f64(into, "cache_hit_rate", matches ? (double)hits / (double)matches : 0);
    monitor_json_u64(into, "max_fanout", maxf);
    monitor_json_f64(into, "avg_fanout", cnt > 0 ? totf / cnt : 0);
}

/* --- /subsz */

struct monitor_subsz_walk {
    const char *acc;
    const char *test;
    size_t test_len;
    struct monitor_sub *v;
    size_t n, cap;
};

static void monitor_subsz_sub(struct sub *sub, void *arg)
{
    struct monitor_subsz_walk *sw = arg;
    struct conn *c = sub->owner;
    /* the system account's internal client is listed as nats-server lists
     * its own */
    if (!c || (c->kind != CONN_KIND_CLIENT && c->kind != CONN_KIND_SYSTEM))
        return;
    if (sw->test && !subject_matches(sub->subject, sub->subject_len, sw->test, sw->test_len))
        return;
    if (sw->n == sw->cap) {
        sw->cap = sw->cap ? sw->cap * 2 : 64;
        sw->v = xrealloc(sw->v, sw->cap * sizeof(*sw->v));
    }
    monitor_sub_fill(&sw->v[sw->n++], sub, sw->acc);
}

void monitor_subsz(const struct monitor_req *rq, struct monitor_reply *r)
{
    struct monitor *m = rq->m;
    struct server *s = m->s;
    bool subs;
    int64_t offset, limit;
    if (monitor_arg_bool(rq, "subs", &subs, r) != 0 ||
        monitor_arg_int(rq, "offset", &offset, r) != 0 ||
        monitor_arg_int(rq, "limit", &limit, r) != 0)
        return;
    const char *test = monitor_arg(rq, "test");
    const char *acc = monitor_arg(rq, "acc");
    if (offset < 0)
        offset = 0;
    if (limit <= 0)
        limit = MONITOR_DEFAULT_LIMIT;
    if (test[0] &&
        !(subject_is_valid(test, strlen(test)) && subject_is_literal(test, strlen(test)))) {
        monitor_reply_textf(r, 400, "invalid test subject, must be valid publish subject: %s",
                            test);
        return;
    }
    cJSON *stats = cJSON_CreateObject();
    monitor_sublist_stats(m, acc[0] ? acc : NULL, stats);
    struct monitor_subsz_walk sw = {.test = test[0] ? test : NULL, .test_len = strlen(test)};
    if (subs) {
        struct account **accs;
        size_t na = monitor_accounts(s, &accs);
        for (size_t i = 0; i < na; i++) {
            if (acc[0] && strcmp(accs[i]->name, acc) != 0)
                continue;
            sw.acc = accs[i]->name;
            sublist_for_each(accs[i]->sl, monitor_subsz_sub, &sw);
        }
        free(accs);
    }
    size_t minoff = (size_t)offset > sw.n ? sw.n : (size_t)offset;
    size_t maxoff = (uint64_t)offset + (uint64_t)limit > sw.n ? sw.n : (size_t)(offset + limit);
    if (maxoff == minoff && !rq->sys) {
        /* an empty list: nats-server's HTTP handler prints the statistics
         * alone (the system account gets the whole document) */
        for (size_t i = 0; i < sw.n; i++)
            monitor_sub_deinit(&sw.v[i]);
        free(sw.v);
        monitor_reply_json(r, stats, false);
        return;
    }
    cJSON *j = cJSON_CreateObject();
    monitor_json_str(j, "server_id", s->id);
    monitor_json_time(j, "now", monitor_wall_ns());
    while (stats->child) {
        cJSON *it = cJSON_DetachItemViaPointer(stats, stats->child);
        cJSON_AddItemToObject(j, it->string, it);
    }
    cJSON_Delete(stats);
    monitor_json_i64(j, "total", (int64_t)(maxoff - minoff));
    monitor_json_i64(j, "offset", offset);
    monitor_json_i64(j, "limit", limit);
    if (maxoff > minoff) {
        cJSON *a = cJSON_AddArrayToObject(j, "subscriptions_list");
        for (size_t i = minoff; i < maxoff; i++)
            cJSON_AddItemToArray(a, monitor_sub_json(&sw.v[i]));
    }
    for (size_t i = 0; i < sw.n; i++)
        monitor_sub_deinit(&sw.v[i]);
    free(sw.v);
    monitor_reply_json(r, j, false);
}
