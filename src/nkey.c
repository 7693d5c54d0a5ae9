/* SPDX-License-Identifier: Apache-2.0
 * nkeys: base32 with CRC16, and ed25519 verification through OpenSSL. */
#include "nkey.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "common.h"
#include "mem.h"

/* CRC-16/XMODEM, the checksum nkeys carry in their last two bytes. */
static uint16_t nkey_crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* Decode s into raw (room for strlen(s) bytes); returns the byte count, or 0
 * when it is not a well-formed nkey for prefix. */
static size_t nkey_decode(const char *s, unsigned char prefix, unsigned char *raw)
{
    size_t out = 0, chars = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = s; *p; p++) {
        int v;
        if (*p == '\r' || *p == '\n')
            continue; /* Go's base32 decoder skips line breaks */
        if (*p >= 'A' && *p <= 'Z')
            v = *p - 'A';
        else if (*p >= '2' && *p <= '7')
            v = *p - '2' + 26;
        else
            return 0;
        chars++;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            raw[out++] = (unsigned char)(acc >> bits);
        }
    }
    /* a last quantum of 1, 3 or 6 characters is corrupt input for Go */
    if (chars % 8 == 1 || chars % 8 == 3 || chars % 8 == 6 || out < 4)
        return 0;
    uint16_t crc = (uint16_t)(raw[out - 2] | (raw[out - 1] << 8));
    if (nkey_crc16(raw, out - 2) != crc || raw[0] != prefix)
        return 0;
    return out;
}

bool nkey_valid(const char *s, unsigned char prefix)
{
    unsigned char *raw = xmalloc(strlen(s) + 1);
    bool ok = nkey_decode(s, prefix, raw) > 0;
    free(raw);
    return ok;
}

bool nkey_public_key(const char *s, unsigned char prefix, unsigned char key[32])
{
    unsigned char raw[64];
    if (strlen(s) != 56 || nkey_decode(s, prefix, raw) != 35)
        return false;
    memcpy(key, raw + 1, 32);
    return true;
}

void nkey_encode(unsigned char prefix, const unsigned char key[32], char out[57])
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char raw[35];
    raw[0] = prefix;
    memcpy(raw + 1, key, 32);
    uint16_t crc = nkey_crc16(raw, 33);
    raw[33] = (unsigned char)(crc & 0xff);
    raw[34] = (unsigned char)(crc >> 8);
    /* 35 bytes are 280 bits: exactly 56 base32 characters, no padding */
    size_t o = 0;
    for (size_t i = 0; i < 35; i += 5) {
        uint64_t v = 0;
        for (size_t k = 0; k < 5; k++)
            v = v << 8 | raw[i + k];
        for (int k = 7; k >= 0; k--)
            out[o++] = b32[(v >> (5 * k)) & 31];
    }
    out[56] = '\0';
}

/* Base64 of either alphabet, with or without padding, into out (cap bytes).
 * Returns the length, or -1. */
static long nkey_b64_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = s; *p && *p != '='; p++) {
        int v;
        if (*p >= 'A' && *p <= 'Z')
            v = *p - 'A';
        else if (*p >= 'a' && *p <= 'z')
            v = *p - 'a' + 26;
        else if (*p >= '0' && *p <= '9')
            v = *p - '0' + 52;
        else if (*p == '-' || *p == '+')
            v = 62;
        else if (*p == '_' || *p == '/')
            v = 63;
        else
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)n;
}

bool nkey_verify(const char *nkey, const void *msg, size_t len, const char *sig)
{
    unsigned char key[32], sigbin[64];
    if (!nkey_public_key(nkey, NKEY_PREFIX_USER, key))
        return false;
    if (nkey_b64_decode(sig, sigbin, sizeof(sigbin)) != 64)
        return false;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, sizeof(key));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, sigbin, sizeof(sigbin), msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

void nkey_nonce(char out[16])
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[12] = {0};
    size_t got = 0;
    while (got < 11) {
        ssize_t n = getrandom(r + got, 11 - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    /* 11 bytes are 88 bits: 14 full characters and one of 4 bits */
    size_t o = 0;
    for (size_t i = 0; i < 12; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        for (int k = 3; k >= 0 && o < 15; k--)
            out[o++] = tbl[(v >> (6 * k)) & 63];
    }
    out[15] = '\0';
}
