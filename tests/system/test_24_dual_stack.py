"""Wildcard listeners are dual-stack, as nats-server's.

Go's net.Listen("tcp", "0.0.0.0:port") opens one [::] socket that takes IPv4
and IPv6 alike on Linux. Clients that resolve "localhost" and try ::1 first
(nats.js, nats.deno, nats.node) reached nats-server but were refused by a
natsd listening on IPv4 only. The client, route, gateway and monitoring
listeners with the default (or a 0.0.0.0) host must take ::1 and 127.0.0.1.
"""

import http.client
import json
import socket

import pytest

import natsd as harness
from rawclient import RawClient

pytestmark = [pytest.mark.spawns]

CONF = """
port: @PORT@
http_port: @PORT_HTTP@
no_system_account: true
cluster { name: C, listen: "0.0.0.0:@PORT_CL@" }
gateway { name: C, port: @PORT_GW@ }
"""


def _has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def _first_line(host, port):
    s = socket.create_connection((host, port), timeout=harness.scaled(5))
    try:
        buf = b""
        while not buf.endswith(b"\r\n"):
            d = s.recv(1)
            if not d:
                break
            buf += d
        return buf
    finally:
        s.close()


def _varz(host, port):
    conn = http.client.HTTPConnection(host, port, timeout=harness.scaled(5))
    try:
        conn.request("GET", "/varz")
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def _connz_ips(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.scaled(5))
    try:
        conn.request("GET", "/connz")
        doc = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return sorted(c["ip"] for c in doc["connections"])


@pytest.mark.interop
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("kind", ["nats-server", "natsd"])
def test_wildcard_listeners_take_ipv6_and_ipv4(server_factory, kind):
    srv = server_factory(kind, conf=CONF)
    for host in ("::1", "127.0.0.1"):
        assert _first_line(host, srv.port).startswith(b"INFO "), (kind, host)
        # routes and gateways speak first too
        assert _first_line(host, srv.ports["CL"]).startswith(b"INFO "), (kind, host, "route")
        assert _first_line(host, srv.ports["GW"]).startswith(b"INFO "), (kind, host, "gateway")
        status, varz = _varz(host, srv.ports["HTTP"])
        assert status == 200 and varz["port"] == srv.port, (kind, host)
    # a client that came over IPv6 shows as such
    c = RawClient(srv.port, host="::1")
    c.handshake()
    assert "::1" in _connz_ips(srv.ports["HTTP"]), (kind, _connz_ips(srv.ports["HTTP"]))
    c.close()
