/* SPDX-License-Identifier: Apache-2.0
 * The subscription trie and the per-worker match cache, checked case by case
 * and against a naive matcher (a list of subs and subject_matches). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/flood_keys.h"
#include "subject.h"
#include "sublist.h"
#include "sublist_mt.h"

/* ---- helpers ---- */

/* A test subscription owns copies of its subject and queue. */
static struct sub *tsub_new(const char *subject, const char *queue)
{
    struct sub *s = calloc(1, sizeof(*s));
    s->subject = strdup(subject);
    s->subject_len = (uint32_t)strlen(subject);
    if (queue != NULL) {
        s->queue = strdup(queue);
        s->queue_len = (uint32_t)strlen(queue);
    }
    s->qweight = 1;
    return s;
}

static void tsub_free(struct sub *s)
{
    free((char *)s->subject);
    free((char *)s->queue);
    free(s);
}

static struct sub *tsub_ins(struct sublist *sl, const char *subject, const char *queue)
{
    struct sub *s = tsub_new(subject, queue);
    cr_assert_eq(sublist_insert(sl, s), 0, "insert %s", subject);
    return s;
}

static struct sublist_result R;

static void match(struct sublist *sl, const char *subj)
{
    sublist_match(sl, subj, strlen(subj), &R);
}

static bool has_psub(const struct sublist_result *r, const struct sub *s)
{
    for (size_t i = 0; i < r->npsubs; i++)
        if (r->psubs[i] == s)
            return true;
    return false;
}

static const struct sublist_qgroup *find_group(const struct sublist_result *r, const char *q)
{
    for (size_t i = 0; i < r->nqgroups; i++)
        if (r->qgroups[i].queue_len == strlen(q) && memcmp(r->qgroups[i].queue, q, strlen(q)) == 0)
            return &r->qgroups[i];
    return NULL;
}

static void setup(void)
{
    sublist_result_init(&R);
}

static void teardown(void)
{
    sublist_result_free(&R);
}

TestSuite(sublist, .init = setup, .fini = teardown);

/* ---- basics ---- */

Test(sublist, init_empty)
{
    struct sublist *sl = sublist_new();
    cr_expect_eq(sublist_count(sl), 0);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, 0);
    cr_expect_eq(R.nqgroups, 0);
    sublist_free(sl);
}

Test(sublist, insert_count)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "foo", NULL), *b = tsub_ins(sl, "bar", NULL);
    struct sub *c = tsub_ins(sl, "foo.bar", NULL);
    cr_expect_eq(sublist_count(sl), 3);
    sublist_free(sl);
    tsub_free(a);
    tsub_free(b);
    tsub_free(c);
}

Test(sublist, simple)
{
    struct sublist *sl = sublist_new();
    struct sub *s = tsub_ins(sl, "foo", NULL);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, s));
    match(sl, "foo.bar");
    cr_expect_eq(R.npsubs, 0);
    match(sl, "fo");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(s);
}

Test(sublist, multi_tokens)
{
    struct sublist *sl = sublist_new();
    struct sub *s = tsub_ins(sl, "foo.bar.baz", NULL);
    match(sl, "foo.bar.baz");
    cr_expect_eq(R.npsubs, 1);
    match(sl, "foo.bar");
    cr_expect_eq(R.npsubs, 0);
    match(sl, "foo.bar.baz.x");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(s);
}

Test(sublist, partial_wildcard)
{
    struct sublist *sl = sublist_new();
    struct sub *lit = tsub_ins(sl, "a.b.c", NULL), *pwc = tsub_ins(sl, "a.*.c", NULL);
    match(sl, "a.b.c");
    cr_expect_eq(R.npsubs, 2);
    cr_expect(has_psub(&R, lit) && has_psub(&R, pwc));
    match(sl, "a.x.c");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, pwc));
    match(sl, "a.x.c.d");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(lit);
    tsub_free(pwc);
}

Test(sublist, partial_wildcard_at_end)
{
    struct sublist *sl = sublist_new();
    struct sub *lit = tsub_ins(sl, "a.b.c", NULL), *pwc = tsub_ins(sl, "a.b.*", NULL);
    match(sl, "a.b.c");
    cr_expect_eq(R.npsubs, 2);
    match(sl, "a.b.zz");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, pwc));
    match(sl, "a.b");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(lit);
    tsub_free(pwc);
}

Test(sublist, full_wildcard)
{
    struct sublist *sl = sublist_new();
    struct sub *lit = tsub_ins(sl, "a.b.c", NULL), *fwc = tsub_ins(sl, "a.>", NULL);
    struct sub *all = tsub_ins(sl, ">", NULL);
    match(sl, "a.b.c");
    cr_expect_eq(R.npsubs, 3);
    match(sl, "a.b");
    cr_expect_eq(R.npsubs, 2);
    cr_expect(has_psub(&R, fwc) && has_psub(&R, all));
    match(sl, "a");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, all));
    match(sl, "b");
    cr_expect_eq(R.npsubs, 1);
    sublist_free(sl);
    tsub_free(lit);
    tsub_free(fwc);
    tsub_free(all);
}

/* docs/protocol/subjects.md §2: a published `foo.*` reaches foo.*, foo.>, > but not
 * foo.bar (the `*` token walks the wildcard nodes only). */
Test(sublist, literal_subject_with_wildcard_tokens)
{
    struct sublist *sl = sublist_new();
    struct sub *pwc = tsub_ins(sl, "foo.*", NULL), *fwc = tsub_ins(sl, "foo.>", NULL);
    struct sub *all = tsub_ins(sl, ">", NULL), *lit = tsub_ins(sl, "foo.bar", NULL);
    match(sl, "foo.*");
    cr_expect_eq(R.npsubs, 3);
    cr_expect(has_psub(&R, pwc) && has_psub(&R, fwc) && has_psub(&R, all));
    cr_expect(!has_psub(&R, lit));
    match(sl, "foo.>");
    cr_expect_eq(R.npsubs, 3);
    cr_expect(!has_psub(&R, lit));
    match(sl, "*");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, all));
    sublist_free(sl);
    tsub_free(pwc);
    tsub_free(fwc);
    tsub_free(all);
    tsub_free(lit);
}

