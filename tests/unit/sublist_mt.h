/* SPDX-License-Identifier: Apache-2.0
 * Shared body of the sublist concurrency test: N threads match (through the
 * sublist and each through its own cache) while this thread inserts and
 * removes. Used by test_sublist.c (Criterion) and tests/tsan/sublist_threads.c
 * (plain main, for the TSan build, where Criterion cannot run). */
#ifndef NATSD_TEST_SUBLIST_MT_H
#define NATSD_TEST_SUBLIST_MT_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subject.h"
#include "sublist.h"

#define SUBLIST_MT_NSUB   256
#define SUBLIST_MT_THREAD 16

struct sublist_mt_report {
    long errors;
    long checks;
    char what[160];
};

struct sublist_mt {
    struct sublist *sl;
    struct sub stable[3];
    _Atomic int stop;
    _Atomic int started;
    _Atomic long checks;
    _Atomic long bad;
};

/* Every reader subject "mt.N.x" is always matched by the stable subs `mt.>`
 * and `mt.*.x` and the stable queue sub `mt.*.*` (grp); churned subs come and
 * go. A result missing a stable sub, or with a sub that cannot match, is bad. */
static int sublist_mt_check(const struct sublist_mt *m, const struct sublist_result *r,
                            const char *subj, size_t len)
{
    int found = 0;

    for (size_t i = 0; i < r->npsubs; i++) {
        found += r->psubs[i] == &m->stable[0] || r->psubs[i] == &m->stable[1];
        if (!subject_matches(r->psubs[i]->subject, r->psubs[i]->subject_len, subj, len))
            return 0;
    }
    if (found != 2 || r->nqgroups != 1 || r->qgroups[0].nsubs < 1)
        return 0;
    return 1;
}

static void *sublist_mt_reader(void *arg)
{
    struct sublist_mt *m = arg;
    struct sublist_cache *c = sublist_cache_new(64);
    struct sublist_result r;
    char buf[32];
    unsigned x = (unsigned)(uintptr_t)&r;

    sublist_result_init(&r);
    atomic_fetch_add(&m->started, 1);
    while (!atomic_load(&m->stop)) {
        x = x * 1103515245u + 12345u;
        int n = snprintf(buf, sizeof(buf), "mt.%u.x", (x >> 16) % 64);
        const struct sublist_result *cr = sublist_cache_match(c, m->sl, buf, (size_t)n);
        if (!sublist_mt_check(m, cr, buf, (size_t)n))
            atomic_fetch_add(&m->bad, 1);
        sublist_match(m->sl, buf, (size_t)n, &r);
        if (!sublist_mt_check(m, &r, buf, (size_t)n))
            atomic_fetch_add(&m->bad, 1);
        if (!sublist_has_interest(m->sl, buf, (size_t)n))
            atomic_fetch_add(&m->bad, 1);
        atomic_fetch_add(&m->checks, 1);
    }
    sublist_result_free(&r);
    sublist_cache_free(c);
    return NULL;
}

static void sublist_mt_init_sub(struct sub *s, char *subject, const char *queue)
{
    memset(s, 0, sizeof(*s));
    s->subject = subject;
    s->subject_len = (uint32_t)strlen(subject);
    s->queue = queue;
    s->queue_len = queue ? (uint32_t)strlen(queue) : 0;
    s->qweight = 1;
}

static struct sublist_mt_report sublist_mt_run(int nthreads, int rounds)
{
    static char stable_subj[3][16] = {"mt.>", "mt.*.x", "mt.*.*"};
    struct sublist_mt m = {.sl = sublist_new()};
    struct sublist_mt_report rep = {0, 0, ""};
    struct sub *churn = calloc(SUBLIST_MT_NSUB, sizeof(*churn));
    char(*names)[24] = calloc(SUBLIST_MT_NSUB, sizeof(*names));
    pthread_t th[SUBLIST_MT_THREAD];
    long inserted = 0;

    for (int i = 0; i < 3; i++) {
        sublist_mt_init_sub(&m.stable[i], stable_subj[i], i == 2 ? "grp" : NULL);
        if (sublist_insert(m.sl, &m.stable[i]) != 0)
            rep.errors++;
    }
    for (int i = 0; i < SUBLIST_MT_NSUB; i++) {
        snprintf(names[i], sizeof(names[i]), i % 3 ? "mt.%d.x" : "mt.%d.*", i % 64);
        sublist_mt_init_sub(&churn[i], names[i], i % 5 == 0 ? "grp" : NULL);
        churn[i].qweight = 1 + i % 3;
    }
    if (nthreads > SUBLIST_MT_THREAD)
        nthreads = SUBLIST_MT_THREAD;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, sublist_mt_reader, &m);
    while (atomic_load(&m.started) < nthreads)
        sched_yield();
    /* Churn for `rounds`, and on until the readers have done real work. */
    for (int round = 0; round < rounds || (atomic_load(&m.checks) < 2000 && round < rounds * 100);
         round++) {
        struct sub *s = &churn[round % SUBLIST_MT_NSUB];
        if (s->sl_pos == 0) {
            rep.errors += sublist_insert(m.sl, s) != 0;
            inserted++;
        } else {
            rep.errors += sublist_remove(m.sl, s) != 0;
            inserted--;
        }
        if (round % 97 == 0)
            rep.errors += sublist_update_qweight(m.sl, &m.stable[2], 1 + round % 4) != 0;
        if (round % 1000 == 999) {
            struct sub *batch[SUBLIST_MT_NSUB];
            size_t nb = 0;
            for (int i = 0; i < SUBLIST_MT_NSUB; i += 7)
                if (churn[i].sl_pos != 0)
                    batch[nb++] = &churn[i];
            rep.errors += sublist_remove_batch(m.sl, batch, nb) != nb;
            inserted -= (long)nb;
        }
        if (sublist_count(m.sl) != (uint32_t)(3 + inserted)) {
            rep.errors++;
            snprintf(rep.what, sizeof(rep.what), "count %u, expected %ld", sublist_count(m.sl),
                     3 + inserted);
        }
    }
    atomic_store(&m.stop, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    rep.checks = atomic_load(&m.checks);
    if (atomic_load(&m.bad) > 0) {
        rep.errors += atomic_load(&m.bad);
        snprintf(rep.what, sizeof(rep.what), "%ld inconsistent match results",
                 (long)atomic_load(&m.bad));
    }
    /* Reclaim only after every reader is done, as the worker layer will. */
    sublist_free(m.sl);
    free(churn);
    free(names);
    return rep;
}

#endif
