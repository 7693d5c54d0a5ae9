/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of conf.c and conf_lex.c: every syntax and scalar form, the
 * lexer quirks of nats-server 2.9.10, variables, includes, error messages and
 * positions (each checked against `nats-server -t`), and hostile input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"

/* ---- helpers ---- */

static struct conf_doc *conf_t_ok(const char *text)
{
    struct conf_doc *doc = NULL;
    struct conf_error err;
    int rc = conf_parse_string(text, strlen(text), "t.conf", &doc, &err);
    cr_assert_eq(rc, 0, "parse of <%s> failed: %d:%d: %s", text, err.line, err.col, err.msg);
    cr_assert_not_null(doc);
    cr_assert_eq(conf_root(doc)->type, CONF_MAP);
    return doc;
}

static void conf_t_err(const char *text, struct conf_error *err)
{
    struct conf_doc *doc = (struct conf_doc *)1;
    int rc = conf_parse_string(text, strlen(text), "t.conf", &doc, err);
    cr_assert_eq(rc, -1, "parse of <%s> should fail", text);
    cr_assert_null(doc);
    cr_assert_neq(err->msg[0], '\0');
}

/* Expect an error with exactly this message at this line and col. */
static void conf_t_err_is(const char *text, const char *msg, int line, int col)
{
    struct conf_error err;
    conf_t_err(text, &err);
    cr_assert_str_eq(err.msg, msg, "for <%s>", text);
    cr_assert_eq(err.line, line, "line %d for <%s>", err.line, text);
    cr_assert_eq(err.col, col, "col %d for <%s>", err.col, text);
    cr_assert_str_eq(err.file, "t.conf");
}

static const struct conf_value *conf_t_get(const struct conf_doc *doc, const char *key)
{
    const struct conf_value *v = conf_map_get(conf_root(doc), key);
    cr_assert_not_null(v, "key %s missing", key);
    return v;
}

static int64_t conf_t_int(const char *text)
{
    struct conf_doc *doc = conf_t_ok(text);
    const struct conf_value *v = conf_t_get(doc, "a");
    cr_assert_eq(v->type, CONF_INT, "<%s> is a %s", text, conf_type_name(v->type));
    int64_t i = v->u.i;
    conf_free(doc);
    return i;
}

static void conf_t_str(const char *text, const char *want)
{
    struct conf_doc *doc = conf_t_ok(text);
    const struct conf_value *v = conf_t_get(doc, "a");
    cr_assert_eq(v->type, CONF_STRING, "<%s> is a %s", text, conf_type_name(v->type));
    cr_assert_eq(v->u.s.len, strlen(want), "<%s>: len %zu", text, v->u.s.len);
    cr_assert_str_eq(v->u.s.p, want, "for <%s>", text);
    conf_free(doc);
}

static const struct conf_kv *conf_t_kv(const struct conf_value *m, const char *key)
{
    for (size_t i = 0; i < m->u.map.n; i++) {
        if (strcmp(m->u.map.kv[i].key, key) == 0)
            return &m->u.map.kv[i];
    }
    cr_assert_fail("key %s missing", key);
    return NULL;
}

/* A scratch directory for include tests. */
static char conf_t_dir[64];

static void conf_t_mkdir(void)
{
    snprintf(conf_t_dir, sizeof(conf_t_dir), "/tmp/natsd_conf_XXXXXX");
    cr_assert_not_null(mkdtemp(conf_t_dir));
}

static void conf_t_write(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", conf_t_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    fputs(text, f);
    fclose(f);
}

static void conf_t_rmdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", conf_t_dir);
    cr_assert_eq(system(cmd), 0);
}

static int conf_t_parse_in_dir(const char *name, struct conf_doc **doc, struct conf_error *err)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", conf_t_dir, name);
    return conf_parse_file(path, doc, err);
}

/* ---- syntax ---- */

