# SPDX-License-Identifier: Apache-2.0
"""Host names of routes and gateways are looked up at every dial and never on
an event loop: a name server that does not answer delays neither readiness
nor the clients, a peer whose name moves to another address is reconnected
there, and route URLs with host names (cluster.advertise, gossip) are
dialled.

The servers under test get their own /etc/resolv.conf (fakedns.py: a mount
namespace each, the test's network), pointing at a name server run by the
test that holds or answers queries as the test says. Assertions are about
order (the lookup is seen pending, then a client gets its PONG, then the
answer goes out), never about time."""
import http.client
import json
import time

import pytest

import natsd as harness
from fakedns import DnsServer, FakeDns, skip_unless_usable
from natsd import free_port, scaled
from rawclient import RawClient

pytestmark = pytest.mark.threaded


@pytest.fixture
def dns(tmp_path):
    skip_unless_usable()
    d = FakeDns(tmp_path)
    yield d
    d.close()


@pytest.fixture
def servers(request, tmp_path, dns):
    """Start servers (with dns=FakeDns: under that name server); stop and
    check them all at teardown, the servers under the name server first (in
    the order they started: none sees a peer of its go away and dials
    again), the name server itself after all of them."""
    started = []

    def factory(kind="natsd", conf=None, dns=None, name=None, start=True, **kw):
        request.getfixturevalue("natsd_bin" if kind == "natsd" else "nats_server_bin")
        name = name or "%s-%d" % (kind, len(started) + 1)
        if dns is not None:
            s = DnsServer(dns, kind, tmp_path / name, conf=conf, name=name, **kw)
        else:
            s = harness.ServerProcess(kind, tmp_path / name, conf=conf, name=name, **kw)
        started.append(s)
        if start:
            s.start()
        return s

    yield factory
    problems = []
    order = [s for s in started if isinstance(s, DnsServer)]
    order += [s for s in reversed(started) if not isinstance(s, DnsServer)]
    for s in order:
        if s.proc is None:
            continue
        try:
            s.check()
        except harness.ServerError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _get(srv, path):
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["HTTP"], timeout=scaled(5))
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_until(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def _routes(srv):
    return _get(srv, "/routez")["routes"] or []


def _outbound(srv, name):
    out = _get(srv, "/gatewayz")["outbound_gateways"] or {}
    return out.get(name)


def _pong_while_held(srv, dns, name):
    """With the lookup of name seen and still unanswered, a client connects
    and gets its PONG, and the name server still has not answered."""
    dns.wait_query(name)
    with RawClient(srv.port) as c:
        c.handshake()
        c.ping_pong(timeout=scaled(10))
    assert dns.hold and name not in dns.answered, "the name server answered already"


def _threads(kind):
    # one worker: every client shares the loop that dials
    return "threads: 1\n" if kind == "natsd" else ""


@pytest.mark.parametrize("kind", ["natsd", "nats-server"])
def test_route_name_lookup_off_loop_and_redialled(servers, dns, kind):
    """A configured route to a host name: the server is ready and serves
    clients while the lookup hangs; the answer is dialled; when the route
    closes and the name now points elsewhere, the new address is dialled."""
    cport = free_port()
    peer_conf = ("listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                 "cluster { name: c1, listen: \"%s:" + str(cport) + "\" }\n")
    a = servers("natsd", peer_conf % "127.0.0.1", name="peer-a")
    name = "peer.route.example"
    dns.hold_queries()
    s = servers(kind, _threads(kind) +
                "listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                "cluster { name: c1, listen: 127.0.0.1:-1, "
                "routes: [\"nats-route://%s:%d\"] }\n" % (name, cport),
                dns=dns, name="subject", start=False)
    s.start(wait=False)
    dns.wait_query(name)
    s.wait_ready()  # while the lookup is pending
    _pong_while_held(s, dns, name)
    assert _routes(s) == []

    dns.set(name, "127.0.0.1")
    dns.release()
    wait_until(lambda: [r for r in _routes(s) if r["ip"] == "127.0.0.1" and r["port"] == cport],
               what="the route to 127.0.0.1")

    # the name moves: a server at the new address, the old one goes away
    dns.set(name, "127.0.0.2")
    b = servers("natsd", peer_conf % "127.0.0.2", name="peer-b")
    b_id = _get(b, "/varz")["server_id"]
    asked = dns.queries.count(name)
    a.stop()
    dns.wait_query(name, count=asked + 1)  # looked up again to reconnect
    wait_until(lambda: [r for r in _routes(s) if r["ip"] == "127.0.0.2" and r["remote_id"] == b_id],
               what="the route to the new address")


@pytest.mark.parametrize("kind", ["natsd", "nats-server"])
def test_gateway_name_lookup_off_loop_and_redialled(servers, dns, kind):
    """A remote gateway at a host name: clients on the dialling loop are
    served while its lookup hangs; then the answer, and after a close the
    name's new address, is dialled."""
    gport = free_port()
    peer_conf = ("listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                 "gateway { name: B, listen: \"%s:" + str(gport) + "\" }\n")
    # the peers dial back to A (an implicit gateway), also after A stopped
    back = [r'Error connecting to implicit gateway "A"']
    b1 = servers("natsd", peer_conf % "127.0.0.1", name="gw-b1", expect_errors=back)
    name = "peer.gateway.example"
    dns.hold_queries()
    s = servers(kind, _threads(kind) +
                "listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                "gateway { name: A, listen: 127.0.0.1:-1, "
                "gateways: [{name: B, url: \"nats://%s:%d\"}] }\n" % (name, gport),
                dns=dns, name="subject",
                # the URL the first B announced (by address) is tried too once it is gone
                expect_errors=[r"Error connecting to explicit gateway \"B\" \(127\.0\.0\.1:"])
    _pong_while_held(s, dns, name)
    assert _outbound(s, "B") is None

    dns.set(name, "127.0.0.1")
    dns.release()
    wait_until(lambda: (_outbound(s, "B") or {}).get("connection", {}).get("ip") == "127.0.0.1",
               what="the outbound gateway to 127.0.0.1")

    dns.set(name, "127.0.0.2")
    b2 = servers("natsd", peer_conf % "127.0.0.2", name="gw-b2", expect_errors=back)
    b2_id = _get(b2, "/varz")["server_id"]
    b1.stop()
    wait_until(lambda: (_outbound(s, "B") or {}).get("connection", {}).get("name") == b2_id,
               what="the outbound gateway to the new address")
    assert _outbound(s, "B")["connection"]["ip"] == "127.0.0.2"


@pytest.mark.parametrize("kind", ["natsd", "nats-server"])
def test_route_gossip_with_advertised_host_name(servers, dns, kind):
    """A server joining a cluster with its route address advertised by host
    name (cluster.advertise): the seed gossips that URL to the members, and
    a member dials the host name. The learner's own advertised name does
    not resolve, so the newcomer cannot have dialled it instead: the route
    exists only if the learner dialled the gossiped host name."""
    dns.set("x.route.example", "127.0.0.1")  # "s.route.example" stays unknown
    seed = servers("natsd", "listen: 127.0.0.1:@PORT@\n"
                   "cluster { name: c1, listen: 127.0.0.1:@PORT_CL@ }\n", name="seed")
    seed_url = "nats-route://127.0.0.1:%d" % seed.ports["CL"]
    s = servers("natsd", "listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                "cluster { name: c1, listen: 127.0.0.1:@PORT_CL@, "
                "advertise: \"s.route.example:@PORT_CL@\", routes: [\"%s\"] }\n" % seed_url,
                dns=dns, name="learner")
    wait_until(lambda: _routes(s), what="the learner's route to the seed")
    xport = free_port()
    x = servers(kind, "listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                "cluster { name: c1, listen: 127.0.0.1:%d, advertise: \"x.route.example:%d\", "
                "routes: [\"%s\"] }\n" % (xport, xport, seed_url),
                dns=dns, name="advertised",
                expect_errors=[r"Error trying to connect to route.*s\.route\.example"])
    x_id = _get(x, "/varz")["server_id"]
    route = wait_until(lambda: [r for r in _routes(s) if r["remote_id"] == x_id],
                       what="the gossiped route to the advertised server")[0]
    assert route["did_solicit"] is True
    assert route["port"] == xport
    assert "x.route.example" in dns.answered


@pytest.mark.parametrize("remote", ["route", "gateway"])
def test_shutdown_while_a_lookup_hangs(servers, dns, remote):
    """Stopping the server while a route's or gateway's lookup is held: it
    exits at once and cleanly (the sanitizer builds check the abandoned
    request), without waiting for the name server."""
    name = "held.%s.example" % remote
    dns.hold_queries()
    if remote == "route":
        block = "cluster { name: c1, listen: 127.0.0.1:-1, routes: [\"nats-route://%s:4248\"] }" % name
    else:
        block = ("gateway { name: A, listen: 127.0.0.1:-1, "
                 "gateways: [{name: B, url: \"nats://%s:7222\"}] }" % name)
    s = servers("natsd", "listen: 127.0.0.1:@PORT@\n" + block + "\n", dns=dns, name="subject")
    dns.wait_query(name)
    s.stop()  # fails on a server that does not exit; teardown checks the log
    assert name not in dns.answered


@pytest.mark.parametrize("kind", ["natsd", "nats-server"])
def test_unknown_names_are_reported_and_retried(servers, dns, kind):
    """A name that does not exist: the route's attempt and the gateway's URL
    are reported with nats-server's texts, and looked up again on the next
    attempt (which then succeeds once the name exists)."""
    gport = free_port()
    b = servers("natsd", "listen: 127.0.0.1:@PORT@\n"
                "gateway { name: B, listen: \"127.0.0.1:%d\" }\n" % gport, name="gw-b")
    route_err = (r'\[ERR\] Error trying to connect to route \(attempt 1\): '
                 r'lookup for host "nx\.route\.example": lookup nx\.route\.example')
    gw_err = (r'\[ERR\] Error getting IP for explicit gateway "B" \(nx\.gateway\.example:%d\): '
              r'lookup for host "nx\.gateway\.example": lookup nx\.gateway\.example' % gport)
    s = servers(kind, "listen: 127.0.0.1:@PORT@\nhttp: 127.0.0.1:@PORT_HTTP@\n"
                "cluster { name: A, listen: 127.0.0.1:-1, "
                "routes: [\"nats-route://nx.route.example:4248\"] }\n"
                "gateway { name: A, listen: 127.0.0.1:-1, "
                "gateways: [{name: B, url: \"nats://nx.gateway.example:%d\"}] }\n" % gport,
                dns=dns, name="subject", expect_errors=[route_err, gw_err,
                                                        r"Error trying to connect to route"])
    s.wait_log(route_err)
    s.wait_log(gw_err)
    asked = dns.queries.count("nx.gateway.example")
    dns.set("nx.gateway.example", "127.0.0.1")
    dns.wait_query("nx.gateway.example", count=asked + 1)
    wait_until(lambda: _outbound(s, "B"), what="the outbound gateway once the name exists")
    b.check()
