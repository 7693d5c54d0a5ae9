/* SPDX-License-Identifier: Apache-2.0
 * Unit tests of util.c: Go duration parsing and formatting, host:port
 * splitting, URL acceptance as Go's url.Parse (cases checked against
 * nats-server 2.9.10), %q quoting and %v of floats. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

static int util_t_dur(const char *s, int64_t *ns, char *err, size_t size)
{
    err[0] = '\0';
    return util_parse_duration(s, strlen(s), ns, err, size);
}

Test(util, duration_ok)
{
    static const struct {
        const char *s;
        int64_t ns;
    } ok[] = {
        {"0", 0},
        {"-0", 0},
        {"+0", 0},
        {"1h30m", 5400LL * 1000000000LL},
        {"500ms", 500000000LL},
        {"1.5s", 1500000000LL},
        {".5s", 500000000LL},
        {"1.s", 1000000000LL},
        {"1us", 1000LL},
        {"1\xc2\xb5s", 1000LL},
        {"1\xce\xbcs", 1000LL},
        {"7ns", 7LL},
        {"+5s", 5000000000LL},
        {"-5s", -5000000000LL},
        {"2h45m10.5s", (2LL * 3600 + 45 * 60 + 10) * 1000000000LL + 500000000LL},
        {"0.0000000001s", 0},
        {"1.0000000001s", 1000000000LL},
        {"2562047h", 2562047LL * 3600 * 1000000000LL},
        {"2562047h47m16.854775807s", INT64_MAX},
        {"9223372036854775807ns", INT64_MAX},
        {"-9223372036854775808ns", INT64_MIN},
        {"1m1m", 120000000000LL},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns = -42;
        cr_expect_eq(util_t_dur(ok[i].s, &ns, err, sizeof(err)), 0, "[%s]: %s", ok[i].s, err);
        cr_expect_eq(ns, ok[i].ns, "[%s]: %lld", ok[i].s, (long long)ns);
    }
}

Test(util, duration_errors)
{
    /* texts as Go's time.ParseDuration (seen through nats-server -t) */
    static const struct {
        const char *s, *err;
    } bad[] = {
        {"5", "time: missing unit in duration \"5\""},
        {"", "time: invalid duration \"\""},
        {"abc", "time: invalid duration \"abc\""},
        {"5x", "time: unknown unit \"x\" in duration \"5x\""},
        {"1h-5m", "time: unknown unit \"h-\" in duration \"1h-5m\""},
        {"9999999999h", "time: invalid duration \"9999999999h\""},
        {"2562048h", "time: invalid duration \"2562048h\""},
        {"1.5.s", "time: missing unit in duration \"1.5.s\""},
        {"- 5s", "time: invalid duration \"- 5s\""},
        {"5 s", "time: unknown unit \" s\" in duration \"5 s\""},
        {"1e3s", "time: unknown unit \"e\" in duration \"1e3s\""},
        {"5S", "time: unknown unit \"S\" in duration \"5S\""},
        {"2562047h47m16.854775808s", "time: invalid duration \"2562047h47m16.854775808s\""},
        {"9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
        {".s", "time: invalid duration \".s\""},
        {"-", "time: invalid duration \"-\""},
        {"1s\t", "time: unknown unit \"s\\x09\" in duration \"1s\\x09\""},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = 0;
        cr_expect_eq(util_t_dur(bad[i].s, &ns, err, sizeof(err)), -1, "[%s]", bad[i].s);
        cr_expect_str_eq(err, bad[i].err, "[%s]", bad[i].s);
    }
}

