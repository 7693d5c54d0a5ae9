/* SPDX-License-Identifier: Apache-2.0
 * The server log: line formatting, destinations (stderr, file with rotation,
 * local or remote syslog) and reopen. As nats-server's logger/log.go prints. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"

/* One line on the stack; longer ones (traces of big messages) go to the heap. */
#define LOG_LINE_STACK 1024

enum log_dest {
    LOG_DEST_STDERR = 0,
    LOG_DEST_FILE,
    LOG_DEST_SYSLOG,
    LOG_DEST_REMOTE,
};

/*
 * The lock serialises rotation and reopen against writers. A line is written
 * with one write(2) while holding it: the size count that drives rotation
 * must see lines in the order the file does, and log lines are rare next to
 * message traffic (trace is a debugging mode).
 */
static struct {
    pthread_mutex_t mu;
    enum log_dest dest;
    int fd; /* file, remote socket, or 2 */
    char *path;
    int64_t size_limit;
    int64_t written;
    bool logtime;
    bool colors;
    char pid_prefix[32];
    size_t pid_len;
} log_g = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .dest = LOG_DEST_STDERR,
    .fd = 2,
    .logtime = true,
};

#define LOG_MASK_BASE                                                                              \
    ((1u << LOG_LEVEL_FATAL) | (1u << LOG_LEVEL_ERROR) | (1u << LOG_LEVEL_WARN) |                  \
     (1u << LOG_LEVEL_INFO))

_Atomic unsigned log_level_mask = LOG_MASK_BASE;

static const char *const log_labels[] = {
    [LOG_LEVEL_FATAL] = "[FTL] ", [LOG_LEVEL_ERROR] = "[ERR] ", [LOG_LEVEL_WARN] = "[WRN] ",
    [LOG_LEVEL_INFO] = "[INF] ",  [LOG_LEVEL_DEBUG] = "[DBG] ", [LOG_LEVEL_TRACE] = "[TRC] ",
};

/* The labels nats-server prints on a terminal: the level name coloured. */
static const char *const log_color_labels[] = {
    [LOG_LEVEL_FATAL] = "[\x1b[31mFTL\x1b[0m] ",  [LOG_LEVEL_ERROR] = "[\x1b[31mERR\x1b[0m] ",
    [LOG_LEVEL_WARN] = "[\x1b[0;93mWRN\x1b[0m] ", [LOG_LEVEL_INFO] = "[\x1b[32mINF\x1b[0m] ",
    [LOG_LEVEL_DEBUG] = "[\x1b[36mDBG\x1b[0m] ",  [LOG_LEVEL_TRACE] = "[\x1b[33mTRC\x1b[0m] ",
};

static const int log_syslog_prio[] = {
    [LOG_LEVEL_FATAL] = LOG_CRIT,  [LOG_LEVEL_ERROR] = LOG_ERR,  [LOG_LEVEL_WARN] = LOG_WARNING,
    [LOG_LEVEL_INFO] = LOG_NOTICE, [LOG_LEVEL_DEBUG] = LOG_INFO, [LOG_LEVEL_TRACE] = LOG_DEBUG,
};

static void log_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing log */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void log_set_pid_prefix(void)
{
    int n = snprintf(log_g.pid_prefix, sizeof(log_g.pid_prefix), "[%d] ", (int)getpid());
    log_g.pid_len = n > 0 ? (size_t)n : 0;
}

