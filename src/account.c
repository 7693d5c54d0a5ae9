/* SPDX-License-Identifier: Apache-2.0
 * Accounts. */
#include "account.h"

#include "common.h"
#include "mem.h"
#include "sublist.h"

struct account *account_new(const char *name)
{
    struct account *acc = xcalloc(1, sizeof(*acc));
    acc->name = xstrdup(name);
    acc->sl = sublist_new();
    return acc;
}

void account_free(struct account *acc)
{
    if (!acc)
        return;
    sublist_free(acc->sl);
    free(acc->name);
    free(acc);
}
