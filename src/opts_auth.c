/* SPDX-License-Identifier: Apache-2.0
 * The security blocks of the configuration: top-level authorization, users,
 * permissions, accounts (exports, imports, mappings, limits) and the simple
 * authorization of cluster and gateway, with nats-server 2.9.10's messages.
 * Parsing and validation only; the checks made on connections live elsewhere. */
#include "nkey.h"
#include "opts_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common.h"
#include "mem.h"
#include "util.h"

/* Outcome of a piece of parsing. OPTS_AUTH_PANIC stands for nats-server's
 * failed type assertion: the error is already appended and everything up to
 * the nearest recover() in the Go function being mirrored is abandoned. */
enum opts_auth_rc {
    OPTS_AUTH_OK = 0,
    OPTS_AUTH_ERR = -1,
    OPTS_AUTH_PANIC = -2,
};

#define OPTS_AUTH_NIL_DEREF        "runtime error: invalid memory address or nil pointer dereference"
#define OPTS_AUTH_RESP_MAX_DEFAULT 1
#define OPTS_AUTH_RESP_EXP_DEFAULT (2LL * 60 * 1000000000LL)
#define OPTS_AUTH_GLOBAL_ACCOUNT   "$G"
#define OPTS_AUTH_SYSTEM_ACCOUNT   "$SYS"

/* ---- Go's formatting of values in messages ---------------------------- */

/* %T of a configuration value as nats-server sees it ("<nil>" for none). */
static const char *opts_auth_gotype(const struct conf_value *v)
{
    return v ? opts_go_type(v->type) : "<nil>";
}

/* A growable text buffer for messages that quote values. */
struct opts_auth_buf {
    char *p;
    size_t len;
    size_t cap;
};

static void opts_auth_buf_add(struct opts_auth_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void opts_auth_buf_str(struct opts_auth_buf *b, const char *s)
{
    opts_auth_buf_add(b, s, strlen(s));
}

/* Go's %q of a string (util_go_quote). */
static void opts_auth_buf_quote(struct opts_auth_buf *b, const char *s)
{
    /* a user without nkey has a name */
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
    size_t n = strlen(s), size = n * 4 + 3;
    char *q = xmalloc(size);
    util_go_quote(s, n, q, size);
    opts_auth_buf_str(b, q);
    free(q);
}

static int opts_auth_kv_cmp(const void *a, const void *b)
{
    const struct conf_kv *x = *(const struct conf_kv *const *)a;
    const struct conf_kv *y = *(const struct conf_kv *const *)b;
    return strcmp(x->key, y->key);
}

/* Go's %v (and %+v, the same for these types) of a configuration value. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by the config tree depth */
static void opts_auth_buf_value(struct opts_auth_buf *b, const struct conf_value *v)
{
    char tmp[64];
    switch (v->type) {
    case CONF_STRING:
        opts_auth_buf_add(b, v->u.s.p, v->u.s.len);
        break;
    case CONF_INT:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)v->u.i);
        opts_auth_buf_str(b, tmp);
        break;
    case CONF_FLOAT:
        util_format_float_go(v->u.f, tmp, sizeof(tmp));
        opts_auth_buf_str(b, tmp);
        break;
    case CONF_BOOL:
        opts_auth_buf_str(b, v->u.b ? "true" : "false");
        break;
    case CONF_DATETIME: {
        time_t t = (time_t)conf_datetime_unix(v);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(tmp, sizeof(tmp), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
        opts_auth_buf_str(b, tmp);
        break;
    }
    case CONF_ARRAY:
        opts_auth_buf_str(b, "[");
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                opts_auth_buf_str(b, " ");
            opts_auth_buf_value(b, v->u.arr.v[i]);
        }
        opts_auth_buf_str(b, "]");
        break;
    case CONF_MAP: {
        /* Go prints map keys sorted. */
        size_t n = v->u.map.n;
        const struct conf_kv **kv = xcalloc(n ? n : 1, sizeof(*kv));
        for (size_t i = 0; i < n; i++)
            kv[i] = &v->u.map.kv[i];
        qsort(kv, n, sizeof(*kv), opts_auth_kv_cmp);
        opts_auth_buf_str(b, "map[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                opts_auth_buf_str(b, " ");
            opts_auth_buf_str(b, kv[i]->key);
            opts_auth_buf_str(b, ":");
            opts_auth_buf_value(b, kv[i]->val);
        }
        opts_auth_buf_str(b, "]");
        free(kv);
        break;
    }
    }
}

/* Go's %q of an arbitrary value (strings and integers; others as Go's
 * %!q(type=value)). */
static void opts_auth_buf_qvalue(struct opts_auth_buf *b, const struct conf_value *v)
{
    char tmp[32];
    if (v->type == CONF_STRING) {
        opts_auth_buf_quote(b, v->u.s.p);
    } else if (v->type == CONF_INT && v->u.i >= 0x20 && v->u.i < 0x7f && v->u.i != '\'' &&
               v->u.i != '\\') {
        snprintf(tmp, sizeof(tmp), "'%c'", (char)v->u.i);
        opts_auth_buf_str(b, tmp);
    } else if (v->type == CONF_INT && v->u.i >= 0 && v->u.i < 0x100) {
        snprintf(tmp, sizeof(tmp), "'\\x%02x'", (unsigned)v->u.i);
        opts_auth_buf_str(b, tmp);
    } else {
        opts_auth_buf_str(b, "%!q(");
        opts_auth_buf_str(b, opts_auth_gotype(v));
        opts_auth_buf_str(b, "=");
        opts_auth_buf_value(b, v);
        opts_auth_buf_str(b, ")");
    }
}

/* Append "<prefix><%v of v>" as an error at pos. */
static void opts_auth_err_value(struct opts_diag *d, const struct conf_pos *pos, const char *prefix,
                                const struct conf_value *v)
{
    struct opts_auth_buf b = {0};
    opts_auth_buf_str(&b, prefix);
    opts_auth_buf_value(&b, v);
    opts_err(d, pos, "%s", b.p);
    free(b.p);
}

/* Go's %q of s into a fresh string. */
static char *opts_auth_quoted(const char *s)
{
    struct opts_auth_buf b = {0};
    opts_auth_buf_quote(&b, s);
    return b.p;
}

/* ---- subjects, as server/sublist.go --------------------------------- */

/* IsValidSubject: non-empty tokens, no whitespace, '>' only last. */
static bool opts_auth_subject_valid(const char *s)
{
    if (!*s)
        return false;
    bool fwc = false;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '.');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || fwc)
            return false;
        for (size_t i = 0; i < n; i++)
            if (strchr("\t\n\f\r ", p[i]))
                return false;
        if (n == 1 && p[0] == '>')
            fwc = true;
        if (!e)
            return true;
        p = e + 1;
    }
}

