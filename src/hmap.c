/* SPDX-License-Identifier: Apache-2.0
 * Linear-probing hash map with tombstones; grows at 3/4 load (live + dead). */
#include "hmap.h"

#include <stdbool.h>
#include <string.h>

#include "common.h"
#include "mem.h"

#define HMAP_TOMB ((const char *)&hmap_tomb_marker)
static const char hmap_tomb_marker = 0;

/* FNV-1a: keys are short (sids are usually a few digits). */
static uint32_t hmap_hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

static struct hmap_slot *hmap_find(const struct hmap *m, const char *key, size_t len, uint32_t h)
{
    if (!m->slots)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hmap_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != HMAP_TOMB && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static void hmap_place(struct hmap_slot *slots, size_t cap, const struct hmap_slot *e)
{
    size_t mask = cap - 1;
    size_t i = e->hash & mask;
    while (slots[i].key && slots[i].key != HMAP_TOMB)
        i = (i + 1) & mask;
    slots[i] = *e;
}

static void hmap_resize(struct hmap *m, size_t cap)
{
    struct hmap_slot *ns = xcalloc(cap, sizeof(*ns));
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != HMAP_TOMB)
            hmap_place(ns, cap, &m->slots[i]);
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    m->tombs = 0;
}

void *hmap_get(const struct hmap *m, const char *key, size_t len)
{
    struct hmap_slot *s = hmap_find(m, key, len, hmap_hash(key, len));
    return s ? s->val : NULL;
}

void hmap_put(struct hmap *m, const char *key, size_t len, void *val)
{
    if (!m->slots)
        hmap_resize(m, 8);
    else if ((m->n + m->tombs + 1) * 4 > m->cap * 3)
        hmap_resize(m, (m->n + 1) * 4 > m->cap * 2 ? m->cap * 2 : m->cap);
    struct hmap_slot e = {
        .key = key, .len = (uint32_t)len, .hash = hmap_hash(key, len), .val = val};
    size_t mask = m->cap - 1;
    size_t i = e.hash & mask;
    while (m->slots[i].key && m->slots[i].key != HMAP_TOMB)
        i = (i + 1) & mask;
    if (m->slots[i].key == HMAP_TOMB)
        m->tombs--;
    m->slots[i] = e;
    m->n++;
}

void *hmap_del(struct hmap *m, const char *key, size_t len)
{
    struct hmap_slot *s = hmap_find(m, key, len, hmap_hash(key, len));
    if (!s)
        return NULL;
    void *v = s->val;
    s->key = HMAP_TOMB;
    s->val = NULL;
    m->n--;
    m->tombs++;
    if (m->n == 0) {
        /* an empty table costs nothing: idle connections hold no memory */
        hmap_free(m);
    }
    return v;
}

void hmap_each(const struct hmap *m, void (*cb)(void *val, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != HMAP_TOMB)
            cb(m->slots[i].val, arg);
}

void hmap_free(struct hmap *m)
{
    NFREE(m->slots);
    m->cap = m->n = m->tombs = 0;
}
