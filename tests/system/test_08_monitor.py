"""Monitoring HTTP server: nats-server 2.9.10's endpoints and JSON, plus /metrics.

For each endpoint natsd and the reference nats-server run with the same
configuration and the same raw-socket clients; the two JSON documents are
compared recursively: natsd must have every key nats-server has, with the same
JSON type, and the figures that must agree (connections, subscriptions,
messages, bytes) agree. Bad input must get nats-server's status and text.
/metrics must parse as the Prometheus text format. A load test sends 1,000
concurrent requests while messages flow: every request is answered and no
message is lost.
"""

import http.client
import json
import re
import socket
import ssl
import threading
import time

import pytest

import natsd as harness
from rawclient import RawClient

# Both servers: no system account (natsd has no system services, nats-server's
# would add 40-odd internal subscriptions), monitoring on loopback.
CONF = """
port: @PORT@
http: "127.0.0.1:@PORT_HTTP@"
no_system_account: true
"""


# --------------------------------------------------------------------------- helpers


def http_get(port, path, host="127.0.0.1", timeout=10.0, tls=None):
    """GET path; returns (status, headers dict (lower-case names), body bytes)."""
    if tls is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=harness.scaled(timeout),
                                           context=tls)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=harness.scaled(timeout))
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def get_json(port, path, **kw):
    status, headers, body = http_get(port, path, **kw)
    assert status == 200, "%s: HTTP %d %r" % (path, status, body[:300])
    assert headers.get("content-type") == "application/json", headers
    return json.loads(body)