Test(sublist, empty_tokens_match_nothing)
{
    static const char *subjects[] = {".foo",      "..foo", "foo..", "foo.", "foo..bar",
                                     "foo...bar", "",      ".",     ".."};
    struct sublist *sl = sublist_new();
    struct sub *p = tsub_ins(sl, ">", NULL), *q = tsub_ins(sl, ">", "queue");
    struct sub *w = tsub_ins(sl, "*.*", NULL);
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        match(sl, subjects[i]);
        cr_expect_eq(R.npsubs, 0, "%s", subjects[i]);
        cr_expect_eq(R.nqgroups, 0, "%s", subjects[i]);
        cr_expect(!sublist_has_interest(sl, subjects[i], strlen(subjects[i])));
    }
    sublist_free(sl);
    tsub_free(p);
    tsub_free(q);
    tsub_free(w);
}

Test(sublist, wildcard_chars_inside_tokens_are_literal)
{
    static const char *subjects[] = {"foo.*-", "foo.>-", "foo*", "*bar", "foo.>>"};
    struct sublist *sl = sublist_new();
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        struct sub *s = tsub_ins(sl, subjects[i], NULL);
        match(sl, "foo.bar");
        cr_expect_eq(R.npsubs, 0, "%s", subjects[i]);
        match(sl, "foobar");
        cr_expect_eq(R.npsubs, 0, "%s", subjects[i]);
        match(sl, subjects[i]);
        cr_expect_eq(R.npsubs, 1, "%s", subjects[i]);
        /* A sub with another subject is not found; the real one is. */
        struct sub *other = tsub_new("foo.bar", NULL);
        other->sl_pos = 1;
        cr_expect_eq(sublist_remove(sl, other), SUBLIST_ENOENT);
        cr_expect_eq(sublist_count(sl), 1);
        cr_expect_eq(sublist_remove(sl, s), 0);
        cr_expect_eq(sublist_count(sl), 0);
        tsub_free(other);
        tsub_free(s);
    }
    sublist_free(sl);
}

Test(sublist, two_token_pub_single_token_sub)
{
    struct sublist *sl = sublist_new();
    struct sub *s = tsub_ins(sl, "foo", NULL);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, 1);
    match(sl, "foo.bar");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(s);
}

Test(sublist, invalid_subjects_on_insert)
{
    static const char *bad[] = {"",    ".foo",    "foo.",    "foo..bar", "foo.>.bar",
                                ">.>", "foo bar", "foo.\tx", ">.foo"};
    struct sublist *sl = sublist_new();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sub *s = tsub_new(bad[i], NULL);
        cr_expect_eq(sublist_insert(sl, s), SUBLIST_EINVAL, "%s", bad[i]);
        cr_expect_eq(s->sl_pos, 0);
        tsub_free(s);
    }
    cr_expect_eq(sublist_count(sl), 0);
    struct sublist_stats st;
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.num_inserts, 0);
    sublist_free(sl);
}

Test(sublist, double_insert_is_rejected)
{
    struct sublist *sl = sublist_new();
    struct sub *s = tsub_ins(sl, "foo", NULL);
    cr_expect_eq(sublist_insert(sl, s), SUBLIST_EEXIST);
    cr_expect_eq(sublist_count(sl), 1);
    cr_expect_eq(sublist_remove(sl, s), 0);
    cr_expect_eq(sublist_insert(sl, s), 0);
    sublist_free(sl);
    tsub_free(s);
}

/* ---- remove ---- */

Test(sublist, remove)
{
    struct sublist *sl = sublist_new();
    struct sub *s = tsub_ins(sl, "a.b.c.d", NULL);
    cr_expect_eq(sublist_count(sl), 1);
    match(sl, "a.b.c.d");
    cr_expect_eq(R.npsubs, 1);
    cr_expect_eq(sublist_remove(sl, s), 0);
    cr_expect_eq(s->sl_pos, 0);
    cr_expect_eq(sublist_count(sl), 0);
    match(sl, "a.b.c.d");
    cr_expect_eq(R.npsubs, 0);
    /* Removing again, or a sub never inserted, fails and changes nothing. */
    cr_expect_eq(sublist_remove(sl, s), SUBLIST_ENOENT);
    struct sub *never = tsub_new("a.b.c.d", NULL);
    cr_expect_eq(sublist_remove(sl, never), SUBLIST_ENOENT);
    never->sl_pos = 1; /* even when it claims a slot */
    cr_expect_eq(sublist_remove(sl, never), SUBLIST_ENOENT);
    tsub_free(never);
    sublist_free(sl);
    tsub_free(s);
}

Test(sublist, remove_not_present_keeps_others)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "foo", NULL), *q = tsub_ins(sl, "foo", "g");
    struct sub *b = tsub_new("foo", NULL), *q2 = tsub_new("foo", "g");
    b->sl_pos = 1;
    q2->sl_pos = 1;
    cr_expect_eq(sublist_remove(sl, b), SUBLIST_ENOENT);
    cr_expect_eq(sublist_remove(sl, q2), SUBLIST_ENOENT);
    q2->sl_pos = 0;
    cr_expect_eq(sublist_remove(sl, q2), SUBLIST_ENOENT);
    cr_expect_eq(sublist_count(sl), 2);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, 1);
    cr_expect_eq(R.nqgroups, 1);
    sublist_free(sl);
    tsub_free(a);
    tsub_free(b);
    tsub_free(q);
    tsub_free(q2);
}

