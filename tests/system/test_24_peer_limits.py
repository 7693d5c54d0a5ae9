"""Bounded memory against route and gateway peers, and a read buffer that
gives back what one large message grew it to.

A fake route peer (routepeer.py) and raw gateway sockets (bodies from
gwpeer.py) play hostile cluster members: a CONNECT that never ends, a
message size of almost 1 GB, a peer that never speaks. natsd answers with
nats-server's error texts and closes; nats-server itself has no limit on
route control lines and none on routed message sizes, so these tests run
against natsd only. Memory is asserted as bounds on the growth of the
server's resident size (/proc/<pid>/status), far from the measured figures.
"""

import signal
import time

import pytest

from gwpeer import connect_body, dumps, peer_info
from natsd import scaled, variant
from rawclient import RawClient
from routepeer import RoutePeer, vm_hwm, vm_rss

pytestmark = [pytest.mark.spawns]

MB = 1024 * 1024
ERR_MCL = b"-ERR 'maximum control line exceeded'"
ERR_PAYLOAD = b"-ERR 'Maximum Payload Violation'"
ERR_AUTH_TIMEOUT = b"-ERR 'Authentication Timeout'"
LOGGED = [r"maximum control line exceeded", r"maximum payload exceeded"]


def conf(top=""):
    return ("server_name: S1\nlisten: 127.0.0.1:@PORT@\n%s\n"
            "cluster {\n  name: A\n  listen: 127.0.0.1:@PORT_CLUSTER@\n}\n"
            "gateway {\n  name: A\n  listen: 127.0.0.1:@PORT_GW@\n}\n" % top)


def start(server_factory, top=""):
    return server_factory("natsd", conf=conf(top), expect_errors=LOGGED)


def client(srv):
    c = RawClient(srv.port)
    c.handshake(headers=True, protocol=1)
    return c


def gw_handshake(srv, max_payload=1048576):
    """An inbound gateway from cluster X: CONNECT and INFO, then a PING round
    trip (the server's burst of interest lines is skipped)."""
    g = RawClient(srv.ports["GW"])
    g.read_info()
    g.send_line("CONNECT " + dumps(connect_body("X")))
    g.send_line("INFO " + dumps(peer_info("X", max_payload=max_payload)))
    g.send(b"PING\r\n")
    while g.read_line() != "PONG":
        pass
    return g


@pytest.mark.parametrize("port", ["CLUSTER", "GW"])
@pytest.mark.parametrize("filler", [b"x", b" "], ids=["bytes", "blanks"])
def test_endless_connect_is_cut_short(server_factory, port, filler):
    """CONNECT and 64 MB without a newline, before any handshake: the
    server refuses the line once it passes the peer control-line limit
    (1 MB here) and closes; its peak resident size grows by far less than
    the 64 MB offered (measured: +64 MB before the limit existed)."""
    s = start(server_factory)
    p = RoutePeer(s.ports[port])
    hwm0 = vm_hwm(s.pid)
    sent, _ = p.send_until_closed(b"CONNECT ", filler, 64 * MB)
    rest = p.expect_closed(timeout=10)
    assert ERR_MCL in rest
    assert sent < 16 * MB
    assert vm_hwm(s.pid) - hwm0 < 16 * MB
    # the server goes on serving
    client(s).ping_pong()


def test_over_long_route_line_after_handshake(server_factory):
    s = start(server_factory)
    p = RoutePeer(s.ports["CLUSTER"])
    p.handshake()
    sent, _ = p.send_until_closed(b"RS+ $G ", b"a", 8 * MB)
    assert sent < 8 * MB
    assert ERR_MCL in p.expect_closed(timeout=10)


@pytest.mark.parametrize("op", [b"RMSG $G x 999999999", b"HMSG $G x 12 999999999",
                                b"PUB x 999999999"])
