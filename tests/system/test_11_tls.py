"""TLS for client connections, natsd side by side with nats-server 2.9.10.

The server sends INFO in plaintext (tls_required / tls_verify /
tls_available), the client upgrades, then speaks the protocol over TLS.
Certificates are made at test time with the openssl command (natsd.py's
make_test_certs plus a few extra ones below). Raw clients use Python's ssl
module; libnats (tests/drivers/libnats_tls.c) plays the official client.
"""

import json
import os
import random
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from natsd import make_test_certs, sanitizer_env, scaled
from proto_util import drivers_dir, params, start

TLS_ERRORS = [r"TLS handshake (error|timeout)", r"[Aa]uthorization [Vv]iolation",
              r"authentication error"]

# The harness's readiness probe (a TCP connect that closes at once) is itself
# a failed handshake both servers log ("TLS handshake error: EOF").
pytestmark = [pytest.mark.spawns, pytest.mark.expect_errors(*TLS_ERRORS)]

TARGETS = params(threaded_t1=True, threaded_t2=True)


# --------------------------------------------------------------------------- certificates

def _openssl(directory, *args):
    p = subprocess.run(["openssl"] + list(args), cwd=directory, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stderr.decode())


def _leaf(directory, name, subj, ca="ca", days="30", ext=None):
    """A client certificate name.pem/name-key.pem signed by ca.pem/ca-key.pem."""
    extfile = os.path.join(directory, name + ".ext")
    with open(extfile, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
        if ext:
            f.write(ext + "\n")
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout",
             name + "-key.pem", "-out", name + ".csr")
    _openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
             ca + "-key.pem", "-CAcreateserial", "-days", days, "-extfile", extfile, "-out",
             name + ".pem")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    make_test_certs(d)
    # an unrelated CA and a client certificate it signed
    _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
             "/CN=other-ca", "-keyout", "other-ca-key.pem", "-out", "other-ca.pem")
    _leaf(d, "untrusted", "/CN=untrusted", ca="other-ca")
    # signed by the right CA but already expired (notAfter before notBefore)
    _leaf(d, "expired", "/CN=expired", days="-1")
    # for verify_and_map
    _leaf(d, "email", "/CN=mailer", ext="subjectAltName=email:alice@example.com")
    _leaf(d, "dn", "/O=Acme/OU=eng/CN=mapped")
    _leaf(d, "stranger", "/CN=stranger")
    return d


def tls_conf(certs, verify=False, extra="", timeout=None, tls_extra=""):
    lines = ["cert_file: %s/server.pem" % certs, "key_file: %s/server-key.pem" % certs,
             "ca_file: %s/ca.pem" % certs]
    if verify:
        lines.append("verify: true" if verify is True else "%s: true" % verify)
    if timeout is not None:
        lines.append("timeout: %s" % timeout)
    if tls_extra:
        lines.append(tls_extra)
    return "tls {\n  %s\n}\n%s\n" % ("\n  ".join(lines), extra)


# --------------------------------------------------------------------------- raw clients

def read_info(sock):
    buf = b""
    while not buf.endswith(b"\r\n"):
        d = sock.recv(1)
        assert d, "closed before INFO"
        buf += d
    assert buf.startswith(b"INFO ")
    return json.loads(buf[5:-3])


def tls_client(port, certs, cert=None, ca="ca"):
    """TCP connect, read the plaintext INFO, upgrade. Returns (info, tls socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    info = read_info(s)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, ca + ".pem"))
    if cert:
        ctx.load_cert_chain(os.path.join(certs, cert + ".pem"),
                            os.path.join(certs, cert + "-key.pem"))
    t = ctx.wrap_socket(s, server_hostname="localhost")
    return info, t


def drop_server_pings(data):
    """data without the server's PING lines. A server PINGs each client 2s
    after its CONNECT (then every ping_interval): on a loaded machine a test
    may well outlive that. MSG/HMSG payloads are skipped by their size, so a
    payload never loses bytes."""
    out = []
    i = 0
    while i < len(data):
        j = data.find(b"\r\n", i)
        if j < 0:
            out.append(data[i:])
            break
        line = data[i:j + 2]
        i = j + 2
        if line == b"PING\r\n":
            continue
        out.append(line)
        parts = line.split()
        if parts and parts[0] in (b"MSG", b"HMSG") and parts[-1].isdigit():
            n = int(parts[-1]) + 2
            out.append(data[i:i + n])
            i += n
    return b"".join(out)


def read_until(sock, token, timeout=5.0):
    """Read until token is seen or the connection ends. Returns the bytes,
    less the server's PINGs (drop_server_pings)."""
    sock.settimeout(scaled(timeout))
    data = b""
    deadline = time.monotonic() + scaled(timeout)
    while token not in drop_server_pings(data) and time.monotonic() < deadline:
        try:
            d = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout, OSError):
            break
        if not d:
            break
        data += d
    return drop_server_pings(data)


