/* SPDX-License-Identifier: Apache-2.0
 * The one protocol framing parser (see parser.h): finds control lines with
 * memchr, recognises the op word, splits arguments and waits for whole
 * payloads. Behaviour mirrors nats-server's server/parser.go; the per-kind
 * meaning of each op lives in the kind layer. */
#include "parser.h"

#include <string.h>

#include "common.h"
#include "util.h"

/*
 * How the parser works.
 *
 * The connection keeps a contiguous read buffer and always hands us its
 * unconsumed bytes from the start. We never consume part of an op (except the
 * ignored tail of PING/PONG/+OK), so the only state carried between calls is
 * about the op at offset 0 of the next call:
 *
 *   IDLE   nothing pending.
 *   LINE   a control line without its LF yet; `scan` bytes were already
 *          searched, so feeding a long line byte by byte stays linear.
 *   MSG    a message op whose control line was parsed and announced with
 *          on_msg_start; offsets and sizes are kept so that the line is not
 *          validated (or announced) again when the payload arrives.
 *   SKIP   PING/PONG/+OK seen, rest of the line ignored until LF; the bytes
 *          seen so far were consumed.
 */
enum parser_state {
    PARSER_ST_IDLE = 0,
    PARSER_ST_LINE,
    PARSER_ST_MSG,
    PARSER_ST_SKIP,
};

/* How an op is framed after its word. */
enum parser_class {
    PARSER_CL_NOARG = 0, /* PING PONG +OK: anything up to LF ignored */
    PARSER_CL_RAW_OPT,   /* CONNECT INFO: optional blanks, raw rest of line */
    PARSER_CL_RAW_SEP,   /* -ERR: required blank, raw rest of line */
    PARSER_CL_ARGS,      /* required blank, split arguments */
    PARSER_CL_MSG,       /* as ARGS, then <size> payload bytes and CRLF */
    PARSER_CL_HMSG,      /* as MSG, <hdr> <size> at the end */
};

struct parser_opdef {
    const char *name;
    uint8_t len;
    uint8_t cls;
};

static const struct parser_opdef parser_ops[PARSER_OP_COUNT] = {
    [PARSER_OP_CONNECT] = {"CONNECT", 7, PARSER_CL_RAW_OPT},
    [PARSER_OP_INFO] = {"INFO", 4, PARSER_CL_RAW_OPT},
    [PARSER_OP_PUB] = {"PUB", 3, PARSER_CL_MSG},
    [PARSER_OP_HPUB] = {"HPUB", 4, PARSER_CL_HMSG},
    [PARSER_OP_SUB] = {"SUB", 3, PARSER_CL_ARGS},
    [PARSER_OP_UNSUB] = {"UNSUB", 5, PARSER_CL_ARGS},
    [PARSER_OP_PING] = {"PING", 4, PARSER_CL_NOARG},
    [PARSER_OP_PONG] = {"PONG", 4, PARSER_CL_NOARG},
    [PARSER_OP_OK] = {"+OK", 3, PARSER_CL_NOARG},
    [PARSER_OP_ERR] = {"-ERR", 4, PARSER_CL_RAW_SEP},
    [PARSER_OP_MSG] = {"MSG", 3, PARSER_CL_MSG},
    [PARSER_OP_HMSG] = {"HMSG", 4, PARSER_CL_HMSG},
    [PARSER_OP_RS_PLUS] = {"RS+", 3, PARSER_CL_ARGS},
    [PARSER_OP_RS_MINUS] = {"RS-", 3, PARSER_CL_ARGS},
    [PARSER_OP_RMSG] = {"RMSG", 4, PARSER_CL_MSG},
    [PARSER_OP_LS_PLUS] = {"LS+", 3, PARSER_CL_ARGS},
    [PARSER_OP_LS_MINUS] = {"LS-", 3, PARSER_CL_ARGS},
    [PARSER_OP_LMSG] = {"LMSG", 4, PARSER_CL_HMSG},
    [PARSER_OP_A_PLUS] = {"A+", 2, PARSER_CL_ARGS},
    [PARSER_OP_A_MINUS] = {"A-", 2, PARSER_CL_ARGS},
};

