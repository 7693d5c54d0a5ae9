/* SPDX-License-Identifier: Apache-2.0
 * Permissions of one client connection, as nats-server's client.go applies a
 * user's Permissions (setPermissions, pubAllowedFullCheck, canSubscribe,
 * checkDenySub, the dynamic reply permissions of allow_responses).
 *
 * Each allow/deny list is a sublist of its subjects, so wildcards in the lists
 * and in the subjects checked match as a subscription matches a message. A
 * "subject queue" entry of a subscribe list is a queue entry.
 *
 * Threads: a perms_conn belongs to one connection. perms_pub_check and
 * perms_can_subscribe are for the owner only (they use owner scratch and the
 * publish cache). perms_deliver_denied may be called from any worker.
 * perms_reply_track_locked and perms_reply_use_locked need the connection's
 * out_mu held (they share the reply map between deliverers and the owner).
 * Free it only once no worker can still deliver to the connection with it
 * (the connection's on_free, or the workers' reclamation when a reload
 * replaced it). */
#ifndef NATSD_PERMS_H
#define NATSD_PERMS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "sublist.h"

struct opts_perms;
struct sbuf;

/* One allow or deny list: NULL sl means the list is absent. */
struct perms_list {
    struct sublist *sl;
    struct sub **subs; /* owned entries */
    size_t n;
};

struct perms_conn {
    struct perms_list pub_allow, pub_deny, sub_allow, sub_deny;
    /* subscribe deny entries as written ("subj" or "subj queue"): c.darray */
    char **deny_raw;
    size_t n_deny_raw;
    /* plain subscribe deny subjects, matched at delivery (c.mperms) */
    struct perms_list msg_deny;
    atomic_bool deny_filter; /* a wildcard SUB overlapped a deny entry */

    bool resp; /* allow_responses */
    int64_t resp_max;
    int64_t resp_expires_ns;

    struct sublist_result res; /* owner scratch */
    struct hmap pcache;        /* owner: publish decisions */
    struct hmap replies;       /* under the conn's out_mu: reply -> use count */
};

/* The outcome of perms_pub_check. */
enum perms_pub {
    PERMS_PUB_ALLOW = 0,
    PERMS_PUB_DENY,
    PERMS_PUB_REPLY, /* denied by the lists; allowed if a tracked reply (see perms_reply_use_locked)
                      */
};

/* Permissions from a user's options; NULL when p is NULL (no permissions). */
struct perms_conn *perms_conn_new(const struct opts_perms *p);

/* Free pc (NULL is fine). */
void perms_conn_free(struct perms_conn *pc);

/* Whether a publish to subj may go, from the allow and deny lists and the
 * per-connection cache (pubAllowedFullCheck). Owner thread. */
enum perms_pub perms_pub_check(struct perms_conn *pc, const char *subj, size_t len);

/* allow_responses: subj is a reply subject this connection received; count
 * one use against max and expires at now_ns. True if the publish may go.
 * Under the conn's out_mu. */
bool perms_reply_use_locked(struct perms_conn *pc, const char *subj, size_t len, uint64_t now_ns);

/* allow_responses: remember a reply subject delivered to the connection.
 * Under the conn's out_mu. No-op when pc->resp is false. */
void perms_reply_track_locked(struct perms_conn *pc, const char *reply, size_t len,
                              uint64_t now_ns);

/* A reload replaced from's permissions with to's: the reply subjects from
 * has tracked (allow_responses) move to to, as nats-server keeps them on the
 * client rather than in its permissions. Under the conn's out_mu. */
void perms_conn_take_replies_locked(struct perms_conn *to, struct perms_conn *from);

/* Whether SUB subj [queue] is allowed (canSubscribe); queue NULL or qlen 0
 * for a plain subscription. A wildcard subject overlapping a deny entry is
 * allowed and turns on the delivery filter. Owner thread. */
bool perms_can_subscribe(struct perms_conn *pc, const char *subj, size_t len, const char *queue,
                         size_t qlen);

/* Whether a message on subj must not be delivered to the connection because
 * of a subscribe deny entry (checkDenySub). Any thread. */
static inline bool perms_deliver_denied_slow(struct perms_conn *pc, const char *subj, size_t len)
{
    return sublist_has_interest(pc->msg_deny.sl, subj, len);
}

static inline bool perms_deliver_denied(struct perms_conn *pc, const char *subj, size_t len)
{
    return atomic_load_explicit(&pc->deny_filter, memory_order_acquire) &&
           perms_deliver_denied_slow(pc, subj, len);
}

/* Append (s, len) quoted as Go's %q does (strconv.Quote for ASCII: \" \\
 * \n \r \t ... and \xNN for other control bytes), for -ERR texts and logs. */
void perms_quote(struct sbuf *b, const char *s, size_t len);

#endif