def jtype(v):
    """JSON type name (bool before number: bool is an int in Python)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def compare_shape(ref, mine, where="$"):
    """Every key of ref is in mine with the same JSON type, recursively. For
    arrays, the elements both have are compared pairwise. Returns problems."""
    problems = []
    if jtype(ref) != jtype(mine):
        return ["%s: type %s in nats-server, %s in natsd" % (where, jtype(ref), jtype(mine))]
    if isinstance(ref, dict):
        for k, v in ref.items():
            if k not in mine:
                problems.append("%s.%s: missing in natsd" % (where, k))
            else:
                problems += compare_shape(v, mine[k], "%s.%s" % (where, k))
    elif isinstance(ref, list):
        for i, a in enumerate(ref):
            b = _counterpart(a, mine, i)
            if b is not None:
                problems += compare_shape(a, b, "%s[%d]" % (where, i))
    return problems


def _identity(v):
    if isinstance(v, dict):
        ident = tuple(v.get(k) for k in ("name", "subject", "sid", "qgroup", "account"))
        if "cid" in v and "kind" in v:
            ident += ("stop" in v,)  # an open connection never stands for a closed one
        return ident
    return None


def _counterpart(a, mine, i):
    """The element of mine that stands for a: the one with the same identity
    (name, subject, sid) when a is an object, else the same index."""
    ident = _identity(a)
    if ident is not None and any(x is not None for x in ident):
        for b in mine:
            if _identity(b) == ident:
                return b
    return mine[i] if i < len(mine) else None


def assert_same_shape(ref, mine, what):
    problems = compare_shape(ref, mine)
    assert not problems, "%s differs from nats-server:\n%s\nnats-server: %s\nnatsd: %s" % (
        what, "\n".join(problems), json.dumps(ref, indent=1)[:3000],
        json.dumps(mine, indent=1)[:3000])


def start_pair(server_factory, conf=CONF):
    ref = server_factory("nats-server", conf=conf)
    mine = server_factory("natsd", conf=conf)
    return ref, mine


def client(server, name, **connect):
    c = RawClient(server.port)
    fields = {"name": name, "lang": "python-raw", "version": "1.0", "protocol": 1}
    fields.update(connect)
    c.handshake(**fields)
    return c


def workload(server):
    """The same clients on either server: a subscriber with two subs (one in a
    queue group, one with an auto-unsubscribe limit), a publisher that sends 5
    messages to foo and 3 to bar. Returns the clients (caller closes)."""
    sub = client(server, "subscriber")
    sub.send("SUB foo 1\r\nSUB bar workers 2\r\nSUB baz.* 3\r\nUNSUB 3 10\r\n")
    sub.ping_pong()
    pub = client(server, "publisher")
    for i in range(5):
        pub.pub("foo", b"hello-%d" % i)
    for i in range(3):
        pub.pub("bar", b"x" * 10)
    pub.ping_pong()
    for i in range(5):
        sub.expect_msg("foo", "1", b"hello-%d" % i)
    for i in range(3):
        sub.expect_msg("bar", "2", b"x" * 10)
    if "HTTP" in server.ports:
        # the subscriber has read everything, but nats-server counts the
        # bytes out of pending_bytes only once its flusher goroutine runs
        # again (188 seen on a loaded machine): wait until /connz agrees
        def flushed():
            conns = get_json(http_port(server), "/connz")["connections"]
            return all(c.get("pending_bytes", 0) == 0 for c in conns)
        assert wait_for(flushed), "pending_bytes still not 0 on %s" % server.kind
    return sub, pub


def http_port(server):
    return server.ports["HTTP"]


def settled_closed(port):
    """The number of closed connections once the harness's readiness probe
    (a connection opened and closed at start) is no longer open."""
    assert wait_for(lambda: get_json(port, "/connz")["total"] == 0)
    return get_json(port, "/connz?state=closed")["total"]


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + harness.scaled(timeout)
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return pred()


# --------------------------------------------------------------------------- comparisons

pytestmark = [pytest.mark.spawns]


@pytest.mark.interop
def test_startup_log_order(server_factory):
    ref, mine = start_pair(server_factory)
    for s in (ref, mine):
        log = s.log_text()
        i = log.index("Starting http monitor on 127.0.0.1:%d" % http_port(s))
        assert i < log.index("Listening for client connections on"), log
        assert log.index("Listening for client connections on") < log.index("Server is ready")


@pytest.mark.interop
def test_varz_matches_reference(server_factory):
    ref, mine = start_pair(server_factory)
    clients = [workload(ref), workload(mine)]
    a = get_json(http_port(ref), "/varz")
    b = get_json(http_port(mine), "/varz")
    assert_same_shape(a, b, "/varz")
    for k in ("connections", "total_connections", "subscriptions", "in_msgs", "out_msgs",
              "in_bytes", "out_bytes", "slow_consumers", "routes", "remotes", "leafnodes",
              "max_connections", "max_payload", "max_pending", "max_control_line",
              "ping_interval", "ping_max", "write_deadline", "auth_timeout", "tls_timeout",
              "http_host", "http_base_path", "https_port", "proto", "version",
              "cluster", "gateway", "leaf", "mqtt", "websocket", "jetstream",
              "http_req_stats"):
        assert a[k] == b[k], "varz %s: nats-server %r, natsd %r" % (k, a[k], b[k])
    assert set(b) - set(a) <= {"system_account"}, set(b) - set(a)
    for cs in clients:
        for c in cs:
            c.close()


@pytest.mark.interop
def test_varz_cluster_gateway_fields(server_factory):
    conf = CONF + """
server_name: srv
max_subscriptions: 100
cluster { name: C1, listen: "127.0.0.1:@PORT_CL@", routes: ["nats://127.0.0.1:@PORT_RT@"] }
gateway { name: C1, listen: "127.0.0.1:@PORT_GW@",
          gateways: [ {name: B, urls: ["nats://u:p@127.0.0.1:@PORT_GB@"]} ] }