def read_to_end(sock, timeout=5.0):
    """Everything until the peer closes; (bytes, seconds taken)."""
    sock.settimeout(scaled(timeout))
    t0 = time.monotonic()
    data = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            data += d
    except (ssl.SSLError, ConnectionResetError, socket.timeout, OSError):
        pass
    return data, time.monotonic() - t0


def refused(port, certs, cert=None, ca="ca"):
    """A client whose certificate the server must refuse: the handshake or
    the first round trip fails, and no PONG ever comes."""
    try:
        _, t = tls_client(port, certs, cert=cert, ca=ca)
        t.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        data = read_until(t, b"PONG\r\n")
        t.close()
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return True
    return b"PONG" not in data


def roundtrip(port, certs, cert=None, connect=b"{\"verbose\":false}"):
    info, t = tls_client(port, certs, cert=cert)
    t.sendall(b"CONNECT " + connect + b"\r\nSUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n")
    data = read_until(t, b"PONG\r\n")
    t.close()
    return info, data


def assert_alive(port, certs, cert=None):
    _, data = roundtrip(port, certs, cert=cert)
    assert data.endswith(b"PONG\r\n"), data


# --------------------------------------------------------------------------- tests

@pytest.mark.parametrize("target", TARGETS)
def test_tls_required_info_and_pubsub(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs))
    info, data = roundtrip(srv.port, certs)
    assert info["tls_required"] is True
    assert "tls_verify" not in info and "tls_available" not in info
    assert data == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"


@pytest.mark.parametrize("target", TARGETS)
def test_tls_large_messages(target, certs, server_factory):
    """Payloads larger than a TLS record both ways, many of them queued."""
    srv = start(server_factory, target, tls_conf(certs, extra="max_payload: 4MB"))
    _, t = tls_client(srv.port, certs)
    payload = bytes((i * 7) % 251 for i in range(300 * 1024))
    t.sendall(b"CONNECT {\"verbose\":false}\r\nSUB big 1\r\n")
    n = 8
    for _ in range(n):
        t.sendall(b"PUB big %d\r\n" % len(payload) + payload + b"\r\n")
    t.sendall(b"PING\r\n")
    data = read_until(t, b"PONG\r\n", timeout=20)
    t.close()
    one = b"MSG big 1 %d\r\n" % len(payload) + payload + b"\r\n"
    assert data == one * n + b"PONG\r\n"


@pytest.mark.parametrize("target", TARGETS)
def test_tls_verify_client_cert(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs, verify=True), expect_errors=TLS_ERRORS)
    info, data = roundtrip(srv.port, certs, cert="client")
    assert info["tls_required"] is True and info["tls_verify"] is True
    assert data.endswith(b"PONG\r\n")
    assert refused(srv.port, certs)  # no certificate at all
    assert_alive(srv.port, certs, cert="client")


@pytest.mark.parametrize("target", TARGETS)
def test_tls_untrusted_client_cert(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs, verify=True), expect_errors=TLS_ERRORS)
    assert refused(srv.port, certs, cert="untrusted")
    srv.wait_log(r"TLS handshake error")
    assert_alive(srv.port, certs, cert="client")


@pytest.mark.parametrize("target", TARGETS)
def test_tls_expired_client_cert(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs, verify=True), expect_errors=TLS_ERRORS)
    assert refused(srv.port, certs, cert="expired")
    srv.wait_log(r"TLS handshake error: .*(expired|not yet valid)")
    assert_alive(srv.port, certs, cert="client")


