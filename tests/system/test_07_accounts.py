"""Accounts, byte for byte against nats-server 2.9.10 (docs/protocol/accounts.md
§1-§3): isolation between accounts and $G, users per account, stream
imports (prefix, to, private exports) and service imports with replies
mapped back to the requester. Random "_R_" reply tokens and the rtt of the
Nats-Request-Info header are the only values normalised."""

import re

import pytest

from proto_util import PROTO_ERR_LOGS, connected, msg, params, start

TARGETS = params()

CONF = """
authorization { users: [ {user: g, password: g} ] }
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [
      {stream: "events.>"}
      {service: "svc.echo"}
      {service: "svc.multi.*"}
      {stream: "priv.>", accounts: [C]}
    ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "events.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.echo"}, to: "echo"}
      {service: {account: A, subject: "svc.multi.*"}}
    ]
  }
  C: {
    users: [ {user: c, password: c} ]
    imports: [
      {stream: {account: A, subject: "priv.>"}}
      {stream: {account: A, subject: "events.x"}, to: "ex"}
    ]
  }
}
"""

R_RE = re.compile(rb"_R_\.[0-9A-Za-z]{6}\.[0-9A-Za-z]{6}")


def srv_start(server_factory, target):
    return start(server_factory, target, CONF, expect_errors=PROTO_ERR_LOGS)


def login(port, user, **kw):
    return connected(port, user=user, **dict({"pass": user}, **kw))


@pytest.mark.parametrize("target", TARGETS)
def test_isolation(target, server_factory):
    srv = srv_start(server_factory, target)
    cs = {u: login(srv.port, u) for u in "gabc"}
    for i, c in enumerate(cs.values()):
        c.send(b"SUB x.> %d\r\nSUB > 10\r\n" % (i + 1))
        assert c.sync() == []
    for u, c in cs.items():
        c.send(b"PUB x.%s 1\r\n%s\r\n" % (u.encode(), u.encode()))
    for i, (u, c) in enumerate(cs.items()):
        got = c.sync()
        assert sorted(got) == sorted([msg("x." + u, i + 1, u), msg("x." + u, 10, u)]), (u, got)
    for c in cs.values():
        c.close()


@pytest.mark.parametrize("target", TARGETS)
def test_stream_import_prefix_and_to(target, server_factory):
    srv = srv_start(server_factory, target)
    a, b, c, g = (login(srv.port, u) for u in "abcg")
    b.send(b"SUB fromA.events.> 1\r\nSUB events.> 2\r\n")
    c.send(b"SUB ex 3\r\nSUB events.> 4\r\nSUB priv.> 5\r\n")
    g.send(b"SUB > 6\r\n")
    for x in (b, c, g):
        assert x.sync() == []
    a.send(b"PUB events.x r 2\r\ne1\r\nPUB events.y 2\r\ne2\r\nPUB other 2\r\no1\r\n"
           b"PUB priv.p 2\r\np1\r\n")
    a.sync()
    assert b.sync() == [msg("fromA.events.x", 1, "e1", reply="r"),
                        msg("fromA.events.y", 1, "e2")]
    assert c.sync() == [msg("ex", 3, "e1", reply="r"), msg("priv.p", 5, "p1")]
    assert g.sync() == []
    for x in (a, b, c, g):
        x.close()


def _norm(frame):
    """Random reply tokens, the rtt value and the sizes it changes."""
    frame = R_RE.sub(b"_R_.<r>", frame)
    frame = re.sub(rb',"rtt":\d+', b"", frame)
    return re.sub(rb"^(HMSG \S+ \S+(?: \S+)?) \d+ \d+\r\n", rb"\1 <h> <t>\r\n", frame)


@pytest.mark.parametrize("target", TARGETS)
def test_service_import_request_reply(target, server_factory):
    srv = srv_start(server_factory, target)
    a = login(srv.port, "a", headers=True)
    a.send(b"SUB svc.echo 1\r\n")
    assert a.sync() == []
    b = login(srv.port, "b")
    b.send(b"SUB _INBOX.> 9\r\nPUB echo _INBOX.1 2\r\nq1\r\n")
    assert b.sync() == []
    f = a.frame()
    hdr = b'NATS/1.0\r\nNats-Request-Info: {"acc":"B"}\r\n\r\n'
    assert _norm(f) == b"HMSG svc.echo 1 _R_.<r> <h> <t>\r\n" + hdr + b"q1\r\n", f
    reply = R_RE.search(f).group(0)
    # the response goes back to the requester, once (singleton)
    a.send(b"PUB " + reply + b" 2\r\nr1\r\nPUB " + reply + b" 2\r\nr2\r\n")
    a.sync()
    assert b.sync() == [msg("_INBOX.1", 9, "r1")]
    # a client may not use a reserved reply itself
    b.send(b"PUB echo " + reply + b" 0\r\n\r\n")
    assert b.sync() == [b"-ERR 'Permissions Violation for Publish with Reply of \"%s\"'\r\n"
                        % reply]
    a.close()
    b.close()


@pytest.mark.parametrize("target", TARGETS)
def test_service_import_no_headers_responder(target, server_factory):
    """The responder without headers gets the request with the header block
    stripped; a wildcard export imported as is keeps the subject."""
    srv = srv_start(server_factory, target)
    a = login(srv.port, "a")
    a.send(b"SUB svc.multi.* 1\r\n")
    assert a.sync() == []
    b = login(srv.port, "b", headers=True)
    b.send(b"SUB inbox 9\r\nHPUB svc.multi.x inbox 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    assert b.sync() == []
    f = a.frame()
    assert _norm(f) == b"MSG svc.multi.x 1 _R_.<r> 2\r\nhi\r\n", f
    reply = R_RE.search(f).group(0)
    a.send(b"PUB " + reply + b" 3\r\nans\r\n")
    a.sync()
    assert b.sync() == [msg("inbox", 9, "ans")]
    a.close()
    b.close()


@pytest.mark.parametrize("target", TARGETS)
def test_service_import_no_responders(target, server_factory):
    srv = srv_start(server_factory, target)
    b = login(srv.port, "b", headers=True, no_responders=True)
    # a request forwarded to the exporter counts as delivered: no 503
    b.send(b"SUB inbox.1 9\r\nPUB echo inbox.1 0\r\n\r\n")
    assert b.sync() == []
    # nobody at all: 503
    b.send(b"PUB nothing inbox.1 0\r\n\r\n")
    assert b.sync() == [b"HMSG inbox.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"]
    b.close()


@pytest.mark.parametrize("target", TARGETS)
def test_service_request_without_reply(target, server_factory):
    srv = srv_start(server_factory, target)
    a = login(srv.port, "a", headers=True)
    a.send(b"SUB svc.echo 1\r\n")
    assert a.sync() == []
    b = login(srv.port, "b")
    b.send(b"PUB echo 2\r\nnr\r\n")
    b.sync()
    hdr = b'NATS/1.0\r\nNats-Request-Info: {"acc":"B"}\r\n\r\n'
    assert _norm(a.frame()) == b"HMSG svc.echo 1 <h> <t>\r\n" + hdr + b"nr\r\n"
    a.close()
    b.close()
