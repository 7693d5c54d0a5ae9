/* SPDX-License-Identifier: Apache-2.0
 * Stream and service imports between accounts (nats-server client.go
 * processServiceImport, checkForImportServices, setHeader; accounts.go
 * addRespServiceImport, newServiceReply). */
#include "imports.h"

#include <stdio.h>
#include <string.h>

#include "account.h"
#include "common.h"
#include "conn.h"
#include "deliver.h"
#include "loop.h"
#include "mem.h"
#include "sbuf.h"
#include "worker.h"

#define IMPORTS_MAX_SUBJECT 1024
#define IMPORTS_REQ_INFO    "Nats-Request-Info"
#define IMPORTS_PRUNE_AT    1024

/* A response mapping in the exporter: the "_R_." key, and where the response
 * goes (account and the requester's reply). */
struct imports_resp {
    struct account *to;
    uint64_t expires_ns;
    bool singleton;
    size_t klen, rlen;
    char data[]; /* key, then reply */
};

static void imports_resp_key(const void *v, const char **k, size_t *n)
{
    const struct imports_resp *r = v;
    *k = r->data;
    *n = r->klen;
}

static const struct hmap_ops imports_resp_ops = {.key = imports_resp_key};

size_t imports_streams(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m)
{
    size_t n = 0;
    char subj[IMPORTS_MAX_SUBJECT];
    const struct account_imports *im = account_imports(acc);
    for (size_t i = 0; im && i < im->n_streams_out; i++) {
        const struct account_stream_out *so = &im->streams_out[i];
        if (!account_map_matches(&so->map, m->subject, m->subject_len))
            continue;
        int len = account_map_apply(&so->map, m->subject, m->subject_len, subj, sizeof(subj));
        if (len <= 0)
            continue;
        struct deliver_msg mm = *m;
        mm.subject = subj;
        mm.subject_len = (size_t)len;
        n += deliver_account(w, src, so->importer, &mm, NULL);
    }
    return n;
}

struct imports_prune {
    uint64_t now;
    void **v;
    size_t n;
};

static void imports_prune_cb(void *val, void *arg)
{
    struct imports_prune *p = arg;
    if (((struct imports_resp *)val)->expires_ns < p->now)
        p->v[p->n++] = val;
}

/* Drop expired mappings. resp_mu held. */
static void imports_resp_prune(struct account *a, uint64_t now)
{
    struct imports_prune p = {now, xmalloc(a->resp.n * sizeof(void *)), 0};
    hmap_each(&a->resp, imports_prune_cb, &p);
    for (size_t i = 0; i < p.n; i++) {
        struct imports_resp *r = p.v[i];
        hmap_del(&a->resp, &imports_resp_ops, r->data, r->klen);
        free(r);
    }
    atomic_store(&a->nresp, a->resp.n);
    free(p.v);
}

/* addRespServiceImport: a new "_R_.<pre>.<rand>" reply in the exporter that
 * leads back to reply in the requester's account. Writes it to key
 * (NUL-terminated) and returns its length. */
static size_t imports_resp_add(struct worker *w, const struct account_service_in *si,
                               struct account *requester, const char *reply, size_t rlen, char *key)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    struct account *a = si->exporter;
    size_t pl = strlen(a->resp_prefix);
    uint64_t now = loop_clock_ns();
    memcpy(key, a->resp_prefix, pl);
    pthread_mutex_lock(&a->resp_mu);
    size_t klen;
    for (;;) {
        uint64_t r = worker_rand(w);
        for (int i = 0; i < 6; i++) {
            key[pl + (size_t)i] = digits[r % 62];
            r /= 62;
        }
        klen = pl + 6;
        key[klen] = '\0';
        if (!hmap_get(&a->resp, &imports_resp_ops, key, klen))
            break;
    }
    if (a->resp.n >= IMPORTS_PRUNE_AT)
        imports_resp_prune(a, now);
    struct imports_resp *e = xmalloc(sizeof(*e) + klen + rlen);
    e->to = requester;
    e->expires_ns = now + si->threshold_ns;
    e->singleton = si->singleton;
    e->klen = klen;
    e->rlen = rlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, reply, rlen);
    hmap_put(&a->resp, &imports_resp_ops, e);
    atomic_store(&a->nresp, a->resp.n);
    pthread_mutex_unlock(&a->resp_mu);
    return klen;
}

/* The header block of a request crossing into the exporter: the original one
 * (without a Nats-Request-Info line) or "NATS/1.0", plus the requester's
 * client info (setHeader with getClientInfo(false)). */
