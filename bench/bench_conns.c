/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_conns: holds server state still so a script can read the server's RSS.
 *   -m conns -n N   opens N idle raw client connections (CONNECT + PING, waits for each
 *                   PONG) and holds them;
 *   -m subs -n M    opens one connection, sends SUB foo.bar.<i> <i> for i in 1..M, then
 *                   PING, waits for the PONG and holds it.
 * When everything is in place it prints "ready mode=.. n=.. secs=.." on stdout, then holds
 * until its standard input closes (or -H seconds pass), and exits.
 */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define CONNS_BATCH 256

static struct addrinfo *conns_resolve(const char *url)
{
    char host[256], port[16];
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *colon = strrchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(host))
        return NULL;
    memcpy(host, p, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%s", colon ? colon + 1 : "4222");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return NULL;
    return res;
}

static int conns_dial(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until "PONG\r\n" arrives (after INFO and anything else). */
static int conns_wait_pong(int fd)
{
    char buf[8192];
    size_t len = 0;
    for (;;) {
        if (len == sizeof(buf) - 1) {
            /* keep the tail: PONG may straddle the boundary */
            memmove(buf, buf + len - 8, 8);
            len = 8;
        }
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "bench_conns: connection closed before PONG\n");
            return -1;
        }
        len += (size_t)r;
        buf[len] = '\0';
        char *err = strstr(buf, "-ERR");
        if (err) {
            fprintf(stderr, "bench_conns: server said %.120s\n", err);
            return -1;
        }
        if (strstr(buf, "PONG\r\n"))
            return 0;
    }
}

static const char conns_hello[] = "CONNECT {\"verbose\":false,\"pedantic\":false,"
                                  "\"name\":\"bench_conns\"}\r\nPING\r\n";

static int conns_open(const struct addrinfo *ai, int *fds, long n)
{
    for (long i = 0; i < n; i += CONNS_BATCH) {
        long end = i + CONNS_BATCH < n ? i + CONNS_BATCH : n;
        for (long j = i; j < end; j++) {
            fds[j] = conns_dial(ai);
            if (fds[j] < 0) {
                fprintf(stderr, "bench_conns: connect %ld: %s\n", j, strerror(errno));
                return -1;
            }
            if (bench_write_all(fds[j], conns_hello, sizeof(conns_hello) - 1) < 0)
                return -1;
        }
        for (long j = i; j < end; j++)
            if (conns_wait_pong(fds[j]) < 0)
                return -1;
    }
    return 0;
}

static int conns_subscribe(const struct addrinfo *ai, int *fd, long m)
{
    *fd = conns_dial(ai);
    if (*fd < 0 || bench_write_all(*fd, conns_hello, sizeof(conns_hello) - 1) < 0 ||
        conns_wait_pong(*fd) < 0)
        return -1;
    static char out[64 * 1024];
    size_t len = 0;
    for (long i = 1; i <= m; i++) {
        int w = snprintf(out + len, sizeof(out) - len, "SUB foo.bar.%ld %ld\r\n", i, i);
        if (w < 0)
            return -1;
        len += (size_t)w;
        if (len > sizeof(out) - 64 || i == m) {
            if (bench_write_all(*fd, out, len) < 0)
                return -1;
            len = 0;
        }
    }
    if (bench_write_all(*fd, "PING\r\n", 6) < 0)
        return -1;
    return conns_wait_pong(*fd);
}

int main(int argc, char **argv)
{
    const char *url = "nats://127.0.0.1:4222";
    const char *mode = "conns";
    long n = 1000;
    double hold_s = 120;

    int opt;
    while ((opt = getopt(argc, argv, "s:m:n:H:h")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'H':
            hold_s = atof(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_conns [-s nats://host:port] [-m conns|subs] [-n count]\n"
                            "                   [-H max hold seconds]\n");
            return 2;
        }
    }
    bool subs = strcmp(mode, "subs") == 0;
    if (n < 1 || (!subs && strcmp(mode, "conns") != 0)) {
        fprintf(stderr, "bench_conns: bad mode or count\n");
        return 2;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (!subs && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
        fprintf(stderr, "bench_conns: RLIMIT_NOFILE %llu is too low for %ld connections\n",
                (unsigned long long)rl.rlim_cur, n);
        return 1;
    }

    struct addrinfo *ai = conns_resolve(url);
    if (!ai) {
        fprintf(stderr, "bench_conns: cannot resolve %s\n", url);
        return 2;
    }
    long nfds = subs ? 1 : n;
    int *fds = calloc((size_t)nfds, sizeof(*fds));
    if (!fds)
        return 1;
    double t0 = bench_now();
    int rc = subs ? conns_subscribe(ai, &fds[0], n) : conns_open(ai, fds, n);
    freeaddrinfo(ai);
    if (rc < 0)
        return 1;
    printf("ready mode=%s n=%ld secs=%.3f\n", mode, n, bench_now() - t0);
    fflush(stdout);

    /* Hold until stdin closes (the script is done measuring) or the time is up. */
    double deadline = bench_now() + hold_s;
    for (;;) {
        double left = deadline - bench_now();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0) {
            char tmp[256];
            if (read(0, tmp, sizeof(tmp)) <= 0)
                break;
        }
    }
    for (long i = 0; i < nfds; i++)
        close(fds[i]);
    free(fds);
    return 0;
}
