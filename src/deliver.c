/* SPDX-License-Identifier: Apache-2.0
 * Fan-out to local subscriptions, as nats-server's processMsgResults: every
 * plain subscription gets a copy, every queue group one copy, to a member
 * picked at random (weighted) and then the next one that takes it.
 *
 * A delivered line is "<pre><sid><suf>" followed by the payload and CRLF,
 * where pre is "MSG <subject> " (or HMSG) and suf is " [reply] <sizes>\r\n".
 * pre and suf depend only on the message and on whether the subscriber takes
 * headers, so they are formatted once per message (lazily, per variant) into
 * the worker's scratch buffer, and each delivery copies five pieces. */
#include "deliver.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "account.h"
#include "client.h"
#include "common.h"
#include "conn.h"
#include "gateway.h"
#include "hash.h"
#include "imports.h"
#include "loop.h"
#include "mem.h"
#include "parser.h"
#include "perms.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
#include "sysacc.h"
#include "worker.h"

enum deliver_variant {
    DELIVER_MSG = 0,      /* no header block: sizes as the publisher wrote them */
    DELIVER_HMSG,         /* header block kept, for subscribers that take headers */
    DELIVER_MSG_STRIPPED, /* header block dropped, size recomputed */
    DELIVER_NVARIANTS,
};

struct deliver_line {
    bool built;
    size_t pre_off, pre_len; /* offsets into the worker's scratch line buffer */
    size_t suf_off, suf_len;
};

struct deliver_ctx {
    const struct deliver_msg *m;
    /* the reply as clients see it: a routed reply loses its prefix, and the
     * client remembers where its answer goes */
    const char *lreply;
    size_t lreply_len;
    bool routed_reply;
    struct conn *src;
    struct sbuf *buf;
    struct deliver_line v[DELIVER_NVARIANTS];
};

static void deliver_build(struct deliver_ctx *x, enum deliver_variant var)
{
    const struct deliver_msg *m = x->m;
    struct deliver_line *l = &x->v[var];
    struct sbuf *b = x->buf;
    l->pre_off = b->len;
    sbuf_adds(b, var == DELIVER_HMSG ? "HMSG " : "MSG ");
    sbuf_add(b, m->subject, m->subject_len);
    sbuf_addc(b, ' ');
    l->pre_len = b->len - l->pre_off;
    l->suf_off = b->len;
    if (x->lreply) {
        sbuf_addc(b, ' ');
        sbuf_add(b, x->lreply, x->lreply_len);
    }
    sbuf_addc(b, ' ');
    if (var == DELIVER_HMSG) {
        sbuf_add(b, m->hdr_tok, m->hdr_tok_len);
        sbuf_addc(b, ' ');
        sbuf_add(b, m->total_tok, m->total_tok_len);
    } else if (var == DELIVER_MSG_STRIPPED) {
        sbuf_addf(b, "%zu", m->total_len - m->hdr_len);
    } else {
        sbuf_add(b, m->total_tok, m->total_tok_len);
    }
    sbuf_add(b, "\r\n", 2);
    l->suf_len = b->len - l->suf_off;
    l->built = true;
}

/* Append the message for subscription cs. Returns true if it was queued. */
static bool deliver_to(struct worker *w, struct deliver_ctx *x, struct csub *cs)
{
    const struct deliver_msg *m = x->m;
    struct conn *c = csub_conn(cs);
    struct perms_conn *pc = c->perms;
    /* a subscribe deny entry inside a wildcard subscription (checkDenySub) */
    if (pc && perms_deliver_denied(pc, m->subject, m->subject_len))
        return false;
    enum deliver_variant var = DELIVER_MSG;
    const char *body = m->payload;
    size_t body_len = m->total_len;
    if (m->hdr_len > 0) {
        if (c->headers) {
            var = DELIVER_HMSG;
        } else {
            /* the subscriber did not negotiate headers: the block is stripped */
            var = DELIVER_MSG_STRIPPED;
            body += m->hdr_len;
            body_len -= m->hdr_len;
        }
    }
    if (!x->v[var].built)
        deliver_build(x, var);
    const struct deliver_line *l = &x->v[var];
    struct iovec iov[5] = {
        {x->buf->p + l->pre_off, l->pre_len},
        {(void *)csub_sid(cs), cs->sid_len},
        {x->buf->p + l->suf_off, l->suf_len},
        {(void *)body, body_len},
        {"\r\n", 2},
    };
    size_t total = l->pre_len + cs->sid_len + l->suf_len + body_len + 2;

    conn_lock_out(c);
    bool ok = false;
    if (!cs->done) {
        ok = conn_append_locked(c, iov, 5, total, body_len);
        /* a delivery is activity (flushClients) */
        if (ok)
            c->last_out_ns = loop_now(w->loop);
        /* allow_responses: the reply may now be published to (deliverMsg) */
        if (ok && pc && pc->resp && m->reply)
            perms_reply_track_locked(pc, x->lreply, x->lreply_len, loop_clock_ns());
        if (ok && x->routed_reply)
            gateway_track_reply_locked(c, m->reply, m->reply_len);
        if (ok && ++cs->delivered == cs->max) {
            /* auto-unsubscribe reached: no more here, the owner removes it */
            cs->done = true;
            client_sub_done_locked(cs);
        }
    }
    if (ok || c->slow_consumer)
        conn_mark_flush_locked(c, w);
    /* A target past half its limit stalls the publisher (nats-server's
     * stalledWait): a subscriber that reads slower than the publisher writes
     * is slowed down to, rather than cut off at max_pending. */
    if (c != x->src && (int64_t)c->oq.pending > c->max_pending / 2)
        w->stall = true;
    conn_unlock_out(c);
    if (ok) {
        w->n_out_msgs++;
        w->n_out_bytes += body_len;
    }
    return ok;
}

