/* SPDX-License-Identifier: Apache-2.0
 * The one protocol framing parser shared by every connection kind (client,
 * route, gateway): control lines, op words, argument splitting, payload + CRLF.
 * It knows nothing of subjects, accounts or permissions; the kind layer does.
 * Works in place on the connection's read buffer and never allocates. */
#ifndef NATSD_PARSER_H
#define NATSD_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default max_control_line (nats-server MAX_CONTROL_LINE_SIZE). */
#define PARSER_MAX_CONTROL_LINE 4096

/* Arguments stored per op in parser_cmd.args. A line with more tokens (an RMSG
 * naming many queue groups) still parses: nargs_total says how many there are
 * and parser_split_args() re-splits cmd->line into a larger array. */
#define PARSER_MAX_ARGS 32

/* Bytes of input shown by parser_snippet (nats-server PROTO_SNIPPET_SIZE). */
#define PARSER_SNIPPET_SIZE 32
/* Buffer size that always holds a quoted snippet and its NUL. */
#define PARSER_SNIPPET_BUFSZ (PARSER_SNIPPET_SIZE * 6 + 3)

/* Every op the parser can frame. Which ones a connection accepts is decided by
 * its struct parser_kind. */
enum parser_op {
    PARSER_OP_CONNECT = 0, /* CONNECT <json>: one raw argument */
    PARSER_OP_INFO,        /* INFO <json>: one raw argument */
    PARSER_OP_PUB,         /* PUB ... <size>: message */
    PARSER_OP_HPUB,        /* HPUB ... <hdr> <size>: message with header */
    PARSER_OP_SUB,
    PARSER_OP_UNSUB,
    PARSER_OP_PING, /* no arguments; rest of line ignored */
    PARSER_OP_PONG, /* no arguments; rest of line ignored */
    PARSER_OP_OK,   /* +OK, no arguments; rest of line ignored */
    PARSER_OP_ERR,  /* -ERR <text>: one raw argument */
    PARSER_OP_MSG,  /* MSG ... <size>: message (no server kind accepts it) */
    PARSER_OP_HMSG, /* HMSG ... <hdr> <size>: message with header */
    PARSER_OP_RS_PLUS,
    PARSER_OP_RS_MINUS,
    PARSER_OP_RMSG, /* RMSG ... <size>: message */
    PARSER_OP_LS_PLUS,
    PARSER_OP_LS_MINUS,
    PARSER_OP_LMSG, /* LMSG ... <hdr> <size>: message with header */
    PARSER_OP_A_PLUS,
    PARSER_OP_A_MINUS,
    PARSER_OP_COUNT,
};

#define PARSER_OPBIT(op) (UINT32_C(1) << (op))

/* Errors returned by parser_feed (disjoint from -errno). Callbacks must not
 * return these values. */
enum parser_err {
    PARSER_ERR_UNKNOWN_OP = -5000, /* -ERR 'Unknown Protocol Operation', close */
    PARSER_ERR_MAX_CONTROL_LINE,   /* -ERR 'maximum control line exceeded', close */
    PARSER_ERR_BAD_SIZE,           /* size not 1-9 decimal digits: close, no -ERR */
    PARSER_ERR_BAD_HDR_SIZE,       /* header size not 1-9 digits: close, no -ERR */
    PARSER_ERR_HDR_TOO_BIG,        /* header size > total size: close, no -ERR */
    PARSER_ERR_BAD_TERMINATOR,     /* payload not followed by CRLF: as UNKNOWN_OP */
    PARSER_ERR_AUTH,               /* op before CONNECT: -ERR 'Authorization Violation' */
};

/* Which ops a connection kind accepts, and its limits. Constant, shared; the
 * kind layer points its parser at one of the tables below. */
struct parser_kind {
    const char *name;            /* "Client", "Route", "Gateway": for logs */
    uint32_t ops;                /* PARSER_OPBIT() of every accepted op */
    bool check_max_control_line; /* enforce parser.max_control_line */
};