#define PARSER_CLIENT_OPS                                                                          \
    (PARSER_OPBIT(PARSER_OP_CONNECT) | PARSER_OPBIT(PARSER_OP_INFO) |                              \
     PARSER_OPBIT(PARSER_OP_PUB) | PARSER_OPBIT(PARSER_OP_HPUB) | PARSER_OPBIT(PARSER_OP_SUB) |    \
     PARSER_OPBIT(PARSER_OP_UNSUB) | PARSER_OPBIT(PARSER_OP_PING) | PARSER_OPBIT(PARSER_OP_PONG) | \
     PARSER_OPBIT(PARSER_OP_OK) | PARSER_OPBIT(PARSER_OP_ERR))

#define PARSER_GATEWAY_OPS                                                                         \
    (PARSER_CLIENT_OPS | PARSER_OPBIT(PARSER_OP_RS_PLUS) | PARSER_OPBIT(PARSER_OP_RS_MINUS) |      \
     PARSER_OPBIT(PARSER_OP_RMSG) | PARSER_OPBIT(PARSER_OP_HMSG) |                                 \
     PARSER_OPBIT(PARSER_OP_A_PLUS) | PARSER_OPBIT(PARSER_OP_A_MINUS))

/* parser.go: 'L' is only reachable on routes (and leafnodes). */
#define PARSER_ROUTE_OPS                                                                           \
    (PARSER_GATEWAY_OPS | PARSER_OPBIT(PARSER_OP_LS_PLUS) | PARSER_OPBIT(PARSER_OP_LS_MINUS) |     \
     PARSER_OPBIT(PARSER_OP_LMSG))

const struct parser_kind parser_kind_client = {"Client", PARSER_CLIENT_OPS, true};
/* Routes and gateways are bounded too (nats-server's are not), under the
 * limit their connection sets (conn_peer_max_control_line). */
const struct parser_kind parser_kind_route = {"Route", PARSER_ROUTE_OPS, true};
const struct parser_kind parser_kind_gateway = {"Gateway", PARSER_GATEWAY_OPS, true};

/* nats-server's parseSize accepts 1 to 9 decimal digits ("999M" at most), so
 * overflow cannot happen and anything longer is an error. */
#define PARSER_SIZE_DIGITS 9

static inline bool parser_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Between arguments a CR also separates for every op but PUB and HPUB:
 * nats-server's splitArg splits on it, while processPub and
 * processHeaderPub split on blanks only. */
static inline bool parser_is_arg_sep(char c, bool cr)
{
    return c == ' ' || c == '\t' || (cr && c == '\r');
}

static size_t parser_split(struct parser_slice line, struct parser_slice *out, size_t max, bool cr);

static inline bool parser_op_splits_cr(enum parser_op op)
{
    return op != PARSER_OP_PUB && op != PARSER_OP_HPUB;
}

