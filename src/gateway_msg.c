/* SPDX-License-Identifier: Apache-2.0
 * The GATEWAY kind, message side: the local cluster's interest as inbound
 * peers are told it (RS+/RS- on the first and last plain subscriber of a
 * subject and the first and last member of a queue group; the interest-only
 * switch at registration), messages sent on outbounds (interest from gwint,
 * queue groups once in the supercluster, RTT order, routed-reply mapping),
 * messages received on inbounds, and routed replies ("_GR_.") coming back. */
#include <stdio.h>
#include <string.h>

#include "account.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "gateway.h"
#include "gateway_int.h"
#include "gwint.h"
#include "gwrecent.h"
#include "hash.h"
#include "log.h"
#include "mem.h"
#include "parser.h"
#include "proto.h"
#include "route.h"
#include "sbuf.h"
#include "server.h"
#include "subject.h"
#include "sublist.h"
#include "worker.h"

#define GW_RECENT_NS   (2ull * GW_NS) /* reply mapping window and mapping TTL */
#define GW_OLD_PREFIX  "$GR."
#define GW_OLD_PRE_LEN 9
#define GW_NEW_PREFIX  "_GR_."

static void gw_lint_key(const void *val, const char **key, size_t *len)
{
    const struct gw_lint *l = val;
    *key = l->key;
    *len = l->keylen;
}

static const struct hmap_ops gw_lint_ops = {.key = gw_lint_key};

/* --- interest lines for inbound peers */

static void gw_lint_line(struct sbuf *b, const struct gw_lint *l, bool add)
{
    sbuf_adds(b, add ? "RS+ " : "RS- ");
    sbuf_add(b, l->key, l->keylen);
    if (add && l->queue)
        sbuf_adds(b, " 1");
    sbuf_adds(b, "\r\n");
}

/* Distinct recent subscriptions held (about 200 bytes each with the
 * subject): past it every reply is mapped for a window (gwrecent.h). */
#define GW_RECENT_MAX (1u << 17)

struct gwrecent *gw_recent_new(void)
{
    return gwrecent_new(GW_RECENT_NS, GW_RECENT_MAX);
}

void gw_recent_free_all(struct gw_state *gs)
{
    gwrecent_free(gs->recent);
    gs->recent = NULL;
}

void gateway_sub_changed(struct server *s, struct account *acc, const struct sub *sub, int delta)
{
    struct gw_state *gs = s->gw;
    if (!gs)
        return;
    size_t alen = strlen(acc->name);
    size_t keylen = alen + 1 + sub->subject_len + (sub->queue ? 1 + sub->queue_len : 0);
    char stackkey[512];
    char *key = keylen <= sizeof(stackkey) ? stackkey : xmalloc(keylen);
    memcpy(key, acc->name, alen);
    key[alen] = ' ';
    memcpy(key + alen + 1, sub->subject, sub->subject_len);
    if (sub->queue) {
        key[alen + 1 + sub->subject_len] = ' ';
        memcpy(key + alen + 2 + sub->subject_len, sub->queue, sub->queue_len);
    }
    if (delta > 0 && !sub->queue)
        gwrecent_add(gs->recent, acc, sub->subject, sub->subject_len, loop_clock_ns());
    struct sbuf line = {0};
    pthread_mutex_lock(&gs->mu);
    struct gw_lint *l = hmap_get(&gs->lint, &gw_lint_ops, key, keylen);
    if (!l) {
        /* a removal always follows its subscription's insertion: a count
         * going below zero is a subscription removed twice */
        NASSERT(delta > 0);
        l = xcalloc(1, sizeof(*l) + keylen);
        memcpy(l->key, key, keylen);
        l->keylen = (uint32_t)keylen;
        l->acclen = (uint32_t)alen;
        l->queue = sub->queue != NULL;
        hmap_put(&gs->lint, &gw_lint_ops, l);
    }
    int32_t before = l->n;
    l->n += delta;
    NASSERT(l->n >= 0);
    if ((before == 0) != (l->n == 0) && gs->nin > 0) {
        gw_lint_line(&line, l, l->n > 0);
        for (size_t i = 0; i < gs->nin; i++) {
            struct conn *c = gs->in[i];
            conn_send(c, line.p, line.len);
            if (LOG_ENABLED(LOG_LEVEL_TRACE))
                CONN_LOG(LOG_LEVEL_TRACE, c, "->> [%.*s]", (int)line.len - 2, line.p);
        }
    }
    if (l->n == 0) {
        hmap_del(&gs->lint, &gw_lint_ops, l->key, l->keylen);
        free(l);
    }
    pthread_mutex_unlock(&gs->mu);
    sbuf_free(&line);
    if (key != stackkey)
        free(key);
}

