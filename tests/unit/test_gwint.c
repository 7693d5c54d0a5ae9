/* SPDX-License-Identifier: Apache-2.0
 * Gateway interest at the sender: every transition of docs/protocol/gateway.md
 * §5.3, the interest query for optimistic and interest-only peers, queue
 * groups, monitoring rows, invalid input, and reclamation through a worker
 * whose turn the test ends by hand. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NATSD_TEST_LSAN 1
#endif

#include "gwint.h"
#include "parser.h"
#include "server.h"
#include "sublist.h"
#include "worker.h"

#define A     "$G"
#define SL(s) (s), strlen(s)

static struct server srv;
static struct worker wk;
static struct worker *W = &wk;
static struct sublist_cache *C;
static struct gwint *G;

/* End the worker's turn: nothing else holds retired objects here. */
static void turn_end(void)
{
    for (size_t i = 0; i < wk.nretired; i++)
        wk.retired[i].free_fn(wk.retired[i].p);
    wk.nretired = 0;
}

static void setup(void)
{
    memset(&srv, 0, sizeof(srv));
    memset(&wk, 0, sizeof(wk));
    wk.s = &srv;
    C = sublist_cache_new(64);
    G = gwint_new(false);
}

static void teardown(void)
{
    gwint_free(G, W);
    turn_end();
    free(wk.retired);
    sublist_cache_free(C);
}

TestSuite(gwint, .init = setup, .fini = teardown);

/* Under ASan, an explicit leak check: the process-exit report of a test's
 * child process does not fail the test. */
static int leaks(void)
{
#ifdef NATSD_TEST_LSAN
    return __lsan_do_recoverable_leak_check();
#else
    return 0;
#endif
}

/* Start over with a peer whose INFO said gateway_iom (or not). */
static void peer(bool iom)
{
    gwint_free(G, W);
    G = gwint_new(iom);
}

struct m {
    bool any, plain;
    size_t nq;
    struct parser_slice q[4];
};

static struct m match_in(const char *acc, const char *subj)
{
    struct m r;
    memset(&r, 0xa5, sizeof(r));
    r.any = gwint_match(G, C, SL(acc), SL(subj), &r.plain, r.q, 4, &r.nq);
    cr_assert_eq(r.any, r.plain || r.nq > 0);
    return r;
}

static struct m match(const char *subj)
{
    return match_in(A, subj);
}

static bool plain(const char *subj)
{
    return match(subj).plain;
}

static bool has_group(const struct m *r, const char *q)
{
    for (size_t i = 0; i < r->nq; i++)
        if (r->q[i].len == strlen(q) && memcmp(r->q[i].p, q, r->q[i].len) == 0)
            return true;
    return false;
}

static void a_minus(void)
{
    cr_assert_eq(gwint_account_unsub(G, W, SL(A)), 0);
}

static void a_plus(void)
{
    cr_assert_eq(gwint_account_sub(G, W, SL(A)), 0);
}

static void rs_plus(const char *subj)
{
    cr_assert_eq(gwint_sub(G, W, SL(A), SL(subj), NULL, 0, 0), 0);
}

static void rs_minus(const char *subj)
{
    cr_assert_eq(gwint_unsub(G, W, SL(A), SL(subj), NULL, 0), 0);
}

static void rsq_plus(const char *subj, const char *q)
{
    cr_assert_eq(gwint_sub(G, W, SL(A), SL(subj), SL(q), 1), 0);
}

static void rsq_minus(const char *subj, const char *q)
{
    cr_assert_eq(gwint_unsub(G, W, SL(A), SL(subj), SL(q)), 0);
}

static void cmd2(void)
{
    gwint_all_subs_start(G, SL(A));
}

static void cmd3(void)
{
    gwint_all_subs_complete(G, SL(A));
}

/* The one row of $G; fails unless there is exactly one. */
static struct gwint_acc_info row(void)
{
    struct gwint_acc_info *v, r;
    size_t n = gwint_accounts(G, A, &v);
    cr_assert_eq(n, 1, "one entry for " A);
    r = *v;
    free(v);
    return r;
}

static size_t nrows(void)
{
    struct gwint_acc_info *v;
    size_t n = gwint_accounts(G, NULL, &v);
    free(v);
    return n;
}

/* The states of the table, reached through their inputs. */
static void to_no_interest(void)
{
    a_minus();
}

static void to_optimistic(void)
{
    rs_minus("nope"); /* ni = {nope} */
}

static void to_interest_only(void)
{
    cmd2();
    cmd3();
}

/* --- the query on an ABSENT account --- */

Test(gwint, absent_optimistic_peer_sends_everything)
{
    struct m r = match("foo.bar");
    cr_assert(r.any && r.plain);
    cr_assert_eq(r.nq, 0);
    cr_assert_eq(nrows(), 0);
}

Test(gwint, absent_iom_peer_sends_nothing)
{
    peer(true);
    struct m r = match("foo.bar");
    cr_assert(!r.any && !r.plain);
    cr_assert_eq(r.nq, 0);
}

/* --- A- --- */

