/* SPDX-License-Identifier: Apache-2.0
 * The server log, in nats-server's line format:
 *   [pid] YYYY/MM/DD HH:MM:SS.uuuuuu [INF] text
 * to stderr (coloured labels on a terminal), a file with size-based rotation,
 * or syslog. The logger is the one process-wide object besides the server
 * itself: every thread logs to it. A line is queued (a short critical
 * section, never a wait on the destination) and written by the logger's own
 * thread; when the queue is full (the destination stalled) lines are
 * dropped, counted, and reported as "N log lines dropped" once writing
 * resumes. */
#ifndef NATSD_LOG_H
#define NATSD_LOG_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Not LOG_ERR and friends: <syslog.h> owns those names. */
enum log_level {
    LOG_LEVEL_FATAL = 0,
    LOG_LEVEL_ERROR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
};

struct log_config {
    bool debug;
    bool trace;
    bool logtime;
    const char *file;          /* NULL: stderr (or syslog) */
    int64_t size_limit;        /* bytes; 0: never rotate */
    bool syslog;               /* local syslog(3) */
    const char *remote_syslog; /* "udp://host:port", "tcp://host:port" or "unix:///path" */
};

/* Bit n set: level n is written. Debug and trace are independent, as in
 * nats-server (-V alone shows trace lines, not debug ones). Read by the NLOG_
 * macros before any formatting, so a disabled level costs one load and one
 * branch (a relaxed atomic: a plain load; reloads change it while workers
 * log). */
extern _Atomic unsigned log_level_mask;

/* Point the logger at cfg's destination. Copies what it keeps. Until the first
 * call, lines go to stderr at LOG_LEVEL_INFO with timestamps. On failure (a log file
 * that cannot be opened) returns -1, writes the reason to err, and keeps the
 * previous destination. The destination is opened here (a remote syslog's
 * name resolved); the switch is queued, so lines logged before the call go to
 * the old one. Safe against concurrent log_write(). */
int log_configure(const struct log_config *cfg, char *err, size_t errsize);

/* Close and open the log file again (after it was moved away), then write
 * "File log re-opened"; with no log file, writes why nothing was done. Queued
 * like a line: lines logged before it go to the old file. Any thread. */
void log_reopen(void);

/* Wait until every line logged so far (by any thread) is written, or give up
 * after a few seconds of a destination that does not drain. A fatal line
 * does this by itself, and so does exit(). Any thread. */
void log_flush(void);

/* Lines dropped so far because the queue was full. */
uint64_t log_dropped(void);

/* Flush (boundedly), stop the logger thread and close the destination; later
 * lines go to stderr, written by the thread that logs them, until the next
 * log_configure(). */
void log_shutdown(void);

/* Write one line at level. Prefer the macros. Any thread. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ENABLED(level)                                                                         \
    ((atomic_load_explicit(&log_level_mask, memory_order_relaxed) >> (unsigned)(level)) & 1u)

#define NLOG_AT(level, ...)                                                                        \
    do {                                                                                           \
        if (LOG_ENABLED(level))                                                                    \
            log_write((level), __VA_ARGS__);                                                       \
    } while (0)

#define NLOG_FATAL(...) NLOG_AT(LOG_LEVEL_FATAL, __VA_ARGS__)
#define NLOG_ERROR(...) NLOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define NLOG_WARN(...)  NLOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define NLOG_INFO(...)  NLOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define NLOG_DEBUG(...) NLOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define NLOG_TRACE(...) NLOG_AT(LOG_LEVEL_TRACE, __VA_ARGS__)

#endif
