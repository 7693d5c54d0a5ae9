"""The system account's request services ($SYS.REQ.SERVER.*), as nats-server
2.9.10 answers them (events.go).

natsd and the reference nats-server run with the same configuration; a user
of the system account makes each request with the raw protocol, and the
replies are compared field by field and type by type (test_08_monitor's
comparison), with the figures that must agree (connections, ids, errors).
Filters in the request body decide whether a server answers at all; the
per-server subject is answered only by the server whose id it names; users
of other accounts get nothing; no_system_account has no services.
"""

import json

import pytest

from rawclient import ProtocolError, RawClient
from test_08_monitor import assert_same_shape, get_json, wait_for

pytestmark = [pytest.mark.spawns]

SYS_CONF = """
server_name: @NAME@
port: @PORT@
http: "127.0.0.1:@PORT_HTTP@"
server_tags: ["az:1", "Rack:2"]
accounts {
  SYS { users [{user: sys, password: pw}] }
  A { users [{user: a, password: pw}] }
}
system_account: SYS
"""

# the system account left at its default name
DEFAULT_CONF = """
server_name: @NAME@
port: @PORT@
accounts {
  $SYS { users [{user: sys, password: pw}] }
  A { users [{user: a, password: pw}] }
}
"""

ENDPOINTS = ["VARZ", "CONNZ", "ROUTEZ", "GATEWAYZ", "SUBSZ", "ACCOUNTZ", "HEALTHZ", "LEAFZ",
             "JSZ", "STATSZ"]

# volatile or implementation-specific values compared by type only
SERVER_KEYS = ("name", "host", "id", "ver", "seq", "jetstream", "time")


def start(server_factory, kind, conf=SYS_CONF, name=None):
    name = name or ("ref" if kind == "nats-server" else "mine")
    return server_factory(kind, conf=conf.replace("@NAME@", name), name=name)


class Client(RawClient):
    """A raw client that answers the server's PINGs (nats-server sends one
    early to measure the RTT)."""

    def read_line(self, timeout=None):
        while True:
            line = super().read_line(timeout)
            if line == "PING":
                self.send(b"PONG\r\n")
                continue
            return line


class SysClient:
    """A raw client of user (in the system account unless told) with an inbox."""

    def __init__(self, server, user="sys"):
        self.c = Client(server.port)
        self.info = self.c.read_info()
        self.c.send_connect(verbose=False, pedantic=False, user=user, headers=True,
                            **{"pass": "pw"})
        self.c.send("SUB _INBOX.sys.* 99\r\nPING\r\n")
        self.c.expect_line("PONG")
        self.n = 0

    def request(self, subject, body=b"", wait=1.0):
        """Publish body on subject with a fresh inbox; the decoded replies
        that come within wait seconds (after the first)."""
        self.n += 1
        inbox = "_INBOX.sys.%d" % self.n
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.c.pub(subject, body, reply=inbox)
        out = []
        while True:
            try:
                m = self.c.read_msg(timeout=wait)
            except ProtocolError as e:
                if str(e).startswith("timeout"):
                    break
                raise
            assert m.subject == inbox, m
            out.append(json.loads(m.payload))
        return out

    def close(self):
        self.c.close()


def one(replies, what):
    assert len(replies) == 1, "%s: %d replies: %r" % (what, len(replies), replies)
    return replies[0]


def check_server_block(info, server, si):
    for k in SERVER_KEYS:
        assert k in si, (k, si)
    assert si["id"] == info["server_id"]
    assert si["name"] == server.name
    assert si["ver"] == "2.9.10"
    assert si["jetstream"] is False
    assert isinstance(si["seq"], int) and si["seq"] >= 1


def settle(server, n=1):
    """The harness's readiness probe has gone: n client connections left."""
    if "HTTP" in server.ports:
        assert wait_for(lambda: get_json(server.ports["HTTP"], "/varz")["connections"] == n)


@pytest.fixture
def pair(server_factory):
    ref = start(server_factory, "nats-server")
    mine = start(server_factory, "natsd")
    clients = (SysClient(ref), SysClient(mine))
    for s in (ref, mine):
        settle(s)
    yield (ref, mine), clients
    for c in clients:
        c.close()


