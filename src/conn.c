/* SPDX-License-Identifier: Apache-2.0
 * Connections of every kind: reading and parsing in place, the outbound queue
 * shared with other workers, one writev per turn, and deferred close. */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "authpool.h"
#include "common.h"
#include "log.h"
#include "mem.h"
#include "opts.h"
#include "server.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

/* Read at least this much per call; a busy publisher's buffer doubles up to
 * CONN_READ_MAX so one read takes many messages. */
#define CONN_READ_MIN 4096
#define CONN_READ_MAX (64 * 1024)
/* Producer stall pauses (nats-server waits up to a second in all). */
#define CONN_STALL_MIN_NS (1000000ull)
#define CONN_STALL_MAX_NS (64ull * 1000000ull)
/* Reads per readiness event before yielding to other connections. */
#define CONN_READS_PER_EVENT 4
/* Bytes written per connection per turn, so one fast reader cannot starve the
 * others (Redis's NET_MAX_WRITES_PER_EVENT). */
#define CONN_WRITE_MAX (1024 * 1024)
#define CONN_IOV_MAX   64
/* A direct write takes at most this much queued output: more means a stream,
 * which the owner's thread writes in parallel with the producer's parsing;
 * less is a request, a reply or a trickle, which is sooner on the socket
 * written at once than after waking the owner (worker.c limits the turns
 * that write directly, too). */
#define CONN_DIRECT_MAX (16 * 1024)

static void conn_on_io(struct loop *l, struct loop_watch *wt, unsigned events);
static void conn_on_write_deadline(struct loop *l, struct loop_timer *t);
static void conn_write_out(struct conn *c);
static void conn_on_stall_timer(struct loop *l, struct loop_timer *t);
static void conn_on_tls_timer(struct loop *l, struct loop_timer *t);
static void conn_on_read_timer(struct loop *l, struct loop_timer *t);
static void conn_read(struct conn *c);

/* ---- the plain transport */

