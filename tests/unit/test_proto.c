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

/* --- peer INFO and CONNECT decoding (routes and gateways) */

static int peer_info(const char *j, struct proto_peer_info *pi, char *err)
{
    return proto_peer_info_parse(j, strlen(j), pi, err, 256);
}

Test(proto, peer_info_route_from_reference)
{
    /* a route INFO as nats-server 2.9.10 sends it, with permissions */
    const char *j =
        "{\"server_id\":\"NCTRZRK6\",\"server_name\":\"R1\",\"version\":\"2.9.10\",\"proto\":2,"
        "\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":56199,\"headers\":true,"
        "\"max_payload\":1048576,\"nonce\":\"U_QpSJIvz6RO9E0\",\"cluster\":\"C1\","
        "\"connect_urls\":[\"192.0.2.2:34803\",\"[fd00::2]:34803\"],"
        "\"import\":{\"allow\":[\"foo.\\u003e\",\"bar\"],\"deny\":[\"foo.secret\"]},"
        "\"export\":{\"allow\":[\"baz.*\"]},\"lnoc\":true}";
    struct proto_peer_info pi;
    char err[256];
    cr_assert_eq(peer_info(j, &pi, err), 0, "%s", err);
    cr_assert_str_eq(pi.server_id, "NCTRZRK6");
    cr_assert_str_eq(pi.server_name, "R1");
    cr_assert_eq(pi.proto, 2);
    cr_assert_eq(pi.port, 56199);
    cr_assert(pi.headers && pi.lnoc && !pi.ldm && !pi.auth_required);
    cr_assert_eq(pi.max_payload, 1048576);
    cr_assert_str_eq(pi.cluster, "C1");
    cr_assert_str_eq(pi.ip, "");
    cr_assert_not(pi.has_ip);
    cr_assert_str_eq(pi.gateway, "", "absent strings are empty");
    cr_assert_not(pi.has_gateway);
    cr_assert(pi.has_server_id && pi.has_connect_urls);
    cr_assert_eq(pi.n_connect_urls, 2);
    cr_assert_str_eq(pi.connect_urls[1], "[fd00::2]:34803");
    cr_assert_not_null(pi.perm_import);
    cr_assert_eq(pi.perm_import->n_allow, 2);
    cr_assert_str_eq(pi.perm_import->allow[0], "foo.>");
    cr_assert_eq(pi.perm_import->n_deny, 1);
    cr_assert_not_null(pi.perm_export);
    cr_assert_eq(pi.perm_export->n_allow, 1);
    cr_assert_eq(pi.perm_export->n_deny, 0);

    /* forwarded as nats-server re-encodes it: no space before CRLF */
    free(pi.nonce);
    pi.nonce = strdup("");
    struct sbuf b = {0};
    proto_peer_info_line(&pi, &b);
    cr_assert_str_eq(
        b.p, "INFO {\"server_id\":\"NCTRZRK6\",\"server_name\":\"R1\",\"version\":\"2.9.10\","
             "\"proto\":2,\"go\":\"go1.19.8\",\"host\":\"127.0.0.1\",\"port\":56199,\"headers\":"
             "true,\"max_payload\":1048576,\"cluster\":\"C1\",\"connect_urls\":[\"192.0.2.2:"
             "34803\",\"[fd00::2]:34803\"],\"import\":{\"allow\":[\"foo.\\u003e\",\"bar\"],"
             "\"deny\":[\"foo.secret\"]},\"export\":{\"allow\":[\"baz.*\"]},\"lnoc\":true}\r\n");
    sbuf_free(&b);
    proto_peer_info_free(&pi);
    cr_assert_null(pi.server_id);
    proto_peer_info_free(&pi); /* twice is fine */
}

