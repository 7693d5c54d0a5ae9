/* SPDX-License-Identifier: Apache-2.0
 * INFO and CONNECT bodies, server ids. INFO is written by hand (not through
 * the JSON library) because it is sent on every accept and its key order and
 * escapes must be those of Go's encoder; CONNECT is decoded with cJSON. */
#include "proto.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common.h"
#include "mem.h"
#include "nkey.h"
#include "sbuf.h"

static bool proto_empty(const char *s)
{
    return !s || !s[0];
}

static void proto_key(struct sbuf *b, const char *key)
{
    if (b->p[b->len - 1] != '{')
        sbuf_addc(b, ',');
    sbuf_addc(b, '"');
    sbuf_adds(b, key);
    sbuf_adds(b, "\":");
}

static void proto_str(struct sbuf *b, const char *key, const char *v, bool omitempty)
{
    if (omitempty && proto_empty(v))
        return;
    proto_key(b, key);
    sbuf_add_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

static void proto_bool(struct sbuf *b, const char *key, bool v, bool omitempty)
{
    if (omitempty && !v)
        return;
    proto_key(b, key);
    sbuf_adds(b, v ? "true" : "false");
}

static void proto_int(struct sbuf *b, const char *key, long long v, bool omitempty)
{
    if (omitempty && v == 0)
        return;
    proto_key(b, key);
    sbuf_addf(b, "%lld", v);
}

static void proto_strs(struct sbuf *b, const char *key, const char *const *v, size_t n)
{
    if (n == 0)
        return;
    proto_key(b, key);
    sbuf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_addc(b, ',');
        sbuf_add_json_str(b, v[i], strlen(v[i]));
    }
    sbuf_addc(b, ']');
}

/* A SubjectPermission: allow and deny, each omitted when empty. */
static void proto_perm(struct sbuf *b, const char *key, const struct proto_perm *p)
{
    if (!p)
        return;
    proto_key(b, key);
    sbuf_addc(b, '{');
    proto_strs(b, "allow", (const char *const *)p->allow, p->n_allow);
    proto_strs(b, "deny", (const char *const *)p->deny, p->n_deny);
    sbuf_addc(b, '}');
}

void proto_base64(const unsigned char *p, size_t n, struct sbuf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
        sbuf_add(out, q, 4);
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        /* NOLINTNEXTLINE(bugprone-narrowing-conversions): a base64 digit or '=' */
        char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=', '='};
        sbuf_add(out, q, 4);
    }
}

void proto_info_line(const struct proto_info *in, struct sbuf *out)
{
    /* The order is that of nats-server's Info struct; omitempty as there. */
    sbuf_adds(out, "INFO {");
    proto_str(out, "server_id", in->server_id, false);
    proto_str(out, "server_name", in->server_name, false);
    proto_str(out, "version", in->version, false);
    proto_int(out, "proto", in->proto, false);
    proto_str(out, "go", in->go, false);
    proto_str(out, "host", in->host, false);
    proto_int(out, "port", in->port, false);
    proto_bool(out, "headers", in->headers, false);
    proto_bool(out, "auth_required", in->auth_required, true);
    proto_bool(out, "tls_required", in->tls_required, true);
    proto_bool(out, "tls_verify", in->tls_verify, true);
    proto_bool(out, "tls_available", in->tls_available, true);
    proto_int(out, "max_payload", in->max_payload, false);
    proto_str(out, "ip", in->ip, true);
    if (in->client_id) {
        proto_key(out, "client_id");
        sbuf_addf(out, "%llu", (unsigned long long)in->client_id);
    }
    proto_str(out, "client_ip", in->client_ip, true);
    proto_str(out, "nonce", in->nonce, true);
    proto_str(out, "cluster", in->cluster, true);
    proto_bool(out, "cluster_dynamic", in->cluster_dynamic, true);
    proto_strs(out, "connect_urls", in->connect_urls, in->n_connect_urls);
    proto_bool(out, "ldm", in->ldm, true);
    proto_perm(out, "import", in->perm_import);
    proto_perm(out, "export", in->perm_export);
    proto_bool(out, "lnoc", in->lnoc, true);
    proto_bool(out, "info_on_connect", in->info_on_connect, true);
    proto_bool(out, "connect_info", in->connect_info, true);
    proto_str(out, "gateway", in->gateway, true);
    proto_strs(out, "gateway_urls", in->gateway_urls, in->n_gateway_urls);
    proto_str(out, "gateway_url", in->gateway_url, true);
    proto_int(out, "gateway_cmd", in->gateway_cmd, true);
    if (in->gateway_cmd_payload_len) {
        proto_key(out, "gateway_cmd_payload");
        sbuf_addc(out, '"');
        proto_base64(in->gateway_cmd_payload, in->gateway_cmd_payload_len, out);
        sbuf_addc(out, '"');
    }
    proto_bool(out, "gateway_nrp", in->gateway_nrp, true);
    proto_bool(out, "gateway_iom", in->gateway_iom, true);
    sbuf_adds(out, in->no_space ? "}\r\n" : "} \r\n");
}

