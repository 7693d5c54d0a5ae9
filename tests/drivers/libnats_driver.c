/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnats_driver: scenarios played by the official NATS C client (libnats)
 * against a server, for tests/system/test_10_libnats.py.
 *
 *   libnats_driver <scenario> <url>
 *
 * Each scenario exits 0 on success; on failure it prints one line
 * "FAIL <scenario>: <reason>" on stderr and exits 1. The reconnect scenario
 * talks to the test on stdin/stdout: it prints "PHASE1 OK", waits for a line
 * on stdin (the test restarts the server on the same port meanwhile), then
 * checks that the connection came back with its subscription.
 */

#include <nats/nats.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* Fails with the call's text when s is not NATS_OK. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        natsStatus s_ = (call);                                                                    \
        if (s_ != NATS_OK)                                                                         \
            fail("%s: %s", #call, natsStatus_GetText(s_));                                         \
    } while (0)

static natsConnection *connect_url(const char *url)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;

    CHECK(natsOptions_Create(&o));
    CHECK(natsOptions_SetURL(o, url));
    CHECK(natsOptions_SetTimeout(o, TIMEOUT_MS));
    CHECK(natsConnection_Connect(&nc, o));
    natsOptions_Destroy(o);
    return nc;
}

/* Next message of a sync subscription, or fail. */
static natsMsg *next(natsSubscription *sub, const char *what)
{
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, TIMEOUT_MS);

    if (s != NATS_OK)
        fail("waiting for %s: %s", what, natsStatus_GetText(s));
    return m;
}

/* No message may be pending on sub after a flush. */
static void none(natsConnection *nc, natsSubscription *sub, const char *what)
{
    natsMsg *m = NULL;
    natsStatus s;

    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    s = natsSubscription_NextMsg(&m, sub, 200);
    if (s == NATS_OK) {
        fail("unexpected message on %s: subject %s data %.*s", what, natsMsg_GetSubject(m),
             natsMsg_GetDataLength(m), natsMsg_GetData(m));
    }
    if (s != NATS_TIMEOUT)
        fail("%s: %s", what, natsStatus_GetText(s));
}

static void expect_data(natsMsg *m, const char *subject, const char *data)
{
    if (strcmp(natsMsg_GetSubject(m), subject) != 0)
        fail("subject %s, expected %s", natsMsg_GetSubject(m), subject);
    if (natsMsg_GetDataLength(m) != (int)strlen(data) ||
        memcmp(natsMsg_GetData(m), data, strlen(data)) != 0)
        fail("data %.*s, expected %s", natsMsg_GetDataLength(m), natsMsg_GetData(m), data);
}

static int run_pubsub(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsConnection *pc = connect_url(url);
    natsSubscription *sub = NULL;
    char buf[64];

    CHECK(natsConnection_SubscribeSync(&sub, nc, "pubsub.a"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof(buf), "msg-%d", i);
        CHECK(natsConnection_PublishString(pc, "pubsub.a", buf));
    }
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    for (int i = 0; i < 1000; i++) {
        natsMsg *m = next(sub, "pubsub.a");

        snprintf(buf, sizeof(buf), "msg-%d", i);
        expect_data(m, "pubsub.a", buf);
        natsMsg_Destroy(m);
    }
    CHECK(natsConnection_PublishString(pc, "pubsub.b", "other"));
    none(pc, sub, "pubsub.a");
    CHECK(natsSubscription_Unsubscribe(sub));
    CHECK(natsConnection_PublishString(pc, "pubsub.a", "after"));
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pc);
    return 0;
}

