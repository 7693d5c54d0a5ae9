"""Queue groups (docs/protocol/subjects.md §3): exactly one member of each group per
message, plain subscribers served independently, request/reply over a group.

Runs against natsd with `threads: 1` and `threads: 2` (both marked threaded)
and against the reference nats-server.
"""

import pytest

from proto_util import PROTO_ERR_LOGS, connected, expect, msg, params, start

pytestmark = [pytest.mark.spawns]

TARGETS = params(threaded_t1=True, threaded_t2=True)
QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'


@pytest.fixture
def srv(request, server_factory):
    return start(server_factory, request.param, expect_errors=PROTO_ERR_LOGS)


def srv_params():
    return pytest.mark.parametrize("srv", TARGETS, indirect=True)


def payloads(frames):
    out = []
    for f in frames:
        head, _, body = f.partition(b"\r\n")
        out.append((head.split(b" ")[2], body[:-2]))
    return out


@srv_params()
def test_queue_one_connection(srv):
    """Three members of q on one connection: each message goes to exactly one."""
    c = connected(srv.port)
    try:
        c.send(b"SUB foo q 1\r\nSUB foo q 2\r\nSUB foo q 3\r\n")
        assert c.sync() == []
        n = 300
        c.send(b"".join(b"PUB foo %d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n)))
        got = payloads(c.sync())
        assert sorted(int(p) for _, p in got) == list(range(n))
        assert set(s for s, _ in got) <= {b"1", b"2", b"3"}
        # random member choice: all three members get some of 300 messages
        assert len(set(s for s, _ in got)) == 3
    finally:
        c.close()


@srv_params()
def test_queue_members_on_many_connections(srv):
    """Members spread over connections (and workers): every message reaches
    exactly one member of each group, plain subscribers get all of them."""
    groups = {b"g1": 4, b"g2": 2}
    members = []
    for g, k in groups.items():
        for i in range(k):
            c = connected(srv.port)
            c.send(b"SUB work.* %s %d\r\n" % (g, i + 1))
            assert c.sync() == []
            members.append((g, c))
    plain = connected(srv.port)
    plain.send(b"SUB work.> 9\r\n")
    assert plain.sync() == []
    pubs = [connected(srv.port) for _ in range(2)]
    n = 400
    try:
        for i in range(n):
            pubs[i % 2].send(b"PUB work.%d %d\r\n%d\r\n" % (i % 5, len(b"%d" % i), i))
        for p in pubs:
            assert p.sync() == []
        seen = {g: [] for g in groups}
        for g, c in members:
            seen[g] += [int(p) for _, p in payloads(c.sync(timeout=20))]
        for g in groups:
            assert sorted(seen[g]) == list(range(n)), "group %s: %d deliveries" % (g, len(seen[g]))
        got = [int(p) for _, p in payloads(plain.sync(timeout=20))]
        assert sorted(got) == list(range(n))
    finally:
        for _, c in members:
            c.close()
        for c in pubs + [plain]:
            c.close()


@srv_params()
def test_queue_and_plain_same_connection(srv):
    """One plain sub and one member of each of two groups, same connection:
    each message arrives three times (plain, one per group)."""
    c = connected(srv.port)
    try:
        c.send(b"SUB foo 1\r\nSUB foo a 2\r\nSUB foo b 3\r\nPUB foo 1\r\nx\r\n")
        assert sorted(c.sync()) == sorted([msg("foo", 1, "x"), msg("foo", 2, "x"),
                                           msg("foo", 3, "x")])
    finally:
        c.close()


@srv_params()
def test_queue_member_leaves(srv):
    """After a member unsubscribes (or disconnects) the others get everything."""
    a = connected(srv.port)
    b = connected(srv.port)
    c = connected(srv.port)
    try:
        a.send(b"SUB s q 1\r\n")
        b.send(b"SUB s q 1\r\n")
        c.send(b"SUB s q 1\r\n")
        for x in (a, b, c):
            assert x.sync() == []
        a.send(b"UNSUB 1\r\n")
        assert a.sync() == []
        b.close()
        pub = connected(srv.port)
        pub.send(b"PUB s 1\r\nx\r\n" * 50)
        assert pub.sync() == []
        pub.close()
        assert c.sync() == [msg("s", 1, "x")] * 50
        assert a.sync() == []
    finally:
        for x in (a, c):
            x.close()


@srv_params()
def test_queue_auto_unsubscribe(srv):
    """UNSUB with max on a queue member: it takes at most max messages."""
    a = connected(srv.port)
    b = connected(srv.port)
    try:
        a.send(b"SUB s q 1\r\nUNSUB 1 3\r\n")
        b.send(b"SUB s q 1\r\n")
        assert a.sync() == [] and b.sync() == []
        pub = connected(srv.port)
        pub.send(b"PUB s 1\r\nx\r\n" * 100)
        assert pub.sync() == []
        pub.close()
        na = len(a.sync())
        nb = len(b.sync())
        assert na <= 3 and na + nb == 100, (na, nb)
    finally:
        a.close()
        b.close()


@srv_params()
def test_queue_names_any_token(srv):
    """Queue names are not validated (subjects.md §3): '*' and '>' work as names."""
    c = connected(srv.port)
    try:
        c.send(b"SUB foo * 1\r\nSUB foo > 2\r\nSUB foo.* a.b 3\r\nPUB foo 1\r\nx\r\n"
               b"PUB foo.bar 1\r\ny\r\n")
        assert sorted(c.sync()) == sorted([msg("foo", 1, "x"), msg("foo", 2, "x"),
                                           msg("foo.bar", 3, "y")])
    finally:
        c.close()


@srv_params()
def test_queue_invalid_subject(srv):
    expect(srv.port, QUIET + b"SUB foo..x q 1\r\nSUB > q 2\r\nPUB a 1\r\nz\r\n",
           [b"-ERR 'Invalid Subject'\r\n", msg("a", 2, "z"), b"PONG\r\n"])


@srv_params()
def test_request_reply_queue_responders(srv):
    """Requests to a service queue group: each answered exactly once."""
    responders = [connected(srv.port) for _ in range(3)]
    req = connected(srv.port)
    try:
        for i, r in enumerate(responders):
            r.send(b"SUB svc workers %d\r\n" % (i + 1))
            assert r.sync() == []
        req.send(b"SUB _INBOX.me.* 1\r\n")
        assert req.sync() == []
        n = 60
        for i in range(n):
            req.send(b"PUB svc _INBOX.me.%d 1\r\nq\r\n" % i)
        assert req.sync() == []
        answered = 0
        for r in responders:
            for f in r.sync(timeout=20):
                head = f.split(b"\r\n")[0].split(b" ")
                assert head[0] == b"MSG" and head[1] == b"svc"
                reply = head[3]
                r.send(b"PUB %s 2\r\nok\r\n" % reply)
                answered += 1
            assert r.sync() == []
        assert answered == n
        got = sorted(f.split(b" ")[1] for f in req.sync(timeout=20))
        assert got == sorted(b"_INBOX.me.%d" % i for i in range(n))
    finally:
        for c in responders + [req]:
            c.close()
