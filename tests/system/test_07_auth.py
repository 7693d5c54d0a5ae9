"""Authorization and permissions, byte for byte against nats-server 2.9.10
(docs/protocol/accounts.md §4, client.md §13): token, single user, users list with plain and
bcrypt passwords, auth timeout, no_auth_user, publish/subscribe allow and deny
with wildcards and queue entries, deny filtering at delivery, allow_responses,
default_permissions. Every case runs against natsd (threads 1 and 2) and the
reference nats-server with the same configuration."""

import pytest

from proto_util import (PROTO_ERR_LOGS, Conn, check_alive, connected, expect, msg, params,
                        start)

TARGETS = params()

BCRYPT_S3CR3T = "$2b$04$dSTVRjSr6qiC6nTvkxUpku3DzMHI6dCUPtpyxI.cy7NEhdP0Mxdna"

AUTH_ERRS = PROTO_ERR_LOGS + [r"Authentication Timeout", r"authentication"]

AUTHV = [b"-ERR 'Authorization Violation'\r\n"]

PERMS_CONF = """
authorization {
  users: [
    {user: a, password: a, permissions: {
        publish: {allow: ["foo.>", "req.*"], deny: ["foo.secret"]},
        subscribe: {allow: ["foo.>", "bar", "q.x g1", "q.y"], deny: ["foo.private.>", "q.y g9"]}}}
    {user: b, password: b}
    {user: r, password: r, permissions: {subscribe: "svc.>", allow_responses: true}}
    {user: r2, password: r2, permissions: {subscribe: "svc.>",
        allow_responses: {max: 2, expires: "1m"}}}
    {user: bc, password: "%s"}
  ]
}
""" % BCRYPT_S3CR3T


def srv_start(server_factory, target, conf):
    return start(server_factory, target, conf, expect_errors=AUTH_ERRS)


def creds(user, pw=None):
    return b'CONNECT {"verbose":false,"pedantic":false,"user":"%s","pass":"%s"}\r\n' % (
        user.encode(), (pw if pw is not None else user).encode())


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("target", TARGETS)
def test_token(target, server_factory):
    srv = srv_start(server_factory, target, "authorization { token: s3cr3t }")
    expect(srv.port, b'CONNECT {"verbose":false,"auth_token":"s3cr3t"}\r\n', [b"PONG\r\n"])
    expect(srv.port, b'CONNECT {"verbose":false,"auth_token":"nope"}\r\n', AUTHV, end="close")
    expect(srv.port, b'CONNECT {"verbose":false}\r\n', AUTHV, end="close")
    expect(srv.port, b"PING\r\n", AUTHV, end="close")
    t = Conn(srv.port)
    assert b'"auth_required":true' in t.info
    t.close()


@pytest.mark.parametrize("target", TARGETS)
def test_single_user(target, server_factory):
    srv = srv_start(server_factory, target, "authorization { user: u, password: p }")
    expect(srv.port, creds("u", "p"), [b"PONG\r\n"])
    expect(srv.port, creds("u", "x"), AUTHV, end="close")
    expect(srv.port, creds("x", "p"), AUTHV, end="close")
    expect(srv.port, b'CONNECT {"verbose":true}\r\n', AUTHV, end="close")