/* The tables of the three server kinds, mirroring what nats-server's
 * parser.go lets each kind reach:
 *   client:  CONNECT INFO PUB HPUB SUB UNSUB PING PONG +OK -ERR.
 * Every kind enforces parser.max_control_line (nats-server only on
 * clients; a route or gateway sets a larger limit of its own).
 *   route:   the client ops plus RS+ RS- RMSG HMSG LS+ LS- LMSG A+ A-.
 *   gateway: the route ops minus LS+ LS- LMSG.
 * On a route/gateway PUB, HPUB, SUB and UNSUB are framed (parser.go reaches
 * them) and reported as such; the kind layer decides what they mean (a
 * gateway treats SUB/UNSUB as RS+/RS-, a route ignores SUB). MSG is accepted
 * by none of them. */
extern const struct parser_kind parser_kind_client;
extern const struct parser_kind parser_kind_route;
extern const struct parser_kind parser_kind_gateway;

/* A borrowed view into the read buffer, valid only until the callback that
 * received it returns. Whoever keeps the bytes copies them. */
struct parser_slice {
    const char *p;
    size_t len;
};

/* One parsed op, as handed to the callbacks. Every slice points into the
 * buffer given to parser_feed. */
struct parser_cmd {
    enum parser_op op;
    /* Arguments split on runs of spaces/tabs. CONNECT, INFO and -ERR get the
     * raw rest of the line as args[0] (nargs 1, possibly empty); PING, PONG
     * and +OK get none. */
    const struct parser_slice *args;
    size_t nargs;       /* stored in args, <= PARSER_MAX_ARGS */
    size_t nargs_total; /* tokens on the line; > nargs when args was too short */
    /* The argument part: after the op and its separators, up to the line end
     * with a final CR dropped. Empty for PING, PONG, +OK. */
    struct parser_slice line;
    /* Message ops only (PUB HPUB MSG HMSG RMSG LMSG). The sizes are parsed
     * from the last token (total) and, for HPUB/HMSG/LMSG, the one before it
     * (hdr_len); both tokens also remain in args verbatim. hdr_len is 0 for
     * ops without a header. */
    size_t hdr_len;
    size_t total_len;
    struct parser_slice payload; /* on_msg only: total_len bytes (hdr + body) */
};

/* Returned by on_op, for an op other than PING, PONG and +OK, to stop before
 * it: parser_feed returns it as res.rc with res.consumed at the start of the
 * op, which is not consumed, and the parser stays idle at it. Unlike other
 * codes the parser may be fed again, from that op: on_op is then called for
 * it a second time (a connection parked until a password is verified off its
 * loop, conn.h). Disjoint from the PARSER_ERR_* codes and from 1. */
#define PARSER_PAUSE (-4000)

/* Callbacks. Each returns 0 to go on, or a nonzero code (the connection is
 * closing, e.g. NERR_MAX_PAYLOAD) that stops parsing: parser_feed returns it
 * as res.rc. Any pointer may be NULL (the op is then accepted silently). */
struct parser_cb {
    /* A complete op that carries no payload (everything but the message ops). */
    int (*on_op)(void *ctx, const struct parser_cmd *cmd);
    /* The control line of a message op is complete and its sizes are valid;
     * the payload may not be there yet (cmd->payload is empty). Called exactly
     * once per message however the input is split, so limits such as
     * max_payload are enforced before the payload is read. */
    int (*on_msg_start)(void *ctx, const struct parser_cmd *cmd);
    /* The payload and its CRLF are present: cmd->payload has total_len bytes. */
    int (*on_msg)(void *ctx, const struct parser_cmd *cmd);
    /* parser.await_connect is set and an op starts with a byte other than
     * 'C'/'c' (checked on that first byte, before the op is recognised, as
     * nats-server does). Return 0 to go on (after clearing await_connect,
     * e.g. no_auth_user bound; otherwise it is asked again for the next op),
     * or a code to stop. When NULL the parser stops with PARSER_ERR_AUTH. */
    int (*on_not_connect)(void *ctx);
};

