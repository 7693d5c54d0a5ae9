/* SPDX-License-Identifier: Apache-2.0
 * The file checks of a tls {} block, so that natsd rejects the same cert, key
 * and CA files nats-server's GenTLSConfig rejects, with the same texts. PEM is
 * split here as Go's encoding/pem does; DER goes to OpenSSL. No TLS contexts. */
#include "opts.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "mem.h"
#include "opts_internal.h"

/* Files larger than this are not certificates; refuse rather than read. */
#define OPTS_TLS_MAX_FILE (16 * 1024 * 1024)

struct opts_pem_block {
    char type[128];
    bool headers;
    unsigned char *der;
    size_t len;
};

struct opts_pem {
    struct opts_pem_block *b;
    size_t n;
};

/* Go's syscall error texts are glibc's with a lower-case first letter. */
static void opts_tls_errno(char *err, size_t errsize, const char *op, const char *path, int e)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", strerror(e));
    if (msg[0] >= 'A' && msg[0] <= 'Z')
        msg[0] = (char)(msg[0] - 'A' + 'a');
    snprintf(err, errsize, "%s %s: %s", op, path, msg);
}

/* os.ReadFile: "open X: ..." when it cannot be opened, "read X: ..." after. */
static int opts_tls_read(const char *path, char **out, size_t *outlen, char *err, size_t errsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        opts_tls_errno(err, errsize, "open", path, errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        opts_tls_errno(err, errsize, "read", path, errno);
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        opts_tls_errno(err, errsize, "read", path, EISDIR);
        close(fd);
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= OPTS_TLS_MAX_FILE) {
                opts_tls_errno(err, errsize, "read", path, EFBIG);
                free(buf);
                close(fd);
                return -1;
            }
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            opts_tls_errno(err, errsize, "read", path, errno);
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

static int opts_b64_val(unsigned char c)
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

/* Strict standard base64 (padding required); blanks and line ends skipped. */
static unsigned char *opts_b64_decode(const char *s, size_t n, size_t *outlen)
{
    unsigned char *out = xmalloc(n / 4 * 3 + 3);
    size_t w = 0;
    unsigned acc = 0;
    int nq = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            acc <<= 6;
            nq++;
        } else {
            int v = opts_b64_val(c);
            if (v < 0 || pad > 0)
                goto bad;
            acc = acc << 6 | (unsigned)v;
            nq++;
        }
        if (nq == 4) {
            if (pad > 2)
                goto bad;
            out[w++] = (unsigned char)(acc >> 16);
            if (pad < 2)
                out[w++] = (unsigned char)(acc >> 8);
            if (pad < 1)
                out[w++] = (unsigned char)acc;
            acc = 0;
            nq = 0;
            if (pad > 0)
                pad = 3; /* nothing may follow a padded quantum */
        }
    }
    if (nq != 0)
        goto bad;
    *outlen = w;
    return out;
bad:
    free(out);
    return NULL;
}

/* One line of s from p: [p, *eol) without trailing blanks; *next after '\n'. */
static size_t opts_pem_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    return (size_t)(e - p);
}

/* Split data into PEM blocks as Go's pem.Decode does, one after another;
 * blocks that do not decode are skipped. */
static void opts_pem_split(const char *data, size_t len, struct opts_pem *out)
{
    static const char begin[] = "-----BEGIN ";
    const char *end = data + len, *p = data;
    memset(out, 0, sizeof(*out));
    for (;;) {
        const char *b = NULL;
        if ((size_t)(end - p) >= sizeof(begin) - 1 && memcmp(p, begin, sizeof(begin) - 1) == 0)
            b = p;
        else {
            for (const char *q = p; q + sizeof(begin) <= end; q++)
                if (*q == '\n' && memcmp(q + 1, begin, sizeof(begin) - 1) == 0) {
                    b = q + 1;
                    break;
                }
        }
        if (b == NULL)
            return;
        const char *tl = b + sizeof(begin) - 1, *rest;
        size_t tlen = opts_pem_line(tl, end, &rest);
        p = rest;
        if (tlen < 5 || memcmp(tl + tlen - 5, "-----", 5) != 0)
            continue;
        tlen -= 5;
        struct opts_pem_block blk;
        memset(&blk, 0, sizeof(blk));
        snprintf(blk.type, sizeof(blk.type), "%.*s", (int)tlen, tl);
        /* headers: "Key: value" lines before the base64 body */
        for (;;) {
            const char *next;
            if (rest >= end)
                break;
            size_t ln = opts_pem_line(rest, end, &next);
            if (memchr(rest, ':', ln) == NULL)
                break;
            blk.headers = true;
            rest = next;
        }
        const char *body = rest, *endm = NULL;
        for (const char *q = rest; q + 10 <= end; q++)
            if ((q == body || q[-1] == '\n') && memcmp(q, "-----END ", 9) == 0) {
                endm = q;
                break;
            }
        if (endm == NULL)
            continue;
        const char *et = endm + 9, *after;
        size_t elen = opts_pem_line(et, end, &after);
        if (elen != tlen + 5 || memcmp(et, tl, tlen) != 0 || memcmp(et + tlen, "-----", 5) != 0)
            continue;
        blk.der = opts_b64_decode(body, (size_t)(endm - body), &blk.len);
        if (blk.der == NULL)
            continue;
        out->b = xrealloc(out->b, (out->n + 1) * sizeof(*out->b));
        out->b[out->n++] = blk;
        p = after;
    }
}