Test(util, duration_format)
{
    static const struct {
        int64_t ns;
        const char *s;
    } f[] = {
        {0, "0s"},
        {1, "1ns"},
        {1100, "1.1\xc2\xb5s"},
        {2200000, "2.2ms"},
        {1500000000LL, "1.5s"},
        {30000000000LL, "30s"},
        {60000000000LL, "1m0s"},
        {90000000000LL, "1m30s"},
        {3600000000000LL, "1h0m0s"},
        {5400000000000LL, "1h30m0s"},
        {-3000000000LL, "-3s"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        util_format_duration(f[i].ns, buf, sizeof(buf));
        cr_expect_str_eq(buf, f[i].s);
    }
}

Test(util, split_host_port)
{
    static const struct {
        const char *in, *host, *port;
    } ok[] = {
        {"a:1", "a", "1"},         {":4222", "", "4222"}, {"[::1]:4222", "::1", "4222"},
        {"a:-1", "a", "-1"},       {"a:", "a", ""},       {"[::1%eth0]:1", "::1%eth0", "1"},
        {"a:99999", "a", "99999"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char *h = NULL, *p = NULL;
        cr_assert_eq(util_split_host_port(ok[i].in, &h, &p), 0, "[%s]", ok[i].in);
        cr_expect_str_eq(h, ok[i].host);
        cr_expect_str_eq(p, ok[i].port);
        free(h);
        free(p);
    }
    static const char *const bad[] = {"abc",      "a:b:1",  "::1",  "[::1]",
                                      "[::1]x:1", "[::1:1", "a]:1", "[a]]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *h = NULL, *p = NULL;
        cr_expect_eq(util_split_host_port(bad[i], &h, &p), -1, "[%s]", bad[i]);
        cr_expect_null(h);
    }
}

Test(util, atoi64)
{
    int64_t v;
    cr_expect_eq(util_atoi64("4222", &v), 0);
    cr_expect_eq(v, 4222);
    cr_expect_eq(util_atoi64("-1", &v), 0);
    cr_expect_eq(v, -1);
    cr_expect_eq(util_atoi64("+7", &v), 0);
    cr_expect_eq(v, 7);
    cr_expect_eq(util_atoi64("9223372036854775807", &v), 0);
    cr_expect_eq(v, INT64_MAX);
    cr_expect_eq(util_atoi64("-9223372036854775808", &v), 0);
    cr_expect_eq(v, INT64_MIN);
    cr_expect_eq(util_atoi64("9223372036854775808", &v), -1);
    cr_expect_eq(util_atoi64("", &v), -1);
    cr_expect_eq(util_atoi64("-", &v), -1);
    cr_expect_eq(util_atoi64("b", &v), -1);
    cr_expect_eq(util_atoi64("1 ", &v), -1);
}

Test(util, url_parts)
{
    struct util_url u;
    cr_assert_eq(util_url_parse("nats://gwu:gwp@localhost:7222", &u), 0);
    cr_expect_str_eq(u.scheme, "nats");
    cr_expect_str_eq(u.user, "gwu");
    cr_expect_str_eq(u.password, "gwp");
    cr_expect_str_eq(u.host, "localhost");
    cr_expect_str_eq(u.port, "7222");
    cr_expect_str_eq(u.path, "");
    util_url_free(&u);

    cr_assert_eq(util_url_parse("  NATS://[::1]:4222/x  ", &u), 0);
    cr_expect_str_eq(u.scheme, "nats");
    cr_expect_null(u.user);
    cr_expect_str_eq(u.host, "::1");
    cr_expect_str_eq(u.port, "4222");
    cr_expect_str_eq(u.path, "/x");
    util_url_free(&u);

    cr_assert_eq(util_url_parse("nats://us%40r:p%3Ass@h", &u), 0);
    cr_expect_str_eq(u.user, "us@r");
    cr_expect_str_eq(u.password, "p:ss");
    cr_expect_null(u.port);
    util_url_free(&u);

    cr_assert_eq(util_url_parse("nats://onlyuser@h:1", &u), 0);
    cr_expect_str_eq(u.user, "onlyuser");
    cr_expect_null(u.password);
    util_url_free(&u);

    cr_assert_eq(util_url_parse("x", &u), 0);
    cr_expect_null(u.scheme);
    cr_expect_null(u.host);
    cr_expect_str_eq(u.path, "x");
    util_url_free(&u);
}

Test(util, url_accept_reject)
{
    /* as nats-server's parseURL through url.Parse ("error parsing route url") */
    static const char *const ok[] = {
        "nats://a:1",   "x",     " nats://a:1 ",       "nats://a",
        "nats://a:",    "a:b",   "nats://h:1/p?q#f",   "nats://[fe80::1%25eth0]:1",
        "nats://h:1#",  "//h:1", "nats://a_b-c.d~e:1", "nats://caf\xc3\xa9:1",
        "nats://a:1:2",
    };
    static const char *const bad[] = {
        "nats://a b:1",   "://x",           "%zz",          "nats://a:b",
        "nats://[::1",    "1a:b",           "nats://h\t:1", "nats://h:1/%zz",
        "nats://h:1#%zz", "nats://u\"@h:1", "nats://h{:1",  "nats://h%41:1",
        "nats://h|:1",
    };
    struct util_url u;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_expect_eq(util_url_parse(ok[i], &u), 0, "[%s]", ok[i]);
        util_url_free(&u);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(util_url_parse(bad[i], &u), -1, "[%s]", bad[i]);
        cr_expect_null(u.scheme);
        cr_expect_null(u.host);
    }
}

Test(util, go_quote)
{
    char buf[128];
    util_go_quote("abc", 3, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"abc\"");
    util_go_quote("a\"b\\c", 5, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"a\\\"b\\\\c\"");
    util_go_quote("t\tn\nx\x01", 6, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"t\\tn\\nx\\x01\"");
    util_go_quote("caf\xc3\xa9\xff", 6, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"caf\xc3\xa9\\xff\"");
    util_go_quote("abcdef", 6, buf, 4);
    cr_expect_str_eq(buf, "\"ab");
}

Test(util, float_go)
{
    static const struct {
        double f;
        const char *s;
    } f[] = {
        {2.5, "2.5"},         {1000000.0, "1e+06"},
        {123456.0, "123456"}, {1234567.5, "1.2345675e+06"},
        {0.0001, "0.0001"},   {0.00001, "1e-05"},
        {0.1, "0.1"},         {-3.25, "-3.25"},
        {100.0, "100"},       {0.0, "0"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        util_format_float_go(f[i].f, buf, sizeof(buf));
        cr_expect_str_eq(buf, f[i].s);
    }
}

Test(util, lower)
{
    char buf[8];
    util_lower("MiXeD_Key", buf, sizeof(buf));
    cr_expect_str_eq(buf, "mixed_k");
}
