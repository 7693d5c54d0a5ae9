/* SPDX-License-Identifier: Apache-2.0
 * The monitoring HTTP(S) server: nats-server 2.9.10's endpoints (/varz,
 * /connz, /subsz, /routez, /gatewayz, /accountz, /healthz, ...) with the same
 * paths, query parameters and JSON, plus /metrics in the Prometheus text
 * format. It runs on libmicrohttpd's own threads beside the workers and reads
 * what workers own only through worker_call(). It is not a control plane:
 * nothing here changes the server. See docs/monitoring.md. */
#ifndef NATSD_MONITOR_H
#define NATSD_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct conn;
struct sub;

/* Bind the monitoring listener (http_port or https_port of s->opts, on
 * http_host) and log "Starting http monitor on host:port" as nats-server
 * does, before the client listener. Sets s->monitor. Does nothing and returns
 * 0 when neither port is set. On failure logs the fatal error in nats-server's
 * words and returns -1. Main thread, before the workers start. */
int monitor_start(struct server *s);

/* Start answering requests on the listener bound by monitor_start() (a
 * request that arrived earlier waits in the backlog). Call once the workers
 * run, so every snapshot can be taken through worker_call(). Returns 0 or -1
 * (logged). No-op without monitoring. Main thread. */
int monitor_run(struct server *s);

/* The monitoring listener's address into *out, and whether it serves HTTPS.
 * Returns false without monitoring. Any thread after monitor_start(). */
struct sockaddr_storage;
bool monitor_listen_addr(struct server *s, struct sockaddr_storage *out, bool *https);

/* Stop answering: close the listener and wait for requests in progress.
 * Idempotent; the workers must still run (requests wait on them). Main
 * thread. */
void monitor_stop(struct server *s);

/* Free what monitor_start() allocated (the closed-connection ring included)
 * and set s->monitor to NULL. After monitor_stop() and after the workers have
 * stopped. NULL monitor is fine. Main thread. */
void monitor_free(struct server *s);

/* Record client connection c, which is closing, for /connz?state=closed,
 * with its subscriptions subs[0..n) (still valid during the call). Keeps at
 * most nats-server's 10,000 closed connections, oldest dropped first. No-op
 * without monitoring. Owner thread of c (from the kind's on_close). */
void monitor_conn_closed(struct conn *c, struct sub *const *subs, size_t n);

/* The system account's name ("$SYS" unless no_system_account), or NULL.
 * Any thread. */
const char *monitor_system_account(const struct server *s);

/* Answer a request of the system account for endpoint ("VARZ", "CONNZ",
 * "ROUTEZ", "GATEWAYZ", "LEAFZ", "SUBSZ", "ACCOUNTZ", "JSZ", "HEALTHZ") with
 * the parameters kv[0..2 * nkv) (name, value pairs, named and written as
 * the HTTP endpoint's query parameters): the HTTP endpoint's answer. Returns
 * its HTTP status with *out (malloc'd, *len bytes) compact JSON for a JSON
 * answer, the error text otherwise; -1 for an unknown endpoint or without a
 * system account. Not from a worker (it waits for them). */
int monitor_request(struct server *s, const char *endpoint, const char *const *kv, size_t nkv,
                    char **out, size_t *len);

/* The "statsz" object of nats-server's ServerStatsMsg, compact JSON
 * (malloc'd, *len bytes), or NULL without a system account. Not from a
 * worker. */
char *monitor_statsz(struct server *s, size_t *len);

/* A reply of the system account's services as nats-server's
 * ServerAPIResponse and ServerStatsMsg: {"server": this server's identity
 * with seq, key: data} where data is JSON text (NULL: no key), then, with
 * desc set, "error": {"code": code, "description": desc}.
 * Returns compact JSON (malloc'd, *len bytes). Any thread. */
char *monitor_api_reply(struct server *s, uint64_t seq, const char *key, const char *data, int code,
                        const char *desc, size_t *len);

#endif
