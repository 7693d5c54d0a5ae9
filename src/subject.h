/* SPDX-License-Identifier: Apache-2.0
 * Subject helpers: validity rules, token walking and wildcard comparison on
 * (pointer, length) pairs that need not be NUL-terminated. Pure functions: no
 * allocation, no state, callable from any thread. Matching many subscriptions
 * at once is sublist.c's job, not this module's. */
#ifndef NATSD_SUBJECT_H
#define NATSD_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUBJECT_SEP '.' /* token separator */
#define SUBJECT_PWC '*' /* partial wildcard: exactly one token */
#define SUBJECT_FWC '>' /* full wildcard: one or more tokens, last only */

/* True when the token (p, n) is the whole-token partial wildcard `*`. A `*`
 * inside a longer token (`foo*`) is an ordinary character. */
static inline bool subject_tok_is_pwc(const char *p, size_t n)
{
    return n == 1 && p[0] == SUBJECT_PWC;
}

/* True when the token (p, n) is the whole-token full wildcard `>`. */
static inline bool subject_tok_is_fwc(const char *p, size_t n)
{
    return n == 1 && p[0] == SUBJECT_FWC;
}

/* Token iterator. Start with *pos = 0. While *pos <= len it stores the next
 * token (possibly empty: `foo..bar` yields "foo", "", "bar") in *tok and *toklen,
 * advances *pos past the token and its separator and returns true; returns
 * false once every token has been produced. An empty subject yields one empty
 * token. Borrows s; no allocation. */
bool subject_next_token(const char *s, size_t len, size_t *pos, const char **tok, size_t *toklen);

/* Number of tokens: 0 for the empty subject, else the number of separators
 * plus one (empty tokens count). As nats-server's numTokens. */
size_t subject_num_tokens(const char *s, size_t len);

/* True when s has an empty token (includes the empty subject, a leading or a
 * trailing separator, and `..`). Such a subject matches nothing. */
bool subject_has_empty_token(const char *s, size_t len);

/* Validity for SUB and for interest received from peers, as nats-server's
 * IsValidSubject: non-empty, no empty token, `>` only as the last token, and no
 * space, tab, CR, LF or FF anywhere. Wildcards are allowed. */
bool subject_is_valid(const char *s, size_t len);

/* True when no token is exactly `*` or `>` (`foo*`, `>bar` are literal). Does
 * not check for empty tokens; as nats-server's subjectIsLiteral. */
bool subject_is_literal(const char *s, size_t len);

/* The pedantic publish rule, as nats-server's IsValidPublishSubject: valid
 * (subject_is_valid) and literal (subject_is_literal). */
bool subject_is_valid_publish(const char *s, size_t len);

/* True when the subject `subj` (whose tokens are compared as plain strings, so a
 * `*` token in it only meets a wildcard of the pattern) is matched by `pattern`
 * (`*` = one token, `>` = one or more trailing tokens). False when the pattern
 * is not valid (subject_is_valid) or subj has an empty token. This is the
 * reference semantics the sublist trie implements. */
bool subject_matches(const char *pattern, size_t plen, const char *subj, size_t slen);

/* True when every subject matched by a is also matched by b (`foo.*` is a subset
 * of `foo.*`, `*.*` and `>`, not of `foo.bar`). Both may hold wildcards; false
 * when either is not structurally valid (empty token, `>` not last). As
 * nats-server's subjectIsSubsetMatch; used by permissions. */
bool subject_is_subset(const char *a, size_t alen, const char *b, size_t blen);

#endif
