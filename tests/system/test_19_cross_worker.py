"""Delivery between connections of different worker threads.

With `threads: 2` natsd hands accepted connections to its workers in turn,
so among a subscriber and a few publishers some publishers always live on
another worker than the subscriber. Such a publisher's worker appends to the
subscriber's outbound queue and, at the end of its turn, writes it to the
subscriber's socket itself when the owner allows it, or leaves it to the
owner. These tests check what that must never change, against natsd with 1
and 2 threads and against nats-server:

  * every message of every publisher arrives once and in its publisher's
    order, while several publishers write to one subscriber at once;
  * an auto-unsubscribe reached through deliveries from other workers
    removes the subscription on the server (/subsz);
  * subscribers that vanish (reset) in the middle of a stream from other
    workers leave the server and the publishers unharmed;
  * a subscriber that stops reading is cut off as a slow consumer while
    other workers write to it, and a reading one loses nothing.
"""

import socket
import struct
import threading
import time

import pytest

from gwpeer import client, drain_numbered, http_json, wait_until
from natsd import scaled
from proto_util import PROTO_ERR_LOGS, check_alive, params, start
from rawclient import RawClient

TARGETS = params(threaded_t1=True)
PUBLISHERS = 4


def tparams():
    return pytest.mark.parametrize("target", TARGETS)


def _stream(pub, subject, first, count, chunk=2000, size=0):
    """Publish count numbered messages on subject, first..first+count-1
    (payloads zero-padded to size digits)."""
    for k in range(first, first + count, chunk):
        pub.send(b"".join(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(p), p)
                          for p in (b"%0*d" % (size, i)
                                    for i in range(k, min(k + chunk, first + count)))))


