/* SPDX-License-Identifier: Apache-2.0
 * Socket helpers (the anet.c of natsd). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "mem.h"

#define NET_BACKLOG 4096

/* Go prints errno texts in lower case ("address already in use"). */
static void net_errno_text(int e, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

/* A dual-stack listener on [::]:port (IPV6_V6ONLY off), as Go's net.Listen
 * opens one for a wildcard host: IPv4 clients arrive as mapped addresses.
 * Returns the fd, or -1 with errno (EAFNOSUPPORT and the like where the
 * machine has no IPv6: the caller falls back to IPv4). */
static int net_listen_dual(int port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in6 sa = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT};
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, NET_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
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
    if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
        int fd = net_listen_dual(port < 0 ? 0 : port);
        if (fd >= 0)
            return fd;
        if (errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT && errno != EADDRNOTAVAIL &&
            errno != EINVAL) {
            net_errno_text(errno, et, sizeof(et));
            snprintf(err, errsize, "listen tcp %s:%s: bind: %s", h, portstr, et);
            return -1;
        }
        /* no IPv6 here: IPv4 only, as below */
    }
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

int net_local_addr(int fd, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);
    memset(ss, 0, sizeof(*ss));
    return getsockname(fd, (struct sockaddr *)ss, &len) == 0 ? 0 : -1;
}

bool net_addr_is_any(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return false;
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
    /* getsockname filled it */
    /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
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

/* Go's IP.IsGlobalUnicast. */
static bool net_is_global_unicast(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, sizeof(mapped)) != 0) {
            static const unsigned char zero[16];
            bool loop = memcmp(b, zero, 15) == 0 && b[15] == 1;
            return memcmp(b, zero, 16) != 0 && !loop && b[0] != 0xff &&
                   !(b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
        }
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return v4 != 0 && v4 != 0xffffffffu && (v4 >> 24) != 127 && (v4 >> 28) != 0xe &&
               (v4 >> 16) != 0xa9fe;
    }
    if (sa->sa_family != AF_INET)
        return false;
    uint32_t v4 = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    return v4 != 0 && v4 != 0xffffffffu && (v4 >> 24) != 127 && (v4 >> 28) != 0xe &&
           (v4 >> 16) != 0xa9fe;
}

/* The addresses of every interface, interface by interface in index order,
 * IPv4 before IPv6 within one (Go's net.Interfaces and Addrs order); with
 * global_only, only the global unicast ones. */
static size_t net_if_ips(char (*out)[NET_IP_STRLEN], size_t max, bool global_only)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return 0;
    struct net_ifip {
        unsigned idx;
        char ip[NET_IP_STRLEN];
    } *v = NULL;
    size_t n = 0, cap = 0;
    for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
        if (!p->ifa_addr ||
            (p->ifa_addr->sa_family != AF_INET && p->ifa_addr->sa_family != AF_INET6))
            continue;
        if (global_only && !net_is_global_unicast(p->ifa_addr))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, p->ifa_addr,
               p->ifa_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
        v[n].idx = if_nametoindex(p->ifa_name);
        net_ip_str(&ss, v[n].ip, sizeof(v[n].ip));
        /* getifaddrs lists every IPv4 address, then every IPv6 one: a
         * stable sort on the interface index gives Go's order */
        size_t k = n++;
        while (k > 0 && v[k - 1].idx > v[k].idx) {
            struct net_ifip t = v[k - 1];
            v[k - 1] = v[k];
            v[k] = t;
            k--;
        }
    }
    freeifaddrs(ifa);
    for (size_t i = 0; i < n && i < max; i++)
        snprintf(out[i], NET_IP_STRLEN, "%s", v[i].ip);
    free(v);
    return n;
}

size_t net_nonlocal_ips(char (*out)[NET_IP_STRLEN], size_t max)
{
    return net_if_ips(out, max, true);
}

size_t net_all_ips(char (*out)[NET_IP_STRLEN], size_t max)
{
    return net_if_ips(out, max, false);
}

int net_first_nonlocal_ip(char *buf, size_t size)
{
    char ip[1][NET_IP_STRLEN];
    if (net_nonlocal_ips(ip, 1) == 0)
        return -1;
    snprintf(buf, size, "%s", ip[0]);
    return 0;
}

bool net_host_is_ip(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return host && (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1);
}

bool net_host_is_any(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (!host)
        return false;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return a4.s_addr == 0;
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}
