/* SPDX-License-Identifier: Apache-2.0
 * The server log: line formatting, destinations (stderr, file with rotation,
 * local or remote syslog) and reopen. As nats-server's logger/log.go prints.
 * Threads queue their lines; one logger thread writes them (see below). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"

/* One line on the stack; longer ones (traces of big messages) go to the heap. */
#define LOG_LINE_STACK 1024

/* The queue's bounds: past either one, lines are dropped and counted. A
 * writer stuck on its destination holds at most one taken batch besides, so
 * the memory the logger pins stays under twice these. */
#define LOG_QUEUE_LINES 16384
#define LOG_QUEUE_BYTES (16u << 20)

/* How long log_flush() (and so a fatal line, log_shutdown() and exit) waits
 * for a writer that makes no progress: a destination that never drains must
 * not keep the process from exiting. */
#define LOG_FLUSH_WAIT_MS 5000

/* The writer gathers stderr and file lines here and writes them together, in
 * writes no larger than a pipe writes whole (PIPE_BUF): another writer to the
 * same stderr (a sanitizer report) cannot land inside a line. */
#define LOG_OBUF_SIZE 4096

enum log_dest {
    LOG_DEST_STDERR = 0,
    LOG_DEST_FILE,
    LOG_DEST_SYSLOG,
    LOG_DEST_REMOTE,
};

/*
 * How lines reach their destination.
 *
 * A thread that logs formats its text, takes the queue mutex for a few
 * pointer stores, and goes on: it never waits for a destination. One logger
 * thread takes the whole queue at a time, stamps, labels and writes the lines
 * in order, and owns the destination (its fd, the size count that drives
 * rotation, reopen). A destination that stops draining (a stderr pipe nobody
 * reads, a remote syslog over TCP that stopped reading, a log file on a hung
 * disk) stalls the logger thread only; the queue then fills up to its bounds
 * and further lines are dropped and counted, and once a write completes
 * again the logger writes "N log lines dropped" after the lines it had.
 *
 * Reconfiguration and reopen travel through the queue as entries too, so
 * they take effect in order with the lines around them and never wait for
 * the destination either. Fatal lines, log_flush(), log_shutdown() and
 * exit() wait (boundedly) for what was queued to be written.
 *
 * The logger thread starts with the first line. After log_shutdown() (until
 * the next log_configure()), or if it cannot be started, a logging thread
 * writes its line itself under out_mu, as a plain blocking logger does.
 */
struct log_out {
    enum log_dest dest;
    int fd; /* file, remote socket, or 2 */
    char *path;
    int64_t size_limit;
    int64_t written;
    bool logtime;
    bool colors;
    char pid_prefix[32];
    size_t pid_len;
};

enum log_entry_kind {
    LOG_E_LINE = 0,
    LOG_E_CONFIG, /* switch to cfg (opened by log_configure) */
    LOG_E_REOPEN, /* reopen the log file */
};

struct log_entry {
    struct log_entry *next;
    uint8_t kind;
    uint8_t level;
    struct timeval tv;   /* when the line was logged */
    struct log_out *cfg; /* LOG_E_CONFIG */
    size_t len;
    char msg[];
};

/* The queue. Lock order: q.mu is a leaf; the writer never holds it while it
 * writes (out_mu is taken without q.mu held). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the logger thread waits for entries or stop */
    pthread_cond_t done; /* flushers wait for written_seq or the thread's end */
    struct log_entry *head, *tail;
    size_t lines, bytes;
    uint64_t seq;         /* entries queued so far */
    uint64_t written_seq; /* entries the logger finished */
    uint64_t dropped;     /* since the last report */
    uint64_t dropped_total;
    bool running;      /* the logger thread is up (until it drained after stop) */
    bool stop;         /* log_shutdown asked it to finish */
    bool closed;       /* after log_shutdown: no thread until log_configure */
    bool start_failed; /* pthread_create failed: write synchronously */
    pthread_t thread;
} log_q = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* The destination; held by whoever writes (the logger thread, or a logging
 * thread when none runs) and by log_shutdown. */
