"""Bad input: random bytes, mutated protocol streams, a stream split at every
byte, over-limit lines and payloads, bad sizes, 10,000 connections opened and
dropped at once, a subscriber that never reads.

Where the reference nats-server is on PATH, each input's answer from natsd is
compared byte for byte with nats-server's. In every case the server must stay
up and a witness subscriber, connected throughout, must lose nothing.
"""

import random
import resource
import socket
import struct
import time

import pytest

import natsd as harness
from natsd import scaled
from proto_util import (PROTO_ERR_LOGS, Reader, canonical, check_alive, connected, msg, params, start,
                        transcript)

pytestmark = [pytest.mark.spawns]

TARGETS = params()
NATSD_TARGETS = params(reference=False)


class Witness:
    """A subscriber and a publisher that stay connected during a test; the
    subscriber must receive every message the publisher sent, in order."""

    def __init__(self, port, subject="witness"):
        self.subject = subject
        self.sub = connected(port)
        self.sub.send(b"SUB %s 1\r\n" % subject.encode())
        assert self.sub.sync() == []
        self.pub = connected(port)
        self.n = 0

    def tick(self):
        self.pub.send(b"PUB %s %d\r\n%d\r\n" % (self.subject.encode(), len(b"%d" % self.n), self.n))
        self.n += 1
        # processed before the test goes on: a wildcard subscriber the test
        # makes next must not see it
        assert self.pub.sync(timeout=30) == []

    def check(self):
        assert self.pub.sync(timeout=30) == []
        got = self.sub.sync(timeout=30)
        want = [msg(self.subject, 1, b"%d" % i) for i in range(self.n)]
        assert got == want, "witness lost messages: got %d of %d" % (len(got), self.n)
        self.n = 0

    def close(self):
        self.sub.close()
        self.pub.close()


