/* SPDX-License-Identifier: Apache-2.0
 * Read buffer growth, compaction and release; outbound queue fill and drain. */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"

Test(rbuf, grows_compacts_and_releases)
{
    struct rbuf b = {0};
    rbuf_reserve(&b, 100);
    cr_assert_eq(b.cap, RBUF_MIN_SIZE);
    memset(b.base, 'a', 400);
    b.last = 400;
    b.pos = 300; /* 100 unparsed */
    rbuf_reserve(&b, 300);
    cr_assert_eq(b.cap, RBUF_MIN_SIZE, "compaction is enough, no growth");
    cr_assert_eq(b.pos, 0);
    cr_assert_eq(b.last, 100);
    rbuf_reserve(&b, 5000);
    cr_assert_geq(b.cap - b.last, 5000);
    cr_assert_eq(b.last, 100, "unparsed bytes survive growth");
    cr_assert_eq(b.base[99], 'a');
    b.pos = b.last;
    rbuf_release_if_idle(&b);
    cr_assert_null(b.base);
    cr_assert_eq(b.cap, 0);
    rbuf_free(&b);
}

Test(rbuf, ensure_total_makes_one_message_contiguous)
{
    struct rbuf b = {0};
    rbuf_reserve(&b, 64);
    memcpy(b.base, "PUB foo 100000\r\n", 16);
    b.last = 16;
    rbuf_ensure_total(&b, 16 + 100000 + 2);
    cr_assert_geq(b.cap - b.pos, 16 + 100000 + 2);
    cr_assert_eq(memcmp(b.base + b.pos, "PUB foo 100000\r\n", 16), 0);
    rbuf_release_if_idle(&b); /* not idle: kept */
    cr_assert_not_null(b.base);
    rbuf_free(&b);
}

/* One large message grew the buffer; the connection stays busy with small
 * ones (a partial message always left unparsed). */
static void big_then_small(struct rbuf *b)
{
    rbuf_reserve(b, 8 * 1024 * 1024 + 10);
    cr_assert_geq(b->cap, 8 * 1024 * 1024 + 10);
    b->last = 8 * 1024 * 1024 + 10;
    b->pos = 8 * 1024 * 1024; /* the big message is consumed, 10 bytes left */
}

Test(rbuf, shrinks_after_a_large_message_with_hysteresis)
{
    struct rbuf b = {0};
    big_then_small(&b);
    size_t big = b.cap;
    memcpy(b.base + b.pos, "PUB foo 5\r", 10);
    for (int i = 1; i < RBUF_SHRINK_TURNS; i++) {
        rbuf_shrink(&b, 11, 64 * 1024);
        cr_assert_eq(b.cap, big, "no reallocation before %d oversized turns", RBUF_SHRINK_TURNS);
    }
    rbuf_shrink(&b, 11, 64 * 1024);
    cr_assert_eq(b.cap, 64 * 1024, "cut down to the steady size");
    cr_assert_eq(b.pos, 0);
    cr_assert_eq(b.last, 10, "unparsed bytes survive");
    cr_assert_eq(memcmp(b.base, "PUB foo 5\r", 10), 0);
    /* steady state: never reallocated again */
    char *base = b.base;
    for (int i = 0; i < 100; i++)
        rbuf_shrink(&b, 11, 64 * 1024);
    cr_assert_eq(b.base, base);
    rbuf_free(&b);
}

Test(rbuf, a_stream_of_large_messages_keeps_its_buffer)
{
    struct rbuf b = {0};
    big_then_small(&b);
    size_t big = b.cap;
    /* every other turn the next large message is announced: the counter
     * starts over, nothing is reallocated */
    for (int i = 0; i < 10 * RBUF_SHRINK_TURNS; i++) {
        rbuf_shrink(&b, (i % 2) ? 8 * 1024 * 1024 : 11, 64 * 1024);
        cr_assert_eq(b.cap, big);
    }
    /* a buffer at the steady size (or a few times it) is never touched */
    rbuf_free(&b);
    rbuf_reserve(&b, 200 * 1024);
    size_t cap = b.cap;
    b.last = b.pos = 0;
    b.last = 5;
    for (int i = 0; i < 4 * RBUF_SHRINK_TURNS; i++)
        rbuf_shrink(&b, 6, 64 * 1024);
    cr_assert_eq(b.cap, cap);
    rbuf_free(&b);
}

Test(rbuf, shrink_keeps_room_for_the_next_message)
{
    struct rbuf b = {0};
    big_then_small(&b);
    for (int i = 0; i < RBUF_SHRINK_TURNS; i++)
        rbuf_shrink(&b, 300 * 1024, 64 * 1024);
    cr_assert_geq(b.cap, 600 * 1024, "twice what the next message needs");
    cr_assert_lt(b.cap, 8 * 1024 * 1024);
    cr_assert_eq(b.last - b.pos, 10);
    rbuf_free(&b);
}

Test(outq, append_fill_consume)
{
    struct outq q = {0};
    char big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    outq_append(&q, "MSG foo 1 5\r\n", 13);
    outq_append(&q, big, sizeof(big));
    cr_assert_eq(q.pending, 13 + sizeof(big));

    /* drain in uneven writes and check every byte comes out in order */
    char out[13 + sizeof(big)];
    size_t got = 0;
    while (q.pending > 0) {
        struct iovec iov[4];
        int n = outq_fill_iov(&q, iov, 4, 7777);
        cr_assert_gt(n, 0);
        size_t take = 0;
        for (int i = 0; i < n; i++) {
            memcpy(out + got + take, iov[i].iov_base, iov[i].iov_len);
            take += iov[i].iov_len;
        }
        cr_assert_leq(take, 7777);
        size_t written = take > 3 ? take - 3 : take; /* a short write */
        outq_consume(&q, written);
        got += written;
    }
    cr_assert_eq(got, sizeof(out));
    cr_assert_eq(memcmp(out, "MSG foo 1 5\r\n", 13), 0);
    cr_assert_eq(memcmp(out + 13, big, sizeof(big)), 0);
    cr_assert_null(q.head, "a drained queue holds no chunk");
    cr_assert_null(q.tail);
}

Test(outq, appendv_and_clear)
{
    struct outq q = {0};
    char payload[OUTQ_CHUNK_SIZE * 2];
    memset(payload, 'x', sizeof(payload));
    struct iovec iov[3] = {{"MSG a 1 65536\r\n", 15}, {payload, sizeof(payload)}, {"\r\n", 2}};
    outq_appendv(&q, iov, 3);
    cr_assert_eq(q.pending, 15 + sizeof(payload) + 2);
    struct iovec out[8];
    cr_assert_eq(outq_fill_iov(&q, out, 8, SIZE_MAX), 1, "a big message lands in one chunk");
    outq_clear(&q);
    cr_assert_eq(q.pending, 0);
    cr_assert_null(q.head);
}
