/* SPDX-License-Identifier: Apache-2.0
 * SIGHUP reload, as nats-server's Reload: the file is read again with the
 * command line applied over it, a change to an option that cannot change at
 * run time refuses the whole reload, and the changes are logged one line per
 * option ("Reloaded: max_payload = 2048") in the order nats-server's
 * diffOptions walks its Options struct, before server_reload applies them. */
#include "reload.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "common.h"
#include "conf.h"
#include "log.h"
#include "mem.h"
#include "opts.h"
#include "server.h"
#include "util.h"

#define RELOAD_ERR_SIZE 8192
#define RELOAD_LINE     1024
/* Lines of keys nats-server does not know come last. */
#define RELOAD_RANK_LAST 1000

void reload_log_config(const struct opts *o, struct log_config *lc)
{
    *lc = (struct log_config){
        .debug = o->debug,
        .trace = o->trace,
        .logtime = o->logtime,
        .file = o->log_file,
        .size_limit = o->log_size_limit,
        .syslog = o->syslog,
        .remote_syslog = o->remote_syslog,
    };
}

/* ---- comparing the two files ------------------------------------------- */

/* Whether the top-level key k of a configuration is an option (not a key
 * that only names a variable). */
static bool reload_is_option(const struct conf_kv *kv)
{
    return kv && !kv->used_as_var;
}

static const struct conf_kv *reload_find_kv(const struct conf_value *root, const char *key)
{
    for (size_t i = 0; i < root->u.map.n; i++)
        if (strcasecmp(root->u.map.kv[i].key, key) == 0)
            return &root->u.map.kv[i];
    return NULL;
}

static bool reload_key_changed(const struct conf_value *old, const struct conf_value *cur,
                               const char *key)
{
    const struct conf_kv *a = reload_find_kv(old, key);
    const struct conf_kv *b = reload_find_kv(cur, key);
    if (!reload_is_option(a) && !reload_is_option(b))
        return false;
    return !(a && b && conf_value_equal(a->val, b->val));
}

/* Refuse a change of an option that cannot change at run time, as
 * nats-server ("config reload not supported for ..."). Returns -1 with err
 * naming the first such key, 0 when every change can be applied. */
static int reload_check_keys(const struct conf_value *old, const struct conf_value *cur, char *err,
                             size_t errsize)
{
    const struct conf_value *maps[2] = {old, cur};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->u.map.n; i++) {
            const char *key = maps[m]->u.map.kv[i].key;
            if (reload_key_changed(old, cur, key) && !opts_key_reloadable(key)) {
                snprintf(err, errsize, "config reload not supported for %s", key);
                return -1;
            }
        }
    }
    return 0;
}

/* The parts of the tls block nats-server keeps in options it cannot reload
 * (diffOptions' default case, with its field names and message). */
static int reload_check_tls(const struct opts *old, const struct opts *next, char *err,
                            size_t errsize)
{
    if (old->tls.verify_and_map != next->tls.verify_and_map) {
        snprintf(err, errsize, "config reload not supported for TLSMap: old=%s, new=%s",
                 old->tls.verify_and_map ? "true" : "false",
                 next->tls.verify_and_map ? "true" : "false");
        return -1;
    }
    if (old->tls.connection_rate_limit != next->tls.connection_rate_limit) {
        snprintf(err, errsize, "config reload not supported for TLSRateLimit: old=%lld, new=%lld",
                 (long long)old->tls.connection_rate_limit,
                 (long long)next->tls.connection_rate_limit);
        return -1;
    }
    return 0;
}

/* ---- the log lines ------------------------------------------------------ */

struct reload_line {
    int rank; /* the option's place in nats-server's Options struct */
    size_t seq;
    char text[RELOAD_LINE];
};

struct reload_lines {
    struct reload_line *v;
    size_t n;
};

static void reload_add(struct reload_lines *l, int rank, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reload_add(struct reload_lines *l, int rank, const char *fmt, ...)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    struct reload_line *e = &l->v[l->n];
    e->rank = rank;
    e->seq = l->n++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
}

