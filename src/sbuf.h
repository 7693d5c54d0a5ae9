/* SPDX-License-Identifier: Apache-2.0
 * A growable byte string for building protocol lines and JSON. Owned by
 * whoever declared it; sbuf_free() releases it. Always NUL-terminated. */
#ifndef NATSD_SBUF_H
#define NATSD_SBUF_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *p;
    size_t len;
    size_t cap;
};

void sbuf_add(struct sbuf *b, const void *p, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
/* Append v in decimal (the hot paths' size fields: no printf). */
void sbuf_add_u64(struct sbuf *b, uint64_t v);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_reset(struct sbuf *b); /* len = 0, memory kept */
void sbuf_free(struct sbuf *b);

/* Append s (n bytes) as a JSON string literal with Go's encoding/json escapes:
 * \" \\ \n \r \t, \u00XX for other control bytes, and <, >, & and U+2028/9
 * escaped as \u003c \u003e \u0026 \u2028 \u2029. */
void sbuf_add_json_str(struct sbuf *b, const char *s, size_t n);

#endif
