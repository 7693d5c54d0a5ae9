/* SPDX-License-Identifier: Apache-2.0
 * Protocol texts and JSON bodies shared by every connection kind: the INFO line
 * (built in nats-server's key order, with its omitempty rules), the CONNECT
 * body (decoded as Go's encoding/json decodes it onto the current options), the
 * -ERR texts, and server ids. The only module besides monitoring that sees the
 * JSON library. */
#ifndef NATSD_PROTO_H
#define NATSD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf;

/* One direction of route permissions as an INFO carries it ("import" or
 * "export", nats-server's SubjectPermission): allow and deny subjects.
 * Encoding borrows the strings; a decoded one owns them. */
struct proto_perm {
    char **allow;
    size_t n_allow;
    char **deny;
    size_t n_deny;
};

/* -ERR texts, byte for byte those of nats-server 2.9.10. */
#define PROTO_ERR_UNKNOWN_OP          "Unknown Protocol Operation"
#define PROTO_ERR_MAX_CONTROL_LINE    "maximum control line exceeded"
#define PROTO_ERR_MAX_PAYLOAD         "Maximum Payload Violation"
#define PROTO_ERR_AUTH_VIOLATION      "Authorization Violation"
#define PROTO_ERR_AUTH_TIMEOUT        "Authentication Timeout"
#define PROTO_ERR_BAD_CLIENT_PROTOCOL "invalid client protocol"
#define PROTO_ERR_NO_RESPONDERS_HDRS  "no responders requires headers support"
#define PROTO_ERR_MAX_CONNECTIONS     "maximum connections exceeded"
#define PROTO_ERR_STALE_CONNECTION    "Stale Connection"
#define PROTO_ERR_TLS_REQUIRED        "Secure Connection - TLS Required"
#define PROTO_ERR_INVALID_PUB_SUBJECT "Invalid Publish Subject"
#define PROTO_ERR_INVALID_SUBJECT     "Invalid Subject"
#define PROTO_ERR_MAX_SUBSCRIPTIONS   "maximum subscriptions exceeded"
#define PROTO_ERR_ROUTE_PORT          "attempted to connect to route port"

/* The fields of an INFO line. Strings are borrowed; NULL or "" counts as empty
 * for omitempty keys. Route and gateway fields stay zero for clients. */
struct proto_info {
    const char *server_id;
    const char *server_name;
    const char *version;
    int proto;
    const char *go;
    const char *host;
    int port;
    bool headers;
    bool auth_required;
    bool tls_required;
    bool tls_verify;
    bool tls_available;
    int32_t max_payload;
    const char *ip;
    uint64_t client_id;
    const char *client_ip;
    const char *nonce;
    const char *cluster;
    bool cluster_dynamic;
    const char *const *connect_urls;
    size_t n_connect_urls;
    bool ldm;
    /* routes */
    const struct proto_perm *perm_import; /* NULL: no "import" key */
    const struct proto_perm *perm_export; /* NULL: no "export" key */
    bool lnoc;
    bool info_on_connect;
    bool connect_info;
    /* gateways */
    const char *gateway;
    const char *const *gateway_urls;
    size_t n_gateway_urls;
    const char *gateway_url;
    int gateway_cmd;
    const unsigned char *gateway_cmd_payload; /* base64-encoded in the JSON, as Go's []byte */
    size_t gateway_cmd_payload_len;
    bool gateway_nrp;
    bool gateway_iom;
    /* "INFO {...}\r\n" as routes and gateways write it (clients get a space
     * before the CRLF) */
    bool no_space;
};

/* Append "INFO <json> \r\n" (with nats-server's space before CRLF) to out. */
void proto_info_line(const struct proto_info *info, struct sbuf *out);

/* What a client sends in CONNECT. Strings are owned (NULL when absent). */
struct proto_connect {
    bool echo;
    bool verbose;
    bool pedantic;
    bool tls_required;
    char *nkey;
    char *jwt;
    char *sig;
    char *auth_token;
    char *user;
    char *pass;
    char *name;
    char *lang;
    char *version;
    int protocol;
    char *account;
    bool new_account;
    bool headers;
    bool no_responders;
};

/* The options a connection has before any CONNECT: verbose, pedantic and echo
 * on, everything else off (nats-server's defaultOpts). */
void proto_connect_defaults(struct proto_connect *co);

/* Decode a CONNECT body of len bytes onto co: keys matched without case,
 * unknown keys ignored, null leaves a field as it is, a value of the wrong
 * type is an error (as Go's json.Unmarshal into ClientOpts). On error returns
 * -1 and co is unchanged. */
int proto_connect_parse(const char *json, size_t len, struct proto_connect *co);

void proto_connect_free(struct proto_connect *co);

