"""A fake gateway peer over raw sockets, for the gateway system tests
(test_13_gateways.py, test_14_supercluster.py). Wire facts come from
docs/protocol/gateway.md; section numbers below refer to it.

A peer plays cluster X. It can

  * connect to a server's gateway port (the server's inbound):
        f = GwConn.connect(srv.ports["GW"])
        info = f.read_info()                      # the server's gateway INFO
        f.send_connect(gateway="X")               # CONNECT {...}
        f.send_info(peer_info("X", port=px))      # INFO {...}
        burst = f.read_burst(["$G", "$SYS"])      # RS+ ..., cmd 2/RS+/cmd 3
  * listen as a gateway, so that the server connects to it (the server's
    outbound):
        lst = GwListener()
        o = lst.accept()                          # the server dialled us
        o.send_info(peer_info("X", port=lst.port))
        connect, info = o.read_connect_and_info()
        o.register("$G", subs=["foo"], queues=[("bar", "q2")])  # cmd 2, RS+, cmd 3
        m = o.frame()                             # RMSG/HMSG from the server
  * answer PINGs (optionally after a delay, to set the RTT the server
    measures), or not at all (staleness tests).

A background thread reads each connection and turns the bytes into Frame
objects (one control line, plus the payload for RMSG/HMSG/MSG/HMSG), queued
for the test. PINGs are answered by that thread and are not queued unless
show_pings is set.

h6() / old_hash() compute the reply-prefix hashes of section 4.5; b64() the
gateway_cmd_payload of section 2.4.
"""

import base64
import hashlib
import json
import queue
import re
import socket
import ssl
import threading
import time
import urllib.request

from natsd import free_port, scaled
from rawclient import RawClient, ProtocolError

CRLF = b"\r\n"
DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DEFAULT_TIMEOUT = 5.0

# --------------------------------------------------------------------------- hashes


def h6(text):
    """The 6-character cluster/server hash of the _GR_. reply prefix: the first
    6 bytes of SHA-256(text), each taken modulo 62 over 0-9A-Za-z."""
    d = hashlib.sha256(text.encode()).digest()
    return "".join(DIGITS[b % 62] for b in d[:6])


def old_hash(text):
    """The 4-hex-character cluster hash of the old $GR. reply prefix."""
    return hashlib.sha256(text.encode()).hexdigest()[:4]


def b64(account):
    """gateway_cmd_payload for an account name (JSON of a byte string)."""
    return base64.b64encode(account.encode()).decode()


def routed_reply(cluster, server_id, reply):
    """_GR_.<H6(cluster)>.<H6(server_id)>.<reply>"""
    return "_GR_.%s.%s.%s" % (h6(cluster), h6(server_id), reply)


# --------------------------------------------------------------------------- INFO / CONNECT bodies


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def peer_info(gateway, server_id=None, port=None, urls=None, server_name=None, headers=True,
              nrp=True, iom=True, **extra):
    """A gateway INFO body as a connecting or accepting peer sends it (the
    reference's key order, section 2.4). port: our listen port (gives
    gateway_url and, unless urls is given, gateway_urls). A value of None
    leaves a key out; extra keys are appended (or override)."""
    sid = server_id or ("NFAKE" + gateway.upper() + "PEER")
    body = {
        "server_id": sid,
        "server_name": server_name if server_name is not None else "fake" + gateway,
        "version": "2.9.10",
        "proto": 0,
        "go": "",
        "host": "127.0.0.1",
        "port": port or 0,
        "headers": headers,
        "max_payload": 1048576,
        "gateway": gateway,
    }
    if urls is None and port:
        urls = ["127.0.0.1:%d" % port]
    if urls is not None:
        body["gateway_urls"] = urls
    if port:
        body["gateway_url"] = "127.0.0.1:%d" % port
    body["gateway_nrp"] = nrp
    body["gateway_iom"] = iom
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def connect_body(gateway="X", server_id=None, **extra):
    """A gateway CONNECT body as the reference writes it (section 2.6)."""
    body = {"echo": False, "verbose": False, "pedantic": False}
    for k in ("user", "pass"):
        if k in extra:
            body[k] = extra.pop(k)
    body.update({"tls_required": False, "headers": False,
                 "name": server_id or ("NFAKE" + str(gateway).upper() + "PEER"),
                 "cluster": "", "gateway": gateway})
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def cmd_info(gateway, cmd, account=None):
    """INFO line body of a gateway command (1 gossip, 2 all-subs start, 3
    all-subs complete) in the short form a peer may send."""
    body = {"gateway": gateway, "gateway_cmd": cmd}
    if account is not None:
        body["gateway_cmd_payload"] = b64(account)
    return body


