/* SPDX-License-Identifier: Apache-2.0
 * An open-addressing hash set of pointers, looked up by a byte-string key each
 * value carries (the map asks ops->key for it). A slot is one pointer, so a
 * connection with 100,000 subscriptions pays about 8 to 21 bytes for each in
 * its sid map. Not thread-safe. */
#ifndef NATSD_HMAP_H
#define NATSD_HMAP_H

#include <stddef.h>
#include <stdint.h>

/* How the map reads the key of a value it holds. */
struct hmap_ops {
    void (*key)(const void *val, const char **key, size_t *len);
};

struct hmap {
    void **slots; /* NULL until the first insert */
    size_t cap;   /* power of two */
    size_t n;
    size_t tombs;
};

/* The value whose key is (key, len), or NULL. */
void *hmap_get(const struct hmap *m, const struct hmap_ops *ops, const char *key, size_t len);

/* Insert val; no value with its key may be present. */
void hmap_put(struct hmap *m, const struct hmap_ops *ops, void *val);

/* Remove the value whose key is (key, len); returns it or NULL. */
void *hmap_del(struct hmap *m, const struct hmap_ops *ops, const char *key, size_t len);

/* Visit every value; cb must not change the map. */
void hmap_each(const struct hmap *m, void (*cb)(void *val, void *arg), void *arg);

void hmap_free(struct hmap *m);

#endif
