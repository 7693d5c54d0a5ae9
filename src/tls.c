/* SPDX-License-Identifier: Apache-2.0
 * TLS with OpenSSL: contexts as nats-server's GenTLSConfig builds them, the TLS
 * transport of a connection (non-blocking handshake, read, coalescing writev,
 * close_notify) and the peer-certificate identities verify_and_map uses. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "conn.h"
#include "log.h"
#include "mem.h"
#include "opts.h"

/* Small iovecs are copied into one buffer of this size per SSL_write (one
 * TLS record); a larger piece is written from where it lies. */
#define TLS_STAGE_SIZE (16 * 1024)
/* Bytes handed to one SSL_write from a large piece. */
#define TLS_WRITE_MAX (64 * 1024)

/* What a context is for (see tls.h). */
enum tls_ctx_mode {
    TLS_CTX_SERVER = 0,
    TLS_CTX_CLIENT,
    TLS_CTX_MUTUAL,
};

struct tls_ctx {
    SSL_CTX *ctx;
    atomic_int refs;       /* the creator's, one per session, one per holder */
    bool verify;           /* server side: require and verify a client certificate */
    bool verify_server;    /* client side: verify the server (false: insecure) */
    struct strlist pinned; /* lower-case hex SHA-256 of the SPKI */
    tls_admit_fn *admit;   /* server side: asked before each session; NULL: none */
    void *admit_arg;
};

struct tls_conn {
    SSL *ssl;
    struct tls_ctx *x; /* a reference: the context outlives the session */
    bool server;       /* we accepted: server side of the handshake */
    bool first_seen;   /* the peer's first record header was checked */
    bool done;         /* handshake finished */
    char *name;        /* client side: the name the server must be valid for */
    X509 *leaf;        /* client side: a server certificate not valid for name */
};

/* Go's cipher names (cipherMap) and OpenSSL's for the same suites; TLS 1.3
 * suites (no OpenSSL name here) are always enabled, as in Go. */
struct tls_cipher_name {
    const char *go;
    const char *ossl;
};

static const struct tls_cipher_name tls_ciphers[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", NULL},
    {"TLS_AES_256_GCM_SHA384", NULL},
    {"TLS_CHACHA20_POLY1305_SHA256", NULL},
};

/* nats-server's defaultCipherSuites(), in its order. */
static const char tls_default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

static const char tls_suites13[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/* Go's curve names and OpenSSL's group names; the default is Go's order. */
static const char *const tls_curves[][2] = {
    {"X25519", "X25519"},
    {"CurveP256", "P-256"},
    {"CurveP384", "P-384"},
    {"CurveP521", "P-521"},
};
static const char tls_default_curves[] = "X25519:P-256:P-384:P-521";

static ssize_t tls_read(struct conn *c, void *buf, size_t len);
static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int iovcnt);
static bool tls_pending(const struct conn *c);
static int tls_handshake(struct conn *c);
static void tls_shutdown(struct conn *c);
static void tls_close(struct conn *c);
static int tls_verify_cb(int ok, X509_STORE_CTX *st);

static const struct conn_transport_ops tls_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .shutdown = tls_shutdown,
    .close = tls_close,
};

/* A copy per worker thread: any connection's write may use it, since a retry
 * after SSL_ERROR_WANT_WRITE passes the same bytes again (moving buffer). */
static __thread unsigned char tls_stage[TLS_STAGE_SIZE];

/* The text of the last OpenSSL error, or fallback; clears the queue. */
static void tls_err_text(char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(buf, size, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, size);
    else
        snprintf(buf, size, "%s", fallback);
    ERR_clear_error();
}

/* ---- contexts ------------------------------------------------------------ */

static int tls_ctx_ciphers(SSL_CTX *ctx, const struct opts_tls *t, char *err, size_t errsize)
{
    if (t->cipher_suites.n == 0)
        return SSL_CTX_set_cipher_list(ctx, tls_default_ciphers) == 1 ? 0 : -1;
    char list[2048] = "";
    size_t used = 0;
    for (size_t i = 0; i < t->cipher_suites.n; i++)
        for (size_t j = 0; j < ARRAY_LEN(tls_ciphers); j++) {
            if (strcmp(t->cipher_suites.v[i], tls_ciphers[j].go) != 0 || !tls_ciphers[j].ossl)
                continue;
            int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ":" : "",
                             tls_ciphers[j].ossl);
            if (n > 0 && (size_t)n < sizeof(list) - used)
                used += (size_t)n;
        }
    /* only TLS 1.3 suites (or none OpenSSL still has): TLS 1.3 only */
    if (used == 0 || SSL_CTX_set_cipher_list(ctx, list) != 1) {
        ERR_clear_error();
        if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
            snprintf(err, errsize, "no usable cipher suite");
            return -1;
        }
    }
    return 0;
}