static pthread_mutex_t log_out_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_out log_out = {
    .dest = LOG_DEST_STDERR,
    .fd = 2,
    .logtime = true,
};
static char log_obuf[LOG_OBUF_SIZE];
static size_t log_olen;

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

/* One line in one writev(2) when it goes through whole, as before. */
static void log_writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

static void log_set_pid_prefix(struct log_out *o)
{
    int n = snprintf(o->pid_prefix, sizeof(o->pid_prefix), "[%d] ", (int)getpid());
    o->pid_len = n > 0 ? (size_t)n : 0;
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

/* Close the destination and go back to stderr. Under out_mu. */
static void log_close_dest(struct log_out *o)
{
    if (o->dest == LOG_DEST_FILE || o->dest == LOG_DEST_REMOTE)
        close(o->fd);
    else if (o->dest == LOG_DEST_SYSLOG)
        closelog();
    o->dest = LOG_DEST_STDERR;
    o->fd = 2;
    NFREE(o->path);
}

/* ---- the writer's side: everything below runs under out_mu ---- */

static void log_obuf_flush(void)
{
    if (log_olen > 0)
        log_write_all(log_out.fd, log_obuf, log_olen);
    log_olen = 0;
}

/* "YYYY/MM/DD HH:MM:SS.uuuuuu " in local time, as nats-server stamps lines. */
static size_t log_stamp(char *buf, size_t size, const struct timeval *tv)
{
    struct tm tm;
    localtime_r(&tv->tv_sec, &tm);
    int n =
        snprintf(buf, size, "%04d/%02d/%02d %02d:%02d:%02d.%06ld ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv->tv_usec);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Move the full log aside as <file>.YYYY.MM.DD.HH.MM.SS.nnnnnnnnn and start a new
 * one, writing where the old one went. */
static void log_rotate(void)
{
    struct timespec ts;
    struct tm tm;
    char bak[4096];
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    snprintf(bak, sizeof(bak), "%s.%04d.%02d.%02d.%02d.%02d.%02d.%09ld", log_out.path,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec);
    if (rename(log_out.path, bak) != 0) {
        log_out.size_limit *= 2; /* try again later rather than on every line */
        return;
    }
    char err[256];
    int64_t size;
    int fd = log_open_file(log_out.path, &size, err, sizeof(err));
    if (fd < 0) {
        log_out.size_limit *= 2;
        return;
    }
    close(log_out.fd);
    log_out.fd = fd;
    char line[LOG_LINE_STACK + 4200];
    size_t n = 0;
    memcpy(line, log_out.pid_prefix, log_out.pid_len);
    n += log_out.pid_len;
    if (log_out.logtime) {
        struct timeval tv = {.tv_sec = ts.tv_sec, .tv_usec = ts.tv_nsec / 1000};
        n += log_stamp(line + n, sizeof(line) - n, &tv);
    }
    int m = snprintf(line + n, sizeof(line) - n, "%sRotated log, backup saved as \"%s\"\n",
                     log_labels[LOG_LEVEL_INFO], bak);
    if (m > 0)
        n += (size_t)m < sizeof(line) - n ? (size_t)m : sizeof(line) - n - 1;
    log_write_all(fd, line, n);
    log_out.written = (int64_t)n;
}

/* Write one line to the destination in force: the text is the caller's, the
 * prefix, stamp (tv) and label are added here. */
static void log_put_line(enum log_level level, const struct timeval *tv, const char *msg,
                         size_t msglen)
{
    if (log_out.dest == LOG_DEST_SYSLOG) {
        syslog(log_syslog_prio[level], "%s%.*s", log_labels[level], (int)msglen, msg);
        return;
    }
    char head[160];
    size_t hn = 0;
    if (log_out.dest == LOG_DEST_REMOTE) {
        /* RFC 3164: <PRI> then the tag; the daemon adds time and host. */
        int m = snprintf(head, sizeof(head), "<%d>natsd[%d]: ", LOG_DAEMON | log_syslog_prio[level],
                         (int)getpid());
        hn = m > 0 ? (size_t)m : 0;
    } else {
        memcpy(head, log_out.pid_prefix, log_out.pid_len);
        hn = log_out.pid_len;
        if (log_out.logtime)
            hn += log_stamp(head + hn, sizeof(head) - hn, tv);
    }
    const char *label = log_out.colors ? log_color_labels[level] : log_labels[level];
    size_t ll = strlen(label);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): a length-counted prefix */
    memcpy(head + hn, label, ll);
    hn += ll;
    size_t n = hn + msglen + 1;

    if (log_out.dest == LOG_DEST_REMOTE) {
        /* one datagram (or one write) per line */
        char stack[LOG_LINE_STACK];
        char *line = n <= sizeof(stack) ? stack : xmalloc(n);
        memcpy(line, head, hn);
        memcpy(line + hn, msg, msglen);
        line[n - 1] = '\n';
        log_write_all(log_out.fd, line, n);
        if (line != stack)
            free(line);
        return;
    }
    if (log_olen + n > sizeof(log_obuf))
        log_obuf_flush();
    if (n > sizeof(log_obuf)) {
        struct iovec iov[3] = {
            {head, hn}, {(void *)(uintptr_t)msg, msglen}, {(void *)(uintptr_t) "\n", 1}};
        log_writev_all(log_out.fd, iov, 3);
    } else {
        memcpy(log_obuf + log_olen, head, hn);
        memcpy(log_obuf + log_olen + hn, msg, msglen);
        log_obuf[log_olen + n - 1] = '\n';
        log_olen += n;
    }
    if (log_out.dest == LOG_DEST_FILE) {
        log_out.written += (int64_t)n;
        if (log_out.size_limit > 0 && log_out.written > log_out.size_limit) {
            log_obuf_flush();
            log_rotate();
        }
    }
}

/* A line of the logger's own, stamped now. */
static void log_put_own(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_put_own(enum log_level level, const char *fmt, ...)
{
    char text[512];
    struct timeval tv;
    va_list ap;
    gettimeofday(&tv, NULL);
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    log_put_line(level, &tv, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

static void log_apply(struct log_out *cfg)
{
    log_obuf_flush();
    log_close_dest(&log_out);
    log_out = *cfg;
    free(cfg);
    if (log_out.dest == LOG_DEST_SYSLOG)
        openlog("natsd", LOG_PID, LOG_DAEMON);
}

static void log_do_reopen(void)
{
    log_obuf_flush();
    if (log_out.dest != LOG_DEST_FILE) {
        log_put_own(LOG_LEVEL_INFO, "File log re-open ignored, not a file logger");
        return;
    }
    char err[256];
    int64_t size;
    int fd = log_open_file(log_out.path, &size, err, sizeof(err));
    if (fd < 0) {
        log_put_own(LOG_LEVEL_ERROR, "File log re-open failed: %s", err);
        return;
    }
    close(log_out.fd);
    log_out.fd = fd;
    log_out.written = size;
    log_put_own(LOG_LEVEL_INFO, "File log re-opened");
}

/* Carry out a chain of entries in order, then report lines dropped after
 * them, and free the chain. */
static void log_process(struct log_entry *e, uint64_t dropped)
{
    while (e != NULL) {
        struct log_entry *next = e->next;
        switch (e->kind) {
        case LOG_E_CONFIG:
            log_apply(e->cfg);
            break;
        case LOG_E_REOPEN:
            log_do_reopen();
            break;
        default:
            log_put_line((enum log_level)e->level, &e->tv, e->msg, e->len);
            break;
        }
        free(e);
        e = next;
    }
    if (dropped > 0)
        log_put_own(LOG_LEVEL_WARN, "%" PRIu64 " log lines dropped", dropped);
    log_obuf_flush();
}

/* ---- the queue ---- */

/* A child of fork() has no logger thread: it writes its lines itself. The
 * locks are held across the fork so that the child finds them consistent. */
static void log_fork_prepare(void)
{
    pthread_mutex_lock(&log_q.mu);
    pthread_mutex_lock(&log_out_mu);
}

static void log_fork_parent(void)
{
    pthread_mutex_unlock(&log_out_mu);
    pthread_mutex_unlock(&log_q.mu);
}

static void log_fork_child(void)
{
    log_q.running = false;
    log_q.start_failed = true;
    log_fork_parent();
}

static void log_init_once(void)
{
    pthread_atfork(log_fork_prepare, log_fork_parent, log_fork_child);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log_q.wake, &ca);
    pthread_cond_init(&log_q.done, &ca);
    pthread_condattr_destroy(&ca);
}

static void *log_thread_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&log_q.mu);
    for (;;) {
        while (log_q.head == NULL && !log_q.stop)
            pthread_cond_wait(&log_q.wake, &log_q.mu);
        if (log_q.head == NULL)
            break; /* stopped, and everything queued was written */
        struct log_entry *batch = log_q.head;
        uint64_t dropped = log_q.dropped;
        uint64_t last = log_q.seq;
        log_q.head = log_q.tail = NULL;
        log_q.lines = log_q.bytes = 0;
        log_q.dropped = 0;
        pthread_mutex_unlock(&log_q.mu);

        pthread_mutex_lock(&log_out_mu);
        log_process(batch, dropped);
        pthread_mutex_unlock(&log_out_mu);

        pthread_mutex_lock(&log_q.mu);
        log_q.written_seq = last;
        pthread_cond_broadcast(&log_q.done);
    }
    log_q.running = false;
    pthread_cond_broadcast(&log_q.done);
    pthread_mutex_unlock(&log_q.mu);
    return NULL;
}

/* Wait until what was queued so far is written, the logger thread ended, or
 * ms passed without that. Returns true unless it gave up. */
static bool log_wait_written(int ms, bool until_end)
{
    struct timespec dl;
    bool ok = true;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&log_q.mu);
    uint64_t target = log_q.seq;
    while (log_q.running && (until_end || log_q.written_seq < target)) {
        /* the waiting thread must not be the writer: it never logs */
        if (pthread_cond_timedwait(&log_q.done, &log_q.mu, &dl) == ETIMEDOUT) {
            ok = !log_q.running || (!until_end && log_q.written_seq >= target);
            break;
        }
    }
    pthread_mutex_unlock(&log_q.mu);
    return ok;
}

static void log_atexit(void)
{
    pthread_mutex_lock(&log_q.mu);
    bool closed = log_q.closed;
    pthread_mutex_unlock(&log_q.mu);
    if (!closed) /* log_shutdown has waited already */
        log_wait_written(LOG_FLUSH_WAIT_MS, false);
}

/* Start the logger thread. Under q.mu. Its signals are all blocked: a
 * process signal must reach the thread that waits for it. */
static void log_start_locked(void)
{
    static bool atexit_done;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&log_q.thread, NULL, log_thread_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_q.start_failed = true;
        return;
    }
    log_q.running = true;
    log_q.stop = false;
    if (!atexit_done) {
        atexit_done = true;
        (void)atexit(log_atexit); /* without it, exit() may lose queued lines */
    }
}