def test_huge_routed_message_refused(server_factory, op):
    """A size of almost 1 GB is refused from the control line, before any
    of it is buffered (it used to reserve a 1 GB read buffer)."""
    s = start(server_factory)
    p = RoutePeer(s.ports["CLUSTER"])
    p.handshake()
    p.send(op + b"\r\n")
    assert ERR_PAYLOAD in p.expect_closed(timeout=10)
    client(s).ping_pong()


def test_huge_gateway_message_refused(server_factory):
    s = start(server_factory)
    g = gw_handshake(s)
    g.send(b"RMSG $G x 999999999\r\n")
    assert ERR_PAYLOAD in g.expect_closed(timeout=10)
    client(s).ping_pong()


@pytest.mark.parametrize("kind", ["route", "gateway"])
def test_peer_advertised_max_payload(server_factory, kind):
    """A peer's messages may be as large as its INFO's max_payload (its
    clients publish up to that), more than ours (1 MB); not larger."""
    s = start(server_factory)
    c = client(s)
    c.sub("big", 1)
    c.ping_pong()
    if kind == "route":
        p = RoutePeer(s.ports["CLUSTER"])
        p.handshake(max_payload=4 * MB)
    else:
        p = gw_handshake(s, max_payload=4 * MB)
    body = b"z" * (2 * MB)
    p.send(b"RMSG $G big %d\r\n" % len(body) + body + b"\r\n")
    m = c.read_msg(timeout=10)
    assert m.subject == "big" and m.payload == body
    p.send(b"RMSG $G big %d\r\n" % (4 * MB + 1))
    assert ERR_PAYLOAD in p.expect_closed(timeout=10)


@pytest.mark.parametrize("kind", ["route", "gateway"])
def test_peer_max_payload_follows_reloads_and_later_infos(server_factory, kind):
    """The limit is taken when a message comes: our max_payload as a reload
    left it, the peer's as its latest INFO says (a cluster raising
    max_payload by reload keeps its routes)."""
    s = start(server_factory)
    c = client(s)
    c.sub("big", 1)
    c.ping_pong()
    if kind == "route":
        p = RoutePeer(s.ports["CLUSTER"])
        p.handshake()
    else:
        p = gw_handshake(s)
    text = open(s.conf_path).read()
    with open(s.conf_path, "w") as f:
        f.write("max_payload: 3145728\n" + text)
    s.send_signal(signal.SIGHUP)
    s.wait_log(r"Reloaded server configuration")
    body = b"r" * (2 * MB)
    p.send(b"RMSG $G big %d\r\n" % len(body) + body + b"\r\n")
    assert c.read_msg(timeout=10).payload == body
    # the peer's own later INFO raises its limit past ours
    if kind == "route":
        p.send_line("INFO " + dumps(p.info_body(max_payload=6 * MB)))
    else:
        p.send_line("INFO " + dumps(peer_info("X", max_payload=6 * MB)))
    body = b"s" * (5 * MB)
    p.send(b"RMSG $G big %d\r\n" % len(body) + body + b"\r\n")
    assert c.read_msg(timeout=10).payload == body


@pytest.mark.parametrize("port", ["CLUSTER", "GW"])
def test_silent_peer_is_closed(server_factory, port):
    """A connection that never sends CONNECT is closed by the handshake
    deadline, on the cluster port too when there is no cluster
    authorization (nats-server arms none there)."""
    s = start(server_factory)
    p = RoutePeer(s.ports[port])
    rest = p.expect_closed(timeout=15)
    assert ERR_AUTH_TIMEOUT in rest