Test(sublist, remove_wildcard)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "a.b.c.d", NULL), *b = tsub_ins(sl, "a.*.c.d", NULL);
    struct sub *c = tsub_ins(sl, "a.b.*.d", NULL), *d = tsub_ins(sl, "a.b.c.*", NULL);
    struct sub *e = tsub_ins(sl, "a.>", NULL);
    match(sl, "a.b.c.d");
    cr_expect_eq(R.npsubs, 5);
    cr_expect_eq(sublist_remove(sl, b), 0);
    cr_expect_eq(sublist_remove(sl, e), 0);
    match(sl, "a.b.c.d");
    cr_expect_eq(R.npsubs, 3);
    cr_expect(!has_psub(&R, b) && !has_psub(&R, e));
    cr_expect_eq(sublist_remove(sl, a), 0);
    cr_expect_eq(sublist_remove(sl, c), 0);
    cr_expect_eq(sublist_remove(sl, d), 0);
    cr_expect_eq(sublist_count(sl), 0);
    match(sl, "a.b.c.d");
    cr_expect_eq(R.npsubs, 0);
    sublist_free(sl);
    tsub_free(a);
    tsub_free(b);
    tsub_free(c);
    tsub_free(d);
    tsub_free(e);
}

/* Every node is pruned on removal: the trie's memory returns to its empty size. */
Test(sublist, remove_cleanup)
{
    struct sublist *sl = sublist_new();
    struct sublist_stats st;
    struct sub *subs[300];
    char buf[64];
    sublist_get_stats(sl, &st);
    uint64_t empty = st.mem_bytes;
    for (int i = 0; i < 300; i++) {
        snprintf(buf, sizeof(buf), "%s.%d.%s", i % 3 == 0 ? "*" : "a", i, i % 2 ? ">" : "x");
        subs[i] = tsub_ins(sl, buf, i % 5 == 0 ? "q" : NULL);
    }
    sublist_get_stats(sl, &st);
    cr_expect_gt(st.mem_bytes, empty);
    for (int i = 0; i < 300; i++) {
        cr_expect_eq(sublist_remove(sl, subs[i]), 0);
        tsub_free(subs[i]);
    }
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.mem_bytes, empty);
    cr_expect_eq(sublist_count(sl), 0);
    sublist_free(sl);
}

Test(sublist, remove_with_large_subs)
{
    enum { N = 200 };
    struct sublist *sl = sublist_new();
    struct sub *subs[N];
    for (int i = 0; i < N; i++)
        subs[i] = tsub_ins(sl, "foo", NULL);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, N);
    /* Remove from the middle, the ends, in a scattered order. */
    for (int i = 0; i < N; i += 3)
        cr_expect_eq(sublist_remove(sl, subs[i]), 0);
    match(sl, "foo");
    cr_expect_eq(R.npsubs, N - (N + 2) / 3);
    for (int i = 0; i < N; i++)
        cr_expect_eq(has_psub(&R, subs[i]), i % 3 != 0);
    for (int i = N - 1; i >= 0; i--)
        if (i % 3 != 0)
            cr_expect_eq(sublist_remove(sl, subs[i]), 0);
    cr_expect_eq(sublist_count(sl), 0);
    for (int i = 0; i < N; i++)
        tsub_free(subs[i]);
    sublist_free(sl);
}

Test(sublist, remove_batch)
{
    struct sublist *sl = sublist_new();
    struct sub *subs[10];
    for (int i = 0; i < 10; i++)
        subs[i] = tsub_ins(sl, i % 2 ? "foo.*" : "foo.bar", i % 4 == 0 ? "q" : NULL);
    struct sub *absent = tsub_new("foo.bar", NULL);
    struct sub *batch[7] = {subs[0], subs[1], subs[2], absent, subs[4], subs[5], subs[6]};
    uint64_t g = sublist_genid(sl);
    cr_expect_eq(sublist_remove_batch(sl, batch, 7), 6);
    cr_expect_neq(sublist_genid(sl), g);
    cr_expect_eq(sublist_count(sl), 4);
    match(sl, "foo.bar");
    cr_expect_eq(R.npsubs, 3); /* 3, 7, 9 */
    cr_expect_eq(R.nqgroups, 1);
    g = sublist_genid(sl);
    cr_expect_eq(sublist_remove_batch(sl, batch, 7), 0);
    cr_expect_eq(sublist_genid(sl), g);
    for (int i = 0; i < 10; i++)
        tsub_free(subs[i]);
    tsub_free(absent);
    sublist_free(sl);
}

/* ---- queues ---- */

Test(sublist, basic_queue_results)
{
    struct sublist *sl = sublist_new();
    struct sub *plain = tsub_ins(sl, "foo", NULL);
    struct sub *b1 = tsub_ins(sl, "foo", "bar"), *b2 = tsub_ins(sl, "foo", "bar");
    struct sub *z1 = tsub_ins(sl, "foo", "baz");
    match(sl, "foo");
    cr_expect_eq(R.npsubs, 1);
    cr_expect(has_psub(&R, plain));
    cr_expect_eq(R.nqgroups, 2);
    const struct sublist_qgroup *gb = find_group(&R, "bar"), *gz = find_group(&R, "baz");
    cr_assert_not_null(gb);
    cr_assert_not_null(gz);
    cr_expect_eq(gb->nsubs, 2);
    cr_expect_eq(gz->nsubs, 1);
    cr_expect_eq(gb->cumw[1], 2);
    cr_expect_eq(sublist_remove(sl, b1), 0);
    match(sl, "foo");
    cr_expect_eq(find_group(&R, "bar")->nsubs, 1);
    cr_expect_eq(find_group(&R, "bar")->subs[0], b2);
    cr_expect_eq(sublist_remove(sl, b2), 0);
    match(sl, "foo");
    cr_expect_eq(R.nqgroups, 1);
    cr_expect_null(find_group(&R, "bar"));
    cr_expect_eq(sublist_remove(sl, plain), 0);
    cr_expect_eq(sublist_remove(sl, z1), 0);
    match(sl, "foo");
    cr_expect_eq(R.npsubs + R.nqgroups, 0);
    tsub_free(plain);
    tsub_free(b1);
    tsub_free(b2);
    tsub_free(z1);
    sublist_free(sl);
}