Test(conf, separators)
{
    struct conf_doc *doc = conf_t_ok("a = 1\nb: 2\nc 3\nd=4\ne:5\n\"f\" = 6\n'g': 7\nh\t8\n");
    const char *keys[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (size_t i = 0; i < 8; i++) {
        const struct conf_value *v = conf_t_get(doc, keys[i]);
        cr_assert_eq(v->type, CONF_INT);
        cr_assert_eq(v->u.i, (int64_t)i + 1);
    }
    cr_assert_eq(conf_root(doc)->u.map.n, 8);
    conf_free(doc);
}

Test(conf, comments)
{
    struct conf_doc *doc = conf_t_ok("# top\n// also\na: 1 # after\nb: 2 // after\n"
                                     "c: [1, # in array\n 2 ]\nd { # in map\n x: 1 // c\n}\n"
                                     "e: foo#bar\nf: x//y\n");
    cr_assert_eq(conf_t_get(doc, "a")->u.i, 1);
    cr_assert_eq(conf_t_get(doc, "b")->u.i, 2);
    cr_assert_eq(conf_t_get(doc, "c")->u.arr.n, 2);
    cr_assert_eq(conf_t_get(doc, "c")->u.arr.v[1]->u.i, 2);
    cr_assert_eq(conf_map_get(conf_t_get(doc, "d"), "x")->u.i, 1);
    /* '#' and "//" inside a bare word are text */
    cr_assert_str_eq(conf_t_get(doc, "e")->u.s.p, "foo#bar");
    cr_assert_str_eq(conf_t_get(doc, "f")->u.s.p, "x//y");
    cr_assert_eq(conf_root(doc)->u.map.n, 6);
    conf_free(doc);
}

Test(conf, top_level_terminators_and_outer_brace)
{
    struct conf_doc *doc = conf_t_ok("a: 1; b: 2, c: 3\n");
    cr_assert_eq(conf_t_get(doc, "c")->u.i, 3);
    conf_free(doc);
    doc = conf_t_ok("{ port: 4222 }\n");
    cr_assert_eq(conf_t_get(doc, "port")->u.i, 4222);
    cr_assert_eq(conf_root(doc)->u.map.n, 1);
    conf_free(doc);
    doc = conf_t_ok("");
    cr_assert_eq(conf_root(doc)->u.map.n, 0);
    conf_free(doc);
    doc = conf_t_ok("  \n\t\r\n# only a comment");
    cr_assert_eq(conf_root(doc)->u.map.n, 0);
    conf_free(doc);
}

Test(conf, maps)
{
    struct conf_doc *doc =
        conf_t_ok("m { a: 1, b: 2; c: 3\n d { e { f: deep } } }\nn = {}\no: {x=1}\n");
    const struct conf_value *m = conf_t_get(doc, "m");
    cr_assert_eq(m->type, CONF_MAP);
    cr_assert_eq(m->u.map.n, 4);
    cr_assert_str_eq(m->u.map.kv[0].key, "a");
    cr_assert_str_eq(m->u.map.kv[3].key, "d");
    const struct conf_value *f = conf_map_get(conf_map_get(conf_map_get(m, "d"), "e"), "f");
    cr_assert_str_eq(f->u.s.p, "deep");
    cr_assert_eq(conf_t_get(doc, "n")->u.map.n, 0);
    cr_assert_eq(conf_map_get(conf_t_get(doc, "o"), "x")->u.i, 1);
    conf_free(doc);
}

Test(conf, arrays)
{
    struct conf_doc *doc = conf_t_ok(
        "a: [1, two, \"three\", 4.5, true, [6 ], {seven: 7}]\nb: [x,y,]\nc: [\n  p\n  q\n]\n"
        "d: []\ne: [ 1 ]\n");
    const struct conf_value *a = conf_t_get(doc, "a");
    cr_assert_eq(a->type, CONF_ARRAY);
    cr_assert_eq(a->u.arr.n, 7);
    cr_assert_eq(a->u.arr.v[0]->u.i, 1);
    cr_assert_str_eq(a->u.arr.v[1]->u.s.p, "two");
    cr_assert_str_eq(a->u.arr.v[2]->u.s.p, "three");
    cr_assert_float_eq(a->u.arr.v[3]->u.f, 4.5, 1e-12);
    cr_assert_eq(a->u.arr.v[4]->u.b, true);
    cr_assert_eq(a->u.arr.v[5]->type, CONF_ARRAY);
    cr_assert_eq(conf_map_get(a->u.arr.v[6], "seven")->u.i, 7);
    cr_assert_eq(conf_t_get(doc, "b")->u.arr.n, 2); /* trailing comma */
    cr_assert_eq(conf_t_get(doc, "c")->u.arr.n, 2); /* newline separated */
    cr_assert_str_eq(conf_t_get(doc, "c")->u.arr.v[1]->u.s.p, "q");
    cr_assert_eq(conf_t_get(doc, "d")->u.arr.n, 0);
    cr_assert_eq(conf_t_get(doc, "e")->u.arr.v[0]->u.i, 1);
    conf_free(doc);
}

Test(conf, array_semicolon_is_not_a_separator)
{
    struct conf_error err;
    conf_t_err("a: [1; 2]\n", &err);
    cr_assert_str_eq(err.msg, "Parse error on line 1: 'Expected an array value terminator \",\" or "
                              "an array terminator \"]\", but got ';' instead.'");
}

Test(conf, double_quoted_strings)
{
    conf_t_str("a: \"hello world\"\n", "hello world");
    conf_t_str("a: \"t\\tn\\nr\\rq\\\"b\\\\\"\n", "t\tn\nr\rq\"b\\");
    conf_t_str("a: \"\\x41\\x62\\x7e\"\n", "Ab~");
    conf_t_str("a: \"\"\n", "");
    conf_t_str("a: \"# not a comment // either\"\n", "# not a comment // either");
    /* \x00 yields a real NUL inside the value */
    struct conf_doc *doc = conf_t_ok("a: \"x\\x00y\"\n");
    const struct conf_value *v = conf_t_get(doc, "a");
    cr_assert_eq(v->u.s.len, 3);
    cr_assert_eq(memcmp(v->u.s.p, "x\0y", 4), 0);
    conf_free(doc);
}

Test(conf, single_quoted_and_bare_strings)
{
    conf_t_str("a: 'raw \\t \\q \"x\"'\n", "raw \\t \\q \"x\"");
    conf_t_str("a: bare\n", "bare");
    conf_t_str("a: bare\\tword\n", "bare\tword"); /* escapes work in bare words */
    conf_t_str("a = my\\tserver\n", "my\tserver");
    conf_t_str("a: nats://host:4222\n", "nats://host:4222");
    conf_t_str("a: \"ping_max\"\n", "ping_max");
    conf_t_str("a: 'true'\n", "true"); /* quoted bools are strings */
    conf_t_str("a: \"yes\"\n", "yes");
}

Test(conf, bare_string_with_real_tab_in_value)
{
    /* A real TAB ends a bare word: "server" is left over, as nats-server says. */
    conf_t_err_is("server_name = my\tserver\n",
                  "Parse error on line 1: 'Expected a top-level value to end with a new line, "
                  "comment or EOF, but got 's' instead.'",
                  1, 18);
}

Test(conf, block_strings)
{
    conf_t_str("a: (\n  block\n  text\n)\n", "\n  block\n  text\n");
    conf_t_str("a (\nx ) not the end\n)\n", "\nx ) not the end\n");
    conf_t_str("a: (\n)\n", "\n");
    /* At the very end of input the closing ')' stays in the text, as in
     * nats-server 2.9.10. */
    conf_t_str("a: (\nabc\n)", "\nabc\n)");
    struct conf_error err;
    conf_t_err("a: (\nabc\n", &err);
    cr_assert_str_eq(err.msg, "Parse error on line 3: 'Unexpected EOF processing block.'");
    cr_assert_eq(err.line, 3);
}

Test(conf, block_string_position)
{
    struct conf_doc *doc = conf_t_ok("x: 1\nwrite_deadline: (\nabc\n)\n");
    const struct conf_kv *kv = conf_t_kv(conf_root(doc), "write_deadline");
    cr_assert_eq(kv->pos.line, 2);
    cr_assert_eq(kv->pos.col, 1);
    conf_free(doc);
}

/* ---- scalars ---- */

Test(conf, integers_and_suffixes)
{
    cr_assert_eq(conf_t_int("a: 0\n"), 0);
    cr_assert_eq(conf_t_int("a: 4222\n"), 4222);
    cr_assert_eq(conf_t_int("a: -17\n"), -17);
    cr_assert_eq(conf_t_int("a: 9223372036854775807\n"), INT64_MAX);
    cr_assert_eq(conf_t_int("a: -9223372036854775808\n"), INT64_MIN);
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {
        {"k", 1000LL},
        {"kb", 1024LL},
        {"ki", 1024LL},
        {"kib", 1024LL},
        {"m", 1000000LL},
        {"mb", 1LL << 20},
        {"mi", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1000000000LL},
        {"gb", 1LL << 30},
        {"gi", 1LL << 30},
        {"gib", 1LL << 30},
        {"t", 1000000000000LL},
        {"tb", 1LL << 40},
        {"ti", 1LL << 40},
        {"tib", 1LL << 40},
        {"p", 1000000000000000LL},
        {"pb", 1LL << 50},
        {"pi", 1LL << 50},
        {"pib", 1LL << 50},
        {"e", 1000000000000000000LL},
        {"eb", 1LL << 60},
        {"ei", 1LL << 60},
        {"eib", 1LL << 60},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char text[64], upper[8];
        snprintf(text, sizeof(text), "a: 1%s\n", units[i].suffix);
        cr_assert_eq(conf_t_int(text), units[i].mult, "%s", text);
        size_t n = strlen(units[i].suffix);
        for (size_t j = 0; j <= n; j++)
            upper[j] = (char)(j < n ? units[i].suffix[j] - 'a' + 'A' : 0);
        snprintf(text, sizeof(text), "a: 3%s\n", upper);
        cr_assert_eq(conf_t_int(text), 3 * units[i].mult, "%s", text);
    }
    cr_assert_eq(conf_t_int("a: 2MB\n"), 2097152);
    cr_assert_eq(conf_t_int("a: 10Mi\n"), 10485760);
    cr_assert_eq(conf_t_int("a: 1k\n"), 1000);
    cr_assert_eq(conf_t_int("a: -5kb\n"), -5120);
    cr_assert_eq(conf_t_int("a: 1m\n"), 1000000); /* ping_interval: 1m is a number */
    cr_assert_eq(conf_t_int("a: 7eb\n"), 7LL << 60);
    cr_assert_eq(conf_t_int("a: -8eb\n"), INT64_MIN);
}

Test(conf, integer_suffix_the_reference_drops)
{
    /* "1kbb" lexes as an integer with an unknown suffix: nats-server sets no
     * value, and the key left pending is taken by the enclosing map's end. */
    struct conf_doc *doc = conf_t_ok("authorization { users: 1kbb }\n");
    const struct conf_value *root = conf_root(doc);
    cr_assert_eq(root->u.map.n, 1);
    cr_assert_str_eq(root->u.map.kv[0].key, "users");
    cr_assert_eq(root->u.map.kv[0].val->type, CONF_MAP);
    cr_assert_eq(root->u.map.kv[0].val->u.map.n, 0);
    conf_free(doc);
}

Test(conf, integer_range_errors)
{
    conf_t_err_is("a: 99999999999999999999\n", "integer '99999999999999999999' is out of the range",
                  1, 3);
    conf_t_err_is("a: 9223372036854775808\n", "integer '9223372036854775808' is out of the range",
                  1, 3);
    /* nats-server wraps these around silently; natsd refuses them */
    conf_t_err_is("a: 10000000000000eb\n", "integer '10000000000000eb' is out of the range", 1, 3);
    conf_t_err_is("a: 9223372036854775807k\n", "integer '9223372036854775807k' is out of the range",
                  1, 3);
    conf_t_err_is("a: 8eb\n", "integer '8eb' is out of the range", 1, 3);
}

Test(conf, floats)
{
    struct conf_doc *doc = conf_t_ok("a: 1.5\nb: -0.25\nc: 0.0\nd: 3.14159265358979\n");
    cr_assert_eq(conf_t_get(doc, "a")->type, CONF_FLOAT);
    cr_assert_float_eq(conf_t_get(doc, "a")->u.f, 1.5, 1e-15);
    cr_assert_float_eq(conf_t_get(doc, "b")->u.f, -0.25, 1e-15);
    cr_assert_float_eq(conf_t_get(doc, "c")->u.f, 0.0, 1e-15);
    cr_assert_float_eq(conf_t_get(doc, "d")->u.f, 3.14159265358979, 1e-15);
    conf_free(doc);
    conf_t_err_is("a: .5\n", "Parse error on line 1: 'Floats must start with a digit'", 1, 4);
    conf_t_err_is("a: 1.x\n",
                  "Parse error on line 1: 'Floats must have a digit after the '.', but got 'x' "
                  "instead.'",
                  1, 6);
    conf_t_err_is("a: -.5\n", "Parse error on line 1: 'Floats must start with a digit, not '.'.'",
                  1, 5);
}

Test(conf, float_out_of_range)
{
    char *text = malloc(420);
    strcpy(text, "a: 1");
    memset(text + 4, '0', 400);
    strcpy(text + 404, ".5\n");
    struct conf_error err;
    conf_t_err(text, &err);
    cr_assert(strncmp(err.msg, "float '1000", 11) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, "' is out of the range") != NULL, "%s", err.msg);
    free(text);
}

