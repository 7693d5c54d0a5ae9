/* SPDX-License-Identifier: Apache-2.0
 * Lexer of the NATS configuration language. A table-free state machine whose
 * states, error texts and position arithmetic reproduce nats-server 2.9.10
 * conf/lex.go byte for byte, quirks included (they are part of the format).
 *
 * States and where they lead (a stack holds the state to resume after a value
 * or a comment, so nesting never recurses on the C stack):
 *
 *   TOP --key--> KEY_START -> KEY / DQ_KEY / SQ_KEY -> KEY_END -> VALUE
 *    ^   (after: TOP_VALUE_END)       \--"include"--> INCLUDE_START -> INCLUDE*
 *    |
 *   VALUE -> '[' ARRAY_VALUE <-> ARRAY_VALUE_END -> ARRAY_END     (pop)
 *         -> '{' MAP_KEY_START -> MAP_KEY.. -> MAP_VALUE <-> MAP_VALUE_END
 *                                                 -> MAP_END      (pop)
 *         -> '"' DQ_STRING (ESCAPE, HEX)  '\'' SQ_STRING  '(' BLOCK
 *         -> digit NUM -> SUFFIX | FLOAT_START -> FLOAT -> IP | DATE | STRING
 *         -> '-' NEG_START -> NEG    other: STRING (bool, $variable, text)
 *
 * Positions: line counts '\n' read so far; lstart is the offset of the newline
 * that began the line (0 on line 1), so a token's col is 0-based on line 1 and
 * 1-based afterwards, exactly as nats-server reports "file:line:col". Reading
 * back over a newline lowers line but, as in the reference, not lstart. */
#include "conf_lex.h"

#include <stdarg.h>
#include <string.h>

#include "common.h"
#include "mem.h"
#include "util.h"

/* The rune value the reference uses for end of input; a NUL byte in the text
 * compares equal to it, which the reference also does. */
#define CONF_LEX_EOF 0

enum conf_lex_state {
    CONF_LS_TOP = 0,
    CONF_LS_TOP_VALUE_END,
    CONF_LS_KEY_START,
    CONF_LS_DQ_KEY,
    CONF_LS_SQ_KEY,
    CONF_LS_KEY,
    CONF_LS_KEY_END,
    CONF_LS_INCLUDE_START,
    CONF_LS_INCLUDE,
    CONF_LS_INCLUDE_SQ,
    CONF_LS_INCLUDE_DQ,
    CONF_LS_INCLUDE_BARE,
    CONF_LS_VALUE,
    CONF_LS_ARRAY_VALUE,
    CONF_LS_ARRAY_VALUE_END,
    CONF_LS_ARRAY_END,
    CONF_LS_MAP_KEY_START,
    CONF_LS_MAP_SQ_KEY,
    CONF_LS_MAP_DQ_KEY,
    CONF_LS_MAP_KEY,
    CONF_LS_MAP_KEY_END,
    CONF_LS_MAP_VALUE,
    CONF_LS_MAP_VALUE_END,
    CONF_LS_MAP_END,
    CONF_LS_SQ_STRING,
    CONF_LS_DQ_STRING,
    CONF_LS_STRING,
    CONF_LS_BLOCK,
    CONF_LS_ESCAPE,
    CONF_LS_HEX,
    CONF_LS_NUM_START,
    CONF_LS_NUM,
    CONF_LS_SUFFIX,
    CONF_LS_DATE,
    CONF_LS_NEG_START,
    CONF_LS_NEG,
    CONF_LS_FLOAT_START,
    CONF_LS_FLOAT,
    CONF_LS_IP,
    CONF_LS_COMMENT_START,
    CONF_LS_COMMENT,
    CONF_LS_DONE,
};

/* Decimal digits outside Latin-1 (Unicode 13.0 category Nd, the tables of the
 * Go 1.19 that built nats-server 2.9.10). Each row is an inclusive range. */
static const int32_t conf_lex_nd[][2] = {
    {0x660, 0x669},     {0x6F0, 0x6F9},     {0x7C0, 0x7C9},     {0x966, 0x96F},
    {0x9E6, 0x9EF},     {0xA66, 0xA6F},     {0xAE6, 0xAEF},     {0xB66, 0xB6F},
    {0xBE6, 0xBEF},     {0xC66, 0xC6F},     {0xCE6, 0xCEF},     {0xD66, 0xD6F},
    {0xDE6, 0xDEF},     {0xE50, 0xE59},     {0xED0, 0xED9},     {0xF20, 0xF29},
    {0x1040, 0x1049},   {0x1090, 0x1099},   {0x17E0, 0x17E9},   {0x1810, 0x1819},
    {0x1946, 0x194F},   {0x19D0, 0x19D9},   {0x1A80, 0x1A89},   {0x1A90, 0x1A99},
    {0x1B50, 0x1B59},   {0x1BB0, 0x1BB9},   {0x1C40, 0x1C49},   {0x1C50, 0x1C59},
    {0xA620, 0xA629},   {0xA8D0, 0xA8D9},   {0xA900, 0xA909},   {0xA9D0, 0xA9D9},
    {0xA9F0, 0xA9F9},   {0xAA50, 0xAA59},   {0xABF0, 0xABF9},   {0xFF10, 0xFF19},
    {0x104A0, 0x104A9}, {0x10D30, 0x10D39}, {0x11066, 0x1106F}, {0x110F0, 0x110F9},
    {0x11136, 0x1113F}, {0x111D0, 0x111D9}, {0x112F0, 0x112F9}, {0x11450, 0x11459},
    {0x114D0, 0x114D9}, {0x11650, 0x11659}, {0x116C0, 0x116C9}, {0x11730, 0x11739},
    {0x118E0, 0x118E9}, {0x11950, 0x11959}, {0x11C50, 0x11C59}, {0x11D50, 0x11D59},
    {0x11DA0, 0x11DA9}, {0x16A60, 0x16A69}, {0x16B50, 0x16B59}, {0x1D7CE, 0x1D7FF},
    {0x1E140, 0x1E149}, {0x1E2F0, 0x1E2F9}, {0x1E950, 0x1E959}, {0x1FBF0, 0x1FBF9},
};