/* One result group per queue name, merging members from every matching node. */
Test(sublist, queue_groups_merge_across_nodes)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "foo.bar", "q1"), *b = tsub_ins(sl, "foo.*", "q1");
    struct sub *c = tsub_ins(sl, "foo.>", "q1"), *d = tsub_ins(sl, "foo.*", "q2");
    struct sub *e = tsub_ins(sl, ">", "*"); /* a queue name may be any token */
    match(sl, "foo.bar");
    cr_expect_eq(R.npsubs, 0);
    cr_expect_eq(R.nqgroups, 3);
    cr_expect_eq(find_group(&R, "q1")->nsubs, 3);
    cr_expect_eq(find_group(&R, "q2")->nsubs, 1);
    cr_expect_eq(find_group(&R, "*")->nsubs, 1);
    cr_expect_eq(find_group(&R, "q1")->cumw[2], 3);
    match(sl, "foo.baz");
    cr_expect_eq(find_group(&R, "q1")->nsubs, 2);
    /* Same subject, queue names that differ by length only. */
    struct sub *f = tsub_ins(sl, "foo.bar", "q"), *g = tsub_ins(sl, "foo.bar", "q11");
    match(sl, "foo.bar");
    cr_expect_eq(R.nqgroups, 5);
    cr_expect_eq(find_group(&R, "q")->nsubs, 1);
    cr_expect_eq(find_group(&R, "q11")->nsubs, 1);
    struct sub *all[] = {a, b, c, d, e, f, g};
    for (size_t i = 0; i < 7; i++) {
        cr_expect_eq(sublist_remove(sl, all[i]), 0);
        tsub_free(all[i]);
    }
    sublist_free(sl);
}

Test(sublist, queue_weights)
{
    struct sublist *sl = sublist_new();
    struct sub *local = tsub_ins(sl, "foo", "g");
    struct sub *remote = tsub_new("foo", "g");
    remote->qweight = 3;
    cr_expect_eq(sublist_insert(sl, remote), 0);
    match(sl, "foo");
    const struct sublist_qgroup *g = find_group(&R, "g");
    cr_assert_not_null(g);
    cr_assert_eq(g->nsubs, 2);
    cr_expect_eq(g->cumw[1], 4);
    /* Picks are proportional to weight: over r = 0..3, the remote gets 3. */
    int hits_remote = 0;
    for (uint64_t r = 0; r < 4; r++)
        if (g->subs[sublist_qgroup_pick(g, r)] == remote)
            hits_remote++;
    cr_expect_eq(hits_remote, 3);
    /* A weight update is visible and bumps the genid. */
    uint64_t gen = sublist_genid(sl);
    cr_expect_eq(sublist_update_qweight(sl, remote, 7), 0);
    cr_expect_gt(sublist_genid(sl), gen);
    match(sl, "foo");
    g = find_group(&R, "g");
    cr_expect_eq(g->cumw[g->nsubs - 1], 8);
    /* Weights below 1 count as 1. */
    cr_expect_eq(sublist_update_qweight(sl, remote, 0), 0);
    match(sl, "foo");
    g = find_group(&R, "g");
    cr_expect_eq(g->cumw[g->nsubs - 1], 2);
    /* Not for plain subs, nor subs not inserted. */
    struct sub *plain = tsub_ins(sl, "foo", NULL);
    cr_expect_eq(sublist_update_qweight(sl, plain, 2), SUBLIST_ENOENT);
    struct sub *other = tsub_new("foo", "g");
    cr_expect_eq(sublist_update_qweight(sl, other, 2), SUBLIST_ENOENT);
    tsub_free(other);
    tsub_free(plain);
    tsub_free(local);
    tsub_free(remote);
    sublist_free(sl);
}

Test(sublist, qgroup_pick_distribution)
{
    struct sub s[3];
    uint64_t cumw[3] = {1, 11, 13}; /* weights 1, 10, 2 */
    struct sub *subs[3] = {&s[0], &s[1], &s[2]};
    struct sublist_qgroup g = {
        .queue = "q", .queue_len = 1, .subs = subs, .cumw = cumw, .nsubs = 3};
    int cnt[3] = {0, 0, 0};
    for (uint64_t r = 0; r < 13 * 100; r++)
        cnt[sublist_qgroup_pick(&g, r)]++;
    cr_expect_eq(cnt[0], 100);
    cr_expect_eq(cnt[1], 1000);
    cr_expect_eq(cnt[2], 200);
}

/* ---- genid, interest, iteration, stats ---- */

Test(sublist, genid_changes)
{
    struct sublist *sl = sublist_new(), *sl2 = sublist_new();
    uint64_t g0 = sublist_genid(sl);
    cr_expect_neq(g0, sublist_genid(sl2));
    struct sub *s = tsub_ins(sl, "foo", NULL);
    uint64_t g1 = sublist_genid(sl);
    cr_expect_gt(g1, g0);
    match(sl, "foo");
    cr_expect_eq(R.genid, g1);
    cr_expect(sublist_has_interest(sl, "foo", 3));
    cr_expect_eq(sublist_genid(sl), g1);
    struct sub *bad = tsub_new("foo..", NULL);
    cr_expect_eq(sublist_insert(sl, bad), SUBLIST_EINVAL);
    cr_expect_eq(sublist_remove(sl, bad), SUBLIST_ENOENT);
    cr_expect_eq(sublist_genid(sl), g1);
    cr_expect_eq(sublist_remove(sl, s), 0);
    cr_expect_gt(sublist_genid(sl), g1);
    tsub_free(bad);
    tsub_free(s);
    sublist_free(sl);
    sublist_free(sl2);
}

