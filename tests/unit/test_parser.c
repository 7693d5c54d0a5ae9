/* SPDX-License-Identifier: Apache-2.0
 * The framing parser: every op for every kind, the parser.go edge cases, size
 * and terminator errors, max_control_line, and the same streams fed whole, in
 * every split into two chunks, byte by byte and in random chunks. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "parser.h"

/* ---- recorder: every callback appends one text line to a log ---- */

struct rec {
    char *log;
    size_t len, cap;
    const char *buf; /* the buffer being fed, for bounds checks */
    size_t buflen;
    int starts, msgs, ops;
    int reject_start_over; /* on_msg_start returns 77 if total > this (-1: never) */
    int stop_on_op;        /* on_op returns 66 for this op (-1: never) */
    bool clear_await;      /* on_op(CONNECT) clears parser.await_connect */
    struct parser *p;
    int not_connect_calls;
    int not_connect_rc;
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    r->reject_start_over = -1;
    r->stop_on_op = -1;
}

static void rec_free(struct rec *r)
{
    free(r->log);
    r->log = NULL;
}

static void rec_put(struct rec *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->log = realloc(r->log, r->cap);
        cr_assert_not_null(r->log);
    }
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static void rec_printf(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_printf(struct rec *r, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(tmp));
    rec_put(r, tmp, (size_t)n);
}

/* Bytes with non-printables escaped, so payloads with NUL/CR/LF compare as text. */
static void rec_bytes(struct rec *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            rec_put(r, (const char *)&c, 1);
        else
            rec_printf(r, "\\x%02x", c);
    }
}

static void rec_inside(struct rec *r, struct parser_slice s)
{
    if (s.len == 0)
        return;
    cr_assert(s.p >= r->buf && s.p + s.len <= r->buf + r->buflen, "slice outside the buffer");
}

static void rec_cmd(struct rec *r, const char *what, const struct parser_cmd *c)
{
    rec_printf(r, "%s %s", what, parser_op_name(c->op));
    rec_inside(r, c->line);
    cr_assert(c->nargs <= PARSER_MAX_ARGS);
    cr_assert(c->nargs <= c->nargs_total);
    for (size_t i = 0; i < c->nargs; i++) {
        rec_inside(r, c->args[i]);
        rec_put(r, " [", 2);
        rec_bytes(r, c->args[i].p, c->args[i].len);
        rec_put(r, "]", 1);
    }
    if (c->nargs_total > c->nargs)
        rec_printf(r, " +%zu", c->nargs_total - c->nargs);
}

static int cb_op(void *ctx, const struct parser_cmd *c)
{
    struct rec *r = ctx;
    r->ops++;
    rec_cmd(r, "OP", c);
    rec_put(r, "\n", 1);
    if (c->op == PARSER_OP_CONNECT && r->clear_await)
        r->p->await_connect = false;
    if ((int)c->op == r->stop_on_op)
        return 66;
    return 0;
}

static int cb_start(void *ctx, const struct parser_cmd *c)
{
    struct rec *r = ctx;
    r->starts++;
    cr_assert_eq(c->payload.len, 0);
    rec_cmd(r, "START", c);
    rec_printf(r, " h=%zu t=%zu\n", c->hdr_len, c->total_len);
    if (r->reject_start_over >= 0 && c->total_len > (size_t)r->reject_start_over)
        return 77;
    return 0;
}

static int cb_msg(void *ctx, const struct parser_cmd *c)
{
    struct rec *r = ctx;
    r->msgs++;
    cr_assert_eq(r->starts, r->msgs, "on_msg without exactly one on_msg_start");
    rec_cmd(r, "MSG", c);
    cr_assert_eq(c->payload.len, c->total_len);
    rec_inside(r, c->payload);
    rec_printf(r, " h=%zu t=%zu '", c->hdr_len, c->total_len);
    rec_bytes(r, c->payload.p, c->payload.len);
    rec_put(r, "'\n", 2);
    return 0;
}

static int cb_not_connect(void *ctx)
{
    struct rec *r = ctx;
    r->not_connect_calls++;
    if (r->not_connect_rc == 0)
        r->p->await_connect = false;
    return r->not_connect_rc;
}

static const struct parser_cb cbs = {cb_op, cb_start, cb_msg, NULL};

static const char *err_name(int rc)
{
    switch (rc) {
    case PARSER_ERR_UNKNOWN_OP:
        return "unknown";
    case PARSER_ERR_MAX_CONTROL_LINE:
        return "mcl";
    case PARSER_ERR_BAD_SIZE:
        return "size";
    case PARSER_ERR_BAD_HDR_SIZE:
        return "hdrsize";
    case PARSER_ERR_HDR_TOO_BIG:
        return "hdrbig";
    case PARSER_ERR_BAD_TERMINATOR:
        return "term";
    case PARSER_ERR_AUTH:
        return "auth";
    default:
        return "cb";
    }
}

/* ---- the connection simulator ---- */

/*
 * Feed in[0..n) cut at cuts[0..ncuts) the way a connection does: keep the
 * unconsumed tail, append the next chunk, feed again. Each call gets a freshly
 * allocated copy, so the parser cannot get away with keeping pointers.
 * Logs "ERR <name> @<stream offset>" or "END tail=<n> need=<n>".
 */
static void run_cuts(const struct parser_kind *k, uint32_t mcl, const char *in, size_t n,
                     const size_t *cuts, size_t ncuts, struct rec *r)
{
    struct parser p;
    char *tail = NULL;
    size_t tlen = 0, base = 0, pos = 0;
    struct parser_res res = {0, 0, 1, 0};

    parser_init(&p, k, mcl);
    r->p = &p;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : n;
        char *b;
        if (end < pos)
            continue;
        b = malloc(tlen + (end - pos) + 1);
        cr_assert_not_null(b);
        if (tlen > 0)
            memcpy(b, tail, tlen);
        memcpy(b + tlen, in + pos, end - pos);
        free(tail);
        tlen += end - pos;
        pos = end;
        r->buf = b;
        r->buflen = tlen;
        res = parser_feed(&p, b, tlen, &cbs, r);
        cr_assert(res.consumed <= tlen);
        if (res.rc != 0) {
            rec_printf(r, "ERR %s @%zu\n", err_name(res.rc), base + res.err_off);
            free(b);
            return;
        }
        cr_assert(res.need > tlen - res.consumed, "need %zu tail %zu", res.need,
                  tlen - res.consumed);
        base += res.consumed;
        memmove(b, b + res.consumed, tlen - res.consumed);
        tlen -= res.consumed;
        tail = b;
    }
    rec_printf(r, "END tail=%zu need=%zu\n", tlen, res.need);
    free(tail);
}

static char *run_log(const struct parser_kind *k, uint32_t mcl, const char *in, size_t n,
                     const size_t *cuts, size_t ncuts, int *starts, int *msgs)
{
    struct rec r;
    rec_init(&r);
    run_cuts(k, mcl, in, n, cuts, ncuts, &r);
    if (starts)
        *starts = r.starts;
    if (msgs)
        *msgs = r.msgs;
    return r.log;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/*
 * Assert that in[0..n) produces exactly `want` fed whole, in every split into
 * two chunks, byte by byte, and in some random multi-chunk splits; and that
 * on_msg_start ran the same number of times in every mode.
 */
static void expect_n(const struct parser_kind *k, uint32_t mcl, const char *in, size_t n,
                     const char *want)
{
    int s0, m0, s, m;
    char *got = run_log(k, mcl, in, n, NULL, 0, &s0, &m0);
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));

    cr_assert_str_eq(got, want, "whole feed of [%.*s] (%s):\n%s", (int)n, in, k->name, got);
    free(got);
    for (size_t c = 1; c < n; c++) {
        got = run_log(k, mcl, in, n, &c, 1, &s, &m);
        cr_assert_str_eq(got, want, "split at %zu of [%.*s]:\n%s", c, (int)n, in, got);
        cr_assert_eq(s, s0);
        cr_assert_eq(m, m0);
        free(got);
    }
    for (size_t c = 0; c < n; c++)
        cuts[c] = c + 1;
    got = run_log(k, mcl, in, n, cuts, n, &s, &m);
    cr_assert_str_eq(got, want, "byte by byte [%.*s]:\n%s", (int)n, in, got);
    cr_assert_eq(s, s0);
    cr_assert_eq(m, m0);
    free(got);
    for (int round = 0; round < 20 && n > 2; round++) {
        size_t nc = 0, at = 0;
        while (nc < n) {
            at += 1 + (size_t)(rng() % 7);
            if (at >= n)
                break;
            cuts[nc++] = at;
        }
        got = run_log(k, mcl, in, n, cuts, nc, &s, &m);
        cr_assert_str_eq(got, want, "random split round %d", round);
        cr_assert_eq(s, s0);
        free(got);
    }
    free(cuts);
}

