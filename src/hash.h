/* SPDX-License-Identifier: Apache-2.0
 * The one keyed hash of natsd's hash tables: SipHash (Aumasson and Bernstein,
 * "SipHash: a fast short-input PRF", 2012), written here from the published
 * algorithm. Tables whose keys a peer chooses (sids, subjects and tokens,
 * route and gateway interest, match caches, account names) must not use an
 * unkeyed hash: a client or peer could then pick keys that all land in one
 * probe run and turn every insert and lookup linear (hash flooding).
 *
 * hash_bytes keys SipHash-1-3 (one compression round per 8-byte block,
 * three finalisation rounds: the variant hash tables use) with a 128-bit key
 * drawn from getrandom(2) once per process, before main() runs. A fuzzing
 * build (NATSD_FUZZING) uses a fixed key instead, so that every run of an
 * input walks the same probe sequences. */
#ifndef NATSD_HASH_H
#define NATSD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A SipHash key: the two little-endian 64-bit halves of its 16 bytes. */
struct hash_key {
    uint64_t k0, k1;
};

/* The key of the 16 bytes at b (k0 from b[0..7], k1 from b[8..15], each
 * little-endian, as the SipHash paper reads them). */
struct hash_key hash_key_from_bytes(const uint8_t b[16]);

/* SipHash-c-d of the n bytes at p under key k (64-bit output). For tests and
 * tools: c = 2, d = 4 is the paper's SipHash-2-4. Any thread. */
uint64_t hash_siphash(const struct hash_key *k, unsigned c, unsigned d, const void *p, size_t n);

/* SipHash-1-3 of the n bytes at p under key k. Any thread. */
uint64_t hash_siphash13(const struct hash_key *k, const void *p, size_t n);

/* SipHash-1-3 of the n bytes at p under the process key: the hash of every
 * table. Any thread; its value differs from one process to the next (but
 * not in a fuzzing build). */
uint64_t hash_bytes(const void *p, size_t n);

/* The process key (tests: hash_bytes is hash_siphash13 under it). */
struct hash_key hash_process_key(void);

#endif
