/* SPDX-License-Identifier: Apache-2.0
 * The options layer: nats-server's defaults, and tables of rows (name and
 * aliases, type, offset, bounds, reloadable flag, hook) that map a parsed
 * configuration tree onto struct opts with nats-server 2.9.10's messages. The
 * authorization and accounts blocks live in opts_auth.c, the certificate
 * checks of a tls block in opts_tls.c. */
#include "opts.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "mem.h"
#include "opts_internal.h"
#include "util.h"

/* What a row maps its value onto. */
enum opts_ktype {
    OPTS_K_BOOL = 0,
    OPTS_K_INT,      /* C int, bounds checked */
    OPTS_K_I32,      /* int32_t, bounds checked */
    OPTS_K_I64,      /* int64_t, bounds checked */
    OPTS_K_DURATION, /* Go duration string; a bare integer is seconds + warning */
    OPTS_K_STRING,
    OPTS_K_LISTEN, /* port or "host:port": host at off, port (int) at off2 */
    OPTS_K_HOOK,
    OPTS_K_UNSUPPORTED, /* known to nats-server, not implemented: shape check */
};

/* Which conf types an unsupported key may have (bit per enum conf_type). */
#define OPTS_SHAPE(t) (1u << (t))

/* ocsp's modes as far as natsd must tell them apart (must acts as auto). */
enum opts_ocsp_mode {
    OPTS_OCSP_AUTO = 0, /* only Must-Staple certificates */
    OPTS_OCSP_ALWAYS,
    OPTS_OCSP_NEVER,
};

struct opts_ctx {
    struct opts *o;
    struct opts_diag *d;
    bool tls_client; /* top-level tls: a client context for parseTLS */
    /* the last ocsp key and its mode, decided once every tls block is known */
    const struct conf_kv *ocsp_kv;
    enum opts_ocsp_mode ocsp_mode;
};

struct opts_key;
typedef int opts_hook_fn(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                         const struct opts_key *k);

/* One row of a key table. Names are lower case; names[0] is the canonical one
 * (used in messages that nats-server words with a fixed field name). */
struct opts_key {
    const char *names[7];
    enum opts_ktype type;
    size_t off;
    size_t off2;
    int64_t min, max;
    bool reloadable;
    const char *type_msg; /* replaces the Go type-assertion text when set */
    unsigned shapes;      /* OPTS_K_UNSUPPORTED: accepted conf types */
    /* OPTS_K_UNSUPPORTED: why natsd cannot ignore the key (it would then not
     * enforce what the key asks for), for the error that refuses it; NULL
     * for a key that is only warned about */
    const char *refuse;
    opts_hook_fn *hook;
};

/* A table and how its block reports problems. */
struct opts_block {
    const struct opts_key *keys;
    size_t n;
    bool tls_style; /* parseTLS: own unknown-field text, stop at first error */
};

#define OPTS_NS_PER_SEC 1000000000LL

/* ---- diagnostics ------------------------------------------------------- */

static void opts_diag_vadd(struct strlist *l, const struct conf_pos *pos, const char *fmt,
                           va_list ap)
{
    char msg[2048], line[2400];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (pos != NULL)
        snprintf(line, sizeof(line), "%s:%d:%d: %s", pos->file ? pos->file : "", pos->line,
                 pos->col, msg);
    else
        snprintf(line, sizeof(line), "%s", msg);
    strlist_push(l, line);
}

void opts_err(struct opts_diag *d, const struct conf_pos *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    opts_diag_vadd(&d->errors, pos, fmt, ap);
    va_end(ap);
}

void opts_warn(struct opts_diag *d, const struct conf_pos *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    opts_diag_vadd(&d->warnings, pos, fmt, ap);
    va_end(ap);
}

void opts_refuse(struct opts_diag *d, const struct conf_pos *pos, const char *what, const char *why)
{
    opts_err(d, pos, "%s is not supported by natsd and cannot be ignored: %s", what, why);
}

void opts_note_unsupported(struct opts *o, const char *key)
{
    for (size_t i = 0; i < o->unsupported.n; i++)
        if (strcmp(o->unsupported.v[i], key) == 0)
            return;
    strlist_push(&o->unsupported, key);
}

/* The name Go's %T gives a configuration value. */
const char *opts_go_type(enum conf_type t)
{
    switch (t) {
    case CONF_MAP:
        return "map[string]interface {}";
    case CONF_ARRAY:
        return "[]interface {}";
    case CONF_STRING:
        return "string";
    case CONF_INT:
        return "int64";
    case CONF_FLOAT:
        return "float64";
    case CONF_BOOL:
        return "bool";
    case CONF_DATETIME:
        return "time.Time";
    }
    return "interface {}";
}

/* A failed Go type assertion, as convertPanicToErrorList reports it. */
static bool opts_want_at(struct opts_diag *d, const struct conf_pos *pos,
                         const struct conf_value *v, enum conf_type t)
{
    if (v->type == t)
        return true;
    opts_err(d, pos, "interface conversion: interface {} is %s, not %s", opts_go_type(v->type),
             opts_go_type(t));
    return false;
}

bool opts_want(struct opts_diag *d, const struct conf_value *v, enum conf_type t)
{
    return opts_want_at(d, &v->pos, v, t);
}

/* The %v of a value in "Expected gateway entry to be a map/struct, got %v".
 * Go prints addresses for arrays and maps; any stable text will do there. */
static void opts_go_value(const struct conf_value *v, char *buf, size_t size)
{
    switch (v->type) {
    case CONF_STRING:
        snprintf(buf, size, "%s", v->u.s.p);
        break;
    case CONF_INT:
        snprintf(buf, size, "%" PRId64, v->u.i);
        break;
    case CONF_FLOAT:
        util_format_float_go(v->u.f, buf, size);
        break;
    case CONF_BOOL:
        snprintf(buf, size, "%s", v->u.b ? "true" : "false");
        break;
    case CONF_DATETIME:
        snprintf(buf, size, "%s", v->u.s.p);
        break;
    case CONF_ARRAY:
        snprintf(buf, size, "[%zu elements]", v->u.arr.n);
        break;
    case CONF_MAP:
        snprintf(buf, size, "map[%zu keys]", v->u.map.n);
        break;
    }
}

/* A shallow copy of kv's value positioned at its key: nats-server reports a
 * block's own problems at the key, and opts_auth.c's parsers only see the
 * value. The copy shares the value's contents. */
static const struct conf_value *opts_at_key(const struct conf_kv *kv, struct conf_value *tmp)
{
    *tmp = *kv->val;
    tmp->pos = kv->pos;
    return tmp;
}

static void opts_set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = xstrdup(s);
}

/* ---- row application --------------------------------------------------- */

static int opts_apply_int(struct opts_ctx *cx, const struct opts_key *k, void *base,
                          const struct conf_kv *kv)
{
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_INT))
        return -1;
    int64_t v = kv->val->u.i;
    /* max_payload/max_sub_tokens messages name the key as written */
    if (v > k->max) {
        opts_err(cx->d, &kv->pos, "%s value is too big", kv->key);
        return -1;
    }
    if (v < k->min) {
        opts_err(cx->d, &kv->pos, "%s value can not be negative", kv->key);
        return -1;
    }
    char *p = (char *)base + k->off;
    if (k->type == OPTS_K_INT)
        *(int *)(void *)p = (int)v;
    else if (k->type == OPTS_K_I32)
        *(int32_t *)(void *)p = (int32_t)v;
    else
        *(int64_t *)(void *)p = v;
    return 0;
}

/* parseDuration: a string in Go syntax, or (deprecated) an integer of seconds. */
static int opts_apply_duration(struct opts_ctx *cx, const struct opts_key *k, void *base,
                               const struct conf_kv *kv)
{
    const struct conf_value *v = kv->val;
    int64_t *dst = (int64_t *)(void *)((char *)base + k->off);
    if (v->type == CONF_STRING) {
        char err[600];
        int64_t ns;
        if (util_parse_duration(v->u.s.p, v->u.s.len, &ns, err, sizeof(err)) != 0) {
            opts_err(cx->d, &kv->pos, "error parsing %s: %s", k->names[0], err);
            *dst = 0;
            return -1;
        }
        *dst = ns;
        return 0;
    }
    opts_warn(cx->d, &kv->pos, "invalid use of field \"%s\": %s should be converted to a duration",
              k->names[0], k->names[0]);
    if (!opts_want_at(cx->d, &kv->pos, v, CONF_INT))
        return -1;
    /* Go multiplies and wraps; saturate instead of overflowing */
    if (v->u.i > INT64_MAX / OPTS_NS_PER_SEC)
        *dst = INT64_MAX;
    else if (v->u.i < INT64_MIN / OPTS_NS_PER_SEC)
        *dst = INT64_MIN;
    else
        *dst = v->u.i * OPTS_NS_PER_SEC;
    return 0;
}