Test(sublist, has_interest)
{
    struct sublist *sl = sublist_new();
    cr_expect(!sublist_has_interest(sl, "foo", 3));
    struct sub *a = tsub_ins(sl, "foo.*.baz", NULL), *q = tsub_ins(sl, "x.>", "g");
    cr_expect(sublist_has_interest(sl, "foo.bar.baz", 11));
    cr_expect(!sublist_has_interest(sl, "foo.bar", 7));
    cr_expect(!sublist_has_interest(sl, "foo.bar.baz.x", 13));
    cr_expect(sublist_has_interest(sl, "x.y.z", 5));
    cr_expect(!sublist_has_interest(sl, "x", 1));
    cr_expect(sublist_has_interest(sl, "foo.*.baz", 9));
    cr_expect_eq(sublist_remove(sl, q), 0);
    cr_expect(!sublist_has_interest(sl, "x.y.z", 5));
    tsub_free(a);
    tsub_free(q);
    sublist_free(sl);
}

static void count_visit(struct sub *sub, void *arg)
{
    int *seen = arg;
    seen[(intptr_t)sub->owner]++;
}

Test(sublist, for_each_visits_every_sub_once)
{
    enum { N = 500 };
    struct sublist *sl = sublist_new();
    struct sub *subs[N];
    static int seen[N];
    char buf[64];
    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "%s.%d", i % 7 == 0 ? "*" : (i % 11 == 0 ? ">" : "s"), i % 50);
        if (i % 11 == 0)
            snprintf(buf, sizeof(buf), "s.%d.>", i % 50);
        subs[i] = tsub_new(buf, i % 4 == 0 ? (i % 8 ? "q1" : "q2") : NULL);
        subs[i]->owner = (void *)(intptr_t)i;
        cr_assert_eq(sublist_insert(sl, subs[i]), 0, "%s", buf);
    }
    sublist_for_each(sl, count_visit, seen);
    for (int i = 0; i < N; i++)
        cr_expect_eq(seen[i], 1, "sub %d visited %d times", i, seen[i]);
    for (int i = 0; i < N; i++)
        tsub_free(subs[i]);
    sublist_free(sl); /* frees the trie while subs are still "inserted" */
}

Test(sublist, stats)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "foo", NULL), *b = tsub_ins(sl, "foo", NULL);
    struct sub *c = tsub_ins(sl, "*", "q"), *d = tsub_ins(sl, "bar", NULL);
    cr_expect_eq(sublist_remove(sl, d), 0);
    match(sl, "foo"); /* fanout 3: two plain, one group */
    match(sl, "bar"); /* fanout 1 */
    struct sublist_stats st;
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.nsubs, 3);
    cr_expect_eq(st.num_inserts, 4);
    cr_expect_eq(st.num_removes, 1);
    cr_expect_eq(st.num_matches, 2);
    cr_expect_eq(st.max_fanout, 3);
    cr_expect_float_eq(st.avg_fanout, 2.0, 1e-9);
    cr_expect_gt(st.mem_bytes, 0);
    tsub_free(a);
    tsub_free(b);
    tsub_free(c);
    tsub_free(d);
    sublist_free(sl);
}

/* More tokens than the fixed path buffer, and a long chain of `*` children
 * that makes the match work stack grow. */
Test(sublist, deep_subjects)
{
    char lit[512], pw[512], mix[512];
    size_t lo = 0, po = 0, mo = 0;
    for (int i = 0; i < 100; i++) {
        lo += (size_t)snprintf(lit + lo, sizeof(lit) - lo, "%st%d", i ? "." : "", i % 10);
        po += (size_t)snprintf(pw + po, sizeof(pw) - po, "%s*", i ? "." : "");
        /* every other token a wildcard */
        if (i % 2)
            mo += (size_t)snprintf(mix + mo, sizeof(mix) - mo, ".*");
        else
            mo += (size_t)snprintf(mix + mo, sizeof(mix) - mo, "%st%d", i ? "." : "", i % 10);
    }
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, lit, NULL), *b = tsub_ins(sl, pw, "q");
    struct sub *c = tsub_ins(sl, mix, NULL);
    match(sl, lit);
    cr_expect_eq(R.npsubs, 2);
    cr_expect_eq(R.nqgroups, 1);
    cr_expect(sublist_has_interest(sl, lit, strlen(lit)));
    cr_expect_eq(sublist_remove(sl, a), 0);
    cr_expect_eq(sublist_remove(sl, b), 0);
    cr_expect_eq(sublist_remove(sl, c), 0);
    cr_expect_eq(sublist_count(sl), 0);
    tsub_free(a);
    tsub_free(b);
    tsub_free(c);
    sublist_free(sl);
}

/* ---- cache ---- */

Test(sublist, cache_hit_and_invalidation)
{
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(1024);
    struct sub *a = tsub_ins(sl, "foo.bar", NULL);
    const struct sublist_result *r = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r->npsubs, 1);
    const struct sublist_result *r2 = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r2, r);
    cr_expect_eq(sublist_cache_count(c), 1);
    /* An insert after a cached match must be visible. */
    struct sub *b = tsub_ins(sl, "foo.*", NULL);
    r = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r->npsubs, 2);
    struct sub *q = tsub_ins(sl, "foo.>", "g");
    r = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r->nqgroups, 1);
    /* And a remove. */
    cr_expect_eq(sublist_remove(sl, a), 0);
    r = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r->npsubs, 1);
    cr_expect_eq(r->psubs[0], b);
    /* And a weight change. */
    cr_expect_eq(sublist_update_qweight(sl, q, 5), 0);
    r = sublist_cache_match(c, sl, "foo.bar", 7);
    cr_expect_eq(r->qgroups[0].cumw[0], 5);
    sublist_cache_free(c);
    sublist_free(sl);
    tsub_free(a);
    tsub_free(b);
    tsub_free(q);
}