"""
    ref = server_factory("nats-server", conf=conf, expect_errors=[r"Error trying to connect"])
    ports = {k: v for k, v in ref.ports.items() if k != "HTTP"}
    a = get_json(http_port(ref), "/varz")
    ref_routez = get_json(http_port(ref), "/routez")
    # both listen on the same cluster port: one after the other
    ref.stop()
    mine = server_factory("natsd", conf=conf, ports=ports,
                          expect_errors=[r"Error trying to connect"])
    b = get_json(http_port(mine), "/varz")
    assert_same_shape(a, b, "/varz with cluster and gateway")
    for k in ("cluster", "gateway", "server_name", "max_subscriptions"):
        assert a[k] == b[k], "varz %s: nats-server %r, natsd %r" % (k, a[k], b[k])
    # the configured route has no peer: answered as with none connected
    assert_same_shape(ref_routez, get_json(http_port(mine), "/routez"), "/routez")


def _conns_by_name(doc):
    return {c.get("name"): c for c in doc["connections"]}


@pytest.mark.interop
@pytest.mark.parametrize("query", ["", "?subs=1", "?subs=detail", "?auth=1", "?sort=msgs_from",
                                   "?sort=subs&limit=1", "?offset=1", "?state=any"])
def test_connz_matches_reference(server_factory, query):
    ref, mine = start_pair(server_factory)
    clients = [workload(ref), workload(mine)]
    a = get_json(http_port(ref), "/connz" + query)
    b = get_json(http_port(mine), "/connz" + query)
    assert_same_shape(a, b, "/connz" + query)
    for k in ("num_connections", "total", "offset", "limit"):
        assert a[k] == b[k], "connz%s %s: %r vs %r" % (query, k, a[k], b[k])
    ca, cb = _conns_by_name(a), _conns_by_name(b)
    assert set(ca) == set(cb)
    for name in ca:
        for k in ("in_msgs", "out_msgs", "in_bytes", "subscriptions", "lang",
                  "version", "kind", "type", "ip", "pending_bytes"):
            assert ca[name].get(k) == cb[name].get(k), (name, k, ca[name], cb[name])
        if "subscriptions_list" in ca[name]:
            assert sorted(ca[name]["subscriptions_list"]) == sorted(cb[name]["subscriptions_list"])
        if "subscriptions_list_detail" in ca[name]:
            def strip(lst):
                return sorted((d["subject"], d.get("qgroup"), d["sid"], d["msgs"], d.get("max"))
                              for d in lst)
            assert strip(ca[name]["subscriptions_list_detail"]) == \
                strip(cb[name]["subscriptions_list_detail"])
    # the order of a sorted listing agrees
    assert [c.get("name") for c in a["connections"]] == [c.get("name") for c in b["connections"]]
    for cs in clients:
        for c in cs:
            c.close()


@pytest.mark.interop
def test_connz_out_bytes_counts_payload(server_factory):
    ref, mine = start_pair(server_factory)
    clients = [workload(ref), workload(mine)]
    a = _conns_by_name(get_json(http_port(ref), "/connz"))["subscriber"]
    b = _conns_by_name(get_json(http_port(mine), "/connz"))["subscriber"]
    for cs in clients:
        for c in cs:
            c.close()
    assert a["out_bytes"] == b["out_bytes"]


@pytest.mark.interop
def test_connz_closed_matches_reference(server_factory):
    ref, mine = start_pair(server_factory)
    docs = []
    for s in (ref, mine):
        port = http_port(s)
        # the harness's readiness probe is a closed connection already
        before = settled_closed(port)
        sub, pub = workload(s)
        sub.close()
        assert wait_for(lambda: get_json(port, "/connz?state=closed")["total"] == before + 1)
        # subs=detail last: nats-server 2.9.10 keeps the detail list in its
        # ring entry after such a request and shows it in every later answer
        docs.append((get_json(port, "/connz?state=all&sort=uptime"),
                     get_json(port, "/connz?state=closed&sort=reason&subs=1"),
                     get_json(port, "/connz?state=closed&subs=detail")))
        pub.close()
    for a, b in zip(*docs):
        assert_same_shape(a, b, "/connz closed")
        assert a["total"] == b["total"]
    a = _conns_by_name(docs[0][2])["subscriber"]
    b = _conns_by_name(docs[1][2])["subscriber"]
    assert b["reason"] == a["reason"] == "Client Closed"
    for k in ("in_msgs", "out_msgs", "subscriptions", "name"):
        assert a[k] == b[k], (k, a, b)


@pytest.mark.interop
@pytest.mark.parametrize("query", ["", "?subs=1", "?subs=1&test=foo", "?subs=1&test=nomatch",
                                   "?subs=1&limit=1&offset=1", "?acc=$G"])
def test_subsz_matches_reference(server_factory, query):
    ref, mine = start_pair(server_factory)
    clients = [workload(ref), workload(mine)]
    a = get_json(http_port(ref), "/subsz" + query)
    b = get_json(http_port(mine), "/subsz" + query)
    if "limit=" in query:
        # a page of an unordered listing: which subscription lands on it differs
        assert len(a.get("subscriptions_list", [])) == len(b.get("subscriptions_list", []))
        a.pop("subscriptions_list", None)
        b.pop("subscriptions_list", None)
    assert_same_shape(a, b, "/subsz" + query)
    assert set(a) == set(b), (a, b)
    for k in ("num_subscriptions", "num_inserts", "num_removes", "total", "offset", "limit"):
        assert a.get(k) == b.get(k), (k, a, b)
    if "subscriptions_list" in a:
        def strip(lst):
            return sorted((d["account"], d["subject"], d.get("qgroup"), d["sid"], d["msgs"],
                           d.get("max")) for d in lst)
        if "limit" not in query:
            assert strip(a["subscriptions_list"]) == strip(b["subscriptions_list"])
    for cs in clients:
        for c in cs:
            c.close()


@pytest.mark.interop
@pytest.mark.parametrize("path", ["/healthz", "/accountz", "/accountz?acc=$G", "/routez",
                                  "/routez?subs=detail", "/gatewayz", "/gatewayz?accs=1",
                                  "/leafz", "/jsz", "/subscriptionsz", "/accstatz",
                                  "/healthz?js-enabled-only=true"])
def test_other_endpoints_match_reference(server_factory, path):
    ref, mine = start_pair(server_factory)
    clients = [workload(ref), workload(mine)]
    a = get_json(http_port(ref), path)
    b = get_json(http_port(mine), path)
    assert_same_shape(a, b, path)
    if path.startswith("/healthz"):
        assert a == b
    if path == "/accountz":
        assert a["accounts"] == b["accounts"]
    if path == "/accountz?acc=$G":
        for k in ("client_connections", "subscriptions"):
            assert a["account_detail"][k] == b["account_detail"][k]
    for cs in clients:
        for c in cs:
            c.close()


@pytest.mark.interop
def test_default_system_account_shape(server_factory):
    conf = "port: @PORT@\nhttp: \"127.0.0.1:@PORT_HTTP@\"\n"
    ref, mine = start_pair(server_factory, conf)
    for path in ("/varz", "/accountz", "/connz", "/subsz", "/accountz?acc=$SYS"):
        a, b = get_json(http_port(ref), path), get_json(http_port(mine), path)
        if path == "/accountz?acc=$SYS":
            a["account_detail"].pop("exports", None)
        assert_same_shape(a, b, path)
    assert get_json(http_port(mine), "/accountz")["accounts"] == ["$G", "$SYS"]


@pytest.mark.interop
def test_jsonp_and_index(server_factory):
    ref, mine = start_pair(server_factory)
    for s in (ref, mine):
        st, h, body = http_get(http_port(s), "/healthz?callback=cb")
        assert (st, h["content-type"], body) == (200, "application/javascript",
                                                 b'cb({"status":"ok"})')
        st, h, body = http_get(http_port(s), "/")
        assert st == 200 and h["content-type"] == "text/html; charset=utf-8"
        for link in ("./varz", "./connz", "./subsz", "./routez", "./gatewayz", "./healthz",
                     "./accountz"):
            assert link.encode() in body, (s.kind, link)
    # the index page counts as "/" in http_req_stats
    assert get_json(http_port(mine), "/varz")["http_req_stats"]["/"] == 1


BAD_REQUESTS = [
    "/nope", "/varz/x", "/varz/", "/connzz", "/connz?limit=x", "/connz?offset=1.5",
    "/connz?limit=99999999999999999999", "/connz?cid=-1", "/connz?cid=abc",
    "/connz?sort=bogus", "/connz?state=x", "/connz?auth=x", "/connz?subs=maybe",
    "/connz?sort=stop", "/connz?sort=reason&state=any", "/subsz?test=foo.*",
    "/subsz?test=foo..bar", "/subsz?subs=2", "/subsz?offset=x", "/routez?subs=x",
    "/gatewayz?accs=x", "/healthz?js-enabled-only=nope", "/accountz?acc=nope", "/leafz?subs=x",
    "/connz?auth=%22q%22",
    # a NUL is a byte Go's parsers refuse; long values are echoed whole
    "/connz?limit=%00", "/connz?subs=t%00", "/subsz?offset=1%002",
    "/connz?sort=" + "s" * 700, "/connz?state=" + "x" * 700, "/accountz?acc=" + "a" * 700,
    "/subsz?test=" + "t." * 400 + "*",
]


@pytest.mark.interop
def test_bad_input_matches_reference(server_factory):
    ref, mine = start_pair(server_factory)
    for path in BAD_REQUESTS:
        a = http_get(http_port(ref), path)
        b = http_get(http_port(mine), path)
        assert a[0] in (400, 404), (path, a)
        assert (b[0], b[2]) == (a[0], a[2]), "%s: nats-server %r, natsd %r" % (path, a, b)
        assert b[1]["content-type"] == a[1]["content-type"], (path, a[1], b[1])


def _raw_http(port, data, limit=200):
    """Send data on a fresh connection; what comes back before the server
    closes (up to limit bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.scaled(10))
    try:
        s.sendall(data)
        out = b""
        while len(out) < limit:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


