/* SPDX-License-Identifier: Apache-2.0
 * Client permissions (nats-server client.go: setPermissions, canSubscribe,
 * queueMatches, pubAllowedFullCheck, checkDenySub, pruneReplyPerms). */
#include "perms.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "mem.h"
#include "opts.h"
#include "sbuf.h"
#include "util.h"
#include "subject.h"

/* nats-server: maxPermCacheSize, pruneSize, replyPermLimit */
#define PERMS_PCACHE_MAX  128
#define PERMS_PRUNE       32
#define PERMS_REPLY_LIMIT 4096

struct perms_pentry {
    bool allowed;
    size_t len;
    char key[];
};

struct perms_reply {
    uint64_t t_ns;
    int64_t n;
    size_t len;
    char key[];
};

static void perms_pentry_key(const void *v, const char **k, size_t *n)
{
    const struct perms_pentry *e = v;
    *k = e->key;
    *n = e->len;
}

static void perms_reply_key(const void *v, const char **k, size_t *n)
{
    const struct perms_reply *e = v;
    *k = e->key;
    *n = e->len;
}

static const struct hmap_ops perms_pentry_ops = {.key = perms_pentry_key};
static const struct hmap_ops perms_reply_ops = {.key = perms_reply_key};

/* Add one entry: "subject" or, when queues is true, "subject queue"
 * (splitSubjectQueue). Entries that do not make a valid subscription are
 * skipped, as nats-server logs and skips them. */
static void perms_list_add(struct perms_list *l, const char *entry, bool queues)
{
    const char *subj = entry, *q = NULL;
    size_t slen = strlen(entry), qlen = 0;
    if (queues) {
        const char *sp = strchr(entry, ' ');
        if (sp) {
            slen = (size_t)(sp - entry);
            q = sp + 1;
            while (*q == ' ')
                q++;
            qlen = strlen(q);
            while (qlen && q[qlen - 1] == ' ')
                qlen--;
            if (memchr(q, ' ', qlen))
                return; /* more than two fields */
            if (qlen == 0)
                q = NULL;
        }
    }
    struct sub *s = xcalloc(1, sizeof(*s) + slen + qlen + 2);
    char *p = (char *)(s + 1);
    memcpy(p, subj, slen);
    s->subject = p;
    s->subject_len = (uint32_t)slen;
    if (q) {
        memcpy(p + slen + 1, q, qlen);
        s->queue = p + slen + 1;
        s->queue_len = (uint32_t)qlen;
    }
    s->qweight = 1;
    if (sublist_insert(l->sl, s) != 0) {
        free(s);
        return;
    }
    l->subs = xrealloc(l->subs, (l->n + 1) * sizeof(*l->subs));
    l->subs[l->n++] = s;
}

static void perms_list_init(struct perms_list *l, const struct strlist *entries, bool queues)
{
    l->sl = sublist_new();
    for (size_t i = 0; i < entries->n; i++)
        perms_list_add(l, entries->v[i], queues);
}

static void perms_list_free(struct perms_list *l)
{
    sublist_free(l->sl);
    for (size_t i = 0; i < l->n; i++)
        free(l->subs[i]);
    free(l->subs);
    memset(l, 0, sizeof(*l));
}

struct perms_conn *perms_conn_new(const struct opts_perms *p)
{
    if (!p)
        return NULL;
    struct perms_conn *pc = xcalloc(1, sizeof(*pc));
    if (p->publish.set) {
        if (p->publish.allow_set || p->publish.allow.n > 0)
            perms_list_init(&pc->pub_allow, &p->publish.allow, false);
        if (p->publish.deny.n > 0)
            perms_list_init(&pc->pub_deny, &p->publish.deny, false);
    }
    if (p->subscribe.set) {
        if (p->subscribe.allow.n > 0)
            perms_list_init(&pc->sub_allow, &p->subscribe.allow, true);
        if (p->subscribe.deny.n > 0) {
            perms_list_init(&pc->sub_deny, &p->subscribe.deny, true);
            pc->msg_deny.sl = sublist_new();
            pc->deny_raw = xcalloc(p->subscribe.deny.n, sizeof(char *));
            for (size_t i = 0; i < p->subscribe.deny.n; i++) {
                const char *d = p->subscribe.deny.v[i];
                pc->deny_raw[pc->n_deny_raw++] = xstrdup(d);
                if (!strchr(d, ' '))
                    perms_list_add(&pc->msg_deny, d, false);
            }
        }
    }
    if (p->allow_responses) {
        pc->resp = true;
        pc->resp_max = p->resp_max;
        pc->resp_expires_ns = p->resp_expires_ns;
    }
    sublist_result_init(&pc->res);
    return pc;
}

