/* SPDX-License-Identifier: Apache-2.0
 * Small parsing and formatting helpers with Go's exact semantics (durations,
 * host:port, URLs, %q and %v), shared by the options layer and the server.
 * No allocation beyond what a function says it returns; no I/O. */
#ifndef NATSD_UTIL_H
#define NATSD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a Go duration ("1h30m", "500ms", "1.5s", "-2us", "0") of len bytes
 * into nanoseconds, with the rules of Go's time.ParseDuration (units ns, us,
 * µs, μs, ms, s, m, h; decimals; a sign; overflow is an error). On failure
 * returns -1 and writes Go's message into err, e.g.
 * `time: missing unit in duration "5"`. Any thread. */
int util_parse_duration(const char *s, size_t len, int64_t *ns, char *err, size_t errsize);

/* Format ns as Go's time.Duration.String() does: "0s", "1.5s", "2m0s",
 * "1h30m0s", "500ms", "1.5µs", "-3s". Always NUL-terminates (size > 0). */
void util_format_duration(int64_t ns, char *buf, size_t size);

/* Split "host:port" as Go's net.SplitHostPort: the port follows the last
 * colon, an IPv6 host is written in brackets (returned without them). On
 * success returns 0 and stores newly allocated *host and *port (caller frees);
 * on failure returns -1 and stores nothing. */
int util_split_host_port(const char *s, char **host, char **port);

/* Parse a whole decimal integer as Go's strconv.Atoi on 64 bits: optional + or
 * -, at least one digit, nothing else, no overflow. Returns 0 or -1. */
int util_atoi64(const char *s, int64_t *out);

/* A URL split as Go's net/url.Parse splits it. Every string is owned; absent
 * parts are NULL (user and password are also NULL when not given). host has no
 * brackets and no port. */
struct util_url {
    char *scheme; /* lower case */
    char *user;   /* unescaped */
    char *password;
    char *host;
    char *port;
    char *path; /* unescaped; opaque part when there is no "//" */
};

/* Parse s (leading/trailing ASCII blanks trimmed first, as nats-server's
 * parseURL does) with the acceptance rules of Go's url.Parse: control bytes,
 * bad % escapes, invalid host characters, a non-numeric port, an unclosed
 * IPv6 bracket, invalid userinfo and a colon in a scheme-less first path
 * segment are rejected. Returns 0 and fills *u (free with util_url_free), or
 * -1 leaving *u empty. */
int util_url_parse(const char *s, struct util_url *u);
void util_url_free(struct util_url *u);

/* Write s (len bytes) quoted as Go's %q (strconv.Quote) would: double quotes,
 * \" \\ \n \t ... escapes, \xNN for invalid UTF-8 and control bytes. Always
 * NUL-terminates (size > 0); truncates silently. */
void util_go_quote(const char *s, size_t len, char *buf, size_t size);

/* Append s (len bytes) to b quoted as Go's %q does (the same rules as
 * util_go_quote, without truncation). */
struct sbuf;
void util_go_quote_sbuf(struct sbuf *b, const char *s, size_t len);

/* Format f as Go's %v does for a float64 ("2.5", "1e+21", "1e-05", "100"). */
void util_format_float_go(double f, char *buf, size_t size);

/* The value of a hex digit, or -1. */
int util_hexval(char c);

/* ASCII lower-case copy of s into buf (truncated to size-1). */
void util_lower(const char *s, char *buf, size_t size);

#endif
