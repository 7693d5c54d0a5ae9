/* SPDX-License-Identifier: Apache-2.0
 * TLS with OpenSSL, as nats-server 2.9.10 configures Go's crypto/tls: contexts
 * built once from a tls {} block (GenTLSConfig), the TLS transport of a
 * connection (struct conn_transport_ops: non-blocking handshake, read, writev,
 * close_notify), and what verify_and_map needs from the peer certificate
 * (checkClientTLSCertSubject).
 *
 * Threads: a context is built on the main thread (at start, or by a reload
 * that replaces the client context) and is read-only once published
 * (OpenSSL contexts are safe to share). It is reference counted: each TLS
 * session holds a reference, so a replaced context lives until its last
 * connection is gone. A connection's TLS state belongs to its owner worker. */
#ifndef NATSD_TLS_H
#define NATSD_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct opts_tls;
struct tls_ctx;

/* What a peer-certificate name is (the order verify_and_map tries them). */
enum tls_id_kind {
    TLS_ID_EMAIL = 0, /* an rfc822Name SAN */
    TLS_ID_DNS,       /* a dNSName SAN */
    TLS_ID_URI,       /* a URI SAN */
    TLS_ID_SUBJECT,   /* the subject as an RFC 2253 string (Go's pkix form) */
};

/* Called with each identity; return true to stop (a user matched). */
typedef bool tls_id_cb(void *arg, const char *name, enum tls_id_kind kind);

/* Asked before a server-side session starts on c: true lets the handshake
 * begin; false refuses it, and the hook has then closed c itself (with what
 * it wants the peer to read first). Owner thread of c. */
typedef bool tls_admit_fn(struct conn *c, void *arg);

/* A server-side context from t (cert_file/key_file, ca_file, verify, cipher
 * suites, curve preferences, pinned certs; minimum TLS 1.2 as Go's default).
 * Returns NULL with a message in err. Main thread. */
struct tls_ctx *tls_ctx_new_server(const struct opts_tls *t, char *err, size_t errsize);

/* A client-side context: the CA (ca_file, else the system roots) verifies
 * the server unless insecure; cert_file/key_file are presented when given;
 * cipher suites, curve preferences and pinned certs as for a server. Returns
 * NULL with a message in err. Main thread. */
struct tls_ctx *tls_ctx_new_client(const struct opts_tls *t, char *err, size_t errsize);

/* A context for routes and gateways, usable on both sides as nats-server's
 * cluster and gateway tls blocks are: accepting, it ALWAYS
 * requires a client certificate and verifies it against ca_file (the verify
 * key does not matter); connecting, it presents cert_file/key_file and
 * verifies the server against the same ca_file unless insecure. Cipher
 * suites, curve preferences and pinned certs (checked on both sides) as for
 * a server. Returns NULL with a message in err. Main thread. */
struct tls_ctx *tls_ctx_new_mutual(const struct opts_tls *t, char *err, size_t errsize);

/* Take one more reference to x (NULL is accepted); returns x. Any thread,
 * while the caller knows x is alive (it holds a reference, or x is
 * published and retired only through the workers' reclamation). */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *x);

/* Drop a reference (the creator's, or one taken with tls_ctx_ref); the last
 * one frees the context. NULL is accepted. Any thread. */
void tls_ctx_free(struct tls_ctx *x);

/* Set the admission hook of a server-side context (see tls_admit_fn).
 * Before the context is published. */
void tls_ctx_set_admit(struct tls_ctx *x, tls_admit_fn *fn, void *arg);

/* Whether the context, accepting, asks peers for a certificate and verifies
 * it (always true for a mutual context). */
bool tls_ctx_verify(const struct tls_ctx *x);

/* Switch c to the TLS transport over its socket (server side when server is
 * true) and mark its handshake in progress: the connection layer drives it
 * with tops->handshake on socket events. Client side, server_name (NULL:
 * none) is sent as SNI unless it is an IP address, and the server
 * certificate must be valid for it (a DNS or IP SAN) unless the context is
 * insecure. The session holds a reference to x. Logs nats-server's
 * "Starting TLS ..." debug line. Returns 0, or -1 when OpenSSL cannot make
 * the session (logged) or x's admission hook refused c (c is then closed).
 * Owner thread. */
int tls_conn_start(struct conn *c, struct tls_ctx *x, bool server, const char *server_name);

/* Log a failed handshake of c as nats-server does: "TLS handshake error:
 * <why>" for a client, "TLS route handshake error: <why>" or "TLS gateway
 * handshake error: <why>" otherwise. Owner thread. */
void tls_log_handshake_error(struct conn *c, const char *why);

/* Offer each identity of c's verified peer certificate to cb: e-mail SANs,
 * DNS SANs, URI SANs, then the subject (with its domain components appended
 * when it has any, then without), as nats-server's
 * checkClientTLSCertSubject does. Returns true when cb returned true, false
 * when nothing matched or c has no peer certificate. Owner thread. */
bool tls_peer_identities(struct conn *c, tls_id_cb *cb, void *arg);

/* Whether dn (an RFC 4514 string such as "CN=a,OU=b,O=c") names the same
 * distinguished name as c's peer certificate subject, in order or with its
 * RDNs reordered (attribute types compared without case, values exactly).
 * Owner thread. */
bool tls_peer_dn_matches(struct conn *c, const char *dn);

#endif