/* parseListen: a port, or "host:port" split as net.SplitHostPort. */
static int opts_apply_listen(struct opts_ctx *cx, const struct opts_key *k, void *base,
                             const struct conf_kv *kv)
{
    const struct conf_value *v = kv->val;
    char **host = (char **)(void *)((char *)base + k->off);
    int *port = (int *)(void *)((char *)base + k->off2);
    char q[600];

    if (v->type == CONF_INT) {
        if (v->u.i > INT_MAX || v->u.i < INT_MIN) {
            opts_err(cx->d, &kv->pos, "%s value is too big", kv->key);
            return -1;
        }
        opts_set_str(host, "");
        *port = (int)v->u.i;
        return 0;
    }
    if (v->type != CONF_STRING) {
        opts_err(cx->d, &kv->pos, "expected port or host:port, got %s", opts_go_type(v->type));
        return -1;
    }
    char *h, *p;
    int64_t pn;
    if (util_split_host_port(v->u.s.p, &h, &p) != 0) {
        util_go_quote(v->u.s.p, v->u.s.len, q, sizeof(q));
        opts_err(cx->d, &kv->pos, "could not parse address string %s", q);
        return -1;
    }
    if (util_atoi64(p, &pn) != 0 || pn > INT_MAX || pn < INT_MIN) {
        util_go_quote(p, strlen(p), q, sizeof(q));
        opts_err(cx->d, &kv->pos, "could not parse port %s", q);
        free(h);
        free(p);
        return -1;
    }
    free(*host);
    *host = h;
    *port = (int)pn;
    free(p);
    return 0;
}

static int opts_apply_unsupported(struct opts_ctx *cx, const struct opts_key *k,
                                  const struct conf_kv *kv)
{
    const struct conf_value *v = kv->val;
    if ((k->shapes & OPTS_SHAPE(v->type)) == 0) {
        if (k->type_msg != NULL) {
            opts_err(cx->d, &kv->pos, k->type_msg, opts_go_type(v->type));
        } else {
            enum conf_type want = CONF_MAP;
            for (int t = CONF_MAP; t <= CONF_DATETIME; t++)
                if (k->shapes & OPTS_SHAPE(t)) {
                    want = (enum conf_type)t;
                    break;
                }
            opts_want_at(cx->d, &kv->pos, v, want);
        }
        return -1;
    }
    if (k->refuse != NULL) {
        char what[320];
        snprintf(what, sizeof(what), "option \"%s\"", kv->key);
        opts_refuse(cx->d, &kv->pos, what, k->refuse);
        return -1;
    }
    /* recorded once, under the canonical name ("ws" as "websocket") */
    opts_note_unsupported(cx->o, k->names[0]);
    return 0;
}

static int opts_apply_row(struct opts_ctx *cx, const struct opts_key *k, void *base,
                          const struct conf_kv *kv)
{
    char *p = (char *)base + k->off;
    const struct conf_value *v = kv->val;
    enum conf_type want = k->type == OPTS_K_BOOL ? CONF_BOOL : CONF_STRING;

    switch (k->type) {
    case OPTS_K_BOOL:
    case OPTS_K_STRING:
        if (v->type != want) {
            if (k->type_msg != NULL)
                opts_err(cx->d, &kv->pos, "%s", k->type_msg);
            else
                opts_want_at(cx->d, &kv->pos, v, want);
            return -1;
        }
        if (k->type == OPTS_K_BOOL)
            *(bool *)(void *)p = v->u.b;
        else
            opts_set_str((char **)(void *)p, v->u.s.p);
        return 0;
    case OPTS_K_INT:
    case OPTS_K_I32:
    case OPTS_K_I64:
        if (v->type != CONF_INT && k->type_msg != NULL) {
            opts_err(cx->d, &kv->pos, "%s", k->type_msg);
            return -1;
        }
        return opts_apply_int(cx, k, base, kv);
    case OPTS_K_DURATION:
        return opts_apply_duration(cx, k, base, kv);
    case OPTS_K_LISTEN:
        return opts_apply_listen(cx, k, base, kv);
    case OPTS_K_HOOK:
        return k->hook(cx, base, kv, k);
    case OPTS_K_UNSUPPORTED:
        return opts_apply_unsupported(cx, k, kv);
    }
    return 0;
}

static const struct opts_key *opts_find_key(const struct opts_block *b, const char *lower)
{
    for (size_t i = 0; i < b->n; i++)
        for (size_t j = 0; j < ARRAY_LEN(b->keys[i].names) && b->keys[i].names[j]; j++)
            if (strcmp(b->keys[i].names[j], lower) == 0)
                return &b->keys[i];
    return NULL;
}

/* Apply every key of map m through table b onto base, in document order
 * (nats-server walks a Go map, in random order). */
static int opts_apply_block(struct opts_ctx *cx, const struct opts_block *b, void *base,
                            const struct conf_value *m)
{
    size_t before = cx->d->errors.n;
    for (size_t i = 0; i < m->u.map.n; i++) {
        const struct conf_kv *kv = &m->u.map.kv[i];
        char lower[256], q[600];
        util_lower(kv->key, lower, sizeof(lower));
        const struct opts_key *k = opts_find_key(b, lower);
        if (k == NULL) {
            util_go_quote(kv->key, strlen(kv->key), q, sizeof(q));
            if (b->tls_style) {
                opts_err(cx->d, &kv->pos, "error parsing tls config, unknown field [%s]", q);
                return -1;
            }
            if (!kv->used_as_var)
                opts_err(cx->d, &kv->pos, "unknown field %s", q);
            continue;
        }
        size_t n = cx->d->errors.n;
        opts_apply_row(cx, k, base, kv);
        if (b->tls_style && cx->d->errors.n > n)
            return -1;
    }
    return cx->d->errors.n > before ? -1 : 0;
}

/* ---- tls {} (parseTLS) -------------------------------------------------- */

/* Go's cipherMap and curvePreferenceMap keys: the names nats-server accepts. */
static const char *const opts_tls_ciphers[] = {
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
};

static const char *const opts_tls_curves[] = {"X25519", "CurveP256", "CurveP384", "CurveP521"};

static bool opts_in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* cipher_suites / curve_preferences: a non-empty array of known names. */
static int opts_tls_names(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                          const struct opts_key *k)
{
    bool ciphers = strcmp(k->names[0], "cipher_suites") == 0;
    struct strlist *out = (struct strlist *)(void *)((char *)base + k->off);
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_ARRAY))
        return -1;
    if (kv->val->u.arr.n == 0) {
        opts_err(cx->d, &kv->pos, "error parsing tls config, '%s' cannot be empty", k->names[0]);
        return -1;
    }
    strlist_free(out);
    for (size_t i = 0; i < kv->val->u.arr.n; i++) {
        const struct conf_value *e = kv->val->u.arr.v[i];
        if (!opts_want(cx->d, e, CONF_STRING))
            return -1;
        bool ok = ciphers ? opts_in_list(e->u.s.p, opts_tls_ciphers, ARRAY_LEN(opts_tls_ciphers))
                          : opts_in_list(e->u.s.p, opts_tls_curves, ARRAY_LEN(opts_tls_curves));
        if (!ok) {
            opts_err(cx->d, &e->pos, "unrecognized %s %s", ciphers ? "cipher" : "curve preference",
                     e->u.s.p);
            return -1;
        }
        strlist_push(out, e->u.s.p);
    }
    return 0;
}

/* verify_and_map and verify_cert_and_check_known_urls also turn verify on. */
static int opts_tls_verify_flag(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                const struct opts_key *k)
{
    struct opts_tls *t = base;
    if (kv->val->type != CONF_BOOL) {
        opts_err(cx->d, &kv->pos, "error parsing tls config, expected '%s' to be a boolean",
                 k->names[0]);
        return -1;
    }
    bool on = kv->val->u.b;
    if (k->off == offsetof(struct opts_tls, verify_cert_and_check_known_urls) && on &&
        cx->tls_client) {
        opts_err(cx->d, &kv->pos, "verify_cert_and_check_known_urls not supported in this context");
        return -1;
    }
    if (on)
        t->verify = true;
    *(bool *)(void *)((char *)base + k->off) = on;
    return 0;
}