static ssize_t conn_plain_read(struct conn *c, void *buf, size_t len)
{
    ssize_t n;
    do {
        n = read(c->watch.fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t conn_plain_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
    ssize_t w;
    do {
        w = writev(c->watch.fd, iov, iovcnt);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    return w;
}

const struct conn_transport_ops conn_plain_ops = {
    .name = "plain",
    .read = conn_plain_read,
    .writev = conn_plain_writev,
};

void conn_init(struct conn *c, struct worker *w, int fd, enum conn_kind kind,
               const struct conn_kind_ops *kops, const struct sockaddr_storage *peer)
{
    struct server *s = w->s;
    memset(c, 0, sizeof(*c));
    c->watch.fd = fd;
    c->watch.cb = conn_on_io;
    c->watch.arg = c;
    c->w = w;
    c->s = s;
    c->kind = kind;
    c->kops = kops;
    c->cid = atomic_fetch_add(&s->next_cid, 1) + 1;
    pthread_mutex_init(&c->out_mu, NULL);
    const struct opts *o = server_opts(s);
    c->max_pending = o->max_pending;
    uint32_t mcl = kind == CONN_KIND_CLIENT ? (uint32_t)o->max_control_line
                                            : conn_peer_max_control_line(o->max_control_line);
    parser_init(&c->parser, kops->pkind, mcl);
    proto_connect_defaults(&c->opts);
    if (peer) {
        net_ip_str(peer, c->ip, sizeof(c->ip));
        c->port = net_addr_port(peer);
        net_addr_str(peer, c->peer, sizeof(c->peer));
    }
    snprintf(c->log_prefix, sizeof(c->log_prefix), "%s - %s:%llu", c->peer, kops->log_tag,
             (unsigned long long)c->cid);
    c->start_ns = loop_now(w->loop);
    c->last_activity_ns = c->start_ns;
    loop_timer_init(&c->write_timer, conn_on_write_deadline, c);
    loop_timer_init(&c->stall_timer, conn_on_stall_timer, c);
    loop_timer_init(&c->tls_timer, conn_on_tls_timer, c);
    loop_timer_init(&c->read_timer, conn_on_read_timer, c);
    c->tops = &conn_plain_ops;
}

/* Ask the loop for what the flags say: reading unless stalled, writing while
 * the socket refused bytes. */
static void conn_update_events(struct conn *c)
{
    unsigned want = (c->flags & (CONN_F_STALLED | CONN_F_PARKED)) ? 0 : LOOP_READ;
    /* parked, nothing is read at all: a TLS write that needs a read waits */
    if ((c->flags & (CONN_F_HANDSHAKE | CONN_F_IO_WANT_READ)) && !(c->flags & CONN_F_PARKED))
        want |= LOOP_READ;
    if (c->flags & (CONN_F_WANT_WRITE | CONN_F_IO_WANT_WRITE))
        want |= LOOP_WRITE;
    (void)loop_watch_mod(c->w->loop, &c->watch, want);
}

static void conn_on_stall_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    c->flags &= ~CONN_F_STALLED;
    conn_update_events(c); /* level-triggered: pending input shows up at once */
    if (c->tops->pending && c->tops->pending(c))
        conn_read(c); /* but input the transport holds does not */
}

static void conn_on_read_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (!(c->flags & (CONN_F_CLOSING | CONN_F_STALLED)))
        conn_read(c);
}

/* The handshake did not finish within tls.timeout: as nats-server, whose
 * read deadline fires first, log the i/o timeout and close without a word
 * (for a client, its timer's "TLS handshake timeout" follows; for a route
 * or gateway the connection is already closed by then). */
static void conn_on_tls_timer(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    if (!(c->flags & CONN_F_HANDSHAKE) && !c->tls_next)
        return;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char local[NET_ADDR_STRLEN] = "", why[2 * NET_ADDR_STRLEN + 32];
    if (getsockname(c->watch.fd, (struct sockaddr *)&ss, &sl) == 0)
        net_addr_str(&ss, local, sizeof(local));
    snprintf(why, sizeof(why), "read tcp %s->%s: i/o timeout", local, c->peer);
    tls_log_handshake_error(c, why);
    if (c->kind == CONN_KIND_CLIENT)
        CONN_LOG(LOG_LEVEL_ERROR, c, "TLS handshake timeout");
    conn_close(c, "TLS Handshake Failure");
}

/* The socket took nothing for write_deadline: the peer does not read. As
 * nats-server's handleWriteTimeout, a client is cut off as a slow consumer. */
static void conn_on_write_deadline(struct loop *l, struct loop_timer *t)
{
    (void)l;
    struct conn *c = t->arg;
    size_t chunks = 0, bytes;
    conn_lock_out(c);
    bytes = c->oq.pending;
    for (const struct outq_chunk *k = c->oq.head; k; k = k->next)
        chunks++;
    conn_unlock_out(c);
    if (bytes == 0)
        return;
    char d[32];
    util_format_duration(server_opts(c->s)->write_deadline_ns, d, sizeof(d));
    atomic_fetch_add(&c->s->stats.slow_consumers, 1);
    if (c->acc)
        atomic_fetch_add(&c->acc->slow_consumers, 1);
    CONN_LOG(LOG_LEVEL_INFO, c,
             "Slow Consumer Detected: WriteDeadline of %s exceeded with %zu chunks of %zu total "
             "bytes.",
             d, chunks, bytes);
    conn_close(c, "Slow Consumer (Write Deadline)");
}

int conn_start(struct conn *c)
{
    struct worker *w = c->w;
    int rc = loop_watch_add(w->loop, &c->watch, LOOP_READ);
    if (rc != 0)
        return rc;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    return 0;
}

bool conn_append_locked(struct conn *c, const struct iovec *iov, int iovcnt, size_t total,
                        size_t payload)
{
    if (c->out_closed || c->slow_consumer)
        return false;
    if ((int64_t)(c->oq.pending + total) > c->max_pending && c->oq.pending > 0) {
        /* The owner closes it at its next flush; nothing more is queued. */
        c->slow_consumer = true;
        return false;
    }
    outq_appendv(&c->oq, iov, iovcnt);
    c->out_msgs++;
    c->out_bytes += payload;
    return true;
}

void conn_mark_flush_locked(struct conn *c, struct worker *cur)
{
    if (c->flush_queued)
        return;
    c->flush_queued = true;
    if (cur && cur != c->w && c->direct_ok) {
        /* written by cur itself at the end of its turn */
        c->flush_next = cur->direct_flush;
        cur->direct_flush = c;
        return;
    }
    worker_queue_flush(c->w, c, cur);
}

void conn_flush_direct(struct conn *c, struct worker *cur, bool write)
{
    conn_lock_out(c);
    if (write && c->direct_ok && !c->owner_writing && !c->out_closed && !c->slow_consumer &&
        c->oq.pending <= CONN_DIRECT_MAX) {
        /* out_closed is set under out_mu before the owner closes the fd, so
         * the socket stays this connection's while the lock is held */
        struct iovec iov[CONN_IOV_MAX];
        int n = outq_fill_iov(&c->oq, iov, CONN_IOV_MAX, CONN_WRITE_MAX);
        if (n > 0) {
            ssize_t wr = c->tops->writev(c, iov, n);
            if (wr > 0)
                outq_consume(&c->oq, (size_t)wr);
        }
        if (c->oq.pending > 0)
            c->direct_ok = false; /* socket full or failing: the owner's business */
        else if (!c->hook_due) {
            c->flush_queued = false;
            conn_unlock_out(c);
            return;
        }
    }
    worker_queue_flush(c->w, c, cur); /* flush_queued stays set: now on the owner's inbox */
    conn_unlock_out(c);
}

bool conn_send(struct conn *c, const void *p, size_t n)
{
    conn_lock_out(c);
    bool ok = !c->out_closed && !c->slow_consumer;
    if (ok) {
        outq_append(&c->oq, p, n);
        conn_mark_flush_locked(c, worker_current());
    }
    conn_unlock_out(c);
    return ok;
}

void conn_send_err(struct conn *c, const char *text)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "-ERR '%s'\r\n", text);
    if (n > 0)
        conn_send(c, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* One writev of what is queued. Returns bytes written, 0 on EAGAIN, -1 on a
 * write error. Owner thread; the chunks handed to writev are never freed or
 * moved by appenders (they only fill the tail), so out_mu is not held across
 * the system call. */
static ssize_t conn_write_once(struct conn *c)
{
    struct iovec iov[CONN_IOV_MAX];
    conn_lock_out(c);
    int n = outq_fill_iov(&c->oq, iov, CONN_IOV_MAX, CONN_WRITE_MAX);
    /* direct writers hold out_mu across their writev: none is in one now,
     * and none starts until this write is consumed */
    c->owner_writing = n > 0;
    conn_unlock_out(c);
    if (n == 0)
        return 0;
    ssize_t w = c->tops->writev(c, iov, n);
    conn_lock_out(c);
    if (w > 0)
        outq_consume(&c->oq, (size_t)w);
    c->owner_writing = false;
    conn_unlock_out(c);
    return w;
}

/* Write what is queued and arm or disarm EPOLLOUT. Called when the owner
 * drains its flush list (conn_flush) and when the socket becomes writable;
 * it never touches flush_queued, which only the list-draining path may clear:
 * a connection still linked on a flush list must not be linked twice. */
static void conn_write_out(struct conn *c)
{
    conn_lock_out(c);
    bool slow = c->slow_consumer;
    conn_unlock_out(c);
    if (slow) {
        atomic_fetch_add(&c->s->stats.slow_consumers, 1);
        if (c->acc)
            atomic_fetch_add(&c->acc->slow_consumers, 1);
        CONN_LOG(LOG_LEVEL_INFO, c, "Slow Consumer Detected: MaxPending of %lld Exceeded",
                 (long long)c->max_pending);
        conn_close(c, "Slow Consumer (Pending Bytes)");
        return;
    }
    if (c->kops->on_flush)
        c->kops->on_flush(c);
    if (c->flags & (CONN_F_CLOSING | CONN_F_HANDSHAKE))
        return; /* written once the handshake is over */
    ssize_t w = conn_write_once(c);
    if (w < 0) {
        conn_close(c, "Write Error");
        return;
    }
    conn_lock_out(c);
    size_t left = c->oq.pending;
    c->direct_ok = left == 0 && c->tops == &conn_plain_ops && !c->tls_next;
    conn_unlock_out(c);
    if (left == 0)
        loop_timer_disarm(c->w->loop, &c->write_timer);
    else if (w > 0 || !loop_timer_armed(&c->write_timer))
        /* the deadline runs from the last progress */
        loop_timer_arm(c->w->loop, &c->write_timer, (uint64_t)server_opts(c->s)->write_deadline_ns);
    c->flags &= ~CONN_F_WANT_WRITE;
    if (left > 0) {
        if (w > 0 && w >= (ssize_t)CONN_WRITE_MAX) {
            /* the per-turn cap, not the socket, stopped us: come back next turn */
            conn_lock_out(c);
            conn_mark_flush_locked(c, c->w);
            conn_unlock_out(c);
        } else if (!(c->flags & CONN_F_IO_WANT_READ)) {
            c->flags |= CONN_F_WANT_WRITE; /* the socket is full: wait until it drains */
        }
    }
    conn_update_events(c);
}

void conn_flush(struct conn *c)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    /* unlinked from its flush list by the caller: appenders may queue it again */
    conn_lock_out(c);
    c->flush_queued = false;
    c->hook_due = false; /* on_flush runs now */
    conn_unlock_out(c);
    conn_write_out(c);
}

