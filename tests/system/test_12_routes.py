"""Cluster routes: natsd clusters, mixed natsd + nats-server 2.9.10 clusters,
gossip (a cluster formed from one seed), a node that restarts and rejoins,
and a fake route peer speaking the route protocol over a raw socket.

Interest crosses routes asynchronously, so tests wait for it with probes
(publish until the message arrives) rather than with sleeps.
"""

import json
import socket
import time

import pytest

from natsd import free_port, scaled
from rawclient import RawClient, ProtocolError

# servers of a cluster stop one after the other at teardown: a route may
# break mid-write and a peer may fail to redial the one that stopped
ROUTE_ERRORS = [r"Error trying to connect to route", r"Error flushing.*(broken pipe|reset)"]

pytestmark = [pytest.mark.spawns, pytest.mark.threaded]


def node_conf(name, routes=(), extra_cluster=""):
    rs = ""
    if routes:
        rs = "routes: [%s]" % ", ".join('"nats-route://127.0.0.1:%d"' % p for p in routes)
    return ("server_name: %s\nlisten: 127.0.0.1:@PORT@\n"
            "cluster {\n  name: C1\n  listen: 127.0.0.1:@PORT_CLUSTER@\n  %s\n  %s\n}\n"
            % (name, rs, extra_cluster))


def start_node(server_factory, name, cport, routes=(), kind="natsd", port=None,
               expect_errors=ROUTE_ERRORS, extra_cluster=""):
    return server_factory(kind, conf=node_conf(name, routes, extra_cluster), name=name,
                          ports={"CLUSTER": cport}, port=port, expect_errors=expect_errors)


class Client(RawClient):
    """A raw client that answers server PINGs and skips async INFOs (tests
    here run for longer than the first ping interval)."""

    def read_line(self, timeout=None):
        while True:
            line = super().read_line(timeout)
            if line == "PING":
                self.send(b"PONG\r\n")
                continue
            if line.startswith("INFO ") and self.info is not None:
                continue
            return line


def client(srv):
    c = Client(srv.port)
    c.handshake(headers=True, protocol=1)
    return c


