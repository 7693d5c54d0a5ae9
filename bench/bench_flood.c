/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_flood: hash flooding through the protocol. One connection subscribes to N subjects
 * flood.<r>.<token> with the token as its sid too, another publishes one empty message to
 * each, then the first unsubscribes them all; each phase is timed, first with tokens whose
 * unkeyed FNV-1a hash collides in its low 16 bits (bench/flood_keys.h: every one would land
 * in the same probe run of the sid map and of the sublist's children table), then with
 * tokens of the same shape that do not collide on purpose. A server whose tables hash
 * with a key nobody outside knows takes about as long for both.
 *
 *   insert  the N SUBs and a PING written at once, until the PONG
 *   match   the N PUBs and a PING on the publisher, until its PONG (every PUB matched and
 *           queued); then a PING on the subscriber, whose PONG comes after the N MSGs
 *           (counted: a run that loses one fails)
 *   remove  the N UNSUBs and a PING, until the PONG
 *
 * Rounds alternate colliding and random; the medians are reported. Output: one line
 *   RESULT flood subs=N insert_coll_ms=.. insert_rand_ms=.. match_coll_ms=.. match_rand_ms=..
 *   remove_coll_ms=.. remove_rand_ms=.. insert_ratio=.. match_ratio=.. remove_ratio=..
 *   total_ratio=..
 * where a ratio is colliding / random.
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "flood_keys.h"

#define FL_BUF_SIZE  (1024 * 1024)
#define FL_LIMIT_S   120.0
#define FL_MAX_ROUND 15

struct fl_conn {
    struct bench_conn io; /* reads into buf */
    long msgs;
    long pongs;
    char buf[FL_BUF_SIZE];
};

static int fl_usage(void)
{
    fprintf(stderr, "usage: bench_flood -s url [-n subs] [-r rounds]\n");
    return 2;
}

static int fl_dial(struct fl_conn *c, const char *url)
{
    c->msgs = 0;
    c->pongs = 0;
    return bench_conn_open(&c->io, url, "bench_flood", c->buf, sizeof(c->buf));
}

/* Handles the whole frames in c's buffer: INFO, PING (answered), PONG and MSG (counted),
 * -ERR (fails). Returns -1 on an error. */
static int fl_frames(struct fl_conn *c)
{
    struct bench_conn *io = &c->io;
    for (;;) {
        size_t n;
        char *line = bench_conn_line(io, &n);
        if (!line)
            return 0;
        size_t have = io->end - io->start;
        if (strncmp(line, "MSG ", 4) == 0) {
            /* "MSG subject sid size": the payload size is the last field */
            const char *sp = line + n - 2;
            while (sp > line && sp[-1] != ' ')
                sp--;
            size_t size = strtoul(sp, NULL, 10);
            if (have < n + size + 2)
                return 0;
            io->start += n + size + 2;
            c->msgs++;
            continue;
        }
        io->start += n;
        if (strncmp(line, "PING", 4) == 0) {
            if (bench_write_all(io->fd, "PONG\r\n", 6) < 0)
                return -1;
        } else if (strncmp(line, "PONG", 4) == 0) {
            c->pongs++;
        } else if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "bench_flood: %.*s\n", (int)(n - 2), line);
            return -1;
        }
    }
}

static int fl_read(struct fl_conn *c)
{
    if (bench_conn_read(&c->io) < 0)
        return -1;
    return fl_frames(c);
}

/* Reads c until it has had `pongs` PONGs in all. Returns 0, or -1 (error or time limit). */
static int fl_wait_pongs(struct fl_conn *c, long pongs)
{
    double limit = bench_now() + FL_LIMIT_S;
    while (c->pongs < pongs) {
        struct pollfd p = {.fd = c->io.fd, .events = POLLIN};
        int r = poll(&p, 1, 1000);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0 && fl_read(c) < 0)
            return -1;
        if (bench_now() > limit) {
            fprintf(stderr, "bench_flood: no PONG within %.0f s\n", FL_LIMIT_S);
            return -1;
        }
    }
    return 0;
}

/* Writes b (with a PING at its end) to c and waits for that PONG: the seconds it took. */
static double fl_timed(struct fl_conn *c, const char *b, size_t n)
{
    double t0 = bench_now();
    long want = c->pongs + 1;
    if (bench_write_all(c->io.fd, b, n) < 0 || fl_wait_pongs(c, want) < 0)
        return -1.0;
    return bench_now() - t0;
}

struct fl_times {
    double insert, match, remove;
};

