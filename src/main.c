/* SPDX-License-Identifier: Apache-2.0
 * natsd's entry point: flags, the configuration file, logging, the pid file and
 * the process's signals, in the order nats-server's main and ConfigureOptions
 * follow, so that the same command line fails and succeeds the same way. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "conf.h"
#include "mem.h"
#include "log.h"
#include "opts.h"
#include "server.h"
#include "version.h"

#define MAIN_ERR_SIZE 8192

/* The usage text goes to stdout and the exit status is 0, even after a bad
 * flag: Go's flag package calls the usage function, which exits 0. */
static void main_usage(void)
{
    printf("%s\n", cli_usage());
}

/* Print "natsd: <msg>" and give the exit status of a fatal error. */
static int main_fail(const char *msg)
{
    fprintf(stderr, "natsd: %s\n", msg);
    return 1;
}

/* Print what reading the file found, as nats-server prints its processConfigErr:
 * warnings first, then errors, one per line, the whole prefixed once. */
static void main_print_diag(const struct opts_diag *d, bool prefix)
{
    fputs(prefix ? "natsd: " : "", stderr);
    for (size_t i = 0; i < d->warnings.n; i++)
        fprintf(stderr, "%s\n", d->warnings.v[i]);
    for (size_t i = 0; i < d->errors.n; i++)
        fprintf(stderr, "%s\n", d->errors.v[i]);
}

static void main_tls_help(void)
{
    printf("\nTLS Options:\n"
           "    --tls                        Enable TLS, do not verify clients (default: false)\n"
           "    --tlscert <file>             Server certificate file\n"
           "    --tlskey <file>              Private key for server certificate\n"
           "    --tlsverify                  Enable TLS, verify client certificates\n"
           "    --tlscacert <file>           Client certificate CA for verification\n"
           "\nThe tls block of the configuration file also takes cipher_suites and\n"
           "curve_preferences with the names nats-server accepts.\n");
}

static int main_write_pid_file(const char *path, char *err, size_t errsize)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
    if (fd < 0) {
        snprintf(err, errsize, "could not write pidfile: %s", strerror(errno));
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    int saved = errno;
    close(fd);
    if (w != n) {
        snprintf(err, errsize, "could not write pidfile: %s", strerror(w < 0 ? saved : EIO));
        return -1;
    }
    return 0;
}

static void main_log_config(const struct opts *o, struct log_config *lc)
{
    *lc = (struct log_config){
        .debug = o->debug,
        .trace = o->trace,
        .logtime = o->logtime,
        .file = o->log_file,
        .size_limit = o->log_size_limit,
        .syslog = o->syslog,
        .remote_syslog = o->remote_syslog,
    };
}

/* Whether the top-level key k of a configuration is an option (not a key
 * that only names a variable). */
static bool main_is_option(const struct conf_kv *kv)
{
    return kv && !kv->used_as_var;
}

static const struct conf_kv *main_find_kv(const struct conf_value *root, const char *key)
{
    for (size_t i = 0; i < root->u.map.n; i++)
        if (strcasecmp(root->u.map.kv[i].key, key) == 0)
            return &root->u.map.kv[i];
    return NULL;
}

/* Log one reloaded key as nats-server does ("Reloaded: max_payload = 2048"). */
static void main_log_reloaded(const char *key, const struct conf_value *v)
{
    if (!v) {
        NLOG_INFO("Reloaded: %s (removed)", key);
    } else if (v->type == CONF_INT) {
        NLOG_INFO("Reloaded: %s = %lld", key, (long long)v->u.i);
    } else if (v->type == CONF_BOOL) {
        NLOG_INFO("Reloaded: %s = %s", key, v->u.b ? "true" : "false");
    } else if (v->type == CONF_STRING) {
        NLOG_INFO("Reloaded: %s = %s", key, v->u.s.p);
    } else {
        NLOG_INFO("Reloaded: %s", key);
    }
}

/* Keys nats-server reloads but natsd cannot yet: their run-time state (the
 * TLS context, the account table) is built once at start. A reload that
 * changes them is refused whole rather than applied halfway. */
static bool main_reload_deferred(const char *key)
{
    return strcasecmp(key, "tls") == 0 || strcasecmp(key, "accounts") == 0;
}

/* Compare the keys of two configurations. Returns -1 with err naming the
 * first changed key that cannot be reloaded; 0 when every change can be
 * applied, logging nothing yet (changed keys are logged by main_log_diff). */