def wait_until(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def wait_interest(pub, sub, subject, sid, timeout=10.0):
    """Publish probes on subject from pub until sub's subscription sid gets
    one; drain the extra probes. Returns when interest has crossed."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        pub.pub(subject, b"probe")
        pub.ping_pong()
        try:
            m = sub.read_msg(timeout=0.2)
        except ProtocolError:
            continue
        assert m.subject == subject and m.sid == str(sid)
        # extra probes may still be on their way: a PING/PONG round trip on
        # both sides, then drop what arrived
        time.sleep(0.2)
        pub.ping_pong()
        drain(sub)
        return
    raise AssertionError("interest on %s never crossed the cluster" % subject)


def drain(c):
    """Read everything pending up to a PONG."""
    c.send(b"PING\r\n")
    while True:
        line = c.read_line()
        if line == "PONG":
            return
        if line.startswith("MSG ") or line.startswith("HMSG "):
            parts = line.split(" ")
            c.read_bytes(int(parts[-1]) + 2)


def assert_no_msgs(c, wait=0.1):
    """No message arrives within wait (server PINGs are answered)."""
    time.sleep(wait)
    c.send(b"PING\r\n")
    line = c.read_line()
    assert line == "PONG", "unexpected %r" % line


def count_msgs(c, subject):
    """Messages on subject pending on c (up to a PONG)."""
    n = 0
    c.send(b"PING\r\n")
    while True:
        line = c.read_line()
        if line == "PONG":
            return n
        if line.startswith("MSG ") or line.startswith("HMSG "):
            parts = line.split(" ")
            c.read_bytes(int(parts[-1]) + 2)
            if parts[1] == subject:
                n += 1


def check_mesh(nodes):
    """Every node's client receives what every other node's client publishes
    on a per-node subject, each exactly once."""
    clients = [client(n) for n in nodes]
    try:
        for i, c in enumerate(clients):
            c.sub("mesh.%d" % i, 1)
            c.ping_pong()
        for i, c in enumerate(clients):
            for j, p in enumerate(clients):
                if i != j:
                    wait_interest(p, c, "mesh.%d" % i, 1, timeout=20)
        for i, c in enumerate(clients):
            for j, p in enumerate(clients):
                if i != j:
                    p.pub("mesh.%d" % i, b"from %d" % j)
                    p.ping_pong()
                    c.expect_msg("mesh.%d" % i, 1, b"from %d" % j)
            assert_no_msgs(c)
    finally:
        for c in clients:
            c.close()


def check_features(pub_srv, sub_srv, third_srv):
    """Pub/sub, wildcards, queue groups once cluster-wide, request/reply and
    headers between the clients of pub_srv and sub_srv (third_srv holds more
    queue members)."""
    p, s, t = client(pub_srv), client(sub_srv), client(third_srv)
    try:
        s.sub("feat.plain", 1)
        s.sub("feat.*.star", 2)
        s.sub("feat.gt.>", 3)
        s.sub("feat.q", 4, queue="workers")
        t.sub("feat.q", 5, queue="workers")
        s.sub("feat.req", 6)
        s.ping_pong()
        t.ping_pong()
        wait_interest(p, s, "feat.plain", 1)
        wait_interest(p, s, "feat.x.star", 2)
        wait_interest(p, s, "feat.gt.a.b", 3)
        # the queue group: wait until both members are known at the publisher
        wait_until(lambda: _queue_spread(p, s, t), timeout=15, what="queue members")

        p.pub("feat.plain", b"plain")
        p.pub("feat.abc.star", b"star")
        p.pub("feat.gt.1.2.3", b"gt")
        p.ping_pong()
        s.expect_msg("feat.plain", 1, b"plain")
        s.expect_msg("feat.abc.star", 2, b"star")
        s.expect_msg("feat.gt.1.2.3", 3, b"gt")

        # queue: each message once in the whole cluster
        for i in range(40):
            p.pub("feat.q", b"%d" % i)
        p.ping_pong()
        time.sleep(0.3)
        got = count_msgs(s, "feat.q") + count_msgs(t, "feat.q")
        assert got == 40

        # request / reply across the route
        p.sub("_INBOX.r1", 9)
        p.ping_pong()
        wait_interest(s, p, "_INBOX.r1", 9)
        p.pub("feat.req", b"question", reply="_INBOX.r1")
        p.ping_pong()
        m = s.expect_msg("feat.req", 6, b"question", reply="_INBOX.r1")
        s.pub(m.reply, b"answer")
        s.ping_pong()
        p.expect_msg("_INBOX.r1", 9, b"answer")

        # headers
        hdr = b"NATS/1.0\r\nX-Test: yes\r\n\r\n"
        p.hpub("feat.plain", hdr, b"with headers")
        p.ping_pong()
        m = s.read_msg()
        assert m.op == "HMSG" and m.headers == hdr and m.payload == b"with headers"
    finally:
        for c in (p, s, t):
            c.close()


def _queue_spread(p, s, t):
    for i in range(20):
        p.pub("feat.q", b"spread")
    p.ping_pong()
    time.sleep(0.1)
    a, b = count_msgs(s, "feat.q"), count_msgs(t, "feat.q")
    return a > 0 and b > 0 and a + b == 20


# --------------------------------------------------------------------------- natsd clusters


@pytest.mark.threaded
def test_three_node_cluster(server_factory):
    ports = [free_port() for _ in range(3)]
    a = start_node(server_factory, "A", ports[0])
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    c = start_node(server_factory, "C", ports[2], routes=[ports[0], ports[1]])
    check_mesh([a, b, c])
    check_features(a, b, c)
    check_features(c, a, b)


@pytest.mark.threaded
def test_five_nodes_from_one_seed(server_factory):
    ports = [free_port() for _ in range(5)]
    nodes = [start_node(server_factory, "S0", ports[0])]
    for i in range(1, 5):
        nodes.append(start_node(server_factory, "S%d" % i, ports[i], routes=[ports[0]]))
    # every node reaches every other though each only knows the seed
    check_mesh(nodes)


def test_client_info_connect_urls(server_factory):
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0])
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    want = sorted(["127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port])

    def urls():
        c = RawClient(a.port)
        try:
            return sorted(c.read_info().get("connect_urls", []))
        finally:
            c.close()
    wait_until(lambda: urls() == want, what="connect_urls")


def test_route_to_self_and_cluster_name(server_factory):
    p = free_port()
    # a route to our own cluster port is detected and dropped, without error
    a = start_node(server_factory, "A", p, routes=[p])
    c = client(a)
    c.sub("x", 1)
    c.pub("x", b"ok")
    c.expect_msg("x", 1, b"ok")
    c.close()
    wait_until(lambda: "Duplicate Route" in a.log_text(), what="self route detection")


def test_restart_rejoins(server_factory):
    ports = [free_port() for _ in range(3)]
    a = start_node(server_factory, "A", ports[0])
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    c = start_node(server_factory, "C", ports[2], routes=[ports[0]])
    check_mesh([a, b, c])
    ca = client(a)
    ca.sub("keep", 1)
    ca.ping_pong()
    bport = b.port
    b.stop()
    b2 = start_node(server_factory, "B", ports[1], routes=[ports[0]], port=bport)
    cb = client(b2)
    # A's interest is sent to the restarted node again
    wait_interest(cb, ca, "keep", 1, timeout=20)
    check_mesh([a, b2, c])
    ca.close()
    cb.close()


# --------------------------------------------------------------------------- mixed clusters


@pytest.mark.interop
@pytest.mark.threaded
def test_mixed_natsd_seed(server_factory):
    ports = [free_port() for _ in range(4)]
    a = start_node(server_factory, "A", ports[0])
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]], kind="nats-server")
    c = start_node(server_factory, "C", ports[2], routes=[ports[0]], kind="nats-server")
    d = start_node(server_factory, "D", ports[3], routes=[ports[1]])
    check_mesh([a, b, c, d])
    check_features(a, b, d)   # natsd -> nats-server
    check_features(b, a, c)   # nats-server -> natsd
    check_features(d, c, a)


@pytest.mark.interop
def test_mixed_reference_seed(server_factory):
    ports = [free_port() for _ in range(3)]
    a = start_node(server_factory, "A", ports[0], kind="nats-server")
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    c = start_node(server_factory, "C", ports[2], routes=[ports[0]])
    check_mesh([a, b, c])
    check_features(b, c, a)
    check_features(a, b, c)


# --------------------------------------------------------------------------- a fake route peer


class FakeRoute(RawClient):
    """A raw socket on a server's cluster port, speaking the route protocol."""

    def __init__(self, cport, server_id="NFAKEROUTEPEER", cluster="C1", connect=True,
                 user=None, password=None):
        super().__init__(cport)
        self.server_info = self.read_info()
        if not connect:
            return
        body = {"echo": True, "verbose": False, "pedantic": False, "tls_required": False,
                "headers": True, "name": server_id, "cluster": cluster}
        if user is not None:
            body["user"] = user
            body["pass"] = password
        self.send_line("CONNECT " + json.dumps(body, separators=(",", ":")))
        info = {"server_id": server_id, "server_name": server_id, "version": "2.9.10",
                "proto": 1, "host": "127.0.0.1", "port": 1, "headers": True,
                "max_payload": 1048576, "cluster": cluster}
        self.send_line("INFO " + json.dumps(info, separators=(",", ":")))

    def read_route_line(self):
        """The next line that is not PING (answered) nor an RS+ for $SYS
        (the system account's services, test_26_sysacc)."""
        while True:
            line = self.read_line()
            if line == "PING":
                self.send(b"PONG\r\n")
                continue
            if line.startswith("RS+ $SYS ") or line.startswith("RS- $SYS "):
                continue
            return line

    def route_ping(self):
        self.send(b"PING\r\n")
        while True:
            line = self.read_route_line()
            if line == "PONG":
                return
            if line.startswith("RS+") or line.startswith("RS-") or line.startswith("INFO"):
                continue
            raise ProtocolError("unexpected %r" % line)


def cluster_port(srv):
    return srv.ports["CLUSTER"]


def test_fake_peer_interest_and_messages(server_factory):
    a = start_node(server_factory, "A", free_port(),
                   expect_errors=[r'Unknown account "NOPE"'])
    assert a  # natsd only: the reference answers the same, see docs/protocol/route.md §6
    local = client(a)
    local.sub("bar", 1, queue="q1")
    local.sub("plain", 2)
    local.ping_pong()
    f = FakeRoute(cluster_port(a))
    info = f.server_info
    assert info["cluster"] == "C1" and info["port"] == cluster_port(a)
    # our local interest arrives as RS+ lines, queue with its weight
    seen = set()
    while len(seen) < 2:
        line = f.read_route_line()
        if line.startswith("RS+ "):
            seen.add(line)
    assert seen == {"RS+ $G bar q1 1", "RS+ $G plain"}

    # interest from the peer: a local publish becomes one RMSG
    f.send(b"RS+ $G foo\r\nRS+ $G foo.*\r\nRS+ $G work wq 3\r\n")
    f.route_ping()
    local.pub("foo", b"hi")
    local.pub("work", b"job", reply="_INBOX.x")
    local.ping_pong()
    assert f.read_route_line() == "RMSG $G foo 2"
    assert f.read_route_line() == "hi"
    assert f.read_route_line() == "RMSG $G work + _INBOX.x wq 3"
    assert f.read_route_line() == "job"

    # two groups and plain interest on one route: one line naming both groups
    f.send(b"RS+ $G multi\r\nRS+ $G multi g1 1\r\nRS+ $G multi g2 2\r\n")
    f.route_ping()
    local.pub("multi", b"m")
    local.ping_pong()
    parts = f.read_route_line().split(" ")
    assert parts[:4] == ["RMSG", "$G", "multi", "|"] and parts[-1] == "1"
    assert sorted(parts[4:-1]) == ["g1", "g2"]
    assert f.read_route_line() == "m"

    # messages from the peer: queue groups only when named, one member
    f.send(b"RMSG $G bar | q1 3\r\none\r\n")
    f.send(b"RMSG $G bar | qX 3\r\ntwo\r\n")
    f.send(b"RMSG $G bar 5\r\nthree\r\n")
    f.send(b"RMSG $G plain reply.1 4\r\nfour\r\n")
    f.send(b"HMSG $G plain 12 14\r\nNATS/1.0\r\n\r\nhh\r\n")
    f.route_ping()
    local.expect_msg("bar", 1, b"one")
    local.expect_msg("plain", 2, b"four", reply="reply.1")
    m = local.read_msg()
    assert m.op == "HMSG" and m.payload == b"hh"
    assert_no_msgs(local, 0.2)

    # interest for an unknown account: logged, ignored, the route stays
    f.send(b"RS+ NOPE foo\r\n")
    f.route_ping()
    a.wait_log(r'Unknown account "NOPE" for remote subject "foo"')

    # RS- removes the interest
    f.send(b"RS- $G foo\r\n")
    f.route_ping()
    local.pub("foo", b"gone")
    local.ping_pong()
    f.route_ping()
    f.close()
    local.close()


@pytest.mark.parametrize("bad", [
    b"GARBAGE\r\n",
    b"FOO bar\r\n",
    b"RMSG $G foo 2\r\ntoo long payload\r\n",
])
@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_fake_peer_bad_protocol(server_factory, kind, bad):
    a = start_node(server_factory, "A", free_port(), kind=kind, expect_errors=[r"Router parser ERROR"])
    ok = client(a)
    ok.sub("still", 1)
    f = FakeRoute(cluster_port(a))
    f.route_ping()
    f.send(bad)
    rest = f.expect_closed()
    assert b"-ERR 'Unknown Protocol Operation'" in rest
    # the server and its clients are unaffected
    ok.pub("still", b"here")
    ok.expect_msg("still", 1, b"here")
    ok.close()


def test_fake_peer_bad_msg_args(server_factory):
    a = start_node(server_factory, "A", free_port(),
                   expect_errors=[r"processRoutedMsgArgs Bad or Missing Reply Indicator",
                                  r"processRemoteSub Parse Error"])
    f = FakeRoute(cluster_port(a))
    f.route_ping()
    f.send(b"RMSG $G foo x y 2\r\nhi\r\n")
    f.expect_closed()
    f = FakeRoute(cluster_port(a))
    f.route_ping()
    f.send(b"RS+ $G foo q\r\n")
    f.expect_closed()


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_fake_peer_wrong_cluster_name(server_factory, kind):
    a = start_node(server_factory, "A", free_port(), kind=kind,
                   expect_errors=[r'Rejecting connection, cluster name "OTHER" does not match "C1"',
                                  r"cluster name from remote server conflicts"])
    f = FakeRoute(cluster_port(a), cluster="OTHER")
    rest = f.expect_closed()
    assert b"-ERR 'Rejecting connection, cluster name \"OTHER\" does not match \"C1\"'" in rest


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_fake_peer_client_on_route_port(server_factory, kind):
    a = start_node(server_factory, "A", free_port(), kind=kind,
                   expect_errors=[r"attempted to connect to route port"])
    f = FakeRoute(cluster_port(a), connect=False)
    f.send_connect(lang="python", version="1.0")
    rest = f.expect_closed()
    assert b"-ERR 'attempted to connect to route port'" in rest


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_fake_peer_credentials(server_factory, kind):
    extra = "authorization { user: ruser, password: rpass }"
    a = start_node(server_factory, "A", free_port(), kind=kind, extra_cluster=extra,
                   expect_errors=[r"authentication error", r"Authorization Violation"])
    f = FakeRoute(cluster_port(a), user="ruser", password="wrong")
    rest = f.expect_closed()
    assert b"-ERR 'Authorization Violation'" in rest
    assert FakeRoute(cluster_port(a), connect=False).server_info.get("auth_required") is True
    g = FakeRoute(cluster_port(a), user="ruser", password="rpass")
    g.route_ping()
    g.close()


@pytest.mark.threaded
def test_cluster_with_credentials(server_factory):
    ports = [free_port() for _ in range(3)]
    extra = "authorization { user: ruser, password: rpass }"
    a = start_node(server_factory, "A", ports[0], extra_cluster=extra)
    rts = ["nats-route://ruser:rpass@127.0.0.1:%d" % ports[0]]
    conf_b = node_conf("B", (), extra).replace("  \n", '  routes: ["%s"]\n' % rts[0], 1)
    b = server_factory("natsd", conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                       expect_errors=ROUTE_ERRORS)
    conf_c = node_conf("C", (), extra).replace("  \n", '  routes: ["%s"]\n' % rts[0], 1)
    c = server_factory("natsd", conf=conf_c, name="C", ports={"CLUSTER": ports[2]},
                       expect_errors=ROUTE_ERRORS)
    check_mesh([a, b, c])


# --------------------------------------------------------------------------- monitoring


def _routez(srv, query=""):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["HTTP"], timeout=scaled(5))
    try:
        conn.request("GET", "/routez" + query)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _monitored_pair(server_factory, kind, two):
    """A and B (routing to A) with monitoring; a client of B subscribes to
    rz.one and, in queue q, to two; returns A, B, a client of A that has seen
    rz.one's interest, the client of B and A's cluster port."""
    ports = [free_port() for _ in range(2)]
    mon = '\nhttp: "127.0.0.1:@PORT_HTTP@"\n'
    a = server_factory(kind, conf=node_conf("A") + mon, name="A",
                       ports={"CLUSTER": ports[0]}, expect_errors=ROUTE_ERRORS)
    b = server_factory(kind, conf=node_conf("B", [ports[0]]) + mon, name="B",
                       ports={"CLUSTER": ports[1]}, expect_errors=ROUTE_ERRORS)
    cb = client(b)
    cb.sub("rz.one", 1)
    cb.sub(two, 2, queue="q")
    cb.ping_pong()
    ca = client(a)
    wait_interest(ca, cb, "rz.one", 1)
    return a, b, ca, cb, ports[0]


