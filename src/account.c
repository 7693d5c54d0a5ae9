/* SPDX-License-Identifier: Apache-2.0
 * Accounts and the table built from the options (nats-server's
 * configureAccounts, AddStreamImport, AddMappedStreamImport,
 * AddServiceImport), and its update by a reload (reloadAuthorization). */
#include "account.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common.h"
#include "hash.h"
#include "mem.h"
#include "opts.h"
#include "subject.h"
#include "sublist.h"

/* The table's smallest capacity (see account_table_build). */
#define ACCOUNT_TABLE_MIN_CAP 1024

struct account *account_new(const char *name)
{
    struct account *acc = xcalloc(1, sizeof(*acc));
    acc->name = xstrdup(name);
    acc->name_len = strlen(name);
    acc->sl = sublist_new();
    pthread_mutex_init(&acc->resp_mu, NULL);
    return acc;
}

static void account_map_free(struct account_map *m)
{
    free(m->from);
    free(m->to);
    free(m->prefix);
}

static void account_resp_free(void *v, void *arg)
{
    (void)arg;
    free(v);
}

void account_imports_free(void *p)
{
    struct account_imports *im = p;
    if (!im)
        return;
    for (size_t i = 0; i < im->n_streams_out; i++)
        account_map_free(&im->streams_out[i].map);
    free(im->streams_out);
    for (size_t i = 0; i < im->n_services_in; i++)
        account_map_free(&im->services_in[i].map);
    free(im->services_in);
    free(im);
}

void account_free(struct account *acc)
{
    if (!acc)
        return;
    sublist_free(acc->sl);
    account_imports_free(atomic_load(&acc->imp));
    hmap_each(&acc->resp, account_resp_free, NULL);
    hmap_free(&acc->resp);
    pthread_mutex_destroy(&acc->resp_mu);
    free(acc->name);
    free(acc);
}

static bool account_has_wildcard(const char *s)
{
    size_t len = strlen(s), pos = 0, tl;
    const char *t;
    while (subject_next_token(s, len, &pos, &t, &tl))
        if (subject_tok_is_pwc(t, tl) || subject_tok_is_fwc(t, tl))
            return true;
    return false;
}

static void account_map_init(struct account_map *m, const char *from, const char *to,
                             const char *prefix)
{
    m->from = xstrdup(from);
    m->from_wild = account_has_wildcard(from);
    if (prefix && *prefix) {
        size_t pl = strlen(prefix);
        bool dot = prefix[pl - 1] == '.';
        m->prefix = xmalloc(pl + 2);
        memcpy(m->prefix, prefix, pl);
        if (!dot)
            m->prefix[pl++] = '.';
        m->prefix[pl] = '\0';
        size_t fl = strlen(from);
        m->to = xmalloc(pl + fl + 1);
        memcpy(m->to, m->prefix, pl);
        memcpy(m->to + pl, from, fl + 1);
    } else {
        m->to = xstrdup(to && *to ? to : from);
    }
    m->use_pub = m->from_wild && strcmp(m->to, m->from) == 0;
}

bool account_map_matches(const struct account_map *m, const char *subj, size_t len)
{
    if (!m->from_wild)
        return strlen(m->from) == len && memcmp(m->from, subj, len) == 0;
    return subject_matches(m->from, strlen(m->from), subj, len);
}

/* The transform of a wildcard import (newTransform with transformTokenize):
 * the i-th '*' of to takes the token the i-th '*' of from matched, '>' takes
 * what from's '>' matched. */
