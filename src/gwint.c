/* SPDX-License-Identifier: Apache-2.0
 * The sender's half of gateway interest: what the accepting side of one
 * outbound gateway told us it wants, per account (docs/protocol/gateway.md §5.3).
 *
 *   g->accs (hmap, name -> struct gwint_acc), under g->mu
 *     ABSENT        no entry
 *     NO_INTEREST   entry with none = true and nothing else
 *     ENTRY         mode, ni (no-interest subjects, or null), qsubs, and
 *                   st -> struct gwint_store { sl, subs by key }
 *
 * Inputs run on the owner's thread and take g->mu for every change, so a
 * query always sees an entry whole. A query takes g->mu only to find the
 * entry and read mode, ni and qsubs; it then matches st->sl without the
 * mutex (the sublist has its own lock). So everything a query may still
 * hold after dropping g->mu (the sublist, the subscriptions a match returned,
 * their queue names) is reclaimed through worker_retire: a single sub when
 * RS- removes it, the whole store when the entry goes away. The entry itself
 * and its ni set are only read under g->mu and are freed at once.
 *
 * Subscriptions are keyed per account by the exact argument bytes after the
 * account: "subj" for plain interest, "subj queue" for a queue group, so an
 * RS- finds its RS+ and a repeated RS+ is ignored. (nats-server keeps these
 * keys per connection, so a key can outlive the account entry that held its
 * subscription; natsd drops them with the entry.) */
#include "gwint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "hmap.h"
#include "mem.h"
#include "parser.h"
#include "subject.h"
#include "sublist.h"
#include "worker.h"

/* One subscription of the peer: a single allocation holding its key, whose
 * bytes the sub's subject and queue point into. */
struct gwint_sub {
    struct sub sub;
    uint32_t keylen;
    char key[]; /* "subj" or "subj queue" */
};

/* A member of a no-interest set. */
struct gwint_str {
    uint32_t len;
    char s[];
};

/* What a query may still use after dropping g->mu: retired as a whole. */
struct gwint_store {
    struct sublist *sl;
    struct hmap subs; /* struct gwint_sub by key */
    uint32_t nqueue;  /* queue subs among them */
};

struct gwint_acc {
    bool none;    /* NO_INTEREST marker: st is NULL, ni empty */
    bool ni_null; /* ni is "null" (not consulted), as opposed to empty */
    enum gwint_mode mode;
    struct hmap ni;         /* struct gwint_str */
    struct gwint_store *st; /* NULL for a NO_INTEREST marker */
    uint32_t name_len;
    char name[];
};

struct gwint {
    pthread_mutex_t mu;
    bool peer_iom;
    _Atomic uint64_t *gen; /* bumped by every input; NULL: none */
    struct hmap accs;      /* struct gwint_acc by name */
    uint32_t nsubs;        /* total over every store */
};

static void gwint_sub_key(const void *val, const char **key, size_t *len)
{
    const struct gwint_sub *s = val;
    *key = s->key;
    *len = s->keylen;
}

static void gwint_str_key(const void *val, const char **key, size_t *len)
{
    const struct gwint_str *s = val;
    *key = s->s;
    *len = s->len;
}

static void gwint_acc_key(const void *val, const char **key, size_t *len)
{
    const struct gwint_acc *a = val;
    *key = a->name;
    *len = a->name_len;
}

static const struct hmap_ops gwint_sub_ops = {.key = gwint_sub_key};
static const struct hmap_ops gwint_str_ops = {.key = gwint_str_key};
static const struct hmap_ops gwint_acc_ops = {.key = gwint_acc_key};

static void gwint_free_cb(void *val, void *arg)
{
    (void)arg;
    free(val);
}

static struct gwint_store *gwint_store_new(void)
{
    struct gwint_store *st = xcalloc(1, sizeof(*st));
    st->sl = sublist_new();
    return st;
}

/* The retirement callback of a store: by now no query can hold any of it. */
static void gwint_store_free(void *p)
{
    struct gwint_store *st = p;
    hmap_each(&st->subs, gwint_free_cb, NULL);
    hmap_free(&st->subs);
    sublist_free(st->sl);
    free(st);
}

