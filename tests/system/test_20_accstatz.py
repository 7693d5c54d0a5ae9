"""Per-account traffic in /accstatz, compared with nats-server.

Each account counts the messages its clients publish (received), the
deliveries of messages published in it (sent: one per subscription, route or
gateway that got the message, with the payload's bytes each time) and the
slow consumers among its clients. Workers add what they counted once per
turn, so the figures are polled until they settle; nats-server adds its own
once per read as well."""

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