/* Queue e, or write it at once when no logger thread runs. A line that finds
 * the queue full is dropped and counted unless keep (fatal lines, control
 * entries). */
static void log_submit(struct log_entry *e, bool keep)
{
    pthread_once(&log_once, log_init_once);
    pthread_mutex_lock(&log_q.mu);
    if (!log_q.running && !log_q.closed && !log_q.start_failed)
        log_start_locked();
    if (!log_q.running) {
        pthread_mutex_unlock(&log_q.mu);
        e->next = NULL;
        pthread_mutex_lock(&log_out_mu);
        log_process(e, 0);
        pthread_mutex_unlock(&log_out_mu);
        return;
    }
    if (!keep && (log_q.lines >= LOG_QUEUE_LINES || log_q.bytes + e->len > LOG_QUEUE_BYTES)) {
        log_q.dropped++;
        log_q.dropped_total++;
        pthread_mutex_unlock(&log_q.mu);
        free(e);
        return;
    }
    e->next = NULL;
    log_q.seq++;
    log_q.lines++;
    log_q.bytes += e->len;
    if (log_q.tail != NULL) {
        log_q.tail->next = e;
    } else {
        log_q.head = e;
        pthread_cond_signal(&log_q.wake); /* it may be asleep only on an empty queue */
    }
    log_q.tail = e;
    pthread_mutex_unlock(&log_q.mu);
}

