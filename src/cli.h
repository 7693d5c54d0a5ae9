/* SPDX-License-Identifier: Apache-2.0
 * The command line: nats-server's flags with Go flag-package semantics (-x and
 * --x alike, -x=v or -x v, booleans take no separate value, parsing stops at
 * the first non-flag word). Parsing records what was given; cli_apply() lays
 * it over options read from a file, so flags win, as in nats-server. */
#ifndef NATSD_CLI_H
#define NATSD_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct opts;
struct cli_flag;

/* One flag as given, in command-line order. */
struct cli_given {
    const struct cli_flag *flag;
    char *value; /* owned; "true"/"false" for booleans given bare or with a value */
};

struct cli {
    bool show_version;
    bool show_help;
    bool show_tls_help;
    bool check_config; /* -t */
    char *config_file; /* -c, owned */
    char *signal;      /* -sl, owned */
    struct cli_given *given;
    size_t n_given;
};

enum cli_result {
    CLI_OK = 0,
    CLI_USAGE = 1, /* bad flag or value: print err, then the usage, exit 0 */
    CLI_FATAL = 2, /* print "natsd: <err>", exit 1 */
};

/* Parse argv[1..argc-1] into c (zeroed by this call). On CLI_USAGE or CLI_FATAL
 * err holds the message (without "natsd: "); c must still be freed. */
enum cli_result cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errsize);

/* Lay the flags of c over o: the plain ones by assignment, and the special ones
 * as nats-server does (-DV, -VV, --cluster URL with credentials, --routes list,
 * the --tls group, --routes without a cluster). Returns 0, or -1 with err. */
int cli_apply(const struct cli *c, struct opts *o, char *err, size_t errsize);

/* Whether the flag named name (without dashes) was given. */
bool cli_was_given(const struct cli *c, const char *name);

void cli_free(struct cli *c);

/* The usage text printed by -h. */
const char *cli_usage(void);

/* --signal cmd[=pid|pidfile]: send ldm, stop, quit, term, reopen or reload to a
 * running natsd (found by name when no pid is given; exactly one must run).
 * Returns 0, or -1 with nats-server's message in err. */
int cli_send_signal(const char *spec, char *err, size_t errsize);

#endif
