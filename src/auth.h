/* SPDX-License-Identifier: Apache-2.0
 * Client authentication: token, single user, users list (plain or bcrypt
 * passwords, nkeys, TLS identities), the account a user belongs to, and the
 * check a reload makes of the clients already connected. */
#ifndef NATSD_AUTH_H
#define NATSD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct conn;
struct opts;
struct opts_user;
struct strlist;

/* Log a failed authentication as nats-server's authViolation does:
 * "authentication error - Nkey \"...\"" when nkey users exist, "- User
 * \"...\"" when a users list does, plain "authentication error" otherwise. */
void auth_log_violation(struct server *s, const struct conn *c);

/* Whether INFO must carry a nonce: some user authenticates with an nkey. */
bool auth_nonce_required(const struct opts *o);

/* Whether clients must authenticate (INFO auth_required), from the options. */
bool auth_required(const struct opts *o);

/* The auth timeout in seconds: the configured one, else 2 s (tls.timeout + 1
 * when TLS is configured), as nats-server. */
double auth_timeout_secs(const struct server *s);

/* What checking a CONNECT's credentials decided. */
enum auth_result {
    AUTH_FAIL = 0,
    AUTH_OK,
    AUTH_PENDING, /* a bcrypt password went to the password pool (authpool.h) */
};

/* Check c's CONNECT credentials against the options, as
 * auth_check_client_user, except that a bcrypt password is verified by the
 * server's password pool, off the loops: AUTH_PENDING then, and the caller's
 * on_op returns PARSER_PAUSE, which parks c until the verdict is in; the
 * CONNECT is then parsed again, and the same call returns the verdict (or
 * queues another job when a reload changed the hash meanwhile). Owner
 * thread, from c's on_op. */
enum auth_result auth_connect_client(struct server *s, struct conn *c,
                                     const struct opts_user **user);

/* A route's or gateway's CONNECT password against the configured one, as
 * auth_password_ok; a bcrypt hash goes to the password pool as for
 * auth_connect_client. Owner thread, from c's on_op. */
enum auth_result auth_connect_password(struct conn *c, const char *configured, const char *given);

/* Check c's CONNECT credentials against the options, bcrypt on this thread
 * (a reload's check of connected clients). Owner thread. */
bool auth_check_client(struct server *s, struct conn *c);

/* The same, and the user of the users list (or of an account) the client
 * authenticated as in *user: NULL for the token and the single user, which
 * carry no permissions and belong to $G. Owner thread. */
bool auth_check_client_user(struct server *s, struct conn *c, const struct opts_user **user);

/* tls verify_and_map: bind c to the configured user its verified client
 * certificate names (an e-mail, DNS or URI SAN, the subject string, or the
 * subject DN in any RDN order), as nats-server's checkClientTLSCertSubject.
 * The CONNECT user is replaced by it (a warning when one was given). Returns
 * false when none matches. Owner thread. */
bool auth_tls_map_user(struct server *s, struct conn *c, const struct opts_user **user);

/* A route or gateway peer's verified certificate, when the block's tls has
 * verify_and_map (map) or verify_cert_and_check_known_urls (the hosts of
 * the URLs in lists): as nats-server's isRouterAuthorized and
 * isGatewayAuthorized, true when one of its identities (checkClientTLSCert-
 * Subject's order) is the block's user, or, checking known URLs, when one
 * of its DNS SANs names the host of one of those URLs (RFC 6125: same label
 * count, a "*" only as the whole left-most label). Owner thread. */
bool auth_tls_peer_ok(struct conn *c, const char *user, bool map,
                      const struct strlist *const *lists, size_t nlists);

/* What a reload decides for a client already connected. */
enum auth_recheck {
    AUTH_RECHECK_KEEP = 0, /* still authorized, nothing to rebind (no user, or no auth now) */
    AUTH_RECHECK_REBIND,   /* still authorized as *user: take its permissions again */
    AUTH_RECHECK_MOVED,    /* its user is gone or belongs to another account now */
    AUTH_RECHECK_DENIED,   /* its credentials no longer authenticate */
};

/* Check the connected client c again under the options in force, as
 * nats-server's reloadAuthorization does (clientHasMovedToDifferentAccount,
 * then isClientAuthorized); old are the options c authenticated under. A
 * client named by a user name or nkey whose user is gone, or whose user now
 * belongs to another account than c's, has moved; so has a client whose
 * account a reload removed. Deliberately unlike nats-server, a named client
 * is not judged "moved" when the new options have no users list at all (no
 * auth, a token, a single user): nats-server 2.9.10 then finds no user and
 * closes every client that gave a user name on every reload; natsd checks
 * its credentials instead. A bcrypt password is not hashed again when the
 * user's configured hash did not change. Owner thread. */
enum auth_recheck auth_recheck_client(struct server *s, struct conn *c, const struct opts *old,
                                      const struct opts_user **user);

/* Compare a password given by a client with a configured one: bcrypt when the
 * configured one is a bcrypt hash ($2a$, $2b$, $2x$, $2y$), else constant-time
 * byte comparison. */
bool auth_password_ok(const char *configured, const char *given);

#endif
