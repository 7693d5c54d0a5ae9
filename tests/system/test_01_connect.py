"""Connection set-up, INFO, CONNECT, PING/PONG and the parser's op rules
(docs/protocol/client.md §1-§5, §9, §13; cases 1-7, 24-29, 37 of §18).

Every test runs against natsd (threads: 1 and 2) and the reference
nats-server; the expected bytes are nats-server 2.9.10's answers.
"""

import json
import re
import socket

import pytest

from natsd import scaled
from proto_util import (CRLF, PROTO_ERR_LOGS, Conn, expect, normalize_info, params,
                        parse_info_line, start, transcript)

pytestmark = [pytest.mark.spawns]

TARGETS = params()
ERRS = PROTO_ERR_LOGS

INFO_KEYS = ["server_id", "server_name", "version", "proto", "go", "host", "port", "headers",
             "max_payload", "client_id", "client_ip"]

UNKNOWN_OP = [b"-ERR 'Unknown Protocol Operation'\r\n"]


@pytest.fixture
def srv(request, server_factory):
    """One server for the test's target, protocol-error log lines allowed."""
    return start(server_factory, request.param, expect_errors=ERRS)


def _srv_params():
    return pytest.mark.parametrize("srv", TARGETS, indirect=True)


# --------------------------------------------------------------------------- INFO


