# SPDX-License-Identifier: Apache-2.0
"""Gateways between separate hosts: one cluster runs in its own network
namespace, joined to the test's namespace by a veth pair, so the two
clusters reach each other only through real (virtual) interfaces, not
loopback. Needs `ip netns` (root or CAP_SYS_ADMIN); skipped otherwise.

Each kind pairing (natsd-natsd and both mixed ones) forms a supercluster
across the link and passes pub/sub, queue and request/reply both ways."""
import subprocess
import time
import uuid

import pytest

import natsd as harness
from rawclient import ProtocolError, RawClient

pytestmark = pytest.mark.threaded


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=10, check=check)


@pytest.fixture
def netns():
    """A namespace with a veth link to ours: (name, host side IP, namespace IP)."""
    tag = uuid.uuid4().hex[:6]
    name = "natsd_" + tag
    host_if, ns_if = "nh" + tag, "na" + tag
    octet = 16 + int(tag[:2], 16) % 200
    host_ip, ns_ip = "10.77.%d.1" % octet, "10.77.%d.2" % octet
    try:
        r = _ip("netns", "add", name, check=False)
    except FileNotFoundError:
        pytest.skip("no `ip` command: network namespaces not available")
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace here (%s)" % r.stderr.decode().strip())
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", host_ip + "/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", ns_ip + "/30", "dev", ns_if)
        _ip("netns", "exec", name, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        _ip("netns", "del", name, check=False)
        pytest.skip("cannot set up a veth link (%s)" % e.stderr.decode().strip())
    yield name, host_ip, ns_ip
    _ip("link", "del", host_if, check=False)
    _ip("netns", "del", name, check=False)


class NsServer(harness.ServerProcess):
    """A server started inside network namespace ns, reachable at host."""

    def __init__(self, ns, host, *a, **kw):
        super().__init__(*a, **kw)
        self.ns = ns
        self.host = host

    def command(self):
        return ["ip", "netns", "exec", self.ns] + super().command()


def _client(host, port):
    c = RawClient(port, host=host)
    c.handshake(headers=True)
    return c


def _flush(c):
    """PING/PONG barrier that answers the server's own PINGs on the way."""
    c.send(b"PING\r\n")
    c.expect_line("PONG", skip_pings=True)


def _expect_nothing(c, duration):
    """Nothing but server PINGs (answered) arrives within duration seconds:
    a loaded machine can take past the first PING's 2 s."""
    deadline = time.monotonic() + duration
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            c.expect_nothing(left)
            return
        except ProtocolError:
            if not c.buf.startswith(b"PING\r\n"):
                raise
            c.buf = c.buf[6:]
            c.send(b"PONG\r\n")


def _next_msg(c, timeout=None):
    """The next MSG, skipping PINGs the server may send meanwhile."""
    while True:
        try:
            return c.read_msg(timeout)
        except ProtocolError as e:
            if "'PING'" not in str(e):
                raise
            c.send(b"PONG\r\n")


def _gateways_formed(port, host, want):
    import json
    import urllib.request
    try:
        with urllib.request.urlopen("http://%s:%d/gatewayz" % (host, port), timeout=2) as r:
            gz = json.load(r)
    except OSError:
        return False
    return (set((gz.get("outbound_gateways") or {}).keys()) == want and
            set((gz.get("inbound_gateways") or {}).keys()) == want)


def _wait(cond, what, timeout=20.0):
    deadline = time.monotonic() + harness.scaled(timeout)
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def _until_delivered(pub, sub, subject, payload, timeout=10.0):
    """Publish until the subscriber sees it: interest crosses the link
    asynchronously, so the first messages may find no interest yet."""
    deadline = time.monotonic() + harness.scaled(timeout)
    while time.monotonic() < deadline:
        pub.pub(subject, payload)
        _flush(pub)
        try:
            m = _next_msg(sub, 0.3)
        except ProtocolError:
            continue
        assert m.subject == subject and m.payload == payload
        return
    raise AssertionError("%s never crossed the link" % subject)


@pytest.mark.parametrize("ns_kind,host_kind", [("natsd", "natsd"), ("nats-server", "natsd"),
                                               ("natsd", "nats-server")])
def test_gateways_between_namespaces(netns, ns_kind, host_kind, tmp_path, request):
    if "natsd" in (ns_kind, host_kind):
        request.getfixturevalue("natsd_bin")
    if "nats-server" in (ns_kind, host_kind):
        request.getfixturevalue("nats_server_bin")
    ns, host_ip, ns_ip = netns
    pa, ga, ha = harness.free_port(), harness.free_port(), harness.free_port()
    pb, gb, hb = harness.free_port(), harness.free_port(), harness.free_port()
    conf_a = """
listen: %s:%d
http: %s:%d
gateway { name: A, listen: "%s:%d" }
""" % (ns_ip, pa, ns_ip, ha, ns_ip, ga)
    conf_b = """
listen: %s:%d
http: %s:%d
gateway { name: B, listen: "%s:%d", gateways: [ {name: A, url: "nats://%s:%d"} ] }
""" % (host_ip, pb, host_ip, hb, host_ip, gb, ns_ip, ga)
    # B stops first at the end: A may log a failed redial of its implicit B
    a = NsServer(ns, ns_ip, ns_kind, tmp_path / "a", conf=conf_a, port=pa, name="A",
                 expect_errors=[r"Error connecting to implicit gateway \"B\""])
    b = harness.ServerProcess(host_kind, tmp_path / "b", conf=conf_b, port=pb, name="B")
    b.host = host_ip
    servers = [a, b]
    try:
        a.start()
        b.start()
        _wait(lambda: _gateways_formed(ha, ns_ip, {"B"}) and _gateways_formed(hb, host_ip, {"A"}),
              "the supercluster across the namespaces")
        ca, cb = _client(ns_ip, pa), _client(host_ip, pb)
        # pub/sub both ways
        ca.sub("to.a", 1)
        _flush(ca)
        _until_delivered(cb, ca, "to.a", b"from B")
        cb.sub("to.b", 1)
        _flush(cb)
        _until_delivered(ca, cb, "to.b", b"from A")
        # a queue group with members only across the link gets each message once
        ca.sub("work", 2, queue="grp")
        ca.sub("work", 3, queue="grp")
        _flush(ca)
        _until_delivered(cb, ca, "work", b"job-0")
        for i in range(1, 21):
            cb.pub("work", b"job%02d" % i)
        _flush(cb)
        seen = []
        while len(seen) < 20:
            m = _next_msg(ca)
            if m.payload != b"job-0":  # a slow warm-up copy may still come
                seen.append(m.payload)
        assert sorted(seen) == [b"job%02d" % i for i in range(1, 21)]
        _expect_nothing(ca, 0.3)
        # request on B, responder on A, the reply comes back across the link
        ca.sub("svc", 4)
        _flush(ca)
        cb.sub("_INBOX.ns", 5)
        _flush(cb)
        for _ in range(50):
            cb.pub("svc", b"req", reply="_INBOX.ns")
            _flush(cb)
            try:
                req = _next_msg(ca, 0.3)
            except ProtocolError:
                continue
            if req.subject == "svc":
                break
        else:
            raise AssertionError("request never reached A")
        assert (req.subject, req.reply, req.payload) == ("svc", "_INBOX.ns", b"req")
        ca.pub(req.reply, b"rep")
        _flush(ca)
        rep = _next_msg(cb)
        assert (rep.subject, rep.reply, rep.payload) == ("_INBOX.ns", None, b"rep")
        ca.close()
        cb.close()
    finally:
        for s in reversed(servers):
            if s.proc is not None:
                s.stop()
        # the link and the namespace go in the fixture; nothing logged an error
        for s in servers:
            s.check()
