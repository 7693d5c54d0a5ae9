/* SPDX-License-Identifier: Apache-2.0
 * Hash-flooding keys: distinct alphanumeric tokens whose 32-bit FNV-1a hash
 * (the unkeyed hash natsd's tables used before hash.c) has its low
 * FLOOD_BITS bits all zero, so that in any table of up to 2^FLOOD_BITS slots
 * hashed that way they all start probing at slot 0. Used by the hash-flood
 * bench (bench_flood) and by the unit tests of the tables that must not fall
 * for it. Header only: static functions, no state.
 *
 * A token is 5 characters numbering it (base 62) and 3 chosen ones. FNV-1a
 * is h = (h ^ byte) * P mod 2^32, and the low k bits of h depend only on the
 * low k bits of the state and of the byte, so the last two characters can be
 * solved for modulo 2^FLOOD_BITS: for every first chosen character c0 and
 * last one c2, the middle one c1 is determined, and kept when it is
 * alphanumeric. */
#ifndef NATSD_BENCH_FLOOD_KEYS_H
#define NATSD_BENCH_FLOOD_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FLOOD_BITS    16u
#define FLOOD_TOK_LEN 8u

static const char flood_alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static inline uint32_t flood_fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

static inline int flood_is_alnum(uint32_t c)
{
    return c < 128 && c != 0 && memchr(flood_alnum, (int)c, sizeof(flood_alnum) - 1) != NULL;
}

/* Fill out[0..n) with n distinct colliding tokens of FLOOD_TOK_LEN characters
 * each (no NUL), the i-th at out + i * FLOOD_TOK_LEN. */
static inline void flood_keys(char *out, size_t n)
{
    const uint32_t mask = (1u << FLOOD_BITS) - 1, p = 16777619u;
    uint32_t pinv = p; /* Newton: p * pinv == 1 mod 2^32 */
    for (int i = 0; i < 5; i++)
        pinv *= 2u - p * pinv;
    size_t got = 0;
    for (uint64_t pre = 0; got < n; pre++) {
        char tok[FLOOD_TOK_LEN];
        uint64_t v = pre;
        for (int i = 4; i >= 0; i--) {
            tok[i] = flood_alnum[v % 62];
            v /= 62;
        }
        uint32_t s = flood_fnv1a(tok, 5);
        for (size_t a = 0; a < 62 && got < n; a++) {
            uint32_t s0 = (s ^ (unsigned char)flood_alnum[a]) * p;
            for (size_t b = 0; b < 62 && got < n; b++) {
                uint32_t c2 = (unsigned char)flood_alnum[b];
                /* want ((s1 ^ c2) * p) & mask == 0: s1 == c2 (mod 2^k) */
                uint32_t s1 = c2;
                uint32_t c1 = ((s1 * pinv) ^ s0) & mask;
                if (!flood_is_alnum(c1))
                    continue;
                tok[5] = flood_alnum[a];
                tok[6] = (char)c1;
                tok[7] = (char)c2;
                memcpy(out + got * FLOOD_TOK_LEN, tok, FLOOD_TOK_LEN);
                got++;
            }
        }
    }
}

/* Fill out[0..n) with n distinct tokens of the same shape that do not
 * collide on purpose (the control). */
static inline void flood_random_keys(char *out, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        char *tok = out + i * FLOOD_TOK_LEN;
        uint64_t v = i;
        for (int k = 4; k >= 0; k--) {
            tok[k] = flood_alnum[v % 62];
            v /= 62;
        }
        for (int k = 5; k < (int)FLOOD_TOK_LEN; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            tok[k] = flood_alnum[x % 62];
        }
    }
}

#endif