@pytest.mark.interop
def test_http_edges_match_reference(server_factory):
    """An HTTP/1.0 request is answered in HTTP/1.0; a URL of 900 KB is
    served (Go reads up to 1 MB of request head), one of 1.1 MB refused."""
    ref, mine = start_pair(server_factory)
    for s in (ref, mine):
        got = _raw_http(http_port(s), b"GET /varz HTTP/1.0\r\n\r\n")
        assert got.startswith(b"HTTP/1.0 200 OK\r\n"), (s.kind, got[:60])
        got = _raw_http(http_port(s), b"GET /nope HTTP/1.0\r\n\r\n")
        assert got.startswith(b"HTTP/1.0 404 Not Found\r\n"), (s.kind, got[:60])
        got = _raw_http(http_port(s), b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 200 OK\r\n"), (s.kind, got[:60])
        big = b"GET /varz?pad=" + b"y" * 900000 + b" HTTP/1.0\r\n\r\n"
        got = _raw_http(http_port(s), big)
        assert got.startswith(b"HTTP/1.0 200 OK\r\n"), (s.kind, got[:60])
        # refused: nats-server says 431, libmicrohttpd 414
        huge = b"GET /varz?pad=" + b"y" * 1100000 + b" HTTP/1.0\r\n\r\n"
        got = _raw_http(http_port(s), huge)
        m = re.match(rb"^HTTP/1\.[01] (\d{3}) ", got)
        assert m and m.group(1) in (b"414", b"431"), (s.kind, got[:60])


@pytest.mark.interop
@pytest.mark.xfail(strict=True, reason="libmicrohttpd closes the connection on a request line "
                   "it cannot parse without answering, and has no option to answer it; "
                   "nats-server answers 400 Bad Request")
def test_http_garbage_request_line(server_factory):
    ref, mine = start_pair(server_factory)
    for s in (ref, mine):
        got = _raw_http(http_port(s), b"GARBAGE\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (s.kind, got[:60])


@pytest.mark.interop
def test_base_path(server_factory):
    conf = CONF + "http_base_path: \"/mon/\"\n"
    ref, mine = start_pair(server_factory, conf)
    for s in (ref, mine):
        p = http_port(s)
        assert get_json(p, "/mon/varz")["http_base_path"] == "/mon/"
        assert http_get(p, "/mon")[0] == 200
        for path in ("/varz", "/mon/nope", "/"):
            assert http_get(p, path)[0] == 404, (s.kind, path)


# --------------------------------------------------------------------------- natsd only


def _conn_named(port, name):
    for c in get_json(port, "/connz")["connections"]:
        if c.get("name") == name:
            return c
    raise AssertionError("no connection %r" % name)


def _ts(rfc3339):
    """Seconds since the epoch of an RFC 3339 time with nanoseconds."""
    import datetime
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", rfc3339)
    assert m, rfc3339
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    base = base.replace(tzinfo=datetime.timezone.utc).timestamp()
    return base + (int(m.group(2).ljust(9, "0")) / 1e9 if m.group(2) else 0.0)


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["nats-server", "natsd"])
def test_connz_last_activity_is_messages_not_pings(server_factory, kind):
    """last_activity (nats-top's IDLE, sort=idle) moves when a client
    publishes, subscribes or is delivered a message; a PING is no activity."""
    s = server_factory(kind, conf=CONF)
    p = http_port(s)
    sub = client(s, "sub")
    pub = client(s, "pub")
    sub.send("SUB foo 1\r\n")
    sub.ping_pong()
    # natsd turns its monotonic clock into wall time per request: the same
    # instant may read a few microseconds apart; the pauses are far longer
    t0 = _ts(_conn_named(p, "sub")["last_activity"])
    time.sleep(0.3)
    for _ in range(3):
        sub.ping_pong()
    t = _ts(_conn_named(p, "sub")["last_activity"])
    assert abs(t - t0) < 0.1, "a PING moved last_activity by %.6fs" % (t - t0)
    time.sleep(0.3)
    pub.pub("foo", b"hi")
    pub.ping_pong()
    sub.expect_msg("foo", "1", b"hi")
    t1 = _ts(_conn_named(p, "sub")["last_activity"])
    assert t1 - t0 > 0.2, "a delivery did not move last_activity (%.6fs)" % (t1 - t0)
    assert abs(_ts(_conn_named(p, "pub")["last_activity"]) - t1) < 0.1
    for c in (sub, pub):
        c.close()


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["nats-server", "natsd"])
def test_connz_rtt_known_from_connect(server_factory, kind):
    """The time from accept to CONNECT is the RTT until a PONG measures it:
    /connz never shows 0s for a connected client."""
    s = server_factory(kind, conf=CONF)
    c = client(s, "early")
    rtt = _conn_named(http_port(s), "early")["rtt"]
    assert rtt != "0s" and re.match(r"^[0-9.]+(ns|µs|us|ms|s)$", rtt), rtt
    c.close()