static int tls_ctx_curves(SSL_CTX *ctx, const struct opts_tls *t)
{
    if (t->curve_preferences.n == 0)
        return SSL_CTX_set1_groups_list(ctx, tls_default_curves) == 1 ? 0 : -1;
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < t->curve_preferences.n; i++)
        for (size_t j = 0; j < ARRAY_LEN(tls_curves); j++) {
            if (strcmp(t->curve_preferences.v[i], tls_curves[j][0]) != 0)
                continue;
            int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ":" : "",
                             tls_curves[j][1]);
            if (n > 0 && (size_t)n < sizeof(list) - used)
                used += (size_t)n;
        }
    if (used == 0)
        return 0;
    return SSL_CTX_set1_groups_list(ctx, list) == 1 ? 0 : -1;
}

/* OpenSSL fills a certificate's extension cache (key identifiers, purposes)
 * on first use, under the certificate's lock, and reads parts of it later
 * without: fill it now, for the context's own certificates and its CAs,
 * while only this thread knows the context (a reload builds it while the
 * workers run, and publishes it to them afterwards). */
static void tls_ctx_warm(SSL_CTX *ctx)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf)
        (void)X509_check_purpose(leaf, -1, 0);
    STACK_OF(X509) *chain = NULL;
    if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
        for (int i = 0; i < sk_X509_num(chain); i++)
            (void)X509_check_purpose(sk_X509_value(chain, i), -1, 0);
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x)
            (void)X509_check_purpose(x, -1, 0);
    }
    ERR_clear_error();
}

static struct tls_ctx *tls_ctx_build(const struct opts_tls *t, enum tls_ctx_mode mode, char *err,
                                     size_t errsize)
{
    /* a mutual context plays either side of a route or gateway */
    const SSL_METHOD *m = mode == TLS_CTX_SERVER   ? TLS_server_method()
                          : mode == TLS_CTX_CLIENT ? TLS_client_method()
                                                   : TLS_method();
    bool server = mode != TLS_CTX_CLIENT;
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (!ctx) {
        tls_err_text(err, errsize, "cannot create a TLS context");
        return NULL;
    }
    struct tls_ctx *x = xcalloc(1, sizeof(*x));
    x->ctx = ctx;
    atomic_init(&x->refs, 1);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); /* Go's MinVersion */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* send what cert_file holds and nothing more, as Go's crypto/tls: without
     * this OpenSSL completes the chain from the verify store (ca_file), and
     * peers that lack the CA then fail differently */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS |
                              SSL_MODE_NO_AUTO_CHAIN);
    if (tls_ctx_ciphers(ctx, t, err, errsize) != 0)
        goto fail;
    /* TLS 1.3 suites in nats-server's order (AES-128-GCM first), the one a
     * server picks from as nats-server does on hardware with AES */
    SSL_CTX_set_ciphersuites(ctx, tls_suites13);
    if (tls_ctx_curves(ctx, t) != 0) {
        tls_err_text(err, errsize, "bad curve preferences");
        goto fail;
    }
    if (t->cert_file && t->key_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            char why[256];
            tls_err_text(why, sizeof(why), "unknown error");
            snprintf(err, errsize, "error parsing X509 certificate/key pair: %s", why);
            goto fail;
        }
    }
    if (t->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
            snprintf(err, errsize, "failed to parse root ca certificate");
            ERR_clear_error();
            goto fail;
        }
        if (server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca_file);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx); /* Go: the system roots */
    }
    /* routes and gateways always require and verify the peer's certificate,
     * whatever verify says; insecure only skips the check of the server we
     * dial */
    x->verify = mode == TLS_CTX_MUTUAL || (mode == TLS_CTX_SERVER && t->verify);
    x->verify_server = !t->insecure;
    if (server) {
        SSL_CTX_set_verify(
            ctx, x->verify ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE,
            NULL);
        static const unsigned char sid[] = "natsd";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    } else {
        SSL_CTX_set_verify(ctx, x->verify_server ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    }
    for (size_t i = 0; i < t->pinned_certs.n; i++)
        strlist_push(&x->pinned, t->pinned_certs.v[i]);
    tls_ctx_warm(ctx);
    return x;
fail:
    tls_ctx_free(x);
    return NULL;
}

struct tls_ctx *tls_ctx_new_server(const struct opts_tls *t, char *err, size_t errsize)
{
    return tls_ctx_build(t, TLS_CTX_SERVER, err, errsize);
}

struct tls_ctx *tls_ctx_new_client(const struct opts_tls *t, char *err, size_t errsize)
{
    return tls_ctx_build(t, TLS_CTX_CLIENT, err, errsize);
}

struct tls_ctx *tls_ctx_new_mutual(const struct opts_tls *t, char *err, size_t errsize)
{
    return tls_ctx_build(t, TLS_CTX_MUTUAL, err, errsize);
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *x)
{
    if (x)
        atomic_fetch_add_explicit(&x->refs, 1, memory_order_relaxed);
    return x;
}

