"""Gateway monitoring: /gatewayz with its query parameters, the "gateway"
object of /varz, and the per-gateway rows of /metrics.

The same small supercluster runs twice, once made of nats-server 2.9.10 and
once of natsd: cluster A is one server (A1) with explicit remotes A (its own
name) and B; cluster B is two routed servers (B1, B2) with no remotes, so they
learn A by gossip. A1 knows only B1's URL and discovers B2's. When every
gateway is up (polled on /gatewayz, never slept for), the documents of each
role are compared key by key and type by type, and the figures that must agree
(configured flags, inbound counts, account rows, remote names and URLs) are
compared after the per-run values (ids, ports, times) are replaced by roles.
"""

import json
import re
import time

import pytest

import natsd as harness
from natsd import free_port
from rawclient import RawClient
from test_08_monitor import get_json, http_get, jtype, parse_prometheus

pytestmark = [pytest.mark.spawns, pytest.mark.threaded]

# Cluster B retries A1 when the test stops A1 first.
GW_ERRORS = [r'Error connecting to implicit gateway "A"']

HEAD = """
server_name: %(name)s
listen: 127.0.0.1:@PORT@
http: "127.0.0.1:@PORT_HTTP@"
no_system_account: true
"""

CONF_A1 = HEAD % {"name": "A1"} + """
gateway {
  name: A
  listen: "127.0.0.1:@PORT_GWA1@"
  advertise: "127.0.0.1:@PORT_GWA1@"
  gateways: [
    {name: A, urls: ["nats://127.0.0.1:@PORT_GWA1@"]}
    {name: B, urls: ["nats://u:p@127.0.0.1:@PORT_GWB1@"]}
  ]
}
"""

CONF_B1 = HEAD % {"name": "B1"} + """
cluster { name: B, listen: "127.0.0.1:@PORT_CLB1@" }
gateway { name: B, listen: "127.0.0.1:@PORT_GWB1@", connect_retries: 3 }
"""

CONF_B2 = HEAD % {"name": "B2"} + """
cluster { name: B, listen: "127.0.0.1:@PORT_CLB2@", routes: ["nats-route://127.0.0.1:@PORT_CLB1@"] }
gateway { name: B, listen: "127.0.0.1:@PORT_GWB2@" }
"""

ROLES = ("A1", "B1", "B2")

# Go duration text, as "rtt" is printed ("0s", "137µs", "1.5ms", "2m3.1s").
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|µs|ms|s|m|h))+$")


class Supercluster:
    """One run of the topology: servers by role, the ports each role owns."""

    def __init__(self, server_factory, kind):
        self.kind = kind
        names = ("GWA1", "GWB1", "GWB2", "CLB1", "CLB2")
        self.ports = {n: free_port() for n in names}
        self.srv = {}
        for role, conf in (("B1", CONF_B1), ("B2", CONF_B2), ("A1", CONF_A1)):
            self.srv[role] = server_factory(kind, conf=conf, ports=self.ports,
                                            name="%s-%s" % (kind, role),
                                            expect_errors=GW_ERRORS)
        self.ids = {r: self.varz(r)["server_id"] for r in ROLES}
        # "127.0.0.1:<port>" and bare ports of this run, replaced by role names
        self.hostports = {"127.0.0.1:%d" % self.ports["GW" + r]: "gw:" + r for r in ROLES}

    def http(self, role):
        return self.srv[role].ports["HTTP"]

    def get(self, role, path):
        return get_json(self.http(role), path)

    def varz(self, role):
        return self.get(role, "/varz")

    def converged(self):
        a = self.get("A1", "/gatewayz")
        if "B" not in (a["outbound_gateways"] or {}):
            return False
        if len(a["inbound_gateways"].get("B", [])) != 2:
            return False
        for r in ("B1", "B2"):
            if "A" not in (self.get(r, "/gatewayz")["outbound_gateways"] or {}):
                return False
        if len(self.get("B1", "/gatewayz")["inbound_gateways"].get("A", [])) != 1:
            return False
        gws = self.varz("A1")["gateway"]["gateways"]
        return len([g for g in gws if g["name"] == "B"][0].get("urls", [])) == 2

    def outbound_subs(self):
        doc = self.get("A1", "/gatewayz?acc_name=$G")
        accs = doc["outbound_gateways"]["B"].get("accounts", [])
        return accs[0].get("num_subs", 0) if accs else 0


