/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_pub: a libnats publisher for the benchmarks. Each of C connections (one thread
 * each) publishes its share of N messages of Z bytes (or publishes for D seconds) in a
 * tight natsConnection_Publish loop, then flushes: the time stops when the server has
 * answered the PING that follows the last message, so every message has reached it.
 *
 * Output: one line
 *   RESULT pub conns=C msgs=N bytes=B secs=S msgs_per_sec=R mb_per_sec=M
 */

#include <nats/nats.h>

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define PUB_MAX_CONNS 64

struct pub_args {
    const char *url;
    const char *subject;
    const char *payload;
    int size;
    long long count;   /* messages for this connection; 0 with a duration */
    double duration_s; /* > 0: publish for this long instead */
    pthread_barrier_t *start;
    natsConnection *nc;
    long long sent;
    double t_start;
    double t_end;
    int failed;
};

static void pub_usage(void)
{
    fprintf(stderr,
            "usage: bench_pub [-s nats://host:port] [-j subject] [-z payload size]\n"
            "                 [-n messages | -d seconds] [-c connections] [-b io buffer bytes]\n");
}

static void *pub_run(void *arg)
{
    struct pub_args *a = arg;
    natsStatus s = NATS_OK;
    pthread_barrier_wait(a->start);
    a->t_start = bench_now();
    if (a->duration_s > 0) {
        double stop = a->t_start + a->duration_s;
        while (s == NATS_OK) {
            for (int i = 0; i < 256 && s == NATS_OK; i++)
                s = natsConnection_Publish(a->nc, a->subject, a->payload, a->size);
            a->sent += 256;
            if (bench_now() >= stop)
                break;
        }
    } else {
        for (long long i = 0; i < a->count && s == NATS_OK; i++)
            s = natsConnection_Publish(a->nc, a->subject, a->payload, a->size);
        a->sent = a->count;
    }
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(a->nc, 120000);
    a->t_end = bench_now();
    if (s != NATS_OK) {
        fprintf(stderr, "bench_pub: publish/flush failed: %s\n", natsStatus_GetText(s));
        a->failed = 1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *url = "nats://127.0.0.1:4222";
    const char *subject = "bench";
    int size = 16, conns = 1, iobuf = 0;
    long long count = 1000000;
    double duration_s = 0;

    int opt;
    while ((opt = getopt(argc, argv, "s:j:z:n:d:c:b:h")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'j':
            subject = optarg;
            break;
        case 'z':
            size = atoi(optarg);
            break;
        case 'n':
            count = atoll(optarg);
            break;
        case 'd':
            duration_s = atof(optarg);
            break;
        case 'c':
            conns = atoi(optarg);
            break;
        case 'b':
            iobuf = atoi(optarg);
            break;
        default:
            pub_usage();
            return 2;
        }
    }
    if (size < 0 || conns < 1 || conns > PUB_MAX_CONNS || (duration_s <= 0 && count < 1)) {
        pub_usage();
        return 2;
    }

    char *payload = malloc((size_t)size + 1);
    if (!payload)
        return 1;
    memset(payload, 'a', (size_t)size);

    natsOptions *opts = NULL;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, url) != NATS_OK ||
        natsOptions_SetAllowReconnect(opts, false) != NATS_OK ||
        natsOptions_SetName(opts, "bench_pub") != NATS_OK ||
        (iobuf > 0 && natsOptions_SetIOBufSize(opts, iobuf) != NATS_OK)) {
        fprintf(stderr, "bench_pub: bad options\n");
        return 2;
    }

    static struct pub_args args[PUB_MAX_CONNS];
    pthread_t th[PUB_MAX_CONNS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)conns);
    int rc = 0;
    for (int i = 0; i < conns; i++) {
        struct pub_args *a = &args[i];
        *a = (struct pub_args){.url = url,
                               .subject = subject,
                               .payload = payload,
                               .size = size,
                               .count = count / conns + (i < count % conns ? 1 : 0),
                               .duration_s = duration_s,
                               .start = &start};
        natsStatus s = natsConnection_Connect(&a->nc, opts);
        if (s != NATS_OK) {
            fprintf(stderr, "bench_pub: cannot connect to %s: %s\n", url, natsStatus_GetText(s));
            return 1;
        }
    }
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, pub_run, &args[i]);
    double t0 = 0, t1 = 0;
    long long sent = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        if (i == 0 || args[i].t_start < t0)
            t0 = args[i].t_start;
        if (args[i].t_end > t1)
            t1 = args[i].t_end;
        sent += args[i].sent;
        rc |= args[i].failed;
    }
    double secs = t1 - t0;
    double rate = secs > 0 ? (double)sent / secs : 0;
    printf("RESULT pub conns=%d msgs=%lld bytes=%lld secs=%.6f msgs_per_sec=%.0f "
           "mb_per_sec=%.1f\n",
           conns, sent, sent * (long long)size, secs, rate, rate * size / 1e6);
    fflush(stdout);

    for (int i = 0; i < conns; i++)
        natsConnection_Destroy(args[i].nc);
    natsOptions_Destroy(opts);
    pthread_barrier_destroy(&start);
    free(payload);
    nats_Close();
    return rc;
}