/* subjectIsLiteral: no token that is exactly '*' or '>'. */
static bool opts_auth_subject_literal(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if ((s[i] == '*' || s[i] == '>') && (i == 0 || s[i - 1] == '.') &&
            (i + 1 == n || s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* A subject split on '.', tokens NUL-terminated in one copy. */
struct opts_auth_toks {
    char *copy;
    char **t;
    size_t n;
};

static void opts_auth_toks_split(struct opts_auth_toks *tk, const char *s)
{
    tk->copy = xstrdup(s);
    tk->n = 1;
    for (const char *p = s; *p; p++)
        tk->n += *p == '.';
    tk->t = xcalloc(tk->n, sizeof(*tk->t));
    size_t i = 0;
    char *p = tk->copy;
    tk->t[i++] = p;
    for (; *p; p++) {
        if (*p == '.') {
            *p = '\0';
            tk->t[i++] = p + 1;
        }
    }
}

static void opts_auth_toks_free(struct opts_auth_toks *tk)
{
    free(tk->copy);
    free(tk->t);
}

/* isSubsetMatch: whether the subject split into toks is within test. */
static bool opts_auth_subset_match(const struct opts_auth_toks *toks, const char *test)
{
    struct opts_auth_toks tt;
    opts_auth_toks_split(&tt, test);
    bool res = toks->n == tt.n;
    for (size_t i = 0; i < tt.n; i++) {
        const char *t2 = tt.t[i], *t1;
        if (i >= toks->n || !t2[0]) {
            res = false;
            break;
        }
        if (strcmp(t2, ">") == 0) {
            res = true;
            break;
        }
        t1 = toks->t[i];
        if (!t1[0] || strcmp(t1, ">") == 0) {
            res = false;
            break;
        }
        if (strcmp(t1, "*") == 0) {
            if (strcmp(t2, "*") != 0) {
                res = false;
                break;
            }
            continue;
        }
        /* As nats-server: a test token starting with '*' matches anything. */
        if (t2[0] != '*' && strcmp(t1, t2) != 0) {
            res = false;
            break;
        }
    }
    opts_auth_toks_free(&tt);
    return res;
}

/* ---- nkeys (nkey.c, as github.com/nats-io/nkeys Decode) -------------- */

static bool opts_auth_nkey_valid(const char *s, unsigned char prefix)
{
    return nkey_valid(s, prefix);
}

#define OPTS_AUTH_NKEY_USER    (20 << 3) /* 'U' */
#define OPTS_AUTH_NKEY_ACCOUNT 0         /* 'A' */

/* ---- positions -------------------------------------------------------- */

/* nats-server reports a map entry's value at its key (the parser moves the
 * token there); conf.c keeps both. This gives the value with that position,
 * as a shallow copy in *tmp, valid while the tree lives. */
static const struct conf_value *opts_auth_keyed(const struct conf_kv *kv, struct conf_value *tmp)
{
    *tmp = *kv->val;
    tmp->pos = kv->pos;
    return tmp;
}

/* ---- key tables ------------------------------------------------------- */

/* One row of a block's key table: the names (aliases) and the handler. A
 * handler returns an opts_auth_rc. */
struct opts_auth_key {
    const char *names[4];
    int (*fn)(void *ctx, const struct conf_kv *kv, struct opts_diag *d);
};

/* How a block reports a key it does not know. */
enum opts_auth_unknown {
    OPTS_AUTH_UNK_FIELD = 0, /* unknown field "k" */
    OPTS_AUTH_UNK_PERMS,
    OPTS_AUTH_UNK_SUBJECT_PERMS,
    OPTS_AUTH_UNK_LIMITS,
};

static void opts_auth_unknown_key(struct opts_diag *d, const struct conf_kv *kv,
                                  enum opts_auth_unknown how)
{
    char *q = opts_auth_quoted(kv->key);
    switch (how) {
    case OPTS_AUTH_UNK_FIELD:
        opts_err(d, &kv->val->pos, "unknown field %s", q);
        break;
    case OPTS_AUTH_UNK_PERMS:
        opts_err(d, &kv->val->pos, "Unknown field %s parsing permissions", q);
        break;
    case OPTS_AUTH_UNK_SUBJECT_PERMS:
        opts_err(d, &kv->val->pos,
                 "Unknown field name %s parsing subject permissions, only 'allow' or 'deny' are "
                 "permitted",
                 q);
        break;
    case OPTS_AUTH_UNK_LIMITS:
        opts_err(d, &kv->val->pos, "Unknown field %s parsing account limits", q);
        break;
    }
    free(q);
}

/* Walk map m in written order, dispatching each key (compared without case)
 * to its row. Keys that were only used as $variables are not unknown, as in
 * nats-server. Stops at the first OPTS_AUTH_PANIC and returns it. */
static int opts_auth_walk(const struct conf_value *m, const struct opts_auth_key *keys,
                          size_t nkeys, enum opts_auth_unknown how, void *ctx, struct opts_diag *d)
{
    for (size_t i = 0; i < m->u.map.n; i++) {
        struct conf_value tmp;
        struct conf_kv keyed = m->u.map.kv[i];
        const struct conf_kv *kv = &keyed;
        const struct opts_auth_key *row = NULL;
        keyed.val = (struct conf_value *)opts_auth_keyed(&m->u.map.kv[i], &tmp);
        for (size_t k = 0; k < nkeys && !row; k++)
            for (size_t a = 0; a < ARRAY_LEN(keys[k].names) && keys[k].names[a]; a++)
                if (strcasecmp(kv->key, keys[k].names[a]) == 0) {
                    row = &keys[k];
                    break;
                }
        if (!row) {
            if (!kv->used_as_var)
                opts_auth_unknown_key(d, kv, how);
            continue;
        }
        if (row->fn(ctx, kv, d) == OPTS_AUTH_PANIC)
            return OPTS_AUTH_PANIC;
    }
    return OPTS_AUTH_OK;
}

/* A string value into *dst (NULL for ""), or the type-assertion panic. */
static int opts_auth_take_str(const struct conf_value *v, char **dst, struct opts_diag *d)
{
    if (!opts_want(d, v, CONF_STRING))
        return OPTS_AUTH_PANIC;
    free(*dst);
    *dst = v->u.s.len ? xstrdup(v->u.s.p) : NULL;
    return OPTS_AUTH_OK;
}

/* ---- permissions ------------------------------------------------------ */

void opts_perms_free(struct opts_perms *p)
{
    if (!p)
        return;
    strlist_free(&p->publish.allow);
    strlist_free(&p->publish.deny);
    strlist_free(&p->subscribe.allow);
    strlist_free(&p->subscribe.deny);
    free(p);
}

static void opts_auth_strlist_copy(struct strlist *dst, const struct strlist *src)
{
    for (size_t i = 0; i < src->n; i++)
        strlist_push(dst, src->v[i]);
}

static struct opts_perms *opts_auth_perms_dup(const struct opts_perms *p)
{
    struct opts_perms *c = xcalloc(1, sizeof(*c));
    const struct opts_subject_perm *from[2] = {&p->publish, &p->subscribe};
    struct opts_subject_perm *to[2] = {&c->publish, &c->subscribe};
    for (int i = 0; i < 2; i++) {
        to[i]->set = from[i]->set;
        to[i]->allow_set = from[i]->allow_set;
        opts_auth_strlist_copy(&to[i]->allow, &from[i]->allow);
        opts_auth_strlist_copy(&to[i]->deny, &from[i]->deny);
    }
    c->allow_responses = p->allow_responses;
    c->resp_max = p->resp_max;
    c->resp_expires_ns = p->resp_expires_ns;
    return c;
}

/* parsePermSubjects + checkPermSubjectArray. has_pos: whether nats-server
 * still holds the value's token here (it does not for the old
 * "publish: subj" form, whose errors then carry no position). */
static int opts_auth_perm_subjects(const struct conf_value *v, bool has_pos, struct strlist *out,
                                   struct opts_diag *d)
{
    const struct conf_pos *pos = has_pos ? &v->pos : NULL;
    struct strlist l = {0};

    if (v->type == CONF_STRING) {
        strlist_push(&l, v->u.s.p);
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const struct conf_value *e = v->u.arr.v[i];
            if (e->type != CONF_STRING) {
                opts_err(d, &e->pos, "Subject in permissions array cannot be cast to string");
                strlist_free(&l);
                return OPTS_AUTH_ERR;
            }
            strlist_push(&l, e->u.s.p);
        }
    } else {
        opts_err(d, pos,
                 "Expected subject permissions to be a subject, or array of subjects, got %s",
                 opts_auth_gotype(v));
        return OPTS_AUTH_ERR;
    }
    for (size_t i = 0; i < l.n; i++) {
        const char *s = l.v[i];
        if (opts_auth_subject_valid(s))
            continue;
        /* "subject queue": exactly two whitespace-separated fields. */
        char *copy = xstrdup(s), *save = NULL, *f[3] = {0};
        int nf = 0;
        for (char *t = strtok_r(copy, " \t\n\v\f\r", &save); t && nf < 3;
             t = strtok_r(NULL, " \t\n\v\f\r", &save))
            f[nf++] = t;
        const char *bad = nf != 2 ? s : (!opts_auth_subject_valid(f[0]) ? f[0] : NULL);
        if (bad) {
            char *q = opts_auth_quoted(bad);
            opts_err(d, pos, "subject %s is not a valid subject", q);
            free(q);
            free(copy);
            strlist_free(&l);
            return OPTS_AUTH_ERR;
        }
        free(copy);
    }
    strlist_free(out);
    *out = l;
    return OPTS_AUTH_OK;
}

static int opts_auth_sp_allow(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_subject_perm *sp = ctx;
    if (opts_auth_perm_subjects(kv->val, true, &sp->allow, d) == OPTS_AUTH_OK)
        sp->allow_set = sp->allow.n > 0;
    return OPTS_AUTH_OK;
}

static int opts_auth_sp_deny(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_subject_perm *sp = ctx;
    opts_auth_perm_subjects(kv->val, true, &sp->deny, d);
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_subject_perm_keys[] = {
    {{"allow"}, opts_auth_sp_allow},
    {{"deny"}, opts_auth_sp_deny},
};

/* parseVariablePermissions: {allow, deny}, or a subject or list (= allow). */
static void opts_auth_variable_perms(const struct conf_value *v, struct opts_subject_perm *sp,
                                     struct opts_diag *d)
{
    struct opts_subject_perm n = {0};
    if (v->type == CONF_MAP) {
        if (v->u.map.n == 0)
            return; /* an empty map leaves the direction unset */
        opts_auth_walk(v, opts_auth_subject_perm_keys, ARRAY_LEN(opts_auth_subject_perm_keys),
                       OPTS_AUTH_UNK_SUBJECT_PERMS, &n, d);
    } else {
        if (opts_auth_perm_subjects(v, false, &n.allow, d) != OPTS_AUTH_OK)
            return;
        n.allow_set = n.allow.n > 0;
    }
    n.set = true;
    strlist_free(&sp->allow);
    strlist_free(&sp->deny);
    *sp = n;
}

static int opts_auth_p_pub(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    opts_auth_variable_perms(kv->val, &((struct opts_perms *)ctx)->publish, d);
    return OPTS_AUTH_OK;
}

static int opts_auth_p_sub(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    opts_auth_variable_perms(kv->val, &((struct opts_perms *)ctx)->subscribe, d);
    return OPTS_AUTH_OK;
}

static int opts_auth_r_max(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_perms *p = ctx;
    if (!opts_want(d, kv->val, CONF_INT))
        return OPTS_AUTH_PANIC;
    /* 0 keeps the default; negative means unlimited. */
    if ((int)kv->val->u.i != 0)
        p->resp_max = kv->val->u.i;
    return OPTS_AUTH_OK;
}

static int opts_auth_r_expires(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_perms *p = ctx;
    char err[256];
    int64_t ns;
    if (kv->val->type != CONF_STRING) {
        opts_err(d, &kv->val->pos, "error parsing expires, not a duration string");
        return OPTS_AUTH_ERR;
    }
    if (util_parse_duration(kv->val->u.s.p, kv->val->u.s.len, &ns, err, sizeof(err)) != 0) {
        opts_err(d, &kv->val->pos, "error parsing expires: %s", err);
        return OPTS_AUTH_ERR;
    }
    if (ns != 0)
        p->resp_expires_ns = ns;
    return OPTS_AUTH_OK;
}

/* The map form of allow_responses; an ERR return ends it like a panic does,
 * since nats-server returns nil there too. */
static const struct opts_auth_key opts_auth_resp_keys[] = {
    {{"max", "max_msgs", "max_messages", "max_responses"}, opts_auth_r_max},
    {{"expires", "expiration", "ttl"}, opts_auth_r_expires},
};

/* parseAllowResponses on a map: true when the responses permission holds. */
static bool opts_auth_allow_responses_map(const struct conf_value *v, struct opts_perms *p,
                                          struct opts_diag *d)
{
    if (v->type != CONF_MAP) {
        opts_err(d, &v->pos, "error parsing response permissions, expected a boolean or a map");
        return false;
    }
    p->resp_max = OPTS_AUTH_RESP_MAX_DEFAULT;
    p->resp_expires_ns = OPTS_AUTH_RESP_EXP_DEFAULT;
    for (size_t i = 0; i < v->u.map.n; i++) {
        struct conf_value tmp;
        struct conf_kv keyed = v->u.map.kv[i];
        const struct conf_kv *kv = &keyed;
        const struct opts_auth_key *row = NULL;
        keyed.val = (struct conf_value *)opts_auth_keyed(&v->u.map.kv[i], &tmp);
        for (size_t k = 0; k < ARRAY_LEN(opts_auth_resp_keys) && !row; k++)
            for (size_t a = 0; a < 4 && opts_auth_resp_keys[k].names[a]; a++)
                if (strcasecmp(kv->key, opts_auth_resp_keys[k].names[a]) == 0)
                    row = &opts_auth_resp_keys[k];
        if (!row) {
            if (!kv->used_as_var)
                opts_auth_unknown_key(d, kv, OPTS_AUTH_UNK_PERMS);
            continue;
        }
        if (row->fn(p, kv, d) != OPTS_AUTH_OK)
            return false;
    }
    return true;
}

static int opts_auth_p_resp(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_perms *p = ctx;
    if (kv->val->type == CONF_BOOL) {
        p->allow_responses = kv->val->u.b;
        p->resp_max = OPTS_AUTH_RESP_MAX_DEFAULT;
        p->resp_expires_ns = OPTS_AUTH_RESP_EXP_DEFAULT;
    } else {
        p->allow_responses = opts_auth_allow_responses_map(kv->val, p, d);
    }
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_perms_keys[] = {
    /* For routes, import is publish and export is subscribe. */
    {{"pub", "publish", "import"}, opts_auth_p_pub},
    {{"sub", "subscribe", "export"}, opts_auth_p_sub},
    {{"publish_allow_responses", "allow_responses"}, opts_auth_p_resp},
};

int opts_parse_perms(const struct conf_value *v, struct opts_perms **out, struct opts_diag *d)
{
    *out = NULL;
    /* parseUserPermissions */
    if (v->type != CONF_MAP) {
        opts_auth_err_value(d, &v->pos, "Expected permissions to be a map/struct, got ", v);
        return -1;
    }
    struct opts_perms *p = xcalloc(1, sizeof(*p));
    size_t before = d->errors.n;
    opts_auth_walk(v, opts_auth_perms_keys, ARRAY_LEN(opts_auth_perms_keys), OPTS_AUTH_UNK_PERMS, p,
                   d);
    /* Allowing responses turns off the blanket publish allow. nats-server
     * does this when it meets the key, so the outcome there depends on map
     * order; applying it last is the order-independent reading. */
    if (p->allow_responses) {
        p->publish.set = true;
        p->publish.allow_set = true;
    }
    *out = p;
    return d->errors.n > before ? -1 : 0;
}

/* ---- users ------------------------------------------------------------ */

static const char *const opts_auth_conn_types[] = {
    "STANDARD", "WEBSOCKET", "LEAFNODE", "LEAFNODE_WS", "MQTT", "MQTT_WS",
};

/* parseAllowedConnectionTypes: a string or list of strings, each one of the
 * known names (any case, stored upper-case). */
static void opts_auth_conn_types_parse(const struct conf_value *v, struct strlist *out,
                                       struct opts_diag *d)
{
    struct strlist names = {0};
    if (v->type == CONF_STRING) {
        strlist_push(&names, v->u.s.p);
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const struct conf_value *e = v->u.arr.v[i];
            if (e->type != CONF_STRING) {
                opts_err(d, &e->pos,
                         "error parsing allowed connection types: unsupported type in array %s",
                         opts_auth_gotype(e));
                continue;
            }
            strlist_push(&names, e->u.s.p);
        }
    } else {
        opts_err(d, &v->pos, "error parsing allowed connection types: unsupported type %s",
                 opts_auth_gotype(v));
        return;
    }
    struct opts_auth_buf bad = {0};
    strlist_free(out);
    for (size_t i = 0; i < names.n; i++) {
        char *up = xstrdup(names.v[i]);
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        bool known = false;
        for (size_t k = 0; k < ARRAY_LEN(opts_auth_conn_types); k++)
            known |= strcmp(up, opts_auth_conn_types[k]) == 0;
        if (known) {
            bool dup = false;
            for (size_t k = 0; k < out->n; k++)
                dup |= strcmp(out->v[k], up) == 0;
            if (!dup)
                strlist_push(out, up);
        } else {
            opts_auth_buf_str(&bad, bad.len ? " " : "[");
            opts_auth_buf_quote(&bad, up);
        }
        free(up);
    }
    if (bad.len) {
        opts_auth_buf_str(&bad, "]");
        opts_err(d, &v->pos, "invalid connection types %s", bad.p);
    }
    free(bad.p);
    strlist_free(&names);
}

/* One users[] entry being read. last is where nats-server's token last
 * pointed at, where the entry-level errors are reported. */
struct opts_auth_uent {
    struct opts_user u;
    struct opts_perms *perms;
    const struct conf_pos *last;
};

static int opts_auth_u_nkey(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_uent *)ctx)->u.nkey, d);
}