static void expect(const struct parser_kind *k, const char *in, const char *want)
{
    expect_n(k, PARSER_MAX_CONTROL_LINE, in, strlen(in), want);
}

#define CLIENT  (&parser_kind_client)
#define ROUTE   (&parser_kind_route)
#define GATEWAY (&parser_kind_gateway)
#define END0    "END tail=0 need=1\n"

/* ---- every op for every kind ---- */

struct op_case {
    const char *in;
    const char *ok;   /* log when the kind accepts it */
    const char *c_rt; /* client, route, gateway: 1 accepted, else the log */
    const char *client, *route, *gateway;
};

Test(parser, every_op_every_kind)
{
    static const char *hmsg_ok = "START HMSG [$G] [foo] [12] [14] h=12 t=14\n"
                                 "MSG HMSG [$G] [foo] [12] [14] h=12 t=14 "
                                 "'NATS/1.0\\x0d\\x0a\\x0d\\x0ahi'\n" END0;
    static const char *lmsg_ok = "START LMSG [C1] [$G] [foo] [0] [5] h=0 t=5\n"
                                 "MSG LMSG [C1] [$G] [foo] [0] [5] h=0 t=5 'hello'\n" END0;
    const char *OK = "";
    struct op_case cases[] = {
        {"CONNECT {\"verbose\":false}\r\n", "OP CONNECT [{\"verbose\":false}]\n" END0, NULL, OK, OK,
         OK},
        {"INFO {}\r\n", "OP INFO [{}]\n" END0, NULL, OK, OK, OK},
        {"PUB foo 5\r\nhello\r\n",
         "START PUB [foo] [5] h=0 t=5\nMSG PUB [foo] [5] h=0 t=5 'hello'\n" END0, NULL, OK, OK, OK},
        {"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
         "START HPUB [foo] [12] [14] h=12 t=14\nMSG HPUB [foo] [12] [14] h=12 t=14 "
         "'NATS/1.0\\x0d\\x0a\\x0d\\x0ahi'\n" END0,
         NULL, OK, OK, OK},
        {"SUB foo q 1\r\n", "OP SUB [foo] [q] [1]\n" END0, NULL, OK, OK, OK},
        {"UNSUB 1 5\r\n", "OP UNSUB [1] [5]\n" END0, NULL, OK, OK, OK},
        {"PING\r\n", "OP PING\n" END0, NULL, OK, OK, OK},
        {"PONG\r\n", "OP PONG\n" END0, NULL, OK, OK, OK},
        {"+OK\r\n", "OP +OK\n" END0, NULL, OK, OK, OK},
        {"-ERR 'Unknown Protocol Operation'\r\n", "OP -ERR ['Unknown Protocol Operation']\n" END0,
         NULL, OK, OK, OK},
        {"MSG foo 1 5\r\nhello\r\n", NULL, NULL, "ERR unknown @0\n", "ERR unknown @0\n",
         "ERR unknown @0\n"},
        {"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", hmsg_ok, NULL, "ERR unknown @1\n", OK, OK},
        {"RS+ $G foo q 1\r\n", "OP RS+ [$G] [foo] [q] [1]\n" END0, NULL, "ERR unknown @0\n", OK,
         OK},
        {"RS- $G foo\r\n", "OP RS- [$G] [foo]\n" END0, NULL, "ERR unknown @0\n", OK, OK},
        {"RMSG $G foo + r q1 q2 5\r\nhello\r\n",
         "START RMSG [$G] [foo] [+] [r] [q1] [q2] [5] h=0 t=5\n"
         "MSG RMSG [$G] [foo] [+] [r] [q1] [q2] [5] h=0 t=5 'hello'\n" END0,
         NULL, "ERR unknown @0\n", OK, OK},
        {"LS+ C1 $G foo\r\n", "OP LS+ [C1] [$G] [foo]\n" END0, NULL, "ERR unknown @0\n", OK,
         "ERR unknown @0\n"},
        {"LS-  $G foo\r\n", "OP LS- [$G] [foo]\n" END0, NULL, "ERR unknown @0\n", OK,
         "ERR unknown @0\n"},
        {"LMSG C1 $G foo 0 5\r\nhello\r\n", lmsg_ok, NULL, "ERR unknown @0\n", OK,
         "ERR unknown @0\n"},
        {"A+ $G\r\n", "OP A+ [$G]\n" END0, NULL, "ERR unknown @0\n", OK, OK},
        {"A- $G\r\n", "OP A- [$G]\n" END0, NULL, "ERR unknown @0\n", OK, OK},
    };
    const struct parser_kind *kinds[3] = {CLIENT, ROUTE, GATEWAY};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *per[3] = {cases[i].client, cases[i].route, cases[i].gateway};
        for (int k = 0; k < 3; k++)
            expect(kinds[k], cases[i].in, per[k] == OK ? cases[i].ok : per[k]);
    }
}

Test(parser, kind_tables)
{
    cr_assert(parser_kind_client.check_max_control_line);
    cr_assert(parser_kind_route.check_max_control_line);
    cr_assert(parser_kind_gateway.check_max_control_line);
    cr_assert_eq(parser_kind_client.ops & PARSER_OPBIT(PARSER_OP_MSG), 0);
    cr_assert_eq(parser_kind_route.ops & PARSER_OPBIT(PARSER_OP_MSG), 0);
    cr_assert_eq(parser_kind_gateway.ops & PARSER_OPBIT(PARSER_OP_MSG), 0);
    cr_assert_str_eq(parser_kind_client.name, "Client");
    cr_assert_str_eq(parser_kind_route.name, "Route");
    cr_assert_str_eq(parser_kind_gateway.name, "Gateway");
}

Test(parser, msg_op_with_custom_table)
{
    /* MSG is framed when a table allows it (e.g. a client-side tool). */
    static const struct parser_kind sub_side = {
        "Sub", PARSER_OPBIT(PARSER_OP_MSG) | PARSER_OPBIT(PARSER_OP_HMSG), false};
    expect(&sub_side, "MSG foo 1 r 005\r\nhello\r\n",
           "START MSG [foo] [1] [r] [005] h=0 t=5\n"
           "MSG MSG [foo] [1] [r] [005] h=0 t=5 'hello'\n" END0);
    expect(&sub_side, "HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
           "START HMSG [foo] [1] [12] [12] h=12 t=12\n"
           "MSG HMSG [foo] [1] [12] [12] h=12 t=12 'NATS/1.0\\x0d\\x0a\\x0d\\x0a'\n" END0);
    expect(&sub_side, "PING\r\n", "ERR unknown @0\n");
    expect(&sub_side, "MSG \r\n", "ERR size @4\n");
}

/* ---- op words ---- */