Test(proto, peer_info_gateway_fields)
{
    const char *j = "{\"server_id\":\"N1\",\"gateway\":\"A\",\"gateway_urls\":[\"127.0.0.1:1\","
                    "\"127.0.0.1:2\"],\"gateway_url\":\"127.0.0.1:1\",\"gateway_cmd\":2,"
                    "\"gateway_cmd_payload\":\"JFNZUw==\",\"gateway_nrp\":true,"
                    "\"gateway_iom\":true,\"ldm\":true,\"cluster_dynamic\":true,"
                    "\"auth_required\":true,\"tls_required\":true,\"tls_verify\":true,"
                    "\"ip\":\"nats-route://127.0.0.1:5/\",\"client_id\":7,\"jetstream\":false,"
                    "\"leafnode_urls\":[\"x\"],\"domain\":\"d\",\"unknown\":{\"a\":[1]}}";
    struct proto_peer_info pi;
    char err[256];
    cr_assert_eq(peer_info(j, &pi, err), 0, "%s", err);
    cr_assert(pi.has_gateway && pi.has_gateway_urls && pi.has_gateway_url);
    cr_assert_str_eq(pi.gateway, "A");
    cr_assert_eq(pi.n_gateway_urls, 2);
    cr_assert_str_eq(pi.gateway_urls[1], "127.0.0.1:2");
    cr_assert_eq(pi.gateway_cmd, 2);
    cr_assert(pi.has_gateway_cmd_payload);
    cr_assert_eq(pi.gateway_cmd_payload_len, 4);
    cr_assert_str_eq((const char *)pi.gateway_cmd_payload, "$SYS");
    cr_assert(pi.gateway_nrp && pi.gateway_iom && pi.ldm && pi.cluster_dynamic);
    cr_assert(pi.auth_required && pi.tls_required && pi.tls_verify);
    cr_assert(pi.has_ip);
    cr_assert_str_eq(pi.ip, "nats-route://127.0.0.1:5/");
    cr_assert_null(pi.connect_urls);
    cr_assert_null(pi.perm_import);
    proto_peer_info_free(&pi);
}

Test(proto, peer_info_keys_without_case_and_null)
{
    const char *j = "{\"SERVER_ID\":\"N1\",\"Gateway\":\"G\",\"connect_urls\":[\"a\",null],"
                    "\"port\":null,\"import\":{\"Allow\":[\"x\"]},\"import\":{\"deny\":[\"y\"]},"
                    "\"export\":{\"allow\":[\"z\"]},\"export\":null,\"server_name\":null}";
    struct proto_peer_info pi;
    char err[256];
    cr_assert_eq(peer_info(j, &pi, err), 0, "%s", err);
    cr_assert_str_eq(pi.server_id, "N1");
    cr_assert_str_eq(pi.gateway, "G");
    cr_assert_eq(pi.n_connect_urls, 2);
    cr_assert_str_eq(pi.connect_urls[1], "", "a null element is an empty string");
    cr_assert_eq(pi.port, 0);
    cr_assert_str_eq(pi.server_name, "");
    /* a repeated object decodes into the same record; null drops it */
    cr_assert_eq(pi.perm_import->n_allow, 1);
    cr_assert_eq(pi.perm_import->n_deny, 1);
    cr_assert_null(pi.perm_export);
    proto_peer_info_free(&pi);
    cr_assert_eq(peer_info("null", &pi, err), 0);
    cr_assert_str_eq(pi.server_id, "");
    proto_peer_info_free(&pi);
}

