"""Limits: max_payload, max_control_line, max_subscriptions, max_connections,
ping_interval/ping_max (Stale Connection), max_pending (slow consumer)
(docs/protocol/client.md §14-§16; cases 12, 35, 38-41 of §18).

Runs against natsd (threads: 1 and 2; threads 2 also under TSan) and the
reference nats-server; the expected bytes are nats-server 2.9.10's answers.
"""

import json
import socket
import time

import pytest

from natsd import scaled
from proto_util import (PROTO_ERR_LOGS, Conn, Reader, check_alive, connected, expect, msg, params,
                        start, transcript)

pytestmark = [pytest.mark.spawns]

TARGETS = params()
QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
QUIET_H = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
MAX_PAYLOAD_ERR = [b"-ERR 'Maximum Payload Violation'\r\n"]
MAX_CONTROL_ERR = [b"-ERR 'maximum control line exceeded'\r\n"]


def tparams():
    return pytest.mark.parametrize("target", TARGETS)


# --------------------------------------------------------------------------- max_payload


@tparams()
@pytest.mark.parametrize("data", [b"PUB foo 2000000\r\n", b"PUB foo 1048577\r\n",
                                  b"PUB foo r 1048577\r\n", b"HPUB foo 12 1048577\r\n",
                                  b"PUB foo 999999999\r\n"],
                         ids=["2000000", "max+1", "reply-max+1", "hpub-total-max+1", "9digits"])
