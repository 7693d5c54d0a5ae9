/* SPDX-License-Identifier: Apache-2.0
 * Accounts: a name, its own subscription list, and the stream and service
 * imports that connect it to other accounts. Nothing published in one account
 * reaches another except through an import the exporter allowed
 * (nats-server's accounts.go). The table of accounts is built from the
 * options at start: the global account $G, every configured account, and the
 * system account $SYS unless no_system_account (configureAccounts).
 *
 * A reload (SIGHUP) updates the table in place, as nats-server's
 * reloadAuthorization does by name: an account still configured keeps its
 * object (its sublist, its clients, its response mappings), a new one is
 * appended, and one no longer configured is flagged removed (its clients
 * are closed by the reload; the object lives on until shutdown, and comes
 * back if a later reload configures the name again). The import tables of
 * every account are rebuilt and published whole with an atomic pointer, so
 * the delivery path reads them without a lock. */
#ifndef NATSD_ACCOUNT_H
#define NATSD_ACCOUNT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"

struct sublist;
struct opts;

#define ACCOUNT_GLOBAL "$G"
#define ACCOUNT_SYSTEM "$SYS"

/* A subject mapping of an import (nats-server's streamImport/serviceImport
 * from/to with usePub and transform): from is the pattern matched, to the
 * subject produced. */
struct account_map {
    char *from;
    char *to;
    bool from_wild; /* from has wildcards */
    bool use_pub;   /* wildcard from, to == from: keep the subject */
    char *prefix;   /* stream prefix with its '.', or NULL */
};

/* A stream another account imports from this one: a message published here
 * on a subject matching map.from is delivered in importer on the mapped
 * subject. Read-only once published (struct account_imports). */
struct account_stream_out {
    struct account *importer;
    struct account_map map;
};

/* A service this account imports: a message published here on a subject
 * matching map.from goes into exporter on the mapped subject, with a reply
 * that routes the response back here. */
struct account_service_in {
    struct account *exporter;
    struct account_map map;
    bool singleton;        /* the export's response_type is singleton */
    uint64_t threshold_ns; /* response mappings expire after this */
};

/* What links one account to others, built whole from the options and never
 * changed afterwards: a reload publishes a new one and retires the old. */
struct account_imports {
    struct account_stream_out *streams_out; /* NULL: none (hot path test) */
    size_t n_streams_out;
    struct account_service_in *services_in; /* NULL: none */
    size_t n_services_in;
};

struct account {
    char *name;
    size_t name_len;
    struct sublist *sl;  /* owned */
    atomic_int nclients; /* client connections bound to it */

    /* NULL: no stream exported to another account and no service imported.
     * Read with account_imports(); written by the table's builder only. */
    _Atomic(struct account_imports *) imp;
    /* A reload dropped it from the configuration (never $G or the system
     * account): account_table_find no longer returns it. */
    atomic_bool removed;

    /* Traffic (/accstatz): messages its clients published, deliveries of
     * messages published in it, slow consumers among its clients. Workers
     * add what they counted once per turn (worker_acc_in/out). */
    atomic_uint_fast64_t in_msgs, in_bytes, out_msgs, out_bytes;
    atomic_uint_fast64_t slow_consumers;

    /* Response mappings of service requests into this account, keyed by
     * the "_R_.<pre>.<rand>" reply (under resp_mu; nresp readable without). */
    pthread_mutex_t resp_mu;
    struct hmap resp;
    atomic_size_t nresp;
    char resp_prefix[12]; /* "_R_.xxxxxx." */
};

/* All accounts of a server. The array has a fixed capacity and only grows
 * at its end: an entry is written before n is published (release) and never
 * changes afterwards, so readers on any thread walk v[0..n) without a lock
 * (they may see removed accounts: test account_is_removed).
 *
 * Lookups by name (every RMSG/HMSG and RS+ outside $G names its account) go
 * through idx, an open-addressing table of the same accounts hashed by name
 * (hash.h), linear probing, with at least twice cap slots: it is never more
 * than half full and never resized. Its only writer is the table's (the
 * main thread) and a slot, once set, never changes (accounts are flagged
 * removed, never taken out), so readers on any thread probe it with acquire
 * loads and no lock. */
struct account_table {
    struct account **v; /* $G first; cap entries allocated */
    atomic_size_t n;
    size_t cap;
    _Atomic(struct account *) *idx; /* idx_mask + 1 slots, NULL: free */
    size_t idx_mask;
    struct account *gacc;   /* $G */
    struct account *sysacc; /* NULL with no_system_account */
};

/* The import tables of acc (NULL: none). Any thread; the tables stay valid
 * until the end of the calling worker's loop turn (or while the caller is
 * the table's builder). */
static inline struct account_imports *account_imports(struct account *acc)
{
    return atomic_load_explicit(&acc->imp, memory_order_acquire);
}

static inline bool account_has_streams_out(struct account *acc)
{
    struct account_imports *im = account_imports(acc);
    return im && im->streams_out;
}

static inline bool account_has_services_in(struct account *acc)
{
    struct account_imports *im = account_imports(acc);
    return im && im->services_in;
}

static inline bool account_is_removed(struct account *acc)
{
    return atomic_load_explicit(&acc->removed, memory_order_relaxed);
}

/* A new account with an empty sublist and no imports. */
struct account *account_new(const char *name);

/* Free it. No connection may still use it. NULL is fine. */
void account_free(struct account *acc);

/* Build t from o: $G, every account of o->accounts (in order), the system
 * account, and the imports wired between them (opts_auth checked them). Main
 * thread, before the workers start. */
void account_table_build(struct account_table *t, const struct opts *o);

/* Whether t can take o's accounts (the array's capacity is fixed at start).
 * Returns 0, or -1 with the reason in err. Main thread. */
int account_table_check(const struct account_table *t, const struct opts *o, char *err,
                        size_t errsize);

/* Called with each import table a reload replaced. */
typedef void account_retire_fn(void *arg, struct account_imports *old);

/* Apply a reload's options o to t (account_table_check passed): append the
 * accounts o adds, flag removed the ones it no longer has (never $G or the
 * system account) and clear the flag of those it brings back, then publish
 * every account's new import tables. Each replaced table goes to retire,
 * which must free it with account_imports_free once no worker can still read
 * it. Main thread, while the workers run (the table's only writer). */
void account_table_update(struct account_table *t, const struct opts *o, account_retire_fn *retire,
                          void *arg);

/* Free import tables (NULL is fine). */
void account_imports_free(void *imp);

/* The configured (not removed) account called name, or NULL. Any thread. */
struct account *account_table_find(const struct account_table *t, const char *name);
/* The same for a name of len bytes, not NUL-terminated (a protocol
 * argument). Any thread, no lock: one probe of the name index. */
struct account *account_table_find_n(const struct account_table *t, const char *name, size_t len);

/* Free every account. */
void account_table_free(struct account_table *t);

/* Apply m to a subject that matched m->from: the subject to deliver on, into
 * out (NUL-terminated, at most outsize bytes). Returns its length, or -1 if
 * it does not fit. */
int account_map_apply(const struct account_map *m, const char *subj, size_t len, char *out,
                      size_t outsize);

/* Whether subj matches the import's from pattern. */
bool account_map_matches(const struct account_map *m, const char *subj, size_t len);

#endif