@pytest.mark.parametrize("target", TARGETS)
def test_tls_client_refuses_untrusted_server(target, certs, server_factory):
    """The client side: a server certificate from an unknown CA fails the
    client's verification; the server logs the remote alert and stays up."""
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    with pytest.raises(ssl.SSLError):
        tls_client(srv.port, certs, ca="other-ca")
    assert_alive(srv.port, certs)


MAP_USERS = """
authorization {
  users = [
    {user: "CN=natsd-test-client"}
    {user: "alice@example.com"}
    {user: "O=Acme,OU=eng,CN=mapped"}
  ]
}
"""


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("cert", ["client", "email", "dn"])
def test_tls_verify_and_map(target, cert, certs, server_factory):
    """verify_and_map binds the certificate to a user: its subject, its
    e-mail SAN, or its DN in another RDN order."""
    srv = start(server_factory, target, tls_conf(certs, verify="verify_and_map", extra=MAP_USERS),
                expect_errors=TLS_ERRORS)
    info, data = roundtrip(srv.port, certs, cert=cert)
    assert info["auth_required"] is True and info["tls_verify"] is True
    assert data == b"MSG foo 1 5\r\nhello\r\nPONG\r\n", data


@pytest.mark.parametrize("target", TARGETS)
def test_tls_verify_and_map_unknown_user(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs, verify="verify_and_map", extra=MAP_USERS),
                expect_errors=TLS_ERRORS)
    _, data = roundtrip(srv.port, certs, cert="stranger")
    assert data.startswith(b"-ERR 'Authorization Violation'"), data
    assert_alive(srv.port, certs, cert="client")


