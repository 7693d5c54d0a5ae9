/* SPDX-License-Identifier: Apache-2.0
 * Inside the system account's internal client: what the modules that add
 * system services and events share (sysacc.c owns the thread, the queue
 * and the subscriptions; see sysacc.h for the outside view).
 *
 * A service is a subscription of the internal client with a handler. Its
 * sid is its index in the service table, so a delivery finds the handler
 * without a lookup. Handlers run on the system thread, one at a time, in
 * the order the requests arrived; they may block (wait for the workers) and
 * publish with sysacc_publish / sysacc_reply. */
#ifndef NATSD_SYSACC_INT_H
#define NATSD_SYSACC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct server;
struct account;
struct conn;
struct csub;
struct sysacc;

/* The most services the internal client may have. */
#define SYSACC_MAX_SVCS 256

/* A delivered request, copied off the message path. */
struct sysacc_job {
    struct sysacc_job *next;
    size_t svc;    /* index of the service it was delivered to */
    char *subject; /* the message's subject (wildcard services need it) */
    char *reply;   /* NULL: none */
    char *body;    /* the payload without its header block, NUL-terminated */
    size_t body_len;
};

typedef void (*sysacc_handler)(struct sysacc *sa, const struct sysacc_job *j, const void *arg);

struct sysacc_svc {
    struct csub *cs;
    sysacc_handler fn; /* set before cs enters the sublist */
    const void *arg;
};

struct sysacc {
    struct server *s;
    struct account *acc;
    struct conn *conn; /* the internal client: kind CONN_KIND_SYSTEM, no socket */
    struct sysacc_svc svcs[SYSACC_MAX_SVCS];
    size_t nsvcs;             /* main thread */
    atomic_uint_fast64_t seq; /* messages published (ServerInfo.seq) */
    atomic_uint next_worker;

    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sysacc_job *head, *tail; /* under mu */
    size_t nqueued;
    bool stopping;
};

/* Subscribe the internal client to subject (wildcards allowed) with fn as
 * its handler; arg is passed to fn as is. The interest is told to routes
 * and gateways. Returns 0, or -1 (logged) when the table is full or the
 * subject invalid. Main thread, before or after the system thread started. */
int sysacc_subscribe(struct sysacc *sa, const char *subject, sysacc_handler fn, const void *arg);

/* Publish a ServerAPIResponse on subject: {"server": {...}, key: data}
 * (data is JSON text), or with code != 0 {"server": {...}, "error":
 * {"code": code, "description": desc}} (and key: data when key is set).
 * Any thread. */
void sysacc_reply(struct sysacc *sa, const char *subject, const char *key, const char *data,
                  int code, const char *desc);

/* Answer j as the SERVER service of endpoint ("CONNZ", "SUBSZ", ...) does:
 * the body decoded as its options and filter, then the parameters
 * extra[0..2 * nextra) (name, value pairs) set over them. With pick, the
 * data is that member of the endpoint's JSON (null without it); with fail,
 * the answer is that error (code 500) once the filter passed. System
 * thread. */
void sysacc_answer(struct sysacc *sa, const struct sysacc_job *j, const char *endpoint,
                   const char *const *extra, size_t nextra, const char *pick, const char *fail);

/* Add the $SYS.REQ.ACCOUNT services (sysacc_account.c). Main thread, from
 * sysacc_start. */
void sysacc_account_init(struct sysacc *sa);

#endif