Test(sublist, cache_stats)
{
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(64);
    struct sub *a = tsub_ins(sl, "foo", NULL);
    for (int i = 0; i < 1 + 64 * 3; i++)
        sublist_cache_match(c, sl, "foo", 3);
    struct sublist_stats st;
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.cache_misses, 1);
    cr_expect_eq(st.cache_hits, 64 * 3); /* reported in batches of 64 */
    cr_expect_eq(st.num_matches, 1 + 64 * 3);
    sublist_cache_free(c);
    sublist_free(sl);
    tsub_free(a);
}

Test(sublist, cache_bound)
{
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(1000); /* rounded to 1024 */
    struct sub *all = tsub_ins(sl, ">", NULL);
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(buf, sizeof(buf), "s.%d", i);
        const struct sublist_result *r = sublist_cache_match(c, sl, buf, strlen(buf));
        cr_assert_eq(r->npsubs, 1);
        cr_assert_leq(sublist_cache_count(c), 1024);
    }
    cr_expect_gt(sublist_cache_count(c), 512);
    /* The most recent subject is still cached: a hit does not recompute. */
    struct sublist_stats st0, st1;
    sublist_get_stats(sl, &st0);
    sublist_cache_match(c, sl, buf, strlen(buf));
    sublist_get_stats(sl, &st1);
    cr_expect_eq(st1.cache_misses, st0.cache_misses);
    sublist_cache_free(c);
    sublist_free(sl);
    tsub_free(all);
}

Test(sublist, cache_disabled)
{
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(0);
    struct sub *a = tsub_ins(sl, "foo", NULL);
    const struct sublist_result *r = sublist_cache_match(c, sl, "foo", 3);
    cr_expect_eq(r->npsubs, 1);
    cr_expect_eq(sublist_cache_count(c), 0);
    struct sub *b = tsub_ins(sl, "foo", NULL);
    r = sublist_cache_match(c, sl, "foo", 3);
    cr_expect_eq(r->npsubs, 2);
    struct sublist_stats st;
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.cache_hits, 0);
    cr_expect_eq(st.num_matches, 2);
    sublist_cache_free(c);
    sublist_free(sl);
    tsub_free(a);
    tsub_free(b);
}

Test(sublist, cache_keys_by_sublist)
{
    struct sublist *s1 = sublist_new(), *s2 = sublist_new();
    struct sublist_cache *c = sublist_cache_new(16);
    struct sub *a = tsub_ins(s1, "foo", NULL);
    cr_expect_eq(sublist_cache_match(c, s1, "foo", 3)->npsubs, 1);
    cr_expect_eq(sublist_cache_match(c, s2, "foo", 3)->npsubs, 0);
    cr_expect_eq(sublist_cache_match(c, s1, "foo", 3)->npsubs, 1);
    sublist_cache_forget(c, s2);
    sublist_free(s2);
    /* A new sublist, maybe at the same address, never sees s2's entries. */
    struct sublist *s3 = sublist_new();
    cr_expect_eq(sublist_cache_match(c, s3, "foo", 3)->npsubs, 0);
    sublist_cache_free(c);
    sublist_free(s1);
    sublist_free(s3);
    tsub_free(a);
}

Test(sublist, cache_freed_sublist_never_hits)
{
    struct sublist_cache *c = sublist_cache_new(16);
    struct sublist *s1 = sublist_new();
    struct sub *a = tsub_ins(s1, "foo", NULL);
    cr_expect_eq(sublist_cache_match(c, s1, "foo", 3)->npsubs, 1);
    sublist_free(s1); /* no forget */
    for (int i = 0; i < 20; i++) {
        struct sublist *s2 = sublist_new();
        cr_expect_eq(sublist_cache_match(c, s2, "foo", 3)->npsubs, 0);
        sublist_free(s2);
    }
    sublist_cache_free(c);
    tsub_free(a);
}

/* ---- randomized differential test against a naive matcher ---- */

struct naive {
    struct sub **subs;
    size_t n;
};

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Compare a result with the naive answer for subj; returns false on mismatch. */
static bool naive_check(const struct naive *nv, const char *subj, size_t len,
                        const struct sublist_result *r)
{
    struct sub **want = malloc((nv->n + 1) * sizeof(*want)), **got;
    size_t nw = 0, ng = 0, nq = 0;
    bool ok = true;

    for (size_t i = 0; i < nv->n; i++)
        if (subject_matches(nv->subs[i]->subject, nv->subs[i]->subject_len, subj, len))
            want[nw++] = nv->subs[i];
    got = malloc((nw + r->npsubs + 1) * sizeof(*got));
    for (size_t i = 0; i < r->npsubs; i++)
        got[ng++] = r->psubs[i];
    for (size_t i = 0; i < r->nqgroups; i++) {
        const struct sublist_qgroup *g = &r->qgroups[i];
        uint64_t total = 0;
        ok = ok && g->nsubs > 0;
        for (size_t j = 0; j < g->nsubs; j++) {
            struct sub *s = g->subs[j];
            ok = ok && s->queue != NULL && s->queue_len == g->queue_len &&
                 memcmp(s->queue, g->queue, g->queue_len) == 0;
            total += s->qweight > 1 ? (uint64_t)s->qweight : 1;
            ok = ok && g->cumw[j] == total;
            got = realloc(got, (ng + 2) * sizeof(*got));
            got[ng++] = s;
        }
        for (size_t k = 0; k < i; k++)
            ok = ok && !(r->qgroups[k].queue_len == g->queue_len &&
                         memcmp(r->qgroups[k].queue, g->queue, g->queue_len) == 0);
        nq++;
    }
    for (size_t i = 0; i < r->npsubs; i++)
        ok = ok && r->psubs[i]->queue == NULL;
    if (ng != nw) {
        ok = false;
    } else {
        qsort(want, nw, sizeof(*want), cmp_ptr);
        qsort(got, ng, sizeof(*got), cmp_ptr);
        ok = ok && (nw == 0 || memcmp(want, got, nw * sizeof(*want)) == 0);
    }
    (void)nq;
    free(want);
    free(got);
    return ok;
}

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