/* A protocol error from the parser: answer as nats-server does and close. */
static void conn_parse_error(struct conn *c, const struct parser_res *res)
{
    const char *text = parser_err_text(res->rc);
    if (res->rc == PARSER_ERR_AUTH) {
        conn_send_err(c, PROTO_ERR_AUTH_VIOLATION);
        auth_log_violation(c->s, c);
        conn_close(c, "Authentication Failure");
        return;
    }
    if (text)
        conn_send_err(c, text);
    if (res->rc == PARSER_ERR_MAX_CONTROL_LINE) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "%s", PROTO_ERR_MAX_CONTROL_LINE);
        conn_close(c, "Maximum Control Line Exceeded");
        return;
    }
    char snip[PARSER_SNIPPET_BUFSZ];
    parser_snippet(c->rb.base + c->rb.pos, c->rb.last - c->rb.pos, res->err_off, snip,
                   sizeof(snip));
    CONN_LOG(LOG_LEVEL_ERROR, c, "%s parser ERROR, state=%d, i=%zu: proto='%s...'", c->kops->name,
             c->parser.state, res->err_off, snip);
    conn_close(c, "Protocol Violation");
}

/* Parse what the read buffer holds. Returns false when c stopped: it is
 * closing, parked (an op waits for a verdict) or stalled (a target of its
 * messages is full); *need is what the parser asks for next. */