static int run_wildcards(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsSubscription *star = NULL, *gt = NULL, *lit = NULL;
    const char *subjects[] = {"w.a", "w.b.c", "w", "x.a"};

    CHECK(natsConnection_SubscribeSync(&star, nc, "w.*"));
    CHECK(natsConnection_SubscribeSync(&gt, nc, "w.>"));
    CHECK(natsConnection_SubscribeSync(&lit, nc, "w.a"));
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
        CHECK(natsConnection_PublishString(nc, subjects[i], subjects[i]));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));

    natsMsg *m = next(star, "w.* gets w.a");
    expect_data(m, "w.a", "w.a");
    natsMsg_Destroy(m);
    none(nc, star, "w.*");
    m = next(gt, "w.> gets w.a");
    expect_data(m, "w.a", "w.a");
    natsMsg_Destroy(m);
    m = next(gt, "w.> gets w.b.c");
    expect_data(m, "w.b.c", "w.b.c");
    natsMsg_Destroy(m);
    none(nc, gt, "w.>");
    m = next(lit, "w.a gets w.a");
    expect_data(m, "w.a", "w.a");
    natsMsg_Destroy(m);
    none(nc, lit, "w.a");
    natsSubscription_Destroy(star);
    natsSubscription_Destroy(gt);
    natsSubscription_Destroy(lit);
    natsConnection_Destroy(nc);
    return 0;
}

static int run_queue(const char *url)
{
    enum { MEMBERS = 4, N = 400 };
    natsConnection *nc[MEMBERS];
    natsSubscription *sub[MEMBERS];
    natsConnection *pc = connect_url(url);
    int seen[N];
    int per[MEMBERS];

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < MEMBERS; i++) {
        nc[i] = connect_url(url);
        CHECK(natsConnection_QueueSubscribeSync(&sub[i], nc[i], "queue.work", "workers"));
        CHECK(natsConnection_FlushTimeout(nc[i], TIMEOUT_MS));
        per[i] = 0;
    }
    for (int i = 0; i < N; i++) {
        char buf[16];

        snprintf(buf, sizeof(buf), "%d", i);
        CHECK(natsConnection_PublishString(pc, "queue.work", buf));
    }
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    int total = 0;

    for (int i = 0; i < MEMBERS; i++) {
        natsMsg *m = NULL;

        CHECK(natsConnection_FlushTimeout(nc[i], TIMEOUT_MS));
        while (natsSubscription_NextMsg(&m, sub[i], 300) == NATS_OK) {
            int k = atoi(natsMsg_GetData(m));

            if (k < 0 || k >= N || seen[k])
                fail("message %d delivered twice or out of range", k);
            seen[k] = 1;
            per[i]++;
            total++;
            natsMsg_Destroy(m);
        }
    }
    if (total != N)
        fail("queue members got %d messages in all, expected %d", total, N);
    for (int i = 0; i < MEMBERS; i++) {
        if (per[i] == 0)
            fail("member %d got none of %d messages", i, N);
        natsSubscription_Destroy(sub[i]);
        natsConnection_Destroy(nc[i]);
    }
    natsConnection_Destroy(pc);
    return 0;
}