def wait_until(pred, what, timeout=20.0):
    deadline = time.monotonic() + harness.scaled(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def assert_same_keys(ref, mine, where="$"):
    """The same keys (no more, no fewer) with the same JSON types, recursively;
    arrays compared element by element and of the same length."""
    assert jtype(ref) == jtype(mine), "%s: type %s in nats-server, %s in natsd" % (
        where, jtype(ref), jtype(mine))
    if isinstance(ref, dict):
        assert sorted(ref) == sorted(mine), "%s: keys %s in nats-server, %s in natsd" % (
            where, sorted(ref), sorted(mine))
        for k in ref:
            assert_same_keys(ref[k], mine[k], "%s.%s" % (where, k))
    elif isinstance(ref, list):
        assert len(ref) == len(mine), "%s: %d elements in nats-server, %d in natsd" % (
            where, len(ref), len(mine))
        for i, (a, b) in enumerate(zip(ref, mine)):
            assert_same_keys(a, b, "%s[%d]" % (where, i))


VOLATILE_CONN = ("cid", "ip", "port", "start", "last_activity", "rtt", "uptime", "idle",
                 "pending_bytes", "in_msgs", "out_msgs", "in_bytes", "out_bytes")


def norm_gatewayz(doc, sc):
    """The figures of a /gatewayz document that must agree between runs: ids,
    ports and times dropped or replaced by roles, arrays sorted."""
    role_of_id = {v: k for k, v in sc.ids.items()}

    def remote(rgw):
        out = dict(rgw)
        if "connection" in out:
            c = {k: v for k, v in out["connection"].items() if k not in VOLATILE_CONN}
            c["name"] = role_of_id.get(c.get("name"), c.get("name"))
            out["connection"] = c
        if "accounts" in out:
            out["accounts"] = sorted(out["accounts"], key=lambda a: a["name"])
        return out

    d = {k: v for k, v in doc.items() if k not in ("server_id", "now")}
    if "port" in d:
        d["port"] = sc.hostports.get("127.0.0.1:%d" % d["port"], d["port"])
    if d["outbound_gateways"] is not None:
        d["outbound_gateways"] = {k: remote(v) for k, v in d["outbound_gateways"].items()}
    d["inbound_gateways"] = {
        k: sorted((remote(x) for x in v), key=lambda x: json.dumps(x, sort_keys=True))
        for k, v in d["inbound_gateways"].items()}
    return d


def norm_varz_gateway(g, sc):
    g = json.loads(json.dumps(g))
    if "port" in g:
        g["port"] = sc.hostports.get("127.0.0.1:%d" % g["port"], g["port"])
    if "advertise" in g:
        g["advertise"] = sc.hostports.get(g["advertise"], g["advertise"])
    for e in g.get("gateways", []):
        if "urls" in e:
            e["urls"] = sorted(sc.hostports.get(u, u) for u in e["urls"])
    return g


def start_run(server_factory, kind, clients):
    """One supercluster of kind, converged, with a client on B2 holding a
    plain and a queue subscription (appended to clients)."""
    sc = Supercluster(server_factory, kind)
    wait_until(sc.converged, "the %s supercluster to form" % kind)
    c = RawClient(sc.srv["B2"].port)
    c.handshake(protocol=1)
    c.sub("foo", 1)
    c.sub("bar", 2, queue="q")
    c.ping_pong()
    clients.append(c)
    wait_until(lambda: sc.outbound_subs() == 2, "B2's interest to reach A1 (%s)" % kind)
    return sc


@pytest.fixture
def both(server_factory):
    """The supercluster of nats-server and the one of natsd."""
    clients = []
    yield [start_run(server_factory, "nats-server", clients),
           start_run(server_factory, "natsd", clients)]
    for c in clients:
        c.close()


@pytest.fixture
def mine(server_factory):
    """The natsd supercluster alone."""
    clients = []
    yield start_run(server_factory, "natsd", clients)
    for c in clients:
        c.close()


GATEWAYZ_PATHS = [
    "/gatewayz",
    "/gatewayz?accs=1",
    "/gatewayz?accs=true",
    "/gatewayz?accs=0",
    "/gatewayz?acc_name=$G",
    "/gatewayz?accs=1&acc_name=NOPE",
    "/gatewayz?gw_name=B",
    "/gatewayz?gw_name=A&accs=t",
    "/gatewayz?gw_name=Z",
]


@pytest.mark.interop
def test_gatewayz_matches_reference(both):
    ref, mine = both
    for role in ROLES:
        for path in GATEWAYZ_PATHS:
            a = ref.get(role, path)
            b = mine.get(role, path)
            what = "%s on %s" % (path, role)
            try:
                assert_same_keys(a, b)
                assert norm_gatewayz(a, ref) == norm_gatewayz(b, mine)
            except AssertionError as e:
                raise AssertionError("%s: %s\nnats-server: %s\nnatsd: %s" % (
                    what, e, json.dumps(a, indent=1)[:4000],
                    json.dumps(b, indent=1)[:4000])) from None


@pytest.mark.interop
def test_gatewayz_contents(both):
    """What the comparison relies on, spelled out on the natsd run."""
    for sc in both:
        a1 = sc.get("A1", "/gatewayz?accs=1")
        assert (a1["name"], a1["host"]) == ("A", "127.0.0.1")
        assert a1["port"] == sc.ports["GWA1"]
        out = a1["outbound_gateways"]["B"]
        assert out["configured"] is True
        conn = out["connection"]
        assert conn["kind"] == "Gateway" and conn["name"] in (sc.ids["B1"], sc.ids["B2"])
        assert GO_DURATION.match(conn["rtt"]), conn["rtt"]
        assert conn["subscriptions"] == 2
        assert out["accounts"] == [{"name": "$G", "interest_mode": "Interest-Only",
                                    "interest_only_threshold": 1000, "num_subs": 2,
                                    "num_queue_subs": 1}]
        inb = a1["inbound_gateways"]["B"]
        assert sorted(x["connection"]["name"] for x in inb) == sorted([sc.ids["B1"],
                                                                       sc.ids["B2"]])
        for x in inb:
            assert x["configured"] is False
            assert GO_DURATION.match(x["connection"]["rtt"])
            for acc in x.get("accounts", []):
                assert "num_subs" not in acc and "num_queue_subs" not in acc
        for r in ("B1", "B2"):
            d = sc.get(r, "/gatewayz?accs=1")
            assert d["outbound_gateways"]["A"]["configured"] is False
            assert d["outbound_gateways"]["A"]["connection"]["name"] == sc.ids["A1"]
        b1 = sc.get("B1", "/gatewayz?acc_name=$G")
        assert [x["connection"]["name"] for x in b1["inbound_gateways"]["A"]] == [sc.ids["A1"]]
        assert b1["inbound_gateways"]["A"][0]["accounts"][0]["interest_mode"] == "Interest-Only"
        # filters
        assert sc.get("A1", "/gatewayz?gw_name=Z")["outbound_gateways"] is None
        assert sc.get("A1", "/gatewayz?gw_name=Z")["inbound_gateways"] == {}
        assert "accounts" not in sc.get("A1", "/gatewayz")["outbound_gateways"]["B"]
        assert "accounts" not in sc.get(
            "A1", "/gatewayz?acc_name=NOPE")["outbound_gateways"]["B"]


BAD_ACCS = ["/gatewayz?accs=x", "/gatewayz?accs=yes&gw_name=B", "/gatewayz?accs=2",
            "/gatewayz?acc_name=$G&accs=nope", "/gatewayz?accs=%20"]


@pytest.mark.interop
def test_gatewayz_bad_accs(both):
    ref, mine = both
    for path in BAD_ACCS:
        a = http_get(ref.http("A1"), path)
        b = http_get(mine.http("A1"), path)
        assert a[0] == 400, (path, a)
        assert (b[0], b[2]) == (a[0], a[2]), "%s: nats-server %r, natsd %r" % (path, a, b)
        assert b[1]["content-type"] == a[1]["content-type"], (path, a[1], b[1])


@pytest.mark.interop
def test_varz_gateway_matches_reference(both):
    ref, mine = both
    for role in ROLES:
        a = ref.varz(role)["gateway"]
        b = mine.varz(role)["gateway"]
        assert_same_keys(a, b, "varz.gateway of %s" % role)
        assert norm_varz_gateway(a, ref) == norm_varz_gateway(b, mine), (role, a, b)
    # spelled out: the configured remotes in order, B's current URLs without
    # the user info, the own entry's configured URL
    g = norm_varz_gateway(mine.varz("A1")["gateway"], mine)
    assert g["gateways"] == [{"name": "A", "urls": ["gw:A1"]},
                             {"name": "B", "urls": ["gw:B1", "gw:B2"]}]
    assert (g["auth_timeout"], g["tls_timeout"], g["advertise"]) == (2, 2, "gw:A1")
    assert "gateways" not in mine.varz("B1")["gateway"]
    assert mine.varz("B1")["gateway"]["connect_retries"] == 3


def metric_rows(samples, name):
    """{labels dict: value} rows of one family."""
    rows = []
    for (n, labels), v in samples.items():
        if n == name:
            rows.append((dict(re.findall(r'([a-zA-Z_]+)="((?:\\.|[^"\\])*)"', labels)), v))
    return rows


def test_metrics_gateway_rows(mine):
    sc = mine
    st, h, body = http_get(sc.http("A1"), "/metrics")
    assert st == 200
    types, samples = parse_prometheus(body.decode())
    assert samples[("natsd_gateways", "")] == 3
    gz = sc.get("A1", "/gatewayz")
    want = {(str(gz["outbound_gateways"]["B"]["connection"]["cid"]), "B", "outbound")}
    want |= {(str(x["connection"]["cid"]), "B", "inbound") for x in gz["inbound_gateways"]["B"]}
    for fam in ("natsd_gateway_in_msgs_total", "natsd_gateway_out_msgs_total",
                "natsd_gateway_in_bytes_total", "natsd_gateway_out_bytes_total",
                "natsd_gateway_pending_bytes", "natsd_gateway_rtt_seconds"):
        rows = metric_rows(samples, fam)
        got = {(lb["gid"], lb["gateway"], lb["direction"]) for lb, _ in rows}
        assert got == want, (fam, rows)
        for lb, _ in rows:
            assert lb["ip"] == "127.0.0.1" and int(lb["port"]) > 0, lb
            # the remote server by id and name; only A1's outbound to B is
            # configured (its inbound ones come from B's servers' own dials)
            role = {v: k for k, v in sc.ids.items()}.get(lb["remote_id"])
            assert role in ("B1", "B2") and lb["remote_name"] == role, lb
            assert lb["configured"] == ("true" if lb["direction"] == "outbound" else "false"), lb
    assert types["natsd_gateway_out_msgs_total"] == "counter"
    assert types["natsd_gateway_rtt_seconds"] == "gauge"
    subs = metric_rows(samples, "natsd_gateway_remote_subscriptions")
    assert [(lb["gateway"], v) for lb, v in subs] == [("B", 2)], subs

    # a message from A1 to the subscriber on B2 leaves on the outbound
    pub = RawClient(sc.srv["A1"].port)
    pub.handshake(protocol=1)
    pub.pub("foo", b"hello")
    pub.ping_pong()

    def sent():
        _, _, text = http_get(sc.http("A1"), "/metrics")
        _, s = parse_prometheus(text.decode())
        return [v for lb, v in metric_rows(s, "natsd_gateway_out_msgs_total")
                if lb["direction"] == "outbound"] == [1]

    wait_until(sent, "the outbound gateway row to count the message")
    pub.close()


def test_metrics_pass_promtool(mine):
    """promtool check metrics (Prometheus's own linter) accepts /metrics of a
    server with routes and gateways (B1) and of one with gateways only (A1),
    and B1's route rows name the peer as its gateway rows do."""
    import shutil
    import subprocess
    tool = shutil.which("promtool")
    if not tool:
        pytest.skip("promtool not installed (scripts/deps.sh installs Debian's prometheus)")
    for role in ("A1", "B1"):
        _, _, body = http_get(mine.http(role), "/metrics")
        p = subprocess.run([tool, "check", "metrics"], input=body, capture_output=True,
                           timeout=harness.scaled(30))
        assert p.returncode == 0, (role, p.stdout + p.stderr)
    _, samples = parse_prometheus(http_get(mine.http("B1"), "/metrics")[2].decode())
    rows = metric_rows(samples, "natsd_route_rtt_seconds")
    assert [(lb["remote_id"], lb["remote_name"]) for lb, _ in rows] == \
        [(mine.ids["B2"], "B2")], rows
    info = metric_rows(samples, "natsd_info")
    assert [lb["cluster"] for lb, _ in info] == ["B"], info


def test_no_gateway(server_factory):
    """Without a gateway block: /gatewayz has only the id, the time and two
    empty maps; /varz an empty gateway object; /metrics no gateway rows."""
    s = server_factory("natsd", conf=HEAD % {"name": "solo"})
    p = s.ports["HTTP"]
    for path in ("/gatewayz", "/gatewayz?accs=1&gw_name=B"):
        d = get_json(p, path)
        assert sorted(d) == ["inbound_gateways", "now", "outbound_gateways", "server_id"]
        assert d["outbound_gateways"] == {} and d["inbound_gateways"] == {}
    assert get_json(p, "/varz")["gateway"] == {}
    _, samples = parse_prometheus(http_get(p, "/metrics")[2].decode())
    assert samples[("natsd_gateways", "")] == 0
    assert metric_rows(samples, "natsd_gateway_in_msgs_total") == []
