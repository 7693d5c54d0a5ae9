/* SPDX-License-Identifier: Apache-2.0
 * An open-addressing hash map from byte-string keys to pointers, for small
 * per-connection tables (subscription ids). Keys are borrowed: the value owns
 * them and must outlive its entry. Not thread-safe. */
#ifndef NATSD_HMAP_H
#define NATSD_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
    const char *key;
    uint32_t len;
    uint32_t hash;
    void *val;
};

struct hmap {
    struct hmap_slot *slots; /* NULL until the first insert */
    size_t cap;              /* power of two */
    size_t n;
    size_t tombs;
};

/* The value for key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key, size_t len);

/* Insert key -> val; the key must not be present. */
void hmap_put(struct hmap *m, const char *key, size_t len, void *val);

/* Remove key; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key, size_t len);

/* Visit every value; cb must not change the map. */
void hmap_each(const struct hmap *m, void (*cb)(void *val, void *arg), void *arg);

void hmap_free(struct hmap *m);

#endif
