/* SPDX-License-Identifier: Apache-2.0
 * Client authentication: token, single user, users list, plain or bcrypt
 * passwords. Permissions, accounts, nkeys and TLS identities come with the
 * security work. */
#ifndef NATSD_AUTH_H
#define NATSD_AUTH_H

#include <stdbool.h>

struct server;
struct conn;
struct opts;

/* Whether clients must authenticate (INFO auth_required), from the options. */
bool auth_required(const struct opts *o);

/* The auth timeout in seconds: the configured one, else 2 s (tls.timeout + 1
 * when TLS is configured), as nats-server. */
double auth_timeout_secs(const struct server *s);

/* Check c's CONNECT credentials against the options. Owner thread. */
bool auth_check_client(struct server *s, struct conn *c);

/* Compare a password given by a client with a configured one: bcrypt when the
 * configured one is a bcrypt hash ($2a$, $2b$, $2x$, $2y$), else constant-time
 * byte comparison. */
bool auth_password_ok(const char *configured, const char *given);

#endif
