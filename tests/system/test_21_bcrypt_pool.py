"""bcrypt passwords are verified off the event loops (src/authpool.c): a
CONNECT whose password is a bcrypt hash parks its connection while a pool
thread hashes, and the loop goes on serving everyone else.

The auth timeout is long in these tests (a backlog of hashes on a small
machine must not turn into timeouts), except where it is the subject.
Every assertion is about order or outcome, never time: the hashes have costs
(11 and 13) that take far longer than a loopback round trip anywhere, so a
PONG answered while they run arrives before their verdicts. natsd (threads 1
and 2, also under TSan: the pool threads) and nats-server 2.9.10 answer the
same bytes."""

import json
import os
import select
import ssl
import signal
import socket
import struct
import time

import pytest

from natsd import free_port, make_test_certs, scaled
from proto_util import (PROTO_ERR_LOGS, Conn, conf_text, connected, expect,
                        msg, params, start)

pytestmark = [pytest.mark.spawns]

TARGETS = params(threaded_t1=True)
NATSD_ONLY = params(threaded_t1=True, reference=False)
# natsd with one worker (the stall to avoid), and nats-server
ONE_LOOP = [p for p in TARGETS if p.id != "natsd-t2"]

# bcrypt("s3cr3t") at cost 11 (about 0.1-0.7 s of CPU) and 13 (four times that)
HASH11 = "$2b$11$natsdBcryptPoolTestSae1rpJZ6xQ0WsvH40EPUDkBhL4wAhmB5."
HASH13 = "$2b$13$natsdBcryptPoolTestSaeFdaxpv9oK772lSLT0mx5bkT9JSzwTCq"
# bcrypt("n3w") at cost 4
HASH04_NEW = "$2b$04$natsdBcryptPoolTestSaeeTDyWToNTwvkhZsPLmUSMIcYlnEqPvS"

# bcrypt("L" * 40 + "M" * 40) at cost 4: longer than the 72 bytes bcrypt reads
HASH04_LONG = "$2b$04$natsdBcryptPoolTestSae0i5GPp6E6Xvv/gtJxh96KZwc/1P1DbC"

AUTHV = b"-ERR 'Authorization Violation'\r\n"
ERRS = PROTO_ERR_LOGS + [r"authentication error", r"Authentication Timeout"]


def users_conf(bc_hash=HASH11, timeout=60):
    t = "  timeout: %s\n" % timeout if timeout is not None else ""
    return ('authorization {\n%s  users: [\n    {user: a, password: a}\n'
            '    {user: bc, password: "%s"}\n  ]\n}\n' % (t, bc_hash))


def creds(user, pw, verbose=False):
    return b"CONNECT " + json.dumps({"verbose": verbose, "pedantic": False, "user": user,
                                     "pass": pw}, separators=(",", ":")).encode() + b"\r\n"


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(4096)
    return s


def read_all(s):
    """Everything the server sends until it closes s, without its PINGs
    (nats-server arms its first ping when a CONNECT arrives, before the
    hash: a long one lets it through)."""
    out = b""
    s.settimeout(scaled(20))
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        out += d
    return b"".join(l for l in out.splitlines(keepends=True) if l != b"PING\r\n")


def alive(port):
    """The server still serves authenticated clients."""
    sub = connected(port, user="a", **{"pass": "a"})
    pub = connected(port, user="a", **{"pass": "a"})
    sub.send(b"SUB alive 1\r\n")
    assert sub.sync() == []
    pub.send(b"PUB alive 2\r\nok\r\n")
    assert pub.sync() == []
    assert sub.frame(timeout=10) == msg("alive", 1, "ok")
    sub.close()
    pub.close()


def answered(s):
    """Whether s has something to read now (an answer, or the close)."""
    r, _, _ = select.select([s], [], [], 0)
    return bool(r)


def order_check(port, bad_connects):
    """Open the bcrypt clients, send each a wrong CONNECT, then PING from an
    authenticated client: its PONG must come while some verdict is still
    pending. Returns how many were still pending."""
    a = connected(port, user="a", **{"pass": "a"})
    bcs = [raw(port) for _ in range(bad_connects)]
    try:
        for s in bcs:
            s.sendall(creds("bc", "wrong"))
        # sent after every CONNECT: a server that hashes on its loop has read
        # them all first and answers them all before this PING
        assert a.sync() == []
        pending = sum(1 for s in bcs if not answered(s))
        for s in bcs:
            assert read_all(s) == AUTHV
        return pending
    finally:
        a.close()
        for s in bcs:
            s.close()


