/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the input is a program of A-/A+/RS+/RS-/cmd 2/cmd 3
 * inputs, interest queries and turn ends on one gwint, run against a naive
 * model of docs/protocol/gateway.md §5.3 (lists and subject_matches). Every query
 * and every monitoring row must agree with the model; the queue names a query
 * returned are read again after later inputs, before the turn ends (ASan
 * checks that retirement kept them alive). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gwint.h"
#include "parser.h"
#include "server.h"
#include "subject.h"
#include "sublist.h"
#include "worker.h"

#define FUZZ_MAX  64 /* ni members and subs per account */
#define FUZZ_SUBJ 16
#define FUZZ_NACC 3
#define FUZZ_NQ   4

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

struct fuzz_str {
    char s[FUZZ_SUBJ];
    size_t len;
};

struct fuzz_msub {
    struct fuzz_str subj;
    int queue; /* -1 plain, else an index into fuzz_queues */
};

enum { FUZZ_ABSENT = 0, FUZZ_NONE, FUZZ_ENTRY };

struct fuzz_macc {
    int state;
    enum gwint_mode mode;
    bool ni_null;
    struct fuzz_str ni[FUZZ_MAX];
    size_t nni;
    struct fuzz_msub subs[FUZZ_MAX];
    size_t nsubs;
};

static const char *fuzz_accs[FUZZ_NACC] = {"$G", "A", "AB"};
static const char *fuzz_queues[FUZZ_NQ] = {"q1", "q2", "q3", "q4"};

static bool fuzz_byte(struct fuzz_in *in, uint8_t *b)
{
    if (in->n == 0)
        return false;
    *b = *in->p++;
    in->n--;
    return true;
}

/* A subject from a small table (so that subscriptions, no-interest entries
 * and queries meet often), or, for a byte of 0xe0 and up, up to 15 characters
 * from a small alphabet. */
static void fuzz_subject(struct fuzz_in *in, struct fuzz_str *out)
{
    static const char *table[] = {
        "a",   "b",   "a.b", "a.a", "b.a",   "b.b",   "a.b.a", "a.a.b", "b.b.b", "*",     ">",
        "a.*", "*.b", "a.>", "*.*", "*.>",   "a.*.a", "*.a.*", "a.*.>", "b.>",   "a.b",   "a..b",
        "",    ".a",  "a.",  "a b", "a.>.b", ">.a",   "a*",    "a.b>",  "a.a",   "b.a.b",
    };
    static const char alpha[] = {'a', 'b', '.', '.', '*', '>', 'a', '.'};
    uint8_t sel = 0, b;
    out->len = 0;
    fuzz_byte(in, &sel);
    if (sel < 0xe0) {
        const char *t = table[sel % ARRAY_LEN(table)];
        out->len = strlen(t);
        memcpy(out->s, t, out->len);
        return;
    }
    size_t len = sel % FUZZ_SUBJ;
    while (out->len < len && fuzz_byte(in, &b))
        out->s[out->len++] = (b & 0x80) ? ' ' : alpha[b % sizeof(alpha)];
}

static bool fuzz_eq(const struct fuzz_str *a, const struct fuzz_str *b)
{
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static int fuzz_ni_find(const struct fuzz_macc *m, const struct fuzz_str *s)
{
    for (size_t i = 0; i < m->nni; i++)
        if (fuzz_eq(&m->ni[i], s))
            return (int)i;
    return -1;
}

static int fuzz_sub_find(const struct fuzz_macc *m, const struct fuzz_str *s, int q)
{
    for (size_t i = 0; i < m->nsubs; i++)
        if (m->subs[i].queue == q && fuzz_eq(&m->subs[i].subj, s))
            return (int)i;
    return -1;
}

static size_t fuzz_qsubs(const struct fuzz_macc *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nsubs; i++)
        n += m->subs[i].queue >= 0;
    return n;
}

static void fuzz_entry(struct fuzz_macc *m, enum gwint_mode mode, bool ni_null)
{
    memset(m, 0, sizeof(*m));
    m->state = FUZZ_ENTRY;
    m->mode = mode;
    m->ni_null = ni_null;
}

static void fuzz_store(struct fuzz_macc *m, const struct fuzz_str *s, int q)
{
    if (fuzz_sub_find(m, s, q) < 0)
        m->subs[m->nsubs++] = (struct fuzz_msub){*s, q};
}