int32_t conf_lex_decode_rune(const unsigned char *s, size_t n, size_t *width)
{
    unsigned c = s[0];
    int32_t r, min;
    size_t need;

    *width = 1;
    if (c < 0x80)
        return (int32_t)c;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        /* NOLINTNEXTLINE(bugprone-narrowing-conversions): a 5-bit value */
        r = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        /* NOLINTNEXTLINE(bugprone-narrowing-conversions): a 4-bit value */
        r = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        /* NOLINTNEXTLINE(bugprone-narrowing-conversions): a 3-bit value */
        r = c & 0x07;
        min = 0x10000;
    } else {
        return 0xFFFD;
    }
    if (n < need)
        return 0xFFFD;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0xFFFD;
        r = (r << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid
     * in Go too, and decode as one bad byte. */
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return 0xFFFD;
    *width = need;
    return r;
}

bool conf_lex_is_digit(int32_t r)
{
    if (r <= 0xFF)
        return r >= '0' && r <= '9';
    for (size_t i = 0; i < ARRAY_LEN(conf_lex_nd); i++) {
        if (r < conf_lex_nd[i][0])
            return false;
        if (r <= conf_lex_nd[i][1])
            return true;
    }
    return false;
}

/* Go's unicode.IsSpace. */
static bool conf_lex_is_space(int32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

/* Spaces allowed inside a line (the reference's isWhitespace). */
static bool conf_lex_is_ws(int32_t r)
{
    return r == '\t' || r == ' ';
}

static bool conf_lex_is_nl(int32_t r)
{
    return r == '\n' || r == '\r';
}

static bool conf_lex_is_sep(int32_t r)
{
    return r == '=' || r == ':';
}

static bool conf_lex_is_suffix(int32_t r)
{
    return r > 0 && r < 0x80 && strchr("kKmMgGtTpPeE", (int)r) != NULL;
}

/* What ends a number and keeps it a number. */
static bool conf_lex_is_num_end(int32_t r)
{
    return conf_lex_is_nl(r) || r == CONF_LEX_EOF || r == '}' || r == ';' || r == ',' ||
           conf_lex_is_ws(r) || conf_lex_is_digit(r);
}

/* Read one rune. At the end of input returns CONF_LEX_EOF with width 0. */
static int32_t conf_lex_getc(struct conf_lex *lx)
{
    if (lx->pos >= lx->len) {
        lx->width = 0;
        return CONF_LEX_EOF;
    }
    if (lx->in[lx->pos] == '\n') {
        lx->line++;
        lx->lstart = lx->pos;
    }
    int32_t r = conf_lex_decode_rune((const unsigned char *)lx->in + lx->pos, lx->len - lx->pos,
                                     &lx->width);
    lx->pos += lx->width;
    return r;
}

/* Step back over the last rune read. Uses the width of the last read even when
 * called twice in a row, as the block-string scanner of the reference does. */
static void conf_lex_back(struct conf_lex *lx)
{
    lx->pos -= lx->width;
    if (lx->pos < lx->len && lx->in[lx->pos] == '\n')
        lx->line--;
}

static int32_t conf_lex_peek(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);
    conf_lex_back(lx);
    return r;
}

static void conf_lex_ignore(struct conf_lex *lx)
{
    lx->start = lx->pos;
    lx->ilstart = lx->lstart;
}

static void conf_lex_parts_add(struct conf_lex *lx, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (lx->nparts + n > lx->capparts) {
        size_t cap = lx->capparts ? lx->capparts : 64;
        while (cap < lx->nparts + n)
            cap *= 2;
        lx->parts = xrealloc(lx->parts, cap);
        lx->capparts = cap;
    }
    memcpy(lx->parts + lx->nparts, p, n);
    lx->nparts += n;
}

/* Hand out the pending text (gathered escapes plus input[start:pos]) as a
 * token. A string emission consumes the gathered escapes; the reference's
 * other emissions leave them (they are always empty there). */
static void conf_lex_emit_full(struct conf_lex *lx, enum conf_tok_type type, bool deliver,
                               bool consume_parts)
{
    size_t tail = lx->pos - lx->start;
    const char *val;
    size_t n;

    if (lx->nparts > 0) {
        size_t keep = lx->nparts;
        conf_lex_parts_add(lx, lx->in + lx->start, tail);
        val = lx->parts;
        n = lx->nparts;
        lx->nparts = consume_parts ? 0 : keep;
    } else {
        val = lx->in + lx->start;
        n = tail;
    }
    if (deliver) {
        long long col = (long long)lx->pos - (long long)lx->ilstart - (long long)n;
        NASSERT(!lx->have_tok);
        lx->tok.type = type;
        lx->tok.val = val;
        lx->tok.len = n;
        lx->tok.line = lx->line;
        lx->tok.col = col < -(1LL << 30) ? -(1 << 30) : col > (1LL << 30) ? 1 << 30 : (int)col;
        lx->have_tok = true;
    }
    lx->start = lx->pos;
    lx->ilstart = lx->lstart;
}

