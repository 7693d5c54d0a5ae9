/* SPDX-License-Identifier: Apache-2.0
 * Subject helpers: validity rules (SUB, literal, pedantic publish), tokens,
 * wildcard matching and subset. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "subject.h"

#define S(x) (x), strlen(x)

static void check_valid(const char *s, bool want)
{
    cr_expect_eq(subject_is_valid(S(s)), want, "subject_is_valid(\"%s\") != %d", s, want);
}

static void check_literal(const char *s, bool want)
{
    cr_expect_eq(subject_is_literal(S(s)), want, "subject_is_literal(\"%s\") != %d", s, want);
}

static void check_publish(const char *s, bool want)
{
    cr_expect_eq(subject_is_valid_publish(S(s)), want, "subject_is_valid_publish(\"%s\") != %d", s,
                 want);
}

static void check_match(const char *pattern, const char *subj, bool want)
{
    cr_expect_eq(subject_matches(S(pattern), S(subj)), want,
                 "subject_matches(\"%s\", \"%s\") != %d", pattern, subj, want);
}

static void check_subset(const char *a, const char *b, bool want)
{
    cr_expect_eq(subject_is_subset(S(a), S(b)), want, "subject_is_subset(\"%s\", \"%s\") != %d", a,
                 b, want);
}

Test(subject, valid_rejects_empty_and_empty_tokens)
{
    check_valid("", false);
    check_valid(".", false);
    check_valid(".foo", false);
    check_valid("foo.", false);
    check_valid("foo..bar", false);
    check_valid("..", false);
}

Test(subject, valid_fwc_only_last)
{
    check_valid(">", true);
    check_valid("foo.>", true);
    check_valid("foo.bar.>", true);
    check_valid(">.bar", false);
    check_valid("foo.>.bar", false);
    check_valid(">.>", false);
    check_valid("*.>", true);
}

Test(subject, valid_wildcards_only_as_whole_tokens)
{
    check_valid("foo", true);
    check_valid("*", true);
    check_valid("foo.*", true);
    check_valid("*.*.*", true);
    check_valid("foo.*.bar", true);
    check_valid("foo*", true);
    check_valid("foo**", true);
    check_valid("foo.**", true);
    check_valid("foo*bar", true);
    check_valid("foo.*bar", true);
    check_valid("foo*.bar", true);
    check_valid("*bar", true);
    check_valid("foo>", true);
    check_valid("foo.>>", true);
    check_valid("foo>bar", true);
    check_valid("foo.>bar", true);
    check_valid("foo>.bar", true); /* `foo>` is a literal token, not last is fine */
    check_valid(">bar", true);
    check_valid(">>.x", true);
}

Test(subject, valid_rejects_whitespace)
{
    check_valid("foo bar", false);
    check_valid("foo\tbar", false);
    check_valid("foo\r", false);
    check_valid("\nfoo", false);
    check_valid("a.\f", false);
    check_valid(" ", false);
}

Test(subject, valid_arbitrary_bytes)
{
    const char s[] = {'f', (char)0xc3, (char)0xa9, '.', (char)0x01, '$', 'x'};
    cr_expect(subject_is_valid(s, sizeof(s)));
    cr_expect(subject_is_valid(S("$SYS.REQ.SERVER.PING")));
    cr_expect(subject_is_valid(S("_INBOX.abc-def_123")));
}

Test(subject, not_nul_terminated)
{
    const char buf[] = "foo.bar..baz";
    cr_expect(subject_is_valid(buf, 7));   /* "foo.bar" */
    cr_expect(!subject_is_valid(buf, 8));  /* "foo.bar." */
    cr_expect(!subject_is_valid(buf, 12)); /* "foo.bar..baz" */
    const char w[] = "foo.*x";
    cr_expect(!subject_is_literal(w, 5)); /* "foo.*" */
    cr_expect(subject_is_literal(w, 6));
}

Test(subject, literal)
{
    check_literal("foo", true);
    check_literal("foo.bar", true);
    check_literal("foo*.bar", true);
    check_literal("*", false);
    check_literal(">", false);
    check_literal("foo.*", false);
    check_literal("foo.>", false);
    check_literal("foo.*.>", false);
    check_literal("foo.*.bar", false);
    check_literal("foo.bar.>", false);
    check_literal("*.bar", false);
    check_literal("foo>", true);
    check_literal(">bar", true);
    check_literal("foo.**", true);
    check_literal("foo.>>", true);
    /* Only wildcards are checked, not empty tokens. */
    check_literal("foo..bar", true);
    check_literal("", true);
}