struct gw_dump {
    struct sbuf *b;
    const char *acc;
    size_t acclen;
    bool queue;
};

static void gw_dump_one(void *val, void *arg)
{
    const struct gw_lint *l = val;
    struct gw_dump *d = arg;
    if (l->queue != d->queue || l->n <= 0)
        return;
    if (d->acc && (l->acclen != d->acclen || memcmp(l->key, d->acc, d->acclen) != 0))
        return;
    gw_lint_line(d->b, l, true);
}

void gw_queue_lines(struct gw_state *gs, struct sbuf *out)
{
    struct gw_dump d = {out, NULL, 0, true};
    hmap_each(&gs->lint, gw_dump_one, &d);
}

static void gw_cmd_line(struct gw_state *gs, int cmd, const char *acc, struct sbuf *out)
{
    struct proto_info in = {
        .server_id = "",
        .server_name = "",
        .version = "",
        .go = "",
        .host = "",
        .gateway = gs->name,
        .gateway_cmd = cmd,
        .gateway_cmd_payload = (const unsigned char *)acc,
        .gateway_cmd_payload_len = strlen(acc),
        .no_space = true,
    };
    proto_info_line(&in, out);
}

static void gw_account_switch_lines(struct gw_state *gs, const char *name, struct sbuf *out)
{
    gw_cmd_line(gs, 2, name, out);
    struct gw_dump d = {out, name, strlen(name), false};
    hmap_each(&gs->lint, gw_dump_one, &d);
    gw_cmd_line(gs, 3, name, out);
}

void gw_accounts_switch_lines(struct gw_state *gs, struct sbuf *out)
{
    struct account_table *t = gs->s->accounts;
    size_t n = atomic_load(&t->n);
    for (size_t i = 0; i < n; i++)
        if (!account_is_removed(t->v[i]))
            gw_account_switch_lines(gs, t->v[i]->name, out);
}

void gateway_account_added(struct server *s, struct account *acc)
{
    struct gw_state *gs = s->gw;
    if (!gs)
        return;
    struct sbuf b = {0};
    pthread_mutex_lock(&gs->mu);
    if (gs->nin > 0) {
        gw_account_switch_lines(gs, acc->name, &b);
        for (size_t i = 0; i < gs->nin; i++)
            conn_send(gs->in[i], b.p, b.len);
    }
    pthread_mutex_unlock(&gs->mu);
    sbuf_free(&b);
}

static void gw_lint_free_one(void *val, void *arg)
{
    (void)arg;
    free(val);
}

void gw_lint_free_all(struct gw_state *gs)
{
    hmap_each(&gs->lint, gw_lint_free_one, NULL);
    hmap_free(&gs->lint);
}

/* --- inbound monitoring rows */

size_t gw_inbound_accounts(struct server *s, const struct gw_conn *gd, const char *acc,
                           struct gwint_acc_info **out)
{
    struct account_table *t = s->accounts;
    size_t na = atomic_load(&t->n);
    size_t n = na + gd->namiss, k = 0;
    struct gwint_acc_info *v = xcalloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < na; i++) {
        if (account_is_removed(t->v[i]) || (acc && strcmp(acc, t->v[i]->name) != 0))
            continue;
        snprintf(v[k].name, sizeof(v[k].name), "%s", t->v[i]->name);
        v[k++].mode = GWINT_INTEREST_ONLY;
    }
    for (size_t i = 0; i < gd->namiss; i++) {
        if (acc && strcmp(acc, gd->amiss_keys[i]) != 0)
            continue;
        snprintf(v[k].name, sizeof(v[k].name), "%s", gd->amiss_keys[i]);
        v[k++].mode = GWINT_OPTIMISTIC;
    }
    *out = v;
    return k;
}