/* Hand p to the worker's reclamation, or free it now without a worker (no
 * query can be in flight then: unit tests, shutdown after the workers). */
static void gwint_retire(struct worker *w, void *p, void (*free_fn)(void *p))
{
    if (w)
        worker_retire(w, p, free_fn);
    else
        free_fn(p);
}

static void gwint_ni_clear(struct gwint_acc *a)
{
    hmap_each(&a->ni, gwint_free_cb, NULL);
    hmap_free(&a->ni);
}

static void gwint_ni_add(struct gwint_acc *a, const char *s, size_t len)
{
    if (hmap_get(&a->ni, &gwint_str_ops, s, len))
        return;
    struct gwint_str *m = xmalloc(sizeof(*m) + len);
    m->len = (uint32_t)len;
    memcpy(m->s, s, len);
    hmap_put(&a->ni, &gwint_str_ops, m);
}

static void gwint_ni_del(struct gwint_acc *a, const char *s, size_t len)
{
    free(hmap_del(&a->ni, &gwint_str_ops, s, len));
}

struct gwint_collect {
    const char *wc;
    size_t wc_len;
    struct gwint_str **v;
    size_t n, cap;
};

static void gwint_collect_cb(void *val, void *arg)
{
    struct gwint_collect *c = arg;
    struct gwint_str *m = val;
    if (!subject_is_subset(m->s, m->len, c->wc, c->wc_len))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = m;
}

/* A wildcard RS+ in optimistic mode cancels every no-interest subject it
 * covers (nats-server processGatewayRSub). */
static void gwint_ni_del_matching(struct gwint_acc *a, const char *wc, size_t wc_len)
{
    struct gwint_collect c = {.wc = wc, .wc_len = wc_len};
    hmap_each(&a->ni, gwint_collect_cb, &c);
    for (size_t i = 0; i < c.n; i++)
        free(hmap_del(&a->ni, &gwint_str_ops, c.v[i]->s, c.v[i]->len));
    free(c.v);
}

/* Under g->mu. */
static struct gwint_acc *gwint_acc_get(const struct gwint *g, const char *acc, size_t acc_len)
{
    return hmap_get(&g->accs, &gwint_acc_ops, acc, acc_len);
}

/* A new NO_INTEREST marker in the table. Under g->mu. */
static struct gwint_acc *gwint_acc_add(struct gwint *g, const char *acc, size_t acc_len)
{
    struct gwint_acc *a = xcalloc(1, sizeof(*a) + acc_len);
    a->none = true;
    a->name_len = (uint32_t)acc_len;
    memcpy(a->name, acc, acc_len);
    hmap_put(&g->accs, &gwint_acc_ops, a);
    return a;
}

/* Turn a NO_INTEREST marker into an entry in the given mode. */
static void gwint_acc_fill(struct gwint_acc *a, enum gwint_mode mode, bool ni_null)
{
    a->none = false;
    a->mode = mode;
    a->ni_null = ni_null;
    a->st = gwint_store_new();
}

/* Back to a NO_INTEREST marker: every stored subscription is dropped. */
static void gwint_acc_empty(struct gwint *g, struct worker *w, struct gwint_acc *a)
{
    gwint_ni_clear(a);
    if (a->st) {
        g->nsubs -= (uint32_t)a->st->subs.n;
        gwint_retire(w, a->st, gwint_store_free);
        a->st = NULL;
    }
    a->none = true;
    a->ni_null = false;
    a->mode = GWINT_OPTIMISTIC;
}

/* ABSENT: the entry leaves the table. */
static void gwint_acc_remove(struct gwint *g, struct worker *w, struct gwint_acc *a)
{
    gwint_acc_empty(g, w, a);
    hmap_del(&g->accs, &gwint_acc_ops, a->name, a->name_len);
    free(a);
}

static void gwint_acc_free_cb(void *val, void *arg)
{
    struct worker *w = arg;
    struct gwint_acc *a = val;
    gwint_ni_clear(a);
    if (a->st)
        gwint_retire(w, a->st, gwint_store_free);
    free(a);
}

