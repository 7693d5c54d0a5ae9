/* SPDX-License-Identifier: Apache-2.0
 * The logger: nats-server's line format, levels, rotation by size, reopen;
 * the queue in front of the destination: flush, lines dropped and counted
 * when the destination stalls, a logging thread never waiting for it. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

static char dir[256];
static char path[512];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/natsd-log-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/natsd.log", dir);
}

static void teardown(void)
{
    log_shutdown();
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char p[1024];
            if (e->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* What the logger wrote so far (it writes on its own thread). */
static char *slurp(const char *p)
{
    log_flush();
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void configure(bool debug, bool trace, bool logtime, int64_t limit)
{
    struct log_config lc = {
        .debug = debug, .trace = trace, .logtime = logtime, .file = path, .size_limit = limit};
    char err[256];
    cr_assert_eq(log_configure(&lc, err, sizeof(err)), 0, "%s", err);
}

static void assert_matches(const char *text, const char *re)
{
    regex_t r;
    cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE), 0);
    int rc = regexec(&r, text, 0, NULL, 0);
    regfree(&r);
    cr_assert_eq(rc, 0, "no line matching /%s/ in:\n%s", re, text);
}

Test(log, line_format_with_time, .init = setup, .fini = teardown)
{
    configure(false, false, true, 0);
    NLOG_INFO("Server is %s", "ready");
    char pidpat[64];
    snprintf(pidpat, sizeof(pidpat), "^\\[%d\\] ", (int)getpid());
    const char *text = slurp(path);
    assert_matches(text, pidpat);
    assert_matches(text, "^\\[[0-9]+\\] [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\."
                         "[0-9]{6} \\[INF\\] Server is ready$");
}

Test(log, line_format_without_time, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    NLOG_WARN("careful");
    NLOG_ERROR("broken %d", 42);
    NLOG_FATAL("gone");
    char expect[256];
    int pid = (int)getpid();
    snprintf(expect, sizeof(expect), "[%d] [WRN] careful\n[%d] [ERR] broken 42\n[%d] [FTL] gone\n",
             pid, pid, pid);
    cr_assert_str_eq(slurp(path), expect);
}

static int evaluations;

static int count_evaluation(void)
{
    return ++evaluations;
}

Test(log, disabled_levels_do_not_format, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    evaluations = 0;
    NLOG_DEBUG("never %d", count_evaluation());
    NLOG_TRACE("never %d", count_evaluation());
    cr_assert_eq(evaluations, 0, "arguments of a disabled level must not be evaluated");
    cr_assert_str_eq(slurp(path), "");
}

Test(log, debug_and_trace_levels, .init = setup, .fini = teardown)
{
    configure(true, false, false, 0);
    NLOG_DEBUG("dbg");
    NLOG_TRACE("trc");
    cr_assert(strstr(slurp(path), "[DBG] dbg") != NULL);
    cr_assert(strstr(slurp(path), "[TRC]") == NULL);
    configure(false, true, false, 0);
    NLOG_DEBUG("dbg2");
    NLOG_TRACE("trc2");
    /* trace and debug are independent, as in nats-server's -V */
    cr_assert(strstr(slurp(path), "[TRC] trc2") != NULL);
    cr_assert(strstr(slurp(path), "dbg2") == NULL);
}

Test(log, long_lines_are_whole, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    static char big[20000];
    memset(big, 'x', sizeof(big) - 1);
    NLOG_INFO("%s", big);
    const char *text = slurp(path);
    cr_assert(strstr(text, big) != NULL);
    cr_assert_eq(text[strlen(text) - 1], '\n');
}

