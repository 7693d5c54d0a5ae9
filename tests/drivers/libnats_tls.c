/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnats_tls: the official NATS C client (libnats) over TLS, for
 * tests/system/test_11_tls.py.
 *
 *   libnats_tls <scenario> <url> <certdir>
 *
 * certdir holds ca.pem, client.pem and client-key.pem (natsd.py's
 * make_test_certs). Scenarios:
 *   ca          TLS with the server verified against ca.pem; pub/sub/request
 *   clientcert  the same, presenting client.pem
 *   nocert      no client certificate to a server that requires one: the
 *               connection must fail
 *   untrusted   no CA given (system roots): verifying the server must fail
 *
 * Exits 0 and prints "OK <scenario>" on success; prints one line
 * "FAIL <scenario>: <reason>" on stderr and exits 1 otherwise.
 */

#include <nats/nats.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000

static const char *scenario = "?";

static void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "FAIL %s: ", scenario);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    nats_PrintLastErrorStack(stderr);
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        natsStatus s_ = (call);                                                                    \
        if (s_ != NATS_OK)                                                                         \
            fail("%s: %s", #call, natsStatus_GetText(s_));                                         \
    } while (0)

static natsStatus try_connect(const char *url, const char *dir, bool ca, bool cert,
                              natsConnection **nc)
{
    natsOptions *o = NULL;
    char a[4096], b[4096];
    CHECK(natsOptions_Create(&o));
    CHECK(natsOptions_SetURL(o, url));
    CHECK(natsOptions_SetSecure(o, true));
    CHECK(natsOptions_SetTimeout(o, TIMEOUT_MS));
    CHECK(natsOptions_SetMaxReconnect(o, 0));
    if (ca) {
        snprintf(a, sizeof(a), "%s/ca.pem", dir);
        CHECK(natsOptions_LoadCATrustedCertificates(o, a));
    }
    if (cert) {
        snprintf(a, sizeof(a), "%s/client.pem", dir);
        snprintf(b, sizeof(b), "%s/client-key.pem", dir);
        CHECK(natsOptions_LoadCertificatesChain(o, a, b));
    }
    natsStatus s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* Subscribe, publish, flush, receive; then a request answered by ourselves. */
static void pubsub(natsConnection *nc)
{
    natsSubscription *sub = NULL, *rsub = NULL;
    natsMsg *m = NULL;
    CHECK(natsConnection_SubscribeSync(&sub, nc, "tls.foo"));
    CHECK(natsConnection_Flush(nc));
    /* a payload larger than a TLS record, and small ones */
    size_t big = 100 * 1024;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)('a' + i % 26);
    CHECK(natsConnection_Publish(nc, "tls.foo", p, (int)big));
    for (int i = 0; i < 100; i++)
        CHECK(natsConnection_PublishString(nc, "tls.foo", "hello"));
    CHECK(natsConnection_Flush(nc));
    CHECK(natsSubscription_NextMsg(&m, sub, TIMEOUT_MS));
    if (natsMsg_GetDataLength(m) != (int)big || memcmp(natsMsg_GetData(m), p, big) != 0)
        fail("big message corrupted (%d bytes)", natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    for (int i = 0; i < 100; i++) {
        CHECK(natsSubscription_NextMsg(&m, sub, TIMEOUT_MS));
        if (strcmp(natsMsg_GetData(m), "hello") != 0)
            fail("unexpected payload %s", natsMsg_GetData(m));
        natsMsg_Destroy(m);
    }
    free(p);
    CHECK(natsConnection_SubscribeSync(&rsub, nc, "tls.svc"));
    CHECK(natsConnection_Flush(nc));
    CHECK(natsConnection_PublishRequestString(nc, "tls.svc", "tls.reply", "q"));
    CHECK(natsSubscription_NextMsg(&m, rsub, TIMEOUT_MS));
    if (strcmp(natsMsg_GetReply(m), "tls.reply") != 0)
        fail("bad reply subject %s", natsMsg_GetReply(m));
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(rsub);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <scenario> <url> <certdir>\n", argv[0]);
        return 2;
    }
    scenario = argv[1];
    const char *url = argv[2], *dir = argv[3];
    natsConnection *nc = NULL;
    if (strcmp(scenario, "ca") == 0 || strcmp(scenario, "clientcert") == 0) {
        CHECK(try_connect(url, dir, true, strcmp(scenario, "clientcert") == 0, &nc));
        pubsub(nc);
        natsConnection_Destroy(nc);
    } else if (strcmp(scenario, "nocert") == 0 || strcmp(scenario, "untrusted") == 0) {
        bool ca = strcmp(scenario, "nocert") == 0;
        natsStatus s = try_connect(url, dir, ca, false, &nc);
        if (s == NATS_OK) {
            /* a refused client certificate may only show at the first round trip */
            s = natsConnection_FlushTimeout(nc, 2000);
            natsConnection_Destroy(nc);
            if (s == NATS_OK)
                fail("connected although it should not");
        }
    } else {
        fail("unknown scenario");
    }
    printf("OK %s\n", scenario);
    nats_Close();
    return 0;
}