/* The routes a message goes to: each route once, with the queue groups whose
 * member on that route was picked (addSubToRouteTargets). */
#define DELIVER_RT_INLINE 4

struct deliver_rt {
    struct conn *c;
    struct sub *sub;                           /* the first of its subscriptions matched */
    struct parser_slice qi[DELIVER_RT_INLINE]; /* the first queue names */
    struct parser_slice *q;                    /* NULL: qi holds them */
    size_t nq, capq;
};

/* Small clusters need no allocation: the first targets live on the stack. */
struct deliver_rts {
    struct deliver_rt inl[DELIVER_RT_INLINE];
    struct deliver_rt *v; /* NULL: inl */
    size_t n, cap;
};

static struct deliver_rt *deliver_rts_at(struct deliver_rts *t, size_t i)
{
    return t->v ? &t->v[i] : &t->inl[i];
}

static struct parser_slice *deliver_rt_queues(struct deliver_rt *r)
{
    return r->q ? r->q : r->qi;
}

static struct deliver_rt *deliver_rt_find(struct deliver_rts *t, struct conn *c)
{
    for (size_t i = 0; i < t->n; i++)
        if (deliver_rts_at(t, i)->c == c)
            return deliver_rts_at(t, i);
    if (t->n == DELIVER_RT_INLINE && !t->v) {
        t->cap = 2 * DELIVER_RT_INLINE;
        t->v = xmalloc(t->cap * sizeof(*t->v));
        memcpy(t->v, t->inl, sizeof(t->inl));
    } else if (t->v && t->n == t->cap) {
        t->cap *= 2;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    struct deliver_rt *r = deliver_rts_at(t, t->n++);
    r->c = c;
    r->sub = NULL;
    r->q = NULL;
    r->nq = 0;
    r->capq = DELIVER_RT_INLINE;
    return r;
}

static void deliver_rt_add(struct deliver_rts *t, struct sub *sub, const struct sublist_qgroup *g)
{
    struct deliver_rt *r = deliver_rt_find(t, sub->owner);
    if (!r->sub)
        r->sub = sub;
    if (!g)
        return;
    if (r->nq == r->capq) {
        r->capq *= 2;
        if (r->q) {
            r->q = xrealloc(r->q, r->capq * sizeof(*r->q));
        } else {
            r->q = xmalloc(r->capq * sizeof(*r->q));
            memcpy(r->q, r->qi, sizeof(r->qi));
        }
    }
    deliver_rt_queues(r)[r->nq++] = (struct parser_slice){g->queue, g->queue_len};
}

/* --- sets of queue names: a hash index over an array of names, in one of
 * the worker's tables (position + 1 per slot, 0 empty, linear probing) */

#define DELIVER_QIDX_MIN 64

/* An empty index for n names at most half full, in *slot (grown to *cap
 * slots when short). Returns its mask. */
static size_t deliver_qidx_reset(uint32_t **slot, size_t *cap, size_t n)
{
    size_t want = DELIVER_QIDX_MIN;
    while (want < 2 * n)
        want *= 2;
    if (*cap < want) {
        free(*slot);
        *slot = xmalloc(want * sizeof(**slot));
        *cap = want;
    }
    memset(*slot, 0, want * sizeof(**slot));
    return want - 1;
}

static void deliver_qidx_put(uint32_t *slot, size_t mask, const struct parser_slice *v, size_t i)
{
    size_t k = (size_t)hash_bytes(v[i].p, v[i].len) & mask;
    while (slot[k])
        k = (k + 1) & mask;
    slot[k] = (uint32_t)i + 1;
}

static bool deliver_qidx_has(const uint32_t *slot, size_t mask, const struct parser_slice *v,
                             const char *q, size_t len)
{
    for (size_t k = (size_t)hash_bytes(q, len) & mask; slot[k]; k = (k + 1) & mask) {
        const struct parser_slice *e = &v[slot[k] - 1];
        if (e->len == len && memcmp(e->p, q, len) == 0)
            return true;
    }
    return false;
}

static bool deliver_qlist_has(const struct parser_slice *v, size_t n, const char *q, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].len == len && memcmp(v[i].p, q, len) == 0)
            return true;
    return false;
}

