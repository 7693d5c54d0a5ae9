/* SPDX-License-Identifier: Apache-2.0
 * The permission matcher: publish allow/deny with wildcards, subscribe with
 * queue entries, deny overriding allow, the delivery deny filter for wildcard
 * subscriptions, allow_responses (max, expiry), Go-style quoting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "perms.h"
#include "sbuf.h"

#define S(x) (x), strlen(x)

static void list(struct strlist *l, const char *const *v)
{
    for (; *v; v++)
        strlist_push(l, *v);
}

static struct perms_conn *make(const char *const *pa, const char *const *pd, const char *const *sa,
                               const char *const *sd, bool resp)
{
    struct opts_perms p;
    memset(&p, 0, sizeof(p));
    if (pa || pd) {
        p.publish.set = true;
        if (pa) {
            list(&p.publish.allow, pa);
            p.publish.allow_set = true;
        }
        if (pd)
            list(&p.publish.deny, pd);
    }
    if (sa || sd) {
        p.subscribe.set = true;
        if (sa) {
            list(&p.subscribe.allow, sa);
            p.subscribe.allow_set = true;
        }
        if (sd)
            list(&p.subscribe.deny, sd);
    }
    if (resp) {
        p.allow_responses = true;
        p.resp_max = 1;
        p.resp_expires_ns = 1000;
        p.publish.set = true;
        p.publish.allow_set = true;
    }
    struct perms_conn *pc = perms_conn_new(&p);
    strlist_free(&p.publish.allow);
    strlist_free(&p.publish.deny);
    strlist_free(&p.subscribe.allow);
    strlist_free(&p.subscribe.deny);
    return pc;
}

Test(perms, none_is_null)
{
    cr_assert_null(perms_conn_new(NULL));
}

Test(perms, publish_allow_deny_wildcards)
{
    const char *pa[] = {"foo.>", "req.*", NULL};
    const char *pd[] = {"foo.secret", "foo.*.hidden", NULL};
    struct perms_conn *pc = make(pa, pd, NULL, NULL, false);
    for (int round = 0; round < 2; round++) { /* second round: from the cache */
        cr_expect_eq(perms_pub_check(pc, S("foo.x")), PERMS_PUB_ALLOW);
        cr_expect_eq(perms_pub_check(pc, S("foo.x.y")), PERMS_PUB_ALLOW);
        cr_expect_eq(perms_pub_check(pc, S("foo")), PERMS_PUB_DENY);
        cr_expect_eq(perms_pub_check(pc, S("foo.secret")), PERMS_PUB_DENY);
        cr_expect_eq(perms_pub_check(pc, S("foo.a.hidden")), PERMS_PUB_DENY);
        cr_expect_eq(perms_pub_check(pc, S("req.1")), PERMS_PUB_ALLOW);
        cr_expect_eq(perms_pub_check(pc, S("req.1.2")), PERMS_PUB_DENY);
        cr_expect_eq(perms_pub_check(pc, S("bar")), PERMS_PUB_DENY);
    }
    perms_conn_free(pc);
}

Test(perms, publish_deny_only)
{
    const char *pd[] = {">", NULL};
    struct perms_conn *pc = make(NULL, pd, NULL, NULL, false);
    cr_expect_eq(perms_pub_check(pc, S("a")), PERMS_PUB_DENY);
    perms_conn_free(pc);
    const char *pd2[] = {"x.*", NULL};
    pc = make(NULL, pd2, NULL, NULL, false);
    cr_expect_eq(perms_pub_check(pc, S("a")), PERMS_PUB_ALLOW);
    cr_expect_eq(perms_pub_check(pc, S("x.y")), PERMS_PUB_DENY);
    perms_conn_free(pc);
}

Test(perms, publish_cache_prunes)
{
    const char *pa[] = {"ok.>", NULL};
    struct perms_conn *pc = make(pa, NULL, NULL, NULL, false);
    char subj[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(subj, sizeof(subj), "%s.%d", i % 2 ? "ok" : "no", i);
        cr_expect_eq(perms_pub_check(pc, subj, (size_t)n),
                     i % 2 ? PERMS_PUB_ALLOW : PERMS_PUB_DENY);
    }
    cr_expect_leq(pc->pcache.n, 128);
    perms_conn_free(pc);
}

