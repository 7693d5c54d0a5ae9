/* SPDX-License-Identifier: Apache-2.0
 * What a remote cluster wants, as learned on one outbound gateway connection:
 * the sender's half of gateway interest (docs/protocol/gateway.md §5.3).
 *
 * Per account the state is ABSENT (no entry), NO_INTEREST (after A-), or an
 * entry with a mode (Optimistic, Transitioning, Interest-Only), a set of
 * subjects the peer said it has no interest in (optimistic mode), and the
 * peer's subscriptions (plain and queue) in a sublist of their own. The inputs
 * are the accepting side's A+/A-/RS+/RS- lines and the INFO commands 2 and 3;
 * the query says, for one published subject, whether the peer has plain
 * interest and which of its queue groups match.
 *
 * Threads: the owner of the gateway connection (worker 0) applies inputs;
 * any worker queries while sending. A mutex inside guards the account table;
 * the subscriptions' memory is reclaimed through the worker layer (see
 * gwint_free and worker_retire), so a match result stays valid until the end
 * of the querying worker's loop turn. */
#ifndef NATSD_GWINT_H
#define NATSD_GWINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gwint;
struct worker;
struct sublist_cache;
struct parser_slice;
struct sbuf;

enum gwint_mode {
    GWINT_OPTIMISTIC = 0,
    GWINT_TRANSITIONING,
    GWINT_INTEREST_ONLY,
};

/* peer_iom: the peer's INFO said gateway_iom (an ABSENT account then means
 * "send nothing" rather than "send everything"). Never NULL. */
struct gwint *gwint_new(bool peer_iom);

/* Every input from now on also bumps *gen (release), so a sender may keep
 * what it concluded from a query for as long as *gen stays the same. */
void gwint_share_gen(struct gwint *g, _Atomic uint64_t *gen);

/* Free every entry; subscriptions are retired through worker w (the owner),
 * so concurrent queries in flight stay safe. NULL is accepted. Here and in
 * the inputs below, w NULL frees at once: only when no query can be in
 * flight (no workers running, unit tests). */
void gwint_free(struct gwint *g, struct worker *w);

/* Inputs (owner thread). acc/subj/queue are the exact argument bytes of the
 * line (not NUL-terminated). Return 0, or -1 when the arguments are invalid
 * (bad subject): the caller treats that as a protocol violation. */
int gwint_account_unsub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len);
int gwint_account_sub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len);
/* RS+: queue NULL for plain interest. weight is stored, not used. */
int gwint_sub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len, const char *subj,
              size_t subj_len, const char *queue, size_t queue_len, int32_t weight);
/* RS-: queue NULL for plain interest. */
int gwint_unsub(struct gwint *g, struct worker *w, const char *acc, size_t acc_len,
                const char *subj, size_t subj_len, const char *queue, size_t queue_len);
/* INFO gateway_cmd 2 (start) and 3 (complete) for account acc. */
void gwint_all_subs_start(struct gwint *g, const char *acc, size_t acc_len);
void gwint_all_subs_complete(struct gwint *g, const char *acc, size_t acc_len);

/* Query (any worker thread; cache is the calling worker's match cache).
 * Sets *plain when the peer has plain interest in subj of account acc, and
 * appends to q (at most qcap entries; *nq counts them) the names of its
 * matching queue groups, each once. The names are borrowed from the peer's
 * subscriptions and stay valid until the end of the caller's loop turn.
 * Returns true when there is any interest (plain or a queue group). */
bool gwint_match(struct gwint *g, struct sublist_cache *cache, const char *acc, size_t acc_len,
                 const char *subj, size_t subj_len, bool *plain, struct parser_slice *q,
                 size_t qcap, size_t *nq);

/* The same for any number of queue groups: fn(arg, name, len) is called
 * once per matching group (the name borrowed as above), and *nq counts
 * them. */
typedef void gwint_queue_fn(void *arg, const char *queue, size_t len);
bool gwint_match_each(struct gwint *g, struct sublist_cache *cache, const char *acc, size_t acc_len,
                      const char *subj, size_t subj_len, bool *plain, gwint_queue_fn *fn, void *arg,
                      size_t *nq);

/* True when the peer holds queue subscriptions in acc (a sender only needs
 * to work out which local groups were served when it does). Any thread. */
bool gwint_has_queues(struct gwint *g, const char *acc, size_t acc_len);

/* Monitoring (any thread): one row per account entry (NO_INTEREST markers
 * are shown as Optimistic, as nats-server does). */
struct gwint_acc_info {
    char name[256];
    enum gwint_mode mode;
    uint32_t no_interest_count; /* size of the no-interest set */
    uint32_t num_subs;          /* stored subscriptions, plain and queue */
    uint32_t num_queue_subs;
};
/* The account rows into *out (new array, free()); returns the count. When
 * acc is not NULL only that account (0 or 1 rows). */
size_t gwint_accounts(struct gwint *g, const char *acc, struct gwint_acc_info **out);
/* Total stored subscriptions (the connection's "subscriptions" figure). */
uint32_t gwint_num_subs(struct gwint *g);
/* "Optimistic", "Transitioning", "Interest-Only". */
const char *gwint_mode_name(enum gwint_mode m);

#endif