def test_routez(server_factory):
    a, b, ca, cb, a_port = _monitored_pair(server_factory, "natsd", "rz.two")

    def counted():
        # B's two, and B's system account services (test_26_sysacc)
        rz = _routez(a, "?subs=1")
        if rz["num_routes"] != 1:
            return False
        r = rz["routes"][0]
        subs = r.get("subscriptions_list") or []
        nsys = len([x for x in subs if x.startswith("$SYS.")])
        return nsys > 0 and r["subscriptions"] == 2 + nsys == len(subs)
    wait_until(counted, what="routez on A")
    ra, rb = _routez(a), _routez(b)
    r = ra["routes"][0]
    assert r["did_solicit"] is False and r["is_configured"] is False
    assert r["ip"] == "127.0.0.1" and r["out_msgs"] >= 1
    assert rb["num_routes"] == 1
    r = rb["routes"][0]
    assert r["did_solicit"] is True and r["is_configured"] is True
    assert r["port"] == a_port and r["remote_id"] == ra["server_id"]
    ca.close()
    cb.close()


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_routez_subscriptions(server_factory, kind):
    """/routez?subs=1 lists the subjects of a route's remote interest and
    subs=detail each entry with its queue, the peer's key as sid and the
    route's id as cid; plain /routez lists none."""
    a, b, ca, cb, _ = _monitored_pair(server_factory, kind, "rz.*.two")

    def mine(route):
        # nats-server's own $SYS interest crosses the route too
        return [x for x in route.get("subscriptions_list") or [] if x.startswith("rz.")]
    wait_until(lambda: sorted(mine(_routez(a, "?subs=1")["routes"][0])) == ["rz.*.two", "rz.one"],
               what="both subscriptions in A's routez")
    assert "subscriptions_list" not in _routez(a)["routes"][0]
    r = _routez(a, "?subs=detail")["routes"][0]
    assert "subscriptions_list" not in r
    got = sorted((d["subject"], d.get("qgroup"), d["sid"], d["cid"])
                 for d in r["subscriptions_list_detail"] if d["subject"].startswith("rz."))
    assert got == [("rz.*.two", "q", "$G rz.*.two q", r["rid"]),
                   ("rz.one", None, "$G rz.one", r["rid"])]
    assert all("account" not in d for d in r["subscriptions_list_detail"])

    # msgs: the messages routed on each of the route's subscriptions (the
    # interest probes above went on rz.one already)
    def msgs():
        d = _routez(a, "?subs=detail")["routes"][0]["subscriptions_list_detail"]
        return {x["subject"]: x["msgs"] for x in d if x["subject"].startswith("rz.")}
    before = msgs()
    for _ in range(3):
        ca.pub("rz.one", b"x")
    for _ in range(2):
        ca.pub("rz.a.two", b"y")
    ca.ping_pong()
    n = 0
    while n < 5:
        n += len([cb.read_msg()])
    want = {"rz.one": before["rz.one"] + 3, "rz.*.two": before["rz.*.two"] + 2}
    wait_until(lambda: msgs() == want, what="routez msgs %r (last %r)" % (want, msgs()))
    ca.close()
    cb.close()


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_routez_cluster_permissions(server_factory, kind):
    """The cluster's import/export permissions head /routez, and each route
    shows those its peer advertised, as Go prints a SubjectPermission (empty
    lists and unset directions left out)."""
    mon = '\nhttp: "127.0.0.1:@PORT_HTTP@"\n'
    perms = ('permissions { import: ["imp.>", "x"], '
             'export: { allow: ["exp.>"], deny: ["exp.secret"] } }')
    pa = free_port()
    a = server_factory(kind, conf=node_conf("A", extra_cluster=perms) + mon, name="A",
                       ports={"CLUSTER": pa}, expect_errors=ROUTE_ERRORS)
    rz = _routez(a)
    assert rz["import"] == {"allow": ["imp.>", "x"]}
    assert rz["export"] == {"allow": ["exp.>"], "deny": ["exp.secret"]}
    assert list(rz)[:4] == ["server_id", "now", "import", "export"]
    b = server_factory(kind, conf=node_conf("B", [pa], extra_cluster='permissions { export: ["e"] }')
                       + mon, name="B", ports={"CLUSTER": free_port()},
                       expect_errors=ROUTE_ERRORS)
    rz = _routez(b)
    assert "import" not in rz and rz["export"] == {"allow": ["e"]}
    wait_until(lambda: _routez(a)["num_routes"] == 1 and _routez(b)["num_routes"] == 1,
               what="the route A-B")
    ra, rb = _routez(a)["routes"][0], _routez(b)["routes"][0]
    assert "import" not in ra and ra["export"] == {"allow": ["e"]}
    assert rb["import"] == {"allow": ["imp.>", "x"]}
    assert rb["export"] == {"allow": ["exp.>"], "deny": ["exp.secret"]}
    keys = list(rb)
    assert keys.index("idle") < keys.index("import") < keys.index("export") < \
        keys.index("pending_size")
    c = server_factory(kind, conf=node_conf("C") + mon, name="C",
                       ports={"CLUSTER": free_port()}, expect_errors=ROUTE_ERRORS)
    rz = _routez(c)
    assert "import" not in rz and "export" not in rz