static int reload_line_cmp(const void *a, const void *b)
{
    const struct reload_line *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

enum reload_kind {
    RELOAD_BOOL = 0,
    RELOAD_INT,
    RELOAD_I32,
    RELOAD_DUR,
    RELOAD_STR,
};

/* An option logged from its value in the options (so that a key removed
 * from the file shows its default, and a flag overriding the file hides the
 * change, as in nats-server). */
struct reload_opt {
    const char *key;  /* the file's key (aliases below point to the same row) */
    const char *name; /* as nats-server logs it */
    int rank;
    enum reload_kind kind;
    size_t off;
    const char *prefix; /* NULL: "Reloaded: " */
};

#define RELOAD_OPT(k, n, r, t, f)                                                                  \
    {                                                                                              \
        k, n, r, t, offsetof(struct opts, f), NULL                                                 \
    }

/* Ranks follow nats-server's Options field order. */
static const struct reload_opt reload_opts[] = {
    {"client_advertise", "client_advertise", 5, RELOAD_STR, offsetof(struct opts, client_advertise),
     "Reload: "},
    RELOAD_OPT("trace", "trace", 6, RELOAD_BOOL, trace),
    RELOAD_OPT("debug", "debug", 7, RELOAD_BOOL, debug),
    RELOAD_OPT("trace_verbose", "trace_verbose", 8, RELOAD_BOOL, trace_verbose),
    RELOAD_OPT("logtime", "logtime", 14, RELOAD_BOOL, logtime),
    RELOAD_OPT("max_connections", "max_connections", 15, RELOAD_INT, max_connections),
    RELOAD_OPT("ping_interval", "ping_interval", 27, RELOAD_DUR, ping_interval_ns),
    RELOAD_OPT("ping_max", "ping_max", 28, RELOAD_INT, ping_max),
    RELOAD_OPT("max_control_line", "max_control_line", 34, RELOAD_I32, max_control_line),
    RELOAD_OPT("max_payload", "max_payload", 35, RELOAD_I32, max_payload),
    RELOAD_OPT("pid_file", "pid_file", 55, RELOAD_STR, pid_file),
    RELOAD_OPT("ports_file_dir", "ports_file_dir", 56, RELOAD_STR, ports_file_dir),
    RELOAD_OPT("log_file", "log_file", 57, RELOAD_STR, log_file),
    RELOAD_OPT("syslog", "syslog", 59, RELOAD_BOOL, syslog),
    RELOAD_OPT("remote_syslog", "remote_syslog", 60, RELOAD_STR, remote_syslog),
    RELOAD_OPT("write_deadline", "write_deadline", 74, RELOAD_DUR, write_deadline_ns),
    RELOAD_OPT("max_traced_msg_len", "max_traced_msg_len", 78, RELOAD_INT, max_traced_msg_len),
    RELOAD_OPT("connect_error_reports", "connect_error_reports", 86, RELOAD_INT,
               connect_error_reports),
    RELOAD_OPT("reconnect_error_reports", "reconnect_error_reports", 87, RELOAD_INT,
               reconnect_error_reports),
};

/* Ranks of the keys logged by other means. */
#define RELOAD_RANK_NKEYS    18
#define RELOAD_RANK_USERS    19
#define RELOAD_RANK_ACCOUNTS 20
#define RELOAD_RANK_USERNAME 24
#define RELOAD_RANK_PASSWORD 25
#define RELOAD_RANK_TOKEN    26
#define RELOAD_RANK_AUTH_TO  33
#define RELOAD_RANK_TLS_TO   63
#define RELOAD_RANK_TLS      70
#define RELOAD_RANK_PINNED   71

/* Other keys' ranks, for their generic line. */
static const struct {
    const char *key;
    int rank;
} reload_ranks[] = {
    {"cluster", 38},      {"gateway", 39},     {"jetstream", 41}, {"resolver", 80},
    {"resolver_tls", 81}, {"server_tags", 88}, {"ocsp", 89},
};

static const char *reload_aliases[][2] = {
    {"max_conn", "max_connections"},  {"logfile", "log_file"},           {"pidfile", "pid_file"},
    {"account_resolver", "resolver"}, {"accounts_resolver", "resolver"}, {"maps", "mappings"},
};

static const char *reload_canonical(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(reload_aliases); i++)
        if (strcasecmp(key, reload_aliases[i][0]) == 0)
            return reload_aliases[i][1];
    return key;
}

static const struct reload_opt *reload_find_opt(const char *key)
{
    key = reload_canonical(key);
    for (size_t i = 0; i < ARRAY_LEN(reload_opts); i++)
        if (strcasecmp(key, reload_opts[i].key) == 0)
            return &reload_opts[i];
    return NULL;
}

