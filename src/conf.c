/* SPDX-License-Identifier: Apache-2.0
 * The NATS configuration language, token stream to tree: values, $variables,
 * includes, and nats-server 2.9.10's error texts (conf/parse.go). Syntax only;
 * what a key means belongs to opts.c.
 *
 * The parser mirrors the reference's two stacks rather than a grammar, since
 * its quirks follow from them: a key is pushed when lexed and popped when a
 * value lands in a map, so a key that never gets a value ("x { a }") is
 * claimed by the next value set in an enclosing map.
 *
 *   ctx stack:  [root map] [map "x" being built] [array] ...   (<= 1000 + 1)
 *   key stack:  "x" "a" ...                                      (pending keys)
 *
 * Everything a document holds lives in one arena freed at once. Containers
 * are built in heap arrays (maps with a hash index, so repeated keys cost O(1))
 * and copied into the arena when they close; values are never changed after
 * that, so a $variable shares the referenced tree instead of copying it. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdarg.h>
#include <math.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "conf_lex.h"
#include "mem.h"

/* Limits that keep hostile input bounded (the reference has none): bytes in
 * one file, include files parsed per document and their total size, and how
 * deep environment variables may refer to further environment variables. */
#define CONF_MAX_FILE_BYTES    (256u * 1024 * 1024)
#define CONF_MAX_INCLUDES      10000
#define CONF_MAX_INCLUDE_BYTES (1024ull * 1024 * 1024)
#define CONF_MAX_ENV_DEPTH     8
#define CONF_ARENA_CHUNK       (64u * 1024)
#define CONF_ARENA_ALIGN       16

struct conf_chunk {
    struct conf_chunk *next;
    size_t used;
    size_t cap;
    alignas(CONF_ARENA_ALIGN) unsigned char data[];
};

/* A value and the depth of the tree under it (0 for a scalar), so a shared
 * subtree placed by a variable or an include is checked against
 * CONF_MAX_DEPTH without walking it; a datetime keeps its seconds here, its
 * text being in v.u.s. */
struct conf_node {
    struct conf_value v;
    uint32_t height;
    int64_t unix_secs;
};

struct conf_doc {
    struct conf_chunk *chunks;
    struct conf_value *root;
};

/* Open-addressing index from key text to a position in an array; slots hold
 * position + 1, 0 is empty. */
struct conf_index {
    uint32_t *slots;
    size_t cap;
};

/* A map or an array under construction. */
struct conf_ctx {
    bool is_map;
    uint32_t height; /* of the tallest child so far */
    struct conf_kv *kv;
    struct conf_value **vals;
    size_t n, cap;
    struct conf_index index; /* maps only */
};

/* A key waiting for its value. */
struct conf_pending_key {
    const char *key;
    struct conf_pos pos;
};

struct conf_env_entry {
    const char *name;
    struct conf_node *node;
};

/* State shared by a document's parse and the nested parses of its includes
 * and environment variables. */
struct conf_session {
    struct conf_doc *doc;
    struct conf_error *err;
    uint64_t seed;
    struct {
        dev_t dev;
        ino_t ino;
    } chain[CONF_MAX_INCLUDE_DEPTH + 1];
    size_t nchain;
    size_t nincludes;
    unsigned long long include_bytes;
    const char *env_chain[CONF_MAX_ENV_DEPTH];
    size_t nenv;
    struct conf_env_entry *env; /* lookups already made, by name */
    size_t nenv_cache, capenv;
    struct conf_index env_index;
};

/* One text being parsed: the top file, an include, or an environment value. */
struct conf_parser {
    struct conf_session *s;
    struct conf_lex lx;
    const char *fp;  /* the name positions report */
    const char *dir; /* where its includes are looked for */
    struct conf_ctx *ctx;
    size_t nctx, capctx;
    struct conf_pending_key *keys;
    size_t nkeys, capkeys;
};

static int conf_parse_text(struct conf_session *s, const char *text, size_t len, const char *fp,
                           struct conf_node **root);

/* ---- arena ---- */

