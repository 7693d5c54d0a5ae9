/* SPDX-License-Identifier: Apache-2.0
 * The sublist concurrency test without Criterion, for the TSan build (Criterion
 * cannot start under TSan). Exit status 0 when every match was consistent. */
#include <stdio.h>
#include <stdlib.h>

#include "../unit/sublist_mt.h"

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    struct sublist_mt_report rep = sublist_mt_run(4, rounds);

    printf("sublist_threads: %d rounds, %ld reader checks, %ld errors %s\n", rounds, rep.checks,
           rep.errors, rep.what);
    return rep.errors == 0 && rep.checks > 0 ? 0 : 1;
}
