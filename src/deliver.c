/* SPDX-License-Identifier: Apache-2.0
 * Fan-out to local subscriptions, as nats-server's processMsgResults: every
 * plain subscription gets a copy, every queue group one copy, to a member
 * picked at random (weighted) and then the next one that takes it. */
#include "deliver.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "account.h"
#include "client.h"
#include "common.h"
#include "conn.h"
#include "sublist.h"
#include "worker.h"

#define DELIVER_IOV 12

static inline struct csub *deliver_csub(struct sub *s)
{
    return (struct csub *)((char *)s - offsetof(struct csub, sub));
}

/* Append MSG or HMSG for subscription cs. Returns true if it was queued. */
static bool deliver_to(struct worker *w, struct csub *cs, const struct deliver_msg *m)
{
    struct conn *c = cs->c;
    struct iovec iov[DELIVER_IOV];
    int n = 0;
    char size[24];
    const char *body = m->payload;
    size_t body_len = m->total_len;
    bool hmsg = m->hdr_len > 0 && c->headers;

#define DELIVER_ADD(p, l)                                                                          \
    do {                                                                                           \
        iov[n].iov_base = (void *)(p);                                                             \
        iov[n].iov_len = (l);                                                                      \
        n++;                                                                                       \
    } while (0)

    DELIVER_ADD(hmsg ? "HMSG " : "MSG ", hmsg ? 5 : 4);
    DELIVER_ADD(m->subject, m->subject_len);
    DELIVER_ADD(" ", 1);
    DELIVER_ADD(cs->sid, cs->sid_len);
    if (m->reply) {
        DELIVER_ADD(" ", 1);
        DELIVER_ADD(m->reply, m->reply_len);
    }
    DELIVER_ADD(" ", 1);
    if (hmsg) {
        DELIVER_ADD(m->hdr_tok, m->hdr_tok_len);
        DELIVER_ADD(" ", 1);
        DELIVER_ADD(m->total_tok, m->total_tok_len);
    } else if (m->hdr_len > 0) {
        /* the subscriber did not negotiate headers: the block is stripped */
        body += m->hdr_len;
        body_len -= m->hdr_len;
        int k = snprintf(size, sizeof(size), "%zu", body_len);
        DELIVER_ADD(size, (size_t)k);
    } else {
        DELIVER_ADD(m->total_tok, m->total_tok_len);
    }
    DELIVER_ADD("\r\n", 2);
    DELIVER_ADD(body, body_len);
    DELIVER_ADD("\r\n", 2);
#undef DELIVER_ADD

    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;

    conn_lock_out(c);
    bool ok = false;
    if (!cs->done) {
        ok = conn_append_locked(c, iov, n, total);
        if (ok && ++cs->delivered == cs->max) {
            /* auto-unsubscribe reached: no more here, the owner removes it */
            cs->done = true;
            client_sub_done_locked(cs);
        }
    }
    if (ok || c->slow_consumer)
        conn_mark_flush_locked(c, w);
    conn_unlock_out(c);
    if (ok) {
        atomic_fetch_add_explicit(&w->out_msgs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->out_bytes, body_len, memory_order_relaxed);
    }
    return ok;
}

size_t deliver_local(struct worker *w, struct conn *src, struct account *acc,
                     const struct deliver_msg *m)
{
    const struct sublist_result *r =
        sublist_cache_match(w->cache, acc->sl, m->subject, m->subject_len);
    bool no_echo = src && !src->opts.echo;
    size_t delivered = 0;

    for (size_t i = 0; i < r->npsubs; i++) {
        struct csub *cs = deliver_csub(r->psubs[i]);
        if (no_echo && cs->c == src)
            continue;
        if (deliver_to(w, cs, m))
            delivered++;
    }
    for (size_t q = 0; q < r->nqgroups; q++) {
        const struct sublist_qgroup *g = &r->qgroups[q];
        if (g->nsubs == 0)
            continue;
        size_t start = sublist_qgroup_pick(g, worker_rand(w));
        for (size_t k = 0; k < g->nsubs; k++) {
            struct csub *cs = deliver_csub(g->subs[(start + k) % g->nsubs]);
            if (no_echo && cs->c == src)
                continue;
            if (deliver_to(w, cs, m)) {
                delivered++;
                break;
            }
        }
    }
    return delivered;
}
