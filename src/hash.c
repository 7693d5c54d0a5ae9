/* SPDX-License-Identifier: Apache-2.0
 * SipHash from the paper's description: the state is four 64-bit words
 * initialised from the key and four constants ("somepseudorandomlygenerated
 * bytes"); each 8-byte little-endian block m is absorbed as v3 ^= m, c
 * SipRounds, v0 ^= m; the last block carries the leftover bytes and the
 * length modulo 256 in its top byte; then v2 ^= 0xff, d SipRounds, and the
 * output is the xor of the four words. */
#include "hash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* The process key. Principle 4 exception: written once, by the constructor
 * below, before main() and therefore before any other thread exists; only
 * read afterwards. Passing it down to every table (sid maps live in
 * connections, sublists in accounts, caches in workers, the unit tests and
 * fuzzers build all of them alone) would buy nothing but plumbing. */
static struct hash_key hash_key_proc;

static inline uint64_t hash_rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64u - b));
}

static inline uint64_t hash_load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t hash_load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* The last left (< 8) bytes at p as a little-endian word, read with at most
 * three loads instead of a loop: two overlapping 4-byte loads from 4 bytes
 * on (the overlap holds the same bytes), else the first, middle and last. */
static inline uint64_t hash_tail(const unsigned char *p, size_t left)
{
    if (left >= 4)
        return hash_load32(p) | (hash_load32(p + left - 4) << (8 * (left - 4)));
    if (left == 0)
        return 0;
    return (uint64_t)p[0] | ((uint64_t)p[left / 2] << (8 * (left / 2))) |
           ((uint64_t)p[left - 1] << (8 * (left - 1)));
}

struct hash_state {
    uint64_t v0, v1, v2, v3;
};

static inline void hash_round(struct hash_state *s)
{
    s->v0 += s->v1;
    s->v1 = hash_rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = hash_rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = hash_rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = hash_rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = hash_rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = hash_rotl(s->v2, 32);
}

/* Inlined with constant c and d by its callers, so the round loops unroll. */
static inline uint64_t hash_sip(const struct hash_key *k, unsigned c, unsigned d, const void *data,
                                size_t n)
{
    const unsigned char *p = data;
    struct hash_state s = {
        k->k0 ^ 0x736f6d6570736575ull,
        k->k1 ^ 0x646f72616e646f6dull,
        k->k0 ^ 0x6c7967656e657261ull,
        k->k1 ^ 0x7465646279746573ull,
    };
    size_t left = n;

    for (; left >= 8; left -= 8, p += 8) {
        uint64_t m = hash_load64(p);
        s.v3 ^= m;
        for (unsigned i = 0; i < c; i++)
            hash_round(&s);
        s.v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    b |= hash_tail(p, left);
    s.v3 ^= b;
    for (unsigned i = 0; i < c; i++)
        hash_round(&s);
    s.v0 ^= b;
    s.v2 ^= 0xff;
    for (unsigned i = 0; i < d; i++)
        hash_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

struct hash_key hash_key_from_bytes(const uint8_t b[16])
{
    struct hash_key k = {hash_load64(b), hash_load64(b + 8)};
    return k;
}

uint64_t hash_siphash(const struct hash_key *k, unsigned c, unsigned d, const void *p, size_t n)
{
    return hash_sip(k, c, d, p, n);
}

uint64_t hash_siphash13(const struct hash_key *k, const void *p, size_t n)
{
    return hash_sip(k, 1, 3, p, n);
}

uint64_t hash_bytes(const void *p, size_t n)
{
    return hash_sip(&hash_key_proc, 1, 3, p, n);
}

struct hash_key hash_process_key(void)
{
    return hash_key_proc;
}

/* Fill the process key before main(): every table of the process, from the
 * first one built, hashes under it. */
__attribute__((constructor)) static void hash_key_init(void)
{
#ifdef NATSD_FUZZING
    /* fixed: a fuzz input must replay the same way in every run */
    static const uint8_t fixed[16] = {0x6e, 0x61, 0x74, 0x73, 0x64, 0x2d, 0x66, 0x75,
                                      0x7a, 0x7a, 0x2d, 0x6b, 0x65, 0x79, 0x30, 0x31};
    hash_key_proc = hash_key_from_bytes(fixed);
#else
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(b)) {
        /* no getrandom (a very old kernel or a seccomp filter): a key no
         * peer can see or guess from the wire, mixed from what differs
         * between processes */
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        clock_gettime(CLOCK_MONOTONIC, &ts[1]);
        uint64_t mix[4] = {(uint64_t)ts[0].tv_sec ^ ((uint64_t)ts[0].tv_nsec << 32),
                           (uint64_t)ts[1].tv_nsec, (uint64_t)getpid(), (uint64_t)(uintptr_t)b};
        struct hash_key k = {0x6e617473642d6b31ull, (uint64_t)(uintptr_t)&hash_key_proc};
        hash_key_proc.k0 = hash_sip(&k, 2, 4, mix, sizeof(mix));
        k.k0 ^= 1;
        hash_key_proc.k1 = hash_sip(&k, 2, 4, mix, sizeof(mix));
        return;
    }
    hash_key_proc = hash_key_from_bytes(b);
#endif
}