static int opts_auth_u_user(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_uent *)ctx)->u.user, d);
}

static int opts_auth_u_pass(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_uent *)ctx)->u.password, d);
}

static int opts_auth_u_perms(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_uent *e = ctx;
    struct opts_perms *p = NULL;
    if (opts_parse_perms(kv->val, &p, d) == 0 || p) {
        opts_perms_free(e->perms);
        e->perms = p;
    }
    return OPTS_AUTH_OK;
}

static int opts_auth_u_conn(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    opts_auth_conn_types_parse(kv->val, &((struct opts_auth_uent *)ctx)->u.connection_types, d);
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_user_keys[] = {
    {{"nkey"}, opts_auth_u_nkey},
    {{"user", "username"}, opts_auth_u_user},
    {{"pass", "password"}, opts_auth_u_pass},
    {{"permission", "permissions", "authorization"}, opts_auth_u_perms},
    {{"allowed_connection_types", "connection_types", "clients"}, opts_auth_u_conn},
};

static void opts_auth_user_clear(struct opts_user *u)
{
    free(u->user);
    free(u->password);
    free(u->nkey);
    free(u->account);
    opts_perms_free(u->perms);
    strlist_free(&u->connection_types);
    memset(u, 0, sizeof(*u));
}

/* A list of users being built. */
struct opts_auth_users {
    struct opts_user *v;
    size_t n;
};

static void opts_auth_users_free(struct opts_auth_users *l)
{
    for (size_t i = 0; i < l->n; i++)
        opts_auth_user_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void opts_auth_users_push(struct opts_auth_users *l, struct opts_user *u)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = *u;
}

/* parseUsers. has_pos: whether nats-server still holds the users token (not
 * under accounts, where it passes the bare value). Returns OK, ERR (nothing
 * kept) or PANIC (nothing kept, error appended). */
static int opts_auth_parse_users(const struct conf_value *v, bool has_pos,
                                 struct opts_auth_users *out, struct opts_diag *d)
{
    struct opts_auth_users l = {0};
    if (v->type != CONF_ARRAY) {
        opts_auth_err_value(d, has_pos ? &v->pos : NULL,
                            "Expected users field to be an array, got ", v);
        return OPTS_AUTH_ERR;
    }
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const struct conf_value *ev = v->u.arr.v[i];
        if (ev->type != CONF_MAP) {
            opts_auth_err_value(d, &ev->pos, "Expected user entry to be a map/struct, got ", ev);
            continue;
        }
        struct opts_auth_uent e = {.last = &ev->pos};
        if (ev->u.map.n)
            e.last = &ev->u.map.kv[ev->u.map.n - 1].pos;
        int rc = opts_auth_walk(ev, opts_auth_user_keys, ARRAY_LEN(opts_auth_user_keys),
                                OPTS_AUTH_UNK_FIELD, &e, d);
        const char *msg = NULL;
        if (rc == OPTS_AUTH_PANIC) {
            opts_auth_user_clear(&e.u);
            opts_perms_free(e.perms);
            opts_auth_users_free(&l);
            return OPTS_AUTH_PANIC;
        }
        e.u.perms = e.perms;
        if (!e.u.nkey && !e.u.user)
            msg = "User entry requires a user";
        else if (e.u.nkey && !opts_auth_nkey_valid(e.u.nkey, OPTS_AUTH_NKEY_USER))
            msg = "Not a valid public nkey for a user";
        else if (e.u.nkey && (e.u.user || e.u.password))
            msg = "Nkey users do not take usernames or passwords";
        if (msg) {
            opts_err(d, e.last, "%s", msg);
            opts_auth_user_clear(&e.u);
            opts_auth_users_free(&l);
            return OPTS_AUTH_ERR;
        }
        opts_auth_users_push(&l, &e.u);
    }
    *out = l;
    return OPTS_AUTH_OK;
}

/* Give each user without permissions a copy of defaults (applyDefaultPermissions). */
static void opts_auth_apply_default_perms(struct opts_auth_users *l, const struct opts_perms *p)
{
    for (size_t i = 0; p && i < l->n; i++)
        if (!l->v[i].perms)
            l->v[i].perms = opts_auth_perms_dup(p);
}

/* Whether name (a user name or an nkey) is already among o's users. */
static bool opts_auth_name_taken(const struct opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_users; i++) {
        const struct opts_user *u = &o->users[i];
        if ((u->nkey && strcmp(u->nkey, name) == 0) ||
            (!u->nkey && u->user && strcmp(u->user, name) == 0))
            return true;
    }
    return false;
}

static void opts_auth_add_user(struct opts *o, struct opts_user *u)
{
    o->users = xrealloc(o->users, (o->n_users + 1) * sizeof(*o->users));
    o->users[o->n_users++] = *u;
    memset(u, 0, sizeof(*u));
}

/* ---- authorization {} ------------------------------------------------- */

/* What parseAuthorization collects from one block. */
struct opts_auth_block {
    char *user;
    char *pass;
    char *token;
    double timeout;
    bool users_set; /* a users array was read (nats-server: auth.users != nil) */
    struct opts_auth_users users;
    struct opts_perms *defperms;
};

static void opts_auth_block_free(struct opts_auth_block *b)
{
    free(b->user);
    free(b->pass);
    free(b->token);
    opts_auth_users_free(&b->users);
    opts_perms_free(b->defperms);
    memset(b, 0, sizeof(*b));
}

static int opts_auth_b_user(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_block *)ctx)->user, d);
}

static int opts_auth_b_pass(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_block *)ctx)->pass, d);
}

static int opts_auth_b_token(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_block *)ctx)->token, d);
}

static int opts_auth_b_timeout(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_block *b = ctx;
    (void)d;
    /* Seconds as an integer or a float; anything else counts as 1 second. */
    if (kv->val->type == CONF_INT)
        b->timeout = (double)kv->val->u.i;
    else if (kv->val->type == CONF_FLOAT)
        b->timeout = kv->val->u.f;
    else
        b->timeout = 1;
    return OPTS_AUTH_OK;
}

