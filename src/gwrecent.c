/* SPDX-License-Identifier: Apache-2.0
 * Recent subscriptions for reply mapping: a sublist of "<account>.<subject>"
 * entries with an expiry each, a map of the same entries by key (so a
 * subject subscribed again refreshes its entry instead of adding one), and
 * a queue in the order they were (re)queued for dropping them. */
#include "gwrecent.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "common.h"
#include "hmap.h"
#include "mem.h"
#include "sublist.h"

#define GWRECENT_ACC_LEN 17 /* 16 hex digits and the separator */
#define GWRECENT_STACK   512

struct gwrecent_entry {
    struct sub sub; /* in r->sl: subject is key */
    /* the latest subscription's expiry: written under r->mu, read by
     * matchers under the sublist's read lock */
    _Atomic uint64_t expires_ns;
    uint64_t queued_ns; /* under r->mu: expires_ns when it was (re)queued */
    struct gwrecent_entry *next;
    uint32_t keylen;
    char key[];
};

struct gwrecent {
    pthread_mutex_t mu; /* adders: the map, the queue, the sublist's writes */
    struct sublist *sl;
    struct hmap keys;                   /* key -> entry, under mu */
    struct gwrecent_entry *head, *tail; /* under mu, oldest first */
    size_t max;
    uint64_t window_ns;
    atomic_size_t n;                 /* entries: the matchers' empty test */
    _Atomic uint64_t overflow_until; /* map every reply until then */
};

static void gwrecent_entry_key(const void *val, const char **key, size_t *len)
{
    const struct gwrecent_entry *e = val;
    *key = e->key;
    *len = e->keylen;
}

static const struct hmap_ops gwrecent_ops = {.key = gwrecent_entry_key};

/* "<acc as 16 hex digits>.<s>" into buf (of GWRECENT_ACC_LEN + len bytes). */
static void gwrecent_key(char *buf, const void *acc, const char *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    uint64_t v = (uint64_t)(uintptr_t)acc;
    for (int i = 15; i >= 0; i--, v >>= 4)
        buf[i] = digits[v & 0xf];
    buf[16] = '.';
    memcpy(buf + GWRECENT_ACC_LEN, s, len);
}

struct gwrecent *gwrecent_new(uint64_t window_ns, size_t max)
{
    struct gwrecent *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->sl = sublist_new();
    r->window_ns = window_ns;
    r->max = max;
    return r;
}

void gwrecent_free(struct gwrecent *r)
{
    if (!r)
        return;
    for (struct gwrecent_entry *e = r->head, *next; e; e = next) {
        next = e->next;
        sublist_remove(r->sl, &e->sub);
        free(e);
    }
    hmap_free(&r->keys);
    sublist_free(r->sl);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void gwrecent_enqueue(struct gwrecent *r, struct gwrecent_entry *e)
{
    e->next = NULL;
    if (r->tail)
        r->tail->next = e;
    else
        r->head = e;
    r->tail = e;
}

/* Drop the entries expired at now from the front of the queue; one that was
 * refreshed since it was queued goes to the back instead. Entries are queued
 * in about expiry order (adders' clocks differ by a loop turn at most): the
 * walk stops at the first whose queued expiry is still ahead, and an entry
 * left behind it a little too long is still never matched (its expiry is
 * checked). Under mu. */
static void gwrecent_prune(struct gwrecent *r, uint64_t now)
{
    struct gwrecent_entry *e;
    while ((e = r->head) != NULL && e->queued_ns <= now) {
        r->head = e->next;
        if (!r->head)
            r->tail = NULL;
        uint64_t exp = atomic_load_explicit(&e->expires_ns, memory_order_relaxed);
        if (exp > now) {
            e->queued_ns = exp;
            gwrecent_enqueue(r, e);
            continue;
        }
        hmap_del(&r->keys, &gwrecent_ops, e->key, e->keylen);
        sublist_remove(r->sl, &e->sub); /* after it, no matcher can see e */
        atomic_fetch_sub_explicit(&r->n, 1, memory_order_relaxed);
        free(e);
    }
}

void gwrecent_add(struct gwrecent *r, const void *acc, const char *subj, size_t len,
                  uint64_t now_ns)
{
    size_t keylen = GWRECENT_ACC_LEN + len;
    char stackkey[GWRECENT_STACK];
    char *key = keylen <= sizeof(stackkey) ? stackkey : xmalloc(keylen);
    gwrecent_key(key, acc, subj, len);
    uint64_t exp = now_ns + r->window_ns;

    pthread_mutex_lock(&r->mu);
    gwrecent_prune(r, now_ns);
    struct gwrecent_entry *e = hmap_get(&r->keys, &gwrecent_ops, key, keylen);
    if (e) {
        if (exp > atomic_load_explicit(&e->expires_ns, memory_order_relaxed))
            atomic_store_explicit(&e->expires_ns, exp, memory_order_relaxed);
    } else if (atomic_load_explicit(&r->n, memory_order_relaxed) >= r->max) {
        /* full: map every reply for a window rather than miss this one */
        if (exp > atomic_load_explicit(&r->overflow_until, memory_order_relaxed))
            atomic_store_explicit(&r->overflow_until, exp, memory_order_relaxed);
    } else {
        e = xcalloc(1, sizeof(*e) + keylen);
        memcpy(e->key, key, keylen);
        e->keylen = (uint32_t)keylen;
        e->sub.subject = e->key;
        e->sub.subject_len = (uint32_t)keylen;
        e->sub.qweight = 1;
        atomic_store_explicit(&e->expires_ns, exp, memory_order_relaxed);
        e->queued_ns = exp;
        if (sublist_insert(r->sl, &e->sub) == 0) {
            hmap_put(&r->keys, &gwrecent_ops, e);
            gwrecent_enqueue(r, e);
            atomic_fetch_add_explicit(&r->n, 1, memory_order_relaxed);
        } else {
            free(e); /* not a valid subject: it could never match */
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (key != stackkey)
        free(key);
}

static bool gwrecent_live(const struct sub *sub, void *arg)
{
    const struct gwrecent_entry *e =
        (const struct gwrecent_entry *)((const char *)sub - offsetof(struct gwrecent_entry, sub));
    return atomic_load_explicit(&e->expires_ns, memory_order_relaxed) > *(const uint64_t *)arg;
}

bool gwrecent_match(struct gwrecent *r, const void *acc, const char *reply, size_t len,
                    uint64_t now_ns)
{
    if (now_ns < atomic_load_explicit(&r->overflow_until, memory_order_relaxed))
        return true;
    if (atomic_load_explicit(&r->n, memory_order_relaxed) == 0)
        return false;
    size_t keylen = GWRECENT_ACC_LEN + len;
    char stackkey[GWRECENT_STACK];
    char *key = keylen <= sizeof(stackkey) ? stackkey : xmalloc(keylen);
    gwrecent_key(key, acc, reply, len);
    bool found = sublist_any_match(r->sl, key, keylen, gwrecent_live, &now_ns);
    if (key != stackkey)
        free(key);
    return found;
}

size_t gwrecent_count(const struct gwrecent *r)
{
    return atomic_load_explicit(&r->n, memory_order_relaxed);
}