static int main_check_diff(const struct conf_value *old, const struct conf_value *cur, char *err,
                           size_t errsize)
{
    const struct conf_value *maps[2] = {old, cur};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->u.map.n; i++) {
            const struct conf_kv *kv = &maps[m]->u.map.kv[i];
            const struct conf_kv *a = main_find_kv(old, kv->key);
            const struct conf_kv *b = main_find_kv(cur, kv->key);
            if (!main_is_option(a) && !main_is_option(b))
                continue;
            if (a && b && conf_value_equal(a->val, b->val))
                continue;
            if (!opts_key_reloadable(kv->key) || main_reload_deferred(kv->key)) {
                snprintf(err, errsize, "config reload not supported for %s", kv->key);
                return -1;
            }
        }
    }
    return 0;
}

static void main_log_diff(const struct conf_value *old, const struct conf_value *cur)
{
    for (size_t i = 0; i < cur->u.map.n; i++) {
        const struct conf_kv *b = &cur->u.map.kv[i];
        const struct conf_kv *a = main_find_kv(old, b->key);
        if (main_is_option(b) && !(a && conf_value_equal(a->val, b->val)))
            main_log_reloaded(b->key, b->val);
    }
    for (size_t i = 0; i < old->u.map.n; i++) {
        const struct conf_kv *a = &old->u.map.kv[i];
        if (main_is_option(a) && !main_find_kv(cur, a->key))
            main_log_reloaded(a->key, NULL);
    }
}

/* SIGHUP: read the file again, refuse changes to options that cannot change
 * at run time (as nats-server: "config reload not supported for ..."), then put
 * the new options in force and log each change. *doc is the configuration
 * in force; it is replaced on success. Main thread. */
static void main_reload(const struct cli *c, struct server *s, struct conf_doc **doc)
{
    char err[MAIN_ERR_SIZE] = "";
    const char *path = server_opts(s)->config_file;
    struct conf_doc *ndoc = NULL;
    struct opts_diag d = {0};
    struct opts *next = xmalloc(sizeof(*next));
    opts_init(next);
    if (!path || !*doc) {
        snprintf(err, sizeof(err),
                 "can only reload config when a file is provided using -c or "
                 "--config");
        goto fail;
    }
    struct conf_error cerr;
    if (conf_parse_file(path, &ndoc, &cerr) != 0) {
        conf_error_format(&cerr, err, sizeof(err));
        goto fail;
    }
    if (opts_load_file(next, path, &d) != 0) {
        snprintf(err, sizeof(err), "%s", d.errors.n ? d.errors.v[0] : "invalid configuration");
        goto fail;
    }
    if (cli_apply(c, next, err, sizeof(err)) != 0)
        goto fail;
    opts_set_baseline(next);
    if (opts_validate(next, err, sizeof(err)) != 0)
        goto fail;
    if (main_check_diff(conf_root(*doc), conf_root(ndoc), err, sizeof(err)) != 0)
        goto fail;
    struct log_config lc;
    main_log_config(next, &lc);
    if (log_configure(&lc, err, sizeof(err)) != 0)
        goto fail;
    main_log_diff(conf_root(*doc), conf_root(ndoc));
    server_reload(s, next);
    conf_free(*doc);
    *doc = ndoc;
    opts_diag_free(&d);
    NLOG_INFO("Reloaded server configuration");
    return;
fail:
    NLOG_ERROR("Failed to reload server configuration: %s", err);
    conf_free(ndoc);
    opts_diag_free(&d);
    opts_free(next);
    free(next);
}

/* Lame duck mode, as nats-server's lameDuckMode: no new clients, an INFO
 * with "ldm" to the others, the grace period, then the clients closed one by
 * one over the rest of lame_duck_duration (at most a second apart), then a
 * normal exit. SIGINT still stops at once; SIGTERM is ignored meanwhile. */
static int main_lame_duck(struct server *s, const struct opts *o, const sigset_t *set)
{
    size_t left = server_ldm_begin(s);
    int64_t grace = o->lame_duck_grace_period_ns;
    int64_t wait_ns = left ? (grace > 0 ? grace : 0) : 0;
    bool closing = false;
    int64_t interval = 0;
    for (;;) {
        if (left == 0)
            return 0;
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        int sig = wait_ns > 0 ? sigtimedwait(set, NULL, &ts) : -1;
        if (sig == SIGINT)
            return 0;
        if (sig == SIGUSR1)
            log_reopen();
        if (sig > 0)
            continue; /* SIGTERM, SIGHUP and SIGUSR2 are ignored here */
        if (!closing) {
            NLOG_INFO("Closing existing clients");
            closing = true;
            int64_t dur = o->lame_duck_duration_ns - grace;
            if (dur <= 0)
                dur = 1000000000;
            interval = dur / (int64_t)left;
            if (interval > 1000000000)
                interval = 1000000000;
        }
        size_t batch = interval > 0 ? 1 : left;
        left = server_close_clients(s, batch);
        wait_ns = interval > 0 ? interval / 2 + (int64_t)(rand() % (interval / 2 + 1)) : 1;
    }
}