Test(conf, bools)
{
    static const char *truths[] = {"true", "TRUE", "True", "yes", "YES", "on", "On"};
    static const char *lies[] = {"false", "FALSE", "no", "No", "off", "OFF"};
    for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++) {
        char text[32];
        snprintf(text, sizeof(text), "a: %s\n", truths[i]);
        struct conf_doc *doc = conf_t_ok(text);
        cr_assert_eq(conf_t_get(doc, "a")->type, CONF_BOOL, "%s", text);
        cr_assert_eq(conf_t_get(doc, "a")->u.b, true, "%s", text);
        conf_free(doc);
    }
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        char text[32];
        snprintf(text, sizeof(text), "a: [%s ]\n", lies[i]);
        struct conf_doc *doc = conf_t_ok(text);
        const struct conf_value *v = conf_t_get(doc, "a")->u.arr.v[0];
        cr_assert_eq(v->type, CONF_BOOL, "%s", text);
        cr_assert_eq(v->u.b, false, "%s", text);
        conf_free(doc);
    }
    conf_t_str("a: truex\n", "truex");
}

Test(conf, datetimes)
{
    struct conf_doc *doc =
        conf_t_ok("a: 2020-02-29T10:11:12Z\nb: 1970-01-01T00:00:00Z\nc: 0000-01-01T00:00:00Z\n");
    const struct conf_value *a = conf_t_get(doc, "a");
    cr_assert_eq(a->type, CONF_DATETIME);
    cr_assert_eq(conf_datetime_unix(a), 1582971072);
    cr_assert_str_eq(a->u.s.p, "2020-02-29T10:11:12Z");
    cr_assert_eq(a->u.s.len, 20);
    cr_assert_eq(conf_datetime_unix(conf_t_get(doc, "b")), 0);
    cr_assert_eq(conf_datetime_unix(conf_t_get(doc, "c")), -62167219200LL);
    setenv("NATSD_T_DT", "2001-02-03T04:05:06Z", 1);
    conf_free(doc);
    doc = conf_t_ok("x: $NATSD_T_DT\ny: [ 2020-02-29T10:11:12Z ]\n");
    cr_assert_eq(conf_datetime_unix(conf_t_get(doc, "x")), 981173106);
    cr_assert_eq(conf_datetime_unix(conf_t_get(doc, "y")->u.arr.v[0]), 1582971072);
    cr_assert_eq(conf_datetime_unix(conf_t_get(doc, "y")), 0);
    conf_free(doc);
    conf_t_err_is("a: 2020-02-30T00:00:00Z\n",
                  "expected Zulu formatted DateTime, but got '2020-02-30T00:00:00Z'", 1, 3);
    conf_t_err_is("a: 2020-01-01T00:00:60Z\n",
                  "expected Zulu formatted DateTime, but got '2020-01-01T00:00:60Z'", 1, 3);
    conf_t_err_is("a: 2020-01-01\n",
                  "Parse error on line 2: 'Expected 'T' in ISO8601 datetime, but found '\\n' "
                  "instead.'",
                  2, 1);
    conf_t_err_is("a: 20-01-01T00:00:00Z\n",
                  "Parse error on line 1: 'All ISO8601 dates must be in full Zulu form.'", 1, 6);
    conf_t_err_is("a: 2020-01-01T00:00:0Z\n",
                  "Parse error on line 1: 'Expected digit in ISO8601 datetime, but found 'Z' "
                  "instead.'",
                  1, 22);
}

Test(conf, ip_like_and_unit_like_strings)
{
    conf_t_str("a: 127.0.0.1\n", "127.0.0.1");
    conf_t_str("a: 127.0.0.1:4222\n", "127.0.0.1:4222");
    conf_t_str("a: 1.2.3\n", "1.2.3");
    conf_t_str("a: 2s\n", "2s");
    conf_t_str("a: 500ms\n", "500ms");
    conf_t_str("a: 2h\n", "2h");
    conf_t_str("a: 10s\n", "10s");
    conf_t_str("a: 0x10\n", "0x10");
    conf_t_str("a: 1kx\n", "1kx");
}

/* ---- the edge-case table of docs/protocol/config-file.md §4 ---- */