def ref_cmd_info(gateway, cmd, account):
    """The exact cmd 2/3 INFO line the reference sends (section 5.2), no CRLF."""
    return ('INFO {"server_id":"","server_name":"","version":"","proto":0,"go":"","host":"",'
            '"port":0,"headers":false,"max_payload":0,"gateway":"%s","gateway_cmd":%d,'
            '"gateway_cmd_payload":"%s"}' % (gateway, cmd, b64(account)))


def ref_gossip_info(server_id, gateway, urls):
    """The exact gossip (cmd 1) INFO line (sections 3.2 and 3.3), no CRLF."""
    return ('INFO {"server_id":"%s","server_name":"","version":"","proto":0,"go":"","host":"",'
            '"port":0,"headers":false,"max_payload":0,"gateway":"%s","gateway_urls":%s,'
            '"gateway_cmd":1}' % (server_id, gateway, dumps(urls)))


# --------------------------------------------------------------------------- frames


class GwError(AssertionError):
    pass


class Closed(GwError):
    """The peer closed the connection while a frame was expected."""


class Frame:
    """One protocol unit received.

    op       upper-case operation (INFO, RS+, RMSG, PING, -ERR, ...)
    line     the control line without CRLF (str)
    raw      exact bytes: control line with its line end, plus payload and CRLF
    args     the arguments after the op, split on blanks
    For INFO/CONNECT: obj (dict), cmd (gateway_cmd or 0), cmd_account (decoded
    gateway_cmd_payload or None).
    For RMSG/HMSG: account, subject, reply, queues (list), hdr_size, headers
    (bytes or None), payload (bytes). MSG/HMSG from a route or client use the
    same fields where they apply.
    """

    def __init__(self, line_bytes, payload=None):
        self.raw = line_bytes + (payload if payload is not None else b"")
        text = line_bytes.rstrip(b"\r\n").decode("utf-8", "replace")
        self.line = text
        op, _, rest = text.partition(" ")
        self.op = op.upper()
        self.rest = rest
        self.args = rest.split()
        self.obj = None
        self.cmd = 0
        self.cmd_account = None
        self.account = self.subject = self.reply = None
        self.queues = []
        self.hdr_size = 0
        self.headers = None
        self.payload = None
        if self.op in ("INFO", "CONNECT"):
            try:
                self.obj = json.loads(rest)
            except ValueError:
                self.obj = None
            if isinstance(self.obj, dict):
                self.cmd = self.obj.get("gateway_cmd", 0)
                p = self.obj.get("gateway_cmd_payload")
                if p:
                    self.cmd_account = base64.b64decode(p).decode()
        elif self.op in ("RMSG", "HMSG") and payload is not None:
            self._msg_fields(payload, self.op == "HMSG")

    def _msg_fields(self, payload, has_hdr):
        a = self.args
        nsize = 2 if has_hdr else 1
        self.account, self.subject = a[0], a[1]
        middle = a[2:len(a) - nsize]
        if middle and middle[0] == "+":
            self.reply, self.queues = middle[1], middle[2:]
        elif middle and middle[0] == "|":
            self.queues = middle[1:]
        elif len(middle) == 1:
            self.reply = middle[0]
        body = payload[:-2]
        if has_hdr:
            self.hdr_size = int(a[-2])
            self.headers = body[:self.hdr_size]
            self.payload = body[self.hdr_size:]
        else:
            self.payload = body

    def __repr__(self):
        return "<Frame %r>" % (self.raw[:300],)


def _payload_size(line):
    """Bytes that follow a control line (payload + CRLF), or 0."""
    parts = line.split()
    if not parts:
        return 0
    op = parts[0].upper()
    if op in (b"RMSG", b"HMSG", b"MSG", b"LMSG"):
        try:
            return int(parts[-1]) + 2
        except ValueError:
            return 0
    return 0


# --------------------------------------------------------------------------- connections