/* timeout: seconds as int or float, or a Go duration string. */
static int opts_tls_timeout(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                            const struct opts_key *k)
{
    struct opts_tls *t = base;
    const struct conf_value *v = kv->val;
    (void)k;
    switch (v->type) {
    case CONF_INT:
        t->timeout = (double)v->u.i;
        return 0;
    case CONF_FLOAT:
        t->timeout = v->u.f;
        return 0;
    case CONF_STRING: {
        char err[600];
        int64_t ns;
        if (util_parse_duration(v->u.s.p, v->u.s.len, &ns, err, sizeof(err)) != 0) {
            opts_err(cx->d, &kv->pos, "error parsing tls config, 'timeout' %s", err);
            return -1;
        }
        t->timeout = (double)ns / 1e9;
        return 0;
    }
    default:
        opts_err(cx->d, &kv->pos, "error parsing tls config, 'timeout' wrong type");
        return -1;
    }
}

static int opts_tls_pinned(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                           const struct opts_key *k)
{
    struct opts_tls *t = base;
    (void)k;
    if (kv->val->type != CONF_ARRAY) {
        opts_err(cx->d, &kv->pos,
                 "error parsing tls config, expected 'pinned_certs' to be a list of hex-encoded "
                 "sha256 of DER encoded SubjectPublicKeyInfo");
        return -1;
    }
    strlist_free(&t->pinned_certs);
    for (size_t i = 0; i < kv->val->u.arr.n; i++) {
        const struct conf_value *e = kv->val->u.arr.v[i];
        if (!opts_want(cx->d, e, CONF_STRING))
            return -1;
        char lower[256];
        util_lower(e->u.s.p, lower, sizeof(lower));
        bool ok = e->u.s.len == 64;
        for (size_t j = 0; ok && j < 64; j++)
            ok = (lower[j] >= '0' && lower[j] <= '9') || (lower[j] >= 'a' && lower[j] <= 'f');
        if (!ok) {
            opts_err(cx->d, &e->pos,
                     "error parsing tls config, 'pinned_certs' key %s does not look like "
                     "hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
                     lower);
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; j < t->pinned_certs.n && !dup; j++)
            dup = strcmp(t->pinned_certs.v[j], lower) == 0;
        if (!dup)
            strlist_push(&t->pinned_certs, lower);
    }
    return 0;
}

#define OPTS_TLS_STR(n)                                                                            \
    {                                                                                              \
        .names = {#n}, .type = OPTS_K_STRING, .off = offsetof(struct opts_tls, n),                 \
        .type_msg = "error parsing tls config, expected '" #n "' to be filename"                   \
    }
#define OPTS_TLS_BOOL(n)                                                                           \
    {                                                                                              \
        .names = {#n}, .type = OPTS_K_BOOL, .off = offsetof(struct opts_tls, n),                   \
        .type_msg = "error parsing tls config, expected '" #n "' to be a boolean"                  \
    }
#define OPTS_TLS_HOOK(n, field, fn)                                                                \
    {                                                                                              \
        /* NOLINTNEXTLINE(bugprone-macro-parentheses): a field name and an initializer */          \
        .names = {n}, .type = OPTS_K_HOOK, .off = offsetof(struct opts_tls, field), .hook = fn     \
    }

static const struct opts_key opts_tls_keys[] = {
    OPTS_TLS_STR(cert_file),
    OPTS_TLS_STR(key_file),
    OPTS_TLS_STR(ca_file),
    OPTS_TLS_BOOL(insecure),
    OPTS_TLS_BOOL(verify),
    OPTS_TLS_HOOK("verify_and_map", verify_and_map, opts_tls_verify_flag),
    OPTS_TLS_HOOK("verify_cert_and_check_known_urls", verify_cert_and_check_known_urls,
                  opts_tls_verify_flag),
    OPTS_TLS_HOOK("cipher_suites", cipher_suites, opts_tls_names),
    OPTS_TLS_HOOK("curve_preferences", curve_preferences, opts_tls_names),
    OPTS_TLS_HOOK("timeout", timeout, opts_tls_timeout),
    {.names = {"connection_rate_limit"},
     .type = OPTS_K_I64,
     .off = offsetof(struct opts_tls, connection_rate_limit),
     .min = INT64_MIN,
     .max = INT64_MAX,
     .type_msg = "error parsing tls config, 'connection_rate_limit' wrong type"},
    OPTS_TLS_HOOK("pinned_certs", pinned_certs, opts_tls_pinned),
};

static const struct opts_block opts_tls_block = {opts_tls_keys, ARRAY_LEN(opts_tls_keys), true};

static void opts_tls_reset(struct opts_tls *t)
{
    opts_tls_free(t);
    memset(t, 0, sizeof(*t));
    t->timeout = OPTS_DEFAULT_TLS_TIMEOUT;
}

/* parseTLS then GenTLSConfig's checks; file problems are reported at keypos,
 * the position of the "tls" key, as nats-server does. */
static int opts_tls_parse(struct opts_ctx *cx, const struct conf_pos *keypos,
                          const struct conf_value *v, struct opts_tls *t)
{
    opts_tls_reset(t);
    if (!opts_want_at(cx->d, keypos, v, CONF_MAP))
        return -1;
    t->set = true;
    if (opts_apply_block(cx, &opts_tls_block, t, v) != 0)
        return -1;
    /* a zero timeout means the default, as in setBaselineOptions */
    if (t->timeout == 0)
        t->timeout = OPTS_DEFAULT_TLS_TIMEOUT;
    char err[1500];
    if (opts_tls_check_files(t, err, sizeof(err)) != 0) {
        opts_err(cx->d, keypos, "%s", err);
        return -1;
    }
    return 0;
}

int opts_parse_tls(const struct conf_value *v, struct opts_tls *t, struct opts_diag *d)
{
    struct opts_ctx cx = {.o = NULL, .d = d, .tls_client = false};
    return opts_tls_parse(&cx, &v->pos, v, t);
}

void opts_tls_free(struct opts_tls *t)
{
    NFREE(t->cert_file);
    NFREE(t->key_file);
    NFREE(t->ca_file);
    strlist_free(&t->cipher_suites);
    strlist_free(&t->curve_preferences);
    strlist_free(&t->pinned_certs);
}

/* The row hook for a tls key of any block. */
static int opts_hook_tls(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                         const struct opts_key *k)
{
    return opts_tls_parse(cx, &kv->pos, kv->val,
                          (struct opts_tls *)(void *)((char *)base + k->off));
}

/* ---- cluster {} (parseCluster) ----------------------------------------- */

/* parseURLs: an array of URL strings; repeats are warned about and dropped. */
static int opts_parse_urls(struct opts_ctx *cx, const struct conf_kv *kv, const char *typ,
                           struct strlist *out)
{
    int rc = 0;
    char q[1200];
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_ARRAY))
        return -1;
    struct strlist urls = {0};
    for (size_t i = 0; i < kv->val->u.arr.n; i++) {
        const struct conf_value *e = kv->val->u.arr.v[i];
        if (!opts_want(cx->d, e, CONF_STRING)) {
            rc = -1;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < urls.n && !dup; j++)
            dup = strcmp(urls.v[j], e->u.s.p) == 0;
        if (dup) {
            util_go_quote(e->u.s.p, e->u.s.len, q, sizeof(q));
            opts_warn(cx->d, &e->pos, "invalid use of field %s: Duplicate %s entry detected", q,
                      typ);
            continue;
        }
        struct util_url u;
        if (util_url_parse(e->u.s.p, &u) != 0) {
            const char *s = e->u.s.p;
            size_t n = e->u.s.len;
            while (n > 0 && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
                s++;
                n--;
            }
            while (n > 0 && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
                n--;
            util_go_quote(s, n, q, sizeof(q));
            opts_err(cx->d, &e->pos, "error parsing %s url [%s]", typ, q);
            rc = -1;
            continue;
        }
        util_url_free(&u);
        strlist_push(&urls, e->u.s.p);
    }
    if (rc == 0) {
        strlist_free(out);
        *out = urls;
    } else {
        strlist_free(&urls);
    }
    return rc;
}

static int opts_hook_routes(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                            const struct opts_key *k)
{
    return opts_parse_urls(cx, kv, "route", (struct strlist *)(void *)((char *)base + k->off));
}

/* The common fields of the cluster and gateway blocks' authorization. */
struct opts_simple_auth_dst {
    char **user;
    char **pass;
    double *timeout;
    bool *timeout_set;
};

static int opts_simple_auth(struct opts_ctx *cx, enum opts_auth_kind kind, const struct conf_kv *kv,
                            struct opts_simple_auth_dst dst, struct opts_perms **perms)
{
    char *user = NULL, *pass = NULL;
    double timeout = 0;
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_MAP))
        return -1;
    struct conf_value at;
    if (opts_parse_simple_auth(kind, opts_at_key(kv, &at), &user, &pass, &timeout, perms, cx->d) !=
        0) {
        free(user);
        free(pass);
        return -1;
    }
    free(*dst.user);
    free(*dst.pass);
    *dst.user = user;
    *dst.pass = pass;
    /* a zero timeout means "the default" (setBaselineOptions) */
    if (timeout != 0) {
        *dst.timeout = timeout;
        *dst.timeout_set = true;
    }
    return 0;
}