Test(subject, valid_publish)
{
    check_publish("foo", true);
    check_publish("foo.bar", true);
    check_publish("foo*", true);
    check_publish("foo.>bar", true);
    check_publish(".foo", false);
    check_publish("foo.", false);
    check_publish("foo..bar", false);
    check_publish("foo.bar.*", false);
    check_publish("foo.bar.>", false);
    check_publish("*", false);
    check_publish(">", false);
    check_publish("", false);
    check_publish("foo bar", false);
}

Test(subject, num_tokens)
{
    cr_expect_eq(subject_num_tokens(S("")), 0);
    cr_expect_eq(subject_num_tokens(S("foo")), 1);
    cr_expect_eq(subject_num_tokens(S("foo.bar")), 2);
    cr_expect_eq(subject_num_tokens(S("foo.bar.baz")), 3);
    cr_expect_eq(subject_num_tokens(S(".")), 2);
    cr_expect_eq(subject_num_tokens(S("foo..")), 3);
}

Test(subject, tokenizer)
{
    const char *s = "foo..bar.*";
    const char *want[] = {"foo", "", "bar", "*"};
    size_t pos = 0, n, i = 0;
    const char *t;

    while (subject_next_token(S(s), &pos, &t, &n)) {
        cr_assert_lt(i, 4);
        cr_expect_eq(n, strlen(want[i]));
        cr_expect(memcmp(t, want[i], n) == 0);
        i++;
    }
    cr_expect_eq(i, 4);

    pos = 0;
    i = 0;
    while (subject_next_token("", 0, &pos, &t, &n)) {
        cr_expect_eq(n, 0);
        i++;
    }
    cr_expect_eq(i, 1);

    pos = 0;
    i = 0;
    while (subject_next_token(S("a."), &pos, &t, &n))
        i++;
    cr_expect_eq(i, 2);
}

Test(subject, tok_wildcard_predicates)
{
    cr_expect(subject_tok_is_pwc("*", 1));
    cr_expect(!subject_tok_is_pwc("**", 2));
    cr_expect(!subject_tok_is_pwc(">", 1));
    cr_expect(subject_tok_is_fwc(">", 1));
    cr_expect(!subject_tok_is_fwc(">x", 2));
    cr_expect(!subject_tok_is_fwc("", 0));
}

Test(subject, has_empty_token)
{
    cr_expect(subject_has_empty_token(S("")));
    cr_expect(subject_has_empty_token(S(".")));
    cr_expect(subject_has_empty_token(S(".foo")));
    cr_expect(subject_has_empty_token(S("foo.")));
    cr_expect(subject_has_empty_token(S("foo..bar")));
    cr_expect(subject_has_empty_token(S("foo...bar")));
    cr_expect(!subject_has_empty_token(S("foo.bar")));
    cr_expect(!subject_has_empty_token(S("*.>")));
}

Test(subject, matches_literal)
{
    check_match("foo", "foo", true);
    check_match("foo", "bar", false);
    check_match("foo.bar", "foo", false);
    check_match("foo", "foo.bar", false);
    check_match("stats.test.foos", "stats.test.foos", true);
    check_match("stats.test.foo", "stats.test.foos", false);
}

Test(subject, matches_pwc)
{
    check_match("*", "foo", true);
    check_match("*", "foo.bar", false);
    check_match("foo.*", "foo.bar", true);
    check_match("foo.*", "foo", false);
    check_match("foo.*", "foo.bar.baz", false);
    check_match("*.bar", "foo.bar", true);
    check_match("stats.*.*", "stats.test.22", true);
    check_match("stats.*", "stats.test.foos", false);
    check_match("stats.*.*.foos", "stats.test.foos", false);
    check_match("stats.test.*", "stats.test", false);
}

Test(subject, matches_fwc)
{
    check_match(">", "foo", true);
    check_match(">", "foo.bar", true);
    check_match("foo.>", "foo.bar", true);
    check_match("foo.>", "foo.bar.baz", true);
    check_match("foo.>", "foo", false);
    check_match("bar.>", "foo.bar", false);
    check_match("stats.>", "stats.test.22", true);
    check_match("*.>", "a.b", true);
    check_match("*.>", "a", false);
}

