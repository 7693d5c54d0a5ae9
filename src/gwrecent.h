/* SPDX-License-Identifier: Apache-2.0
 * The recent plain subscriptions of the local cluster, for reply mapping: a
 * request sent to a gateway gets its reply rewritten to "_GR_.<cluster>.
 * <server>.<reply>" when a subscription made in the last window (2 s) by the
 * same account matches the reply, because the remote cluster may not know of
 * that subscription yet and would drop the reply (nats-server keeps such
 * subscriptions in its gateway's rsubs for recSubExp).
 *
 * The subscriptions are held in a sublist of their own whose subjects are the
 * account (as a token of 16 hex digits) followed by the subscription's
 * subject, so one match over "<account>.<reply>" answers, whatever the number
 * of recent subscriptions, and wildcards match as they do in delivery. Each
 * distinct (account, subject) is held once, with the expiry of its latest
 * subscription. Adding takes the set's mutex (and the sublist's write lock);
 * matching takes only the sublist's read lock, so requests on different
 * workers never wait for each other.
 *
 * Memory is bounded: at most max distinct entries (expired ones are dropped
 * first). A subscription that finds the set full is not recorded; instead
 * every reply is mapped until a window after that, which delivers the same
 * replies (a mapped reply comes back through this server, which delivers it
 * on the original subject) at the cost of the extra hop. */
#ifndef NATSD_GWRECENT_H
#define NATSD_GWRECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gwrecent;

/* A new, empty set whose entries last window_ns, holding at most max. */
struct gwrecent *gwrecent_new(uint64_t window_ns, size_t max);

/* Free it (NULL is fine). No thread may still use it. */
void gwrecent_free(struct gwrecent *r);

/* Record a plain subscription to (subj, len) (a valid subject) by the account
 * acc (compared by address) at now_ns, and drop the entries expired by then.
 * Any thread. */
void gwrecent_add(struct gwrecent *r, const void *acc, const char *subj, size_t len,
                  uint64_t now_ns);

/* Whether acc has a subscription recorded within the window before now_ns
 * that matches the literal subject (reply, len), or the set overflowed
 * within that window. Any thread; no mutex. */
bool gwrecent_match(struct gwrecent *r, const void *acc, const char *reply, size_t len,
                    uint64_t now_ns);

/* Entries held (expired ones included until the next add drops them). */
size_t gwrecent_count(const struct gwrecent *r);

#endif