Test(proto, peer_info_type_errors_as_go_words_them)
{
    static const struct {
        const char *json;
        const char *err;
    } cases[] = {
        {"{\"port\":\"x\"}",
         "json: cannot unmarshal string into Go struct field Info.port of type int"},
        {"{\"port\":1.5}",
         "json: cannot unmarshal number 1.5 into Go struct field Info.port of type int"},
        {"{\"server_id\":5}",
         "json: cannot unmarshal number into Go struct field Info.server_id of type string"},
        {"{\"headers\":\"true\"}",
         "json: cannot unmarshal string into Go struct field Info.headers of type bool"},
        {"{\"gateway_cmd\":300}",
         "json: cannot unmarshal number 300 into Go struct field Info.gateway_cmd of type uint8"},
        {"{\"max_payload\":3000000000}", "json: cannot unmarshal number 3000000000 into Go struct "
                                         "field Info.max_payload of type int32"},
        /* far out of every integer range (found by fuzz_peer: the literal
         * used to be converted to long long first, which is undefined) */
        {"{\"max_payload\":10485e76}", "json: cannot unmarshal number 1.0485e+80 into Go struct "
                                       "field Info.max_payload of type int32"},
        {"{\"port\":-1e300}",
         "json: cannot unmarshal number -1e+300 into Go struct field Info.port of type int"},
        {"{\"client_id\":-1}",
         "json: cannot unmarshal number -1 into Go struct field Info.client_id of type uint64"},
        {"{\"connect_urls\":\"x\"}",
         "json: cannot unmarshal string into Go struct field Info.connect_urls of type []string"},
        {"{\"connect_urls\":[\"a\",1]}",
         "json: cannot unmarshal number into Go struct field Info.connect_urls of type string"},
        {"{\"import\":5}", "json: cannot unmarshal number into Go struct field Info.import of type "
                           "server.SubjectPermission"},
        {"{\"import\":{\"allow\":5}}", "json: cannot unmarshal number into Go struct field "
                                       "SubjectPermission.import.allow of type []string"},
        {"{\"export\":{\"allow\":[\"a\"],\"deny\":[true]}}",
         "json: cannot unmarshal bool into Go struct field SubjectPermission.export.deny of type "
         "string"},
        {"{\"gateway_cmd_payload\":5}", "json: cannot unmarshal number into Go struct field "
                                        "Info.gateway_cmd_payload of type []uint8"},
        {"{\"gateway_cmd_payload\":\"$G\"}", "illegal base64 data at input byte 0"},
        {"{\"gateway_cmd_payload\":\"@@\"}", "illegal base64 data at input byte 0"},
        {"{\"gateway_cmd_payload\":\"JEc\"}", "illegal base64 data at input byte 0"},
        {"{\"gateway_cmd_payload\":\"JE=c\"}", "illegal base64 data at input byte 2"},
        {"{\"gateway_cmd_payload\":\"J===\"}", "illegal base64 data at input byte 1"},
        {"{\"gateway_cmd_payload\":\"JEc=x\"}", "illegal base64 data at input byte 4"},
        {"[1]", "json: cannot unmarshal array into Go value of type server.Info"},
        {"{\"server_id\":\"N\"} x", "invalid character 'x' after top-level value"},
        {"{\"server_id\":", "unexpected end of JSON input"},
        {"", "unexpected end of JSON input"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proto_peer_info pi;
        char err[256] = "";
        cr_assert_eq(peer_info(cases[i].json, &pi, err), -1, "%s", cases[i].json);
        cr_assert_str_eq(err, cases[i].err, "%s", cases[i].json);
        cr_assert_null(pi.server_id, "a failed decode leaves nothing to free");
        cr_assert_null(pi.connect_urls);
    }
    /* other syntax errors: refused with natsd's own words */
    const char *bad[] = {"{\"server_id\":\"N\",}", "{", "nope", "{\"a\"\x01:1}",
                         "{\"server_id\":\"a\x02\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_peer_info pi;
        char err[256] = "";
        cr_assert_eq(peer_info(bad[i], &pi, err), -1, "%s", bad[i]);
        cr_assert_neq(err[0], '\0');
    }
}

Test(proto, peer_info_gateway_cmd_payload_edge_cases)
{
    struct proto_peer_info pi;
    char err[256];
    cr_assert_eq(peer_info("{\"gateway_cmd_payload\":\"\"}", &pi, err), 0);
    cr_assert(pi.has_gateway_cmd_payload);
    cr_assert_eq(pi.gateway_cmd_payload_len, 0);
    proto_peer_info_free(&pi);
    /* Go skips CR and LF inside base64 */
    cr_assert_eq(peer_info("{\"gateway_cmd_payload\":\"JE\\r\\nc=\"}", &pi, err), 0, "%s", err);
    cr_assert_eq(pi.gateway_cmd_payload_len, 2);
    cr_assert_eq(memcmp(pi.gateway_cmd_payload, "$G", 2), 0);
    proto_peer_info_free(&pi);
    /* a body that is not NUL-terminated in the read buffer */
    const char buf[] = "{\"gateway\":\"A\"}GARBAGE";
    cr_assert_eq(proto_peer_info_parse(buf, 15, &pi, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(pi.gateway, "A");
    proto_peer_info_free(&pi);
}

static int peer_connect(const char *j, struct proto_peer_connect *pc, char *err)
{
    return proto_peer_connect_parse(j, strlen(j), pc, err, 256);
}

Test(proto, peer_connect_route_and_gateway)
{
    struct proto_peer_connect pc;
    char err[256];
    const char *route = "{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"u\","
                        "\"pass\":\"p\",\"tls_required\":false,\"headers\":true,\"name\":\"NID\","
                        "\"cluster\":\"C1\",\"cluster_dynamic\":true,\"lnoc\":true}";
    cr_assert_eq(peer_connect(route, &pc, err), 0, "%s", err);
    cr_assert(pc.echo && !pc.verbose && pc.headers && pc.cluster_dynamic && pc.lnoc);
    cr_assert_str_eq(pc.user, "u");
    cr_assert_str_eq(pc.pass, "p");
    cr_assert_str_eq(pc.name, "NID");
    cr_assert_str_eq(pc.cluster, "C1");
    cr_assert_str_eq(pc.gateway, "");
    cr_assert_str_eq(pc.lang, "");
    cr_assert_str_eq(pc.account, "");
    cr_assert_not(pc.has_account || pc.new_account);
    proto_peer_connect_free(&pc);

    const char *gw = "{\"echo\":false,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
                     "\"headers\":false,\"name\":\"NG\",\"cluster\":\"\",\"gateway\":\"A\","
                     "\"account\":\"\",\"new_account\":true,\"lang\":\"go\",\"protocol\":1}";
    cr_assert_eq(peer_connect(gw, &pc, err), 0, "%s", err);
    cr_assert_str_eq(pc.gateway, "A");
    cr_assert_str_eq(pc.lang, "go");
    cr_assert(pc.has_account && pc.new_account);
    cr_assert_eq(pc.protocol, 1);
    proto_peer_connect_free(&pc);
}

Test(proto, peer_connect_type_errors_name_the_go_struct)
{
    static const struct {
        const char *json;
        const char *err;
    } cases[] = {
        {"{\"cluster\":5,\"name\":\"X\"}",
         "json: cannot unmarshal number into Go struct field connectInfo.cluster of type string"},
        {"{\"user\":5}",
         "json: cannot unmarshal number into Go struct field ClientOpts.user of type string"},
        {"{\"protocol\":\"1\"}",
         "json: cannot unmarshal string into Go struct field ClientOpts.protocol of type int"},
        {"{\"account\":5}",
         "json: cannot unmarshal number into Go struct field ClientOpts.account of type string"},
        {"{\"import\":\"x\"}", "json: cannot unmarshal string into Go struct field "
                               "ClientOpts.import of type server.SubjectPermission"},
        {"{\"gateway\":true}",
         "json: cannot unmarshal bool into Go struct field connectInfo.gateway of type string"},
        {"{\"cluster_dynamic\":1}", "json: cannot unmarshal number into Go struct field "
                                    "connectInfo.cluster_dynamic of type bool"},
        {"{\"auth_token\":1,\"cluster\":1}",
         "json: cannot unmarshal number into Go struct field ClientOpts.auth_token of type string"},
        {"[]", "json: cannot unmarshal array into Go value of type server.ClientOpts"},
        {"{", "unexpected end of JSON input"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proto_peer_connect pc;
        char err[256] = "";
        bool second = strstr(cases[i].err, "connectInfo.") != NULL;
        cr_assert_eq(peer_connect(cases[i].json, &pc, err), second ? -2 : -1, "%s", cases[i].json);
        cr_assert_str_eq(err, cases[i].err, "%s", cases[i].json);
        if (second)
            cr_assert_not_null(pc.user, "a connectInfo error leaves the client options");
        else
            cr_assert_null(pc.user);
        proto_peer_connect_free(&pc);
    }
    /* what comes before the route record's error is there to check */
    struct proto_peer_connect pc;
    char err[256];
    const char *j = "{\"user\":\"u\",\"pass\":\"p\",\"lang\":\"go\",\"cluster\":1}";
    cr_assert_eq(peer_connect(j, &pc, err), -2);
    cr_assert_str_eq(pc.user, "u");
    cr_assert_str_eq(pc.pass, "p");
    cr_assert_str_eq(pc.lang, "go");
    cr_assert_str_eq(pc.cluster, "");
    proto_peer_connect_free(&pc);
}
