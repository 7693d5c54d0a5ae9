/* SPDX-License-Identifier: Apache-2.0
 * Private to the monitor_*.c files: the monitor's state, the connection
 * snapshots the endpoints are built from, the request context, and the JSON
 * helpers (cJSON trees printed the way Go's encoding/json prints them). */
#ifndef NATSD_MONITOR_INTERNAL_H
#define NATSD_MONITOR_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "conn.h"

struct server;
struct sbuf;
struct MHD_Daemon;

/* nats-server's DEFAULT_MAX_CLOSED_CLIENTS. */
#define MONITOR_MAX_CLOSED 10000
/* nats-server's DefaultConnListSize and DefaultSubListSize. */
#define MONITOR_DEFAULT_LIMIT 1024

/* The paths nats-server counts in http_req_stats, in the sorted order Go
 * prints a map's keys in. */
enum monitor_stat {
    MONITOR_STAT_ROOT = 0, /* "/" */
    MONITOR_STAT_ACCSTATZ,
    MONITOR_STAT_ACCOUNTZ,
    MONITOR_STAT_CONNZ,
    MONITOR_STAT_GATEWAYZ,
    MONITOR_STAT_HEALTHZ,
    MONITOR_STAT_JSZ,
    MONITOR_STAT_LEAFZ,
    MONITOR_STAT_ROUTEZ,
    MONITOR_STAT_SUBSZ,
    MONITOR_STAT_VARZ,
    MONITOR_STAT_COUNT,
};

/* One subscription as /connz and /subsz report it (SubDetail). Owns its
 * strings. */
struct monitor_sub {
    char *account; /* NULL: not reported */
    char *subject;
    char *queue; /* NULL: none */
    char *sid;
    uint64_t msgs;
    uint64_t max;
    uint64_t cid;
};

/* One connection as /connz reports it (ConnInfo), copied on its owner's
 * thread or when it closed. Owns its strings and subs. */
struct monitor_conninfo {
    atomic_int refs; /* closed ring entries: shared with readers */
    uint64_t cid;
    enum conn_kind kind;
    char ip[INET6_ADDRSTRLEN];
    int port;
    int64_t start_ns; /* wall clock, Unix ns */
    int64_t last_ns;
    int64_t stop_ns; /* 0: open */
    char *reason;    /* closed only */
    uint64_t rtt_ns;
    uint64_t pending;
    uint64_t in_msgs, out_msgs, in_bytes, out_bytes;
    uint32_t nsubs;
    char *name, *lang, *version;
    /* static strings; NULL: no TLS */
    const char *tls_version, *tls_cipher;
    char *user;    /* raw authenticated user (getRawAuthUser), NULL: none */
    char *account; /* account name */
    struct monitor_sub *subs;
    size_t nsublist; /* entries in subs (may be fewer than nsubs: open conns
                      * only get them when asked) */
};

struct monitor {
    struct server *s;
    bool http; /* an HTTP(S) listener (else only the system account's requests) */
    struct MHD_Daemon *d;
    int listen_fd;                 /* -1 once MHD owns it */
    int port;                      /* actual */
    struct sockaddr_storage bound; /* the listener's address */
    bool https;
    char *tls_cert; /* PEM text, https only */
    char *tls_key;
    char *base; /* normalised http_base_path: "/" or "/a/b" */

    atomic_uint_fast64_t stats[MONITOR_STAT_COUNT];

    /* CPU sampling, as nats-server's pse: at most once a second. */
    pthread_mutex_t cpu_mu;
    int64_t cpu_last_ticks;
    double cpu_last_secs;
    double pcpu;

    /* Recently closed client connections: a ring of MONITOR_MAX_CLOSED. */
    pthread_mutex_t closed_mu;
    struct monitor_conninfo **closed; /* ring storage, refcounted entries */
    size_t closed_head;               /* next slot to write */
    size_t closed_n;
};

/* A request's outcome: HTTP status, body (malloc'd), content type. */
struct monitor_reply {
    int status;
    char *body;
    size_t len;
    const char *ctype;
    bool nosniff;
};

/* The query parameters of one request: an HTTP request's, or, for a
 * request of the system account (mhd_conn NULL), the nkv (name, value)
 * pairs kv[0..2 * nkv) decoded from its JSON body. */
struct monitor_req {
    struct monitor *m;
    void *mhd_conn; /* struct MHD_Connection * */
    const char *const *kv;
    size_t nkv;
    /* a request of the system account: the document nats-server's endpoint
     * function returns, where its HTTP handler prints only a part */
    bool sys;
};

/* --- monitor.c: helpers shared by the endpoint files */

/* The value of query parameter name, "" when absent. */
const char *monitor_arg(const struct monitor_req *rq, const char *name);