@pytest.mark.interop
def test_ping_statsz(pair):
    (ref, mine), (cr, cm) = pair
    a = one(cr.request("$SYS.REQ.SERVER.PING"), "nats-server PING")
    b = one(cm.request("$SYS.REQ.SERVER.PING"), "natsd PING")
    assert sorted(a) == sorted(b) == ["server", "statsz"]
    assert_same_shape(a, b, "$SYS.REQ.SERVER.PING")
    check_server_block(cm.info, mine, b["server"])
    # tags as nats-server keeps them: lower case
    assert b["server"]["tags"] == a["server"]["tags"] == ["az:1", "rack:2"]
    for k in ("connections", "total_connections", "active_accounts", "slow_consumers", "cores"):
        assert a["statsz"][k] == b["statsz"][k], k
    assert "routes" not in b["statsz"] and "gateways" not in b["statsz"]


@pytest.mark.interop
@pytest.mark.parametrize("ep", ENDPOINTS)
def test_ping_endpoint_matches_reference(pair, ep):
    (ref, mine), (cr, cm) = pair
    a = one(cr.request("$SYS.REQ.SERVER.PING." + ep), "nats-server " + ep)
    b = one(cm.request("$SYS.REQ.SERVER.PING." + ep), "natsd " + ep)
    assert sorted(a) == sorted(b), (a, b)
    assert_same_shape(a, b, ep)
    check_server_block(cm.info, mine, b["server"])
    if ep == "HEALTHZ":
        assert a["data"] == b["data"] == {"status": "ok"}
    if ep == "JSZ":
        assert a["data"]["disabled"] is b["data"]["disabled"] is True
    if ep == "CONNZ":
        assert a["data"]["num_connections"] == b["data"]["num_connections"] == 1
    if ep == "ACCOUNTZ":
        assert sorted(a["data"]["accounts"]) == sorted(b["data"]["accounts"])
    if ep == "VARZ":
        # the data is the HTTP endpoint's document
        http = get_json(mine.ports["HTTP"], "/varz")
        assert sorted(http) == sorted(b["data"])
        assert b["data"]["server_id"] == cm.info["server_id"]


@pytest.mark.interop
@pytest.mark.parametrize("ep", ["VARZ", "CONNZ", "HEALTHZ", "STATSZ"])
def test_per_server_subject(pair, ep):
    (ref, mine), (cr, cm) = pair
    for c, s in ((cr, ref), (cm, mine)):
        r = one(c.request("$SYS.REQ.SERVER.%s.%s" % (c.info["server_id"], ep)), s.kind)
        assert r["server"]["id"] == c.info["server_id"]
        # another server's id: nobody here answers
        other = (cm if c is cr else cr).info["server_id"]
        assert c.request("$SYS.REQ.SERVER.%s.%s" % (other, ep), wait=0.5) == []


@pytest.mark.interop
@pytest.mark.parametrize("body,answers", [
    ({"server_name": "mi"}, {"mine"}),
    ({"server_name": "re"}, {"ref"}),
    ({"server_name": "nobody"}, set()),
    ({"host": "0.0.0"}, {"ref", "mine"}),
    ({"host": "10.9.9.9"}, set()),
    ({"cluster": "C"}, set()),  # no cluster: the name is empty
    ({"tags": ["az:1"]}, {"ref", "mine"}),
    ({"tags": ["az:1", "rack:2"]}, {"ref", "mine"}),
    ({"tags": ["az:2"]}, set()),
    ({"domain": "hub"}, set()),
    ({"unknown_field": 1}, {"ref", "mine"}),
])
@pytest.mark.parametrize("ep", ["", ".VARZ", ".STATSZ"])
def test_filters(pair, body, answers, ep):
    (ref, mine), (cr, cm) = pair
    for c, s in ((cr, ref), (cm, mine)):
        got = c.request("$SYS.REQ.SERVER.PING" + ep, body, wait=0.5)
        assert len(got) == (1 if s.name in answers else 0), (s.kind, body, got)


