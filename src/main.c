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
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "conf.h"
#include "mem.h"
#include "log.h"
#include "opts.h"
#include "reload.h"
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
            reload_run(c, s, doc);
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
    reload_log_config(o, &lc);
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
