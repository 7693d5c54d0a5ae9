/* SPDX-License-Identifier: Apache-2.0
 * Lexer of the NATS configuration language, private to conf.c. It turns text
 * into a stream of tokens with the quirks, messages and positions of
 * nats-server 2.9.10 conf/lex.go; it knows nothing about trees or variables. */
#ifndef NATSD_CONF_LEX_H
#define NATSD_CONF_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_tok_type {
    CONF_TOK_ERROR = 0,
    CONF_TOK_EOF,
    CONF_TOK_KEY,
    CONF_TOK_STRING,
    CONF_TOK_BOOL,
    CONF_TOK_INTEGER,
    CONF_TOK_FLOAT,
    CONF_TOK_DATETIME,
    CONF_TOK_ARRAY_START,
    CONF_TOK_ARRAY_END,
    CONF_TOK_MAP_START,
    CONF_TOK_MAP_END,
    CONF_TOK_VARIABLE, /* val is the name, without the '$' */
    CONF_TOK_INCLUDE,  /* val is the path as written */
};

/* One token. val is borrowed from the lexer and stays valid only until the
 * next conf_lex_next() call; it is not NUL-terminated. For CONF_TOK_ERROR it is
 * the message (NUL-terminated too). line and col are counted as nats-server
 * counts them (see conf_lex.c). */
struct conf_tok {
    enum conf_tok_type type;
    const char *val;
    size_t len;
    int line;
    int col;
};

/* Lexer state. Fields are private to conf_lex.c; the struct is here only so a
 * caller can embed it. */
struct conf_lex {
    const char *in;
    size_t len;
    size_t start;   /* first byte of the pending token */
    size_t pos;     /* next byte to read */
    size_t width;   /* bytes of the last rune read; 0 after EOF */
    size_t lstart;  /* offset of the '\n' that began the current line */
    size_t ilstart; /* lstart as it was when the pending token began */
    int line;
    int state;
    int str_state; /* where an escape inside a string returns to */
    uint8_t *stack;
    size_t nstack, capstack;
    char *parts; /* unescaped text gathered before start */
    size_t nparts, capparts;
    bool have_tok;
    bool done;
    struct conf_tok tok;
    char msg[512];
};

/* Start lexing len bytes at in (borrowed; must outlive the lexer). */
void conf_lex_init(struct conf_lex *lx, const char *in, size_t len);

/* Release what the lexer allocated. */
void conf_lex_deinit(struct conf_lex *lx);

/* Produce the next token into *tok. After CONF_TOK_EOF or CONF_TOK_ERROR every
 * further call returns that same token again. Runs in time linear in the
 * input it consumes. */
void conf_lex_next(struct conf_lex *lx, struct conf_tok *tok);

/* Decode one UTF-8 rune from s (n > 0 bytes) as Go's utf8.DecodeRune does:
 * invalid input yields U+FFFD with width 1. */
int32_t conf_lex_decode_rune(const unsigned char *s, size_t n, size_t *width);

/* Go's unicode.IsDigit. */
bool conf_lex_is_digit(int32_t r);

#endif