/* Store a subscription unless its key is already there. Under g->mu. */
static void gwint_store_add(struct gwint *g, struct gwint_acc *a, const char *subj, size_t subj_len,
                            const char *queue, size_t queue_len, int32_t weight)
{
    size_t keylen = subj_len + (queue ? 1 + queue_len : 0);
    struct gwint_sub *s = xcalloc(1, sizeof(*s) + keylen);
    memcpy(s->key, subj, subj_len);
    if (queue) {
        s->key[subj_len] = ' ';
        memcpy(s->key + subj_len + 1, queue, queue_len);
    }
    if (hmap_get(&a->st->subs, &gwint_sub_ops, s->key, keylen)) {
        free(s);
        return;
    }
    s->keylen = (uint32_t)keylen;
    s->sub.subject = s->key;
    s->sub.subject_len = (uint32_t)subj_len;
    if (queue) {
        s->sub.queue = s->key + subj_len + 1;
        s->sub.queue_len = (uint32_t)queue_len;
    }
    s->sub.owner = g;
    s->sub.qweight = weight;
    /* the subject was validated by the caller, so the insert cannot fail */
    int rc = sublist_insert(a->st->sl, &s->sub);
    NASSERT(rc == 0);
    hmap_put(&a->st->subs, &gwint_sub_ops, s);
    if (queue)
        a->st->nqueue++;
    g->nsubs++;
}

/* Remove the subscription with this key, if stored. Returns true if it was. */
static bool gwint_store_del(struct gwint *g, struct worker *w, struct gwint_acc *a,
                            const char *subj, size_t subj_len, const char *queue, size_t queue_len)
{
    char stackkey[256];
    size_t keylen = subj_len + (queue ? 1 + queue_len : 0);
    char *key = keylen <= sizeof(stackkey) ? stackkey : xmalloc(keylen);
    memcpy(key, subj, subj_len);
    if (queue) {
        key[subj_len] = ' ';
        memcpy(key + subj_len + 1, queue, queue_len);
    }
    struct gwint_sub *s = hmap_del(&a->st->subs, &gwint_sub_ops, key, keylen);
    if (key != stackkey)
        free(key);
    if (!s)
        return false;
    int rc = sublist_remove(a->st->sl, &s->sub);
    NASSERT(rc == 0);
    if (s->sub.queue)
        a->st->nqueue--;
    g->nsubs--;
    gwint_retire(w, s, free);
    return true;
}

static bool gwint_args_ok(size_t acc_len, const char *subj, size_t subj_len, const char *queue,
                          size_t queue_len)
{
    if (acc_len == 0 || !subject_is_valid(subj, subj_len))
        return false;
    return !queue || queue_len > 0;
}

/* The end of an input: whatever a sender concluded from earlier state is
 * stale from now on. */
static void gwint_unlock_changed(struct gwint *g)
{
    if (g->gen)
        atomic_fetch_add_explicit(g->gen, 1, memory_order_release);
    pthread_mutex_unlock(&g->mu);
}

void gwint_share_gen(struct gwint *g, _Atomic uint64_t *gen)
{
    g->gen = gen;
}

struct gwint *gwint_new(bool peer_iom)
{
    struct gwint *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    g->peer_iom = peer_iom;
    return g;
}

void gwint_free(struct gwint *g, struct worker *w)
{
    if (!g)
        return;
    hmap_each(&g->accs, gwint_acc_free_cb, w);
    hmap_free(&g->accs);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* A-: nats-server processGatewayAccountUnsub. */
int gwint_account_unsub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len)
{
    if (acc_len == 0)
        return -1;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (!a) {
        gwint_acc_add(g, acc, acc_len);
    } else if (!a->none) {
        if (a->st->nqueue > 0) {
            /* queue interest stays; the plain no-interest set restarts empty
             * (and is consulted again even after cmd 3) */
            gwint_ni_clear(a);
            a->ni_null = false;
        } else {
            gwint_acc_empty(g, w, a);
        }
    }
    gwint_unlock_changed(g);
    return 0;
}