/* A random subject over a small alphabet so that collisions are common. */
static void random_subject(char *buf, size_t size, bool wildcards, bool allow_empty)
{
    static const char *toks[] = {"a", "b", "c", "foo", "bar", "a*", ">x", "22"};
    size_t o = 0;
    int nt = 1 + (int)rnd(5);
    for (int t = 0; t < nt; t++) {
        const char *tok = toks[rnd(8)];
        if (wildcards) {
            uint32_t w = rnd(10);
            if (w == 0)
                tok = "*";
            else if (w == 1 && t == nt - 1)
                tok = ">";
        } else if (rnd(20) == 0) {
            tok = rnd(2) ? "*" : ">"; /* literal subjects with wildcard tokens */
        }
        if (allow_empty && rnd(40) == 0)
            tok = "";
        o += (size_t)snprintf(buf + o, size - o, "%s%s", t ? "." : "", tok);
    }
}

static void differential(uint64_t seed, int ops, size_t cache_entries)
{
    struct sublist *sl = sublist_new();
    struct sublist_cache *c = sublist_cache_new(cache_entries);
    struct naive nv = {calloc((size_t)ops, sizeof(struct sub *)), 0};
    char buf[128];
    static const char *queues[] = {NULL, NULL, NULL, "q1", "q2"};

    rng_state = seed;
    for (int op = 0; op < ops; op++) {
        uint32_t k = rnd(10);
        if (k < 4) {
            random_subject(buf, sizeof(buf), true, true);
            struct sub *s = tsub_new(buf, queues[rnd(5)]);
            s->qweight = 1 + (int32_t)rnd(3);
            int rc = sublist_insert(sl, s);
            if (subject_is_valid(buf, strlen(buf))) {
                cr_assert_eq(rc, 0, "insert %s", buf);
                nv.subs[nv.n++] = s;
            } else {
                cr_assert_eq(rc, SUBLIST_EINVAL, "insert %s", buf);
                tsub_free(s);
            }
        } else if (k < 6 && nv.n > 0) {
            size_t i = rnd((uint32_t)nv.n);
            cr_assert_eq(sublist_remove(sl, nv.subs[i]), 0);
            cr_assert_eq(sublist_remove(sl, nv.subs[i]), SUBLIST_ENOENT);
            tsub_free(nv.subs[i]);
            nv.subs[i] = nv.subs[--nv.n];
        } else {
            random_subject(buf, sizeof(buf), false, true);
            size_t len = strlen(buf);
            const struct sublist_result *r = sublist_cache_match(c, sl, buf, len);
            cr_assert(naive_check(&nv, buf, len, r), "cached match of %s (op %d)", buf, op);
            sublist_match(sl, buf, len, &R);
            cr_assert(naive_check(&nv, buf, len, &R), "match of %s (op %d)", buf, op);
            bool any = R.npsubs + R.nqgroups > 0;
            cr_assert_eq(sublist_has_interest(sl, buf, len), any, "interest in %s", buf);
        }
        cr_assert_eq(sublist_count(sl), nv.n);
    }
    for (size_t i = 0; i < nv.n; i++) {
        cr_assert_eq(sublist_remove(sl, nv.subs[i]), 0);
        tsub_free(nv.subs[i]);
    }
    cr_assert_eq(sublist_count(sl), 0);
    free(nv.subs);
    sublist_cache_free(c);
    sublist_free(sl);
}

Test(sublist, differential_random)
{
    for (uint64_t seed = 1; seed <= 10; seed++)
        differential(seed, 3000, 1024);
}

Test(sublist, differential_random_small_cache)
{
    for (uint64_t seed = 100; seed <= 105; seed++)
        differential(seed, 3000, 4);
}

Test(sublist, differential_random_no_cache)
{
    differential(777, 5000, 0);
}

/* ---- threads: 4 matchers while 1 writer inserts and removes ---- */

/* Criterion cannot run under TSan (Snaipe/Criterion#274), so the body lives in
 * sublist_mt.h and tests/tsan/sublist_threads.c runs it too, without
 * Criterion, in the TSan build. */
Test(sublist, threads_match_while_writing, .timeout = 120)
{
    struct sublist_mt_report rep = sublist_mt_run(4, 20000);
    cr_expect_eq(rep.errors, 0, "%s", rep.what);
    cr_expect_gt(rep.checks, 0);
}

/* ---- memory per subscription ---- */

static long rss_kb(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * 4;
}

/* 100,000 unique subjects "foo.bar.N" plus 10,000 queue subs over 100 subjects
 * in 10 groups. The trie's own share is counted by the sublist (chunk sizes of
 * its allocations); RSS growth includes the test's subs and subject copies. */