/* The ops whose word may start with byte c, before looking at the kind. */
static uint32_t parser_family(char c)
{
    switch (c) {
    case 'C':
    case 'c':
        return PARSER_OPBIT(PARSER_OP_CONNECT);
    case 'I':
    case 'i':
        return PARSER_OPBIT(PARSER_OP_INFO);
    case 'P':
    case 'p':
        return PARSER_OPBIT(PARSER_OP_PUB) | PARSER_OPBIT(PARSER_OP_PING) |
               PARSER_OPBIT(PARSER_OP_PONG);
    case 'H':
    case 'h':
        return PARSER_OPBIT(PARSER_OP_HPUB) | PARSER_OPBIT(PARSER_OP_HMSG);
    case 'S':
    case 's':
        return PARSER_OPBIT(PARSER_OP_SUB);
    case 'U':
    case 'u':
        return PARSER_OPBIT(PARSER_OP_UNSUB);
    case 'M':
    case 'm':
        return PARSER_OPBIT(PARSER_OP_MSG);
    case 'R':
    case 'r':
        return PARSER_OPBIT(PARSER_OP_RS_PLUS) | PARSER_OPBIT(PARSER_OP_RS_MINUS) |
               PARSER_OPBIT(PARSER_OP_RMSG);
    case 'L':
    case 'l':
        return PARSER_OPBIT(PARSER_OP_LS_PLUS) | PARSER_OPBIT(PARSER_OP_LS_MINUS) |
               PARSER_OPBIT(PARSER_OP_LMSG);
    case 'A':
    case 'a':
        return PARSER_OPBIT(PARSER_OP_A_PLUS) | PARSER_OPBIT(PARSER_OP_A_MINUS);
    case '+':
        return PARSER_OPBIT(PARSER_OP_OK);
    case '-':
        return PARSER_OPBIT(PARSER_OP_ERR);
    default:
        return 0;
    }
}

/* Does input byte c match byte want of an op name (letters without case)? */
static inline bool parser_char_eq(char c, char want, unsigned op, size_t i)
{
    if (want >= 'A' && want <= 'Z')
        return (c | 0x20) == (want | 0x20);
    /* parser.go takes "Au" (lower case only) for A- as well: keep it. */
    if (op == PARSER_OP_A_MINUS && i == 1 && c == 'u')
        return true;
    return c == want;
}

/* Recognise the op word at b[0..n). Returns 1 and sets *op when a whole word
 * of an allowed op is present, 0 when the bytes so far are a proper prefix of
 * one, -1 (with *bad = offending offset) otherwise. No op name is a prefix of
 * another, so the first full match is the only one. */
static int parser_word(uint32_t allowed, const char *b, size_t n, unsigned *op, size_t *bad)
{
    uint32_t fam = parser_family(b[0]) & allowed;
    size_t best = 0;
    bool partial = false;

    if (fam == 0) {
        *bad = 0;
        return -1;
    }
    while (fam != 0) {
        unsigned o = (unsigned)__builtin_ctz(fam);
        const struct parser_opdef *d = &parser_ops[o];
        size_t i = 1;

        fam &= fam - 1;
        while (i < d->len && i < n && parser_char_eq(b[i], d->name[i], o, i))
            i++;
        if (i == d->len) {
            *op = o;
            return 1;
        }
        if (i == n)
            partial = true;
        else if (i > best)
            best = i;
    }
    if (partial)
        return 0;
    *bad = best;
    return -1;
}

