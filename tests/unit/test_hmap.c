/* SPDX-License-Identifier: Apache-2.0
 * The sid map: insert, lookup, delete with tombstones, growth. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "hmap.h"

static void count_cb(void *val, void *arg)
{
    (void)val;
    (*(int *)arg)++;
}

Test(hmap, put_get_del_many)
{
    struct hmap m = {0};
    static char keys[5000][8];
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%d", i);
        hmap_put(&m, keys[i], strlen(keys[i]), keys[i]);
    }
    cr_assert_eq(m.n, 5000);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(hmap_get(&m, keys[i], strlen(keys[i])), keys[i]);
    cr_assert_null(hmap_get(&m, "5000", 4));
    for (int i = 0; i < 5000; i += 2)
        cr_assert_eq(hmap_del(&m, keys[i], strlen(keys[i])), keys[i]);
    cr_assert_null(hmap_del(&m, "0", 1), "deleted twice");
    for (int i = 1; i < 5000; i += 2)
        cr_assert_eq(hmap_get(&m, keys[i], strlen(keys[i])), keys[i], "probe chains survive");
    int n = 0;
    hmap_each(&m, count_cb, &n);
    cr_assert_eq(n, 2500);
    /* churn: tombstones must not fill the table */
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 5000; i += 2) {
            hmap_put(&m, keys[i], strlen(keys[i]), keys[i]);
            hmap_del(&m, keys[i], strlen(keys[i]));
        }
    cr_assert_eq(m.n, 2500);
    for (int i = 1; i < 5000; i += 2)
        hmap_del(&m, keys[i], strlen(keys[i]));
    cr_assert_null(m.slots, "an empty map releases its table");
    hmap_free(&m);
}