def test_connz_options(server_factory):
    s = server_factory("natsd", conf=CONF)
    p = http_port(s)
    closed_before = settled_closed(p)
    clients = [client(s, "c%d" % i) for i in range(5)]
    clients[3].send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n")
    clients[3].ping_pong()
    for i in range(4):
        clients[1].pub("nobody", b"abc")
    clients[1].ping_pong()
    doc = get_json(p, "/connz")
    cids = [c["cid"] for c in doc["connections"]]
    assert cids == sorted(cids) and doc["total"] == 5 and doc["num_connections"] == 5
    assert get_json(p, "/connz?sort=subs")["connections"][0]["name"] == "c3"
    assert get_json(p, "/connz?sort=msgs_from")["connections"][0]["name"] == "c1"
    assert get_json(p, "/connz?sort=bytes_from")["connections"][0]["in_bytes"] == 12
    page = get_json(p, "/connz?offset=2&limit=2")
    assert [c["cid"] for c in page["connections"]] == cids[2:4]
    assert (page["offset"], page["limit"], page["num_connections"]) == (2, 2, 2)
    one = get_json(p, "/connz?cid=%d" % cids[3])
    assert [c["cid"] for c in one["connections"]] == [cids[3]] and one["limit"] == 1
    assert get_json(p, "/connz?offset=99")["connections"] == []
    assert get_json(p, "/connz?limit=-3")["limit"] == 1024
    for c in clients:
        c.close()
    assert wait_for(lambda: get_json(p, "/connz?state=closed")["total"] == closed_before + 5)
    closed = get_json(p, "/connz?state=closed&sort=stop")["connections"]
    stops = [c["stop"] for c in closed]
    assert stops == sorted(stops, reverse=True)
    assert [c["reason"] for c in closed if c.get("name")] == ["Client Closed"] * 5
    assert get_json(p, "/connz")["total"] == 0


