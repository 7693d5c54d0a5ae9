/* SPDX-License-Identifier: Apache-2.0
 * INFO lines, CONNECT decoding, server ids, JSON escapes. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"
#include "sbuf.h"

Test(proto, default_client_info_line)
{
    struct proto_info in = {
        .server_id = "NABC",
        .server_name = "NABC",
        .version = "2.9.10",
        .proto = 1,
        .go = "go1.19.8",
        .host = "127.0.0.1",
        .port = 14222,
        .headers = true,
        .max_payload = 1048576,
        .client_id = 4,
        .client_ip = "127.0.0.1",
    };
    struct sbuf b = {0};
    proto_info_line(&in, &b);
    cr_assert_str_eq(b.p, "INFO {\"server_id\":\"NABC\",\"server_name\":\"NABC\",\"version\":\"2.9."
                          "10\",\"proto\":1,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":"
                          "14222,\"headers\":true,\"max_payload\":1048576,\"client_id\":4,"
                          "\"client_ip\":\"127.0.0.1\"} \r\n");
    sbuf_free(&b);
}

Test(proto, info_optional_fields_in_order)
{
    const char *urls[] = {"127.0.0.1:4222", "127.0.0.1:4223"};
    const unsigned char payload[] = "$G";
    struct proto_info in = {.server_id = "N",
                            .server_name = "n",
                            .version = "2.9.10",
                            .go = "g",
                            .host = "h",
                            .auth_required = true,
                            .tls_required = true,
                            .cluster = "C",
                            .connect_urls = urls,
                            .n_connect_urls = 2,
                            .ldm = true,
                            .gateway = "A",
                            .gateway_cmd = 2,
                            .gateway_cmd_payload = payload,
                            .gateway_cmd_payload_len = 2};
    struct sbuf b = {0};
    proto_info_line(&in, &b);
    cr_assert_str_eq(b.p, "INFO {\"server_id\":\"N\",\"server_name\":\"n\",\"version\":\"2.9.10\","
                          "\"proto\":0,\"go\":\"g\",\"host\":\"h\",\"port\":0,\"headers\":false,"
                          "\"auth_required\":true,\"tls_required\":true,\"max_payload\":0,"
                          "\"cluster\":\"C\",\"connect_urls\":[\"127.0.0.1:4222\",\"127.0.0.1:"
                          "4223\"],\"ldm\":true,\"gateway\":\"A\",\"gateway_cmd\":2,"
                          "\"gateway_cmd_payload\":\"JEc=\"} \r\n");
    sbuf_free(&b);
}

Test(proto, go_json_escapes)
{
    struct sbuf b = {0};
    const char s[] = "a\"b\\c\n<&>\x01\xe2\x80\xa8z";
    sbuf_add_json_str(&b, s, sizeof(s) - 1);
    cr_assert_str_eq(b.p, "\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\\u2028z\"");
    sbuf_free(&b);
}

Test(proto, base64_padding)
{
    const char *in[] = {"", "f", "fo", "foo", "foob"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg=="};
    for (size_t i = 0; i < 5; i++) {
        struct sbuf b = {0};
        sbuf_adds(&b, "");
        proto_base64((const unsigned char *)in[i], strlen(in[i]), &b);
        cr_assert_str_eq(b.p, out[i]);
        sbuf_free(&b);
    }
}

Test(proto, connect_defaults_and_overlay)
{
    struct proto_connect co;
    proto_connect_defaults(&co);
    cr_assert(co.verbose && co.pedantic && co.echo);
    const char *j = "{}";
    cr_assert_eq(proto_connect_parse(j, strlen(j), &co), 0);
    cr_assert(co.verbose && co.pedantic, "an empty CONNECT keeps verbose and pedantic");
    j = "{\"VERBOSE\":false,\"pedantic\":false,\"name\":\"n1\",\"lang\":\"c\",\"protocol\":1,"
        "\"headers\":true,\"no_responders\":true,\"unknown\":[1,2],\"user\":null}";
    cr_assert_eq(proto_connect_parse(j, strlen(j), &co), 0);
    cr_assert_not(co.verbose, "keys match without case");
    cr_assert_not(co.pedantic);
    cr_assert_str_eq(co.name, "n1");
    cr_assert_str_eq(co.lang, "c");
    cr_assert_eq(co.protocol, 1);
    cr_assert(co.headers && co.no_responders);
    cr_assert_null(co.user);
    j = "{\"name\":\"n2\"}";
    cr_assert_eq(proto_connect_parse(j, strlen(j), &co), 0);
    cr_assert_str_eq(co.name, "n2");
    cr_assert_eq(co.protocol, 1, "later CONNECTs overlay earlier ones");
    proto_connect_free(&co);
}

Test(proto, connect_rejects_bad_json_and_types)
{
    struct proto_connect co;
    proto_connect_defaults(&co);
    const char *bad[] = {"",
                         "{\"verbose\":true}}",
                         "{} x",
                         "{",
                         "nope",
                         "[]",
                         "{\"verbose\":\"yes\"}",
                         "{\"protocol\":1.5}",
                         "{\"name\":5}",
                         "{\"echo\":1}",
                         "{\"protocol\":\"1\"}",
                         "{\"name\":\"ok\",\"verbose\":3}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(proto_connect_parse(bad[i], strlen(bad[i]), &co), -1, "%s", bad[i]);
    cr_assert_null(co.name, "a rejected body changes nothing");
    cr_assert_eq(proto_connect_parse("null", 4, &co), 0);
    /* a body that is not NUL-terminated in the read buffer */
    const char buf[] = "{\"name\":\"x\"}GARBAGE";
    cr_assert_eq(proto_connect_parse(buf, 12, &co), 0);
    cr_assert_str_eq(co.name, "x");
    proto_connect_free(&co);
}