void proto_connect_defaults(struct proto_connect *co)
{
    *co = (struct proto_connect){.echo = true, .verbose = true, .pedantic = true};
}

enum proto_ftype {
    PROTO_F_BOOL = 0,
    PROTO_F_STR,
    PROTO_F_INT,
};

struct proto_field {
    const char *name;
    enum proto_ftype type;
    size_t off;
};

#define PF(name, type, field)                                                                      \
    {                                                                                              \
        name, type, offsetof(struct proto_connect, field)                                          \
    }

static const struct proto_field proto_connect_fields[] = {
    PF("echo", PROTO_F_BOOL, echo),
    PF("verbose", PROTO_F_BOOL, verbose),
    PF("pedantic", PROTO_F_BOOL, pedantic),
    PF("tls_required", PROTO_F_BOOL, tls_required),
    PF("nkey", PROTO_F_STR, nkey),
    PF("jwt", PROTO_F_STR, jwt),
    PF("sig", PROTO_F_STR, sig),
    PF("auth_token", PROTO_F_STR, auth_token),
    PF("user", PROTO_F_STR, user),
    PF("pass", PROTO_F_STR, pass),
    PF("name", PROTO_F_STR, name),
    PF("lang", PROTO_F_STR, lang),
    PF("version", PROTO_F_STR, version),
    PF("protocol", PROTO_F_INT, protocol),
    PF("account", PROTO_F_STR, account),
    PF("new_account", PROTO_F_BOOL, new_account),
    PF("headers", PROTO_F_BOOL, headers),
    PF("no_responders", PROTO_F_BOOL, no_responders),
};

/* Go matches a key exactly first, then without case. */
static const struct proto_field *proto_connect_field(const char *key)
{
    const struct proto_field *fold = NULL;
    for (size_t i = 0; i < ARRAY_LEN(proto_connect_fields); i++) {
        if (strcmp(proto_connect_fields[i].name, key) == 0)
            return &proto_connect_fields[i];
        if (!fold && strcasecmp(proto_connect_fields[i].name, key) == 0)
            fold = &proto_connect_fields[i];
    }
    return fold;
}

static bool proto_type_ok(const cJSON *v, enum proto_ftype t)
{
    if (cJSON_IsNull(v))
        return true;
    switch (t) {
    case PROTO_F_BOOL:
        return cJSON_IsBool(v);
    case PROTO_F_STR:
        return cJSON_IsString(v);
    case PROTO_F_INT:
        /* an int field takes only integral numbers in range */
        /* range first: converting an out-of-range double is undefined */
        return cJSON_IsNumber(v) && v->valuedouble >= -2147483648.0 &&
               v->valuedouble <= 2147483647.0 && v->valuedouble == (double)(int)v->valuedouble;
    }
    return false;
}

/* JSON allows no raw control characters inside strings, and only space, tab,
 * CR and LF between tokens; cJSON lets the others pass (it skips every byte
 * up to 0x20 as white space), Go's decoder (and so nats-server) rejects the
 * body. */
static bool proto_json_bytes_ok(const char *p, size_t n)
{
    bool in = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!in) {
            if (ch < 0x20 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
                return false;
            in = ch == '"';
            continue;
        }
        if (ch < 0x20)
            return false;
        if (esc)
            esc = false;
        else if (ch == '\\')
            esc = true;
        else if (ch == '"')
            in = false;
    }
    return true;
}

