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

/* The queue groups a message was given to so far: in this cluster (a local
 * member took it, or a route was given it for one), then in the clusters the
 * gateway leg gave it to. The names are borrowed from the subscriptions the
 * delivery matched (valid for the worker's turn). The gateway leg excludes
 * exactly these groups, so it must be handed this record rather than match
 * again: a member joining in between would make a second match claim a group
 * nobody was given the message for.
 *
 * Any number of groups: the first DELIVER_SERVED_INLINE live in the record,
 * the rest in its worker's spill (kept between messages, so only a worker's
 * largest message ever allocates), with a hash index for lookups past the
 * inline room. One record per worker uses the spill at a time: from
 * deliver_served_init to deliver_served_done, both on the worker's thread. */
#define DELIVER_SERVED_INLINE 16

struct deliver_served {
    struct worker *w;       /* whose spill holds entries past the inline room */
    struct parser_slice *q; /* inl, or the worker's spill */
    size_t n, cap;
    size_t nindexed; /* q[0..nindexed) are in the worker's index */
    size_t imask;    /* the index's size - 1 */
    struct parser_slice inl[DELIVER_SERVED_INLINE];
};

/* Start an empty record on worker w (its thread). */
void deliver_served_init(struct deliver_served *sv, struct worker *w);

/* Append group q (borrowed: see above). The caller knows it is not there. */
void deliver_served_add(struct deliver_served *sv, const char *q, size_t len);

/* Whether group q is in sv. */
bool deliver_served_has(struct deliver_served *sv, const char *q, size_t len);

/* End of the record's use: the spill is free for the next one. */
void deliver_served_done(struct deliver_served *sv);

/* Deliver m, published by src (a client, route or gateway; NULL for internal
 * messages), to the matching subscriptions in acc and, through acc's stream
 * exports, in the accounts importing it; a message published here (by a
 * client or internally) is then offered to the gateways. Returns the number
 * of deliveries made. Worker thread w. */
size_t deliver_local(struct worker *w, struct conn *src, struct account *acc,
                     const struct deliver_msg *m);

/* deliver_local, also adding to sv (when not NULL; initialised by the
 * caller) the groups served in acc and by the gateway leg, and leaving the
 * gateway leg to the caller when src is a route or a gateway (a routed
 * reply). */
size_t deliver_local_served(struct worker *w, struct conn *src, struct account *acc,
                            const struct deliver_msg *m, struct deliver_served *sv);

/* The same in acc alone (no stream imports, no gateways): a leg of an
 * import. sv as above (the groups served in acc are added), or NULL. */
size_t deliver_account(struct worker *w, struct conn *src, struct account *acc,
                       const struct deliver_msg *m, struct deliver_served *sv);

#endif
