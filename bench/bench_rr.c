/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_rr: request/reply latency for the benchmarks. A raw-socket responder (its own
 * thread and connection) answers every request on a subject; a requester sends N
 * sequential requests, each waiting for its reply, and reports latency percentiles.
 * The requester is raw by default (one PUB with a reply subject, then read the MSG), so
 * the number is the server's round trip and not a client library's thread hand-offs;
 * -l uses libnats natsConnection_Request instead.
 *
 * -r puts the responder on another server (across a route or a gateway), where the
 * requester's first requests may be dropped until the responder's interest has reached
 * the requester's server. The raw requester therefore starts with priming requests, each
 * with its own reply subject and a 200 ms wait, until one is answered; a late answer to an
 * earlier priming request is recognised by its subject and skipped.
 *
 * Output: one line
 *   RESULT rr client=raw|libnats n=N p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
 *   mean_us=..
 */

#include <nats/nats.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define RR_BUF_SIZE  (64 * 1024)
#define RR_MAX_LINE  1024
#define RR_INBOX     "_INBOX.bench_rr"
#define RR_PRIME_MS  200
#define RR_PRIME_MAX 100 /* priming requests before giving up: 20 s */
#define RR_MAX_FRAME (RR_BUF_SIZE - RR_MAX_LINE)

/* A blocking buffered reader over one socket that hands out whole protocol frames. */
struct rr_conn {
    int fd;
    char buf[RR_BUF_SIZE];
    size_t start;
    size_t end;
};

/* One frame: the control line (NUL-terminated, no CRLF) and, for MSG, its payload. */
struct rr_frame {
    char line[RR_MAX_LINE];
    char *payload; /* points into rr_conn.buf, valid until the next read */
    size_t size;
    bool is_msg;
    char subject[256];
    char reply[256];
};

struct rr_responder {
    const char *host;
    const char *port;
    const char *subject;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready; /* 1 subscribed, -1 failed */
};

/* Makes sure at least want bytes are buffered; returns -1 on EOF or error, -2 when a
 * receive timeout (SO_RCVTIMEO) expires first. */
static int rr_fill(struct rr_conn *c, size_t want)
{
    if (want > RR_BUF_SIZE)
        return -1;
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->start > 0 && c->start + want > RR_BUF_SIZE) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    while (c->end - c->start < want) {
        ssize_t r = read(c->fd, c->buf + c->end, RR_BUF_SIZE - c->end);
        if (r == 0)
            return -1;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
        }
        c->end += (size_t)r;
    }
    return 0;
}

/* Reads the next frame. MSG is "MSG <subject> <sid> [reply] <size>". Returns -2 on a
 * receive timeout before any byte of the frame was consumed. */
static int rr_next(struct rr_conn *c, struct rr_frame *f)
{
    char *nl;
    size_t have = 0;
    while (!(nl = memchr(c->buf + c->start + have, '\n', c->end - c->start - have))) {
        have = c->end - c->start;
        if (have >= RR_MAX_LINE)
            return -1;
        int rc = rr_fill(c, have + 1);
        if (rc < 0)
            return rc;
    }
    size_t n = (size_t)(nl - (c->buf + c->start));
    if (n == 0 || n >= RR_MAX_LINE || c->buf[c->start + n - 1] != '\r')
        return -1;
    memcpy(f->line, c->buf + c->start, n - 1);
    f->line[n - 1] = '\0';
    c->start += n + 1;
    f->is_msg = strncmp(f->line, "MSG ", 4) == 0;
    f->reply[0] = '\0';
    f->size = 0;
    f->payload = NULL;
    if (!f->is_msg)
        return 0;
    char sid[32], a[256], b[32];
    int nt = sscanf(f->line, "MSG %255s %31s %255s %31s", f->subject, sid, a, b);
    if (nt == 4) {
        snprintf(f->reply, sizeof(f->reply), "%s", a);
        f->size = strtoul(b, NULL, 10);
    } else if (nt == 3) {
        f->size = strtoul(a, NULL, 10);
    } else {
        return -1;
    }
    /* the control line is consumed: a timeout in the payload would lose the frame */
    while (f->size + 2 <= RR_MAX_FRAME) {
        int rc = rr_fill(c, f->size + 2);
        if (rc == 0)
            break;
        if (rc == -1)
            return -1;
    }
    if (f->size + 2 > RR_MAX_FRAME)
        return -1;
    f->payload = c->buf + c->start;
    if (memcmp(f->payload + f->size, "\r\n", 2) != 0)
        return -1;
    c->start += f->size + 2;
    return 0;
}

/* Sends CONNECT, a SUB and a PING, and waits for the PONG. */
static int rr_handshake(struct rr_conn *c, const char *subject, const char *name)
{
    char cmd[512];
    int n = snprintf(cmd, sizeof(cmd),
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"%s\"}\r\n"
                     "SUB %s 1\r\nPING\r\n",
                     name, subject);
    if (n < 0 || (size_t)n >= sizeof(cmd) || bench_write_all(c->fd, cmd, (size_t)n) < 0)
        return -1;
    struct rr_frame f;
    for (;;) {
        if (rr_next(c, &f) < 0)
            return -1;
        if (strcmp(f.line, "PONG") == 0)
            return 0;
        if (strncmp(f.line, "-ERR", 4) == 0) {
            fprintf(stderr, "bench_rr: %s\n", f.line);
            return -1;
        }
    }
}