static bool conn_parse(struct conn *c, size_t *need)
{
    struct rbuf *rb = &c->rb;
    c->w->stall = false;
    struct parser_res res =
        parser_feed(&c->parser, rb->base + rb->pos, rb->last - rb->pos, c->kops->pcb, c);
    if (res.rc == PARSER_PAUSE) {
        /* the op stays unconsumed; it runs again from conn_unpark */
        rb->pos += res.consumed;
        c->flags |= CONN_F_PARKED;
        conn_update_events(c);
        return false;
    }
    if (res.rc != 0) {
        /* a callback that stops parsing has closed the connection itself */
        if (!(c->flags & CONN_F_CLOSING))
            conn_parse_error(c, &res);
        return false;
    }
    rb->pos += res.consumed;
    *need = res.need;
    if (c->flags & CONN_F_CLOSING)
        return false;
    if (c->w->stall && c->kind == CONN_KIND_CLIENT) {
        /* pause this publisher until its targets' owners have written */
        c->w->stall = false;
        c->stall_ns = c->stall_ns ? c->stall_ns * 2 : CONN_STALL_MIN_NS;
        if (c->stall_ns > CONN_STALL_MAX_NS)
            c->stall_ns = CONN_STALL_MAX_NS;
        c->flags |= CONN_F_STALLED;
        conn_update_events(c);
        loop_timer_arm(c->w->loop, &c->stall_timer, c->stall_ns);
        return false;
    }
    c->stall_ns = 0;
    return true;
}