void tls_ctx_set_admit(struct tls_ctx *x, tls_admit_fn *fn, void *arg)
{
    x->admit = fn;
    x->admit_arg = arg;
}

void tls_ctx_free(struct tls_ctx *x)
{
    if (!x || atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) != 1)
        return;
    SSL_CTX_free(x->ctx);
    strlist_free(&x->pinned);
    free(x);
}

bool tls_ctx_verify(const struct tls_ctx *x)
{
    return x && x->verify;
}

/* ---- connections --------------------------------------------------------- */

/* "route" or "gateway" in log lines; NULL for clients, whose lines name no
 * kind (doTLSHandshake's typ). */
static const char *tls_kind_word(const struct conn *c)
{
    switch (c->kind) {
    case CONN_KIND_ROUTE:
        return "route";
    case CONN_KIND_GATEWAY:
        return "gateway";
    default:
        return NULL;
    }
}

void tls_log_handshake_error(struct conn *c, const char *why)
{
    const char *k = tls_kind_word(c);
    if (k)
        CONN_LOG(LOG_LEVEL_ERROR, c, "TLS %s handshake error: %s", k, why);
    else
        CONN_LOG(LOG_LEVEL_ERROR, c, "TLS handshake error: %s", why);
}

static bool tls_is_ip(const char *name)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* The client side of a handshake: SNI for a host name (never for an IP, as
 * nats-server), and the name the server certificate must be valid for,
 * checked as nats-server does (SANs only, no partial wildcards) unless the
 * context is insecure. */
static int tls_conn_client_setup(SSL *ssl, const struct tls_ctx *x, const char *name)
{
    if (!x->verify_server) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
        return name && !tls_is_ip(name) ? (SSL_set_tlsext_host_name(ssl, name) == 1 ? 0 : -1) : 0;
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, tls_verify_cb);
    if (!name || !name[0])
        return 0;
    if (tls_is_ip(name))
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -1;
    SSL_set_hostflags(ssl,
                      X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (SSL_set_tlsext_host_name(ssl, name) != 1 || SSL_set1_host(ssl, name) != 1)
        return -1;
    return 0;
}

int tls_conn_start(struct conn *c, struct tls_ctx *x, bool server, const char *server_name)
{
    /* e.g. the client TLS rate limit: the hook has closed c when it refuses */
    if (server && x->admit && !x->admit(c, x->admit_arg))
        return -1;
    struct tls_conn *t = xcalloc(1, sizeof(*t));
    t->x = tls_ctx_ref(x); /* a reload may replace the server's context meanwhile */
    t->server = server;
    if (!server && server_name)
        t->name = xstrdup(server_name);
    t->ssl = SSL_new(x->ctx);
    if (!t->ssl || SSL_set_fd(t->ssl, c->watch.fd) != 1 || SSL_set_app_data(t->ssl, t) != 1 ||
        (!server && tls_conn_client_setup(t->ssl, x, server_name) != 0)) {
        char why[256];
        tls_err_text(why, sizeof(why), "SSL_new failed");
        tls_log_handshake_error(c, why);
        SSL_free(t->ssl);
        free(t->name);
        tls_ctx_free(t->x);
        free(t);
        return -1;
    }
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    c->tls = t;
    c->tops = &tls_ops;
    c->flags |= CONN_F_HANDSHAKE;
    const char *k = tls_kind_word(c);
    if (!k)
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Starting TLS client connection handshake");
    else
        CONN_LOG(LOG_LEVEL_DEBUG, c, "Starting TLS %s %s handshake", k,
                 server ? "server" : "client");
    return 0;
}

/* Go's names for the protocol version and suite (tlsVersion, tlsCipher). */
static const char *tls_version_name(int v)
{
    switch (v) {
    case TLS1_VERSION:
        return "1.0";
    case TLS1_1_VERSION:
        return "1.1";
    case TLS1_2_VERSION:
        return "1.2";
    case TLS1_3_VERSION:
        return "1.3";
    default:
        return "Unknown";
    }
}

static const char *tls_cipher_go_name(const SSL_CIPHER *ci)
{
    if (!ci)
        return "Unknown";
    const char *on = SSL_CIPHER_get_name(ci);
    for (size_t j = 0; j < ARRAY_LEN(tls_ciphers); j++) {
        const char *key = tls_ciphers[j].ossl ? tls_ciphers[j].ossl : tls_ciphers[j].go;
        if (on && strcmp(on, key) == 0)
            return tls_ciphers[j].go;
    }
    const char *std = SSL_CIPHER_standard_name(ci);
    return std ? std : "Unknown";
}