static void perms_free_val(void *v, void *arg)
{
    (void)arg;
    free(v);
}

void perms_conn_free(struct perms_conn *pc)
{
    if (!pc)
        return;
    perms_list_free(&pc->pub_allow);
    perms_list_free(&pc->pub_deny);
    perms_list_free(&pc->sub_allow);
    perms_list_free(&pc->sub_deny);
    perms_list_free(&pc->msg_deny);
    for (size_t i = 0; i < pc->n_deny_raw; i++)
        free(pc->deny_raw[i]);
    free(pc->deny_raw);
    sublist_result_free(&pc->res);
    hmap_each(&pc->pcache, perms_free_val, NULL);
    hmap_free(&pc->pcache);
    hmap_each(&pc->replies, perms_free_val, NULL);
    hmap_free(&pc->replies);
    free(pc);
}

/* Whether the list matches subj with a plain entry. */
static bool perms_list_plain(struct perms_conn *pc, struct perms_list *l, const char *subj,
                             size_t len)
{
    sublist_match(l->sl, subj, len, &pc->res);
    return pc->res.npsubs > 0;
}

/* --- publish */

struct perms_collect {
    void **v;
    size_t n, max;
};

static void perms_collect_cb(void *val, void *arg)
{
    struct perms_collect *c = arg;
    if (c->n < c->max)
        c->v[c->n++] = val;
}

/* prunePubPermsCache: drop some entries (which ones does not matter). */
static void perms_pcache_prune(struct perms_conn *pc)
{
    void *v[PERMS_PRUNE];
    struct perms_collect col = {v, 0, PERMS_PRUNE};
    hmap_each(&pc->pcache, perms_collect_cb, &col);
    for (size_t i = 0; i < col.n; i++) {
        struct perms_pentry *e = v[i];
        hmap_del(&pc->pcache, &perms_pentry_ops, e->key, e->len);
        free(e);
    }
}

enum perms_pub perms_pub_check(struct perms_conn *pc, const char *subj, size_t len)
{
    if (!pc->pub_allow.sl && !pc->pub_deny.sl)
        return PERMS_PUB_ALLOW;
    struct perms_pentry *e = hmap_get(&pc->pcache, &perms_pentry_ops, subj, len);
    if (e)
        return e->allowed ? PERMS_PUB_ALLOW : PERMS_PUB_DENY;
    bool allowed = true;
    if (pc->pub_allow.sl)
        allowed = perms_list_plain(pc, &pc->pub_allow, subj, len);
    if (allowed && pc->pub_deny.sl)
        allowed = !perms_list_plain(pc, &pc->pub_deny, subj, len);
    if (!allowed && pc->resp)
        return PERMS_PUB_REPLY; /* not cached: the reply may be allowed */
    e = xmalloc(sizeof(*e) + len);
    e->allowed = allowed;
    e->len = len;
    memcpy(e->key, subj, len);
    hmap_put(&pc->pcache, &perms_pentry_ops, e);
    if (pc->pcache.n > PERMS_PCACHE_MAX)
        perms_pcache_prune(pc);
    return allowed ? PERMS_PUB_ALLOW : PERMS_PUB_DENY;
}

static bool perms_reply_stale(const struct perms_conn *pc, const struct perms_reply *r,
                              uint64_t now_ns)
{
    if (pc->resp_max > 0 && r->n >= pc->resp_max)
        return true;
    return pc->resp_expires_ns > 0 && now_ns - r->t_ns > (uint64_t)pc->resp_expires_ns;
}

bool perms_reply_use_locked(struct perms_conn *pc, const char *subj, size_t len, uint64_t now_ns)
{
    struct perms_reply *r = hmap_get(&pc->replies, &perms_reply_ops, subj, len);
    if (!r)
        return false;
    r->n++;
    bool ok = true;
    if (pc->resp_max > 0 && r->n > pc->resp_max)
        /* NOLINTNEXTLINE(bugprone-branch-clone): two separate reasons to refuse, kept apart */
        ok = false;
    else if (pc->resp_expires_ns > 0 && now_ns - r->t_ns > (uint64_t)pc->resp_expires_ns)
        ok = false;
    if (!ok) {
        hmap_del(&pc->replies, &perms_reply_ops, subj, len);
        free(r);
    }
    return ok;
}