static void conn_read(struct conn *c)
{
    struct rbuf *rb = &c->rb;
    size_t need = 0;
    if (c->flags & CONN_F_PARKED)
        return; /* what comes now waits in the socket */
    for (int round = 0; round < CONN_READS_PER_EVENT; round++) {
        size_t unparsed = rbuf_unparsed(rb);
        size_t want = CONN_READ_MIN;
        if (need > unparsed && need - unparsed > want)
            want = need - unparsed; /* a whole message, contiguous */
        else if (rb->cap >= CONN_READ_MIN && rb->cap < CONN_READ_MAX && rb->last == rb->cap)
            want = rb->cap; /* the last read filled it: double for a streaming peer */
        rbuf_reserve(rb, want);
        size_t room = rb->cap - rb->last;
        ssize_t n = c->tops->read(c, rb->base + rb->last, room);
        if (n == 0) {
            conn_close(c, "Client Closed");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c, "Read Error");
            return;
        }
        rb->last += (size_t)n;
        if (!conn_parse(c, &need))
            return;
        if ((size_t)n < room)
            break; /* the socket is drained */
    }
    if (c->tops->pending && c->tops->pending(c))
        loop_timer_arm(c->w->loop, &c->read_timer, 0); /* more decrypted input waits */
    if (c->flags & CONN_F_IO_WANT_WRITE)
        conn_update_events(c);
    /* nothing left half-parsed: an idle connection keeps no read buffer; a
     * busy one gives back what a large message grew it to */
    if (rbuf_unparsed(rb) == 0)
        rbuf_release_if_idle(rb);
    else
        rbuf_shrink(rb, need, (size_t)CONN_READ_MAX);
}

void conn_unpark(struct conn *c)
{
    NASSERT((c->flags & CONN_F_PARKED) && !(c->flags & CONN_F_CLOSING));
    c->flags &= ~CONN_F_PARKED;
    c->flags |= CONN_F_REPLAY;
    size_t need = 0;
    bool go = conn_parse(c, &need); /* the parked op first, then what followed it */
    c->flags &= ~CONN_F_REPLAY;
    if (!(c->flags & CONN_F_PARKED))
        authpool_conn_release(c); /* the verdict was used (or is stale) */
    if (!go)
        return;
    conn_update_events(c); /* read again */
    if (c->tops->pending && c->tops->pending(c))
        loop_timer_arm(c->w->loop, &c->read_timer, 0);
    rbuf_release_if_idle(&c->rb);
}

/* Drive the transport handshake one step; when it completes, write what
 * was queued meanwhile and read what came with the last flight. */
static void conn_handshake(struct conn *c)
{
    int rc = c->tops->handshake(c);
    if (rc < 0) {
        conn_close(c, "TLS Handshake Failure");
        return;
    }
    if (rc > 0) {
        c->flags &= ~CONN_F_HANDSHAKE;
        loop_timer_disarm(c->w->loop, &c->tls_timer);
    }
    conn_update_events(c);
    if (rc == 0)
        return;
    if (c->kops->on_tls_ready) {
        c->kops->on_tls_ready(c);
        if (c->flags & CONN_F_CLOSING)
            return;
    }
    conn_lock_out(c);
    if (c->oq.pending > 0)
        conn_mark_flush_locked(c, c->w);
    conn_unlock_out(c);
    conn_read(c);
}

/* The transport is about to change: no direct writes until the owner's next
 * write finds it plain and drained again. */
static void conn_direct_off(struct conn *c)
{
    conn_lock_out(c);
    c->direct_ok = false;
    conn_unlock_out(c);
}

void conn_tls_upgrade(struct conn *c, struct tls_ctx *x, bool optional, double timeout_s)
{
    conn_direct_off(c);
    c->tls_next = x;
    c->tls_timeout_ns = (uint64_t)(timeout_s * 1e9);
    if (optional)
        c->flags |= CONN_F_TLS_OPTIONAL; /* the deadline starts with the handshake */
    else if (c->tls_timeout_ns)
        loop_timer_arm(c->w->loop, &c->tls_timer, c->tls_timeout_ns);
}

/* The peer spoke after INFO: a TLS ClientHello starts the handshake; anything
 * else is refused, or read as plaintext with allow_non_tls. */