/* Whether the peer's SPKI hash is in the pinned set (matchesPinnedCert). */
static bool tls_pinned_ok(struct conn *c)
{
    const struct tls_ctx *x = c->tls->x;
    if (!x || x->pinned.n == 0)
        return true;
    X509 *peer = SSL_get0_peer_certificate(c->tls->ssl);
    if (!peer)
        return false;
    unsigned char *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der);
    if (n <= 0)
        return false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    for (size_t i = 0; i < x->pinned.n; i++)
        if (strcmp(x->pinned.v[i], hex) == 0)
            return true;
    return false;
}

/* nats-server's texts for TLS alerts, by alert number. */
static const char *tls_alert_text(int a)
{
    static const struct {
        int a;
        const char *text;
    } tbl[] = {
        {0, "close notify"},
        {10, "unexpected message"},
        {20, "bad record MAC"},
        {21, "decryption failed"},
        {22, "record overflow"},
        {30, "decompression failure"},
        {40, "handshake failure"},
        {42, "bad certificate"},
        {43, "unsupported certificate"},
        {44, "revoked certificate"},
        {45, "expired certificate"},
        {46, "unknown certificate"},
        {47, "illegal parameter"},
        {48, "unknown certificate authority"},
        {49, "access denied"},
        {50, "error decoding message"},
        {51, "error decrypting message"},
        {60, "export restriction"},
        {70, "protocol version not supported"},
        {71, "insufficient security level"},
        {80, "internal error"},
        {86, "inappropriate fallback"},
        {90, "user canceled"},
        {100, "no renegotiation"},
        {109, "missing extension"},
        {110, "unsupported extension"},
        {111, "certificate unobtainable"},
        {112, "unrecognized name"},
        {113, "bad certificate status response"},
        {114, "bad certificate hash value"},
        {115, "unknown PSK identity"},
        {116, "certificate required"},
        {120, "no application protocol"},
    };
    for (size_t i = 0; i < ARRAY_LEN(tbl); i++)
        if (tbl[i].a == a)
            return tbl[i].text;
    return NULL;
}

/* Why the server certificate is not valid for host, in nats-server's words. */
static void tls_hostname_error(X509 *leaf, const char *host, char *buf, size_t size)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    if (!names && X509_check_host(leaf, host, 0, X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT, NULL) == 1) {
        snprintf(buf, size,
                 "x509: certificate relies on legacy Common Name field, use SANs instead");
        return;
    }
    bool ip = tls_is_ip(host);
    size_t used = 0;
    buf[0] = '\0';
    char valid[256] = "";
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        char one[INET6_ADDRSTRLEN + 1] = "";
        const char *v = one;
        int n = 0;
        if (ip && g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.ip);
            int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
            if (!af || !inet_ntop(af, ASN1_STRING_get0_data(g->d.ip), one, sizeof(one)))
                continue;
            n = (int)strlen(one);
        } else if (!ip && g->type == GEN_DNS) {
            v = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
            n = ASN1_STRING_length(g->d.dNSName);
        } else {
            continue;
        }
        int w = snprintf(valid + used, sizeof(valid) - used, "%s%.*s", used ? ", " : "", n, v);
        if (w > 0 && (size_t)w < sizeof(valid) - used)
            used += (size_t)w;
    }
    GENERAL_NAMES_free(names);
    if (ip && used == 0)
        snprintf(buf, size,
                 "x509: cannot validate certificate for %s because it doesn't contain any IP SANs",
                 host);
    else if (used == 0)
        snprintf(buf, size, "x509: certificate is not valid for any names, but wanted to match %s",
                 host);
    else
        snprintf(buf, size, "x509: certificate is valid for %s, not %s", valid, host);
}

/* Client side: keep the server's certificate when it is not valid for the
 * name we dialled, to say why as nats-server does (OpenSSL keeps no peer
 * certificate after a failed verification). */
static int tls_verify_cb(int ok, X509_STORE_CTX *st)
{
    int err = X509_STORE_CTX_get_error(st);
    if (ok || (err != X509_V_ERR_HOSTNAME_MISMATCH && err != X509_V_ERR_IP_ADDRESS_MISMATCH))
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *t = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(st);
    if (t && leaf && !t->leaf) {
        X509_up_ref(leaf);
        t->leaf = leaf;
    }
    return ok;
}