@pytest.mark.parametrize("target", TARGETS)
def test_users_plain_and_bcrypt(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    expect(srv.port, creds("b"), [b"PONG\r\n"])
    expect(srv.port, creds("bc", "s3cr3t"), [b"PONG\r\n"])
    expect(srv.port, creds("bc", "wrong"), AUTHV, end="close")
    expect(srv.port, creds("bc", BCRYPT_S3CR3T), AUTHV, end="close")
    expect(srv.port, creds("b", "wrong"), AUTHV, end="close")
    expect(srv.port, creds("nobody"), AUTHV, end="close")
    expect(srv.port, b'CONNECT {"verbose":false}\r\n', AUTHV, end="close")
    # the server stays up and serves authenticated clients
    c = connected(srv.port, user="b", **{"pass": "b"})
    c.send(b"SUB z 1\r\nPUB z 2\r\nhi\r\n")
    assert c.sync() == [msg("z", 1, "hi")]
    c.close()


@pytest.mark.parametrize("target", TARGETS)
def test_auth_timeout(target, server_factory):
    srv = srv_start(server_factory, target, "authorization { token: t, timeout: 0.5 }")
    c = Conn(srv.port)
    try:
        assert c.until_close(timeout=5) == [b"-ERR 'Authentication Timeout'\r\n"]
    finally:
        c.close()


@pytest.mark.parametrize("target", TARGETS)
def test_no_auth_user(target, server_factory):
    conf = PERMS_CONF.replace("authorization {", "no_auth_user: a\nauthorization {", 1)
    srv = srv_start(server_factory, target, conf)
    c = Conn(srv.port)
    assert b"auth_required" not in c.info
    c.close()
    # no credentials: bound to a, with a's permissions
    expect(srv.port, b'CONNECT {"verbose":false}\r\nPUB foo.secret 0\r\n\r\nPUB foo.ok 0\r\n\r\n',
           [b"-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n", b"PONG\r\n"])
    # credentials of another user
    expect(srv.port, creds("b") + b"PUB foo.secret 0\r\n\r\n", [b"PONG\r\n"])
    expect(srv.port, creds("b", "bad"), AUTHV, end="close")


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("target", TARGETS)
def test_publish_permissions(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    sub = connected(srv.port, user="b", **{"pass": "b"})
    sub.send(b"SUB > 1\r\n")
    sub.sync()
    data = (creds("a") + b"PUB foo.x 1\r\n1\r\nPUB foo.secret 1\r\n2\r\nPUB bar 1\r\n3\r\n"
            b"PUB req.1 1\r\n4\r\nPUB req.1.2 1\r\n5\r\nPUB foo.secret 1\r\n6\r\n"
            b"PUB foo.y 1\r\n7\r\n")
    expect(srv.port, data, [
        b"-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n",
        b"-ERR 'Permissions Violation for Publish to \"bar\"'\r\n",
        b"-ERR 'Permissions Violation for Publish to \"req.1.2\"'\r\n",
        b"-ERR 'Permissions Violation for Publish to \"foo.secret\"'\r\n",
        b"PONG\r\n"])
    assert sub.sync() == [msg("foo.x", 1, "1"), msg("req.1", 1, "4"), msg("foo.y", 1, "7")]
    sub.close()


@pytest.mark.parametrize("target", TARGETS)
def test_publish_permissions_verbose(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    data = (b'CONNECT {"verbose":true,"user":"a","pass":"a"}\r\n'
            b"PUB bar 0\r\n\r\nPUB foo.a 0\r\n\r\n")
    expect(srv.port, data, [b"+OK\r\n",
                            b"-ERR 'Permissions Violation for Publish to \"bar\"'\r\n",
                            b"+OK\r\n", b"PONG\r\n"])


@pytest.mark.parametrize("target", TARGETS)
def test_subscribe_permissions(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    data = (creds("a") + b"SUB foo.x 1\r\nSUB baz 2\r\nSUB bar 3\r\nSUB foo.private.x 4\r\n"
            b"SUB q.x 5\r\nSUB q.x g1 6\r\nSUB q.x g2 7\r\nSUB q.y 8\r\nSUB q.y g9 9\r\n"
            b"SUB q.y g8 10\r\nSUB > 11\r\nSUB foo.* 12\r\n")
    expect(srv.port, data, [
        b"-ERR 'Permissions Violation for Subscription to \"baz\"'\r\n",
        b"-ERR 'Permissions Violation for Subscription to \"foo.private.x\"'\r\n",
        b"-ERR 'Permissions Violation for Subscription to \"q.x\"'\r\n",
        b"-ERR 'Permissions Violation for Subscription to \"q.x\" using queue \"g2\"'\r\n",
        b"-ERR 'Permissions Violation for Subscription to \"q.y\" using queue \"g9\"'\r\n",
        b"-ERR 'Permissions Violation for Subscription to \">\"'\r\n",
        b"PONG\r\n"])


@pytest.mark.parametrize("target", TARGETS)
def test_subscribe_permissions_verbose(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    data = (b'CONNECT {"verbose":true,"user":"a","pass":"a"}\r\nSUB baz 1\r\nSUB bar 2\r\n')
    expect(srv.port, data, [b"+OK\r\n",
                            b"-ERR 'Permissions Violation for Subscription to \"baz\"'\r\n",
                            b"+OK\r\n", b"PONG\r\n"])


@pytest.mark.parametrize("target", TARGETS)
def test_wildcard_sub_filtered_by_deny(target, server_factory):
    """A SUB foo.> overlapping the deny foo.private.> is accepted; messages
    on denied subjects are not delivered."""
    srv = srv_start(server_factory, target, PERMS_CONF)
    a = connected(srv.port, user="a", **{"pass": "a"})
    a.send(b"SUB foo.> 1\r\nSUB foo.* 2\r\n")
    assert a.sync() == []
    b = connected(srv.port, user="b", **{"pass": "b"})
    b.send(b"PUB foo.private.x 1\r\n1\r\nPUB foo.ok 1\r\n2\r\nPUB foo.private 1\r\n3\r\n"
           b"PUB foo.private.x.y 1\r\n4\r\n")
    b.sync()
    got = a.sync()
    assert sorted(got) == sorted([msg("foo.ok", 1, "2"), msg("foo.ok", 2, "2"),
                                  msg("foo.private", 1, "3"), msg("foo.private", 2, "3")])
    a.close()
    b.close()


@pytest.mark.parametrize("target", TARGETS)
def test_allow_responses(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    r = connected(srv.port, user="r", **{"pass": "r"})
    r.send(b"SUB svc.> 1\r\n")
    assert r.sync() == []
    req = connected(srv.port, user="b", **{"pass": "b"})
    req.send(b"SUB _INBOX.> 9\r\nPUB svc.a _INBOX.1 2\r\nq1\r\n")
    req.sync()
    assert r.frame() == msg("svc.a", 1, "q1", reply="_INBOX.1")
    # one response allowed, the second not; other subjects never
    r.send(b"PUB _INBOX.1 2\r\nr1\r\nPUB _INBOX.1 2\r\nr2\r\nPUB other 0\r\n\r\n")
    assert r.sync() == [
        b"-ERR 'Permissions Violation for Publish to \"_INBOX.1\"'\r\n",
        b"-ERR 'Permissions Violation for Publish to \"other\"'\r\n"]
    assert req.sync() == [msg("_INBOX.1", 9, "r1")]
    r.close()
    req.close()


@pytest.mark.parametrize("target", TARGETS)
def test_allow_responses_max(target, server_factory):
    srv = srv_start(server_factory, target, PERMS_CONF)
    r = connected(srv.port, user="r2", **{"pass": "r2"})
    r.send(b"SUB svc.> 1\r\n")
    assert r.sync() == []
    req = connected(srv.port, user="b", **{"pass": "b"})
    req.send(b"SUB _INBOX.> 9\r\nPUB svc.a _INBOX.2 0\r\n\r\n")
    req.sync()
    assert r.frame() == msg("svc.a", 1, "", reply="_INBOX.2")
    r.send(b"PUB _INBOX.2 1\r\n1\r\nPUB _INBOX.2 1\r\n2\r\nPUB _INBOX.2 1\r\n3\r\n")
    assert r.sync() == [b"-ERR 'Permissions Violation for Publish to \"_INBOX.2\"'\r\n"]
    assert req.sync() == [msg("_INBOX.2", 9, "1"), msg("_INBOX.2", 9, "2")]
    r.close()
    req.close()


@pytest.mark.parametrize("target", TARGETS)
def test_default_permissions(target, server_factory):
    conf = """
authorization {
  default_permissions: {publish: {deny: ["no.>"]}, subscribe: {deny: ["hidden"]}}
  users: [
    {user: d, password: d}
    {user: e, password: e, permissions: {publish: "only"}}
  ]
}
"""
    srv = srv_start(server_factory, target, conf)
    expect(srv.port, creds("d") + b"PUB no.x 0\r\n\r\nPUB yes 0\r\n\r\nSUB hidden 1\r\nSUB x 2\r\n",
           [b"-ERR 'Permissions Violation for Publish to \"no.x\"'\r\n",
            b"-ERR 'Permissions Violation for Subscription to \"hidden\"'\r\n",
            b"PONG\r\n"])
    expect(srv.port, creds("e") + b"PUB no.x 0\r\n\r\nPUB only 0\r\n\r\nSUB hidden 1\r\n",
           [b"-ERR 'Permissions Violation for Publish to \"no.x\"'\r\n", b"PONG\r\n"])


@pytest.mark.parametrize("target", TARGETS)
def test_denied_clients_leave_server_up(target, server_factory):
    """Bad credentials of many kinds, then the server still serves."""
    srv = srv_start(server_factory, target, PERMS_CONF)
    for data in [creds("a", ""), creds("", ""), b'CONNECT {"user":"a"}\r\n',
                 b'CONNECT {"pass":"a"}\r\n', b'CONNECT {"auth_token":"a"}\r\n',
                 b"SUB x 1\r\n", b"PUB x 0\r\n\r\n"]:
        expect(srv.port, data, AUTHV, end="close")
    c = connected(srv.port, user="b", **{"pass": "b"})
    c.send(b"SUB alive 1\r\nPUB alive 1\r\nx\r\n")
    assert c.sync() == [msg("alive", 1, "x")]
    c.close()


@pytest.mark.parametrize("target", TARGETS)
def test_no_auth_server_alive(target, server_factory):
    srv = start(server_factory, target, "")
    check_alive(srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_allowed_connection_types(target, server_factory):
    """A user limited to other connection types (websocket here) may not
    connect as a plain client; one that lists STANDARD may."""
    srv = srv_start(server_factory, target, """
authorization { users: [
  {user: w, password: w, allowed_connection_types: ["WEBSOCKET"]}
  {user: s, password: s, allowed_connection_types: ["STANDARD", "MQTT"]}
] }""")
    expect(srv.port, creds("w"), AUTHV, end="close")
    expect(srv.port, creds("s"), [b"PONG\r\n"])
    assert 'authentication error - User "w"' in srv.log_text()