@pytest.mark.interop
@pytest.mark.parametrize("ep,body", [
    ("VARZ", b"[1]"),
    ("VARZ", b"x"),
    ("CONNZ", {"sort": "bogus"}),
    ("CONNZ", {"cid": "x"}),
    ("SUBSZ", {"limit": "x"}),
    ("HEALTHZ", {"server_name": 5}),
    ("STATSZ", b"[1]"),
    ("", b"[]"),
])
def test_errors_match_reference(pair, ep, body):
    (ref, mine), (cr, cm) = pair
    subj = "$SYS.REQ.SERVER.PING" + ("." + ep if ep else "")
    a = one(cr.request(subj, body), "nats-server")
    b = one(cm.request(subj, body), "natsd")
    assert sorted(a) == sorted(b), (a, b)
    assert a["error"]["code"] == b["error"]["code"]
    assert a.get("data", "absent") == b.get("data", "absent")
    if body in (b"[1]", b"x", b"[]") or ep == "CONNZ" and "sort" in body:
        assert a["error"]["description"] == b["error"]["description"]


@pytest.mark.interop
def test_endpoint_options(server_factory):
    ref = start(server_factory, "nats-server")
    mine = start(server_factory, "natsd")
    for s in (ref, mine):
        settle(s, 0)
    res = {}
    for s in (ref, mine):
        c = SysClient(s)
        other = RawClient(s.port)
        other.handshake(user="a", **{"pass": "pw"})
        other.send("SUB foo.bar 1\r\nSUB foo.* q 2\r\nPING\r\n")
        other.expect_line("PONG")
        r = {}
        r["connz_subs"] = one(c.request("$SYS.REQ.SERVER.PING.CONNZ",
                                        {"subscriptions": True, "acc": "A"}), s.kind)
        r["connz_detail"] = one(c.request("$SYS.REQ.SERVER.PING.CONNZ",
                                          {"subscriptions_detail": True, "sort": "cid"}), s.kind)
        r["connz_limit"] = one(c.request("$SYS.REQ.SERVER.PING.CONNZ", {"limit": 1}), s.kind)
        r["subsz"] = one(c.request("$SYS.REQ.SERVER.PING.SUBSZ",
                                   {"subscriptions": True, "account": "A", "test": "foo.bar"}),
                         s.kind)
        r["accountz"] = one(c.request("$SYS.REQ.SERVER.PING.ACCOUNTZ", {"account": "A"}), s.kind)
        r["state"] = one(c.request("$SYS.REQ.SERVER.PING.CONNZ", {"state": 1}), s.kind)
        res[s.kind] = r
        other.close()
        c.close()
    a, b = res["nats-server"], res["natsd"]
    # not yet: the service imports nats-server gives every account
    # ($SYS.REQ.ACCOUNT.PING.CONNZ, ...), with the subscriptions they add
    a["accountz"]["data"]["account_detail"].pop("imports", None)
    for k in a:
        assert_same_shape(a[k], b[k], k)
    cs = b["connz_subs"]["data"]["connections"]
    assert len(cs) == 1 and sorted(cs[0]["subscriptions_list"]) == ["foo.*", "foo.bar"]
    assert a["connz_subs"]["data"]["num_connections"] == 1
    assert any("subscriptions_list_detail" in x for x in b["connz_detail"]["data"]["connections"])
    assert a["connz_limit"]["data"]["limit"] == b["connz_limit"]["data"]["limit"] == 1
    assert len(b["connz_limit"]["data"]["connections"]) == 1
    for x in (a, b):
        assert x["subsz"]["data"]["total"] == 2
        assert sorted(d["subject"] for d in x["subsz"]["data"]["subscriptions_list"]) == \
            ["foo.*", "foo.bar"]
        assert x["accountz"]["data"]["account_detail"]["account_name"] == "A"
        assert x["state"]["data"]["state"] == 1 if "state" in x["state"]["data"] else True
    assert b["state"]["data"]["num_connections"] == a["state"]["data"]["num_connections"]