static void *conf_alloc(struct conf_doc *doc, size_t n)
{
    struct conf_chunk *c = doc->chunks;

    n = (n + CONF_ARENA_ALIGN - 1) & ~(size_t)(CONF_ARENA_ALIGN - 1);
    if (n == 0)
        n = CONF_ARENA_ALIGN;
    if (c == NULL || c->cap - c->used < n) {
        /* Big blocks get a chunk of their own behind the current one, so
         * the space left in the current chunk is not wasted. */
        size_t cap = n > CONF_ARENA_CHUNK / 4 ? n : CONF_ARENA_CHUNK;
        struct conf_chunk *nc = xmalloc(sizeof(*nc) + cap);
        nc->used = 0;
        nc->cap = cap;
        if (c != NULL && cap != CONF_ARENA_CHUNK) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            doc->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *conf_strndup(struct conf_doc *doc, const char *p, size_t n)
{
    char *s = conf_alloc(doc, n + 1);
    if (n > 0)
        memcpy(s, p, n); /* cppcheck-suppress nullPointer ; p is NULL only when n is 0 */
    s[n] = '\0';
    return s;
}

static struct conf_node *conf_node_new(struct conf_parser *p, enum conf_type t, int line, int col)
{
    struct conf_node *nd = conf_alloc(p->s->doc, sizeof(*nd));
    memset(nd, 0, sizeof(*nd));
    nd->v.type = t;
    nd->v.pos.file = p->fp;
    nd->v.pos.line = line;
    nd->v.pos.col = col;
    return nd;
}

static struct conf_node *conf_node_of(const struct conf_value *v)
{
    /* Every value is the first member of a conf_node. */
    return (struct conf_node *)(void *)v;
}

/* ---- errors ---- */

__attribute__((format(printf, 5, 6))) static int conf_fail(struct conf_session *s, const char *file,
                                                           int line, int col, const char *fmt, ...)
{
    va_list ap;

    snprintf(s->err->file, sizeof(s->err->file), "%s", file ? file : "");
    s->err->line = line;
    s->err->col = col;
    va_start(ap, fmt);
    vsnprintf(s->err->msg, sizeof(s->err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Put "prefix" in front of the message already in s->err, keeping its place. */
__attribute__((format(printf, 2, 3))) static void conf_wrap(struct conf_session *s, const char *fmt,
                                                            ...)
{
    char inner[sizeof(s->err->msg)], pre[sizeof(s->err->msg)];
    va_list ap;

    memcpy(inner, s->err->msg, sizeof(inner));
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    size_t n = strlen(pre), room = sizeof(s->err->msg) - 1;
    size_t m = strlen(inner);
    if (n > room)
        n = room;
    if (m > room - n)
        m = room - n;
    memcpy(s->err->msg, pre, n);
    memcpy(s->err->msg + n, inner, m);
    s->err->msg[n + m] = '\0';
}

/* Go's error text for a system error: strerror with a lower-case start. */
static void conf_errno_text(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

/* ---- hashing ---- */

static uint64_t conf_hash(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    return h;
}

/* The name of element i of an array whose elements start with a name. */
static const char *conf_index_name(const void *base, size_t stride, size_t i)
{
    const char *name;
    memcpy(&name, (const char *)base + i * stride, sizeof(name));
    return name;
}

/* Find key among the names in base[] (elements of stride bytes, each starting
 * with its name) through idx. Returns its position or -1. */
static long conf_index_find(const struct conf_index *idx, uint64_t seed, const void *base,
                            size_t stride, const char *key, size_t klen)
{
    if (idx->cap == 0)
        return -1;
    size_t mask = idx->cap - 1;
    for (size_t i = conf_hash(seed, key, klen) & mask;; i = (i + 1) & mask) {
        uint32_t slot = idx->slots[i];
        if (slot == 0)
            return -1;
        const char *name = conf_index_name(base, stride, slot - 1);
        if (strncmp(name, key, klen) == 0 && name[klen] == '\0')
            return (long)(slot - 1);
    }
}

/* Index element pos of base[] (already stored); n is the count with it. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the tree depth (CONF_MAX_DEPTH) */
static void conf_index_add(struct conf_index *idx, uint64_t seed, const void *base, size_t stride,
                           size_t pos, size_t n)
{
    if (n * 2 > idx->cap) {
        size_t cap = idx->cap ? idx->cap * 2 : 16;
        free(idx->slots);
        idx->slots = xcalloc(cap, sizeof(*idx->slots));
        idx->cap = cap;
        for (size_t j = 0; j < n; j++) {
            if (j == pos)
                continue;
            conf_index_add(idx, seed, base, stride, j, 0);
        }
    }
    const char *name = conf_index_name(base, stride, pos);
    size_t mask = idx->cap - 1;
    size_t i = conf_hash(seed, name, strlen(name)) & mask;
    while (idx->slots[i] != 0)
        i = (i + 1) & mask;
    idx->slots[i] = (uint32_t)(pos + 1);
}

/* ---- containers ---- */

static int conf_push_ctx(struct conf_parser *p, bool is_map, int line, int col)
{
    if (p->nctx > CONF_MAX_DEPTH)
        return conf_fail(p->s, p->fp, line, col,
                         "Parse error on line %d: 'Nesting of maps and arrays deeper than %d.'",
                         line, CONF_MAX_DEPTH);
    if (p->nctx == p->capctx) {
        p->capctx = p->capctx ? p->capctx * 2 : 8;
        p->ctx = xrealloc(p->ctx, p->capctx * sizeof(*p->ctx));
    }
    struct conf_ctx *c = &p->ctx[p->nctx++];
    memset(c, 0, sizeof(*c));
    c->is_map = is_map;
    return 0;
}

static void conf_ctx_release(struct conf_ctx *c)
{
    free(c->kv);
    free(c->vals);
    free(c->index.slots);
    memset(c, 0, sizeof(*c));
}

/* Close the innermost container into an arena value. */
static struct conf_node *conf_pop_ctx(struct conf_parser *p, int line, int col)
{
    struct conf_ctx *c = &p->ctx[--p->nctx];
    struct conf_node *nd = conf_node_new(p, c->is_map ? CONF_MAP : CONF_ARRAY, line, col);

    nd->height = c->height + 1;
    if (c->is_map) {
        nd->v.u.map.n = c->n;
        if (c->n > 0) {
            nd->v.u.map.kv = conf_alloc(p->s->doc, c->n * sizeof(*c->kv));
            memcpy(nd->v.u.map.kv, c->kv, c->n * sizeof(*c->kv));
        }
    } else {
        nd->v.u.arr.n = c->n;
        if (c->n > 0) {
            nd->v.u.arr.v = conf_alloc(p->s->doc, c->n * sizeof(*c->vals));
            memcpy(nd->v.u.arr.v, c->vals, c->n * sizeof(*c->vals));
        }
    }
    conf_ctx_release(c);
    return nd;
}

static void conf_push_key(struct conf_parser *p, const char *key, struct conf_pos pos)
{
    if (p->nkeys == p->capkeys) {
        p->capkeys = p->capkeys ? p->capkeys * 2 : 8;
        p->keys = xrealloc(p->keys, p->capkeys * sizeof(*p->keys));
    }
    p->keys[p->nkeys].key = key;
    p->keys[p->nkeys].pos = pos;
    p->nkeys++;
}

/* Place a finished value in the innermost container, as the reference's
 * setValue: appended to an array, or stored in a map under the most recent
 * pending key (a repeated key keeps its slot and takes the new value). *kvp
 * gets the map entry, or NULL in an array. */
static int conf_set_value(struct conf_parser *p, struct conf_node *nd, struct conf_kv **kvp)
{
    struct conf_ctx *c = &p->ctx[p->nctx - 1];

    if (kvp)
        *kvp = NULL;
    if (p->nctx - 1 + nd->height > CONF_MAX_DEPTH)
        return conf_fail(p->s, nd->v.pos.file, nd->v.pos.line, nd->v.pos.col,
                         "Parse error on line %d: 'Nesting of maps and arrays deeper than %d.'",
                         nd->v.pos.line, CONF_MAX_DEPTH);
    if (nd->height > c->height)
        c->height = nd->height;
    if (!c->is_map) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 8;
            c->vals = xrealloc(c->vals, c->cap * sizeof(*c->vals));
        }
        c->vals[c->n++] = &nd->v;
        return 0;
    }
    if (p->nkeys == 0)
        return conf_fail(p->s, nd->v.pos.file, nd->v.pos.line, nd->v.pos.col,
                         "BUG in parser, keys stack empty");
    struct conf_pending_key k = p->keys[--p->nkeys];
    long at = conf_index_find(&c->index, p->s->seed, c->kv, sizeof(*c->kv), k.key, strlen(k.key));
    struct conf_kv *kv;
    if (at >= 0) {
        kv = &c->kv[at];
    } else {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 8;
            c->kv = xrealloc(c->kv, c->cap * sizeof(*c->kv));
        }
        kv = &c->kv[c->n++];
        kv->key = k.key;
        conf_index_add(&c->index, p->s->seed, c->kv, sizeof(*c->kv), c->n - 1, c->n);
    }
    kv->pos = k.pos;
    kv->val = &nd->v;
    kv->used_as_var = false; /* a new value: earlier uses referred to the old */
    if (kvp)
        *kvp = kv;
    return 0;
}

/* ---- scalars ---- */

/* Go's strconv.ParseInt(s, 10, 64): 1 syntax error, 2 out of range. */
static int conf_parse_int(const char *s, size_t n, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0, limit;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 0)
        return 1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return 2;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Integer with an optional size suffix, as parse.go reads itemInteger. *set is
 * false for a suffix the reference silently drops (e.g. "1kbb"). */
static int conf_integer(struct conf_parser *p, const struct conf_tok *t, bool *set, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {
        {"", 1},
        {"k", 1000},
        {"kb", 1024},
        {"ki", 1024},
        {"kib", 1024},
        {"m", 1000000},
        {"mb", 1LL << 20},
        {"mi", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1000000000},
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
    size_t nd = 0, i = 0;
    int64_t num;

    /* The digits end after as many runes as there are leading digit runes,
     * counted in bytes: the reference's own arithmetic. */
    while (i < t->len) {
        size_t w;
        int32_t r = conf_lex_decode_rune((const unsigned char *)t->val + i, t->len - i, &w);
        if (!conf_lex_is_digit(r) && r != '-')
            break;
        nd++;
        i += w;
    }
    int rc = conf_parse_int(t->val, nd, &num);
    if (rc != 0)
        return conf_fail(p->s, p->fp, t->line, t->col,
                         rc == 2 ? "integer '%.*s' is out of the range"
                                 : "expected integer, but got '%.*s'",
                         (int)(t->len > 512 ? 512 : t->len), t->val);
    char suf[8];
    size_t sn = t->len - nd;
    *set = false;
    if (sn >= sizeof(suf))
        return 0;
    for (size_t j = 0; j < sn; j++) {
        char c = t->val[nd + j];
        suf[j] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    suf[sn] = '\0';
    for (size_t u = 0; u < ARRAY_LEN(units); u++) {
        if (strcmp(units[u].suffix, suf) != 0)
            continue;
        /* The reference wraps around silently here; an error is kinder. */
        if (__builtin_mul_overflow(num, units[u].mult, out))
            return conf_fail(p->s, p->fp, t->line, t->col, "integer '%.*s' is out of the range",
                             (int)(t->len > 512 ? 512 : t->len), t->val);
        *set = true;
        return 0;
    }
    return 0;
}

static int conf_float(struct conf_parser *p, const struct conf_tok *t, double *out)
{
    size_t i = 0, ndot = 0;
    const int shown = (int)(t->len > 512 ? 512 : t->len);

    if (i < t->len && t->val[i] == '-')
        i++;
    bool ok = i < t->len;
    for (; i < t->len; i++) {
        if (t->val[i] == '.')
            ndot++;
        else if (t->val[i] < '0' || t->val[i] > '9')
            ok = false;
    }
    if (!ok || ndot != 1)
        return conf_fail(p->s, p->fp, t->line, t->col, "expected float, but got '%.*s'", shown,
                         t->val);
    char *tmp = xstrndup(t->val, t->len);
    *out = strtod(tmp, NULL);
    free(tmp);
    /* Go reports overflow to infinity; underflow quietly becomes zero. */
    if (isinf(*out))
        return conf_fail(p->s, p->fp, t->line, t->col, "float '%.*s' is out of the range", shown,
                         t->val);
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t conf_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SSZ" checked as Go's time.Parse checks it. */
static int conf_datetime(struct conf_parser *p, const struct conf_tok *t, int64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *v = t->val;
    bool ok = t->len == sizeof(shape) - 1;

    for (size_t i = 0; ok && i < t->len; i++)
        ok = shape[i] == 'd' ? (v[i] >= '0' && v[i] <= '9') : v[i] == shape[i];
    if (ok) {
#define CONF_D2(o) ((v[o] - '0') * 10 + (v[(o) + 1] - '0'))
        int year = CONF_D2(0) * 100 + CONF_D2(2), mon = CONF_D2(5), day = CONF_D2(8);
        int hh = CONF_D2(11), mm = CONF_D2(14), ss = CONF_D2(17);
#undef CONF_D2
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        ok = mon >= 1 && mon <= 12 && day >= 1 &&
             day <= mdays[mon >= 1 && mon <= 12 ? mon - 1 : 0] + (mon == 2 && leap) && hh < 24 &&
             mm < 60 && ss < 60;
        if (ok) {
            *out = conf_days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
            return 0;
        }
    }
    return conf_fail(p->s, p->fp, t->line, t->col,
                     "expected Zulu formatted DateTime, but got '%.*s'",
                     (int)(t->len > 512 ? 512 : t->len), t->val);
}

static struct conf_node *conf_string_node(struct conf_parser *p, const struct conf_tok *t,
                                          const char *prefix)
{
    struct conf_node *nd = conf_node_new(p, CONF_STRING, t->line, t->col);
    size_t pn = strlen(prefix);
    char *s = conf_alloc(p->s->doc, pn + t->len + 1);

    memcpy(s, prefix, pn);
    if (t->len > 0)
        memcpy(s + pn, t->val, t->len);
    s[pn + t->len] = '\0';
    nd->v.u.s.p = s;
    nd->v.u.s.len = pn + t->len;
    return nd;
}

/* A value read in one place and written down again at a variable's place. */
static struct conf_node *conf_node_copy(struct conf_parser *p, const struct conf_node *src,
                                        const struct conf_tok *t)
{
    struct conf_node *nd = conf_alloc(p->s->doc, sizeof(*nd));
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): callers pass a parsed node */
    *nd = *src;
    nd->v.pos.file = p->fp;
    nd->v.pos.line = t->line;
    nd->v.pos.col = t->col;
    return nd;
}

/* ---- variables ---- */

/* The environment value of name parsed as "pk=<value>", as lookupVariable
 * does; cached per document, since the environment is read only once. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the variable reference depth */
static int conf_env_lookup(struct conf_parser *p, const struct conf_tok *t, const char *name,
                           struct conf_node **found)
{
    struct conf_session *s = p->s;
    size_t nlen = strlen(name);
    long at = conf_index_find(&s->env_index, s->seed, s->env, sizeof(*s->env), name, nlen);

    *found = NULL;
    if (at >= 0) {
        *found = s->env[at].node;
        return 0;
    }
    const char *val = nlen > 0 && strchr(name, '=') == NULL ? getenv(name) : NULL;
    if (val == NULL)
        return 0;
    for (size_t i = 0; i < s->nenv; i++) {
        if (strcmp(s->env_chain[i], name) == 0)
            return conf_fail(s, p->fp, t->line, t->col,
                             "variable reference for '%s' on line %d could not be parsed: "
                             "environment variable '%s' refers to itself",
                             name, t->line, name);
    }
    if (s->nenv == CONF_MAX_ENV_DEPTH)
        return conf_fail(s, p->fp, t->line, t->col,
                         "variable reference for '%s' on line %d could not be parsed: "
                         "environment variables nested deeper than %d",
                         name, t->line, CONF_MAX_ENV_DEPTH);

    size_t vlen = strlen(val);
    char *text = xmalloc(vlen + 4);
    /* the NUL is copied by the next memcpy */
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
    memcpy(text, "pk=", 3);
    memcpy(text + 3, val, vlen + 1);
    struct conf_node *root = NULL;
    s->env_chain[s->nenv++] = name;
    int rc = conf_parse_text(s, text, vlen + 3, "", &root);
    s->nenv--;
    free(text);
    if (rc != 0) {
        conf_wrap(s, "variable reference for '%s' on line %d could not be parsed: ", name, t->line);
        snprintf(s->err->file, sizeof(s->err->file), "%s", p->fp);
        s->err->line = t->line;
        s->err->col = t->col;
        return -1;
    }
    const struct conf_value *m = &root->v;
    for (size_t i = 0; i < m->u.map.n; i++) {
        if (strcmp(m->u.map.kv[i].key, "pk") == 0)
            *found = conf_node_of(m->u.map.kv[i].val);
    }
    if (*found == NULL)
        return 0;
    if (s->nenv_cache == s->capenv) {
        s->capenv = s->capenv ? s->capenv * 2 : 8;
        s->env = xrealloc(s->env, s->capenv * sizeof(*s->env));
    }
    s->env[s->nenv_cache].name = conf_strndup(s->doc, name, nlen);
    s->env[s->nenv_cache].node = *found;
    s->nenv_cache++;
    conf_index_add(&s->env_index, s->seed, s->env, sizeof(*s->env), s->nenv_cache - 1,
                   s->nenv_cache);
    return 0;
}

/* NOLINTNEXTLINE(misc-no-recursion): bounded by the variable reference depth */
static int conf_variable(struct conf_parser *p, const struct conf_tok *t)
{
    struct conf_node *nd = NULL;

    /* Raw bcrypt hashes ("$2a$...") are text, never a reference. */
    if (t->len >= 3 && memcmp(t->val, "2a$", 3) == 0)
        return conf_set_value(p, conf_string_node(p, t, "$"), NULL);

    char *name = xstrndup(t->val, t->len);
    /* Innermost map outwards; arrays hold no names. */
    for (size_t i = p->nctx; i-- > 0 && nd == NULL;) {
        struct conf_ctx *c = &p->ctx[i];
        if (!c->is_map)
            continue;
        long at = conf_index_find(&c->index, p->s->seed, c->kv, sizeof(*c->kv), name, t->len);
        if (at >= 0) {
            c->kv[at].used_as_var = true;
            nd = conf_node_of(c->kv[at].val);
        }
    }
    int rc = 0;
    if (nd == NULL)
        rc = conf_env_lookup(p, t, name, &nd);
    if (rc == 0 && nd == NULL)
        rc = conf_fail(p->s, p->fp, t->line, t->col,
                       "variable reference for '%s' on line %d can not be found", name, t->line);
    free(name);
    if (rc != 0)
        return rc;
    return conf_set_value(p, conf_node_copy(p, nd, t), NULL);
}

/* ---- files ---- */

/* Go's filepath.Clean, into the arena. */
static const char *conf_path_clean(struct conf_doc *doc, const char *path, size_t n)
{
    if (n == 0)
        return conf_strndup(doc, ".", 1);
    char *out = conf_alloc(doc, n + 2);
    bool rooted = path[0] == '/';
    size_t r = 0, w = 0, dotdot = 0;

    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        /* NOLINTNEXTLINE(bugprone-branch-clone): "/" and "./" are both skipped, on purpose */
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return out;
}

/* Go's filepath.Dir. */
static const char *conf_path_dir(struct conf_doc *doc, const char *path)
{
    const char *slash = strrchr(path, '/');
    return conf_path_clean(doc, path, slash ? (size_t)(slash - path) + 1 : 0);
}

/* Go's filepath.Join(dir, name): an absolute name is still under dir. */
static const char *conf_path_join(struct conf_doc *doc, const char *dir, const char *name,
                                  size_t nlen)
{
    if (nlen == 0)
        return conf_path_clean(doc, dir, strlen(dir));
    size_t dlen = strlen(dir);
    char *tmp = xmalloc(dlen + nlen + 2);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): NUL written after the name */
    memcpy(tmp, dir, dlen);
    tmp[dlen] = '/';
    memcpy(tmp + dlen + 1, name, nlen);
    const char *out = conf_path_clean(doc, tmp, dlen + nlen + 1);
    free(tmp);
    return out;
}

/* Read a whole file into *buf (heap). On failure fills s->err with Go's
 * os.ReadFile wording ("open F: ...", "read F: is a directory") at the given
 * place and returns -1. */
static int conf_read_file(struct conf_session *s, const char *path, const char *efile, int eline,
                          int ecol, char **buf, size_t *len, struct stat *st)
{
    char why[128];
#ifdef NATSD_FUZZING
    /* A fuzzer must not read, or block on, whatever files the host has. */
    int fd = -1;
    errno = ENOENT;
#else
    int fd = open(path, O_RDONLY | O_CLOEXEC);
#endif

    if (fd < 0) {
        conf_errno_text(errno, why, sizeof(why));
        return conf_fail(s, efile, eline, ecol, "open %s: %s", path, why);
    }
    if (fstat(fd, st) != 0) {
        conf_errno_text(errno, why, sizeof(why));
        close(fd);
        return conf_fail(s, efile, eline, ecol, "read %s: %s", path, why);
    }
    size_t cap = S_ISREG(st->st_mode) && st->st_size > 0 && st->st_size < CONF_MAX_FILE_BYTES
                     ? (size_t)st->st_size + 1
                     : 4096;
    size_t n = 0;
    char *b = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > CONF_MAX_FILE_BYTES) {
                free(b);
                close(fd);
                return conf_fail(s, efile, eline, ecol, "read %s: file larger than %u bytes", path,
                                 CONF_MAX_FILE_BYTES);
            }
            cap *= 2;
            b = xrealloc(b, cap);
        }
        ssize_t got = read(fd, b + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            conf_errno_text(errno, why, sizeof(why));
            free(b);
            close(fd);
            return conf_fail(s, efile, eline, ecol, "read %s: %s", path, why);
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

/* Parse the file at path as a new text (it sees none of our variables) and
 * return its top-level map. errors are placed at (efile, eline, ecol) when the
 * file itself cannot be read; otherwise where the included text says. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the include depth */
static int conf_parse_path(struct conf_session *s, const char *path, const char *efile, int eline,
                           int ecol, struct conf_node **root)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;

    if (s->nchain > CONF_MAX_INCLUDE_DEPTH)
        return conf_fail(s, efile, eline, ecol, "includes nested deeper than %d",
                         CONF_MAX_INCLUDE_DEPTH);
    if (conf_read_file(s, path, efile, eline, ecol, &buf, &len, &st) != 0)
        return -1;
    for (size_t i = 0; i < s->nchain; i++) {
        /* conf_read_file fills st on success */
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
        if (s->chain[i].dev == st.st_dev && s->chain[i].ino == st.st_ino) {
            free(buf);
            return conf_fail(s, efile, eline, ecol, "include cycle: '%s' is already being parsed",
                             path);
        }
    }
    s->include_bytes += len;
    if (s->include_bytes > CONF_MAX_INCLUDE_BYTES) {
        free(buf);
        return conf_fail(s, efile, eline, ecol, "included files larger than %llu bytes in all",
                         CONF_MAX_INCLUDE_BYTES);
    }
    /* conf_read_file fills st on success */
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
    s->chain[s->nchain].dev = st.st_dev;
    s->chain[s->nchain].ino = st.st_ino;
    s->nchain++;
    int rc = conf_parse_text(s, buf, len, conf_strndup(s->doc, path, strlen(path)), root);
    s->nchain--;
    free(buf);
    return rc;
}

/* "include x": parse x and merge its keys into the current map, each with
 * its own position and used-as-variable mark. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the include depth */
static int conf_include(struct conf_parser *p, const struct conf_tok *t)
{
    struct conf_session *s = p->s;
    struct conf_node *root = NULL;
    const char *path = conf_path_join(s->doc, p->dir, t->val, t->len);
    int shown = (int)(t->len > 512 ? 512 : t->len);

    if (++s->nincludes > CONF_MAX_INCLUDES)
        return conf_fail(s, p->fp, t->line, t->col,
                         "error parsing include file '%.*s', more than %d include files", shown,
                         t->val, CONF_MAX_INCLUDES);
    if (conf_parse_path(s, path, p->fp, t->line, t->col, &root) != 0) {
        conf_wrap(s, "error parsing include file '%.*s', ", shown, t->val);
        return -1;
    }
    const struct conf_value *m = &root->v;
    for (size_t i = 0; i < m->u.map.n; i++) {
        const struct conf_kv *src = &m->u.map.kv[i];
        struct conf_kv *dst;
        conf_push_key(p, src->key, src->pos);
        if (conf_set_value(p, conf_node_of(src->val), &dst) != 0)
            return -1;
        if (dst)
            dst->used_as_var = src->used_as_var;
    }
    return 0;
}

/* ---- the parse loop ---- */

/* NOLINTNEXTLINE(misc-no-recursion): bounded by the nesting depth (CONF_MAX_DEPTH) */
static int conf_item(struct conf_parser *p, const struct conf_tok *t)
{
    struct conf_node *nd;

    switch (t->type) {
    case CONF_TOK_ERROR:
        return conf_fail(p->s, p->fp, t->line, t->col, "Parse error on line %d: '%s'", t->line,
                         t->val);
    case CONF_TOK_KEY: {
        struct conf_pos pos = {p->fp, t->line, t->col};
        conf_push_key(p, conf_strndup(p->s->doc, t->val, t->len), pos);
        return 0;
    }
    case CONF_TOK_MAP_START:
    case CONF_TOK_ARRAY_START:
        return conf_push_ctx(p, t->type == CONF_TOK_MAP_START, t->line, t->col);
    case CONF_TOK_MAP_END:
    case CONF_TOK_ARRAY_END:
        if (p->nctx <= 1)
            return conf_fail(p->s, p->fp, t->line, t->col, "BUG in parser, context stack empty");
        return conf_set_value(p, conf_pop_ctx(p, t->line, t->col), NULL);
    case CONF_TOK_STRING:
        return conf_set_value(p, conf_string_node(p, t, ""), NULL);
    case CONF_TOK_INTEGER: {
        bool set = false;
        int64_t v = 0;
        if (conf_integer(p, t, &set, &v) != 0)
            return -1;
        if (!set)
            return 0;
        nd = conf_node_new(p, CONF_INT, t->line, t->col);
        nd->v.u.i = v;
        return conf_set_value(p, nd, NULL);
    }
    case CONF_TOK_FLOAT: {
        double f = 0;
        if (conf_float(p, t, &f) != 0)
            return -1;
        nd = conf_node_new(p, CONF_FLOAT, t->line, t->col);
        nd->v.u.f = f;
        return conf_set_value(p, nd, NULL);
    }
    case CONF_TOK_BOOL:
        nd = conf_node_new(p, CONF_BOOL, t->line, t->col);
        nd->v.u.b = (t->len == 4 && strncasecmp(t->val, "true", 4) == 0) ||
                    (t->len == 3 && strncasecmp(t->val, "yes", 3) == 0) ||
                    (t->len == 2 && strncasecmp(t->val, "on", 2) == 0);
        return conf_set_value(p, nd, NULL);
    case CONF_TOK_DATETIME: {
        int64_t v = 0;
        if (conf_datetime(p, t, &v) != 0)
            return -1;
        nd = conf_string_node(p, t, "");
        nd->v.type = CONF_DATETIME;
        nd->unix_secs = v;
        return conf_set_value(p, nd, NULL);
    }
    case CONF_TOK_VARIABLE:
        return conf_variable(p, t);
    case CONF_TOK_INCLUDE:
        return conf_include(p, t);
    case CONF_TOK_EOF:
        break;
    }
    return 0;
}

/* Parse one text into its top-level map (*root, in the arena). On failure
 * s->err is filled. Nested calls (includes, environment values) recurse
 * here, bounded by CONF_MAX_INCLUDE_DEPTH and CONF_MAX_ENV_DEPTH. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the include depth */
static int conf_parse_text(struct conf_session *s, const char *text, size_t len, const char *fp,
                           struct conf_node **root)
{
    struct conf_parser *p = xcalloc(1, sizeof(*p));
    struct conf_tok t;
    int rc = 0;

    p->s = s;
    p->fp = fp;
    p->dir = conf_path_dir(s->doc, fp);
    conf_lex_init(&p->lx, text, len);
    conf_push_ctx(p, true, 0, 0);
    for (;;) {
        conf_lex_next(&p->lx, &t);
        if (t.type == CONF_TOK_EOF)
            break;
        if ((rc = conf_item(p, &t)) != 0)
            break;
    }
    if (rc == 0) {
        /* Containers still open at a quiet end of input (the reference
         * allows a few, e.g. after a lone opening quote) are dropped. */
        while (p->nctx > 1)
            conf_ctx_release(&p->ctx[--p->nctx]);
        *root = conf_pop_ctx(p, 0, 0);
    }
    while (p->nctx > 0)
        conf_ctx_release(&p->ctx[--p->nctx]);
    conf_lex_deinit(&p->lx);
    free(p->ctx);
    free(p->keys);
    free(p);
    return rc;
}

static int conf_parse_top(const char *text, size_t len, const char *name, const char *path,
                          struct conf_doc **out, struct conf_error *err)
{
    struct conf_error scratch;
    struct conf_session s;
    struct conf_node *root = NULL;
    int rc;

    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof(*err));
    memset(&s, 0, sizeof(s));
    s.err = err;
    s.doc = xcalloc(1, sizeof(*s.doc));
    if (getrandom(&s.seed, sizeof(s.seed), GRND_NONBLOCK) != sizeof(s.seed))
        s.seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
    if (path != NULL)
        rc = conf_parse_path(&s, path, path, 0, 0, &root);
    else
        /* cppcheck-suppress nullPointer ; conf_parse_string passes "" for NULL */
        /* conf_parse_string passes "" for NULL */
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
        rc = conf_parse_text(&s, text, len, conf_strndup(s.doc, name, strlen(name)), &root);
    free(s.env);
    free(s.env_index.slots);
    if (rc != 0) {
        conf_free(s.doc);
        *out = NULL;
        return -1;
    }
    s.doc->root = &root->v;
    *out = s.doc;
    return 0;
}

/* ---- public ---- */

int conf_parse_file(const char *path, struct conf_doc **out, struct conf_error *err)
{
    return conf_parse_top(NULL, 0, NULL, path, out, err);
}

int conf_parse_string(const char *text, size_t len, const char *name, struct conf_doc **out,
                      struct conf_error *err)
{
    return conf_parse_top(text ? text : "", text ? len : 0, name ? name : "", NULL, out, err);
}

const struct conf_value *conf_root(const struct conf_doc *doc)
{
    return doc ? doc->root : NULL;
}

void conf_free(struct conf_doc *doc)
{
    if (doc == NULL)
        return;
    struct conf_chunk *c = doc->chunks;
    while (c != NULL) {
        struct conf_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

/* One character of a key folded as Go's strings.ToLower folds it, for the
 * letters that matter to option names: ASCII, and U+0130 and U+212A, which
 * Go lowers to 'i' and 'k'. Advances *p. */
static int conf_fold(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    if (s[0] == 0xC4 && s[1] == 0xB0) {
        *p += 2;
        return 'i';
    }
    if (s[0] == 0xE2 && s[1] == 0x84 && s[2] == 0xAA) {
        *p += 3;
        return 'k';
    }
    *p += 1;
    return s[0] >= 'A' && s[0] <= 'Z' ? s[0] - 'A' + 'a' : s[0];
}

const struct conf_value *conf_map_get(const struct conf_value *m, const char *key)
{
    const struct conf_value *found = NULL;

    if (m == NULL || m->type != CONF_MAP || key == NULL)
        return NULL;
    /* The last match wins: of "port" and "PORT" the later line counts. */
    for (size_t i = 0; i < m->u.map.n; i++) {
        const char *a = m->u.map.kv[i].key, *b = key;
        int ca, cb;
        do {
            ca = *a ? conf_fold(&a) : 0;
            cb = *b ? conf_fold(&b) : 0;
        } while (ca == cb && ca != 0);
        if (ca == cb)
            found = m->u.map.kv[i].val;
    }
    return found;
}

int64_t conf_datetime_unix(const struct conf_value *v)
{
    return v != NULL && v->type == CONF_DATETIME ? conf_node_of(v)->unix_secs : 0;
}

const char *conf_type_name(enum conf_type t)
{
    switch (t) {
    case CONF_MAP:
        return "map";
    case CONF_ARRAY:
        return "array";
    case CONF_STRING:
        return "string";
    case CONF_INT:
        return "int64";
    case CONF_FLOAT:
        return "float64";
    case CONF_BOOL:
        return "bool";
    case CONF_DATETIME:
        return "datetime";
    }
    return "unknown";
}

void conf_error_format(const struct conf_error *err, char *buf, size_t size)
{
    if (size == 0)
        return;
    if (err == NULL) {
        buf[0] = '\0';
        return;
    }
    if (err->file[0] != '\0' && err->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    else if (err->file[0] != '\0')
        snprintf(buf, size, "%s: %s", err->file, err->msg);
    else if (err->line > 0)
        snprintf(buf, size, "%d:%d: %s", err->line, err->col, err->msg);
    else
        snprintf(buf, size, "%s", err->msg);
}

/* NOLINTNEXTLINE(misc-no-recursion): bounded by the tree depth (CONF_MAX_DEPTH) */
bool conf_value_equal(const struct conf_value *a, const struct conf_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case CONF_BOOL:
        return a->u.b == b->u.b;
    case CONF_INT:
        return a->u.i == b->u.i;
    case CONF_FLOAT:
        return a->u.f == b->u.f;
    case CONF_STRING:
    case CONF_DATETIME:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case CONF_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!conf_value_equal(a->u.arr.v[i], b->u.arr.v[i]))
                return false;
        return true;
    case CONF_MAP:
        if (a->u.map.n != b->u.map.n)
            return false;
        for (size_t i = 0; i < a->u.map.n; i++)
            if (!conf_value_equal(a->u.map.kv[i].val, conf_map_get(b, a->u.map.kv[i].key)))
                return false;
        return true;
    }
    return false;
}
