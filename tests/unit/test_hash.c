/* SPDX-License-Identifier: Apache-2.0
 * The keyed hash of every table: SipHash against the reference vectors, and
 * the process key that makes the tables' layout unpredictable. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

/* SipHash-2-4, key 00 01 .. 0f, message 00 01 .. (n-1) for n = 0..63: the
 * reference implementation's 64-bit vectors; n = 15 is the worked example of
 * the SipHash paper's appendix A. */
static const uint64_t sip24_vectors[64] = {
    0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
    0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
    0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
    0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
    0x3f2acc7f57c29bdbull, 0x699ae9f52cbe4794ull, 0x4bc1b3f0968dd39cull, 0xbb6dc91da77961bdull,
    0xbed65cf21aa2ee98ull, 0xd0f2cbb02e3b67c7ull, 0x93536795e3a33e88ull, 0xa80c038ccd5ccec8ull,
    0xb8ad50c6f649af94ull, 0xbce192de8a85b8eaull, 0x17d835b85bbb15f3ull, 0x2f2e6163076bcfadull,
    0xde4daaaca71dc9a5ull, 0xa6a2506687956571ull, 0xad87a3535c49ef28ull, 0x32d892fad841c342ull,
    0x7127512f72f27cceull, 0xa7f32346f95978e3ull, 0x12e0b01abb051238ull, 0x15e034d40fa197aeull,
    0x314dffbe0815a3b4ull, 0x027990f029623981ull, 0xcadcd4e59ef40c4dull, 0x9abfd8766a33735cull,
    0x0e3ea96b5304a7d0ull, 0xad0c42d6fc585992ull, 0x187306c89bc215a9ull, 0xd4a60abcf3792b95ull,
    0xf935451de4f21df2ull, 0xa9538f0419755787ull, 0xdb9acddff56ca510ull, 0xd06c98cd5c0975ebull,
    0xe612a3cb9ecba951ull, 0xc766e62cfcadaf96ull, 0xee64435a9752fe72ull, 0xa192d576b245165aull,
    0x0a8787bf8ecb74b2ull, 0x81b3e73d20b49b6full, 0x7fa8220ba3b2eceaull, 0x245731c13ca42499ull,
    0xb78dbfaf3a8d83bdull, 0xea1ad565322a1a0bull, 0x60e61c23a3795013ull, 0x6606d7e446282b93ull,
    0x6ca4ecb15c5f91e1ull, 0x9f626da15c9625f3ull, 0xe51b38608ef25f57ull, 0x958a324ceb064572ull,
};

/* SipHash-1-3, all-zero key, message 00 01 .. (n-1): the reference
 * implementation built with cROUNDS 1 and dROUNDS 3. */
static const uint64_t sip13_zero_key[] = {
    0xd1fba762150c532cull, 0x68a914128e01e473ull, 0x010bac45c41e3669ull, 0x4d4c9a4a8ef6e0adull,
    0x7cc43f98813e4dbdull, 0x5abe2169dff36275ull, 0xe3c25f87624f1cdbull, 0x2f098ab0c751325aull,
    0xead411e67ebe2eeaull, 0x75927f9d95124362ull, 0xaf9f77a65ab51a1dull, 0xfe64ce8b6617fcffull,
    0xa6baf4fb0f9fe1c2ull, 0xa0cf3211850f8e0dull, 0x7f86049379fbfe67ull, 0xf30eb725bb91c9eaull,
    0x8972188433a5c5b7ull, 0x4883c49a2c009c1dull, 0xadc2c0b63044067dull,
};

static struct hash_key seq_key(void)
{
    uint8_t b[16];
    for (int i = 0; i < 16; i++)
        b[i] = (uint8_t)i;
    return hash_key_from_bytes(b);
}

Test(hash, siphash24_reference_vectors)
{
    struct hash_key k = seq_key();
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (size_t n = 0; n < 64; n++)
        cr_assert_eq(hash_siphash(&k, 2, 4, msg, n), sip24_vectors[n], "SipHash-2-4, %zu bytes", n);
}

Test(hash, siphash13_reference_vectors)
{
    struct hash_key zero = {0, 0};
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (size_t n = 0; n < sizeof(sip13_zero_key) / sizeof(sip13_zero_key[0]); n++) {
        cr_assert_eq(hash_siphash13(&zero, msg, n), sip13_zero_key[n], "SipHash-1-3, %zu bytes", n);
        cr_assert_eq(hash_siphash(&zero, 1, 3, msg, n), sip13_zero_key[n]);
    }
}

Test(hash, key_bytes_are_little_endian)
{
    struct hash_key k = seq_key();
    cr_assert_eq(k.k0, 0x0706050403020100ull);
    cr_assert_eq(k.k1, 0x0f0e0d0c0b0a0908ull);
}

/* The same bytes hash differently under different keys: whoever does not
 * know the key cannot tell which keys will share a slot. */
Test(hash, depends_on_the_key)
{
    struct hash_key a = seq_key(), b = a, c = a;
    b.k0 ^= 1;
    c.k1 ^= 1ull << 63;
    char buf[32];
    int same_ab = 0, same_ac = 0, low_ab = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof(buf), "foo.bar.%d", i);
        uint64_t ha = hash_siphash13(&a, buf, (size_t)n);
        uint64_t hb = hash_siphash13(&b, buf, (size_t)n);
        uint64_t hc = hash_siphash13(&c, buf, (size_t)n);
        same_ab += ha == hb;
        same_ac += ha == hc;
        low_ab += (ha & 0xffff) == (hb & 0xffff);
    }
    cr_assert_eq(same_ab, 0);
    cr_assert_eq(same_ac, 0);
    /* the low 16 bits (what a table uses) agree about 1000 / 65536 times */
    cr_assert_lt(low_ab, 10);
}

/* hash_bytes is SipHash-1-3 under the process key, which getrandom filled:
 * neither all zero nor the fixed key of fuzzing builds. */
Test(hash, process_key_is_random)
{
    struct hash_key k = hash_process_key();
    cr_assert(k.k0 != 0 || k.k1 != 0);
    static const uint8_t fuzz[16] = {0x6e, 0x61, 0x74, 0x73, 0x64, 0x2d, 0x66, 0x75,
                                     0x7a, 0x7a, 0x2d, 0x6b, 0x65, 0x79, 0x30, 0x31};
    struct hash_key f = hash_key_from_bytes(fuzz);
    cr_assert(k.k0 != f.k0 || k.k1 != f.k1);
    const char *s = "_INBOX.abcdef.1";
    cr_assert_eq(hash_bytes(s, strlen(s)), hash_siphash13(&k, s, strlen(s)));
    cr_assert_eq(hash_bytes("", 0), hash_siphash13(&k, "", 0));
}