static void rr_set_ready(struct rr_responder *r, int v)
{
    pthread_mutex_lock(&r->mu);
    r->ready = v;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The responder: echoes each request's payload to its reply subject until EOF. */
static void *rr_respond(void *arg)
{
    struct rr_responder *r = arg;
    static struct rr_conn c;
    static struct rr_frame f;
    static char out[RR_BUF_SIZE];
    c.fd = bench_dial(r->host, r->port);
    if (c.fd < 0 || rr_handshake(&c, r->subject, "bench_rr_responder") < 0) {
        rr_set_ready(r, -1);
        return NULL;
    }
    rr_set_ready(r, 1);
    while (rr_next(&c, &f) == 0) {
        if (strcmp(f.line, "PING") == 0) {
            bench_write_all(c.fd, "PONG\r\n", 6);
            continue;
        }
        if (!f.is_msg || f.reply[0] == '\0')
            continue;
        int n = snprintf(out, sizeof(out), "PUB %s %zu\r\n", f.reply, f.size);
        if (n < 0 || (size_t)n + f.size + 2 > sizeof(out))
            break;
        memcpy(out + n, f.payload, f.size);
        memcpy(out + n + f.size, "\r\n", 2);
        if (bench_write_all(c.fd, out, (size_t)n + f.size + 2) < 0)
            break;
    }
    close(c.fd);
    return NULL;
}

static int rr_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double rr_pct(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)v[i < n ? i : n - 1] / 1000.0;
}

static int rr_set_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * Sends priming requests, "<inbox>.p<i>" as the reply subject of the i-th, until one is
 * answered: the path from requester to responder and back then works. Returns 0 or -1.
 */
static int rr_prime(struct rr_conn *c, const char *subject, const char *payload, int size)
{
    static struct rr_frame f;
    char req[RR_BUF_SIZE];
    if (rr_set_timeout(c->fd, RR_PRIME_MS) < 0)
        return -1;
    for (int i = 0; i < RR_PRIME_MAX; i++) {
        char inbox[64];
        snprintf(inbox, sizeof(inbox), "%s.p%d", RR_INBOX, i);
        int hn = snprintf(req, sizeof(req), "PUB %s %s %d\r\n", subject, inbox, size);
        if (hn < 0 || (size_t)hn + (size_t)size + 2 > sizeof(req))
            return -1;
        memcpy(req + hn, payload, (size_t)size);
        memcpy(req + hn + size, "\r\n", 2);
        if (bench_write_all(c->fd, req, (size_t)hn + (size_t)size + 2) < 0)
            return -1;
        for (;;) {
            int rc = rr_next(c, &f);
            if (rc == -2)
                break; /* no answer in time: send the next one */
            if (rc < 0)
                return -1;
            if (f.is_msg && strcmp(f.subject, inbox) == 0)
                return rr_set_timeout(c->fd, 0);
            if (strcmp(f.line, "PING") == 0)
                bench_write_all(c->fd, "PONG\r\n", 6);
        }
    }
    fprintf(stderr, "bench_rr: no reply to %d priming requests\n", RR_PRIME_MAX);
    return -1;
}

/* Raw requester: one PUB with a reply subject, then wait for the MSG on the inbox. */
static int rr_run_raw(const char *host, const char *port, const char *subject, const char *payload,
                      int size, long n, long warmup, uint64_t *lat)
{
    static struct rr_conn c;
    static struct rr_frame f;
    char req[RR_BUF_SIZE];
    c.fd = bench_dial(host, port);
    if (c.fd < 0 || rr_handshake(&c, RR_INBOX ".>", "bench_rr_requester") < 0 ||
        rr_prime(&c, subject, payload, size) < 0)
        return -1;
    int hn = snprintf(req, sizeof(req), "PUB %s %s.m %d\r\n", subject, RR_INBOX, size);
    if (hn < 0 || (size_t)hn + (size_t)size + 2 > sizeof(req))
        return -1;
    memcpy(req + hn, payload, (size_t)size);
    memcpy(req + hn + size, "\r\n", 2);
    size_t reqlen = (size_t)hn + (size_t)size + 2;
    for (long i = 0; i < warmup + n; i++) {
        uint64_t t0 = bench_now_ns();
        if (bench_write_all(c.fd, req, reqlen) < 0)
            return -1;
        for (;;) {
            if (rr_next(&c, &f) < 0)
                return -1;
            if (f.is_msg && strcmp(f.subject, RR_INBOX ".m") == 0)
                break;
            if (strcmp(f.line, "PING") == 0)
                bench_write_all(c.fd, "PONG\r\n", 6);
        }
        if (f.size != (size_t)size) {
            fprintf(stderr, "bench_rr: reply of %zu bytes, expected %d\n", f.size, size);
            return -1;
        }
        if (i >= warmup)
            lat[i - warmup] = bench_now_ns() - t0;
    }
    close(c.fd);
    return 0;
}