def test_max_payload_default(target, server_factory, data):
    """case 12: size over the default 1 MiB → -ERR before the payload, close."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    expect(srv.port, QUIET_H + data, MAX_PAYLOAD_ERR, end="close")


@tparams()
def test_max_payload_configured(target, server_factory):
    """case 40: max_payload: 100 is announced; 100 passes, 101 is refused; HPUB
    counts headers+payload."""
    srv = start(server_factory, target, conf="max_payload: 100", expect_errors=PROTO_ERR_LOGS)
    t = transcript(srv.port, b"")
    assert json.loads(t.info[5:-3])["max_payload"] == 100
    body = b"x" * 100
    expect(srv.port, QUIET_H + b"SUB a 1\r\nPUB a 100\r\n" + body + b"\r\nHPUB a 12 100\r\n"
           b"NATS/1.0\r\n\r\n" + b"y" * 88 + b"\r\n",
           [msg("a", 1, body), b"HMSG a 1 12 100\r\nNATS/1.0\r\n\r\n" + b"y" * 88 + b"\r\n",
            b"PONG\r\n"])
    expect(srv.port, QUIET + b"PUB a 101\r\n", MAX_PAYLOAD_ERR, end="close")
    expect(srv.port, QUIET_H + b"HPUB a 12 101\r\n", MAX_PAYLOAD_ERR, end="close")
    check_alive(srv.port)


@tparams()
def test_max_payload_error_leaves_others_alone(target, server_factory):
    """A violating publisher is closed; a subscriber and another publisher
    lose nothing."""
    srv = start(server_factory, target, conf="max_payload: 1000", expect_errors=PROTO_ERR_LOGS)
    sub = connected(srv.port)
    pub = connected(srv.port)
    try:
        sub.send(b"SUB s 1\r\n")
        assert sub.sync() == []
        pub.send(b"PUB s 3\r\none\r\n")
        expect(srv.port, QUIET + b"PUB s 1001\r\n", MAX_PAYLOAD_ERR, end="close")
        pub.send(b"PUB s 3\r\ntwo\r\n")
        assert pub.sync() == []
        assert sub.sync() == [msg("s", 1, "one"), msg("s", 1, "two")]
    finally:
        sub.close()
        pub.close()


@tparams()
@pytest.mark.parametrize("data", [b"PUB foo 1000000000\r\n", b"PUB foo 99999999999\r\n",
                                  b"HPUB foo 1 99999999999999999999\r\n"],
                         ids=["10digits", "11digits", "hpub-20digits"])
def test_size_too_long_closes_silently(target, server_factory, data):
    """A size of more than 9 digits is a parse error (nats-server's parseSize),
    not a payload violation: closed without -ERR."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    expect(srv.port, QUIET_H + data, [], end="close")


# --------------------------------------------------------------------------- max_control_line


@tparams()
@pytest.mark.parametrize("data", [b"SUB " + b"a" * 5000 + b" 1\r\n", b"PUB " + b"a" * 5000,
                                  b"PUB " + b"a" * 5000 + b" 1\r\n", b"UNSUB " + b"1" * 5000,
                                  b"CONNECT {\"name\":\"" + b"n" * 5000 + b"\"}\r\n",
                                  b"HPUB " + b"h" * 4097],
                         ids=["sub", "pub-unterminated", "pub", "unsub", "connect", "hpub-4097"])
def test_max_control_line_default(target, server_factory, data):
    """case 35: an argument over 4096 bytes (terminated or not) → -ERR + close."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    expect(srv.port, QUIET_H + data, MAX_CONTROL_ERR, end="close")


@tparams()
def test_max_control_line_boundary(target, server_factory):
    """The argument part may be exactly max_control_line bytes."""
    srv = start(server_factory, target, conf="max_control_line: 64", expect_errors=PROTO_ERR_LOGS)
    subj = b"s" * 62  # "SUB " + 62 + " 1" → argument "sss… 1" = 64 bytes
    expect(srv.port, QUIET + b"SUB " + subj + b" 1\r\nPUB " + subj + b" 1\r\nx\r\n",
           [msg(subj.decode(), 1, "x"), b"PONG\r\n"])
    expect(srv.port, QUIET + b"SUB " + subj + b"s 1\r\n", MAX_CONTROL_ERR, end="close")
    expect(srv.port, QUIET + b"PUB " + b"p" * 70, MAX_CONTROL_ERR, end="close")
    check_alive(srv.port)


@tparams()
def test_long_payload_is_not_a_control_line(target, server_factory):
    """A payload far longer than max_control_line is fine, also with no CRLF inside."""
    srv = start(server_factory, target, conf="max_control_line: 64", expect_errors=PROTO_ERR_LOGS)
    body = b"z" * 10000
    expect(srv.port, QUIET + b"SUB a 1\r\nPUB a 10000\r\n" + body + b"\r\n",
           [msg("a", 1, body), b"PONG\r\n"])


# --------------------------------------------------------------------------- subscriptions / connections


@tparams()
def test_max_subscriptions(target, server_factory):
    """case 39: the third SUB → -ERR 'maximum subscriptions exceeded', open;
    the first two still work; after an UNSUB a new SUB is accepted."""
    srv = start(server_factory, target, conf="max_subscriptions: 2", expect_errors=PROTO_ERR_LOGS)
    expect(srv.port, QUIET + b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB a 1\r\nx\r\nPUB c 1\r\ny\r\n"
           b"UNSUB 2\r\nSUB c 4\r\nPUB c 1\r\nz\r\n",
           [b"-ERR 'maximum subscriptions exceeded'\r\n", msg("a", 1, "x"), msg("c", 4, "z"),
            b"PONG\r\n"])


@tparams()
def test_max_subscriptions_per_connection(target, server_factory):
    """The limit is per connection: another connection has its own two."""
    srv = start(server_factory, target, conf="max_subscriptions: 2", expect_errors=PROTO_ERR_LOGS)
    expect(srv.port, QUIET + b"SUB a 1\r\nSUB b 2\r\n", [b"PONG\r\n"])
    expect(srv.port, QUIET + b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n",
           [b"-ERR 'maximum subscriptions exceeded'\r\n", b"PONG\r\n"])


def _connected_once_slot_free(port):
    """A connected client, once the server has a slot for it: the readiness
    probe's connection (opened and closed by wait_ready) can still count
    against max_connections for a moment on a loaded machine, so a refusal
    here is retried until the server has noticed that close."""
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            return connected(port)
        except (OSError, AssertionError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


@tparams()
def test_max_connections(target, server_factory):
    """case 41: max_connections: 3 → the fourth gets the full INFO, then
    -ERR 'maximum connections exceeded' and close; after one leaves, a new one
    is accepted."""
    srv = start(server_factory, target, conf="max_connections: 3", expect_errors=PROTO_ERR_LOGS)
    conns = [_connected_once_slot_free(srv.port) for _ in range(3)]
    try:
        c4 = Conn(srv.port)
        assert c4.info.startswith(b"INFO {") and c4.info.endswith(b"} \r\n")
        assert c4.until_close() == [b"-ERR 'maximum connections exceeded'\r\n"]
        c4.close()
        conns[0].close()
        deadline = time.monotonic() + scaled(10)
        while True:  # the server notices the close asynchronously
            c = Conn(srv.port)
            c.send(b"PING\r\n")
            try:
                f = c.frame(timeout=5)
            except AssertionError:
                f = None
            c.close()
            if f == b"PONG\r\n":
                break
            assert f == b"-ERR 'maximum connections exceeded'\r\n", f
            assert time.monotonic() < deadline, "slot never freed"
            time.sleep(0.05)
        for c in conns[1:]:
            assert c.sync() == []
    finally:
        for c in conns:
            c.close()


# --------------------------------------------------------------------------- ping / stale


@tparams()
def test_stale_connection(target, server_factory):
    """case 38: ping_interval 1s, ping_max 1, no PONG → PING, then
    -ERR 'Stale Connection' and close."""
    srv = start(server_factory, target, conf='ping_interval: "1s"\nping_max: 1',
                expect_errors=PROTO_ERR_LOGS)
    c = Conn(srv.port)
    try:
        c.send(QUIET)
        dl = time.monotonic() + scaled(15)
        frames = []
        rd = c.rd
        while True:
            try:
                frames.append(rd.frame(dl))
            except EOFError:
                break
        assert frames == [b"PING\r\n", b"-ERR 'Stale Connection'\r\n"]
    finally:
        c.close()


@tparams()
def test_answering_pings_keeps_connection(target, server_factory):
    """A client that answers PINGs survives several ping intervals and keeps
    receiving messages."""
    srv = start(server_factory, target, conf='ping_interval: "1s"\nping_max: 1',
                expect_errors=PROTO_ERR_LOGS)
    c = connected(srv.port)
    try:
        c.send(b"SUB k 1\r\n")
        pings = 0
        while pings < 3:
            f = c.frame(timeout=10, skip_pings=False)
            assert f == b"PING\r\n", f
            c.send(b"PONG\r\n")
            pings += 1
        expect(srv.port, QUIET + b"PUB k 1\r\nv\r\n", [b"PONG\r\n"])
        assert c.sync() == [msg("k", 1, "v")]
    finally:
        c.close()


# --------------------------------------------------------------------------- slow consumer


@tparams()
def test_slow_consumer(target, server_factory):
    """A subscriber that never reads is closed as a slow consumer (no -ERR;
    the server logs it); the publisher and a reading subscriber are
    unaffected and lose nothing."""
    srv = start(server_factory, target, conf="max_pending: 262144\nmax_payload: 65536\n"
                'write_deadline: "30s"', expect_errors=PROTO_ERR_LOGS)
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(scaled(10))
    stuck.connect(("127.0.0.1", srv.port))
    stuck.sendall(QUIET + b"SUB slow 1\r\nPING\r\n")
    good = connected(srv.port)
    good.send(b"SUB slow 2\r\n")
    assert good.sync() == []
    pub = connected(srv.port)
    try:
        body = b"b" * 60000
        n = 0
        got = 0
        deadline = time.monotonic() + scaled(120)
        while "Slow Consumer" not in srv.log_text():
            assert time.monotonic() < deadline, "no slow consumer after %d messages" % n
            # 3 x 60 KB stays under the reading subscriber's max_pending
            # however late it gets to read; the stuck one falls behind
            for _ in range(3):
                pub.send(b"PUB slow 60000\r\n" + body + b"\r\n")
                n += 1
            assert pub.sync(timeout=30) == []
            for f in good.sync(timeout=30):
                assert f == msg("slow", 2, body)
                got += 1
        assert got == n
        assert "Slow Consumer Detected" in srv.log_text()
        # the stuck subscriber is closed without an -ERR
        rd = Reader(stuck)
        dl = time.monotonic() + scaled(60)
        while True:
            try:
                f = rd.frame(dl)
            except EOFError:
                break
            assert not f.startswith(b"-ERR"), f
        # publisher and the other subscriber carry on
        for _ in range(20):
            pub.send(b"PUB slow 3\r\nend\r\n")
        assert pub.sync() == []
        assert good.sync() == [msg("slow", 2, "end")] * 20
        check_alive(srv.port)
    finally:
        stuck.close()
        good.close()
        pub.close()
