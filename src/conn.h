/* SPDX-License-Identifier: Apache-2.0
 * A connection of any kind (client, route, gateway): socket, read buffer and
 * parser, outbound queue, timers, close. What its operations mean is the kind's
 * business (client.c, route.c, gateway.c) through struct conn_kind_ops.
 *
 * Ownership and threads (docs/internals/buffers.md, locks.md):
 * - a connection belongs to one worker for life; only that worker touches its
 *   socket, read buffer, parser, timers and kind state;
 * - any worker may append to its outbound queue, under out_mu;
 * - its memory is reclaimed through the worker layer's quiescent-state
 *   reclamation, so a pointer found in a match result stays valid until the
 *   end of the finder's loop turn even if the connection closes meanwhile. */
#ifndef NATSD_CONN_H
#define NATSD_CONN_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "loop.h"
#include "net.h"
#include "parser.h"
#include "proto.h"

struct conn;
struct worker;
struct server;
struct account;
struct perms_conn;
struct tls_ctx;
struct tls_conn;
struct gw_rmap;
struct authpool_job;

/* How a connection moves bytes: plain sockets, or TLS over the socket (tls.c).
 * A connection starts plain and swaps its ops pointer when it upgrades after
 * the plaintext INFO. Owner thread only. */
struct conn_transport_ops {
    const char *name; /* "plain", "tls" */
    /* Read up to len bytes: > 0 bytes read, 0 at end of stream, -1 with
     * errno (EAGAIN: nothing now; the op may set CONN_F_IO_WANT_WRITE when it
     * needs the socket writable to make progress). A short read means the
     * transport is drained. */
    ssize_t (*read)(struct conn *c, void *buf, size_t len);
    /* Write from iov: bytes written (>= 0; 0 when nothing could be written),
     * or -1 with errno on a fatal error. May set CONN_F_IO_WANT_READ when it
     * needs the socket readable to make progress. */
    ssize_t (*writev)(struct conn *c, const struct iovec *iov, int iovcnt);
    /* Bytes already taken off the socket and not yet returned by read (NULL:
     * never any). */
    bool (*pending)(const struct conn *c);
    /* Continue a handshake: 1 done, 0 in progress (the events it needs are set
     * in CONN_F_IO_WANT_*), -1 failed (logged). NULL: no handshake. */
    int (*handshake)(struct conn *c);
    /* Before the socket closes: say goodbye (TLS close_notify), best effort. */
    void (*shutdown)(struct conn *c);
    /* Release the transport state once the socket is closed. */
    void (*close)(struct conn *c);
};

/* The plain socket transport every connection starts with. */
extern const struct conn_transport_ops conn_plain_ops;

enum conn_kind {
    CONN_KIND_CLIENT = 0,
    CONN_KIND_ROUTE,
    CONN_KIND_GATEWAY,
    /* The server's own client in the system account (sysacc.c): no socket,
     * its subscriptions are answered by handlers. */
    CONN_KIND_SYSTEM,
};

/* What a kind of connection does with the framework's events. */
struct conn_kind_ops {
    const char *name;    /* "Client", "Route", "Gateway": log lines */
    const char *log_tag; /* "cid", "rid", "gid": log prefixes */
    const struct parser_kind *pkind;
    const struct parser_cb *pcb;
    /* The connection is closing (owner thread): drop interest, counters. */
    void (*on_close)(struct conn *c);
    /* The owner flushes the connection (once per turn it is queued): kind
     * work posted by other workers, e.g. finished auto-unsubscribes. */
    void (*on_flush)(struct conn *c);
    /* Free kind state just before the memory goes (any reclaiming thread). */
    void (*on_free)(struct conn *c);
    /* Optional: a TLS handshake of c completed (once; after an upgrade,
     * conn_tls_accept_now or conn_tls_connect), before anything queued is
     * written and before the first protocol bytes are read. It may queue
     * bytes (an INFO) or close c. Owner thread. */
    void (*on_tls_ready)(struct conn *c);
};