/* parseSize: 1-9 ASCII digits, nothing else. */
static bool parser_size(const char *s, size_t len, size_t *out)
{
    size_t v = 0;

    if (len == 0 || len > PARSER_SIZE_DIGITS)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The last token of b[off..*end): returns its start and moves *end to it.
 * Returns false when there is none. */
static bool parser_last_token(const char *b, size_t off, size_t *end, size_t *start, bool cr)
{
    size_t e = *end;
    size_t s;

    while (e > off && parser_is_arg_sep(b[e - 1], cr))
        e--;
    if (e == off)
        return false;
    s = e;
    while (s > off && !parser_is_arg_sep(b[s - 1], cr))
        s--;
    *start = s;
    *end = e;
    return true;
}

/* Fill cmd's arguments from the argument part b[off..end). */
static void parser_fill_args(struct parser_cmd *cmd, struct parser_slice *args, const char *b,
                             size_t off, size_t end)
{
    cmd->line.p = b + off;
    cmd->line.len = end - off;
    cmd->args = args;
    switch (parser_ops[cmd->op].cls) {
    case PARSER_CL_NOARG:
        cmd->line.len = 0;
        cmd->nargs = cmd->nargs_total = 0;
        break;
    case PARSER_CL_RAW_OPT:
    case PARSER_CL_RAW_SEP:
        args[0] = cmd->line;
        cmd->nargs = cmd->nargs_total = 1;
        break;
    default:
        cmd->nargs_total =
            parser_split(cmd->line, args, PARSER_MAX_ARGS, parser_op_splits_cr(cmd->op));
        cmd->nargs = cmd->nargs_total < PARSER_MAX_ARGS ? cmd->nargs_total : PARSER_MAX_ARGS;
        break;
    }
}

/* Parse the sizes at the end of a message op's argument part b[off..end). */
static int parser_msg_sizes(unsigned op, const char *b, size_t off, size_t end, size_t *hdr,
                            size_t *total, size_t *bad)
{
    size_t e = end;
    size_t s = off;

    *hdr = 0;
    bool cr = parser_op_splits_cr((enum parser_op)op);
    if (!parser_last_token(b, off, &e, &s, cr) || !parser_size(b + s, e - s, total)) {
        *bad = s;
        return PARSER_ERR_BAD_SIZE;
    }
    if (parser_ops[op].cls != PARSER_CL_HMSG)
        return 0;
    e = s;
    if (!parser_last_token(b, off, &e, &s, cr) || !parser_size(b + s, e - s, hdr)) {
        *bad = s;
        return PARSER_ERR_BAD_HDR_SIZE;
    }
    if (*hdr > *total) {
        *bad = s;
        return PARSER_ERR_HDR_TOO_BIG;
    }
    return 0;
}

/*
 * One op at b[0..n). Returns 0 with *adv = bytes consumed (0: need *need
 * bytes in all), or an error/callback code with *bad set.
 */
/* NOLINTNEXTLINE(readability-function-size): the whole per-op state machine in one place */
static int parser_one(struct parser *p, const char *b, size_t n, const struct parser_cb *cb,
                      void *ctx, size_t *adv, size_t *need, size_t *bad)
{
    struct parser_slice args[PARSER_MAX_ARGS];
    struct parser_cmd cmd;
    unsigned op;
    size_t i, lf, word_end, arg_off, arg_end, from;
    const char *q;
    bool resumed = false;
    int rc;

    *adv = 0;
    *bad = 0;
    if (p->state == PARSER_ST_MSG) {
        /* The control line was validated and announced by an earlier call. */
        NASSERT(n >= p->line_len);
        memset(&cmd, 0, sizeof(cmd));
        cmd.op = (enum parser_op)p->op;
        cmd.hdr_len = p->hdr_len;
        cmd.total_len = p->total_len;
        resumed = true;
        goto payload;
    }

    if (p->await_connect && b[0] != 'C' && b[0] != 'c') {
        rc = cb->on_not_connect != NULL ? cb->on_not_connect(ctx) : PARSER_ERR_AUTH;
        if (rc != 0)
            return rc;
    }

    rc = parser_word(p->kind->ops, b, n, &op, bad);
    if (rc < 0)
        return PARSER_ERR_UNKNOWN_OP;
    if (rc == 0) {
        *need = n + 1;
        return 0;
    }

    i = parser_ops[op].len;
    if (parser_ops[op].cls != PARSER_CL_NOARG && parser_ops[op].cls != PARSER_CL_RAW_OPT) {
        if (i == n) {
            *need = n + 1;
            return 0;
        }
        if (!parser_is_blank(b[i])) {
            *bad = i;
            return PARSER_ERR_UNKNOWN_OP;
        }
    }
    word_end = i;
    while (i < n && parser_is_blank(b[i]))
        i++;
    arg_off = i;

    from = p->scan > arg_off ? p->scan : arg_off;
    q = memchr(b + from, '\n', n - from);
    if (q == NULL) {
        if (parser_ops[op].cls == PARSER_CL_NOARG) {
            p->state = PARSER_ST_SKIP;
            p->op = (uint8_t)op;
            *adv = n;
            return 0;
        }
        /* As parser.go does at the end of each read: an over-long argument
         * is refused before its line ends, so it cannot grow without bound.
         * The length counted is what the line will at least measure once its
         * LF arrives: with a CR anywhere in it, the byte before the LF is
         * dropped (below), so one byte less. Counting the CR's own byte
         * only when it ends the read would refuse "a\rbc" split before its
         * LF and accept it whole: the same bytes framed two ways. The scan
         * runs only once the limit is passed, which ends the line soon.
         * A run of blanks after the op word longer than the limit is refused
         * too:
         * parser.go skips them without keeping them, natsd keeps the line
         * until it is whole. A whole line is judged the same way below, so
         * the verdict does not depend on how the line arrives. */
        if (p->kind->check_max_control_line) {
            if (arg_off - word_end > p->max_control_line) {
                *bad = word_end;
                return PARSER_ERR_MAX_CONTROL_LINE;
            }
            size_t alen = n - arg_off;
            if (alen > p->max_control_line && memchr(b + arg_off, '\r', alen) != NULL)
                alen--;
            if (alen > p->max_control_line) {
                *bad = arg_off;
                return PARSER_ERR_MAX_CONTROL_LINE;
            }
        }
        p->state = PARSER_ST_LINE;
        p->scan = n;
        *need = n + 1;
        return 0;
    }
    lf = (size_t)(q - b);
    arg_end = lf;
    /* As parser.go: once a CR has been seen in the argument, the byte before
     * the LF is dropped, whatever it is ("3\rM\n" reads "3\r"; the CR then
     * separates arguments for the ops that split on it). Usually it is the CR
     * of CRLF. */
    if (arg_end > arg_off && memchr(b + arg_off, '\r', lf - arg_off) != NULL)
        arg_end--;
    p->state = PARSER_ST_IDLE;
    p->scan = 0;
    if (p->kind->check_max_control_line && parser_ops[op].cls != PARSER_CL_NOARG) {
        if (arg_off - word_end > p->max_control_line) {
            *bad = word_end;
            return PARSER_ERR_MAX_CONTROL_LINE;
        }
        if (arg_end - arg_off > p->max_control_line) {
            *bad = arg_off;
            return PARSER_ERR_MAX_CONTROL_LINE;
        }
    }

    memset(&cmd, 0, sizeof(cmd));
    cmd.op = (enum parser_op)op;
    if (parser_ops[op].cls != PARSER_CL_MSG && parser_ops[op].cls != PARSER_CL_HMSG) {
        parser_fill_args(&cmd, args, b, arg_off, arg_end);
        if (cb->on_op != NULL) {
            rc = cb->on_op(ctx, &cmd);
            if (rc != 0)
                return rc;
        }
        *adv = lf + 1;
        return 0;
    }

    rc = parser_msg_sizes(op, b, arg_off, arg_end, &cmd.hdr_len, &cmd.total_len, bad);
    if (rc != 0)
        return rc;
    p->op = (uint8_t)op;
    p->line_len = lf + 1;
    p->arg_off = arg_off;
    p->arg_end = arg_end;
    p->hdr_len = cmd.hdr_len;
    p->total_len = cmd.total_len;
    p->state = PARSER_ST_MSG;
    parser_fill_args(&cmd, args, b, arg_off, arg_end);
    if (cb->on_msg_start != NULL) {
        rc = cb->on_msg_start(ctx, &cmd);
        if (rc != 0)
            return rc;
    }

payload:
    /* Payload, then a mandatory CR LF: checked byte by byte as they arrive. */
    {
        size_t end = p->line_len + p->total_len;

        if (n > end && b[end] != '\r') {
            *bad = end;
            return PARSER_ERR_BAD_TERMINATOR;
        }
        if (n > end + 1 && b[end + 1] != '\n') {
            *bad = end + 1;
            return PARSER_ERR_BAD_TERMINATOR;
        }
        if (n < end + 2) {
            *need = end + 2;
            return 0;
        }
        p->state = PARSER_ST_IDLE;
        if (resumed)
            parser_fill_args(&cmd, args, b, p->arg_off, p->arg_end);
        cmd.payload.p = b + p->line_len;
        cmd.payload.len = p->total_len;
        if (cb->on_msg != NULL) {
            rc = cb->on_msg(ctx, &cmd);
            if (rc != 0)
                return rc;
        }
        *adv = end + 2;
        return 0;
    }
}

void parser_init(struct parser *p, const struct parser_kind *kind, uint32_t max_control_line)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->max_control_line = max_control_line;
}