class GwConn:
    """One gateway (or route) connection, either direction. A reader thread
    queues Frames; PINGs are answered (after pong_delay seconds) unless
    auto_pong is false, and queued only when show_pings is true."""

    def __init__(self, sock, timeout=DEFAULT_TIMEOUT, auto_pong=True, show_pings=False,
                 pong_delay=0.0, start=True):
        self.sock = sock
        self.timeout = timeout
        self.auto_pong = auto_pong
        self.show_pings = show_pings
        self.pong_delay = pong_delay
        self.frames = queue.Queue()
        self.closed = False          # the peer closed (EOF or reset)
        self.eof_error = None
        self.pings = 0               # PINGs received
        self.pongs_sent = 0          # PINGs answered
        self.cond = threading.Condition()
        self._send_lock = threading.Lock()
        self.send_error = None       # a write that found the peer gone
        self._writers = 0            # sends waiting for or holding _send_lock
        self._writers_lock = threading.Lock()
        self._reader = None
        self._stop = False
        self.server_info = None      # INFO read by read_info
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if start:
            self.start()

    # ---- construction

    @classmethod
    def connect(cls, port, host="127.0.0.1", tls=None, server_hostname="localhost", **kw):
        """Dial host:port; with tls (an ssl.SSLContext) run the client
        handshake first (gateway TLS comes before any byte, section 2.7)."""
        s = socket.create_connection((host, port), timeout=scaled(DEFAULT_TIMEOUT))
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname=server_hostname)
        s.settimeout(None)
        return cls(s, **kw)

    def start(self):
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # ---- reader thread

    def _read_loop(self):
        buf = b""
        try:
            while not self._stop:
                chunk = self._recv()
                if chunk is None:
                    continue
                if not chunk:
                    break
                buf += chunk
                while True:
                    i = buf.find(b"\n")
                    if i < 0:
                        break
                    line = buf[:i + 1]
                    need = _payload_size(line)
                    if len(buf) < i + 1 + need:
                        break
                    payload = buf[i + 1:i + 1 + need] if need else None
                    buf = buf[i + 1 + need:]
                    self._on_frame(Frame(line, payload))
        except (OSError, ssl.SSLError, ValueError, AttributeError) as e:
            # AttributeError: an SSL socket shut down under a finished read
            self.eof_error = e
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.rest = buf
        self.frames.put(None)

    def _on_frame(self, f):
        if f.op == "PING":
            with self.cond:
                self.pings += 1
                self.cond.notify_all()
            if self.auto_pong:
                if self.pong_delay > 0:
                    t = threading.Timer(self.pong_delay, self._pong)
                    t.daemon = True
                    t.start()
                else:
                    self._pong()
            if not self.show_pings:
                return
        self.frames.put(f)

    def _pong(self):
        try:
            self.send(b"PONG\r\n")
        except OSError:
            return
        with self.cond:
            self.pongs_sent += 1
            self.cond.notify_all()

    # ---- sending

    # An SSL connection is one OpenSSL object: a read and a write running at
    # once in two threads corrupt it (bad record MAC). On TLS, the reader
    # holds _send_lock around short timed reads, so writes go in between.
    TLS_POLL = 0.05

    def _recv(self):
        """The next bytes, b"" at EOF, None when a TLS poll found nothing."""
        if not isinstance(self.sock, ssl.SSLSocket):
            return self.sock.recv(262144)
        if self._writers:
            time.sleep(0.001)  # a lock is not fair: let a waiting write go first
            return None
        with self._send_lock:
            self.sock.settimeout(self.TLS_POLL)
            try:
                return self.sock.recv(262144)
            except (socket.timeout, ssl.SSLWantReadError):
                return None
            finally:
                self.sock.settimeout(None)

    def send(self, data):
        """Write data. A peer that has already closed (it refused what came
        before, say) is not an error here: the reader reports the close, and
        expect_closed() is where a test looks for it."""
        data = data.encode() if isinstance(data, str) else bytes(data)
        with self._writers_lock:
            self._writers += 1
        try:
            with self._send_lock:
                self.sock.sendall(data)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, BrokenPipeError,
                ConnectionResetError) as e:
            self.send_error = e
        finally:
            with self._writers_lock:
                self._writers -= 1

    def send_line(self, line):
        self.send((line.encode() if isinstance(line, str) else line) + CRLF)

    def send_connect(self, **fields):
        """CONNECT with connect_body(**fields)."""
        self.send_line("CONNECT " + dumps(connect_body(**fields)))

    def send_info(self, body):
        self.send_line("INFO " + dumps(body))

    def send_cmd(self, gateway, cmd, account=None):
        self.send_info(cmd_info(gateway, cmd, account))

    def rs_plus(self, account, subject, queue=None, weight=1):
        if queue:
            self.send_line("RS+ %s %s %s %d" % (account, subject, queue, weight))
        else:
            self.send_line("RS+ %s %s" % (account, subject))

    def rs_minus(self, account, subject, queue=None):
        self.send_line("RS- %s %s%s" % (account, subject, (" " + queue) if queue else ""))

    def register(self, account, gateway="X", subs=(), queues=()):
        """On a connection the server opened to us: cmd 2, RS+ for each plain
        subject and each (subject, queue), cmd 3 (section 5.4)."""
        out = [b"INFO " + dumps(cmd_info(gateway, 2, account)).encode()]
        out += [("RS+ %s %s" % (account, s)).encode() for s in subs]
        out += [("RS+ %s %s %s 1" % (account, s, q)).encode() for s, q in queues]
        out.append(b"INFO " + dumps(cmd_info(gateway, 3, account)).encode())
        self.send(CRLF.join(out) + CRLF)

    def rmsg(self, account, subject, payload, reply=None, queues=None):
        payload = payload.encode() if isinstance(payload, str) else payload
        self.send(rmsg_bytes(account, subject, payload, reply, queues))

    def hmsg(self, account, subject, headers, payload, reply=None, queues=None):
        self.send(hmsg_bytes(account, subject, headers, payload, reply, queues))

    # ---- receiving

    def _deadline(self, timeout):
        return time.monotonic() + scaled(self.timeout if timeout is None else timeout)

    def frame(self, timeout=None):
        """The next frame; GwError on timeout, Closed on EOF."""
        try:
            f = self.frames.get(timeout=scaled(self.timeout if timeout is None else timeout))
        except queue.Empty:
            raise GwError("timeout waiting for a frame")
        if f is None:
            self.frames.put(None)
            raise Closed("connection closed by the peer (%s)" % (self.eof_error,))
        return f

    def next(self, timeout=None, skip=None):
        """The next frame whose line does not match regex skip (when given)."""
        while True:
            f = self.frame(timeout)
            if skip and re.match(skip, f.line):
                continue
            return f

    def expect_line(self, line, timeout=None, skip=None):
        f = self.next(timeout, skip)
        if f.line != line:
            raise GwError("expected %r, got %r" % (line, f.line))
        return f

    def expect_raw(self, data, timeout=None, skip=None):
        data = data.encode() if isinstance(data, str) else data
        f = self.next(timeout, skip)
        if f.raw != data:
            raise GwError("expected %r, got %r" % (data, f.raw))
        return f

    def expect_re(self, pattern, timeout=None, skip=None):
        f = self.next(timeout, skip)
        if not re.fullmatch(pattern, f.line):
            raise GwError("expected a line matching %r, got %r" % (pattern, f.line))
        return f

    def read_info(self, timeout=None):
        f = self.frame(timeout)
        if f.op != "INFO" or not isinstance(f.obj, dict):
            raise GwError("expected INFO, got %r" % f.raw[:300])
        self.server_info = f.obj
        self.info_frame = f
        return f.obj

    def read_connect_and_info(self, timeout=None):
        """On a connection the server opened: its CONNECT and its INFO, which
        it sends back to back (section 2.3). Returns (connect_frame, info_frame)."""
        c = self.frame(timeout)
        if c.op != "CONNECT":
            raise GwError("expected CONNECT, got %r" % c.raw[:300])
        i = self.frame(timeout)
        if i.op != "INFO":
            raise GwError("expected INFO after CONNECT, got %r" % i.raw[:300])
        self.server_info = i.obj
        return c, i

    def read_burst(self, accounts=("$G", "$SYS"), timeout=None, skip=None):
        """Frames up to and including the cmd-3 INFO of every account in
        accounts (the initial burst of section 2.2, or the switch sequence of
        section 5.4). Returns the list of frames (PINGs excluded)."""
        want = set(accounts)
        out = []
        while want:
            f = self.next(timeout, skip)
            out.append(f)
            if f.op == "INFO" and f.cmd == 3:
                want.discard(f.cmd_account)
        return out

    def sync(self, timeout=None, skip=None):
        """Send PING; return the frames that came before its PONG."""
        self.send(b"PING\r\n")
        out = []
        while True:
            f = self.next(timeout, skip)
            if f.op == "PONG":
                return out
            out.append(f)

    def drain(self, quiet=0.2):
        """Frames that arrive until none came for quiet seconds."""
        out = []
        while True:
            try:
                f = self.frames.get(timeout=quiet)
            except queue.Empty:
                return out
            if f is None:
                self.frames.put(None)
                return out
            out.append(f)

    def expect_nothing(self, duration=0.3, skip=None):
        """No frame (other than ones matching skip) within duration; the
        connection must stay open."""
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                f = self.frames.get(timeout=left)
            except queue.Empty:
                return
            if f is None:
                self.frames.put(None)
                raise Closed("connection closed while expecting nothing")
            if skip and re.match(skip, f.line):
                continue
            raise GwError("expected nothing, got %r" % f.raw[:300])

    def expect_closed(self, timeout=None):
        """The peer must close within timeout. Returns the frames received
        before the close."""
        deadline = self._deadline(timeout)
        out = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GwError("connection still open; frames so far %r" % out)
            try:
                f = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if f is None:
                self.frames.put(None)
                return out
            out.append(f)

    def wait_pings(self, n, timeout=None):
        """Wait until n PINGs have been received in total."""
        deadline = self._deadline(timeout)
        with self.cond:
            while self.pings < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise GwError("only %d PINGs received (wanted %d)" % (self.pings, n))
                self.cond.wait(left)

    def wait_pongs(self, n, timeout=None):
        """Wait until n PONGs have been sent in total (delayed ones included)."""
        deadline = self._deadline(timeout)
        with self.cond:
            while self.pongs_sent < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise GwError("only %d PONGs sent (wanted %d)" % (self.pongs_sent, n))
                self.cond.wait(left)

    def close(self):
        """Stop the reader, then close. The reader must be gone before the
        descriptor is: a read still in flight would otherwise go on with
        the next connection that gets the same descriptor number."""
        self._stop = True
        tls = isinstance(self.sock, ssl.SSLSocket)
        try:
            if tls:
                with self._send_lock:
                    self.sock.shutdown(socket.SHUT_RDWR)
            else:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv
        except (OSError, ValueError):
            pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=scaled(5))
        try:
            self.sock.close()
        except OSError:
            pass