static bool reload_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The line of one option from the table, when its value changed. */
static void reload_opt_line(struct reload_lines *l, const struct reload_opt *r,
                            const struct opts *old, const struct opts *next)
{
    const char *po = (const char *)old + r->off, *pn = (const char *)next + r->off;
    const char *pre = r->prefix ? r->prefix : "Reloaded: ";
    char d[64];
    switch (r->kind) {
    case RELOAD_BOOL:
        if (*(const bool *)po != *(const bool *)pn)
            reload_add(l, r->rank, "%s%s = %s", pre, r->name, *(const bool *)pn ? "true" : "false");
        break;
    case RELOAD_INT:
        if (*(const int *)po != *(const int *)pn)
            reload_add(l, r->rank, "%s%s = %d", pre, r->name, *(const int *)pn);
        break;
    case RELOAD_I32:
        if (*(const int32_t *)po != *(const int32_t *)pn)
            reload_add(l, r->rank, "%s%s = %d", pre, r->name, (int)*(const int32_t *)pn);
        break;
    case RELOAD_DUR:
        if (*(const int64_t *)po != *(const int64_t *)pn) {
            util_format_duration(*(const int64_t *)pn, d, sizeof(d));
            reload_add(l, r->rank, "%s%s = %s", pre, r->name, d);
        }
        break;
    case RELOAD_STR: {
        const char *a = *(char *const *)po, *b = *(char *const *)pn;
        if (!reload_str_eq(a, b))
            reload_add(l, r->rank, "%s%s = %s", pre, r->name, b ? b : "");
        break;
    }
    }
}

/* The generic line of a changed key natsd logs from the file's text. */
static void reload_generic_line(struct reload_lines *l, const char *key, const struct conf_value *v)
{
    int rank = RELOAD_RANK_LAST;
    const char *canon = reload_canonical(key);
    for (size_t i = 0; i < ARRAY_LEN(reload_ranks); i++)
        if (strcasecmp(canon, reload_ranks[i].key) == 0)
            rank = reload_ranks[i].rank;
    if (strcasecmp(canon, "server_tags") == 0)
        reload_add(l, rank, "Reloaded: tags");
    else if (!v)
        reload_add(l, rank, "Reloaded: %s (removed)", key);
    else if (v->type == CONF_INT)
        reload_add(l, rank, "Reloaded: %s = %lld", key, (long long)v->u.i);
    else if (v->type == CONF_BOOL)
        reload_add(l, rank, "Reloaded: %s = %s", key, v->u.b ? "true" : "false");
    else if (v->type == CONF_STRING)
        reload_add(l, rank, "Reloaded: %s = %s", key, v->u.s.p);
    else
        reload_add(l, rank, "Reloaded: %s", key);
}

/* Whether the nkey users of two configurations differ. */
static bool reload_nkeys_differ(const struct opts *a, const struct opts *b)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < a->n_users; i++)
        na += a->users[i].nkey != NULL;
    for (size_t i = 0; i < b->n_users; i++)
        nb += b->users[i].nkey != NULL;
    if (na != nb)
        return true;
    for (size_t i = 0; i < a->n_users; i++) {
        const struct opts_user *u = &a->users[i];
        if (!u->nkey)
            continue;
        /* an nkey user bound to an account always differs in nats-server:
         * its account object is compared too, and is new at each reload */
        if (u->account)
            return true;
        bool found = false;
        for (size_t k = 0; !found && k < b->n_users; k++)
            found =
                b->users[k].nkey && strcmp(b->users[k].nkey, u->nkey) == 0 && !b->users[k].account;
        if (!found)
            return true;
    }
    return false;
}

/* What nats-server logs for the options behind the authorization, accounts
 * and tls blocks: the users and the accounts always (it never finds them
 * equal), the rest when it changed. */
static void reload_security_lines(struct reload_lines *l, const struct opts *old,
                                  const struct opts *next)
{
    char f[64];
    if (reload_nkeys_differ(old, next))
        reload_add(l, RELOAD_RANK_NKEYS, "Reloaded: authorization nkey users");
    reload_add(l, RELOAD_RANK_USERS, "Reloaded: authorization users");
    reload_add(l, RELOAD_RANK_ACCOUNTS, "Reloaded: accounts");
    if (!reload_str_eq(old->username, next->username))
        reload_add(l, RELOAD_RANK_USERNAME, "Reloaded: authorization username");
    if (!reload_str_eq(old->password, next->password))
        reload_add(l, RELOAD_RANK_PASSWORD, "Reloaded: authorization password");
    if (!reload_str_eq(old->token, next->token))
        reload_add(l, RELOAD_RANK_TOKEN, "Reloaded: authorization token");
    if (old->auth_timeout != next->auth_timeout) {
        util_format_float_go(next->auth_timeout, f, sizeof(f));
        reload_add(l, RELOAD_RANK_AUTH_TO, "Reloaded: authorization timeout = %s", f);
    }
    if (old->tls.timeout != next->tls.timeout) {
        util_format_float_go(next->tls.timeout, f, sizeof(f));
        reload_add(l, RELOAD_RANK_TLS_TO, "Reloaded: tls timeout = %s", f);
    }
    /* a tls block is a new context at each reload (its files are read
     * again): nats-server logs it every time */
    if (old->tls.set || next->tls.set)
        reload_add(l, RELOAD_RANK_TLS, "Reloaded: tls = %s",
                   next->tls.set ? "enabled" : "disabled");
    bool pinned = old->tls.pinned_certs.n != next->tls.pinned_certs.n;
    for (size_t i = 0; !pinned && i < next->tls.pinned_certs.n; i++)
        pinned = strcmp(old->tls.pinned_certs.v[i], next->tls.pinned_certs.v[i]) != 0;
    if (pinned)
        reload_add(l, RELOAD_RANK_PINNED, "Reloaded: %zu pinned_certs", next->tls.pinned_certs.n);
}