struct parser_res parser_feed(struct parser *p, const char *buf, size_t len,
                              const struct parser_cb *cb, void *ctx)
{
    struct parser_res res = {0, 0, 1, 0};
    size_t o = 0;

    if (p->state == PARSER_ST_SKIP) {
        const char *q = memchr(buf, '\n', len);
        if (q == NULL) {
            res.consumed = len;
            return res;
        }
        p->state = PARSER_ST_IDLE;
        if (cb->on_op != NULL) {
            struct parser_cmd cmd;
            memset(&cmd, 0, sizeof(cmd));
            cmd.op = (enum parser_op)p->op;
            cmd.line.p = buf;
            res.rc = cb->on_op(ctx, &cmd);
            if (res.rc != 0)
                return res;
        }
        o = (size_t)(q - buf) + 1;
    }
    NASSERT(p->state != PARSER_ST_LINE || p->scan <= len);
    while (o < len) {
        size_t adv, need = 0, bad;
        int rc = parser_one(p, buf + o, len - o, cb, ctx, &adv, &need, &bad);

        if (rc != 0) {
            res.rc = rc;
            res.err_off = o + bad;
            res.consumed = o;
            return res;
        }
        if (adv == 0) {
            res.consumed = o;
            res.need = need;
            return res;
        }
        o += adv;
    }
    res.consumed = o;
    res.need = 1;
    return res;
}

