"""Superclusters of real server processes joined by gateways.

Each test builds clusters of natsd or nats-server 2.9.10 (ids natsd and
nats-server; `-k nats-server` runs the reference only; mixed superclusters
use the ids mixed-natsd-ref and mixed-ref-natsd) and checks:

  * the seed example (/work/shared/seeds/000_*.txt): clusters A, B, C of one
    server each, with the seed's log lines, a message from B received on C,
    and the discovery of the whole mesh when B and C list only A;
  * the seed's connection table: 3 clusters of N = 1, 2, 3, 5 servers; each
    server has exactly one outbound connection per remote cluster, counted
    both from the established TCP sockets of each process (/proc/<pid>/fd and
    /proc/<pid>/net/tcp) and from /gatewayz; 6N gateway connections in all;
  * single-server clusters without a cluster{} block;
  * queue groups: each message once in the supercluster, the publisher's
    cluster first, failover to another cluster when the local member goes,
    failback when it returns;
  * request/reply with the responder in a third cluster;
  * reject_unknown_cluster, gateway credentials, connect_retries of implicit
    gateways;
  * a killed node that is restarted rejoins; headers and 1 MB payloads cross;
  * mixed superclusters (one cluster natsd, one nats-server) in both
    directions;
  * TLS gateways (mutual; certificates made with openssl at test time) and a
    plaintext peer refused.

Servers of one test start in parallel. Interest crosses gateways
asynchronously, so the tests poll (publish probes until one arrives) and
never assert elapsed time.
"""

import os
import signal
import threading
import time
from collections import Counter

import pytest

from gwpeer import client, drain_numbered, http_json, pending_msgs, stays, wait_until
from natsd import free_port, make_test_certs, scaled

PURE = [pytest.param("nats-server", id="nats-server", marks=pytest.mark.interop),
        pytest.param("natsd", id="natsd", marks=pytest.mark.threaded)]

# Transient while servers of a supercluster start in parallel, or when a
# peer goes away under a write.
STARTUP_ERRS = [r"Error trying to connect to route",
                r"Error connecting to (explicit|implicit) gateway",
                r"Error flushing", r"[Bb]roken pipe", r"[Cc]onnection reset"]

pytestmark = [pytest.mark.spawns, pytest.mark.expect_errors(*STARTUP_ERRS)]

PROBE = b"probe"


# -------------------------------------------------------------------------- building superclusters


class Node:
    def __init__(self, cluster, index, kind):
        self.cluster = cluster
        self.index = index
        self.kind = kind
        self.name = "%s%d" % (cluster, index + 1)
        self.port = free_port()
        self.ports = {"GW": free_port(), "HTTP": free_port(), "CLUSTER": free_port()}
        self.srv = None
        self.starts = 0

    @property
    def gw(self):
        return self.ports["GW"]

    @property
    def gw_url(self):
        return "127.0.0.1:%d" % self.gw

    def gatewayz(self):
        return http_json(self.ports["HTTP"], "/gatewayz")

    def __repr__(self):
        return "<%s %s>" % (self.name, self.kind)


class Super:
    """A supercluster plan. clusters: {name: (kind, size)}. remotes: {name:
    [cluster names it lists in gateways]}, default every other cluster.
    Every remote entry lists all the URLs of that cluster unless seed_only,
    then only its first server."""

    def __init__(self, server_factory, clusters, remotes=None, seed_only=False,
                 cluster_block=None, gw_extra=None, top="", creds=None, url_creds=None,
                 tls=None, errors=()):
        self.factory = server_factory
        self.clusters = clusters
        self.nodes = {c: [Node(c, i, k) for i in range(n)] for c, (k, n) in clusters.items()}
        self.remotes = remotes or {c: [o for o in clusters if o != c] for c in clusters}
        self.seed_only = seed_only
        self.cluster_block = cluster_block
        self.gw_extra = gw_extra or {}
        self.top = top
        self.creds = creds              # (user, password) of every gateway block
        self.url_creds = url_creds or {}  # {cluster: (user, pass)} in its remote URLs
        self.tls = tls or {}            # {cluster: tls block text}
        self.errors = list(errors)

    def all(self):
        return [n for c in self.nodes for n in self.nodes[c]]

    def conf(self, node):
        c = node.cluster
        lines = ["server_name: %s" % node.name, "listen: 127.0.0.1:@PORT@",
                 "http: 127.0.0.1:@PORT_HTTP@", self.top]
        peers = self.nodes[c]
        block = self.cluster_block if self.cluster_block is not None else len(peers) > 1
        if block:
            routes = ""
            if node.index > 0:
                routes = 'routes: ["nats-route://127.0.0.1:%d"]' % peers[0].ports["CLUSTER"]
            lines.append("cluster {\n  name: %s\n  listen: 127.0.0.1:@PORT_CLUSTER@\n  %s\n}"
                         % (c, routes))
        gw = ["gateway {", "  name: %s" % c, "  listen: 127.0.0.1:@PORT_GW@"]
        if self.creds:
            gw.append("  authorization { user: %s, password: %s }" % self.creds)
        if c in self.tls:
            gw.append("  " + self.tls[c])
        gw.append("  " + self.gw_extra.get(c, ""))
        entries = []
        for r in self.remotes.get(c, []):
            targets = self.nodes[r][:1] if self.seed_only else self.nodes[r]
            cred = self.url_creds.get(c, self.creds)
            userinfo = ("%s:%s@" % cred) if cred else ""
            urls = ", ".join('"nats://%s%s"' % (userinfo, t.gw_url) for t in targets)
            entries.append("    { name: %s, urls: [%s] }" % (r, urls))
        if entries:
            gw.append("  gateways: [\n%s\n  ]" % ",\n".join(entries))
        gw.append("}")
        lines.append("\n".join(gw))
        return "\n".join(lines) + "\n"

    def start_node(self, node, wait=True):
        """Start node (again, after a stop: same ports, a new log)."""
        tag = node.name + ("-restart%d" % node.starts if node.starts else "")
        node.starts += 1
        node.srv = self.factory(node.kind, conf=self.conf(node), name=tag, port=node.port,
                                ports=dict(node.ports), expect_errors=self.errors, start=False)
        node.srv.start(wait=wait)
        return node

    def start(self):
        for n in self.all():
            self.start_node(n, wait=False)
        for n in self.all():
            n.srv.wait_ready()
        return self

    def wait_mesh(self, timeout=30):
        """Every server has one outbound per remote cluster, and every remote
        server's outbound to this cluster shows up as an inbound somewhere."""
        names = set(self.clusters)

        def ok():
            inbound = Counter()
            for n in self.all():
                gz = n.gatewayz()
                outs = set(gz.get("outbound_gateways") or {})
                if outs != names - {n.cluster}:
                    return False
                for g, lst in (gz.get("inbound_gateways") or {}).items():
                    inbound[(n.cluster, g)] += len(lst)
            for c in names:
                for o in names - {c}:
                    if inbound[(c, o)] != len(self.nodes[o]):
                        return False
            return True
        wait_until(ok, timeout=timeout, what="a full gateway mesh", interval=0.2)


