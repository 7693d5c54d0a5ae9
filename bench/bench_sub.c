/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sub: a minimal raw-socket NATS subscriber for the benchmarks. It opens K
 * connections (one subscription each, optionally in a queue group), drives them from one
 * poll loop, frames MSG/HMSG exactly (control line, then payload plus CRLF) and counts
 * messages until the expected number arrived or the stream went idle. It is not a client
 * library: no reconnects, no TLS, no auth. It exists because a libnats subscriber is
 * slower than either server and would hide the difference between them.
 *
 * Output: "ready" on stdout once every connection has its PONG, then one line
 *   RESULT sub subs=K msgs=N bytes=B secs=S msgs_per_sec=R complete=0|1 extra=E
 *   late=L errors=X
 */

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define SUB_MAX_CONNS 64
#define SUB_READ_SIZE (256 * 1024)
#define SUB_MAX_LINE  4096

struct sub_conn {
    int fd;
    int sid;
    char *buf; /* unparsed bytes live in buf[0..len) */
    size_t len;
    size_t pay_left; /* payload bytes of the current frame still to skip */
    int crlf_left;   /* 2 or 1 while the payload's trailing CRLF is expected */
    bool in_payload; /* pay_left/crlf_left describe a frame in progress */
    bool got_pong;
    uint64_t msgs;
    uint64_t bytes;
    uint64_t pongs;
};

struct sub_state {
    struct sub_conn conns[SUB_MAX_CONNS];
    int nconns;
    long expect_size; /* -1: any payload size */
    uint64_t errors;
    uint64_t total;
    double t_first;
    double t_last;
};

static void sub_usage(void)
{
    fprintf(stderr, "usage: bench_sub [-s nats://host:port] [-j subject] [-q queue] [-k subs]\n"
                    "                 [-n expected] [-z payload size] [-t idle timeout s]\n"
                    "  -n: messages per subscriber (total across the group with -q)\n");
}

/* Splits a control line into at most max space-separated tokens; returns the count. */
static int sub_split(char *line, size_t n, char **tok, size_t *toklen, int max)
{
    int nt = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= n)
            break;
        if (nt == max)
            return -1;
        tok[nt] = line + i;
        while (i < n && line[i] != ' ' && line[i] != '\t')
            i++;
        toklen[nt] = (size_t)(line + i - tok[nt]);
        nt++;
    }
    return nt;
}