Test(subject, matches_wildcard_chars_inside_tokens_are_literal)
{
    check_match("foo*", "foo*", true);
    check_match("foo*", "foobar", false);
    check_match("*bar", "*bar", true);
    check_match("foo*bar", "foo*bar", true);
    check_match("foo.***.bar", "foo.***.bar", true);
    check_match(">bar", ">bar", true);
    check_match("foo>", "foo>", true);
    check_match("foo>", "foo.bar", false);
    check_match("foo.>>>.bar", "foo.>>>.bar", true);
    check_match("foo.*-", "foo.bar", false);
    check_match("foo.>-", "foo.bar", false);
}

Test(subject, matches_subject_with_wildcard_tokens)
{
    /* A `*`/`>` token in the published subject is an ordinary token: only
     * wildcard patterns reach it (docs/protocol/subjects.md §2). */
    check_match("foo.*", "foo.*", true);
    check_match("foo.>", "foo.*", true);
    check_match(">", "foo.*", true);
    check_match("foo.bar", "foo.*", false);
    check_match("foo.*", "foo.>", true);
    check_match("foo.bar", "foo.>", false);
    check_match("*.*", "*.>", true);
}

Test(subject, matches_empty_tokens_match_nothing)
{
    check_match(">", ".foo", false);
    check_match(">", "foo.", false);
    check_match(">", "foo..bar", false);
    check_match(">", "", false);
    check_match("*", "", false);
    check_match("foo.*.bar", "foo..bar", false);
}

Test(subject, matches_invalid_pattern)
{
    check_match("foo..bar", "foo..bar", false);
    check_match("", "", false);
    check_match(">.foo", "a.foo", false);
}

Test(subject, subset)
{
    check_subset("foo.*", ">", true);
    check_subset("foo.*", "*.*", true);
    check_subset("foo.*", "foo.*", true);
    check_subset("foo.*", "foo.bar", false);
    check_subset("foo.>", ">", true);
    check_subset("foo.>", "*.>", true);
    check_subset("foo.>", "foo.>", true);
    check_subset("foo.>", "foo.bar", false);
    check_subset("foo.>", "foo.*", false);
    check_subset("foo.bar", "foo.>", true);
    check_subset("foo.bar", "foo.*", true);
    check_subset("foo.bar", "foo.bar", true);
    check_subset("foo.bar", "foo.baz", false);
    check_subset("foo", "foo.>", false);
    check_subset("foo.bar.baz", "foo.*", false);
    check_subset("foo.*", "foo.*.*", false);
    check_subset(">", "foo.>", false);
    check_subset(">", ">", true);
    check_subset("*", ">", true);
    check_subset("*", "*", true);
    check_subset("foo..bar", "foo.*", false);
    check_subset("foo.*", "foo..bar", false);
    check_subset("", ">", false);
}

/* Random patterns over a tiny alphabet: subset(a, b) must mean that every
 * literal matched by a is matched by b, checked over all short literals. */
Test(subject, subset_agrees_with_matches)
{
    static const char *tok[] = {"a", "b", "*", ">"};
    static const char *lit[] = {"a", "b", "c"};
    char pa[32], pb[32], ls[32];
    unsigned seed = 12345;

    for (int iter = 0; iter < 3000; iter++) {
        char *pp[2] = {pa, pb};
        for (int k = 0; k < 2; k++) {
            seed = seed * 1103515245u + 12345u;
            int nt = 1 + (int)((seed >> 16) % 3);
            pp[k][0] = '\0';
            size_t o = 0;
            for (int t = 0; t < nt; t++) {
                seed = seed * 1103515245u + 12345u;
                const char *x = tok[(seed >> 16) % 4];
                o += (size_t)snprintf(pp[k] + o, 32 - o, "%s%s", t ? "." : "", x);
            }
        }
        if (!subject_is_valid(S(pa)) || !subject_is_valid(S(pb)))
            continue;
        bool all = true;
        /* every literal of 1..4 tokens over {a,b,c} */
        for (int nt = 1; nt <= 4 && all; nt++) {
            int total = 1;
            for (int t = 0; t < nt; t++)
                total *= 3;
            for (int v = 0; v < total && all; v++) {
                size_t o = 0;
                int x = v;
                for (int t = 0; t < nt; t++, x /= 3)
                    o += (size_t)snprintf(ls + o, sizeof(ls) - o, "%s%s", t ? "." : "", lit[x % 3]);
                if (subject_matches(S(pa), S(ls)) && !subject_matches(S(pb), S(ls)))
                    all = false;
            }
        }
        /* Over literals up to 4 tokens: patterns here have at most 3 tokens, so
         * a `>` difference always shows within 4. */
        cr_expect_eq(subject_is_subset(S(pa), S(pb)), all, "subset(\"%s\", \"%s\")", pa, pb);
    }
}