def sc_client(node, **kw):
    return client(node.srv, **kw)


def real_msgs(c, quiet=0.0):
    """Pending messages of c that are not probes."""
    return [m for m in pending_msgs(c, quiet) if m.payload != PROBE]


def wait_delivery(pub, sub, subject, sid, timeout=30):
    """Publish probes on subject from pub until sub receives one on sid.
    Probes that arrive later are ignored by real_msgs/next_real."""
    def probe():
        pub.pub(subject, PROBE)
        pub.ping_pong()
        return any(m.subject == subject and m.sid == str(sid) for m in pending_msgs(sub, 0.05))
    wait_until(probe, timeout=timeout, what="interest on %r to cross" % subject, interval=0.1)


def next_real(c, timeout=10):
    """The next message on c that is not a probe."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        m = c.read_msg(timeout=max(0.1, deadline - time.monotonic()))
        if m.payload != PROBE:
            return m


def collect(clients, subject, n, timeout=15, exact=True):
    """Wait until clients together received n non-probe messages on subject;
    returns per-client counts. More than n is a failure; fewer is one too
    when exact (while interest changes, a message sent to a cluster whose
    member just left is lost: exact=False, with a shorter wait)."""
    counts = [0] * len(clients)
    deadline = time.monotonic() + scaled(timeout if exact else min(timeout, 2))
    while True:
        for i, c in enumerate(clients):
            counts[i] += sum(1 for m in real_msgs(c) if m.subject == subject)
        if sum(counts) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # nothing more may come
    for i, c in enumerate(clients):
        counts[i] += sum(1 for m in real_msgs(c, 0.2 if i == 0 else 0.0) if m.subject == subject)
    assert sum(counts) <= n, "more than %d messages on %s: %r" % (n, subject, counts)
    if exact:
        assert sum(counts) == n, "expected %d messages on %s, got %r" % (n, subject, counts)
    return counts


# ------------------------------------------------------------------------- TCP sockets per process


def established(pid):
    """(local port, remote port) of the established TCP sockets of process pid."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    out = []
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            p = row.split()
            if p[3] == "01" and p[9] in inodes:
                out.append((int(p[1].rsplit(":", 1)[1], 16), int(p[2].rsplit(":", 1)[1], 16)))
    return out


def gateway_sockets(sc):
    """{node name: (outbound Counter by remote cluster, inbound count)}."""
    gw_owner = {n.gw: n.cluster for n in sc.all()}
    res = {}
    for n in sc.all():
        outs, ins = Counter(), 0
        for lport, rport in established(n.srv.pid):
            if lport == n.gw:
                ins += 1
            elif rport in gw_owner:
                outs[gw_owner[rport]] += 1
        res[n.name] = (outs, ins)
    return res


def route_sockets(sc, cluster):
    """Accepted route connections in cluster (one per route)."""
    nodes = sc.nodes[cluster]
    total = 0
    for n in nodes:
        total += sum(1 for lport, _ in established(n.srv.pid) if lport == n.ports["CLUSTER"])
    return total


# ------------------------------------------------ (1)+(3) the seed example, single-server clusters


SEED_CREDS = ("gwu", "gwp")