/* A+: nats-server processGatewayAccountSub. */
int gwint_account_sub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len)
{
    if (acc_len == 0)
        return -1;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (a && (a->none || a->st->nqueue == 0))
        gwint_acc_remove(g, w, a);
    gwint_unlock_changed(g);
    return 0;
}

/* RS+: nats-server processGatewayRSub. */
int gwint_sub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len, const char *subj,
              size_t subj_len, const char *queue, size_t queue_len, int32_t weight)
{
    (void)w;
    if (!gwint_args_ok(acc_len, subj, subj_len, queue, queue_len))
        return -1;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (!a || a->none) {
        /* plain interest without an entry: nothing was suppressed */
        if (queue) {
            if (!a)
                a = gwint_acc_add(g, acc, acc_len);
            gwint_acc_fill(a, GWINT_OPTIMISTIC, false);
            gwint_store_add(g, a, subj, subj_len, queue, queue_len, weight);
        }
    } else if (queue || a->mode != GWINT_OPTIMISTIC) {
        gwint_store_add(g, a, subj, subj_len, queue, queue_len, weight);
    } else if (!subject_is_literal(subj, subj_len)) {
        gwint_ni_del_matching(a, subj, subj_len);
    } else {
        gwint_ni_del(a, subj, subj_len);
    }
    gwint_unlock_changed(g);
    return 0;
}

/* RS-: nats-server processGatewayRUnsub. */
int gwint_unsub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len,
                const char *subj, size_t subj_len, const char *queue, size_t queue_len)
{
    if (!gwint_args_ok(acc_len, subj, subj_len, queue, queue_len))
        return -1;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (!a || a->none) {
        /* queue RS- without its RS+ is ignored; plain RS- starts optimistic
         * no-interest for the account */
        if (!queue) {
            if (!a)
                a = gwint_acc_add(g, acc, acc_len);
            gwint_acc_fill(a, GWINT_OPTIMISTIC, false);
            gwint_ni_add(a, subj, subj_len);
        }
    } else if (queue || a->mode != GWINT_OPTIMISTIC) {
        if (gwint_store_del(g, w, a, subj, subj_len, queue, queue_len) && a->st->subs.n == 0 &&
            a->mode == GWINT_OPTIMISTIC && a->ni.n == 0)
            gwint_acc_remove(g, w, a);
    } else {
        gwint_ni_add(a, subj, subj_len);
    }
    gwint_unlock_changed(g);
    return 0;
}

/* INFO gateway_cmd 2: nats-server gatewayAllSubsReceiveStart. */
void gwint_all_subs_start(struct gwint *g, const char *acc, size_t acc_len)
{
    if (acc_len == 0)
        return; /* an empty payload names no account */
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (!a || a->none) {
        if (!a)
            a = gwint_acc_add(g, acc, acc_len);
        gwint_acc_fill(a, GWINT_TRANSITIONING, true);
    } else {
        a->mode = GWINT_TRANSITIONING; /* ni kept until cmd 3 */
    }
    gwint_unlock_changed(g);
}

/* INFO gateway_cmd 3: nats-server gatewayAllSubsReceiveComplete. */
void gwint_all_subs_complete(struct gwint *g, const char *acc, size_t acc_len)
{
    if (acc_len == 0)
        return;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (a && !a->none) {
        gwint_ni_clear(a);
        a->ni_null = true;
        a->mode = GWINT_INTEREST_ONLY;
    }
    gwint_unlock_changed(g);
}

/* nats-server gatewayInterest. */
bool gwint_match_each(struct gwint *g, struct sublist_cache *cache, const char *acc, size_t acc_len,
                      const char *subj, size_t subj_len, bool *plain, gwint_queue_fn *fn, void *arg,
                      size_t *nq)
{
    struct sublist *sl = NULL;
    bool p;

    *nq = 0;
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    if (!a) {
        p = !g->peer_iom;
    } else if (a->none) {
        p = false;
    } else {
        p = !g->peer_iom && !a->ni_null && !hmap_get(&a->ni, &gwint_str_ops, subj, subj_len);
        if (a->ni_null || a->st->nqueue > 0)
            sl = a->st->sl; /* retired, never freed, while this turn runs */
    }
    pthread_mutex_unlock(&g->mu);

    if (sl) {
        const struct sublist_result *r = sublist_cache_match(cache, sl, subj, subj_len);
        if (r->npsubs > 0)
            p = true;
        /* one group per distinct queue name, each borrowed from a member */
        for (size_t i = 0; i < r->nqgroups; i++)
            fn(arg, r->qgroups[i].queue, r->qgroups[i].queue_len);
        *nq = r->nqgroups;
    }
    *plain = p;
    return p || *nq > 0;
}

