/* SPDX-License-Identifier: Apache-2.0
 * The subscription trie (one per account) and the per-worker match cache. The
 * matching rules are nats-server's server/sublist.go; the layout is our own,
 * sized for hundreds of thousands of subscriptions per account. */
#include "sublist.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "hash.h"
#include "mem.h"
#include "subject.h"

/*
 * The trie, after SUB foo.bar, SUB foo.* (q1), SUB foo.>, SUB foo.bar.baz:
 *
 *   root (node, no token)
 *    |
 *    kids --> [ pwc: -  fwc: -  table: { "foo" } ]
 *                                          |
 *                                        node "foo"
 *                                          |
 *             kids --> [ pwc: node "*"   fwc: node ">"   table: { "bar" } ]
 *                            |                 |                   |
 *                        q: q1 -> [s2]     ps: [s3]          node "bar"
 *                                                             ps: [s1]
 *                                                             kids --> [ table: { "baz" } ]
 *                                                                              |
 *                                                                        node "baz" ps: [s4]
 *
 * A node is one token of a subscription subject: its token bytes inline, its
 * plain subs (one pointer held inline, an array from two), its queue groups
 * (name borrowed from the first member), and a pointer to its children. Leaves,
 * the bulk of a big account, carry no child structure at all. Children are an
 * open-addressing table of literal tokens (power-of-two capacity, load <= 3/4,
 * linear probing with backward-shift deletion, shrunk when sparse) plus the two
 * wildcard children. Every sub records its index in its node's array (sl_pos),
 * so removal is a walk down the tokens and a swap with the last element, and
 * nodes left empty are pruned on the way back up.
 *
 * Matching walks literal tokens iteratively; each `*` child met is pushed on a
 * work stack held by the result (reused, so no allocation once warm); each `>`
 * child met adds its subs. Every node is visited at most once per match.
 */

#define SUBLIST_TABLE_MIN    4u
#define SUBLIST_CACHE_WAYS   2u
#define SUBLIST_HIT_FLUSH    64u
#define SUBLIST_WALK_LOCAL   32u
#define SUBLIST_MALLOC_EXTRA 8u /* glibc chunk header beyond the usable size */

struct sublist_qset {
    struct sub **m; /* members; the group's name is m[0]->queue */
    uint32_t n, cap;
};

struct sublist_qlist {
    uint32_t n, cap;
    struct sublist_qset g[];
};

struct sublist_node {
    struct sublist_kids *kids; /* NULL when the node has no children */
    union {
        struct sub *one;  /* pscap == 0: nps <= 1 */
        struct sub **arr; /* pscap > 0 */
    } ps;
    struct sublist_qlist *q; /* NULL when there is no queue sub */
    uint32_t nps, pscap;
    uint32_t hash;
    uint32_t toklen;
    char tok[];
};

struct sublist_kids {
    struct sublist_node *pwc, *fwc;
    uint32_t n, cap; /* literal children in slot[], cap 0 or a power of two */
    struct sublist_node *slot[];
};

struct sublist_walk {
    const struct sublist_node *n;
    size_t pos; /* offset of the next token to consume; > len: all consumed */
};

struct sublist {
    pthread_rwlock_t lock;
    struct sublist_node *root;
    _Atomic uint64_t genid;
    _Atomic uint32_t count;
    size_t mem; /* under the write lock */
    _Atomic uint64_t inserts, removes, matches, hits, misses;
    _Atomic uint64_t max_fanout, sum_fanout, computed;
};

/* Process-wide generation clock, so that genids are unique across sublists: a
 * cache entry of a freed sublist can never pass for one of a new sublist that
 * reuses its address. Principle 4 exception: a write-only counter with no state
 * beyond uniqueness. */
static _Atomic uint64_t sublist_genid_clock;

static size_t sublist_chunk(void *p)
{
    return p ? malloc_usable_size(p) + SUBLIST_MALLOC_EXTRA : 0;
}

static void *sublist_alloc(struct sublist *sl, size_t n)
{
    void *p = xmalloc(n);
    sl->mem += sublist_chunk(p);
    return p;
}

static void *sublist_realloc(struct sublist *sl, void *p, size_t n)
{
    sl->mem -= sublist_chunk(p);
    p = xrealloc(p, n);
    sl->mem += sublist_chunk(p);
    return p;
}

static void sublist_release(struct sublist *sl, void *p)
{
    sl->mem -= sublist_chunk(p);
    free(p);
}

static void sublist_bump_genid(struct sublist *sl)
{
    uint64_t g = atomic_fetch_add_explicit(&sublist_genid_clock, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&sl->genid, g, memory_order_release);
}

/* The hash of a token in the children tables: keyed (hash.h), since the
 * tokens come from clients and peers. */
