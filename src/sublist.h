/* SPDX-License-Identifier: Apache-2.0
 * The subscription list: one per account, a trie of subject tokens that finds
 * every subscription matching a published subject, plus a per-worker match
 * cache. It borrows subscriptions and never frees them; delivery is not here. */
#ifndef NATSD_SUBLIST_H
#define NATSD_SUBLIST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A subscription as the sublist sees it. The client (or route) layer embeds it
 * as a member of its own subscription struct and gets back to that struct with
 * container_of/offsetof; there is no ctx pointer. The creator owns the struct
 * and the subject and queue bytes, which must stay valid and unchanged while
 * the sub is in a sublist. A sub is in at most one sublist at a time.
 * Zero-initialise it (or set sl_pos = 0) before the first insert. */
struct sub {
    const char *subject; /* not NUL-terminated */
    const char *queue;   /* NULL for a plain subscription */
    void *owner;         /* opaque: the connection */
    uint32_t subject_len;
    uint32_t queue_len;
    /* Queue weight: 1 for a local member, N for a route peer's group with N
     * members; values below 1 count as 1. Change it only with
     * sublist_update_qweight while the sub is inserted. */
    int32_t qweight;
    /* Private to the sublist: 1 + the sub's index in its trie node, 0 when not
     * inserted. */
    uint32_t sl_pos;
};

/* One queue group of a match result: every matching member of every node whose
 * queue name is this one. cumw[i] is the sum of the weights of members 0..i, so
 * cumw[nsubs - 1] is the group's total weight. */
struct sublist_qgroup {
    const char *queue; /* borrowed from a member */
    size_t queue_len;
    struct sub **subs;
    uint64_t *cumw;
    size_t nsubs;
    size_t cap; /* private */
};

/* Scratch work item of the trie walk (private). */
struct sublist_walk;

/* A match result. Owned by whoever declared it (a caller, or a cache entry):
 * arrays grow as needed and are reused by the next match into the same result,
 * so a warm result allocates nothing. Pointers to subs stay valid only while the
 * caller can rule out their reclamation (the worker layer defers it). */
struct sublist_result {
    struct sub **psubs; /* plain subscriptions */
    size_t npsubs;
    struct sublist_qgroup *qgroups; /* one per distinct queue name */
    size_t nqgroups;
    uint64_t genid; /* sublist generation the result was computed at */
    /* private */
    size_t pcap, qcap;
    struct sublist_walk *walk;
    size_t walkcap;
};

/* Counters for /subsz. Monotonic except nsubs. Cache hits are reported by the
 * caches in batches, so they may lag a little. */
struct sublist_stats {
    uint64_t nsubs;
    uint64_t num_inserts;
    uint64_t num_removes;
    uint64_t num_matches; /* computed matches plus cache hits */
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t max_fanout;
    double avg_fanout;  /* over computed matches */
    uint64_t mem_bytes; /* heap held by the trie (chunk sizes, see sublist.c) */
};

struct sublist;
struct sublist_cache;

/* Error codes (negative errno values). */
#define SUBLIST_EINVAL (-EINVAL) /* invalid subject */
#define SUBLIST_ENOENT (-ENOENT) /* sub not in this sublist */
#define SUBLIST_EEXIST (-EEXIST) /* sub already in a sublist */

/* Create an empty sublist. Never NULL (aborts on OOM). Free with sublist_free. */
struct sublist *sublist_new(void);

/* Free the trie. Subs still inserted are not touched (they are borrowed); their
 * sl_pos is left stale. NULL is accepted. No other thread may use sl. */
void sublist_free(struct sublist *sl);

/* Insert sub (borrowed: the sublist keeps the pointer until removal). Returns 0,
 * SUBLIST_EINVAL if sub->subject is not subject_is_valid, or SUBLIST_EEXIST if
 * sub->sl_pos says it is already inserted. Bumps the genid. Any thread (takes
 * the write lock). */
int sublist_insert(struct sublist *sl, struct sub *sub);

/* Remove sub. Returns 0, or SUBLIST_ENOENT if it is not in sl (nothing changes).
 * After return the sublist holds no reference to sub: the caller may reclaim it
 * once concurrent readers that may have matched it are done. Bumps the genid.
 * Any thread (write lock). */
int sublist_remove(struct sublist *sl, struct sub *sub);