static void opts_pem_free(struct opts_pem *pem)
{
    for (size_t i = 0; i < pem->n; i++)
        free(pem->b[i].der);
    NFREE(pem->b);
    pem->n = 0;
}

static bool opts_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Go's "%v" of a []string: "[A B]". */
static void opts_types_list(const struct opts_pem *pem, const bool *skip, char *buf, size_t size)
{
    size_t w = 0;
    w += (size_t)snprintf(buf, size, "[");
    bool first = true;
    for (size_t i = 0; i < pem->n && w < size; i++) {
        if (!skip[i])
            continue;
        w += (size_t)snprintf(buf + w, size - w, "%s%s", first ? "" : " ", pem->b[i].type);
        first = false;
    }
    if (w < size)
        snprintf(buf + w, size - w, "]");
}

/* The body of Go's tls.X509KeyPair on PEM data already read. */
/* NOLINTNEXTLINE(readability-function-size): a linear sequence of checks, kept whole */
static int opts_tls_keypair(const struct opts_pem *cp, const struct opts_pem *kp, char *err,
                            size_t errsize)
{
    const struct opts_pem_block *cert = NULL, *key = NULL;
    bool skipped[64] = {false};
    size_t nskip = 0;
    for (size_t i = 0; i < cp->n; i++) {
        if (strcmp(cp->b[i].type, "CERTIFICATE") == 0) {
            if (cert == NULL)
                cert = &cp->b[i];
        } else if (i < ARRAY_LEN(skipped)) {
            skipped[i] = true;
            nskip++;
        }
    }
    if (cert == NULL) {
        char list[256];
        if (nskip == 0) {
            snprintf(err, errsize, "tls: failed to find any PEM data in certificate input");
        } else if (nskip == 1 && opts_suffix(cp->b[0].type, "PRIVATE KEY")) {
            snprintf(err, errsize,
                     "tls: failed to find certificate PEM data in certificate input, but did "
                     "find a private key; PEM inputs may have been switched");
        } else {
            opts_types_list(cp, skipped, list, sizeof(list));
            snprintf(err, errsize,
                     "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after "
                     "skipping PEM blocks of the following types: %s",
                     list);
        }
        return -1;
    }
    memset(skipped, 0, sizeof(skipped));
    nskip = 0;
    for (size_t i = 0; i < kp->n && key == NULL; i++) {
        if (strcmp(kp->b[i].type, "PRIVATE KEY") == 0 || opts_suffix(kp->b[i].type, " PRIVATE KEY"))
            key = &kp->b[i];
        else if (i < ARRAY_LEN(skipped)) {
            skipped[i] = true;
            nskip++;
        }
    }
    if (key == NULL) {
        char list[256];
        if (nskip == 0) {
            snprintf(err, errsize, "tls: failed to find any PEM data in key input");
        } else if (nskip == 1 && strcmp(kp->b[0].type, "CERTIFICATE") == 0) {
            snprintf(err, errsize,
                     "tls: found a certificate rather than a key in the PEM for the private key");
        } else {
            opts_types_list(kp, skipped, list, sizeof(list));
            snprintf(err, errsize,
                     "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key "
                     "input after skipping PEM blocks of the following types: %s",
                     list);
        }
        return -1;
    }
    const unsigned char *p = cert->der;
    X509 *x = d2i_X509(NULL, &p, (long)cert->len);
    if (x == NULL) {
        snprintf(err, errsize, "x509: malformed certificate");
        return -1;
    }
    p = key->der;
    EVP_PKEY *priv = d2i_AutoPrivateKey(NULL, &p, (long)key->len);
    if (priv == NULL) {
        X509_free(x);
        snprintf(err, errsize, "tls: failed to parse private key");
        return -1;
    }
    int rc = 0;
    EVP_PKEY *pub = X509_get0_pubkey(x);
    int pt = pub ? EVP_PKEY_get_base_id(pub) : 0;
    if (pt != EVP_PKEY_RSA && pt != EVP_PKEY_EC && pt != EVP_PKEY_ED25519) {
        snprintf(err, errsize, "tls: unknown public key algorithm");
        rc = -1;
    } else if (EVP_PKEY_get_base_id(priv) != pt) {
        snprintf(err, errsize, "tls: private key type does not match public key type");
        rc = -1;
    } else if (EVP_PKEY_eq(pub, priv) != 1) {
        snprintf(err, errsize, "tls: private key does not match public key");
        rc = -1;
    }
    EVP_PKEY_free(priv);
    X509_free(x);
    return rc;
}