/* Connection flags touched by the owner only. */
#define CONN_F_CLOSING       0x01u  /* conn_close() called */
#define CONN_F_CONNECTED     0x02u  /* CONNECT accepted */
#define CONN_F_WANT_WRITE    0x04u  /* EPOLLOUT armed after EAGAIN */
#define CONN_F_IN_FLUSH      0x08u  /* on the owner's local flush list */
#define CONN_F_PONG_SENT     0x10u  /* first PONG sent (async INFO allowed) */
#define CONN_F_STALLED       0x20u  /* reading paused: a target is over half full */
#define CONN_F_HANDSHAKE     0x40u  /* transport handshake in progress */
#define CONN_F_IO_WANT_WRITE 0x80u  /* the transport needs writability to read/handshake */
#define CONN_F_IO_WANT_READ  0x100u /* the transport needs readability to write */
#define CONN_F_TLS_OPTIONAL  0x200u /* allow_non_tls: plaintext unless the peer starts TLS */
#define CONN_F_PARKED        0x400u /* waiting for a password verdict: nothing read or parsed */
#define CONN_F_REPLAY        0x800u /* the parked op runs again: its trace line is not repeated */

struct conn {
    struct loop_watch watch; /* first: the loop hands it back */
    struct worker *w;
    struct server *s;
    enum conn_kind kind;
    const struct conn_kind_ops *kops;
    uint64_t cid;
    unsigned flags;
    const char *close_reason;

    char peer[NET_ADDR_STRLEN]; /* "ip:port" */
    char ip[INET6_ADDRSTRLEN];
    int port;
    char log_prefix[NET_ADDR_STRLEN + 32]; /* "ip:port - cid:N" */

    struct rbuf rb;
    struct parser parser;

    /* Transport: plain until a TLS upgrade swaps it (owner only). tls_next is
     * the context to upgrade with once the peer speaks (after INFO); tls is
     * the TLS state from then on. tls_version and tls_cipher are static
     * strings set when the handshake completes (monitoring). */
    const struct conn_transport_ops *tops;
    struct tls_ctx *tls_next;
    struct tls_conn *tls;
    const char *tls_version;
    const char *tls_cipher;
    struct loop_timer tls_timer;  /* handshake deadline (tls.timeout) */
    struct loop_timer read_timer; /* more input buffered in the transport */
    uint64_t tls_timeout_ns;      /* handshake deadline once it starts */

    /* Outbound, shared with other workers under out_mu. */
    pthread_mutex_t out_mu;
    struct outq oq;
    bool out_closed;    /* no more appends */
    bool flush_queued;  /* already on a flush list (its owner's, or a direct one) */
    bool slow_consumer; /* max_pending exceeded: the owner closes it */
    /* Another worker that queued bytes here may write them to the socket
     * itself at the end of its turn, holding out_mu across the writev
     * (conn_flush_direct): set by the owner when its last write left the
     * queue empty on a plain, established socket; cleared when a write
     * leaves bytes behind (the owner takes over until the queue drains). */
    bool direct_ok;
    bool owner_writing; /* the owner is in a writev without out_mu */
    bool hook_due;      /* kind work is posted for the owner's on_flush */
    int64_t max_pending;
    /* Routes and gateways: the max_payload of the peer's INFO, at most
     * CONN_PEER_PAYLOAD_MAX; 0 until it arrives (conn_peer_msg_too_big).
     * Owner only. */
    int64_t peer_max_payload;
    uint64_t out_msgs;
    uint64_t out_bytes;
    uint64_t last_out_ns; /* last message queued here (loop clock), under out_mu */

    /* Owner-only counters and timers. */
    uint64_t in_msgs;
    uint64_t in_bytes;
    uint64_t start_ns;
    /* What nats-server counts as activity: messages, subscriptions (and
     * CONNECT) from the peer; messages queued to it are in last_out_ns.
     * A PING is not, but it is remembered so as not to ping back soon. */
    uint64_t last_activity_ns;
    uint64_t ping_in_ns;
    struct loop_timer ping_timer;
    struct loop_timer auth_timer;
    struct loop_timer write_timer; /* write_deadline while the socket is full */
    struct loop_timer stall_timer; /* resumes reading after a producer stall */
    uint64_t stall_ns;             /* current stall pause; 0 when not stalling */
    int pings_out;
    uint64_t rtt_start_ns;
    uint64_t rtt_ns;