/* What a route or gateway peer says in its INFO, decoded as Go's
 * encoding/json decodes nats-server's Info: keys matched exactly first, then
 * without case; unknown keys ignored; null leaves a field as it is; a value of
 * the wrong type (a string for a number, 1.5 or 300 for gateway_cmd, a plain
 * string for gateway_cmd_payload, ...) is an error. After a successful decode
 * every string is owned and non-NULL ("" when absent), arrays are owned
 * (NULL with a zero count when absent), and gateway_cmd_payload holds the
 * bytes decoded from base64. The has_ flags tell a key given with a non-null
 * value from an absent one, where callers care. */
struct proto_peer_info {
    char *server_id;
    char *server_name;
    char *version;
    int proto;
    char *go;
    char *host;
    int port;
    bool headers;
    bool auth_required;
    bool tls_required;
    bool tls_verify;
    bool tls_available;
    int32_t max_payload;
    char *ip;
    char *nonce;
    char *cluster;
    bool cluster_dynamic;
    char **connect_urls;
    size_t n_connect_urls;
    bool ldm;
    /* routes */
    struct proto_perm *perm_import; /* NULL: absent or null */
    struct proto_perm *perm_export;
    bool lnoc;
    bool info_on_connect;
    bool connect_info;
    /* gateways */
    char *gateway;
    char **gateway_urls;
    size_t n_gateway_urls;
    char *gateway_url;
    uint8_t gateway_cmd;
    unsigned char *gateway_cmd_payload;
    size_t gateway_cmd_payload_len;
    bool gateway_nrp;
    bool gateway_iom;

    bool has_server_id;
    bool has_ip;
    bool has_connect_urls;
    bool has_gateway;
    bool has_gateway_urls;
    bool has_gateway_url;
    bool has_gateway_cmd_payload;
};

/* Decode an INFO body (len bytes, not necessarily NUL-terminated) into *pi.
 * Returns 0, or -1 with *pi zeroed and the error in err as nats-server logs
 * it for a type error ("json: cannot unmarshal string into Go struct field
 * Info.port of type int", "illegal base64 data at input byte 0"); syntax
 * errors get a shorter text of natsd's own. Any thread. */
int proto_peer_info_parse(const char *json, size_t len, struct proto_peer_info *pi, char *err,
                          size_t errsize);

/* Free a decoded permission record (NULL is fine). */
void proto_perm_free(struct proto_perm *p);
/* A deep copy of p (NULL for NULL). */
struct proto_perm *proto_perm_dup(const struct proto_perm *p);

/* Free what *pi owns and zero it (a zeroed struct is fine). */
void proto_peer_info_free(struct proto_peer_info *pi);

/* Append pi as nats-server re-encodes a peer's INFO to forward it to the
 * other routes ("INFO <json>\r\n", no space, nonce included only if pi
 * has one: clear it first). */
void proto_peer_info_line(const struct proto_peer_info *pi, struct sbuf *out);

/* What a route or gateway peer sends in CONNECT: nats-server decodes the body
 * twice, into the client options (ClientOpts) and the route connect record
 * (connectInfo), and a type error in either is fatal. Strings are owned and
 * non-NULL after a successful decode ("" when absent); has_account tells an
 * "account" key with a non-null value. Everything else starts false/0. */
struct proto_peer_connect {
    bool echo;
    bool verbose;
    bool pedantic;
    bool tls_required;
    bool headers;
    char *user;
    char *pass;
    char *name;
    char *lang;
    char *cluster;
    bool cluster_dynamic;
    bool lnoc;
    char *gateway;
    char *account;
    bool has_account;
    bool new_account;
    int protocol;
};

/* Decode a route or gateway CONNECT body. Returns 0; -1 for bad JSON or a
 * type error of the client options, with *pc zeroed and the error in err
 * ("json: cannot unmarshal number into Go struct field ClientOpts.user of
 * type string"); -2 for a type error of the route/gateway record only
 * (connectInfo.cluster, .cluster_dynamic, .lnoc, .gateway), with the error in
 * err and *pc holding what was decoded: nats-server checks credentials, the
 * account and the client lang before it gets there, so callers check those
 * first, then fail. Free *pc after 0 and -2. Any thread. */
int proto_peer_connect_parse(const char *json, size_t len, struct proto_peer_connect *pc, char *err,
                             size_t errsize);

/* Free what *pc owns and zero it. */
void proto_peer_connect_free(struct proto_peer_connect *pc);

/* A new server id: the public key form of an nkey for a server (56 base32
 * characters starting with 'N', with its CRC16), from 32 random bytes. */
void proto_server_id(char out[57]);

/* Standard base64 with padding, as Go marshals []byte. */
void proto_base64(const unsigned char *p, size_t n, struct sbuf *out);

/* Decode standard base64 (padding required, as Go's StdEncoding) onto out.
 * Returns 0, or -1 on invalid input (out may hold part of it then). */
int proto_base64_decode(const char *p, size_t n, struct sbuf *out);

#endif