static int count_files(void)
{
    int n = 0;
    log_flush();
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

Test(log, rotates_past_the_size_limit, .init = setup, .fini = teardown)
{
    configure(false, false, false, 200);
    for (int i = 0; i < 10; i++)
        NLOG_INFO("line number %d with some padding to fill the file", i);
    cr_assert_geq(count_files(), 2, "rotation leaves backups beside the log");
    assert_matches(slurp(path), "\\[INF\\] Rotated log, backup saved as \".*/natsd\\.log\\."
                                "[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}"
                                "\\.[0-9]{9}\"");
}

Test(log, reopen_after_move, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    NLOG_INFO("before");
    char moved[600];
    snprintf(moved, sizeof(moved), "%s/moved.log", dir);
    cr_assert_eq(rename(path, moved), 0);
    log_reopen();
    NLOG_INFO("after");
    cr_assert(strstr(slurp(moved), "before") != NULL);
    const char *now = slurp(path);
    cr_assert(strstr(now, "[INF] File log re-opened") != NULL);
    cr_assert(strstr(now, "after") != NULL);
    cr_assert(strstr(now, "before") == NULL);
}

Test(log, bad_file_keeps_the_old_destination, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    struct log_config lc = {.logtime = false, .file = "/nonexistent-dir/x.log"};
    char err[256];
    cr_assert_eq(log_configure(&lc, err, sizeof(err)), -1);
    cr_assert(strstr(err, "error opening file") != NULL, "%s", err);
    NLOG_INFO("still here");
    cr_assert(strstr(slurp(path), "still here") != NULL);
}

Test(log, reopen_keeps_the_order_of_lines, .init = setup, .fini = teardown)
{
    /* lines queued before the reopen go to the old file, later ones to the new */
    configure(false, false, false, 0);
    char moved[600];
    snprintf(moved, sizeof(moved), "%s/moved.log", dir);
    NLOG_INFO("first");
    log_flush();
    cr_assert_eq(rename(path, moved), 0);
    for (int i = 0; i < 100; i++)
        NLOG_INFO("old %d", i);
    log_reopen();
    NLOG_INFO("new");
    const char *old = slurp(moved);
    cr_assert(strstr(old, "old 99\n") != NULL);
    cr_assert(strstr(old, "new") == NULL && strstr(old, "re-opened") == NULL);
    const char *now = slurp(path);
    char want[128];
    snprintf(want, sizeof(want), "[%d] [INF] File log re-opened\n[%d] [INF] new\n", (int)getpid(),
             (int)getpid());
    cr_assert_str_eq(now, want);
}

Test(log, reopen_without_a_file, .init = setup, .fini = teardown)
{
    struct log_config lc = {.logtime = false};
    char err[256];
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(dup2(fds[1], 2), 2);
    cr_assert_eq(log_configure(&lc, err, sizeof(err)), 0);
    log_reopen();
    log_flush();
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "[%d] [INF] File log re-open ignored, not a file logger\n",
             (int)getpid());
    cr_assert_str_eq(buf, want);
}

Test(log, flush_writes_every_queued_line, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    for (int i = 0; i < 5000; i++)
        NLOG_INFO("line %d", i);
    log_flush();
    /* no read of the file before the flush: the flush alone must suffice */
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[128];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char want[64];
        snprintf(want, sizeof(want), "[%d] [INF] line %d\n", (int)getpid(), n);
        cr_assert_str_eq(line, want);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 5000);
    cr_assert_eq(log_dropped(), 0);
}

/* Drains a pipe into a buffer until EOF. */
struct drain {
    int fd;
    char *buf;
    size_t len, cap;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    for (;;) {
        if (d->len + 65536 > d->cap) {
            d->cap = (d->len + 65536) * 2;
            d->buf = realloc(d->buf, d->cap);
        }
        ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len - 1);
        if (n <= 0)
            break;
        d->len += (size_t)n;
    }
    d->buf[d->len] = '\0';
    return NULL;
}

/* stderr is a pipe nobody reads: logging must still never wait; the lines
 * that did not fit are dropped and counted, and reported once the pipe is
 * read again. Every line is either written or counted. */