const char *parser_err_text(int rc)
{
    switch (rc) {
    case PARSER_ERR_UNKNOWN_OP:
    case PARSER_ERR_BAD_TERMINATOR:
        return "Unknown Protocol Operation";
    case PARSER_ERR_MAX_CONTROL_LINE:
        return "maximum control line exceeded";
    case PARSER_ERR_AUTH:
        return "Authorization Violation";
    default:
        return NULL;
    }
}

const char *parser_op_name(enum parser_op op)
{
    if ((unsigned)op >= PARSER_OP_COUNT)
        return "?";
    return parser_ops[op].name;
}

static size_t parser_split(struct parser_slice line, struct parser_slice *out, size_t max, bool cr)
{
    const char *b = line.p;
    size_t i = 0;
    size_t n = 0;

    while (i < line.len) {
        size_t s;
        while (i < line.len && parser_is_arg_sep(b[i], cr))
            i++;
        if (i == line.len)
            break;
        s = i;
        while (i < line.len && !parser_is_arg_sep(b[i], cr))
            i++;
        if (n < max) {
            out[n].p = b + s;
            out[n].len = i - s;
        }
        n++;
    }
    return n;
}

void parser_snippet(const char *buf, size_t len, size_t off, char *out, size_t size)
{
    size_t stop = off + PARSER_SNIPPET_SIZE;

    if (off >= len) {
        util_go_quote("", 0, out, size);
        return;
    }
    /* protoSnippet cuts one byte short when the window reaches the end. */
    if (stop > len)
        stop = len - 1;
    util_go_quote(buf + off, stop - off, out, size);
}

size_t parser_split_args(struct parser_slice line, struct parser_slice *out, size_t max)
{
    return parser_split(line, out, max, true);
}