def test_closed_ring_is_bounded(server_factory):
    s = server_factory("natsd", conf=CONF)
    p = http_port(s)
    closed = settled_closed(p)
    before = get_json(p, "/varz")["total_connections"]
    for i in range(30):
        c = RawClient(s.port)
        c.read_info()
        c.close()
    assert wait_for(lambda: get_json(p, "/connz?state=closed")["total"] == closed + 30)
    assert get_json(p, "/varz")["total_connections"] == before + 30


PROM_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? '
    r'(-?[0-9.]+(e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$')


def parse_prometheus(text):
    """Families and samples of the Prometheus text format; asserts validity."""
    types, samples = {}, {}
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("# HELP "):
            continue
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), ln
            assert name not in types, "family %s declared twice" % name
            types[name] = typ
            continue
        m = PROM_LINE.match(ln)
        assert m, "not a Prometheus sample line: %r" % ln
        name = m.group(1)
        assert name in types, "sample %s before its TYPE" % name
        samples[(name, m.group(3) or "")] = float(m.group(7))
    return types, samples


def test_metrics_prometheus(server_factory):
    s = server_factory("natsd", conf=CONF)
    sub, pub = workload(s)
    p = http_port(s)
    pairs = (("natsd_connections", "connections"),
             ("natsd_connections_total", "total_connections"),
             ("natsd_subscriptions", "subscriptions"),
             ("natsd_in_msgs_total", "in_msgs"), ("natsd_out_msgs_total", "out_msgs"),
             ("natsd_in_bytes_total", "in_bytes"),
             ("natsd_out_bytes_total", "out_bytes"),
             ("natsd_slow_consumers_total", "slow_consumers"),
             ("natsd_routes", "routes"))
    # the workers publish their counters at the end of a loop turn: read both
    # endpoints until they agree (a busy machine may be a turn behind)
    deadline = time.monotonic() + harness.scaled(5)
    while True:
        st, h, body = http_get(p, "/metrics")
        assert st == 200 and h["content-type"].startswith("text/plain; version=0.0.4")
        types, samples = parse_prometheus(body.decode())
        varz = get_json(p, "/varz")
        diff = [(m, samples[(m, "")], varz[k]) for m, k in pairs if samples[(m, "")] != varz[k]]
        if not diff and sum(v for (n, _), v in samples.items()
                            if n == "natsd_worker_in_msgs_total") == 8:
            break
        assert time.monotonic() < deadline, diff
        time.sleep(0.05)
    assert types["natsd_in_msgs_total"] == "counter"
    assert types["natsd_route_in_msgs_total"] == "counter"
    assert types["natsd_gateway_out_bytes_total"] == "counter"
    assert samples[("natsd_gateways", "")] == 0
    assert sum(v for (n, _), v in samples.items() if n == "natsd_worker_in_msgs_total") == 8
    assert "natsd_route_rtt_seconds" in types and "natsd_route_rtt_nanoseconds" not in types
    # per account, as /accstatz; health as /healthz
    acc = {e["acc"]: e for e in get_json(p, "/accstatz?unused=1")["account_statz"]}
    g = 'account="$G"'
    assert samples[("natsd_account_connections", g)] == acc["$G"]["conns"] == 2
    assert samples[("natsd_account_received_msgs_total", g)] == acc["$G"]["received"]["msgs"] == 8
    assert samples[("natsd_account_sent_bytes_total", g)] == acc["$G"]["sent"]["bytes"]
    assert types["natsd_account_sent_msgs_total"] == "counter"
    assert samples[("natsd_healthy", "")] == 1
    sub.close()
    pub.close()