static int opts_auth_b_users(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_block *b = ctx;
    struct opts_auth_users l = {0};
    if (opts_auth_parse_users(kv->val, true, &l, d) != OPTS_AUTH_OK) {
        /* parseUsers recovers its own panics: the block goes on without users. */
        opts_auth_users_free(&b->users);
        b->users_set = false;
        return OPTS_AUTH_OK;
    }
    opts_auth_users_free(&b->users);
    b->users = l;
    b->users_set = true;
    return OPTS_AUTH_OK;
}

static int opts_auth_b_perms(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_block *b = ctx;
    struct opts_perms *p = NULL;
    if (opts_parse_perms(kv->val, &p, d) == 0 || p) {
        opts_perms_free(b->defperms);
        b->defperms = p;
    }
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_block_keys[] = {
    {{"user", "username"}, opts_auth_b_user},
    {{"pass", "password"}, opts_auth_b_pass},
    {{"token"}, opts_auth_b_token},
    {{"timeout"}, opts_auth_b_timeout},
    {{"users"}, opts_auth_b_users},
    {{"default_permission", "default_permissions", "permissions"}, opts_auth_b_perms},
};

/* parseAuthorization. PANIC means nats-server's function returned nil, which
 * its callers then dereference (a second error, appended by them). */
static int opts_auth_block_parse(const struct conf_value *v, struct opts_auth_block *b,
                                 struct opts_diag *d)
{
    memset(b, 0, sizeof(*b));
    if (!opts_want(d, v, CONF_MAP))
        return OPTS_AUTH_PANIC;
    if (opts_auth_walk(v, opts_auth_block_keys, ARRAY_LEN(opts_auth_block_keys),
                       OPTS_AUTH_UNK_FIELD, b, d) == OPTS_AUTH_PANIC) {
        opts_auth_block_free(b);
        return OPTS_AUTH_PANIC;
    }
    opts_auth_apply_default_perms(&b->users, b->defperms);
    return OPTS_AUTH_OK;
}

/* Whether o has any user that is not an nkey user (Go: o.Users != nil). */
static bool opts_auth_has_password_users(const struct opts *o)
{
    for (size_t i = 0; i < o->n_users; i++)
        if (!o->users[i].nkey)
            return true;
    return false;
}

int opts_parse_authorization(struct opts *o, const struct conf_value *v, struct opts_diag *d)
{
    struct opts_auth_block b;
    int rc = -1;

    if (opts_auth_block_parse(v, &b, d) == OPTS_AUTH_PANIC) {
        opts_err(d, &v->pos, OPTS_AUTH_NIL_DEREF);
        return -1;
    }
    /* as processConfigFileLine "authorization" */
    free(o->username);
    free(o->password);
    free(o->token);
    o->username = b.user;
    o->password = b.pass;
    o->token = b.token;
    b.user = b.pass = b.token = NULL;
    o->auth_timeout = b.timeout;
    o->auth_timeout_set = b.timeout != 0;
    if (b.defperms) {
        opts_perms_free(o->default_perms);
        o->default_perms = opts_auth_perms_dup(b.defperms);
    }
    if ((o->username || o->password) && o->token) {
        opts_err(d, &v->pos, "Cannot have a user/pass and token");
        goto out;
    }
    /* Users from an accounts {} read earlier count as a users array too. */
    if (b.users_set || o->n_users > 0) {
        if (o->username) {
            opts_err(d, &v->pos, "Can not have a single user/pass and a users array");
            goto out;
        }
        if (o->token) {
            opts_err(d, &v->pos, "Can not have a token and a users array");
            goto out;
        }
    }
    /* Password users first, then nkey users, each checked against all so far. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < b.users.n; i++) {
            struct opts_user *u = &b.users.v[i];
            const char *name = pass ? u->nkey : u->user;
            if ((pass == 0) != (u->nkey == NULL))
                continue;
            for (size_t j = 0; j < i && name; j++) {
                const struct opts_user *w = &b.users.v[j];
                if ((pass ? w->nkey : (w->nkey ? NULL : w->user)) &&
                    strcmp(pass ? w->nkey : w->user, name) == 0)
                    name = NULL;
            }
            if (!name || opts_auth_name_taken(o, name)) {
                char *q = opts_auth_quoted(pass ? u->nkey : u->user);
                opts_err(d, &v->pos, "Duplicate %s %s detected", pass ? "nkey" : "user", q);
                free(q);
                goto out;
            }
        }
        for (size_t i = 0; i < b.users.n; i++)
            if ((pass == 0) == (b.users.v[i].nkey == NULL))
                opts_auth_add_user(o, &b.users.v[i]);
    }
    rc = 0;
out:
    opts_auth_block_free(&b);
    return rc;
}

int opts_parse_simple_auth(enum opts_auth_kind kind, const struct conf_value *v, char **user,
                           char **pass, double *timeout, struct opts_perms **perms,
                           struct opts_diag *d)
{
    /* Cluster and gateway blocks are read with the full parseAuthorization
     * (as parseCluster and parseGateway do), then restricted. */
    const char *what = kind == OPTS_AUTH_CLUSTER ? "Cluster" : "Gateway";
    struct opts_auth_block b;
    int rc = -1;

    if (perms)
        *perms = NULL;
    if (opts_auth_block_parse(v, &b, d) == OPTS_AUTH_PANIC) {
        opts_err(d, &v->pos, OPTS_AUTH_NIL_DEREF);
        return -1;
    }
    if (b.users_set) {
        opts_err(d, &v->pos, "%s authorization does not allow multiple users", what);
        goto out;
    }
    if (b.token) {
        opts_err(d, &v->pos, "%s authorization does not support tokens", what);
        goto out;
    }
    free(*user);
    free(*pass);
    *user = b.user;
    *pass = b.pass;
    b.user = b.pass = NULL;
    *timeout = b.timeout;
    if (b.defperms && kind == OPTS_AUTH_CLUSTER) {
        opts_warn(d, &v->pos,
                  "invalid use of field \"authorization\": setting \"permissions\" within "
                  "cluster authorization block is deprecated");
        if (perms) {
            *perms = b.defperms;
            b.defperms = NULL;
        }
    }
    rc = 0;
out:
    opts_auth_block_free(&b);
    return rc;
}

/* ---- accounts: mappings ----------------------------------------------- */

/* parseAccountMapDest. Returns OK, ERR (error appended, entry skipped) or
 * PANIC (a type assertion failed: the rest of the mappings is abandoned). */
/* A string of a mapping destination. The type panic there is recovered by
 * parseAccountMappings, whose last token is the destination entry: the
 * message is reported there, not at the value. */
static int opts_auth_map_str(const struct conf_value *entry, const struct conf_value *mv,
                             char **dst, struct opts_diag *d)
{
    if (mv->type != CONF_STRING) {
        opts_err(d, &entry->pos, "interface conversion: interface {} is %s, not string",
                 opts_auth_gotype(mv));
        return OPTS_AUTH_PANIC;
    }
    free(*dst);
    *dst = xstrdup(mv->u.s.p);
    return OPTS_AUTH_OK;
}

static int opts_auth_map_dest(const struct conf_value *v, struct opts_map_dest *md,
                              struct opts_diag *d)
{
    bool weight_seen = false;
    if (v->type != CONF_MAP) {
        opts_err(d, &v->pos, "Expected an entry for the mapping destination");
        return OPTS_AUTH_ERR;
    }
    for (size_t i = 0; i < v->u.map.n; i++) {
        struct conf_value tmp;
        const struct conf_kv *kv = &v->u.map.kv[i];
        const struct conf_value *mv = opts_auth_keyed(kv, &tmp);
        if (strcasecmp(kv->key, "dest") == 0 || strcasecmp(kv->key, "destination") == 0) {
            if (opts_auth_map_str(v, mv, &md->subject, d) != OPTS_AUTH_OK)
                return OPTS_AUTH_PANIC;
        } else if (strcasecmp(kv->key, "weight") == 0) {
            int64_t w;
            if (mv->type == CONF_STRING) {
                char *s = xstrdup(mv->u.s.p);
                size_t n = strlen(s);
                if (n && s[n - 1] == '%')
                    s[n - 1] = '\0';
                if (util_atoi64(s, &w) != 0) {
                    char *q = opts_auth_quoted(s);
                    opts_err(d, &mv->pos, "Invalid weight %s for mapping destination", q);
                    free(q);
                    free(s);
                    return OPTS_AUTH_ERR;
                }
                free(s);
            } else if (mv->type == CONF_INT) {
                w = mv->u.i;
            } else {
                /* nats-server's message ends with a newline here. */
                struct opts_auth_buf b = {0};
                opts_auth_buf_str(&b, "Unknown entry type for weight of ");
                opts_auth_buf_value(&b, mv);
                opts_err(d, &mv->pos, "%s\n", b.p);
                free(b.p);
                return OPTS_AUTH_ERR;
            }
            if (w > 100 || w < 0) {
                opts_err(d, &mv->pos, "Invalid weight %lld for mapping destination", (long long)w);
                return OPTS_AUTH_ERR;
            }
            md->weight = (int)w;
            weight_seen = true;
        } else if (strcasecmp(kv->key, "cluster") == 0) {
            if (opts_auth_map_str(v, mv, &md->cluster, d) != OPTS_AUTH_OK)
                return OPTS_AUTH_PANIC;
        } else {
            char *q = opts_auth_quoted(kv->key);
            opts_err(d, &mv->pos, "Unknown field %s for mapping destination", q);
            free(q);
            return OPTS_AUTH_ERR;
        }
    }
    if (!weight_seen) {
        char *q = opts_auth_quoted(md->subject ? md->subject : "");
        opts_err(d, &v->pos, "Missing weight for mapping destination %s", q);
        free(q);
        return OPTS_AUTH_ERR;
    }
    return OPTS_AUTH_OK;
}

static void opts_auth_mapping_clear(struct opts_mapping *m)
{
    free(m->subject);
    for (size_t i = 0; i < m->n_dests; i++) {
        free(m->dests[i].subject);
        free(m->dests[i].cluster);
    }
    free(m->dests);
    memset(m, 0, sizeof(*m));
}

/* The checks of Account.AddWeightedMappings that do not need the transform
 * engine: duplicate destinations and weights. Returns the error text or NULL. */
static const char *opts_auth_mapping_check(const struct opts_mapping *m, char *buf, size_t n)
{
    int total = 0;
    for (size_t i = 0; i < m->n_dests; i++) {
        const char *s = m->dests[i].subject ? m->dests[i].subject : "";
        for (size_t j = 0; j < i; j++) {
            const char *t = m->dests[j].subject ? m->dests[j].subject : "";
            if (strcmp(s, t) == 0) {
                char *q = opts_auth_quoted(s);
                snprintf(buf, n, "duplicate entry for %s", q);
                free(q);
                return buf;
            }
        }
        total += m->dests[i].weight;
        if (total > 100)
            return "total weight needs to be <= 100";
        /* ValidateMappingDestination: tokens non-empty, '>' only last. The
         * {{function()}} tokens are not checked here. */
        struct opts_auth_toks toks;
        bool fwc = false;
        opts_auth_toks_split(&toks, s);
        for (size_t k = 0; k < toks.n; k++) {
            if (!toks.t[k][0] || fwc) {
                snprintf(buf, n, "invalid mapping destination: invalid subject in %s", toks.t[k]);
                opts_auth_toks_free(&toks);
                return buf;
            }
            fwc = strcmp(toks.t[k], ">") == 0;
        }
        opts_auth_toks_free(&toks);
    }
    return NULL;
}

/* parseAccountMappings into acc. */
static void opts_auth_parse_mappings(const struct conf_value *v, struct opts_account *acc,
                                     struct opts_diag *d)
{
    if (!opts_want(d, v, CONF_MAP))
        return;
    for (size_t i = 0; i < v->u.map.n; i++) {
        struct conf_value tmp;
        const struct conf_kv *kv = &v->u.map.kv[i];
        const struct conf_value *mv = opts_auth_keyed(kv, &tmp);
        struct opts_mapping m = {0};
        const struct conf_value *last = mv;
        char buf[256];
        int rc = OPTS_AUTH_OK;

        if (!opts_auth_subject_valid(kv->key)) {
            char *q = opts_auth_quoted(kv->key);
            opts_err(d, &v->pos, "Subject %s is not a valid subject", q);
            free(q);
            continue;
        }
        m.subject = xstrdup(kv->key);
        if (mv->type == CONF_STRING) {
            m.dests = xcalloc(1, sizeof(*m.dests));
            m.dests[0].subject = xstrdup(mv->u.s.p);
            m.dests[0].weight = 100;
            m.n_dests = 1;
        } else if (mv->type == CONF_ARRAY) {
            m.dests = xcalloc(mv->u.arr.n ? mv->u.arr.n : 1, sizeof(*m.dests));
            for (size_t j = 0; j < mv->u.arr.n && rc != OPTS_AUTH_PANIC; j++) {
                struct opts_map_dest md = {0};
                last = mv->u.arr.v[j];
                rc = opts_auth_map_dest(last, &md, d);
                if (rc == OPTS_AUTH_OK)
                    m.dests[m.n_dests++] = md;
                else {
                    free(md.subject);
                    free(md.cluster);
                }
            }
        } else {
            struct opts_map_dest md = {0};
            m.dests = xcalloc(1, sizeof(*m.dests));
            rc = opts_auth_map_dest(mv, &md, d);
            if (rc == OPTS_AUTH_OK)
                m.dests[m.n_dests++] = md;
            else {
                free(md.subject);
                free(md.cluster);
                opts_auth_mapping_clear(&m);
                if (rc == OPTS_AUTH_PANIC)
                    return;
                continue;
            }
        }
        if (rc == OPTS_AUTH_PANIC) {
            opts_auth_mapping_clear(&m);
            return;
        }
        const char *err = opts_auth_mapping_check(&m, buf, sizeof(buf));
        if (err && mv->type != CONF_STRING) {
            /* nats-server formats this message with the value taken as a
             * string, which fails for lists and maps: that panic is what it
             * reports, at the last value read, and the other mappings go. */
            opts_err(d, &last->pos, "interface conversion: interface {} is %s, not string",
                     opts_auth_gotype(mv));
            opts_auth_mapping_clear(&m);
            return;
        }
        if (err) {
            char *q1 = opts_auth_quoted(kv->key), *q2 = opts_auth_quoted(mv->u.s.p);
            opts_err(d, &mv->pos, "Error adding mapping for %s to %s : %s", q1, q2, err);
            free(q1);
            free(q2);
            opts_auth_mapping_clear(&m);
            continue;
        }
        acc->mappings = xrealloc(acc->mappings, (acc->n_mappings + 1) * sizeof(*acc->mappings));
        acc->mappings[acc->n_mappings++] = m;
    }
}

/* ---- accounts: limits ------------------------------------------------- */

static int opts_auth_limit(const struct conf_kv *kv, int64_t *dst, struct opts_diag *d)
{
    if (!opts_want(d, kv->val, CONF_INT))
        return OPTS_AUTH_PANIC;
    *dst = (int32_t)kv->val->u.i; /* nats-server keeps these as int32 */
    return OPTS_AUTH_OK;
}

/* An account limit natsd does not enforce: any value but -1 (no limit) would
 * let the account's clients past a bound nats-server holds them to (its
 * connections, subscriptions or payload size), so it refuses the file. */
static int opts_auth_limit_refused(const struct opts_account *a, const struct conf_kv *kv,
                                   int64_t *dst, struct opts_diag *d)
{
    int rc = opts_auth_limit(kv, dst, d);
    if (rc != OPTS_AUTH_OK || *dst == -1)
        return rc;
    char what[600];
    char *q = opts_auth_quoted(a->name);
    snprintf(what, sizeof(what), "option \"%s\" in the limits of account %s", kv->key, q);
    free(q);
    opts_refuse(d, &kv->pos, what,
                "account limits are not implemented, so the account's clients would not be held "
                "to it");
    return OPTS_AUTH_OK;
}

static int opts_auth_l_conn(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_account *a = ctx;
    return opts_auth_limit_refused(a, kv, &a->max_connections, d);
}

static int opts_auth_l_subs(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_account *a = ctx;
    return opts_auth_limit_refused(a, kv, &a->max_subscriptions, d);
}

static int opts_auth_l_pay(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_account *a = ctx;
    return opts_auth_limit_refused(a, kv, &a->max_payload, d);
}

/* natsd has no leaf node connections, so no account can exceed this one. */
static int opts_auth_l_leafs(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_limit(kv, &((struct opts_account *)ctx)->max_leafnodes, d);
}

static const struct opts_auth_key opts_auth_limit_keys[] = {
    {{"max_connections", "max_conn"}, opts_auth_l_conn},
    {{"max_subscriptions", "max_subs"}, opts_auth_l_subs},
    {{"max_payload", "max_pay"}, opts_auth_l_pay},
    {{"max_leafnodes", "max_leafs"}, opts_auth_l_leafs},
};

/* ---- accounts: exports ------------------------------------------------ */

/* One export entry being read (parseExportStreamOrService). */
struct opts_auth_exp {
    struct opts_export e;
    bool have_stream, have_service;
    bool rt_seen, thresh_seen, accounts_seen;
    struct conf_pos rt_pos, lat_pos; /* where response / latency were given */
};

static void opts_auth_export_clear(struct opts_export *e)
{
    free(e->subject);
    strlist_free(&e->accounts);
    free(e->latency_subject);
    memset(e, 0, sizeof(*e));
}

static int opts_auth_x_stream(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    if (x->have_service) {
        struct opts_auth_buf b = {0};
        opts_auth_buf_qvalue(&b, mv);
        opts_err(d, &mv->pos, "Detected stream %s but already saw a service", b.p);
        free(b.p);
        return OPTS_AUTH_ERR;
    }
    if (x->rt_pos.line) {
        opts_err(d, &x->rt_pos, "Detected response directive on non-service");
        return OPTS_AUTH_ERR;
    }
    if (x->lat_pos.line) {
        opts_err(d, &x->lat_pos, "Detected latency directive on non-service");
        return OPTS_AUTH_ERR;
    }
    if (mv->type != CONF_STRING) {
        opts_err(d, &mv->pos, "Expected stream name to be string, got %s", opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    }
    free(x->e.subject);
    x->e.subject = xstrdup(mv->u.s.p);
    x->e.service = false;
    x->have_stream = true;
    return OPTS_AUTH_OK;
}

static int opts_auth_x_service(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    if (x->have_stream) {
        struct opts_auth_buf b = {0};
        opts_auth_buf_qvalue(&b, mv);
        opts_err(d, &mv->pos, "Detected service %s but already saw a stream", b.p);
        free(b.p);
        return OPTS_AUTH_ERR;
    }
    if (mv->type != CONF_STRING) {
        opts_err(d, &mv->pos, "Expected service name to be string, got %s", opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    }
    free(x->e.subject);
    x->e.subject = xstrdup(mv->u.s.p);
    x->e.service = true;
    x->have_service = true;
    return OPTS_AUTH_OK;
}

static int opts_auth_x_response(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    static const struct {
        const char *name;
        enum opts_resp_type t;
    } types[] = {
        {"single", OPTS_RESP_SINGLETON}, {"singleton", OPTS_RESP_SINGLETON},
        {"stream", OPTS_RESP_STREAM},    {"chunk", OPTS_RESP_CHUNKED},
        {"chunked", OPTS_RESP_CHUNKED},
    };
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    size_t i;
    if (x->rt_seen) {
        opts_err(d, &mv->pos, "Duplicate response type definition");
        return OPTS_AUTH_ERR;
    }
    x->rt_seen = true;
    x->rt_pos = mv->pos;
    if (mv->type != CONF_STRING) {
        opts_err(d, &mv->pos, "Expected response type to be string, got %s", opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    }
    for (i = 0; i < ARRAY_LEN(types); i++)
        if (strcasecmp(mv->u.s.p, types[i].name) == 0)
            break;
    if (i == ARRAY_LEN(types)) {
        char *q = opts_auth_quoted(mv->u.s.p);
        opts_err(d, &mv->pos, "Unknown response type: %s", q);
        free(q);
        return OPTS_AUTH_ERR;
    }
    x->e.response_type = types[i].t;
    if (x->have_stream)
        opts_err(d, &mv->pos, "Detected response directive on non-service");
    return OPTS_AUTH_OK;
}

static int opts_auth_x_threshold(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    char err[256];
    int64_t ns;
    if (x->thresh_seen) {
        opts_err(d, &mv->pos, "Duplicate response threshold detected");
        return OPTS_AUTH_ERR;
    }
    x->thresh_seen = true;
    if (mv->type != CONF_STRING) {
        opts_err(d, &mv->pos, "Expected response threshold to be a parseable time duration, got %s",
                 opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    }
    if (util_parse_duration(mv->u.s.p, mv->u.s.len, &ns, err, sizeof(err)) != 0) {
        char *q = opts_auth_quoted(mv->u.s.p);
        opts_err(d, &mv->pos, "Expected response threshold to be a parseable time duration, got %s",
                 q);
        free(q);
        return OPTS_AUTH_ERR;
    }
    x->e.response_threshold_ns = ns;
    if (x->have_stream)
        opts_err(d, &mv->pos, "Detected response directive on non-service");
    return OPTS_AUTH_OK;
}

static int opts_auth_x_accounts(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    if (!opts_want(d, mv, CONF_ARRAY))
        return OPTS_AUTH_PANIC;
    for (size_t i = 0; i < mv->u.arr.n; i++) {
        if (!opts_want(d, mv->u.arr.v[i], CONF_STRING))
            return OPTS_AUTH_PANIC;
        strlist_push(&x->e.accounts, mv->u.arr.v[i]->u.s.p);
    }
    x->accounts_seen = true;
    return OPTS_AUTH_OK;
}

/* parseServiceLatency: a results subject, or {sampling, subject}. */
/* NOLINTNEXTLINE(readability-function-size): a linear sequence of checks, kept whole */
static int opts_auth_x_latency(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    const struct conf_value *mv = kv->val;
    int sampling = 100;
    const char *subject;

    x->lat_pos = mv->pos;
    if (mv->type == CONF_STRING) {
        subject = mv->u.s.p;
    } else if (mv->type != CONF_MAP) {
        opts_err(d, &mv->pos, "Expected latency entry to be a map/struct or string, got %s",
                 opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    } else {
        const struct conf_value *sv = NULL, *subj = NULL;
        struct conf_value tsv, tsubj;
        /* nats-server looks these two keys up with their exact case. */
        for (size_t i = 0; i < mv->u.map.n; i++) {
            if (strcmp(mv->u.map.kv[i].key, "sampling") == 0)
                sv = opts_auth_keyed(&mv->u.map.kv[i], &tsv);
            else if (strcmp(mv->u.map.kv[i].key, "subject") == 0)
                subj = opts_auth_keyed(&mv->u.map.kv[i], &tsubj);
        }
        if (sv) {
            bool header = false;
            int64_t sample = 0;
            if (sv->type == CONF_INT) {
                sample = sv->u.i;
            } else if (sv->type == CONF_STRING) {
                char *s = xstrdup(sv->u.s.p), *t = s;
                while (isspace((unsigned char)*t))
                    t++;
                size_t n = strlen(t);
                while (n && isspace((unsigned char)t[n - 1]))
                    n--;
                if (n == 7 && strncasecmp(t, "headers", 7) == 0) {
                    header = true;
                } else {
                    n = strlen(s);
                    if (n && s[n - 1] == '%')
                        s[n - 1] = '\0';
                    if (util_atoi64(s, &sample) != 0) {
                        /* strconv.Atoi's two failures: digits that overflow, or not a number. */
                        size_t k = (s[0] == '+' || s[0] == '-') ? 1 : 0;
                        bool digits = s[k] && strspn(s + k, "0123456789") == strlen(s + k);
                        char *q = opts_auth_quoted(s);
                        opts_err(d, &sv->pos,
                                 "Failed to parse latency sample: strconv.Atoi: parsing %s: %s", q,
                                 digits ? "value out of range" : "invalid syntax");
                        free(q);
                        free(s);
                        return OPTS_AUTH_ERR;
                    }
                }
                free(s);
            } else {
                opts_err(d, &sv->pos,
                         "Expected latency sample to be a string or map/struct, got %s",
                         opts_auth_gotype(sv));
                return OPTS_AUTH_ERR;
            }
            if (!header && (sample < 1 || sample > 100)) {
                opts_err(d, &sv->pos, "bad sampling percentage, should be 1-100");
                return OPTS_AUTH_ERR;
            }
            sampling = (int)sample;
        }
        if (!subj) {
            opts_err(d, &mv->pos, "Latency subject required, but missing");
            return OPTS_AUTH_ERR;
        }
        if (subj->type != CONF_STRING) {
            /* nats-server prints the type of its empty string variable here. */
            opts_err(d, &subj->pos, "Expected latency subject to be a string, got string");
            return OPTS_AUTH_ERR;
        }
        subject = subj->u.s.p;
    }
    if (x->have_stream) {
        opts_err(d, &mv->pos, "Detected latency directive on non-service");
        return OPTS_AUTH_ERR;
    }
    x->e.latency = true;
    free(x->e.latency_subject);
    x->e.latency_subject = xstrdup(subject);
    x->e.latency_sampling = sampling;
    return OPTS_AUTH_OK;
}

static int opts_auth_x_tokpos(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_exp *x = ctx;
    if (!opts_want(d, kv->val, CONF_INT))
        return OPTS_AUTH_PANIC;
    x->e.account_token_position = (int)kv->val->u.i;
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_export_keys[] = {
    {{"stream"}, opts_auth_x_stream},
    {{"service"}, opts_auth_x_service},
    {{"response", "response_type"}, opts_auth_x_response},
    {{"threshold", "response_threshold", "response_max_time", "response_time"},
     opts_auth_x_threshold},
    {{"accounts"}, opts_auth_x_accounts},
    {{"latency"}, opts_auth_x_latency},
    {{"account_token_position"}, opts_auth_x_tokpos},
};

/* parseAccountExports into acc. */
static void opts_auth_parse_exports(const struct conf_value *v, struct opts_account *acc,
                                    struct opts_diag *d)
{
    if (v->type != CONF_ARRAY) {
        opts_err(d, &v->pos, "Exports should be an array, got %s", opts_auth_gotype(v));
        return;
    }
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const struct conf_value *ev = v->u.arr.v[i];
        struct opts_auth_exp x = {0};
        if (ev->type != CONF_MAP) {
            opts_err(d, &ev->pos, "Export Items should be a map with type entry, got %s",
                     opts_auth_gotype(ev));
            continue;
        }
        if (opts_auth_walk(ev, opts_auth_export_keys, ARRAY_LEN(opts_auth_export_keys),
                           OPTS_AUTH_UNK_FIELD, &x, d) == OPTS_AUTH_PANIC) {
            opts_auth_export_clear(&x.e);
            return; /* parseAccountExports's recover ends the list */
        }
        if (!x.have_stream && !x.have_service) {
            opts_auth_export_clear(&x.e);
            continue;
        }
        if (!x.have_service) {
            x.e.latency = false;
            x.e.response_threshold_ns = 0;
            x.e.response_type = OPTS_RESP_SINGLETON;
        }
        acc->exports = xrealloc(acc->exports, (acc->n_exports + 1) * sizeof(*acc->exports));
        acc->exports[acc->n_exports++] = x.e;
    }
}

/* ---- accounts: imports ------------------------------------------------ */

struct opts_auth_imp {
    struct opts_import im;
    bool have_stream, have_service;
    bool share;
};

static void opts_auth_import_clear(struct opts_import *im)
{
    free(im->account);
    free(im->subject);
    free(im->to);
    free(im->prefix);
    memset(im, 0, sizeof(*im));
}

static int opts_auth_a_account(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_import *)ctx)->account, d);
}

static int opts_auth_a_subject(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_import *)ctx)->subject, d);
}

