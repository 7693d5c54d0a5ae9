/* SPDX-License-Identifier: Apache-2.0
 * Allocation helpers: every allocation either succeeds or aborts the process
 * (sizes that input controls are bounded before they get here). */
#ifndef NATSD_MEM_H
#define NATSD_MEM_H

#include <stddef.h>

/* Allocate, or print "natsd: out of memory" and abort. Any thread. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Free p and set it to NULL. */
#define NFREE(p)                                                                                   \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

#endif