Test(proto, server_id_is_an_nkey)
{
    char a[57], b[57];
    proto_server_id(a);
    proto_server_id(b);
    cr_assert_eq(strlen(a), 56);
    cr_assert_eq(a[0], 'N');
    cr_assert_str_neq(a, b);
    for (int i = 0; i < 56; i++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", a[i]) != NULL);
}

Test(proto, connect_rejects_raw_control_bytes_in_strings)
{
    struct proto_connect co;
    proto_connect_defaults(&co);
    const char bad[] = "{\"name\":\"a\x12z\"}";
    cr_assert_eq(proto_connect_parse(bad, sizeof(bad) - 1, &co), -1);
    const char key[] = "{\"no_r\x8e\x12\xb3"
                       "esponders\":true}";
    cr_assert_eq(proto_connect_parse(key, sizeof(key) - 1, &co), -1);
    const char between[] = "{\"headers\"\x11:true}";
    cr_assert_eq(proto_connect_parse(between, sizeof(between) - 1, &co), -1);
    const char ok[] = "{\"name\":\"tab\\tok \\\"q\\\" \xc3\xa9\"}";
    cr_assert_eq(proto_connect_parse(ok, sizeof(ok) - 1, &co), 0);
    cr_assert_str_eq(co.name, "tab\tok \"q\" \xc3\xa9");
    proto_connect_free(&co);
}

Test(proto, connect_protocol_out_of_range_is_a_type_error)
{
    /* found by fuzz_connect: a huge number was converted before its range
     * was checked (undefined behaviour) */
    struct proto_connect co;
    proto_connect_defaults(&co);
    const char *bad[] = {"{\"protocol\":0555555555555555555555555555555555555555555}",
                         "{\"protocol\":1e300}", "{\"protocol\":-1e300}",
                         "{\"protocol\":2147483648}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(proto_connect_parse(bad[i], strlen(bad[i]), &co), -1, "%s", bad[i]);
    const char ok[] = "{\"protocol\":2147483647}";
    cr_assert_eq(proto_connect_parse(ok, sizeof(ok) - 1, &co), 0);
    proto_connect_free(&co);
}