struct perms_prune_ctx {
    const struct perms_conn *pc;
    uint64_t now;
    struct perms_collect col;
};

static void perms_prune_cb(void *val, void *arg)
{
    struct perms_prune_ctx *x = arg;
    if (perms_reply_stale(x->pc, val, x->now))
        perms_collect_cb(val, &x->col);
}

/* pruneReplyPerms: drop used-up and expired replies. */
static void perms_replies_prune(struct perms_conn *pc, uint64_t now_ns)
{
    size_t n = pc->replies.n;
    struct perms_prune_ctx x = {pc, now_ns, {xmalloc(n * sizeof(void *)), 0, n}};
    hmap_each(&pc->replies, perms_prune_cb, &x);
    for (size_t i = 0; i < x.col.n; i++) {
        struct perms_reply *r = x.col.v[i];
        hmap_del(&pc->replies, &perms_reply_ops, r->key, r->len);
        free(r);
    }
    free(x.col.v);
}

void perms_reply_track_locked(struct perms_conn *pc, const char *reply, size_t len, uint64_t now_ns)
{
    if (!pc->resp || len == 0)
        return;
    struct perms_reply *r = hmap_get(&pc->replies, &perms_reply_ops, reply, len);
    if (!r) {
        r = xmalloc(sizeof(*r) + len);
        r->len = len;
        memcpy(r->key, reply, len);
        hmap_put(&pc->replies, &perms_reply_ops, r);
    }
    r->t_ns = now_ns;
    r->n = 0;
    if (pc->replies.n > PERMS_REPLY_LIMIT)
        perms_replies_prune(pc, now_ns);
}

void perms_conn_take_replies_locked(struct perms_conn *to, struct perms_conn *from)
{
    hmap_each(&to->replies, perms_free_val, NULL);
    hmap_free(&to->replies);
    to->replies = from->replies;
    memset(&from->replies, 0, sizeof(from->replies));
}

/* --- subscribe */

static bool perms_has_wildcard(const char *s, size_t len)
{
    size_t pos = 0, tl;
    const char *t;
    while (subject_next_token(s, len, &pos, &t, &tl))
        if (subject_tok_is_pwc(t, tl) || subject_tok_is_fwc(t, tl))
            return true;
    return false;
}

/* queueMatches: the queue is one of the groups' names, or a subset of a
 * wildcard one. */
static bool perms_queue_matches(const struct sublist_result *r, const char *q, size_t qlen)
{
    if (r->nqgroups == 0)
        return true;
    for (size_t i = 0; i < r->nqgroups; i++) {
        const char *name = r->qgroups[i].queue;
        size_t nlen = r->qgroups[i].queue_len;
        if (nlen == qlen && memcmp(name, q, qlen) == 0)
            return true;
        if (perms_has_wildcard(name, nlen) && subject_is_subset(q, qlen, name, nlen))
            return true;
    }
    return false;
}

bool perms_can_subscribe(struct perms_conn *pc, const char *subj, size_t len, const char *queue,
                         size_t qlen)
{
    bool allowed = true;
    bool has_q = queue && qlen > 0;
    if (pc->sub_allow.sl) {
        sublist_match(pc->sub_allow.sl, subj, len, &pc->res);
        allowed = pc->res.npsubs > 0;
        if (has_q && pc->res.nqgroups > 0)
            allowed = perms_queue_matches(&pc->res, queue, qlen);
    }
    if (allowed && pc->sub_deny.sl) {
        sublist_match(pc->sub_deny.sl, subj, len, &pc->res);
        allowed = pc->res.npsubs == 0;
        if (has_q && pc->res.nqgroups > 0)
            allowed = !perms_queue_matches(&pc->res, queue, qlen);
        if (allowed && !atomic_load_explicit(&pc->deny_filter, memory_order_relaxed) &&
            perms_has_wildcard(subj, len)) {
            for (size_t i = 0; i < pc->n_deny_raw; i++) {
                const char *d = pc->deny_raw[i];
                if (subject_is_subset(d, strlen(d), subj, len)) {
                    atomic_store_explicit(&pc->deny_filter, true, memory_order_release);
                    break;
                }
            }
        }
    }
    return allowed;
}

void perms_quote(struct sbuf *b, const char *s, size_t len)
{
    util_go_quote_sbuf(b, s, len);
}