Test(parser, case_insensitive)
{
    expect(CLIENT, "pub foo 2\r\nhi\r\n",
           "START PUB [foo] [2] h=0 t=2\nMSG PUB [foo] [2] h=0 t=2 'hi'\n" END0);
    expect(CLIENT, "PuB foo 0\r\n\r\n",
           "START PUB [foo] [0] h=0 t=0\nMSG PUB [foo] [0] h=0 t=0 ''\n" END0);
    expect(CLIENT, "hPuB foo 0 0\r\n\r\n",
           "START HPUB [foo] [0] [0] h=0 t=0\nMSG HPUB [foo] [0] [0] h=0 t=0 ''\n" END0);
    expect(CLIENT, "sub foo 1\r\nSuB bar 2\r\nuNsUb 1\r\n",
           "OP SUB [foo] [1]\nOP SUB [bar] [2]\nOP UNSUB [1]\n" END0);
    expect(CLIENT, "ping\r\nPiNg\r\npong\r\n+ok\r\n+Ok\r\n",
           "OP PING\nOP PING\nOP PONG\nOP +OK\nOP +OK\n" END0);
    expect(CLIENT, "connect {}\r\nInFo {}\r\n-err x\r\n",
           "OP CONNECT [{}]\nOP INFO [{}]\nOP -ERR [x]\n" END0);
    expect(ROUTE, "rs+ $G a\r\nRs- $G a\r\nls+ C $G a\r\nlS- $G a\r\na+ $G\r\na- $G\r\n",
           "OP RS+ [$G] [a]\nOP RS- [$G] [a]\nOP LS+ [C] [$G] [a]\nOP LS- [$G] [a]\n"
           "OP A+ [$G]\nOP A- [$G]\n" END0);
    expect(ROUTE, "rmsg $G a 1\r\nx\r\nhmsg $G a 0 1\r\ny\r\nlMsG C $G a 0 1\r\nz\r\n",
           "START RMSG [$G] [a] [1] h=0 t=1\nMSG RMSG [$G] [a] [1] h=0 t=1 'x'\n"
           "START HMSG [$G] [a] [0] [1] h=0 t=1\nMSG HMSG [$G] [a] [0] [1] h=0 t=1 'y'\n"
           "START LMSG [C] [$G] [a] [0] [1] h=0 t=1\nMSG LMSG [C] [$G] [a] [0] [1] h=0 t=1 "
           "'z'\n" END0);
}

Test(parser, a_minus_lowercase_u_quirk)
{
    /* parser.go: 'A' then '-' or 'u' is A-; upper-case 'U' is not. */
    expect(GATEWAY, "Au $G\r\n", "OP A- [$G]\n" END0);
    expect(GATEWAY, "AU $G\r\n", "ERR unknown @1\n");
    expect(GATEWAY, "A* $G\r\n", "ERR unknown @1\n");
}

Test(parser, tabs_and_blank_runs)
{
    expect(CLIENT, "PUB\tfoo\t\t5\r\nhello\r\n",
           "START PUB [foo] [5] h=0 t=5\nMSG PUB [foo] [5] h=0 t=5 'hello'\n" END0);
    expect(CLIENT, "SUB \t foo \t q\t 1 \t\r\n", "OP SUB [foo] [q] [1]\n" END0);
    expect(
        CLIENT, "HPUB  foo\t r  2   4  \r\nABCD\r\n",
        "START HPUB [foo] [r] [2] [4] h=2 t=4\nMSG HPUB [foo] [r] [2] [4] h=2 t=4 'ABCD'\n" END0);
    expect(CLIENT, "CONNECT\t \t{}\r\n", "OP CONNECT [{}]\n" END0);
    expect(CLIENT, "-ERR\t 'a b'\r\n", "OP -ERR ['a b']\n" END0);
    /* CONNECT/INFO keep trailing blanks: the argument is the raw rest of line */
    expect(CLIENT, "INFO {} \r\n", "OP INFO [{} ]\n" END0);
}

Test(parser, bare_lf)
{
    expect(CLIENT, "PING\nPONG\n+OK\n", "OP PING\nOP PONG\nOP +OK\n" END0);
    expect(CLIENT, "SUB foo 1\nUNSUB 1\n", "OP SUB [foo] [1]\nOP UNSUB [1]\n" END0);
    expect(CLIENT, "PUB foo 2\nhi\r\n",
           "START PUB [foo] [2] h=0 t=2\nMSG PUB [foo] [2] h=0 t=2 'hi'\n" END0);
    expect(CLIENT, "CONNECT {}\n", "OP CONNECT [{}]\n" END0);
    expect(ROUTE, "RS+ $G foo\n", "OP RS+ [$G] [foo]\n" END0);
}

Test(parser, ping_pong_ok_ignore_rest_of_line)
{
    expect(CLIENT, "PINGXYZ\r\n", "OP PING\n" END0);
    expect(CLIENT, "PING  \r  \n", "OP PING\n" END0);
    expect(CLIENT, "PONG foo bar\r\n", "OP PONG\n" END0);
    expect(CLIENT, "+OKAY\r\n", "OP +OK\n" END0);
    expect(CLIENT, "PING\r", "END tail=0 need=1\n");
    expect(CLIENT, "PIN\r\n", "ERR unknown @3\n");
    expect(CLIENT, "PINGPUB foo 1\r\nx\r\n", "OP PING\nERR unknown @15\n");
}

Test(parser, ping_tail_is_consumed_not_buffered)
{
    struct parser p;
    struct rec r;
    char junk[1000];
    struct parser_res res;

    rec_init(&r);
    memset(junk, 'x', sizeof(junk));
    parser_init(&p, CLIENT, 16);
    r.buf = "PING";
    r.buflen = 4;
    res = parser_feed(&p, "PING", 4, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 4);
    for (int i = 0; i < 100; i++) {
        r.buf = junk;
        r.buflen = sizeof(junk);
        res = parser_feed(&p, junk, sizeof(junk), &cbs, &r);
        cr_assert_eq(res.rc, 0);
        cr_assert_eq(res.consumed, sizeof(junk));
    }
    cr_assert_eq(r.ops, 0);
    r.buf = "x\r\nPONG\r\n";
    r.buflen = 9;
    res = parser_feed(&p, r.buf, 9, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 9);
    cr_assert_str_eq(r.log, "OP PING\nOP PONG\n");
    rec_free(&r);
}

Test(parser, empty_line_and_leading_space)
{
    expect(CLIENT, "\r\n", "ERR unknown @0\n");
    expect(CLIENT, "\n", "ERR unknown @0\n");
    expect(CLIENT, " PING\r\n", "ERR unknown @0\n");
    expect(CLIENT, "\tPING\r\n", "ERR unknown @0\n");
    expect(ROUTE, "\r\n", "ERR unknown @0\n");
    expect(GATEWAY, " RS+ $G a\r\n", "ERR unknown @0\n");
    expect(CLIENT, "PING\r\n\r\nPING\r\n", "OP PING\nERR unknown @6\n");
    expect_n(CLIENT, PARSER_MAX_CONTROL_LINE, "\0", 1, "ERR unknown @0\n");
}

Test(parser, connect_info_without_space)
{
    expect(CLIENT, "CONNECT{\"verbose\":false}\r\n", "OP CONNECT [{\"verbose\":false}]\n" END0);
    expect(ROUTE, "INFO{\"a\":1}\r\n", "OP INFO [{\"a\":1}]\n" END0);
    /* no JSON at all: an empty argument, which the kind layer rejects */
    expect(CLIENT, "CONNECT\r\n", "OP CONNECT []\n" END0);
    expect(CLIENT, "CONNECT \r\n", "OP CONNECT []\n" END0);
    expect(CLIENT, "INFO  \r\n", "OP INFO []\n" END0);
    expect(CLIENT, "CONNECTX\r\n", "OP CONNECT [X]\n" END0);
}

Test(parser, separator_required)
{
    expect(CLIENT, "PUB\r\n", "ERR unknown @3\n");
    expect(CLIENT, "PUBfoo 1\r\n", "ERR unknown @3\n");
    expect(CLIENT, "HPUB\r\n", "ERR unknown @4\n");
    expect(CLIENT, "SUB\r\n", "ERR unknown @3\n");
    expect(CLIENT, "UNSUB\r\n", "ERR unknown @5\n");
    expect(CLIENT, "UNSUBUNSUB 1\r\n", "ERR unknown @5\n");
    expect(CLIENT, "UNSUB_2\r\n", "ERR unknown @5\n");
    expect(CLIENT, "-ERR\r\n", "ERR unknown @4\n");
    expect(CLIENT, "-ERRx\r\n", "ERR unknown @4\n");
    expect(ROUTE, "RS+$G foo\r\n", "ERR unknown @3\n");
    expect(ROUTE, "RMSG\r\n", "ERR unknown @4\n");
    expect(ROUTE, "A+\r\n", "ERR unknown @2\n");
    expect(ROUTE, "LS-\r\n", "ERR unknown @3\n");
    /* separator then nothing: the kind layer sees no arguments */
    expect(CLIENT, "SUB  \r\n", "OP SUB\n" END0);
    expect(CLIENT, "UNSUB          \t       \r\n", "OP UNSUB\n" END0);
}

