/* SPDX-License-Identifier: Apache-2.0
 * Gateway helpers that need no server: the routed-reply hashes, the reply
 * prefix stripping, and the base64 account payload of INFO commands. */
#include <criterion/criterion.h>
#include <string.h>

#include "gateway.h"
#include "gateway_int.h"
#include "proto.h"
#include "sbuf.h"

struct hash_vec {
    const char *in, *h6, *old;
};

/* nats-server 2.9.10's values, seen on the wire */
static const struct hash_vec vecs[] = {
    {"A", "NUmM6c", "559a"},
    {"B", "b2oh2L", "df7e"},
    {"C", "jZ6RvV", "6b23"},
    {"X", "Dglu96", "4b68"},
    {"NDVKFNPLJ64T37XR3H7FZH2K2RYITGFFU5RATOEISCVSEIERYKNIPXRA", "3o55vG", NULL},
};

Test(gateway, hash_vectors)
{
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        char h6[7], old[5];
        gateway_hash6(vecs[i].in, strlen(vecs[i].in), h6);
        cr_assert_str_eq(h6, vecs[i].h6, "%s", vecs[i].in);
        if (vecs[i].old) {
            gw_oldhash(vecs[i].in, strlen(vecs[i].in), old);
            cr_assert_str_eq(old, vecs[i].old, "%s", vecs[i].in);
        }
    }
}

Test(gateway, strip_reply)
{
    const char *p;
    size_t n;
    const char *r = "_GR_.NUmM6c.3o55vG.myrep2";
    cr_assert(gateway_strip_reply(r, strlen(r), &p, &n));
    cr_assert_eq(n, 6);
    cr_assert(memcmp(p, "myrep2", 6) == 0);
    r = "$GR.559a.myrep";
    cr_assert(gateway_strip_reply(r, strlen(r), &p, &n));
    cr_assert_eq(n, 5);
    cr_assert(memcmp(p, "myrep", 5) == 0);
    /* exactly the prefix, or shorter: not routed */
    r = "_GR_.NUmM6c.3o55vG.";
    cr_assert_not(gateway_strip_reply(r, strlen(r), &p, &n));
    r = "_INBOX.abc";
    cr_assert_not(gateway_strip_reply(r, strlen(r), &p, &n));
}

Test(gateway, base64_account_payloads)
{
    static const char *const acc[] = {"$G", "$SYS", "ACC1"};
    static const char *const b64[] = {"JEc=", "JFNZUw==", "QUNDMQ=="};
    for (size_t i = 0; i < 3; i++) {
        struct sbuf b = {0};
        proto_base64((const unsigned char *)acc[i], strlen(acc[i]), &b);
        sbuf_addc(&b, '\0');
        cr_assert_str_eq(b.p, b64[i]);
        sbuf_reset(&b);
        cr_assert_eq(proto_base64_decode(b64[i], strlen(b64[i]), &b), 0);
        cr_assert_eq(b.len, strlen(acc[i]));
        cr_assert(memcmp(b.p, acc[i], b.len) == 0);
        sbuf_free(&b);
    }
    static const char *const bad[] = {"JEc", "J=c=", "JE*=", "JEc=JEc", "====", "QUNDMQ=x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sbuf b = {0};
        cr_assert_eq(proto_base64_decode(bad[i], strlen(bad[i]), &b), -1, "%s", bad[i]);
        sbuf_free(&b);
    }
}
