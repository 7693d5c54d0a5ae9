/* SPDX-License-Identifier: Apache-2.0
 * Socket helpers (the anet.c of natsd). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define NET_BACKLOG 4096

/* Go prints errno texts in lower case ("address already in use"). */
static void net_errno_text(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

int net_listen(const char *host, int port, char *err, size_t errsize)
{
    char portstr[16], et[128];
    const char *h = (host && host[0]) ? host : "0.0.0.0";
    if (port > 65535) {
        /* Go's words; never let htons() wrap it to some other port */
        snprintf(err, errsize, "listen tcp: address %d: invalid port", port);
        return -1;
    }
    snprintf(portstr, sizeof(portstr), "%d", port < 0 ? 0 : port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *res = NULL;
    int rc = getaddrinfo(h, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errsize, "listen tcp %s:%s: lookup %s: %s", h, portstr, h, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    const char *step = "socket";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            step = "socket";
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, NET_BACKLOG) == 0)
            break;
        e = errno;
        step = "bind";
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        net_errno_text(e, et, sizeof(et));
        snprintf(err, errsize, "listen tcp %s:%s: %s: %s", h, portstr, step, et);
    }
    return fd;
}

int net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    return net_addr_port(&ss);
}

int net_accept(int lfd, struct sockaddr_storage *peer)
{
    socklen_t len = sizeof(*peer);
    int fd = accept4(lfd, (struct sockaddr *)peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int net_connect_start(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

void net_ip_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        /* an IPv4-mapped peer prints as plain IPv4, as Go does */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, (socklen_t)size);
            return;
        }
        inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)size);
    } else if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)size);
    } else {
        snprintf(buf, size, "?");
    }
}

int net_addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return -1;
}

void net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    net_ip_str(ss, ip, sizeof(ip));
    bool v6 = strchr(ip, ':') != NULL;
    snprintf(buf, size, v6 ? "[%s]:%d" : "%s:%d", ip, net_addr_port(ss));
}