int proto_connect_parse(const char *json, size_t len, struct proto_connect *co)
{
    if (!proto_json_bytes_ok(json, len))
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!root)
        return -1;
    /* only white space may follow the value (Go: "invalid character after
     * top-level value"); cJSON stops at the end of the first value */
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return -1;
        }
    }
    int rc = -1;
    if (cJSON_IsNull(root)) {
        rc = 0; /* Go: null onto a struct changes nothing */
        goto out;
    }
    if (!cJSON_IsObject(root))
        goto out;
    /* Check every type first, so that an error leaves co as it was. */
    for (const cJSON *v = root->child; v; v = v->next) {
        const struct proto_field *f = proto_connect_field(v->string);
        if (f && !proto_type_ok(v, f->type))
            goto out;
    }
    for (const cJSON *v = root->child; v; v = v->next) {
        const struct proto_field *f = proto_connect_field(v->string);
        if (!f || cJSON_IsNull(v))
            continue;
        char *base = (char *)co + f->off;
        switch (f->type) {
        case PROTO_F_BOOL:
            *(bool *)base = cJSON_IsTrue(v);
            break;
        case PROTO_F_STR:
            free(*(char **)base);
            *(char **)base = xstrdup(v->valuestring);
            break;
        case PROTO_F_INT:
            *(int *)base = (int)v->valuedouble;
            break;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

void proto_connect_free(struct proto_connect *co)
{
    for (size_t i = 0; i < ARRAY_LEN(proto_connect_fields); i++)
        if (proto_connect_fields[i].type == PROTO_F_STR)
            NFREE(*(char **)((char *)co + proto_connect_fields[i].off));
}

void proto_server_id(char out[57])
{
    unsigned char key[32];
    size_t got = 0;
    while (got < sizeof(key)) {
        ssize_t r = getrandom(key + got, sizeof(key) - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    nkey_encode(NKEY_PREFIX_SERVER, key, out);
}

static int proto_b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int proto_base64_decode(const char *p, size_t n, struct sbuf *out)
{
    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            if (p[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad)
                return -1; /* data after padding */
            v[k] = proto_b64_val(p[i + k]);
            if (v[k] < 0)
                return -1;
        }
        unsigned bits =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        sbuf_addc(out, (char)(bits >> 16));
        if (pad < 2)
            sbuf_addc(out, (char)(bits >> 8 & 0xff));
        if (pad < 1)
            sbuf_addc(out, (char)(bits & 0xff));
    }
    return 0;
}

/* --- peer INFO and CONNECT (routes and gateways) */

enum proto_ptype {
    PROTO_P_BOOL = 0,
    PROTO_P_STR,
    PROTO_P_INT, /* Go int */
    PROTO_P_I32,
    PROTO_P_U8,
    PROTO_P_U64,
    PROTO_P_STRS,  /* []string */
    PROTO_P_BYTES, /* []byte: base64 in JSON */
    PROTO_P_PERM,  /* *SubjectPermission */
};

/* A field that is type-checked but not kept. */
#define PROTO_NOFF SIZE_MAX

struct proto_pfield {
    const char *name;
    enum proto_ptype type;
    size_t off;  /* PROTO_NOFF: checked only */
    size_t noff; /* STRS and BYTES: the count */
    size_t hoff; /* the has_ flag, or PROTO_NOFF */
};

/* The Go struct being decoded, for error texts. */
struct proto_dec {
    const char *sname;
    char *err;
    size_t errsize;
};

#define PI(name, type, field)                                                                      \
    {                                                                                              \
        name, type, offsetof(struct proto_peer_info, field), PROTO_NOFF, PROTO_NOFF                \
    }
#define PIH(name, type, field, has)                                                                \
    {                                                                                              \
        name, type, offsetof(struct proto_peer_info, field), PROTO_NOFF,                           \
            offsetof(struct proto_peer_info, has)                                                  \
    }
#define PIN(name, type, field, n, has)                                                             \
    {                                                                                              \
        name, type, offsetof(struct proto_peer_info, field), offsetof(struct proto_peer_info, n),  \
            offsetof(struct proto_peer_info, has)                                                  \
    }
#define PSKIP(name, type)                                                                          \
    {                                                                                              \
        name, type, PROTO_NOFF, PROTO_NOFF, PROTO_NOFF                                             \
    }
#define PC(name, type, field)                                                                      \
    {                                                                                              \
        name, type, offsetof(struct proto_peer_connect, field), PROTO_NOFF, PROTO_NOFF             \
    }

/* nats-server's Info, in its order. */
static const struct proto_pfield proto_info_fields[] = {
    PIH("server_id", PROTO_P_STR, server_id, has_server_id),
    PI("server_name", PROTO_P_STR, server_name),
    PI("version", PROTO_P_STR, version),
    PI("proto", PROTO_P_INT, proto),
    PSKIP("git_commit", PROTO_P_STR),
    PI("go", PROTO_P_STR, go),
    PI("host", PROTO_P_STR, host),
    PI("port", PROTO_P_INT, port),
    PI("headers", PROTO_P_BOOL, headers),
    PI("auth_required", PROTO_P_BOOL, auth_required),
    PI("tls_required", PROTO_P_BOOL, tls_required),
    PI("tls_verify", PROTO_P_BOOL, tls_verify),
    PI("tls_available", PROTO_P_BOOL, tls_available),
    PI("max_payload", PROTO_P_I32, max_payload),
    PSKIP("jetstream", PROTO_P_BOOL),
    PIH("ip", PROTO_P_STR, ip, has_ip),
    PSKIP("client_id", PROTO_P_U64),
    PSKIP("client_ip", PROTO_P_STR),
    PI("nonce", PROTO_P_STR, nonce),
    PI("cluster", PROTO_P_STR, cluster),
    PI("cluster_dynamic", PROTO_P_BOOL, cluster_dynamic),
    PSKIP("domain", PROTO_P_STR),
    PIN("connect_urls", PROTO_P_STRS, connect_urls, n_connect_urls, has_connect_urls),
    PSKIP("ws_connect_urls", PROTO_P_STRS),
    PI("ldm", PROTO_P_BOOL, ldm),
    PI("import", PROTO_P_PERM, perm_import),
    PI("export", PROTO_P_PERM, perm_export),
    PI("lnoc", PROTO_P_BOOL, lnoc),
    PI("info_on_connect", PROTO_P_BOOL, info_on_connect),
    PI("connect_info", PROTO_P_BOOL, connect_info),
    PIH("gateway", PROTO_P_STR, gateway, has_gateway),
    PIN("gateway_urls", PROTO_P_STRS, gateway_urls, n_gateway_urls, has_gateway_urls),
    PIH("gateway_url", PROTO_P_STR, gateway_url, has_gateway_url),
    PI("gateway_cmd", PROTO_P_U8, gateway_cmd),
    PIN("gateway_cmd_payload", PROTO_P_BYTES, gateway_cmd_payload, gateway_cmd_payload_len,
        has_gateway_cmd_payload),
    PI("gateway_nrp", PROTO_P_BOOL, gateway_nrp),
    PI("gateway_iom", PROTO_P_BOOL, gateway_iom),
    PSKIP("leafnode_urls", PROTO_P_STRS),
    PSKIP("remote_account", PROTO_P_STR),
};

/* nats-server's ClientOpts, the first decode of any CONNECT. */
static const struct proto_pfield proto_copts_fields[] = {
    PC("echo", PROTO_P_BOOL, echo),
    PC("verbose", PROTO_P_BOOL, verbose),
    PC("pedantic", PROTO_P_BOOL, pedantic),
    PC("tls_required", PROTO_P_BOOL, tls_required),
    PSKIP("nkey", PROTO_P_STR),
    PSKIP("jwt", PROTO_P_STR),
    PSKIP("sig", PROTO_P_STR),
    PSKIP("auth_token", PROTO_P_STR),
    PC("user", PROTO_P_STR, user),
    PC("pass", PROTO_P_STR, pass),
    PC("name", PROTO_P_STR, name),
    PC("lang", PROTO_P_STR, lang),
    PSKIP("version", PROTO_P_STR),
    PC("protocol", PROTO_P_INT, protocol),
    {"account", PROTO_P_STR, offsetof(struct proto_peer_connect, account), PROTO_NOFF,
     offsetof(struct proto_peer_connect, has_account)},
    PC("new_account", PROTO_P_BOOL, new_account),
    PC("headers", PROTO_P_BOOL, headers),
    PSKIP("no_responders", PROTO_P_BOOL),
    PSKIP("import", PROTO_P_PERM),
    PSKIP("export", PROTO_P_PERM),
};

/* nats-server's connectInfo, the second decode of a route or gateway
 * CONNECT. */
static const struct proto_pfield proto_cinfo_fields[] = {
    PC("echo", PROTO_P_BOOL, echo),         PC("verbose", PROTO_P_BOOL, verbose),
    PC("pedantic", PROTO_P_BOOL, pedantic), PC("user", PROTO_P_STR, user),
    PC("pass", PROTO_P_STR, pass),          PC("tls_required", PROTO_P_BOOL, tls_required),
    PC("headers", PROTO_P_BOOL, headers),   PC("name", PROTO_P_STR, name),
    PC("cluster", PROTO_P_STR, cluster),    PC("cluster_dynamic", PROTO_P_BOOL, cluster_dynamic),
    PC("lnoc", PROTO_P_BOOL, lnoc),         PC("gateway", PROTO_P_STR, gateway),
};

static const char *proto_ptype_name(enum proto_ptype t)
{
    switch (t) {
    case PROTO_P_BOOL:
        return "bool";
    case PROTO_P_STR:
        return "string";
    case PROTO_P_INT:
        return "int";
    case PROTO_P_I32:
        return "int32";
    case PROTO_P_U8:
        return "uint8";
    case PROTO_P_U64:
        return "uint64";
    case PROTO_P_STRS:
        return "[]string";
    case PROTO_P_BYTES:
        return "[]uint8";
    case PROTO_P_PERM:
        return "server.SubjectPermission";
    }
    return "?";
}

/* The JSON kind of v as Go's errors name it. */
static const char *proto_json_kind(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsBool(v))
        return "bool";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

/* The shortest text that reads back as x (Go names the literal itself). */
static void proto_num_str(double x, char *buf, size_t size)
{
    /* range first: converting a double out of long long's range is undefined */
    if (x > -1e18 && x < 1e18 && x == (double)(long long)x) {
        snprintf(buf, size, "%lld", (long long)x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* "json: cannot unmarshal <kind> into Go struct field <S>.<path> of type <T>";
 * a number that does not fit an integer type is named with its value. */
static int proto_type_err(struct proto_dec *d, const cJSON *v, const char *path, const char *tname,
                          bool with_value)
{
    if (cJSON_IsNumber(v) && with_value) {
        char num[40];
        proto_num_str(v->valuedouble, num, sizeof(num));
        snprintf(d->err, d->errsize,
                 "json: cannot unmarshal number %s into Go struct field %s.%s of type %s", num,
                 d->sname, path, tname);
    } else {
        snprintf(d->err, d->errsize,
                 "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                 proto_json_kind(v), d->sname, path, tname);
    }
    return -1;
}

static const struct proto_pfield *proto_pfield_find(const struct proto_pfield *t, size_t n,
                                                    const char *key)
{
    const struct proto_pfield *fold = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(t[i].name, key) == 0)
            return &t[i];
        if (!fold && strcasecmp(t[i].name, key) == 0)
            fold = &t[i];
    }
    return fold;
}

static void proto_strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **proto_strs_dup(char *const *v, size_t n)
{
    if (!v)
        return NULL;
    char **out = xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

struct proto_perm *proto_perm_dup(const struct proto_perm *p)
{
    if (!p)
        return NULL;
    struct proto_perm *d = xcalloc(1, sizeof(*d));
    d->allow = proto_strs_dup(p->allow, p->n_allow);
    d->n_allow = p->n_allow;
    d->deny = proto_strs_dup(p->deny, p->n_deny);
    d->n_deny = p->n_deny;
    return d;
}

void proto_perm_free(struct proto_perm *p)
{
    if (!p)
        return;
    proto_strs_free(p->allow, p->n_allow);
    proto_strs_free(p->deny, p->n_deny);
    free(p);
}

/* A []string: an array of strings (a null element is ""). The new array
 * replaces *dst when dst is not NULL. */
static int proto_dec_strs(struct proto_dec *d, const cJSON *v, const char *path, char ***dst,
                          size_t *ndst)
{
    if (!cJSON_IsArray(v))
        return proto_type_err(d, v, path, "[]string", false);
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) && !cJSON_IsNull(e))
            return proto_type_err(d, e, path, "string", false);
    }
    if (!dst)
        return 0;
    size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
    char **out = n ? xcalloc(n, sizeof(*out)) : NULL;
    cJSON_ArrayForEach(e, v)
    {
        /* n is the array's size: no element when 0 */
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
        out[k++] = xstrdup(cJSON_IsString(e) ? e->valuestring : "");
    }
    proto_strs_free(*dst, *ndst);
    *dst = out;
    *ndst = k;
    return 0;
}

/* A SubjectPermission object: allow and deny lists. A repeated key decodes
 * into the same record, as Go reuses a non-nil pointer. */
static int proto_dec_perm(struct proto_dec *d, const cJSON *v, const char *key,
                          struct proto_perm **dst)
{
    if (!cJSON_IsObject(v))
        return proto_type_err(d, v, key, "server.SubjectPermission", false);
    struct proto_dec sub = {"SubjectPermission", d->err, d->errsize};
    struct proto_perm tmp = {0};
    struct proto_perm *p = dst ? *dst : NULL;
    if (!p)
        p = dst ? xcalloc(1, sizeof(*p)) : &tmp;
    int rc = 0;
    for (const cJSON *m = v->child; m && rc == 0; m = m->next) {
        bool allow = strcasecmp(m->string, "allow") == 0;
        if (!allow && strcasecmp(m->string, "deny") != 0)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "%s.%s", key, allow ? "allow" : "deny");
        if (cJSON_IsNull(m)) {
            char ***l = allow ? &p->allow : &p->deny;
            size_t *n = allow ? &p->n_allow : &p->n_deny;
            proto_strs_free(*l, *n);
            *l = NULL;
            *n = 0;
            continue;
        }
        rc = allow ? proto_dec_strs(&sub, m, path, &p->allow, &p->n_allow)
                   : proto_dec_strs(&sub, m, path, &p->deny, &p->n_deny);
    }
    if (p == &tmp) {
        proto_strs_free(tmp.allow, tmp.n_allow);
        proto_strs_free(tmp.deny, tmp.n_deny);
    } else if (dst) {
        *dst = p;
    }
    return rc;
}

/* Go's base64.StdEncoding.Decode: padding required, CR and LF skipped, the
 * error position as Go reports it. Returns -1 with *bad set on error. */
static int proto_b64_go(const char *src, size_t n, struct sbuf *out, size_t *bad)
{
    size_t si = 0;
    while (si < n) {
        int dbuf[4] = {0, 0, 0, 0};
        size_t dlen = 4;
        for (size_t j = 0; j < 4; j++) {
            if (si == n) {
                if (j == 0)
                    return 0;
                *bad = si - j;
                return -1;
            }
            char in = src[si++];
            int val = proto_b64_val(in);
            if (val >= 0) {
                dbuf[j] = val;
                continue;
            }
            if (in == '\n' || in == '\r') {
                j--;
                continue;
            }
            if (in != '=' || j < 2) {
                *bad = si - 1;
                return -1;
            }
            if (j == 2) {
                while (si < n && (src[si] == '\n' || src[si] == '\r'))
                    si++;
                if (si == n) {
                    *bad = n;
                    return -1;
                }
                if (src[si] != '=') {
                    *bad = si - 1;
                    return -1;
                }
                si++;
            }
            while (si < n && (src[si] == '\n' || src[si] == '\r'))
                si++;
            if (si < n) {
                *bad = si;
                return -1;
            }
            dlen = j;
            break;
        }
        unsigned v = (unsigned)dbuf[0] << 18 | (unsigned)dbuf[1] << 12 | (unsigned)dbuf[2] << 6 |
                     (unsigned)dbuf[3];
        char b[3] = {(char)(v >> 16), (char)(v >> 8 & 0xff), (char)(v & 0xff)};
        sbuf_add(out, b, dlen - 1);
        if (dlen < 4)
            return 0;
    }
    return 0;
}

/* An integral JSON number within [lo, hi]. Go also refuses an integral value
 * written with a fraction or an exponent (1.0, 1e3) for an integer field;
 * the JSON library keeps no literal, so natsd takes those. */
static bool proto_num_in(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

static int proto_dec_field(struct proto_dec *d, const struct proto_pfield *f, const cJSON *v,
                           void *base)
{
    bool keep = f->off != PROTO_NOFF;
    char *at = keep ? (char *)base + f->off : NULL;
    switch (f->type) {
    case PROTO_P_BOOL:
        if (!cJSON_IsBool(v))
            return proto_type_err(d, v, f->name, "bool", false);
        if (keep)
            *(bool *)at = cJSON_IsTrue(v);
        return 0;
    case PROTO_P_STR:
        if (!cJSON_IsString(v))
            return proto_type_err(d, v, f->name, "string", false);
        if (keep) {
            free(*(char **)at);
            *(char **)at = xstrdup(v->valuestring);
        }
        return 0;
    case PROTO_P_INT:
    case PROTO_P_I32:
    case PROTO_P_U8:
    case PROTO_P_U64: {
        static const double lo[] = {[PROTO_P_INT] = -9223372036854775808.0,
                                    [PROTO_P_I32] = -2147483648.0,
                                    [PROTO_P_U8] = 0,
                                    [PROTO_P_U64] = 0};
        static const double hi[] = {[PROTO_P_INT] = 9223372036854774784.0,
                                    [PROTO_P_I32] = 2147483647.0,
                                    [PROTO_P_U8] = 255,
                                    [PROTO_P_U64] = 18446744073709549568.0};
        if (!cJSON_IsNumber(v))
            return proto_type_err(d, v, f->name, proto_ptype_name(f->type), false);
        if (f->type == PROTO_P_U64 ? !(v->valuedouble >= 0 && v->valuedouble <= hi[f->type] &&
                                       v->valuedouble == (double)(unsigned long long)v->valuedouble)
                                   : !proto_num_in(v, lo[f->type], hi[f->type]))
            return proto_type_err(d, v, f->name, proto_ptype_name(f->type), true);
        if (!keep)
            return 0;
        if (f->type == PROTO_P_INT) {
            double x = v->valuedouble;
            *(int *)at = x > INT_MAX ? INT_MAX : x < INT_MIN ? INT_MIN : (int)x;
        } else if (f->type == PROTO_P_I32) {
            *(int32_t *)at = (int32_t)v->valuedouble;
        } else if (f->type == PROTO_P_U8) {
            *(uint8_t *)at = (uint8_t)v->valuedouble;
        }
        return 0;
    }
    case PROTO_P_STRS:
        return proto_dec_strs(d, v, f->name, keep ? (char ***)at : NULL,
                              keep ? (size_t *)((char *)base + f->noff) : NULL);
    case PROTO_P_BYTES: {
        if (!cJSON_IsString(v))
            return proto_type_err(d, v, f->name, "[]uint8", false);
        struct sbuf raw = {0};
        size_t bad = 0;
        if (proto_b64_go(v->valuestring, strlen(v->valuestring), &raw, &bad) != 0) {
            sbuf_free(&raw);
            snprintf(d->err, d->errsize, "illegal base64 data at input byte %zu", bad);
            return -1;
        }
        if (keep) {
            unsigned char **p = (unsigned char **)at;
            size_t *n = (size_t *)((char *)base + f->noff);
            free(*p);
            *p = xmalloc(raw.len + 1);
            if (raw.len)
                memcpy(*p, raw.p, raw.len);
            (*p)[raw.len] = '\0';
            *n = raw.len;
        }
        sbuf_free(&raw);
        return 0;
    }
    case PROTO_P_PERM:
        return proto_dec_perm(d, v, f->name, keep ? (struct proto_perm **)at : NULL);
    }
    return 0;
}

/* null resets what Go resets (slices and pointers) and leaves the rest. */
static void proto_dec_null(const struct proto_pfield *f, void *base)
{
    if (f->off == PROTO_NOFF)
        return;
    char *at = (char *)base + f->off;
    if (f->type == PROTO_P_STRS) {
        size_t *n = (size_t *)((char *)base + f->noff);
        proto_strs_free(*(char ***)at, *n);
        *(char ***)at = NULL;
        *n = 0;
    } else if (f->type == PROTO_P_BYTES) {
        NFREE(*(unsigned char **)at);
        *(size_t *)((char *)base + f->noff) = 0;
    } else if (f->type == PROTO_P_PERM) {
        proto_perm_free(*(struct proto_perm **)at);
        *(struct proto_perm **)at = NULL;
    }
}

/* Decode the members of object root onto base through table t. */
static int proto_dec_object(struct proto_dec *d, const cJSON *root, const struct proto_pfield *t,
                            size_t n, void *base)
{
    for (const cJSON *v = root->child; v; v = v->next) {
        const struct proto_pfield *f = proto_pfield_find(t, n, v->string);
        if (!f)
            continue;
        if (cJSON_IsNull(v)) {
            proto_dec_null(f, base);
            continue;
        }
        if (proto_dec_field(d, f, v, base) != 0)
            return -1;
        if (f->hoff != PROTO_NOFF)
            *(bool *)((char *)base + f->hoff) = true;
    }
    return 0;
}

/* Strings never stay NULL after a successful decode. */
static void proto_dec_fill_strs(const struct proto_pfield *t, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].type != PROTO_P_STR || t[i].off == PROTO_NOFF)
            continue;
        char **p = (char **)((char *)base + t[i].off);
        if (!*p)
            *p = xstrdup("");
    }
}

