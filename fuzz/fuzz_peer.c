/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer target for the route and gateway protocols as a hostile peer
 * speaks them, through the whole connection path of a running server: one
 * natsd server (a cluster, a gateway, a second account) runs its worker
 * thread as in production; each input becomes one accepted route or one
 * accepted (inbound) gateway connection over a socketpair, created on the
 * worker by route_create/gw_create. The fuzzer writes the input into the
 * peer end in chunks, shuts its write side and reads whatever the server
 * answers until the server closes the connection; so every input runs the
 * read buffer, parser, handshake (CONNECT, INFO), interest (RS+ RS- A+ A-),
 * messages (RMSG HMSG), limits and close of conn.c, route.c and gateway.c.
 * Nothing may crash, leak, trip a sanitizer or fail to close.
 *
 * Input: byte 0 picks the kind (bit 0: route or gateway) and the chunk size
 * of the writes (bits 1-3: 16 << n bytes, 7: all at once); the rest is the
 * byte stream. Run it in a network namespace of its own (unshare -rn) so
 * that the routes and gateways an INFO makes the server dial stay on the
 * loopback. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "conf.h"
#include "conn.h"
#include "gateway_int.h"
#include "log.h"
#include "opts.h"
#include "route_int.h"
#include "server.h"
#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fz_conf[] = "server_name: FZ\n"
                              "listen: 127.0.0.1:-1\n"
                              "threads: 1\n"
                              "accounts { ACC { users: [ {user: u, password: p} ] } }\n"
                              "cluster { name: A, listen: 127.0.0.1:-1 }\n"
                              "gateway { name: A, listen: 127.0.0.1:-1 }\n";

static struct server *fz_srv;

static void fz_setup(void)
{
    if (fz_srv)
        return;
    signal(SIGPIPE, SIG_IGN);
    /* every level, into nowhere: the trace and debug lines run too */
    struct log_config lc = {.debug = true, .trace = true, .file = "/dev/null"};
    char err[512];
    if (log_configure(&lc, err, sizeof(err)) != 0)
        abort();
    struct conf_doc *doc = NULL;
    struct conf_error cerr;
    if (conf_parse_string(fz_conf, sizeof(fz_conf) - 1, "fuzz.conf", &doc, &cerr) != 0)
        abort();
    static struct opts o;
    struct opts_diag d;
    memset(&d, 0, sizeof(d));
    opts_init(&o);
    if (opts_apply_conf(&o, conf_root(doc), &d) != 0)
        abort();
    opts_diag_free(&d);
    conf_free(doc);
    opts_set_baseline(&o);
    if (opts_validate(&o, err, sizeof(err)) != 0)
        abort();
    fz_srv = server_new(&o);
    if (!fz_srv || server_start(fz_srv) != 0)
        abort();
}

struct fz_new {
    int fd;
    bool gateway;
    bool ok;
};

/* On the worker: the connection as if its listener had accepted it. */
static void fz_accept(struct worker *w, void *arg)
{
    struct fz_new *n = arg;
    struct sockaddr_storage peer;
    memset(&peer, 0, sizeof(peer));
    struct sockaddr_in *in = (struct sockaddr_in *)&peer;
    in->sin_family = AF_INET;
    in->sin_port = htons(4242);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct conn *c =
        n->gateway ? gw_create(w, n->fd, &peer, NULL) : route_create(w, n->fd, &peer, NULL);
    n->ok = c != NULL;
}

/* Write data in chunks and read (and drop) the answers until the server
 * closes its end. */
static void fz_converse(int fd, const uint8_t *data, size_t size, size_t chunk)
{
    size_t off = 0;
    bool wr = true;
    char sink[65536];
    if (size == 0) {
        shutdown(fd, SHUT_WR);
        wr = false;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (wr ? POLLOUT : 0))};
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return; /* the server closed the connection */
        }
        if (wr && (p.revents & POLLOUT)) {
            size_t k = size - off < chunk ? size - off : chunk;
            ssize_t n = send(fd, data + off, k, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                wr = false; /* closed under us: read what is left */
            if (off == size) {
                shutdown(fd, SHUT_WR);
                wr = false;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    data++;
    size--;
    unsigned shift = (sel >> 1) & 7;
    size_t chunk = shift == 7 ? (size ? size : 1) : ((size_t)16 << shift);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    struct fz_new n = {.fd = sv[0], .gateway = (sel & 1) != 0};
    worker_call(fz_srv->workers[0], fz_accept, &n);
    if (!n.ok) {
        close(sv[1]);
        return 0;
    }
    fz_converse(sv[1], data, size, chunk);
    close(sv[1]);
    return 0;
}