static void fuzz_model_sub(struct fuzz_macc *m, const struct fuzz_str *s, int q)
{
    if (m->state != FUZZ_ENTRY) {
        if (q >= 0) {
            fuzz_entry(m, GWINT_OPTIMISTIC, false);
            fuzz_store(m, s, q);
        }
    } else if (q >= 0 || m->mode != GWINT_OPTIMISTIC) {
        fuzz_store(m, s, q);
    } else {
        bool wc = !subject_is_literal(s->s, s->len);
        size_t keep = 0;
        for (size_t i = 0; i < m->nni; i++) {
            bool drop = wc ? subject_is_subset(m->ni[i].s, m->ni[i].len, s->s, s->len)
                           : fuzz_eq(&m->ni[i], s);
            if (!drop)
                m->ni[keep++] = m->ni[i];
        }
        m->nni = keep;
    }
}

static void fuzz_model_unsub(struct fuzz_macc *m, const struct fuzz_str *s, int q)
{
    if (m->state != FUZZ_ENTRY) {
        if (q < 0) {
            fuzz_entry(m, GWINT_OPTIMISTIC, false);
            m->ni[m->nni++] = *s;
        }
    } else if (q >= 0 || m->mode != GWINT_OPTIMISTIC) {
        int i = fuzz_sub_find(m, s, q);
        if (i >= 0) {
            m->subs[i] = m->subs[--m->nsubs];
            if (m->nsubs == 0 && m->mode == GWINT_OPTIMISTIC && m->nni == 0)
                m->state = FUZZ_ABSENT;
        }
    } else if (fuzz_ni_find(m, s) < 0) {
        m->ni[m->nni++] = *s;
    }
}

static void fuzz_model_query(const struct fuzz_macc *m, bool iom, const struct fuzz_str *s,
                             bool *plain, bool groups[FUZZ_NQ])
{
    memset(groups, 0, FUZZ_NQ * sizeof(bool));
    *plain = false;
    if (m->state == FUZZ_ABSENT) {
        *plain = !iom;
        return;
    }
    if (m->state == FUZZ_NONE)
        return;
    if (!iom && !m->ni_null && fuzz_ni_find(m, s) < 0)
        *plain = true;
    if (m->ni_null || fuzz_qsubs(m) > 0) {
        for (size_t i = 0; i < m->nsubs; i++) {
            const struct fuzz_msub *ms = &m->subs[i];
            if (!subject_matches(ms->subj.s, ms->subj.len, s->s, s->len))
                continue;
            if (ms->queue < 0)
                *plain = true;
            else
                groups[ms->queue] = true;
        }
    }
}

static void fuzz_check_rows(struct gwint *g, const struct fuzz_macc *model)
{
    struct gwint_acc_info *v;
    size_t n = gwint_accounts(g, NULL, &v), want = 0, nsubs = 0;
    for (int a = 0; a < FUZZ_NACC; a++) {
        const struct fuzz_macc *m = &model[a];
        want += m->state != FUZZ_ABSENT;
        nsubs += m->state == FUZZ_ENTRY ? m->nsubs : 0;
        struct gwint_acc_info *one;
        size_t k = gwint_accounts(g, fuzz_accs[a], &one);
        NASSERT(k == (m->state != FUZZ_ABSENT));
        if (k == 1) {
            bool e = m->state == FUZZ_ENTRY;
            NASSERT(strcmp(one->name, fuzz_accs[a]) == 0);
            NASSERT(one->mode == (e ? m->mode : GWINT_OPTIMISTIC));
            NASSERT(one->no_interest_count == (e && !m->ni_null ? m->nni : 0));
            NASSERT(one->num_subs == (e ? m->nsubs : 0));
            NASSERT(one->num_queue_subs == (e ? fuzz_qsubs(m) : 0));
        }
        free(one);
    }
    NASSERT(n == want);
    NASSERT(gwint_num_subs(g) == nsubs);
    free(v);
}

