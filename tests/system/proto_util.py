"""Helpers shared by the core-protocol system tests (test_01 .. test_05, test_10).

Targets
  Every byte-exact test runs the same bytes against natsd (config `threads: 1`
  and `threads: 2`) and against the reference nats-server 2.9.10 (the same
  config without `threads`, which nats-server does not know). The expected
  bytes written in the tests are nats-server's answers (docs/protocol/client.md §18,
  re-checked by the nats-server parameter of each test), so natsd and
  nats-server are compared byte for byte through them.

    @pytest.mark.parametrize("target", TARGETS)          # natsd t1/t2 + nats-server
    def test_x(target, server_factory):
        srv = start(server_factory, target, conf="max_payload: 100")

Transcripts
  transcript(port, data) connects, reads INFO, sends data (split into chunks
  if asked), and reads the answer as a list of frames until the connection
  closes ("close") or until a final sentinel PING is answered ("pong"). A
  frame is the raw bytes of one line (CRLF included), with the payload
  appended for MSG/HMSG. The server's own keep-alive PING frames are dropped
  (nats-server sends one ~2 s after CONNECT; it is not part of any answer
  tested here), so results do not depend on timing.
"""

import json
import os
import re
import socket
import time

import pytest

from natsd import scaled
from rawclient import RawClient

CRLF = b"\r\n"

# (kind, threads) parameters. Each natsd one also runs under TSan when marked
# threaded by the test module (see params()).
NATSD_T1 = ("natsd", 1)
NATSD_T2 = ("natsd", 2)
REFERENCE = ("nats-server", None)


def params(threaded_t1=False, threaded_t2=True, reference=True):
    """pytest.param list over natsd threads 1 and 2 and (interop) nats-server."""
    out = [
        pytest.param(NATSD_T1, id="natsd-t1",
                     marks=[pytest.mark.threaded] if threaded_t1 else []),
        pytest.param(NATSD_T2, id="natsd-t2",
                     marks=[pytest.mark.threaded] if threaded_t2 else []),
    ]
    if reference:
        out.append(pytest.param(REFERENCE, id="nats-server", marks=[pytest.mark.interop]))
    return out


def conf_text(target, conf=""):
    """Config for target: natsd gets `threads: N` prepended, nats-server not."""
    kind, threads = target
    lines = []
    if kind == "natsd" and threads is not None:
        lines.append("threads: %d" % threads)
    if conf:
        lines.append(conf)
    return "\n".join(lines) + "\n"


def start(server_factory, target, conf="", expect_errors=(), **kw):
    """Start target's server (kind, threads) with conf (no port: the harness
    adds -p/-a). Returns the ServerProcess."""
    kind, _ = target
    return server_factory(kind=kind, conf=conf_text(target, conf),
                          expect_errors=list(expect_errors), **kw)


# --------------------------------------------------------------------------- INFO

# Values that legitimately differ between two servers (or two runs).
INFO_VARIABLE = ("server_id", "server_name", "port", "client_id", "go", "version", "nonce")


def parse_info_line(raw):
    """raw: bytes of one INFO line including CRLF. Returns (keys, dict)."""
    assert raw.startswith(b"INFO {"), raw
    assert raw.endswith(b"} \r\n"), "INFO must end with '} \\r\\n': %r" % raw[-10:]
    obj = json.loads(raw[5:-3].decode())
    return list(obj.keys()), obj


def normalize_info(raw):
    """An INFO line with the variable values replaced by placeholders, as a
    JSON string with keys in the original order."""
    keys, obj = parse_info_line(raw)
    for k in INFO_VARIABLE:
        if k in obj:
            obj[k] = "<%s>" % k
    return "INFO " + json.dumps(obj, separators=(",", ":")) + " \r\n"


# --------------------------------------------------------------------------- framing