    /* Client options (CONNECT); routes and gateways set what applies. */
    struct proto_connect opts;
    bool headers; /* negotiated: the peer may send and receive HPUB/HMSG */
    struct account *acc;
    char nonce[16]; /* sent in INFO when nkey users exist; "" otherwise */
    /* The user's permissions (perms.h), set at CONNECT by the owner before
     * any SUB; NULL: none. Read by delivering workers; a reload publishes new
     * ones (the owner, under out_mu) and retires the old; freed in on_free. */
    _Atomic(struct perms_conn *) perms;
    /* Routed replies this client was asked to answer through a gateway
     * (gateway.h), under out_mu; gwr_n readable without it. */
    struct gw_rmap *gwr;
    atomic_size_t gwr_n;

    /* A password verification off the loops (authpool.h), in flight while
     * CONN_F_PARKED is set, then its verdict until the op that asked for it
     * has run again. Owner only. */
    struct authpool_job *auth_job;

    /* Links on the owner's lists. */
    struct conn *flush_next;
    struct conn *next, *prev; /* the worker's connections */

    void *kdata; /* kind state */
};

/* Set up c on worker w around an accepted or connected fd. The caller fills
 * kind-specific fields and then calls conn_start(). Owner thread. */
void conn_init(struct conn *c, struct worker *w, int fd, enum conn_kind kind,
               const struct conn_kind_ops *kops, const struct sockaddr_storage *peer);

/* Register c with its loop (reading). Returns 0 or -errno. Owner thread. */
int conn_start(struct conn *c);

/* Make c upgrade to TLS with x (borrowed; outlives c) once the peer sends
 * its first bytes after what is queued now (the plaintext INFO). With
 * optional (allow_non_tls), a first byte other than a TLS handshake record
 * keeps c plaintext. The handshake must finish within timeout_s (0: no
 * deadline from now; the upgrade arms it). Owner thread, before or right
 * after conn_start(). */
void conn_tls_upgrade(struct conn *c, struct tls_ctx *x, bool optional, double timeout_s);

/* Start a TLS server handshake on c at once, before any protocol byte (routes
 * and gateways): nothing is sent in clear, and what is queued meanwhile goes
 * out encrypted once the handshake completes. The peer must present a
 * certificate that verifies against x's CA when x requires it (a mutual
 * context always does). The handshake must finish within timeout_s (0: no
 * deadline). On failure c is closed ("TLS Handshake Failure") with
 * nats-server's log line. Owner thread, right after conn_start(). */
void conn_tls_accept_now(struct conn *c, struct tls_ctx *x, double timeout_s);

/* Start a TLS client handshake on c, a connected socket, at once: SNI and
 * hostname (or IP) verification for server_name (NULL: no SNI and no name
 * checked; an insecure context verifies nothing). Deadline and failure as
 * for conn_tls_accept_now. Owner thread, right after conn_start(). */
void conn_tls_connect(struct conn *c, struct tls_ctx *x, const char *server_name, double timeout_s);

/* Queue bytes on c's outbound queue and make sure its owner flushes it. Any
 * thread. Returns false if c is closed or became a slow consumer (nothing
 * queued then). */
bool conn_send(struct conn *c, const void *p, size_t n);

/* Queue "-ERR '<text>'\r\n". Any thread. */
void conn_send_err(struct conn *c, const char *text);

/* Append one message made of iov pieces (total bytes in all) under out_mu,
 * counting it as one outbound message of payload bytes (what nats-server
 * counts as a connection's out_bytes). The caller holds out_mu (conn_lock_out) and marks the
 * connection for flushing with conn_mark_flush() afterwards. Returns false on a
 * closed or slow connection. */
bool conn_append_locked(struct conn *c, const struct iovec *iov, int iovcnt, size_t total,
                        size_t payload);

static inline void conn_lock_out(struct conn *c)
{
    pthread_mutex_lock(&c->out_mu);
}

static inline void conn_unlock_out(struct conn *c)
{
    pthread_mutex_unlock(&c->out_mu);
}

/* With out_mu held: queue c for flushing by its owner (once). The owner is
 * woken at the end of the current worker's turn (cur is the calling worker,
 * NULL from a thread that is not a worker). */
