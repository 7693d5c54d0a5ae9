"""Publish/subscribe, wildcards, headers, no responders, echo, auto-unsubscribe
(docs/protocol/client.md §6-§12 and cases 8-11, 15-23, 30-34, 36 of §18; subjects.md §1-§2).

Runs against natsd with `threads: 1` and `threads: 2` (both also under TSan:
marked threaded) and against the reference nats-server; the expected bytes
are nats-server 2.9.10's answers.
"""

import random

import pytest

from proto_util import PROTO_ERR_LOGS, connected, expect, hmsg, msg, params, start, transcript

pytestmark = [pytest.mark.spawns]

TARGETS = params(threaded_t1=True, threaded_t2=True)

QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
QUIET_H = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
UNKNOWN_OP = [b"-ERR 'Unknown Protocol Operation'\r\n"]


@pytest.fixture
def srv(request, server_factory):
    return start(server_factory, request.param, expect_errors=PROTO_ERR_LOGS)


def srv_params():
    return pytest.mark.parametrize("srv", TARGETS, indirect=True)


# --------------------------------------------------------------------------- basics


@srv_params()
def test_verbose_pubsub(srv):
    """case 8: +OK for CONNECT, SUB, PUB; the +OK precedes the MSG."""
    expect(srv.port, b'CONNECT {"verbose":true}\r\nSUB foo 1\r\nPUB foo 5\r\nhello\r\n',
           b"+OK\r\n+OK\r\n+OK\r\nMSG foo 1 5\r\nhello\r\nPONG\r\n")


@srv_params()
@pytest.mark.parametrize("data,frames", [
    (b"SUB foo 1\r\nPUB foo bar 5\r\nhello\r\n", [msg("foo", 1, "hello", reply="bar")]),
    (b"SUB foo 1\r\nPUB foo 005\r\nhello\r\n", [msg("foo", 1, "hello", size="005")]),
    (b"SUB foo 1\r\nPUB foo r 0005\r\nhello\r\n", [msg("foo", 1, "hello", reply="r", size="0005")]),
    (b"SUB\tfoo\t1\r\nPUB\tfoo\t\t2\r\nhi\r\n", [msg("foo", 1, "hi")]),
    (b"SUB  foo   1  \r\nPUB foo 1  \r\nx\r\n", [msg("foo", 1, "x")]),
    (b"SUB foo 1\nPUB foo 2\nhi\r\n", [msg("foo", 1, "hi")]),
    (b"SUB foo 1\r\nPUB foo 0\r\n\r\n", [msg("foo", 1, "")]),
    (b"SUB foo abc.def\r\nPUB foo 1\r\nx\r\n", [msg("foo", "abc.def", "x")]),
    (b"SUB foo 1\r\nPUB foo 4\r\n\r\n\r\n\r\n", [msg("foo", 1, "\r\n\r\n")]),
    (b"SUB foo 1\r\nPUB foo 7\r\nxPING\r\n\r\n", [msg("foo", 1, "xPING\r\n")]),
    (b"SUB foo 1\r\nPUB bar 1\r\nx\r\n", []),
    (b"SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n", [msg("foo", 1, "y")]),
    (b"SUB foo 1\r\nSUB foo 2\r\nPUB foo 1\r\nx\r\n", [msg("foo", 1, "x"), msg("foo", 2, "x")]),
    (b"SUB foo* 1\r\nSUB fo>o 5\r\nPUB foo* 1\r\na\r\nPUB fo>o 1\r\nb\r\nPUB foox 1\r\nc\r\n",
     [msg("foo*", 1, "a"), msg("fo>o", 5, "b")]),
    (b"SUB \xc3\xa9t\xc3\xa9.\x01 1\r\nPUB \xc3\xa9t\xc3\xa9.\x01 1\r\nx\r\n",
     [b"MSG \xc3\xa9t\xc3\xa9.\x01 1 1\r\nx\r\n"]),
], ids=["reply", "size005", "reply-size0005", "tabs", "spaces", "bareLF", "empty-payload",
        "sid-any", "crlf-payload", "ping-payload", "nomatch", "dup-sid", "two-sids", "literal-wild",
        "utf8-bytes"])
