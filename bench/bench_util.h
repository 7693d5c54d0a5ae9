/* SPDX-License-Identifier: Apache-2.0
 * What every bench tool needs: a monotonic clock, a TCP dialer, a write loop
 * and the "nats://host:port" splitter. */
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

#endif