/* --- routed replies */

bool gateway_strip_reply(const char *reply, size_t len, const char **p, size_t *plen)
{
    if (len > GATEWAY_REPLY_PREFIX_LEN && memcmp(reply, GW_NEW_PREFIX, 5) == 0) {
        *p = reply + GATEWAY_REPLY_PREFIX_LEN;
        *plen = len - GATEWAY_REPLY_PREFIX_LEN;
        return true;
    }
    if (len > GW_OLD_PRE_LEN && memcmp(reply, GW_OLD_PREFIX, 4) == 0) {
        *p = reply + GW_OLD_PRE_LEN;
        *plen = len - GW_OLD_PRE_LEN;
        return true;
    }
    return false;
}

static void gw_rmap_prune(struct gw_rmap *m, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].expires_ns > now) {
            m->v[k++] = m->v[i];
        } else {
            free(m->v[i].stripped);
            free(m->v[i].full);
        }
    }
    m->n = k;
}

void gateway_track_reply_locked(struct conn *c, const char *full, size_t full_len)
{
    const char *p;
    size_t plen;
    if (!gateway_strip_reply(full, full_len, &p, &plen))
        return;
    struct gw_rmap *m = c->gwr;
    if (!m) {
        m = xcalloc(1, sizeof(*m));
        c->gwr = m;
    }
    uint64_t now = loop_clock_ns();
    gw_rmap_prune(m, now);
    for (size_t i = 0; i < m->n; i++) {
        struct gw_rmap_entry *e = &m->v[i];
        if (e->stripped_len == plen && memcmp(e->stripped, p, plen) == 0) {
            if (e->full_len != full_len || memcmp(e->full, full, full_len) != 0) {
                free(e->full);
                e->full = xstrndup(full, full_len);
                e->full_len = full_len;
            }
            e->expires_ns = now + GW_RECENT_NS;
            return;
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 4;
        m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n++] = (struct gw_rmap_entry){xstrndup(p, plen), plen, xstrndup(full, full_len),
                                          full_len, now + GW_RECENT_NS};
    atomic_store(&c->gwr_n, m->n);
}

void gateway_conn_free(struct conn *c)
{
    struct gw_rmap *m = c->gwr;
    if (!m)
        return;
    gw_rmap_prune(m, UINT64_MAX);
    free(m->v);
    free(m);
    c->gwr = NULL;
}

/* The outbound whose cluster hash is h (new style, 6 chars) or old (4 hex),
 * or NULL. */
static struct conn *gw_out_by_hash(struct gw_outs *o, const char *h, bool old)
{
    for (size_t i = 0; o && i < o->n; i++) {
        struct gw_conn *gd = o->v[i]->kdata;
        if (old ? memcmp(gd->oldhash, h, 4) == 0 : memcmp(gd->hash, h, GW_HASH_LEN) == 0)
            return o->v[i];
    }
    return NULL;
}

bool gateway_client_reply(struct worker *w, struct conn *c, const struct deliver_msg *m)
{
    struct gw_state *gs = c->s->gw;
    if (!gs)
        return false;
    char full[1024];
    size_t full_len = 0;
    conn_lock_out(c);
    struct gw_rmap *map = c->gwr;
    if (map) {
        gw_rmap_prune(map, loop_clock_ns());
        atomic_store(&c->gwr_n, map->n);
        for (size_t i = 0; i < map->n; i++) {
            const struct gw_rmap_entry *e = &map->v[i];
            if (e->stripped_len == m->subject_len &&
                memcmp(e->stripped, m->subject, m->subject_len) == 0 &&
                e->full_len <= sizeof(full)) {
                /* prune keeps only live entries below n */
                /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
                memcpy(full, e->full, e->full_len);
                full_len = e->full_len;
                break;
            }
        }
    }
    conn_unlock_out(c);
    if (!full_len)
        return false;
    bool old = full[0] == '$';
    struct conn *out = gw_out_by_hash(atomic_load(&gs->outs), full + (old ? 4 : 5), old);
    if (!out)
        return false;
    struct deliver_msg m2 = *m;
    m2.subject = full;
    m2.subject_len = full_len;
    sbuf_reset(&w->line);
    route_forward(w, out, c->acc, &m2, NULL, 0);
    return true;
}

/* Whether (subj, len) is a routed reply: "_GR_.<cluster>.<server>.<reply>"
 * (*old false) or "$GR.<hex4>.<reply>" (*old true). */
static bool gw_routed_subject(const char *subj, size_t len, bool *old)
{
    if (len > GATEWAY_REPLY_PREFIX_LEN && memcmp(subj, GW_NEW_PREFIX, 5) == 0)
        *old = false;
    else if (len > GW_OLD_PRE_LEN && memcmp(subj, GW_OLD_PREFIX, 4) == 0)
        *old = true;
    else
        return false;
    return true;
}

bool gateway_routed_reply(struct worker *w, struct conn *src, struct account *acc,
                          const struct deliver_msg *m)
{
    struct gw_state *gs = w->s->gw;
    if (!gs)
        return false;
    const char *subj = m->subject;
    size_t len = m->subject_len;
    bool old;
    if (!gw_routed_subject(subj, len, &old))
        return false;
    if (old ? memcmp(subj + 4, gs->oldhash, 4) != 0 : memcmp(subj + 5, gs->hash, GW_HASH_LEN) != 0)
        return true; /* for another cluster: dropped */
    if (!old && src && src->kind == CONN_KIND_GATEWAY &&
        memcmp(subj + 12, gs->srvhash, GW_HASH_LEN) != 0) {
        /* for a server of our cluster: pass it on, unchanged */
        struct conn *rc = route_find_by_hash(w->s, subj + 12);
        if (rc) {
            sbuf_reset(&w->line);
            route_forward(w, rc, acc, m, NULL, 0);
            return true;
        }
    }
    struct deliver_msg m2 = *m;
    size_t skip = old ? GW_OLD_PRE_LEN : GATEWAY_REPLY_PREFIX_LEN;
    m2.subject = subj + skip;
    m2.subject_len = len - skip;
    m2.all_queues = true;
    m2.rqueues = NULL;
    m2.nrqueues = 0;
    struct deliver_served sv;
    deliver_served_init(&sv, w);
    deliver_local_served(w, src, acc, &m2, &sv);
    /* back in its origin cluster, the reply may still be wanted elsewhere:
     * offered to the gateways (the groups served here excluded), unless it
     * answers a service import, which only this cluster knows */
    if (!(src && src->kind == CONN_KIND_CLIENT) &&
        !(m2.subject_len > 4 && memcmp(m2.subject, "_R_.", 4) == 0)) {
        m2.all_queues = false;
        gateway_send(w, src, acc, &m2, &sv);
    }
    deliver_served_done(&sv);
    return true;
}

/* --- messages received on an inbound */

static void gw_amiss_key(const void *val, const char **key, size_t *len)
{
    *key = val;
    *len = strlen(val);
}

static const struct hmap_ops gw_amiss_ops = {.key = gw_amiss_key};

/* An account we do not have: answer A- once on this inbound. */
static void gw_account_miss(struct conn *c, struct parser_slice a, const struct deliver_msg *m)
{
    struct gw_state *gs = c->s->gw;
    struct gw_conn *gd = c->kdata;
    CONN_LOG(LOG_LEVEL_DEBUG, c,
             "Unknown account \"%.*s\" for gateway message on subject: \"%.*s\"", (int)a.len, a.p,
             (int)m->subject_len, m->subject);
    pthread_mutex_lock(&gs->mu);
    bool sent = hmap_get(&gd->amiss, &gw_amiss_ops, a.p, a.len) != NULL;
    if (!sent) {
        char *k = xmalloc(a.len + 1);
        memcpy(k, a.p, a.len);
        k[a.len] = '\0';
        gd->amiss_keys = xrealloc(gd->amiss_keys, (gd->namiss + 1) * sizeof(char *));
        gd->amiss_keys[gd->namiss++] = k;
        hmap_put(&gd->amiss, &gw_amiss_ops, k);
    }
    pthread_mutex_unlock(&gs->mu);
    if (sent)
        return;
    struct sbuf b = {0};
    sbuf_adds(&b, "A- ");
    sbuf_add(&b, a.p, a.len);
    sbuf_adds(&b, "\r\n");
    conn_send(c, b.p, b.len);
    if (LOG_ENABLED(LOG_LEVEL_TRACE))
        CONN_LOG(LOG_LEVEL_TRACE, c, "->> [%.*s]", (int)b.len - 2, b.p);
    sbuf_free(&b);
}

void gw_inbound_msg(struct conn *c, struct parser_slice a, const struct deliver_msg *m)
{
    struct worker *w = c->w;
    struct account *acc = account_table_find_n(c->s->accounts, a.p, a.len);
    if (!acc) {
        gw_account_miss(c, a, m);
        return;
    }
    if (m->subject_len == 0)
        return;
    if (gateway_routed_reply(w, c, acc, m))
        return;
    deliver_local(w, c, acc, m);
}

/* --- messages sent on outbounds */

/* Build the mapped reply "_GR_.<cluster>.<server>.<reply>" (or the old
 * "$GR.<hex4>.<reply>") into buf. Returns its length, 0 when it does not fit. */
static size_t gw_map_reply(const struct gw_state *gs, bool nrp, const char *reply, size_t len,
                           char *buf, size_t size)
{
    size_t pre = nrp ? GATEWAY_REPLY_PREFIX_LEN : GW_OLD_PRE_LEN;
    if (pre + len > size)
        return 0;
    if (nrp)
        snprintf(buf, size, "_GR_.%s.%s.", gs->hash, gs->srvhash);
    else
        snprintf(buf, size, "$GR.%s.", gs->oldhash);
    memcpy(buf + pre, reply, len);
    return pre + len;
}

/* The send decision cache, one per worker: for an (account, subject) whose
 * every outbound answered with plain interest or none (no queue group
 * anywhere, so the local cluster's members do not matter), the outbounds
 * that take it, as a bit mask over the outs snapshot. An entry holds while
 * gs->igen does: any interest input on any outbound, and any new snapshot,
 * bumps it. Direct-mapped; a subject longer than a slot holds is never
 * cached. */
#define GW_SC_SLOTS 512
#define GW_SC_SUBJ  80
#define GW_SC_OUTS  32

struct gw_sc_slot {
    const struct account *acc; /* NULL: empty */
    const struct gw_outs *outs;
    uint64_t gen;
    uint32_t want; /* bit i: o->v[i] takes the message */
    uint32_t len;
    char subj[GW_SC_SUBJ];
};

static struct gw_sc_slot *gw_sc_slot(struct worker *w, const struct account *acc, const char *subj,
                                     size_t len)
{
    struct gw_sc_slot *t = w->gw_send_cache;
    if (!t)
        t = w->gw_send_cache = xcalloc(GW_SC_SLOTS, sizeof(*t));
    uint32_t h = (uint32_t)hash_bytes(subj, len) ^ (uint32_t)(((uintptr_t)acc >> 4) * 0x9e3779b1u);
    return &t[h & (GW_SC_SLOTS - 1)];
}

/* The reply as outbound oc must carry it: mapped to "_GR_." (or "$GR.")
 * when it was a recent subscription's, decided once per message. */
struct gw_reply_map {
    int state; /* 0 undecided, 1 map, 2 do not */
    size_t len;
    char buf[1100];
};

static void gw_send_to(struct worker *w, struct gw_state *gs, struct conn *oc,
                       const struct account *acc, const struct deliver_msg *m,
                       struct gw_reply_map *rm, const struct parser_slice *q, size_t nq,
                       size_t *sent)
{
    const struct gw_conn *gd = oc->kdata;
    struct deliver_msg m2 = *m;
    if (m->reply && m->reply_len) {
        if (rm->state == 0)
            rm->state =
                gwrecent_match(gs->recent, acc, m->reply, m->reply_len, loop_clock_ns()) ? 1 : 2;
        if (rm->state == 1) {
            rm->len =
                gw_map_reply(gs, gd->peer_nrp, m->reply, m->reply_len, rm->buf, sizeof(rm->buf));
            if (rm->len) {
                m2.reply = rm->buf;
                m2.reply_len = rm->len;
            }
        }
    }
    if (route_forward(w, oc, acc, &m2, q, nq))
        (*sent)++;
}

/* gwint_match_each's callback: a group of the peer's not served yet is
 * given to it, and counts as served from now on. */
static void gw_queue_pick(void *arg, const char *queue, size_t len)
{
    struct deliver_served *sv = arg;
    if (!deliver_served_has(sv, queue, len))
        deliver_served_add(sv, queue, len);
}

size_t gateway_send(struct worker *w, struct conn *src, struct account *acc,
                    const struct deliver_msg *m, struct deliver_served *sv)
{
    (void)src;
    struct gw_state *gs = w->s->gw;
    if (!gs || atomic_load_explicit(&gs->nouts, memory_order_relaxed) == 0 || m->subject_len == 0)
        return 0;
    /* read before the snapshot and before any query: a decision computed
     * from older state than this is never stored under it */
    uint64_t gen = atomic_load_explicit(&gs->igen, memory_order_acquire);
    struct gw_outs *o = atomic_load(&gs->outs);
    if (!o || o->n == 0)
        return 0;
    struct gw_reply_map rm;
    rm.state = 0;
    size_t sent = 0;
    sbuf_reset(&w->line); /* the local deliveries are queued: reuse it */
    /* A routed reply published here (a system service answering a request
     * that came over a gateway: its reply is the full "_GR_." one) goes to
     * the outbound of the cluster it names and to no other, whatever that
     * cluster told of its interest: the requester's cluster never announces
     * its routed replies (nats-server's sendMsgToGateways does the same). */
    bool old;
    if (gw_routed_subject(m->subject, m->subject_len, &old)) {
        struct conn *oc = gw_out_by_hash(o, m->subject + (old ? 4 : 5), old);
        if (oc)
            gw_send_to(w, gs, oc, acc, m, &rm, NULL, 0, &sent);
        return sent;
    }
    struct gw_sc_slot *slot = NULL;
    if (o->n <= GW_SC_OUTS && m->subject_len <= GW_SC_SUBJ) {
        slot = gw_sc_slot(w, acc, m->subject, m->subject_len);
        if (slot->acc == acc && slot->gen == gen && slot->outs == o &&
            slot->len == m->subject_len && memcmp(slot->subj, m->subject, m->subject_len) == 0) {
            for (uint32_t want = slot->want; want; want &= want - 1)
                gw_send_to(w, gs, o->v[__builtin_ctz(want)], acc, m, &rm, NULL, 0, &sent);
            return sent;
        }
    }
    size_t alen = strlen(acc->name);
    bool cacheable = slot != NULL;
    uint32_t want = 0;
    for (size_t i = 0; i < o->n; i++) {
        struct conn *oc = o->v[i];
        struct gw_conn *gd = oc->kdata;
        bool plain = false;
        size_t nq = 0;
        /* the peer's groups not served yet (here, or by an earlier gateway
         * of the loop) are added to sv: this gateway's are the new tail */
        size_t first = sv->n;
        bool any = gwint_match_each(gd->gi, w->cache, acc->name, alen, m->subject, m->subject_len,
                                    &plain, gw_queue_pick, sv, &nq);
        if (nq > 0)
            cacheable = false;
        if (!any)
            continue;
        size_t nkeep = sv->n - first;
        if (!plain && nkeep == 0)
            continue;
        if (plain && nq == 0)
            want |= 1u << i;
        gw_send_to(w, gs, oc, acc, m, &rm, sv->q + first, nkeep, &sent);
    }
    if (cacheable) {
        slot->acc = acc;
        slot->outs = o;
        slot->gen = gen;
        slot->want = want;
        slot->len = (uint32_t)m->subject_len;
        memcpy(slot->subj, m->subject, m->subject_len);
    }
    return sent;
}
