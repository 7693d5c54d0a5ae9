/* SPDX-License-Identifier: Apache-2.0
 * Included by every .c file after its system headers: bans unsafe libc calls at
 * build time and defines the always-on assertion. */
#ifndef NATSD_COMMON_H
#define NATSD_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#pragma GCC poison strcpy strcat sprintf gets vsprintf

/* Called by NASSERT before it aborts, where a program links one: the logger
 * defines it (log.c) so that the lines still queued, and the assertion
 * itself, reach the log destination first. Weak: a program without the
 * logger (a fuzz target, a unit test) has none. */
void natsd_assert_failed(const char *cond, const char *file, int line) __attribute__((weak));

/* Always compiled in: a broken invariant stops the process with its location. */
#define NASSERT(cond)                                                                              \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            fprintf(stderr, "natsd: assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);   \
            if (natsd_assert_failed)                                                               \
                natsd_assert_failed(#cond, __FILE__, __LINE__);                                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