static inline uint32_t sublist_tok_hash(const char *tok, size_t n)
{
    return (uint32_t)hash_bytes(tok, n);
}

static struct sublist_node *sublist_node_new(struct sublist *sl, const char *tok, size_t n)
{
    struct sublist_node *node = sublist_alloc(sl, sizeof(*node) + n);

    memset(node, 0, sizeof(*node));
    memcpy(node->tok, tok, n);
    node->toklen = (uint32_t)n;
    node->hash = sublist_tok_hash(tok, n);
    return node;
}

static bool sublist_node_is_empty(const struct sublist_node *n)
{
    return n->nps == 0 && n->q == NULL && n->kids == NULL;
}

/* ---- children table ---------------------------------------------------- */

static struct sublist_node *sublist_kids_find(const struct sublist_kids *k, const char *tok,
                                              size_t n, uint32_t h)
{
    uint32_t mask, i;

    if (k->cap == 0)
        return NULL;
    mask = k->cap - 1;
    for (i = h & mask; k->slot[i] != NULL; i = (i + 1) & mask) {
        const struct sublist_node *c = k->slot[i];
        if (c->hash == h && c->toklen == n && memcmp(c->tok, tok, n) == 0)
            return k->slot[i];
    }
    return NULL;
}

static void sublist_kids_place(struct sublist_kids *k, struct sublist_node *c)
{
    uint32_t mask = k->cap - 1, i = c->hash & mask;

    while (k->slot[i] != NULL)
        i = (i + 1) & mask;
    k->slot[i] = c;
}

/* Reallocate k with a table of cap slots (0 allowed) and rehash. */
static struct sublist_kids *sublist_kids_resize(struct sublist *sl, struct sublist_kids *k,
                                                uint32_t cap)
{
    struct sublist_kids *nk = sublist_alloc(sl, sizeof(*nk) + (size_t)cap * sizeof(nk->slot[0]));

    nk->pwc = k ? k->pwc : NULL;
    nk->fwc = k ? k->fwc : NULL;
    nk->n = k ? k->n : 0;
    nk->cap = cap;
    memset(nk->slot, 0, (size_t)cap * sizeof(nk->slot[0]));
    if (k != NULL) {
        for (uint32_t i = 0; i < k->cap; i++)
            if (k->slot[i] != NULL)
                sublist_kids_place(nk, k->slot[i]);
        sublist_release(sl, k);
    }
    return nk;
}

static void sublist_kids_insert(struct sublist *sl, struct sublist_node *parent,
                                struct sublist_node *c)
{
    struct sublist_kids *k = parent->kids;

    if ((k->n + 1) * 4 > k->cap * 3) {
        uint32_t cap = k->cap ? k->cap * 2 : SUBLIST_TABLE_MIN;
        k = parent->kids = sublist_kids_resize(sl, k, cap);
    }
    sublist_kids_place(k, c);
    k->n++;
}

/* Remove c from the literal table with backward-shift deletion (no tombstones,
 * so lookups of absent tokens stay short), then shrink a sparse table. */