Test(gwint, a_minus_absent_to_no_interest)
{
    to_no_interest();
    cr_assert_not(match("foo").any);
    cr_assert(plain("foo") == false);
    struct gwint_acc_info r = row();
    cr_assert_str_eq(r.name, A);
    cr_assert_eq(r.mode, GWINT_OPTIMISTIC, "NO_INTEREST is shown as Optimistic");
    cr_assert_eq(r.no_interest_count + r.num_subs + r.num_queue_subs, 0);
    cr_assert(plain("foo") == false);
    cr_assert(match_in("OTHER", "foo").plain, "other accounts are untouched");
}

Test(gwint, a_minus_no_interest_stays)
{
    to_no_interest();
    a_minus();
    cr_assert_not(match("foo").any);
    cr_assert_eq(nrows(), 1);
}

Test(gwint, a_minus_with_queue_subs_resets_ni_and_keeps_entry)
{
    rs_minus("foo");
    rsq_plus("bar", "q");
    cr_assert_not(plain("foo"));
    a_minus();
    struct m r = match("foo");
    cr_assert(r.plain, "the plain no-interest was forgotten");
    r = match("bar");
    cr_assert(r.plain);
    cr_assert_eq(r.nq, 1);
    cr_assert(has_group(&r, "q"));
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_OPTIMISTIC);
    cr_assert_eq(i.no_interest_count, 0);
    cr_assert_eq(i.num_queue_subs, 1);
}

Test(gwint, a_minus_with_queue_subs_in_interest_only_brings_back_ni)
{
    to_interest_only();
    rs_plus("foo");
    rsq_plus("bar", "q");
    cr_assert_not(plain("zzz"));
    a_minus();
    /* ni is an empty set again: an optimistic peer is sent everything */
    cr_assert(plain("zzz"));
    cr_assert(plain("foo"));
    cr_assert_eq(match("bar").nq, 1);
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_INTEREST_ONLY);
    cr_assert_eq(i.num_subs, 2, "stored plain subs are kept");
}

Test(gwint, a_minus_with_queue_subs_iom_peer)
{
    peer(true);
    to_interest_only();
    rs_plus("foo");
    rsq_plus("bar", "q");
    a_minus();
    cr_assert_not(plain("zzz"));
    cr_assert(plain("foo"), "stored subs still match while qsubs > 0");
    cr_assert_eq(match("bar").nq, 1);
}

Test(gwint, a_minus_without_queue_subs_drops_entry)
{
    to_interest_only();
    rs_plus("foo");
    cr_assert_eq(gwint_num_subs(G), 1);
    a_minus();
    cr_assert_not(match("foo").any);
    cr_assert_eq(gwint_num_subs(G), 0, "stored plain subs are thrown away");
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_OPTIMISTIC);
    cr_assert_eq(i.num_subs, 0);
    /* the old keys went with it: the same RS+ is stored again */
    a_plus();
    to_interest_only();
    rs_plus("foo");
    cr_assert_eq(gwint_num_subs(G), 1);
    cr_assert(plain("foo"));
}

Test(gwint, a_minus_optimistic_entry_drops_ni)
{
    to_optimistic();
    a_minus();
    cr_assert_not(plain("foo"));
    cr_assert_eq(row().no_interest_count, 0);
}

/* --- A+ --- */

Test(gwint, a_plus_absent_nothing)
{
    a_plus();
    cr_assert_eq(nrows(), 0);
    cr_assert(plain("foo"));
}

Test(gwint, a_plus_no_interest_to_absent)
{
    to_no_interest();
    a_plus();
    cr_assert_eq(nrows(), 0);
    cr_assert(plain("foo"));
    peer(true);
    to_no_interest();
    a_plus();
    cr_assert_eq(nrows(), 0);
    cr_assert_not(plain("foo"), "ABSENT at an iom peer sends nothing");
}

Test(gwint, a_plus_entry_with_queue_subs_nothing)
{
    to_optimistic();
    rsq_plus("bar", "q");
    a_plus();
    struct gwint_acc_info i = row();
    cr_assert_eq(i.no_interest_count, 1);
    cr_assert_not(plain("nope"));
    cr_assert_eq(match("bar").nq, 1);
}

Test(gwint, a_plus_entry_without_queue_subs_to_absent)
{
    to_interest_only();
    rs_plus("foo");
    a_plus();
    cr_assert_eq(nrows(), 0);
    cr_assert_eq(gwint_num_subs(G), 0);
    cr_assert(plain("anything"));
}

/* --- RS+ plain --- */

Test(gwint, rs_plus_plain_ignored_when_absent)
{
    peer(true);
    rs_plus("foo");
    cr_assert_eq(nrows(), 0);
    cr_assert_not(plain("foo"), "plain RS+ before cmd 2 has no effect");
}

Test(gwint, rs_plus_plain_ignored_when_no_interest)
{
    to_no_interest();
    rs_plus("foo");
    cr_assert_not(plain("foo"));
    struct gwint_acc_info i = row();
    cr_assert_eq(i.num_subs, 0);
}

Test(gwint, rs_plus_plain_stored_when_transitioning_or_interest_only)
{
    peer(true);
    cmd2();
    rs_plus("foo");
    rs_plus("foo"); /* duplicate */
    cr_assert(plain("foo"), "sent already before cmd 3");
    cr_assert_not(plain("bar"));
    cr_assert_eq(row().num_subs, 1);
    cmd3();
    rs_plus("bar");
    cr_assert(plain("bar"));
    cr_assert_eq(gwint_num_subs(G), 2);
    cr_assert_eq(row().mode, GWINT_INTEREST_ONLY);
}

