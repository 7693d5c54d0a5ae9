/* SPDX-License-Identifier: Apache-2.0
 * The sid map: insert, lookup, delete with tombstones, growth. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