static bool reload_is_security_key(const char *key)
{
    return strcasecmp(key, "authorization") == 0 || strcasecmp(key, "accounts") == 0 ||
           strcasecmp(key, "tls") == 0;
}

/* Log what changed, in nats-server's order. */
static void reload_log_changes(const struct conf_value *oldc, const struct conf_value *curc,
                               const struct opts *old, const struct opts *next)
{
    struct reload_lines l = {0};
    for (size_t i = 0; i < ARRAY_LEN(reload_opts); i++)
        reload_opt_line(&l, &reload_opts[i], old, next);
    reload_security_lines(&l, old, next);
    const struct conf_value *maps[2] = {curc, oldc};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->u.map.n; i++) {
            const struct conf_kv *kv = &maps[m]->u.map.kv[i];
            if (m == 1 && reload_find_kv(curc, kv->key))
                continue; /* seen in the new file */
            if (!reload_is_option(kv) || reload_find_opt(kv->key) ||
                reload_is_security_key(kv->key) || !reload_key_changed(oldc, curc, kv->key))
                continue;
            reload_generic_line(&l, kv->key, m == 0 ? kv->val : NULL);
        }
    }
    qsort(l.v, l.n, sizeof(*l.v), reload_line_cmp);
    for (size_t i = 0; i < l.n; i++)
        NLOG_INFO("%s", l.v[i].text);
    free(l.v);
}

/* ---- the reload ---------------------------------------------------------- */

void reload_run(const struct cli *c, struct server *s, struct conf_doc **doc)
{
    char err[RELOAD_ERR_SIZE] = "";
    const struct opts *cur = server_opts(s);
    const char *path = cur->config_file;
    struct conf_doc *ndoc = NULL;
    struct opts_diag d = {0};
    struct server_reload *r = NULL;
    struct opts *next = xmalloc(sizeof(*next));
    opts_init(next);
    if (!path || !*doc) {
        snprintf(err, sizeof(err),
                 "can only reload config when a file is provided using -c or "
                 "--config");
        goto fail;
    }
    struct conf_error cerr;
    if (conf_parse_file(path, &ndoc, &cerr) != 0) {
        conf_error_format(&cerr, err, sizeof(err));
        goto fail;
    }
    if (opts_load_file(next, path, &d) != 0) {
        snprintf(err, sizeof(err), "%s", d.errors.n ? d.errors.v[0] : "invalid configuration");
        goto fail;
    }
    if (cli_apply(c, next, err, sizeof(err)) != 0)
        goto fail;
    opts_set_baseline(next);
    if (opts_validate(next, err, sizeof(err)) != 0)
        goto fail;
    if (reload_check_keys(conf_root(*doc), conf_root(ndoc), err, sizeof(err)) != 0 ||
        reload_check_tls(cur, next, err, sizeof(err)) != 0)
        goto fail;
    if (server_reload_prepare(s, next, &r, err, sizeof(err)) != 0)
        goto fail;
    struct log_config lc;
    reload_log_config(next, &lc);
    if (log_configure(&lc, err, sizeof(err)) != 0)
        goto fail;
    reload_log_changes(conf_root(*doc), conf_root(ndoc), cur, next);
    server_reload(s, next, r);
    conf_free(*doc);
    *doc = ndoc;
    opts_diag_free(&d);
    NLOG_INFO("Reloaded server configuration");
    return;
fail:
    NLOG_ERROR("Failed to reload server configuration: %s", err);
    server_reload_abort(r);
    conf_free(ndoc);
    opts_diag_free(&d);
    opts_free(next);
    free(next);
}