@pytest.mark.parametrize("target", TARGETS)
def test_allow_non_tls(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs, extra="allow_non_tls: true"))
    # plaintext client
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    info = read_info(s)
    assert info.get("tls_available") is True and "tls_required" not in info
    s.sendall(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n")
    assert read_until(s, b"PONG\r\n") == b"MSG foo 1 2\r\nhi\r\nPONG\r\n"
    s.close()
    # TLS client
    _, data = roundtrip(srv.port, certs)
    assert data == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"


@pytest.mark.parametrize("target", TARGETS)
def test_plaintext_client_on_tls_port(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    read_info(s)
    s.sendall(b"CONNECT {}\r\nPING\r\n")
    data, _ = read_to_end(s)
    assert data == b""
    srv.wait_log(r"TLS handshake error: tls: first record does not look like a TLS handshake")
    assert_alive(srv.port, certs)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x00\x05hello-garbage-garbage",
    b"\x16\x03\x03\xff\xff" + b"\x00" * 64,
    # random bytes, the same in every run and every parallel worker
    b"\x16" + random.Random(20261122).randbytes(300),
], ids=["short-record", "huge-length", "random"])
def test_tls_garbage(target, garbage, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    read_info(s)
    s.sendall(garbage)
    data, _ = read_to_end(s, timeout=5)
    assert b"PONG" not in data and b"MSG" not in data
    s.close()
    assert_alive(srv.port, certs)


@pytest.mark.parametrize("target", TARGETS)
def test_tls_handshake_never_finishes(target, certs, server_factory):
    """TCP connect and silence: closed after tls.timeout, nothing sent (the
    -ERR nats-server prepares is never flushed on a handshake failure)."""
    srv = start(server_factory, target, tls_conf(certs, timeout=0.5), expect_errors=TLS_ERRORS)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    read_info(s)
    data, took = read_to_end(s, timeout=5)
    assert data == b""
    assert 0.3 < took < scaled(3.0), took
    srv.wait_log(r"TLS handshake error: read tcp .*: i/o timeout")
    # and a half-started handshake (a ClientHello's first bytes only)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    read_info(s)
    s.sendall(b"\x16\x03\x01\x02\x00\x01")
    data, took = read_to_end(s, timeout=5)
    assert data == b"" and took < scaled(3.0)
    assert_alive(srv.port, certs)


@pytest.mark.parametrize("target", params(threaded_t1=False, threaded_t2=True, reference=False))
def test_tls_many_clients_fan_out(target, certs, server_factory):
    """Several TLS subscribers on different workers get every message of a
    TLS publisher."""
    srv = start(server_factory, target, tls_conf(certs))
    subs = []
    for i in range(4):
        _, t = tls_client(srv.port, certs)
        t.sendall(b"CONNECT {\"verbose\":false}\r\nSUB fan 1\r\nPING\r\n")
        assert read_until(t, b"PONG\r\n").endswith(b"PONG\r\n")
        subs.append(t)
    _, p = tls_client(srv.port, certs)
    n = 500
    msg = b"PUB fan 10\r\n0123456789\r\n"
    p.sendall(b"CONNECT {\"verbose\":false}\r\n" + msg * n + b"PING\r\n")
    assert read_until(p, b"PONG\r\n").endswith(b"PONG\r\n")
    want = b"MSG fan 1 10\r\n0123456789\r\n" * n
    for t in subs:
        t.sendall(b"PING\r\n")
        got = read_until(t, want + b"PONG\r\n", timeout=15)
        assert got == want + b"PONG\r\n", len(got)
        t.close()
    p.close()


# --------------------------------------------------------------------------- libnats

@pytest.fixture(scope="module")
def tls_driver():
    d = drivers_dir()
    path = os.path.join(d, "libnats_tls") if d else None
    if not path or not os.access(path, os.X_OK):
        pytest.skip("libnats_tls not built (NATSD_DRIVERS=%s); make builds it" % d)
    return path


def run_tls_driver(driver, scenario, port, certs):
    e = sanitizer_env()
    e["ASAN_OPTIONS"] = "detect_leaks=0"
    e["TSAN_OPTIONS"] = "report_bugs=0"
    p = subprocess.run([driver, scenario, "tls://127.0.0.1:%d" % port, certs],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=scaled(60), env=e)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, "libnats_tls %s exit %d\n%s\n%s" % (
        scenario, p.returncode, out, p.stderr.decode(errors="replace"))
    assert "OK %s" % scenario in out


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode,scenarios", [
    ("ca", ["ca", "untrusted"]),
    ("verify", ["clientcert", "nocert"]),
    ("map", ["clientcert", "nocert"]),
])
def test_libnats_tls(target, mode, scenarios, tls_driver, certs, server_factory):
    if mode == "ca":
        conf = tls_conf(certs)
    elif mode == "verify":
        conf = tls_conf(certs, verify=True)
    else:
        conf = tls_conf(certs, verify="verify_and_map", extra=MAP_USERS)
    srv = start(server_factory, target, conf, expect_errors=TLS_ERRORS)
    for sc in scenarios:
        run_tls_driver(tls_driver, sc, srv.port, certs)


# --------------------------------------------------------------------------- monitoring

@pytest.mark.parametrize("target", TARGETS)
def test_connz_tls_fields(target, certs, server_factory):
    import urllib.request
    srv = start(server_factory, target, tls_conf(certs, extra="http: \"127.0.0.1:@PORT_HTTP@\""))
    _, t = tls_client(srv.port, certs)
    t.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
    assert read_until(t, b"PONG\r\n").endswith(b"PONG\r\n")
    url = "http://127.0.0.1:%d/connz" % srv.ports["HTTP"]
    with urllib.request.urlopen(url, timeout=scaled(5)) as r:
        connz = json.loads(r.read())
    version = t.version().replace("TLSv", "")
    t.close()
    mine = [c for c in connz["connections"] if c.get("tls_version")]
    assert len(mine) == 1, connz
    assert mine[0]["tls_version"] == version
    assert mine[0]["tls_cipher_suite"].startswith("TLS_")


# --------------------------------------------------------------------------- reload

@pytest.fixture(scope="module")
def certs2(tmp_path_factory):
    """Another CA and a server certificate it signed."""
    return make_test_certs(str(tmp_path_factory.mktemp("certs2")))