@pytest.mark.threaded
def test_async_info_connect_urls(server_factory):
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0])
    # clients spread over the workers: each one must get the async INFO
    clients = []
    for _ in range(6):
        c = RawClient(a.port)
        c.handshake(protocol=1)
        clients.append(c)
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    want = sorted(["127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port])
    for c in clients:
        while True:
            line = c.read_line(timeout=10)
            if line == "PING":
                c.send(b"PONG\r\n")
                continue
            assert line.startswith("INFO ")
            if sorted(json.loads(line[5:]).get("connect_urls", [])) == want:
                break
        c.close()


# --------------------------------------------------------------------------- refused routes


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_refused_route_is_retried(server_factory, kind):
    """A solicited route refused for its cluster name or credentials: the
    acceptor says why, the solicitor logs the -ERR, closes, and tries again
    (explicit routes are retried forever); nothing else is disturbed."""
    ports = [free_port() for _ in range(3)]
    extra = "authorization { user: ruser, password: rpass }"
    a = start_node(server_factory, "A", ports[0], extra_cluster=extra,
                   expect_errors=[r"authentication error", r"Authorization Violation",
                                  r'Rejecting connection, cluster name "C2" does not match "C1"',
                                  r"cluster name from remote server conflicts"])
    # wrong password (kind solicits)
    conf_b = node_conf("B").replace(
        "  \n", '  routes: ["nats-route://ruser:bad@127.0.0.1:%d"]\n' % ports[0], 1)
    server_factory(kind, conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                   expect_errors=ROUTE_ERRORS + [r"Authorization Violation"])
    # wrong cluster name
    conf_c = node_conf("C").replace("name: C1", "name: C2").replace(
        "  \n", '  routes: ["nats-route://ruser:rpass@127.0.0.1:%d"]\n' % ports[0], 1)
    server_factory(kind, conf=conf_c, name="C", ports={"CLUSTER": ports[2]},
                   expect_errors=ROUTE_ERRORS + [r"Rejecting connection, cluster name"])
    wait_until(lambda: a.log_text().count("authentication error") >= 2, timeout=15,
               what="retried route with bad credentials")
    wait_until(lambda: a.log_text().count('cluster name "C2" does not match "C1"') >= 2,
               timeout=15, what="retried route with the wrong cluster name")
    c = client(a)
    c.sub("alive", 1)
    c.pub("alive", b"yes")
    c.expect_msg("alive", 1, b"yes")
    c.close()


def test_cluster_from_flags(server_factory):
    pa, pb = free_port(), free_port()
    a = server_factory("natsd", name="A", args=["--cluster", "nats://127.0.0.1:%d" % pa,
                                                "--cluster_name", "CF", "-n", "A"],
                       expect_errors=ROUTE_ERRORS)
    b = server_factory("natsd", name="B", args=["--cluster", "nats://127.0.0.1:%d" % pb,
                                                "--cluster_name", "CF", "-n", "B",
                                                "--routes", "nats://127.0.0.1:%d" % pa],
                       expect_errors=ROUTE_ERRORS)
    check_mesh([a, b])
    assert RawClient(a.port).read_info()["cluster"] == "CF"


@pytest.mark.parametrize("kinds", [("natsd", "natsd"),
                                   pytest.param(("nats-server", "natsd"), marks=pytest.mark.interop),
                                   pytest.param(("natsd", "nats-server"), marks=pytest.mark.interop)])
def test_dynamic_cluster_names_converge(server_factory, kinds):
    """Without cluster names both servers generate one and the cluster agrees
    on one of them (the greater wins). The first CONNECT may carry the name
    the solicitor is about to give up: refused once, as nats-server does."""
    ports = [free_port() for _ in range(2)]
    errs = ROUTE_ERRORS + [r"Rejecting connection, cluster name",
                           r"cluster name from remote server conflicts"]

    def conf(name, routes):
        rs = ('routes: ["nats-route://127.0.0.1:%d"]' % routes[0]) if routes else ""
        return ("server_name: %s\nlisten: 127.0.0.1:@PORT@\n"
                "cluster { listen: 127.0.0.1:@PORT_CLUSTER@\n %s }\n" % (name, rs))
    a = server_factory(kinds[0], conf=conf("A", []), name="A", ports={"CLUSTER": ports[0]},
                       expect_errors=errs)
    b = server_factory(kinds[1], conf=conf("B", [ports[0]]), name="B",
                       ports={"CLUSTER": ports[1]}, expect_errors=errs)
    check_mesh([a, b])
    wait_until(lambda: RawClient(a.port).read_info()["cluster"] ==
               RawClient(b.port).read_info()["cluster"], what="one cluster name")


# --------------------------------------------------------------------------- route INFO


def _route_info(srv):
    c = RawClient(srv.ports["CLUSTER"])
    try:
        line = c.read_line()
    finally:
        c.close()
    assert line.startswith("INFO {") and line.endswith("} ")  # nats-server's trailing space
    return json.loads(line[5:])


@pytest.mark.interop
@pytest.mark.parametrize("extra", [
    "",
    "advertise: \"127.0.0.1:4999\"",
    "no_advertise: true",
    "authorization { user: ruser, password: rpass }",
])
def test_route_info_matches_reference(server_factory, extra):
    infos = []
    for kind in ("nats-server", "natsd"):
        s = start_node(server_factory, "X" + kind, free_port(), kind=kind, extra_cluster=extra)
        infos.append(_route_info(s))
        s.stop()
    ref, mine = infos
    # natsd implements no leafnode origin cluster (LS+/LMSG): no lnoc
    ref.pop("lnoc", None)
    assert list(ref.keys()) == list(mine.keys())
    for k in ("version", "proto", "host", "headers", "auth_required", "max_payload", "cluster",
              "ip"):
        assert ref.get(k) == mine.get(k), k
    if extra.startswith("advertise"):
        assert mine["port"] == 4999 and mine["ip"] == "nats-route://127.0.0.1:4999/"
    if "no_advertise" in extra:
        assert "connect_urls" not in mine


def test_no_advertise_keeps_client_urls(server_factory):
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0], extra_cluster="no_advertise: true")
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]])
    check_mesh([a, b])
    # A neither tells B its URL nor lists B's
    assert "connect_urls" not in RawClient(a.port).read_info()
    assert RawClient(b.port).read_info().get("connect_urls") in (None, ["127.0.0.1:%d" % b.port])