static void imports_req_header(struct conn *src, struct account *acc, const struct deliver_msg *m,
                               struct sbuf *b)
{
    if (m->hdr_len > 2) {
        const char *h = m->payload;
        size_t hl = m->hdr_len - 2; /* without the blank line */
        const char *key = "\r\n" IMPORTS_REQ_INFO ":";
        size_t kl = strlen(key);
        const char *found = NULL;
        for (size_t i = 0; i + kl <= hl; i++)
            if (memcmp(h + i, key, kl) == 0) {
                found = h + i;
                break;
            }
        if (found) {
            const char *end = found + 2;
            while (end + 1 < h + hl && !(end[0] == '\r' && end[1] == '\n'))
                end++;
            sbuf_add(b, h, (size_t)(found - h));
            sbuf_add(b, end, (size_t)(h + hl - end));
        } else {
            sbuf_add(b, h, hl);
        }
    } else {
        sbuf_adds(b, "NATS/1.0\r\n");
    }
    sbuf_adds(b, IMPORTS_REQ_INFO ": {\"acc\":");
    sbuf_add_json_str(b, acc->name, strlen(acc->name));
    if (src->rtt_ns)
        sbuf_addf(b, ",\"rtt\":%llu", (unsigned long long)src->rtt_ns);
    sbuf_adds(b, "}\r\n\r\n");
}

/* processServiceImport for a request matching si. */
static size_t imports_request(struct worker *w, struct conn *src, struct account *acc,
                              const struct account_service_in *si, const struct deliver_msg *m)
{
    char subj[IMPORTS_MAX_SUBJECT];
    char reply[sizeof(((struct account *)0)->resp_prefix) + 8];
    int len = account_map_apply(&si->map, m->subject, m->subject_len, subj, sizeof(subj));
    if (len <= 0)
        return 0;
    struct deliver_msg mm = *m;
    mm.subject = subj;
    mm.subject_len = (size_t)len;
    mm.reply = NULL;
    mm.reply_len = 0;
    if (m->reply && m->reply_len) {
        mm.reply = reply;
        mm.reply_len = imports_resp_add(w, si, acc, m->reply, m->reply_len, reply);
    }
    struct sbuf b = {0};
    imports_req_header(src, acc, m, &b);
    size_t hdr = b.len;
    size_t body = m->total_len - m->hdr_len;
    sbuf_add(&b, m->payload + m->hdr_len, body);
    char htok[24], ttok[24];
    mm.hdr_tok = htok;
    mm.hdr_tok_len = (size_t)snprintf(htok, sizeof(htok), "%zu", hdr);
    mm.total_tok = ttok;
    mm.total_tok_len = (size_t)snprintf(ttok, sizeof(ttok), "%zu", hdr + body);
    mm.hdr_len = hdr;
    mm.total_len = hdr + body;
    mm.payload = b.p;
    size_t n = deliver_local(w, src, si->exporter, &mm);
    sbuf_free(&b);
    return n;
}

/* A publish in acc on one of its response replies: to the requester. */
static size_t imports_response(struct worker *w, struct conn *src, struct account *acc,
                               const struct deliver_msg *m)
{
    pthread_mutex_lock(&acc->resp_mu);
    struct imports_resp *r = hmap_get(&acc->resp, &imports_resp_ops, m->subject, m->subject_len);
    if (!r) {
        pthread_mutex_unlock(&acc->resp_mu);
        return 0;
    }
    uint64_t now = loop_clock_ns();
    bool expired = r->expires_ns < now;
    if (r->singleton || expired) {
        hmap_del(&acc->resp, &imports_resp_ops, m->subject, m->subject_len);
        atomic_store(&acc->nresp, acc->resp.n);
    }
    struct account *to = r->to;
    char *reply = xmalloc(r->rlen + 1);
    size_t rlen = r->rlen;
    memcpy(reply, r->data + r->klen, rlen);
    if (r->singleton || expired)
        free(r);
    pthread_mutex_unlock(&acc->resp_mu);
    size_t n = 0;
    if (!expired) {
        struct deliver_msg mm = *m;
        mm.subject = reply;
        mm.subject_len = rlen;
        mm.reply = NULL;
        mm.reply_len = 0;
        n = deliver_local(w, src, to, &mm);
    }
    free(reply);
    return n;
}

size_t imports_services(struct worker *w, struct conn *src, struct account *acc,
                        const struct deliver_msg *m)
{
    size_t n = 0;
    if (atomic_load_explicit(&acc->nresp, memory_order_relaxed) > 0 && m->subject_len > 4 &&
        memcmp(m->subject, "_R_.", 4) == 0)
        n += imports_response(w, src, acc, m);
    const struct account_imports *im = account_imports(acc);
    for (size_t i = 0; im && i < im->n_services_in; i++) {
        const struct account_service_in *si = &im->services_in[i];
        if (account_map_matches(&si->map, m->subject, m->subject_len)) {
            /* a forwarded request counts as delivered: no 503 to the
             * requester even when the exporter has no responder, as
             * checkForImportServices reports */
            size_t k = imports_request(w, src, acc, si, m);
            n += k ? k : 1;
            break;
        }
    }
    return n;
}