/* A failed verification of the peer's certificate, in nats-server's words. */
static void tls_verify_error(struct tls_conn *t, long vr, char *buf, size_t size)
{
    char why[512];
    const char *w = X509_verify_cert_error_string(vr);
    if (vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID)
        w = "certificate has expired or is not yet valid";
    else if (vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
             vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
             vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
             vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
        w = "certificate signed by unknown authority";
    else if (vr == X509_V_ERR_INVALID_PURPOSE)
        w = "certificate specifies an incompatible key usage";
    if ((vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) && t->leaf &&
        t->name)
        tls_hostname_error(t->leaf, t->name, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "x509: %s", w);
    /* nats-server's server side wraps the error; its client side does not */
    if (t->server)
        snprintf(buf, size, "tls: failed to verify client certificate: %s", why);
    else
        snprintf(buf, size, "%s", why);
}

/* The reason of a failed handshake, in Go's words where they are known. */
static void tls_handshake_error(struct conn *c, int rc, char *buf, size_t size)
{
    struct tls_conn *t = c->tls;
    SSL *ssl = t->ssl;
    int e = SSL_get_error(ssl, rc);
    long vr = SSL_get_verify_result(ssl);
    if (e == SSL_ERROR_SSL && vr != X509_V_OK) {
        ERR_clear_error();
        tls_verify_error(t, vr, buf, size);
        return;
    }
    if (e == SSL_ERROR_SSL) {
        int reason = ERR_GET_REASON(ERR_peek_last_error());
        const char *alert = reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256
                                ? tls_alert_text(reason - SSL_AD_REASON_OFFSET)
                                : NULL;
        if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            ERR_clear_error();
            snprintf(buf, size, "tls: client didn't provide a certificate");
            return;
        }
        if (alert) { /* the peer refused us */
            ERR_clear_error();
            snprintf(buf, size, "remote error: tls: %s", alert);
            return;
        }
        tls_err_text(buf, size, "handshake failure");
        return;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0)) {
        ERR_clear_error();
        snprintf(buf, size, "EOF");
        return;
    }
    int saved = errno;
    ERR_clear_error();
    snprintf(buf, size, "read tcp %s: %s", c->peer, strerror(saved));
}

/* nats-server checks the header of the peer's first record at once:
 * neither a handshake nor an alert (a plaintext NATS peer's INFO or
 * CONNECT), or a version from the future, is not TLS. Returns -1 with a
 * reason in buf when it is not; 0 when it looks right or nothing came yet. */
static int tls_first_record(struct conn *c, char *buf, size_t size)
{
    struct tls_conn *t = c->tls;
    if (t->first_seen)
        return 0;
    unsigned char h[3];
    ssize_t n;
    do {
        n = recv(c->watch.fd, h, sizeof(h), MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return 0; /* nothing yet, or EOF and errors that OpenSSL reports */
    if ((h[0] != 0x15 && h[0] != 0x16) || (n == 3 && h[1] >= 0x10)) {
        snprintf(buf, size, "tls: first record does not look like a TLS handshake");
        return -1;
    }
    if (n == 3)
        t->first_seen = true;
    return 0;
}

static int tls_handshake(struct conn *c)
{
    struct tls_conn *t = c->tls;
    char why[1024];
    ERR_clear_error();
    c->flags &= ~(CONN_F_IO_WANT_WRITE | CONN_F_IO_WANT_READ);
    if (tls_first_record(c, why, sizeof(why)) != 0) {
        tls_log_handshake_error(c, why);
        return -1;
    }
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        if (!tls_pinned_ok(c)) {
            tls_log_handshake_error(c, "certificate not pinned");
            return -1;
        }
        t->done = true;
        c->tls_version = tls_version_name(SSL_version(t->ssl));
        c->tls_cipher = tls_cipher_go_name(SSL_get_current_cipher(t->ssl));
        CONN_LOG(LOG_LEVEL_DEBUG, c, "TLS handshake complete");
        CONN_LOG(LOG_LEVEL_DEBUG, c, "TLS version %s, cipher suite %s", c->tls_version,
                 c->tls_cipher);
        return 1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->flags |= CONN_F_IO_WANT_WRITE;
        return 0;
    }
    tls_handshake_error(c, rc, why, sizeof(why));
    tls_log_handshake_error(c, why);
    return -1;
}

static ssize_t tls_read(struct conn *c, void *buf, size_t len)
{
    SSL *ssl = c->tls->ssl;
    size_t got = 0;
    c->flags &= ~CONN_F_IO_WANT_WRITE;
    ERR_clear_error();
    /* until len is filled or the socket is drained: a short read means drained */
    while (got < len) {
        size_t n = 0;
        int rc = SSL_read_ex(ssl, (char *)buf + got, len - got, &n);
        if (rc == 1) {
            got += n;
            continue;
        }
        int e = SSL_get_error(ssl, rc);
        if (got > 0) {
            if (e == SSL_ERROR_WANT_WRITE)
                c->flags |= CONN_F_IO_WANT_WRITE;
            ERR_clear_error();
            return (ssize_t)got; /* an end or error shows again on the next call */
        }
        switch (e) {
        case SSL_ERROR_WANT_READ:
            errno = EAGAIN;
            return -1;
        case SSL_ERROR_WANT_WRITE:
            c->flags |= CONN_F_IO_WANT_WRITE;
            errno = EAGAIN;
            return -1;
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        case SSL_ERROR_SYSCALL:
            if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
                ERR_clear_error();
                return 0; /* the peer went away without close_notify */
            }
            ERR_clear_error();
            return -1;
        default:
            ERR_clear_error();
            errno = EIO;
            return -1;
        }
    }
    return (ssize_t)got;
}