@pytest.mark.parametrize("layout", ["seed", "discovery"])
@pytest.mark.parametrize("kind", PURE)
def test_seed_example(kind, layout, server_factory):
    """Clusters of one server without cluster{}: in the seed every server
    shares one gateways list (its own entry ignored); in discovery B and C
    list only A and find each other through A's gossip."""
    clusters = {c: (kind, 1) for c in "ABC"}
    if layout == "seed":
        remotes = {c: ["A", "B", "C"] for c in clusters}
    else:
        remotes = {"A": ["B", "C"], "B": ["A"], "C": ["A"]}
    sc = Super(server_factory, clusters, remotes=remotes, creds=SEED_CREDS).start()
    sc.wait_mesh()
    a, b, c = (sc.nodes[x][0] for x in "ABC")
    la = a.srv.log_text()
    assert "[INF] Gateway name is A" in la
    assert "[INF] Listening for gateways connections on 127.0.0.1:%d" % a.gw in la
    assert '[INF] Address for gateway "A" is 127.0.0.1:%d' % a.gw in la
    assert 'Connecting to explicit gateway "A"' not in la   # its own entry is ignored
    for other in (b, c):
        a.srv.wait_log(r'\[INF\] 127\.0\.0\.1:\d+ - gid:\d+ - Inbound gateway connection from '
                       r'"%s" \(N[A-Z0-9]{55}\) registered' % other.cluster)
        a.srv.wait_log(r'\[INF\] Connecting to explicit gateway "%s" \(127\.0\.0\.1:%d\) at '
                       r'127\.0\.0\.1:%d' % (other.cluster, other.gw, other.gw))
        a.srv.wait_log(r'\[INF\] 127\.0\.0\.1:%d - gid:\d+ - Creating outbound gateway connection '
                       r'to "%s"' % (other.gw, other.cluster))
        a.srv.wait_log(r'\[INF\] 127\.0\.0\.1:%d - gid:\d+ - Outbound gateway connection to "%s" '
                       r'\(N[A-Z0-9]{55}\) registered' % (other.gw, other.cluster))
    if layout == "discovery":
        # B reaches C although it only knows A: C is implicit at B
        lb = b.srv.log_text()
        assert 'explicit gateway "C"' not in lb
        b.srv.wait_log(r'Connecting to implicit gateway "C" \(127\.0\.0\.1:%d\)' % c.gw)
        gz = b.gatewayz()
        assert gz["outbound_gateways"]["C"]["configured"] is False
        assert gz["outbound_gateways"]["A"]["configured"] is True
    # nats sub -s B ">" / nats pub -s C foo bar
    sb, pc = sc_client(b), sc_client(c)
    sb.sub(">", 1)
    sb.ping_pong()
    wait_delivery(pc, sb, "foo", 1)
    pc.pub("foo", b"bar")
    m = next_real(sb)
    assert (m.subject, m.payload) == ("foo", b"bar")
    # and the other way: published on B, received on C
    sc_c = sc_client(c)
    sc_c.sub("foo", 2)
    sc_c.ping_pong()
    wait_delivery(sb, sc_c, "foo", 2)
    sb.pub("foo", b"from B")
    m = next_real(sc_c)
    assert (m.subject, m.payload) == ("foo", b"from B")
    for x in (sb, pc, sc_c):
        x.close()


@pytest.mark.parametrize("kind", PURE)
def test_single_server_clusters_mesh(kind, server_factory):
    """Three one-server clusters without a cluster{} block: each server's
    client receives what each other one publishes, exactly once."""
    sc = Super(server_factory, {c: (kind, 1) for c in "ABC"}, cluster_block=False).start()
    sc.wait_mesh()
    nodes = sc.all()
    clients = [sc_client(n) for n in nodes]
    for i, c in enumerate(clients):
        c.sub("mesh.%d" % i, 1)
        c.ping_pong()
    for i, c in enumerate(clients):
        for j, p in enumerate(clients):
            if i != j:
                wait_delivery(p, c, "mesh.%d" % i, 1)
    for i, c in enumerate(clients):
        for j, p in enumerate(clients):
            if i != j:
                p.pub("mesh.%d" % i, b"from %d" % j)
                p.ping_pong()
        got = collect([c], "mesh.%d" % i, len(clients) - 1)
        assert got == [len(clients) - 1]
    for n in nodes:
        # no route listener: the server runs with only the gateway
        assert not [1 for lp, _ in established(n.srv.pid) if lp == n.ports["CLUSTER"]]
    for c in clients:
        c.close()


