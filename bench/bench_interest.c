/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_interest: how long until M new subscriptions on one server are usable by a
 * publisher on another (across a route or a gateway). Raw sockets, one thread.
 *
 * A subscriber connection on the -r server sends SUB <prefix>.<i> <i> for i = 1..M and a
 * PING in one write; the clock starts just before that write. A publisher connection on
 * the -s server then publishes an empty message to <prefix>.<M> every 0.5 ms until one
 * arrives at the subscriber: "last", the number this tool is for.
 *
 * Then it checks the others. A sweep publishes an empty message to every subject that has
 * not had one yet, then a one-byte marker to <prefix>.<M>, and waits for the marker: the
 * publisher's server forwards in order over one connection, so every sweep message it
 * forwarded has arrived by then. Sweeps repeat until every subject has had a message.
 * "late" is how many subjects the first sweep missed (interest not yet visible although
 * the last subscription's was; 0 for a server that propagates in order), "all" is when
 * the sweep that completed the set had been written (an upper bound, with the resolution
 * of one sweep). A subject still missing after 30 s fails the run.
 *
 * The prefix is unique per run (bench.interest.<pid>.<time>), so interest left over from
 * an earlier run cannot be mistaken for this one's.
 *
 * Output: one line
 *   RESULT interest subs=M local_ms=.. last_ms=.. all_ms=.. probes=P sweeps=S late=L
 *   missing=X complete=0|1
 * local_ms is the subscriber's own server answering the PING after the M SUBs.
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

#define INT_BUF_SIZE (256 * 1024)
#define INT_MAX_LINE 1024
#define INT_PROBE_NS 500000ull
#define INT_LIMIT_S  30.0

struct int_state {
    struct bench_conn sub; /* reads into sub_buf */
    struct bench_conn pub; /* reads into pub_buf */
    char sub_buf[INT_BUF_SIZE];
    char pub_buf[INT_BUF_SIZE];
    long m;
    uint8_t *seen; /* seen[i] for sid i in 1..m */
    long nseen;
    long markers; /* one-byte messages on <prefix>.<M> */
    bool got_pong;
    uint64_t t_pong;
    uint64_t t_last_new; /* when the latest new sid arrived */
    int errors;
};

static int int_usage(void)
{
    fprintf(stderr, "usage: bench_interest -s publisher's url -r subscriber's url [-n subs]\n"
                    "                      [-j subject prefix]\n");
    return 2;
}

/*
 * Handles every whole frame in c's buffer: PING is answered, PONG noted, MSG marks its
 * sid seen, -ERR counts as an error. Returns -1 on a framing error.
 */
static int int_frames(struct int_state *st, struct bench_conn *c)
{
    for (;;) {
        size_t n;
        char *line = bench_conn_line(c, &n);
        size_t have = c->end - c->start;
        if (!line)
            return have >= INT_MAX_LINE ? -1 : 0;
        if (n < 2 || line[n - 2] != '\r')
            return -1;
        if (strncmp(line, "MSG ", 4) == 0) {
            char l[INT_MAX_LINE], subj[512];
            long sid;
            size_t size;
            if (n - 2 >= sizeof(l))
                return -1;
            memcpy(l, line, n - 2);
            l[n - 2] = '\0';
            if (sscanf(l, "MSG %511s %ld %zu", subj, &sid, &size) != 3)
                return -1;
            if (have < n + size + 2)
                return 0; /* the payload is not all here yet */
            if (memcmp(line + n + size, "\r\n", 2) != 0)
                return -1;
            c->start += n + size + 2;
            if (c == &st->sub && sid == st->m && size == 1)
                st->markers++;
            if (c == &st->sub && sid >= 1 && sid <= st->m && !st->seen[sid]) {
                st->seen[sid] = 1;
                st->nseen++;
                st->t_last_new = bench_now_ns();
            }
            continue;
        }
        c->start += n;
        if (strncmp(line, "PING\r", 5) == 0) {
            if (bench_write_all(c->fd, "PONG\r\n", 6) < 0)
                return -1;
        } else if (strncmp(line, "PONG\r", 5) == 0) {
            if (c == &st->sub && !st->got_pong) {
                st->got_pong = true;
                st->t_pong = bench_now_ns();
            }
        } else if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "bench_interest: %.*s\n", (int)(n - 2), line);
            st->errors++;
        }
    }
}

/* Waits up to timeout_ms for input on either connection and handles it. */
static int int_pump(struct int_state *st, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = st->sub.fd, .events = POLLIN},
                          {.fd = st->pub.fd, .events = POLLIN}};
    int r = poll(p, 2, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    struct bench_conn *cs[2] = {&st->sub, &st->pub};
    for (int i = 0; i < 2; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (bench_conn_read(cs[i]) < 0 || int_frames(st, cs[i]) < 0)
            return -1;
    }
    return 0;
}

static int int_pub(struct bench_conn *c, const char *prefix, long i, bool marker)
{
    char cmd[512];
    int n = snprintf(cmd, sizeof(cmd), "PUB %s.%ld %s\r\n", prefix, i, marker ? "1\r\nM" : "0\r\n");
    return bench_write_all(c->fd, cmd, (size_t)n);
}

