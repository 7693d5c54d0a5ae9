/* SPDX-License-Identifier: Apache-2.0
 * Shared helpers of the bench tools. */
#include "bench_util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_parse_url(const char *url, char *host, size_t hostsz, char *port, size_t portsz)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *colon = strrchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strlen(p);
    if (hl == 0 || hl >= hostsz)
        return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    snprintf(port, portsz, "%s", colon ? colon + 1 : "4222");
    return 0;
}

int bench_dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

int bench_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int bench_conn_open(struct bench_conn *c, const char *url, const char *name, char *buf, size_t cap)
{
    char host[256], port[16], cmd[256];
    *c = (struct bench_conn){.fd = -1, .buf = buf, .cap = cap};
    if (bench_parse_url(url, host, sizeof(host), port, sizeof(port)) < 0)
        return -1;
    c->fd = bench_dial(host, port);
    if (c->fd < 0)
        return -1;
    int n = snprintf(cmd, sizeof(cmd),
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"%s\"}\r\n", name);
    if (n < 0 || (size_t)n >= sizeof(cmd))
        return -1;
    return bench_write_all(c->fd, cmd, (size_t)n);
}

int bench_conn_read(struct bench_conn *c)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == c->cap)
        return -1;
    ssize_t r = read(c->fd, c->buf + c->end, c->cap - c->end);
    if (r < 0 && errno == EINTR)
        return 0;
    if (r <= 0)
        return -1;
    c->end += (size_t)r;
    return 0;
}

char *bench_conn_line(const struct bench_conn *c, size_t *n)
{
    char *line = c->buf + c->start;
    char *nl = memchr(line, '\n', c->end - c->start);
    if (!nl)
        return NULL;
    *n = (size_t)(nl - line) + 1;
    return line;
}
