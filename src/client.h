/* SPDX-License-Identifier: Apache-2.0
 * The CLIENT kind: what CONNECT, PUB, HPUB, SUB, UNSUB, PING and PONG mean on a
 * client connection, subscriptions by sid, pings and the client INFO. */
#ifndef NATSD_CLIENT_H
#define NATSD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sublist.h"

struct conn;
struct opts;
struct worker;

/* A client subscription: the sublist's view (first), its connection, its sid,
 * and the auto-unsubscribe count. One allocation holds the struct and the
 * subject, queue and sid bytes. done, delivered and max are read and written
 * under the owning connection's out_mu (deliveries come from any worker).
 *
 * done claims the removal, and is set exactly once: by the delivery that
 * reaches max (which puts the subscription on the connection's finished list,
 * for the owner to remove), or by the owner when it removes the subscription
 * itself (UNSUB, a reload's permissions). Whoever sets it removes it; a
 * delivery finding it set delivers nothing. */
struct csub {
    struct sub sub; /* sub.owner is the connection */
    uint32_t sid_len;
    bool done;    /* removal claimed: no more deliveries */
    uint64_t max; /* 0: no limit */
    uint64_t delivered;
    struct csub *done_next; /* on the connection's list of finished subs */
    char data[];            /* subject, queue, sid */
};

static inline struct conn *csub_conn(const struct csub *cs)
{
    return cs->sub.owner;
}

static inline const char *csub_sid(const struct csub *cs)
{
    return cs->data + cs->sub.subject_len + cs->sub.queue_len;
}

static inline struct csub *csub_of(struct sub *s)
{
    return (struct csub *)((char *)s - offsetof(struct csub, sub));
}

/* Take a new client socket on worker w: INFO, limits, timers. Owner thread. */
void client_accept(struct worker *w, int fd, const struct sockaddr_storage *peer);

/* The client TLS context's admission hook (tls_admit_fn): the tls block's
 * connection_rate_limit, checked once per connection. Over the limit, c gets
 * -ERR 'Connection throttling is active. Please try again later.' and is
 * closed, as nats-server's createClient does. Owner thread. */
bool client_tls_admit(struct conn *c, void *arg);

/* A reload put new options in force (old: the ones replaced, still valid):
 * check client c again (auth_recheck_client), closing it, or taking its
 * user's new permissions and removing the subscriptions they refuse. A client
 * without CONNECT yet only learns whether it must authenticate. Owner thread
 * (a worker_call task). */
void client_reload(struct conn *c, const struct opts *old);

/* With the connection's out_mu held, after the delivery that reached max:
 * have the owner remove the subscription (any thread). */
void client_sub_done_locked(struct csub *cs);

#endif
