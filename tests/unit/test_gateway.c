/* SPDX-License-Identifier: Apache-2.0
 * Gateway helpers that need no server: the routed-reply hashes, the reply
 * prefix stripping, the base64 account payload of INFO commands, and the
 * recent subscriptions that decide reply mapping. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "gateway_int.h"
#include "gwrecent.h"
#include "proto.h"
#include "sbuf.h"

struct hash_vec {
    const char *in, *h6, *old;
};

/* nats-server 2.9.10's values, seen on the wire */
static const struct hash_vec vecs[] = {
    {"A", "NUmM6c", "559a"},
    {"B", "b2oh2L", "df7e"},
    {"C", "jZ6RvV", "6b23"},
    {"X", "Dglu96", "4b68"},
    {"NDVKFNPLJ64T37XR3H7FZH2K2RYITGFFU5RATOEISCVSEIERYKNIPXRA", "3o55vG", NULL},
};

Test(gateway, hash_vectors)
{
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        char h6[7], old[5];
        gateway_hash6(vecs[i].in, strlen(vecs[i].in), h6);
        cr_assert_str_eq(h6, vecs[i].h6, "%s", vecs[i].in);
        if (vecs[i].old) {
            gw_oldhash(vecs[i].in, strlen(vecs[i].in), old);
            cr_assert_str_eq(old, vecs[i].old, "%s", vecs[i].in);
        }
    }
}

Test(gateway, strip_reply)
{
    const char *p;
    size_t n;
    const char *r = "_GR_.NUmM6c.3o55vG.myrep2";
    cr_assert(gateway_strip_reply(r, strlen(r), &p, &n));
    cr_assert_eq(n, 6);
    cr_assert(memcmp(p, "myrep2", 6) == 0);
    r = "$GR.559a.myrep";
    cr_assert(gateway_strip_reply(r, strlen(r), &p, &n));
    cr_assert_eq(n, 5);
    cr_assert(memcmp(p, "myrep", 5) == 0);
    /* exactly the prefix, or shorter: not routed */
    r = "_GR_.NUmM6c.3o55vG.";
    cr_assert_not(gateway_strip_reply(r, strlen(r), &p, &n));
    r = "_INBOX.abc";
    cr_assert_not(gateway_strip_reply(r, strlen(r), &p, &n));
}

Test(gateway, base64_account_payloads)
{
    static const char *const acc[] = {"$G", "$SYS", "ACC1"};
    static const char *const b64[] = {"JEc=", "JFNZUw==", "QUNDMQ=="};
    for (size_t i = 0; i < 3; i++) {
        struct sbuf b = {0};
        proto_base64((const unsigned char *)acc[i], strlen(acc[i]), &b);
        sbuf_addc(&b, '\0');
        cr_assert_str_eq(b.p, b64[i]);
        sbuf_reset(&b);
        cr_assert_eq(proto_base64_decode(b64[i], strlen(b64[i]), &b), 0);
        cr_assert_eq(b.len, strlen(acc[i]));
        cr_assert(memcmp(b.p, acc[i], b.len) == 0);
        sbuf_free(&b);
    }
    static const char *const bad[] = {"JEc", "J=c=", "JE*=", "JEc=JEc", "====", "QUNDMQ=x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sbuf b = {0};
        cr_assert_eq(proto_base64_decode(bad[i], strlen(bad[i]), &b), -1, "%s", bad[i]);
        sbuf_free(&b);
    }
}

/* ---- recent subscriptions (reply mapping) ---- */

#define SEC 1000000000ull

static bool rmatch(struct gwrecent *r, const void *acc, const char *reply, uint64_t now)
{
    return gwrecent_match(r, acc, reply, strlen(reply), now);
}

static void radd(struct gwrecent *r, const void *acc, const char *subj, uint64_t now)
{
    gwrecent_add(r, acc, subj, strlen(subj), now);
}

/* What the linear scan it replaces answered: a subscription of the same
 * account, made less than the window ago, whose subject matches the reply
 * as delivery would (wildcards included). */
Test(gateway, recent_matches_like_delivery)
{
    static int acc_a, acc_b;
    struct gwrecent *r = gwrecent_new(2 * SEC, 1000);
    uint64_t t = 100 * SEC;
    cr_assert_not(rmatch(r, &acc_a, "_INBOX.x", t), "empty");
    radd(r, &acc_a, "_INBOX.abc", t);
    radd(r, &acc_a, "_INBOX.w.*", t);
    radd(r, &acc_a, "svc.>", t);
    radd(r, &acc_b, "only.b", t);
    cr_assert(rmatch(r, &acc_a, "_INBOX.abc", t + 1));
    cr_assert(rmatch(r, &acc_a, "_INBOX.w.42", t + 1));
    cr_assert(rmatch(r, &acc_a, "svc.one.two", t + 1));
    cr_assert_not(rmatch(r, &acc_a, "_INBOX.abcd", t + 1));
    cr_assert_not(rmatch(r, &acc_a, "_INBOX.w.42.1", t + 1), "* takes one token");
    cr_assert_not(rmatch(r, &acc_a, "svc", t + 1), "> takes at least one");
    cr_assert_not(rmatch(r, &acc_a, "_INBOX..abc", t + 1), "empty token");
    cr_assert_not(rmatch(r, &acc_a, "only.b", t + 1), "another account's");
    cr_assert(rmatch(r, &acc_b, "only.b", t + 1));
    cr_assert_not(rmatch(r, &acc_b, "_INBOX.abc", t + 1));
    /* the window: still there just before 2 s, gone at 2 s */
    cr_assert(rmatch(r, &acc_a, "_INBOX.abc", t + 2 * SEC - 1));
    cr_assert_not(rmatch(r, &acc_a, "_INBOX.abc", t + 2 * SEC));
    cr_assert_not(rmatch(r, &acc_a, "_INBOX.w.1", t + 3 * SEC));
    cr_assert_eq(gwrecent_count(r), 4, "expired entries go on the next add");
    radd(r, &acc_a, "other", t + 3 * SEC);
    cr_assert_eq(gwrecent_count(r), 1);
    gwrecent_free(r);
}