/* The process's signals, taken synchronously on the main thread: SIGINT and
 * SIGTERM stop (exit 0 and 1, as nats-server), SIGHUP reloads, SIGUSR1 reopens
 * the log file, SIGUSR2 enters lame duck mode. Returns the exit status. */
static int main_wait_signals(const struct cli *c, struct server *s, struct conf_doc **doc,
                             const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig < 0)
            continue; /* EINTR */
        switch (sig) {
        case SIGINT:
        case SIGTERM:
            NLOG_DEBUG("Trapped \"%s\" signal", sig == SIGINT ? "interrupt" : "terminated");
            return sig == SIGINT ? 0 : 1;
        case SIGHUP:
            NLOG_DEBUG("Trapped \"hangup\" signal");
            main_reload(c, s, doc);
            break;
        case SIGUSR1:
            NLOG_DEBUG("Trapped \"user defined signal 1\" signal");
            log_reopen();
            break;
        case SIGUSR2:
            NLOG_DEBUG("Trapped \"user defined signal 2\" signal");
            return main_lame_duck(s, server_opts(s), set);
        default:
            break;
        }
    }
}

/* Read the file and the flags into o, as nats-server's ConfigureOptions.
 * Returns -1 to go on and start, or the exit status when the process is done
 * (-t, an error). */
static int main_configure(struct cli *c, struct opts *o, char *err, size_t errsize)
{
    if (c->config_file) {
        struct opts_diag d = {0};
        int rc = opts_load_file(o, c->config_file, &d);
        if (rc != 0 || (c->check_config && d.warnings.n > 0)) {
            /* with -t warnings are fatal, as in nats-server */
            main_print_diag(&d, true);
            fputc('\n', stderr);
            opts_diag_free(&d);
            return 1;
        }
        if (d.warnings.n > 0)
            main_print_diag(&d, false);
        opts_diag_free(&d);
        if (c->check_config) {
            fprintf(stderr, "natsd: configuration file %s is valid\n", c->config_file);
            return 0;
        }
    } else if (c->check_config) {
        snprintf(err, errsize,
                 "must specify [-c, --config] option to check configuration file "
                 "syntax");
        return main_fail(err);
    }
    if (cli_apply(c, o, err, errsize) != 0)
        return main_fail(err);
    opts_set_baseline(o);
    if (opts_validate(o, err, errsize) != 0)
        return main_fail(err);
    return -1;
}

/* Start the server and serve until a signal ends it. Returns the exit status. */
static int main_serve(struct cli *c, struct opts *o, char *err, size_t errsize)
{
    /* Every thread started later inherits this mask; signals are taken here. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct log_config lc;
    main_log_config(o, &lc);
    if (log_configure(&lc, err, errsize) != 0)
        return main_fail(err);
    if (o->pid_file && main_write_pid_file(o->pid_file, err, errsize) != 0) {
        NLOG_FATAL("%s", err);
        return 1;
    }
    struct server *s = server_new(o);
    if (!s)
        return 1;
    int status = 1;
    if (server_start(s) == 0) {
        /* the configuration in force, for what a reload changes */
        struct conf_doc *doc = NULL;
        struct conf_error cerr;
        if (o->config_file && conf_parse_file(o->config_file, &doc, &cerr) != 0)
            doc = NULL;
        status = main_wait_signals(c, s, &doc, &set);
        conf_free(doc);
        NLOG_INFO("Initiating Shutdown...");
    }
    server_shutdown(s);
    server_free(s);
    NLOG_INFO("Server Exiting..");
    return status;
}

int main(int argc, char **argv)
{
    struct cli c;
    char err[MAIN_ERR_SIZE] = "";
    int status = -1;

    switch (cli_parse(argc, argv, &c, err, sizeof(err))) {
    case CLI_USAGE:
        fprintf(stderr, "%s\n", err);
        main_usage();
        status = 0;
        break;
    case CLI_FATAL:
        status = main_fail(err);
        break;
    case CLI_OK:
        break;
    }
    if (status < 0 && c.show_version) {
        printf("natsd: v%s\n", NATSD_VERSION);
        status = 0;
    } else if (status < 0 && c.show_help) {
        main_usage();
        status = 0;
    } else if (status < 0 && c.show_tls_help) {
        main_tls_help();
        status = 0;
    } else if (status < 0 && c.signal) {
        status = cli_send_signal(c.signal, err, sizeof(err)) == 0 ? 0 : main_fail(err);
    }
    if (status >= 0) {
        cli_free(&c);
        return status;
    }

    struct opts o;
    opts_init(&o);
    status = main_configure(&c, &o, err, sizeof(err));
    if (status < 0)
        status = main_serve(&c, &o, err, sizeof(err));
    log_shutdown();
    opts_free(&o);
    cli_free(&c);
    return status;
}