static struct log_entry *log_entry_new(enum log_entry_kind kind, size_t len)
{
    struct log_entry *e = xmalloc(sizeof(*e) + len + 1);
    memset(e, 0, sizeof(*e));
    e->kind = (uint8_t)kind;
    e->len = len;
    return e;
}

/* ---- the API ---- */

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

    struct log_out *o = xmalloc(sizeof(*o));
    memset(o, 0, sizeof(*o));
    log_set_pid_prefix(o);
    o->dest = dest;
    o->fd = fd;
    o->path = dest == LOG_DEST_FILE ? xstrdup(cfg->file) : NULL;
    o->size_limit = cfg->size_limit;
    o->written = size;
    o->logtime = cfg->logtime;
    o->colors = dest == LOG_DEST_STDERR && isatty(2);

    struct log_entry *e = log_entry_new(LOG_E_CONFIG, 0);
    e->cfg = o;
    pthread_mutex_lock(&log_q.mu);
    log_q.closed = false;
    pthread_mutex_unlock(&log_q.mu);
    /* lines of the new levels may be queued before the switch is carried
     * out: they go to the old destination, as lines logged before it */
    atomic_store_explicit(&log_level_mask,
                          LOG_MASK_BASE | (cfg->debug ? 1u << LOG_LEVEL_DEBUG : 0) |
                              (cfg->trace ? 1u << LOG_LEVEL_TRACE : 0),
                          memory_order_relaxed);
    log_submit(e, true);
    return 0;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char stack[LOG_LINE_STACK];
    struct timeval tv;
    va_list ap;
    gettimeofday(&tv, NULL);
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    struct log_entry *e = log_entry_new(LOG_E_LINE, (size_t)n);
    if ((size_t)n < sizeof(stack)) {
        memcpy(e->msg, stack, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(e->msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    e->level = (uint8_t)level;
    e->tv = tv;
    log_submit(e, level == LOG_LEVEL_FATAL);
    /* a fatal line is usually the last one before the process gives up */
    if (level == LOG_LEVEL_FATAL)
        log_flush();
}

void natsd_assert_failed(const char *cond, const char *file, int line)
{
    /* once: an assertion that fails in here must not come back */
    static atomic_flag entered = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&entered))
        return;
    pthread_mutex_lock(&log_q.mu);
    bool writer = log_q.running && pthread_equal(pthread_self(), log_q.thread);
    pthread_mutex_unlock(&log_q.mu);
    if (writer)
        return; /* the writer cannot wait for itself: stderr has the line */
    /* a fatal line is queued behind the others and waited for */
    log_write(LOG_LEVEL_FATAL, "Assertion failed: %s (%s:%d)", cond, file, line);
}

void log_reopen(void)
{
    log_submit(log_entry_new(LOG_E_REOPEN, 0), true);
}

void log_flush(void)
{
    log_wait_written(LOG_FLUSH_WAIT_MS, false);
}

uint64_t log_dropped(void)
{
    pthread_mutex_lock(&log_q.mu);
    uint64_t n = log_q.dropped_total;
    pthread_mutex_unlock(&log_q.mu);
    return n;
}

void log_shutdown(void)
{
    pthread_once(&log_once, log_init_once);
    pthread_mutex_lock(&log_q.mu);
    log_q.closed = true;
    bool running = log_q.running;
    if (running) {
        log_q.stop = true;
        pthread_cond_signal(&log_q.wake);
    }
    pthread_mutex_unlock(&log_q.mu);
    if (running) {
        if (!log_wait_written(LOG_FLUSH_WAIT_MS, true))
            return; /* stuck on its destination: leave it to the exit */
        pthread_join(log_q.thread, NULL);
    }
    pthread_mutex_lock(&log_out_mu);
    log_obuf_flush();
    log_close_dest(&log_out);
    log_out.colors = false;
    pthread_mutex_unlock(&log_out_mu);
}
