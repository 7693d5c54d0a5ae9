/* SPDX-License-Identifier: Apache-2.0
 * The logger under threads, for the TSan build (Criterion cannot start under
 * TSan): threads log while the main thread reopens the file and switches
 * destinations, then while stderr is a pipe nobody reads (lines dropped and
 * counted). Every line must be written once or counted as dropped. Exit
 * status 0 when all of that held. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define THREADS 4

static int lines_per_thread = 5000;
static atomic_int threads_done;

static void *logger_main(void *arg)
{
    int id = (int)(long)arg;
    for (int i = 0; i < lines_per_thread; i++)
        NLOG_INFO("thread %d line %d", id, i);
    atomic_fetch_add(&threads_done, 1);
    return NULL;
}

/* Lines "... thread T line I" in text: each thread's in order; counts them. */
static long count_lines(const char *text, int *next)
{
    long n = 0;
    for (const char *p = text; (p = strstr(p, "[INF] thread ")) != NULL; p++) {
        int t, i;
        if (sscanf(p, "[INF] thread %d line %d", &t, &i) != 2 || t < 0 || t >= THREADS)
            return -1;
        if (i < next[t])
            return -1; /* out of order or twice */
        next[t] = i + 1;
        n++;
    }
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    size_t n = fread(b, 1, (size_t)sz, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static int configure_file(const char *path)
{
    struct log_config lc = {.logtime = true, .file = path};
    char err[256];
    if (log_configure(&lc, err, sizeof(err)) != 0) {
        fprintf(stderr, "log_threads: %s\n", err);
        return -1;
    }
    return 0;
}

/* Threads log while the destination is switched between two files and
 * reopened: no line lost, none doubled, each thread's in order. */
static int phase_files(const char *dir)
{
    char a[512], b[512];
    snprintf(a, sizeof(a), "%s/a.log", dir);
    snprintf(b, sizeof(b), "%s/b.log", dir);
    if (configure_file(a) != 0)
        return 1;
    pthread_t t[THREADS];
    atomic_store(&threads_done, 0);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, logger_main, (void *)i);
    /* switch and reopen for as long as the threads log */
    for (int k = 0; atomic_load(&threads_done) < THREADS; k++) {
        if (configure_file(k % 2 ? a : b) != 0)
            return 1;
        log_reopen();
        log_flush();
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    log_flush();
    char *ta = slurp(a), *tb = slurp(b);
    int next[THREADS] = {0};
    /* each thread's lines are split between the files in runs: count both,
     * order checked within each file */
    long na = ta ? count_lines(ta, next) : -1;
    memset(next, 0, sizeof(next));
    long nb = tb ? count_lines(tb, next) : -1;
    long total = (long)THREADS * lines_per_thread;
    unsigned long long dropped = (unsigned long long)log_dropped();
    printf("log_threads: files: %ld + %ld lines written, %llu dropped, of %ld\n", na, nb, dropped,
           total);
    free(ta);
    free(tb);
    unlink(a);
    unlink(b);
    return na >= 0 && nb >= 0 && na + nb + (long)dropped == total ? 0 : 1;
}

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

/* Threads log to a pipe nobody reads, far more than it and the queue hold;
 * then the pipe is read: what was kept plus what was reported dropped is
 * everything. */
static int phase_stalled(void)
{
    uint64_t before = log_dropped();
    int fds[2];
    if (pipe(fds) != 0 || dup2(fds[1], 2) != 2)
        return 1;
    close(fds[1]);
    struct log_config lc = {.logtime = false};
    char err[256];
    if (log_configure(&lc, err, sizeof(err)) != 0)
        return 1;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, logger_main, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    struct drain d = {.fd = fds[0]};
    pthread_t r;
    pthread_create(&r, NULL, drain_main, &d);
    log_shutdown();
    close(2);
    pthread_join(r, NULL);

    int next[THREADS] = {0};
    long kept = count_lines(d.buf, next);
    unsigned long long reported = 0;
    for (const char *p = d.buf; (p = strstr(p, "[WRN] ")) != NULL; p++) {
        unsigned long long n;
        if (sscanf(p, "[WRN] %llu log lines dropped", &n) == 1)
            reported += n;
    }
    unsigned long long dropped = (unsigned long long)(log_dropped() - before);
    long total = (long)THREADS * lines_per_thread;
    printf("log_threads: stalled: %ld lines written, %llu dropped (%llu reported), of %ld\n", kept,
           dropped, reported, total);
    free(d.buf);
    return kept >= 0 && dropped > 0 && reported == dropped && kept + (long)dropped == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        lines_per_thread = atoi(argv[1]);
    char dir[] = "/tmp/natsd-log-threads-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    int rc = phase_files(dir);
    rmdir(dir);
    if (rc == 0) {
        /* enough lines that the pipe and the queue cannot hold them all */
        if (lines_per_thread < 10000)
            lines_per_thread = 10000;
        rc = phase_stalled();
    }
    return rc;
}