/* Remove n subs under one lock acquisition and one genid bump (a closing
 * connection). Subs not present are skipped. Returns the number removed. Any
 * thread. */
size_t sublist_remove_batch(struct sublist *sl, struct sub *const *subs, size_t n);

/* Set the queue weight of an inserted queue sub (a route peer's RS+ with a new
 * member count) and bump the genid so cached results are recomputed. Returns 0
 * or SUBLIST_ENOENT. Any thread (write lock). */
int sublist_update_qweight(struct sublist *sl, struct sub *sub, int32_t qweight);

/* Match the literal subject (subj, len) into res (caller-owned, initialised
 * with sublist_result_init). A `*` or `>` token in subj is an ordinary token
 * that only wildcard subscriptions match; a subject with an empty token matches
 * nothing. Does not allocate once res is warm. Any thread (read lock). */
void sublist_match(struct sublist *sl, const char *subj, size_t len, struct sublist_result *res);

/* True when at least one sub (plain or queue) matches subj. Any thread. */
bool sublist_has_interest(struct sublist *sl, const char *subj, size_t len);

/* True when some sub (plain or queue) matching subj satisfies pred, which is
 * called under the read lock for the matching subs, one by one, until it
 * returns true: it must not call into sl, and it may read what a remover
 * frees only after sublist_remove returns (the lock orders the two). For a
 * set whose members carry their own validity (an expiry) and are freed by
 * their remover at once. Any thread (read lock). */
typedef bool sublist_pred_cb(const struct sub *sub, void *arg);
bool sublist_any_match(struct sublist *sl, const char *subj, size_t len, sublist_pred_cb *pred,
                       void *arg);

/* Visit every sub under the read lock. cb must not insert into or remove from
 * sl (it would deadlock) and must not keep the pointers past the sub's
 * removal. Order is unspecified. Any thread. */
typedef void sublist_visit_cb(struct sub *sub, void *arg);
void sublist_for_each(struct sublist *sl, sublist_visit_cb *cb, void *arg);

/* Number of inserted subs. Lock-free, any thread. */
uint32_t sublist_count(const struct sublist *sl);

/* Generation id: changes on every insert, remove and weight update. Lock-free
 * (acquire load), any thread. Unique across the sublists of a process, so a
 * freed sublist's results never look valid for a new one at the same address. */
uint64_t sublist_genid(const struct sublist *sl);

/* Fill *st. Any thread. */
void sublist_get_stats(struct sublist *sl, struct sublist_stats *st);

/* Result life cycle: init makes an empty result, free releases its arrays (the
 * struct itself belongs to the caller). */
void sublist_result_init(struct sublist_result *res);
void sublist_result_free(struct sublist_result *res);

/* Pick the member of g to try first for a random r: member i is chosen with
 * probability weight(i) / total weight (a route peer with N members counts N
 * times). The caller scans on from there, wrapping, to the first member that
 * accepts delivery. g->nsubs must be > 0. */
size_t sublist_qgroup_pick(const struct sublist_qgroup *g, uint64_t r);

/* Per-worker match cache: single-threaded, owned by one worker, shared by every
 * sublist that worker matches in. Entries are keyed by (sublist, subject) and
 * trusted only while the sublist's genid is unchanged. At most `entries`
 * (rounded up to a power of two, two-way set associative); 0 disables caching
 * (each call computes into one scratch result). Never NULL. */
struct sublist_cache *sublist_cache_new(size_t entries);

/* Free the cache and its results. Never touches the sublists it served (they
 * may already be gone); hits not yet reported to them are dropped. NULL is
 * accepted. Owner thread only. */
void sublist_cache_free(struct sublist_cache *c);

/* Drop every entry of sl, without touching sl. Optional: a freed sublist's
 * entries can never look valid (genids are unique in the process), this only
 * releases their memory sooner. Owner thread only. */
void sublist_cache_forget(struct sublist_cache *c, const struct sublist *sl);

/* The match result of subj in sl, from the cache when still valid, else
 * computed with sublist_match and stored. The result is owned by the cache and
 * valid until the next call on c. Owner thread only. */
const struct sublist_result *sublist_cache_match(struct sublist_cache *c, struct sublist *sl,
                                                 const char *subj, size_t len);

/* Number of valid-looking entries (for /subsz num_cache). Owner thread only. */
size_t sublist_cache_count(const struct sublist_cache *c);

#endif