def reload_to(srv, target, conf):
    """Write conf as start() wrote the first file, SIGHUP, wait for the
    outcome; returns the log lines it added."""
    import signal
    from proto_util import conf_text
    at = len(srv.log_text())
    with open(srv.conf_path, "w") as f:
        f.write(conf_text(target, conf))
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_log(r"Reloaded server configuration|Failed to reload", start=at)
    return srv.log_text()[at:]


def tls_conf_with(d, ca_dir=None, **kw):
    """tls_conf with the server certificate of d and the CA of ca_dir."""
    return tls_conf(d, **kw).replace("ca_file: %s/" % d, "ca_file: %s/" % (ca_dir or d))


@pytest.mark.parametrize("target", TARGETS)
def test_tls_reload_new_certificate(target, certs, certs2, server_factory):
    """A reload reads the tls block again: new clients get the new
    certificate, a client connected before keeps its session and its
    subscriptions."""
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    _, old = tls_client(srv.port, certs)
    old.sendall(b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n")
    assert read_until(old, b"PONG\r\n") == b"PONG\r\n"
    log = reload_to(srv, target, tls_conf(certs2))
    assert "[INF] Reloaded: tls = enabled" in log
    with pytest.raises(ssl.SSLError):
        tls_client(srv.port, certs)  # the old CA no longer verifies the server
    _, new = tls_client(srv.port, certs2)
    new.sendall(b"CONNECT {\"verbose\":false}\r\nPUB foo 2\r\nhi\r\nPING\r\n")
    assert read_until(new, b"PONG\r\n") == b"PONG\r\n"
    old.sendall(b"PING\r\n")
    assert read_until(old, b"PONG\r\n") == b"MSG foo 1 2\r\nhi\r\nPONG\r\n"
    old.close()
    new.close()


@pytest.mark.parametrize("target", TARGETS)
def test_tls_reload_rereads_files(target, certs, certs2, server_factory, tmp_path):
    """The same tls block, its files replaced: a reload reads them again
    (certificate rotation)."""
    import shutil
    live = str(tmp_path / "live")
    shutil.copytree(certs, live)
    srv = start(server_factory, target, tls_conf(live), expect_errors=TLS_ERRORS)
    assert_alive(srv.port, certs)
    for f in ("server.pem", "server-key.pem", "ca.pem"):
        shutil.copy(os.path.join(certs2, f), os.path.join(live, f))
    log = reload_to(srv, target, tls_conf(live))
    assert "[INF] Reloaded: tls = enabled" in log
    with pytest.raises(ssl.SSLError):
        tls_client(srv.port, certs)
    assert_alive(srv.port, certs2)


@pytest.mark.parametrize("target", TARGETS)
def test_tls_reload_verify_and_timeout(target, certs, server_factory):
    """verify applies to new clients (INFO says so); the timeout is logged
    with the auth timeout derived from it."""
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    log = reload_to(srv, target, tls_conf(certs, verify=True, timeout=3))
    lines = [l.split("] ", 2)[-1] for l in log.splitlines() if "Reloaded" in l]
    assert lines == ["Reloaded: authorization users", "Reloaded: accounts",
                     "Reloaded: authorization timeout = 4", "Reloaded: tls timeout = 3",
                     "Reloaded: tls = enabled", "Reloaded server configuration"], lines
    info, data = roundtrip(srv.port, certs, cert="client")
    assert info["tls_verify"] is True and data.endswith(b"PONG\r\n")
    assert refused(srv.port, certs)


@pytest.mark.parametrize("target", TARGETS)
def test_tls_reload_off_and_on(target, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs), expect_errors=TLS_ERRORS)
    log = reload_to(srv, target, "")
    assert "[INF] Reloaded: tls = disabled" in log
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    assert "tls_required" not in read_info(s)
    s.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
    assert read_until(s, b"PONG\r\n") == b"PONG\r\n"
    log = reload_to(srv, target, tls_conf(certs))
    assert "[INF] Reloaded: tls = enabled" in log
    s.sendall(b"PING\r\n")
    assert read_until(s, b"PONG\r\n") == b"PONG\r\n"  # stays plaintext
    s.close()
    info, data = roundtrip(srv.port, certs)
    assert info["tls_required"] is True and data.endswith(b"PONG\r\n")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("change,message", [
    ("verify_and_map: true", "config reload not supported for TLSMap: old=false, new=true"),
    ("connection_rate_limit: 5", "config reload not supported for TLSRateLimit: old=0, new=5"),
])
def test_tls_reload_refused(target, change, message, certs, server_factory):
    srv = start(server_factory, target, tls_conf(certs),
                expect_errors=TLS_ERRORS + [r"Failed to reload server configuration"])
    log = reload_to(srv, target, tls_conf(certs, tls_extra=change))
    assert "[ERR] Failed to reload server configuration: " + message + "\n" in log
    assert_alive(srv.port, certs)


