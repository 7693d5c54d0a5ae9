/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the framing parser. Byte 0 picks the connection kind
 * and options, byte 1 seeds how the rest is cut into reads. The input is fed
 * whole and then in chunks the way a connection feeds it (keep the
 * unconsumed tail, append the next read, in a freshly allocated buffer); both
 * runs must produce the same callbacks, byte for byte, and the same result,
 * and every slice handed to a callback must lie inside the buffer fed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_log {
    unsigned char *p;
    size_t len, cap;
    const char *buf; /* buffer being fed */
    size_t buflen;
    struct parser *parser;
    size_t reject_over; /* on_msg_start refuses bigger messages (SIZE_MAX: never) */
    int starts, msgs;
};

static void fz_put(struct fz_log *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        l->cap = (l->len + n) * 2 + 64;
        l->p = realloc(l->p, l->cap);
        NASSERT(l->p != NULL);
    }
    memcpy(l->p + l->len, p, n);
    l->len += n;
}

static void fz_put_size(struct fz_log *l, size_t v)
{
    fz_put(l, &v, sizeof(v));
}

static void fz_inside(const struct fz_log *l, struct parser_slice s)
{
    if (s.len == 0)
        return;
    NASSERT(s.p >= l->buf && s.len <= l->buflen && s.p <= l->buf + l->buflen - s.len);
}

static void fz_slice(struct fz_log *l, struct parser_slice s)
{
    fz_inside(l, s);
    fz_put_size(l, s.len);
    fz_put(l, s.p, s.len);
}

static void fz_cmd(struct fz_log *l, char tag, const struct parser_cmd *c)
{
    fz_put(l, &tag, 1);
    fz_put_size(l, (size_t)c->op);
    NASSERT((unsigned)c->op < PARSER_OP_COUNT);
    NASSERT(c->nargs <= PARSER_MAX_ARGS && c->nargs <= c->nargs_total);
    NASSERT(c->nargs_total <= PARSER_MAX_ARGS || c->nargs == PARSER_MAX_ARGS);
    fz_slice(l, c->line);
    fz_put_size(l, c->nargs_total);
    for (size_t i = 0; i < c->nargs; i++) {
        NASSERT(c->args[i].len > 0 || c->op == PARSER_OP_CONNECT || c->op == PARSER_OP_INFO ||
                c->op == PARSER_OP_ERR);
        NASSERT(c->args[i].p >= c->line.p &&
                c->args[i].p + c->args[i].len <= c->line.p + c->line.len);
        fz_slice(l, c->args[i]);
    }
    fz_put_size(l, c->hdr_len);
    fz_put_size(l, c->total_len);
    NASSERT(c->hdr_len <= c->total_len);
}

static int fz_on_op(void *ctx, const struct parser_cmd *c)
{
    struct fz_log *l = ctx;
    fz_cmd(l, 'o', c);
    NASSERT(c->payload.len == 0);
    if (c->op == PARSER_OP_CONNECT)
        l->parser->await_connect = false;
    return 0;
}

static int fz_on_start(void *ctx, const struct parser_cmd *c)
{
    struct fz_log *l = ctx;
    l->starts++;
    NASSERT(l->starts == l->msgs + 1);
    fz_cmd(l, 's', c);
    return c->total_len > l->reject_over ? 77 : 0;
}

static int fz_on_msg(void *ctx, const struct parser_cmd *c)
{
    struct fz_log *l = ctx;
    l->msgs++;
    NASSERT(l->starts == l->msgs);
    fz_cmd(l, 'm', c);
    NASSERT(c->payload.len == c->total_len);
    fz_slice(l, c->payload);
    return 0;
}

static const struct parser_cb fz_cb = {fz_on_op, fz_on_start, fz_on_msg, NULL};

struct fz_cfg {
    const struct parser_kind *kind;
    uint32_t mcl;
    bool await_connect;
    size_t reject_over;
};

/* Feed in[0..n) in chunks (chunk == NULL: all at once). Appends the final
 * result to the log. */
static void fz_run(const struct fz_cfg *cfg, const uint8_t *in, size_t n, uint32_t seed,
                   bool chunked, struct fz_log *l)
{
    struct parser p;
    char *tail = NULL;
    size_t tlen = 0, pos = 0, base = 0;
    struct parser_res res = {0, 0, 1, 0};

    parser_init(&p, cfg->kind, cfg->mcl);
    p.await_connect = cfg->await_connect;
    l->parser = &p;
    l->reject_over = cfg->reject_over;
    while (pos < n || (pos == 0 && n == 0)) {
        size_t chunk = n - pos;
        char *b;
        if (chunked) {
            seed = seed * 1103515245u + 12345u;
            /* mostly small reads, sometimes a single byte, sometimes big */
            switch ((seed >> 16) & 3) {
            case 0:
                chunk = 1;
                break;
            case 1:
                chunk = 1 + ((seed >> 18) & 7);
                break;
            case 2:
                chunk = 1 + ((seed >> 18) & 63);
                break;
            default:
                chunk = 1 + ((seed >> 18) & 1023);
                break;
            }
            if (chunk > n - pos)
                chunk = n - pos;
        }
        b = malloc(tlen + chunk + 1);
        NASSERT(b != NULL);
        if (tlen > 0)
            memcpy(b, tail, tlen);
        if (chunk > 0)
            memcpy(b + tlen, in + pos, chunk);
        free(tail);
        tail = NULL;
        tlen += chunk;
        pos += chunk;
        l->buf = b;
        l->buflen = tlen;
        res = parser_feed(&p, b, tlen, &fz_cb, l);
        NASSERT(res.consumed <= tlen);
        if (res.rc != 0) {
            char snip[PARSER_SNIPPET_BUFSZ];
            NASSERT(res.err_off <= tlen);
            parser_snippet(b, tlen, res.err_off, snip, sizeof(snip));
            NASSERT(snip[0] == '"');
            free(b);
            fz_put(l, "E", 1);
            fz_put(l, &res.rc, sizeof(res.rc));
            fz_put_size(l, base + res.err_off);
            return;
        }
        NASSERT(res.need > tlen - res.consumed);
        base += res.consumed;
        memmove(b, b + res.consumed, tlen - res.consumed);
        tlen -= res.consumed;
        tail = b;
        if (n == 0)
            break;
    }
    fz_put(l, "Z", 1);
    fz_put_size(l, tlen);
    fz_put_size(l, res.need);
    free(tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct parser_kind *kinds[3] = {&parser_kind_client, &parser_kind_route,
                                                 &parser_kind_gateway};
    struct fz_cfg cfg;
    struct fz_log a, b;

    if (size < 2)
        return 0;
    cfg.kind = kinds[(data[0] & 3) % 3];
    cfg.mcl = (data[0] & 0x80) ? PARSER_MAX_CONTROL_LINE : 8u + ((data[0] >> 2) & 0x1f);
    cfg.await_connect = (data[0] & 0x40) != 0;
    cfg.reject_over = (data[0] & 0x20) ? 64 : SIZE_MAX;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    fz_run(&cfg, data + 2, size - 2, data[1], false, &a);
    fz_run(&cfg, data + 2, size - 2, data[1], true, &b);
    NASSERT(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    NASSERT(a.starts == b.starts && a.msgs == b.msgs);
    free(a.p);
    free(b.p);
    return 0;
}