Test(perms, subscribe_queue_entries)
{
    const char *sa[] = {"foo.>", "bar", "q.x g1", "q.y", "w.* g.*", NULL};
    const char *sd[] = {"foo.private.>", "q.y g9", NULL};
    struct perms_conn *pc = make(NULL, NULL, sa, sd, false);
    cr_expect(perms_can_subscribe(pc, S("foo.x"), NULL, 0));
    cr_expect(perms_can_subscribe(pc, S("bar"), NULL, 0));
    cr_expect(perms_can_subscribe(pc, S("bar"), S("any")));
    cr_expect_not(perms_can_subscribe(pc, S("baz"), NULL, 0));
    cr_expect_not(perms_can_subscribe(pc, S("foo.private.x"), NULL, 0));
    cr_expect_not(perms_can_subscribe(pc, S("q.x"), NULL, 0));
    cr_expect(perms_can_subscribe(pc, S("q.x"), S("g1")));
    cr_expect_not(perms_can_subscribe(pc, S("q.x"), S("g2")));
    cr_expect(perms_can_subscribe(pc, S("q.y"), NULL, 0));
    cr_expect(perms_can_subscribe(pc, S("q.y"), S("g8")));
    cr_expect_not(perms_can_subscribe(pc, S("q.y"), S("g9")));
    cr_expect(perms_can_subscribe(pc, S("w.a"), S("g.b")));
    cr_expect_not(perms_can_subscribe(pc, S("w.a"), S("h")));
    cr_expect_not(perms_can_subscribe(pc, S(">"), NULL, 0));
    perms_conn_free(pc);
}

Test(perms, wildcard_sub_overlapping_deny_filters_delivery)
{
    const char *sd[] = {"foo.private.>", "q.y g9", NULL};
    struct perms_conn *pc = make(NULL, NULL, NULL, sd, false);
    cr_expect_not(perms_deliver_denied(pc, S("foo.private.x")));
    cr_expect(perms_can_subscribe(pc, S("bar.>"), NULL, 0));
    cr_expect_not(atomic_load(&pc->deny_filter)); /* no overlap */
    cr_expect(perms_can_subscribe(pc, S("foo.>"), NULL, 0));
    cr_expect(atomic_load(&pc->deny_filter));
    cr_expect(perms_deliver_denied(pc, S("foo.private.x")));
    cr_expect(perms_deliver_denied(pc, S("foo.private.x.y")));
    cr_expect_not(perms_deliver_denied(pc, S("foo.private")));
    cr_expect_not(perms_deliver_denied(pc, S("foo.ok")));
    cr_expect_not(perms_deliver_denied(pc, S("q.y")));
    perms_conn_free(pc);
}

Test(perms, allow_responses_max_and_expiry)
{
    struct perms_conn *pc = make(NULL, NULL, NULL, NULL, true);
    cr_expect_eq(perms_pub_check(pc, S("_INBOX.1")), PERMS_PUB_REPLY);
    cr_expect_not(perms_reply_use_locked(pc, S("_INBOX.1"), 10));
    perms_reply_track_locked(pc, S("_INBOX.1"), 10);
    cr_expect(perms_reply_use_locked(pc, S("_INBOX.1"), 20));
    cr_expect_not(perms_reply_use_locked(pc, S("_INBOX.1"), 30)); /* max 1 */
    perms_reply_track_locked(pc, S("_INBOX.2"), 100);
    cr_expect_not(perms_reply_use_locked(pc, S("_INBOX.2"), 2000)); /* expired */
    for (int i = 0; i < 5000; i++) {
        char r[32];
        int n = snprintf(r, sizeof(r), "r.%d", i);
        perms_reply_track_locked(pc, r, (size_t)n, 3000 + (uint64_t)i * 1000);
    }
    cr_expect_leq(pc->replies.n, 4097);
    perms_conn_free(pc);
}

Test(perms, quote)
{
    struct sbuf b = {0};
    perms_quote(&b, S("a\"b\\c\td\x01"));
    sbuf_addc(&b, '\0');
    cr_expect_str_eq(b.p, "\"a\\\"b\\\\c\\td\\x01\"");
    sbuf_free(&b);
}
