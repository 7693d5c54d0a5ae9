"""SIGHUP reload: reloadable options take effect for new connections and are
logged one by one; a change to an option that cannot change at run time is
refused with nats-server's message and the server keeps its configuration.
Users, permissions and accounts reload as in nats-server 2.9.10
(reloadAuthorization), byte for byte against it: clients whose user is gone
or moved are closed, clients whose credentials no longer hold get
'Authorization Violation', subscriptions the new permissions refuse are
removed with an -ERR, and accounts and imports change for everyone."""

import json
import os
import signal
import socket
import time
import urllib.error

import pytest

from gwpeer import http_json
from natsd import timeout_scale
from proto_util import PROTO_ERR_LOGS, conf_text, connected, msg, params, start

pytestmark = pytest.mark.threaded


def info(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, "closed before INFO"
            buf += chunk
    line = buf.split(b"\r\n", 1)[0]
    assert line.startswith(b"INFO ")
    return json.loads(line[5:])


def wait_log(srv, text):
    deadline = time.monotonic() + 10 * timeout_scale()
    while text not in srv.log_text():
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, srv.log_text())
        time.sleep(0.02)


def rewrite(srv, text):
    with open(srv.conf_path, "w") as f:
        f.write(text.replace("@PORT@", str(srv.port)))


@pytest.mark.parametrize("threads", [1, 2])
def test_reload_applies_reloadable_options(server_factory, threads):
    srv = server_factory("natsd", conf="port: @PORT@\nthreads: %d\nmax_payload: 1024\n" % threads)
    assert info(srv.port)["max_payload"] == 1024
    rewrite(srv, "port: @PORT@\nthreads: %d\nmax_payload: 2048\ndebug: true\n" % threads)
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Reloaded server configuration")
    log = srv.log_text()
    assert "[INF] Reloaded: max_payload = 2048" in log
    assert "[INF] Reloaded: debug = true" in log
    assert info(srv.port)["max_payload"] == 2048


def test_reload_refuses_a_port_change(server_factory):
    srv = server_factory("natsd", conf="port: @PORT@\nmax_payload: 1024\n",
                         expect_errors=[r"Failed to reload server configuration: "
                                        r"config reload not supported for port"])
    rewrite(srv, "port: 1\nmax_payload: 4096\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Failed to reload server configuration")
    assert info(srv.port)["max_payload"] == 1024, "nothing of a refused reload applies"


def test_reload_reports_a_broken_file(server_factory):
    srv = server_factory("natsd", conf="port: @PORT@\n",
                         expect_errors=[r"Failed to reload server configuration: .*"
                                        r"Parse error"])
    rewrite(srv, "port: @PORT@\nmax_payload: {\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Failed to reload server configuration")
    assert info(srv.port)["port"] == srv.port


# --------------------------------------------------------------------------- users and accounts

TARGETS = params()
ERRS = PROTO_ERR_LOGS + [r"authentication error"]


def reload_to(srv, target, conf):
    """Write conf as the target's file (as start() wrote the first one), send
    SIGHUP and wait for the outcome."""
    start_at = len(srv.log_text())
    with open(srv.conf_path, "w") as f:
        f.write(conf_text(target, conf))
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_log(r"Reloaded server configuration|Failed to reload", start=start_at)
    return srv.log_text()[start_at:]


@pytest.mark.parametrize("target", TARGETS)
def test_reload_log_lines(target, server_factory):
    """nats-server never finds users and accounts equal, so every reload logs
    them; the lines come in its Options order (logtime and max_connections
    before them, max_payload and write_deadline after), with values as it
    prints them (a duration as Go does, a removed key as its default)."""
    srv = start(server_factory, target, "max_connections: 10\n")
    log = reload_to(srv, target, "max_payload: 4096\nlogtime: false\nwrite_deadline: \"3s\"\n"
                                 "ping_interval: 90\n")
    lines = [ln.split("] ", 2)[-1] for ln in log.splitlines() if "Reloaded" in ln]
    assert lines == ["Reloaded: logtime = false", "Reloaded: max_connections = 65536",
                     "Reloaded: authorization users", "Reloaded: accounts",
                     "Reloaded: ping_interval = 1m30s", "Reloaded: max_payload = 4096",
                     "Reloaded: write_deadline = 3s", "Reloaded server configuration"], lines


def login(port, user, pw=None):
    return connected(port, user=user, **{"pass": pw if pw is not None else user})


USERS1 = """
authorization { users: [
  {user: a, password: a, permissions: {subscribe: {allow: ["foo.>", "bar"]}}}
  {user: b, password: b}
  {user: c, password: c}
] }
"""
USERS2 = """
authorization { users: [
  {user: a, password: a, permissions: {subscribe: {allow: ["bar", "q.>"]}}}
  {user: b, password: b2}
  {user: d, password: d}
] }
"""