def test_monitor_flags_and_errors(server_factory, free_port):
    port = free_port()
    s = server_factory("natsd", args=["-m", str(port)])
    assert get_json(port, "/varz")["http_port"] == port
    # a port in use: fatal, as nats-server
    busy = server_factory("natsd", args=["-m", str(port)], start=False,
                          expect_errors=[r"Can't start monitoring"])
    busy.start(wait=False)
    busy.proc.wait(timeout=harness.scaled(10))
    assert busy.stop() == 1
    assert re.search(r"\[FTL\] Can't start monitoring: can't listen to the monitor port: "
                     r"listen tcp .*:%d: bind: address already in use" % port, busy.log_text())
    both = server_factory("natsd", args=["-m", str(free_port()), "-ms", str(free_port())],
                          start=False, expect_errors=[r"Can't start monitoring"])
    both.start(wait=False)
    both.proc.wait(timeout=harness.scaled(10))
    assert both.stop() == 1
    assert "can't specify both HTTP" in both.log_text()
    s.stop()


def test_https_monitor(server_factory, tmp_path):
    certs = harness.make_test_certs(tmp_path / "certs")
    conf = """
port: @PORT@
https: "127.0.0.1:@PORT_HTTPS@"
tls { cert_file: "%s/server.pem", key_file: "%s/server-key.pem" }
""" % (certs, certs)
    # the tls block makes the client port TLS-only too: the harness's plain
    # readiness probe is logged as a failed handshake, as nats-server logs it
    s = server_factory("natsd", conf=conf, expect_errors=[r"TLS handshake error"])
    assert "Starting https monitor on 127.0.0.1:%d" % s.ports["HTTPS"] in s.log_text()
    ctx = ssl.create_default_context(cafile="%s/ca.pem" % certs)
    doc = get_json(s.ports["HTTPS"], "/varz", tls=ctx, host="localhost")
    assert doc["https_port"] == s.ports["HTTPS"]