@pytest.mark.interop
def test_peer_lame_duck_removes_its_urls(server_factory):
    import signal
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0])
    conf_b = node_conf("B", [ports[0]]) + "lame_duck_grace_period: 5s\nlame_duck_duration: 30s\n"
    b = server_factory("nats-server", conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                       expect_errors=ROUTE_ERRORS)
    with_b = sorted(["127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port])

    def urls():
        c = RawClient(a.port)
        try:
            return sorted(c.read_info().get("connect_urls", []))
        finally:
            c.close()
    wait_until(lambda: urls() == with_b, what="B's URL at A")
    c = RawClient(a.port)
    c.handshake(protocol=1)
    keep = client(b)  # B stays in lame duck mode while it has clients
    b.send_signal(signal.SIGUSR2)
    while True:
        line = c.read_line(timeout=10)
        if line == "PING":
            c.send(b"PONG\r\n")
            continue
        assert line.startswith("INFO ")
        if "127.0.0.1:%d" % b.port not in json.loads(line[5:]).get("connect_urls", []):
            break
    # the route stays: B is draining, not gone
    assert "Router connection closed" not in b.log_text()
    c.close()
    keep.close()


# --------------------------------------------------------------------------- TLS routes
#
# cluster { tls {} }: TLS before any protocol byte on accepted and solicited
# routes alike, the acceptor's INFO inside TLS, and the peer's certificate
# always required and verified (nats-server forces it for clusters).

TLS_ROUTE_ERRORS = ROUTE_ERRORS + [r"TLS route handshake error"]


@pytest.fixture(scope="module")
def route_certs(tmp_path_factory):
    """make_test_certs' CA and server.pem (SANs localhost and 127.0.0.1,
    server and client auth), plus other-ca.pem and other.pem: a certificate
    with the same names issued by an unrelated CA."""
    import subprocess
    from natsd import make_test_certs
    d = str(tmp_path_factory.mktemp("route-certs"))
    make_test_certs(d)

    def openssl(*args):
        p = subprocess.run(["openssl"] + list(args), cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
            "/CN=other-ca", "-keyout", "other-ca-key.pem", "-out", "other-ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout",
            "other-key.pem", "-out", "other.csr")
    openssl("x509", "-req", "-in", "other.csr", "-CA", "other-ca.pem", "-CAkey",
            "other-ca-key.pem", "-CAcreateserial", "-days", "30", "-extfile", "server.ext",
            "-out", "other.pem")
    return d


def route_tls(certs, cert="server", ca="ca"):
    return ("tls {\n    cert_file: \"%s/%s.pem\"\n    key_file: \"%s/%s-key.pem\"\n"
            "    ca_file: \"%s/%s.pem\"\n    timeout: 5\n  }" % (certs, cert, certs, cert, certs, ca))


def start_tls_node(server_factory, name, cport, certs, routes=(), kind="natsd", cert="server",
                   ca="ca", tls=True, expect_errors=TLS_ROUTE_ERRORS):
    conf = node_conf(name, routes, route_tls(certs, cert, ca) if tls else "") + "debug: true\n"
    return server_factory(kind, conf=conf, name=name, ports={"CLUSTER": cport},
                          expect_errors=expect_errors)


@pytest.mark.threaded
def test_tls_cluster(server_factory, route_certs):
    ports = [free_port() for _ in range(3)]
    a = start_tls_node(server_factory, "A", ports[0], route_certs)
    b = start_tls_node(server_factory, "B", ports[1], route_certs, routes=[ports[0]])
    # C learns of B by gossip: an implicit route, over TLS as well
    c = start_tls_node(server_factory, "C", ports[2], route_certs, routes=[ports[0]])
    check_mesh([a, b, c])
    check_features(a, b, c)
    assert "Starting TLS route server handshake" in a.log_text()
    for srv in (b, c):
        assert "Starting TLS route client handshake" in srv.log_text()
    for srv in (a, b, c):
        log = srv.log_text()
        assert "TLS version 1.3, cipher suite TLS_AES_128_GCM_SHA256" in log
        assert "TLS route handshake error" not in log


@pytest.mark.interop
@pytest.mark.threaded
def test_tls_cluster_mixed(server_factory, route_certs):
    ports = [free_port() for _ in range(3)]
    a = start_tls_node(server_factory, "A", ports[0], route_certs)
    # nats-server dials natsd, natsd dials nats-server
    b = start_tls_node(server_factory, "B", ports[1], route_certs, routes=[ports[0]],
                       kind="nats-server")
    c = start_tls_node(server_factory, "C", ports[2], route_certs, routes=[ports[1]])
    check_mesh([a, b, c])
    check_features(a, b, c)   # natsd -> nats-server
    check_features(b, a, c)   # nats-server -> natsd
    check_features(c, b, a)
    for srv in (a, b, c):
        assert "TLS route handshake error" not in srv.log_text()


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_tls_route_info_inside_tls(server_factory, route_certs, kind):
    import ssl
    a = start_tls_node(server_factory, "A", free_port(), route_certs, kind=kind)
    cport = a.ports["CLUSTER"]
    ctx = ssl.create_default_context(cafile=route_certs + "/ca.pem")
    ctx.load_cert_chain(route_certs + "/server.pem", route_certs + "/server-key.pem")
    # nothing in clear: the first bytes from the server are a TLS record
    with socket.create_connection(("127.0.0.1", cport), timeout=scaled(5)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                assert chunk, "closed before INFO"
                buf += chunk
    line = buf.split(b"\r\n")[0].decode()
    assert line.startswith("INFO ")
    info = json.loads(line[5:])
    assert info["tls_required"] is True and info["tls_verify"] is True
    # no client certificate: refused, whatever verify says
    nocert = ssl.create_default_context(cafile=route_certs + "/ca.pem")
    with socket.create_connection(("127.0.0.1", cport), timeout=scaled(5)) as raw:
        try:
            with nocert.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.recv(4096) == b""
        except (ssl.SSLError, ConnectionError):
            pass
    wait_until(lambda: "TLS route handshake error: tls: client didn't provide a certificate"
               in a.log_text(), what="the refusal")


@pytest.mark.interop
def test_tls_cluster_refuses_plaintext_peers(server_factory, route_certs):
    errs = TLS_ROUTE_ERRORS + [r"Router parser ERROR"]
    ports = [free_port() for _ in range(3)]
    p = start_tls_node(server_factory, "P", ports[0], route_certs, tls=False, expect_errors=errs)
    # A (TLS) dials plaintext P; plaintext Q (nats-server) dials A
    a = start_tls_node(server_factory, "A", ports[1], route_certs, routes=[ports[0]])
    q = start_tls_node(server_factory, "Q", ports[2], route_certs, routes=[ports[1]],
                       kind="nats-server", tls=False, expect_errors=errs)
    first = "TLS route handshake error: tls: first record does not look like a TLS handshake"

    def refused_both_ways():
        lines = [l for l in a.log_text().splitlines() if first in l]
        dialled = [l for l in lines if "127.0.0.1:%d - rid:" % ports[0] in l]
        return dialled and len(dialled) < len(lines)
    wait_until(refused_both_ways, timeout=15, what="plaintext peers refused")
    assert "Registering remote route" not in a.log_text()
    # A stays up and serves its clients
    c = client(a)
    c.sub("up", 1)
    c.pub("up", b"yes")
    c.expect_msg("up", 1, b"yes")
    c.close()
    for srv in (p, q):
        assert "Registering remote route" not in srv.log_text()


@pytest.mark.interop
def test_tls_cluster_refuses_other_ca(server_factory, route_certs):
    ports = [free_port() for _ in range(5)]
    a = start_tls_node(server_factory, "A", ports[0], route_certs)
    # B presents a certificate of another CA (and trusts A's): A refuses it
    b = start_tls_node(server_factory, "B", ports[1], route_certs, routes=[ports[0]],
                       cert="other")
    # so does nats-server's E, which (as Go does) sends no certificate at all
    # when its own is not from a CA the server asked for
    e = start_tls_node(server_factory, "E", ports[2], route_certs, routes=[ports[0]],
                       kind="nats-server", cert="other",
                       expect_errors=TLS_ROUTE_ERRORS + [r"Error flushing"])
    # C lives entirely in the other CA: it refuses A's certificate itself
    c = start_tls_node(server_factory, "C", ports[3], route_certs, routes=[ports[0]],
                       cert="other", ca="other-ca")
    head = "TLS route handshake error: "
    wait_until(lambda: head + "tls: failed to verify client certificate: x509: certificate "
               "signed by unknown authority" in a.log_text(), timeout=15,
               what="B's certificate refused")
    wait_until(lambda: head + "tls: client didn't provide a certificate" in a.log_text(),
               timeout=15, what="E without a certificate refused")
    wait_until(lambda: head + "x509: certificate signed by unknown authority" in c.log_text(),
               timeout=15, what="A's certificate refused by C")
    wait_until(lambda: head + "remote error: tls: unknown certificate authority" in a.log_text(),
               timeout=15, what="C's alert at A")
    for srv in (a, b, c, e):
        assert "Registering remote route" not in srv.log_text()
    # A stays up: a good peer still joins it and messages cross
    d = start_tls_node(server_factory, "D", ports[4], route_certs, routes=[ports[0]])
    check_mesh([a, d])


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_tls_cluster_verify_and_map(server_factory, route_certs, kind):
    """cluster tls verify_and_map: a route's certificate must name the
    authorization user; the CONNECT's credentials are not looked at. B's
    certificate has the SAN localhost, E's only the subject
    CN=natsd-test-client."""
    ports = [free_port() for _ in range(3)]
    tls_map = route_tls(route_certs).replace("timeout: 5", "timeout: 5\n    verify_and_map: true")
    auth = 'authorization { user: "localhost", password: unused }'
    conf = node_conf("A", (), tls_map + "\n  " + auth) + 'debug: true\nhttp: "127.0.0.1:@PORT_HTTP@"\n'
    a = server_factory(kind, conf=conf,
                       name="A", ports={"CLUSTER": ports[0]},
                       expect_errors=TLS_ROUTE_ERRORS + [r"authentication error"])
    b = start_tls_node(server_factory, "B", ports[1], route_certs, routes=[ports[0]])
    check_mesh([a, b])
    e = start_tls_node(server_factory, "E", ports[2], route_certs, routes=[ports[0]],
                       cert="client", expect_errors=TLS_ROUTE_ERRORS + [r"Authorization Violation"])
    wait_until(lambda: "authentication error" in a.log_text(), timeout=15,
               what="E's certificate refused")
    wait_until(lambda: "Authorization Violation" in e.log_text(), timeout=15,
               what="E told why")
    check_mesh([a, b])
    assert _routez(a)["num_routes"] == 1  # B only


# --------------------------------------------------------------------------- route permissions
#
# cluster { permissions { import, export } }: import filters the interest a
# server sends to its routes (so the messages it receives), export the
# interest it accepts from them (so the messages it sends). Messages are not
# checked one by one, except those on an export deny subject inside a
# wildcard interest the peer sent.

PERMS = ('permissions { import: { allow: ["imp.>", "both.>"] }, '
         'export: { allow: ["exp.>", "both.>"], deny: ["exp.secret"] } }')
AUTH_PERMS = ('authorization { user: ruser, password: rpass, permissions { '
              'import: { allow: ["imp.>", "both.>"] }, '
              'export: { allow: ["exp.>", "both.>"], deny: ["exp.secret"] } } }')
PERM_WARN = [r"deprecated"]


def collect_rs(f):
    """PING the server from fake route f; the RS+/RS- lines before the PONG."""
    f.send(b"PING\r\n")
    got = []
    while True:
        line = f.read_route_line()
        if line == "PONG":
            return got
        if line.startswith("RS+ ") or line.startswith("RS- "):
            got.append(line)


@pytest.mark.interop
@pytest.mark.parametrize("extra", [PERMS, AUTH_PERMS,
                                   'permissions { export: "exp.>" }',
                                   'permissions { import: { deny: "x" } }'])
def test_route_info_permissions_match_reference(server_factory, extra):
    infos = []
    for kind in ("nats-server", "natsd"):
        s = start_node(server_factory, "P" + kind, free_port(), kind=kind, extra_cluster=extra)
        infos.append(_route_info(s))
        s.stop()
    ref, mine = infos
    ref.pop("lnoc", None)
    assert list(ref.keys()) == list(mine.keys())
    for k in ("import", "export"):
        assert ref.get(k) == mine.get(k), k


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_route_permissions_with_fake_peer(server_factory, kind):
    a = start_node(server_factory, "A", free_port(), kind=kind, extra_cluster=PERMS)
    local = client(a)
    for i, subj in enumerate(["imp.a", "other.a", "exp.a", "both.a"], 1):
        local.sub(subj, i)
    local.ping_pong()
    f = FakeRoute(cluster_port(a))
    assert f.server_info["import"] == {"allow": ["imp.>", "both.>"]}
    # import: only the interest the cluster imports is sent
    rs = set()
    wait_until(lambda: rs.update(collect_rs(f)) or len(rs) >= 2, what="RS+ from A")
    assert rs == {"RS+ $G imp.a", "RS+ $G both.a"}
    local.sub("imp.b", 10)
    local.sub("other.b", 11)
    local.ping_pong()
    wait_until(lambda: rs.update(collect_rs(f)) or "RS+ $G imp.b" in rs, what="RS+ imp.b")
    assert "RS+ $G other.b" not in rs

    # export: the peer's interest is taken only where the cluster exports
    f.send(b"RS+ $G exp.a\r\nRS+ $G other.x\r\nRS+ $G exp.secret\r\nRS+ $G exp.*\r\n"
           b"RS+ $G both.q wq 1\r\n")
    f.route_ping()
    for subj in ("other.x", "exp.secret", "exp.a", "exp.b", "both.q"):
        local.pub(subj, subj.encode())
    drain(local)  # its own exp.a
    got = []
    while len(got) < 3:
        line = f.read_route_line()
        if line.startswith("RMSG "):
            got.append((line.split(" ")[2], f.read_route_line()))
    # exp.secret is denied even under the exp.* interest
    assert got == [("exp.a", "exp.a"), ("exp.b", "exp.b"), ("both.q", "both.q")]
    f.route_ping()

    # messages from the peer are delivered whatever the import says
    f.send(b"RMSG $G other.a 2\r\nhi\r\nRMSG $G imp.a 2\r\nok\r\n")
    f.route_ping()
    local.expect_msg("other.a", 2, b"hi")
    local.expect_msg("imp.a", 1, b"ok")
    f.close()
    local.close()


@pytest.mark.parametrize("kinds", [("natsd", "natsd"),
                                   pytest.param(("natsd", "nats-server"), marks=pytest.mark.interop),
                                   pytest.param(("nats-server", "natsd"), marks=pytest.mark.interop)])
@pytest.mark.parametrize("form", ["permissions", "authorization"])
def test_route_permissions_in_a_cluster(server_factory, kinds, form):
    """A has the permissions, B none: B's clients reach A's only on imported
    subjects, A's clients reach B's only on exported ones."""
    ports = [free_port() for _ in range(2)]
    extra = PERMS if form == "permissions" else AUTH_PERMS
    a = start_node(server_factory, "A", ports[0], kind=kinds[0], extra_cluster=extra)
    if form == "permissions":
        b = start_node(server_factory, "B", ports[1], routes=[ports[0]], kind=kinds[1])
    else:
        conf_b = node_conf("B", (), "authorization { user: ruser, password: rpass }").replace(
            "  \n", '  routes: ["nats-route://ruser:rpass@127.0.0.1:%d"]\n' % ports[0], 1)
        b = server_factory(kinds[1], conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                           expect_errors=ROUTE_ERRORS)
    ca, cb = client(a), client(b)
    try:
        # B -> A: A imports imp.> only
        ca.sub("imp.1", 1)
        ca.sub("zzz.1", 2)
        ca.ping_pong()
        wait_interest(cb, ca, "imp.1", 1, timeout=20)
        cb.pub("zzz.1", b"blocked")
        cb.pub("imp.1", b"allowed")
        cb.ping_pong()
        # one route: had zzz.1 gone through, it would have come first
        ca.expect_msg("imp.1", 1, b"allowed")
        # A -> B: A exports exp.> (not exp.secret)
        cb.sub("exp.1", 3)
        cb.sub("zzz.2", 4)
        cb.sub("exp.secret", 5)
        cb.ping_pong()
        wait_interest(ca, cb, "exp.1", 3, timeout=20)
        ca.pub("zzz.2", b"blocked")
        ca.pub("exp.secret", b"blocked")
        ca.pub("exp.1", b"allowed")
        ca.ping_pong()
        cb.expect_msg("exp.1", 3, b"allowed")
        assert_no_msgs(cb, 0.2)
        assert_no_msgs(ca, 0.2)
    finally:
        ca.close()
        cb.close()


@pytest.mark.interop
def test_route_permissions_reloaded_by_a_reference_peer(server_factory):
    """nats-server B reloads its cluster permissions and sends a new INFO:
    natsd A sends again the interest B now exports (updateRemoteRoutePerms)."""
    import signal
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0])
    deny = 'permissions { export: { deny: ["x.>"] } }'
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]], kind="nats-server",
                   extra_cluster=deny)
    ca, cb = client(a), client(b)
    try:
        ca.sub("x.1", 1)
        ca.sub("y.1", 2)
        ca.ping_pong()
        wait_interest(cb, ca, "y.1", 2, timeout=20)
        cb.pub("x.1", b"before")
        cb.pub("y.1", b"mark")
        cb.ping_pong()
        ca.expect_msg("y.1", 2, b"mark")
        with open(b.conf_path) as f:
            text = f.read()
        with open(b.conf_path, "w") as f:
            f.write(text.replace(deny, ""))
        b.send_signal(signal.SIGHUP)
        wait_interest(cb, ca, "x.1", 1, timeout=20)
    finally:
        ca.close()
        cb.close()