static void sublist_kids_delete(struct sublist *sl, struct sublist_node *parent,
                                const struct sublist_node *c)
{
    struct sublist_kids *k = parent->kids;
    uint32_t mask = k->cap - 1, i = c->hash & mask, j;

    while (k->slot[i] != c)
        i = (i + 1) & mask;
    k->slot[i] = NULL;
    for (j = (i + 1) & mask; k->slot[j] != NULL; j = (j + 1) & mask) {
        uint32_t home = k->slot[j]->hash & mask;
        /* Move slot j back to the hole unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            k->slot[i] = k->slot[j];
            k->slot[j] = NULL;
            i = j;
        }
    }
    k->n--;
    if (k->n == 0 && k->cap > 0)
        parent->kids = sublist_kids_resize(sl, k, 0);
    else if (k->cap > SUBLIST_TABLE_MIN && k->n * 8 < k->cap)
        parent->kids = sublist_kids_resize(sl, k, k->cap / 2);
}

/* Detach empty child c from parent and free it; frees parent's kids if empty. */
static void sublist_prune(struct sublist *sl, struct sublist_node *parent, struct sublist_node *c)
{
    struct sublist_kids *k = parent->kids;

    if (k->pwc == c)
        k->pwc = NULL;
    else if (k->fwc == c)
        k->fwc = NULL;
    else
        sublist_kids_delete(sl, parent, c);
    k = parent->kids;
    if (k->n == 0 && k->pwc == NULL && k->fwc == NULL) {
        sublist_release(sl, k);
        parent->kids = NULL;
    }
    sublist_release(sl, c);
}

/* The child of node for token (tok, n), or NULL. */
static struct sublist_node *sublist_child(const struct sublist_node *node, const char *tok,
                                          size_t n)
{
    const struct sublist_kids *k = node->kids;

    if (k == NULL)
        return NULL;
    if (subject_tok_is_pwc(tok, n))
        return k->pwc;
    if (subject_tok_is_fwc(tok, n))
        return k->fwc;
    return sublist_kids_find(k, tok, n, sublist_tok_hash(tok, n));
}

static struct sublist_node *sublist_child_add(struct sublist *sl, struct sublist_node *node,
                                              const char *tok, size_t n)
{
    struct sublist_node *c = sublist_child(node, tok, n);

    if (c != NULL)
        return c;
    if (node->kids == NULL)
        node->kids = sublist_kids_resize(sl, NULL, 0);
    c = sublist_node_new(sl, tok, n);
    if (subject_tok_is_pwc(tok, n))
        node->kids->pwc = c;
    else if (subject_tok_is_fwc(tok, n))
        node->kids->fwc = c;
    else
        sublist_kids_insert(sl, node, c);
    return c;
}

/* ---- subs held by a node ------------------------------------------------ */

static struct sub *sublist_node_psub(const struct sublist_node *n, uint32_t i)
{
    return n->pscap == 0 ? n->ps.one : n->ps.arr[i];
}

static void sublist_node_add_psub(struct sublist *sl, struct sublist_node *n, struct sub *sub)
{
    if (n->pscap == 0 && n->nps == 0) {
        n->ps.one = sub;
    } else {
        if (n->pscap == 0) {
            struct sub *first = n->ps.one;
            n->ps.arr = sublist_alloc(sl, 2 * sizeof(*n->ps.arr));
            n->ps.arr[0] = first;
            n->pscap = 2;
        } else if (n->nps == n->pscap) {
            n->pscap *= 2;
            n->ps.arr = sublist_realloc(sl, n->ps.arr, n->pscap * sizeof(*n->ps.arr));
        }
        n->ps.arr[n->nps] = sub;
    }
    sub->sl_pos = ++n->nps;
}

static bool sublist_node_del_psub(struct sublist *sl, struct sublist_node *n, struct sub *sub)
{
    uint32_t i = sub->sl_pos - 1;

    if (i >= n->nps || sublist_node_psub(n, i) != sub)
        return false;
    if (n->pscap == 0) {
        n->ps.one = NULL;
    } else {
        struct sub *last = n->ps.arr[n->nps - 1];
        n->ps.arr[i] = last;
        last->sl_pos = i + 1;
    }
    n->nps--;
    if (n->pscap > 0 && n->nps == 0) {
        sublist_release(sl, n->ps.arr);
        n->ps.one = NULL;
        n->pscap = 0;
    } else if (n->pscap > 4 && n->nps * 4 < n->pscap) {
        n->pscap /= 2;
        n->ps.arr = sublist_realloc(sl, n->ps.arr, n->pscap * sizeof(*n->ps.arr));
    }
    return true;
}

static bool sublist_same_queue(const struct sub *a, const char *q, size_t qlen)
{
    return a->queue_len == qlen && memcmp(a->queue, q, qlen) == 0;
}

static struct sublist_qset *sublist_node_qset(const struct sublist_node *n, const struct sub *sub)
{
    if (n->q == NULL)
        return NULL;
    for (uint32_t i = 0; i < n->q->n; i++)
        if (sublist_same_queue(n->q->g[i].m[0], sub->queue, sub->queue_len))
            return &n->q->g[i];
    return NULL;
}

static void sublist_node_add_qsub(struct sublist *sl, struct sublist_node *n, struct sub *sub)
{
    struct sublist_qset *g = sublist_node_qset(n, sub);

    if (g == NULL) {
        if (n->q == NULL) {
            n->q = sublist_alloc(sl, sizeof(*n->q) + sizeof(n->q->g[0]));
            n->q->n = 0;
            n->q->cap = 1;
        } else if (n->q->n == n->q->cap) {
            n->q->cap *= 2;
            n->q = sublist_realloc(sl, n->q, sizeof(*n->q) + n->q->cap * sizeof(n->q->g[0]));
        }
        g = &n->q->g[n->q->n++];
        g->n = 0;
        g->cap = 1;
        g->m = sublist_alloc(sl, sizeof(*g->m));
    } else if (g->n == g->cap) {
        g->cap *= 2;
        g->m = sublist_realloc(sl, g->m, g->cap * sizeof(*g->m));
    }
    g->m[g->n] = sub;
    sub->sl_pos = ++g->n;
}

static bool sublist_node_del_qsub(struct sublist *sl, struct sublist_node *n, struct sub *sub)
{
    struct sublist_qset *g = sublist_node_qset(n, sub);
    uint32_t i = sub->sl_pos - 1;

    if (g == NULL || i >= g->n || g->m[i] != sub)
        return false;
    g->m[i] = g->m[--g->n];
    g->m[i]->sl_pos = i + 1;
    if (g->n > 0) {
        if (g->cap > 4 && g->n * 4 < g->cap) {
            g->cap /= 2;
            g->m = sublist_realloc(sl, g->m, g->cap * sizeof(*g->m));
        }
        return true;
    }
    sublist_release(sl, g->m);
    *g = n->q->g[--n->q->n];
    if (n->q->n == 0) {
        sublist_release(sl, n->q);
        n->q = NULL;
    }
    return true;
}

/* ---- life cycle, insert, remove ------------------------------------------ */

struct sublist *sublist_new(void)
{
    struct sublist *sl = xcalloc(1, sizeof(*sl));
    pthread_rwlockattr_t attr;
    int rc;

    /* Matches are continuous; without writer preference a busy account could
     * starve SUB/UNSUB forever (glibc's default prefers readers). */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(&sl->lock, &attr);
    NASSERT(rc == 0);
    pthread_rwlockattr_destroy(&attr);
    sl->root = sublist_node_new(sl, "", 0);
    sublist_bump_genid(sl);
    return sl;
}

/* Push every child of k (literal, '*' and '>') on a walk stack of *cap slots
 * holding *top nodes, growing it as needed. Returns the stack. */
static struct sublist_node **sublist_push_kids(struct sublist_node **stk, size_t *top, size_t *cap,
                                               const struct sublist_kids *k)
{
    if (*top + k->cap + 2 > *cap) {
        *cap = (*top + k->cap + 2) * 2;
        stk = xrealloc(stk, *cap * sizeof(*stk));
    }
    for (uint32_t i = 0; i < k->cap; i++)
        if (k->slot[i] != NULL)
            stk[(*top)++] = k->slot[i];
    if (k->pwc != NULL)
        stk[(*top)++] = k->pwc;
    if (k->fwc != NULL)
        stk[(*top)++] = k->fwc;
    return stk;
}

void sublist_free(struct sublist *sl)
{
    struct sublist_node **stk;
    size_t top = 0, cap = 64;

    if (sl == NULL)
        return;
    stk = xmalloc(cap * sizeof(*stk));
    stk[top++] = sl->root;
    while (top > 0) {
        struct sublist_node *n = stk[--top];
        struct sublist_kids *k = n->kids;
        if (k != NULL) {
            stk = sublist_push_kids(stk, &top, &cap, k);
            free(k);
        }
        if (n->pscap > 0)
            free(n->ps.arr);
        if (n->q != NULL) {
            for (uint32_t i = 0; i < n->q->n; i++)
                free(n->q->g[i].m);
            free(n->q);
        }
        free(n);
    }
    free(stk);
    pthread_rwlock_destroy(&sl->lock);
    free(sl);
}

int sublist_insert(struct sublist *sl, struct sub *sub)
{
    struct sublist_node *n;
    size_t pos = 0, tl;
    const char *t;

    if (!subject_is_valid(sub->subject, sub->subject_len))
        return SUBLIST_EINVAL;
    pthread_rwlock_wrlock(&sl->lock);
    if (sub->sl_pos != 0) {
        pthread_rwlock_unlock(&sl->lock);
        return SUBLIST_EEXIST;
    }
    n = sl->root;
    while (subject_next_token(sub->subject, sub->subject_len, &pos, &t, &tl))
        n = sublist_child_add(sl, n, t, tl);
    if (sub->queue == NULL)
        sublist_node_add_psub(sl, n, sub);
    else
        sublist_node_add_qsub(sl, n, sub);
    atomic_fetch_add_explicit(&sl->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->inserts, 1, memory_order_relaxed);
    sublist_bump_genid(sl);
    pthread_rwlock_unlock(&sl->lock);
    return 0;
}

/* The node holding sub, with the path root..node stored in path[0..*depth];
 * NULL when the subject's path does not exist. Write lock held. */
static struct sublist_node *sublist_find_path(struct sublist *sl, const struct sub *sub,
                                              struct sublist_node **path, size_t *depth)
{
    size_t pos = 0, tl, d = 0;
    const char *t;

    path[0] = sl->root;
    while (subject_next_token(sub->subject, sub->subject_len, &pos, &t, &tl)) {
        struct sublist_node *c = sublist_child(path[d], t, tl);
        if (c == NULL)
            return NULL;
        path[++d] = c;
    }
    *depth = d;
    return path[d];
}

/* Remove one sub; write lock held; the caller bumps the genid. */
static int sublist_remove_locked(struct sublist *sl, struct sub *sub)
{
    struct sublist_node *local[SUBLIST_WALK_LOCAL], **path = local, *n;
    size_t ntok, depth = 0;
    bool found = false;

    if (sub->sl_pos == 0 || sub->subject_len == 0)
        return SUBLIST_ENOENT;
    ntok = subject_num_tokens(sub->subject, sub->subject_len);
    if (ntok + 1 > SUBLIST_WALK_LOCAL)
        path = xmalloc((ntok + 1) * sizeof(*path));
    n = sublist_find_path(sl, sub, path, &depth);
    if (n != NULL)
        found = sub->queue == NULL ? sublist_node_del_psub(sl, n, sub)
                                   : sublist_node_del_qsub(sl, n, sub);
    if (found) {
        sub->sl_pos = 0;
        for (size_t d = depth; d > 0 && sublist_node_is_empty(path[d]); d--)
            sublist_prune(sl, path[d - 1], path[d]);
        atomic_fetch_sub_explicit(&sl->count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&sl->removes, 1, memory_order_relaxed);
    }
    if (path != local)
        free(path);
    return found ? 0 : SUBLIST_ENOENT;
}

int sublist_remove(struct sublist *sl, struct sub *sub)
{
    int rc;

    pthread_rwlock_wrlock(&sl->lock);
    rc = sublist_remove_locked(sl, sub);
    if (rc == 0)
        sublist_bump_genid(sl);
    pthread_rwlock_unlock(&sl->lock);
    return rc;
}

size_t sublist_remove_batch(struct sublist *sl, struct sub *const *subs, size_t n)
{
    size_t removed = 0;

    pthread_rwlock_wrlock(&sl->lock);
    for (size_t i = 0; i < n; i++)
        if (sublist_remove_locked(sl, subs[i]) == 0)
            removed++;
    if (removed > 0)
        sublist_bump_genid(sl);
    pthread_rwlock_unlock(&sl->lock);
    return removed;
}

int sublist_update_qweight(struct sublist *sl, struct sub *sub, int32_t qweight)
{
    struct sublist_node *local[SUBLIST_WALK_LOCAL], **path = local, *n = NULL;
    struct sublist_qset *g = NULL;
    size_t ntok, depth;
    int rc = SUBLIST_ENOENT;

    pthread_rwlock_wrlock(&sl->lock);
    if (sub->sl_pos != 0 && sub->queue != NULL && sub->subject_len > 0) {
        ntok = subject_num_tokens(sub->subject, sub->subject_len);
        if (ntok + 1 > SUBLIST_WALK_LOCAL)
            path = xmalloc((ntok + 1) * sizeof(*path));
        n = sublist_find_path(sl, sub, path, &depth);
        g = n ? sublist_node_qset(n, sub) : NULL;
        if (g != NULL && sub->sl_pos <= g->n && g->m[sub->sl_pos - 1] == sub) {
            sub->qweight = qweight;
            sublist_bump_genid(sl);
            rc = 0;
        }
        if (path != local)
            free(path);
    }
    pthread_rwlock_unlock(&sl->lock);
    return rc;
}

/* ---- match ---------------------------------------------------------------- */

struct sublist_stack {
    struct sublist_walk *w;
    size_t cap, top;
    bool heap; /* w is heap memory (else a caller's local array) */
};

static void sublist_stack_push(struct sublist_stack *st, const struct sublist_node *n, size_t pos)
{
    if (st->top == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        if (st->heap) {
            st->w = xrealloc(st->w, cap * sizeof(*st->w));
        } else {
            struct sublist_walk *w = xmalloc(cap * sizeof(*w));
            memcpy(w, st->w, st->top * sizeof(*w));
            st->w = w;
            st->heap = true;
        }
        st->cap = cap;
    }
    st->w[st->top].n = n;
    st->w[st->top].pos = pos;
    st->top++;
}

static void sublist_res_add_psub(struct sublist_result *res, struct sub *sub)
{
    if (res->npsubs == res->pcap) {
        res->pcap = res->pcap ? res->pcap * 2 : 8;
        res->psubs = xrealloc(res->psubs, res->pcap * sizeof(*res->psubs));
    }
    res->psubs[res->npsubs++] = sub;
}

/* The result's group for first's queue name, appended when new. Entries past
 * nqgroups keep their arrays from earlier matches for reuse. */
static struct sublist_qgroup *sublist_res_qgroup(struct sublist_result *res,
                                                 const struct sub *first)
{
    struct sublist_qgroup *g;

    for (size_t i = 0; i < res->nqgroups; i++)
        if (sublist_same_queue(first, res->qgroups[i].queue, res->qgroups[i].queue_len))
            return &res->qgroups[i];
    if (res->nqgroups == res->qcap) {
        size_t cap = res->qcap ? res->qcap * 2 : 4;
        res->qgroups = xrealloc(res->qgroups, cap * sizeof(*res->qgroups));
        memset(res->qgroups + res->qcap, 0, (cap - res->qcap) * sizeof(*res->qgroups));
        res->qcap = cap;
    }
    g = &res->qgroups[res->nqgroups++];
    g->queue = first->queue;
    g->queue_len = first->queue_len;
    g->nsubs = 0;
    return g;
}

static void sublist_res_add_qset(struct sublist_result *res, const struct sublist_qset *qs)
{
    struct sublist_qgroup *g = sublist_res_qgroup(res, qs->m[0]);
    uint64_t total = g->nsubs ? g->cumw[g->nsubs - 1] : 0;

    if (g->nsubs + qs->n > g->cap) {
        g->cap = (g->nsubs + qs->n) * 2;
        g->subs = xrealloc(g->subs, g->cap * sizeof(*g->subs));
        g->cumw = xrealloc(g->cumw, g->cap * sizeof(*g->cumw));
    }
    for (uint32_t i = 0; i < qs->n; i++) {
        struct sub *m = qs->m[i];
        total += m->qweight > 1 ? (uint64_t)m->qweight : 1u;
        g->subs[g->nsubs] = m;
        g->cumw[g->nsubs] = total;
        g->nsubs++;
    }
}

/* A predicate a match stops at (sublist_any_match). */
struct sublist_any {
    sublist_pred_cb *pred;
    void *arg;
};

/* Whether a sub of n satisfies any->pred. */
static bool sublist_visit_any(const struct sublist_node *n, const struct sublist_any *any)
{
    for (uint32_t i = 0; i < n->nps; i++)
        if (any->pred(sublist_node_psub(n, i), any->arg))
            return true;
    for (uint32_t i = 0; n->q != NULL && i < n->q->n; i++)
        for (uint32_t j = 0; j < n->q->g[i].n; j++)
            if (any->pred(n->q->g[i].m[j], any->arg))
                return true;
    return false;
}

/* Add n's subs to res; with res NULL just say whether n holds any sub (that
 * satisfies any, when given). */
static bool sublist_visit(const struct sublist_node *n, struct sublist_result *res,
                          const struct sublist_any *any)
{
    if (res == NULL)
        return any ? sublist_visit_any(n, any) : n->nps > 0 || n->q != NULL;
    for (uint32_t i = 0; i < n->nps; i++)
        sublist_res_add_psub(res, sublist_node_psub(n, i));
    if (n->q != NULL)
        for (uint32_t i = 0; i < n->q->n; i++)
            sublist_res_add_qset(res, &n->q->g[i]);
    return false;
}

/* Visit every node matching subj (no empty token). With res NULL, stops and
 * returns true at the first node holding a sub (that satisfies any, when
 * given). Read lock held. */
static bool sublist_walk_trie(const struct sublist *sl, const char *subj, size_t len,
                              struct sublist_result *res, const struct sublist_any *any,
                              struct sublist_stack *st)
{
    sublist_stack_push(st, sl->root, 0);
    while (st->top > 0) {
        const struct sublist_walk *w = &st->w[--st->top];
        const struct sublist_node *n = w->n;
        size_t pos = w->pos;

        for (;;) {
            const struct sublist_kids *k;
            const char *tok, *dot;
            size_t tl;

            if (pos > len) {
                if (sublist_visit(n, res, any))
                    return true;
                break;
            }
            if ((k = n->kids) == NULL)
                break;
            tok = subj + pos;
            dot = memchr(tok, SUBJECT_SEP, len - pos);
            tl = dot ? (size_t)(dot - tok) : len - pos;
            /* `>` here takes this token and all the rest. */
            if (k->fwc != NULL && sublist_visit(k->fwc, res, any))
                return true;
            if (k->pwc != NULL)
                sublist_stack_push(st, k->pwc, pos + tl + 1);
            if (k->n == 0)
                break;
            n = sublist_kids_find(k, tok, tl, sublist_tok_hash(tok, tl));
            if (n == NULL)
                break;
            pos += tl + 1;
        }
    }
    return false;
}

static void sublist_note_fanout(struct sublist *sl, uint64_t fanout)
{
    uint64_t max = atomic_load_explicit(&sl->max_fanout, memory_order_relaxed);

    atomic_fetch_add_explicit(&sl->computed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->sum_fanout, fanout, memory_order_relaxed);
    while (fanout > max &&
           !atomic_compare_exchange_weak_explicit(&sl->max_fanout, &max, fanout,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void sublist_match(struct sublist *sl, const char *subj, size_t len, struct sublist_result *res)
{
    struct sublist_stack st = {res->walk, res->walkcap, 0, true};

    res->npsubs = 0;
    res->nqgroups = 0;
    atomic_fetch_add_explicit(&sl->matches, 1, memory_order_relaxed);
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): every caller passes a sublist */
    pthread_rwlock_rdlock(&sl->lock);
    res->genid = atomic_load_explicit(&sl->genid, memory_order_acquire);
    if (!subject_has_empty_token(subj, len))
        sublist_walk_trie(sl, subj, len, res, NULL, &st);
    pthread_rwlock_unlock(&sl->lock);
    res->walk = st.w;
    res->walkcap = st.cap;
    sublist_note_fanout(sl, res->npsubs + res->nqgroups);
}

bool sublist_has_interest(struct sublist *sl, const char *subj, size_t len)
{
    struct sublist_walk local[SUBLIST_WALK_LOCAL];
    struct sublist_stack st = {local, SUBLIST_WALK_LOCAL, 0, false};
    bool found = false;

    if (subject_has_empty_token(subj, len))
        return false;
    pthread_rwlock_rdlock(&sl->lock);
    found = sublist_walk_trie(sl, subj, len, NULL, NULL, &st);
    pthread_rwlock_unlock(&sl->lock);
    if (st.heap)
        free(st.w);
    return found;
}

bool sublist_any_match(struct sublist *sl, const char *subj, size_t len, sublist_pred_cb *pred,
                       void *arg)
{
    struct sublist_walk local[SUBLIST_WALK_LOCAL];
    struct sublist_stack st = {local, SUBLIST_WALK_LOCAL, 0, false};
    struct sublist_any any = {pred, arg};
    bool found = false;

    if (subject_has_empty_token(subj, len))
        return false;
    pthread_rwlock_rdlock(&sl->lock);
    found = sublist_walk_trie(sl, subj, len, NULL, &any, &st);
    pthread_rwlock_unlock(&sl->lock);
    if (st.heap)
        free(st.w);
    return found;
}

void sublist_for_each(struct sublist *sl, sublist_visit_cb *cb, void *arg)
{
    struct sublist_node **stk;
    size_t top = 0, cap = 64;

    stk = xmalloc(cap * sizeof(*stk));
    pthread_rwlock_rdlock(&sl->lock);
    stk[top++] = sl->root;
    while (top > 0) {
        const struct sublist_node *n = stk[--top];
        const struct sublist_kids *k = n->kids;

        for (uint32_t i = 0; i < n->nps; i++)
            cb(sublist_node_psub(n, i), arg);
        for (uint32_t i = 0; n->q != NULL && i < n->q->n; i++)
            for (uint32_t j = 0; j < n->q->g[i].n; j++)
                cb(n->q->g[i].m[j], arg);
        if (k == NULL)
            continue;
        stk = sublist_push_kids(stk, &top, &cap, k);
    }
    pthread_rwlock_unlock(&sl->lock);
    free(stk);
}

uint32_t sublist_count(const struct sublist *sl)
{
    return atomic_load_explicit(&sl->count, memory_order_relaxed);
}

uint64_t sublist_genid(const struct sublist *sl)
{
    return atomic_load_explicit(&sl->genid, memory_order_acquire);
}

void sublist_get_stats(struct sublist *sl, struct sublist_stats *st)
{
    uint64_t computed = atomic_load_explicit(&sl->computed, memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&sl->sum_fanout, memory_order_relaxed);

    memset(st, 0, sizeof(*st));
    st->nsubs = sublist_count(sl);
    st->num_inserts = atomic_load_explicit(&sl->inserts, memory_order_relaxed);
    st->num_removes = atomic_load_explicit(&sl->removes, memory_order_relaxed);
    st->num_matches = atomic_load_explicit(&sl->matches, memory_order_relaxed);
    st->cache_hits = atomic_load_explicit(&sl->hits, memory_order_relaxed);
    st->cache_misses = atomic_load_explicit(&sl->misses, memory_order_relaxed);
    st->max_fanout = atomic_load_explicit(&sl->max_fanout, memory_order_relaxed);
    st->avg_fanout = computed ? (double)sum / (double)computed : 0.0;
    pthread_rwlock_rdlock(&sl->lock);
    st->mem_bytes = sl->mem;
    pthread_rwlock_unlock(&sl->lock);
}

void sublist_result_init(struct sublist_result *res)
{
    memset(res, 0, sizeof(*res));
}

void sublist_result_free(struct sublist_result *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->qcap; i++) {
        free(res->qgroups[i].subs);
        free(res->qgroups[i].cumw);
    }
    free(res->qgroups);
    free(res->psubs);
    free(res->walk);
    memset(res, 0, sizeof(*res));
}

size_t sublist_qgroup_pick(const struct sublist_qgroup *g, uint64_t r)
{
    size_t lo = 0, hi = g->nsubs - 1;

    r %= g->cumw[g->nsubs - 1];
    /* First member whose cumulative weight exceeds r. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->cumw[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- per-worker cache ------------------------------------------------------ */

struct sublist_cache_entry {
    const struct sublist *sl; /* NULL: free slot */
    uint64_t genid;
    uint64_t used; /* tick of the last use (LRU within a set) */
    char *subj;
    size_t len, subjcap;
    uint32_t hash;
    uint32_t hits; /* not yet reported to sl */
    struct sublist_result res;
};

struct sublist_cache {
    struct sublist_cache_entry *e;
    size_t nsets; /* power of two; 0 when disabled */
    uint64_t tick;
    struct sublist_result scratch;
};

struct sublist_cache *sublist_cache_new(size_t entries)
{
    struct sublist_cache *c = xcalloc(1, sizeof(*c));

    if (entries > 0) {
        size_t n = 1;
        while (n < entries)
            n <<= 1;
        c->nsets = n >= SUBLIST_CACHE_WAYS ? n / SUBLIST_CACHE_WAYS : 1;
        c->e = xcalloc(c->nsets * SUBLIST_CACHE_WAYS, sizeof(*c->e));
    }
    sublist_result_init(&c->scratch);
    return c;
}

void sublist_cache_free(struct sublist_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nsets * SUBLIST_CACHE_WAYS; i++) {
        free(c->e[i].subj);
        sublist_result_free(&c->e[i].res);
    }
    free(c->e);
    sublist_result_free(&c->scratch);
    free(c);
}

void sublist_cache_forget(struct sublist_cache *c, const struct sublist *sl)
{
    for (size_t i = 0; i < c->nsets * SUBLIST_CACHE_WAYS; i++) {
        if (c->e[i].sl == sl) {
            c->e[i].sl = NULL;
            c->e[i].hits = 0;
        }
    }
}

size_t sublist_cache_count(const struct sublist_cache *c)
{
    size_t n = 0;

    for (size_t i = 0; i < c->nsets * SUBLIST_CACHE_WAYS; i++)
        if (c->e[i].sl != NULL)
            n++;
    return n;
}

/* Report e's hits to sl in one batch, so workers do not bounce the counters'
 * cache line on every hit. */
static void sublist_cache_flush_hits(struct sublist_cache_entry *e, struct sublist *sl)
{
    if (e->hits == 0)
        return;
    atomic_fetch_add_explicit(&sl->hits, e->hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->matches, e->hits, memory_order_relaxed);
    e->hits = 0;
}

static void sublist_cache_fill(struct sublist_cache_entry *e, struct sublist *sl, const char *subj,
                               size_t len)
{
    atomic_fetch_add_explicit(&sl->misses, 1, memory_order_relaxed);
    sublist_match(sl, subj, len, &e->res);
    e->genid = e->res.genid;
}

const struct sublist_result *sublist_cache_match(struct sublist_cache *c, struct sublist *sl,
                                                 const char *subj, size_t len)
{
    struct sublist_cache_entry *set, *victim, *e;
    uint32_t h;

    if (c->nsets == 0) {
        sublist_match(sl, subj, len, &c->scratch);
        return &c->scratch;
    }
    h = (uint32_t)hash_bytes(subj, len) ^ (uint32_t)(((uintptr_t)sl >> 4) * 0x9e3779b1u);
    set = &c->e[(h & (c->nsets - 1)) * SUBLIST_CACHE_WAYS];
    victim = &set[0];
    for (size_t w = 0; w < SUBLIST_CACHE_WAYS; w++) {
        e = &set[w];
        if (e->sl == sl && e->hash == h && e->len == len &&
            (len == 0 || memcmp(e->subj, subj, len) == 0)) {
            e->used = ++c->tick;
            if (e->genid == sublist_genid(sl)) {
                if (++e->hits >= SUBLIST_HIT_FLUSH)
                    sublist_cache_flush_hits(e, sl);
                return &e->res;
            }
            sublist_cache_flush_hits(e, sl);
            sublist_cache_fill(e, sl, subj, len);
            return &e->res;
        }
        if (e->sl == NULL || (victim->sl != NULL && e->used < victim->used))
            victim = e;
    }
    e = victim;
    /* Another sublist's pending hits are dropped: it may have been freed. */
    if (e->sl == sl)
        sublist_cache_flush_hits(e, sl);
    e->hits = 0;
    if (e->subjcap < len) {
        e->subjcap = len < 64 ? 64 : len;
        free(e->subj);
        e->subj = xmalloc(e->subjcap);
    }
    if (len > 0)
        memcpy(e->subj, subj, len);
    e->len = len;
    e->hash = h;
    e->sl = sl;
    e->used = ++c->tick;
    sublist_cache_fill(e, sl, subj, len);
    return &e->res;
}
