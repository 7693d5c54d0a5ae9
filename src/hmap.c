/* SPDX-License-Identifier: Apache-2.0
 * Linear-probing hash set of pointers with tombstones; grows at 3/4 load
 * (live + dead). Hashes are recomputed from the values' keys on resize, which
 * is rare next to lookups, so slots hold nothing but the pointer. */
#include "hmap.h"

#include <stdbool.h>
#include <string.h>

#include "common.h"
#include "hash.h"
#include "mem.h"

static char hmap_tomb_marker;
#define HMAP_TOMB ((void *)&hmap_tomb_marker)

/* Keyed (hash.h): the keys of most maps come from clients and peers. */
static size_t hmap_hash(const char *k, size_t len)
{
    return (size_t)hash_bytes(k, len);
}

static bool hmap_live(const void *v)
{
    return v && v != HMAP_TOMB;
}

static void **hmap_find(const struct hmap *m, const struct hmap_ops *ops, const char *key,
                        size_t len)
{
    if (!m->slots)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hmap_hash(key, len) & mask;; i = (i + 1) & mask) {
        void *v = m->slots[i];
        if (!v)
            return NULL;
        if (v == HMAP_TOMB)
            continue;
        const char *k;
        size_t kl;
        ops->key(v, &k, &kl);
        if (kl == len && memcmp(k, key, len) == 0)
            return &m->slots[i];
    }
}

static void hmap_place(void **slots, size_t cap, const struct hmap_ops *ops, void *v)
{
    const char *k;
    size_t kl;
    ops->key(v, &k, &kl);
    size_t mask = cap - 1;
    size_t i = hmap_hash(k, kl) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = v;
}

static void hmap_resize(struct hmap *m, const struct hmap_ops *ops, size_t cap)
{
    void **ns = xcalloc(cap, sizeof(*ns));
    for (size_t i = 0; i < m->cap; i++)
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): cap 0 means no slots to read */
        if (hmap_live(m->slots[i]))
            hmap_place(ns, cap, ops, m->slots[i]);
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    m->tombs = 0;
}

void *hmap_get(const struct hmap *m, const struct hmap_ops *ops, const char *key, size_t len)
{
    void **s = hmap_find(m, ops, key, len);
    return s ? *s : NULL;
}

void hmap_put(struct hmap *m, const struct hmap_ops *ops, void *val)
{
    if (!m->slots)
        hmap_resize(m, ops, 8);
    else if ((m->n + m->tombs + 1) * 4 > m->cap * 3)
        /* double when live entries need it, else rehash in place to drop tombs */
        hmap_resize(m, ops, (m->n + 1) * 4 > m->cap * 2 ? m->cap * 2 : m->cap);
    const char *k;
    size_t kl;
    ops->key(val, &k, &kl);
    size_t mask = m->cap - 1;
    size_t i = hmap_hash(k, kl) & mask;
    while (hmap_live(m->slots[i]))
        i = (i + 1) & mask;
    if (m->slots[i] == HMAP_TOMB)
        m->tombs--;
    m->slots[i] = val;
    m->n++;
}

void *hmap_del(struct hmap *m, const struct hmap_ops *ops, const char *key, size_t len)
{
    void **s = hmap_find(m, ops, key, len);
    if (!s)
        return NULL;
    void *v = *s;
    *s = HMAP_TOMB;
    m->n--;
    m->tombs++;
    if (m->n == 0)
        hmap_free(m); /* an empty map costs nothing: idle connections hold no memory */
    return v;
}

void hmap_each(const struct hmap *m, void (*cb)(void *val, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (hmap_live(m->slots[i]))
            cb(m->slots[i], arg);
}

void hmap_free(struct hmap *m)
{
    NFREE(m->slots);
    m->cap = m->n = m->tombs = 0;
}