def test_long_queue_lists_still_pass(server_factory):
    """Legal peer traffic beyond the client max_control_line (4 KB) is not
    refused: an RMSG naming 2,000 queue groups (about 50 KB), interest with a
    long subject and queue name, an INFO with a long URL list."""
    s = start(server_factory)
    c = client(s)
    groups = ["queue-group-number-%04d" % i for i in range(2000)]
    c.sub("work", 1, queue=groups[-1])
    c.ping_pong()
    p = RoutePeer(s.ports["CLUSTER"])
    p.handshake()
    line = "RMSG $G work | %s 3" % " ".join(groups)
    assert len(line) > 40000
    p.send(line.encode() + b"\r\njob\r\n")
    c.expect_msg("work", 1, b"job", timeout=10)
    long_subject = ".".join(["t%03d" % i for i in range(600)])
    long_queue = "q" * 2000
    assert len(long_subject) + len(long_queue) > 4096
    p.send(b"RS+ $G %s %s 1\r\n" % (long_subject.encode(), long_queue.encode()))
    urls = ["127.0.0.1:%d" % (10000 + i) for i in range(3000)]
    p.send_line("INFO " + dumps(p.info_body(connect_urls=urls)))
    p.ping()
    c.pub(long_subject, b"hi")
    c.ping_pong()
    while True:
        line = p.read_route_line(timeout=10)
        if not line.startswith("RS+"):
            break
    assert line == "RMSG $G %s | %s 2" % (long_subject, long_queue)


@pytest.mark.skipif(variant() != "release",
                    reason="sanitizer allocators keep freed memory in quarantine")
def test_read_buffer_shrinks_while_streaming(server_factory):
    """One 16 MB message grows the publisher's read buffer; while the same
    connection keeps streaming small messages (a partial one always left
    unparsed, so the buffer is never idle) the server gives that memory
    back. Measured: +16 MB held for ever before, back to the baseline after."""
    s = server_factory("natsd", conf="listen: 127.0.0.1:@PORT@\nmax_payload: 33554432\n"
                                     "max_pending: 67108864\n")
    c = client(s)
    base = vm_rss(s.pid)
    big = b"B" * (16 * MB)
    c.send(b"PUB big %d\r\n" % len(big) + big + b"\r\nPUB s")
    deadline = time.monotonic() + scaled(10)
    grown = base
    while time.monotonic() < deadline and grown < base + 12 * MB:
        time.sleep(0.02)
        grown = vm_rss(s.pid)
    assert grown >= base + 12 * MB, "the large message never grew the buffer"
    # stream: each send completes the partial PUB and starts the next one
    now = base + 16 * MB
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        c.send(b" 1\r\nx\r\nPUB s")
        time.sleep(0.02)
        now = vm_rss(s.pid)
        if now < base + 6 * MB:
            break
    assert now < base + 6 * MB, "read buffer still holds %d MB" % ((now - base) // MB)
    c.send(b" 1\r\nx\r\n")
    c.ping_pong()


def test_peer_urls_without_a_port_are_dropped(server_factory):
    """Gossip naming a server without a port (a route INFO's ip, an inbound
    gateway's gateway_urls) is refused without leaking what was parsed of it
    (found by fuzz_peer; the sanitizer builds report the leak at exit)."""
    s = server_factory("natsd", conf=conf(),
                       expect_errors=LOGGED + [r"Error parsing URL from INFO"])
    p = RoutePeer(s.ports["CLUSTER"])
    p.handshake()
    p.send_line("INFO " + dumps({"server_id": "NOTHERSERVER", "cluster": "A",
                                 "ip": "nats-route://127.0.0.1/"}))
    p.ping()
    g = RawClient(s.ports["GW"])
    g.read_info()
    g.send_line("CONNECT " + dumps(connect_body("X")))
    g.send_line("INFO " + dumps(peer_info("X", urls=["127.0.0.1"])))
    g.send(b"PING\r\n")
    while g.read_line() != "PONG":
        pass
    client(s).ping_pong()
    s.stop()


@pytest.mark.parametrize("op", ["A+", "A-"])
def test_account_interest_on_inbound_gateway(server_factory, op):
    """Only the side that connected may send A+/A- (nats-server panics on
    them from an inbound: natsd says why and closes)."""
    s = server_factory("natsd", conf=conf(),
                       expect_errors=[r"Received A[+-] from gateway on inbound connection"])
    g = gw_handshake(s)
    g.send_line(op + " $G")
    rest = g.expect_closed(timeout=10)
    assert b"-ERR 'Received %s from gateway on inbound connection'" % op.encode() in rest
    client(s).ping_pong()