static void responder(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char buf[128];

    (void)sub;
    (void)closure;
    snprintf(buf, sizeof(buf), "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_PublishString(nc, natsMsg_GetReply(msg), buf);
    natsMsg_Destroy(msg);
}

static int run_request(const char *url)
{
    natsConnection *svc = connect_url(url);
    natsConnection *nc = connect_url(url);
    natsSubscription *s1 = NULL, *s2 = NULL;
    char buf[64], want[64];

    CHECK(natsConnection_QueueSubscribe(&s1, svc, "svc.echo", "q", responder, NULL));
    CHECK(natsConnection_QueueSubscribe(&s2, svc, "svc.echo", "q", responder, NULL));
    CHECK(natsConnection_FlushTimeout(svc, TIMEOUT_MS));
    for (int i = 0; i < 200; i++) {
        natsMsg *reply = NULL;

        snprintf(buf, sizeof(buf), "req-%d", i);
        snprintf(want, sizeof(want), "re:req-%d", i);
        CHECK(natsConnection_RequestString(&reply, nc, "svc.echo", buf, TIMEOUT_MS));
        expect_data(reply, natsMsg_GetSubject(reply), want); /* any inbox */
        natsMsg_Destroy(reply);
    }
    natsSubscription_Destroy(s1);
    natsSubscription_Destroy(s2);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(nc);
    return 0;
}

/* Request/reply across clusters: url is "<responder url>,<requester url>".
 * Interest crosses the gateway asynchronously, so the first requests may
 * find no responder (503 from the requester's server); once one succeeds,
 * every later one must. */
static int run_xrequest(const char *url)
{
    char svc_url[256], req_url[256];
    const char *comma = strchr(url, ',');

    if (!comma || (size_t)(comma - url) >= sizeof(svc_url) || strlen(comma + 1) >= sizeof(req_url))
        fail("url must be <responder url>,<requester url>: %s", url);
    memcpy(svc_url, url, (size_t)(comma - url));
    svc_url[comma - url] = '\0';
    memcpy(req_url, comma + 1, strlen(comma + 1) + 1);
    natsConnection *svc = connect_url(svc_url);
    natsConnection *nc = connect_url(req_url);
    natsSubscription *s1 = NULL;
    char buf[64], want[64];

    CHECK(natsConnection_QueueSubscribe(&s1, svc, "svc.echo", "q", responder, NULL));
    CHECK(natsConnection_FlushTimeout(svc, TIMEOUT_MS));
    for (int tries = 0;; tries++) {
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_RequestString(&reply, nc, "svc.echo", "warm-up", 500);

        natsMsg_Destroy(reply);
        if (s == NATS_OK)
            break;
        if (tries == 40)
            fail("no reply across the gateway after %d tries: %s", tries, natsStatus_GetText(s));
        nats_Sleep(250);
    }
    for (int i = 0; i < 200; i++) {
        natsMsg *reply = NULL;

        snprintf(buf, sizeof(buf), "xreq-%d", i);
        snprintf(want, sizeof(want), "re:xreq-%d", i);
        CHECK(natsConnection_RequestString(&reply, nc, "svc.echo", buf, TIMEOUT_MS));
        expect_data(reply, natsMsg_GetSubject(reply), want); /* any inbox */
        natsMsg_Destroy(reply);
    }
    natsSubscription_Destroy(s1);
    natsConnection_Destroy(svc);
    natsConnection_Destroy(nc);
    return 0;
}

static int run_headers(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsConnection *pc = connect_url(url);
    natsSubscription *sub = NULL;
    natsMsg *m = NULL, *got = NULL;
    const char *v = NULL;
    const char **vals = NULL;
    int n = 0;

    CHECK(natsConnection_SubscribeSync(&sub, nc, "hdr.test"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    CHECK(natsMsg_Create(&m, "hdr.test", "reply.x", "body", 4));
    CHECK(natsMsgHeader_Set(m, "X-One", "1"));
    CHECK(natsMsgHeader_Add(m, "X-Multi", "a"));
    CHECK(natsMsgHeader_Add(m, "X-Multi", "b"));
    CHECK(natsConnection_PublishMsg(pc, m));
    natsMsg_Destroy(m);
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    got = next(sub, "message with headers");
    expect_data(got, "hdr.test", "body");
    if (natsMsg_GetReply(got) == NULL || strcmp(natsMsg_GetReply(got), "reply.x") != 0)
        fail("reply %s", natsMsg_GetReply(got) ? natsMsg_GetReply(got) : "(none)");
    CHECK(natsMsgHeader_Get(got, "X-One", &v));
    if (strcmp(v, "1") != 0)
        fail("X-One = %s", v);
    CHECK(natsMsgHeader_Values(got, "X-Multi", &vals, &n));
    if (n != 2 || strcmp(vals[0], "a") != 0 || strcmp(vals[1], "b") != 0)
        fail("X-Multi has %d values", n);
    free((void *)vals);
    natsMsg_Destroy(got);

    /* empty payload with headers only */
    CHECK(natsMsg_Create(&m, "hdr.test", NULL, NULL, 0));
    CHECK(natsMsgHeader_Set(m, "K", "V"));
    CHECK(natsConnection_PublishMsg(pc, m));
    natsMsg_Destroy(m);
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    got = next(sub, "headers-only message");
    if (natsMsg_GetDataLength(got) != 0)
        fail("headers-only message has %d data bytes", natsMsg_GetDataLength(got));
    CHECK(natsMsgHeader_Get(got, "K", &v));
    if (strcmp(v, "V") != 0)
        fail("K = %s", v);
    natsMsg_Destroy(got);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pc);
    return 0;
}

static int run_noresponders(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsMsg *reply = NULL;
    natsStatus s;

    for (int i = 0; i < 20; i++) {
        s = natsConnection_RequestString(&reply, nc, "nobody.home", "hi", TIMEOUT_MS);
        if (s != NATS_NO_RESPONDERS)
            fail("request %d: %s, expected NATS_NO_RESPONDERS", i, natsStatus_GetText(s));
    }
    natsConnection_Destroy(nc);
    return 0;
}

static int run_flush(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsSubscription *sub = NULL;
    int64_t count = 0;

    CHECK(natsConnection_SubscribeSync(&sub, nc, "flush.x"));
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++)
            CHECK(natsConnection_PublishString(nc, "flush.x", "f"));
        CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    }
    /* after the final flush every message is already here */
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    for (int i = 0; i < 5000; i++) {
        natsMsg *m = next(sub, "flushed message");

        natsMsg_Destroy(m);
        count++;
    }
    none(nc, sub, "flush.x");
    if (count != 5000)
        fail("count %lld", (long long)count);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

static atomic_int drained;

static void count_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    atomic_fetch_add(&drained, 1);
    natsMsg_Destroy(msg);
}

