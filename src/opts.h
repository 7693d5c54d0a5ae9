/* SPDX-License-Identifier: Apache-2.0
 * Server options: struct opts, its defaults, and the mapping from a parsed
 * configuration tree (conf.h) onto it, with nats-server's validation messages.
 * The mapping is a table of rows, one per key, in opts.c (and opts_auth.c for
 * authorization and accounts). Nothing here opens sockets or logs. */
#ifndef NATSD_OPTS_H
#define NATSD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define OPTS_DEFAULT_PORT                  4222
#define OPTS_DEFAULT_HOST                  "0.0.0.0"
#define OPTS_DEFAULT_MAX_CONTROL_LINE      4096
#define OPTS_DEFAULT_MAX_PAYLOAD           (1024 * 1024)
#define OPTS_MAX_PAYLOAD_LIMIT             INT32_MAX
#define OPTS_DEFAULT_MAX_PENDING           (64 * 1024 * 1024)
#define OPTS_DEFAULT_MAX_CONNECTIONS       (64 * 1024)
#define OPTS_DEFAULT_PING_INTERVAL_NS      (120LL * 1000000000LL)
#define OPTS_DEFAULT_PING_MAX              2
#define OPTS_DEFAULT_WRITE_DEADLINE_NS     (10LL * 1000000000LL)
#define OPTS_DEFAULT_AUTH_TIMEOUT          2.0 /* seconds */
#define OPTS_DEFAULT_TLS_TIMEOUT           2.0 /* seconds */
#define OPTS_DEFAULT_LAME_DUCK_NS          (120LL * 1000000000LL)
#define OPTS_DEFAULT_LAME_DUCK_GRACE_NS    (10LL * 1000000000LL)
#define OPTS_DEFAULT_HTTP_PORT             8222
#define OPTS_DEFAULT_CONNECT_ERR_REPORTS   3600
#define OPTS_DEFAULT_RECONNECT_ERR_REPORTS 1

/* A list of owned strings. */
struct strlist {
    char **v;
    size_t n;
};

/* A tls {} block (top level, cluster, gateway, or one remote gateway). */
struct opts_tls {
    bool set; /* the block was given */
    char *cert_file;
    char *key_file;
    char *ca_file;
    bool verify;
    bool verify_and_map;
    bool verify_cert_and_check_known_urls;
    bool insecure;
    struct strlist cipher_suites;     /* names as written, validated */
    struct strlist curve_preferences; /* names as written, validated */
    struct strlist pinned_certs;      /* lower-case hex SHA-256 of the SPKI */
    double timeout;                   /* seconds */
    int64_t connection_rate_limit;
};

/* allow/deny lists of one direction of a permission. */
struct opts_subject_perm {
    bool set;
    bool allow_set; /* allow given (possibly empty): only what it lists is allowed */
    struct strlist allow;
    struct strlist deny;
};

struct opts_perms {
    struct opts_subject_perm publish;
    struct opts_subject_perm subscribe;
    bool allow_responses;
    int64_t resp_max;        /* messages; default 1 */
    int64_t resp_expires_ns; /* default 2m */
};

/* One user of the top-level authorization block or of an account. */
struct opts_user {
    char *user; /* NULL for an nkey-only user */
    char *password;
    char *nkey;
    char *account;                   /* NULL: the global account $G */
    struct opts_perms *perms;        /* owned; NULL: none */
    struct strlist connection_types; /* upper-case names */
};

enum opts_resp_type {
    OPTS_RESP_SINGLETON = 0,
    OPTS_RESP_STREAM,
    OPTS_RESP_CHUNKED,
};

struct opts_export {
    bool service; /* else a stream */
    char *subject;
    struct strlist accounts; /* empty: public */
    enum opts_resp_type response_type;
    int64_t response_threshold_ns;
    bool latency;
    char *latency_subject;
    int latency_sampling; /* percent; 0 = headers-based */
    int account_token_position;
};

struct opts_import {
    bool service;
    char *account;
    char *subject;
    char *to;
    char *prefix;
    bool share;
};

struct opts_map_dest {
    char *subject;
    int weight; /* percent */
    char *cluster;
};

struct opts_mapping {
    char *subject;
    struct opts_map_dest *dests;
    size_t n_dests;
};

struct opts_account {
    char *name;
    char *nkey;
    struct opts_export *exports;
    size_t n_exports;
    struct opts_import *imports;
    size_t n_imports;
    struct opts_perms *default_perms; /* owned; NULL: none */
    struct opts_mapping *mappings;
    size_t n_mappings;
    int64_t max_connections; /* limits {}: -1 = unlimited */
    int64_t max_subscriptions;
    int64_t max_payload;
    int64_t max_leafnodes;
};

struct opts_cluster {
    char *name;
    char *host;
    int port; /* 0: no cluster listener; -1: random */
    char *username;
    char *password;
    double auth_timeout;      /* seconds */
    bool auth_timeout_set;    /* authorization.timeout given (non-zero) */
    struct opts_perms *perms; /* import/export; owned; NULL: none */
    struct strlist routes;    /* URLs as written */
    struct opts_tls tls;
    char *advertise;
    bool no_advertise;
    int connect_retries;
};

struct opts_remote_gateway {
    char *name;
    struct strlist urls; /* at least one */
    struct opts_tls tls; /* tls.set false: inherit the gateway block's */
};