# --------------------------------------------------------------------------- rate limit

THROTTLED = b"-ERR 'Connection throttling is active. Please try again later.'\r\n"


def first_answer(port, send=b""):
    """Connect, read INFO, send send, then everything until the close (or a
    short quiet time). Returns the bytes after INFO."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    read_info(s)
    if send:
        s.sendall(send)
    data, _ = read_to_end(s, timeout=1.5)
    s.close()
    return data


@pytest.mark.parametrize("target", TARGETS)
def test_tls_connection_rate_limit(target, certs, server_factory):
    """connection_rate_limit: 1 lets one TLS handshake start per second; the
    others get an -ERR in plaintext after INFO and are closed, and a warning
    counts them."""
    srv = start(server_factory, target, tls_conf(certs, tls_extra="connection_rate_limit: 1"),
                expect_errors=TLS_ERRORS)
    socks = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
        read_info(s)
        socks.append(s)
    answers = [read_to_end(s, timeout=0.5)[0] for s in socks]
    for s in socks:
        s.close()
    assert all(a in (b"", THROTTLED) for a in answers), answers
    assert answers.count(THROTTLED) >= 1, answers
    srv.wait_log(r"\[WRN\] Rejected \d+ connections due to TLS rate limiting")


@pytest.mark.parametrize("target", TARGETS)
def test_tls_rate_limit_allow_non_tls(target, certs, server_factory):
    """With allow_non_tls only the clients that start TLS count."""
    srv = start(server_factory, target,
                tls_conf(certs, tls_extra="connection_rate_limit: 1", extra="allow_non_tls: true"),
                expect_errors=TLS_ERRORS)
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
        read_info(s)
        s.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        assert read_until(s, b"PONG\r\n") == b"PONG\r\n"
        s.close()
    hello = b"\x16\x03\x01\x00\x05hello"
    answers = [first_answer(srv.port, hello) for _ in range(3)]
    assert answers.count(THROTTLED) >= 1, answers
    # the one let through fails its (bogus) handshake its own way
    assert all(a == THROTTLED or b"-ERR" not in a for a in answers), answers


# --------------------------------------------------------------------------- allow_non_tls

@pytest.mark.parametrize("target", TARGETS)
def test_allow_non_tls_waits_tls_timeout(target, certs, server_factory):
    """allow_non_tls: the server waits tls.timeout for the first bytes; a
    client silent that long is plaintext, so a ClientHello coming later is
    a protocol error."""
    # long enough for a loaded machine to send its ClientHello within it
    wait = scaled(1.0)
    srv = start(server_factory, target, tls_conf(certs, timeout=wait, extra="allow_non_tls: true"),
                expect_errors=TLS_ERRORS + [r"Client parser ERROR"])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    read_info(s)
    time.sleep(2.5 * wait)  # well past tls.timeout
    s.sendall(b"\x16\x03\x01\x00\x05hello")
    data, _ = read_to_end(s)
    s.close()
    assert data == b"-ERR 'Unknown Protocol Operation'\r\n"
    srv.wait_log(r"Client parser ERROR")
    # within the wait a ClientHello still starts TLS
    _, data = roundtrip(srv.port, certs)
    assert data == b"MSG foo 1 5\r\nhello\r\nPONG\r\n"


@pytest.mark.parametrize("target", params(threaded_t1=True, reference=False))
def test_tls_reload_during_handshakes(target, certs, certs2, server_factory, tmp_path):
    """Contexts replaced while handshakes run on every worker: each new
    context is complete before any worker can use it."""
    import threading
    both = str(tmp_path / "both.pem")
    with open(both, "w") as f:
        for d in (certs, certs2):
            with open(os.path.join(d, "ca.pem")) as g:
                f.write(g.read())
    # tracing slows each handshake down: more of them overlap on a new context
    LOUD = "debug: true\ntrace: true"
    srv = start(server_factory, target, tls_conf(certs, extra=LOUD), expect_errors=TLS_ERRORS)
    stop = threading.Event()
    done = []

    def dial():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(both)
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
                read_info(s)
                t = ctx.wrap_socket(s, server_hostname="localhost")
                t.sendall(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
                done.append(read_until(t, b"PONG\r\n").endswith(b"PONG\r\n"))
                t.close()
            except (ssl.SSLError, OSError):
                done.append(False)

    threads = [threading.Thread(target=dial) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(16):
            reload_to(srv, target, tls_conf(certs2 if i % 2 == 0 else certs, extra=LOUD))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert any(done)
    assert_alive(srv.port, certs)


# --------------------------------------------------------------------------- the chain sent

def _bridge_after_info(port):
    """A local listener whose one connection is joined to the server at port
    once the server's plaintext INFO line is read off: a TLS client sees the
    server's TLS from its first byte. Returns the listener's port."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(scaled(20))

    def pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run():
        try:
            a, _ = lst.accept()
        except OSError:
            return
        finally:
            lst.close()
        b = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        read_info(b)
        a.settimeout(None)
        b.settimeout(None)
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
        pump(b, a)

    threading.Thread(target=run, daemon=True).start()
    return lst.getsockname()[1]