def test_pub_sub_forms(srv, data, frames):
    """cases 9-11, case 16, case 21: reply, verbatim size token, separators, sid rules."""
    expect(srv.port, QUIET + data, frames + [b"PONG\r\n"])


@srv_params()
@pytest.mark.parametrize("subject", [b"foo..bar", b"foo.>.bar", b".foo", b"foo.", b">.foo",
                                     b"foo..", b"."], ids=lambda s: s.decode())
def test_invalid_subject_keeps_connection(srv, subject):
    """case 15: SUB with an invalid subject → -ERR 'Invalid Subject', still open."""
    expect(srv.port, QUIET + b"SUB " + subject + b" 1\r\nSUB ok 2\r\nPUB ok 0\r\n\r\n",
           [b"-ERR 'Invalid Subject'\r\n", msg("ok", 2, ""), b"PONG\r\n"])


@srv_params()
def test_invalid_subject_verbose(srv):
    """Verbose: -ERR and no +OK for the refused SUB."""
    expect(srv.port, b"CONNECT {}\r\nSUB a..b 1\r\n",
           [b"+OK\r\n", b"-ERR 'Invalid Subject'\r\n", b"PONG\r\n"])


@srv_params()
def test_pedantic_invalid_publish_subject(srv):
    """case 17: pedantic PUB foo.* → -ERR then +OK and still delivered."""
    expect(srv.port, b'CONNECT {"verbose":true,"pedantic":true}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\nx\r\n',
           [b"+OK\r\n", b"+OK\r\n", b"-ERR 'Invalid Publish Subject'\r\n", b"+OK\r\n",
            msg("foo.*", 1, "x"), b"PONG\r\n"])


@srv_params()
def test_pedantic_default(srv):
    """CONNECT {} is pedantic: PUB foo.> gets the error too (quiet variant)."""
    expect(srv.port, b'CONNECT {"verbose":false}\r\nSUB > 1\r\nPUB foo.> 1\r\nx\r\nPUB a..b 1\r\ny\r\n',
           [b"-ERR 'Invalid Publish Subject'\r\n", msg("foo.>", 1, "x"),
            b"-ERR 'Invalid Publish Subject'\r\n", b"PONG\r\n"])


@srv_params()
def test_non_pedantic_wildcard_publish(srv):
    """cases 18-19: non-pedantic PUB foo.* reaches foo.*, foo.>, > but not foo.bar;
    PUB foo..bar is silently dropped."""
    data = (QUIET + b"SUB foo.* 1\r\nSUB foo.bar 2\r\nSUB foo.> 3\r\nSUB > 4\r\n"
            b"PUB foo.* 1\r\nx\r\nPUB foo..bar 1\r\ny\r\nPUB .foo 1\r\nz\r\n")
    t = transcript(srv.port, data)
    assert sorted(t.frames[:-1]) == sorted([msg("foo.*", 1, "x"), msg("foo.*", 3, "x"),
                                            msg("foo.*", 4, "x")]), t.frames
    assert t.frames[-1] == b"PONG\r\n"


@srv_params()
def test_overlapping_subscriptions(srv):
    """case 22: foo.*(1), foo.>(2), foo.bar(3) → three MSGs (nats-server order 2, 3, 1)."""
    expect(srv.port, QUIET + b"SUB foo.* 1\r\nSUB foo.> 2\r\nSUB foo.bar 3\r\nPUB foo.bar 1\r\nx\r\n",
           [msg("foo.bar", 2, "x"), msg("foo.bar", 3, "x"), msg("foo.bar", 1, "x"), b"PONG\r\n"])