class Reader:
    """Reads frames from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self, deadline):
        if self.eof:
            raise EOFError
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            raise EOFError
        self.buf += chunk

    def frame(self, deadline):
        """Next frame as bytes. Raises EOFError on close (self.buf keeps any
        incomplete rest), socket.timeout on timeout."""
        while b"\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\n") + 1
        line = self.buf[:i]
        parts = line.split()
        extra = 0
        if parts and parts[0] in (b"MSG", b"HMSG"):
            try:
                extra = int(parts[-1]) + 2
            except ValueError:
                extra = 0
        while len(self.buf) < i + extra:
            self._fill(deadline)
        out, self.buf = self.buf[:i + extra], self.buf[i + extra:]
        return out


class Transcript:
    def __init__(self, info, frames, closed, rest=b""):
        self.info = info          # raw INFO line
        self.frames = frames      # list of bytes, server PINGs removed
        self.closed = closed      # the server closed the connection
        self.rest = rest          # incomplete bytes left at close

    def __repr__(self):
        return "Transcript(frames=%r, closed=%r, rest=%r)" % (self.frames, self.closed, self.rest)


def count_pings(data):
    """How many PING control lines (any case, any suffix) data holds at line starts."""
    return len(re.findall(rb"(?im)(?:^|\n)ping", data))


def transcript(port, data, end="pong", chunks=None, timeout=5.0, keep_pings=False, pongs=None):
    """Connect, read INFO, send data, collect the answer.

    end="pong":  append PING\\r\\n and read until as many PONGs arrived as
                 PINGs were sent (pongs= overrides the count); the connection
                 must stay open.
    end="close": read until the server closes the connection.
    chunks:      list of split offsets; data is sent in pieces at those offsets
                 (TCP_NODELAY, each piece its own sendall).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        rd = Reader(sock)
        deadline = time.monotonic() + scaled(timeout)
        info = rd.frame(deadline)
        if end == "pong":
            data = data + b"PING\r\n"
            want = pongs if pongs is not None else count_pings(data)
        pieces = []
        if chunks:
            last = 0
            for off in sorted(set(chunks)):
                if 0 < off < len(data):
                    pieces.append(data[last:off])
                    last = off
            pieces.append(data[last:])
        else:
            pieces = [data]
        for p in pieces:
            try:
                sock.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                break
        frames = []
        seen = 0
        while True:
            try:
                f = rd.frame(deadline)
            except EOFError:
                if end == "pong":
                    raise AssertionError("connection closed; frames so far %r, rest %r"
                                         % (frames, rd.buf))
                return Transcript(info, frames, True, rd.buf)
            except socket.timeout:
                raise AssertionError("timeout (end=%s); frames so far %r, rest %r"
                                     % (end, frames, rd.buf))
            if f == b"PING\r\n" and not keep_pings:
                continue
            frames.append(f)
            if end == "pong" and f == b"PONG\r\n":
                seen += 1
                if seen >= want:
                    return Transcript(info, frames, False)
    finally:
        sock.close()


def canonical(frames):
    """frames with each run of consecutive MSG/HMSG frames sorted: the order
    in which one publish reaches several subscriptions is not a contract
    (docs/protocol/subjects.md §2; nats-server's order varies from run to run)."""
    out, run = [], []
    for f in frames:
        if f.startswith(b"MSG ") or f.startswith(b"HMSG "):
            run.append(f)
            continue
        out += sorted(run)
        run = []
        out.append(f)
    return out + sorted(run)


def expect(port, data, frames, end="pong", **kw):
    """transcript() and assert the frames (list of bytes, or one bytes object
    that is the concatenation) and, for end="close", that it closed. Runs of
    MSG/HMSG frames compare as sets (see canonical)."""
    t = transcript(port, data, end=end, **kw)
    got = t.frames
    if isinstance(frames, (bytes, bytearray)):
        assert b"".join(got) == bytes(frames), "sent %r\nexpected %r\ngot %r (closed=%s)" % (
            data, frames, b"".join(got), t.closed)
    else:
        assert canonical(got) == canonical(frames), \
            "sent %r\nexpected %r\ngot %r (closed=%s)" % (data, frames, got, t.closed)
    if end == "close":
        assert t.closed
        assert t.rest == b"", "partial bytes before close: %r" % t.rest
    return t


def client(port, **connect):
    """A RawClient after INFO/CONNECT/PING/PONG (verbose and pedantic off)."""
    c = RawClient(port)
    c.handshake(**connect)
    return c