/* A subject subscribed again (many clients, or one resubscribing) refreshes
 * its one entry: its window starts at the latest subscription. */
Test(gateway, recent_resubscribe_refreshes)
{
    static int acc;
    struct gwrecent *r = gwrecent_new(2 * SEC, 1000);
    uint64_t t = 10 * SEC;
    for (int i = 0; i < 100; i++)
        radd(r, &acc, "same.subject", t + (uint64_t)i * (SEC / 100));
    cr_assert_eq(gwrecent_count(r), 1);
    cr_assert(rmatch(r, &acc, "same.subject", t + 2 * SEC + SEC / 2));
    /* pruning at t + 2.5 s requeues it instead of dropping it */
    radd(r, &acc, "another", t + 2 * SEC + SEC / 2);
    cr_assert_eq(gwrecent_count(r), 2);
    cr_assert(rmatch(r, &acc, "same.subject", t + 2 * SEC + SEC / 2 + 1));
    cr_assert_not(rmatch(r, &acc, "same.subject", t + 3 * SEC));
    radd(r, &acc, "third", t + 5 * SEC);
    cr_assert_eq(gwrecent_count(r), 1);
    gwrecent_free(r);
}

/* At most max entries, whatever the subscription rate; past it every reply
 * is mapped for a window (the safe answer), then the set is exact again. */
Test(gateway, recent_is_bounded)
{
    static int acc;
    struct gwrecent *r = gwrecent_new(2 * SEC, 100);
    uint64_t t = 10 * SEC;
    char subj[32];
    for (int i = 0; i < 100; i++) {
        snprintf(subj, sizeof(subj), "s.%d", i);
        radd(r, &acc, subj, t);
    }
    cr_assert_not(rmatch(r, &acc, "unrelated", t + 1), "exact while not full");
    for (int i = 100; i < 10000; i++) {
        snprintf(subj, sizeof(subj), "s.%d", i);
        radd(r, &acc, subj, t + SEC);
    }
    cr_assert_eq(gwrecent_count(r), 100);
    cr_assert(rmatch(r, &acc, "s.9999", t + SEC + 1), "not held, but mapped");
    cr_assert(rmatch(r, &acc, "unrelated", t + SEC + 1));
    cr_assert(rmatch(r, &acc, "unrelated", t + 3 * SEC - 1));
    cr_assert_not(rmatch(r, &acc, "unrelated", t + 3 * SEC));
    radd(r, &acc, "fresh", t + 3 * SEC);
    cr_assert_eq(gwrecent_count(r), 1);
    cr_assert(rmatch(r, &acc, "fresh", t + 3 * SEC + 1));
    cr_assert_not(rmatch(r, &acc, "s.5", t + 3 * SEC + 1));
    gwrecent_free(r);
}

/* Reply and subject longer than the stack key buffer. */
Test(gateway, recent_long_subjects)
{
    static int acc;
    struct gwrecent *r = gwrecent_new(2 * SEC, 10);
    char subj[2001];
    memset(subj, 'a', 2000);
    subj[2000] = '\0';
    subj[1000] = '.';
    radd(r, &acc, subj, SEC);
    cr_assert(rmatch(r, &acc, subj, SEC + 1));
    subj[1999] = 'b';
    cr_assert_not(rmatch(r, &acc, subj, SEC + 1));
    gwrecent_free(r);
}

struct rmatcher {
    struct gwrecent *r;
    const void *acc;
    atomic_uint_fast64_t *now;
    atomic_bool *stop;
    long hits, misses;
};

static void *rmatcher_run(void *arg)
{
    struct rmatcher *m = arg;
    while (!atomic_load(m->stop)) {
        uint64_t now = atomic_load(m->now);
        /* "keep.*" is subscribed again on every step: always live */
        if (rmatch(m->r, m->acc, "keep.me", now))
            m->hits++;
        else
            m->misses++;
        rmatch(m->r, m->acc, "churn.7", now);
    }
    return NULL;
}

/* Matchers on other threads while one adds and expires entries: no lock
 * beyond the sublist's read side (run under TSan too), and a subscription
 * kept alive is always seen. */
Test(gateway, recent_concurrent)
{
    static int acc;
    struct gwrecent *r = gwrecent_new(SEC / 100, 1u << 16);
    atomic_uint_fast64_t now = SEC;
    atomic_bool stop = false;
    radd(r, &acc, "keep.*", SEC);
    struct rmatcher m[2] = {{r, &acc, &now, &stop, 0, 0}, {r, &acc, &now, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, rmatcher_run, &m[i]);
    char subj[32];
    for (int i = 0; i < 20000; i++) {
        uint64_t t = SEC + (uint64_t)i * (SEC / 10000);
        radd(r, &acc, "keep.*", t);
        atomic_store(&now, t);
        snprintf(subj, sizeof(subj), "churn.%d", i % 500);
        radd(r, &acc, subj, t);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(m[i].misses, 0);
    }
    cr_assert_leq(gwrecent_count(r), 502);
    gwrecent_free(r);
}
