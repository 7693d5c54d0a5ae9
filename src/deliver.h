/* SPDX-License-Identifier: Apache-2.0
 * Fan-out of one message to the local subscriptions of an account: plain
 * subscribers, and one member of each queue group. Builds MSG/HMSG lines and
 * appends them to the target connections' outbound queues, whichever worker
 * owns them. Routes and gateways add their own legs around this. */
#ifndef NATSD_DELIVER_H
#define NATSD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "parser.h"

struct conn;
struct worker;
struct account;

/* A message as it arrived: every pointer borrowed from the read buffer. */
struct deliver_msg {
    const char *subject;
    size_t subject_len;
    const char *reply; /* NULL: none */
    size_t reply_len;
    /* The size tokens exactly as the publisher wrote them ("005" stays "005"):
     * total for PUB; header and total for HPUB. */
    const char *hdr_tok;
    size_t hdr_tok_len;
    const char *total_tok;
    size_t total_tok_len;
    size_t hdr_len; /* 0: no header block */
    size_t total_len;
    const char *payload; /* total_len bytes: header block then body */
    /* From a route (RMSG/HMSG): the queue groups named on the line, the only
     * ones served here (processMsgResults). */
    const struct parser_slice *rqueues;
    size_t nrqueues;
    /* A routed reply delivered here: one member of every matching queue
     * group is served, whatever the line names. */
    bool all_queues;
};

/* The queue groups a delivery served in this cluster: a local member took the
 * message, or a route was given it for one. The names are borrowed from the
 * subscriptions the delivery matched (valid for the worker's turn). The
 * gateway leg excludes exactly these groups, so it must be handed this
 * record rather than match again: a member joining in between would make a
 * second match claim a group nobody was given the message for. */
#define DELIVER_SERVED_MAX 64

struct deliver_served {
    size_t n;
    struct parser_slice q[DELIVER_SERVED_MAX]; /* the first DELIVER_SERVED_MAX */
};

/* Deliver m, published by src (a client, route or gateway; NULL for internal
 * messages), to the matching subscriptions in acc and, through acc's stream
 * exports, in the accounts importing it; a message published here (by a
 * client or internally) is then offered to the gateways. Returns the number
 * of deliveries made. Worker thread w. */
size_t deliver_local(struct worker *w, struct conn *src, struct account *acc,
                     const struct deliver_msg *m);

/* deliver_local, also filling sv (when not NULL) with the groups served in
 * acc, and leaving the gateway leg to the caller when src is a route or a
 * gateway (a routed reply). */
size_t deliver_local_served(struct worker *w, struct conn *src, struct account *acc,
                            const struct deliver_msg *m, struct deliver_served *sv);

/* The same in acc alone (no stream imports, no gateways): a leg of an
 * import. sv as above, or NULL. */
size_t deliver_account(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m, struct deliver_served *sv);

#endif