# --------------------------------------------------------------------------- load


def _raw_requests(port, paths):
    """Open one socket per path at once, send every request, then read every
    answer (HTTP/1.0, connection closed by the server). Returns statuses."""
    socks = []
    for path in paths:
        sk = socket.create_connection(("127.0.0.1", port), timeout=harness.scaled(60))
        socks.append(sk)
    for sk, path in zip(socks, paths):
        sk.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
    statuses = []
    for sk in socks:
        data = b""
        while True:
            chunk = sk.recv(65536)
            if not chunk:
                break
            data += chunk
        sk.close()
        head, _, body = data.partition(b"\r\n\r\n")
        statuses.append(int(head.split(b" ")[1]) if head else 0)
        if statuses[-1] == 200 and b"json" in head:
            json.loads(body)
    return statuses


@pytest.mark.threaded
def test_concurrent_requests_while_messages_flow(server_factory):
    s = server_factory("natsd", conf=CONF + "max_pending: 512MB\n")
    p = http_port(s)
    nmsgs = 100000
    sub = client(s, "sink")
    sub.send("SUB load 1\r\n")
    sub.ping_pong()
    got = {"bytes": 0}
    payload = b"m" * 32
    expect = nmsgs * len(b"MSG load 1 32\r\n" + payload + b"\r\n")

    def drain():
        # the server may PING a client that has been connected for a while:
        # those lines are not the messages counted here
        sub.sock.settimeout(harness.scaled(60))
        data = bytearray(sub.buf)
        while len(data.replace(b"PING\r\n", b"")) < expect:
            chunk = sub.sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        got["bytes"] = len(data.replace(b"PING\r\n", b""))

    reader = threading.Thread(target=drain)
    reader.start()
    pub = client(s, "source")

    def publish():
        batch = (b"PUB load 32\r\n" + payload + b"\r\n") * 1000
        for _ in range(nmsgs // 1000):
            pub.send(batch)

    writer = threading.Thread(target=publish)
    writer.start()
    paths = ["/varz", "/connz", "/subsz", "/healthz", "/connz?subs=detail", "/metrics",
             "/subsz?subs=1", "/accountz", "/routez", "/gatewayz"] * 100
    statuses = _raw_requests(p, paths)
    writer.join()
    pub.ping_pong(timeout=60)
    reader.join(timeout=harness.scaled(120))
    assert statuses == [200] * len(paths)
    assert got["bytes"] == expect, "subscriber got %d of %d bytes" % (got["bytes"], expect)
    varz = get_json(p, "/varz")
    assert varz["in_msgs"] == nmsgs and varz["out_msgs"] == nmsgs
    assert varz["http_req_stats"]["/varz"] >= 101
    sub.close()
    pub.close()