static const struct opts_auth_key opts_auth_import_acc_keys[] = {
    {{"account"}, opts_auth_a_account},
    {{"subject"}, opts_auth_a_subject},
};

/* The {account, subject} of a stream or service import. */
static int opts_auth_import_target(struct opts_auth_imp *x, const struct conf_value *mv,
                                   bool service, struct opts_diag *d)
{
    const char *kind = service ? "Service" : "Stream";
    struct opts_import t = {0};
    if ((service && x->have_stream) || (!service && x->have_service)) {
        opts_err(d, &mv->pos, "Detected %s but already saw a %s", service ? "service" : "stream",
                 service ? "stream" : "service");
        return OPTS_AUTH_ERR;
    }
    if (mv->type != CONF_MAP) {
        opts_err(d, &mv->pos, "%s entry should be an account map, got %s", kind,
                 opts_auth_gotype(mv));
        return OPTS_AUTH_ERR;
    }
    /* parseAccount recovers its own panics, leaving both names empty. */
    if (opts_auth_walk(mv, opts_auth_import_acc_keys, ARRAY_LEN(opts_auth_import_acc_keys),
                       OPTS_AUTH_UNK_FIELD, &t, d) == OPTS_AUTH_PANIC) {
        NFREE(t.account);
        NFREE(t.subject);
    }
    if (!t.account || !t.subject) {
        opts_err(d, &mv->pos, "Expect an account name and a subject");
        opts_auth_import_clear(&t);
        return OPTS_AUTH_ERR;
    }
    free(x->im.account);
    free(x->im.subject);
    x->im.account = t.account;
    x->im.subject = t.subject;
    x->im.service = service;
    x->have_stream = !service;
    x->have_service = service;
    if (service)
        x->im.share = x->share;
    return OPTS_AUTH_OK;
}