def halfclose(port, data, timeout=10):
    """Connect, read INFO, send data, shut down the write side, read every
    frame until the server closes. Returns (frames, trailing partial bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    try:
        rd = Reader(s)
        dl = time.monotonic() + scaled(timeout)
        rd.frame(dl)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = []
        while True:
            try:
                f = rd.frame(dl)
            except EOFError:
                break
            except socket.timeout:
                raise AssertionError("server neither answered nor closed: %r" % out)
            if f != b"PING\r\n":
                out.append(f)
        return canonical(out), rd.buf
    finally:
        s.close()


def maybe_reference(server_factory, conf=""):
    if harness.nats_server_bin() is None:
        return None
    return start(server_factory, ("nats-server", None), conf=conf, expect_errors=PROTO_ERR_LOGS)


VALID_STREAM = (
    b'CONNECT {"verbose":true,"pedantic":false,"headers":true,"no_responders":true}\r\n'
    b"SUB foo 1\r\nSUB foo.* 2\r\nSUB qq q 7\r\nSUB > 3\r\nsub bar\t4\r\nPUB foo 5\r\nhello\r\n"
    b"PUB foo.bar reply 3\r\nabc\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
    b"HPUB bar 18 21\r\nNATS/1.0\r\nK: V\r\n\r\nxyz\r\nUNSUB 3 1\r\nPING\r\n"
    b"PUB foo 0\r\n\r\npub foo 005\r\n12345\r\nPING\nPONG\r\nUNSUB 1\r\nPUB foo 1\r\nz\r\n"
    b"SUB in 9\r\nPUB nobody in 2\r\nno\r\nINFO {}\r\n+OK\r\nPINGX\r\n")


def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(5)
        i = rnd.randrange(len(data))
        if op == 0:
            data[i] = rnd.randrange(256)
        elif op == 1:
            del data[i:i + rnd.randint(1, 8)]
        elif op == 2:
            data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        elif op == 3:
            data[i:i] = rnd.choice([b"\r\n", b" ", b"\t", b"-1", b"99999", b"\n", b"\r", b"PUB ",
                                    b"*", b">", b".."])
        else:
            del data[i:]
            if not data:
                data = bytearray(b"P")
    return bytes(data)


@pytest.mark.parametrize("target", NATSD_TARGETS)
def test_random_and_mutated_input(target, server_factory):
    """Random bytes and mutated valid streams, each on its own connection:
    natsd answers what nats-server answers (when it is there), stays up, and
    the witness loses nothing."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    ref = maybe_reference(server_factory)
    w = Witness(srv.port)
    rnd = random.Random(20240611)
    cases = []
    for i in range(60):
        n = rnd.randint(1, 3000)
        data = bytes(rnd.randrange(256) for _ in range(n))
        if i % 3 == 0:
            data = b'CONNECT {"verbose":false}\r\n' + data
        cases.append(data)
    for _ in range(140):
        cases.append(mutate(rnd, VALID_STREAM))
    mismatches = []
    try:
        for data in cases:
            got = halfclose(srv.port, data)
            if ref is not None:
                want = halfclose(ref.port, data)
                if got != want:
                    mismatches.append((data, want, got))
            w.tick()
        w.check()
        assert not mismatches, "%d of %d inputs answered differently; first ones:\n%s" % (
            len(mismatches), len(cases), "\n".join("sent %r\nnats-server %r\nnatsd      %r\n" % m
                                                    for m in mismatches[:3]))
    finally:
        w.close()
    check_alive(srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_split_at_every_byte(target, server_factory):
    """The mixed valid stream sent in two pieces split at every byte position
    (and once one byte at a time) gets the same answer as sent whole."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    data = VALID_STREAM
    whole = canonical(transcript(srv.port, data).frames)
    assert len(whole) > 10 and b"PONG\r\n" in whole
    w = Witness(srv.port)
    try:
        for i in range(1, len(data)):
            got = canonical(transcript(srv.port, data, chunks=[i]).frames)
            assert got == whole, "split at %d (%r | %r)" % (i, data[max(0, i - 10):i],
                                                          data[i:i + 10])
            if i % 50 == 0:
                w.tick()
        # one byte per send, with a short pause so that the pieces arrive apart
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(10))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rd = Reader(s)
        dl = time.monotonic() + scaled(60)
        rd.frame(dl)
        for j in range(len(data)):
            s.sendall(data[j:j + 1])
            if j % 8 == 0:
                time.sleep(0.001)
        s.sendall(b"PING\r\n")
        frames = []
        while len(frames) < len(whole):
            f = rd.frame(dl)
            if f != b"PING\r\n":
                frames.append(f)
        s.close()
        assert canonical(frames) == whole
        w.check()
    finally:
        w.close()


BAD_INPUTS = [
    # (data, answer before close)
    (b"SUB " + b"x" * 100000 + b" 1\r\n", [b"-ERR 'maximum control line exceeded'\r\n"]),
    (b"PUB " + b"y" * 4097, [b"-ERR 'maximum control line exceeded'\r\n"]),
    (b"PUB foo 1048577\r\n" + b"z" * 100, [b"-ERR 'Maximum Payload Violation'\r\n"]),
    (b"PUB foo -1\r\n", []),
    (b"PUB foo -0\r\n", []),
    (b"PUB foo abc\r\nabc\r\n", []),
    (b"PUB foo 0x10\r\n", []),
    (b"PUB foo 1.5\r\n", []),
    (b"PUB foo \xff\r\n", []),
    (b"HPUB foo -1 2\r\nhi\r\n", []),
    (b"HPUB foo 2 1\r\nhi\r\n", []),
    (b"HPUB foo a b\r\n", []),
    (b"SUB foo bar baz qux\r\n", []),
    (b"\x00\x01\x02\x03", [b"-ERR 'Unknown Protocol Operation'\r\n"]),
    (b"\xff" * 70000, [b"-ERR 'Unknown Protocol Operation'\r\n"]),
    (b"PUB foo 3\r\nabcdefg", [b"-ERR 'Unknown Protocol Operation'\r\n"]),
]


@pytest.mark.parametrize("target", TARGETS)
def test_bad_inputs_answered_and_isolated(target, server_factory):
    """Each bad input on its own connection is answered as nats-server does
    (-ERR or silent close); the witness loses nothing."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    w = Witness(srv.port)
    try:
        for data, answer in BAD_INPUTS:
            for prefix in (b"", b'CONNECT {"verbose":false,"headers":true}\r\n'):
                t = transcript(srv.port, prefix + data, end="close")
                assert t.frames == answer, "sent %r: %r" % ((prefix + data)[:80], t.frames)
                w.tick()
        w.check()
    finally:
        w.close()
    check_alive(srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_ten_thousand_connections(target, server_factory):
    """10,000 connections opened at once, then dropped at once (most with
    RST, some with FIN): the server stays up, accepts new clients, and the
    witness loses nothing."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 10000 + 512
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    # the server inherits the limit from this process
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    w = Witness(srv.port)
    socks = []
    try:
        deadline = time.monotonic() + scaled(120)
        pending = []
        for i in range(10000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", srv.port))
            assert err in (0, 115), "connect: %d" % err  # EINPROGRESS
            socks.append(s)
            if i % 1000 == 999:
                w.tick()
        # wait until every connect completed (writable), bounded
        import select
        pending = list(socks)
        while pending:
            assert time.monotonic() < deadline, "%d connects still pending" % len(pending)
            ep = select.epoll()
            for s in pending:
                ep.register(s.fileno(), select.EPOLLOUT)
            evs = dict(ep.poll(1.0))
            ep.close()
            still = []
            for s in pending:
                if s.fileno() in evs:
                    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert e == 0, "connect failed: %d" % e
                else:
                    still.append(s)
            pending = still
        w.tick()
        # a sample of the connections is served: INFO, then PONG
        for s in socks[::1000]:
            s.setblocking(True)
            s.settimeout(scaled(30))
            rd = Reader(s)
            dl = time.monotonic() + scaled(60)
            assert rd.frame(dl).startswith(b"INFO {")
            s.sendall(b"PING\r\n")
            assert rd.frame(dl) == b"PONG\r\n"
        # drop them all at once
        for i, s in enumerate(socks):
            if i % 5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        socks = []
        w.tick()
        w.check()
        check_alive(srv.port)
        for _ in range(20):
            assert transcript(srv.port, b"").frames == [b"PONG\r\n"]
    finally:
        for s in socks:
            s.close()
        w.close()


@pytest.mark.parametrize("target", TARGETS)
def test_subscriber_that_never_reads_within_limits(target, server_factory):
    """A subscriber that does not read while ~8 MB are published to it (below
    the default max_pending): it is not dropped, the publisher and a reading
    subscriber lose nothing, and once it reads it gets every message in order."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    lazy = connected(srv.port)
    lazy.send(b"SUB data 1\r\n")
    assert lazy.sync() == []
    w = Witness(srv.port)
    other = connected(srv.port)
    other.send(b"SUB data 2\r\n")
    assert other.sync() == []
    pub = connected(srv.port)
    try:
        n, size = 2000, 4000
        body = b"d" * (size - 8)
        got_other = 0
        for i in range(n):
            pub.send(b"PUB data %d\r\n%08d" % (size, i) + body + b"\r\n")
            if i % 200 == 199:
                assert pub.sync(timeout=60) == []
                for f in other.sync(timeout=60):
                    assert f == msg("data", 2, b"%08d" % got_other + body)
                    got_other += 1
                w.tick()
        assert pub.sync(timeout=60) == []
        for f in other.sync(timeout=60):
            assert f == msg("data", 2, b"%08d" % got_other + body)
            got_other += 1
        assert got_other == n
        w.check()
        for i in range(n):
            assert lazy.frame(timeout=60) == msg("data", 1, b"%08d" % i + body), i
        assert lazy.sync() == []
    finally:
        for c in (lazy, other, pub):
            c.close()
        w.close()
    assert "Slow Consumer" not in srv.log_text()