static int opts_hook_cluster_auth(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                  const struct opts_key *k)
{
    struct opts_cluster *c = base;
    struct opts_perms *perms = NULL;
    struct opts_simple_auth_dst dst = {&c->username, &c->password, &c->auth_timeout,
                                       &c->auth_timeout_set};
    (void)k;
    if (opts_simple_auth(cx, OPTS_AUTH_CLUSTER, kv, dst, &perms) != 0) {
        opts_perms_free(perms);
        return -1;
    }
    if (perms != NULL) {
        /* opts_parse_simple_auth() has warned that this is deprecated */
        /* the cluster block's own permissions win */
        if (c->perms == NULL)
            c->perms = perms;
        else
            opts_perms_free(perms);
    }
    return 0;
}

static int opts_hook_cluster_perms(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                   const struct opts_key *k)
{
    struct opts_cluster *c = base;
    struct opts_perms *perms = NULL;
    (void)k;
    struct conf_value at;
    if (opts_parse_perms(opts_at_key(kv, &at), &perms, cx->d) != 0) {
        opts_perms_free(perms);
        return -1;
    }
    if (perms != NULL && perms->allow_responses) {
        opts_err(cx->d, &kv->pos, "Cluster permissions do not support dynamic responses");
        opts_perms_free(perms);
        return -1;
    }
    opts_perms_free(c->perms);
    c->perms = perms;
    return 0;
}

#define OPTS_ROW_STR(st, f, ...)                                                                   \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_STRING, .off = offsetof(st, f)                      \
    }
#define OPTS_ROW_BOOL(st, f, rl, ...)                                                              \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_BOOL, .off = offsetof(st, f), .reloadable = rl      \
    }
#define OPTS_ROW_INT(st, f, lo, hi, rl, ...)                                                       \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_INT, .off = offsetof(st, f), .min = lo, .max = hi,  \
        .reloadable = rl                                                                           \
    }
#define OPTS_ROW_LISTEN(st, h, p, ...)                                                             \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_LISTEN, .off = offsetof(st, h),                     \
        .off2 = offsetof(st, p)                                                                    \
    }
#define OPTS_ROW_HOOK(st, f, fn, rl, ...)                                                          \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_HOOK, .off = offsetof(st, f), .hook = fn,           \
        .reloadable = rl                                                                           \
    }

static const struct opts_key opts_cluster_keys[] = {
    OPTS_ROW_STR(struct opts_cluster, name, "name"),
    OPTS_ROW_LISTEN(struct opts_cluster, host, port, "listen"),
    OPTS_ROW_INT(struct opts_cluster, port, INT_MIN, INT_MAX, false, "port"),
    OPTS_ROW_STR(struct opts_cluster, host, "host", "net"),
    OPTS_ROW_HOOK(struct opts_cluster, username, opts_hook_cluster_auth, false, "authorization"),
    OPTS_ROW_HOOK(struct opts_cluster, perms, opts_hook_cluster_perms, false, "permissions"),
    OPTS_ROW_HOOK(struct opts_cluster, routes, opts_hook_routes, false, "routes"),
    OPTS_ROW_HOOK(struct opts_cluster, tls, opts_hook_tls, false, "tls"),
    OPTS_ROW_STR(struct opts_cluster, advertise, "advertise", "cluster_advertise"),
    OPTS_ROW_BOOL(struct opts_cluster, no_advertise, false, "no_advertise"),
    OPTS_ROW_INT(struct opts_cluster, connect_retries, INT_MIN, INT_MAX, false, "connect_retries"),
};

static const struct opts_block opts_cluster_block = {opts_cluster_keys,
                                                     ARRAY_LEN(opts_cluster_keys), false};

static int opts_hook_cluster(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                             const struct opts_key *k)
{
    struct opts *o = base;
    (void)k;
    if (kv->val->type != CONF_MAP) {
        opts_err(cx->d, &kv->pos, "Expected map to define cluster, got %s",
                 opts_go_type(kv->val->type));
        return -1;
    }
    return opts_apply_block(cx, &opts_cluster_block, &o->cluster, kv->val);
}

/* ---- gateway {} (parseGateway, parseGateways) -------------------------- */

static int opts_hook_remote_url(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                const struct opts_key *k)
{
    struct opts_remote_gateway *r = base;
    struct util_url u;
    (void)k;
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_STRING))
        return -1;
    if (util_url_parse(kv->val->u.s.p, &u) != 0) {
        char q[1200];
        const char *s = kv->val->u.s.p;
        size_t n = kv->val->u.s.len;
        while (n > 0 && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
            n--;
        util_go_quote(s, n, q, sizeof(q));
        opts_err(cx->d, &kv->pos, "error parsing gateway url [%s]", q);
        return -1;
    }
    util_url_free(&u);
    strlist_push(&r->urls, kv->val->u.s.p);
    return 0;
}

/* urls replaces whatever url added before it. */
static int opts_hook_remote_urls(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                 const struct opts_key *k)
{
    struct opts_remote_gateway *r = base;
    (void)k;
    return opts_parse_urls(cx, kv, "gateway", &r->urls);
}

static const struct opts_key opts_remote_keys[] = {
    OPTS_ROW_STR(struct opts_remote_gateway, name, "name"),
    OPTS_ROW_HOOK(struct opts_remote_gateway, tls, opts_hook_tls, false, "tls"),
    OPTS_ROW_HOOK(struct opts_remote_gateway, urls, opts_hook_remote_url, false, "url"),
    OPTS_ROW_HOOK(struct opts_remote_gateway, urls, opts_hook_remote_urls, false, "urls"),
};

static const struct opts_block opts_remote_block = {opts_remote_keys, ARRAY_LEN(opts_remote_keys),
                                                    false};

static int opts_hook_gateways(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                              const struct opts_key *k)
{
    struct opts_gateway *g = base;
    (void)k;
    if (kv->val->type != CONF_ARRAY) {
        /* nats-server has no token at hand here: the message has no position */
        opts_err(cx->d, NULL, "Expected gateways field to be an array, got %s",
                 opts_go_type(kv->val->type));
        return -1;
    }
    for (size_t i = 0; i < g->n_gateways; i++) {
        free(g->gateways[i].name);
        strlist_free(&g->gateways[i].urls);
        opts_tls_free(&g->gateways[i].tls);
    }
    NFREE(g->gateways);
    g->n_gateways = 0;
    const struct conf_value *a = kv->val;
    if (a->u.arr.n > 0)
        g->gateways = xcalloc(a->u.arr.n, sizeof(*g->gateways));
    int rc = 0;
    for (size_t i = 0; i < a->u.arr.n; i++) {
        const struct conf_value *e = a->u.arr.v[i];
        if (e->type != CONF_MAP) {
            char buf[512];
            opts_go_value(e, buf, sizeof(buf));
            opts_err(cx->d, &e->pos, "Expected gateway entry to be a map/struct, got %s", buf);
            rc = -1;
            continue;
        }
        struct opts_remote_gateway *r = &g->gateways[g->n_gateways++];
        r->tls.timeout = OPTS_DEFAULT_TLS_TIMEOUT;
        if (opts_apply_block(cx, &opts_remote_block, r, e) != 0)
            rc = -1;
    }
    return rc;
}

static int opts_hook_gateway_auth(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                  const struct opts_key *k)
{
    struct opts_gateway *g = base;
    struct opts_perms *perms = NULL;
    struct opts_simple_auth_dst dst = {&g->username, &g->password, &g->auth_timeout,
                                       &g->auth_timeout_set};
    (void)k;
    int rc = opts_simple_auth(cx, OPTS_AUTH_GATEWAY, kv, dst, &perms);
    /* permissions are parsed but mean nothing for gateways */
    opts_perms_free(perms);
    return rc;
}