static void conf_lex_emit(struct conf_lex *lx, enum conf_tok_type type)
{
    conf_lex_emit_full(lx, type, true, false);
}

static void conf_lex_emit_string(struct conf_lex *lx)
{
    conf_lex_emit_full(lx, CONF_TOK_STRING, true, true);
}

/* A rune as the reference prints it with %v in messages: a newline as "\n",
 * anything else as its UTF-8 (a NUL, its end-of-input rune, as nothing, since
 * messages are C strings). */
static const char *conf_lex_rune_str(int32_t r, char buf[8])
{
    size_t n = 0;
    if (r == '\n') {
        buf[n++] = '\\';
        buf[n++] = 'n';
    } else if (r == 0) {
        /* nothing */
    } else if (r < 0x80) {
        buf[n++] = (char)r;
    } else if (r < 0x800) {
        buf[n++] = (char)(0xC0 | (r >> 6));
        buf[n++] = (char)(0x80 | (r & 0x3F));
    } else if (r < 0x10000) {
        buf[n++] = (char)(0xE0 | (r >> 12));
        buf[n++] = (char)(0x80 | ((r >> 6) & 0x3F));
        buf[n++] = (char)(0x80 | (r & 0x3F));
    } else {
        buf[n++] = (char)(0xF0 | (r >> 18));
        buf[n++] = (char)(0x80 | ((r >> 12) & 0x3F));
        buf[n++] = (char)(0x80 | ((r >> 6) & 0x3F));
        buf[n++] = (char)(0x80 | (r & 0x3F));
    }
    buf[n] = '\0';
    return buf;
}

/* Stop with an error token; its col is pos - lstart, the reference's. */
__attribute__((format(printf, 2, 3))) static int conf_lex_fail(struct conf_lex *lx, const char *fmt,
                                                               ...)
{
    va_list ap;
    long long col = (long long)lx->pos - (long long)lx->lstart;

    va_start(ap, fmt);
    vsnprintf(lx->msg, sizeof(lx->msg), fmt, ap);
    va_end(ap);
    lx->tok.type = CONF_TOK_ERROR;
    lx->tok.val = lx->msg;
    lx->tok.len = strlen(lx->msg);
    lx->tok.line = lx->line;
    lx->tok.col = col > (1LL << 30) ? 1 << 30 : (int)col;
    lx->have_tok = true;
    return CONF_LS_DONE;
}

static void conf_lex_push(struct conf_lex *lx, int state)
{
    if (lx->nstack == lx->capstack) {
        lx->capstack = lx->capstack ? lx->capstack * 2 : 16;
        lx->stack = xrealloc(lx->stack, lx->capstack);
    }
    lx->stack[lx->nstack++] = (uint8_t)state;
}

static int conf_lex_pop(struct conf_lex *lx)
{
    if (lx->nstack == 0)
        return conf_lex_fail(lx, "BUG in lexer: no states to pop.");
    return lx->stack[--lx->nstack];
}

/* A bare word followed by whitespace may be the include keyword, compared as
 * Go's strings.ToLower would (which also folds U+0130 to 'i'). */
static bool conf_lex_is_include(const struct conf_lex *lx)
{
    static const char kw[] = "include";
    size_t i = lx->start, k = 0;

    while (i < lx->pos) {
        size_t w;
        int32_t r = conf_lex_decode_rune((const unsigned char *)lx->in + i, lx->pos - i, &w);
        if (r >= 'A' && r <= 'Z')
            r += 'a' - 'A';
        else if (r == 0x130)
            r = 'i';
        if (k >= sizeof(kw) - 1 || r != kw[k])
            return false;
        k++;
        i += w;
    }
    return k == sizeof(kw) - 1;
}

static int conf_lex_key_word(struct conf_lex *lx, int after, int push)
{
    if (conf_lex_is_include(lx)) {
        conf_lex_ignore(lx);
        if (push >= 0)
            conf_lex_push(lx, push);
        return CONF_LS_INCLUDE_START;
    }
    conf_lex_emit(lx, CONF_TOK_KEY);
    return after;
}

static bool conf_lex_is_bool(const struct conf_lex *lx)
{
    static const char *const words[] = {"true", "false", "on", "off", "yes", "no"};
    size_t n = lx->pos - lx->start;
    for (size_t i = 0; i < ARRAY_LEN(words); i++) {
        if (strlen(words[i]) == n && strncasecmp(lx->in + lx->start, words[i], n) == 0)
            return true;
    }
    return false;
}

/* '#' or "//" begins a comment; a lone '/' is handed back to the caller. */
static bool conf_lex_comment_ahead(struct conf_lex *lx, int32_t r, int resume)
{
    if (r == '#') {
        conf_lex_push(lx, resume);
        return true;
    }
    if (conf_lex_getc(lx) == '/') {
        conf_lex_push(lx, resume);
        return true;
    }
    conf_lex_back(lx);
    return false;
}

