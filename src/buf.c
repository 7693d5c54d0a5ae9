/* SPDX-License-Identifier: Apache-2.0
 * Read buffer and outbound queue; see buf.h for the layout. */
#include "buf.h"

#include <string.h>

#include "common.h"
#include "mem.h"

/* Move the unparsed bytes to the start of a new buffer of cap bytes (grown
 * or shrunk) and give the old one back. */
static void rbuf_move_to(struct rbuf *b, size_t cap)
{
    size_t unparsed = b->last - b->pos;
    char *nb = xmalloc(cap);
    if (unparsed)
        /* unparsed > 0 implies a buffer */
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
        memcpy(nb, b->base + b->pos, unparsed);
    free(b->base);
    b->base = nb;
    b->cap = cap;
    b->pos = 0;
    b->last = unparsed;
}

void rbuf_reserve(struct rbuf *b, size_t want)
{
    size_t unparsed = b->last - b->pos;
    if (b->base && b->cap - b->last >= want)
        return;
    if (b->base && b->pos > 0 && b->cap - unparsed >= want) {
        /* enough room once the parsed bytes are gone: compact, no allocation */
        memmove(b->base, b->base + b->pos, unparsed);
        b->pos = 0;
        b->last = unparsed;
        return;
    }
    size_t cap = b->cap ? b->cap : RBUF_MIN_SIZE;
    while (cap - unparsed < want)
        cap *= 2;
    rbuf_move_to(b, cap);
}

void rbuf_ensure_total(struct rbuf *b, size_t total)
{
    size_t unparsed = b->last - b->pos;
    if (total > unparsed && (b->cap - b->pos) < total)
        rbuf_reserve(b, total - unparsed);
}

void rbuf_release_if_idle(struct rbuf *b)
{
    if (b->pos != b->last)
        return;
    /* Nothing pending: an idle connection keeps no read memory. The next read
     * allocates RBUF_MIN_SIZE again, which is cheap next to a syscall. */
    NFREE(b->base);
    b->cap = b->pos = b->last = 0;
    b->oversized = 0;
}

void rbuf_shrink(struct rbuf *b, size_t need, size_t steady)
{
    size_t unparsed = b->last - b->pos;
    size_t keep = need > unparsed ? need : unparsed;
    if (b->cap <= steady * RBUF_SHRINK_SLACK || keep > b->cap / 4) {
        b->oversized = 0;
        return;
    }
    if (++b->oversized < RBUF_SHRINK_TURNS)
        return;
    size_t cap = steady;
    while (cap < 2 * keep)
        cap *= 2;
    b->oversized = 0;
    if (cap >= b->cap)
        return;
    /* a large region goes back to the system (glibc maps big blocks) */
    rbuf_move_to(b, cap);
}

void rbuf_free(struct rbuf *b)
{
    NFREE(b->base);
    b->cap = b->pos = b->last = 0;
    b->oversized = 0;
}

static struct outq_chunk *outq_new_chunk(struct outq *q, size_t atleast)
{
    size_t cap = atleast > OUTQ_CHUNK_SIZE ? atleast : OUTQ_CHUNK_SIZE;
    struct outq_chunk *c = xmalloc(sizeof(*c) + cap);
    c->next = NULL;
    c->len = 0;
    c->cap = (uint32_t)cap;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    return c;
}

void outq_append(struct outq *q, const void *p, size_t n)
{
    const char *s = p;
    q->pending += n;
    while (n > 0) {
        struct outq_chunk *c = q->tail;
        if (!c || c->len == c->cap)
            c = outq_new_chunk(q, 0);
        size_t room = c->cap - c->len;
        size_t k = n < room ? n : room;
        memcpy(c->data + c->len, s, k);
        c->len += (uint32_t)k;
        s += k;
        n -= k;
    }
}

void outq_appendv(struct outq *q, const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    struct outq_chunk *t = q->tail;
    if (t && t->cap - t->len >= total) {
        /* the common case: the whole message fits the tail chunk */
        char *p = t->data + t->len;
        for (int i = 0; i < iovcnt; i++) {
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
            p += iov[i].iov_len;
        }
        t->len += (uint32_t)total;
        q->pending += total;
        return;
    }
    /* A large message gets a chunk of its own rather than being spread over
     * many small ones: fewer iovecs when it is written. */
    struct outq_chunk *c = q->tail;
    if (total > OUTQ_CHUNK_SIZE && (!c || c->cap - c->len < total))
        outq_new_chunk(q, total);
    for (int i = 0; i < iovcnt; i++)
        outq_append(q, iov[i].iov_base, iov[i].iov_len);
}

int outq_fill_iov(const struct outq *q, struct iovec *iov, int max, size_t limit)
{
    int n = 0;
    size_t off = q->head_off, total = 0;
    for (const struct outq_chunk *c = q->head; c && n < max && total < limit; c = c->next) {
        size_t len = c->len - off;
        if (len > limit - total)
            len = limit - total;
        if (len > 0) {
            iov[n].iov_base = (char *)c->data + off;
            iov[n].iov_len = len;
            n++;
            total += len;
        }
        off = 0;
    }
    return n;
}

void outq_consume(struct outq *q, size_t n)
{
    NASSERT(n <= q->pending);
    q->pending -= n;
    while (n > 0) {
        struct outq_chunk *c = q->head;
        /* n <= pending, so a chunk is queued */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        size_t avail = c->len - q->head_off;
        if (n < avail) {
            q->head_off += n;
            return;
        }
        /* a drained chunk goes, the tail too: an idle connection holds none */
        n -= avail;
        q->head = c->next;
        if (!q->head)
            q->tail = NULL;
        q->head_off = 0;
        free(c);
    }
}

void outq_clear(struct outq *q)
{
    struct outq_chunk *c = q->head;
    while (c) {
        struct outq_chunk *next = c->next;
        free(c);
        c = next;
    }
    q->head = q->tail = NULL;
    q->head_off = 0;
    q->pending = 0;
}