Test(conf, edge_write_deadline_unquoted)
{
    conf_t_err_is("write_deadline: 1m30s\n",
                  "Parse error on line 1: 'Expected a top-level value to end with a new line, "
                  "comment or EOF, but got '3' instead.'",
                  1, 19);
    conf_t_str("a: \"1m30s\"\n", "1m30s");
}

Test(conf, edge_number_swallows_bracket)
{
    /* "1]" is one bare string; the array then runs on to the end of input */
    struct conf_error err;
    conf_t_err("server_tags: [a, 1]\n", &err);
    cr_assert_str_eq(err.msg, "Parse error on line 2: 'Expected an array value terminator \",\" or "
                              "an array terminator \"]\", but got '' instead.'");
    struct conf_doc *doc = conf_t_ok("server_tags: [a, 1 ]\n");
    const struct conf_value *v = conf_t_get(doc, "server_tags");
    cr_assert_eq(v->u.arr.n, 2);
    cr_assert_eq(v->u.arr.v[1]->u.i, 1);
    conf_free(doc);
    doc = conf_t_ok("x: [a, 1]\n]\n");
    v = conf_t_get(doc, "x");
    cr_assert_eq(v->u.arr.n, 2);
    cr_assert_str_eq(v->u.arr.v[1]->u.s.p, "1]");
    conf_free(doc);
    /* negative numbers and floats do not swallow it */
    doc = conf_t_ok("x: [-1]\ny: [1.5]\n");
    cr_assert_eq(conf_t_get(doc, "x")->u.arr.v[0]->u.i, -1);
    cr_assert_float_eq(conf_t_get(doc, "y")->u.arr.v[0]->u.f, 1.5, 1e-12);
    conf_free(doc);
}

Test(conf, edge_dot_path_and_exponent)
{
    conf_t_err_is("cert_file: ./cert.pem\n",
                  "Parse error on line 1: 'Floats must start with a digit'", 1, 12);
    conf_t_err_is("a: 1e3\n",
                  "Parse error on line 1: 'Expected a top-level value to end with a new line, "
                  "comment or EOF, but got '3' instead.'",
                  1, 6);
    cr_assert_eq(conf_t_int("a: 1e\n"), 1000000000000000000LL);
}

Test(conf, edge_hash_after_number)
{
    conf_t_err_is("max_connections: 5# c\n",
                  "Parse error on line 1: 'Expected a top-level value to end with a new line, "
                  "comment or EOF, but got 'c' instead.'",
                  1, 21);
    cr_assert_eq(conf_t_int("a: 5 #c\n"), 5);
}

Test(conf, edge_quoted_key)
{
    struct conf_doc *doc = conf_t_ok("\"ping_max\" = 5\n'x y' = 6\n\"\" = 7\n");
    cr_assert_eq(conf_t_get(doc, "ping_max")->u.i, 5);
    cr_assert_eq(conf_t_get(doc, "x y")->u.i, 6);
    cr_assert_eq(conf_t_get(doc, "")->u.i, 7);
    conf_free(doc);
}

Test(conf, quiet_ends_of_input)
{
    /* The reference accepts these and keeps what it had. */
    struct conf_doc *doc = conf_t_ok("a: 1\nfoo");
    cr_assert_eq(conf_root(doc)->u.map.n, 1);
    conf_free(doc);
    doc = conf_t_ok("a: 1\nx { b: \"");
    cr_assert_eq(conf_root(doc)->u.map.n, 1);
    conf_free(doc);
    doc = conf_t_ok("x: '");
    cr_assert_eq(conf_root(doc)->u.map.n, 0);
    conf_free(doc);
    doc = conf_t_ok("\"");
    conf_free(doc);
}

Test(conf, dangling_key_takes_next_value)
{
    struct conf_doc *doc = conf_t_ok("x { a }\n");
    const struct conf_value *root = conf_root(doc);
    cr_assert_eq(root->u.map.n, 1);
    cr_assert_str_eq(root->u.map.kv[0].key, "a");
    cr_assert_eq(root->u.map.kv[0].pos.col, 4);
    conf_free(doc);
    doc = conf_t_ok("x { , }\n");
    cr_assert_str_eq(conf_root(doc)->u.map.kv[0].key, ",");
    conf_free(doc);
}

Test(conf, include_keyword_case_insensitive)
{
    struct conf_error err;
    conf_t_err("INCLUDE nope.conf\n", &err);
    cr_assert_str_eq(err.msg, "error parsing include file 'nope.conf', open nope.conf: no such "
                              "file or directory");
    conf_t_err("\xc4\xb0nclude nope.conf\n", &err); /* Go lowers U+0130 to 'i' */
    cr_assert(strncmp(err.msg, "error parsing include file", 26) == 0);
    /* "include" followed by a separator is an ordinary key */
    struct conf_doc *doc = conf_t_ok("include: 5\n");
    cr_assert_eq(conf_t_get(doc, "include")->u.i, 5);
    conf_free(doc);
}

/* ---- duplicates and lookup ---- */

Test(conf, duplicate_keys_last_wins)
{
    struct conf_doc *doc = conf_t_ok("a: 1\nb: 2\na: 3\nm { x: 1, x: 2 }\n");
    const struct conf_value *root = conf_root(doc);
    cr_assert_eq(root->u.map.n, 3);
    cr_assert_str_eq(root->u.map.kv[0].key, "a"); /* first slot */
    cr_assert_eq(root->u.map.kv[0].val->u.i, 3);  /* last value */
    cr_assert_eq(root->u.map.kv[0].pos.line, 3);  /* of the last key */
    cr_assert_eq(conf_t_get(doc, "m")->u.map.n, 1);
    cr_assert_eq(conf_map_get(conf_t_get(doc, "m"), "x")->u.i, 2);
    conf_free(doc);
}

Test(conf, map_get_ignores_case)
{
    struct conf_doc *doc = conf_t_ok("PORT: 4222\nMixed_Case { Inner: 1 }\n");
    cr_assert_eq(conf_map_get(conf_root(doc), "port")->u.i, 4222);
    cr_assert_eq(conf_map_get(conf_map_get(conf_root(doc), "mixed_case"), "inner")->u.i, 1);
    cr_assert_null(conf_map_get(conf_root(doc), "nope"));
    cr_assert_null(conf_map_get(conf_t_get(doc, "port"), "x")); /* not a map */
    cr_assert_null(conf_map_get(NULL, "x"));
    /* keys keep their case */
    cr_assert_str_eq(conf_root(doc)->u.map.kv[0].key, "PORT");
    conf_free(doc);
}

Test(conf, many_keys_are_fast)
{
    size_t n = 100000, cap = n * 2 * 24;
    char *text = malloc(cap), *p = text;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++)
            p += snprintf(p, cap - (size_t)(p - text), "key%zu: %zu\n", i, i + (size_t)round);
    }
    clock_t t0 = clock();
    struct conf_doc *doc = conf_t_ok(text);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    cr_assert_eq(conf_root(doc)->u.map.n, n);
    cr_assert_eq(conf_root(doc)->u.map.kv[n - 1].val->u.i, (int64_t)n);
    cr_assert_lt(secs, 5.0, "200k keys took %.2fs", secs);
    conf_free(doc);
    free(text);
}

/* ---- positions ---- */

