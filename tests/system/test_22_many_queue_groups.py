"""Many queue groups on one subject: each group gets each message exactly
once in the supercluster, however many groups there are.

A supercluster of cluster A (A1 and A2, joined by a route) and cluster B
(B1), all natsd or all nats-server. A1 publishes; 1,000 groups (one member
each, its own sid) subscribe to one subject:

  * local:  every group on A1;
  * route:  every group on A2 (A1 names the groups on one RMSG);
  * remote: every group on B1 only (through the gateway);
  * split:  every group on B1, and half of them on A1 too: the groups with
            a member in A are served there, the others in B, none twice;
  * split across the route: the same with the A half on A2.

Nothing is lost and nothing doubled: each (group, message) pair arrives
exactly once, on the member expected.
"""

import time

import pytest

from gwpeer import wait_until
from natsd import scaled
from test_14_supercluster import PURE, STARTUP_ERRS, Super, sc_client

pytestmark = [pytest.mark.spawns, pytest.mark.expect_errors(*STARTUP_ERRS)]

GROUPS = 1000
MESSAGES = 4


def _sub_groups(c, subject, groups, sid_base, k):
    """One member of each group g in groups on c, sid sid_base + g, then a
    member of group "ready" on subject.ready.k (sid sid_base - 1): its
    interest is announced after the groups'."""
    c.send(b"".join(b"SUB %s g%d %d\r\n" % (subject.encode(), g, sid_base + g) for g in groups))
    c.send(b"SUB %s.ready.%d ready %d\r\n" % (subject.encode(), k, sid_base - 1))
    c.ping_pong()


def _drain(c, quiet=0.0):
    """(sid, subject, payload) of the messages pending on c up to the PONG of
    a PING sent now."""
    if quiet:
        time.sleep(quiet)
    c.send(b"PING\r\n")
    data, pos, out = c.buf, 0, []
    deadline = time.monotonic() + scaled(30)
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0 or (data.startswith(b"MSG ", pos)
                       and len(data) < end + 4 + int(data[pos:end].rsplit(b" ", 1)[1])):
            assert time.monotonic() < deadline, "no PONG"
            c.sock.settimeout(scaled(30))
            chunk = c.sock.recv(1 << 20)
            assert chunk, "connection closed"
            data, pos = data[pos:] + chunk, 0
            continue
        line = data[pos:end]
        if line.startswith(b"MSG "):
            parts = line.split(b" ")
            size = int(parts[-1])
            out.append((int(parts[2]), parts[1].decode(), data[end + 2:end + 2 + size]))
            pos = end + 4 + size
            continue
        pos = end + 2
        if line == b"PONG":
            c.buf = data[pos:]
            return out
        if line == b"PING":
            c.send(b"PONG\r\n")


def _wait_ready(pub, m, subject, k):
    """Probe subject.ready.k until member k's "ready" group is known at the
    publisher: then so are its groups."""
    ready = "%s.ready.%d" % (subject, k)

    def seen():
        pub.pub(ready, b"probe")
        pub.ping_pong()
        return any(s == ready for _, s, _ in _drain(m, 0.05))
    wait_until(seen, timeout=30, what="%s's groups known at the publisher" % ready, interval=0.1)


def _publish_and_count(pub, members, subject):
    """Publish MESSAGES numbered messages; return {(member index, sid,
    number): count} of what arrives."""
    pub.send(b"".join(b"PUB %s %d\r\n%d\r\n" % (subject.encode(), len(b"%d" % i), i)
                      for i in range(MESSAGES)))
    pub.ping_pong()
    got = {}
    total = 0
    deadline = time.monotonic() + scaled(30)
    while total < GROUPS * MESSAGES and time.monotonic() < deadline:
        for k, m in enumerate(members):
            for sid, s, p in _drain(m):
                if s == subject:
                    key = (k, sid, int(p))
                    got[key] = got.get(key, 0) + 1
                    total += 1
        if total < GROUPS * MESSAGES:
            time.sleep(0.05)
    # nothing more may come
    for k, m in enumerate(members):
        for sid, s, p in _drain(m, 0.3 if k == 0 else 0.0):
            if s == subject:
                key = (k, sid, int(p))
                got[key] = got.get(key, 0) + 1
    return got


def _check(got, expect):
    """expect: {group: (member index, sid)}; each group once per message,
    on that member."""
    twice = sorted(k for k, n in got.items() if n > 1)
    want = {(k, sid, i) for k, sid in expect.values() for i in range(MESSAGES)}
    lost = sorted(want - set(got))
    extra = sorted(set(got) - want)
    assert not twice and not lost and not extra, \
        "%d twice %r, %d lost %r, %d elsewhere %r" % (
            len(twice), twice[:5], len(lost), lost[:5], len(extra), extra[:5])


@pytest.fixture
def supercluster(request, server_factory):
    kind = request.param
    sc = Super(server_factory, {"A": (kind, 2), "B": (kind, 1)}).start()
    sc.wait_mesh()
    return sc


@pytest.mark.parametrize("supercluster", PURE, indirect=True)
@pytest.mark.parametrize("layout", ["local", "route", "remote", "split", "split-route"])
def test_each_group_once(supercluster, layout):
    sc = supercluster
    a1, a2 = sc.nodes["A"]
    b1 = sc.nodes["B"][0]
    subject = "many." + layout.replace("-", "_")
    pub = sc_client(a1)
    everything = range(GROUPS)
    half = range(GROUPS // 2)
    # (node, groups on it); the first member listed is the one serving
    # the groups it shares with later ones (the publisher's cluster first)
    plan = {
        "local": [(a1, everything)],
        "route": [(a2, everything)],
        "remote": [(b1, everything)],
        "split": [(a1, half), (b1, everything)],
        "split-route": [(a2, half), (b1, everything)],
    }[layout]
    members, bases, expect = [], [], {}
    for k, (node, groups) in enumerate(plan):
        m = sc_client(node)
        base = 10000 * (k + 1)
        _sub_groups(m, subject, groups, base, k)
        members.append(m)
        bases.append(base)
        for g in groups:
            expect.setdefault(g, (k, base + g))
    for k, m in enumerate(members):
        _wait_ready(pub, m, subject, k)
    got = _publish_and_count(pub, members, subject)
    _check(got, expect)
    for c in members + [pub]:
        c.close()
