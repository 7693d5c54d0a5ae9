/* SPDX-License-Identifier: Apache-2.0
 * nkeys: encoding round trip, checksum and prefix checks, ed25519 signatures
 * (RFC 8032 test vector 1), nonces. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "nkey.h"

static void unhex(const char *h, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

/* RFC 8032, 7.1, TEST 1: an empty message. */
static const char rfc_pub[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char rfc_sig[] = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb"
                              "8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static void b64url(const unsigned char *p, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = t[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

Test(nkey, encode_decode_round_trip)
{
    unsigned char key[32], back[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    char s[57];
    nkey_encode(NKEY_PREFIX_USER, key, s);
    cr_assert_eq(strlen(s), 56);
    cr_assert_eq(s[0], 'U');
    cr_assert(nkey_valid(s, NKEY_PREFIX_USER));
    cr_assert_not(nkey_valid(s, NKEY_PREFIX_ACCOUNT), "the prefix byte is checked");
    cr_assert(nkey_public_key(s, NKEY_PREFIX_USER, back));
    cr_assert_arr_eq(key, back, 32);
    s[10] = s[10] == 'A' ? 'B' : 'A';
    cr_assert_not(nkey_valid(s, NKEY_PREFIX_USER), "a changed character fails the CRC");
    cr_assert_not(nkey_valid("U1!", NKEY_PREFIX_USER));
    cr_assert_not(nkey_valid("", NKEY_PREFIX_USER));
}

Test(nkey, verifies_rfc8032_vector)
{
    unsigned char pub[32], sig[64];
    unhex(rfc_pub, pub, 32);
    unhex(rfc_sig, sig, 64);
    char nk[57], sig64[100];
    nkey_encode(NKEY_PREFIX_USER, pub, nk);
    b64url(sig, 64, sig64);
    cr_assert(nkey_verify(nk, "", 0, sig64));
    cr_assert_not(nkey_verify(nk, "x", 1, sig64), "another message");
    sig[0] ^= 1;
    b64url(sig, 64, sig64);
    cr_assert_not(nkey_verify(nk, "", 0, sig64), "a changed signature");
    cr_assert_not(nkey_verify(nk, "", 0, "not base64!"));
    cr_assert_not(nkey_verify(nk, "", 0, "AAAA"), "a short signature");
}

Test(nkey, nonces_are_15_url_safe_chars_and_differ)
{
    char a[16], b[16];
    nkey_nonce(a);
    nkey_nonce(b);
    cr_assert_eq(strlen(a), 15);
    cr_assert_str_neq(a, b);
    for (int i = 0; i < 15; i++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                         a[i]) != NULL);
}