static int account_transform(const struct account_map *m, const char *subj, size_t len, char *out,
                             size_t outsize)
{
    const char *wt[64];
    size_t wl[64], nw = 0;
    const char *rest = NULL;
    size_t rest_len = 0;
    size_t fpos = 0, spos = 0, flen = strlen(m->from), ftl, stl;
    const char *ft, *st;
    while (subject_next_token(m->from, flen, &fpos, &ft, &ftl)) {
        if (!subject_next_token(subj, len, &spos, &st, &stl))
            return -1;
        if (subject_tok_is_fwc(ft, ftl)) {
            rest = st;
            rest_len = len - (size_t)(st - subj);
            break;
        }
        if (subject_tok_is_pwc(ft, ftl) && nw < 64) {
            wt[nw] = st;
            wl[nw++] = stl;
        }
    }
    size_t o = 0, tpos = 0, tlen = strlen(m->to), ttl, iw = 0;
    const char *tt;
    bool first = true;
    while (subject_next_token(m->to, tlen, &tpos, &tt, &ttl)) {
        const char *p = tt;
        size_t n = ttl;
        if (subject_tok_is_pwc(tt, ttl) && iw < nw) {
            p = wt[iw];
            n = wl[iw++];
        } else if (subject_tok_is_fwc(tt, ttl) && rest) {
            p = rest;
            n = rest_len;
        }
        if (o + n + 2 > outsize)
            return -1;
        if (!first)
            out[o++] = '.';
        memcpy(out + o, p, n);
        o += n;
        first = false;
    }
    out[o] = '\0';
    return (int)o;
}

int account_map_apply(const struct account_map *m, const char *subj, size_t len, char *out,
                      size_t outsize)
{
    const char *p = m->to;
    size_t n = strlen(m->to);
    if (m->from_wild && (m->use_pub || m->prefix)) {
        size_t pl = m->prefix ? strlen(m->prefix) : 0;
        if (pl + len + 1 > outsize)
            return -1;
        memcpy(out, m->prefix ? m->prefix : "", pl);
        memcpy(out + pl, subj, len);
        out[pl + len] = '\0';
        return (int)(pl + len);
    }
    if (m->from_wild)
        return account_transform(m, subj, len, out, outsize);
    if (n + 1 > outsize)
        return -1;
    memcpy(out, p, n + 1);
    return (int)n;
}

/* Any account of t called (name, len), removed or not: a probe of the name
 * index, which is never full (see account.h). */
static struct account *account_table_lookup_n(const struct account_table *t, const char *name,
                                              size_t len)
{
    if (t->idx == NULL)
        return NULL;
    for (size_t i = (size_t)hash_bytes(name, len) & t->idx_mask;; i = (i + 1) & t->idx_mask) {
        struct account *a = atomic_load_explicit(&t->idx[i], memory_order_acquire);
        if (a == NULL)
            return NULL;
        if (a->name_len == len && memcmp(a->name, name, len) == 0)
            return a;
    }
}

static struct account *account_table_lookup(const struct account_table *t, const char *name)
{
    return account_table_lookup_n(t, name, strlen(name));
}

/* Put a (new to t) into the name index. The table's writer only. */
static void account_table_index(struct account_table *t, struct account *a)
{
    size_t i = (size_t)hash_bytes(a->name, a->name_len) & t->idx_mask;
    while (atomic_load_explicit(&t->idx[i], memory_order_relaxed) != NULL)
        i = (i + 1) & t->idx_mask;
    atomic_store_explicit(&t->idx[i], a, memory_order_release);
}

struct account *account_table_find(const struct account_table *t, const char *name)
{
    struct account *a = account_table_lookup(t, name);
    return a && !account_is_removed(a) ? a : NULL;
}

struct account *account_table_find_n(const struct account_table *t, const char *name, size_t len)
{
    /* the global account, named on nearly every routed message */
    if (len == 2 && name[0] == '$' && name[1] == 'G' && t->gacc)
        return t->gacc;
    struct account *a = account_table_lookup_n(t, name, len);
    return a && !account_is_removed(a) ? a : NULL;
}