/* --- served groups */

void deliver_served_init(struct deliver_served *sv, struct worker *w)
{
    sv->w = w;
    sv->q = sv->inl;
    sv->n = 0;
    sv->cap = DELIVER_SERVED_INLINE;
    sv->nindexed = 0;
    sv->imask = 0;
}

/* Past the inline room: into the worker's spill, which only this record
 * uses until deliver_served_done. */
static void deliver_served_grow(struct deliver_served *sv)
{
    struct worker *w = sv->w;
    if (sv->q == sv->inl) {
        NASSERT(!w->sv_spill_busy); /* one record at a time per worker */
        w->sv_spill_busy = true;
        if (w->sv_spill_cap < 2 * sv->cap) {
            free(w->sv_spill);
            w->sv_spill_cap = 2 * sv->cap;
            w->sv_spill = xmalloc(w->sv_spill_cap * sizeof(*w->sv_spill));
        }
        memcpy(w->sv_spill, sv->inl, sv->n * sizeof(*sv->q));
    } else {
        w->sv_spill_cap *= 2;
        w->sv_spill = xrealloc(w->sv_spill, w->sv_spill_cap * sizeof(*w->sv_spill));
    }
    sv->q = w->sv_spill;
    sv->cap = w->sv_spill_cap;
}

/* Bring the worker's index up to q[0..n), in a larger table when it would
 * be over half full. Only for a record in the spill (n past the inline
 * room), so the index is this record's too. */
static void deliver_served_index(struct deliver_served *sv)
{
    struct worker *w = sv->w;
    if (sv->nindexed == 0 || 2 * sv->n > sv->imask + 1) {
        sv->imask = deliver_qidx_reset(&w->sv_index, &w->sv_index_cap, sv->n);
        sv->nindexed = 0;
    }
    for (; sv->nindexed < sv->n; sv->nindexed++)
        deliver_qidx_put(w->sv_index, sv->imask, sv->q, sv->nindexed);
}

void deliver_served_add(struct deliver_served *sv, const char *q, size_t len)
{
    if (sv->n == sv->cap)
        deliver_served_grow(sv);
    sv->q[sv->n++] = (struct parser_slice){q, len};
    if (sv->nindexed)
        deliver_served_index(sv);
}

bool deliver_served_has(struct deliver_served *sv, const char *q, size_t len)
{
    if (sv->n <= DELIVER_SERVED_INLINE)
        return deliver_qlist_has(sv->q, sv->n, q, len);
    deliver_served_index(sv);
    return deliver_qidx_has(sv->w->sv_index, sv->imask, sv->q, q, len);
}

void deliver_served_done(struct deliver_served *sv)
{
    if (sv->q != sv->inl)
        sv->w->sv_spill_busy = false;
}

/* A message from a route serves only the queue groups its line names: a
 * short list is scanned, a long one looked up in an index built on first
 * use (*rqmask 0 until then). */
static bool deliver_rqueue_named(struct worker *w, const struct deliver_msg *m, size_t *rqmask,
                                 const struct sublist_qgroup *g)
{
    if (m->nrqueues <= DELIVER_SERVED_INLINE)
        return deliver_qlist_has(m->rqueues, m->nrqueues, g->queue, g->queue_len);
    if (*rqmask == 0) {
        *rqmask = deliver_qidx_reset(&w->rq_index, &w->rq_index_cap, m->nrqueues);
        for (size_t i = 0; i < m->nrqueues; i++)
            deliver_qidx_put(w->rq_index, *rqmask, m->rqueues, i);
    }
    return deliver_qidx_has(w->rq_index, *rqmask, m->rqueues, g->queue, g->queue_len);
}