WILDCARD_CASES = [
    # subscription, subject, matches
    ("foo.*", "foo.bar", True), ("foo.*", "foo", False), ("foo.*", "foo.bar.baz", False),
    ("foo.>", "foo.bar", True), ("foo.>", "foo.bar.baz", True), ("foo.>", "foo", False),
    (">", "foo", True), (">", "a.b.c.d", True), ("*", "foo", True), ("*", "foo.bar", False),
    ("*.*", "a.b", True), ("*.*", "a", False), ("*.bar.*", "x.bar.y", True),
    ("*.bar.*", "x.baz.y", False), ("a.*.c.>", "a.b.c.d.e", True), ("a.*.c.>", "a.b.c", False),
    ("foo.bar", "foo.bar", True), ("foo.bar", "foo.baz", False), ("foo.bar", "foo.bar.baz", False),
    ("foo*.bar", "foox.bar", False), ("foo*.bar", "foo*.bar", True), ("*.>", "a", False),
    ("*.>", "a.b", True), ("FOO", "foo", False),
]


@srv_params()
def test_wildcard_matching(srv):
    """subjects.md §2: each (subscription, subject) pair from the table; one connection,
    one sid per subscription, one publish per subject."""
    subs = sorted(set(c[0] for c in WILDCARD_CASES))
    sid = {s: i + 1 for i, s in enumerate(subs)}
    subjects = sorted(set(c[1] for c in WILDCARD_CASES))
    c = connected(srv.port)
    try:
        c.send(b"".join(b"SUB %s %d\r\n" % (s.encode(), sid[s]) for s in subs))
        assert c.sync() == []
        for subj in subjects:
            c.send(b"PUB %s 1\r\nx\r\n" % subj.encode())
            got = set(c.sync())
            for s, subject, match in WILDCARD_CASES:
                if subject != subj:
                    continue
                m = msg(subj, sid[s], "x")
                assert (m in got) == match, "sub %r subject %r: expected match=%s, got %r" % (
                    s, subject, match, got)
    finally:
        c.close()


@srv_params()
def test_wildcard_random_against_reference_matcher(srv):
    """Random subscriptions and subjects over a small alphabet, checked against
    a naive matcher (subjects.md §2): every matching sid exactly once, nothing else."""
    rnd = random.Random(1234)
    toks = ["a", "b", "c"]

    def rand_sub():
        n = rnd.randint(1, 4)
        out = [rnd.choice(toks + ["*"]) for _ in range(n)]
        if rnd.random() < 0.3:
            out[-1] = ">"
        return out

    def matches(sub, subj):
        for i, t in enumerate(sub):
            if t == ">":
                return len(subj) > i
            if i >= len(subj):
                return False
            if t != "*" and t != subj[i]:
                return False
        return len(sub) == len(subj)

    subs = [rand_sub() for _ in range(40)]
    c = connected(srv.port)
    try:
        c.send(b"".join(b"SUB %s %d\r\n" % (".".join(s).encode(), i + 1)
                        for i, s in enumerate(subs)))
        assert c.sync() == []
        for _ in range(60):
            subj = [rnd.choice(toks) for _ in range(rnd.randint(1, 4))]
            c.send(b"PUB %s 1\r\nx\r\n" % ".".join(subj).encode())
            got = sorted(c.sync())
            want = sorted(msg(".".join(subj), i + 1, "x") for i, s in enumerate(subs)
                          if matches(s, subj))
            assert got == want, "subject %s" % ".".join(subj)
    finally:
        c.close()


# --------------------------------------------------------------------------- UNSUB