static const struct opts_key opts_gateway_keys[] = {
    OPTS_ROW_STR(struct opts_gateway, name, "name"),
    OPTS_ROW_LISTEN(struct opts_gateway, host, port, "listen"),
    OPTS_ROW_INT(struct opts_gateway, port, INT_MIN, INT_MAX, false, "port"),
    OPTS_ROW_STR(struct opts_gateway, host, "host", "net"),
    OPTS_ROW_HOOK(struct opts_gateway, username, opts_hook_gateway_auth, false, "authorization"),
    OPTS_ROW_HOOK(struct opts_gateway, tls, opts_hook_tls, false, "tls"),
    OPTS_ROW_STR(struct opts_gateway, advertise, "advertise"),
    OPTS_ROW_INT(struct opts_gateway, connect_retries, INT_MIN, INT_MAX, false, "connect_retries"),
    OPTS_ROW_HOOK(struct opts_gateway, gateways, opts_hook_gateways, false, "gateways"),
    OPTS_ROW_BOOL(struct opts_gateway, reject_unknown, false, "reject_unknown",
                  "reject_unknown_cluster"),
};

static const struct opts_block opts_gateway_block = {opts_gateway_keys,
                                                     ARRAY_LEN(opts_gateway_keys), false};

static int opts_hook_gateway(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                             const struct opts_key *k)
{
    struct opts *o = base;
    (void)k;
    if (kv->val->type != CONF_MAP) {
        opts_err(cx->d, &kv->pos, "Expected gateway to be a map, got %s",
                 opts_go_type(kv->val->type));
        return -1;
    }
    return opts_apply_block(cx, &opts_gateway_block, &o->gateway, kv->val);
}

/* ---- top-level hooks --------------------------------------------------- */

static int opts_hook_top_tls(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                             const struct opts_key *k)
{
    struct opts *o = base;
    (void)k;
    /* the client-facing tls is a "client context" for parseTLS */
    cx->tls_client = true;
    int rc = opts_tls_parse(cx, &kv->pos, kv->val, &o->tls);
    cx->tls_client = false;
    return rc;
}

static int opts_hook_trace_verbose(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                   const struct opts_key *k)
{
    struct opts *o = base;
    (void)k;
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_BOOL))
        return -1;
    o->trace_verbose = kv->val->u.b;
    o->trace = kv->val->u.b;
    return 0;
}

/* lame_duck_duration / lame_duck_grace_period: Go duration strings only. */
static int opts_hook_lame_duck(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                               const struct opts_key *k)
{
    int64_t *dst = (int64_t *)(void *)((char *)base + k->off);
    bool grace = k->off == offsetof(struct opts, lame_duck_grace_period_ns);
    char err[600];
    int64_t ns;
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_STRING))
        return -1;
    if (util_parse_duration(kv->val->u.s.p, kv->val->u.s.len, &ns, err, sizeof(err)) != 0) {
        opts_err(cx->d, &kv->pos, "error parsing %s: %s", k->names[0], err);
        return -1;
    }
    if (grace && ns < 0) {
        opts_err(cx->d, &kv->pos, "invalid lame_duck_grace_period, needs to be positive");
        return -1;
    }
    if (!grace && ns < 30 * OPTS_NS_PER_SEC) {
        char dur[64];
        util_format_duration(ns, dur, sizeof(dur));
        opts_err(cx->d, &kv->pos, "invalid lame_duck_duration of %s, minimum is 30 seconds", dur);
        return -1;
    }
    *dst = ns;
    return 0;
}

/* A tag as nats-server's TagList.Add keeps it: trimmed, lower case, once,
 * and never empty. */
static void opts_tag_add(struct strlist *l, const char *t)
{
    while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == '\v' || *t == '\f')
        t++;
    size_t n = strlen(t);
    while (n > 0 && strchr(" \t\n\r\v\f", t[n - 1]))
        n--;
    if (n == 0)
        return;
    char *v = xstrndup(t, n);
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 'A' && v[i] <= 'Z')
            v[i] = (char)(v[i] - 'A' + 'a');
    bool dup = false;
    for (size_t i = 0; i < l->n && !dup; i++)
        dup = strcmp(l->v[i], v) == 0;
    if (!dup)
        strlist_push(l, v);
    free(v);
}

/* server_tags: a string or an array of strings. */
static int opts_hook_tags(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                          const struct opts_key *k)
{
    struct opts *o = base;
    const struct conf_value *v = kv->val;
    (void)k;
    if (v->type == CONF_STRING) {
        opts_tag_add(&o->server_tags, v->u.s.p);
        return 0;
    }
    if (v->type != CONF_ARRAY) {
        opts_err(cx->d, &kv->pos, "error parsing tags: unsupported type %s", opts_go_type(v->type));
        return -1;
    }
    for (size_t i = 0; i < v->u.arr.n; i++) {
        if (v->u.arr.v[i]->type != CONF_STRING) {
            /* Go reports the element's wrapper type, at the key */
            opts_err(cx->d, &kv->pos,
                     "error parsing tags: unsupported type *conf.token where string is expected");
            return -1;
        }
        opts_tag_add(&o->server_tags, v->u.arr.v[i]->u.s.p);
    }
    return 0;
}

static int opts_hook_authorization(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                                   const struct opts_key *k)
{
    (void)k;
    if (!opts_want_at(cx->d, &kv->pos, kv->val, CONF_MAP))
        return -1;
    struct conf_value at;
    return opts_parse_authorization(base, opts_at_key(kv, &at), cx->d);
}

static int opts_hook_accounts(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                              const struct opts_key *k)
{
    struct conf_value at;
    (void)k;
    return opts_parse_accounts(base, opts_at_key(kv, &at), cx->d);
}

/* system_account / system were applied before the others (see
 * opts_apply_conf); here they are only known keys. */
static int opts_hook_noop(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                          const struct opts_key *k)
{
    (void)cx;
    (void)base;
    (void)kv;
    (void)k;
    return 0;
}

/* jetstream: bool, "enabled"/"disabled" (and enable/disable), or a map. */
static int opts_hook_jetstream(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                               const struct opts_key *k)
{
    const struct conf_value *v = kv->val;
    (void)base;
    if (v->type == CONF_STRING) {
        char lower[64];
        util_lower(v->u.s.p, lower, sizeof(lower));
        if (strcmp(lower, "enabled") != 0 && strcmp(lower, "enable") != 0 &&
            strcmp(lower, "disabled") != 0 && strcmp(lower, "disable") != 0) {
            opts_err(cx->d, &kv->pos, "Expected 'enabled' or 'disabled' for string value, got '%s'",
                     v->u.s.p);
            return -1;
        }
    }
    return opts_apply_unsupported(cx, k, kv);
}

/* ocsp: a bool or a map whose mode is auto (the default), always, must or
 * never (parseOCSP). What nats-server then does per certificate of a tls
 * block (NewOCSPMonitor): with always, and with auto or must when the
 * certificate is Must-Staple, even with no ocsp key at all, it staples the
 * certificate's status, watches it (always and must shut the server down
 * once it is revoked) and requires a valid staple from every route and
 * gateway peer. natsd does none of that, so opts_check_ocsp() refuses those
 * cases once every tls block is known; in the others OCSP does nothing and
 * a given ocsp key is only noted. */
static int opts_hook_ocsp(struct opts_ctx *cx, void *base, const struct conf_kv *kv,
                          const struct opts_key *k)
{
    const struct conf_value *v = kv->val;
    enum opts_ocsp_mode mode = OPTS_OCSP_AUTO;
    (void)base;
    if (v->type == CONF_BOOL) {
        mode = v->u.b ? OPTS_OCSP_AUTO : OPTS_OCSP_NEVER;
    } else if (v->type == CONF_MAP) {
        for (size_t i = 0; i < v->u.map.n; i++) {
            const struct conf_kv *e = &v->u.map.kv[i];
            if (strcmp(e->key, "mode") != 0)
                continue;
            if (!opts_want_at(cx->d, &e->pos, e->val, CONF_STRING))
                return -1;
            const char *m = e->val->u.s.p;
            if (strcasecmp(m, "never") == 0) {
                mode = OPTS_OCSP_NEVER;
            } else if (strcasecmp(m, "always") == 0) {
                mode = OPTS_OCSP_ALWAYS;
            } else if (strcasecmp(m, "must") == 0 || strcasecmp(m, "auto") == 0) {
                mode = OPTS_OCSP_AUTO; /* the same to natsd: only Must-Staple counts */
            } else {
                /* nats-server formats the mode with %T */
                opts_err(cx->d, &kv->pos,
                         "error parsing ocsp config: unsupported ocsp mode string");
                return -1;
            }
        }
    } else {
        opts_err(cx->d, &kv->pos, k->type_msg, opts_go_type(v->type));
        return -1;
    }
    cx->ocsp_kv = kv;
    cx->ocsp_mode = mode;
    return 0;
}

