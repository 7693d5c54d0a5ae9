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
#include "imports.h"
#include "loop.h"
#include "mem.h"
#include "parser.h"
#include "perms.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "sublist.h"
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
    r->q = NULL;
    r->nq = 0;
    r->capq = DELIVER_RT_INLINE;
    return r;
}

static void deliver_rt_add(struct deliver_rts *t, struct conn *c, const struct sublist_qgroup *g)
{
    struct deliver_rt *r = deliver_rt_find(t, c);
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

/* A message from a route serves only the queue groups its line names. */
static bool deliver_rqueue_named(const struct deliver_msg *m, const struct sublist_qgroup *g)
{
    for (size_t i = 0; i < m->nrqueues; i++)
        if (m->rqueues[i].len == g->queue_len &&
            memcmp(m->rqueues[i].p, g->queue, g->queue_len) == 0)
            return true;
    return false;
}

static bool deliver_queue_served(const struct deliver_msg *m, bool from_remote,
                                 const struct sublist_qgroup *g)
{
    return !from_remote || m->all_queues || deliver_rqueue_named(m, g);
}

static bool deliver_is_route(const struct sub *s)
{
    return ((const struct conn *)s->owner)->kind == CONN_KIND_ROUTE;
}

static void deliver_served_add(struct deliver_served *sv, const struct sublist_qgroup *g)
{
    if (sv && sv->n < DELIVER_SERVED_MAX)
        sv->q[sv->n++] = (struct parser_slice){g->queue, g->queue_len};
}

/* NOLINTNEXTLINE(readability-function-size): the fan-out of one message in one place */
size_t deliver_account(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m, struct deliver_served *sv)
{
    if (sv)
        sv->n = 0;
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

    for (size_t i = 0; i < r->npsubs; i++) {
        if (deliver_is_route(r->psubs[i])) {
            if (!from_route)
                deliver_rt_add(&rts, r->psubs[i]->owner, NULL);
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
        if (!deliver_queue_served(m, from_remote, g))
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
                deliver_rt_add(&rts, s->owner, g);
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
        if (served || remote_member)
            deliver_served_add(sv, g);
    }
    for (size_t i = 0; i < rts.n; i++) {
        struct deliver_rt *rt = deliver_rts_at(&rts, i);
        if (route_forward(w, rt->c, acc, m, deliver_rt_queues(rt), rt->nq))
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
    return deliver_local_served(w, src, acc, m, &sv);
}