/* A new account at the end of t (capacity checked by the caller). */
static struct account *account_table_add(struct account_table *t, const char *name)
{
    struct account *a = account_new(name);
    /* the reply prefix of service responses into this account
     * (createRespWildcard): "_R_." and six base-62 characters */
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)(uintptr_t)a ^ 0x9e3779b97f4a7c15ull;
    memcpy(a->resp_prefix, "_R_.", 4);
    for (int i = 0; i < 6; i++) {
        a->resp_prefix[4 + i] = digits[r % 62];
        r /= 62;
    }
    a->resp_prefix[10] = '.';
    a->resp_prefix[11] = '\0';
    size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    NASSERT(n < t->cap);
    t->v[n] = a;
    atomic_store_explicit(&t->n, n + 1, memory_order_release);
    account_table_index(t, a);
    return a;
}

/* The export of exp that covers subject (checkServiceImportAuthorized's
 * lookup), or NULL. */
static const struct opts_export *account_find_export(const struct opts_account *exp,
                                                     const char *subject, bool service)
{
    for (size_t i = 0; i < exp->n_exports; i++) {
        const struct opts_export *e = &exp->exports[i];
        if (e->service == service &&
            subject_is_subset(subject, strlen(subject), e->subject, strlen(e->subject)))
            return e;
    }
    return NULL;
}

/* The import tables being built for each account of t, by index. */
struct account_build {
    const struct account_table *t;
    struct account_imports **imp;
};

static struct account_imports *account_build_of(struct account_build *b, const struct account *a)
{
    size_t n = b->t->n, i = 0;
    while (i < n && b->t->v[i] != a)
        i++;
    NASSERT(i < n); /* a came from this table */
    if (!b->imp[i])
        b->imp[i] = xcalloc(1, sizeof(*b->imp[i]));
    return b->imp[i];
}

static void account_wire_imports(struct account_build *bd, const struct opts *o,
                                 const struct opts_account *oa)
{
    const struct account_table *t = bd->t;
    struct account *b = account_table_find(t, oa->name);
    for (size_t i = 0; b && i < oa->n_imports; i++) {
        const struct opts_import *im = &oa->imports[i];
        struct account *a = account_table_find(t, im->account);
        if (!a || !im->subject)
            continue;
        const struct opts_account *oexp = NULL;
        for (size_t k = 0; k < o->n_accounts; k++)
            if (strcmp(o->accounts[k].name, im->account) == 0)
                oexp = &o->accounts[k];
        const struct opts_export *e =
            oexp ? account_find_export(oexp, im->subject, im->service) : NULL;
        if (!im->service) {
            struct account_imports *ai = account_build_of(bd, a);
            ai->streams_out =
                xrealloc(ai->streams_out, (ai->n_streams_out + 1) * sizeof(*ai->streams_out));
            struct account_stream_out *so = &ai->streams_out[ai->n_streams_out++];
            memset(so, 0, sizeof(*so));
            so->importer = b;
            account_map_init(&so->map, im->subject, im->to, im->prefix);
        } else {
            struct account_imports *bi = account_build_of(bd, b);
            bi->services_in =
                xrealloc(bi->services_in, (bi->n_services_in + 1) * sizeof(*bi->services_in));
            struct account_service_in *si = &bi->services_in[bi->n_services_in++];
            memset(si, 0, sizeof(*si));
            si->exporter = a;
            /* AddServiceImport(exporter, to (local, default: subject), subject) */
            const char *local = im->to && *im->to ? im->to : im->subject;
            account_map_init(&si->map, local, im->subject, NULL);
            si->singleton = !e || e->response_type == OPTS_RESP_SINGLETON;
            /* DEFAULT_SERVICE_EXPORT_RESPONSE_THRESHOLD: 2 minutes */
            si->threshold_ns = e && e->response_threshold_ns > 0
                                   ? (uint64_t)e->response_threshold_ns
                                   : 120ull * 1000000000ull;
        }
    }
}

/* Build the import tables of every account of t from o and publish them;
 * each replaced one goes to retire (NULL: freed at once, which only the
 * start may do, before any worker runs). */