Test(conf, positions_as_nats_server)
{
    /* Checked against nats-server -t: "t.conf:3:1: unknown field "foo"" for a
     * key at the start of line 3, "1:0" for one at the start of line 1. */
    struct conf_doc *doc = conf_t_ok("port: \"x\"\n\nfoo: 1\n  bar = [1, 2 ]\n");
    const struct conf_value *root = conf_root(doc);
    const struct conf_kv *kv = conf_t_kv(root, "port");
    cr_assert_eq(kv->pos.line, 1);
    cr_assert_eq(kv->pos.col, 0);
    cr_assert_str_eq(kv->pos.file, "t.conf");
    cr_assert_eq(kv->val->pos.line, 1);
    cr_assert_eq(kv->val->pos.col, 7);
    kv = conf_t_kv(root, "foo");
    cr_assert_eq(kv->pos.line, 3);
    cr_assert_eq(kv->pos.col, 1);
    cr_assert_eq(kv->val->pos.col, 6);
    kv = conf_t_kv(root, "bar");
    cr_assert_eq(kv->pos.line, 4);
    cr_assert_eq(kv->pos.col, 3);
    cr_assert_eq(kv->val->u.arr.v[1]->pos.col, 13);
    conf_free(doc);
    doc = conf_t_ok("authorization { users: 2MB }\n");
    kv = conf_t_kv(conf_t_get(doc, "authorization"), "users");
    cr_assert_eq(kv->pos.line, 1);
    cr_assert_eq(kv->pos.col, 16);
    conf_free(doc);
}

