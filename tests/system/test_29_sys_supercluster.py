"""The system account across gateways (issue 13): a supercluster's servers
answer each other's system requests, natsd and nats-server 2.9.10 alike.

Topologies (test_14_supercluster's Super):
  * mixed: cluster A of two natsd servers, cluster B of two nats-server
    servers, cluster C of one natsd;
  * natsd only: the same shape, every server natsd.

A user of the system account sends $SYS.REQ.SERVER.PING on one server and
receives exactly one reply from each server of each cluster, by name (the
request crosses the gateways by the $SYS interest each cluster sent, the
replies come back through the _GR_. mapping and the routes).
$SYS.REQ.SERVER.PING.CONNZ lists every server's connections. The same
request made on a nats-server server of B is answered by the natsd servers
too. The replies' reply-subject mapping is checked both with a fresh inbox
(its subscription is recent: the reply is mapped to _GR_.) and with an old
one (past the 2 s window: not mapped; the reply travels on the requester's
own interest).

With fake gateway peers (gwpeer.py), what natsd sends for $SYS when a
gateway connects is compared with nats-server's: the interest-only switch
(gateway_cmd 2, RS+ of the system subscriptions, gateway_cmd 3), and a
request arriving on an inbound with a routed reply is answered on the
outbound whose cluster hash it names.
"""

import json
import time

import pytest

from gwpeer import GwError, routed_reply, wait_until
from natsd import scaled
from rawclient import ProtocolError
from test_13_gateways import WRITE_ERRS, Peer, start_s
from test_14_supercluster import STARTUP_ERRS, Super
from test_26_sysacc import Client

pytestmark = [pytest.mark.spawns, pytest.mark.expect_errors(*(STARTUP_ERRS + WRITE_ERRS))]

KINDS = [pytest.param("nats-server", id="nats-server", marks=pytest.mark.interop),
         pytest.param("natsd", id="natsd")]

# the system account at its default name, a user in it and one in APP
TOP = """
accounts {
  $SYS { users [{user: sys, password: pw}] }
  APP { users [{user: app, password: pw}] }
}
"""

MIXED = {"A": ("natsd", 2), "B": ("nats-server", 2), "C": ("natsd", 1)}
PURE = {"A": ("natsd", 2), "B": ("natsd", 2), "C": ("natsd", 1)}


class SysUser:
    """A raw client of a user (the system user unless told) with its own
    inbox subscription _INBOX.<tag>.*."""

    def __init__(self, node, user="sys", tag="sys"):
        self.c = Client(node.srv.port)
        self.info = self.c.read_info()
        self.c.send_connect(verbose=False, pedantic=False, user=user, headers=True,
                            **{"pass": "pw"})
        self.tag = tag
        self.c.send("SUB _INBOX.%s.* 99\r\nPING\r\n" % tag)
        self.c.expect_line("PONG")
        self.n = 0

    def request(self, subject, body=b"", want=0, wait=1.0, fresh=False):
        """Publish on subject with a new reply on the inbox; the decoded
        replies: until want of them came (0: any number), then until none
        came for wait seconds. Every reply must be on the inbox. fresh: the
        reply is on a subscription made just before (a recent one, whose
        replies the gateways map to _GR_.)."""
        self.n += 1
        inbox = "_INBOX.%s.%d" % (self.tag, self.n)
        if fresh:
            inbox = "_INBOX.%sf.%d" % (self.tag, self.n)
            self.c.send("SUB %s %d\r\n" % (inbox, 1000 + self.n))
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.c.pub(subject, body, reply=inbox)
        out = []
        deadline = time.monotonic() + scaled(15)
        while True:
            left = deadline - time.monotonic()
            t = wait if (not want or len(out) >= want) else max(0.1, left)
            try:
                m = self.c.read_msg(timeout=t)
            except ProtocolError as e:
                if str(e).startswith("timeout"):
                    break
                raise
            assert m.subject == inbox, m
            out.append(json.loads(m.payload))
        return out

    def close(self):
        self.c.close()


def by_name(replies):
    """{server name: number of replies} of a list of decoded replies."""
    out = {}
    for r in replies:
        n = r["server"]["name"]
        out[n] = out.get(n, 0) + 1
    return out


def build(server_factory, clusters):
    sc = Super(server_factory, clusters, top=TOP).start()
    sc.wait_mesh()
    return sc


def wait_all_answer(u, names, timeout=30):
    """Ping until every server answers (interest crosses the gateways and
    routes asynchronously); returns the last complete set of replies."""
    got = {}

    def ok():
        r = u.request("$SYS.REQ.SERVER.PING", want=len(names), wait=0.3)
        got["r"] = r
        return set(by_name(r)) == names
    try:
        wait_until(ok, timeout=timeout, what="every server to answer", interval=0.2)
    except AssertionError:
        raise AssertionError("answered: %r, want %r" % (by_name(got.get("r", [])),
                                                        sorted(names)))
    return got["r"]