Test(gwint, rs_plus_plain_optimistic_removes_from_ni)
{
    rs_minus("foo");
    rs_minus("bar");
    cr_assert_not(plain("foo"));
    rs_plus("foo");
    cr_assert(plain("foo"));
    cr_assert_not(plain("bar"));
    rs_plus("other"); /* not in ni: nothing changes */
    struct gwint_acc_info i = row();
    cr_assert_eq(i.no_interest_count, 1);
    cr_assert_eq(i.num_subs, 0, "optimistic plain RS+ is not stored");
}

Test(gwint, rs_plus_wildcard_optimistic_removes_every_match)
{
    rs_minus("foo.bar");
    rs_minus("foo.baz");
    rs_minus("foo");
    rs_minus("foo.bar.baz");
    rs_minus("x.y");
    cr_assert_eq(row().no_interest_count, 5);
    rs_plus("foo.*");
    cr_assert(plain("foo.bar"));
    cr_assert(plain("foo.baz"));
    cr_assert_not(plain("foo"));
    cr_assert_not(plain("foo.bar.baz"));
    cr_assert_eq(row().no_interest_count, 3);
    rs_plus("foo.>");
    cr_assert(plain("foo.bar.baz"));
    cr_assert_not(plain("foo"));
    rs_plus(">");
    cr_assert(plain("foo"));
    cr_assert(plain("x.y"));
    cr_assert_eq(row().no_interest_count, 0);
    cr_assert_eq(nrows(), 1, "the entry stays with an empty ni");
}

/* --- RS- plain --- */

Test(gwint, rs_minus_plain_absent_creates_optimistic_entry)
{
    rs_minus("foo");
    cr_assert_not(plain("foo"));
    cr_assert(plain("bar"));
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_OPTIMISTIC);
    cr_assert_eq(i.no_interest_count, 1);
}

Test(gwint, rs_minus_plain_no_interest_creates_optimistic_entry)
{
    to_no_interest();
    cr_assert_not(plain("bar"));
    rs_minus("foo");
    cr_assert_not(plain("foo"));
    cr_assert(plain("bar"));
    cr_assert_eq(row().no_interest_count, 1);
}

Test(gwint, rs_minus_plain_optimistic_adds_to_ni)
{
    to_optimistic();
    rs_minus("foo");
    rs_minus("foo"); /* already there */
    cr_assert_not(plain("foo"));
    cr_assert_not(plain("nope"));
    cr_assert(plain("bar"));
    cr_assert_eq(row().no_interest_count, 2);
}

Test(gwint, rs_minus_plain_removes_stored_sub)
{
    peer(true);
    to_interest_only();
    rs_plus("foo");
    rs_plus("foo.*");
    cr_assert(plain("foo.x"));
    rs_minus("foo.*");
    cr_assert_not(plain("foo.x"));
    cr_assert(plain("foo"));
    rs_minus("foo.*"); /* not stored: ignored */
    rs_minus("foo.x"); /* exact key only: wildcards are not expanded */
    cr_assert(plain("foo"));
    rs_minus("foo");
    cr_assert_not(plain("foo"));
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_INTEREST_ONLY, "an empty interest-only entry stays");
    cr_assert_eq(i.num_subs, 0);
    cr_assert_eq(i.no_interest_count, 0, "RS- in interest-only does not feed ni");
}

Test(gwint, rs_minus_plain_transitioning_removes_stored_sub)
{
    cmd2();
    rs_plus("foo");
    rs_minus("foo");
    cr_assert_eq(gwint_num_subs(G), 0);
    cr_assert_eq(row().mode, GWINT_TRANSITIONING);
}

/* --- RS+ queue --- */

Test(gwint, rs_plus_queue_absent_creates_optimistic_entry)
{
    rsq_plus("foo", "q");
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_OPTIMISTIC);
    cr_assert_eq(i.no_interest_count, 0);
    cr_assert_eq(i.num_subs, 1);
    cr_assert_eq(i.num_queue_subs, 1);
    struct m r = match("foo");
    cr_assert(r.plain, "ni is empty: an optimistic peer gets everything");
    cr_assert_eq(r.nq, 1);
    cr_assert(has_group(&r, "q"));
    r = match("bar");
    cr_assert(r.plain);
    cr_assert_eq(r.nq, 0);
    cr_assert(gwint_has_queues(G, SL(A)));
}

Test(gwint, rs_plus_queue_absent_iom_peer)
{
    peer(true);
    rsq_plus("foo", "q");
    struct m r = match("foo");
    cr_assert_not(r.plain);
    cr_assert(r.any);
    cr_assert_eq(r.nq, 1);
    cr_assert_not(match("bar").any);
}

Test(gwint, rs_plus_queue_no_interest_creates_optimistic_entry)
{
    to_no_interest();
    rsq_plus("foo", "q");
    struct m r = match("foo");
    cr_assert(r.plain, "the A- is replaced by an entry with ni = {}");
    cr_assert_eq(r.nq, 1);
    cr_assert_eq(row().num_queue_subs, 1);
}