def rmsg_bytes(account, subject, payload, reply=None, queues=None):
    payload = payload.encode() if isinstance(payload, str) else payload
    mid = ""
    if queues:
        mid = ("+ %s " % reply if reply else "| ") + " ".join(queues) + " "
    elif reply:
        mid = reply + " "
    return ("RMSG %s %s %s%d\r\n" % (account, subject, mid, len(payload))).encode() + payload + CRLF


def hmsg_bytes(account, subject, headers, payload, reply=None, queues=None):
    headers = headers.encode() if isinstance(headers, str) else headers
    payload = payload.encode() if isinstance(payload, str) else payload
    mid = ""
    if queues:
        mid = ("+ %s " % reply if reply else "| ") + " ".join(queues) + " "
    elif reply:
        mid = reply + " "
    return (("HMSG %s %s %s%d %d\r\n" % (account, subject, mid, len(headers),
                                          len(headers) + len(payload))).encode()
            + headers + payload + CRLF)


# --------------------------------------------------------------------------- listener


class GwListener:
    """A listening socket on 127.0.0.1 (a free port) that plays a gateway the
    server dials. With tls (a server-side ssl.SSLContext) each accepted
    connection runs the TLS handshake first."""

    def __init__(self, port=None, tls=None):
        self.port = port or free_port()
        self.tls = tls
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.conns = []

    @property
    def url(self):
        return "127.0.0.1:%d" % self.port

    def accept(self, timeout=10.0, **kw):
        """The next connection the server opens to us (GwConn)."""
        self.lsock.settimeout(scaled(timeout))
        try:
            s, _ = self.lsock.accept()
        except socket.timeout:
            raise GwError("the server did not connect to %s within %.1fs"
                          % (self.url, scaled(timeout)))
        if self.tls is not None:
            s.settimeout(scaled(DEFAULT_TIMEOUT))
            s = self.tls.wrap_socket(s, server_side=True)
        s.settimeout(None)
        c = GwConn(s, **kw)
        self.conns.append(c)
        return c

    def no_connection(self, duration):
        """True when nobody connects within duration seconds."""
        self.lsock.settimeout(duration)
        try:
            s, _ = self.lsock.accept()
        except socket.timeout:
            return True
        self.conns.append(GwConn(s))
        return False

    def close(self):
        for c in self.conns:
            c.close()
        try:
            self.lsock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- shared test helpers