@pytest.mark.parametrize("target", TARGETS)
def test_reload_users(target, server_factory):
    """A removed user's client is closed without a word; a changed password
    gets 'Authorization Violation'; a new user can log in; a user whose
    permissions shrank loses the subscriptions they refuse, each with an -ERR
    naming subject and sid, and keeps the others."""
    srv = start(server_factory, target, USERS1, expect_errors=ERRS)
    a = login(srv.port, "a")
    a.send(b"SUB foo.x 1\r\nSUB bar 2\r\n")
    assert a.sync() == []
    b = login(srv.port, "b")
    c = login(srv.port, "c")
    log = reload_to(srv, target, USERS2)
    assert "Reloaded: authorization users" in log and "Reloaded: accounts" in log
    assert c.until_close() == []
    assert b.until_close() == [b"-ERR 'Authorization Violation'\r\n"]
    assert a.sync() == [b"-ERR 'Permissions Violation for Subscription to \"foo.x\" "
                        b"(sid \"1\")'\r\n"]
    srv.wait_log(r'\[INF\] Removed sub "foo.x" \(sid "1"\) for User "a" - not authorized')
    srv.wait_log(r'authentication error - User "b"')
    d = login(srv.port, "d")
    d.send(b"PUB foo.x 1\r\nx\r\nPUB bar 1\r\ny\r\n")
    assert d.sync() == []
    assert a.sync() == [msg("bar", 2, "y")]
    # what the new permissions allow works, what they refuse is refused
    a.send(b"SUB q.1 3\r\nSUB foo.y 4\r\n")
    assert a.sync() == [b"-ERR 'Permissions Violation for Subscription to \"foo.y\"'\r\n"]
    for x in (a, d):
        x.close()


ACCS1 = """
accounts {
  A: { users: [ {user: a, password: a} ] }
  B: { users: [ {user: b, password: b} ] }
  X: { users: [ {user: x, password: x} ] }
}
"""
ACCS2 = """
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "events.>"}, {service: "svc"} ]
  }
  B: {
    users: [ {user: b, password: b}, {user: x, password: x} ]
    imports: [
      {stream: {account: A, subject: "events.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc"}, to: "asvc"}
    ]
  }
  C: {
    users: [ {user: c, password: c} ]
    imports: [ {stream: {account: A, subject: "events.>"}} ]
  }
}
"""


@pytest.mark.parametrize("target", TARGETS)
def test_reload_accounts(target, server_factory):
    """Accounts change by name: A and B keep their clients and
    subscriptions, a user moved to another account is closed, a new account
    with imports works at once, and dropping the imports and the account
    again isolates them (its clients are closed)."""
    srv = start(server_factory, target, ACCS1, expect_errors=ERRS)
    a = login(srv.port, "a")
    a.send(b"SUB svc 1\r\nSUB > 2\r\n")
    assert a.sync() == []
    b = login(srv.port, "b")
    b.send(b"SUB fromA.events.> 1\r\nSUB events.> 2\r\nSUB _INBOX.> 3\r\n")
    assert b.sync() == []
    x = login(srv.port, "x")
    a.send(b"PUB events.1 1\r\n1\r\n")
    assert a.sync() == [msg("events.1", 2, "1")]
    assert b.sync() == []

    reload_to(srv, target, ACCS2)
    assert x.until_close() == []  # moved from X to B
    c = login(srv.port, "c")
    c.send(b"SUB events.> 1\r\nSUB > 2\r\n")
    assert c.sync() == []
    a.send(b"PUB events.2 1\r\n2\r\nPUB other 1\r\no\r\n")
    assert a.sync() == [msg("events.2", 2, "2"), msg("other", 2, "o")]
    assert b.sync() == [msg("fromA.events.2", 1, "2")]
    assert sorted(c.sync()) == sorted([msg("events.2", 1, "2"), msg("events.2", 2, "2")])
    # a service import of the new configuration
    b.send(b"PUB asvc _INBOX.1 1\r\nq\r\n")
    assert b.sync() == []
    got = a.frames(2)
    assert sorted(f.split(b" ")[2] for f in got) == [b"1", b"2"], got
    reply = got[0].split()[3]
    a.send(b"PUB " + reply + b" 2\r\nr1\r\n")
    assert a.sync() == [msg(reply.decode(), 2, "r1")]  # its own "> 2"
    assert b.sync() == [msg("_INBOX.1", 3, "r1")]

    reload_to(srv, target, ACCS1)
    assert c.until_close() == []  # account C is gone
    a.send(b"PUB events.3 1\r\n3\r\n")
    assert a.sync() == [msg("events.3", 2, "3")]
    b.send(b"PUB asvc _INBOX.1 1\r\nq\r\n")
    assert b.sync() == []
    assert a.sync() == []
    with pytest.raises(AssertionError):
        login(srv.port, "c")  # no such user any more
    for y in (a, b):
        y.close()