@srv_params()
@pytest.mark.parametrize("data,frames", [
    (b"SUB foo 1\r\nUNSUB 1 2\r\n" + b"PUB foo 1\r\nx\r\n" * 3, [msg("foo", 1, "x")] * 2),
    (b"SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\nx\r\n", []),
    (b"SUB foo 1\r\nUNSUB 1\r\nPUB foo 1\r\nx\r\n", []),
    (b"SUB foo 1\r\nPUB foo 1\r\na\r\nPUB foo 1\r\nb\r\nUNSUB 1 1\r\nPUB foo 1\r\nc\r\n",
     [msg("foo", 1, "a"), msg("foo", 1, "b")]),
    (b"SUB foo 1\r\nPUB foo 1\r\na\r\nUNSUB 1 3\r\n" + b"PUB foo 1\r\nx\r\n" * 4,
     [msg("foo", 1, "a")] + [msg("foo", 1, "x")] * 2),
    (b"SUB foo 1\r\nUNSUB 1 1\r\nUNSUB 1 3\r\n" + b"PUB foo 1\r\nx\r\n" * 4, [msg("foo", 1, "x")] * 3),
    (b"UNSUB 99\r\nUNSUB nope 3\r\n", []),
    (b"SUB foo 1\r\nUNSUB 1\r\nSUB bar 1\r\nPUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\n", [msg("bar", 1, "x")]),
    (b"SUB foo 1\r\nUNSUB 1 1\r\nPUB foo 1\r\na\r\nSUB foo 1\r\nPUB foo 1\r\nb\r\n",
     [msg("foo", 1, "a"), msg("foo", 1, "b")]),
    (b"SUB foo 1\r\nUNSUB\t1\t 2 \r\n" + b"PUB foo 1\r\nx\r\n" * 3, [msg("foo", 1, "x")] * 2),
], ids=["max2", "max0", "plain", "max-below-delivered", "max-counts-delivered", "max-overridden",
        "unknown-sid", "sid-reuse", "sid-reuse-after-auto", "whitespace"])
def test_unsub(srv, data, frames):
    """case 20, §7: UNSUB now, UNSUB with max (auto-unsubscribe), unknown sid."""
    expect(srv.port, QUIET + data, frames + [b"PONG\r\n"])


@srv_params()
@pytest.mark.parametrize("arg", [b"x", b"-2", b"2x", b"-", b"0x1"])
def test_unsub_bad_max_unsubscribes_now(srv, arg):
    """UNSUB <sid> <non-numeric or negative max>: nats-server parses the max as
    -1 and removes the subscription at once; the connection stays open."""
    expect(srv.port, b'CONNECT {"verbose":true,"pedantic":false}\r\nSUB foo 1\r\nUNSUB 1 ' + arg +
           b"\r\nPUB foo 1\r\nx\r\nPUB foo 1\r\ny\r\n", [b"+OK\r\n"] * 5 + [b"PONG\r\n"])


@srv_params()
def test_unsub_verbose_unknown(srv):
    expect(srv.port, b"CONNECT {}\r\nUNSUB 7\r\nUNSUB 7 2\r\n",
           [b"+OK\r\n", b"+OK\r\n", b"+OK\r\n", b"PONG\r\n"])


@srv_params()
@pytest.mark.parametrize("data", [b"PUB foo\r\n", b"PUB foo abc\r\n", b"PUB foo -1\r\n",
                                  b"PUB foo a b c\r\n", b"PUB \r\n", b"SUB a\r\n",
                                  b"SUB a b c d\r\n", b"SUB \r\n", b"UNSUB \r\n", b"UNSUB 1 2 3\r\n",
                                  b"PUB foo 1x\r\n",
                                  b"PUB foo +1\r\n", b"PUB foo 99999999999999999999999\r\n",
                                  b"HPUB foo 1\r\n", b"HPUB foo 3 2\r\n", b"HPUB foo x 2\r\n",
                                  b"HPUB foo 1 -2\r\n", b"PUB foo r 1 2\r\n"],
                         ids=lambda d: d.decode().strip().replace(" ", "_") or "empty")
def test_bad_arguments_close_silently(srv, data):
    """case 14: wrong arg count or bad size → closed, no -ERR."""
    expect(srv.port, QUIET_H + data, [], end="close")


@srv_params()
@pytest.mark.parametrize("data", [b"PUB\r\n", b"SUB\r\n", b"UNSUB\r\n", b"HPUB\r\n",
                                  b"PUBfoo 1\r\n", b"SUBfoo 1\r\n", b"PUBX foo 1\r\n"],
                         ids=lambda d: d.decode().strip().replace(" ", "_"))
def test_op_without_separator(srv, data):
    """PUB/SUB/UNSUB/HPUB need a blank after the op: otherwise an unknown op."""
    expect(srv.port, QUIET_H + data, UNKNOWN_OP, end="close")


# --------------------------------------------------------------------------- payload framing