class Client(RawClient):
    """A raw NATS client that answers server PINGs and skips async INFOs."""

    def read_line(self, timeout=None):
        while True:
            line = super().read_line(timeout)
            if line == "PING":
                self.send(b"PONG\r\n")
                continue
            if line.startswith("INFO ") and self.info is not None:
                continue
            return line


def client(srv, port=None, **connect):
    """A Client on srv's client port after INFO/CONNECT/PING/PONG (headers on)."""
    c = Client(port or srv.port)
    fields = {"headers": True, "protocol": 1}
    fields.update(connect)
    c.handshake(**fields)
    return c


def wait_until(pred, timeout=10.0, what="condition", interval=0.05):
    """Poll pred() until it returns a true value (returned); fail on timeout."""
    deadline = time.monotonic() + scaled(timeout)
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (OSError, ValueError, KeyError, GwError, ProtocolError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                scaled(timeout), what, (" (last error: %r)" % last_exc) if last_exc else ""))
        time.sleep(interval)


def stays(pred, duration, what):
    """pred() holds during the whole of duration seconds (polled): for
    things that must not happen, such as a retry after the last one."""
    end = time.monotonic() + scaled(duration)
    while time.monotonic() < end:
        assert pred(), what
        time.sleep(0.05)
    assert pred(), what