@pytest.mark.parametrize("target", ONE_LOOP)
def test_ping_answered_while_bcrypt_runs(target, server_factory):
    """threads 1: the other client's PONG arrives before the bcrypt
    clients' -ERR 'Authorization Violation' (before, natsd hashed on its one
    loop and the PING waited for every hash)."""
    srv = start(server_factory, target, users_conf(), expect_errors=ERRS)
    for _ in range(3):
        assert order_check(srv.port, 4) > 0
    alive(srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_bcrypt_correct_password_and_pipeline(target, server_factory):
    """The right password connects; what was pipelined after CONNECT runs
    after the verdict, in order; after a wrong one nothing of it runs."""
    srv = start(server_factory, target, users_conf(), expect_errors=ERRS)
    expect(srv.port, creds("bc", "s3cr3t", verbose=True) +
           b"PING\r\nSUB x 1\r\nPUB x 2\r\nhi\r\nUNSUB 1\r\nPUB x 2\r\nno\r\n",
           [b"+OK\r\n", b"PONG\r\n", b"+OK\r\n", b"+OK\r\n", msg("x", 1, "hi"), b"+OK\r\n",
            b"+OK\r\n", b"PONG\r\n"])
    expect(srv.port, creds("bc", "wrong") + b"PING\r\nSUB x 1\r\n", [AUTHV], end="close")
    # a second CONNECT after the first one's verdict, and one pipelined
    # behind a wrong one (never reached)
    expect(srv.port, creds("bc", "s3cr3t") + creds("bc", "s3cr3t"), [b"PONG\r\n"])
    expect(srv.port, creds("a", "wrong") + creds("bc", "s3cr3t"), [AUTHV], end="close")
    # a password longer than what bcrypt reads still has to be right up to there
    expect(srv.port, creds("bc", "s3cr3t" + "x" * 100), [AUTHV], end="close")


@pytest.mark.parametrize("target", NATSD_ONLY)
def test_bcrypt_long_password(target, server_factory):
    """A job keeps the 72 bytes bcrypt reads: the verdict is the one the
    whole password gets."""
    srv = start(server_factory, target, users_conf(HASH04_LONG), expect_errors=ERRS)
    expect(srv.port, creds("bc", "L" * 40 + "M" * 40), [b"PONG\r\n"])
    expect(srv.port, creds("bc", "L" * 40 + "M" * 32 + "other"), [b"PONG\r\n"])
    expect(srv.port, creds("bc", "L" * 40 + "M" * 31), [AUTHV], end="close")
    expect(srv.port, creds("bc", "L" * 40 + "M" * 31 + "X"), [AUTHV], end="close")


def rst_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.parametrize("target", TARGETS)
def test_client_closes_mid_verification(target, server_factory):
    """Clients that vanish (reset, or a plain close) while their hash runs:
    the verdicts are dropped, nothing breaks."""
    srv = start(server_factory, target, users_conf(), expect_errors=ERRS)
    socks = []
    for i in range(6):
        s = raw(srv.port)
        s.sendall(creds("bc", "s3cr3t" if i % 2 else "wrong") + b"PING\r\n")
        socks.append(s)
    for i, s in enumerate(socks):
        if i % 3 == 0:
            rst_close(s)
        elif i % 3 == 1:
            s.close()
        else:
            s.shutdown(socket.SHUT_WR)
    # the half-closed ones still get their answer
    for i, s in enumerate(socks):
        if i % 3 == 2:
            got = read_all(s)
            assert got in (AUTHV, b"PONG\r\n"), got
            assert got == (b"PONG\r\n" if i % 2 else AUTHV)
            s.close()
    alive(srv.port)
    expect(srv.port, creds("bc", "s3cr3t"), [b"PONG\r\n"])


@pytest.mark.parametrize("target", NATSD_ONLY)
def test_auth_timeout_mid_verification(target, server_factory):
    """The auth timer fires while the hash runs: the client gets
    'Authentication Timeout' and the verdict is dropped (before, natsd's loop
    was busy hashing and the timer could not fire: the client connected).
    Deliberately unlike nats-server, which stops the timer when a CONNECT
    arrives and lets the hash take as long as it takes: natsd bounds how
    long an unauthenticated connection holds a verifier's queue slot
    (docs/configuration.md)."""
    srv = start(server_factory, target, users_conf(HASH13, timeout=0.1), expect_errors=ERRS)
    for pw in ("s3cr3t", "wrong"):
        c = Conn(srv.port, timeout=20)
        c.send(creds("bc", pw) + b"PING\r\n")
        assert c.until_close() == [b"-ERR 'Authentication Timeout'\r\n"]
        c.close()
    alive(srv.port)


@pytest.mark.parametrize("target", NATSD_ONLY[:1])
def test_queue_is_bounded(target, server_factory):
    """More CONNECTs waiting for a hash than the queue holds (1024): the
    ones past it are refused as a bad password, with a warning; the
    connections that leave cancel their jobs, and the pool is free again."""
    srv = start(server_factory, target, users_conf(HASH13), expect_errors=ERRS)
    socks = [raw(srv.port) for _ in range(1100)]
    try:
        for s in socks:
            s.sendall(creds("bc", "wrong"))
        srv.wait_log(r"\[WRN\] Password verification queue full \(1024 jobs\): refused \d+ "
                     r"CONNECT", timeout=60)
        refused = socks[-1]
        assert read_all(refused) == AUTHV, "the last one came past the bound"
    finally:
        for s in socks:
            rst_close(s)
    # the cancelled jobs are dropped unhashed: a right password gets through
    expect(srv.port, creds("bc", "s3cr3t"), [b"PONG\r\n"], timeout=60)
    alive(srv.port)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    make_test_certs(d)
    return d


@pytest.mark.parametrize("target", TARGETS)
def test_bcrypt_over_tls(target, certs, server_factory):
    """Over TLS, what the client sent after its CONNECT (here more than one
    TLS record holds) waits decrypted or still in the TLS layer while the
    connection is parked, and is processed in order after the verdict."""
    conf = ("tls {\n  cert_file: %s/server.pem\n  key_file: %s/server-key.pem\n"
            "  ca_file: %s/ca.pem\n}\n" % (certs, certs, certs)) + users_conf()
    # the harness's readiness probe speaks no TLS
    srv = start(server_factory, target, conf, expect_errors=ERRS + [r"TLS handshake error"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(20))
    while not s.recv(4096).endswith(b"\r\n"):
        pass
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    t = ctx.wrap_socket(s, server_hostname="localhost")
    big = b"x" * 100000
    t.sendall(creds("bc", "s3cr3t", verbose=True) + b"SUB big 1\r\n" +
              b"PUB big %d\r\n" % len(big) + big + b"\r\nPING\r\n")
    want = b"+OK\r\n+OK\r\n+OK\r\nMSG big 1 %d\r\n" % len(big) + big + b"\r\nPONG\r\n"
    got = b""
    while len(got.replace(b"PING\r\n", b"")) < len(want):
        d = t.recv(65536)
        assert d, "closed after %r" % got[:200]
        got += d
    assert got.replace(b"PING\r\n", b"") == want
    t.close()


def reload_to(srv, target, conf):
    start_at = len(srv.log_text())
    with open(srv.conf_path, "w") as f:
        f.write(conf_text(target, conf))
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_log(r"Reloaded server configuration|Failed to reload", start=start_at)


@pytest.mark.parametrize("target", NATSD_ONLY)
def test_reload_while_verifying(target, server_factory):
    """A reload while the hash runs: the CONNECT is decided under the options
    in force when the verdict comes back. The same hash: the verdict holds;
    a new hash: the password is checked against it."""
    srv = start(server_factory, target, users_conf(HASH13, timeout=60), expect_errors=ERRS)
    c = Conn(srv.port, timeout=30)
    c.send(creds("bc", "s3cr3t"))
    reload_to(srv, target, users_conf(HASH13, timeout=60) + "max_payload: 2048\n")
    assert c.sync(timeout=30) == []
    c.close()
    c = Conn(srv.port, timeout=30)
    c.send(creds("bc", "s3cr3t") + b"PING\r\n")
    reload_to(srv, target, users_conf(HASH04_NEW, timeout=60))
    assert c.until_close() == [AUTHV]
    c.close()
    expect(srv.port, creds("bc", "n3w"), [b"PONG\r\n"])


# --------------------------------------------------------------------------- routes, gateways


def route_conf(name, cport, routes=(), pw_hash=HASH11):
    rs = ""
    if routes:
        rs = "routes: [%s]" % ", ".join('"nats-route://r:s3cr3t@127.0.0.1:%d"' % p
                                        for p in routes)
    return ("threads: 1\nserver_name: %s\nlisten: 127.0.0.1:@PORT@\n"
            "cluster {\n  name: C1\n  listen: 127.0.0.1:%d\n  %s\n"
            '  authorization { user: r, password: "%s", timeout: 60 }\n}\n' % (name, cport, rs, pw_hash))


def peer_connect(user, pw, **extra):
    body = {"echo": True, "verbose": False, "pedantic": False, "tls_required": False,
            "headers": True, "name": "NFAKEPEER", "user": user, "pass": pw}
    body.update(extra)
    return b"CONNECT " + json.dumps(body, separators=(",", ":")).encode() + b"\r\n"


@pytest.mark.threaded
def test_route_bcrypt_password(server_factory):
    """A route's bcrypt password is verified off worker 0, which owns every
    route and here every client too: a client's PONG comes first."""
    pa, pb = free_port(), free_port()
    a = server_factory("natsd", conf=route_conf("A", pa), name="A",
                       expect_errors=ERRS + [r"Error trying to connect to route"])
    c = connected(a.port)
    peers = [raw(pa) for _ in range(3)]
    for s in peers:
        s.sendall(peer_connect("r", "wrong", cluster="C1"))
    assert c.sync() == []
    assert any(not answered(s) for s in peers)
    for s in peers:
        assert AUTHV in read_all(s)
        s.close()
    c.close()
    # the right password forms the cluster
    b = server_factory("natsd", conf=route_conf("B", pb, routes=[pa]), name="B",
                       expect_errors=[r"Error trying to connect to route"])
    sub = connected(b.port)
    sub.send(b"SUB r.x 1\r\n")
    sub.sync()
    pub = connected(a.port)
    deadline = time.monotonic() + scaled(30)
    while True:
        # probe until the route is up (its CONNECT waits for the hash)
        pub.send(b"PUB r.x 1\r\nm\r\n")
        pub.sync()
        if any(f.startswith(b"MSG") for f in sub.sync()):
            break
        assert time.monotonic() < deadline, "no message crossed the route"
        time.sleep(0.05)
    pub.close()
    sub.close()


def gw_conf(name, gport, pw_hash=HASH11):
    return ("threads: 1\nserver_name: %s\nlisten: 127.0.0.1:@PORT@\n"
            "gateway {\n  name: %s\n  listen: 127.0.0.1:%d\n"
            '  authorization { user: g, password: "%s", timeout: 60 }\n}\n' % (name, name, gport, pw_hash))


@pytest.mark.threaded
def test_gateway_bcrypt_password(server_factory):
    """A gateway's bcrypt password is verified off worker 0 too; the right
    one registers the peer (it gets the INFO gossip and our PONG)."""
    gp = free_port()
    a = server_factory("natsd", conf=gw_conf("A", gp), name="A", expect_errors=ERRS)
    c = connected(a.port)
    peers = [raw(gp) for _ in range(3)]
    for s in peers:
        s.sendall(peer_connect("g", "wrong", gateway="X"))
    assert c.sync() == []
    assert any(not answered(s) for s in peers)
    for s in peers:
        assert AUTHV in read_all(s)
        s.close()
    c.close()
    ok = raw(gp)
    ok.sendall(peer_connect("g", "s3cr3t", gateway="X") + b"PING\r\n")
    got = b""
    ok.settimeout(scaled(20))
    while b"PONG\r\n" not in got:
        d = ok.recv(65536)
        assert d, "closed: %r" % got
        got += d
    assert b"-ERR" not in got
    ok.close()