static bool deliver_is_route(const struct sub *s)
{
    return ((const struct conn *)s->owner)->kind == CONN_KIND_ROUTE;
}

/* NOLINTNEXTLINE(readability-function-size): the fan-out of one message in one place */
size_t deliver_account(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m, struct deliver_served *sv)
{
    const struct sublist_result *r =
        sublist_cache_match(w->cache, acc->sl, m->subject, m->subject_len);
    if (r->npsubs == 0 && r->nqgroups == 0)
        return 0;
    sbuf_reset(&w->line);
    struct deliver_ctx x = {.m = m, .src = src, .buf = &w->line};
    x.lreply = m->reply;
    x.lreply_len = m->reply_len;
    if (m->reply && m->reply_len > 4 && (m->reply[0] == '_' || m->reply[0] == '$'))
        x.routed_reply = gateway_strip_reply(m->reply, m->reply_len, &x.lreply, &x.lreply_len);
    bool no_echo = src && !src->opts.echo;
    /* one hop: what came from a route never goes to another route */
    bool from_route = src && src->kind == CONN_KIND_ROUTE;
    /* from a route or a gateway, only the queue groups the line names */
    bool from_remote = src && src->kind != CONN_KIND_CLIENT;
    struct deliver_rts rts;
    rts.n = 0;
    rts.v = NULL;
    size_t delivered = 0;
    size_t rqmask = 0;

    for (size_t i = 0; i < r->npsubs; i++) {
        enum conn_kind kind = ((const struct conn *)r->psubs[i]->owner)->kind;
        if (kind != CONN_KIND_CLIENT) {
            if (kind == CONN_KIND_ROUTE) {
                if (!from_route)
                    deliver_rt_add(&rts, r->psubs[i], NULL);
            } else if (sysacc_deliver(w, csub_of(r->psubs[i]), m)) {
                /* the server's own subscription in the system account */
                delivered++;
            }
            continue;
        }
        struct csub *cs = csub_of(r->psubs[i]);
        if (no_echo && csub_conn(cs) == src)
            continue;
        if (deliver_to(w, &x, cs))
            delivered++;
    }
    for (size_t q = 0; q < r->nqgroups; q++) {
        const struct sublist_qgroup *g = &r->qgroups[q];
        if (g->nsubs == 0)
            continue;
        /* from a route or a gateway, only the queue groups the line names */
        if (from_remote && !m->all_queues && !deliver_rqueue_named(w, m, &rqmask, g))
            continue;
        size_t start = sublist_qgroup_pick(g, worker_rand(w));
        bool served = false, remote_member = false;
        for (size_t k = 0; k < g->nsubs && !served; k++) {
            struct sub *s = g->subs[(start + k) % g->nsubs];
            if (deliver_is_route(s)) {
                if (from_route) {
                    remote_member = true; /* only local members for a routed message */
                    continue;
                }
                deliver_rt_add(&rts, s, g);
                served = true;
                continue;
            }
            struct csub *cs = csub_of(s);
            if (no_echo && csub_conn(cs) == src)
                continue;
            if (deliver_to(w, &x, cs)) {
                delivered++;
                served = true;
            }
        }
        /* a routed message's group with a member on another server counts as
         * served in this cluster, as the route it came from decided */
        if ((served || remote_member) && sv)
            deliver_served_add(sv, g->queue, g->queue_len);
    }
    for (size_t i = 0; i < rts.n; i++) {
        struct deliver_rt *rt = deliver_rts_at(&rts, i);
        if (route_forward_sub(w, rt->c, rt->sub, acc, m, deliver_rt_queues(rt), rt->nq))
            delivered++;
        free(rt->q);
    }
    free(rts.v);
    return delivered;
}

size_t deliver_local_served(struct worker *w, struct conn *src, struct account *acc,
                            const struct deliver_msg *m, struct deliver_served *sv)
{
    size_t n = deliver_account(w, src, acc, m, sv);
    if (account_has_streams_out(acc))
        n += imports_streams(w, src, acc, m);
    if (sv && (!src || src->kind == CONN_KIND_CLIENT))
        n += gateway_send(w, src, acc, m, sv);
    if (n)
        worker_acc_out(w, acc, n, m->total_len);
    return n;
}

size_t deliver_local(struct worker *w, struct conn *src, struct account *acc,
                     const struct deliver_msg *m)
{
    if (!w->s->gw)
        return deliver_local_served(w, src, acc, m, NULL);
    struct deliver_served sv;
    deliver_served_init(&sv, w);
    size_t n = deliver_local_served(w, src, acc, m, &sv);
    deliver_served_done(&sv);
    return n;
}