@srv_params()
@pytest.mark.parametrize("data", [b"PUB foo 2\r\nhello\r\n", b"PUB foo 2\r\nhixx", b"PUB foo 0\r\nx\r\n",
                                  b"PUB foo 2\r\nhi\n", b"PUB foo 2\r\nhi\rX",
                                  b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhiXY"],
                         ids=["longer", "noCRLF", "zero-then-x", "LF-only", "CR-then-X", "hpub"])
def test_payload_terminator(srv, data):
    """case 13: payload not followed by CRLF → -ERR 'Unknown Protocol Operation' + close."""
    expect(srv.port, QUIET_H + b"SUB foo 1\r\n" + data, UNKNOWN_OP, end="close")


# --------------------------------------------------------------------------- echo


@srv_params()
def test_echo_false(srv):
    """case 23: echo:false suppresses the publisher's own subscriptions only."""
    other = connected(srv.port)
    try:
        other.send(b"SUB foo 7\r\n")
        assert other.sync() == []
        expect(srv.port, b'CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\n'
               b"SUB foo 1\r\nPUB foo 1\r\nx\r\n", [b"PONG\r\n"])
        assert other.sync() == [msg("foo", 7, "x")]
    finally:
        other.close()


@srv_params()
def test_echo_true_default(srv):
    expect(srv.port, QUIET + b"SUB foo 1\r\nPUB foo 1\r\nx\r\n", [msg("foo", 1, "x"), b"PONG\r\n"])


# --------------------------------------------------------------------------- headers

HDR = b"NATS/1.0\r\nA: B\r\nC: D\r\n\r\n"


@srv_params()
def test_hpub_hmsg(srv):
    """case 31: HPUB → HMSG with the same sizes and bytes; with reply."""
    expect(srv.port, QUIET_H + b"SUB foo 1\r\nHPUB foo 24 29\r\n" + HDR + b"hello\r\n"
           b"HPUB foo r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
           [b"HMSG foo 1 24 29\r\n" + HDR + b"hello\r\n",
            b"HMSG foo 1 r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", b"PONG\r\n"])


@srv_params()
def test_hpub_sizes_verbatim_and_unvalidated(srv):
    """Sizes echoed verbatim; header bytes are not validated (client.md §10)."""
    expect(srv.port, QUIET_H + b"SUB foo 1\r\nHPUB foo 005 007\r\nabcde12\r\nHPUB foo 12 12\r\n"
           b"NATS/1.0\r\n\r\n\r\n",
           [b"HMSG foo 1 005 007\r\nabcde12\r\n", b"HMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
            b"PONG\r\n"])


@srv_params()
@pytest.mark.parametrize("reply", [b"", b"r "], ids=["noreply", "reply"])
def test_hpub_fanout_to_several_subscriptions(srv, reply):
    """One HPUB (with and without a reply) reaches every matching subscription
    of the connection: three on the same subject, one wildcard."""
    r = reply.strip().decode() or None
    expect(srv.port, QUIET_H + b"SUB bar 3\r\nSUB bar 4\r\nSUB bar 5\r\nSUB > 6\r\nHPUB bar " + reply +
           b"12 13\r\nNATS/1.0\r\n\r\nx\r\n",
           [hmsg("bar", sid, "NATS/1.0\r\n\r\n", "x", reply=r) for sid in (3, 4, 5, 6)] +
           [b"PONG\r\n"])


@srv_params()
def test_hpub_reply_to_header_and_plain_connections(srv):
    """HPUB with a reply, one headers subscriber and one plain subscriber on
    other connections: both get it, repeated 30 times (natsd lost some)."""
    plain = connected(srv.port)
    hdrs = connected(srv.port, headers=True)
    pub = connected(srv.port, headers=True)
    try:
        plain.send(b"SUB foo 1\r\n")
        hdrs.send(b"SUB foo 2\r\n")
        assert plain.sync() == [] and hdrs.sync() == []
        for i in range(30):
            pub.send(b"HPUB foo rep%d 24 25\r\n" % i + HDR + b"x\r\n")
        assert pub.sync() == []
        assert plain.sync() == [msg("foo", 1, "x", reply="rep%d" % i) for i in range(30)]
        assert hdrs.sync() == [hmsg("foo", 2, HDR, "x", reply="rep%d" % i) for i in range(30)]
    finally:
        for c in (plain, hdrs, pub):
            c.close()


@srv_params()
def test_hpub_zero_header_is_msg(srv):
    """case 33: HPUB foo 0 2 → plain MSG."""
    expect(srv.port, QUIET_H + b"SUB foo 1\r\nHPUB foo 0 2\r\nhi\r\n",
           [msg("foo", 1, "hi"), b"PONG\r\n"])


@srv_params()
def test_headers_stripped_for_plain_subscriber(srv):
    """case 32: a subscriber without headers gets MSG with the header block
    stripped and the size adjusted; a headers subscriber gets HMSG."""
    plain = connected(srv.port)
    hdrs = connected(srv.port, headers=True)
    try:
        plain.send(b"SUB foo 1\r\n")
        hdrs.send(b"SUB foo 2\r\n")
        assert plain.sync() == [] and hdrs.sync() == []
        expect(srv.port, QUIET_H + b"HPUB foo 24 26\r\n" + HDR + b"hi\r\n"
               b"HPUB foo rep 24 24\r\n" + HDR + b"\r\n", [b"PONG\r\n"])
        assert plain.sync() == [msg("foo", 1, "hi"), msg("foo", 1, "", reply="rep")]
        assert hdrs.sync() == [b"HMSG foo 2 24 26\r\n" + HDR + b"hi\r\n",
                               b"HMSG foo 2 rep 24 24\r\n" + HDR + b"\r\n"]
    finally:
        plain.close()
        hdrs.close()


@srv_params()
def test_pub_to_headers_subscriber_is_msg(srv):
    expect(srv.port, QUIET_H + b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n", [msg("foo", 1, "hi"), b"PONG\r\n"])


@srv_params()
@pytest.mark.parametrize("connect", [QUIET, b'CONNECT {"verbose":false,"headers":false}\r\n', b""],
                         ids=["default", "false", "noconnect"])
def test_hpub_without_headers_closes(srv, connect):
    """case 34: HPUB without negotiated headers → closed, no -ERR."""
    expect(srv.port, connect + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", [], end="close")


# --------------------------------------------------------------------------- no responders


@srv_params()
def test_no_responders(srv):
    """case 30: exactly HMSG inbox 1 16 16 with the 503 status."""
    expect(srv.port, b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
           b"SUB inbox 1\r\nPUB req inbox 2\r\nhi\r\n",
           [b"HMSG inbox 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", b"PONG\r\n"])


@srv_params()
def test_no_responders_variants(srv):
    """No 503 when: someone receives it, no reply subject, no matching own sub,
    no_responders off, only a queue sub on the reply; wildcard own sub gets it."""
    nr = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
    other = connected(srv.port)
    try:
        other.send(b"SUB svc 1\r\n")
        assert other.sync() == []
        expect(srv.port, nr + b"SUB inbox 1\r\nPUB svc inbox 2\r\nhi\r\n", [b"PONG\r\n"])
        assert other.sync() == [msg("svc", 1, "hi", reply="inbox")]
        expect(srv.port, nr + b"SUB inbox 1\r\nPUB req 2\r\nhi\r\n", [b"PONG\r\n"])
        expect(srv.port, nr + b"PUB req inbox 2\r\nhi\r\n", [b"PONG\r\n"])
        expect(srv.port, QUIET_H + b"SUB inbox 1\r\nPUB req inbox 2\r\nhi\r\n", [b"PONG\r\n"])
        expect(srv.port, nr + b"SUB inbox q 1\r\nPUB req inbox 2\r\nhi\r\n", [b"PONG\r\n"])
        expect(srv.port, nr + b"SUB _INBOX.* 1\r\nPUB req _INBOX.abc 2\r\nhi\r\n",
               [b"HMSG _INBOX.abc 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", b"PONG\r\n"])
        expect(srv.port, nr + b"SUB inbox 1\r\nHPUB req inbox 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
               [b"HMSG inbox 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n", b"PONG\r\n"])
    finally:
        other.close()


# --------------------------------------------------------------------------- reserved prefixes


@srv_params()
def test_reserved_reply_and_subject(srv):
    """case 36: reserved reply prefixes and _GR_. subject → permission -ERR, still open, dropped."""
    expect(srv.port, QUIET + b"SUB > 1\r\nPUB foo _R_.abc 1\r\nx\r\nPUB _GR_.abc 1\r\ny\r\n"
           b"PUB foo $JS.ACK.x 1\r\nz\r\nPUB foo _GR_.r 1\r\nw\r\nPUB ok 1\r\nk\r\n",
           [b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.abc\"'\r\n",
            b"-ERR 'Permissions Violation for Publish to \"_GR_.abc\"'\r\n",
            b"-ERR 'Permissions Violation for Publish with Reply of \"$JS.ACK.x\"'\r\n",
            b"-ERR 'Permissions Violation for Publish with Reply of \"_GR_.r\"'\r\n",
            msg("ok", 1, "k"), b"PONG\r\n"])


# --------------------------------------------------------------------------- fan-out


@srv_params()
def test_fanout_many_connections_in_order(srv):
    """Several publishers and subscribers on separate connections (spread over
    the workers with threads: 2): every subscriber gets every message of every
    publisher, in each publisher's order, nothing lost or duplicated."""
    nsub, npub, n = 6, 3, 300
    subs = [connected(srv.port) for _ in range(nsub)]
    pubs = [connected(srv.port) for _ in range(npub)]
    try:
        for i, s in enumerate(subs):
            s.send(b"SUB fan.%s %d\r\n" % (b"*" if i % 2 else b">", i + 1))
            assert s.sync() == []
        for k in range(n):
            for j, p in enumerate(pubs):
                p.send(b"PUB fan.%d %d\r\n%d:%d\r\n" % (j, len(b"%d:%d" % (j, k)), j, k))
        for p in pubs:
            assert p.sync() == []
        for i, s in enumerate(subs):
            frames = s.sync(timeout=30)
            assert len(frames) == npub * n, "sub %d got %d of %d" % (i, len(frames), npub * n)
            per = {j: [] for j in range(npub)}
            for f in frames:
                head, _, body = f.partition(b"\r\n")
                j, k = body[:-2].split(b":")
                assert head == b"MSG fan.%s %d %d" % (j, i + 1, len(body) - 2)
                per[int(j)].append(int(k))
            for j in range(npub):
                assert per[j] == list(range(n)), "sub %d publisher %d out of order/lost" % (i, j)
    finally:
        for c in subs + pubs:
            c.close()


@srv_params()
def test_large_payloads_intact(srv):
    """Payloads of many sizes up to max_payload arrive byte-exact."""
    rnd = random.Random(7)
    sub = connected(srv.port)
    pub = connected(srv.port)
    try:
        sub.send(b"SUB big 1\r\n")
        assert sub.sync() == []
        sizes = [0, 1, 2, 4095, 4096, 4097, 65535, 65536, 65537, 300000, 1048575, 1048576]
        for size in sizes:
            body = bytes(rnd.getrandbits(8) for _ in range(min(size, 4096))) * (size // 4096 + 1)
            body = body[:size]
            pub.send(b"PUB big %d\r\n" % size + body + b"\r\n")
            assert pub.sync(timeout=20) == []
            got = sub.sync(timeout=20)
            assert got == [msg("big", 1, body)], "size %d" % size
    finally:
        sub.close()
        pub.close()


@srv_params()
def test_unsub_on_disconnect(srv):
    """A closed subscriber's subscriptions are gone: its messages don't go
    anywhere and don't disturb others."""
    a = connected(srv.port)
    a.send(b"SUB x 1\r\n")
    assert a.sync() == []
    a.close()
    b = connected(srv.port)
    try:
        b.send(b"SUB x 2\r\n")
        assert b.sync() == []
        expect(srv.port, QUIET + b"PUB x 1\r\nm\r\n", [b"PONG\r\n"])
        assert b.sync() == [msg("x", 2, "m")]
    finally:
        b.close()