static int log_open_file(const char *path, int64_t *size, char *err, size_t errsize)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) {
        snprintf(err, errsize, "error opening file: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    *size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    return fd;
}

/* "udp://host:port", "tcp://host:port", "unix:///path"; no scheme means udp. */
static int log_open_remote(const char *url, char *err, size_t errsize)
{
    const char *p = url;
    int type = SOCK_DGRAM;
    if (strncmp(p, "udp://", 6) == 0) {
        p += 6;
    } else if (strncmp(p, "tcp://", 6) == 0) {
        type = SOCK_STREAM;
        p += 6;
    } else if (strncmp(p, "unix://", 7) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        p += 7;
        if (strlen(p) >= sizeof(sun.sun_path)) {
            snprintf(err, errsize, "error connecting to syslog: path too long");
            return -1;
        }
        memcpy(sun.sun_path, p, strlen(p) + 1);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            snprintf(err, errsize, "error connecting to syslog: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    char host[256];
    const char *colon = strrchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strlen(p);
    if (hl == 0 || hl >= sizeof(host)) {
        snprintf(err, errsize, "error connecting to syslog: bad address %s", url);
        return -1;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_socktype = type}, *res = NULL;
    int rc = getaddrinfo(host, colon ? colon + 1 : "514", &hints, &res);
    if (rc != 0) {
        snprintf(err, errsize, "error connecting to syslog: %s", gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        snprintf(err, errsize, "error connecting to syslog: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void log_close_dest(void)
{
    if (log_g.dest == LOG_DEST_FILE || log_g.dest == LOG_DEST_REMOTE)
        close(log_g.fd);
    else if (log_g.dest == LOG_DEST_SYSLOG)
        closelog();
    log_g.dest = LOG_DEST_STDERR;
    log_g.fd = 2;
    NFREE(log_g.path);
}

int log_configure(const struct log_config *cfg, char *err, size_t errsize)
{
    enum log_dest dest = LOG_DEST_STDERR;
    int fd = 2;
    int64_t size = 0;

    if (cfg->file && cfg->file[0]) {
        dest = LOG_DEST_FILE;
        fd = log_open_file(cfg->file, &size, err, errsize);
    } else if (cfg->remote_syslog && cfg->remote_syslog[0]) {
        dest = LOG_DEST_REMOTE;
        fd = log_open_remote(cfg->remote_syslog, err, errsize);
    } else if (cfg->syslog) {
        dest = LOG_DEST_SYSLOG;
    }
    if (fd < 0)
        return -1;

    pthread_mutex_lock(&log_g.mu);
    log_close_dest();
    log_set_pid_prefix();
    log_g.dest = dest;
    log_g.fd = fd;
    log_g.path = dest == LOG_DEST_FILE ? xstrdup(cfg->file) : NULL;
    log_g.size_limit = cfg->size_limit;
    log_g.written = size;
    log_g.logtime = cfg->logtime;
    log_g.colors = dest == LOG_DEST_STDERR && isatty(2);
    if (dest == LOG_DEST_SYSLOG)
        openlog("natsd", LOG_PID, LOG_DAEMON);
    atomic_store_explicit(&log_level_mask,
                          LOG_MASK_BASE | (cfg->debug ? 1u << LOG_LEVEL_DEBUG : 0) |
                              (cfg->trace ? 1u << LOG_LEVEL_TRACE : 0),
                          memory_order_relaxed);
    pthread_mutex_unlock(&log_g.mu);
    return 0;
}

/* "YYYY/MM/DD HH:MM:SS.uuuuuu " in local time, as nats-server stamps lines. */
static size_t log_stamp(char *buf, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(buf, size, "%04d/%02d/%02d %02d:%02d:%02d.%06ld ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
    return n > 0 ? (size_t)n : 0;
}

/* Move the full log aside as <file>.YYYY.MM.DD.HH.MM.SS.nnnnnnnnn and start a new
 * one, writing where the old one went. Called with the lock held. */
static void log_rotate_locked(void)
{
    struct timespec ts;
    struct tm tm;
    char bak[4096];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    snprintf(bak, sizeof(bak), "%s.%04d.%02d.%02d.%02d.%02d.%02d.%09ld", log_g.path,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec);
    if (rename(log_g.path, bak) != 0) {
        log_g.size_limit *= 2; /* try again later rather than on every line */
        return;
    }
    char err[256];
    int64_t size;
    int fd = log_open_file(log_g.path, &size, err, sizeof(err));
    if (fd < 0) {
        log_g.size_limit *= 2;
        return;
    }
    close(log_g.fd);
    log_g.fd = fd;
    char line[LOG_LINE_STACK + 4200];
    size_t n = 0;
    memcpy(line, log_g.pid_prefix, log_g.pid_len);
    n += log_g.pid_len;
    if (log_g.logtime)
        n += log_stamp(line + n, sizeof(line) - n);
    int m = snprintf(line + n, sizeof(line) - n, "%sRotated log, backup saved as \"%s\"\n",
                     log_labels[LOG_LEVEL_INFO], bak);
    if (m > 0)
        n += (size_t)m < sizeof(line) - n ? (size_t)m : sizeof(line) - n - 1;
    log_write_all(fd, line, n);
    log_g.written = (int64_t)n;
}

static void log_emit(enum log_level level, const char *msg, size_t msglen)
{
    char stack[LOG_LINE_STACK];
    char *line = stack;
    /* everything in log_g is read under the lock: a reload reconfigures it */
    pthread_mutex_lock(&log_g.mu);
    size_t cap = log_g.pid_len + 32 + 24 + msglen + 2;
    if (cap > sizeof(stack))
        line = xmalloc(cap);
    if (log_g.dest == LOG_DEST_SYSLOG) {
        syslog(log_syslog_prio[level], "%s%.*s", log_labels[level], (int)msglen, msg);
    } else {
        size_t n = 0;
        if (log_g.dest == LOG_DEST_REMOTE) {
            /* RFC 3164: <PRI> then the tag; the daemon adds time and host. */
            int m = snprintf(line, cap, "<%d>natsd[%d]: ", LOG_DAEMON | log_syslog_prio[level],
                             (int)getpid());
            n = m > 0 ? (size_t)m : 0;
        } else {
            memcpy(line, log_g.pid_prefix, log_g.pid_len);
            n = log_g.pid_len;
            if (log_g.logtime)
                n += log_stamp(line + n, cap - n);
        }
        const char *label = log_g.colors ? log_color_labels[level] : log_labels[level];
        size_t ll = strlen(label);
        if (n + ll + msglen + 1 > cap) {
            cap = n + ll + msglen + 1;
            if (line == stack) {
                line = xmalloc(cap);
                memcpy(line, stack, n);
            } else {
                line = xrealloc(line, cap);
            }
        }
        memcpy(line + n, label, ll);
        n += ll;
        memcpy(line + n, msg, msglen);
        n += msglen;
        line[n++] = '\n';
        log_write_all(log_g.fd, line, n);
        if (log_g.dest == LOG_DEST_FILE) {
            log_g.written += (int64_t)n;
            if (log_g.size_limit > 0 && log_g.written > log_g.size_limit)
                log_rotate_locked();
        }
    }
    pthread_mutex_unlock(&log_g.mu);
    if (line != stack)
        free(line);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char stack[LOG_LINE_STACK];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(stack)) {
        log_emit(level, stack, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    log_emit(level, big, (size_t)n);
    free(big);
}

void log_reopen(void)
{
    pthread_mutex_lock(&log_g.mu);
    if (log_g.dest != LOG_DEST_FILE) {
        pthread_mutex_unlock(&log_g.mu);
        log_write(LOG_LEVEL_INFO, "File log re-open ignored, not a file logger");
        return;
    }
    char err[256];
    int64_t size;
    int fd = log_open_file(log_g.path, &size, err, sizeof(err));
    if (fd >= 0) {
        close(log_g.fd);
        log_g.fd = fd;
        log_g.written = size;
    }
    pthread_mutex_unlock(&log_g.mu);
    if (fd < 0)
        log_write(LOG_LEVEL_ERROR, "File log re-open failed: %s", err);
    else
        log_write(LOG_LEVEL_INFO, "File log re-opened");
}

void log_shutdown(void)
{
    pthread_mutex_lock(&log_g.mu);
    log_close_dest();
    pthread_mutex_unlock(&log_g.mu);
}