Test(parser, should_fail_like_parser_go)
{
    /* parser_test.go TestShouldFail, as far as framing decides. */
    static const char *bad[] = {
        "xxx",       "Px",
        "PIx",       "PINx",
        " PING",     "POx",
        "PONx",      "+x",
        "+Ox",       "-x",
        "-Ex",       "-ERx",
        "-ERRx",     "Cx",
        "COx",       "CONx",
        "CONNx",     "CONNEx",
        "CONNECx",   "PUx",
        "Sx",        "SUx",
        "Ux",        "UNx",
        "UNSx",      "UNSUx",
        "UNSUBx",    "Ix",
        "INx",       "INFx",
        "SUB\r\n",   "UNSUB\r\n",
        "M",         "Mx",
        "MSx",       "MSGx",
        "MSG  \r\n", "UNSUB_\t2\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int k = 0; k < 3; k++) {
            const struct parser_kind *kk = k == 0 ? CLIENT : k == 1 ? ROUTE : GATEWAY;
            char *got =
                run_log(kk, PARSER_MAX_CONTROL_LINE, bad[i], strlen(bad[i]), NULL, 0, NULL, NULL);
            cr_assert(strncmp(got, "ERR unknown", 11) == 0, "[%s] on %s: %s", bad[i], kk->name,
                      got);
            free(got);
        }
    }
    /* size-level failures from the same list close silently */
    expect(CLIENT, "PUB foo\r\n", "ERR size @4\n");
    expect(CLIENT, "PUB  \r\n", "ERR size @5\n");
    expect(CLIENT, "PUB foo bar       \r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 2\r\nok \r\n", "START PUB [foo] [2] h=0 t=2\nERR term @13\n");
    expect(CLIENT, "PUB foo 2\r\nok\r \n", "START PUB [foo] [2] h=0 t=2\nERR term @14\n");
}

/* ---- sizes ---- */

Test(parser, size_errors)
{
    expect(CLIENT, "PUB foo abc\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo -1\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo +5\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 5x\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 0x10\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 3333333333333333333333333333333333333333333333333\r\n",
           "ERR size @8\n");
    expect(CLIENT, "PUB foo 18446744073709551617\r\n", "ERR size @8\n");
    /* nats-server's parseSize: at most 9 digits, even with leading zeros */
    expect(CLIENT, "PUB foo 1000000000\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 0000000005\r\n", "ERR size @8\n");
    expect(CLIENT, "PUB foo 999999999\r\n",
           "START PUB [foo] [999999999] h=0 t=999999999\nEND tail=19 need=1000000020\n");
    expect(CLIENT, "PUB \r\n", "ERR size @4\n");
    expect(ROUTE, "RMSG $G foo bar\r\n", "ERR size @12\n");
    expect(ROUTE, "RMSG $G foo -1\r\n", "ERR size @12\n");
    expect(GATEWAY, "RMSG $G foo 99999999999\r\n", "ERR size @12\n");
}

Test(parser, header_size_errors)
{
    expect(CLIENT, "HPUB foo x 5\r\n", "ERR hdrsize @9\n");
    expect(CLIENT, "HPUB foo -1 5\r\n", "ERR hdrsize @9\n");
    expect(CLIENT, "HPUB foo 5\r\n", "ERR hdrsize @5\n");
    expect(CLIENT, "HPUB 5\r\n", "ERR hdrsize @5\n");
    expect(CLIENT, "HPUB foo 1 -1\r\n", "ERR size @11\n");
    expect(CLIENT, "HPUB foo 6 5\r\n", "ERR hdrbig @9\n");
    expect(CLIENT, "HPUB foo 1234567890 5\r\n", "ERR hdrsize @9\n");
    expect(ROUTE, "HMSG $G foo 10 5\r\n", "ERR hdrbig @12\n");
    expect(GATEWAY, "HMSG $G foo q 5\r\n", "ERR hdrsize @12\n");
    expect(ROUTE, "LMSG C $G foo 5\r\n", "ERR hdrsize @10\n");
    expect(ROUTE, "LMSG C $G foo 9 8\r\n", "ERR hdrbig @14\n");
    /* header == total is fine */
    expect(CLIENT, "HPUB foo 2 2\r\nab\r\n",
           "START HPUB [foo] [2] [2] h=2 t=2\nMSG HPUB [foo] [2] [2] h=2 t=2 'ab'\n" END0);
}

Test(parser, size_token_kept_verbatim)
{
    expect(CLIENT, "PUB foo 005\r\nhello\r\n",
           "START PUB [foo] [005] h=0 t=5\nMSG PUB [foo] [005] h=0 t=5 'hello'\n" END0);
    expect(CLIENT, "HPUB foo bar 002 005\r\nhello\r\n",
           "START HPUB [foo] [bar] [002] [005] h=2 t=5\n"
           "MSG HPUB [foo] [bar] [002] [005] h=2 t=5 'hello'\n" END0);
}

Test(parser, err_text)
{
    cr_assert_str_eq(parser_err_text(PARSER_ERR_UNKNOWN_OP), "Unknown Protocol Operation");
    cr_assert_str_eq(parser_err_text(PARSER_ERR_BAD_TERMINATOR), "Unknown Protocol Operation");
    cr_assert_str_eq(parser_err_text(PARSER_ERR_MAX_CONTROL_LINE), "maximum control line exceeded");
    cr_assert_str_eq(parser_err_text(PARSER_ERR_AUTH), "Authorization Violation");
    cr_assert_null(parser_err_text(PARSER_ERR_BAD_SIZE));
    cr_assert_null(parser_err_text(PARSER_ERR_BAD_HDR_SIZE));
    cr_assert_null(parser_err_text(PARSER_ERR_HDR_TOO_BIG));
    cr_assert_null(parser_err_text(0));
    cr_assert_null(parser_err_text(77));
}

Test(parser, op_names)
{
    static const char *names[PARSER_OP_COUNT] = {
        "CONNECT", "INFO", "PUB", "HPUB", "SUB",  "UNSUB", "PING", "PONG", "+OK", "-ERR",
        "MSG",     "HMSG", "RS+", "RS-",  "RMSG", "LS+",   "LS-",  "LMSG", "A+",  "A-",
    };
    for (int i = 0; i < PARSER_OP_COUNT; i++)
        cr_assert_str_eq(parser_op_name((enum parser_op)i), names[i]);
    cr_assert_str_eq(parser_op_name(PARSER_OP_COUNT), "?");
}

/* ---- payload terminators and contents ---- */

Test(parser, bad_terminators)
{
    const char *st = "START PUB [foo] [2] h=0 t=2\n";
    char want[128];

    snprintf(want, sizeof(want), "%sERR term @13\n", st);
    expect(CLIENT, "PUB foo 2\r\nhiX\r\n", want);
    expect(CLIENT, "PUB foo 2\r\nhi\n", want);
    expect(CLIENT, "PUB foo 2\r\nhi \r\n", want);
    expect_n(CLIENT, PARSER_MAX_CONTROL_LINE, "PUB foo 2\r\nhi\0", 14, want);
    snprintf(want, sizeof(want), "%sERR term @14\n", st);
    expect(CLIENT, "PUB foo 2\r\nhi\rX", want);
    expect(CLIENT, "PUB foo 2\r\nhi\r\r\n", want);
    /* too few bytes is not an error yet: waiting for the rest */
    snprintf(want, sizeof(want), "%sEND tail=13 need=15\n", st);
    expect(CLIENT, "PUB foo 2\r\nhi", want);
    snprintf(want, sizeof(want), "%sEND tail=14 need=15\n", st);
    expect(CLIENT, "PUB foo 2\r\nhi\r", want);
    expect(ROUTE, "RMSG $G foo 1\r\nxy\r\n", "START RMSG [$G] [foo] [1] h=0 t=1\nERR term @16\n");
}