@pytest.mark.parametrize("target", params(reference=False))
def test_reload_keeps_single_user_clients(target, server_factory):
    """Deliberately unlike nats-server 2.9.10, which closes every client that
    gave a user name on any reload when the configuration has no users list
    (its reloadAuthorization looks the name up in an empty map): natsd checks
    such a client's credentials again and keeps it while they hold."""
    conf = "authorization { user: u, password: p }\n"
    srv = start(server_factory, target, conf, expect_errors=ERRS)
    u = login(srv.port, "u", "p")
    u.send(b"SUB foo 1\r\n")
    assert u.sync() == []
    reload_to(srv, target, conf + "max_payload: 2048\n")
    u.send(b"PUB foo 1\r\nx\r\n")
    assert u.sync() == [msg("foo", 1, "x")]
    reload_to(srv, target, "authorization { user: u, password: q }\n")
    assert u.until_close() == [b"-ERR 'Authorization Violation'\r\n"]


@pytest.mark.parametrize("target", params(threaded_t1=True, reference=False))
def test_reload_under_traffic(target, server_factory):
    """Reloads that swap import tables, accounts and permissions while other
    workers deliver through them (the sanitizer builds check the rest)."""
    import threading
    perms = "permissions: {subscribe: {allow: %s}, allow_responses: true}"
    conf = """
accounts {
  A: { users: [ {user: a, password: a, %s} ]
       exports: [ {stream: "ev.>"}, {service: "svc"} ] }
  B: { users: [ {user: b, password: b} ]
       imports: [ {stream: {account: A, subject: "ev.>"}%s}
                  {service: {account: A, subject: "svc"}} ] }
  %s
}
"""
    confs = [conf % (perms % '[">"]', "", ""),
             conf % (perms % '["ev.>", "svc"]', ', prefix: "p"',
                     'C: { users: [ {user: c, password: c} ], '
                     'imports: [ {stream: {account: A, subject: "ev.>"}} ] }')]
    srv = start(server_factory, target, confs[0], expect_errors=ERRS)
    stop = threading.Event()
    errors = []

    def traffic(user):
        while not stop.is_set():
            try:
                c = login(srv.port, user)
                c.send(b"SUB > 1\r\nSUB ev.* 2\r\n")
                for _ in range(50):
                    c.send(b"PUB ev.x 2\r\nhi\r\nPUB svc _INBOX.1 1\r\nq\r\n" * 20)
                    c.sync()
                c.close()
            except (AssertionError, OSError):
                pass  # closed by a reload, or a user the current file lacks
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=traffic, args=(u,)) for u in "abac"]
    for t in threads:
        t.start()
    try:
        for i in range(8):
            reload_to(srv, target, confs[(i + 1) % 2])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    b = login(srv.port, "b")
    b.send(b"SUB ev.> 1\r\n")
    assert b.sync() == []
    b.close()


@pytest.mark.parametrize("target", TARGETS)
def test_reload_removed_account_leaves_monitoring(target, server_factory):
    """An account a reload removes is gone from /accountz (the list and a
    lookup by name), /accstatz and the account filters, as in nats-server;
    one it adds appears."""
    accs = ('accounts {\n  A: { users: [ {user: a, password: a} ] }\n'
            '  %s: { users: [ {user: %s, password: p} ] }\n}\n')
    srv = start(server_factory, target, 'http: "127.0.0.1:@PORT_HTTP@"\n' + accs % ("OLD", "o"),
                expect_errors=ERRS)
    port = srv.ports["HTTP"]

    def listed():
        return set(http_json(port, "/accountz")["accounts"])

    assert {"A", "OLD"} <= listed()
    old = login(srv.port, "o", "p")
    assert [e["acc"] for e in http_json(port, "/accstatz")["account_statz"]] == ["OLD"]
    reload_to(srv, target, 'http: "127.0.0.1:%d"\n' % port + accs % ("NEW", "n"))
    assert old.until_close() == []
    names = listed()
    assert "OLD" not in names and {"A", "NEW"} <= names
    with pytest.raises(urllib.error.HTTPError) as e:
        http_json(port, "/accountz?acc=OLD")
    assert e.value.code == 400
    assert http_json(port, "/accountz?acc=NEW")["account_detail"]["account_name"] == "NEW"
    assert http_json(port, "/accstatz?unused=1")["account_statz"] is not None
    assert "OLD" not in [e["acc"] for e in http_json(port, "/accstatz?unused=1")["account_statz"]]