void conn_mark_flush_locked(struct conn *c, struct worker *cur);

/* The owner took c off its flush list: clear flush_queued and write as much
 * of the outbound queue as the socket takes now. Only the list-draining code
 * calls this. Owner thread. */
void conn_flush(struct conn *c);

/* Worker cur (not the owner) took c off its direct list at the end of its
 * turn: with write, write the queue to the socket now, under out_mu, when the
 * owner allows it (direct_ok), is not writing itself, and the queue is small
 * (a stream is the owner's to write). Whatever is left, or could not be
 * written this way, goes to the owner's flush inbox. A message then reaches
 * the socket without waking the owner's thread: the latency of request/reply
 * across workers. */
void conn_flush_direct(struct conn *c, struct worker *cur, bool write);

/* Parking. A kind's on_op that cannot decide an op now (a CONNECT whose
 * bcrypt password is being verified by the password pool) returns
 * PARSER_PAUSE: c is then parked, the op and everything after it stay in the
 * read buffer, the socket is not read and nothing else of c's input is
 * processed; its timers keep running and a close (the auth timer) may come
 * meanwhile. conn_unpark() ends it: the op is parsed again (its on_op finds
 * the verdict), then the input after it, in order, and reading resumes.
 * Owner thread; never for a closing connection. */
void conn_unpark(struct conn *c);

/* Begin closing c with reason (nats-server's close reasons, e.g. "Client
 * Closed"): unregister, try one last flush of what is queued (an -ERR just
 * sent), tell the kind, shut the socket. Idempotent; memory is reclaimed later.
 * Owner thread. */
void conn_close(struct conn *c, const char *reason);

/* The ping timer of any kind fired: with ping_max pings already unanswered,
 * send -ERR 'Stale Connection' and close (returns false); otherwise send a
 * PING, counting it and starting an RTT measurement (returns true). Owner
 * thread. */
bool conn_send_ping(struct conn *c);

/* A PONG arrived: nothing is outstanding any more, and the RTT is measured
 * when a PING of ours started it. Owner thread. */
void conn_got_pong(struct conn *c);

/* Floor of the control-line limit of routes and gateways (see
 * conn_peer_max_control_line). */
#define CONN_PEER_CONTROL_LINE_MIN ((int64_t)1024 * 1024)
/* Ceiling of what a peer's INFO may raise its message limit to: the most a
 * route or gateway queues for one peer (its max_pending). */
#define CONN_PEER_PAYLOAD_MAX ((int64_t)64 * 1024 * 1024)

/* The control-line limit of a route or gateway connection under mcl (the
 * max_control_line option): a peer's lines carry what its clients sent
 * (bounded by mcl) plus accounts, queue lists and URL lists, so the limit is
 * the larger of CONN_PEER_CONTROL_LINE_MIN and 16 x mcl. nats-server sets no
 * limit there; natsd does, so a peer cannot grow a line without end. */
uint32_t conn_peer_max_control_line(int32_t mcl);

/* An INFO of the peer itself advertised max_payload (0 or less: none): its
 * clients publish up to that. Owner thread. */
void conn_peer_set_max_payload(struct conn *c, int32_t advertised);

/* On a route or gateway, the control line of a message op announces
 * cmd->total_len bytes: when that is over both our max_payload (as now in
 * force, reloads included) and the peer's latest advertised one (at most
 * CONN_PEER_PAYLOAD_MAX), log it, send -ERR 'Maximum Payload Violation',
 * close c and return true (the caller stops parsing). Checked before any of
 * the payload is buffered. Owner thread. */
bool conn_peer_msg_too_big(struct conn *c, const struct parser_cmd *cmd);

/* Trace an op received from a route or gateway peer ("<<- [OP args]"),
 * once: not again when a parked op runs again (CONN_F_REPLAY).
 * Owner thread; the caller checks LOG_ENABLED(LOG_LEVEL_TRACE). */
void conn_trace_in(struct conn *c, const struct parser_cmd *cmd);

/* Log helpers with the connection prefix ("ip:port - cid:N - "). */
#define CONN_LOG(level, c, fmt, ...) NLOG_AT(level, "%s - " fmt, (c)->log_prefix, ##__VA_ARGS__)

#endif