Test(gwint, rs_plus_queue_entry_stores_and_ignores_duplicates)
{
    to_interest_only();
    rsq_plus("foo", "q");
    rsq_plus("foo", "q");
    cr_assert_eq(gwint_sub(G, W, SL(A), SL("foo"), SL("q"), 5), 0, "other weight, same key");
    rsq_plus("foo", "r");
    rsq_plus("foo.*", "q");
    struct gwint_acc_info i = row();
    cr_assert_eq(i.num_queue_subs, 3);
    cr_assert_eq(i.num_subs, 3);
    cr_assert_eq(gwint_num_subs(G), 3);
    cr_assert_not(match("foo").plain);
}

/* --- RS- queue --- */

Test(gwint, rs_minus_queue_ignored_when_absent_or_no_interest)
{
    rsq_minus("foo", "q");
    cr_assert_eq(nrows(), 0);
    to_no_interest();
    rsq_minus("foo", "q");
    cr_assert_eq(nrows(), 1);
    cr_assert_not(match("foo").any, "still NO_INTEREST");
}

Test(gwint, rs_minus_queue_last_one_optimistic_to_absent)
{
    peer(true);
    rsq_plus("foo", "q");
    rsq_plus("foo", "r");
    rsq_minus("foo", "q");
    rsq_minus("foo", "q"); /* again: ignored */
    struct m r = match("foo");
    cr_assert_eq(r.nq, 1);
    cr_assert(has_group(&r, "r"));
    cr_assert_eq(row().num_queue_subs, 1);
    rsq_minus("foo", "r");
    cr_assert_eq(nrows(), 0, "empty, optimistic, ni empty: ABSENT");
    cr_assert_not(gwint_has_queues(G, SL(A)));
}

Test(gwint, rs_minus_queue_last_one_keeps_entry_with_ni)
{
    rsq_plus("foo", "q");
    rs_minus("bar");
    rsq_minus("foo", "q");
    struct gwint_acc_info i = row();
    cr_assert_eq(i.num_subs, 0);
    cr_assert_eq(i.no_interest_count, 1);
    cr_assert_not(plain("bar"));
}

Test(gwint, rs_minus_queue_last_one_keeps_interest_only_entry)
{
    peer(true);
    to_interest_only();
    rsq_plus("foo", "q");
    rsq_minus("foo", "q");
    cr_assert_eq(row().mode, GWINT_INTEREST_ONLY);
    cr_assert_not(match("foo").any);
    cmd2();
    rsq_plus("foo", "q");
    rsq_minus("foo", "q");
    cr_assert_eq(row().mode, GWINT_TRANSITIONING);
}

/* --- INFO gateway_cmd 2 / 3 --- */

Test(gwint, cmd2_absent_creates_transitioning_with_null_ni)
{
    cmd2();
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_TRANSITIONING);
    cr_assert_eq(i.no_interest_count, 0);
    /* ni null: even an optimistic peer now gets only stored interest */
    cr_assert_not(plain("foo"));
    rs_plus("foo");
    cr_assert(plain("foo"));
}

Test(gwint, cmd2_no_interest_creates_transitioning)
{
    to_no_interest();
    cmd2();
    cr_assert_eq(row().mode, GWINT_TRANSITIONING);
    rs_plus("foo");
    cr_assert(plain("foo"));
    cr_assert_not(plain("bar"));
}

Test(gwint, cmd2_entry_keeps_ni_until_cmd3)
{
    rs_minus("foo");
    cmd2();
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_TRANSITIONING);
    cr_assert_eq(i.no_interest_count, 1);
    rs_plus("foo"); /* stored, not an ni removal */
    rs_plus("bar");
    cr_assert_eq(row().no_interest_count, 1);
    cr_assert_eq(gwint_num_subs(G), 2);
    /* ni not null and no queue subs: the stored subs are not consulted yet */
    cr_assert_not(plain("foo"));
    cr_assert(plain("bar"));
    cr_assert(plain("zzz"));
    cmd3();
    cr_assert(plain("foo"));
    cr_assert(plain("bar"));
    cr_assert_not(plain("zzz"));
    i = row();
    cr_assert_eq(i.mode, GWINT_INTEREST_ONLY);
    cr_assert_eq(i.no_interest_count, 0);
}

Test(gwint, cmd2_entry_keeps_ni_iom_peer)
{
    peer(true);
    rs_minus("foo");
    cmd2();
    rs_plus("bar");
    cr_assert_not(plain("bar"), "ni kept and not null: nothing until cmd 3");
    cmd3();
    cr_assert(plain("bar"));
}

Test(gwint, cmd2_on_interest_only_goes_back_to_transitioning)
{
    to_interest_only();
    rs_plus("foo");
    cmd2();
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_TRANSITIONING);
    cr_assert_eq(i.num_subs, 1);
    cr_assert(plain("foo"));
    cr_assert_not(plain("bar"));
}

Test(gwint, cmd3_ignored_when_absent_or_no_interest)
{
    cmd3();
    cr_assert_eq(nrows(), 0);
    cr_assert(plain("foo"));
    to_no_interest();
    cmd3();
    cr_assert_not(match("foo").any);
    cr_assert_eq(row().mode, GWINT_OPTIMISTIC);
}