static int rr_run_libnats(const char *url, const char *subject, const char *payload, int size,
                          long n, long warmup, uint64_t *lat)
{
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, url) != NATS_OK ||
        natsOptions_SetAllowReconnect(opts, false) != NATS_OK ||
        natsConnection_Connect(&nc, opts) != NATS_OK)
        return -1;
    int rc = 0;
    /* priming, as for the raw requester: libnats drops late replies to earlier requests */
    natsStatus ps = NATS_TIMEOUT;
    for (int i = 0; i < RR_PRIME_MAX && ps == NATS_TIMEOUT; i++) {
        natsMsg *msg = NULL;
        ps = natsConnection_Request(&msg, nc, subject, payload, size, RR_PRIME_MS);
        natsMsg_Destroy(msg);
    }
    if (ps != NATS_OK) {
        fprintf(stderr, "bench_rr: priming requests: %s\n", natsStatus_GetText(ps));
        rc = -1;
        warmup = n = 0;
    }
    for (long i = 0; i < warmup + n; i++) {
        natsMsg *msg = NULL;
        uint64_t t0 = bench_now_ns();
        natsStatus s = natsConnection_Request(&msg, nc, subject, payload, size, 5000);
        uint64_t t1 = bench_now_ns();
        if (s != NATS_OK) {
            fprintf(stderr, "bench_rr: request %ld: %s\n", i, natsStatus_GetText(s));
            rc = -1;
            break;
        }
        natsMsg_Destroy(msg);
        if (i >= warmup)
            lat[i - warmup] = t1 - t0;
    }
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return rc;
}

int main(int argc, char **argv)
{
    const char *url = "nats://127.0.0.1:4222";
    const char *resp_url = NULL;
    const char *subject = "bench.rr";
    int size = 16;
    long n = 20000, warmup = 1000;
    bool use_libnats = false;

    int opt;
    while ((opt = getopt(argc, argv, "s:r:j:z:n:w:lh")) != -1) {
        switch (opt) {
        case 's':
            url = optarg;
            break;
        case 'r':
            resp_url = optarg;
            break;
        case 'j':
            subject = optarg;
            break;
        case 'z':
            size = atoi(optarg);
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'w':
            warmup = atol(optarg);
            break;
        case 'l':
            use_libnats = true;
            break;
        default:
            fprintf(stderr,
                    "usage: bench_rr [-s nats://host:port] [-r responder's url] [-j subject]\n"
                    "                [-z size] [-n requests] [-w warmup requests] [-l]\n");
            return 2;
        }
    }
    if (n < 1 || warmup < 0 || size < 0 || size > RR_MAX_FRAME / 2) {
        fprintf(stderr, "bench_rr: bad arguments\n");
        return 2;
    }

    char host[256], port[16], rhost[256], rport[16];
    if (!resp_url)
        resp_url = url;
    if (bench_parse_url(url, host, sizeof(host), port, sizeof(port)) < 0 ||
        bench_parse_url(resp_url, rhost, sizeof(rhost), rport, sizeof(rport)) < 0) {
        fprintf(stderr, "bench_rr: bad url\n");
        return 2;
    }

    struct rr_responder r = {.host = rhost, .port = rport, .subject = subject};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, rr_respond, &r);
    pthread_mutex_lock(&r.mu);
    while (r.ready == 0)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    if (r.ready < 0) {
        fprintf(stderr, "bench_rr: responder cannot subscribe at %s\n", resp_url);
        return 1;
    }

    char *payload = malloc((size_t)size + 1);
    uint64_t *lat = calloc((size_t)n, sizeof(*lat));
    if (!payload || !lat)
        return 1;
    memset(payload, 'r', (size_t)size);
    int rc = use_libnats ? rr_run_libnats(url, subject, payload, size, n, warmup, lat)
                         : rr_run_raw(host, port, subject, payload, size, n, warmup, lat);
    if (rc < 0) {
        fprintf(stderr, "bench_rr: requests failed\n");
        return 1;
    }

    qsort(lat, (size_t)n, sizeof(*lat), rr_cmp);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += (double)lat[i];
    printf("RESULT rr client=%s n=%ld p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
           "max_us=%.1f mean_us=%.1f\n",
           use_libnats ? "libnats" : "raw", n, rr_pct(lat, (size_t)n, 50),
           rr_pct(lat, (size_t)n, 90), rr_pct(lat, (size_t)n, 99), rr_pct(lat, (size_t)n, 99.9),
           (double)lat[n - 1] / 1000.0, sum / (double)n / 1000.0);
    fflush(stdout);
    /* The responder thread blocks in read(); exiting the process closes its socket. */
    free(lat);
    free(payload);
    if (use_libnats)
        nats_Close();
    return 0;
}