struct opts_gateway {
    char *name;
    char *host;
    int port; /* 0: no gateway; -1: random */
    char *username;
    char *password;
    double auth_timeout;   /* seconds */
    bool auth_timeout_set; /* authorization.timeout given (non-zero) */
    struct opts_tls tls;
    char *advertise;
    int connect_retries;
    bool reject_unknown;
    struct opts_remote_gateway *gateways;
    size_t n_gateways;
};

struct opts {
    char *config_file; /* as given with -c; NULL without one */

    /* client listener */
    char *host; /* NULL or "": 0.0.0.0 (set by opts_set_baseline) */
    int port;   /* -1: random */
    char *client_advertise;
    char *server_name;
    struct strlist server_tags;
    int threads; /* worker threads; 0: one per CPU */

    /* monitoring */
    char *http_host;
    int http_port;
    int https_port;
    char *http_base_path;

    /* limits */
    int32_t max_payload;
    int64_t max_pending;
    int32_t max_control_line;
    int max_connections;
    int max_subs;
    int max_sub_tokens; /* 0: unlimited, else 1..255 */
    int max_traced_msg_len;
    int64_t ping_interval_ns;
    int ping_max;
    int64_t write_deadline_ns;
    int64_t lame_duck_duration_ns;
    int64_t lame_duck_grace_period_ns;
    bool no_header_support;
    bool disable_sublist_cache;

    /* logging and process */
    bool debug;
    bool trace;
    bool trace_verbose;
    bool logtime;
    char *log_file;
    int64_t log_size_limit;
    bool syslog;
    char *remote_syslog;
    char *pid_file;
    char *ports_file_dir;
    int prof_port;
    int connect_error_reports;
    int reconnect_error_reports;

    /* security */
    char *username; /* top-level single user */
    char *password;
    char *token;
    double auth_timeout; /* seconds */
    bool auth_timeout_set;
    struct opts_user *users;
    size_t n_users;
    struct opts_perms *default_perms; /* authorization.default_permissions */
    char *no_auth_user;
    struct opts_account *accounts;
    size_t n_accounts;
    char *system_account;
    bool no_system_account;
    struct opts_tls tls;
    bool allow_non_tls;

    struct opts_cluster cluster;
    struct opts_gateway gateway;

    /* Blocks nats-server knows that natsd parses no further (leafnodes,
     * jetstream, websocket, mqtt, operator mode): their keys, for a warning. */
    struct strlist unsupported;
};

/* The outcome of reading options: formatted lines, "file:line:col: text". */
struct opts_diag {
    struct strlist errors;
    struct strlist warnings;
};

/* Fill o with nats-server's defaults. o owns nothing before this call, and
 * nothing after it: defaults that are strings are NULL (see the fields). */
void opts_init(struct opts *o);

/* Free everything o owns and leave it as after opts_init(). */
void opts_free(struct opts *o);

/* Apply the keys of a parsed configuration's top-level map to o, checking
 * types, bounds and the relations nats-server checks while it reads the file.
 * Every problem is appended to d (errors and warnings apart). Returns 0 when
 * d->errors is empty, -1 otherwise; o may then be partly filled. */
int opts_apply_conf(struct opts *o, const struct conf_value *root, struct opts_diag *d);

/* conf_parse_file() then opts_apply_conf(); a syntax error becomes d's only
 * error, in nats-server's words. Sets o->config_file. Returns 0 or -1. */
int opts_load_file(struct opts *o, const char *path, struct opts_diag *d);

/* Fill the defaults that depend on other options, as nats-server's
 * setBaselineOptions does once the file and the flags are applied: empty hosts
 * become 0.0.0.0 (the cluster and gateway ones only when their port is set),
 * an empty http host takes the client host, zero limits take their defaults,
 * auth timeouts not given become the tls timeout + 1 when that block has tls
 * (else 2 s), and a cluster without a name takes the gateway's name (as
 * validateCluster does). Call before opts_validate(). */
void opts_set_baseline(struct opts *o);

/* The checks nats-server makes when it starts rather than while it reads the
 * file (gateway has no name, max_payload over max_pending, no_auth_user
 * unknown, cluster and gateway names in conflict, ...). On failure returns -1
 * and writes the message (without a "natsd: " prefix) to err. */
int opts_validate(const struct opts *o, char *err, size_t errsize);

/* Whether a change of the top-level key (lower case) can be applied by a
 * reload (SIGHUP) without a restart. */
bool opts_key_reloadable(const char *key);

/* Whether key (any case) is a top-level key natsd knows, including the ones
 * it only accepts and records in o->unsupported. */
bool opts_key_known(const char *key);

/* The certificate checks nats-server's GenTLSConfig makes when it reads a tls
 * block (-t included): cert_file and key_file come together, both files are
 * readable PEM, the key parses and matches the certificate, and ca_file holds
 * at least one certificate. Returns 0, or -1 with Go's text in err (e.g.
 * "error parsing X509 certificate/key pair: open a.pem: no such file or
 * directory"). Reads files; any thread. (opts_tls.c) */
int opts_tls_check_files(const struct opts_tls *t, char *err, size_t errsize);

void opts_diag_free(struct opts_diag *d);

/* Whether nats-server would warn "Plaintext passwords detected, use nkeys or
 * bcrypt" at start: the single password or a users[] password (or a missing
 * one, unless tls verify_and_map) is not a bcrypt hash. (opts_auth.c) */
bool opts_has_plaintext_passwords(const struct opts *o);

void strlist_push(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

#endif
