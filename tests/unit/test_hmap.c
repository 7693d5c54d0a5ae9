/* SPDX-License-Identifier: Apache-2.0
 * The sid map: insert, lookup, delete with tombstones, growth, and keys
 * chosen to collide under an unkeyed hash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/flood_keys.h"
#include "hmap.h"

struct item {
    char key[12]; /* any int in decimal, and its NUL */
};

static void item_key(const void *val, const char **key, size_t *len)
{
    const struct item *it = val;
    *key = it->key;
    *len = strlen(it->key);
}

static const struct hmap_ops ops = {.key = item_key};

static void count_cb(void *val, void *arg)
{
    (void)val;
    (*(int *)arg)++;
}

Test(hmap, put_get_del_many)
{
    struct hmap m = {0};
    static struct item items[5000];
    for (int i = 0; i < 5000; i++) {
        snprintf(items[i].key, sizeof(items[i].key), "%d", i);
        hmap_put(&m, &ops, &items[i]);
    }
    cr_assert_eq(m.n, 5000);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(hmap_get(&m, &ops, items[i].key, strlen(items[i].key)), &items[i]);
    cr_assert_null(hmap_get(&m, &ops, "5000", 4));
    for (int i = 0; i < 5000; i += 2)
        cr_assert_eq(hmap_del(&m, &ops, items[i].key, strlen(items[i].key)), &items[i]);
    cr_assert_null(hmap_del(&m, &ops, "0", 1), "deleted twice");
    for (int i = 1; i < 5000; i += 2)
        cr_assert_eq(hmap_get(&m, &ops, items[i].key, strlen(items[i].key)), &items[i],
                     "probe chains survive deletions");
    int n = 0;
    hmap_each(&m, count_cb, &n);
    cr_assert_eq(n, 2500);
    /* churn: tombstones must not fill the table */
    size_t cap = m.cap;
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 5000; i += 2) {
            hmap_put(&m, &ops, &items[i]);
            hmap_del(&m, &ops, items[i].key, strlen(items[i].key));
        }
    cr_assert_eq(m.n, 2500);
    cr_assert_leq(m.cap, cap * 2, "churn does not grow the table without bound");
    for (int i = 1; i < 5000; i += 2)
        hmap_del(&m, &ops, items[i].key, strlen(items[i].key));
    cr_assert_null(m.slots, "an empty map releases its table");
    hmap_free(&m);
}

/* The longest run of consecutive used (live or dead) slots, wrapping: what
 * a lookup of an absent key that starts in it has to walk. */
static size_t longest_run(const struct hmap *m)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < 2 * m->cap; i++) {
        run = m->slots[i % m->cap] ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best < m->cap ? best : m->cap;
}

/* 16,000 keys (sids a client may pick) whose FNV-1a hash has its low 16 bits
 * zero: under that hash all of them start probing at slot 0 of a table of
 * 32,768 slots and form one run of 16,000, so every insert and every lookup
 * of a new sid walks thousands of slots. The keyed hash spreads them as it
 * spreads any keys. */
Test(hmap, colliding_keys_spread)
{
    enum { N = 16000 };
    struct fitem {
        char key[FLOOD_TOK_LEN + 1];
    };
    static struct fitem items[N];
    char *raw = malloc((size_t)N * FLOOD_TOK_LEN);
    flood_keys(raw, N);
    struct hmap m = {0};
    for (int i = 0; i < N; i++) {
        memcpy(items[i].key, raw + (size_t)i * FLOOD_TOK_LEN, FLOOD_TOK_LEN);
        items[i].key[FLOOD_TOK_LEN] = '\0';
        cr_assert_eq(flood_fnv1a(items[i].key, FLOOD_TOK_LEN) & 0xffff, 0);
        cr_assert_null(hmap_get(&m, &ops, items[i].key, FLOOD_TOK_LEN), "keys are distinct");
        hmap_put(&m, &ops, &items[i]);
    }
    free(raw);
    cr_assert_eq(m.n, N);
    size_t run = longest_run(&m);
    /* measured: a few dozen slots with the keyed hash; 16,000 with FNV-1a */
    cr_assert_lt(run, 1000, "longest probe run %zu of %zu slots", run, m.cap);
    for (int i = 0; i < N; i++)
        cr_assert_eq(hmap_get(&m, &ops, items[i].key, FLOOD_TOK_LEN), &items[i]);
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(hmap_del(&m, &ops, items[i].key, FLOOD_TOK_LEN), &items[i]);
    for (int i = 0; i < N; i++)
        cr_assert_eq(hmap_get(&m, &ops, items[i].key, FLOOD_TOK_LEN), i % 2 ? &items[i] : NULL);
    hmap_free(&m);
}