/* One SSL_write of p[0..n): n written, 0 when the socket is full (the same
 * bytes must come again), -1 on error. */
static ssize_t tls_write_one(struct conn *c, const void *p, size_t n)
{
    size_t w = 0;
    int rc = SSL_write_ex(c->tls->ssl, p, n, &w);
    if (rc == 1)
        return (ssize_t)w;
    switch (SSL_get_error(c->tls->ssl, rc)) {
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_WANT_READ:
        c->flags |= CONN_F_IO_WANT_READ;
        return 0;
    default:
        ERR_clear_error();
        errno = EIO;
        return -1;
    }
}

static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
    if (!c->tls->done)
        return 0; /* nothing goes out before the handshake is over */
    c->flags &= ~CONN_F_IO_WANT_READ;
    ERR_clear_error();
    size_t total = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */
    while (i < iovcnt) {
        const char *base = (const char *)iov[i].iov_base + off;
        size_t left = iov[i].iov_len - off;
        const void *p;
        size_t n;
        if (left >= TLS_STAGE_SIZE) {
            p = base;
            n = left < TLS_WRITE_MAX ? left : TLS_WRITE_MAX;
        } else {
            /* coalesce small pieces into one record */
            n = 0;
            int j = i;
            size_t o = off;
            while (j < iovcnt && n < TLS_STAGE_SIZE) {
                size_t take = iov[j].iov_len - o;
                if (take > TLS_STAGE_SIZE - n)
                    take = TLS_STAGE_SIZE - n;
                memcpy(tls_stage + n, (const char *)iov[j].iov_base + o, take);
                n += take;
                o += take;
                if (o == iov[j].iov_len) {
                    j++;
                    o = 0;
                }
            }
            p = tls_stage;
        }
        ssize_t w = tls_write_one(c, p, n);
        if (w < 0)
            return total > 0 ? (ssize_t)total : -1;
        if (w == 0)
            break;
        total += (size_t)w;
        /* advance over w bytes */
        size_t adv = (size_t)w;
        while (adv > 0 && i < iovcnt) {
            size_t rest = iov[i].iov_len - off;
            if (adv < rest) {
                off += adv;
                adv = 0;
            } else {
                adv -= rest;
                i++;
                off = 0;
            }
        }
        while (i < iovcnt && iov[i].iov_len == off) {
            i++;
            off = 0;
        }
    }
    return (ssize_t)total;
}

static bool tls_pending(const struct conn *c)
{
    return c->tls && SSL_pending(c->tls->ssl) > 0;
}

static void tls_shutdown(struct conn *c)
{
    if (c->tls && c->tls->done) {
        (void)SSL_shutdown(c->tls->ssl); /* close_notify, not waiting for the peer's */
        ERR_clear_error();
    }
}

static void tls_close(struct conn *c)
{
    if (!c->tls)
        return;
    SSL_free(c->tls->ssl);
    free(c->tls->name);
    X509_free(c->tls->leaf);
    tls_ctx_free(c->tls->x);
    free(c->tls);
    c->tls = NULL;
}

/* ---- peer identities (verify_and_map) ------------------------------------ */

/* Go's pkix attribute names, in the order Name.ToRDNSequence emits them. */
static const struct {
    int nid;
    const char *name;
} tls_go_attrs[] = {
    {NID_countryName, "C"},
    {NID_stateOrProvinceName, "ST"},
    {NID_localityName, "L"},
    {NID_streetAddress, "STREET"},
    {NID_postalCode, "POSTALCODE"},
    {NID_organizationName, "O"},
    {NID_organizationalUnitName, "OU"},
    {NID_commonName, "CN"},
    {NID_serialNumber, "SERIALNUMBER"},
};

/* The type names go-ldap knows in a certificate subject. */
static const char *tls_ldap_type(int nid)
{
    for (size_t i = 0; i < ARRAY_LEN(tls_go_attrs); i++)
        if (tls_go_attrs[i].nid == nid)
            return tls_go_attrs[i].name;
    if (nid == NID_domainComponent)
        return "DC";
    return NULL;
}

static void tls_sbuf_escaped(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool esc = ch == ',' || ch == '+' || ch == '"' || ch == '\\' || ch == '<' || ch == '>' ||
                   ch == ';' || (i == 0 && (ch == ' ' || ch == '#')) || (i == n - 1 && ch == ' ');
        if (*len + 3 >= *cap) {
            *cap = *cap * 2 + 64;
            *buf = xrealloc(*buf, *cap);
        }
        if (esc)
            (*buf)[(*len)++] = '\\';
        (*buf)[(*len)++] = ch;
        (*buf)[*len] = '\0';
    }
}