@pytest.mark.interop
def test_default_system_account(server_factory):
    for kind in ("nats-server", "natsd"):
        s = start(server_factory, kind, DEFAULT_CONF)
        c = SysClient(s)
        r = one(c.request("$SYS.REQ.SERVER.PING"), kind)
        assert r["server"]["id"] == c.info["server_id"]
        r = one(c.request("$SYS.REQ.SERVER.PING.VARZ"), kind)
        assert r["data"]["system_account"] == "$SYS"
        c.close()


@pytest.mark.interop
def test_other_accounts_get_nothing(server_factory):
    for kind in ("nats-server", "natsd"):
        s = start(server_factory, kind)
        c = SysClient(s, user="a")
        assert c.request("$SYS.REQ.SERVER.PING", wait=0.5) == []
        assert c.request("$SYS.REQ.SERVER.PING.VARZ", wait=0.5) == []
        c.close()


@pytest.mark.interop
def test_no_system_account(server_factory):
    conf = """
port: @PORT@
http: "127.0.0.1:@PORT_HTTP@"
no_system_account: true
"""
    for kind in ("nats-server", "natsd"):
        s = server_factory(kind, conf=conf)
        c = RawClient(s.port)
        c.handshake()
        c.send("SUB _INBOX.x 1\r\nPUB $SYS.REQ.SERVER.PING _INBOX.x 0\r\n\r\nPING\r\n")
        c.expect_line("PONG")
        c.expect_nothing(0.5)
        # no internal subscription anywhere
        assert get_json(s.ports["HTTP"], "/varz")["subscriptions"] == 1
        c.close()


def test_flood_of_requests(server_factory):
    """Many requests back to back, none lost, the server still serves."""
    mine = start(server_factory, "natsd")
    c = SysClient(mine)
    n = 200
    for i in range(n):
        c.c.pub("$SYS.REQ.SERVER.PING.HEALTHZ", b"", reply="_INBOX.sys.f%d" % i)
    got = set()
    for _ in range(n):
        m = c.c.read_msg(timeout=10)
        got.add(m.subject)
        assert json.loads(m.payload)["data"] == {"status": "ok"}
    assert len(got) == n
    c.close()


def cluster_conf(name, routes=()):
    rs = ""
    if routes:
        rs = "routes: [%s]" % ", ".join('"nats-route://127.0.0.1:%d"' % p for p in routes)
    return (SYS_CONF.replace("@NAME@", name) +
            "cluster { name: C1\n listen: 127.0.0.1:@PORT_CLUSTER@\n %s }\n" % rs)


@pytest.mark.interop
@pytest.mark.parametrize("kinds", [("natsd", "natsd"), ("natsd", "nats-server"),
                                   ("nats-server", "natsd")])
def test_cluster_ping_answered_by_all(server_factory, kinds):
    """The system account's interest crosses routes like any account's: a
    PING on one server is answered by both, and a per-server request
    reaches the other one."""
    errs = [r"Error trying to connect to route", r"Error flushing.*(broken pipe|reset)"]
    s1 = server_factory(kinds[0], conf=cluster_conf("S1"), name="S1", expect_errors=errs)
    s2 = server_factory(kinds[1], conf=cluster_conf("S2", [s1.ports["CLUSTER"]]), name="S2",
                        expect_errors=errs)
    for s in (s1, s2):
        assert wait_for(lambda: get_json(s.ports["HTTP"], "/routez")["num_routes"] == 1)
    c = SysClient(s1)
    c2 = SysClient(s2)

    def names(subj, body=b""):
        return sorted(r["server"]["name"] for r in c.request(subj, body))

    # the other server learns the inbox's interest through the route
    assert wait_for(lambda: names("$SYS.REQ.SERVER.PING") == ["S1", "S2"])
    assert names("$SYS.REQ.SERVER.PING.VARZ") == ["S1", "S2"]
    assert names("$SYS.REQ.SERVER.PING.VARZ", {"server_name": "S2"}) == ["S2"]
    assert names("$SYS.REQ.SERVER.PING.VARZ", {"cluster": "C1"}) == ["S1", "S2"]
    assert names("$SYS.REQ.SERVER.%s.VARZ" % c2.info["server_id"]) == ["S2"]
    c.close()
    c2.close()