Test(gwint, cmd3_optimistic_entry_nulls_ni)
{
    rs_minus("foo");
    rsq_plus("q.subj", "q");
    cmd3();
    struct gwint_acc_info i = row();
    cr_assert_eq(i.mode, GWINT_INTEREST_ONLY);
    cr_assert_eq(i.no_interest_count, 0);
    cr_assert_not(plain("bar"));
    struct m r = match("q.subj");
    cr_assert_not(r.plain);
    cr_assert_eq(r.nq, 1);
}

Test(gwint, empty_account_payload_ignored)
{
    gwint_all_subs_start(G, "", 0);
    gwint_all_subs_complete(G, "", 0);
    cr_assert_eq(nrows(), 0);
}

/* --- the query --- */

Test(gwint, query_matrix_optimistic_peer)
{
    /* ABSENT: everything; NO_INTEREST: nothing; entry: ni, then sl */
    cr_assert(plain("x"));
    gwint_account_unsub(G, W, SL("B"));
    cr_assert_not(match_in("B", "x").any);
    gwint_unsub(G, W, SL("C"), SL("x"), NULL, 0);
    cr_assert_not(match_in("C", "x").plain);
    cr_assert(match_in("C", "y").plain);
    gwint_all_subs_start(G, SL("D"));
    gwint_sub(G, W, SL("D"), SL("y.*"), NULL, 0, 0);
    cr_assert(match_in("D", "y.z").plain);
    cr_assert_not(match_in("D", "y").plain);
    cr_assert_eq(nrows(), 3);
}

Test(gwint, query_matrix_iom_peer)
{
    peer(true);
    cr_assert_not(plain("x"));
    gwint_unsub(G, W, SL("C"), SL("x"), NULL, 0);
    cr_assert_not(match_in("C", "x").plain);
    cr_assert_not(match_in("C", "y").plain, "ni is never consulted with an iom peer");
    gwint_all_subs_start(G, SL("D"));
    gwint_sub(G, W, SL("D"), SL("y.*"), NULL, 0, 0);
    gwint_all_subs_complete(G, SL("D"));
    cr_assert(match_in("D", "y.z").plain);
    cr_assert_not(match_in("D", "y.z.w").plain);
}

Test(gwint, stored_wildcards_match)
{
    peer(true);
    to_interest_only();
    rs_plus("foo.*");
    rs_plus("bar.>");
    rs_plus("*.baz.*");
    cr_assert(plain("foo.x"));
    cr_assert_not(plain("foo.x.y"));
    cr_assert_not(plain("foo"));
    cr_assert(plain("bar.a.b.c"));
    cr_assert_not(plain("bar"));
    cr_assert(plain("q.baz.z"));
    rsq_plus(">", "all");
    struct m r = match("anything.at.all");
    cr_assert_not(r.plain);
    cr_assert_eq(r.nq, 1);
    cr_assert(has_group(&r, "all"));
}

Test(gwint, queue_groups_listed_once_each)
{
    peer(true);
    rsq_plus("foo.bar", "q1");
    rsq_plus("foo.*", "q1");
    rsq_plus(">", "q1");
    rsq_plus("foo.bar", "q2");
    rsq_plus("foo.>", "q2");
    rsq_plus("foo.baz", "q3");
    struct m r = match("foo.bar");
    cr_assert_eq(r.nq, 2);
    cr_assert(has_group(&r, "q1"));
    cr_assert(has_group(&r, "q2"));
    cr_assert_neq(r.q[0].len == r.q[1].len && memcmp(r.q[0].p, r.q[1].p, r.q[0].len) == 0, 1);

    /* more groups than room: the count stops at qcap, the answer is still yes */
    bool p;
    size_t nq = 99;
    struct parser_slice q[1];
    cr_assert(gwint_match(G, C, SL(A), SL("foo.bar"), &p, q, 1, &nq));
    cr_assert_eq(nq, 1);
    cr_assert_not(p);
    cr_assert(gwint_match(G, C, SL(A), SL("foo.bar"), &p, NULL, 0, &nq));
    cr_assert_eq(nq, 0);
}

/* gwint_match_each: every matching group, however many, each once. */
struct each_seen {
    int n;
    bool seen[1000];
};

static void each_one(void *arg, const char *queue, size_t len)
{
    struct each_seen *e = arg;
    int k = atoi(queue + 1);
    cr_assert(len >= 2 && queue[0] == 'g' && k >= 0 && k < 1000);
    cr_assert_not(e->seen[k], "group g%d twice", k);
    e->seen[k] = true;
    e->n++;
}

Test(gwint, match_each_any_number_of_groups)
{
    peer(true);
    char q[16];
    for (int k = 0; k < 1000; k++) {
        snprintf(q, sizeof(q), "g%d", k);
        /* half on the literal subject, half on a wildcard: merged by name */
        rsq_plus(k % 2 ? "many.x" : "many.*", q);
    }
    rsq_plus("many.x", "g7"); /* a second subject for one group: still once */
    for (int i = 0; i < 2; i++) {
        struct each_seen e = {0};
        bool p = true;
        size_t nq = 0;
        cr_assert(gwint_match_each(G, C, SL(A), SL("many.x"), &p, each_one, &e, &nq));
        cr_assert_not(p);
        cr_assert_eq(nq, 1000);
        cr_assert_eq(e.n, 1000);
    }
    struct each_seen e = {0};
    bool p;
    size_t nq;
    cr_assert(gwint_match_each(G, C, SL(A), SL("many.y"), &p, each_one, &e, &nq));
    cr_assert_eq(nq, 500);
    cr_assert_eq(e.n, 500);
}

