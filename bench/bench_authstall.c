/* SPDX-License-Identifier: Apache-2.0
 * bench_authstall: PING round trips of an authenticated client while other
 * connections loop CONNECTs with a wrong password for a bcrypt user. A server
 * that hashes on the thread serving the PINGs shows the hash time in every
 * round trip; one that hashes elsewhere does not.
 *
 *   bench_authstall [-s url] [-u user -p pass] [-U bcrypt user -P wrong pass]
 *                   [-c loopers] [-n pings] [-d seconds]
 *
 * Prints "RESULT p50_us=... p99_us=... p999_us=... mean_us=... pings=...
 * connects=..." (connects: wrong CONNECTs answered meanwhile). Raw sockets,
 * no client library. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

struct authstall {
    char host[256], port[16];
    const char *bad_user, *bad_pass;
    atomic_bool stop;
    atomic_long connects;
};

/* Read until the line buffer holds a whole line; returns its length, 0 on
 * close or error. Lines longer than the buffer are cut. */
static size_t authstall_line(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r <= 0)
            return 0;
        n++;
        if (buf[n - 1] == '\n')
            break;
    }
    buf[n] = '\0';
    return n;
}

static void *authstall_looper(void *arg)
{
    struct authstall *a = arg;
    char line[8192], cmd[512];
    int n =
        snprintf(cmd, sizeof(cmd),
                 "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":\"%s\"}"
                 "\r\n",
                 a->bad_user, a->bad_pass);
    while (!atomic_load(&a->stop)) {
        int fd = bench_dial(a->host, a->port);
        if (fd < 0) {
            usleep(10000);
            continue;
        }
        if (authstall_line(fd, line, sizeof(line)) > 0 && bench_write_all(fd, cmd, (size_t)n) == 0)
            while (authstall_line(fd, line, sizeof(line)) > 0)
                ; /* the -ERR, then the close */
        close(fd);
        atomic_fetch_add(&a->connects, 1);
    }
    return NULL;
}

static int authstall_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* One PING and its PONG (answering the server's own PINGs on the way). */
static int authstall_ping(int fd, double *us)
{
    char line[8192];
    double t0 = bench_now();
    if (bench_write_all(fd, "PING\r\n", 6) != 0)
        return -1;
    for (;;) {
        if (authstall_line(fd, line, sizeof(line)) == 0)
            return -1;
        if (strcmp(line, "PONG\r\n") == 0)
            break;
        if (strcmp(line, "PING\r\n") == 0 && bench_write_all(fd, "PONG\r\n", 6) != 0)
            return -1;
    }
    *us = (bench_now() - t0) * 1e6;
    return 0;
}

int main(int argc, char **argv)
{
    struct authstall a = {.bad_user = "bc", .bad_pass = "wrong"};
    const char *url = "nats://127.0.0.1:4222", *user = "a", *pass = "a";
    int loopers = 2, opt;
    long maxn = 20000;
    double secs = 5;
    while ((opt = getopt(argc, argv, "s:u:p:U:P:c:n:d:h")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'p':
            pass = optarg;
            break;
        case 'U':
            a.bad_user = optarg;
            break;
        case 'P':
            a.bad_pass = optarg;
            break;
        case 'c':
            loopers = atoi(optarg);
            break;
        case 'n':
            maxn = atol(optarg);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_authstall [-s url] [-u user -p pass] [-U bcrypt user "
                            "-P wrong pass] [-c loopers] [-n pings] [-d seconds]\n");
            return 2;
        }
    }
    if (loopers < 1 || loopers > 64 || maxn < 1 ||
        bench_parse_url(url, a.host, sizeof(a.host), a.port, sizeof(a.port)) != 0) {
        fprintf(stderr, "bench_authstall: bad arguments\n");
        return 2;
    }
    int fd = bench_dial(a.host, a.port);
    char line[8192], cmd[512];
    if (fd < 0 || authstall_line(fd, line, sizeof(line)) == 0) {
        fprintf(stderr, "bench_authstall: cannot connect to %s\n", url);
        return 1;
    }
    int n =
        snprintf(cmd, sizeof(cmd),
                 "CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"%s\",\"pass\":\"%s\"}"
                 "\r\n",
                 user, pass);
    double us;
    if (bench_write_all(fd, cmd, (size_t)n) != 0 || authstall_ping(fd, &us) != 0) {
        fprintf(stderr, "bench_authstall: %s/%s not accepted\n", user, pass);
        return 1;
    }
    pthread_t *th = calloc((size_t)loopers, sizeof(*th));
    for (int i = 0; i < loopers; i++)
        pthread_create(&th[i], NULL, authstall_looper, &a);
    /* the hashes are under way once each looper was answered once */
    double until = bench_now() + 10;
    while (atomic_load(&a.connects) < loopers && bench_now() < until)
        usleep(1000);
    double *lat = calloc((size_t)maxn, sizeof(*lat));
    long k = 0;
    double sum = 0, end = bench_now() + secs;
    while (k < maxn && bench_now() < end) {
        if (authstall_ping(fd, &lat[k]) != 0) {
            fprintf(stderr, "bench_authstall: connection lost\n");
            return 1;
        }
        sum += lat[k++];
    }
    long connects = atomic_load(&a.connects);
    atomic_store(&a.stop, true);
    for (int i = 0; i < loopers; i++)
        pthread_join(th[i], NULL);
    close(fd);
    qsort(lat, (size_t)k, sizeof(*lat), authstall_cmp);
    printf("RESULT p50_us=%.1f p99_us=%.1f p999_us=%.1f mean_us=%.1f pings=%ld connects=%ld\n",
           lat[k / 2], lat[(k * 99) / 100], lat[(k * 999) / 1000], sum / (double)k, k, connects);
    free(lat);
    free(th);
    return 0;
}