static void account_table_wire(struct account_table *t, const struct opts *o,
                               account_retire_fn *retire, void *arg)
{
    size_t n = t->n;
    struct account_build bd = {t, xcalloc(n, sizeof(*bd.imp))};
    for (size_t i = 0; i < o->n_accounts; i++)
        account_wire_imports(&bd, o, &o->accounts[i]);
    for (size_t i = 0; i < n; i++) {
        struct account_imports *old =
            atomic_exchange_explicit(&t->v[i]->imp, bd.imp[i], memory_order_acq_rel);
        if (old && retire)
            retire(arg, old);
        else
            account_imports_free(old);
    }
    free(bd.imp);
}

/* The system account's name in o, or NULL without one. */
static const char *account_sys_name(const struct opts *o)
{
    if (o->no_system_account)
        return NULL;
    return o->system_account && *o->system_account ? o->system_account : ACCOUNT_SYSTEM;
}

void account_table_build(struct account_table *t, const struct opts *o)
{
    memset(t, 0, sizeof(*t));
    /* Room for the accounts reloads may add: the entries never move, so
     * readers on any thread need no lock (see account.h). */
    size_t want = 4 * (2 + o->n_accounts);
    t->cap = want > ACCOUNT_TABLE_MIN_CAP ? want : ACCOUNT_TABLE_MIN_CAP;
    t->v = xcalloc(t->cap, sizeof(*t->v));
    size_t slots = 1;
    while (slots < 2 * t->cap)
        slots *= 2;
    t->idx = xcalloc(slots, sizeof(*t->idx));
    t->idx_mask = slots - 1;
    t->gacc = account_table_add(t, ACCOUNT_GLOBAL);
    for (size_t i = 0; i < o->n_accounts; i++)
        if (!account_table_find(t, o->accounts[i].name))
            account_table_add(t, o->accounts[i].name);
    const char *sys = account_sys_name(o);
    if (sys) {
        t->sysacc = account_table_find(t, sys);
        if (!t->sysacc)
            t->sysacc = account_table_add(t, sys);
    }
    account_table_wire(t, o, NULL, NULL);
}

int account_table_check(const struct account_table *t, const struct opts *o, char *err,
                        size_t errsize)
{
    size_t need = t->n;
    for (size_t i = 0; i < o->n_accounts; i++) {
        bool seen = account_table_lookup(t, o->accounts[i].name) != NULL;
        for (size_t k = 0; !seen && k < i; k++)
            seen = strcmp(o->accounts[k].name, o->accounts[i].name) == 0;
        if (!seen)
            need++;
    }
    if (need > t->cap) {
        snprintf(err, errsize, "config reload not supported for accounts: more than %zu accounts",
                 t->cap);
        return -1;
    }
    return 0;
}

/* Whether o configures an account called name. */
static bool account_configured(const struct opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_accounts; i++)
        if (strcmp(o->accounts[i].name, name) == 0)
            return true;
    return false;
}

void account_table_update(struct account_table *t, const struct opts *o, account_retire_fn *retire,
                          void *arg)
{
    /* new accounts first, so that users and imports naming them resolve */
    for (size_t i = 0; i < o->n_accounts; i++) {
        struct account *a = account_table_lookup(t, o->accounts[i].name);
        if (!a)
            account_table_add(t, o->accounts[i].name);
        else
            atomic_store(&a->removed, false);
    }
    size_t n = t->n;
    for (size_t i = 0; i < n; i++) {
        struct account *a = t->v[i];
        if (a != t->gacc && a != t->sysacc && !account_configured(o, a->name))
            atomic_store(&a->removed, true);
    }
    account_table_wire(t, o, retire, arg);
}

void account_table_free(struct account_table *t)
{
    size_t n = t->n;
    for (size_t i = 0; i < n; i++)
        account_free(t->v[i]);
    free(t->v);
    free((void *)t->idx);
    memset(t, 0, sizeof(*t));
}