Test(gwint, query_without_cache)
{
    struct sublist_cache *nc = sublist_cache_new(0);
    peer(true);
    rsq_plus("foo", "q");
    bool p;
    size_t nq;
    struct parser_slice q[2];
    for (int i = 0; i < 3; i++) {
        cr_assert(gwint_match(G, nc, SL(A), SL("foo"), &p, q, 2, &nq));
        cr_assert_eq(nq, 1);
    }
    rsq_minus("foo", "q");
    cr_assert_not(gwint_match(G, nc, SL(A), SL("foo"), &p, q, 2, &nq));
    sublist_cache_free(nc);
}

Test(gwint, cached_results_follow_changes)
{
    peer(true);
    to_interest_only();
    for (int i = 0; i < 3; i++)
        cr_assert_not(plain("foo"));
    rs_plus("foo");
    cr_assert(plain("foo"));
    cr_assert(plain("foo"));
    rs_minus("foo");
    cr_assert_not(plain("foo"));
    /* a new entry at the same account gets a new sublist */
    a_plus();
    to_interest_only();
    cr_assert_not(plain("foo"));
    rs_plus("foo");
    cr_assert(plain("foo"));
}

Test(gwint, accounts_are_separate_and_keys_exact)
{
    peer(true);
    gwint_all_subs_start(G, SL("A1"));
    gwint_all_subs_start(G, SL("A2"));
    gwint_sub(G, W, SL("A1"), SL("foo"), NULL, 0, 0);
    gwint_sub(G, W, SL("A1"), SL("foo"), SL("q"), 1);
    cr_assert(match_in("A1", "foo").plain);
    cr_assert_not(match_in("A2", "foo").any);
    /* the plain key and the queue key differ */
    gwint_unsub(G, W, SL("A1"), SL("foo"), NULL, 0);
    struct m r = match_in("A1", "foo");
    cr_assert_not(r.plain);
    cr_assert_eq(r.nq, 1);
    gwint_unsub(G, W, SL("A2"), SL("foo"), SL("q"));
    cr_assert_eq(match_in("A1", "foo").nq, 1);
    /* a name that is a prefix of another is another account */
    gwint_all_subs_start(G, SL("A"));
    cr_assert_eq(nrows(), 3);
}

/* --- monitoring --- */

Test(gwint, monitoring_rows)
{
    gwint_account_unsub(G, W, SL("NOI"));
    gwint_unsub(G, W, SL("OPT"), SL("a"), NULL, 0);
    gwint_unsub(G, W, SL("OPT"), SL("b"), NULL, 0);
    gwint_sub(G, W, SL("OPT"), SL("c"), SL("q"), 1);
    gwint_all_subs_start(G, SL("TR"));
    gwint_sub(G, W, SL("TR"), SL("x"), NULL, 0, 0);
    gwint_all_subs_start(G, SL("IO"));
    gwint_sub(G, W, SL("IO"), SL("x"), NULL, 0, 0);
    gwint_sub(G, W, SL("IO"), SL("y"), NULL, 0, 0);
    gwint_sub(G, W, SL("IO"), SL("y"), SL("g1"), 1);
    gwint_sub(G, W, SL("IO"), SL("y"), SL("g2"), 1);
    gwint_all_subs_complete(G, SL("IO"));

    struct gwint_acc_info *v;
    size_t n = gwint_accounts(G, NULL, &v);
    cr_assert_eq(n, 4);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        const struct gwint_acc_info *r = &v[i];
        if (strcmp(r->name, "NOI") == 0) {
            cr_assert_eq(r->mode, GWINT_OPTIMISTIC);
            cr_assert_eq(r->no_interest_count + r->num_subs + r->num_queue_subs, 0);
            seen |= 1;
        } else if (strcmp(r->name, "OPT") == 0) {
            cr_assert_eq(r->mode, GWINT_OPTIMISTIC);
            cr_assert_eq(r->no_interest_count, 2);
            cr_assert_eq(r->num_subs, 1);
            cr_assert_eq(r->num_queue_subs, 1);
            seen |= 2;
        } else if (strcmp(r->name, "TR") == 0) {
            cr_assert_eq(r->mode, GWINT_TRANSITIONING);
            cr_assert_eq(r->num_subs, 1);
            cr_assert_eq(r->num_queue_subs, 0);
            seen |= 4;
        } else if (strcmp(r->name, "IO") == 0) {
            cr_assert_eq(r->mode, GWINT_INTEREST_ONLY);
            cr_assert_eq(r->no_interest_count, 0);
            cr_assert_eq(r->num_subs, 4);
            cr_assert_eq(r->num_queue_subs, 2);
            seen |= 8;
        }
    }
    free(v);
    cr_assert_eq(seen, 15);
    cr_assert_eq(gwint_num_subs(G), 6);

    n = gwint_accounts(G, "IO", &v);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0].name, "IO");
    free(v);
    n = gwint_accounts(G, "NOI", &v);
    cr_assert_eq(n, 1);
    cr_assert_eq(v[0].mode, GWINT_OPTIMISTIC);
    free(v);
    n = gwint_accounts(G, "NONE", &v);
    cr_assert_eq(n, 0);
    free(v);

    cr_assert_str_eq(gwint_mode_name(GWINT_OPTIMISTIC), "Optimistic");
    cr_assert_str_eq(gwint_mode_name(GWINT_TRANSITIONING), "Transitioning");
    cr_assert_str_eq(gwint_mode_name(GWINT_INTEREST_ONLY), "Interest-Only");
}