#define OPTS_WHY_OCSP                                                                              \
    "OCSP stapling is not implemented, so the certificate's revocation status would not be "       \
    "checked and routes and gateways would not have to staple theirs (ocsp: false turns OCSP off)"

/* The certificate of t, when nats-server would run OCSP for it in mode. */
static const char *opts_ocsp_cert(const struct opts_tls *t, enum opts_ocsp_mode mode)
{
    if (!t->set || t->cert_file == NULL || t->cert_file[0] == '\0' || mode == OPTS_OCSP_NEVER)
        return NULL;
    if (mode == OPTS_OCSP_ALWAYS || opts_tls_must_staple(t->cert_file))
        return t->cert_file;
    return NULL;
}

/* After the whole file, with every tls block known: refuse OCSP natsd would
 * have to do (see opts_hook_ocsp), else note a given ocsp key. */
static void opts_check_ocsp(struct opts_ctx *cx)
{
    const struct opts *o = cx->o;
    enum opts_ocsp_mode mode = cx->ocsp_kv ? cx->ocsp_mode : OPTS_OCSP_AUTO;
    const char *cert = opts_ocsp_cert(&o->tls, mode);
    if (cert == NULL)
        cert = opts_ocsp_cert(&o->cluster.tls, mode);
    if (cert == NULL)
        cert = opts_ocsp_cert(&o->gateway.tls, mode);
    for (size_t i = 0; cert == NULL && i < o->gateway.n_gateways; i++)
        cert = opts_ocsp_cert(&o->gateway.gateways[i].tls, mode);
    char what[1400];
    if (cert != NULL && cx->ocsp_kv != NULL) {
        snprintf(what, sizeof(what), "option \"%s\"", cx->ocsp_kv->key);
        opts_refuse(cx->d, &cx->ocsp_kv->pos, what, OPTS_WHY_OCSP);
    } else if (cert != NULL) {
        /* no ocsp key: the certificate itself asks for stapling */
        char q[1200];
        util_go_quote(cert, strlen(cert), q, sizeof(q));
        snprintf(what, sizeof(what), "the OCSP Must-Staple certificate %s", q);
        opts_refuse(cx->d, NULL, what, OPTS_WHY_OCSP);
    } else if (cx->ocsp_kv != NULL) {
        opts_note_unsupported(cx->o, "ocsp");
    }
}

#define OPTS_TOP_STR(f, rl, ...)                                                                   \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_STRING, .off = offsetof(struct opts, f),            \
        .reloadable = rl                                                                           \
    }
#define OPTS_TOP_BOOL(f, rl, ...) OPTS_ROW_BOOL(struct opts, f, rl, __VA_ARGS__)
#define OPTS_TOP_INT(t, f, lo, hi, rl, ...)                                                        \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = t, .off = offsetof(struct opts, f), .min = lo, .max = hi,  \
        .reloadable = rl                                                                           \
    }
#define OPTS_TOP_DUR(f, rl, n)                                                                     \
    {                                                                                              \
        /* NOLINTNEXTLINE(bugprone-macro-parentheses): a field name and an initializer */          \
        .names = {n}, .type = OPTS_K_DURATION, .off = offsetof(struct opts, f), .reloadable = rl   \
    }
#define OPTS_TOP_HOOK(f, fn, rl, ...) OPTS_ROW_HOOK(struct opts, f, fn, rl, __VA_ARGS__)
#define OPTS_UNSUP(sh, msg, rl, ...)                                                               \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_UNSUPPORTED, .shapes = sh, .type_msg = msg,         \
        .reloadable = rl                                                                           \
    }
/* A key natsd does not implement and must not ignore: after nats-server's
 * shape check, it is an error saying why. */
#define OPTS_REFUSE(sh, msg, why, ...)                                                             \
    {                                                                                              \
        .names = {__VA_ARGS__}, .type = OPTS_K_UNSUPPORTED, .shapes = sh, .type_msg = msg,         \
        .refuse = why                                                                              \
    }

/* Operator mode: every key of it asks for JWT authentication. */
#define OPTS_WHY_OPERATOR                                                                          \
    "operator mode (JWT accounts and users) is not implemented, and without it clients would "     \
    "connect with no authentication"

#define OPTS_S_MAP    OPTS_SHAPE(CONF_MAP)
#define OPTS_S_STR    OPTS_SHAPE(CONF_STRING)
#define OPTS_S_ARR    OPTS_SHAPE(CONF_ARRAY)
#define OPTS_S_BOOL   OPTS_SHAPE(CONF_BOOL)
#define OPTS_I32_BIG  ((int64_t)INT32_MAX)
#define OPTS_MAX_THRD 1024

/* The top level (processConfigFileLine). The reloadable flags follow
 * reload.go's diffOptions. */