def check_ping_everywhere(sc, node):
    """From a system user on node: PING, PING.<X> answered once per server,
    by every server; CONNZ lists each server's connections."""
    names = {n.name for n in sc.all()}
    u = SysUser(node)
    try:
        wait_all_answer(u, names)
        # a fresh inbox (its subscription recent: replies mapped to _GR_.)
        # and then an old one; each server exactly once
        for fresh in (True, False):
            r = u.request("$SYS.REQ.SERVER.PING", want=len(names), fresh=fresh)
            assert by_name(r) == {n: 1 for n in names}, (fresh, by_name(r))
            for x in r:
                assert sorted(x) == ["server", "statsz"], x
        ids = {}
        for ep in ("STATSZ", "VARZ", "HEALTHZ", "ROUTEZ", "GATEWAYZ"):
            r = u.request("$SYS.REQ.SERVER.PING." + ep, want=len(names), fresh=True)
            assert by_name(r) == {n: 1 for n in names}, (ep, by_name(r))
            for x in r:
                assert "error" not in x, (ep, x)
                ids[x["server"]["name"]] = x["server"]["id"]
        # CONNZ: every server's connections, each server's own list
        r = u.request("$SYS.REQ.SERVER.PING.CONNZ", want=len(names), fresh=True)
        assert by_name(r) == {n: 1 for n in names}, by_name(r)
        for x in r:
            d = x["data"]
            assert d["server_id"] == x["server"]["id"], x
            assert d["num_connections"] == len(d["connections"])
        here = [x for x in r if x["server"]["name"] == node.name][0]["data"]
        # the requester itself is a connection of node
        assert here["num_connections"] >= 1, here
        # a client of another cluster shows in its own server's CONNZ
        far = [n for n in sc.all() if n.cluster != node.cluster][-1]
        a = SysUser(far, user="app", tag="app")
        try:
            def seen():
                rr = u.request("$SYS.REQ.SERVER.PING.CONNZ",
                               {"server_name": far.name, "auth": True}, want=1, wait=0.3)
                conns = rr[0]["data"]["connections"] if len(rr) == 1 else []
                return any(c.get("authorized_user") == "app" for c in conns)
            wait_until(seen, timeout=10, what="app's connection in %s's CONNZ" % far.name)
        finally:
            a.close()
        # a request addressed to one server of another cluster: that one only
        r = u.request("$SYS.REQ.SERVER.%s.VARZ" % ids[far.name], want=1)
        assert by_name(r) == {far.name: 1}, by_name(r)
        assert r[0]["data"]["server_name"] == far.name
        # the filter of the body, across gateways: only cluster B's servers
        want_b = {n.name: 1 for n in sc.nodes["B"]}
        r = u.request("$SYS.REQ.SERVER.PING", {"cluster": "B"}, want=len(want_b))
        assert by_name(r) == want_b, by_name(r)
    finally:
        u.close()


@pytest.mark.interop
@pytest.mark.parametrize("clusters", [pytest.param(MIXED, id="mixed"),
                                      pytest.param(PURE, id="natsd")])
def test_sys_ping_across_supercluster(server_factory, clusters):
    sc = build(server_factory, clusters)
    a1 = sc.nodes["A"][0]
    check_ping_everywhere(sc, a1)
    # the same from a server of B (nats-server in the mixed one) and from C
    check_ping_everywhere(sc, sc.nodes["B"][1])
    check_ping_everywhere(sc, sc.nodes["C"][0])


# ------------------------------------------------------------ the wire, with a fake gateway peer


@pytest.mark.parametrize("kind", KINDS)
def test_sys_interest_sent_on_connect(server_factory, kind):
    """A gateway peer X registering on S gets, for $SYS as for $G, the
    interest-only switch: gateway_cmd 2, RS+ $SYS for S's system
    subscriptions (the request services among them), gateway_cmd 3."""
    srv = start_s(server_factory, kind)
    p = Peer(srv)
    try:
        lines = [f.line for f in p.burst]
        cmds = [(f.cmd, f.cmd_account) for f in p.burst if f.op == "INFO" and f.cmd]
        assert (2, "$SYS") in cmds and (3, "$SYS") in cmds, cmds
        start = next(i for i, f in enumerate(p.burst) if f.cmd == 2 and f.cmd_account == "$SYS")
        end = next(i for i, f in enumerate(p.burst) if f.cmd == 3 and f.cmd_account == "$SYS")
        sys_rs = [i for i, f in enumerate(p.burst) if f.op == "RS+" and f.args[0] == "$SYS"]
        assert sys_rs and all(start < i < end for i in sys_rs), lines
        subjects = {p.burst[i].args[1] for i in sys_rs}
        # plain interest only, one line per subject
        assert all(len(p.burst[i].args) == 2 for i in sys_rs), lines
        assert len(sys_rs) == len(subjects), lines
        for want in ["$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.CONNZ",
                     "$SYS.REQ.SERVER.PING.STATSZ", "$SYS.REQ.SERVER.PING.VARZ",
                     "$SYS.REQ.SERVER.%s.VARZ" % p.sid, "$SYS.REQ.SERVER.%s.CONNZ" % p.sid]:
            assert want in subjects, (want, sorted(subjects))
    finally:
        p.close()


