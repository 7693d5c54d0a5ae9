/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target: the subject helpers on two arbitrary byte strings (byte 0
 * says where to split the input), checked for internal consistency, against a
 * token-array reference matcher, and against a one-sub sublist. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "subject.h"
#include "sublist.h"

#define FUZZ_MAX_TOKENS 64

struct fuzz_toks {
    const char *p[FUZZ_MAX_TOKENS];
    size_t n[FUZZ_MAX_TOKENS];
    size_t count;
};

/* Split on every '.', by hand (not with the tokenizer under test). Returns
 * false when there are too many tokens. */
static bool fuzz_split(const char *s, size_t len, struct fuzz_toks *t)
{
    size_t start = 0;

    t->count = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (t->count == FUZZ_MAX_TOKENS)
                return false;
            t->p[t->count] = s + start;
            t->n[t->count] = i - start;
            t->count++;
            start = i + 1;
        }
    }
    return true;
}

static bool fuzz_tok_eq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && memcmp(a, b, an) == 0;
}

/* Reference: pattern tokens pi.. against subject tokens si.. */
static bool fuzz_ref_match(const struct fuzz_toks *p, size_t pi, const struct fuzz_toks *s,
                           size_t si)
{
    for (; pi < p->count; pi++, si++) {
        if (fuzz_tok_eq(p->p[pi], p->n[pi], ">"))
            return si < s->count;
        if (si >= s->count)
            return false;
        if (fuzz_tok_eq(p->p[pi], p->n[pi], "*"))
            continue;
        if (p->n[pi] != s->n[si] || memcmp(p->p[pi], s->p[si], p->n[pi]) != 0)
            return false;
    }
    return si == s->count;
}

static void fuzz_check_one(const char *s, size_t len)
{
    struct fuzz_toks t;
    bool split = fuzz_split(s, len, &t);
    size_t pos = 0, n, count = 0;
    const char *tok;
    bool empty = false, fwc_not_last = false, ws = false, wild = false;

    while (subject_next_token(s, len, &pos, &tok, &n)) {
        NASSERT(tok >= s && tok + n <= s + len);
        if (split && count < t.count)
            NASSERT(tok == t.p[count] && n == t.n[count]);
        empty |= n == 0;
        wild |= subject_tok_is_pwc(tok, n) || subject_tok_is_fwc(tok, n);
        if (subject_tok_is_fwc(tok, n) && pos <= len)
            fwc_not_last = true;
        count++;
    }
    for (size_t i = 0; i < len; i++)
        ws |= s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '\f';
    NASSERT(subject_num_tokens(s, len) == (len == 0 ? 0 : count));
    if (split)
        NASSERT(t.count == count);
    NASSERT(subject_has_empty_token(s, len) == empty);
    NASSERT(subject_is_literal(s, len) == !wild);
    NASSERT(subject_is_valid(s, len) == (!empty && !fwc_not_last && !ws));
    NASSERT(subject_is_valid_publish(s, len) == (subject_is_valid(s, len) && !wild));
    if (subject_is_valid(s, len)) {
        NASSERT(subject_is_subset(s, len, s, len));
        NASSERT(subject_is_subset(s, len, ">", 1));
    }
    if (subject_is_valid_publish(s, len))
        NASSERT(subject_matches(s, len, s, len));
}

static void fuzz_check_pair(const char *a, size_t alen, const char *b, size_t blen)
{
    struct fuzz_toks ta, tb;
    bool m = subject_matches(a, alen, b, blen);

    if (m)
        NASSERT(subject_is_valid(a, alen) && !subject_has_empty_token(b, blen));
    if (subject_is_valid(a, alen) && !subject_has_empty_token(b, blen) &&
        fuzz_split(a, alen, &ta) && fuzz_split(b, blen, &tb))
        NASSERT(m == fuzz_ref_match(&ta, 0, &tb, 0));
    /* A literal in a's set is in b's set when a is a subset of b. */
    if (subject_is_subset(b, blen, a, alen) && subject_is_valid_publish(b, blen))
        NASSERT(subject_matches(a, alen, b, blen));
    if (subject_is_valid_publish(a, alen) && subject_is_subset(a, alen, b, blen))
        NASSERT(subject_matches(b, blen, a, alen));
    /* A literal pattern is a subset exactly when it is matched. */
    if (subject_is_valid_publish(a, alen) && subject_is_valid(b, blen))
        NASSERT(subject_is_subset(a, alen, b, blen) == subject_matches(b, blen, a, alen));

    /* The trie agrees with subject_matches for a single sub. */
    if (subject_is_valid(a, alen) && alen < 4096) {
        struct sublist *sl = sublist_new();
        struct sub sub = {.subject = a, .subject_len = (uint32_t)alen, .qweight = 1};
        struct sublist_result r;
        NASSERT(sublist_insert(sl, &sub) == 0);
        sublist_result_init(&r);
        sublist_match(sl, b, blen, &r);
        NASSERT((r.npsubs == 1) == m && r.nqgroups == 0);
        NASSERT(sublist_has_interest(sl, b, blen) == m);
        NASSERT(sublist_remove(sl, &sub) == 0);
        sublist_result_free(&r);
        sublist_free(sl);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut;
    const char *a, *b;

    if (size == 0)
        return 0;
    cut = data[0] % size;
    a = (const char *)data + 1;
    b = (const char *)data + 1 + cut;
    fuzz_check_one(a, cut);
    fuzz_check_one(b, size - 1 - cut);
    fuzz_check_pair(a, cut, b, size - 1 - cut);
    fuzz_check_pair(b, size - 1 - cut, a, cut);
    return 0;
}