Test(conf, errors_and_positions)
{
    /* Messages as nats-server 2.9.10 prints them (after "nats-server: "). */
    static const struct {
        const char *text, *msg;
        int line, col;
    } cases[] = {
        {"port: 4222 e\n",
         "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or "
         "EOF, but got 'e' instead.'",
         1, 12},
        {"port: \"abc\n", "Parse error on line 2: 'Unexpected EOF.'", 2, 1},
        {"x { a: 1",
         "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", "
         "but got '' instead.'",
         1, 8},
        {"x [1, 2",
         "Parse error on line 1: 'Expected an array value terminator \",\" or an array "
         "terminator \"]\", but got '' instead.'",
         1, 7},
        {"x { a: 1 x }\n",
         "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", "
         "but got 'x' instead.'",
         1, 10},
        {"port: $NOPE\n", "variable reference for 'NOPE' on line 1 can not be found", 1, 7},
        {"x: \"a\\qb\"\n",
         "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape "
         "characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'",
         1, 7},
        {"x: [,]\n", "Parse error on line 1: 'Unexpected array value terminator ','.'", 1, 5},
        {"x { , , }\n", "Parse error on line 1: 'Unexpected map value terminator \",\".'", 1, 7},
        {"x: \"\\x4g\"\n",
         "Parse error on line 1: 'Expected two hexadecimal digits after '\\x', but got '4g''", 1,
         8},
        {"x: \"\\x4\n",
         "Parse error on line 2: 'Expected two hexadecimal digits after '\\x', but hit end of "
         "line'",
         2, 1},
        {"/", "Parse error on line 1: 'Unexpected EOF.'", 1, 1},
        {"x {\n  = 1\n}\n", "Parse error on line 2: 'Unexpected key separator '='.'", 2, 3},
        {"= 1\n", "Parse error on line 1: 'Unexpected key separator '=''", 1, 0},
        {"x { a: 1 ]\n",
         "Parse error on line 1: 'Expected a map value terminator \",\" or a map terminator \"}\", "
         "but got ']' instead.'",
         1, 10},
        {"x {\n]\n", "Parse error on line 2: 'Unexpected array end ']' processing map.'", 2, 1},
        {"x: -a\n", "Parse error on line 1: 'Expected a digit but got 'a'.'", 1, 5},
        {"x:\n1\n", "Parse error on line 2: 'Expected value but found new line'", 2, 1},
        {"x { 'a", "Parse error on line 1: 'Unexpected EOF processing quoted map key.'", 1, 6},
        {"x { \"a", "Parse error on line 1: 'Unexpected EOF processing double quoted map key.'", 1,
         6},
        {"x { a", "Parse error on line 1: 'Unexpected EOF processing map key.'", 1, 5},
        {"x {\n", "Parse error on line 2: 'Unexpected EOF processing map.'", 2, 1},
        {"include [x]\n",
         "Parse error on line 1: 'Expected include value but found start of an array'", 1, 9},
        {"include \"x\n", "Parse error on line 2: 'Unexpected EOF in double quoted include'", 2, 1},
        {"include 'x", "Parse error on line 1: 'Unexpected EOF in quoted include'", 1, 10},
        {"include 5\n",
         "Parse error on line 1: 'Expected include value but found start of a "
         "number'",
         1, 9},
        {"a: 'xyz\n", "Parse error on line 2: 'Unexpected EOF.'", 2, 1},
        {"\"key", "Parse error on line 1: 'Unexpected EOF.'", 1, 4},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        conf_t_err_is(cases[i].text, cases[i].msg, cases[i].line, cases[i].col);
}

Test(conf, error_format)
{
    struct conf_error err;
    char buf[2048];
    conf_t_err("a: 1\nport: 4222 e\n", &err);
    conf_error_format(&err, buf, sizeof(buf));
    cr_assert_str_eq(buf, "t.conf:2:13: Parse error on line 2: 'Expected a top-level value to end "
                          "with a new line, comment or EOF, but got 'e' instead.'");
    memset(&err, 0, sizeof(err));
    snprintf(err.msg, sizeof(err.msg), "plain");
    conf_error_format(&err, buf, sizeof(buf));
    cr_assert_str_eq(buf, "plain");
    snprintf(err.file, sizeof(err.file), "f.conf");
    conf_error_format(&err, buf, sizeof(buf));
    cr_assert_str_eq(buf, "f.conf: plain");
    conf_error_format(&err, buf, 4);
    cr_assert_str_eq(buf, "f.c");
}

Test(conf, type_names)
{
    cr_assert_str_eq(conf_type_name(CONF_MAP), "map");
    cr_assert_str_eq(conf_type_name(CONF_ARRAY), "array");
    cr_assert_str_eq(conf_type_name(CONF_STRING), "string");
    cr_assert_str_eq(conf_type_name(CONF_INT), "int64");
    cr_assert_str_eq(conf_type_name(CONF_FLOAT), "float64");
    cr_assert_str_eq(conf_type_name(CONF_BOOL), "bool");
    cr_assert_str_eq(conf_type_name(CONF_DATETIME), "datetime");
}

/* ---- variables ---- */

Test(conf, variables_simple_and_used_as_var)
{
    struct conf_doc *doc = conf_t_ok("index = 22\nfoo = $index\nunused = 1\n");
    cr_assert_eq(conf_t_get(doc, "foo")->u.i, 22);
    const struct conf_value *root = conf_root(doc);
    cr_assert(conf_t_kv(root, "index")->used_as_var);
    cr_assert_not(conf_t_kv(root, "foo")->used_as_var);
    cr_assert_not(conf_t_kv(root, "unused")->used_as_var);
    /* the copy is placed where the reference was written */
    const struct conf_value *foo = conf_t_get(doc, "foo");
    cr_assert_eq(foo->pos.line, 2);
    cr_assert_eq(foo->pos.col, 8);
    conf_free(doc);
}

Test(conf, variable_redefined_after_use_is_unused)
{
    /* nats-server: "A: 1\nport: $A\nA: 2" reports unknown field "A" */
    struct conf_doc *doc = conf_t_ok("A: 1\nport: $A\nA: 2\n");
    cr_assert_eq(conf_t_get(doc, "port")->u.i, 1);
    cr_assert_eq(conf_t_get(doc, "A")->u.i, 2);
    cr_assert_not(conf_t_kv(conf_root(doc), "A")->used_as_var);
    conf_free(doc);
}

Test(conf, variable_scoping)
{
    struct conf_doc *doc = conf_t_ok("v = top\nouter = $v\nm {\n  v = inner\n  x = $v\n"
                                     "  n { y = $v }\n}\nafter = $v\narr = [ $v, { z = $v } ]\n");
    cr_assert_str_eq(conf_t_get(doc, "outer")->u.s.p, "top");
    const struct conf_value *m = conf_t_get(doc, "m");
    cr_assert_str_eq(conf_map_get(m, "x")->u.s.p, "inner");
    cr_assert_str_eq(conf_map_get(conf_map_get(m, "n"), "y")->u.s.p, "inner");
    cr_assert_str_eq(conf_t_get(doc, "after")->u.s.p, "top");
    const struct conf_value *arr = conf_t_get(doc, "arr");
    cr_assert_str_eq(arr->u.arr.v[0]->u.s.p, "top");
    cr_assert_str_eq(conf_map_get(arr->u.arr.v[1], "z")->u.s.p, "top");
    cr_assert(conf_t_kv(m, "v")->used_as_var);
    conf_free(doc);
}

Test(conf, variable_must_come_first)
{
    conf_t_err_is("a = $b\nb = 1\n", "variable reference for 'b' on line 1 can not be found", 1, 5);
    conf_t_err_is("authorization {\n users:\n  $A }\n",
                  "variable reference for 'A' on line 3 can not be found", 3, 4);
}

Test(conf, variable_of_a_map_is_shared)
{
    struct conf_doc *doc = conf_t_ok("perms { publish: [\"a\", \"b\" ] }\nu1 { p: $perms }\n"
                                     "u2 { p: $perms }\n");
    const struct conf_value *p1 = conf_map_get(conf_t_get(doc, "u1"), "p");
    const struct conf_value *p2 = conf_map_get(conf_t_get(doc, "u2"), "p");
    cr_assert_eq(p1->type, CONF_MAP);
    cr_assert_eq(p1->u.map.kv, p2->u.map.kv); /* shared, not copied */
    cr_assert_str_eq(conf_map_get(p1, "publish")->u.arr.v[1]->u.s.p, "b");
    cr_assert_eq(p1->pos.line, 2);
    cr_assert_eq(p2->pos.line, 3);
    conf_free(doc);
}

Test(conf, variable_fan_out_stays_linear)
{
    /* 1000 references to an array of 1000 references: shared, not copied */
    size_t cap = 64 * 1024;
    char *text = malloc(cap), *p = text;
    p += snprintf(p, cap, "a: [1, 2, 3 ]\nb: [");
    for (int i = 0; i < 1000; i++)
        p += snprintf(p, cap - (size_t)(p - text), "$a, ");
    p += snprintf(p, cap - (size_t)(p - text), "]\nc: [");
    for (int i = 0; i < 1000; i++)
        p += snprintf(p, cap - (size_t)(p - text), "$b, ");
    snprintf(p, cap - (size_t)(p - text), "]\n");
    struct conf_doc *doc = conf_t_ok(text);
    const struct conf_value *c = conf_t_get(doc, "c");
    cr_assert_eq(c->u.arr.n, 1000);
    cr_assert_eq(c->u.arr.v[999]->u.arr.v[999]->u.arr.v[2]->u.i, 3);
    conf_free(doc);
    free(text);
}

Test(conf, bcrypt_is_not_a_variable)
{
    struct conf_doc *doc =
        conf_t_ok("password: $2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS\n");
    cr_assert_str_eq(conf_t_get(doc, "password")->u.s.p,
                     "$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS");
    conf_free(doc);
    conf_t_err_is("p: $2b$10$abc\n",
                  "variable reference for '2b$10$abc' on line 1 can not be found", 1, 4);
}

Test(conf, variables_from_environment)
{
    setenv("NATSD_T_INT", "12345", 1);
    setenv("NATSD_T_STR", "hello", 1);
    setenv("NATSD_T_MAP", "{ a: 1, b: [x, y ] }", 1);
    setenv("NATSD_T_SIZE", "2MB", 1);
    setenv("NATSD_T_BAD", "\"oops", 1);
    setenv("NATSD_T_SELF", "$NATSD_T_SELF", 1);
    struct conf_doc *doc = conf_t_ok("i: $NATSD_T_INT\ns: $NATSD_T_STR\nm: $NATSD_T_MAP\n"
                                     "z: $NATSD_T_SIZE\ni2: $NATSD_T_INT\n");
    cr_assert_eq(conf_t_get(doc, "i")->type, CONF_INT);
    cr_assert_eq(conf_t_get(doc, "i")->u.i, 12345);
    cr_assert_eq(conf_t_get(doc, "i2")->u.i, 12345);
    cr_assert_str_eq(conf_t_get(doc, "s")->u.s.p, "hello");
    cr_assert_str_eq(conf_map_get(conf_t_get(doc, "m"), "b")->u.arr.v[1]->u.s.p, "y");
    cr_assert_eq(conf_t_get(doc, "z")->u.i, 2097152);
    conf_free(doc);
    /* a config key shadows the environment */
    doc = conf_t_ok("NATSD_T_INT: 7\nx: $NATSD_T_INT\n");
    cr_assert_eq(conf_t_get(doc, "x")->u.i, 7);
    conf_free(doc);
    conf_t_err_is("x: $NATSD_T_BAD\n",
                  "variable reference for 'NATSD_T_BAD' on line 1 could not be parsed: Parse "
                  "error on line 1: 'Unexpected EOF.'",
                  1, 4);
    struct conf_error err;
    conf_t_err("x: $NATSD_T_SELF\n", &err);
    cr_assert(strstr(err.msg, "NATSD_T_SELF") != NULL, "%s", err.msg);
    cr_assert_eq(err.line, 1);
}

/* ---- includes ---- */

Test(conf, include_relative_merge_and_nested)
{
    conf_t_mkdir();
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/sub", conf_t_dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    conf_t_write("main.conf", "port: 1\nshared: main\ninclude sub/a.conf\nafter: $from_a\n"
                              "m {\n  include 'sub/b.conf'\n  own: 1\n}\n");
    /* relative to the including file's directory, not the process's */
    conf_t_write("sub/a.conf", "from_a: 5\nshared: a\ninclude \"b.conf\"\nport: $port_b\n");
    conf_t_write("sub/b.conf", "port_b: 2\n");
    struct conf_doc *doc;
    struct conf_error err;
    int rc = conf_t_parse_in_dir("main.conf", &doc, &err);
    cr_assert_eq(rc, 0, "%s:%d: %s", err.file, err.line, err.msg);
    const struct conf_value *root = conf_root(doc);
    cr_assert_eq(conf_t_get(doc, "port")->u.i, 2); /* included later: last wins */
    cr_assert_str_eq(conf_t_get(doc, "shared")->u.s.p, "a");
    cr_assert_eq(conf_t_get(doc, "after")->u.i, 5); /* include's variables visible */
    cr_assert(conf_t_kv(root, "from_a")->used_as_var);
    cr_assert(conf_t_kv(root, "port_b")->used_as_var); /* marked inside the include */
    const struct conf_value *m = conf_t_get(doc, "m");
    cr_assert_eq(conf_map_get(m, "port_b")->u.i, 2);
    cr_assert_eq(conf_map_get(m, "own")->u.i, 1);
    /* positions of included keys name the included file */
    const struct conf_kv *kv = conf_t_kv(root, "from_a");
    cr_assert(strstr(kv->pos.file, "/sub/a.conf") != NULL, "%s", kv->pos.file);
    cr_assert_eq(kv->pos.line, 1);
    cr_assert_eq(kv->pos.col, 0);
    cr_assert(strstr(conf_t_kv(root, "port")->pos.file, "/sub/a.conf") != NULL);
    cr_assert_eq(conf_t_kv(root, "port")->pos.line, 4);
    conf_free(doc);
    conf_t_rmdir();
}