def pending_msgs(c, quiet=0.0):
    """Messages pending on client c up to the PONG of a PING sent now (after
    an optional quiet wait); returns a list of rawclient.Msg."""
    if quiet:
        time.sleep(quiet)
    c.send(b"PING\r\n")
    out = []
    while True:
        line = c.read_line()
        if line == "PONG":
            return out
        parts = line.split(" ")
        if parts[0] == "MSG":
            data = c.read_bytes(int(parts[-1]) + 2)
            reply = parts[3] if len(parts) == 5 else None
            out.append(_Msg("MSG", parts[1], parts[2], reply, None, data[:-2], line))
        elif parts[0] == "HMSG":
            data = c.read_bytes(int(parts[-1]) + 2)
            hs = int(parts[-2])
            reply = parts[3] if len(parts) == 6 else None
            out.append(_Msg("HMSG", parts[1], parts[2], reply, data[:hs], data[hs:-2], line))
        elif line.startswith("-ERR"):
            raise ProtocolError("unexpected %r" % line)


def drain_numbered(c, quiet=0.0):
    """The numbered messages (payload: decimal digits) pending on client c up
    to the PONG of a PING sent now, in arrival order, as (subject, number)
    pairs; other payloads are skipped. Parses the bytes in bulk, for streams
    of tens of thousands of messages."""
    if quiet:
        time.sleep(quiet)
    c.send(b"PING\r\n")
    data, pos, out = c.buf, 0, []
    deadline = time.monotonic() + scaled(20)

    def more(keep):
        c.sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = c.sock.recv(1 << 20)
        assert chunk, "connection closed while draining"
        return keep + chunk

    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            data, pos = more(data[pos:]), 0
            continue
        line = data[pos:end]
        if line.startswith(b"MSG "):
            size = int(line.rsplit(b" ", 1)[1])
            if len(data) < end + 4 + size:
                data, pos = more(data[pos:]), 0
                continue
            payload = data[end + 2:end + 2 + size]
            if payload.isdigit():
                out.append((line.split(b" ")[1].decode(), int(payload.lstrip(b"0") or b"0")))
            pos = end + 4 + size
            continue
        pos = end + 2
        if line == b"PONG":
            c.buf = data[pos:]
            return out
        if line == b"PING":
            c.send(b"PONG\r\n")
        else:
            assert line.startswith(b"INFO "), "unexpected %r" % line[:200]


class _Msg:
    def __init__(self, op, subject, sid, reply, headers, payload, line):
        self.op, self.subject, self.sid, self.reply = op, subject, sid, reply
        self.headers, self.payload, self.line = headers, payload, line

    def __repr__(self):
        return "<%s %s %s %r>" % (self.op, self.subject, self.reply, self.payload[:40])


def http_json(port, path):
    """GET http://127.0.0.1:port/path and decode the JSON."""
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=scaled(5)) as r:
        return json.loads(r.read())


def check_alive(srv, subject="alive.check"):
    """srv still accepts a client and delivers pub/sub."""
    c = client(srv)
    try:
        c.sub(subject, 1)
        c.pub(subject, b"ok")
        c.expect_msg(subject, 1, b"ok")
    finally:
        c.close()
    assert srv.proc is None or srv.proc.poll() is None, "%s exited" % srv.kind