def answers(conn, inbox, n=1):
    """The next n messages on conn (S's outbound) for inbox, decoded; interest
    and PINGs skipped."""
    out = []
    while len(out) < n:
        f = conn.next(timeout=5, skip=r"(RS[+-]|INFO|PING|PONG)")
        assert f.op in ("RMSG", "HMSG"), f
        assert f.account == "$SYS" and f.subject == inbox, f
        out.append(json.loads(f.payload))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_sys_request_from_gateway_answered(server_factory, kind):
    """A request on S's inbound from cluster X: with a routed reply, the
    answer goes back on S's outbound to X on that routed reply, though X
    told of no interest in it; with a plain reply, only once X registered
    interest in $SYS for it (X is an interest-only peer)."""
    srv = start_s(server_factory, kind)
    p = Peer(srv)
    try:
        rr = routed_reply("X", p.fid, "_INBOX.x.1")
        p.f.rmsg("$SYS", "$SYS.REQ.SERVER.PING", b"", reply=rr)
        a = answers(p.o, rr)[0]
        assert a["server"]["id"] == p.sid and a["server"]["name"] == "srvA1", a
        assert sorted(a) == ["server", "statsz"], a
        rr = routed_reply("X", p.fid, "_INBOX.x.2")
        p.f.rmsg("$SYS", "$SYS.REQ.SERVER.%s.VARZ" % p.sid, b"", reply=rr)
        a = answers(p.o, rr)[0]
        assert a["data"]["server_id"] == p.sid, a
        # a routed reply of a cluster S has no outbound to: dropped
        p.f.rmsg("$SYS", "$SYS.REQ.SERVER.PING", b"",
                 reply=routed_reply("Y", p.fid, "_INBOX.y.1"))
        # plain reply, X never told of $SYS interest on this outbound: none
        p.f.rmsg("$SYS", "$SYS.REQ.SERVER.PING", b"", reply="_INBOX.x.3")
        for f in p.o.sync(skip=r"PING"):
            assert f.op not in ("RMSG", "HMSG"), f
        # X registers $SYS interest in its next inbox: that plain reply comes
        # (the interest names x.4 only: S's system thread answers in its own
        # time, and x.3's answer must not find interest if it is late)
        p.o.register("$SYS", subs=["_INBOX.x.4"])
        p.o.sync()
        p.f.rmsg("$SYS", "$SYS.REQ.SERVER.PING", b"", reply="_INBOX.x.4")
        a = answers(p.o, "_INBOX.x.4")[0]
        assert a["server"]["id"] == p.sid, a
        with pytest.raises(GwError):
            answers(p.o, "_INBOX.x.4")
    finally:
        p.close()


# ---------------------------------------------------------------- events (helper "ev" adds them)

@pytest.mark.interop
@pytest.mark.skip(reason="events: $SYS.ACCOUNT.<acc>.CONNECT across gateways, "
                         "added with the events (src/sysacc_events.c)")
def test_connect_event_crosses_gateways(server_factory):
    """A client connecting on C produces $SYS.ACCOUNT.APP.CONNECT, received by
    a system subscriber on A1 (and on B's nats-server servers)."""
    # EVENTS-CONNECT: build(MIXED), SysUser on A1 subscribes
    # $SYS.ACCOUNT.APP.CONNECT, wait until interest crossed (probe with a
    # client on C), then a new APP client on C: exactly one event, with
    # server.name == "C1" and client.user == "app".


@pytest.mark.interop
@pytest.mark.skip(reason="events: $SYS.SERVER.<id>.SHUTDOWN across gateways, "
                         "added with the events (src/sysacc_events.c)")
def test_shutdown_event_crosses_gateways(server_factory):
    """Stopping a server produces its SHUTDOWN event, received on A1."""
    # EVENTS-SHUTDOWN: build(MIXED), SysUser on A1 subscribes
    # $SYS.SERVER.*.SHUTDOWN; stop C1 (natsd) and then B2 (nats-server):
    # one event each, subject names the stopped server's id.