static const struct opts_key opts_top_keys[] = {
    OPTS_ROW_LISTEN(struct opts, host, port, "listen"),
    OPTS_TOP_INT(OPTS_K_INT, port, INT_MIN, INT_MAX, false, "port"),
    OPTS_TOP_STR(host, false, "host", "net"),
    OPTS_TOP_STR(client_advertise, true, "client_advertise"),
    OPTS_TOP_STR(server_name, false, "server_name"),
    OPTS_TOP_HOOK(server_tags, opts_hook_tags, true, "server_tags"),
    OPTS_TOP_INT(OPTS_K_INT, threads, 0, OPTS_MAX_THRD, false, "threads"),
    OPTS_ROW_LISTEN(struct opts, http_host, http_port, "http"),
    OPTS_ROW_LISTEN(struct opts, http_host, https_port, "https"),
    OPTS_TOP_INT(OPTS_K_INT, http_port, INT_MIN, INT_MAX, false, "http_port", "monitor_port"),
    OPTS_TOP_INT(OPTS_K_INT, https_port, INT_MIN, INT_MAX, false, "https_port"),
    OPTS_TOP_STR(http_base_path, false, "http_base_path"),
    OPTS_TOP_INT(OPTS_K_I32, max_payload, INT32_MIN, OPTS_I32_BIG, true, "max_payload"),
    OPTS_TOP_INT(OPTS_K_I64, max_pending, INT64_MIN, INT64_MAX, false, "max_pending"),
    /* nats-server 2.9.10 takes a negative max_control_line and then refuses
     * every client's first control line; natsd refuses the value, with the
     * text nats-server gives a negative max_sub_tokens */
    OPTS_TOP_INT(OPTS_K_I32, max_control_line, 0, OPTS_I32_BIG, true, "max_control_line"),
    OPTS_TOP_INT(OPTS_K_INT, max_connections, INT_MIN, INT_MAX, true, "max_connections",
                 "max_conn"),
    OPTS_TOP_INT(OPTS_K_INT, max_subs, INT_MIN, INT_MAX, false, "max_subscriptions", "max_subs"),
    OPTS_TOP_INT(OPTS_K_INT, max_sub_tokens, 1, 255, false, "max_sub_tokens",
                 "max_subscription_tokens"),
    OPTS_TOP_INT(OPTS_K_INT, max_traced_msg_len, INT_MIN, INT_MAX, true, "max_traced_msg_len"),
    OPTS_TOP_DUR(ping_interval_ns, true, "ping_interval"),
    OPTS_TOP_INT(OPTS_K_INT, ping_max, INT_MIN, INT_MAX, true, "ping_max"),
    OPTS_TOP_DUR(write_deadline_ns, true, "write_deadline"),
    OPTS_TOP_HOOK(lame_duck_duration_ns, opts_hook_lame_duck, false, "lame_duck_duration"),
    OPTS_TOP_HOOK(lame_duck_grace_period_ns, opts_hook_lame_duck, false, "lame_duck_grace_period"),
    OPTS_TOP_BOOL(no_header_support, false, "no_header_support"),
    OPTS_TOP_BOOL(disable_sublist_cache, false, "disable_sublist_cache", "no_sublist_cache"),
    OPTS_TOP_BOOL(debug, true, "debug"),
    OPTS_TOP_BOOL(trace, true, "trace"),
    OPTS_TOP_HOOK(trace_verbose, opts_hook_trace_verbose, true, "trace_verbose"),
    OPTS_TOP_BOOL(logtime, true, "logtime"),
    OPTS_TOP_STR(log_file, true, "log_file", "logfile"),
    OPTS_TOP_INT(OPTS_K_I64, log_size_limit, INT64_MIN, INT64_MAX, false, "log_size_limit",
                 "logfile_size_limit"),
    OPTS_TOP_BOOL(syslog, true, "syslog"),
    OPTS_TOP_STR(remote_syslog, true, "remote_syslog"),
    OPTS_TOP_STR(pid_file, true, "pid_file", "pidfile"),
    OPTS_TOP_STR(ports_file_dir, true, "ports_file_dir"),
    OPTS_TOP_INT(OPTS_K_INT, prof_port, INT_MIN, INT_MAX, false, "prof_port"),
    OPTS_TOP_INT(OPTS_K_INT, connect_error_reports, INT_MIN, INT_MAX, true,
                 "connect_error_reports"),
    OPTS_TOP_INT(OPTS_K_INT, reconnect_error_reports, INT_MIN, INT_MAX, true,
                 "reconnect_error_reports"),
    OPTS_TOP_HOOK(users, opts_hook_authorization, true, "authorization"),
    OPTS_TOP_HOOK(accounts, opts_hook_accounts, true, "accounts"),
    OPTS_TOP_STR(no_auth_user, false, "no_auth_user"),
    OPTS_TOP_HOOK(system_account, opts_hook_noop, false, "system_account", "system"),
    OPTS_TOP_BOOL(no_system_account, false, "no_system_account", "no_system", "no_sys_acc"),
    OPTS_TOP_HOOK(tls, opts_hook_top_tls, true, "tls"),
    OPTS_TOP_BOOL(allow_non_tls, false, "allow_non_tls"),
    OPTS_TOP_HOOK(cluster, opts_hook_cluster, true, "cluster"),
    OPTS_TOP_HOOK(gateway, opts_hook_gateway, false, "gateway"),
    /* known to nats-server, not implemented by natsd: accepted and recorded */
    OPTS_UNSUP(OPTS_S_MAP, "Expected map to define a leafnode, got %s", false, "leafnodes", "leaf"),
    {.names = {"jetstream"},
     .type = OPTS_K_HOOK,
     .hook = opts_hook_jetstream,
     .shapes = OPTS_S_MAP | OPTS_S_STR | OPTS_S_BOOL,
     .type_msg = "Expected map, bool or string to define JetStream, got %s",
     .reloadable = true},
    OPTS_UNSUP(OPTS_S_STR, NULL, false, "store_dir", "storedir"),
    OPTS_UNSUP(OPTS_S_MAP, "Expected websocket to be a map, got %s", false, "websocket", "ws"),
    OPTS_UNSUP(OPTS_S_MAP, "Expected mqtt to be a map, got %s", false, "mqtt"),
    OPTS_REFUSE(OPTS_S_STR, "error parsing operators: unsupported type %s", OPTS_WHY_OPERATOR,
                "operator", "operators", "roots", "root", "root_operators", "root_operator"),
    OPTS_REFUSE(OPTS_S_STR | OPTS_S_MAP, "error parsing operator resolver, wrong type %s",
                OPTS_WHY_OPERATOR, "resolver", "account_resolver", "accounts_resolver"),
    OPTS_REFUSE(OPTS_S_MAP, NULL, OPTS_WHY_OPERATOR, "resolver_tls"),
    OPTS_REFUSE(OPTS_S_MAP, "preload should be a map of account_public_key:account_jwt",
                OPTS_WHY_OPERATOR, "resolver_preload"),
    OPTS_REFUSE(OPTS_S_STR | OPTS_S_ARR,
                "error parsing resolver_pinned_accounts: unsupported type %s", OPTS_WHY_OPERATOR,
                "resolver_pinned_accounts"),
    OPTS_REFUSE(OPTS_S_STR | OPTS_S_ARR, "error parsing trusted: unsupported type %s",
                OPTS_WHY_OPERATOR, "trusted", "trusted_keys"),
    {.names = {"ocsp"},
     .type = OPTS_K_HOOK,
     .hook = opts_hook_ocsp,
     .type_msg = "error parsing ocsp config: unsupported type %s",
     .reloadable = true},
    OPTS_UNSUP(OPTS_S_MAP, "error default_js_domain config: unsupported type %s", false,
               "default_js_domain"),
    OPTS_UNSUP(OPTS_S_MAP, NULL, true, "mappings", "maps"),
};

static const struct opts_block opts_top_block = {opts_top_keys, ARRAY_LEN(opts_top_keys), false};

/* ---- public API -------------------------------------------------------- */

void opts_init(struct opts *o)
{
    /* Nothing is allocated here, so that opts_free() (which ends in this call)
     * leaves nothing behind: the default host is NULL, read as 0.0.0.0 and
     * written out by opts_set_baseline(). */
    memset(o, 0, sizeof(*o));
    o->port = OPTS_DEFAULT_PORT;
    o->max_payload = OPTS_DEFAULT_MAX_PAYLOAD;
    o->max_pending = OPTS_DEFAULT_MAX_PENDING;
    o->max_control_line = OPTS_DEFAULT_MAX_CONTROL_LINE;
    o->max_connections = OPTS_DEFAULT_MAX_CONNECTIONS;
    o->ping_interval_ns = OPTS_DEFAULT_PING_INTERVAL_NS;
    o->ping_max = OPTS_DEFAULT_PING_MAX;
    o->write_deadline_ns = OPTS_DEFAULT_WRITE_DEADLINE_NS;
    o->lame_duck_duration_ns = OPTS_DEFAULT_LAME_DUCK_NS;
    o->lame_duck_grace_period_ns = OPTS_DEFAULT_LAME_DUCK_GRACE_NS;
    /* nats-server's -logtime flag defaults to true */
    o->logtime = true;
    o->connect_error_reports = OPTS_DEFAULT_CONNECT_ERR_REPORTS;
    o->reconnect_error_reports = OPTS_DEFAULT_RECONNECT_ERR_REPORTS;
    o->auth_timeout = OPTS_DEFAULT_AUTH_TIMEOUT;
    o->tls.timeout = OPTS_DEFAULT_TLS_TIMEOUT;
    o->cluster.auth_timeout = OPTS_DEFAULT_AUTH_TIMEOUT;
    o->cluster.tls.timeout = OPTS_DEFAULT_TLS_TIMEOUT;
    o->gateway.auth_timeout = OPTS_DEFAULT_AUTH_TIMEOUT;
    o->gateway.tls.timeout = OPTS_DEFAULT_TLS_TIMEOUT;
}

void opts_free(struct opts *o)
{
    opts_auth_free(o);
    free(o->config_file);
    free(o->host);
    free(o->client_advertise);
    free(o->server_name);
    strlist_free(&o->server_tags);
    free(o->http_host);
    free(o->http_base_path);
    free(o->log_file);
    free(o->remote_syslog);
    free(o->pid_file);
    free(o->ports_file_dir);
    free(o->username);
    free(o->password);
    free(o->token);
    free(o->no_auth_user);
    free(o->system_account);
    opts_tls_free(&o->tls);

    struct opts_cluster *c = &o->cluster;
    free(c->name);
    free(c->host);
    free(c->username);
    free(c->password);
    opts_perms_free(c->perms);
    strlist_free(&c->routes);
    opts_tls_free(&c->tls);
    free(c->advertise);

    struct opts_gateway *g = &o->gateway;
    free(g->name);
    free(g->host);
    free(g->username);
    free(g->password);
    opts_tls_free(&g->tls);
    free(g->advertise);
    for (size_t i = 0; i < g->n_gateways; i++) {
        free(g->gateways[i].name);
        strlist_free(&g->gateways[i].urls);
        opts_tls_free(&g->gateways[i].tls);
    }
    free(g->gateways);
    strlist_free(&o->unsupported);
    opts_init(o);
}

/* configureSystemAccount: nats-server reads system_account (else system)
 * before any other key, since account parsing depends on it. */
