/* SPDX-License-Identifier: Apache-2.0
 * Socket helpers: listeners, non-blocking accept and connect, socket options,
 * and address strings as nats-server prints them. No event handling here. */
#ifndef NATSD_NET_H
#define NATSD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A printable "ip:port" ("[v6]:port" for IPv6), as Go's net.JoinHostPort. */
#define NET_ADDR_STRLEN 64

/* Listen on host:port (port 0 or -1: a free port) with SO_REUSEADDR, non-blocking,
 * close-on-exec, backlog 4096 (nats-server's). host NULL or "" means 0.0.0.0.
 * A wildcard host ("0.0.0.0", "::") gets a dual-stack [::] socket, as Go's
 * (IPv4 only where the machine has no IPv6).
 * Returns the fd, or -1 with a message ("listen tcp 127.0.0.1:4222: bind:
 * address already in use", Go's form) in err. Blocking name resolution: call at
 * start-up, not on a loop thread. */
int net_listen(const char *host, int port, char *err, size_t errsize);

/* The port a socket is bound to, or -1. */
int net_local_port(int fd);

/* The address a socket is bound to, into *ss. Returns 0, or -1 with errno. */
int net_local_addr(int fd, struct sockaddr_storage *ss);

/* Whether ss is the unspecified address (0.0.0.0 or ::). */
bool net_addr_is_any(const struct sockaddr_storage *ss);

/* Accept one connection, non-blocking and close-on-exec, with TCP_NODELAY.
 * Returns the fd, -1 with errno EAGAIN when there is none, or -1 with errno. */
int net_accept(int lfd, struct sockaddr_storage *peer);

/* Start a non-blocking connect to a numeric ip:port. Returns the fd (connecting
 * or connected), or -1 with errno. */
int net_connect_start(const struct sockaddr *sa, socklen_t len);

/* Format an address as "ip:port" into buf (size >= NET_ADDR_STRLEN). */
void net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t size);

/* Only the ip part of an address. */
void net_ip_str(const struct sockaddr_storage *ss, char *buf, size_t size);

/* The port of an address. */
int net_addr_port(const struct sockaddr_storage *ss);

/* A printable IPv4 or IPv6 address, without port or brackets. */
#define NET_IP_STRLEN 46

/* The addresses nats-server lists for a wildcard ("0.0.0.0" or "::") listen
 * host (getNonLocalIPsIfHostIsIPAny): the global unicast IPv4 and IPv6
 * addresses of every interface (no loopback, link-local, multicast,
 * broadcast or unspecified one), interface by interface in index order, IPv4
 * before IPv6 within one. Stores up to max of them in out; returns how many
 * there are in all. Reads the interfaces (getifaddrs): start-up only. */
size_t net_nonlocal_ips(char (*out)[NET_IP_STRLEN], size_t max);

/* The first of those (nats-server takes the first for a gateway's URL) into
 * buf. Returns 0, or -1 when there is none. */
int net_first_nonlocal_ip(char *buf, size_t size);

/* Every IPv4 and IPv6 address of every interface (loopback and link-local
 * ones included), in the same order: the addresses nats-server's ports file
 * lists for a listener bound to the unspecified address (resolveHostPorts).
 * Stores up to max in out; returns how many there are in all. Start-up. */
size_t net_all_ips(char (*out)[NET_IP_STRLEN], size_t max);

/* Whether host is a numeric IPv4 or IPv6 address (no brackets). Any thread. */
bool net_host_is_ip(const char *host);

/* Whether host is a numeric unspecified address ("0.0.0.0", "::", ...). */
bool net_host_is_any(const char *host);

#endif