static int conf_lex_top(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_space(r) || r == '{') {
        conf_lex_ignore(lx);
        return CONF_LS_TOP;
    }
    if ((r == '#' || r == '/') && conf_lex_comment_ahead(lx, r, CONF_LS_TOP))
        return CONF_LS_COMMENT_START;
    if (r == '/' || r == CONF_LEX_EOF) {
        if (lx->pos > lx->start)
            return conf_lex_fail(lx, "Unexpected EOF.");
        conf_lex_emit(lx, CONF_TOK_EOF);
        return CONF_LS_DONE;
    }
    conf_lex_back(lx);
    conf_lex_push(lx, CONF_LS_TOP_VALUE_END);
    return CONF_LS_KEY_START;
}

static int conf_lex_top_value_end(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    if ((r == '#' || r == '/') && conf_lex_comment_ahead(lx, r, CONF_LS_TOP))
        return CONF_LS_COMMENT_START;
    /* A lone '/' is skipped like a blank, as in the reference. */
    if (r == '/' || conf_lex_is_ws(r))
        return CONF_LS_TOP_VALUE_END;
    if (conf_lex_is_nl(r) || r == CONF_LEX_EOF || r == ';' || r == ',' || r == '}') {
        conf_lex_ignore(lx);
        return CONF_LS_TOP;
    }
    return conf_lex_fail(lx,
                         "Expected a top-level value to end with a new line, comment or EOF, "
                         "but got '%s' instead.",
                         conf_lex_rune_str(r, b));
}

static int conf_lex_key_start(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_peek(lx);

    if (conf_lex_is_sep(r))
        return conf_lex_fail(lx, "Unexpected key separator '%s'", conf_lex_rune_str(r, b));
    if (conf_lex_is_space(r) || r == '"' || r == '\'') {
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return r == '"' ? CONF_LS_DQ_KEY : r == '\'' ? CONF_LS_SQ_KEY : CONF_LS_KEY_START;
    }
    conf_lex_ignore(lx);
    conf_lex_getc(lx);
    return CONF_LS_KEY;
}

/* A quoted key at top level; an unterminated one is an error unless nothing
 * followed the quote (the reference then simply ends). */
static int conf_lex_quoted_key(struct conf_lex *lx, int32_t quote, int self)
{
    int32_t r = conf_lex_peek(lx);

    if (r == quote) {
        conf_lex_emit(lx, CONF_TOK_KEY);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_KEY_END;
    }
    if (r == CONF_LEX_EOF) {
        if (lx->pos > lx->start)
            return conf_lex_fail(lx, "Unexpected EOF.");
        conf_lex_emit(lx, CONF_TOK_EOF);
        return CONF_LS_DONE;
    }
    conf_lex_getc(lx);
    return self;
}

static int conf_lex_key(struct conf_lex *lx)
{
    int32_t r = conf_lex_peek(lx);

    if (conf_lex_is_space(r))
        return conf_lex_key_word(lx, CONF_LS_KEY_END, -1);
    if (conf_lex_is_sep(r) || r == CONF_LEX_EOF) {
        conf_lex_emit(lx, CONF_TOK_KEY);
        return CONF_LS_KEY_END;
    }
    conf_lex_getc(lx);
    return CONF_LS_KEY;
}