Test(conf, include_does_not_see_parent_variables)
{
    conf_t_mkdir();
    conf_t_write("main.conf", "secret: 1\ninclude inc.conf\n");
    conf_t_write("inc.conf", "x: $secret\n");
    struct conf_doc *doc;
    struct conf_error err;
    cr_assert_eq(conf_t_parse_in_dir("main.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "error parsing include file 'inc.conf', variable reference for "
                              "'secret' on line 1 can not be found");
    cr_assert(strstr(err.file, "inc.conf") != NULL, "%s", err.file);
    cr_assert_eq(err.line, 1);
    cr_assert_eq(err.col, 4);
    conf_t_rmdir();
}

Test(conf, include_missing)
{
    struct conf_error err;
    conf_t_err_is("include nope.conf\n",
                  "error parsing include file 'nope.conf', open nope.conf: no such file or "
                  "directory",
                  1, 8);
    conf_t_mkdir();
    conf_t_write("main.conf", "a: 1\n  include \"missing.conf\"\n");
    struct conf_doc *doc;
    cr_assert_eq(conf_t_parse_in_dir("main.conf", &doc, &err), -1);
    char want[512];
    snprintf(want, sizeof(want),
             "error parsing include file 'missing.conf', open %s/missing.conf: no such file or "
             "directory",
             conf_t_dir);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(err.line, 2);
    cr_assert(strstr(err.file, "main.conf") != NULL);
    /* a directory */
    conf_t_write("dir.conf", "include .\n");
    cr_assert_eq(conf_t_parse_in_dir("dir.conf", &doc, &err), -1);
    snprintf(want, sizeof(want), "error parsing include file '.', read %s: is a directory",
             conf_t_dir);
    cr_assert_str_eq(err.msg, want);
    conf_t_rmdir();
}

Test(conf, include_nested_error_is_wrapped)
{
    conf_t_mkdir();
    conf_t_write("inc1.conf", "include sub.conf\n");
    conf_t_write("sub.conf", "ok: 1\ninclude c.conf\n");
    conf_t_write("c.conf", "\n\nx y z\n");
    struct conf_doc *doc;
    struct conf_error err;
    cr_assert_eq(conf_t_parse_in_dir("inc1.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "error parsing include file 'sub.conf', error parsing include file "
                              "'c.conf', Parse error on line 3: 'Expected a top-level value to "
                              "end with a new line, comment or EOF, but got 'z' instead.'");
    cr_assert(strstr(err.file, "/c.conf") != NULL, "%s", err.file);
    cr_assert_eq(err.line, 3);
    cr_assert_eq(err.col, 6);
    conf_t_rmdir();
}

Test(conf, include_cycle)
{
    conf_t_mkdir();
    conf_t_write("self.conf", "include \"self.conf\"\n");
    conf_t_write("l1.conf", "include \"l2.conf\"\n");
    conf_t_write("l2.conf", "x: 1\ninclude \"./l1.conf\"\n");
    struct conf_doc *doc;
    struct conf_error err;
    cr_assert_eq(conf_t_parse_in_dir("self.conf", &doc, &err), -1);
    cr_assert(strstr(err.msg, "error parsing include file 'self.conf', include cycle: '") ==
                  err.msg,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "self.conf' is already being parsed") != NULL, "%s", err.msg);
    cr_assert_eq(err.line, 1);
    cr_assert_eq(conf_t_parse_in_dir("l1.conf", &doc, &err), -1);
    cr_assert(strstr(err.msg, "error parsing include file 'l2.conf', error parsing include file "
                              "'./l1.conf', include cycle: ") == err.msg,
              "%s", err.msg);
    cr_assert(strstr(err.file, "l2.conf") != NULL);
    cr_assert_eq(err.line, 2);
    conf_t_rmdir();
}

Test(conf, include_chain_too_deep)
{
    conf_t_mkdir();
    for (int i = 0; i < 40; i++) {
        char name[32], text[64];
        snprintf(name, sizeof(name), "d%d.conf", i);
        snprintf(text, sizeof(text), "k%d: %d\ninclude d%d.conf\n", i, i, i + 1);
        conf_t_write(name, text);
    }
    conf_t_write("d40.conf", "end: 1\n");
    struct conf_doc *doc;
    struct conf_error err;
    cr_assert_eq(conf_t_parse_in_dir("d0.conf", &doc, &err), -1);
    /* the message is the nest of 32 wrappers, cut to fit; the place is exact */
    cr_assert(strncmp(err.msg, "error parsing include file 'd1.conf', error parsing include", 59) ==
                  0,
              "%s", err.msg);
    cr_assert(strstr(err.file, "/d32.conf") != NULL, "%s", err.file);
    cr_assert_eq(err.line, 2);
    /* 32 levels are fine */
    conf_t_write("d32.conf", "end: 1\n");
    cr_assert_eq(conf_t_parse_in_dir("d0.conf", &doc, &err), 0, "%s", err.msg);
    cr_assert_eq(conf_t_get(doc, "k31")->u.i, 31);
    conf_free(doc);
    conf_t_rmdir();
}

Test(conf, parse_file_missing_and_ok)
{
    struct conf_doc *doc;
    struct conf_error err;
    cr_assert_eq(conf_parse_file("/nonexistent/natsd.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "open /nonexistent/natsd.conf: no such file or directory");
    cr_assert_str_eq(err.file, "/nonexistent/natsd.conf");
    cr_assert_eq(err.line, 0);
    cr_assert_null(doc);
    conf_t_mkdir();
    conf_t_write("ok.conf", "listen: 127.0.0.1:4222\n");
    cr_assert_eq(conf_t_parse_in_dir("ok.conf", &doc, &err), 0);
    cr_assert_str_eq(conf_t_get(doc, "listen")->u.s.p, "127.0.0.1:4222");
    cr_assert(strstr(conf_t_get(doc, "listen")->pos.file, "/ok.conf") != NULL);
    conf_free(doc);
    conf_t_rmdir();
}

/* ---- robustness ---- */

static char *conf_t_nest(size_t depth, char open, char close, const char *prefix)
{
    size_t pn = strlen(prefix);
    char *text = malloc(pn + depth * 2 + 2);
    memcpy(text, prefix, pn);
    memset(text + pn, open, depth);
    memset(text + pn + depth, close, depth);
    text[pn + depth * 2] = '\n';
    text[pn + depth * 2 + 1] = '\0';
    return text;
}

Test(conf, deep_nesting)
{
    char *ok = conf_t_nest(CONF_MAX_DEPTH, '[', ']', "a: ");
    struct conf_doc *doc = conf_t_ok(ok);
    const struct conf_value *v = conf_t_get(doc, "a");
    for (int i = 1; i < CONF_MAX_DEPTH; i++) {
        cr_assert_eq(v->type, CONF_ARRAY);
        cr_assert_eq(v->u.arr.n, 1);
        v = v->u.arr.v[0];
    }
    cr_assert_eq(v->u.arr.n, 0);
    conf_free(doc);
    free(ok);
    char *bad = conf_t_nest(CONF_MAX_DEPTH + 1, '[', ']', "a: ");
    struct conf_error err;
    conf_t_err(bad, &err);
    cr_assert_str_eq(err.msg,
                     "Parse error on line 1: 'Nesting of maps and arrays deeper than 1000.'");
    cr_assert_eq(err.line, 1);
    free(bad);
    bad = conf_t_nest(10000, '[', ']', "a: ");
    conf_t_err(bad, &err);
    cr_assert(strstr(err.msg, "deeper than 1000") != NULL);
    free(bad);
    /* maps, 10,000 deep */
    size_t n = 10000;
    char *m = malloc(n * 4 + 8), *p = m;
    p += sprintf(p, "a ");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "{b ");
    memset(p, '}', n);
    p[n] = '\0';
    conf_t_err(m, &err);
    cr_assert(strstr(err.msg, "deeper than 1000") != NULL);
    free(m);
}

Test(conf, deep_nesting_through_variables)
{
    /* A deep value placed deeper by a reference is caught too. */
    char *text = conf_t_nest(CONF_MAX_DEPTH - 1, '[', ']', "a: ");
    size_t n = strlen(text);
    text = realloc(text, n + 64);
    strcpy(text + n, "b: [ $a ]\nc: [[ $a ]]\n");
    struct conf_error err;
    conf_t_err(text, &err);
    cr_assert(strstr(err.msg, "deeper than 1000") != NULL, "%s", err.msg);
    cr_assert_eq(err.line, 3);
    free(text);
}

Test(conf, huge_line)
{
    size_t n = 10 * 1024 * 1024;
    char *text = malloc(n + 16);
    memcpy(text, "a: ", 3);
    memset(text + 3, 'x', n);
    text[n + 3] = '\n';
    struct conf_doc *doc = NULL;
    struct conf_error err;
    cr_assert_eq(conf_parse_string(text, n + 4, "big.conf", &doc, &err), 0);
    cr_assert_eq(conf_t_get(doc, "a")->u.s.len, n);
    conf_free(doc);
    /* the same line unterminated inside quotes */
    text[3] = '"';
    cr_assert_eq(conf_parse_string(text, n + 3, "big.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "Parse error on line 1: 'Unexpected EOF.'");
    /* a 10 MB integer */
    memset(text + 3, '9', n);
    cr_assert_eq(conf_parse_string(text, n + 4, "big.conf", &doc, &err), -1);
    cr_assert(strncmp(err.msg, "integer '9999", 13) == 0);
    cr_assert(strstr(err.msg, "out of the range") != NULL || strlen(err.msg) > 500);
    free(text);
}

Test(conf, unterminated_everything)
{
    static const char *inputs[] = {
        "a: \"abc",  "a: 'abc",    "a: (\nabc", "a { b: 1",  "a [ 1, 2", "a { b { c { d",
        "a: [ { x",  "include \"", "a: \"\\x",  "a: \"\\",   "a { 'k",   "a: [ \"x",
        "a: 2020-0", "a: -",       "a: 1.",     "a: [ 1, [", "{ { {",    "a { b: [ (\n",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct conf_doc *doc = NULL;
        struct conf_error err;
        int rc = conf_parse_string(inputs[i], strlen(inputs[i]), "u.conf", &doc, &err);
        if (rc == 0) {
            conf_free(doc);
            continue;
        }
        cr_assert_eq(rc, -1);
        cr_assert_neq(err.msg[0], '\0', "%s", inputs[i]);
        cr_assert_gt(err.line, 0, "%s", inputs[i]);
        cr_assert_str_eq(err.file, "u.conf");
    }
}

Test(conf, nul_bytes)
{
    /* A NUL compares as end of input in the reference's lexer. */
    struct conf_doc *doc = NULL;
    struct conf_error err;
    cr_assert_eq(conf_parse_string("a: 1\nfoo\0bar: 2\n", 16, "n.conf", &doc, &err), 0);
    cr_assert_eq(conf_root(doc)->u.map.n, 1);
    conf_free(doc);
    cr_assert_eq(conf_parse_string("a: \"x\0y\"\n", 9, "n.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "Parse error on line 1: 'Unexpected EOF.'");
    cr_assert_eq(conf_parse_string("\0", 1, "n.conf", &doc, &err), -1);
    cr_assert_str_eq(err.msg, "Parse error on line 1: 'Unexpected EOF.'");
    /* the input need not be NUL-terminated */
    char buf[8] = {'a', ':', ' ', '4', '2', 'X', 'X', 'X'};
    cr_assert_eq(conf_parse_string(buf, 5, "n.conf", &doc, &err), 0);
    cr_assert_eq(conf_t_get(doc, "a")->u.i, 42);
    conf_free(doc);
}

Test(conf, binary_garbage)
{
    unsigned seed = 12345;
    size_t n = 1 << 16;
    char *buf = malloc(n);
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (char)(seed >> 16);
        }
        size_t len = (size_t)(seed % n);
        struct conf_doc *doc = NULL;
        struct conf_error err;
        int rc = conf_parse_string(buf, len, "g.conf", &doc, &err);
        if (rc == 0) {
            cr_assert_not_null(doc);
            conf_free(doc);
        } else {
            cr_assert_eq(rc, -1);
            cr_assert_null(doc);
            cr_assert_neq(err.msg[0], '\0');
        }
    }
    free(buf);
}

Test(conf, garbage_made_of_syntax)
{
    static const char alphabet[] = "{}[]()=:,;#/\"'\\$ \n\t0123456789.-abkmKMeEtrueInclude\xc3\xa9";
    unsigned seed = 99;
    char buf[512];
    for (int round = 0; round < 5000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        struct conf_doc *doc = NULL;
        struct conf_error err;
        if (conf_parse_string(buf, len, "s.conf", &doc, &err) == 0)
            conf_free(doc);
        else
            cr_assert_neq(err.msg[0], '\0');
    }
}

Test(conf, null_name_and_text)
{
    struct conf_doc *doc = NULL;
    struct conf_error err;
    cr_assert_eq(conf_parse_string(NULL, 0, NULL, &doc, &err), 0);
    cr_assert_eq(conf_root(doc)->u.map.n, 0);
    conf_free(doc);
    conf_free(NULL);
    cr_assert_null(conf_root(NULL));
    cr_assert_eq(conf_parse_string("x: $NOPE_NOPE", 13, NULL, &doc, &err), -1);
    cr_assert_str_eq(err.file, "");
}