Test(sublist, memory_per_sub, .timeout = 120)
{
    enum { NP = 100000, NQ = 10000 };
    struct sublist *sl = sublist_new();
    struct sublist_stats st;
    struct sub *subs = calloc(NP + NQ, sizeof(*subs));
    char *names = malloc((size_t)(NP + NQ) * 24);
    long rss0 = rss_kb();

    sublist_get_stats(sl, &st);
    uint64_t mem0 = st.mem_bytes;
    for (int i = 0; i < NP + NQ; i++) {
        char *p = names + (size_t)i * 24;
        int n = i < NP ? snprintf(p, 24, "foo.bar.%d", i) : snprintf(p, 24, "foo.q.%d", i % 100);
        subs[i].subject = p;
        subs[i].subject_len = (uint32_t)n;
        subs[i].qweight = 1;
        if (i >= NP) {
            subs[i].queue = (i / 100) % 10 ? "workers" : "auditors";
            subs[i].queue_len = (uint32_t)strlen(subs[i].queue);
        }
        cr_assert_eq(sublist_insert(sl, &subs[i]), 0);
    }
    long rss1 = rss_kb();
    sublist_get_stats(sl, &st);
    double per_sub = (double)(st.mem_bytes - mem0) / (NP + NQ);
    printf("sublist memory: %d subs, trie %.1f bytes/sub (%llu bytes); RSS growth %.1f "
           "bytes/sub including %zu-byte struct sub and 24-byte subjects\n",
           NP + NQ, per_sub, (unsigned long long)st.mem_bytes,
           (double)(rss1 - rss0) * 1024.0 / (NP + NQ), sizeof(struct sub));
    cr_expect_lt(per_sub, 150.0, "trie uses %.1f bytes per sub", per_sub);

    match(sl, "foo.bar.4242");
    cr_expect_eq(R.npsubs, 1);
    match(sl, "foo.q.7");
    cr_expect_eq(R.nqgroups, 2);

    for (int i = 0; i < NP + NQ; i++)
        cr_assert_eq(sublist_remove(sl, &subs[i]), 0);
    sublist_get_stats(sl, &st);
    cr_expect_eq(st.mem_bytes, mem0);
    sublist_free(sl);
    free(subs);
    free(names);
}

/* 16,000 subscriptions whose last tokens collide under FNV-1a (low 16 bits
 * zero: one probe run in the "flood" node's children table with that hash)
 * beside wildcards on the same level: every one is found, matches, and goes
 * away, and the table shrinks back. The keyed hash keeps this fast too
 * (bench_flood); here it is the correctness under such keys. */
Test(sublist, colliding_tokens)
{
    enum { N = 16000 };
    struct sublist *sl = sublist_new();
    char *raw = malloc((size_t)(N + 1) * FLOOD_TOK_LEN);
    flood_keys(raw, N + 1); /* the last one is never subscribed */
    struct sub *subs[N];
    char subj[64];
    for (int i = 0; i < N; i++) {
        snprintf(subj, sizeof(subj), "flood.%.*s", (int)FLOOD_TOK_LEN, raw + i * FLOOD_TOK_LEN);
        subs[i] = tsub_ins(sl, subj, NULL);
    }
    struct sub *pwc = tsub_ins(sl, "flood.*", NULL);
    struct sub *fwc = tsub_ins(sl, "flood.>", NULL);
    cr_assert_eq(sublist_count(sl), N + 2);
    for (int i = 0; i < N; i++) {
        match(sl, subs[i]->subject);
        cr_assert_eq(R.npsubs, 3, "%s", subs[i]->subject);
        cr_assert(has_psub(&R, subs[i]) && has_psub(&R, pwc) && has_psub(&R, fwc));
    }
    /* a colliding token nobody subscribed to meets only the wildcards */
    snprintf(subj, sizeof(subj), "flood.%.*s", (int)FLOOD_TOK_LEN, raw + N * FLOOD_TOK_LEN);
    match(sl, subj);
    cr_assert_eq(R.npsubs, 2);
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(sublist_remove(sl, subs[i]), 0);
    for (int i = 0; i < N; i++) {
        match(sl, subs[i]->subject);
        cr_assert_eq(R.npsubs, i % 2 ? 3u : 2u, "%s", subs[i]->subject);
    }
    for (int i = 1; i < N; i += 2)
        cr_assert_eq(sublist_remove(sl, subs[i]), 0);
    cr_assert_eq(sublist_remove(sl, pwc), 0);
    cr_assert_eq(sublist_remove(sl, fwc), 0);
    cr_assert_eq(sublist_count(sl), 0);
    for (int i = 0; i < N; i++)
        tsub_free(subs[i]);
    tsub_free(pwc);
    tsub_free(fwc);
    free(raw);
    sublist_free(sl);
}

static bool pred_is(const struct sub *sub, void *arg)
{
    return sub == arg;
}

static bool pred_never(const struct sub *sub, void *arg)
{
    (void)sub;
    (void)arg;
    return false;
}

/* sublist_any_match asks the predicate about the matching subs only, plain
 * and queue members alike, and says whether one passed. */
Test(sublist, any_match_predicate)
{
    struct sublist *sl = sublist_new();
    struct sub *a = tsub_ins(sl, "a.b", NULL);
    struct sub *w = tsub_ins(sl, "a.*", NULL);
    struct sub *q = tsub_ins(sl, "a.>", "grp");
    struct sub *x = tsub_ins(sl, "x.y", NULL);
    cr_assert(sublist_any_match(sl, "a.b", 3, pred_is, a));
    cr_assert(sublist_any_match(sl, "a.b", 3, pred_is, w));
    cr_assert(sublist_any_match(sl, "a.b", 3, pred_is, q));
    cr_assert_not(sublist_any_match(sl, "a.b", 3, pred_is, x));
    cr_assert_not(sublist_any_match(sl, "a.c", 3, pred_is, a));
    cr_assert(sublist_any_match(sl, "a.c.d", 5, pred_is, q));
    cr_assert_not(sublist_any_match(sl, "a.c.d", 5, pred_is, w));
    cr_assert_not(sublist_any_match(sl, "a.b", 3, pred_never, NULL));
    cr_assert_not(sublist_any_match(sl, "a..b", 4, pred_is, q), "empty token");
    struct sub *all[] = {a, w, q, x};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(sublist_remove(sl, all[i]), 0);
        tsub_free(all[i]);
    }
    sublist_free(sl);
}