static int conf_lex_key_end(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_space(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_KEY_END;
    }
    if (conf_lex_is_sep(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_VALUE;
    }
    if (r == CONF_LEX_EOF) {
        /* A key with nothing after it ends the input quietly. */
        conf_lex_emit(lx, CONF_TOK_EOF);
        return CONF_LS_DONE;
    }
    conf_lex_back(lx);
    return CONF_LS_VALUE;
}

static int conf_lex_include_start(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_ws(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_INCLUDE_START;
    }
    conf_lex_back(lx);
    return CONF_LS_INCLUDE;
}

static int conf_lex_include(struct conf_lex *lx)
{
    static const char pre[] = "Expected include value but found ";
    int32_t r = conf_lex_getc(lx);

    switch (r) {
    case '\'':
        conf_lex_ignore(lx);
        return CONF_LS_INCLUDE_SQ;
    case '"':
        conf_lex_ignore(lx);
        return CONF_LS_INCLUDE_DQ;
    case '[':
        return conf_lex_fail(lx, "%sstart of an array", pre);
    case '{':
        return conf_lex_fail(lx, "%sstart of a map", pre);
    case '(':
        return conf_lex_fail(lx, "%sstart of a block", pre);
    case '\\':
        return conf_lex_fail(lx, "%sescape sequence", pre);
    default:
        break;
    }
    if (conf_lex_is_digit(r) || r == '-')
        return conf_lex_fail(lx, "%sstart of a number", pre);
    if (conf_lex_is_nl(r))
        return conf_lex_fail(lx, "%snew line", pre);
    conf_lex_back(lx);
    return CONF_LS_INCLUDE_BARE;
}

static int conf_lex_include_quoted(struct conf_lex *lx, int32_t quote, int self)
{
    int32_t r = conf_lex_getc(lx);

    if (r == quote) {
        conf_lex_back(lx);
        conf_lex_emit(lx, CONF_TOK_INCLUDE);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    if (r == CONF_LEX_EOF)
        return conf_lex_fail(lx, quote == '"' ? "Unexpected EOF in double quoted include"
                                              : "Unexpected EOF in quoted include");
    return self;
}

static int conf_lex_include_bare(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_nl(r) || r == CONF_LEX_EOF || r == ';' || r == '}' || conf_lex_is_ws(r)) {
        conf_lex_back(lx);
        conf_lex_emit(lx, CONF_TOK_INCLUDE);
        return conf_lex_pop(lx);
    }
    if (r == '\'') {
        conf_lex_back(lx);
        conf_lex_emit(lx, CONF_TOK_INCLUDE);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    return CONF_LS_INCLUDE_BARE;
}

static int conf_lex_value(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_ws(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_VALUE;
    }
    switch (r) {
    case '[':
        conf_lex_ignore(lx);
        conf_lex_emit(lx, CONF_TOK_ARRAY_START);
        return CONF_LS_ARRAY_VALUE;
    case '{':
        conf_lex_ignore(lx);
        conf_lex_emit(lx, CONF_TOK_MAP_START);
        return CONF_LS_MAP_KEY_START;
    case '\'':
        conf_lex_ignore(lx);
        return CONF_LS_SQ_STRING;
    case '"':
        conf_lex_ignore(lx);
        lx->str_state = CONF_LS_DQ_STRING;
        return CONF_LS_DQ_STRING;
    case '-':
        return CONF_LS_NEG_START;
    case '(':
        conf_lex_ignore(lx);
        return CONF_LS_BLOCK;
    default:
        break;
    }
    if (conf_lex_is_digit(r)) {
        conf_lex_back(lx);
        return CONF_LS_NUM_START;
    }
    if (r == '.')
        return conf_lex_fail(lx, "Floats must start with a digit");
    if (conf_lex_is_nl(r))
        return conf_lex_fail(lx, "Expected value but found new line");
    conf_lex_back(lx);
    lx->str_state = CONF_LS_STRING;
    return CONF_LS_STRING;
}

static int conf_lex_array_value(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_space(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_ARRAY_VALUE;
    }
    if ((r == '#' || r == '/') && conf_lex_comment_ahead(lx, r, CONF_LS_ARRAY_VALUE))
        return CONF_LS_COMMENT_START;
    /* A lone '/' reports itself as a stray ',' (the reference falls through). */
    if (r == '/' || r == ',')
        return conf_lex_fail(lx, "Unexpected array value terminator ','.");
    if (r == ']')
        return CONF_LS_ARRAY_END;
    conf_lex_back(lx);
    conf_lex_push(lx, CONF_LS_ARRAY_VALUE_END);
    return CONF_LS_VALUE;
}

static int conf_lex_array_value_end(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_ws(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_ARRAY_VALUE_END;
    }
    if ((r == '#' || r == '/') && conf_lex_comment_ahead(lx, r, CONF_LS_ARRAY_VALUE_END))
        return CONF_LS_COMMENT_START;
    if (r == '/' || r == ',' || conf_lex_is_nl(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_ARRAY_VALUE;
    }
    if (r == ']')
        return CONF_LS_ARRAY_END;
    return conf_lex_fail(lx,
                         "Expected an array value terminator \",\" or an array terminator \"]\", "
                         "but got '%s' instead.",
                         conf_lex_rune_str(r, b));
}

static int conf_lex_map_key_start(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_peek(lx);

    if (conf_lex_is_sep(r))
        return conf_lex_fail(lx, "Unexpected key separator '%s'.", conf_lex_rune_str(r, b));
    if (r == ']')
        return conf_lex_fail(lx, "Unexpected array end '%s' processing map.",
                             conf_lex_rune_str(r, b));
    if (conf_lex_is_space(r)) {
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_MAP_KEY_START;
    }
    switch (r) {
    case '}':
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_MAP_END;
    case '#':
    case '/':
        conf_lex_getc(lx);
        if (conf_lex_comment_ahead(lx, r, CONF_LS_MAP_KEY_START))
            return CONF_LS_COMMENT_START;
        /* A lone '/' is dropped: the key starts after it. */
        break;
    case '\'':
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_MAP_SQ_KEY;
    case '"':
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_MAP_DQ_KEY;
    case CONF_LEX_EOF:
        return conf_lex_fail(lx, "Unexpected EOF processing map.");
    default:
        break;
    }
    conf_lex_ignore(lx);
    conf_lex_getc(lx);
    return CONF_LS_MAP_KEY;
}

static int conf_lex_map_quoted_key(struct conf_lex *lx, int32_t quote, int self)
{
    int32_t r = conf_lex_peek(lx);

    if (r == CONF_LEX_EOF)
        return conf_lex_fail(lx, quote == '"' ? "Unexpected EOF processing double quoted map key."
                                              : "Unexpected EOF processing quoted map key.");
    if (r == quote) {
        conf_lex_emit(lx, CONF_TOK_KEY);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return CONF_LS_MAP_KEY_END;
    }
    conf_lex_getc(lx);
    return self;
}

static int conf_lex_map_key(struct conf_lex *lx)
{
    int32_t r = conf_lex_peek(lx);

    if (r == CONF_LEX_EOF)
        return conf_lex_fail(lx, "Unexpected EOF processing map key.");
    if (conf_lex_is_space(r))
        return conf_lex_key_word(lx, CONF_LS_MAP_KEY_END, CONF_LS_MAP_VALUE_END);
    if (conf_lex_is_sep(r)) {
        conf_lex_emit(lx, CONF_TOK_KEY);
        return CONF_LS_MAP_KEY_END;
    }
    conf_lex_getc(lx);
    return CONF_LS_MAP_KEY;
}

static int conf_lex_map_key_end(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_space(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_KEY_END;
    }
    if (conf_lex_is_sep(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_VALUE;
    }
    conf_lex_back(lx);
    return CONF_LS_MAP_VALUE;
}

static int conf_lex_map_value(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_space(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_VALUE;
    }
    if (r == ',')
        return conf_lex_fail(lx, "Unexpected map value terminator \",\".");
    if (r == '}') {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_END;
    }
    conf_lex_back(lx);
    conf_lex_push(lx, CONF_LS_MAP_VALUE_END);
    return CONF_LS_VALUE;
}

static int conf_lex_map_value_end(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_ws(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_VALUE_END;
    }
    if ((r == '#' || r == '/') && conf_lex_comment_ahead(lx, r, CONF_LS_MAP_VALUE_END))
        return CONF_LS_COMMENT_START;
    if (r == '/' || r == ';' || r == ',' || conf_lex_is_nl(r)) {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_KEY_START;
    }
    if (r == '}') {
        conf_lex_ignore(lx);
        return CONF_LS_MAP_END;
    }
    return conf_lex_fail(lx,
                         "Expected a map value terminator \",\" or a map terminator \"}\", "
                         "but got '%s' instead.",
                         conf_lex_rune_str(r, b));
}

/* Single-quoted string: raw text. Like a quoted key, an opening quote with
 * nothing after it ends the input quietly. */
static int conf_lex_sq_string(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == '\'') {
        conf_lex_back(lx);
        conf_lex_emit(lx, CONF_TOK_STRING);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    if (r == CONF_LEX_EOF) {
        if (lx->pos > lx->start)
            return conf_lex_fail(lx, "Unexpected EOF.");
        conf_lex_emit(lx, CONF_TOK_EOF);
        return CONF_LS_DONE;
    }
    return CONF_LS_SQ_STRING;
}

/* Text before a backslash joins the parts; the escape adds its own. */
static void conf_lex_take_part(struct conf_lex *lx)
{
    conf_lex_parts_add(lx, lx->in + lx->start, lx->pos - 1 - lx->start);
    lx->start = lx->pos;
}

static int conf_lex_dq_string(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == '\\') {
        conf_lex_take_part(lx);
        return CONF_LS_ESCAPE;
    }
    if (r == '"') {
        conf_lex_back(lx);
        conf_lex_emit_string(lx);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    if (r == CONF_LEX_EOF) {
        if (lx->pos > lx->start)
            return conf_lex_fail(lx, "Unexpected EOF.");
        conf_lex_emit(lx, CONF_TOK_EOF);
        return CONF_LS_DONE;
    }
    return CONF_LS_DQ_STRING;
}

/* A bare word: text, a bool, or a $variable. */
static int conf_lex_string(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == '\\') {
        conf_lex_take_part(lx);
        return CONF_LS_ESCAPE;
    }
    if (conf_lex_is_nl(r) || r == CONF_LEX_EOF || r == ';' || r == ',' || r == ']' || r == '}' ||
        conf_lex_is_ws(r)) {
        conf_lex_back(lx);
        /* two cases that emit the same token, kept apart for clarity */
        /* NOLINTNEXTLINE(bugprone-branch-clone) */
        if (lx->nparts > 0) {
            conf_lex_emit_string(lx);
        } else if (conf_lex_is_bool(lx)) {
            conf_lex_emit(lx, CONF_TOK_BOOL);
        } else if (lx->start < lx->len && lx->in[lx->start] == '$') {
            lx->start++;
            conf_lex_emit(lx, CONF_TOK_VARIABLE);
        } else {
            conf_lex_emit_string(lx);
        }
        return conf_lex_pop(lx);
    }
    if (r == '\'') {
        conf_lex_back(lx);
        conf_lex_emit_string(lx);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    return CONF_LS_STRING;
}

/* "( ... )": runs to a ')' alone at the start of a line. The double step back
 * reuses the width of the ')' read, and at the very end of input a step back
 * does not move, so a final ")" with no newline after it stays in the text:
 * both are the reference's behaviour. */
static int conf_lex_block(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == CONF_LEX_EOF)
        return conf_lex_fail(lx, "Unexpected EOF processing block.");
    if (r != ')')
        return CONF_LS_BLOCK;
    conf_lex_back(lx);
    conf_lex_back(lx);
    if (conf_lex_getc(lx) != '\n') {
        conf_lex_getc(lx);
        return CONF_LS_BLOCK;
    }
    conf_lex_getc(lx);
    r = conf_lex_getc(lx);
    if (r == '\n' || r == CONF_LEX_EOF) {
        conf_lex_back(lx);
        conf_lex_back(lx);
        conf_lex_emit(lx, CONF_TOK_STRING);
        conf_lex_getc(lx);
        conf_lex_ignore(lx);
        return conf_lex_pop(lx);
    }
    conf_lex_back(lx);
    return CONF_LS_BLOCK;
}

static int conf_lex_add_part(struct conf_lex *lx, char c)
{
    conf_lex_parts_add(lx, &c, 1);
    lx->start = lx->pos;
    return lx->str_state;
}

static int conf_lex_escape(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    switch (r) {
    case 'x':
        return CONF_LS_HEX;
    case 't':
        return conf_lex_add_part(lx, '\t');
    case 'n':
        return conf_lex_add_part(lx, '\n');
    case 'r':
        return conf_lex_add_part(lx, '\r');
    case '"':
        return conf_lex_add_part(lx, '"');
    case '\\':
        return conf_lex_add_part(lx, '\\');
    default:
        return conf_lex_fail(lx,
                             "Invalid escape character '%s'. Only the following escape "
                             "characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                             conf_lex_rune_str(r, b));
    }
}

/* "\xHH": two runes are read, but the two bytes before pos are decoded, as in
 * the reference (so a multi-byte rune yields its last byte). */
static int conf_lex_hex(struct conf_lex *lx)
{
    for (int i = 0; i < 2; i++) {
        if (conf_lex_is_nl(conf_lex_getc(lx)))
            return conf_lex_fail(
                lx, "Expected two hexadecimal digits after '\\x', but hit end of line");
    }
    const char *h = lx->in + lx->pos - 2;
    int hi = util_hexval(h[0]), lo = util_hexval(h[1]);
    if (hi < 0 || lo < 0)
        return conf_lex_fail(lx, "Expected two hexadecimal digits after '\\x', but got '%.2s'", h);
    conf_lex_add_part(lx, (char)(hi << 4 | lo));
    return lx->str_state;
}

static int conf_lex_digit_start(struct conf_lex *lx, int next)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_digit(r))
        return next;
    if (r == '.')
        return conf_lex_fail(lx, "Floats must start with a digit, not '.'.");
    return conf_lex_fail(lx, "Expected a digit but got '%s'.", conf_lex_rune_str(r, b));
}

/* Digits so far: an integer, a float, an IP, a date, a size, or (anything
 * else follows) a bare string. */
static int conf_lex_num(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == '-') {
        if (lx->pos - lx->start != 5)
            return conf_lex_fail(lx, "All ISO8601 dates must be in full Zulu form.");
        return CONF_LS_DATE;
    }
    if (conf_lex_is_digit(r))
        return CONF_LS_NUM;
    if (r == '.')
        return CONF_LS_FLOAT_START;
    if (conf_lex_is_suffix(r))
        return CONF_LS_SUFFIX;
    if (!conf_lex_is_num_end(r)) {
        /* The rune stays consumed: "1]" is a string, the ']' swallowed. */
        lx->str_state = CONF_LS_STRING;
        return CONF_LS_STRING;
    }
    conf_lex_back(lx);
    conf_lex_emit(lx, CONF_TOK_INTEGER);
    return conf_lex_pop(lx);
}

static int conf_lex_suffix(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (r == 'b' || r == 'B' || r == 'i' || r == 'I')
        return CONF_LS_SUFFIX;
    conf_lex_back(lx);
    if (conf_lex_is_num_end(r)) {
        conf_lex_emit(lx, CONF_TOK_INTEGER);
        return conf_lex_pop(lx);
    }
    lx->str_state = CONF_LS_STRING;
    return CONF_LS_STRING;
}

static int conf_lex_date(struct conf_lex *lx)
{
    static const char shape[] = "00-00T00:00:00Z";
    char b1[8], b2[8];

    for (const char *f = shape; *f; f++) {
        int32_t r = conf_lex_getc(lx);
        if (*f == '0') {
            if (!conf_lex_is_digit(r))
                return conf_lex_fail(lx,
                                     "Expected digit in ISO8601 datetime, but found '%s' instead.",
                                     conf_lex_rune_str(r, b1));
        } else if (r != *f) {
            return conf_lex_fail(lx, "Expected '%s' in ISO8601 datetime, but found '%s' instead.",
                                 conf_lex_rune_str(*f, b1), conf_lex_rune_str(r, b2));
        }
    }
    conf_lex_emit(lx, CONF_TOK_DATETIME);
    return conf_lex_pop(lx);
}

static int conf_lex_neg(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_digit(r))
        return CONF_LS_NEG;
    if (r == '.')
        return CONF_LS_FLOAT_START;
    if (conf_lex_is_suffix(r))
        return CONF_LS_SUFFIX;
    conf_lex_back(lx);
    conf_lex_emit(lx, CONF_TOK_INTEGER);
    return conf_lex_pop(lx);
}