static void tls_sbuf_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 >= *cap) {
        *cap = *cap * 2 + n + 64;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* The subject as Go's Subject.ToRDNSequence().String(): one RDN per known
 * type (all its values joined by '+'), last type first. */
static char *tls_subject_go(X509_NAME *nm)
{
    size_t len = 0, cap = 128;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (size_t k = ARRAY_LEN(tls_go_attrs); k-- > 0;) {
        bool first = true;
        for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
            X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
            if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != tls_go_attrs[k].nid)
                continue;
            const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
            if (len > 0)
                tls_sbuf_add(&out, &len, &cap, first ? "," : "+");
            first = false;
            tls_sbuf_add(&out, &len, &cap, tls_go_attrs[k].name);
            tls_sbuf_add(&out, &len, &cap, "=");
            tls_sbuf_escaped(&out, &len, &cap, (const char *)ASN1_STRING_get0_data(v),
                             (size_t)ASN1_STRING_length(v));
        }
    }
    return out;
}

/* "DC=a,DC=b" for the subject's domain components (getTLSAuthDCs), or NULL. */
static char *tls_subject_dcs(X509_NAME *nm)
{
    size_t len = 0, cap = 64;
    char *out = NULL;
    for (int i = 0; i < X509_NAME_entry_count(nm); i++) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
        if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) != NID_domainComponent)
            continue;
        if (!out) {
            out = xmalloc(cap);
            out[0] = '\0';
        }
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        if (len > 0)
            tls_sbuf_add(&out, &len, &cap, ",");
        tls_sbuf_add(&out, &len, &cap, "DC=");
        char tmp[1024];
        int n = ASN1_STRING_length(v);
        snprintf(tmp, sizeof(tmp), "%.*s", n, (const char *)ASN1_STRING_get0_data(v));
        tls_sbuf_add(&out, &len, &cap, tmp);
    }
    return out;
}

static bool tls_san_each(X509 *peer, int type, enum tls_id_kind kind, tls_id_cb *cb, void *arg)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    bool hit = false;
    for (int i = 0; names && !hit && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != type)
            continue;
        const ASN1_IA5STRING *s = g->d.ia5;
        char *v = xmalloc((size_t)ASN1_STRING_length(s) + 1);
        memcpy(v, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        v[ASN1_STRING_length(s)] = '\0';
        hit = cb(arg, v, kind);
        free(v);
    }
    GENERAL_NAMES_free(names);
    return hit;
}

bool tls_peer_identities(struct conn *c, tls_id_cb *cb, void *arg)
{
    if (!c->tls || !c->tls->done) {
        CONN_LOG(LOG_LEVEL_DEBUG, c, "User required in cert, no TLS connection state");
        return false;
    }
    X509 *peer = SSL_get0_peer_certificate(c->tls->ssl);
    if (!peer) {
        CONN_LOG(LOG_LEVEL_DEBUG, c, "User required in cert, no peer certificates found");
        return false;
    }
    if (tls_san_each(peer, GEN_EMAIL, TLS_ID_EMAIL, cb, arg) ||
        tls_san_each(peer, GEN_DNS, TLS_ID_DNS, cb, arg) ||
        tls_san_each(peer, GEN_URI, TLS_ID_URI, cb, arg))
        return true;
    X509_NAME *nm = X509_get_subject_name(peer);
    char *rdn = tls_subject_go(nm);
    bool hit = false;
    char *dcs = tls_subject_dcs(nm);
    if (dcs) {
        size_t n = strlen(rdn) + strlen(dcs) + 2;
        char *both = xmalloc(n);
        snprintf(both, n, "%s,%s", rdn, dcs);
        hit = cb(arg, both, TLS_ID_SUBJECT);
        free(both);
        free(dcs);
    }
    if (!hit)
        hit = cb(arg, rdn, TLS_ID_SUBJECT);
    if (!hit)
        CONN_LOG(LOG_LEVEL_DEBUG, c, "User in cert [\"%s\"], not found", rdn);
    free(rdn);
    return hit;
}

/* ---- distinguished names (go-ldap's ParseDN, Equal, RDNsMatch) ----------- */

#define TLS_DN_MAX_ATTRS 64

struct tls_dn_attr {
    char type[256];
    char value[256];
    int rdn; /* index of its RDN */
};

struct tls_dn {
    struct tls_dn_attr a[TLS_DN_MAX_ATTRS];
    int n;
    int nrdn;
};

static void tls_trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ')
        i++;
    memmove(s, s + i, n - i + 1);
}

