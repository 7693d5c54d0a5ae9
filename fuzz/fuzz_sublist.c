/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the input is a program of insert / remove / match / weight
 * / batch-remove operations on one sublist; every match (direct, through a
 * small cache, and has_interest) is checked against a naive list matcher. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "subject.h"
#include "sublist.h"

#define FUZZ_MAX_SUBS 256
#define FUZZ_MAX_SUBJ 48

struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static bool fuzz_byte(struct fuzz_in *in, uint8_t *b)
{
    if (in->n == 0)
        return false;
    *b = *in->p++;
    in->n--;
    return true;
}

/* Bytes become subject characters from a small alphabet (so that subjects
 * collide and wildcards are common), with the odd raw byte. */
static size_t fuzz_subject(struct fuzz_in *in, char *out)
{
    static const char alpha[] = {'a', 'b', 'c', '.', '.', '*', '>', '.'};
    uint8_t len = 0, b;
    size_t n = 0;

    fuzz_byte(in, &len);
    len %= FUZZ_MAX_SUBJ;
    while (n < len && fuzz_byte(in, &b))
        out[n++] = (b & 0x80) ? (char)(b & 0x7f) : alpha[b % sizeof(alpha)];
    return n;
}

static int fuzz_cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(void *const *)a), y = (uintptr_t)(*(void *const *)b);
    return x < y ? -1 : x > y;
}

/* Abort unless r is exactly what the naive matcher finds in subs[0..n). */
static void fuzz_check(struct sub **subs, size_t n, const char *subj, size_t len,
                       const struct sublist_result *r)
{
    struct sub *want[FUZZ_MAX_SUBS], *got[FUZZ_MAX_SUBS];
    size_t nw = 0, ng = 0;

    for (size_t i = 0; i < n; i++)
        if (subject_matches(subs[i]->subject, subs[i]->subject_len, subj, len))
            want[nw++] = subs[i];
    for (size_t i = 0; i < r->npsubs; i++) {
        NASSERT(ng < FUZZ_MAX_SUBS && r->psubs[i]->queue == NULL);
        got[ng++] = r->psubs[i];
    }
    for (size_t i = 0; i < r->nqgroups; i++) {
        const struct sublist_qgroup *g = &r->qgroups[i];
        uint64_t total = 0;
        NASSERT(g->nsubs > 0);
        for (size_t k = 0; k < i; k++)
            NASSERT(r->qgroups[k].queue_len != g->queue_len ||
                    memcmp(r->qgroups[k].queue, g->queue, g->queue_len) != 0);
        for (size_t j = 0; j < g->nsubs; j++) {
            const struct sub *s = g->subs[j];
            NASSERT(s->queue != NULL && s->queue_len == g->queue_len &&
                    memcmp(s->queue, g->queue, g->queue_len) == 0);
            total += s->qweight > 1 ? (uint64_t)s->qweight : 1;
            NASSERT(g->cumw[j] == total);
            NASSERT(ng < FUZZ_MAX_SUBS);
            got[ng++] = g->subs[j];
        }
        NASSERT(g->subs[sublist_qgroup_pick(g, total * 7 + 3)] != NULL);
    }
    NASSERT(ng == nw);
    qsort(want, nw, sizeof(want[0]), fuzz_cmp_ptr);
    qsort(got, ng, sizeof(got[0]), fuzz_cmp_ptr);
    for (size_t i = 0; i < nw; i++)
        NASSERT(want[i] == got[i]);
}

static struct sub *fuzz_sub_new(const char *subj, size_t len, const char *queue, int32_t w)
{
    struct sub *s = calloc(1, sizeof(*s));
    char *copy = malloc(len + 1);

    NASSERT(s != NULL && copy != NULL);
    memcpy(copy, subj, len);
    s->subject = copy;
    s->subject_len = (uint32_t)len;
    s->queue = queue;
    s->queue_len = queue ? (uint32_t)strlen(queue) : 0;
    s->qweight = w;
    return s;
}