/* One round with the n tokens of toks: the three phases' seconds, or -1 in insert. */
static struct fl_times fl_round(const char *url, const char *toks, long n, int round)
{
    struct fl_times t = {-1.0, -1.0, -1.0};
    static struct fl_conn sub, pub;
    size_t cap = (size_t)n * 64 + 16;
    char *b = malloc(cap);
    if (fl_dial(&sub, url) < 0 || fl_dial(&pub, url) < 0) {
        fprintf(stderr, "bench_flood: cannot connect to %s\n", url);
        exit(1);
    }
    /* both connections ready (CONNECT processed) before any clock starts */
    if (fl_timed(&sub, "PING\r\n", 6) < 0 || fl_timed(&pub, "PING\r\n", 6) < 0)
        goto out;

    size_t len = 0;
    for (long i = 0; i < n; i++) {
        const char *k = toks + (size_t)i * FLOOD_TOK_LEN;
        len += (size_t)snprintf(b + len, cap - len, "SUB flood.%d.%.*s %.*s\r\n", round,
                                (int)FLOOD_TOK_LEN, k, (int)FLOOD_TOK_LEN, k);
    }
    len += (size_t)snprintf(b + len, cap - len, "PING\r\n");
    t.insert = fl_timed(&sub, b, len);
    if (t.insert < 0)
        goto out;

    len = 0;
    for (long i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "PUB flood.%d.%.*s 0\r\n\r\n", round,
                                (int)FLOOD_TOK_LEN, toks + (size_t)i * FLOOD_TOK_LEN);
    len += (size_t)snprintf(b + len, cap - len, "PING\r\n");
    t.match = fl_timed(&pub, b, len);
    if (t.match < 0 || fl_timed(&sub, "PING\r\n", 6) < 0) {
        t.insert = -1.0;
        goto out;
    }
    if (sub.msgs != n) {
        fprintf(stderr, "bench_flood: %ld of %ld messages arrived\n", sub.msgs, n);
        t.insert = -1.0;
        goto out;
    }

    len = 0;
    for (long i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len, "UNSUB %.*s\r\n", (int)FLOOD_TOK_LEN,
                                toks + (size_t)i * FLOOD_TOK_LEN);
    len += (size_t)snprintf(b + len, cap - len, "PING\r\n");
    t.remove = fl_timed(&sub, b, len);
    if (t.remove < 0)
        t.insert = -1.0;
out:
    close(sub.io.fd);
    close(pub.io.fd);
    free(b);
    return t;
}

static int fl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double fl_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), fl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    long n = 16000;
    int rounds = 3;
    int opt;
    while ((opt = getopt(argc, argv, "s:n:r:h")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        default:
            return fl_usage();
        }
    }
    if (!url || n < 1 || rounds < 1 || rounds > FL_MAX_ROUND)
        return fl_usage();
    char *coll = malloc((size_t)n * FLOOD_TOK_LEN), *rnd = malloc((size_t)n * FLOOD_TOK_LEN);
    flood_keys(coll, (size_t)n);
    flood_random_keys(rnd, (size_t)n, (uint64_t)bench_now_ns());

    double v[2][3][FL_MAX_ROUND];
    for (int r = 0; r < rounds; r++) {
        for (int kind = 0; kind < 2; kind++) {
            struct fl_times t = fl_round(url, kind ? rnd : coll, n, 2 * r + kind);
            if (t.insert < 0) {
                fprintf(stderr, "bench_flood: round %d (%s) failed\n", r,
                        kind ? "random" : "colliding");
                return 1;
            }
            v[kind][0][r] = t.insert * 1e3;
            v[kind][1][r] = t.match * 1e3;
            v[kind][2][r] = t.remove * 1e3;
        }
    }
    double m[2][3];
    for (int kind = 0; kind < 2; kind++)
        for (int ph = 0; ph < 3; ph++)
            m[kind][ph] = fl_median(v[kind][ph], rounds);
    double tc = m[0][0] + m[0][1] + m[0][2], tr = m[1][0] + m[1][1] + m[1][2];
    printf("RESULT flood subs=%ld insert_coll_ms=%.2f insert_rand_ms=%.2f match_coll_ms=%.2f "
           "match_rand_ms=%.2f remove_coll_ms=%.2f remove_rand_ms=%.2f insert_ratio=%.2f "
           "match_ratio=%.2f remove_ratio=%.2f total_ratio=%.2f\n",
           n, m[0][0], m[1][0], m[0][1], m[1][1], m[0][2], m[1][2], m[0][0] / m[1][0],
           m[0][1] / m[1][1], m[0][2] / m[1][2], tc / tr);
    free(coll);
    free(rnd);
    return 0;
}
