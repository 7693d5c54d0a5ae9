/* SPDX-License-Identifier: Apache-2.0
 * Accounts and the table built from the options (nats-server's
 * configureAccounts, AddStreamImport, AddMappedStreamImport,
 * AddServiceImport). */
#include "account.h"

#include <string.h>
#include <sys/random.h>

#include "common.h"
#include "mem.h"
#include "opts.h"
#include "subject.h"
#include "sublist.h"

struct account *account_new(const char *name)
{
    struct account *acc = xcalloc(1, sizeof(*acc));
    acc->name = xstrdup(name);
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

void account_free(struct account *acc)
{
    if (!acc)
        return;
    sublist_free(acc->sl);
    for (size_t i = 0; i < acc->n_streams_out; i++)
        account_map_free(&acc->streams_out[i].map);
    free(acc->streams_out);
    for (size_t i = 0; i < acc->n_services_in; i++)
        account_map_free(&acc->services_in[i].map);
    free(acc->services_in);
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

struct account *account_table_find(const struct account_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i]->name, name) == 0)
            return t->v[i];
    return NULL;
}

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
    t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = a;
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

static void account_wire_imports(struct account_table *t, const struct opts *o,
                                 const struct opts_account *oa)
{
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
            a->streams_out =
                xrealloc(a->streams_out, (a->n_streams_out + 1) * sizeof(*a->streams_out));
            struct account_stream_out *so = &a->streams_out[a->n_streams_out++];
            memset(so, 0, sizeof(*so));
            so->importer = b;
            account_map_init(&so->map, im->subject, im->to, im->prefix);
        } else {
            b->services_in =
                xrealloc(b->services_in, (b->n_services_in + 1) * sizeof(*b->services_in));
            struct account_service_in *si = &b->services_in[b->n_services_in++];
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

void account_table_build(struct account_table *t, const struct opts *o)
{
    memset(t, 0, sizeof(*t));
    t->gacc = account_table_add(t, ACCOUNT_GLOBAL);
    for (size_t i = 0; i < o->n_accounts; i++)
        if (!account_table_find(t, o->accounts[i].name))
            account_table_add(t, o->accounts[i].name);
    if (!o->no_system_account) {
        const char *sys =
            o->system_account && *o->system_account ? o->system_account : ACCOUNT_SYSTEM;
        t->sysacc = account_table_find(t, sys);
        if (!t->sysacc)
            t->sysacc = account_table_add(t, sys);
    }
    for (size_t i = 0; i < o->n_accounts; i++)
        account_wire_imports(t, o, &o->accounts[i]);
}

void account_table_free(struct account_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        account_free(t->v[i]);
    free(t->v);
    memset(t, 0, sizeof(*t));
}