static int opts_auth_i_stream(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_import_target(ctx, kv->val, false, d);
}

static int opts_auth_i_service(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_import_target(ctx, kv->val, true, d);
}

static int opts_auth_i_prefix(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    return opts_auth_take_str(kv->val, &((struct opts_auth_imp *)ctx)->im.prefix, d);
}

static int opts_auth_i_to(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_imp *x = ctx;
    if (opts_auth_take_str(kv->val, &x->im.to, d) != OPTS_AUTH_OK)
        return OPTS_AUTH_PANIC;
    if (x->have_stream && x->im.prefix) {
        opts_err(d, &kv->val->pos, "Stream import can not have a 'prefix' and a 'to' property");
        return OPTS_AUTH_ERR;
    }
    return OPTS_AUTH_OK;
}

static int opts_auth_i_share(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_imp *x = ctx;
    if (!opts_want(d, kv->val, CONF_BOOL))
        return OPTS_AUTH_PANIC;
    x->share = kv->val->u.b;
    if (x->have_service)
        x->im.share = x->share;
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_import_keys[] = {
    {{"stream"}, opts_auth_i_stream}, {{"service"}, opts_auth_i_service},
    {{"prefix"}, opts_auth_i_prefix}, {{"to"}, opts_auth_i_to},
    {{"share"}, opts_auth_i_share},
};

/* parseAccountImports into acc. */
static void opts_auth_parse_imports(const struct conf_value *v, struct opts_account *acc,
                                    struct opts_diag *d)
{
    size_t first = acc->n_imports;
    if (v->type != CONF_ARRAY) {
        opts_err(d, &v->pos, "Imports should be an array, got %s", opts_auth_gotype(v));
        return;
    }
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const struct conf_value *ev = v->u.arr.v[i];
        struct opts_auth_imp x = {0};
        if (ev->type != CONF_MAP) {
            opts_err(d, &ev->pos, "Import Items should be a map with type entry, got %s",
                     opts_auth_gotype(ev));
            continue;
        }
        if (opts_auth_walk(ev, opts_auth_import_keys, ARRAY_LEN(opts_auth_import_keys),
                           OPTS_AUTH_UNK_FIELD, &x, d) == OPTS_AUTH_PANIC) {
            opts_auth_import_clear(&x.im);
            return;
        }
        if (!x.have_stream && !x.have_service) {
            opts_auth_import_clear(&x.im);
            continue;
        }
        if (x.have_service) {
            /* A service's local subject defaults to the remote one; two
             * imports may not claim the same local subject. */
            const char *to = x.im.to ? x.im.to : x.im.subject;
            const struct opts_import *dup = NULL;
            for (size_t j = first; j < acc->n_imports && !dup; j++) {
                const struct opts_import *o = &acc->imports[j];
                if (o->service && strcmp(o->to ? o->to : o->subject, to) == 0)
                    dup = o;
            }
            if (dup) {
                char *q1 = opts_auth_quoted(to), *q2 = opts_auth_quoted(dup->account),
                     *q3 = opts_auth_quoted(dup->subject);
                opts_err(d, &ev->pos,
                         "Duplicate service import subject %s, previously used in import for "
                         "account %s, subject %s",
                         q1, q2, q3);
                free(q1);
                free(q2);
                free(q3);
                opts_auth_import_clear(&x.im);
                continue;
            }
            NFREE(x.im.prefix);
        }
        acc->imports = xrealloc(acc->imports, (acc->n_imports + 1) * sizeof(*acc->imports));
        acc->imports[acc->n_imports++] = x.im;
    }
}

