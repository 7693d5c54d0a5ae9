/* SPDX-License-Identifier: Apache-2.0
 * The server's own client in the system account (nats-server's internal
 * system client, events.go): subscriptions the server answers itself, and
 * messages the server publishes there.
 *
 * Its subscriptions are ordinary subscriptions of the system account's
 * sublist, owned by a connection of kind CONN_KIND_SYSTEM that has no socket:
 * they are counted, told to routes and gateways, and matched like a client's.
 * A delivery to one copies the message onto the system thread's queue; the
 * handler runs there (it may wait for the workers, as the monitoring
 * endpoints do), and what it publishes goes back through a worker's normal
 * delivery path (local subscribers, routes, gateways). Other accounts never
 * see these subscriptions. Nothing of this exists with no_system_account. */
#ifndef NATSD_SYSACC_H
#define NATSD_SYSACC_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct worker;
struct csub;
struct deliver_msg;

/* Create the internal client and its subscriptions in the system account,
 * and start the system thread. Sets s->sys (NULL with no_system_account, or
 * when the account is missing). Returns 0 or -1 (logged). Main thread, after
 * the workers started. */
int sysacc_start(struct server *s);

/* Stop the system thread: requests still queued are dropped, later
 * deliveries too. The workers must still run (a handler in progress may
 * wait for them). Idempotent. Main thread. */
void sysacc_stop(struct server *s);

/* Free what sysacc_start made, once the workers are stopped and no longer
 * match. Main thread. */
void sysacc_free(struct server *s);

/* Deliver m (from the message path of worker w) to the internal
 * subscription cs: the message is copied and queued for its handler.
 * Returns true when queued. Worker thread. */
bool sysacc_deliver(struct worker *w, struct csub *cs, const struct deliver_msg *m);

/* Publish data[0..len) on subject, with reply (NULL: none), in the system
 * account, as if a client of this server had: on a worker's delivery path.
 * Any thread; the bytes are copied. */
void sysacc_publish(struct server *s, const char *subject, const char *reply, const char *data,
                    size_t len);

#endif