/* Parser state, embedded in the connection. Between calls it holds only
 * offsets relative to the start of the unconsumed input, never pointers. */
struct parser {
    const struct parser_kind *kind;
    uint32_t max_control_line; /* set by the caller; used if kind says so */
    bool await_connect;        /* set and cleared by the caller only */
    /* private */
    uint8_t state;
    uint8_t op;
    size_t scan;      /* bytes of a partial line already searched for LF */
    size_t line_len;  /* pending message: control line incl. LF */
    size_t arg_off;   /* pending message: argument part start */
    size_t arg_end;   /* pending message: argument part end */
    size_t hdr_len;   /* pending message */
    size_t total_len; /* pending message */
};

/* Result of parser_feed. */
struct parser_res {
    /* 0: everything complete was parsed and more input is needed;
     * PARSER_ERR_*: a protocol error; other nonzero: a callback's code. */
    int rc;
    /* Bytes fully processed (their callbacks returned 0). The caller drops
     * them, keeps buf[consumed..len) and presents it again, followed by new
     * bytes, on the next call. */
    size_t consumed;
    /* rc == 0: how many bytes of unconsumed input (from buf + consumed) the
     * next step needs; always > len - consumed. For a message whose control
     * line has been parsed it is the whole op: control line + payload + 2,
     * so the connection can grow its buffer once. Otherwise it is
     * len - consumed + 1 ("more"). */
    size_t need;
    /* rc != 0: offset in buf of the offending byte (protocol errors) or of
     * the op whose callback stopped parsing. For parser_snippet. */
    size_t err_off;
};

/* Initialise p for a connection of the given kind (one of the tables above,
 * or another constant table that outlives p). await_connect starts false.
 * Never fails. Owner thread only. */
void parser_init(struct parser *p, const struct parser_kind *kind, uint32_t max_control_line);

/* Parse buf[0..len), which must start with the bytes left unconsumed by the
 * previous call (on the first call: the connection's first byte) followed by
 * new input; the buffer may have moved in between. Calls the callbacks, in
 * order, for each complete op. An op is consumed only when complete: a
 * message op when control line + payload + CRLF are all present, any other
 * op when its line is; a PING/PONG/+OK line missing its LF is consumed as it
 * comes (its tail is ignored anyway). Partial input is re-examined on the
 * next call without repeating callbacks.
 * After rc != 0 the parser must not be fed again (parser_init resets it),
 * except after PARSER_PAUSE.
 * Never allocates. Owner thread only. */
struct parser_res parser_feed(struct parser *p, const char *buf, size_t len,
                              const struct parser_cb *cb, void *ctx);

/* The text of the -ERR to send for a parser_feed error (without the quotes),
 * or NULL if the connection closes silently (or rc is not a PARSER_ERR_*). */
const char *parser_err_text(int rc);

/* The op's wire spelling ("PUB", "RS+", "+OK"...), for traces. */
const char *parser_op_name(enum parser_op op);

/* Split line into tokens on runs of spaces/tabs, storing at most max of them
 * in out. Returns the number of tokens (which may exceed max). */
size_t parser_split_args(struct parser_slice line, struct parser_slice *out, size_t max);

/* Write into out (size >= PARSER_SNIPPET_BUFSZ recommended) the Go-quoted
 * snippet nats-server logs for a parse error at buf[off]: up to
 * PARSER_SNIPPET_SIZE bytes from off, cut one byte short when they reach the
 * end of the buffer (as protoSnippet does), "" when off >= len. Always
 * NUL-terminates (size > 0). */
void parser_snippet(const char *buf, size_t len, size_t off, char *out, size_t size);

#endif
