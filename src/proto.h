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

/* A new server id: the public key form of an nkey for a server (56 base32
 * characters starting with 'N', with its CRC16), from 32 random bytes. */
void proto_server_id(char out[57]);

/* Standard base64 with padding, as Go marshals []byte. */
void proto_base64(const unsigned char *p, size_t n, struct sbuf *out);

/* Decode standard base64 (padding required, as Go's StdEncoding) onto out.
 * Returns 0, or -1 on invalid input (out may hold part of it then). */
int proto_base64_decode(const char *p, size_t n, struct sbuf *out);

#endif
