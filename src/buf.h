/* SPDX-License-Identifier: Apache-2.0
 * The two buffers of a connection.
 *
 * rbuf: the read buffer, one contiguous region. Bytes [pos, last) are read and
 * not yet parsed. It grows so that one whole message (control line, payload,
 * CRLF) is always contiguous and the parser never copies; it is released when
 * nothing is left unparsed, so an idle connection holds no read memory.
 *
 *     base          pos              last            cap
 *      |  parsed     |  unparsed      |  free         |
 *
 * outq: the outbound queue, a list of chunks filled at the tail and drained at
 * the head by writev. pending is the number of bytes queued, the figure the
 * slow-consumer limit (max_pending) is checked against.
 *
 * Neither is thread-safe; the connection's owner (or its lock, for the outq)
 * serialises access. */
#ifndef NATSD_BUF_H
#define NATSD_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define RBUF_MIN_SIZE   512
#define OUTQ_CHUNK_SIZE (32 * 1024)

/* A buffer grown past RBUF_SHRINK_SLACK times the steady size is cut down
 * once RBUF_SHRINK_TURNS calls in a row found it that much larger than what
 * it holds and what the next message needs (rbuf_shrink). */
#define RBUF_SHRINK_SLACK 4
#define RBUF_SHRINK_TURNS 8

struct rbuf {
    char *base;
    size_t cap;
    size_t pos;
    size_t last;
    unsigned oversized; /* consecutive rbuf_shrink calls that found it oversized */
};

/* Make room for at least want bytes after last, compacting [pos, last) to the
 * front first, and growing (by doubling) only when that is not enough. The
 * caller bounds want (max_control_line, max_payload). */
void rbuf_reserve(struct rbuf *b, size_t want);

/* Make [pos, last) plus more bytes to come fit a message of total bytes from
 * pos: reserve(total - (last - pos)) when it does not fit yet. */
void rbuf_ensure_total(struct rbuf *b, size_t total);

/* Release the memory when nothing is unparsed. */
void rbuf_release_if_idle(struct rbuf *b);

/* After a read was parsed, with bytes still unparsed (a busy connection is
 * never idle): need is what the parser asks for from pos (>= unparsed) and
 * steady the size a streaming connection reads with. A buffer that one large
 * message grew to over RBUF_SHRINK_SLACK x steady, and that has held less
 * than a quarter of that RBUF_SHRINK_TURNS times in a row, is moved into one
 * of steady size (doubled until it holds twice what is needed), so a large
 * message does not pin its memory for the life of the connection. The
 * hysteresis keeps a stream of large messages from reallocating at every
 * read. */
void rbuf_shrink(struct rbuf *b, size_t need, size_t steady);

void rbuf_free(struct rbuf *b);

static inline size_t rbuf_unparsed(const struct rbuf *b)
{
    return b->last - b->pos;
}

struct outq_chunk {
    struct outq_chunk *next;
    uint32_t len; /* bytes filled */
    uint32_t cap;
    char data[];
};

struct outq {
    struct outq_chunk *head;
    struct outq_chunk *tail;
    size_t head_off; /* bytes of head already written */
    size_t pending;  /* bytes queued and not yet written */
};

/* Append n bytes. */
void outq_append(struct outq *q, const void *p, size_t n);

/* Append the pieces of iov as one run (a message: line, payload, CRLF). */
void outq_appendv(struct outq *q, const struct iovec *iov, int iovcnt);

/* Fill up to max entries of iov with the queued bytes, at most limit bytes in
 * all. Returns the number of entries used. */
int outq_fill_iov(const struct outq *q, struct iovec *iov, int max, size_t limit);

/* Drop n written bytes from the head (n <= pending). */
void outq_consume(struct outq *q, size_t n);

/* Drop everything. */
void outq_clear(struct outq *q);

#endif