Test(parser, payload_with_crlf_and_nuls)
{
    static const char in[] = "PUB foo 6\r\n\r\n\0\r\n\0\r\nHPUB a 2 3\r\n\0\n\r\r\n";
    expect_n(CLIENT, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1,
             "START PUB [foo] [6] h=0 t=6\n"
             "MSG PUB [foo] [6] h=0 t=6 '\\x0d\\x0a\\x00\\x0d\\x0a\\x00'\n"
             "START HPUB [a] [2] [3] h=2 t=3\n"
             "MSG HPUB [a] [2] [3] h=2 t=3 '\\x00\\x0a\\x0d'\n" END0);
    /* a payload that looks like protocol is still payload */
    expect(ROUTE, "RMSG $G a 8\r\nPING\r\n\r\n\r\nPING\r\n",
           "START RMSG [$G] [a] [8] h=0 t=8\n"
           "MSG RMSG [$G] [a] [8] h=0 t=8 'PING\\x0d\\x0a\\x0d\\x0a'\nOP PING\n" END0);
}

Test(parser, zero_length_payloads)
{
    expect(CLIENT, "PUB foo 0\r\n\r\nPUB foo r 0\r\n\r\n",
           "START PUB [foo] [0] h=0 t=0\nMSG PUB [foo] [0] h=0 t=0 ''\n"
           "START PUB [foo] [r] [0] h=0 t=0\nMSG PUB [foo] [r] [0] h=0 t=0 ''\n" END0);
    expect(CLIENT, "HPUB foo 0 0\r\n\r\n",
           "START HPUB [foo] [0] [0] h=0 t=0\nMSG HPUB [foo] [0] [0] h=0 t=0 ''\n" END0);
    expect(CLIENT, "PUB foo 0\r\n", "START PUB [foo] [0] h=0 t=0\nEND tail=11 need=13\n");
    expect(CLIENT, "PUB foo 0\r\nX", "START PUB [foo] [0] h=0 t=0\nERR term @11\n");
}

/* ---- max_control_line ---- */

Test(parser, max_control_line_every_kind)
{
    /* parser_test.go TestMaxControlLine: mcl 8, partial and whole; natsd
     * bounds routes and gateways too (under their own, larger limit) */
    static const char pub[] = "PUB foo.bar.baz 2\r\nok\r\n";
    expect_n(CLIENT, 8, pub, 14, "ERR mcl @4\n");
    expect_n(CLIENT, 8, pub, sizeof(pub) - 1, "ERR mcl @4\n");
    expect_n(ROUTE, 8, pub, 14, "ERR mcl @4\n");
    expect_n(ROUTE, 8, "RMSG $G foo.bar 2\r\nok\r\n", 23, "ERR mcl @5\n");
    expect_n(GATEWAY, 8, pub, sizeof(pub) - 1, "ERR mcl @4\n");
    expect_n(GATEWAY, 8, "CONNECT {\"ab\":12}", 17, "ERR mcl @8\n");
    expect_n(ROUTE, 32, pub, sizeof(pub) - 1,
             "START PUB [foo.bar.baz] [2] h=0 t=2\n"
             "MSG PUB [foo.bar.baz] [2] h=0 t=2 'ok'\n" END0);
}

Test(parser, max_control_line_blank_run)
{
    /* blanks after the op word are kept until the line is whole: a run longer
     * than the limit is refused, partial or whole, for every op with
     * arguments; up to the limit they are not counted */
    expect_n(CLIENT, 8, "CONNECT         ", 16, "ERR mcl @7\n");
    expect_n(CLIENT, 8, "CONNECT        ", 15, "END tail=15 need=16\n");
    expect_n(ROUTE, 8, "PUB          foo 0\r\n\r\n", 22, "ERR mcl @3\n");
    expect_n(GATEWAY, 8, "SUB \t \t \t \t \t", 13, "ERR mcl @3\n");
    expect_n(CLIENT, 8, "SUB        foo 1\r\n", 18, "OP SUB [foo] [1]\n" END0);
}

Test(parser, max_control_line_boundaries)
{
    /* argument part "foo.ba 2" is exactly 8 bytes */
    expect_n(CLIENT, 8, "PUB foo.ba 2\r\nok\r\n", 18,
             "START PUB [foo.ba] [2] h=0 t=2\nMSG PUB [foo.ba] [2] h=0 t=2 'ok'\n" END0);
    expect_n(CLIENT, 8, "PUB foo.bar 2\r\nok\r\n", 19, "ERR mcl @4\n");
    /* separators are not counted; a trailing CR of a partial line is not either */
    expect_n(CLIENT, 8, "PUB  \t foo.ba 2\r\nok\r\n", 21,
             "START PUB [foo.ba] [2] h=0 t=2\nMSG PUB [foo.ba] [2] h=0 t=2 'ok'\n" END0);
    expect_n(CLIENT, 8, "PUB foo.ba 2\r", 13, "END tail=13 need=14\n");
    expect_n(CLIENT, 8, "PUB foo.ba 22", 13, "ERR mcl @4\n");
    /* every op with arguments is checked, including CONNECT, INFO, -ERR */
    expect_n(CLIENT, 8, "CONNECT {\"a\":true}\r\n", 20, "ERR mcl @8\n");
    expect_n(CLIENT, 8, "CONNECT{\"a\":true}", 17, "ERR mcl @7\n");
    expect_n(CLIENT, 8, "SUB foo.bar.baz 1\r\n", 19, "ERR mcl @4\n");
    expect_n(CLIENT, 8, "-ERR 'something'\r\n", 18, "ERR mcl @5\n");
    expect_n(CLIENT, 8, "INFO {\"abcdef\":1}", 17, "ERR mcl @5\n");
    /* PING/PONG/+OK tails are ignored, not measured */
    expect_n(CLIENT, 8, "PING 0123456789abcdef\r\n", 23, "OP PING\n" END0);
    expect_n(ROUTE, 8, "RS+ $G foo.bar.baz\r\n", 20, "ERR mcl @4\n");
    expect_n(ROUTE, 16, "RS+ $G foo.bar.baz\r\n", 20, "OP RS+ [$G] [foo.bar.baz]\n" END0);
}

/* A CR inside a control line makes the byte before its LF drop, so a partial
 * line is measured one byte shorter: it must not be refused before its LF
 * when the whole line fits (found by fuzz/fuzz_parser; the input is kept in
 * fuzz/corpus/parser/). */
Test(parser, max_control_line_cr_inside_line)
{
    static const char fz[] = "PUB f\x08H5 B\roa\n\x99";
    expect_n(CLIENT, 8, fz, sizeof(fz) - 1, "ERR size @9\n");
    expect_n(CLIENT, 8, "SUB a\rbcdefgh\n", 14, "OP SUB [a] [bcdefg]\n" END0);
    expect_n(CLIENT, 8, "SUB a\rbcdefghi\n", 15, "ERR mcl @4\n");
    expect_n(CLIENT, 8, "SUB a\rbcdefgh", 13, "END tail=13 need=14\n");
}

