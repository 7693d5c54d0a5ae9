"""Per-account traffic in /accstatz, compared with nats-server.

Each account counts the messages its clients publish (received), the
deliveries of messages published in it (sent: one per subscription, route or
gateway that got the message, with the payload's bytes each time) and the
slow consumers among its clients. Workers add what they counted once per
turn, so the figures are polled until they settle; nats-server adds its own
once per read as well."""

import time

import pytest

from gwpeer import http_json, wait_until
from proto_util import connected, params, start

TARGETS = params(threaded_t1=True)

CONF = '''http: "127.0.0.1:@PORT_HTTP@"
accounts {
  A: { users: [ {user: a, password: a}, {user: a2, password: a2} ] }
  B: { users: [ {user: b, password: b} ] }
  Q: { users: [ {user: q, password: q} ] }
}
'''


def statz(port):
    out = {}
    for e in http_json(port, "/accstatz?unused=1")["account_statz"]:
        out[e["acc"]] = (e["received"]["msgs"], e["received"]["bytes"],
                         e["sent"]["msgs"], e["sent"]["bytes"], e["conns"])
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_accstatz_counts_per_account(target, server_factory):
    srv = start(server_factory, target, CONF)
    port = srv.ports["HTTP"]
    a = connected(srv.port, user="a", **{"pass": "a"})
    a2 = connected(srv.port, user="a2", **{"pass": "a2"})
    b = connected(srv.port, user="b", **{"pass": "b"})
    a.send(b"SUB s 1\r\nSUB s 2\r\n")   # two deliveries of each message in A
    assert a.sync() == []
    a2.send(b"SUB s 1\r\n")             # and a third, on another connection
    assert a2.sync() == []
    for i in range(3):
        a2.send(b"PUB s 5\r\nhello\r\n")
    assert a2.sync() == [b"MSG s 1 5\r\nhello\r\n"] * 3
    b.send(b"PUB s 2\r\nhi\r\nPUB s 2\r\nhi\r\n")   # nobody listens in B
    assert b.sync() == []
    assert len(a.sync()) == 6
    want = {"A": (3, 15, 9, 45, 2), "B": (2, 4, 0, 0, 1), "Q": (0, 0, 0, 0, 0)}

    def settled():
        got = statz(port)
        return all(got.get(k) == v for k, v in want.items())
    wait_until(settled, what="per-account figures %r (last %r)" % (want, statz(port)))
    for c in (a, a2, b):
        c.close()


LINK_CONF = {
    "cluster": 'cluster { name: C, listen: "127.0.0.1:@PORT_L@", '
               'routes: ["nats://127.0.0.1:@PORT_PEER@"] }',
    "gateway": 'gateway { name: @NAME@, listen: "127.0.0.1:@PORT_L@", '
               'gateways: [ {name: @PEER@, url: "nats://127.0.0.1:@PORT_PEER@"} ] }',
}


@pytest.mark.parametrize("link", ["cluster", "gateway"])
@pytest.mark.parametrize("target", TARGETS)
def test_accstatz_counts_what_routes_and_gateways_bring(target, server_factory, link):
    """Messages that come in on a route or an inbound gateway are received
    by the global account (nats-server's route and gateway connections are
    in it), whatever the account they were published in; their deliveries
    count as sent in that account on both sides."""
    from natsd import free_port
    pl, pp = free_port(), free_port()
    base = CONF + "no_system_account: true\n"
    conf_x = base + LINK_CONF[link].replace("@NAME@", "X").replace("@PEER@", "Y")
    conf_y = base + LINK_CONF[link].replace("@NAME@", "Y").replace("@PEER@", "X")
    x = start(server_factory, target, conf_x, ports={"L": pl, "PEER": pp},
              expect_errors=[r"Error trying to connect"])
    y = start(server_factory, target, conf_y, ports={"L": pp, "PEER": pl},
              expect_errors=[r"Error trying to connect"])
    sub = connected(x.port, user="a", **{"pass": "a"})
    # probes go to p, subscribed after s: its interest crossing a route
    # means s's did (a gateway starts optimistic anyway)
    sub.send(b"SUB s 1\r\nSUB p 2\r\n")
    assert sub.sync() == []
    pub = connected(y.port, user="a", **{"pass": "a"})

    def delivered():
        pub.send(b"PUB p 5\r\nprobe\r\n")
        assert pub.sync() == []
        return len(sub.sync())
    # interest crosses the link asynchronously: probe until one arrives
    wait_until(lambda: delivered() > 0, what="a message across the %s" % link)

    # then until the probes still in flight have been counted on both sides
    def settled():
        a = (statz(x.ports["HTTP"]), statz(y.ports["HTTP"]))
        time.sleep(0.3)
        sub.sync()
        return a == (statz(x.ports["HTTP"]), statz(y.ports["HTTP"]))
    wait_until(settled, what="the probes to settle")
    before_x, before_y = statz(x.ports["HTTP"]), statz(y.ports["HTTP"])
    for i in range(3):
        pub.send(b"PUB s 5\r\nhello\r\n")
    assert pub.sync() == []
    got = []
    wait_until(lambda: got.extend(sub.sync()) or len(got) >= 3, what="3 messages across")
    assert len(got) == 3, got
    wait_until(lambda: statz(x.ports["HTTP"])["$G"][0] - before_x["$G"][0] == 3,
               what="$G received on the receiving side (%r)" % statz(x.ports["HTTP"]))
    gx, ax = statz(x.ports["HTTP"])["$G"], statz(x.ports["HTTP"])["A"]
    assert gx[1] - before_x["$G"][1] == 15, gx
    assert ax[0] == 0 and ax[2] - before_x["A"][2] == 3, ax   # delivered locally in A
    gy, ay = statz(y.ports["HTTP"])["$G"], statz(y.ports["HTTP"])["A"]
    assert gy[0] == 0, gy                       # nothing came in on y's link
    # each of the 3 went over the link once
    assert (ay[0] - before_y["A"][0], ay[2] - before_y["A"][2]) == (3, 3), (before_y, ay)
    for c in (sub, pub):
        c.close()
