/* SPDX-License-Identifier: Apache-2.0
 * worker_call against a worker that stops, for the TSan build (Criterion
 * cannot start under TSan): caller threads run functions on a worker while
 * the main thread stops it. Every call must return, having run its function
 * exactly once (on the worker, or on the caller once the worker is stopped);
 * a call that queued its task after the stop drained the inbox would wait
 * for ever (the alarm ends the run with a failure then), and whether the
 * worker runs is read under the inbox lock (TSan reports it otherwise).
 * Exit status 0 when all of that held. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "opts.h"
#include "server.h"
#include "worker.h"

#define CALLERS 3
#define ROUNDS  300

static atomic_long ran;
static atomic_long returned;
static atomic_bool go;

static void count_call(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void *caller_main(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&go))
        ;
    /* enough calls to overlap the stop, few enough to stay quick */
    for (int i = 0; i < 200; i++) {
        worker_call(w, count_call, NULL);
        atomic_fetch_add(&returned, 1);
    }
    return NULL;
}

int main(void)
{
    alarm(120); /* a lost call hangs its caller: fail instead of hanging CI */
    static struct opts o;
    opts_init(&o);
    static struct server s;
    atomic_store(&s.opts, &o);
    s.nworkers = 1;
    struct worker *workers[1];
    s.workers = workers;

    for (int round = 0; round < ROUNDS; round++) {
        struct worker *w = worker_new(&s, 0);
        if (!w) {
            fprintf(stderr, "worker_new failed\n");
            return 1;
        }
        workers[0] = w;
        if (worker_start(w) != 0) {
            fprintf(stderr, "worker_start failed\n");
            return 1;
        }
        atomic_store(&go, false);
        pthread_t t[CALLERS];
        for (int i = 0; i < CALLERS; i++)
            if (pthread_create(&t[i], NULL, caller_main, w) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                return 1;
            }
        atomic_store(&go, true);
        /* stop at a different point of the callers' runs each round */
        usleep((useconds_t)(round % 7) * 100);
        worker_stop(w);
        for (int i = 0; i < CALLERS; i++)
            pthread_join(t[i], NULL);
        worker_free(w);
    }
    long want = (long)ROUNDS * CALLERS * 200;
    long r = atomic_load(&ran), n = atomic_load(&returned);
    if (r != want || n != want) {
        fprintf(stderr, "calls: %ld returned, %ld ran, %ld made\n", n, r, want);
        return 1;
    }
    opts_free(&o);
    printf("worker_calls: %ld calls around %d stops, each ran once\n", want, ROUNDS);
    return 0;
}
