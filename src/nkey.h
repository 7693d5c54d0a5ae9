/* SPDX-License-Identifier: Apache-2.0
 * NATS nkeys: the base32 public-key form (a prefix byte, 32 key bytes, a
 * CRC16) and ed25519 signature checks, as the nkeys library defines them. */
#ifndef NATSD_NKEY_H
#define NATSD_NKEY_H

#include <stdbool.h>
#include <stddef.h>

#define NKEY_PREFIX_SERVER  (13 << 3) /* 'N' */
#define NKEY_PREFIX_USER    (20 << 3) /* 'U' */
#define NKEY_PREFIX_ACCOUNT 0         /* 'A' */

/* Whether s decodes as nkeys' Decode accepts it for prefix: unpadded standard
 * base32, at least 4 bytes, a matching little-endian CRC16 at the end, the
 * prefix byte first (no length check beyond that, as Decode has none). */
bool nkey_valid(const char *s, unsigned char prefix);

/* The 32-byte ed25519 public key of a valid public nkey of exactly 56
 * characters. Returns false for anything else. */
bool nkey_public_key(const char *s, unsigned char prefix, unsigned char key[32]);

/* Encode a public key: 56 characters and a NUL. */
void nkey_encode(unsigned char prefix, const unsigned char key[32], char out[57]);

/* Whether sig (base64, URL-safe unpadded or standard, as nats-server reads a
 * CONNECT "sig") is the user nkey's ed25519 signature of msg. */
bool nkey_verify(const char *nkey, const void *msg, size_t len, const char *sig);

/* A nonce for INFO: 11 random bytes in unpadded URL-safe base64 (15 chars). */
void nkey_nonce(char out[16]);

#endif