def _publish_all(pubs, subject_of, count):
    """Each publisher streams count messages from its own thread at once.
    Connections go to the workers in turn, so with two workers the even
    publishers (made right after the subscriber) are on the other worker:
    they write a few messages at a time (turns of a few messages, after which
    natsd writes to other workers' connections directly), while the odd ones,
    on the subscriber's worker, stream in big writes (the owner writing)."""
    errors = []

    def run(i, p):
        try:
            _stream(p, subject_of(i), 0, count, chunk=4 if i % 2 == 0 else 2000)
            p.ping_pong()
        except Exception as e:  # reported by the caller
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(pubs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@tparams()
def test_many_publishers_one_subscriber_order_and_count(target, server_factory):
    count = 25000
    srv = start(server_factory, target)
    sub = client(srv)
    sub.sub("ord.>", 1)
    sub.ping_pong()
    pubs = [client(srv) for _ in range(PUBLISHERS)]
    _publish_all(pubs, lambda i: "ord.%d" % i, count)
    got = {i: [] for i in range(PUBLISHERS)}
    total = PUBLISHERS * count
    deadline = time.monotonic() + scaled(60)
    n = 0
    while n < total and time.monotonic() < deadline:
        for subj, num in drain_numbered(sub):
            got[int(subj.split(".")[1])].append(num)
            n += 1
    for subj, num in drain_numbered(sub, 0.2):
        got[int(subj.split(".")[1])].append(num)
    for i in range(PUBLISHERS):
        assert got[i] == list(range(count)), \
            "publisher %d: %d messages, first out of order at %r" % (
                i, len(got[i]), next((k for k, v in enumerate(got[i]) if v != k), None))
    for c in pubs + [sub]:
        c.close()


@tparams()
def test_auto_unsubscribe_reached_from_other_workers(target, server_factory):
    srv = start(server_factory, target, conf='http: "127.0.0.1:@PORT_HTTP@"')
    port = srv.ports["HTTP"]
    base = http_json(port, "/subsz")["num_subscriptions"]  # nats-server's own
    sub = client(srv)
    sub.sub("au", 1)
    sub.unsub(1, 5)
    sub.sub("keep", 2)
    sub.ping_pong()
    assert http_json(port, "/subsz")["num_subscriptions"] == base + 2
    # the server's first PING (within seconds, for the RTT) is answered; the
    # next is ping_interval (minutes) away, so nothing but the deliveries
    # below makes the server act on this connection meanwhile
    assert RawClient.read_line(sub, timeout=30) == "PING"
    sub.send(b"PONG\r\n")
    pubs = [client(srv) for _ in range(PUBLISHERS)]
    # connections go to the workers in turn: with two, the first and third
    # publishers are on the other worker than the subscriber
    for p in pubs[0::2]:
        for i in range(10):
            p.pub("au", b"%d" % i)
        p.ping_pong()
    # the five messages are read without sending anything: the server must
    # remove the subscription on its own, not when the client next speaks
    for _ in range(5):
        m = sub.read_msg()
        assert m.subject == "au", m
    wait_until(lambda: http_json(port, "/subsz")["num_subscriptions"] == base + 1,
               what="the auto-unsubscribed subscription removed")
    assert drain_numbered(sub, 0.2) == []
    for p in pubs:
        p.pub("keep", b"1")
        p.ping_pong()
    got = drain_numbered(sub, 0.1)
    deadline = time.monotonic() + scaled(10)
    while len(got) < PUBLISHERS and time.monotonic() < deadline:
        got += drain_numbered(sub)
    assert got == [("keep", 1)] * PUBLISHERS
    for c in pubs + [sub]:
        c.close()


@tparams()
def test_subscribers_reset_mid_stream(target, server_factory):
    """Five times over: a subscriber reads a little of a stream that other
    workers write to it and then resets its connection. The publishers keep
    going, and a subscriber that stays gets everything."""
    count = 20000
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    stay = client(srv)
    stay.sub("reset.>", 1)
    stay.ping_pong()
    pubs = [client(srv) for _ in range(PUBLISHERS)]
    for rnd in range(5):
        gone = client(srv)
        gone.sub("reset.>", 1)
        gone.ping_pong()
        done = threading.Event()

        def reset_soon(c=gone):
            c.sock.settimeout(scaled(10))
            try:
                c.sock.recv(4096)  # the stream has begun
            finally:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.sock.close()
                done.set()
        t = threading.Thread(target=reset_soon)
        t.start()
        _publish_all(pubs, lambda i, r=rnd: "reset.%d.%d" % (r, i), count // PUBLISHERS)
        t.join()
        assert done.is_set()
        n = 0
        deadline = time.monotonic() + scaled(60)
        while n < count and time.monotonic() < deadline:
            n += sum(1 for s, _ in drain_numbered(stay) if s.startswith("reset.%d." % rnd))
        n += sum(1 for s, _ in drain_numbered(stay, 0.1) if s.startswith("reset.%d." % rnd))
        assert n == count, "round %d: %d of %d" % (rnd, n, count)
    check_alive(srv.port)
    for c in pubs + [stay]:
        c.ping_pong()
        c.close()


@tparams()
def test_slow_consumer_written_to_by_other_workers(target, server_factory):
    srv = start(server_factory, target,
                conf='max_pending: 262144\nmax_payload: 65536\nwrite_deadline: "30s"\nhttp: "127.0.0.1:@PORT_HTTP@"',
                expect_errors=PROTO_ERR_LOGS)
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(scaled(10))
    stuck.connect(("127.0.0.1", srv.port))
    stuck.sendall(b'CONNECT {"verbose":false}\r\nSUB sc 1\r\nPING\r\n')
    good = client(srv)
    good.sub("sc", 2)
    good.ping_pong()
    pubs = [client(srv) for _ in range(PUBLISHERS)]
    sent = 0
    got = 0
    deadline = time.monotonic() + scaled(120)
    while "Slow Consumer" not in srv.log_text():
        assert time.monotonic() < deadline, "no slow consumer after %d messages" % sent
        # 32 KB from each publisher a round: the reading subscriber never
        # gets near max_pending however late it reads
        for p in pubs:
            _stream(p, "sc", sent, 1, size=32768)
            sent += 1
        for p in pubs:
            p.ping_pong()
        got += len(drain_numbered(good))
    got += len(drain_numbered(good, 0.2))
    assert got == sent
    wait_until(lambda: http_json(srv.ports["HTTP"], "/varz")["slow_consumers"] >= 1,
               what="the slow consumer counted")
    stuck.close()
    for p in pubs:
        p.pub("sc", b"1")
        p.ping_pong()
    assert len(drain_numbered(good, 0.2)) == PUBLISHERS
    check_alive(srv.port)
    for c in pubs + [good]:
        c.close()