static int run_drain(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsConnection *pc = connect_url(url);
    natsSubscription *sub = NULL;
    natsSubscription *check = NULL;

    CHECK(natsConnection_Subscribe(&sub, nc, "drain.x", count_cb, NULL));
    CHECK(natsConnection_SubscribeSync(&check, pc, "drain.x"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    for (int i = 0; i < 500; i++)
        CHECK(natsConnection_PublishString(pc, "drain.x", "d"));
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    CHECK(natsSubscription_Drain(sub));
    CHECK(natsSubscription_WaitForDrainCompletion(sub, TIMEOUT_MS));
    if (atomic_load(&drained) != 500)
        fail("drained subscription handled %d of 500", atomic_load(&drained));
    /* after the drain the server no longer sends to it */
    CHECK(natsConnection_PublishString(pc, "drain.x", "late"));
    CHECK(natsConnection_FlushTimeout(pc, TIMEOUT_MS));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    if (atomic_load(&drained) != 500)
        fail("drained subscription got a message after the drain");
    for (int i = 0; i < 501; i++)
        natsMsg_Destroy(next(check, "other subscriber"));
    /* drain the whole connection */
    CHECK(natsConnection_DrainTimeout(nc, TIMEOUT_MS));
    for (int i = 0; i < 200 && !natsConnection_IsClosed(nc); i++)
        nats_Sleep(50);
    if (!natsConnection_IsClosed(nc))
        fail("connection not closed after drain");
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(check);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(pc);
    return 0;
}

static int run_autounsub(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    natsStatus s;

    CHECK(natsConnection_SubscribeSync(&sub, nc, "auto.x"));
    CHECK(natsSubscription_AutoUnsubscribe(sub, 5));
    for (int i = 0; i < 10; i++)
        CHECK(natsConnection_PublishString(nc, "auto.x", "a"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    for (int i = 0; i < 5; i++)
        natsMsg_Destroy(next(sub, "auto-unsubscribed message"));
    s = natsSubscription_NextMsg(&m, sub, 300);
    if (s == NATS_OK)
        fail("a sixth message arrived");
    natsSubscription_Destroy(sub);

    /* the server side also dropped it: a fresh sub sees only new messages */
    CHECK(natsConnection_SubscribeSync(&sub, nc, "auto.x"));
    CHECK(natsConnection_PublishString(nc, "auto.x", "b"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    m = next(sub, "message to the new subscription");
    expect_data(m, "auto.x", "b");
    natsMsg_Destroy(m);
    none(nc, sub, "auto.x");
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

static int run_maxpayload(const char *url)
{
    natsConnection *nc = connect_url(url);
    natsSubscription *sub = NULL;
    int64_t max = natsConnection_GetMaxPayload(nc);
    int sizes[] = {0, 1, 1000, 65536, 0 /* max */};
    char *buf;
    natsStatus s;

    if (max <= 0)
        fail("max payload %lld", (long long)max);
    sizes[4] = (int)max;
    buf = malloc((size_t)max + 1);
    if (buf == NULL)
        fail("out of memory");
    for (int64_t i = 0; i <= max; i++)
        buf[i] = (char)('a' + i % 26);
    CHECK(natsConnection_SubscribeSync(&sub, nc, "big.x"));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        natsMsg *m;

        if (sizes[k] > max)
            continue;
        CHECK(natsConnection_Publish(nc, "big.x", buf, sizes[k]));
        CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
        m = next(sub, "large message");
        if (natsMsg_GetDataLength(m) != sizes[k] || memcmp(natsMsg_GetData(m), buf, sizes[k]) != 0)
            fail("payload of %d bytes came back as %d bytes", sizes[k], natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
    }
    /* one byte over: the client refuses it itself */
    s = natsConnection_Publish(nc, "big.x", buf, (int)max + 1);
    if (s != NATS_MAX_PAYLOAD)
        fail("publish of max+1 bytes: %s, expected NATS_MAX_PAYLOAD", natsStatus_GetText(s));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    none(nc, sub, "big.x");
    free(buf);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return 0;
}

static atomic_int reconnects;

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    atomic_fetch_add(&reconnects, 1);
}

static int run_reconnect(const char *url)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;
    natsSubscription *sub = NULL;
    char line[64];

    CHECK(natsOptions_Create(&o));
    CHECK(natsOptions_SetURL(o, url));
    CHECK(natsOptions_SetTimeout(o, TIMEOUT_MS));
    CHECK(natsOptions_SetMaxReconnect(o, 600));
    CHECK(natsOptions_SetReconnectWait(o, 100));
    CHECK(natsOptions_SetReconnectedCB(o, on_reconnected, NULL));
    CHECK(natsConnection_Connect(&nc, o));
    CHECK(natsConnection_SubscribeSync(&sub, nc, "rc.x"));
    CHECK(natsConnection_PublishString(nc, "rc.x", "before"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    natsMsg *m = next(sub, "message before the restart");

    expect_data(m, "rc.x", "before");
    natsMsg_Destroy(m);
    printf("PHASE1 OK\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL)
        fail("stdin closed before the restart was announced");
    for (int i = 0; i < 600 && atomic_load(&reconnects) == 0; i++)
        nats_Sleep(50);
    if (atomic_load(&reconnects) == 0)
        fail("no reconnect within 30 s");
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    CHECK(natsConnection_PublishString(nc, "rc.x", "after"));
    CHECK(natsConnection_FlushTimeout(nc, TIMEOUT_MS));
    m = next(sub, "message after the reconnect (subscription re-sent)");
    expect_data(m, "rc.x", "after");
    natsMsg_Destroy(m);
    printf("PHASE2 OK\n");
    fflush(stdout);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return 0;
}

struct scenario {
    const char *name;
    int (*run)(const char *url);
};

static const struct scenario scenarios[] = {
    {"pubsub", run_pubsub},       {"wildcards", run_wildcards},
    {"queue", run_queue},         {"request", run_request},
    {"headers", run_headers},     {"noresponders", run_noresponders},
    {"flush", run_flush},         {"drain", run_drain},
    {"autounsub", run_autounsub}, {"maxpayload", run_maxpayload},
    {"reconnect", run_reconnect}, {"xrequest", run_xrequest},
};

int main(int argc, char **argv)
{
    const size_t n = sizeof(scenarios) / sizeof(scenarios[0]);

    if (argc != 3) {
        fprintf(stderr, "usage: %s <scenario> <url>\nscenarios:", argv[0]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s", scenarios[i].name);
        fputc('\n', stderr);
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], scenarios[i].name) == 0) {
            int rc;

            scenario = scenarios[i].name;
            rc = scenarios[i].run(argv[2]);
            nats_CloseAndWait(TIMEOUT_MS);
            if (rc == 0)
                printf("OK %s\n", scenario);
            return rc;
        }
    }
    fprintf(stderr, "unknown scenario %s\n", argv[1]);
    return 2;
}