Test(parser, max_control_line_default)
{
    char line[PARSER_MAX_CONTROL_LINE + 64];
    char want[PARSER_MAX_CONTROL_LINE + 64];
    size_t n;

    /* "SUB " + 4094 'a' + " 1" = argument of exactly 4096 bytes */
    memcpy(line, "SUB ", 4);
    memset(line + 4, 'a', PARSER_MAX_CONTROL_LINE - 2);
    memcpy(line + 4 + PARSER_MAX_CONTROL_LINE - 2, " 1\r\n", 4);
    n = 4 + PARSER_MAX_CONTROL_LINE + 2;
    char *got = run_log(CLIENT, PARSER_MAX_CONTROL_LINE, line, n, NULL, 0, NULL, NULL);
    snprintf(want, sizeof(want), "OP SUB [%.*s] [1]\n" END0, PARSER_MAX_CONTROL_LINE - 2, line + 4);
    cr_assert_str_eq(got, want);
    free(got);
    /* one more byte */
    memcpy(line + 4 + PARSER_MAX_CONTROL_LINE - 2, "a 1\r\n", 5);
    got = run_log(CLIENT, PARSER_MAX_CONTROL_LINE, line, n + 1, NULL, 0, NULL, NULL);
    cr_assert_str_eq(got, "ERR mcl @4\n");
    free(got);
    /* partial: refused as soon as the argument passes the limit */
    size_t cut = 4 + PARSER_MAX_CONTROL_LINE;
    got = run_log(CLIENT, PARSER_MAX_CONTROL_LINE, line, n + 1, &cut, 1, NULL, NULL);
    cr_assert_str_eq(got, "ERR mcl @4\n");
    free(got);
    struct parser p;
    struct rec r;
    rec_init(&r);
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    r.buf = line;
    r.buflen = 4 + PARSER_MAX_CONTROL_LINE;
    struct parser_res res = parser_feed(&p, line, 4 + PARSER_MAX_CONTROL_LINE, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 0);
    r.buflen = 5 + PARSER_MAX_CONTROL_LINE;
    res = parser_feed(&p, line, 5 + PARSER_MAX_CONTROL_LINE, &cbs, &r);
    cr_assert_eq(res.rc, PARSER_ERR_MAX_CONTROL_LINE);
    cr_assert_eq(res.err_off, 4);
    rec_free(&r);
}

/* ---- callbacks: need, abort, await_connect ---- */

Test(parser, need_reports_whole_message)
{
    struct parser p;
    struct rec r;
    static const char in[] = "PING\r\nPUB foo 100\r\n0123456789";
    struct parser_res res;

    rec_init(&r);
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    r.buf = in;
    r.buflen = sizeof(in) - 1;
    res = parser_feed(&p, in, sizeof(in) - 1, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 6);
    cr_assert_eq(res.need, 13 + 100 + 2);
    cr_assert_eq(r.starts, 1);
    /* same tail again, nothing new: no second on_msg_start */
    r.buf = in + 6;
    r.buflen = sizeof(in) - 7;
    res = parser_feed(&p, in + 6, sizeof(in) - 7, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 0);
    cr_assert_eq(res.need, 115);
    cr_assert_eq(r.starts, 1);
    cr_assert_eq(r.msgs, 0);
    /* partial line: need is one more byte */
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    res = parser_feed(&p, "SUB fo", 6, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 0);
    cr_assert_eq(res.need, 7);
    /* nothing at all */
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    res = parser_feed(&p, "", 0, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, 0);
    cr_assert_eq(res.need, 1);
    rec_free(&r);
}

Test(parser, on_msg_start_can_reject_before_payload)
{
    struct parser p;
    struct rec r;
    static const char in[] = "PUB a 2\r\nok\r\nPUB b 20\r\n01234567890123456789\r\nPING\r\n";
    struct parser_res res;

    rec_init(&r);
    r.reject_start_over = 10;
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    r.buf = in;
    r.buflen = 24;
    /* only the control line of the big one is present: rejected already */
    res = parser_feed(&p, in, 24, &cbs, &r);
    cr_assert_eq(res.rc, 77);
    cr_assert_eq(res.consumed, 13);
    cr_assert_eq(res.err_off, 13);
    cr_assert_eq(r.starts, 2);
    cr_assert_eq(r.msgs, 1);
    /* with the whole payload present it is rejected just the same */
    rec_free(&r);
    rec_init(&r);
    r.reject_start_over = 10;
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    r.buf = in;
    r.buflen = sizeof(in) - 1;
    res = parser_feed(&p, in, sizeof(in) - 1, &cbs, &r);
    cr_assert_eq(res.rc, 77);
    cr_assert_eq(r.msgs, 1);
    cr_assert_eq(r.ops, 0);
    rec_free(&r);
}

Test(parser, on_op_can_stop)
{
    struct parser p;
    struct rec r;
    static const char in[] = "SUB a 1\r\n-ERR 'x'\r\nPING\r\n";
    struct parser_res res;

    rec_init(&r);
    r.stop_on_op = PARSER_OP_ERR;
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    r.buf = in;
    r.buflen = sizeof(in) - 1;
    res = parser_feed(&p, in, sizeof(in) - 1, &cbs, &r);
    cr_assert_eq(res.rc, 66);
    cr_assert_eq(res.consumed, 9);
    cr_assert_eq(res.err_off, 9);
    cr_assert_str_eq(r.log, "OP SUB [a] [1]\nOP -ERR ['x']\n");
    rec_free(&r);
}

Test(parser, null_callbacks_accept_silently)
{
    struct parser p;
    static const struct parser_cb none = {NULL, NULL, NULL, NULL};
    static const char in[] = "PING\r\nPUB a 2\r\nok\r\nSUB a 1\r\n";
    struct parser_res res;

    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    res = parser_feed(&p, in, sizeof(in) - 1, &none, NULL);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, sizeof(in) - 1);
}

static struct parser_res feed_await(struct parser *p, struct rec *r, const char *in,
                                    const struct parser_cb *cb)
{
    r->p = p;
    r->buf = in;
    r->buflen = strlen(in);
    return parser_feed(p, in, strlen(in), cb, r);
}

Test(parser, await_connect)
{
    struct parser p;
    struct rec r;
    struct parser_res res;
    struct parser_cb with_hook = cbs;

    with_hook.on_not_connect = cb_not_connect;

    /* no hook: any first byte but C/c is an Authorization Violation */
    static const char *firsts[] = {"PING\r\n", "PUB a 1\r\nx\r\n", " CONNECT {}\r\n", "xyz", "\r\n",
                                   "P"};
    for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
        rec_init(&r);
        parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
        p.await_connect = true;
        res = feed_await(&p, &r, firsts[i], &cbs);
        cr_assert_eq(res.rc, PARSER_ERR_AUTH, "%s", firsts[i]);
        cr_assert_eq(res.err_off, 0);
        rec_free(&r);
    }

    /* CONNECT first; the kind layer clears the flag on success */
    rec_init(&r);
    r.clear_await = true;
    parser_init(&p, GATEWAY, PARSER_MAX_CONTROL_LINE);
    p.await_connect = true;
    res = feed_await(&p, &r, "connect {}\r\nPING\r\n", &cbs);
    cr_assert_eq(res.rc, 0);
    cr_assert_str_eq(r.log, "OP CONNECT [{}]\nOP PING\n");
    rec_free(&r);

    /* not cleared (CONNECT failed auth... but the layer went on): next op refused */
    rec_init(&r);
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    p.await_connect = true;
    res = feed_await(&p, &r, "CONNECT {}\r\nPING\r\n", &cbs);
    cr_assert_eq(res.rc, PARSER_ERR_AUTH);
    cr_assert_eq(res.err_off, 12);
    cr_assert_eq(res.consumed, 12);
    rec_free(&r);

    /* hook says go on (no_auth_user) and clears the flag: asked once */
    rec_init(&r);
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    p.await_connect = true;
    res = feed_await(&p, &r, "PING\r\nPONG\r\n", &with_hook);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(r.not_connect_calls, 1);
    cr_assert_str_eq(r.log, "OP PING\nOP PONG\n");
    rec_free(&r);

    /* hook refuses with its own code */
    rec_init(&r);
    r.not_connect_rc = 55;
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    p.await_connect = true;
    res = feed_await(&p, &r, "PING\r\n", &with_hook);
    cr_assert_eq(res.rc, 55);
    cr_assert_eq(r.ops, 0);
    rec_free(&r);
}

