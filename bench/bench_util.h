/* SPDX-License-Identifier: Apache-2.0
 * What every bench tool needs: a monotonic clock, a TCP dialer, a write loop,
 * the "nats://host:port" splitter, and a raw protocol connection for the tools that
 * speak the protocol themselves. */
#ifndef NATSD_BENCH_UTIL_H
#define NATSD_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in seconds, and in nanoseconds. */
double bench_now(void);
uint64_t bench_now_ns(void);

/* Split "nats://host:port", "host:port" or "host" (port 4222). Returns 0 or -1. */
int bench_parse_url(const char *url, char *host, size_t hostsz, char *port, size_t portsz);

/* A blocking TCP connection with TCP_NODELAY, or -1. */
int bench_dial(const char *host, const char *port);

/* Write all n bytes (retrying on EINTR). Returns 0 or -1. */
int bench_write_all(int fd, const char *p, size_t n);

/* A raw protocol connection: its socket, and a read buffer (the caller's, cap bytes) whose
 * unparsed bytes are buf[start..end). */
struct bench_conn {
    int fd;
    char *buf;
    size_t cap;
    size_t start;
    size_t end;
};

/* Dials url and writes a CONNECT (verbose and pedantic off) with client name `name`; c
 * then reads into buf. Returns 0 or -1. */
int bench_conn_open(struct bench_conn *c, const char *url, const char *name, char *buf, size_t cap);

/* Moves c's unparsed bytes to the front of its buffer and reads once into the rest (the
 * caller polled). Returns 0 (EINTR too), or -1 on EOF, an error or a full buffer. */
int bench_conn_read(struct bench_conn *c);

/* The next whole line in c's buffer, with its length through the '\n' in *n; NULL while no
 * whole line is there. Consumes nothing. */
char *bench_conn_line(const struct bench_conn *c, size_t *n);

#endif