static int conf_lex_float_start(struct conf_lex *lx)
{
    char b[8];
    int32_t r = conf_lex_getc(lx);

    if (!conf_lex_is_digit(r))
        return conf_lex_fail(lx, "Floats must have a digit after the '.', but got '%s' instead.",
                             conf_lex_rune_str(r, b));
    return CONF_LS_FLOAT;
}

static int conf_lex_float(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_digit(r))
        return CONF_LS_FLOAT;
    if (r == '.')
        return CONF_LS_IP; /* a second '.': it was an address after all */
    conf_lex_back(lx);
    conf_lex_emit(lx, CONF_TOK_FLOAT);
    return conf_lex_pop(lx);
}

static int conf_lex_ip(struct conf_lex *lx)
{
    int32_t r = conf_lex_getc(lx);

    if (conf_lex_is_digit(r) || r == '.' || r == ':' || r == '-')
        return CONF_LS_IP;
    conf_lex_back(lx);
    conf_lex_emit(lx, CONF_TOK_STRING);
    return conf_lex_pop(lx);
}

static int conf_lex_comment(struct conf_lex *lx)
{
    int32_t r = conf_lex_peek(lx);

    if (conf_lex_is_nl(r) || r == CONF_LEX_EOF) {
        /* The comment text is not a token for the parser, but emitting it
         * still moves start, which later positions depend on. */
        conf_lex_emit_full(lx, CONF_TOK_STRING, false, false);
        return conf_lex_pop(lx);
    }
    conf_lex_getc(lx);
    return CONF_LS_COMMENT;
}

