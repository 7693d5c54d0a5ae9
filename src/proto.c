/* SPDX-License-Identifier: Apache-2.0
 * INFO and CONNECT bodies, server ids. INFO is written by hand (not through
 * the JSON library) because it is sent on every accept and its key order and
 * escapes must be those of Go's encoder; CONNECT is decoded with cJSON. */
#include "proto.h"

#include <cjson/cJSON.h>
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