static void proto_dec_free(const struct proto_pfield *t, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].off == PROTO_NOFF)
            continue;
        if (t[i].type == PROTO_P_STR)
            NFREE(*(char **)((char *)base + t[i].off));
        else
            proto_dec_null(&t[i], base);
    }
}

/* Whether text ends inside a string, an object or an array (or holds only
 * white space): Go's "unexpected end of JSON input". */
static bool proto_json_truncated(const char *p, size_t n)
{
    int depth = 0;
    bool in = false, esc = false, any = false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (in) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in = false;
            continue;
        }
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
            any = true;
        if (ch == '"')
            in = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
    }
    return !any || in || depth > 0;
}

/* Parse a JSON body as Go does: strict bytes, one value, only white space
 * after it. Returns the root, or NULL with a text in err. */
static cJSON *proto_json_root(const char *json, size_t len, char *err, size_t errsize)
{
    if (!proto_json_bytes_ok(json, len)) {
        snprintf(err, errsize, "invalid character in JSON input");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (!root) {
        if (!end || end >= json + len || proto_json_truncated(json, len))
            snprintf(err, errsize, "unexpected end of JSON input");
        else
            snprintf(err, errsize, "invalid character '%c' in JSON input", *end);
        return NULL;
    }
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            snprintf(err, errsize, "invalid character '%c' after top-level value", *p);
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

int proto_peer_info_parse(const char *json, size_t len, struct proto_peer_info *pi, char *err,
                          size_t errsize)
{
    memset(pi, 0, sizeof(*pi));
    cJSON *root = proto_json_root(json, len, err, errsize);
    if (!root)
        return -1;
    struct proto_dec d = {"Info", err, errsize};
    int rc = 0;
    if (cJSON_IsObject(root)) {
        rc = proto_dec_object(&d, root, proto_info_fields, ARRAY_LEN(proto_info_fields), pi);
    } else if (!cJSON_IsNull(root)) {
        snprintf(err, errsize, "json: cannot unmarshal %s into Go value of type server.Info",
                 proto_json_kind(root));
        rc = -1;
    }
    cJSON_Delete(root);
    if (rc != 0) {
        proto_peer_info_free(pi);
        return -1;
    }
    proto_dec_fill_strs(proto_info_fields, ARRAY_LEN(proto_info_fields), pi);
    return 0;
}

void proto_peer_info_free(struct proto_peer_info *pi)
{
    proto_dec_free(proto_info_fields, ARRAY_LEN(proto_info_fields), pi);
    memset(pi, 0, sizeof(*pi));
}

void proto_peer_info_line(const struct proto_peer_info *pi, struct sbuf *out)
{
    struct proto_info in = {
        .server_id = pi->server_id,
        .server_name = pi->server_name,
        .version = pi->version,
        .proto = pi->proto,
        .go = pi->go,
        .host = pi->host,
        .port = pi->port,
        .headers = pi->headers,
        .auth_required = pi->auth_required,
        .tls_required = pi->tls_required,
        .tls_verify = pi->tls_verify,
        .tls_available = pi->tls_available,
        .max_payload = pi->max_payload,
        .ip = pi->ip,
        .nonce = pi->nonce,
        .cluster = pi->cluster,
        .cluster_dynamic = pi->cluster_dynamic,
        .connect_urls = (const char *const *)pi->connect_urls,
        .n_connect_urls = pi->n_connect_urls,
        .ldm = pi->ldm,
        .perm_import = pi->perm_import,
        .perm_export = pi->perm_export,
        .lnoc = pi->lnoc,
        .info_on_connect = pi->info_on_connect,
        .connect_info = pi->connect_info,
        .gateway = pi->gateway,
        .gateway_urls = (const char *const *)pi->gateway_urls,
        .n_gateway_urls = pi->n_gateway_urls,
        .gateway_url = pi->gateway_url,
        .gateway_cmd = pi->gateway_cmd,
        .gateway_cmd_payload = pi->gateway_cmd_payload,
        .gateway_cmd_payload_len = pi->gateway_cmd_payload_len,
        .gateway_nrp = pi->gateway_nrp,
        .gateway_iom = pi->gateway_iom,
        .no_space = true,
    };
    proto_info_line(&in, out);
}

int proto_peer_connect_parse(const char *json, size_t len, struct proto_peer_connect *pc, char *err,
                             size_t errsize)
{
    memset(pc, 0, sizeof(*pc));
    cJSON *root = proto_json_root(json, len, err, errsize);
    if (!root)
        return -1;
    int rc = 0;
    if (cJSON_IsObject(root)) {
        struct proto_dec d = {"ClientOpts", err, errsize};
        rc = proto_dec_object(&d, root, proto_copts_fields, ARRAY_LEN(proto_copts_fields), pc);
        d.sname = "connectInfo";
        if (rc == 0 &&
            proto_dec_object(&d, root, proto_cinfo_fields, ARRAY_LEN(proto_cinfo_fields), pc) != 0)
            rc = -2;
    } else if (!cJSON_IsNull(root)) {
        snprintf(err, errsize, "json: cannot unmarshal %s into Go value of type server.ClientOpts",
                 proto_json_kind(root));
        rc = -1;
    }
    cJSON_Delete(root);
    if (rc == -1) {
        proto_peer_connect_free(pc);
        return -1;
    }
    proto_dec_fill_strs(proto_copts_fields, ARRAY_LEN(proto_copts_fields), pc);
    proto_dec_fill_strs(proto_cinfo_fields, ARRAY_LEN(proto_cinfo_fields), pc);
    return rc;
}

void proto_peer_connect_free(struct proto_peer_connect *pc)
{
    proto_dec_free(proto_copts_fields, ARRAY_LEN(proto_copts_fields), pc);
    proto_dec_free(proto_cinfo_fields, ARRAY_LEN(proto_cinfo_fields), pc);
    memset(pc, 0, sizeof(*pc));
}