Test(gwint, monitoring_empty_and_long_names)
{
    struct gwint_acc_info *v;
    size_t n = gwint_accounts(G, NULL, &v);
    cr_assert_eq(n, 0);
    free(v);
    char name[400];
    memset(name, 'n', sizeof(name));
    gwint_account_unsub(G, W, name, sizeof(name));
    n = gwint_accounts(G, NULL, &v);
    cr_assert_eq(n, 1);
    cr_assert_eq(strlen(v[0].name), sizeof(v[0].name) - 1, "cut to the row");
    free(v);
    bool p;
    size_t nq;
    cr_assert_not(gwint_match(G, C, name, sizeof(name), SL("foo"), &p, NULL, 0, &nq));
}

/* --- invalid input --- */

Test(gwint, invalid_arguments_rejected)
{
    static const char *bad[] = {"", "foo..bar", ".foo", "foo.", "foo.>.bar", "a b", "a\tb"};
    peer(true);
    cmd2();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(gwint_sub(G, W, SL(A), SL(bad[i]), NULL, 0, 0), -1, "%s", bad[i]);
        cr_assert_eq(gwint_sub(G, W, SL(A), SL(bad[i]), SL("q"), 1), -1, "%s", bad[i]);
        cr_assert_eq(gwint_unsub(G, W, SL(A), SL(bad[i]), NULL, 0), -1, "%s", bad[i]);
        cr_assert_eq(gwint_unsub(G, W, SL(A), SL(bad[i]), SL("q")), -1, "%s", bad[i]);
        /* also where the input would otherwise be ignored or create an entry */
        cr_assert_eq(gwint_sub(G, W, SL("X"), SL(bad[i]), NULL, 0, 0), -1);
        cr_assert_eq(gwint_unsub(G, W, SL("X"), SL(bad[i]), NULL, 0), -1);
    }
    cr_assert_eq(gwint_sub(G, W, SL(A), SL("foo"), "", 0, 1), -1, "empty queue");
    cr_assert_eq(gwint_unsub(G, W, SL(A), SL("foo"), "", 0), -1, "empty queue");
    cr_assert_eq(gwint_sub(G, W, "", 0, SL("foo"), NULL, 0, 0), -1, "empty account");
    cr_assert_eq(gwint_unsub(G, W, "", 0, SL("foo"), NULL, 0), -1);
    cr_assert_eq(gwint_account_sub(G, W, "", 0), -1);
    cr_assert_eq(gwint_account_unsub(G, W, "", 0), -1);
    cr_assert_eq(gwint_num_subs(G), 0);
    cr_assert_eq(nrows(), 1, "nothing but the cmd 2 entry");
    /* valid oddities */
    cr_assert_eq(gwint_sub(G, W, SL(A), SL("foo*.>"), NULL, 0, 0), 0);
    cr_assert_eq(gwint_sub(G, W, SL(A), SL(">"), SL("q"), -3), 0, "weight is stored as is");
    cr_assert_eq(gwint_num_subs(G), 2);
}

/* --- reclamation --- */

Test(gwint, removed_sub_survives_until_turn_end)
{
    peer(true);
    rsq_plus("foo", "grp");
    struct m r = match("foo");
    cr_assert_eq(r.nq, 1);
    size_t before = wk.nretired;
    rsq_minus("foo", "grp"); /* also drops the entry (ABSENT) */
    cr_assert_gt(wk.nretired, before, "retired, not freed");
    /* the borrowed name is still readable (ASan would object otherwise) */
    cr_assert_eq(r.q[0].len, 3);
    cr_assert_eq(memcmp(r.q[0].p, "grp", 3), 0);
    turn_end();
    cr_assert_not(match("foo").any);
}

Test(gwint, dropped_entry_survives_until_turn_end)
{
    peer(true);
    to_interest_only();
    rsq_plus("foo", "grp");
    rs_plus("foo");
    struct m r = match("foo");
    cr_assert(r.plain);
    a_minus(); /* qsubs > 0: kept */
    rsq_minus("foo", "grp");
    a_plus(); /* now dropped: sublist and subs retired */
    cr_assert_eq(nrows(), 0);
    cr_assert_eq(memcmp(r.q[0].p, "grp", 3), 0);
    cr_assert_gt(wk.nretired, 0);
}