Test(parser, args_overflow)
{
    char line[1024];
    size_t n = 0;
    struct parser_slice all[64];

    n += (size_t)snprintf(line + n, sizeof(line) - n, "RMSG $G foo | ");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "q%d ", i);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "3\r\nabc\r\n");

    struct parser p;
    struct rec r;
    rec_init(&r);
    parser_init(&p, ROUTE, PARSER_MAX_CONTROL_LINE);
    r.buf = line;
    r.buflen = n;
    struct parser_res res = parser_feed(&p, line, n, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, n);
    cr_assert_eq(r.msgs, 1);
    /* 3 + 40 + 1 = 44 tokens, 32 stored */
    cr_assert(strstr(r.log, "[q28] +12 h=0 t=3 'abc'") != NULL, "%s", r.log);
    rec_free(&r);

    struct parser_slice l = {line + 5, (size_t)(strstr(line, "\r\n") - line) - 5};
    cr_assert_eq(parser_split_args(l, all, 64), 44);
    cr_assert_eq(all[43].len, 1);
    cr_assert_eq(all[43].p[0], '3');
    cr_assert_eq(parser_split_args(l, all, 2), 44);
    struct parser_slice empty = {"  \t ", 4};
    cr_assert_eq(parser_split_args(empty, all, 2), 0);
}