/* Go's strconv.ParseBool / Atoi / ParseUint(10, 64) of parameter name, as
 * nats-server's decodeBool/decodeInt/decodeUint64: an absent or empty value is
 * false/0. On a bad value fills r with HTTP 400 and nats-server's text and
 * returns -1. */
int monitor_arg_bool(const struct monitor_req *rq, const char *name, bool *out,
                     struct monitor_reply *r);
int monitor_arg_int(const struct monitor_req *rq, const char *name, int64_t *out,
                    struct monitor_reply *r);
int monitor_arg_u64(const struct monitor_req *rq, const char *name, uint64_t *out,
                    struct monitor_reply *r);

/* Fill r with status and a plain-text message (copied). */
void monitor_reply_text(struct monitor_reply *r, int status, const char *text);
/* The same with a printf format, of any length. */
void monitor_reply_textf(struct monitor_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill r with root printed as Go's json.MarshalIndent(v, "", "  ") (or
 * json.Marshal when compact); frees root. */
void monitor_reply_json(struct monitor_reply *r, cJSON *root, bool compact);

/* Wall clock now in Unix ns, and the offset that turns a loop_clock_ns()
 * reading into wall time. */
int64_t monitor_wall_ns(void);
int64_t monitor_mono_to_wall(void);

/* JSON values as Go prints them. */
void monitor_json_time(cJSON *obj, const char *key, int64_t unix_ns); /* RFC3339Nano, UTC */
void monitor_json_u64(cJSON *obj, const char *key, uint64_t v);
void monitor_json_i64(cJSON *obj, const char *key, int64_t v);
void monitor_json_f64(cJSON *obj, const char *key, double v);
void monitor_json_str(cJSON *obj, const char *key, const char *v);
void monitor_json_bool(cJSON *obj, const char *key, bool v);
/* Go's shortest float text, as encoding/json writes a float64. */
void monitor_go_float(double f, char *out, size_t size);
/* Go's time.Duration.String(), and nats-server's myUptime (d in ns). */
void monitor_duration_str(int64_t d, char *buf, size_t size);
void monitor_uptime_str(int64_t d, char *buf, size_t size);
/* Go's strconv.Quote of s, appended to b. */
void monitor_go_quote(struct sbuf *b, const char *s);

/* The accounts the server has, in nats-server's listing order, without those
 * a reload removed: a new array in *out, which the caller frees. */
struct account;
size_t monitor_accounts(struct server *s, struct account ***out);

/* --- monitor_connz.c */

/* A snapshot of the connections of every worker whose kind is in the mask
 * kinds (1u << CONN_KIND_x), taken on each worker's own thread, sorted by cid.
 * With cid != 0 only that connection.
 * counts: fill nsubs from the accounts' sublists; lists: also fill subs. */
struct monitor_snap {
    struct monitor_conninfo *v;
    size_t n, cap;
};
void monitor_snapshot(struct monitor *m, unsigned kinds, uint64_t cid, bool counts, bool lists,
                      struct monitor_snap *out);
void monitor_snap_free(struct monitor_snap *snap);
/* Add ci's subscriptions to j as "subscriptions_list" (subjects) or, with
 * detail, "subscriptions_list_detail"; nothing when it has none listed. */
void monitor_subs_json(cJSON *j, const struct monitor_conninfo *ci, bool detail);
/* The entry of connection cid in snap, or NULL. */
struct monitor_conninfo *monitor_snap_find(struct monitor_snap *snap, uint64_t cid);
void monitor_conninfo_deinit(struct monitor_conninfo *ci);
/* Drop a reference to a closed-ring entry (freed with the last one). */
void monitor_closed_unref(struct monitor_conninfo *ci);

/* The endpoints. Each fills r. */
void monitor_connz(const struct monitor_req *rq, struct monitor_reply *r);
void monitor_subsz(const struct monitor_req *rq, struct monitor_reply *r);

/* Sublist statistics of every account (or of the one named acc), summed as
 * nats-server's SublistStats.add; num_cache from the workers' caches. */
void monitor_sublist_stats(struct monitor *m, const char *acc, cJSON *into);

/* The ConnInfo object of ci (shared by /connz and /gatewayz). */
cJSON *monitor_conninfo_json(const struct monitor_conninfo *ci, int64_t now_ns, bool auth,
                             bool subs, bool detail);

/* --- monitor_metrics.c */
void monitor_metrics(const struct monitor_req *rq, struct monitor_reply *r);

/* --- monitor.c endpoints used by metrics */
struct monitor_totals {
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    uint64_t slow_consumers, total_connections;
    int64_t connections;
    uint64_t subscriptions;
};
void monitor_totals(struct monitor *m, struct monitor_totals *t);
/* Resident memory in bytes and CPU percent, as nats-server's pse. */
void monitor_proc_usage(struct monitor *m, int64_t *rss, double *pcpu);

#endif