struct gwint_qcopy {
    struct parser_slice *q;
    size_t qcap, n;
};

static void gwint_qcopy_one(void *arg, const char *queue, size_t len)
{
    struct gwint_qcopy *c = arg;
    if (c->n < c->qcap)
        c->q[c->n++] = (struct parser_slice){queue, len};
}

bool gwint_match(struct gwint *g, struct sublist_cache *cache, const char *acc, size_t acc_len,
                 const char *subj, size_t subj_len, bool *plain, struct parser_slice *q,
                 size_t qcap, size_t *nq)
{
    struct gwint_qcopy c = {q, qcap, 0};
    size_t all;
    bool any =
        gwint_match_each(g, cache, acc, acc_len, subj, subj_len, plain, gwint_qcopy_one, &c, &all);
    *nq = c.n;
    return any;
}

bool gwint_has_queues(struct gwint *g, const char *acc, size_t acc_len)
{
    pthread_mutex_lock(&g->mu);
    struct gwint_acc *a = gwint_acc_get(g, acc, acc_len);
    bool has = a && !a->none && a->st->nqueue > 0;
    pthread_mutex_unlock(&g->mu);
    return has;
}

struct gwint_rows {
    struct gwint_acc_info *v;
    size_t n;
};

/* One row as nats-server createAccountOutboundGatewayz fills it; a name
 * longer than the row holds is cut (the control line allows longer ones,
 * no real account has them). */
static void gwint_row(const struct gwint_acc *a, struct gwint_acc_info *r)
{
    size_t n = a->name_len < sizeof(r->name) - 1 ? a->name_len : sizeof(r->name) - 1;
    memcpy(r->name, a->name, n);
    r->name[n] = '\0';
    r->mode = a->none ? GWINT_OPTIMISTIC : a->mode;
    r->no_interest_count = (uint32_t)a->ni.n;
    r->num_subs = a->st ? (uint32_t)a->st->subs.n : 0;
    r->num_queue_subs = a->st ? a->st->nqueue : 0;
}

static void gwint_row_cb(void *val, void *arg)
{
    struct gwint_rows *rows = arg;
    gwint_row(val, &rows->v[rows->n++]);
}

size_t gwint_accounts(struct gwint *g, const char *acc, struct gwint_acc_info **out)
{
    struct gwint_rows rows = {0};
    pthread_mutex_lock(&g->mu);
    if (acc) {
        const struct gwint_acc *a = gwint_acc_get(g, acc, strlen(acc));
        rows.v = xcalloc(1, sizeof(*rows.v));
        if (a)
            gwint_row(a, &rows.v[rows.n++]);
    } else {
        rows.v = xcalloc(g->accs.n ? g->accs.n : 1, sizeof(*rows.v));
        hmap_each(&g->accs, gwint_row_cb, &rows);
    }
    pthread_mutex_unlock(&g->mu);
    *out = rows.v;
    return rows.n;
}

uint32_t gwint_num_subs(struct gwint *g)
{
    pthread_mutex_lock(&g->mu);
    uint32_t n = g->nsubs;
    pthread_mutex_unlock(&g->mu);
    return n;
}

const char *gwint_mode_name(enum gwint_mode m)
{
    switch (m) {
    case GWINT_OPTIMISTIC:
        return "Optimistic";
    case GWINT_TRANSITIONING:
        return "Transitioning";
    case GWINT_INTEREST_ONLY:
        return "Interest-Only";
    }
    return "Unknown";
}
