/* SPDX-License-Identifier: Apache-2.0
 * Subject validity, tokens and wildcard comparison (the rules of nats-server's
 * server/sublist.go helpers), on byte ranges that are not NUL-terminated. */
#include "subject.h"

#include <string.h>

#include "common.h"

bool subject_next_token(const char *s, size_t len, size_t *pos, const char **tok, size_t *toklen)
{
    size_t start = *pos;
    const char *dot;

    if (start > len)
        return false;
    dot = start < len ? memchr(s + start, SUBJECT_SEP, len - start) : NULL;
    *tok = s + start;
    if (dot == NULL) {
        *toklen = len - start;
        *pos = len + 1;
    } else {
        *toklen = (size_t)(dot - (s + start));
        *pos = start + *toklen + 1;
    }
    return true;
}

size_t subject_num_tokens(const char *s, size_t len)
{
    size_t n = 1;
    const char *p = s, *end = s + len;

    if (len == 0)
        return 0;
    while ((p = memchr(p, SUBJECT_SEP, (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

bool subject_has_empty_token(const char *s, size_t len)
{
    if (len == 0 || s[0] == SUBJECT_SEP || s[len - 1] == SUBJECT_SEP)
        return true;
    for (size_t i = 1; i < len; i++)
        if (s[i] == SUBJECT_SEP && s[i - 1] == SUBJECT_SEP)
            return true;
    return false;
}

/* Non-empty, no empty token, `>` last: the rule sublist insertion needs. */
static bool subject_is_structurally_valid(const char *s, size_t len)
{
    size_t pos = 0, n;
    const char *t;
    bool seen_fwc = false;

    if (len == 0)
        return false;
    while (subject_next_token(s, len, &pos, &t, &n)) {
        if (n == 0 || seen_fwc)
            return false;
        if (subject_tok_is_fwc(t, n))
            seen_fwc = true;
    }
    return true;
}

bool subject_is_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case '\f':
            return false;
        default:
            break;
        }
    }
    return subject_is_structurally_valid(s, len);
}

bool subject_is_literal(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != SUBJECT_PWC && s[i] != SUBJECT_FWC)
            continue;
        if ((i == 0 || s[i - 1] == SUBJECT_SEP) && (i + 1 == len || s[i + 1] == SUBJECT_SEP))
            return false;
    }
    return true;
}

bool subject_is_valid_publish(const char *s, size_t len)
{
    return subject_is_valid(s, len) && subject_is_literal(s, len);
}

bool subject_matches(const char *pattern, size_t plen, const char *subj, size_t slen)
{
    size_t ppos = 0, spos = 0, pn, sn;
    const char *pt, *st;

    if (!subject_is_valid(pattern, plen) || subject_has_empty_token(subj, slen))
        return false;
    while (subject_next_token(pattern, plen, &ppos, &pt, &pn)) {
        if (subject_tok_is_fwc(pt, pn))
            return spos <= slen; /* at least one subject token left */
        if (!subject_next_token(subj, slen, &spos, &st, &sn))
            return false;
        if (subject_tok_is_pwc(pt, pn))
            continue;
        if (pn != sn || memcmp(pt, st, pn) != 0)
            return false;
    }
    return spos > slen; /* every subject token consumed */
}

bool subject_is_subset(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t apos = 0, bpos = 0, an, bn;
    const char *at, *bt;

    if (!subject_is_structurally_valid(a, alen) || !subject_is_structurally_valid(b, blen))
        return false;
    while (subject_next_token(b, blen, &bpos, &bt, &bn)) {
        if (!subject_next_token(a, alen, &apos, &at, &an))
            return false; /* a is shorter: b needs more tokens */
        if (subject_tok_is_fwc(bt, bn))
            return true; /* a has one or more tokens left, b takes them all */
        if (subject_tok_is_fwc(at, an))
            return false; /* a matches any length, b does not */
        if (subject_tok_is_pwc(bt, bn))
            continue; /* b's `*` covers any one token of a, `*` included */
        if (subject_tok_is_pwc(at, an))
            return false;
        if (an != bn || memcmp(at, bt, an) != 0)
            return false;
    }
    return apos > alen; /* same number of tokens */
}