static void fuzz_sub_free(struct sub *s)
{
    free((char *)s->subject);
    free(s);
}

static void fuzz_match(struct sublist *sl, struct sublist_cache *c, struct sublist_result *res,
                       struct sub **subs, size_t n, const char *subj, size_t len)
{
    const struct sublist_result *cr = sublist_cache_match(c, sl, subj, len);

    fuzz_check(subs, n, subj, len, cr);
    sublist_match(sl, subj, len, res);
    fuzz_check(subs, n, subj, len, res);
    NASSERT(sublist_has_interest(sl, subj, len) == (res->npsubs + res->nqgroups > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *queues[] = {"q1", "q2", "*", ">"};
    struct fuzz_in in = {data, size};
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(8);
    struct sublist_result res;
    struct sub *subs[FUZZ_MAX_SUBS];
    size_t n = 0;
    char subj[FUZZ_MAX_SUBJ];
    uint8_t op, b;

    sublist_result_init(&res);
    while (fuzz_byte(&in, &op)) {
        switch (op % 6) {
        case 0:
        case 1: { /* insert, plain or queue */
            size_t len = fuzz_subject(&in, subj);
            const char *q = NULL;
            int32_t w = 1;
            if (op % 6 == 1 && fuzz_byte(&in, &b)) {
                q = queues[b % 4];
                w = (int32_t)(b >> 2) - 8;
            }
            struct sub *s = fuzz_sub_new(subj, len, q, w);
            int rc = sublist_insert(sl, s);
            if (subject_is_valid(subj, len) && n < FUZZ_MAX_SUBS) {
                NASSERT(rc == 0);
                subs[n++] = s;
            } else if (!subject_is_valid(subj, len)) {
                NASSERT(rc == SUBLIST_EINVAL);
                fuzz_sub_free(s);
            } else {
                NASSERT(rc == 0 && sublist_remove(sl, s) == 0);
                fuzz_sub_free(s);
            }
            break;
        }
        case 2: /* remove one */
            if (n > 0 && fuzz_byte(&in, &b)) {
                size_t i = b % n;
                NASSERT(sublist_remove(sl, subs[i]) == 0);
                NASSERT(sublist_remove(sl, subs[i]) == SUBLIST_ENOENT);
                fuzz_sub_free(subs[i]);
                subs[i] = subs[--n];
            }
            break;
        case 3: { /* match */
            size_t len = fuzz_subject(&in, subj);
            fuzz_match(sl, c, &res, subs, n, subj, len);
            break;
        }
        case 4: /* weight update */
            if (n > 0 && fuzz_byte(&in, &b)) {
                struct sub *s = subs[b % n];
                int rc = sublist_update_qweight(sl, s, (int32_t)(b >> 3));
                NASSERT(rc == (s->queue ? 0 : SUBLIST_ENOENT));
            }
            break;
        default: /* remove every k-th sub in one batch */
            if (n > 0 && fuzz_byte(&in, &b)) {
                struct sub *batch[FUZZ_MAX_SUBS];
                size_t nb = 0, k = 1 + b % 4, keep = 0;
                for (size_t i = 0; i < n; i++) {
                    if (i % k == 0)
                        batch[nb++] = subs[i];
                    else
                        subs[keep++] = subs[i];
                }
                NASSERT(sublist_remove_batch(sl, batch, nb) == nb);
                for (size_t i = 0; i < nb; i++)
                    fuzz_sub_free(batch[i]);
                n = keep;
            }
            break;
        }
        NASSERT(sublist_count(sl) == n);
    }
    for (size_t i = 0; i < n; i++) {
        NASSERT(sublist_remove(sl, subs[i]) == 0);
        fuzz_sub_free(subs[i]);
    }
    NASSERT(sublist_count(sl) == 0);
    sublist_result_free(&res);
    sublist_cache_free(c);
    sublist_free(sl);
    return 0;
}