Test(gwint, free_with_pending_retirements)
{
    /* every kind of state, then free while retirements are pending: the
     * suite's teardown ends the turn and ASan checks that nothing leaks */
    gwint_account_unsub(G, W, SL("NOI"));
    gwint_unsub(G, W, SL("OPT"), SL("a"), NULL, 0);
    gwint_sub(G, W, SL("OPT"), SL("c"), SL("q"), 1);
    gwint_all_subs_start(G, SL("IO"));
    for (int i = 0; i < 200; i++) {
        char s[32];
        snprintf(s, sizeof(s), "s.%d", i);
        gwint_sub(G, W, SL("IO"), SL(s), NULL, 0, 0);
        if (i % 3 == 0)
            gwint_unsub(G, W, SL("IO"), SL(s), NULL, 0);
        if (i % 7 == 0)
            gwint_sub(G, W, SL("IO"), SL(s), SL("g"), 1);
    }
    gwint_all_subs_complete(G, SL("IO"));
    bool p;
    size_t nq;
    struct parser_slice q[4];
    cr_assert(gwint_match(G, C, SL("IO"), SL("s.7"), &p, q, 4, &nq));
    cr_assert_gt(wk.nretired, 0);
    gwint_free(G, W);
    G = NULL;
    cr_assert_eq(memcmp(q[0].p, "g", 1), 0, "still readable until the turn ends");
    gwint_free(NULL, W);
    turn_end();
    cr_assert_eq(leaks(), 0, "everything retired was freed at the end of the turn");
}

Test(gwint, no_worker_frees_at_once)
{
    gwint_sub(G, NULL, SL(A), SL("foo"), SL("q"), 1);
    gwint_unsub(G, NULL, SL(A), SL("foo"), SL("q"));
    gwint_sub(G, NULL, SL(A), SL("foo"), SL("q"), 1);
    gwint_account_sub(G, NULL, SL(A));
    gwint_account_unsub(G, NULL, SL(A));
    cr_assert_eq(wk.nretired, 0);
    gwint_free(G, NULL);
    G = NULL;
}

/* --- threads: queries on one thread while another applies inputs --- */

struct reader {
    struct gwint *g;
    long iters;
    long hits;
    long bad; /* queue names that were not ours */
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct sublist_cache *c = sublist_cache_new(16);
    for (long i = 0; i < rd->iters; i++) {
        bool p;
        size_t nq;
        struct parser_slice q[4];
        const char *subj = (i & 1) ? "a.b" : "a.c";
        if (gwint_match(rd->g, c, SL(i & 2 ? "X" : "Y"), SL(subj), &p, q, 4, &nq))
            rd->hits++;
        for (size_t k = 0; k < nq; k++)
            if (q[k].len != 2 || q[k].p[0] != 'q')
                rd->bad++;
        gwint_has_queues(rd->g, SL("X"));
    }
    sublist_cache_free(c);
    return NULL;
}

Test(gwint, concurrent_queries_while_inputs_change)
{
    /* Retirements are only ended after the reader stopped, as if its turn
     * lasted the whole test. */
    struct reader rd = {.g = G, .iters = 20000};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, reader_main, &rd), 0);
    for (int i = 0; i < 2000; i++) {
        const char *acc = i & 1 ? "X" : "Y";
        gwint_sub(G, W, SL(acc), SL("a.*"), SL("q1"), 1);
        gwint_sub(G, W, SL(acc), SL("a.b"), SL("q2"), 1);
        gwint_unsub(G, W, SL(acc), SL("a.c"), NULL, 0);
        if (i % 5 == 0)
            gwint_all_subs_start(G, SL(acc));
        gwint_sub(G, W, SL(acc), SL("a.c"), NULL, 0, 0);
        if (i % 5 == 2)
            gwint_all_subs_complete(G, SL(acc));
        gwint_unsub(G, W, SL(acc), SL("a.*"), SL("q1"));
        if (i % 3 == 0)
            gwint_account_unsub(G, W, SL(acc));
        gwint_unsub(G, W, SL(acc), SL("a.b"), SL("q2"));
        if (i % 4 == 0)
            gwint_account_sub(G, W, SL(acc));
        struct gwint_acc_info *v;
        gwint_accounts(G, NULL, &v);
        free(v);
    }
    pthread_join(t, NULL);
    cr_assert_eq(rd.bad, 0);
    cr_assert_leq(rd.hits, rd.iters);
}

/* A sender may reuse a decision while the shared generation holds: every
 * input moves it, even one that changes nothing visible, and no query or
 * monitoring read does. */
Test(gwint, every_input_moves_the_shared_generation)
{
    _Atomic uint64_t gen = 7;
    gwint_share_gen(G, &gen);
    uint64_t last = gen;
#define MOVED()                                                                                    \
    do {                                                                                           \
        cr_assert_gt(gen, last);                                                                   \
        last = gen;                                                                                \
    } while (0)
    rs_minus("foo");
    MOVED();
    rs_plus("foo");
    MOVED();
    rsq_plus("bar", "q1");
    MOVED();
    rsq_minus("bar", "q1");
    MOVED();
    a_minus();
    MOVED();
    a_plus();
    MOVED();
    cmd2();
    MOVED();
    cmd3();
    MOVED();
    rs_plus("foo"); /* again: no change, still a new generation */
    MOVED();
    rs_plus("foo");
    MOVED();
#undef MOVED
    (void)match("foo");
    (void)plain("bar");
    struct gwint_acc_info *v;
    gwint_accounts(G, NULL, &v);
    free(v);
    (void)gwint_num_subs(G);
    cr_assert_eq(gen, last);
}