static void opts_apply_system_account(struct opts_ctx *cx, const struct conf_value *root)
{
    const struct conf_kv *pick = NULL;
    for (int pass = 0; pass < 2 && pick == NULL; pass++)
        for (size_t i = 0; i < root->u.map.n && pick == NULL; i++) {
            char lower[32];
            util_lower(root->u.map.kv[i].key, lower, sizeof(lower));
            if (strcmp(lower, pass == 0 ? "system_account" : "system") == 0)
                pick = &root->u.map.kv[i];
        }
    if (pick == NULL)
        return;
    if (pick->val->type != CONF_STRING) {
        opts_err(cx->d, &pick->pos, "system account name must be a string");
        return;
    }
    opts_set_str(&cx->o->system_account, pick->val->u.s.p);
}

int opts_apply_conf(struct opts *o, const struct conf_value *root, struct opts_diag *d)
{
    struct opts_ctx cx = {.o = o, .d = d, .tls_client = false};
    if (root == NULL || root->type != CONF_MAP)
        return d->errors.n > 0 ? -1 : 0;
    opts_apply_system_account(&cx, root);
    opts_apply_block(&cx, &opts_top_block, o, root);
    opts_check_ocsp(&cx);
    return d->errors.n > 0 ? -1 : 0;
}

int opts_load_file(struct opts *o, const char *path, struct opts_diag *d)
{
    struct conf_doc *doc = NULL;
    struct conf_error cerr;
    memset(&cerr, 0, sizeof(cerr));
    opts_set_str(&o->config_file, path);
    if (conf_parse_file(path, &doc, &cerr) != 0) {
        /* nats-server's text, after the place it happened ("file:line:col: "),
         * which nats-server leaves out of syntax errors: with includes, the
         * file is not always the one given with -c. Errors with no line (a
         * file that cannot be opened) name their file already. */
        char buf[2200];
        if (cerr.line > 0 || cerr.msg[0] == '\0')
            conf_error_format(&cerr, buf, sizeof(buf));
        else
            snprintf(buf, sizeof(buf), "%s", cerr.msg);
        strlist_push(&d->errors, buf);
        return -1;
    }
    int rc = opts_apply_conf(o, conf_root(doc), d);
    conf_free(doc);
    return rc;
}

void opts_set_baseline(struct opts *o)
{
    if (o->host == NULL || o->host[0] == '\0')
        opts_set_str(&o->host, OPTS_DEFAULT_HOST);
    if (o->http_host == NULL || o->http_host[0] == '\0')
        opts_set_str(&o->http_host, o->host);
    if (o->port == 0)
        o->port = OPTS_DEFAULT_PORT;
    if (o->max_connections == 0)
        o->max_connections = OPTS_DEFAULT_MAX_CONNECTIONS;
    if (o->ping_interval_ns == 0)
        o->ping_interval_ns = OPTS_DEFAULT_PING_INTERVAL_NS;
    if (o->ping_max == 0)
        o->ping_max = OPTS_DEFAULT_PING_MAX;
    if (o->tls.timeout == 0)
        o->tls.timeout = OPTS_DEFAULT_TLS_TIMEOUT;
    if (!o->auth_timeout_set || o->auth_timeout == 0)
        o->auth_timeout = o->tls.set ? o->tls.timeout + 1.0 : OPTS_DEFAULT_AUTH_TIMEOUT;
    if (o->cluster.port != 0) {
        if (o->cluster.host == NULL || o->cluster.host[0] == '\0')
            opts_set_str(&o->cluster.host, OPTS_DEFAULT_HOST);
        if (!o->cluster.auth_timeout_set)
            o->cluster.auth_timeout =
                o->cluster.tls.set ? o->cluster.tls.timeout + 1.0 : OPTS_DEFAULT_AUTH_TIMEOUT;
    }
    if (o->gateway.port != 0) {
        if (o->gateway.host == NULL || o->gateway.host[0] == '\0')
            opts_set_str(&o->gateway.host, OPTS_DEFAULT_HOST);
        if (!o->gateway.auth_timeout_set)
            o->gateway.auth_timeout =
                o->gateway.tls.set ? o->gateway.tls.timeout + 1.0 : OPTS_DEFAULT_AUTH_TIMEOUT;
    }
    if (o->max_control_line == 0)
        o->max_control_line = OPTS_DEFAULT_MAX_CONTROL_LINE;
    if (o->max_payload == 0)
        o->max_payload = OPTS_DEFAULT_MAX_PAYLOAD;
    if (o->max_pending == 0)
        o->max_pending = OPTS_DEFAULT_MAX_PENDING;
    if (o->write_deadline_ns == 0)
        o->write_deadline_ns = OPTS_DEFAULT_WRITE_DEADLINE_NS;
    if (o->lame_duck_duration_ns == 0)
        o->lame_duck_duration_ns = OPTS_DEFAULT_LAME_DUCK_NS;
    if (o->lame_duck_grace_period_ns == 0)
        o->lame_duck_grace_period_ns = OPTS_DEFAULT_LAME_DUCK_GRACE_NS;
    if (o->connect_error_reports == 0)
        o->connect_error_reports = OPTS_DEFAULT_CONNECT_ERR_REPORTS;
    if (o->reconnect_error_reports == 0)
        o->reconnect_error_reports = OPTS_DEFAULT_RECONNECT_ERR_REPORTS;
    /* validateCluster: a cluster without a name takes the gateway's */
    if (o->gateway.name != NULL && o->gateway.name[0] != '\0' &&
        (o->cluster.name == NULL || o->cluster.name[0] == '\0'))
        opts_set_str(&o->cluster.name, o->gateway.name);
}

static bool opts_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* validateGatewayOptions (gateway.go). */
static int opts_validate_gateway(const struct opts *o, char *err, size_t errsize)
{
    const struct opts_gateway *g = &o->gateway;
    if (opts_empty(g->name) && g->port == 0)
        return 0;
    if (opts_empty(g->name)) {
        snprintf(err, errsize, "gateway has no name");
        return -1;
    }
    char q[600];
    util_go_quote(g->name, strlen(g->name), q, sizeof(q));
    if (g->port == 0) {
        snprintf(err, errsize, "gateway %s has no port specified (select -1 for random port)", q);
        return -1;
    }
    for (size_t i = 0; i < g->n_gateways; i++) {
        const struct opts_remote_gateway *r = &g->gateways[i];
        if (opts_empty(r->name)) {
            snprintf(err, errsize, "gateway in the list %zu has no name", i);
            return -1;
        }
        if (r->urls.n == 0) {
            util_go_quote(r->name, strlen(r->name), q, sizeof(q));
            snprintf(err, errsize, "gateway %s has no URL", q);
            return -1;
        }
    }
    return 0;
}

/* validateOptions (server.go), in its order, for what natsd implements. */
int opts_validate(const struct opts *o, char *err, size_t errsize)
{
    if (o->lame_duck_duration_ns > 0 && o->lame_duck_grace_period_ns >= o->lame_duck_duration_ns) {
        char g[64], l[64];
        util_format_duration(o->lame_duck_grace_period_ns, g, sizeof(g));
        util_format_duration(o->lame_duck_duration_ns, l, sizeof(l));
        snprintf(err, errsize,
                 "lame duck grace period (%s) should be strictly lower than lame duck duration "
                 "(%s)",
                 g, l);
        return -1;
    }
    if ((int64_t)o->max_payload > o->max_pending) {
        snprintf(err, errsize,
                 "max_payload (%" PRId32 ") cannot be higher than max_pending (%" PRId64 ")",
                 o->max_payload, o->max_pending);
        return -1;
    }
    if (opts_validate_auth(o, err, errsize) != 0)
        return -1;
    if (opts_validate_gateway(o, err, errsize) != 0)
        return -1;
    /* validateCluster */
    if (!opts_empty(o->gateway.name) && !opts_empty(o->cluster.name) &&
        strcmp(o->gateway.name, o->cluster.name) != 0) {
        snprintf(err, errsize, "cluster name conflicts between cluster and gateway definitions");
        return -1;
    }
    return 0;
}

bool opts_key_reloadable(const char *key)
{
    char lower[256];
    util_lower(key, lower, sizeof(lower));
    const struct opts_key *k = opts_find_key(&opts_top_block, lower);
    return k != NULL && k->reloadable;
}

bool opts_key_known(const char *key)
{
    char lower[256];
    util_lower(key, lower, sizeof(lower));
    return opts_find_key(&opts_top_block, lower) != NULL;
}

void opts_diag_free(struct opts_diag *d)
{
    strlist_free(&d->errors);
    strlist_free(&d->warnings);
}

void strlist_push(struct strlist *l, const char *s)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrdup(s);
}

void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    NFREE(l->v);
    l->n = 0;
}