static void fuzz_turn_end(struct worker *w)
{
    for (size_t i = 0; i < w->nretired; i++)
        w->retired[i].free_fn(w->retired[i].p);
    w->nretired = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct server srv;
    static struct worker wk;
    static struct fuzz_macc model[FUZZ_NACC];
    struct fuzz_in in = {data, size};
    struct parser_slice held[FUZZ_NQ]; /* queue names of the last query */
    size_t nheld = 0;
    uint8_t op, b;

    memset(&srv, 0, sizeof(srv));
    memset(&wk, 0, sizeof(wk));
    memset(model, 0, sizeof(model));
    wk.s = &srv;
    if (!fuzz_byte(&in, &b))
        return 0;
    bool iom = b & 1;
    struct gwint *g = gwint_new(iom);
    struct sublist_cache *c = sublist_cache_new(b & 2 ? 0 : 8);

    while (fuzz_byte(&in, &op) && fuzz_byte(&in, &b)) {
        int a = b % FUZZ_NACC;
        int q = (b >> 2) % (FUZZ_NQ + 1) - 1;
        struct fuzz_macc *m = &model[a];
        const char *acc = fuzz_accs[a];
        size_t alen = strlen(acc);
        struct fuzz_str s;
        switch (op % 8) {
        case 0: /* A- */
            NASSERT(gwint_account_unsub(g, &wk, acc, alen) == 0);
            if (m->state == FUZZ_ENTRY && fuzz_qsubs(m) > 0) {
                m->ni_null = false;
                m->nni = 0;
            } else {
                memset(m, 0, sizeof(*m));
                m->state = FUZZ_NONE;
            }
            break;
        case 1: /* A+ */
            NASSERT(gwint_account_sub(g, &wk, acc, alen) == 0);
            if (m->state == FUZZ_NONE || (m->state == FUZZ_ENTRY && fuzz_qsubs(m) == 0))
                m->state = FUZZ_ABSENT;
            break;
        case 2:   /* RS+ */
        case 3: { /* RS- */
            fuzz_subject(&in, &s);
            bool valid = subject_is_valid(s.s, s.len);
            bool full = m->state == FUZZ_ENTRY && (m->nni == FUZZ_MAX || m->nsubs == FUZZ_MAX);
            if (full)
                break; /* the model has no room: skip it for both */
            const char *qn = q >= 0 ? fuzz_queues[q] : NULL;
            size_t ql = qn ? strlen(qn) : 0;
            int rc = op % 8 == 2 ? gwint_sub(g, &wk, acc, alen, s.s, s.len, qn, ql, 1)
                                 : gwint_unsub(g, &wk, acc, alen, s.s, s.len, qn, ql);
            NASSERT(rc == (valid ? 0 : -1));
            if (valid && op % 8 == 2)
                fuzz_model_sub(m, &s, q);
            else if (valid)
                fuzz_model_unsub(m, &s, q);
            break;
        }
        case 4: /* INFO gateway_cmd 2 */
            gwint_all_subs_start(g, acc, alen);
            if (m->state != FUZZ_ENTRY)
                fuzz_entry(m, GWINT_TRANSITIONING, true);
            else
                m->mode = GWINT_TRANSITIONING;
            break;
        case 5: /* INFO gateway_cmd 3 */
            gwint_all_subs_complete(g, acc, alen);
            if (m->state == FUZZ_ENTRY) {
                m->ni_null = true;
                m->nni = 0;
                m->mode = GWINT_INTEREST_ONLY;
            }
            break;
        case 6: { /* query */
            bool plain, want_plain, want_g[FUZZ_NQ];
            size_t nq, ng = 0;
            fuzz_subject(&in, &s);
            if (!subject_is_valid_publish(s.s, s.len))
                break;
            bool any = gwint_match(g, c, acc, alen, s.s, s.len, &plain, held, FUZZ_NQ, &nq);
            nheld = nq;
            fuzz_model_query(m, iom, &s, &want_plain, want_g);
            NASSERT(plain == want_plain);
            for (int k = 0; k < FUZZ_NQ; k++)
                ng += want_g[k];
            NASSERT(nq == ng);
            NASSERT(any == (plain || nq > 0));
            for (size_t i = 0; i < nq; i++) {
                int k = held[i].p[1] - '1';
                NASSERT(held[i].len == 2 && k >= 0 && k < FUZZ_NQ && want_g[k]);
                want_g[k] = false; /* each group once */
            }
            NASSERT(gwint_has_queues(g, acc, alen) ==
                    (m->state == FUZZ_ENTRY && fuzz_qsubs(m) > 0));
            break;
        }
        default: /* end of turn: held names may be reclaimed */
            fuzz_turn_end(&wk);
            nheld = 0;
            break;
        }
        /* names from the last query stay readable until the turn ends */
        for (size_t i = 0; i < nheld; i++)
            NASSERT(held[i].p[0] == 'q');
        fuzz_check_rows(g, model);
    }
    gwint_free(g, &wk);
    for (size_t i = 0; i < nheld; i++)
        NASSERT(held[i].p[0] == 'q');
    fuzz_turn_end(&wk);
    free(wk.retired);
    sublist_cache_free(c);
    return 0;
}