static long sub_parse_num(const char *p, size_t n)
{
    if (n == 0 || n > 12)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static void sub_error(struct sub_state *st, struct sub_conn *c, const char *what, const char *p,
                      size_t n)
{
    st->errors++;
    if (st->errors <= 10)
        fprintf(stderr, "bench_sub: sid %d: %s: '%.*s'\n", c->sid, what, (int)(n > 200 ? 200 : n),
                p);
}

/*
 * Handles one control line (without CRLF). MSG: "MSG <subject> <sid> [reply] <size>";
 * HMSG: "HMSG <subject> <sid> [reply] <hdr size> <total size>". Returns the payload
 * size to skip, 0 for lines without a payload, -1 on a protocol error.
 */
static long sub_line(struct sub_state *st, struct sub_conn *c, char *line, size_t n)
{
    char *tok[6];
    size_t tl[6];
    if (n >= 4 && memcmp(line, "MSG ", 4) == 0) {
        int nt = sub_split(line, n, tok, tl, 5);
        if (nt != 4 && nt != 5) {
            sub_error(st, c, "bad MSG line", line, n);
            return -1;
        }
        long sid = sub_parse_num(tok[2], tl[2]);
        long size = sub_parse_num(tok[nt - 1], tl[nt - 1]);
        if (sid != c->sid || size < 0) {
            sub_error(st, c, "bad MSG sid or size", line, n);
            return -1;
        }
        if (st->expect_size >= 0 && size != st->expect_size)
            sub_error(st, c, "unexpected payload size", line, n);
        return size;
    }
    if (n >= 5 && memcmp(line, "HMSG ", 5) == 0) {
        int nt = sub_split(line, n, tok, tl, 6);
        long size = nt >= 5 ? sub_parse_num(tok[nt - 1], tl[nt - 1]) : -1;
        if ((nt != 5 && nt != 6) || size < 0) {
            sub_error(st, c, "bad HMSG line", line, n);
            return -1;
        }
        return size;
    }
    if (n == 4 && memcmp(line, "PING", 4) == 0) {
        if (bench_write_all(c->fd, "PONG\r\n", 6) < 0)
            return -1;
        return 0;
    }
    if (n == 4 && memcmp(line, "PONG", 4) == 0) {
        c->got_pong = true;
        c->pongs++;
        return 0;
    }
    if ((n >= 5 && memcmp(line, "INFO ", 5) == 0) || (n == 3 && memcmp(line, "+OK", 3) == 0))
        return 0;
    sub_error(st, c, n >= 4 && memcmp(line, "-ERR", 4) == 0 ? "server error" : "unknown line", line,
              n);
    return -1;
}

/* Consumes c->buf[0..len): whole frames, payload skipping, leftovers moved to the front. */
static int sub_parse(struct sub_state *st, struct sub_conn *c, uint64_t *counted)
{
    size_t pos = 0;
    while (pos < c->len) {
        if (c->in_payload) {
            if (c->pay_left > 0) {
                size_t take = c->len - pos < c->pay_left ? c->len - pos : c->pay_left;
                c->pay_left -= take;
                pos += take;
                continue;
            }
            char want = c->crlf_left == 2 ? '\r' : '\n';
            if (c->buf[pos] != want) {
                sub_error(st, c, "payload not followed by CRLF", c->buf + pos, c->len - pos);
                return -1;
            }
            pos++;
            if (--c->crlf_left == 0)
                c->in_payload = false;
            continue;
        }
        char *nl = memchr(c->buf + pos, '\n', c->len - pos);
        if (!nl) {
            if (c->len - pos > SUB_MAX_LINE) {
                sub_error(st, c, "control line too long", c->buf + pos, c->len - pos);
                return -1;
            }
            break;
        }
        size_t n = (size_t)(nl - (c->buf + pos));
        if (n == 0 || c->buf[pos + n - 1] != '\r') {
            sub_error(st, c, "control line without CR", c->buf + pos, n);
            return -1;
        }
        long size = sub_line(st, c, c->buf + pos, n - 1);
        if (size < 0)
            return -1;
        bool is_msg = c->buf[pos] == 'M' || c->buf[pos] == 'H';
        pos += n + 1;
        if (is_msg) {
            c->msgs++;
            c->bytes += (uint64_t)size;
            (*counted)++;
            c->pay_left = (size_t)size;
            c->crlf_left = 2;
            c->in_payload = true;
        }
    }
    if (pos < c->len)
        memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    return 0;
}

/* Reads what one connection has and parses it. Returns -1 on EOF or error. */
static int sub_read(struct sub_state *st, struct sub_conn *c, uint64_t *counted)
{
    ssize_t r = read(c->fd, c->buf + c->len, SUB_READ_SIZE);
    if (r == 0) {
        fprintf(stderr, "bench_sub: sid %d: connection closed by the server\n", c->sid);
        return -1;
    }
    if (r < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    c->len += (size_t)r;
    return sub_parse(st, c, counted);
}

/*
 * Polls every connection until stop() holds or nothing arrives for idle_s seconds.
 * Returns 0 when stop() held, 1 on timeout, -1 on a connection error.
 */
static int sub_loop(struct sub_state *st, double idle_s, bool (*stop)(struct sub_state *))
{
    struct pollfd pfd[SUB_MAX_CONNS];
    for (int i = 0; i < st->nconns; i++)
        pfd[i] = (struct pollfd){.fd = st->conns[i].fd, .events = POLLIN};
    double last = bench_now();
    while (!stop(st)) {
        int n = poll(pfd, (nfds_t)st->nconns, 100);
        if (n < 0 && errno != EINTR)
            return -1;
        double now = bench_now();
        if (n <= 0) {
            if (now - last > idle_s)
                return 1;
            continue;
        }
        last = now;
        for (int i = 0; i < st->nconns; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            uint64_t counted = 0;
            if (sub_read(st, &st->conns[i], &counted) < 0)
                return -1;
            if (counted) {
                if (st->total == 0)
                    st->t_first = now;
                st->total += counted;
                st->t_last = bench_now();
            }
        }
    }
    return 0;
}

static uint64_t sub_goal;

static bool sub_all_ponged(struct sub_state *st)
{
    for (int i = 0; i < st->nconns; i++)
        if (!st->conns[i].got_pong)
            return false;
    return true;
}

static bool sub_reached_goal(struct sub_state *st)
{
    return st->total >= sub_goal;
}

int main(int argc, char **argv)
{
    const char *url = "nats://127.0.0.1:4222";
    const char *subject = "bench";
    const char *queue = NULL;
    int k = 1;
    long long expect = 1000000;
    double idle_s = 10.0;
    static struct sub_state st;
    st.expect_size = -1;

    int opt;
    while ((opt = getopt(argc, argv, "s:j:q:k:n:z:t:h")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'j':
            subject = optarg;
            break;
        case 'q':
            queue = optarg;
            break;
        case 'k':
            k = atoi(optarg);
            break;
        case 'n':
            expect = atoll(optarg);
            break;
        case 'z':
            st.expect_size = atol(optarg);
            break;
        case 't':
            idle_s = atof(optarg);
            break;
        default:
            sub_usage();
            return 2;
        }
    }
    if (k < 1 || k > SUB_MAX_CONNS || expect < 1) {
        sub_usage();
        return 2;
    }
    char host[256], port[16];
    if (bench_parse_url(url, host, sizeof(host), port, sizeof(port)) < 0) {
        fprintf(stderr, "bench_sub: bad url %s\n", url);
        return 2;
    }

    st.nconns = k;
    for (int i = 0; i < k; i++) {
        struct sub_conn *c = &st.conns[i];
        c->sid = i + 1;
        c->buf = malloc(SUB_READ_SIZE + SUB_MAX_LINE + 64);
        c->fd = bench_dial(host, port);
        if (!c->buf || c->fd < 0) {
            fprintf(stderr, "bench_sub: cannot connect to %s:%s\n", host, port);
            return 1;
        }
        char cmd[512];
        int n = snprintf(cmd, sizeof(cmd),
                         "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"bench_sub\"}\r\n"
                         "SUB %s %s%s%d\r\nPING\r\n",
                         subject, queue ? queue : "", queue ? " " : "", c->sid);
        if (n < 0 || (size_t)n >= sizeof(cmd) || bench_write_all(c->fd, cmd, (size_t)n) < 0) {
            fprintf(stderr, "bench_sub: cannot send CONNECT/SUB\n");
            return 1;
        }
    }
    sub_goal = 0;
    if (sub_loop(&st, 10.0, sub_all_ponged) != 0 || st.total != 0) {
        fprintf(stderr, "bench_sub: no PONG from the server (or early messages)\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    sub_goal = queue ? (uint64_t)expect : (uint64_t)expect * (uint64_t)k;
    int rc = sub_loop(&st, idle_s, sub_reached_goal);
    bool complete = rc == 0;
    uint64_t got = st.total;
    double secs = st.t_last > st.t_first ? st.t_last - st.t_first : 0.0;

    /*
     * One more PING/PONG per connection. After a complete run any message that still
     * arrives is a duplicate ("extra"); after a timeout, a message that arrives only now
     * was stuck in the server until this PING woke its connection ("late"), which tells
     * a missed wake-up from a lost message.
     */
    bool ponged = false;
    if (rc >= 0) {
        ponged = true;
        for (int i = 0; i < k; i++) {
            st.conns[i].got_pong = false;
            if (bench_write_all(st.conns[i].fd, "PING\r\n", 6) < 0)
                ponged = false;
        }
        if (ponged && sub_loop(&st, 5.0, sub_all_ponged) != 0)
            ponged = false;
    }
    if (!ponged)
        complete = false;
    uint64_t extra = complete && st.total > sub_goal ? st.total - sub_goal : 0;
    uint64_t late = rc == 1 ? st.total - got : 0;
    uint64_t msgs = got < sub_goal ? got : sub_goal, bytes = 0;
    for (int i = 0; i < k; i++)
        bytes += st.conns[i].bytes;
    double rate = secs > 0 ? (double)msgs / secs : 0.0;
    printf("RESULT sub subs=%d msgs=%llu bytes=%llu secs=%.6f msgs_per_sec=%.0f complete=%d "
           "extra=%llu late=%llu errors=%llu\n",
           k, (unsigned long long)msgs, (unsigned long long)bytes, secs, rate, complete ? 1 : 0,
           (unsigned long long)extra, (unsigned long long)late, (unsigned long long)st.errors);
    if (k > 1) {
        for (int i = 0; i < k; i++)
            fprintf(stderr, "bench_sub: sid %d: %llu msgs\n", st.conns[i].sid,
                    (unsigned long long)st.conns[i].msgs);
    }
    for (int i = 0; i < k; i++) {
        close(st.conns[i].fd);
        free(st.conns[i].buf);
    }
    return complete && st.errors == 0 && extra == 0 ? 0 : 1;
}