# --------------------------------------------------------------------------- lame duck mode


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_lame_duck_info_to_routes(server_factory, kind):
    """SIGUSR2 with clients connected: every route gets the route INFO again
    with "ldm":true (no nonce); the routes stay until the server stops at
    the end of lame duck mode, then close with it."""
    import signal
    conf = node_conf("A") + "lame_duck_grace_period: 1s\nlame_duck_duration: 30s\n"
    a = server_factory(kind, conf=conf, name="A", ports={"CLUSTER": free_port()},
                       expect_errors=ROUTE_ERRORS)
    # the first INFO, read by a connection that never registers as a route:
    # one that did, under the same server_id as f, could still be in the
    # server's table when f's CONNECT comes (nats-server then closes f as a
    # "Duplicate Route")
    peek = FakeRoute(cluster_port(a), connect=False)
    first = peek.server_info
    peek.close()
    f = FakeRoute(cluster_port(a))
    f.route_ping()
    keep = client(a)
    a.send_signal(signal.SIGUSR2)
    while True:
        line = f.read_route_line()
        if line.startswith("INFO "):
            break
    assert line.endswith("} ")
    info = json.loads(line[5:])
    assert info["ldm"] is True
    assert "nonce" not in info and "nonce" in first
    first.pop("nonce")
    info.pop("ldm")
    assert info == first
    # the server stops at the end of lame duck mode, the route with it
    f.expect_closed(timeout=scaled(30))
    keep.close()
    assert a.proc.wait(timeout=scaled(30)) == 0
    a.stopped = True  # it stopped on its own, as it should
    assert "Server Shutdown" in a.log_text()


