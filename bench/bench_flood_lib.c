/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_flood_lib: hash flooding of natsd's tables in process, through the library
 * (build/release/libnatsd.a): N subscriptions flood.<token> inserted into a sublist,
 * matched once each (no cache), removed; and N sid-like keys put into an hmap, looked up
 * once each, deleted. First with tokens whose unkeyed FNV-1a hash collides in its low 16
 * bits (bench/flood_keys.h), then with tokens that do not collide on purpose; rounds
 * alternate and the medians are reported. Output: one line
 *   RESULT flood_lib n=N sl_insert_ratio=.. sl_match_ratio=.. sl_remove_ratio=..
 *   map_put_ratio=.. map_get_ratio=.. map_del_ratio=.. and each *_coll_ms / *_rand_ms
 * where a ratio is colliding / random.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flood_keys.h"
#include "hmap.h"
#include "sublist.h"

#define FLL_PHASES 6
#define FLL_ROUNDS 15

static const char *const fll_names[FLL_PHASES] = {"sl_insert", "sl_match", "sl_remove",
                                                  "map_put",   "map_get",  "map_del"};

struct fll_item {
    struct sub sub;
    char subj[6 + FLOOD_TOK_LEN]; /* "flood." and the token */
};

static double fll_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fll_key(const void *val, const char **key, size_t *len)
{
    const struct fll_item *it = val;
    *key = it->subj + 6;
    *len = FLOOD_TOK_LEN;
}

static const struct hmap_ops fll_ops = {.key = fll_key};

/* One round over the n tokens of toks: each phase's milliseconds into ms. Returns -1 when
 * a lookup gives a wrong answer. */
static int fll_round(const char *toks, size_t n, double ms[FLL_PHASES])
{
    struct fll_item *it = calloc(n, sizeof(*it));
    for (size_t i = 0; i < n; i++) {
        memcpy(it[i].subj, "flood.", 6);
        memcpy(it[i].subj + 6, toks + i * FLOOD_TOK_LEN, FLOOD_TOK_LEN);
        it[i].sub.subject = it[i].subj;
        it[i].sub.subject_len = (uint32_t)sizeof(it[i].subj);
        it[i].sub.qweight = 1;
    }
    struct sublist *sl = sublist_new();
    struct sublist_result res;
    struct hmap m = {0};
    int rc = 0;
    sublist_result_init(&res);

    double t = fll_now();
    for (size_t i = 0; i < n; i++)
        if (sublist_insert(sl, &it[i].sub) != 0)
            rc = -1;
    ms[0] = fll_now() - t;
    t = fll_now();
    for (size_t i = 0; i < n; i++) {
        sublist_match(sl, it[i].subj, sizeof(it[i].subj), &res);
        if (res.npsubs != 1 || res.psubs[0] != &it[i].sub)
            rc = -1;
    }
    ms[1] = fll_now() - t;
    t = fll_now();
    for (size_t i = 0; i < n; i++)
        if (sublist_remove(sl, &it[i].sub) != 0)
            rc = -1;
    ms[2] = fll_now() - t;

    t = fll_now();
    for (size_t i = 0; i < n; i++)
        hmap_put(&m, &fll_ops, &it[i]);
    ms[3] = fll_now() - t;
    t = fll_now();
    for (size_t i = 0; i < n; i++)
        if (hmap_get(&m, &fll_ops, it[i].subj + 6, FLOOD_TOK_LEN) != &it[i])
            rc = -1;
    ms[4] = fll_now() - t;
    t = fll_now();
    for (size_t i = 0; i < n; i++)
        if (hmap_del(&m, &fll_ops, it[i].subj + 6, FLOOD_TOK_LEN) != &it[i])
            rc = -1;
    ms[5] = fll_now() - t;
    for (int p = 0; p < FLL_PHASES; p++)
        ms[p] *= 1e3;

    hmap_free(&m);
    sublist_result_free(&res);
    sublist_free(sl);
    free(it);
    return rc;
}

static int fll_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t n = 16000;
    int rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:r:h")) != -1) {
        if (opt == 'n')
            n = (size_t)atol(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else {
            fprintf(stderr, "usage: bench_flood_lib [-n keys] [-r rounds]\n");
            return 2;
        }
    }
    if (n < 1 || rounds < 1 || rounds > FLL_ROUNDS) {
        fprintf(stderr, "usage: bench_flood_lib [-n keys] [-r rounds (1..%d)]\n", FLL_ROUNDS);
        return 2;
    }
    char *coll = malloc(n * FLOOD_TOK_LEN), *rnd = malloc(n * FLOOD_TOK_LEN);
    flood_keys(coll, n);
    flood_random_keys(rnd, n, 0x9e3779b97f4a7c15ull);
    double v[2][FLL_PHASES][FLL_ROUNDS], ms[FLL_PHASES];
    for (int r = 0; r < rounds; r++)
        for (int kind = 0; kind < 2; kind++) {
            if (fll_round(kind ? rnd : coll, n, ms) < 0) {
                fprintf(stderr, "bench_flood_lib: a lookup went wrong\n");
                return 1;
            }
            for (int p = 0; p < FLL_PHASES; p++)
                v[kind][p][r] = ms[p];
        }
    printf("RESULT flood_lib n=%zu", n);
    for (int p = 0; p < FLL_PHASES; p++) {
        double med[2];
        for (int kind = 0; kind < 2; kind++) {
            qsort(v[kind][p], (size_t)rounds, sizeof(double), fll_cmp);
            med[kind] = v[kind][p][rounds / 2];
        }
        printf(" %s_coll_ms=%.2f %s_rand_ms=%.2f %s_ratio=%.2f", fll_names[p], med[0], fll_names[p],
               med[1], fll_names[p], med[1] > 0 ? med[0] / med[1] : 0.0);
    }
    printf("\n");
    free(coll);
    free(rnd);
    return 0;
}