static int conf_lex_step(struct conf_lex *lx, int state)
{
    switch (state) {
    case CONF_LS_TOP:
        return conf_lex_top(lx);
    case CONF_LS_TOP_VALUE_END:
        return conf_lex_top_value_end(lx);
    case CONF_LS_KEY_START:
        return conf_lex_key_start(lx);
    case CONF_LS_DQ_KEY:
        return conf_lex_quoted_key(lx, '"', CONF_LS_DQ_KEY);
    case CONF_LS_SQ_KEY:
        return conf_lex_quoted_key(lx, '\'', CONF_LS_SQ_KEY);
    case CONF_LS_KEY:
        return conf_lex_key(lx);
    case CONF_LS_KEY_END:
        return conf_lex_key_end(lx);
    case CONF_LS_INCLUDE_START:
        return conf_lex_include_start(lx);
    case CONF_LS_INCLUDE:
        return conf_lex_include(lx);
    case CONF_LS_INCLUDE_SQ:
        return conf_lex_include_quoted(lx, '\'', CONF_LS_INCLUDE_SQ);
    case CONF_LS_INCLUDE_DQ:
        return conf_lex_include_quoted(lx, '"', CONF_LS_INCLUDE_DQ);
    case CONF_LS_INCLUDE_BARE:
        return conf_lex_include_bare(lx);
    case CONF_LS_VALUE:
        return conf_lex_value(lx);
    case CONF_LS_ARRAY_VALUE:
        return conf_lex_array_value(lx);
    case CONF_LS_ARRAY_VALUE_END:
        return conf_lex_array_value_end(lx);
    case CONF_LS_ARRAY_END:
        conf_lex_ignore(lx);
        conf_lex_emit(lx, CONF_TOK_ARRAY_END);
        return conf_lex_pop(lx);
    case CONF_LS_MAP_KEY_START:
        return conf_lex_map_key_start(lx);
    case CONF_LS_MAP_SQ_KEY:
        return conf_lex_map_quoted_key(lx, '\'', CONF_LS_MAP_SQ_KEY);
    case CONF_LS_MAP_DQ_KEY:
        return conf_lex_map_quoted_key(lx, '"', CONF_LS_MAP_DQ_KEY);
    case CONF_LS_MAP_KEY:
        return conf_lex_map_key(lx);
    case CONF_LS_MAP_KEY_END:
        return conf_lex_map_key_end(lx);
    case CONF_LS_MAP_VALUE:
        return conf_lex_map_value(lx);
    case CONF_LS_MAP_VALUE_END:
        return conf_lex_map_value_end(lx);
    case CONF_LS_MAP_END:
        conf_lex_ignore(lx);
        conf_lex_emit(lx, CONF_TOK_MAP_END);
        return conf_lex_pop(lx);
    case CONF_LS_SQ_STRING:
        return conf_lex_sq_string(lx);
    case CONF_LS_DQ_STRING:
        return conf_lex_dq_string(lx);
    case CONF_LS_STRING:
        return conf_lex_string(lx);
    case CONF_LS_BLOCK:
        return conf_lex_block(lx);
    case CONF_LS_ESCAPE:
        return conf_lex_escape(lx);
    case CONF_LS_HEX:
        return conf_lex_hex(lx);
    case CONF_LS_NUM_START:
        return conf_lex_digit_start(lx, CONF_LS_NUM);
    case CONF_LS_NUM:
        return conf_lex_num(lx);
    case CONF_LS_SUFFIX:
        return conf_lex_suffix(lx);
    case CONF_LS_DATE:
        return conf_lex_date(lx);
    case CONF_LS_NEG_START:
        return conf_lex_digit_start(lx, CONF_LS_NEG);
    case CONF_LS_NEG:
        return conf_lex_neg(lx);
    case CONF_LS_FLOAT_START:
        return conf_lex_float_start(lx);
    case CONF_LS_FLOAT:
        return conf_lex_float(lx);
    case CONF_LS_IP:
        return conf_lex_ip(lx);
    case CONF_LS_COMMENT_START:
        conf_lex_ignore(lx);
        conf_lex_emit_full(lx, CONF_TOK_STRING, false, false);
        return CONF_LS_COMMENT;
    case CONF_LS_COMMENT:
        return conf_lex_comment(lx);
    default:
        return conf_lex_fail(lx, "BUG in lexer: unknown state %d.", state);
    }
}

void conf_lex_init(struct conf_lex *lx, const char *in, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->in = in;
    lx->len = len;
    lx->line = 1;
    lx->state = CONF_LS_TOP;
}

void conf_lex_deinit(struct conf_lex *lx)
{
    NFREE(lx->stack);
    NFREE(lx->parts);
}

void conf_lex_next(struct conf_lex *lx, struct conf_tok *tok)
{
    if (!lx->done) {
        lx->have_tok = false;
        while (!lx->have_tok)
            lx->state = conf_lex_step(lx, lx->state);
        if (lx->state == CONF_LS_DONE)
            lx->done = true;
    }
    *tok = lx->tok;
}