@_srv_params()
def test_info_shape(srv):
    """cases 1-2: INFO first, '} \\r\\n' ending, exact keys in order, defaults."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    try:
        data = b""
        while CRLF not in data:
            chunk = s.recv(4096)
            assert chunk, "closed before INFO"
            data += chunk
    finally:
        s.close()
    line = data[:data.index(CRLF) + 2]
    assert line.startswith(b"INFO {")
    assert line.endswith(b"} \r\n")
    assert data == line, "nothing may follow INFO before the client speaks: %r" % data
    keys, info = parse_info_line(line)
    assert keys == INFO_KEYS
    assert info["proto"] == 1
    assert info["headers"] is True
    assert info["max_payload"] == 1048576
    assert info["host"] == "127.0.0.1"
    assert info["port"] == srv.port
    assert info["client_ip"] == "127.0.0.1"
    assert info["version"] == "2.9.10"
    assert re.fullmatch(r"N[A-Z2-7]{55}", info["server_id"]), info["server_id"]
    assert info["server_name"] == info["server_id"]
    assert isinstance(info["client_id"], int) and info["client_id"] > 0


@pytest.mark.interop
@pytest.mark.parametrize("target", [p.values[0] for p in TARGETS[:2]], ids=["t1", "t2"])
def test_info_same_as_reference(target, server_factory):
    """natsd's INFO equals nats-server's after normalizing the variable values,
    with and without limits and a server name set."""
    for conf in ("", "max_payload: 100\nserver_name: srv-a\n"):
        a = start(server_factory, target, conf=conf)
        b = start(server_factory, ("nats-server", None), conf=conf)
        ia = transcript(a.port, b"").info
        ib = transcript(b.port, b"").info
        assert normalize_info(ia) == normalize_info(ib), "natsd %r\nnats-server %r" % (ia, ib)
        if conf:
            assert json.loads(ia[5:-3])["server_name"] == "srv-a"


@_srv_params()
def test_client_ids_increase(srv):
    ids = []
    for _ in range(3):
        ids.append(json.loads(transcript(srv.port, b"").info[5:-3])["client_id"])
    assert ids == sorted(ids) and len(set(ids)) == 3, ids


# --------------------------------------------------------------------------- PING / ops


@_srv_params()
@pytest.mark.parametrize("data", [b"PING\r\n", b"ping\r\n", b"PING\n", b"PINGXYZ\r\n", b"PiNg\r\n",
                                  b"PING   \r\n", b"PING\t\r\n", b"ping junk after\n"],
                         ids=["PING", "lower", "bareLF", "PINGXYZ", "mixed", "spaces", "tab",
                              "suffix"])
def test_ping_before_connect(srv, data):
    """case 3: every PING variant before CONNECT gets PONG."""
    expect(srv.port, data, [b"PONG\r\n", b"PONG\r\n"], pongs=2)


@_srv_params()
def test_pong_and_ok_from_client_ignored(srv):
    """case 25: PONG, +OK and INFO from a client are accepted silently."""
    expect(srv.port, b"PONG\r\n+OK\r\nINFO {}\r\nINFO{\"x\":1}\r\npong\r\n+ok\r\n", [b"PONG\r\n"])


@_srv_params()
def test_err_from_client_closes_silently(srv):
    """case 25: a client sending -ERR is disconnected without an answer."""
    expect(srv.port, b"-ERR 'x'\r\n", [], end="close")


@_srv_params()
@pytest.mark.parametrize("data", [b"garbage\r\n", b"\r\n", b" PING\r\n", b"\n", b"PUNK\r\n",
                                  b"XPING\r\n", b"\tPING\r\n", b"P\r\n"],
                         ids=["garbage", "emptyline", "leadspace", "bareLF", "PUNK", "XPING",
                              "leadtab", "P"])
def test_unknown_op(srv, data):
    """cases 6-7: unknown op / empty line / leading blank → -ERR + close."""
    expect(srv.port, data, UNKNOWN_OP, end="close")


@_srv_params()
@pytest.mark.parametrize("data", [b"MSG foo 1 1\r\nx\r\n", b"RS+ $G foo\r\n", b"RS- $G foo\r\n",
                                  b"RMSG $G foo 1\r\nx\r\n", b"LS+ $G foo\r\n", b"LMSG foo 1\r\nx\r\n",
                                  b"A+ foo\r\n", b"HMSG foo 1 2 2\r\nhi\r\n"],
                         ids=["MSG", "RS+", "RS-", "RMSG", "LS+", "LMSG", "A+", "HMSG"])
def test_server_only_ops_rejected(srv, data):
    """case 24: ops a client may not send → -ERR 'Unknown Protocol Operation' + close."""
    expect(srv.port, b"CONNECT {}\r\n" + data, [b"+OK\r\n"] + UNKNOWN_OP, end="close")


@_srv_params()
def test_ops_case_insensitive(srv):
    """§2: op names are matched case-insensitively."""
    data = (b'connect {"verbose":false,"pedantic":false}\r\n'
            b"sub foo 1\r\nSuB bar 2\r\npub foo 2\r\nhi\r\nPuB bar 1\r\nx\r\n"
            b"unsub 1\r\npub foo 1\r\ny\r\nPing\r\n")
    expect(srv.port, data, [b"MSG foo 1 2\r\nhi\r\n", b"MSG bar 2 1\r\nx\r\n", b"PONG\r\n",
                            b"PONG\r\n"])


# --------------------------------------------------------------------------- CONNECT


@_srv_params()
@pytest.mark.parametrize("data,frames", [
    (b'CONNECT {"verbose":true}\r\n', [b"+OK\r\n"]),
    (b"CONNECT {}\r\n", [b"+OK\r\n"]),
    (b'CONNECT {"verbose":false}\r\n', []),
    (b'CONNECT{"verbose":true}\r\n', [b"+OK\r\n"]),
    (b'CONNECT\t{"verbose":true}\r\n', [b"+OK\r\n"]),
    (b'CONNECT   {"verbose":true}  \r\n', [b"+OK\r\n"]),
    (b'connect {"verbose":true}\n', [b"+OK\r\n"]),
    (b'CONNECT {"VERBOSE":false}\r\n', []),
    (b'CONNECT {"Verbose":true,"unknown_key":[1,{"a":2}],"lang":"py"}\r\n', [b"+OK\r\n"]),
    (b'CONNECT {"protocol":1}\r\n', [b"+OK\r\n"]),
    (b'CONNECT {"protocol":0,"verbose":false}\r\n', []),
    (b'CONNECT {"headers":true,"no_responders":true}\r\n', [b"+OK\r\n"]),
    (b'CONNECT {"account":""}\r\n', [b"+OK\r\n"]),
    (b'CONNECT {"verbose":false}\r\nCONNECT {"verbose":true}\r\n', [b"+OK\r\n"]),
    (b'CONNECT {"verbose":true}\r\nCONNECT {"pedantic":false}\r\n', [b"+OK\r\n", b"+OK\r\n"]),
], ids=["verbose", "empty", "quiet", "nospace", "tab", "spaces", "lower-LF", "KEYCASE",
        "unknownkeys", "proto1", "proto0", "noresp-headers", "emptyaccount", "overlay",
        "overlay-keeps"])
def test_connect_variants(srv, data, frames):
    """cases 4-5 and §5: CONNECT defaults verbose=true; keys overlay; no-space form."""
    expect(srv.port, data, frames + [b"PONG\r\n"])


@_srv_params()
def test_defaults_before_connect_are_verbose(srv):
    """§1 step 5: before CONNECT the connection is verbose (SUB → +OK)."""
    expect(srv.port, b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n",
           [b"+OK\r\n", b"+OK\r\n", b"MSG foo 1 2\r\nhi\r\n", b"PONG\r\n"])


@_srv_params()
@pytest.mark.parametrize("data", [b"CONNECT {bad\r\n", b"CONNECT\r\n", b"CONNECT \r\n",
                                  b"CONNECT [1,2]\r\n", b'CONNECT {"verbose":"yes"}\r\n',
                                  b'CONNECT {"verbose":true}}\r\n'],
                         ids=["badjson", "bare", "bare-space", "array", "wrongtype", "trailing"])
def test_connect_invalid_json_closes_silently(srv, data):
    """case 26: invalid CONNECT JSON → closed, no -ERR."""
    expect(srv.port, data, [], end="close")


@_srv_params()
@pytest.mark.parametrize("data,err", [
    (b'CONNECT {"protocol":2}\r\n', b"invalid client protocol"),
    (b'CONNECT {"protocol":-1}\r\n', b"invalid client protocol"),
    (b'CONNECT {"no_responders":true}\r\n', b"no responders requires headers support"),
    (b'CONNECT {"no_responders":true,"headers":false}\r\n',
     b"no responders requires headers support"),
    (b'CONNECT {"account":"A"}\r\n', b"Authorization Violation"),
    (b'CONNECT {"new_account":true}\r\n', b"Authorization Violation"),
], ids=["proto2", "proto-1", "noresp", "noresp-noheaders", "account", "new_account"])
def test_connect_errors(srv, data, err):
    """cases 27-29: CONNECT rejections send -ERR and close."""
    expect(srv.port, data, [b"-ERR '" + err + b"'\r\n"], end="close")


# --------------------------------------------------------------------------- server PING


@_srv_params()
def test_server_pings_after_connect(srv):
    """case 37: the server sends PING ~2 s after CONNECT; a PONG keeps the
    connection alive and pub/sub keeps working."""
    c = Conn(srv.port)
    try:
        c.send(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB p 1\r\n')
        assert c.frame(timeout=10, skip_pings=False) == b"PING\r\n"
        c.send(b"PONG\r\nPUB p 1\r\nz\r\n")
        assert c.sync() == [b"MSG p 1 1\r\nz\r\n"]
    finally:
        c.close()


@_srv_params()
def test_ping_answered_between_other_ops(srv):
    """PING is answered in order with other output."""
    expect(srv.port, b'CONNECT {"verbose":true}\r\nPING\r\nSUB a 1\r\nPING\r\nPUB a 0\r\n\r\n',
           [b"+OK\r\n", b"PONG\r\n", b"+OK\r\n", b"PONG\r\n", b"+OK\r\n", b"MSG a 1 0\r\n\r\n",
            b"PONG\r\n"])


@_srv_params()
def test_many_connections_sequential(srv):
    """Open/close a few hundred connections one by one; each gets INFO and PONG."""
    for i in range(200):
        t = transcript(srv.port, b"" if i % 2 else b"CONNECT {}\r\n")
        assert t.frames == ([b"PONG\r\n"] if i % 2 else [b"+OK\r\n", b"PONG\r\n"])