@pytest.mark.parametrize("peer", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_lame_duck_natsd_urls_leave_peers(server_factory, peer):
    import signal
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0], kind=peer)
    conf_b = node_conf("B", [ports[0]]) + "lame_duck_grace_period: 5s\nlame_duck_duration: 30s\n"
    b = server_factory("natsd", conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                       expect_errors=ROUTE_ERRORS)
    with_b = sorted(["127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port])

    def urls(srv):
        c = RawClient(srv.port)
        try:
            return sorted(c.read_info().get("connect_urls", []))
        finally:
            c.close()
    wait_until(lambda: urls(a) == with_b, what="B's URL at A")
    c = RawClient(a.port)
    c.handshake(protocol=1)
    kb = RawClient(b.port)
    kb.handshake(protocol=1)  # B stays in lame duck mode while it has clients
    b.send_signal(signal.SIGUSR2)
    # B's own clients: an INFO with ldm and without B's own URL
    while True:
        line = kb.read_line(timeout=10)
        if line.startswith("INFO "):
            ldm = json.loads(line[5:])
            break
        if line == "PING":
            kb.send(b"PONG\r\n")
    assert ldm.get("ldm") is True
    assert ldm.get("connect_urls") == ["127.0.0.1:%d" % a.port]
    # A's clients: B's URL goes
    while True:
        line = c.read_line(timeout=10)
        if line == "PING":
            c.send(b"PONG\r\n")
            continue
        assert line.startswith("INFO ")
        if "127.0.0.1:%d" % b.port not in json.loads(line[5:]).get("connect_urls", []):
            break
    assert "Router connection closed" not in a.log_text()
    c.close()
    kb.close()


# --------------------------------------------------------------------------- max_payload


@pytest.mark.parametrize("kinds", [("natsd", "natsd"),
                                   pytest.param(("natsd", "nats-server"), marks=pytest.mark.interop),
                                   pytest.param(("nats-server", "natsd"), marks=pytest.mark.interop)])
def test_routed_message_over_receivers_max_payload(server_factory, kinds):
    """max_payload limits what clients publish, not what routes carry: a
    message published under A's larger limit reaches B's subscriber."""
    ports = [free_port() for _ in range(2)]
    conf_a = node_conf("A") + "max_payload: 4MB\n"
    a = server_factory(kinds[0], conf=conf_a, name="A", ports={"CLUSTER": ports[0]},
                       expect_errors=ROUTE_ERRORS)
    b = start_node(server_factory, "B", ports[1], routes=[ports[0]], kind=kinds[1])
    assert RawClient(b.port).read_info()["max_payload"] == 1048576
    ca, cb = client(a), client(b)
    try:
        cb.sub("big", 1)
        cb.ping_pong()
        wait_interest(ca, cb, "big", 1, timeout=20)
        body = b"x" * (3 * 1024 * 1024)
        ca.pub("big", body)
        ca.ping_pong()
        m = cb.read_msg(timeout=scaled(10))
        assert m.subject == "big" and m.payload == body
    finally:
        ca.close()
        cb.close()


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_fake_peer_rmsg_over_max_payload(server_factory, kind):
    conf = node_conf("A") + "max_payload: 1KB\n"
    a = server_factory(kind, conf=conf, name="A", ports={"CLUSTER": free_port()},
                       expect_errors=ROUTE_ERRORS)
    local = client(a)
    local.sub("big", 1)
    local.ping_pong()
    f = FakeRoute(cluster_port(a))
    f.route_ping()
    body = b"y" * 5000
    f.send(b"RMSG $G big %d\r\n%s\r\n" % (len(body), body))
    f.route_ping()
    local.expect_msg("big", 1, body)
    f.close()
    local.close()


# --------------------------------------------------------------------------- wildcard hosts


@pytest.mark.interop
def test_wildcard_client_host_urls_match_reference(server_factory):
    """A client listener on 0.0.0.0: the connect_urls of the route INFO list
    every non-local address of the host, as nats-server lists them (nothing
    but loopback is ever dialled here)."""
    infos = []
    for kind in ("nats-server", "natsd"):
        conf = node_conf("W" + kind).replace("listen: 127.0.0.1:@PORT@", "listen: 0.0.0.0:@PORT@")
        s = server_factory(kind, conf=conf, name="W" + kind, ports={"CLUSTER": free_port()},
                           expect_errors=ROUTE_ERRORS + [r"can not be resolved properly"])
        info = _route_info(s)
        hosts = [u.rsplit(":", 1)[0] for u in info.get("connect_urls", [])]
        assert all(u.endswith(":%d" % s.port) for u in info.get("connect_urls", []))
        assert info["host"] == "127.0.0.1"
        infos.append(hosts)
        s.stop()
    assert infos[0] == infos[1]
    assert "127.0.0.1" not in infos[1]


# --------------------------------------------------------------------------- dial error reports


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_route_connect_error_reports(server_factory, kind):
    """connect_error_reports: 3 logs the first failed attempt and every 3rd
    one as errors, the others at debug level."""
    dead = free_port()
    conf = node_conf("A", [dead]) + "connect_error_reports: 3\ndebug: true\n"
    a = server_factory(kind, conf=conf, name="A", ports={"CLUSTER": free_port()},
                       expect_errors=ROUTE_ERRORS)
    wait_until(lambda: "(attempt 6)" in a.log_text(), timeout=30, what="six attempts")
    levels = {}
    for line in a.log_text().splitlines():
        if "Error trying to connect to route (attempt " in line:
            n = int(line.split("(attempt ")[1].split(")")[0])
            levels[n] = "ERR" if "[ERR]" in line else "DBG" if "[DBG]" in line else "?"
    assert [levels[i] for i in range(1, 7)] == ["ERR", "DBG", "ERR", "DBG", "DBG", "ERR"]


def test_route_reconnect_error_reports(server_factory):
    """A route that was up: its reconnect attempts follow
    reconnect_error_reports (every 2nd here, and the first)."""
    ports = [free_port() for _ in range(2)]
    a = start_node(server_factory, "A", ports[0])
    conf_b = node_conf("B", [ports[0]]) + "reconnect_error_reports: 2\ndebug: true\n"
    b = server_factory("natsd", conf=conf_b, name="B", ports={"CLUSTER": ports[1]},
                       expect_errors=ROUTE_ERRORS)
    check_mesh([a, b])
    a.stop()
    wait_until(lambda: "(attempt 4)" in b.log_text(), timeout=30, what="four attempts")
    levels = {}
    for line in b.log_text().splitlines():
        if "Error trying to connect to route (attempt " in line:
            n = int(line.split("(attempt ")[1].split(")")[0])
            levels[n] = "ERR" if "[ERR]" in line else "DBG"
    assert [levels[i] for i in range(1, 5)] == ["ERR", "ERR", "DBG", "ERR"]


# --------------------------------------------------------------------------- peer JSON


@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
@pytest.mark.parametrize("line,err", [
    (b'CONNECT {"cluster":5,"name":"X"}',
     "json: cannot unmarshal number into Go struct field connectInfo.cluster of type string"),
    (b'CONNECT {"cluster":"C1","name":"X","user":5}',
     "json: cannot unmarshal number into Go struct field ClientOpts.user of type string"),
    (b'CONNECT {"cluster":"C1","name":"X"}\r\nINFO {"server_id":"NX","port":"x"}',
     "json: cannot unmarshal string into Go struct field Info.port of type int"),
    (b'CONNECT {"cluster":"C1","name":"X"}\r\nINFO {"server_id":"NX","import":{"allow":5}}',
     "json: cannot unmarshal number into Go struct field SubjectPermission.import.allow "
     "of type []string"),
    (b'CONNECT {"cluster":"C1","name":"X"}\r\nINFO {"server_id":"NX","gateway_cmd_payload":"@@"}',
     "illegal base64 data at input byte 0"),
])
def test_fake_peer_json_type_errors(server_factory, kind, line, err):
    """A peer's CONNECT or INFO with a value of the wrong type: the error as
    nats-server's decoder words it, and the route closes without -ERR."""
    a = start_node(server_factory, "A", free_port(), kind=kind,
                   expect_errors=[r"json: cannot unmarshal", r"illegal base64"])
    f = FakeRoute(cluster_port(a), connect=False)
    f.send(line + b"\r\n")
    rest = f.expect_closed()
    assert b"-ERR" not in rest
    a.wait_log(" - " + err.replace("[", r"\[").replace("]", r"\]"))