/* ---- accounts {} ------------------------------------------------------ */

/* The account being read and what else parseAccounts tracks for it. */
struct opts_auth_acc {
    struct opts *o;
    struct opts_account *acc;
    struct opts_auth_users users;
    struct conf_pos users_pos; /* line 0: no users key */
};

static int opts_auth_c_nkey(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_acc *c = ctx;
    const struct conf_value *mv = kv->val;
    if (mv->type != CONF_STRING || !opts_auth_nkey_valid(mv->u.s.p, OPTS_AUTH_NKEY_ACCOUNT)) {
        struct opts_auth_buf b = {0};
        opts_auth_buf_qvalue(&b, mv);
        opts_err(d, &mv->pos, "Not a valid public nkey for an account: %s", b.p);
        free(b.p);
        return OPTS_AUTH_ERR;
    }
    free(c->acc->nkey);
    c->acc->nkey = xstrdup(mv->u.s.p);
    return OPTS_AUTH_OK;
}

static int opts_auth_c_imports(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    opts_auth_parse_imports(kv->val, ((struct opts_auth_acc *)ctx)->acc, d);
    return OPTS_AUTH_OK;
}

static int opts_auth_c_exports(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    opts_auth_parse_exports(kv->val, ((struct opts_auth_acc *)ctx)->acc, d);
    return OPTS_AUTH_OK;
}

static int opts_auth_c_jetstream(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    /* JetStream is not supported: remember the key for the caller's warning. */
    struct opts_auth_acc *c = ctx;
    (void)kv;
    (void)d;
    opts_note_unsupported(c->o, "jetstream");
    return OPTS_AUTH_OK;
}

static int opts_auth_c_users(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_acc *c = ctx;
    struct opts_auth_users l = {0};
    c->users_pos = kv->pos;
    opts_auth_users_free(&c->users);
    if (opts_auth_parse_users(kv->val, false, &l, d) == OPTS_AUTH_OK)
        c->users = l;
    return OPTS_AUTH_OK;
}

static int opts_auth_c_perms(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_acc *c = ctx;
    struct opts_perms *p = NULL;
    if (opts_parse_perms(kv->val, &p, d) == 0 || p) {
        opts_perms_free(c->acc->default_perms);
        c->acc->default_perms = p;
    }
    return OPTS_AUTH_OK;
}

static int opts_auth_c_mappings(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_acc *c = ctx;
    opts_auth_parse_mappings(kv->val, c->acc, d);
    /* checked as nats-server does, not applied: subjects are not remapped */
    opts_note_unsupported(c->o, "mappings");
    return OPTS_AUTH_OK;
}

static int opts_auth_c_limits(void *ctx, const struct conf_kv *kv, struct opts_diag *d)
{
    struct opts_auth_acc *c = ctx;
    if (kv->val->type != CONF_MAP) {
        opts_auth_err_value(d, &kv->val->pos, "Expected account limits to be a map/struct, got ",
                            kv->val);
        return OPTS_AUTH_OK;
    }
    /* parseAccountLimits recovers its own panics. */
    opts_auth_walk(kv->val, opts_auth_limit_keys, ARRAY_LEN(opts_auth_limit_keys),
                   OPTS_AUTH_UNK_LIMITS, c->acc, d);
    return OPTS_AUTH_OK;
}

static const struct opts_auth_key opts_auth_account_keys[] = {
    {{"nkey"}, opts_auth_c_nkey},
    {{"imports"}, opts_auth_c_imports},
    {{"exports"}, opts_auth_c_exports},
    {{"jetstream"}, opts_auth_c_jetstream},
    {{"users"}, opts_auth_c_users},
    {{"default_permissions"}, opts_auth_c_perms},
    {{"mappings", "maps"}, opts_auth_c_mappings},
    {{"limits"}, opts_auth_c_limits},
};

static struct opts_account *opts_auth_new_account(struct opts *o, const char *name)
{
    o->accounts = xrealloc(o->accounts, (o->n_accounts + 1) * sizeof(*o->accounts));
    struct opts_account *a = &o->accounts[o->n_accounts++];
    memset(a, 0, sizeof(*a));
    a->name = xstrdup(name);
    /* NewAccount: no limits */
    a->max_connections = a->max_subscriptions = a->max_payload = a->max_leafnodes = -1;
    return a;
}

static struct opts_account *opts_auth_find_account(const struct opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_accounts; i++)
        if (strcmp(o->accounts[i].name, name) == 0)
            return &o->accounts[i];
    return NULL;
}

/* The users of one account into o, with the checks parseAccounts makes. */
static void opts_auth_account_users(struct opts *o, struct opts_auth_acc *c, struct opts_diag *d)
{
    const struct conf_pos *pos = c->users_pos.line ? &c->users_pos : NULL;
    if (c->users.n > 0 && (o->username || o->token)) {
        opts_err(d, pos, "Can not have a %s and accounts",
                 o->username ? "single user/pass" : "token");
        opts_auth_users_free(&c->users);
        return;
    }
    opts_auth_apply_default_perms(&c->users, c->acc->default_perms);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < c->users.n; i++) {
            struct opts_user *u = &c->users.v[i];
            if ((pass == 0) != (u->nkey != NULL))
                continue; /* nkey users first, as nats-server */
            const char *name = u->nkey ? u->nkey : u->user;
            if (opts_auth_name_taken(o, name)) {
                char *q = opts_auth_quoted(name);
                opts_err(d, pos, "Duplicate %s %s detected", u->nkey ? "nkey" : "user", q);
                free(q);
                continue;
            }
            u->account = xstrdup(c->acc->name);
            opts_auth_add_user(o, u);
        }
    }
    opts_auth_users_free(&c->users);
}

/* One export as stored, seen from an importer: the rules of checkAuth. */
static bool opts_auth_export_allows(const struct opts_export *e, const char *importer,
                                    const struct opts_auth_toks *toks)
{
    if (e->accounts.n == 0 && e->account_token_position == 0)
        return true; /* public */
    if (e->account_token_position > 0)
        return toks && (size_t)e->account_token_position <= toks->n &&
               strcmp(toks->t[e->account_token_position - 1], importer) == 0;
    for (size_t i = 0; i < e->accounts.n; i++)
        if (strcmp(e->accounts.v[i], importer) == 0)
            return true;
    return false;
}

/* checkStreamImportAuthorized / checkServiceImportAuthorized: the exporter's
 * export of that kind equal to subject, else the first one containing it. */
static bool opts_auth_import_allowed(const struct opts_account *exp, bool service,
                                     const char *importer, const char *subject)
{
    const struct opts_export *exact = NULL;
    bool any = false;
    for (size_t i = 0; i < exp->n_exports; i++) {
        const struct opts_export *e = &exp->exports[i];
        if (e->service != service)
            continue;
        any = true;
        if (strcmp(e->subject, subject) == 0)
            exact = e;
    }
    if (!any || (!service && !opts_auth_subject_valid(subject)))
        return false;
    if (exact)
        return opts_auth_export_allows(exact, importer, NULL);
    struct opts_auth_toks toks;
    bool res = false;
    opts_auth_toks_split(&toks, subject);
    for (size_t i = 0; i < exp->n_exports; i++) {
        const struct opts_export *e = &exp->exports[i];
        if (e->service == service && opts_auth_subset_match(&toks, e->subject)) {
            res = opts_auth_export_allows(e, importer, &toks);
            break;
        }
    }
    opts_auth_toks_free(&toks);
    return res;
}