Test(log, stalled_destination_drops_and_reports, .init = setup, .fini = teardown, .timeout = 60)
{
    enum { TOTAL = 60000 };
    struct log_config lc = {.logtime = true};
    char err[256];
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(dup2(fds[1], 2), 2);
    close(fds[1]);
    cr_assert_eq(log_configure(&lc, err, sizeof(err)), 0);
    /* the pipe holds about a thousand lines, the queue 16384: whatever the
     * logger thread manages, most of these cannot be kept */
    for (int i = 0; i < TOTAL; i++)
        NLOG_INFO("stalled line %d", i);
    uint64_t dropped = log_dropped();
    cr_assert_gt(dropped, TOTAL / 4, "dropped %llu", (unsigned long long)dropped);

    struct drain d = {.fd = fds[0]};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, drain_main, &d), 0);
    log_flush(); /* the pipe is read again: the queue and the report go out */
    NLOG_INFO("after the stall");
    log_shutdown();
    close(2);
    pthread_join(t, NULL);

    /* every line written whole and in order; each run of dropped lines
     * reported exactly where it is missing (after the lines queued before it,
     * before those queued after), in one report or more */
    int last = -1;
    unsigned long long reported = 0, gap_reported = 0;
    bool after_seen = false;
    for (char *line = d.buf; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "a line without its end");
        *nl = '\0';
        const char *text = strstr(line, "[INF] ");
        if (text == NULL)
            text = strstr(line, "[WRN] ");
        cr_assert_not_null(text, "%s", line);
        int i;
        unsigned long long n;
        if (sscanf(text, "[INF] stalled line %d", &i) == 1) {
            cr_assert_gt(i, last, "lines out of order");
            cr_assert_eq(gap_reported, (unsigned long long)(i - last - 1),
                         "lines %d to %d missing, %llu reported", last + 1, i - 1, gap_reported);
            last = i;
            gap_reported = 0;
        } else if (sscanf(text, "[WRN] %llu log lines dropped", &n) == 1) {
            cr_assert_gt(n, 0);
            reported += n;
            gap_reported += n;
        } else if (strcmp(text, "[INF] after the stall") == 0) {
            cr_assert_eq(gap_reported, (unsigned long long)(TOTAL - 1 - last));
            after_seen = true;
        } else {
            cr_assert_fail("unexpected line %s", line);
        }
        line = nl + 1;
    }
    cr_assert(after_seen);
    cr_assert_eq(reported, dropped);
    free(d.buf);
}

/* Logging threads never wait for a writer stuck on its destination: with
 * stderr a pipe nobody reads, several threads log far more than the queue
 * holds and all finish (were log_write to block, they would not: the test
 * would hit its timeout). */
static void *spam_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++)
        NLOG_WARN("thread line %d", i);
    return NULL;
}

Test(log, logging_threads_never_wait_for_a_stalled_writer, .init = setup, .fini = teardown,
     .timeout = 60)
{
    struct log_config lc = {.logtime = false};
    char err[256];
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(dup2(fds[1], 2), 2);
    cr_assert_eq(log_configure(&lc, err, sizeof(err)), 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, spam_main, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_gt(log_dropped(), 0);
}

/* A fatal line is usually the last before the process gives up: log_write
 * returns only once it is written (no flush here). */
Test(log, fatal_line_is_written_before_log_write_returns, .init = setup, .fini = teardown)
{
    configure(false, false, false, 0);
    for (int i = 0; i < 1000; i++)
        NLOG_INFO("before %d", i);
    NLOG_FATAL("giving up");
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert(strstr(buf, "[INF] before 999\n") != NULL);
    cr_assert(strstr(buf, "[FTL] giving up\n") != NULL);
}

/* A failed NASSERT writes what the logger still holds, then the assertion,
 * before the process aborts: a crash report is never missing its last lines. */
Test(log, failed_assertion_writes_queued_lines, .init = setup, .fini = teardown)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        configure(false, false, false, 0);
        for (int i = 0; i < 3000; i++)
            NLOG_INFO("line %d", i);
        int broken = getpid() != 0;
        NASSERT(!broken);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status %#x", st);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[256];
    int n = 0;
    while (n < 3000 && fgets(line, sizeof(line), f) != NULL) {
        char want[64];
        snprintf(want, sizeof(want), "[%d] [INF] line %d\n", (int)pid, n);
        cr_assert_str_eq(line, want);
        n++;
    }
    cr_assert_eq(n, 3000);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    char want[64];
    snprintf(want, sizeof(want), "[%d] [FTL] Assertion failed: !broken (", (int)pid);
    cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", line);
    fclose(f);
}
