/* SPDX-License-Identifier: Apache-2.0
 * The logger: nats-server's line format, levels, rotation by size, reopen. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

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

static char *slurp(const char *p)
{
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