Test(parser, snippet_like_proto_snippet)
{
    /* parser_test.go TestProtoSnippet */
    static const char sample[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const size_t n = sizeof(sample) - 1;
    char out[PARSER_SNIPPET_BUFSZ];
    char want[64];

    for (size_t start = 0; start <= 54; start++) {
        if (start >= n) {
            snprintf(want, sizeof(want), "\"\"");
        } else {
            size_t stop = start + 32 > n ? n - 1 : start + 32;
            snprintf(want, sizeof(want), "\"%.*s\"", (int)(stop - start), sample + start);
        }
        parser_snippet(sample, n, start, out, sizeof(out));
        cr_assert_str_eq(out, want, "start %zu", start);
    }
    parser_snippet(sample, n, 21, out, sizeof(out));
    cr_assert_str_eq(out, "\"vwxyzABCDEFGHIJKLMNOPQRSTUVWXY\"");
    parser_snippet("PUB foo 2\r\nokX\r\n", 16, 13, out, sizeof(out));
    cr_assert_str_eq(out, "\"X\\r\"");
}

/* ---- mixed streams in every feeding mode ---- */

Test(parser, mixed_client_stream_every_split)
{
    static const char in[] = "CONNECT {\"verbose\":false,\"headers\":true}\r\n"
                             "PING\r\n"
                             "sub foo 1\r\n"
                             "SUB\tbar q 2\r\n"
                             "PUB foo 5\r\nhello\r\n"
                             "PUB foo reply 0\r\n\r\n"
                             "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nworld\r\n"
                             "PINGxyz\n"
                             "PUB bar 4\r\n\r\n\r\n\r\n"
                             "+OK\r\n"
                             "UNSUB 1 10\r\n"
                             "pong\r\n"
                             "PUB a 005\r\nab\0de\r\n"
                             "INFO{}\r\n"
                             "-ERR 'x'\r\n"
                             "PUB partial 10\r\n01234";
    static const char want[] =
        "OP CONNECT [{\"verbose\":false,\"headers\":true}]\n"
        "OP PING\n"
        "OP SUB [foo] [1]\n"
        "OP SUB [bar] [q] [2]\n"
        "START PUB [foo] [5] h=0 t=5\n"
        "MSG PUB [foo] [5] h=0 t=5 'hello'\n"
        "START PUB [foo] [reply] [0] h=0 t=0\n"
        "MSG PUB [foo] [reply] [0] h=0 t=0 ''\n"
        "START HPUB [foo] [12] [17] h=12 t=17\n"
        "MSG HPUB [foo] [12] [17] h=12 t=17 'NATS/1.0\\x0d\\x0a\\x0d\\x0aworld'\n"
        "OP PING\n"
        "START PUB [bar] [4] h=0 t=4\n"
        "MSG PUB [bar] [4] h=0 t=4 '\\x0d\\x0a\\x0d\\x0a'\n"
        "OP +OK\n"
        "OP UNSUB [1] [10]\n"
        "OP PONG\n"
        "START PUB [a] [005] h=0 t=5\n"
        "MSG PUB [a] [005] h=0 t=5 'ab\\x00de'\n"
        "OP INFO [{}]\n"
        "OP -ERR ['x']\n"
        "START PUB [partial] [10] h=0 t=10\n"
        "END tail=21 need=28\n";
    int starts, msgs;

    expect_n(CLIENT, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1, want);
    free(run_log(CLIENT, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1, NULL, 0, &starts, &msgs));
    cr_assert_eq(starts, 6);
    cr_assert_eq(msgs, 5);
}

Test(parser, mixed_route_stream_every_split)
{
    static const char in[] = "CONNECT {\"name\":\"r1\"}\r\n"
                             "INFO {\"server_id\":\"X\"}\r\n"
                             "RS+ $G foo\r\n"
                             "RS+ $G bar q1 1\r\n"
                             "RS- $G bar q1\r\n"
                             "LS+ C2 $G baz\r\n"
                             "LS-  $G baz\r\n"
                             "RMSG $G foo 5\r\nhello\r\n"
                             "RMSG $G foo reply 2\r\nhi\r\n"
                             "RMSG $G q.sub + rep grp 1\r\nZ\r\n"
                             "RMSG $G bar | q1 q2 3\r\nabc\r\n"
                             "HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
                             "LMSG C2 $G foo 0 2\r\nok\r\n"
                             "PING\r\nPONG\r\n"
                             "A+ $G\r\n"
                             "RMSG $G big 3\r\n\r\n\n\r\n";
    static const char want[] =
        "OP CONNECT [{\"name\":\"r1\"}]\n"
        "OP INFO [{\"server_id\":\"X\"}]\n"
        "OP RS+ [$G] [foo]\n"
        "OP RS+ [$G] [bar] [q1] [1]\n"
        "OP RS- [$G] [bar] [q1]\n"
        "OP LS+ [C2] [$G] [baz]\n"
        "OP LS- [$G] [baz]\n"
        "START RMSG [$G] [foo] [5] h=0 t=5\n"
        "MSG RMSG [$G] [foo] [5] h=0 t=5 'hello'\n"
        "START RMSG [$G] [foo] [reply] [2] h=0 t=2\n"
        "MSG RMSG [$G] [foo] [reply] [2] h=0 t=2 'hi'\n"
        "START RMSG [$G] [q.sub] [+] [rep] [grp] [1] h=0 t=1\n"
        "MSG RMSG [$G] [q.sub] [+] [rep] [grp] [1] h=0 t=1 'Z'\n"
        "START RMSG [$G] [bar] [|] [q1] [q2] [3] h=0 t=3\n"
        "MSG RMSG [$G] [bar] [|] [q1] [q2] [3] h=0 t=3 'abc'\n"
        "START HMSG [$G] [foo] [12] [17] h=12 t=17\n"
        "MSG HMSG [$G] [foo] [12] [17] h=12 t=17 'NATS/1.0\\x0d\\x0a\\x0d\\x0ahello'\n"
        "START LMSG [C2] [$G] [foo] [0] [2] h=0 t=2\n"
        "MSG LMSG [C2] [$G] [foo] [0] [2] h=0 t=2 'ok'\n"
        "OP PING\n"
        "OP PONG\n"
        "OP A+ [$G]\n"
        "START RMSG [$G] [big] [3] h=0 t=3\n"
        "MSG RMSG [$G] [big] [3] h=0 t=3 '\\x0d\\x0a\\x0a'\n" END0;

    expect_n(ROUTE, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1, want);
}

Test(parser, mixed_gateway_stream_every_split)
{
    static const char in[] = "CONNECT {\"gateway\":\"B\"}\r\n"
                             "INFO {\"gateway\":\"B\",\"gateway_cmd\":2}\r\n"
                             "A- $G\r\n"
                             "A+ $G\r\n"
                             "RS+ $G foo\r\n"
                             "RS+ $G bar q2 1\r\n"
                             "RS- $G bar q2\r\n"
                             "RMSG $G foo _GR_.NUmM6c.3o55vG.myrep2 5\r\nhello\r\n"
                             "RMSG $G bar + _GR_.NUmM6c.3o55vG.myrep2 q2 5\r\nhello\r\n"
                             "HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
                             "PING\r\n"
                             "-ERR 'Authorization Violation'\r\n"
                             "LS+ C $G x\r\n";
    static const char want[] =
        "OP CONNECT [{\"gateway\":\"B\"}]\n"
        "OP INFO [{\"gateway\":\"B\",\"gateway_cmd\":2}]\n"
        "OP A- [$G]\n"
        "OP A+ [$G]\n"
        "OP RS+ [$G] [foo]\n"
        "OP RS+ [$G] [bar] [q2] [1]\n"
        "OP RS- [$G] [bar] [q2]\n"
        "START RMSG [$G] [foo] [_GR_.NUmM6c.3o55vG.myrep2] [5] h=0 t=5\n"
        "MSG RMSG [$G] [foo] [_GR_.NUmM6c.3o55vG.myrep2] [5] h=0 t=5 'hello'\n"
        "START RMSG [$G] [bar] [+] [_GR_.NUmM6c.3o55vG.myrep2] [q2] [5] h=0 t=5\n"
        "MSG RMSG [$G] [bar] [+] [_GR_.NUmM6c.3o55vG.myrep2] [q2] [5] h=0 t=5 'hello'\n"
        "START HMSG [$G] [foo] [12] [17] h=12 t=17\n"
        "MSG HMSG [$G] [foo] [12] [17] h=12 t=17 'NATS/1.0\\x0d\\x0a\\x0d\\x0ahello'\n"
        "OP PING\n"
        "OP -ERR ['Authorization Violation']\n"
        "ERR unknown @";
    char *got = run_log(GATEWAY, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1, NULL, 0, NULL, NULL);
    char full[2048];
    snprintf(full, sizeof(full), "%s%zu\n", want, sizeof(in) - 1 - strlen("LS+ C $G x\r\n"));
    cr_assert_str_eq(got, full);
    free(got);
    expect_n(GATEWAY, PARSER_MAX_CONTROL_LINE, in, sizeof(in) - 1, full);
}

Test(parser, buffer_moves_between_calls)
{
    /* The connection compacts and may reallocate: state must be offsets. */
    struct parser p;
    struct rec r;
    static const char in[] = "PUB foo 10\r\n0123456789\r\n";
    char *a = malloc(64), *b = malloc(64);
    struct parser_res res;

    rec_init(&r);
    parser_init(&p, CLIENT, PARSER_MAX_CONTROL_LINE);
    memcpy(a, in, 15);
    r.buf = a;
    r.buflen = 15;
    res = parser_feed(&p, a, 15, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.need, sizeof(in) - 1);
    memset(a, 'Z', 64);
    free(a);
    memcpy(b, in, sizeof(in) - 1);
    r.buf = b;
    r.buflen = sizeof(in) - 1;
    res = parser_feed(&p, b, sizeof(in) - 1, &cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, sizeof(in) - 1);
    cr_assert_str_eq(r.log, "START PUB [foo] [10] h=0 t=10\n"
                            "MSG PUB [foo] [10] h=0 t=10 '0123456789'\n");
    free(b);
    rec_free(&r);
}

/* nats-server's CR rules: a CR anywhere in the argument makes the byte before
 * LF be dropped; SUB/UNSUB split on CR, PUB/HPUB do not. */
struct cr_rec {
    char args[8][32];
    size_t nargs;
};

static int cr_on_op(void *ctx, const struct parser_cmd *cmd)
{
    struct cr_rec *r = ctx;
    r->nargs = cmd->nargs;
    for (size_t i = 0; i < cmd->nargs && i < 8; i++)
        snprintf(r->args[i], sizeof(r->args[i]), "%.*s", (int)cmd->args[i].len, cmd->args[i].p);
    return 0;
}

Test(parser, carriage_returns_inside_arguments)
{
    struct parser_cb cb = {.on_op = cr_on_op, .on_msg = cr_on_op};
    struct parser p;
    struct cr_rec r;
    const char sub[] = "SUB foo.* 2\rM\n";
    parser_init(&p, &parser_kind_client, 4096);
    memset(&r, 0, sizeof(r));
    parser_feed(&p, sub, sizeof(sub) - 1, &cb, &r);
    cr_assert_eq(r.nargs, 2, "the M before LF is dropped, the CR separates");
    cr_assert_str_eq(r.args[0], "foo.*");
    cr_assert_str_eq(r.args[1], "2");

    const char sub2[] = "SUB > 3\r\r\n";
    parser_init(&p, &parser_kind_client, 4096);
    memset(&r, 0, sizeof(r));
    parser_feed(&p, sub2, sizeof(sub2) - 1, &cb, &r);
    cr_assert_eq(r.nargs, 2);
    cr_assert_str_eq(r.args[1], "3");

    const char pub[] = "PUB foo\r.bar reply 3\r\nabc\r\n";
    parser_init(&p, &parser_kind_client, 4096);
    memset(&r, 0, sizeof(r));
    parser_feed(&p, pub, sizeof(pub) - 1, &cb, &r);
    cr_assert_eq(r.nargs, 3, "PUB splits on blanks only");
    cr_assert_str_eq(r.args[0], "foo\r.bar");
    cr_assert_str_eq(r.args[1], "reply");
}

/* ---- PARSER_PAUSE: stop before an op, feed it again later ---- */

struct pause_rec {
    int calls[PARSER_OP_COUNT];
    int pause_op;      /* on_op returns PARSER_PAUSE for this op... */
    unsigned pause_at; /* ...at these calls of it (bit n: the n-th call) */
    char order[64];
    size_t norder;
};

static int pause_cb_op(void *ctx, const struct parser_cmd *c)
{
    struct pause_rec *r = ctx;
    r->calls[c->op]++;
    if ((int)c->op == r->pause_op && (r->pause_at & (1u << r->calls[c->op])))
        return PARSER_PAUSE;
    if (r->norder + 1 < sizeof(r->order))
        r->order[r->norder++] = parser_op_name(c->op)[0];
    return 0;
}

static const struct parser_cb pause_cbs = {pause_cb_op, NULL, NULL, NULL};

Test(parser, pause_stops_before_the_op_and_resumes_at_it)
{
    static const char in[] = "CONNECT {}\r\nPING\r\nSUB a 1\r\nCONNECT {\"x\":1}\r\nUNSUB 1\r\n";
    size_t n = sizeof(in) - 1, second = strstr(in, "CONNECT {\"x") - in;
    struct parser p;
    /* the first CONNECT pauses at its first call, the second at its own */
    struct pause_rec r = {.pause_op = PARSER_OP_CONNECT, .pause_at = (1u << 1) | (1u << 3)};
    parser_init(&p, &parser_kind_client, PARSER_MAX_CONTROL_LINE);
    p.await_connect = true;
    struct parser_res res = parser_feed(&p, in, n, &pause_cbs, &r);
    cr_assert_eq(res.rc, PARSER_PAUSE);
    cr_assert_eq(res.consumed, 0, "the paused op is not consumed");
    cr_assert_eq(r.norder, 0, "nothing after it ran");
    /* fed again from the op: it runs a second time, then what follows */
    p.await_connect = false;
    res = parser_feed(&p, in, n, &pause_cbs, &r);
    cr_assert_eq(res.rc, PARSER_PAUSE, "the second CONNECT pauses");
    cr_assert_eq(res.consumed, second, "consumed %zu, want %zu", res.consumed, second);
    cr_assert_eq(r.calls[PARSER_OP_CONNECT], 3);
    r.order[r.norder] = '\0';
    cr_assert_str_eq(r.order, "CPS");
    res = parser_feed(&p, in + second, n - second, &pause_cbs, &r);
    cr_assert_eq(res.rc, 0);
    cr_assert_eq(res.consumed, n - second);
    r.order[r.norder] = '\0';
    cr_assert_str_eq(r.order, "CPSCU");
}