def sent_chain(port, certs, info_first):
    """The certificates a server's TLS handshake sends (openssl s_client
    -showcerts, with a client certificate for the listeners that ask one)."""
    if info_first:
        port = _bridge_after_info(port)
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-showcerts",
                        "-servername", "localhost", "-CAfile", os.path.join(certs, "ca.pem"),
                        "-cert", os.path.join(certs, "server.pem"),
                        "-key", os.path.join(certs, "server-key.pem")],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(30))
    out = p.stdout.decode(errors="replace")
    subjects = re.findall(r"^ *\d+ s:(.*)$", out, re.M)
    assert subjects, "no certificate chain from port %d:\n%s\n%s" % (
        port, out, p.stderr.decode(errors="replace"))
    return [s.strip() for s in subjects]


@pytest.mark.interop
@pytest.mark.parametrize("bundle", [False, True], ids=["leaf", "leaf+ca"])
@pytest.mark.parametrize("kind", ["nats-server", "natsd"])
def test_tls_sends_cert_file_chain_only(kind, bundle, certs, server_factory, tmp_path):
    """Client, route and gateway listeners send exactly the certificates
    cert_file holds: the CA of ca_file is not added to a leaf-only file."""
    cert = os.path.join(certs, "server.pem")
    if bundle:
        cert = str(tmp_path / "bundle.pem")
        with open(cert, "w") as f:
            for name in ("server.pem", "ca.pem"):
                with open(os.path.join(certs, name)) as g:
                    f.write(g.read())
    block = ("tls {\n  cert_file: \"%s\"\n  key_file: \"%s/server-key.pem\"\n"
             "  ca_file: \"%s/ca.pem\"\n  timeout: 5\n}\n") % (cert, certs, certs)
    conf = (block + "cluster { name: C, listen: \"127.0.0.1:@PORT_CL@\"\n" + block + "}\n" +
            "gateway { name: C, listen: \"127.0.0.1:@PORT_GW@\"\n" + block + "}\n")
    srv = server_factory(kind, conf=conf,
                         expect_errors=[r"TLS .*handshake error", r"TLS handshake (error|timeout)",
                                        r"[Aa]uthorization [Vv]iolation"])
    want = ["CN = localhost", "CN = natsd-test-ca"] if bundle else ["CN = localhost"]
    for what, port, info_first in (("client", srv.port, True),
                                   ("route", srv.ports["CL"], False),
                                   ("gateway", srv.ports["GW"], False)):
        got = sent_chain(port, certs, info_first)
        assert got == want, "%s %s: sent %r" % (kind, what, got)