static void conn_tls_begin(struct conn *c)
{
    bool optional = (c->flags & CONN_F_TLS_OPTIONAL) != 0;
    conn_lock_out(c);
    size_t left = c->oq.pending;
    conn_unlock_out(c);
    if (left > 0 && conn_write_once(c) >= 0) { /* INFO goes out in plaintext first */
        conn_lock_out(c);
        left = c->oq.pending;
        conn_unlock_out(c);
    }
    unsigned char b = 0;
    ssize_t n;
    do {
        n = recv(c->watch.fd, &b, 1, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        conn_close(c, "Read Error");
        return;
    }
    if (n == 0 || b != 0x16) {
        if (optional) {
            c->tls_next = NULL;
            c->flags &= ~CONN_F_TLS_OPTIONAL;
            loop_timer_disarm(c->w->loop, &c->tls_timer);
            conn_read(c);
            return;
        }
        CONN_LOG(LOG_LEVEL_ERROR, c, "TLS handshake error: %s",
                 n == 0 ? "EOF" : "tls: first record does not look like a TLS handshake");
        conn_close(c, "TLS Handshake Failure");
        return;
    }
    if (left > 0) {
        CONN_LOG(LOG_LEVEL_ERROR, c, "TLS handshake error: INFO not written before the handshake");
        conn_close(c, "TLS Handshake Failure");
        return;
    }
    struct tls_ctx *x = c->tls_next;
    c->tls_next = NULL;
    c->flags &= ~CONN_F_TLS_OPTIONAL;
    if (tls_conn_start(c, x, true, NULL) != 0) {
        conn_close(c, "TLS Handshake Failure");
        return;
    }
    if (!loop_timer_armed(&c->tls_timer) && c->tls_timeout_ns)
        loop_timer_arm(c->w->loop, &c->tls_timer, c->tls_timeout_ns);
    conn_handshake(c);
}

/* TLS before any protocol byte, either side (nats-server's routes and
 * gateways). The first step runs from the loop: accepting, when the
 * ClientHello arrives; connecting, as soon as the new socket is writable
 * (it is at once), so a failure never closes c inside the caller. */
static void conn_tls_now(struct conn *c, struct tls_ctx *x, bool server, const char *name,
                         double timeout_s)
{
    conn_direct_off(c);
    if (tls_conn_start(c, x, server, name) != 0) {
        conn_close(c, "TLS Handshake Failure");
        return;
    }
    c->tls_timeout_ns = (uint64_t)(timeout_s * 1e9);
    if (c->tls_timeout_ns)
        loop_timer_arm(c->w->loop, &c->tls_timer, c->tls_timeout_ns);
    if (!server)
        c->flags |= CONN_F_IO_WANT_WRITE;
    conn_update_events(c);
}

void conn_tls_accept_now(struct conn *c, struct tls_ctx *x, double timeout_s)
{
    conn_tls_now(c, x, true, NULL, timeout_s);
}

void conn_tls_connect(struct conn *c, struct tls_ctx *x, const char *server_name, double timeout_s)
{
    conn_tls_now(c, x, false, server_name, timeout_s);
}

static void conn_on_io(struct loop *l, struct loop_watch *wt, unsigned events)
{
    struct conn *c = wt->arg;
    (void)l;
    if (c->flags & CONN_F_PARKED) {
        /* nothing is read while parked; a hang-up or a reset (reported
         * whatever was asked for) means no verdict can reach the peer */
        if (events & LOOP_ERROR)
            conn_close(c, "Client Closed");
        else if (events & LOOP_WRITE)
            conn_write_out(c);
        return;
    }
    if (c->flags & CONN_F_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (c->tls_next) {
        if (events & LOOP_WRITE)
            conn_write_out(c);
        if ((events & (LOOP_READ | LOOP_ERROR)) && !(c->flags & CONN_F_CLOSING))
            conn_tls_begin(c);
        return;
    }
    if ((events & LOOP_WRITE) && !(c->flags & CONN_F_CLOSING)) {
        if (c->flags & CONN_F_IO_WANT_WRITE)
            conn_read(c); /* the transport's read was waiting for this */
        if (!(c->flags & CONN_F_CLOSING))
            conn_write_out(c);
    }
    if ((events & LOOP_READ) && !(c->flags & CONN_F_CLOSING)) {
        if (c->flags & CONN_F_IO_WANT_READ)
            conn_write_out(c); /* the transport's write was waiting for this */
        if (!(c->flags & CONN_F_CLOSING))
            conn_read(c);
    }
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->flags & CONN_F_CLOSING)
        return;
    c->flags |= CONN_F_CLOSING;
    c->close_reason = reason;
    authpool_conn_release(c); /* a verification in flight is discarded */
    struct worker *w = c->w;
    loop_watch_del(w->loop, &c->watch);
    loop_timer_disarm(w->loop, &c->ping_timer);
    loop_timer_disarm(w->loop, &c->auth_timer);
    loop_timer_disarm(w->loop, &c->write_timer);
    loop_timer_disarm(w->loop, &c->stall_timer);
    loop_timer_disarm(w->loop, &c->tls_timer);
    loop_timer_disarm(w->loop, &c->read_timer);

    /* Best effort: what is queued (typically the -ERR that explains the close)
     * goes out in one non-blocking write, except after errors on the socket. */
    bool skip_flush = strcmp(reason, "Read Error") == 0 || strcmp(reason, "Write Error") == 0 ||
                      strncmp(reason, "Slow Consumer", 13) == 0 ||
                      strcmp(reason, "TLS Handshake Failure") == 0 ||
                      (c->flags & CONN_F_HANDSHAKE) || c->tls_next;
    if (!skip_flush) {
        (void)conn_write_once(c);
        /* What the peer sent and we will never read would make close() reset
         * the connection, and a reset can destroy the -ERR still unread at
         * the peer: discard what has arrived (bounded, never waiting). */
        char sink[4096];
        for (int i = 0; i < 16; i++) {
            ssize_t n = recv(c->watch.fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (n <= 0)
                break;
        }
    }
    conn_lock_out(c);
    c->out_closed = true;
    outq_clear(&c->oq);
    conn_unlock_out(c);

    if (c->kops->on_close)
        c->kops->on_close(c);
    if (c->tops->shutdown)
        c->tops->shutdown(c);
    shutdown(c->watch.fd, SHUT_RDWR);
    close(c->watch.fd);
    c->watch.fd = -1;
    if (c->tops->close)
        c->tops->close(c);
    rbuf_free(&c->rb);

    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    w->nconns--;
    worker_add_closing(w, c);
}

bool conn_send_ping(struct conn *c)
{
    if (c->pings_out + 1 > server_opts(c->s)->ping_max) {
        CONN_LOG(LOG_LEVEL_DEBUG, c, "%s", PROTO_ERR_STALE_CONNECTION);
        conn_send_err(c, PROTO_ERR_STALE_CONNECTION);
        conn_close(c, "Stale Connection");
        return false;
    }
    c->pings_out++;
    c->rtt_start_ns = loop_clock_ns();
    conn_send(c, "PING\r\n", 6);
    CONN_LOG(LOG_LEVEL_TRACE, c, "->> [PING]");
    return true;
}

void conn_got_pong(struct conn *c)
{
    c->pings_out = 0;
    if (c->rtt_start_ns) {
        c->rtt_ns = loop_clock_ns() - c->rtt_start_ns;
        if (c->rtt_ns == 0)
            c->rtt_ns = 1;
    }
}

uint32_t conn_peer_max_control_line(int32_t mcl)
{
    int64_t m = mcl > 0 ? (int64_t)mcl * 16 : 0;
    if (m < CONN_PEER_CONTROL_LINE_MIN)
        m = CONN_PEER_CONTROL_LINE_MIN;
    return m > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)m;
}

void conn_peer_set_max_payload(struct conn *c, int32_t advertised)
{
    if (advertised > 0)
        c->peer_max_payload =
            advertised < CONN_PEER_PAYLOAD_MAX ? advertised : CONN_PEER_PAYLOAD_MAX;
}

bool conn_peer_msg_too_big(struct conn *c, const struct parser_cmd *cmd)
{
    int64_t max = server_opts(c->s)->max_payload;
    if (c->peer_max_payload > max)
        max = c->peer_max_payload;
    if ((int64_t)cmd->total_len <= max)
        return false;
    /* maxPayloadViolation's log line, -ERR and close reason */
    CONN_LOG(LOG_LEVEL_ERROR, c, "maximum payload exceeded: %zu vs %lld", cmd->total_len,
             (long long)max);
    conn_send_err(c, PROTO_ERR_MAX_PAYLOAD);
    conn_close(c, "Maximum Message Payload Exceeded");
    return true;
}

void conn_trace_in(struct conn *c, const struct parser_cmd *cmd)
{
    if (c->flags & CONN_F_REPLAY) {
        c->flags &= ~CONN_F_REPLAY; /* traced when it first came */
        return;
    }
    if (cmd->line.len)
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s %.*s]", parser_op_name(cmd->op), (int)cmd->line.len,
                 cmd->line.p);
    else
        CONN_LOG(LOG_LEVEL_TRACE, c, "<<- [%s]", parser_op_name(cmd->op));
}
