/* SPDX-License-Identifier: Apache-2.0
 * The dial module with a stub lookup and a stub post: a held lookup leaves
 * the loop running, its answer is connected to, a dial cancelled during its
 * lookup gets no event (and its request is freed when the answer lands), a
 * stopped resolver posts nothing, numeric hosts skip the resolver, connect
 * errors and deadlines carry Go's texts, and the report throttling. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dial.h"
#include "loop.h"
#include "net.h"

/* --- a lookup the test holds and answers */

static pthread_mutex_t stub_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stub_cv = PTHREAD_COND_INITIALIZER;
static int stub_calls;     /* lookups begun */
static bool stub_released; /* held lookups may answer */
static int stub_port;      /* answer 127.0.0.1:stub_port; 0: no such host */

static void stub_reset(void)
{
    pthread_mutex_lock(&stub_mu);
    stub_calls = 0;
    stub_released = false;
    stub_port = 0;
    pthread_mutex_unlock(&stub_mu);
}

static int stub_lookup(const char *host, const char *port, struct sockaddr_storage *out, size_t max,
                       size_t *n, char *err, size_t errsize)
{
    (void)port;
    (void)max;
    pthread_mutex_lock(&stub_mu);
    stub_calls++;
    pthread_cond_broadcast(&stub_cv);
    while (!stub_released)
        pthread_cond_wait(&stub_cv, &stub_mu);
    int p = stub_port;
    pthread_mutex_unlock(&stub_mu);
    *n = 0;
    if (p == 0) {
        snprintf(err, errsize, "lookup for host \"%s\": lookup %s: no such host", host, host);
        return -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&out[0];
    memset(out, 0, sizeof(*out));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *n = 1;
    return 0;
}

static void stub_release(int port)
{
    pthread_mutex_lock(&stub_mu);
    stub_port = port;
    stub_released = true;
    pthread_cond_broadcast(&stub_cv);
    pthread_mutex_unlock(&stub_mu);
}

static void stub_wait_calls(int n)
{
    pthread_mutex_lock(&stub_mu);
    while (stub_calls < n)
        pthread_cond_wait(&stub_cv, &stub_mu);
    pthread_mutex_unlock(&stub_mu);
}

/* --- a post onto the test's loop (a worker's inbox in the server) */

struct post {
    void (*fn)(void *);
    void *arg;
    struct post *next;
};

struct home {
    struct loop *loop;
    pthread_mutex_t mu;
    struct post *head, **tail;
    atomic_int posted;
};

static void home_post(void *ctx, void (*fn)(void *), void *arg)
{
    struct home *h = ctx;
    struct post *p = calloc(1, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&h->mu);
    *h->tail = p;
    h->tail = &p->next;
    pthread_mutex_unlock(&h->mu);
    atomic_fetch_add(&h->posted, 1);
    loop_wake(h->loop);
}

static void home_drain(struct loop *l, void *arg)
{
    (void)l;
    struct home *h = arg;
    pthread_mutex_lock(&h->mu);
    struct post *p = h->head;
    h->head = NULL;
    h->tail = &h->head;
    pthread_mutex_unlock(&h->mu);
    while (p) {
        struct post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

static void home_init(struct home *h)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop_new();
    cr_assert_not_null(h->loop);
    pthread_mutex_init(&h->mu, NULL);
    h->tail = &h->head;
    loop_set_wake_hook(h->loop, home_drain, h);
}

static void home_free(struct home *h)
{
    home_drain(h->loop, h);
    loop_free(h->loop);
    pthread_mutex_destroy(&h->mu);
}

/* --- what a dial reported */

struct seen {
    struct dial d;
    int events[8];
    int n;
    int fd;
    char err[DIAL_ERR_LEN];
    char addr[NET_ADDR_STRLEN];
    bool stop; /* stop the loop at the first final event */
};

static void on_dial(struct dial *d, enum dial_event ev, int fd)
{
    struct seen *s = d->arg;
    if (s->n < 8)
        s->events[s->n++] = (int)ev;
    if (ev == DIAL_EV_CONNECTING) {
        snprintf(s->addr, sizeof(s->addr), "%s", d->addr);
        return;
    }
    s->fd = fd;
    snprintf(s->err, sizeof(s->err), "%s", d->err);
    if (s->stop)
        loop_stop(d->loop);
}

/* A tick on the loop, counted: the loop keeps turning during a lookup. */
struct ticker {
    struct loop_timer t;
    int n;
    int stop_at;
};

static void on_tick(struct loop *l, struct loop_timer *t)
{
    struct ticker *k = (struct ticker *)t;
    k->n++;
    if (k->n == 3)
        stub_release(*(int *)t->arg);
    if (k->stop_at && k->n >= k->stop_at) {
        loop_stop(l);
        return;
    }
    loop_timer_arm(l, t, 1000000);
}

static int listener(int *port)
{
    char err[256];
    int fd = net_listen("127.0.0.1", 0, err, sizeof(err));
    cr_assert_geq(fd, 0, "%s", err);
    *port = net_local_port(fd);
    return fd;
}

Test(dial, lookup_off_the_loop_then_connect)
{
    stub_reset();
    struct home h;
    home_init(&h);
    struct dial_resolver *res = dial_resolver_new(2, stub_lookup);
    int port;
    int lfd = listener(&port);
    struct seen s = {.stop = true, .fd = -1};
    dial_init(&s.d, h.loop, res, home_post, &h, on_dial, &s);
    cr_assert_eq(dial_start(&s.d, "peer.example", "4248", 5000000000ull, 7), 0);
    cr_assert(dial_busy(&s.d));
    cr_assert_eq(dial_start(&s.d, "peer.example", "4248", 5000000000ull, 7), -1, "busy");
    stub_wait_calls(1);
    /* the loop ticks while the lookup is held; the third tick answers it */
    struct ticker k = {0};
    loop_timer_init(&k.t, on_tick, &port);
    loop_timer_arm(h.loop, &k.t, 1000000);
    cr_assert_eq(loop_run(h.loop), 0);
    cr_assert_geq(k.n, 3, "the loop turned while the lookup was held");
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.events[0], DIAL_EV_CONNECTING);
    cr_assert_eq(s.events[1], DIAL_EV_CONNECTED);
    char want[NET_ADDR_STRLEN];
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    cr_assert_str_eq(s.addr, want);
    cr_assert_geq(s.fd, 0);
    cr_assert(!dial_busy(&s.d));
    cr_assert_eq(net_addr_port(&s.d.sa), port);
    close(s.fd);
    loop_timer_disarm(h.loop, &k.t);
    close(lfd);
    dial_resolver_stop(res);
    home_free(&h);
}

Test(dial, lookup_failure_is_reported)
{
    stub_reset();
    stub_release(0);
    struct home h;
    home_init(&h);
    struct dial_resolver *res = dial_resolver_new(1, stub_lookup);
    struct seen s = {.stop = true, .fd = -1};
    dial_init(&s.d, h.loop, res, home_post, &h, on_dial, &s);
    cr_assert_eq(dial_start(&s.d, "nowhere.example", "4248", 1000000000ull, 0), 0);
    cr_assert_eq(loop_run(h.loop), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.events[0], DIAL_EV_LOOKUP_FAILED);
    cr_assert_str_eq(s.err,
                     "lookup for host \"nowhere.example\": lookup nowhere.example: no such host");
    dial_resolver_stop(res);
    home_free(&h);
}

static void on_stop_timer(struct loop *l, struct loop_timer *t)
{
    (void)t;
    loop_stop(l);
}

Test(dial, cancel_during_lookup_drops_the_answer)
{
    stub_reset();
    struct home h;
    home_init(&h);
    struct dial_resolver *res = dial_resolver_new(1, stub_lookup);
    int port;
    int lfd = listener(&port);
    struct seen *s = calloc(1, sizeof(*s));
    s->fd = -1;
    dial_init(&s->d, h.loop, res, home_post, &h, on_dial, s);
    cr_assert_eq(dial_start(&s->d, "peer.example", "4248", 1000000000ull, 0), 0);
    stub_wait_calls(1);
    dial_cancel(&s->d);
    cr_assert(!dial_busy(&s->d));
    int seen_n = s->n;
    free(s); /* what held the dial is gone while the lookup is in flight */
    stub_release(port);
    while (atomic_load(&h.posted) == 0)
        usleep(1000);
    struct loop_timer t;
    loop_timer_init(&t, on_stop_timer, NULL);
    loop_timer_arm(h.loop, &t, 20000000);
    cr_assert_eq(loop_run(h.loop), 0); /* the answer lands and is freed (ASan) */
    cr_assert_eq(seen_n, 0);
    close(lfd);
    dial_resolver_stop(res);
    home_free(&h);
}

Test(dial, stopped_resolver_posts_nothing)
{
    stub_reset();
    struct home h;
    home_init(&h);
    struct dial_resolver *res = dial_resolver_new(1, stub_lookup);
    struct seen s = {.fd = -1};
    dial_init(&s.d, h.loop, res, home_post, &h, on_dial, &s);
    cr_assert_eq(dial_start(&s.d, "peer.example", "4248", 1000000000ull, 0), 0);
    stub_wait_calls(1);
    /* shutdown order: cancel every dial, then stop the pool */
    dial_cancel(&s.d);
    dial_resolver_stop(res);
    stub_release(4248);
    /* the thread frees its request and exits without posting */
    usleep(50000);
    cr_assert_eq(atomic_load(&h.posted), 0);
    home_free(&h);
}

Test(dial, numeric_host_skips_the_resolver_and_refused_is_reported)
{
    stub_reset();
    struct home h;
    home_init(&h);
    int port;
    int lfd = listener(&port);
    close(lfd); /* nobody listens there now */
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    struct seen s = {.stop = true, .fd = -1};
    /* no resolver at all: an address needs none */
    dial_init(&s.d, h.loop, NULL, home_post, &h, on_dial, &s);
    cr_assert_eq(dial_start(&s.d, "127.0.0.1", p, 1000000000ull, 0), 0);
    cr_assert_eq(s.n, 0, "no event from inside dial_start");
    cr_assert_eq(loop_run(h.loop), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.events[0], DIAL_EV_CONNECTING);
    cr_assert_eq(s.events[1], DIAL_EV_CONNECT_FAILED);
    char want[128];
    snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", port);
    cr_assert_str_eq(s.err, want);
    cr_assert_eq(stub_calls, 0);
    home_free(&h);
}

Test(dial, no_resolver_fails_a_name_later)
{
    struct home h;
    home_init(&h);
    struct seen s = {.stop = true, .fd = -1};
    dial_init(&s.d, h.loop, NULL, home_post, &h, on_dial, &s);
    cr_assert_eq(dial_start(&s.d, "peer.example", "4248", 1000000000ull, 0), 0);
    cr_assert_eq(s.n, 0, "no event from inside dial_start");
    cr_assert_eq(loop_run(h.loop), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.events[0], DIAL_EV_LOOKUP_FAILED);
    home_free(&h);
}

Test(dial, connect_deadline)
{
    struct home h;
    home_init(&h);
    struct seen s = {.stop = true, .fd = -1};
    dial_init(&s.d, h.loop, NULL, home_post, &h, on_dial, &s);
    /* TEST-NET-1: never answers (or is unreachable at once, also a failure) */
    cr_assert_eq(dial_start(&s.d, "192.0.2.1", "4248", 20000000ull, 0), 0);
    cr_assert_eq(loop_run(h.loop), 0);
    cr_assert_eq(s.events[s.n - 1], DIAL_EV_CONNECT_FAILED);
    cr_assert(strncmp(s.err, "dial tcp 192.0.2.1:4248: ", 25) == 0, "%s", s.err);
    cr_assert(!dial_busy(&s.d));
    home_free(&h);
}

Test(dial, report_throttling)
{
    /* first dial loop: every connect_every-th; reconnects: reconnect_every-th */
    cr_assert(dial_should_report(true, 1, 3600, 1));
    cr_assert(!dial_should_report(true, 2, 3600, 1));
    cr_assert(dial_should_report(true, 3600, 3600, 1));
    cr_assert(dial_should_report(false, 2, 3600, 1));
    cr_assert(!dial_should_report(false, 3, 3600, 2));
    cr_assert(dial_should_report(false, 4, 3600, 2));
    cr_assert(dial_should_report(true, 1, 0, 0));
    cr_assert(!dial_should_report(true, 2, 0, 0));
    char b[64];
    dial_go_errno(ECONNREFUSED, b, sizeof(b));
    cr_assert_str_eq(b, "connection refused");
}