static int opts_tls_check_pair(const char *cert_file, const char *key_file, char *err,
                               size_t errsize)
{
    char *cb = NULL, *kb = NULL, why[1024];
    size_t cl = 0, kl = 0;
    int rc = -1;
    struct opts_pem cp = {0}, kp = {0};
    if (opts_tls_read(cert_file, &cb, &cl, why, sizeof(why)) != 0 ||
        opts_tls_read(key_file, &kb, &kl, why, sizeof(why)) != 0)
        goto out;
    opts_pem_split(cb, cl, &cp);
    opts_pem_split(kb, kl, &kp);
    rc = opts_tls_keypair(&cp, &kp, why, sizeof(why));
out:
    if (rc != 0)
        snprintf(err, errsize, "error parsing X509 certificate/key pair: %s", why);
    opts_pem_free(&cp);
    opts_pem_free(&kp);
    free(cb);
    free(kb);
    return rc;
}

/* x509.CertPool.AppendCertsFromPEM: true when one certificate was added. */
static bool opts_tls_any_ca(const struct opts_pem *pem)
{
    for (size_t i = 0; i < pem->n; i++) {
        if (strcmp(pem->b[i].type, "CERTIFICATE") != 0 || pem->b[i].headers)
            continue;
        const unsigned char *p = pem->b[i].der;
        X509 *x = d2i_X509(NULL, &p, (long)pem->b[i].len);
        if (x != NULL) {
            X509_free(x);
            return true;
        }
    }
    return false;
}

/* Mirrors the checks of GenTLSConfig (opts.go), in its order. */
int opts_tls_check_files(const struct opts_tls *t, char *err, size_t errsize)
{
    bool cert = t->cert_file != NULL && t->cert_file[0] != '\0';
    bool key = t->key_file != NULL && t->key_file[0] != '\0';
    if (cert && !key) {
        snprintf(err, errsize, "missing 'key_file' in TLS configuration");
        return -1;
    }
    if (!cert && key) {
        snprintf(err, errsize, "missing 'cert_file' in TLS configuration");
        return -1;
    }
    if (cert && opts_tls_check_pair(t->cert_file, t->key_file, err, errsize) != 0)
        return -1;
    if (t->ca_file != NULL && t->ca_file[0] != '\0') {
        char *buf;
        size_t len;
        if (opts_tls_read(t->ca_file, &buf, &len, err, errsize) != 0)
            return -1;
        struct opts_pem pem;
        opts_pem_split(buf, len, &pem);
        bool ok = opts_tls_any_ca(&pem);
        opts_pem_free(&pem);
        free(buf);
        if (!ok) {
            snprintf(err, errsize, "failed to parse root ca certificate");
            return -1;
        }
    }
    return 0;
}

/* hasOCSPStatusRequest: the leaf (the file's first certificate) carries the
 * TLS Feature extension with status_request (5), "OCSP Must-Staple". */
bool opts_tls_must_staple(const char *cert_file)
{
    char *buf, err[64];
    size_t len;
    if (cert_file == NULL || cert_file[0] == '\0' ||
        opts_tls_read(cert_file, &buf, &len, err, sizeof(err)) != 0)
        return false;
    struct opts_pem pem;
    opts_pem_split(buf, len, &pem);
    bool must = false;
    for (size_t i = 0; i < pem.n; i++) {
        if (strcmp(pem.b[i].type, "CERTIFICATE") != 0)
            continue;
        const unsigned char *p = pem.b[i].der;
        X509 *x = d2i_X509(NULL, &p, (long)pem.b[i].len);
        TLS_FEATURE *f = x ? X509_get_ext_d2i(x, NID_tlsfeature, NULL, NULL) : NULL;
        for (int k = 0; f != NULL && k < sk_ASN1_INTEGER_num(f); k++)
            must = must || ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, k)) == 5;
        TLS_FEATURE_free(f);
        X509_free(x);
        break;
    }
    opts_pem_free(&pem);
    free(buf);
    return must;
}