/* Whether tokens account_token_position points at is a '*' (setExportAuth). */
static bool opts_auth_tokpos_ok(const struct opts_export *e)
{
    if (e->account_token_position <= 0)
        return true;
    struct opts_auth_toks toks;
    opts_auth_toks_split(&toks, e->subject);
    bool ok = (size_t)e->account_token_position <= toks.n &&
              strcmp(toks.t[e->account_token_position - 1], "*") == 0;
    opts_auth_toks_free(&toks);
    return ok;
}

/* The second half of parseAccounts: exports, then imports, resolved against
 * all accounts. Every message is at the accounts value's position. */
/* NOLINTNEXTLINE(readability-function-size): a linear sequence of checks, kept whole */
static void opts_auth_resolve(struct opts *o, const struct conf_pos *pos, struct opts_diag *d)
{
    for (int service = 0; service < 2; service++) {
        const char *kind = service ? "service" : "stream";
        for (size_t a = 0; a < o->n_accounts; a++) {
            struct opts_account *acc = &o->accounts[a];
            for (size_t i = 0; i < acc->n_exports; i++) {
                struct opts_export *e = &acc->exports[i];
                if (e->service != (service == 1))
                    continue;
                struct strlist known = {0};
                for (size_t k = 0; k < e->accounts.n; k++) {
                    if (opts_auth_find_account(o, e->accounts.v[k])) {
                        strlist_push(&known, e->accounts.v[k]);
                        continue;
                    }
                    char *q = opts_auth_quoted(e->accounts.v[k]);
                    opts_err(d, pos, "%s account not defined for %s export", q, kind);
                    free(q);
                }
                strlist_free(&e->accounts);
                e->accounts = known;
                char *q = opts_auth_quoted(e->subject);
                if (!opts_auth_tokpos_ok(e)) {
                    opts_err(d, pos, "Error adding %s export %s: sublist: invalid subject", kind,
                             q);
                } else if (e->latency && o->no_system_account) {
                    opts_err(d, pos,
                             "Error adding service latency sampling for %s: system account not "
                             "setup",
                             q);
                } else if (e->latency) {
                    const char *err = NULL;
                    struct opts_auth_toks toks;
                    opts_auth_toks_split(&toks, e->latency_subject);
                    if (!opts_auth_subject_valid(e->latency_subject) ||
                        !opts_auth_subject_literal(e->latency_subject))
                        err = "invalid publish subject";
                    for (size_t k = 0; !err && k < acc->n_exports; k++)
                        if (acc->exports[k].service &&
                            (strcmp(acc->exports[k].subject, e->latency_subject) == 0 ||
                             opts_auth_subset_match(&toks, acc->exports[k].subject)))
                            err = "invalid publish subject"; /* would loop back */
                    if (!err && e->response_type != OPTS_RESP_SINGLETON)
                        err = "bad service response type";
                    opts_auth_toks_free(&toks);
                    if (err) {
                        char *q2 = opts_auth_quoted(e->latency_subject);
                        opts_err(d, pos,
                                 "Error adding service latency sampling for %s on subject %s: %s",
                                 q, q2, err);
                        free(q2);
                    }
                }
                free(q);
            }
        }
    }
    for (int service = 0; service < 2; service++) {
        const char *kind = service ? "service" : "stream";
        for (size_t a = 0; a < o->n_accounts; a++) {
            struct opts_account *acc = &o->accounts[a];
            for (size_t i = 0; i < acc->n_imports; i++) {
                struct opts_import *im = &acc->imports[i];
                if (im->service != (service == 1))
                    continue;
                const struct opts_account *exp = opts_auth_find_account(o, im->account);
                char *q = opts_auth_quoted(im->subject);
                const char *err = NULL;
                if (!exp) {
                    char *qa = opts_auth_quoted(im->account);
                    opts_err(d, pos, "%s account not defined for %s import", qa, kind);
                    free(qa);
                    free(q);
                    continue;
                }
                if (service) {
                    const char *from = im->to ? im->to : im->subject;
                    if (!opts_auth_subject_valid(from) || !opts_auth_subject_valid(im->subject))
                        err = "sublist: invalid subject";
                    else if (!opts_auth_import_allowed(exp, true, acc->name, im->subject))
                        err = "service import not authorized";
                } else {
                    if (!opts_auth_import_allowed(exp, false, acc->name, im->subject))
                        err = "stream import not authorized";
                    else if (im->prefix && !opts_auth_subject_literal(im->prefix))
                        err = "stream import prefix can not contain wildcard tokens";
                    for (size_t k = 0; !err && k < i; k++) {
                        const struct opts_import *o2 = &acc->imports[k];
                        if (!o2->service && strcmp(o2->account, im->account) == 0 &&
                            strcmp(o2->subject, im->subject) == 0)
                            err = "stream import already exists";
                    }
                }
                if (err)
                    opts_err(d, pos, "Error adding %s import %s: %s", kind, q, err);
                free(q);
            }
        }
    }
}

/* The map form of accounts {}. */
static void opts_auth_accounts_map(struct opts *o, const struct conf_value *v, struct opts_diag *d)
{
    for (size_t i = 0; i < v->u.map.n; i++) {
        struct conf_value tmp;
        const struct conf_kv *kv = &v->u.map.kv[i];
        const struct conf_value *mv = opts_auth_keyed(kv, &tmp);
        if (kv->used_as_var)
            continue;
        if (mv->type != CONF_MAP) {
            opts_err(d, &mv->pos, "Expected map entries for accounts");
            continue;
        }
        if (strcmp(kv->key, OPTS_AUTH_GLOBAL_ACCOUNT) == 0) {
            opts_err(d, &mv->pos, "\"%s\" is a Reserved Account", kv->key);
            continue;
        }
        struct opts_auth_acc c = {.o = o, .acc = opts_auth_new_account(o, kv->key)};
        opts_auth_walk(mv, opts_auth_account_keys, ARRAY_LEN(opts_auth_account_keys),
                       OPTS_AUTH_UNK_FIELD, &c, d);
        opts_auth_account_users(o, &c, d);
    }
}

int opts_parse_accounts(struct opts *o, const struct conf_value *v, struct opts_diag *d)
{
    size_t before = d->errors.n;
    if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const struct conf_value *n = v->u.arr.v[i];
            if (!opts_want(d, n, CONF_STRING))
                return -1; /* the panic ends parseAccounts */
            if (strcmp(n->u.s.p, OPTS_AUTH_GLOBAL_ACCOUNT) == 0) {
                opts_err(d, &n->pos, "\"%s\" is a Reserved Account", n->u.s.p);
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = v->u.arr.v[j]->type == CONF_STRING &&
                      strcmp(v->u.arr.v[j]->u.s.p, n->u.s.p) == 0;
            if (dup) {
                opts_err(d, &n->pos, "Duplicate Account Entry: %s", n->u.s.p);
                continue;
            }
            opts_auth_new_account(o, n->u.s.p);
        }
    } else if (v->type == CONF_MAP) {
        opts_auth_accounts_map(o, v, d);
    }
    /* Other types are ignored, as nats-server does. Imports and exports are
     * resolved only when nothing failed so far (in the whole file). */
    if (d->errors.n == 0)
        opts_auth_resolve(o, &v->pos, d);
    return d->errors.n > before ? -1 : 0;
}

/* ---- start-time checks, freeing --------------------------------------- */

int opts_validate_auth(const struct opts *o, char *err, size_t errsize)
{
    /* validateAuth: allowed connection types are checked while parsing. */
    if (o->no_auth_user && *o->no_auth_user) {
        bool found = false;
        if (!opts_auth_has_password_users(o)) {
            snprintf(err, errsize, "no_auth_user: \"%s\" present, but users are not defined",
                     o->no_auth_user);
            return -1;
        }
        for (size_t i = 0; i < o->n_users && !found; i++)
            found = !o->users[i].nkey && o->users[i].user &&
                    strcmp(o->users[i].user, o->no_auth_user) == 0;
        if (!found) {
            snprintf(err, errsize,
                     "no_auth_user: \"%s\" not present as user in authorization block or "
                     "account configuration",
                     o->no_auth_user);
            return -1;
        }
    }
    /* configureAccounts: a named system account must exist ($G always does). */
    if (o->system_account && *o->system_account &&
        strcmp(o->system_account, OPTS_AUTH_GLOBAL_ACCOUNT) != 0 &&
        !opts_auth_find_account(o, o->system_account)) {
        snprintf(err, errsize, "error resolving system account: account missing");
        return -1;
    }
    return 0;
}

/* isBcrypt: "$2a$", "$2b$", "$2x$" or "$2y$", two digits, "$". */
static bool opts_auth_is_bcrypt(const char *p)
{
    return p && p[0] == '$' && p[1] == '2' && strchr("abxy", p[2]) && p[2] && p[3] == '$' &&
           isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '$';
}

bool opts_has_plaintext_passwords(const struct opts *o)
{
    /* as auth.go checkAuthforWarnings: users without a password count too,
     * unless TLS certificates map to users. */
    if (o->password && !opts_auth_is_bcrypt(o->password))
        return true;
    for (size_t i = 0; i < o->n_users; i++) {
        const struct opts_user *u = &o->users[i];
        if (u->nkey || (!u->password && o->tls.verify_and_map))
            continue;
        if (!opts_auth_is_bcrypt(u->password))
            return true;
    }
    return false;
}

void opts_auth_free(struct opts *o)
{
    for (size_t i = 0; i < o->n_users; i++)
        opts_auth_user_clear(&o->users[i]);
    NFREE(o->users);
    o->n_users = 0;
    for (size_t i = 0; i < o->n_accounts; i++) {
        struct opts_account *a = &o->accounts[i];
        free(a->name);
        free(a->nkey);
        for (size_t k = 0; k < a->n_exports; k++)
            opts_auth_export_clear(&a->exports[k]);
        free(a->exports);
        for (size_t k = 0; k < a->n_imports; k++)
            opts_auth_import_clear(&a->imports[k]);
        free(a->imports);
        for (size_t k = 0; k < a->n_mappings; k++)
            opts_auth_mapping_clear(&a->mappings[k]);
        free(a->mappings);
        opts_perms_free(a->default_perms);
    }
    NFREE(o->accounts);
    o->n_accounts = 0;
    opts_perms_free(o->default_perms);
    o->default_perms = NULL;
}