def check_alive(port, subject="alive.check", n=3):
    """The server still accepts a connection and delivers pub/sub exactly."""
    sub = client(port)
    pub = client(port)
    try:
        sub.sub(subject, 1)
        sub.ping_pong()
        for i in range(n):
            pub.pub(subject, b"m%d" % i)
        pub.ping_pong()
        for i in range(n):
            sub.expect_msg(subject, 1, b"m%d" % i, timeout=10)
        sub.ping_pong()
    finally:
        sub.close()
        pub.close()


def drivers_dir():
    return os.environ.get("NATSD_DRIVERS")


class Conn:
    """A raw connection that reads frames (see Reader): send bytes, then
    sync() to get every frame up to the PONG of a PING sent last."""

    def __init__(self, port, timeout=5.0, read_info=True):
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rd = Reader(self.sock)
        self.info = self.frame() if read_info else None

    def deadline(self, timeout=None):
        return time.monotonic() + scaled(self.timeout if timeout is None else timeout)

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def frame(self, timeout=None, skip_pings=True):
        dl = self.deadline(timeout)
        while True:
            try:
                f = self.rd.frame(dl)
            except EOFError:
                raise AssertionError("connection closed by the server (rest %r)" % self.rd.buf)
            except socket.timeout:
                raise AssertionError("timeout waiting for a frame (have %r)" % self.rd.buf[:300])
            if skip_pings and f == b"PING\r\n":
                self.send(b"PONG\r\n")
                continue
            return f

    def frames(self, n, timeout=None):
        return [self.frame(timeout) for _ in range(n)]

    def connect(self, **fields):
        """CONNECT (verbose/pedantic false unless given) + PING; waits for PONG."""
        body = {"verbose": False, "pedantic": False}
        body.update(fields)
        self.send(b"CONNECT " + json.dumps(body, separators=(",", ":")).encode() + CRLF)
        got = self.sync()
        assert got == [], "unexpected answer to CONNECT: %r" % got
        return self

    def sync(self, timeout=None):
        """Send PING; return the frames before its PONG (server PINGs dropped)."""
        self.send(b"PING\r\n")
        out = []
        while True:
            f = self.frame(timeout)
            if f == b"PONG\r\n":
                return out
            out.append(f)

    def until_close(self, timeout=None):
        """Frames until the server closes; asserts it does within timeout."""
        dl = self.deadline(timeout)
        out = []
        while True:
            try:
                f = self.rd.frame(dl)
            except EOFError:
                return out
            except socket.timeout:
                raise AssertionError("connection not closed; frames %r rest %r"
                                     % (out, self.rd.buf[:300]))
            if f != b"PING\r\n":
                out.append(f)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connected(port, **fields):
    return Conn(port).connect(**fields)


def msg(subject, sid, payload, reply=None, size=None):
    """The bytes of one MSG frame as a server sends it."""
    payload = payload.encode() if isinstance(payload, str) else payload
    size = str(len(payload)) if size is None else size
    head = "MSG %s %s %s%s\r\n" % (subject, sid, (reply + " ") if reply else "", size)
    return head.encode() + payload + CRLF


def hmsg(subject, sid, headers, payload, reply=None):
    headers = headers.encode() if isinstance(headers, str) else headers
    payload = payload.encode() if isinstance(payload, str) else payload
    head = "HMSG %s %s %s%d %d\r\n" % (subject, sid, (reply + " ") if reply else "",
                                       len(headers), len(headers) + len(payload))
    return head.encode() + headers + payload + CRLF


# [ERR] lines each server may log for a protocol error of a client
# (natsd's texts may differ; only the -ERR on the wire is byte-exact).
PROTO_ERR_LOGS = [
    r"Client parser ERROR",
    r"Bad or Missing Size",
    r"[Mm]aximum control line exceeded",
    r"[Mm]aximum payload exceeded",
    r"Client Error",
    r"invalid CONNECT",
    r"invalid character",
    r"json: ",
    r"authentication error",
    r"unexpected end of JSON",
    r"message headers not supported",
    r"processPub",
    r"processHeaderPub",
    r"processSub",
    r"processUnsub",
    r"parse",
    r"[Pp]rotocol",
    r"no responders requires headers",
    r"Authorization Violation",
    r"[Mm]aximum connections exceeded",
    r"[Mm]aximum subscriptions exceeded",
    r"Invalid Subject",
    r"Permissions Violation",
    r"Publish Violation",
    r"Subscription Violation",
    r"Stale Connection",
    r"Slow Consumer",
]