static int tls_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Parse an RFC 4514 string; -1 when it is not a DN. */
static int tls_dn_parse(const char *s, struct tls_dn *dn)
{
    memset(dn, 0, sizeof(*dn));
    if (!*s)
        return -1;
    char buf[256];
    size_t bl = 0;
    bool in_value = false;
    struct tls_dn_attr *cur = &dn->a[0];
    for (const char *p = s;; p++) {
        char ch = *p;
        if (ch == '\\' && p[1]) {
            int h1 = tls_hexval(p[1]), h2 = p[2] ? tls_hexval(p[2]) : -1;
            if (h1 >= 0 && h2 >= 0) {
                ch = (char)(h1 * 16 + h2);
                p += 2;
            } else {
                ch = p[1];
                p++;
            }
            if (bl + 1 < sizeof(buf))
                buf[bl++] = ch;
            continue;
        }
        if (!in_value && ch == '=') {
            buf[bl] = '\0';
            tls_trim(buf);
            if (!buf[0])
                return -1;
            snprintf(cur->type, sizeof(cur->type), "%s", buf);
            bl = 0;
            in_value = true;
            continue;
        }
        if (ch == ',' || ch == '+' || ch == ';' || ch == '\0') {
            if (!in_value)
                return -1;
            buf[bl] = '\0';
            tls_trim(buf);
            snprintf(cur->value, sizeof(cur->value), "%s", buf);
            cur->rdn = dn->nrdn;
            dn->n++;
            if (ch != '+')
                dn->nrdn++;
            if (ch == '\0')
                return 0;
            if (dn->n >= TLS_DN_MAX_ATTRS)
                return -1;
            cur = &dn->a[dn->n];
            bl = 0;
            in_value = false;
            continue;
        }
        if (bl + 1 < sizeof(buf))
            buf[bl++] = ch;
    }
}

/* The peer subject in go-ldap's form: last RDN first; -1 on a type go-ldap
 * does not know (no DN match then, as FromRawCertSubject fails). */
static int tls_dn_from_cert(X509_NAME *nm, struct tls_dn *dn)
{
    memset(dn, 0, sizeof(*dn));
    int cnt = X509_NAME_entry_count(nm);
    int last_set = -1;
    for (int i = cnt - 1; i >= 0; i--) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(nm, i);
        const char *type = tls_ldap_type(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
        if (!type || dn->n >= TLS_DN_MAX_ATTRS)
            return -1;
        int set = X509_NAME_ENTRY_set(e);
        if (set != last_set) {
            dn->nrdn++;
            last_set = set;
        }
        struct tls_dn_attr *a = &dn->a[dn->n++];
        snprintf(a->type, sizeof(a->type), "%s", type);
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        snprintf(a->value, sizeof(a->value), "%.*s", ASN1_STRING_length(v),
                 (const char *)ASN1_STRING_get0_data(v));
        a->rdn = dn->nrdn - 1;
    }
    return 0;
}

static bool tls_attr_eq(const struct tls_dn_attr *x, const struct tls_dn_attr *y)
{
    return strcasecmp(x->type, y->type) == 0 && strcmp(x->value, y->value) == 0;
}

/* Every attribute of RDN ra in a is in RDN rb of b, and the sizes agree. */
static bool tls_rdn_eq(const struct tls_dn *a, int ra, const struct tls_dn *b, int rb)
{
    int na = 0, nb = 0;
    for (int i = 0; i < a->n; i++)
        na += a->a[i].rdn == ra;
    for (int j = 0; j < b->n; j++)
        nb += b->a[j].rdn == rb;
    if (na != nb)
        return false;
    for (int i = 0; i < a->n; i++) {
        if (a->a[i].rdn != ra)
            continue;
        bool found = false;
        for (int j = 0; j < b->n && !found; j++)
            found = b->a[j].rdn == rb && tls_attr_eq(&a->a[i], &b->a[j]);
        if (!found)
            return false;
    }
    for (int j = 0; j < b->n; j++) {
        if (b->a[j].rdn != rb)
            continue;
        bool found = false;
        for (int i = 0; i < a->n && !found; i++)
            found = a->a[i].rdn == ra && tls_attr_eq(&a->a[i], &b->a[j]);
        if (!found)
            return false;
    }
    return true;
}

bool tls_peer_dn_matches(struct conn *c, const char *dn)
{
    if (!c->tls || !c->tls->done || !dn)
        return false;
    X509 *peer = SSL_get0_peer_certificate(c->tls->ssl);
    if (!peer)
        return false;
    struct tls_dn *want = xmalloc(sizeof(*want));
    struct tls_dn *have = xmalloc(sizeof(*have));
    bool ok = false;
    if (tls_dn_parse(dn, want) == 0 && tls_dn_from_cert(X509_get_subject_name(peer), have) == 0 &&
        want->nrdn == have->nrdn) {
        ok = true; /* in order */
        for (int r = 0; ok && r < want->nrdn; r++)
            ok = tls_rdn_eq(want, r, have, r);
        if (!ok) { /* reordered */
            ok = true;
            for (int r = 0; ok && r < want->nrdn; r++) {
                bool any = false;
                for (int q = 0; !any && q < have->nrdn; q++)
                    any = tls_rdn_eq(want, r, have, q);
                ok = any;
            }
        }
    }
    free(want);
    free(have);
    return ok;
}