int main(int argc, char **argv)
{
    const char *pub_url = NULL, *sub_url = NULL;
    char prefix[256] = "";
    static struct int_state st;
    st.m = 10000;

    int opt;
    while ((opt = getopt(argc, argv, "s:r:n:j:h")) != -1) {
        switch (opt) {
        case 's':
            pub_url = optarg;
            break;
        case 'r':
            sub_url = optarg;
            break;
        case 'n':
            st.m = atol(optarg);
            break;
        case 'j':
            snprintf(prefix, sizeof(prefix), "%s", optarg);
            break;
        default:
            return int_usage();
        }
    }
    if (!pub_url || !sub_url || st.m < 1 || st.m > 10000000)
        return int_usage();
    if (prefix[0] == '\0')
        snprintf(prefix, sizeof(prefix), "bench.interest.%ld.%llu", (long)getpid(),
                 (unsigned long long)(bench_now_ns() / 1000));
    st.seen = calloc((size_t)st.m + 1, 1);
    /* "SUB <prefix>.<i> <i>\r\n": prefix, two numbers of up to 8 digits, 8 more bytes */
    size_t cap = (size_t)st.m * (strlen(prefix) + 24) + 16, len = 0;
    char *subs = malloc(cap);
    if (!st.seen || !subs)
        return 1;
    for (long i = 1; i <= st.m; i++)
        len += (size_t)snprintf(subs + len, cap - len, "SUB %s.%ld %ld\r\n", prefix, i, i);
    len += (size_t)snprintf(subs + len, cap - len, "PING\r\n");

    /* both connections ready (CONNECT + PING answered) before the clock starts */
    if (bench_conn_open(&st.sub, sub_url, "bench_interest_sub", st.sub_buf, INT_BUF_SIZE) < 0 ||
        bench_conn_open(&st.pub, pub_url, "bench_interest_pub", st.pub_buf, INT_BUF_SIZE) < 0 ||
        bench_write_all(st.pub.fd, "PING\r\n", 6) < 0) {
        fprintf(stderr, "bench_interest: cannot connect\n");
        return 1;
    }
    for (int pongs = 0; pongs < 1;) {
        struct pollfd p = {.fd = st.pub.fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0 || bench_conn_read(&st.pub) < 0) {
            fprintf(stderr, "bench_interest: no PONG from the publisher's server\n");
            return 1;
        }
        if (memmem(st.pub.buf + st.pub.start, st.pub.end - st.pub.start, "PONG\r\n", 6))
            pongs++;
    }
    st.pub.start = st.pub.end = 0;

    uint64_t t0 = bench_now_ns();
    if (bench_write_all(st.sub.fd, subs, len) < 0) {
        fprintf(stderr, "bench_interest: cannot send the SUBs\n");
        return 1;
    }
    free(subs);
    double limit = bench_now() + INT_LIMIT_S;

    /* probe the last subject until it arrives */
    long probes = 0;
    uint64_t next = 0;
    while (!st.seen[st.m] && bench_now() < limit) {
        uint64_t now = bench_now_ns();
        if (now >= next) {
            if (int_pub(&st.pub, prefix, st.m, false) < 0)
                break;
            probes++;
            next = now + INT_PROBE_NS;
        }
        if (int_pump(&st, 1) < 0)
            break;
    }
    bool last_ok = st.seen[st.m] != 0;
    uint64_t t_last = st.t_last_new;

    /* sweep the subjects not seen yet until all are */
    long sweeps = 0, late = -1;
    uint64_t t_all = t_last;
    while (last_ok && st.nseen < st.m && bench_now() < limit) {
        sweeps++;
        for (long i = 1; i <= st.m; i++) {
            if (!st.seen[i] && int_pub(&st.pub, prefix, i, false) < 0)
                goto done;
        }
        t_all = bench_now_ns();
        long want = st.markers + 1;
        if (int_pub(&st.pub, prefix, st.m, true) < 0)
            goto done;
        while (st.markers < want && bench_now() < limit) {
            if (int_pump(&st, 1) < 0)
                goto done;
        }
        if (sweeps == 1)
            late = st.m - st.nseen;
    }
done:
    /* the subscriber's PONG may still be on its way on a fast path; wait a little */
    for (int i = 0; i < 100 && !st.got_pong; i++) {
        if (int_pump(&st, 10) < 0)
            break;
    }
    bool complete = st.nseen == st.m && st.errors == 0;
    printf("RESULT interest subs=%ld local_ms=%.3f last_ms=%.3f all_ms=%.3f probes=%ld "
           "sweeps=%ld late=%ld missing=%ld complete=%d\n",
           st.m, st.got_pong ? (double)(st.t_pong - t0) / 1e6 : -1.0,
           last_ok ? (double)(t_last - t0) / 1e6 : -1.0,
           complete ? (double)(t_all - t0) / 1e6 : -1.0, probes, sweeps, late < 0 ? 0 : late,
           st.m - st.nseen, complete ? 1 : 0);
    fflush(stdout);
    close(st.sub.fd);
    close(st.pub.fd);
    free(st.seen);
    return complete ? 0 : 1;
}
