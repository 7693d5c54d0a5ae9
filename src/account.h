/* SPDX-License-Identifier: Apache-2.0
 * Accounts: a name, its own subscription list, and the stream and service
 * imports that connect it to other accounts. Nothing published in one account
 * reaches another except through an import the exporter allowed
 * (nats-server's accounts.go). The table of accounts is built once from the
 * options at start: the global account $G, every configured account, and the
 * system account $SYS unless no_system_account (configureAccounts). */
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
 * subject. Read-only after the table is built. */
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

struct account {
    char *name;
    struct sublist *sl;  /* owned */
    atomic_int nclients; /* client connections bound to it */

    struct account_stream_out *streams_out; /* NULL: none (hot path test) */
    size_t n_streams_out;
    struct account_service_in *services_in; /* NULL: none */
    size_t n_services_in;

    /* Response mappings of service requests into this account, keyed by
     * the "_R_.<pre>.<rand>" reply (under resp_mu; nresp readable without). */
    pthread_mutex_t resp_mu;
    struct hmap resp;
    atomic_size_t nresp;
    char resp_prefix[12]; /* "_R_.xxxxxx." */
};

/* All accounts of a server. */
struct account_table {
    struct account **v; /* $G first */
    size_t n;
    struct account *gacc;   /* $G */
    struct account *sysacc; /* NULL with no_system_account */
};

/* A new account with an empty sublist and no imports. */
struct account *account_new(const char *name);

/* Free it. No connection may still use it. NULL is fine. */
void account_free(struct account *acc);

/* Build t from o: $G, every account of o->accounts (in order), the system
 * account, and the imports wired between them (opts_auth checked them). Main
 * thread, before the workers start. */
void account_table_build(struct account_table *t, const struct opts *o);

/* The account called name, or NULL. Any thread (the table never changes). */
struct account *account_table_find(const struct account_table *t, const char *name);

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
