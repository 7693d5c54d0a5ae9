/* SPDX-License-Identifier: Apache-2.0
 * Private to opts.c and opts_auth.c: the diagnostics helpers and the parsers of
 * the authorization, permissions and accounts blocks. Not for other modules. */
#ifndef NATSD_OPTS_INTERNAL_H
#define NATSD_OPTS_INTERNAL_H

#include <stdbool.h>

#include "conf.h"
#include "opts.h"

/* Append "file:line:col: <formatted>" to d->errors (or d->warnings). pos may be
 * NULL, then only the text is appended. Implemented in opts.c. */
void opts_err(struct opts_diag *d, const struct conf_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void opts_warn(struct opts_diag *d, const struct conf_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuse a key natsd does not implement and must not ignore, because it would
 * then not enforce what the key asks for (authentication, authorization,
 * TLS): appends "<what> is not supported by natsd and cannot be ignored:
 * <why>" to d->errors, so that the server does not start, -t fails and a
 * reload is refused. what names the option ("option \"operator\""). (opts.c) */
void opts_refuse(struct opts_diag *d, const struct conf_pos *pos, const char *what,
                 const char *why);

/* Record key, once, in o->unsupported: natsd accepts it, does nothing with it,
 * and says so with a warning at start. (opts.c) */
void opts_note_unsupported(struct opts *o, const char *key);

/* True when v has type t; otherwise appends nats-server's type error for v
 * ("interface conversion: interface {} is string, not int64") and returns
 * false. Implemented in opts.c. */
bool opts_want(struct opts_diag *d, const struct conf_value *v, enum conf_type t);

/* A configuration type as Go's %T names it for nats-server's interface{}
 * values ("map[string]interface {}", "int64", "time.Time", ...). (opts.c) */
const char *opts_go_type(enum conf_type t);

/* Whether the first certificate of cert_file asks for OCSP stapling (TLS
 * Feature status_request, "Must-Staple"). false when the file cannot be read
 * or parsed (the block's own checks report that). Reads the file. (opts_tls.c) */
bool opts_tls_must_staple(const char *cert_file);

/* Parse a tls {} block into t (opts.c). Returns 0, or -1 after appending. */
int opts_parse_tls(const struct conf_value *v, struct opts_tls *t, struct opts_diag *d);
void opts_tls_free(struct opts_tls *t);

/* The top-level authorization {} block into o (opts_auth.c). */
int opts_parse_authorization(struct opts *o, const struct conf_value *v, struct opts_diag *d);

/* The top-level accounts {} map or [] array into o (opts_auth.c). */
int opts_parse_accounts(struct opts *o, const struct conf_value *v, struct opts_diag *d);

/* Where a simple authorization block sits, for its rules and messages. */
enum opts_auth_kind {
    OPTS_AUTH_CLUSTER = 0,
    OPTS_AUTH_GATEWAY,
};

/* The authorization {} of cluster or gateway: user/username, password/pass,
 * timeout, and (cluster only, deprecated) permissions. users or token are
 * errors with nats-server's messages for the kind. Strings are newly owned by
 * the caller's *user / *pass; *perms may be NULL. (opts_auth.c) */
int opts_parse_simple_auth(enum opts_auth_kind kind, const struct conf_value *v, char **user,
                           char **pass, double *timeout, struct opts_perms **perms,
                           struct opts_diag *d);

/* A permissions map ({publish, subscribe, allow_responses} with their
 * aliases). *out is newly allocated. (opts_auth.c) */
int opts_parse_perms(const struct conf_value *v, struct opts_perms **out, struct opts_diag *d);

/* The checks of opts_validate() that concern users and accounts (opts_auth.c). */
int opts_validate_auth(const struct opts *o, char *err, size_t errsize);

/* Free what opts_auth.c allocated into o (users, accounts, default perms). */
void opts_auth_free(struct opts *o);
void opts_perms_free(struct opts_perms *p);

#endif