# ------------------------------------------------------------------------ (2) the connection table


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("kind", PURE)
def test_connection_table(kind, n, server_factory):
    """3 clusters of n servers: 6n gateway connections (each server one
    outbound per remote cluster), n(n-1)/2 routes per cluster."""
    sc = Super(server_factory, {c: (kind, n) for c in "ABC"}).start()
    sc.wait_mesh(timeout=60)
    expect_total = 3 * n * 2

    def counts_ok():
        socks = gateway_sockets(sc)
        outs = sum(sum(o.values()) for o, _ in socks.values())
        ins = sum(i for _, i in socks.values())
        if outs != expect_total or ins != expect_total:
            return False
        for node in sc.all():
            o, _ = socks[node.name]
            if o != Counter({c: 1 for c in "ABC" if c != node.cluster}):
                return False
        return all(route_sockets(sc, c) == n * (n - 1) // 2 for c in "ABC")
    wait_until(counts_ok, timeout=30, what="%d gateway connections" % expect_total, interval=0.2)
    socks = gateway_sockets(sc)
    for node in sc.all():
        outs, ins = socks[node.name]
        assert outs == Counter({c: 1 for c in "ABC" if c != node.cluster}), (node, outs)
        gz = node.gatewayz()
        assert sorted(gz["outbound_gateways"]) == sorted(c for c in "ABC" if c != node.cluster)
        assert sum(len(v) for v in (gz.get("inbound_gateways") or {}).values()) == ins, node
        for g, og in gz["outbound_gateways"].items():
            assert og["connection"]["port"] in [m.gw for m in sc.nodes[g]]
    assert sum(i for _, i in socks.values()) == expect_total
    # a message crosses from the last server of A to every server of C
    pub = sc_client(sc.nodes["A"][-1])
    subs = [sc_client(m) for m in sc.nodes["C"]]
    for s in subs:
        s.sub("table", 1)
        s.ping_pong()
        wait_delivery(pub, s, "table", 1)
    pub.pub("table", b"row")
    pub.ping_pong()
    for s in subs:
        assert collect([s], "table", 1) == [1]
    for x in [pub] + subs:
        x.close()


@pytest.mark.parametrize("kind", PURE)
def test_varz_urls_and_request_to_routed_member(kind, server_factory):
    """Catalogue T32: A1 and A2 (routed, no remotes) and B1 listing only A1.
    B1's /varz shows both of A's URLs (learned from A1's INFO), and a
    request from B1 reaches a queue responder on A2 and gets its reply."""
    sc = Super(server_factory, {"A": (kind, 2), "B": (kind, 1)},
               remotes={"A": [], "B": ["A"]}, seed_only=True).start()
    sc.wait_mesh()
    a1, a2 = sc.nodes["A"]
    b1 = sc.nodes["B"][0]
    gz = {n.name: n.gatewayz() for n in sc.all()}
    assert gz["B1"]["outbound_gateways"]["A"]["configured"] is True
    assert gz["A1"]["outbound_gateways"]["B"]["configured"] is False
    assert gz["A2"]["outbound_gateways"]["B"]["configured"] is False
    assert len(gz["B1"]["inbound_gateways"]["A"]) == 2

    def varz_urls():
        v = http_json(b1.ports["HTTP"], "/varz")["gateway"]["gateways"]
        return [(g["name"], sorted(g.get("urls", []))) for g in v]
    want = [("A", sorted([a1.gw_url, a2.gw_url]))]
    wait_until(lambda: varz_urls() == want, what="A's URLs in B1's /varz")
    svc = sc_client(a2)
    svc.sub("svc", 1, queue="grp")
    svc.ping_pong()
    req = sc_client(b1)
    wait_delivery(req, svc, "svc", 1)
    req.sub("_INBOX.abc", 2)
    req.pub("svc", b"ping", reply="_INBOX.abc")
    req.ping_pong()
    m = next_real(svc)
    assert m.reply == "_INBOX.abc"
    svc.pub(m.reply, b"pong")
    svc.ping_pong()
    r = next_real(req)
    assert (r.subject, r.payload) == ("_INBOX.abc", b"pong")
    svc.close()
    req.close()


# -------------------------------------------------------------------------------- (4) queue groups


@pytest.mark.parametrize("kind", PURE)
def test_queue_groups_local_first_failover_failback(kind, server_factory):
    sc = Super(server_factory, {"A": (kind, 2), "B": (kind, 1), "C": (kind, 1)}).start()
    sc.wait_mesh()
    a1, a2 = sc.nodes["A"]
    b1, c1 = sc.nodes["B"][0], sc.nodes["C"][0]
    pub = sc_client(a1)
    ma2, mb, mc = sc_client(a2), sc_client(b1), sc_client(c1)
    members = [ma2, mb, mc]
    for m in members:
        m.sub("work", 1, queue="workers")
        m.ping_pong()
    # every member is reachable from A1 (each probe goes to one member only,
    # so wait until the remote ones are known through a plain subscription)
    for m in (mb, mc):
        m.sub("work.ready", 2)
        m.ping_pong()
        wait_delivery(pub, m, "work.ready", 2)
    ma2.sub("work.ready", 2)
    ma2.ping_pong()
    wait_delivery(pub, ma2, "work.ready", 2)

    def burst(n=20, exact=False):
        for i in range(n):
            pub.pub("work", b"job")
        pub.ping_pong()
        return collect(members, "work", n, exact=exact)

    # the publisher's cluster first: A2 (through the route) takes everything
    wait_until(lambda: burst() == [20, 0, 0], timeout=20, what="all jobs to A2")
    assert burst(exact=True) == [20, 0, 0]
    # while A1 takes in a change of A2's membership, a job may be lost
    # (collect then waits for it in vain before the next burst): each
    # change is made known to A1 (its route from A2 counts one subscription
    # more or less) before the jobs that show where they go
    def a1_route_subs():
        return sum(r.get("subscriptions", 0)
                   for r in http_json(a1.ports["HTTP"], "/routez").get("routes") or [])

    # A2's member goes: other clusters take over, each job once
    before = a1_route_subs()
    ma2.unsub(1)
    ma2.ping_pong()
    wait_until(lambda: a1_route_subs() < before, timeout=10,
               what="A2's unsubscription at A1")
    wait_until(lambda: burst() in ([0, 20, 0], [0, 0, 20]), timeout=20,
               what="failover to B or C")
    got = burst(40, exact=True)
    assert got[0] == 0 and got[1] + got[2] == 40
    # it comes back: failback to the local cluster
    before = a1_route_subs()
    ma2.sub("work", 3, queue="workers")
    ma2.ping_pong()
    wait_until(lambda: a1_route_subs() > before, timeout=10,
               what="A2's new subscription at A1")
    wait_until(lambda: burst() == [20, 0, 0], timeout=20, what="failback to A2")
    assert burst(exact=True) == [20, 0, 0]
    # a publisher in B with members only in A and C: each message once
    pb = sc_client(b1)
    mb.unsub(1)
    mb.ping_pong()
    wait_until(lambda: sum(_pub_count(pb, [ma2, mc], exact=False)) == 10, timeout=20,
               what="B's jobs served in A or C")
    assert sum(_pub_count(pb, [ma2, mc])) == 10
    for x in members + [pub, pb]:
        x.close()


@pytest.mark.parametrize("kind", PURE)
def test_queue_member_joining_loses_no_message(kind, server_factory):
    """Queue groups served in C while A1 publishes a numbered stream; members
    join at A2 mid-stream, so A1 learns of them (through its route) while it
    delivers. Every job reaches exactly one member: the one in A2 once A1
    knows it, the one in C before. No interest goes away here, so nothing may
    be lost. The SUBs are spread over the stream so that each reaches A1 on
    its own while it delivers; each round has fresh groups and a new
    publisher (so, likely, another worker than the last)."""
    groups, jobs, rounds = 32, 100000, 4
    sc = Super(server_factory, {"A": (kind, 2), "C": (kind, 1)}).start()
    sc.wait_mesh()
    a1, a2 = sc.nodes["A"]
    c1 = sc.nodes["C"][0]
    mc, ma2 = sc_client(c1), sc_client(a2)
    for r in range(rounds):
        for g in range(groups):
            mc.sub("join.%d.%d" % (r, g), 1 + r * groups + g, queue="q%d" % g)
    mc.ping_pong()
    for r in range(rounds):
        pub = sc_client(a1)
        for g in range(groups):
            wait_delivery(pub, mc, "join.%d.%d" % (r, g), 1 + r * groups + g)
        drain_numbered(mc)
        chunks = [b"".join(b"PUB join.%d.%d %d\r\n%d\r\n" % (r, i % groups, len(b"%d" % i), i)
                           for i in range(k, k + jobs // 8)) for k in range(0, jobs, jobs // 8)]
        started = threading.Event()

        def publish():
            for k, chunk in enumerate(chunks):
                pub.send(chunk)
                if k == 0:
                    started.set()
        t = threading.Thread(target=publish)
        t.start()
        started.wait(scaled(20))
        for g in range(groups):
            ma2.send(b"SUB join.%d.%d q%d %d\r\n" % (r, g, g, 1000 + r * groups + g))
            time.sleep(0.001)
        t.join()
        pub.ping_pong()
        got = Counter()
        deadline = time.monotonic() + scaled(30)
        while sum(got.values()) < jobs and time.monotonic() < deadline:
            for c in (ma2, mc):
                got.update(n for subj, n in drain_numbered(c) if subj.startswith("join.%d." % r))
            time.sleep(0.05)
        for c in (ma2, mc):
            got.update(n for subj, n in drain_numbered(c, 0.2) if subj.startswith("join.%d." % r))
        lost = sorted(set(range(jobs)) - set(got))
        twice = sorted(n for n, k in got.items() if k > 1)
        assert not lost and not twice, "round %d: %d lost %r, %d twice %r" % (
            r, len(lost), lost[:10], len(twice), twice[:10])
        pub.close()
    for x in (mc, ma2):
        x.close()


def _pub_count(pub, members, n=10, exact=True):
    for _ in range(n):
        pub.pub("work", b"b-job")
    pub.ping_pong()
    return collect(members, "work", n, exact=exact)


# ------------------------------------------------------------------------------- (5) request/reply


@pytest.mark.parametrize("kind", PURE)
def test_request_reply_third_cluster(kind, server_factory):
    """A requester on B, the service on C, the request published on A by a
    client that forwards for B's inbox (three clusters on the path)."""
    sc = Super(server_factory, {"A": (kind, 1), "B": (kind, 2), "C": (kind, 1)}).start()
    sc.wait_mesh()
    b2, c1 = sc.nodes["B"][1], sc.nodes["C"][0]
    a1 = sc.nodes["A"][0]
    svc = sc_client(c1)
    svc.sub("svc.echo", 1, queue="svc")
    svc.ping_pong()
    req = sc_client(b2)
    wait_delivery(req, svc, "svc.echo", 1)
    # requests from B: each gets its answer, the inbox created just before
    for i in range(10):
        inbox = "_INBOX.b.%d" % i
        req.sub(inbox, 100 + i)
        req.pub("svc.echo", b"q%d" % i, reply=inbox)
        req.ping_pong()
        m = next_real(svc)
        assert m.payload == b"q%d" % i and m.reply == inbox
        svc.pub(m.reply, b"re:" + m.payload)
        svc.ping_pong()
        r = next_real(req)
        assert (r.subject, r.sid, r.payload) == (inbox, str(100 + i), b"re:q%d" % i)
        req.unsub(100 + i)
    # a request published on A with B's inbox as reply: the answer from C
    # reaches B (interest of the inbox crossed to C)
    req.sub("_INBOX.third", 7)
    req.ping_pong()
    pa = sc_client(a1)
    wait_delivery(svc, req, "_INBOX.third", 7)
    wait_delivery(pa, svc, "svc.echo", 1)
    pa.pub("svc.echo", b"via A", reply="_INBOX.third")
    pa.ping_pong()
    m = next_real(svc)
    assert m.payload == b"via A" and m.reply == "_INBOX.third"
    svc.pub(m.reply, b"answer")
    svc.ping_pong()
    r = next_real(req)
    assert (r.subject, r.payload) == ("_INBOX.third", b"answer")
    for x in (svc, req, pa):
        x.close()


# ----------------------------------------------------------------------------------- (6) admission


@pytest.mark.parametrize("kind", PURE)
def test_reject_unknown_cluster(kind, server_factory):
    """A knows only B and rejects unknown clusters: C (listing only A) never
    joins; A and B work."""
    sc = Super(server_factory, {c: (kind, 1) for c in "ABC"},
               remotes={"A": ["B"], "B": ["A"], "C": ["A"]},
               gw_extra={"A": "reject_unknown_cluster: true"},
               errors=[r'Rejecting connection from gateway "C"', r"wrong gateway",
                       r'Connection to gateway "A" rejected', r"Gateway Error"]).start()
    a, b, c = (sc.nodes[x][0] for x in "ABC")
    a.srv.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - Rejecting connection from gateway "C"',
                   timeout=15)
    # C retries (explicit remotes are retried for ever)
    wait_until(lambda: a.srv.log_text().count('Rejecting connection from gateway "C"') >= 2,
               timeout=15, what="C's second attempt")
    wait_until(lambda: set(a.gatewayz()["outbound_gateways"] or {}) == {"B"} and
               set(b.gatewayz()["outbound_gateways"] or {}) == {"A"}, what="A-B mesh")
    assert "C" not in (a.gatewayz().get("inbound_gateways") or {})
    assert not (c.gatewayz().get("outbound_gateways") or {})
    ca, cb, cc = sc_client(a), sc_client(b), sc_client(c)
    ca.sub("x", 1)
    ca.ping_pong()
    wait_delivery(cb, ca, "x", 1)
    cc.pub("x", b"from C")
    cc.ping_pong()
    cb.pub("x", b"from B")
    m = next_real(ca)
    assert m.payload == b"from B"
    assert real_msgs(ca, 0.2) == []
    for x in (ca, cb, cc):
        x.close()


@pytest.mark.parametrize("kind", PURE)
def test_gateway_credentials(kind, server_factory):
    """All clusters require gwu/gwp on their gateway port. B lists A with the
    right credentials and joins (A dials back with its own); C lists A with
    a wrong password and is refused."""
    sc = Super(server_factory, {c: (kind, 1) for c in "ABC"}, creds=SEED_CREDS,
               remotes={"A": [], "B": ["A"], "C": ["A"]},
               url_creds={"C": ("gwu", "wrong")},
               errors=[r"authentication error", r"Authorization Violation",
                       r"Gateway Error"]).start()
    a, b, c = (sc.nodes[x][0] for x in "ABC")
    wait_until(lambda: set(a.gatewayz()["outbound_gateways"] or {}) == {"B"} and
               set(b.gatewayz()["outbound_gateways"] or {}) == {"A"}, timeout=15,
               what="A-B mesh")
    a.srv.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - authentication error", timeout=15)
    wait_until(lambda: a.srv.log_text().count("authentication error") >= 2, timeout=15,
               what="C retried")
    assert "C" not in (a.gatewayz().get("inbound_gateways") or {})
    assert not (c.gatewayz().get("outbound_gateways") or {})
    ca, cb = sc_client(a), sc_client(b)
    cb.sub("cred", 1)
    cb.ping_pong()
    wait_delivery(ca, cb, "cred", 1)
    ca.close()
    cb.close()


@pytest.mark.parametrize("kind", PURE)
def test_connect_retries_implicit(kind, server_factory):
    """B (connect_retries: 2) learned A implicitly. When A dies, B tries A
    three times and drops it; when A comes back it reconnects (A's remote
    is explicit) and traffic flows again."""
    sc = Super(server_factory, {"A": (kind, 1), "B": (kind, 1)},
               remotes={"A": ["B"], "B": []},
               gw_extra={"B": "connect_retries: 2"},
               errors=[r'Error connecting to implicit gateway "A"']).start()
    sc.wait_mesh()
    a, b = sc.nodes["A"][0], sc.nodes["B"][0]
    a.srv.stop(sig=signal.SIGKILL)
    pat = (r'Connecting to implicit gateway "A" \(127\.0\.0\.1:%d\) at 127\.0\.0\.1:%d '
           r'\(attempt %%d\)' % (a.gw, a.gw))
    pos = 0
    for i in (1, 2, 3):
        m = b.srv.wait_log(pat % i, timeout=15, start=pos)
        pos += m.end()
    b.srv.wait_log(r'Error connecting to implicit gateway "A" .*\(attempt 3\)', timeout=10)
    # then A is dropped: no fourth attempt
    stays(lambda: "(attempt 4)" not in b.srv.log_text(), 2.0, "a fourth attempt at A")
    assert not (b.gatewayz().get("outbound_gateways") or {})
    sc.start_node(a)
    sc.wait_mesh()
    ca, cb = sc_client(a), sc_client(b)
    ca.sub("back", 1)
    ca.ping_pong()
    wait_delivery(cb, ca, "back", 1)
    ca.close()
    cb.close()


# -------------------------------------------------------------- (7) restart, headers, big payloads


@pytest.mark.parametrize("kind", PURE)
def test_restart_rejoins_headers_big_payloads(kind, server_factory):
    sc = Super(server_factory, {"A": (kind, 2), "B": (kind, 2)}, top="max_payload: 4MB").start()
    sc.wait_mesh()
    a1, a2 = sc.nodes["A"]
    b1, b2 = sc.nodes["B"]
    sub = sc_client(a2)
    sub.sub("big", 1)
    sub.sub("hdr", 2)
    sub.ping_pong()
    pub = sc_client(b1)
    wait_delivery(pub, sub, "big", 1)
    wait_delivery(pub, sub, "hdr", 2)
    payload = bytes((i * 7 + 3) % 251 for i in range(1024 * 1024))
    pub.pub("big", payload)
    hdr = b"NATS/1.0\r\nX-One: 1\r\nX-Two: two words\r\n\r\n"
    pub.hpub("hdr", hdr, b"with headers", reply="hdr.reply")
    pub.ping_pong()
    m = next_real(sub, timeout=20)
    assert m.subject == "big" and m.payload == payload
    m = next_real(sub)
    assert m.op == "HMSG" and m.headers == hdr and m.payload == b"with headers"
    assert m.reply == "hdr.reply"
    pub.close()
    # B1 is killed and restarted on the same ports: the mesh heals
    b1.srv.stop(sig=signal.SIGKILL)
    sc.start_node(b1)
    sc.wait_mesh(timeout=30)
    pub = sc_client(b1)
    wait_delivery(pub, sub, "hdr", 2)
    pub.hpub("hdr", hdr, b"after restart")
    pub.pub("big", payload[::-1])
    pub.ping_pong()
    m = next_real(sub)
    assert m.op == "HMSG" and m.headers == hdr and m.payload == b"after restart"
    m = next_real(sub, timeout=20)
    assert m.payload == payload[::-1]
    # and the other direction, from A to the restarted B1
    sb = sc_client(b1)
    sb.sub("back", 3)
    sb.ping_pong()
    pa = sc_client(a1)
    wait_delivery(pa, sb, "back", 3)
    for x in (sub, pub, sb, pa):
        x.close()


# ------------------------------------------------------------------------- (8) mixed superclusters


MIXED = [pytest.param(("natsd", "nats-server"), id="mixed-natsd-ref",
                      marks=[pytest.mark.interop, pytest.mark.threaded]),
         pytest.param(("nats-server", "natsd"), id="mixed-ref-natsd",
                      marks=[pytest.mark.interop, pytest.mark.threaded]),
         pytest.param(("nats-server", "nats-server"), id="nats-server", marks=pytest.mark.interop),
         pytest.param(("natsd", "natsd"), id="natsd", marks=pytest.mark.threaded)]


def check_features(p_node, s_node, s2_node, local_node):
    """From a client of p_node to clients of s_node/s2_node (the other
    cluster): plain, wildcards, queue (once, local member first), headers,
    request/reply."""
    p, s, s2, loc = (sc_client(n) for n in (p_node, s_node, s2_node, local_node))
    try:
        s.sub("mix.plain", 1)
        s.sub("mix.*.star", 2)
        s.sub("mix.gt.>", 3)
        s.sub("mix.q", 4, queue="mq")
        s2.sub("mix.q", 5, queue="mq")
        s.sub("mix.req", 6)
        s2.sub("mix.ready", 7)
        for x in (s, s2):
            x.ping_pong()
        wait_delivery(p, s, "mix.plain", 1)
        wait_delivery(p, s, "mix.x.star", 2)
        wait_delivery(p, s, "mix.gt.a.b", 3)
        wait_delivery(p, s, "mix.req", 6)
        wait_delivery(p, s2, "mix.ready", 7)
        p.pub("mix.plain", b"plain")
        p.pub("mix.abc.star", b"star")
        p.pub("mix.gt.1.2.3", b"gt")
        p.pub("mix.abc.def", b"none")   # matches nothing
        p.ping_pong()
        got = sorted((m.subject, m.sid, m.payload) for m in
                     [next_real(s) for _ in range(3)])
        assert got == [("mix.abc.star", "2", b"star"), ("mix.gt.1.2.3", "3", b"gt"),
                       ("mix.plain", "1", b"plain")]
        # queue across the gateway: each message once, spread over the members
        # of the remote cluster once both are known
        def spread():
            for _ in range(20):
                p.pub("mix.q", b"q")
            p.ping_pong()
            a, b = collect([s, s2], "mix.q", 20, exact=False)
            return a > 0 and b > 0 and a + b == 20
        wait_until(spread, timeout=20, what="both remote queue members used")
        # a member in the publisher's cluster takes everything
        loc.sub("mix.q", 8, queue="mq")
        loc.ping_pong()

        def local_first():
            for _ in range(20):
                p.pub("mix.q", b"q")
            p.ping_pong()
            return collect([loc, s, s2], "mix.q", 20, exact=False) == [20, 0, 0]
        wait_until(local_first, timeout=20, what="the local queue member first")
        for _ in range(20):
            p.pub("mix.q", b"q")
        p.ping_pong()
        assert collect([loc, s, s2], "mix.q", 20) == [20, 0, 0]
        loc.unsub(8)
        loc.ping_pong()
        # headers
        hdr = b"NATS/1.0\r\nX-Mixed: yes\r\n\r\n"
        p.hpub("mix.plain", hdr, b"hp")
        p.ping_pong()
        m = next_real(s)
        assert m.op == "HMSG" and m.headers == hdr and m.payload == b"hp"
        # request/reply with a fresh inbox
        p.sub("_INBOX.mix", 9)
        p.pub("mix.req", b"question", reply="_INBOX.mix")
        p.ping_pong()
        m = next_real(s)
        assert m.subject == "mix.req" and m.reply == "_INBOX.mix" and m.payload == b"question"
        s.pub(m.reply, b"answer")
        s.ping_pong()
        r = next_real(p)
        assert (r.subject, r.sid, r.payload) == ("_INBOX.mix", "9", b"answer")
        # ... and a header request
        s.hpub(m.reply, hdr, b"hanswer")
        s.ping_pong()
        r = next_real(p)
        assert r.op == "HMSG" and r.headers == hdr and r.payload == b"hanswer"
    finally:
        for x in (p, s, s2, loc):
            x.close()


@pytest.mark.parametrize("kinds", MIXED)
def test_mixed_supercluster(kinds, server_factory):
    sc = Super(server_factory, {"A": (kinds[0], 2), "B": (kinds[1], 2)}).start()
    sc.wait_mesh()
    a1, a2 = sc.nodes["A"]
    b1, b2 = sc.nodes["B"]
    check_features(a1, b2, b1, a2)   # A -> B
    check_features(b1, a1, a2, b2)   # B -> A


# ----------------------------------------------------------------------------------------- (9) TLS


@pytest.fixture(scope="module")
def gw_certs(tmp_path_factory):
    return make_test_certs(str(tmp_path_factory.mktemp("gwcerts")))


@pytest.mark.parametrize("kind", PURE)
def test_tls_gateways(kind, server_factory, gw_certs):
    d = gw_certs
    tls = ('tls { cert_file: "%s/server.pem", key_file: "%s/server-key.pem", '
           'ca_file: "%s/ca.pem", timeout: 2 }' % (d, d, d))
    sc = Super(server_factory, {c: (kind, 1) for c in "ABP"},
               remotes={"A": [], "B": ["A"], "P": ["A"]},
               tls={"A": tls, "B": tls},
               errors=[r"TLS gateway handshake error", r"TLS handshake", r"tls:",
                       r"Gateway Error", r"EOF", r"first record does not look like"]).start()
    a, b, plain = (sc.nodes[x][0] for x in "ABP")
    wait_until(lambda: set(a.gatewayz()["outbound_gateways"] or {}) == {"B"} and
               set(b.gatewayz()["outbound_gateways"] or {}) == {"A"}, timeout=20,
               what="a TLS gateway between A and B")
    gz = a.gatewayz()
    assert gz["outbound_gateways"]["B"]["connection"].get("tls_version")
    assert gz["inbound_gateways"]["B"][0]["connection"].get("tls_version")
    # the plaintext cluster P is refused at the handshake, again and again
    a.srv.wait_log(r"TLS gateway handshake error", timeout=20)
    assert "P" not in (a.gatewayz().get("inbound_gateways") or {})
    assert not (plain.gatewayz().get("outbound_gateways") or {})
    ca, cb = sc_client(a), sc_client(b)
    ca.sub("secure", 1)
    cb.sub("secure.back", 2)
    ca.ping_pong()
    cb.ping_pong()
    wait_delivery(cb, ca, "secure", 1)
    wait_delivery(ca, cb, "secure.back", 2)
    hdr = b"NATS/1.0\r\nX-TLS: 1\r\n\r\n"
    cb.hpub("secure", hdr, b"over tls")
    cb.ping_pong()
    m = next_real(ca)
    assert m.headers == hdr and m.payload == b"over tls"
    cp = sc_client(plain)
    cp.pub("secure", b"plain text")
    cp.ping_pong()
    assert real_msgs(ca, 0.3) == []
    for x in (ca, cb, cp):
        x.close()
