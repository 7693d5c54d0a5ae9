/* SPDX-License-Identifier: Apache-2.0
 * The password pool: a few threads that verify bcrypt passwords (tens to
 * hundreds of milliseconds of CPU each) so that no event loop ever runs one.
 *
 * A connection whose CONNECT needs a bcrypt verification queues a job and is
 * parked (conn.h: its input waits, its timers run). A pool thread runs the
 * hash and posts the job back to the connection's worker (worker_post), which
 * parses the CONNECT again: this time its verdict is there. A connection
 * closed meanwhile (auth timeout, shutdown, peer gone) has cancelled its job:
 * a job still queued leaves the queue at once and is freed, so dead
 * connections hold no place in it; one a thread has taken comes back
 * unhashed or with a verdict nobody reads, and the worker frees it without
 * touching the connection.
 *
 * Bounds (docs/internals/locks.md): at most one job per connection (a parked
 * connection reads nothing, so it cannot ask for a second), at most
 * AUTHPOOL_QUEUE_MAX queued in all, each holding a copy of the hash and at
 * most AUTHPOOL_PASS_MAX bytes of the password: a flood of CONNECTs costs a
 * bounded amount of memory and, like in nats-server, CPU per connection, but
 * on these threads only. Past the bound a CONNECT is refused as a bad
 * password. */
#ifndef NATSD_AUTHPOOL_H
#define NATSD_AUTHPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct authpool;
struct authpool_job;
struct conn;

/* At most this many verifier threads, started when jobs wait for one. */
#define AUTHPOOL_THREADS_MAX 4
/* Jobs queued and not yet started, all connections together. */
#define AUTHPOOL_QUEUE_MAX 1024
/* bcrypt reads at most 72 bytes of a password: a job keeps no more. */
#define AUTHPOOL_PASS_MAX 72

/* What a password check decided. */
enum authpool_verdict {
    AUTHPOOL_BAD = 0, /* not the password (or refused: the queue is full) */
    AUTHPOOL_OK,
    AUTHPOOL_PENDING, /* a job is queued: park the connection */
};

/* A pool of up to threads verifier threads (clamped to 1..AUTHPOOL_THREADS_
 * MAX), none started yet. Main thread. */
struct authpool *authpool_new(int threads);

/* Stop and join the threads; jobs not started are handed back to their
 * workers unverified (the connections are being closed). Idempotent. Main
 * thread, after the workers stopped. */
void authpool_stop(struct authpool *p);

/* Stop if needed and free. NULL is fine. Main thread. */
void authpool_free(struct authpool *p);

/* Whether given is the password of the bcrypt hash, for connection c: the
 * verdict of c's finished job when it was for the same hash and the same
 * password; otherwise a new job for c is queued and AUTHPOOL_PENDING is
 * returned (the caller's on_op returns PARSER_PAUSE; the job unparks c).
 * With no thread to run it (the pool is stopped, or no thread can be
 * started) the hash is checked here. Owner thread of c. */
enum authpool_verdict authpool_check(struct authpool *p, struct conn *c, const char *hash,
                                     const char *given);

/* Let go of c's job: a queued job is taken off the queue and freed, one a
 * verifier has taken is cancelled (its worker frees it when it comes back),
 * a verdict is freed. Owner thread of c (closing, or once the parked op has
 * run again). */
void authpool_conn_release(struct conn *c);

#endif
