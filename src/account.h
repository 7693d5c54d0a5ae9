/* SPDX-License-Identifier: Apache-2.0
 * An account: a name and its own subscription list. Nothing published in one
 * account reaches another (imports and exports come with the security work). */
#ifndef NATSD_ACCOUNT_H
#define NATSD_ACCOUNT_H

#include <stdatomic.h>
#include <stdint.h>

struct sublist;

#define ACCOUNT_GLOBAL "$G"
#define ACCOUNT_SYSTEM "$SYS"

struct account {
    char *name;
    struct sublist *sl;  /* owned */
    atomic_int nclients; /* client connections bound to it */
};

/* A new account with an empty sublist. */
struct account *account_new(const char *name);

/* Free it. No connection may still use it. NULL is fine. */
void account_free(struct account *acc);

#endif
