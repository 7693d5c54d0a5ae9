"""A raw-socket NATS client for protocol tests: send exact bytes, expect exact
lines or bytes with a timeout. It tolerates nothing a real client library would
paper over, which is the point (docs style.md section 3.9).

    c = RawClient(port)               # connects, reads nothing yet
    info = c.read_info()              # dict from the INFO line
    c.send_connect(verbose=False)     # CONNECT {...}\\r\\n
    c.send("SUB foo 1\\r\\nPING\\r\\n")
    c.expect_line("PONG")
    c.send("PUB foo 5\\r\\nhello\\r\\n")
    m = c.expect_msg("foo", "1", b"hello")
    c.expect_nothing(0.2)
    c.close()

Every expect_* raises ProtocolError (an AssertionError) with what was received
instead when the expectation fails or the timeout passes.
"""

import json
import re
import socket
import time

from natsd import scaled

CRLF = b"\r\n"
DEFAULT_TIMEOUT = 5.0


class ProtocolError(AssertionError):
    pass


class Msg:
    """A MSG or HMSG received: subject, sid, reply (or None), headers (bytes or
    None), payload (bytes), and the raw control line."""

    def __init__(self, op, subject, sid, reply, headers, payload, line):
        self.op = op
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.headers = headers
        self.payload = payload
        self.line = line

    def __repr__(self):
        return "<%s %s sid=%s reply=%s %r>" % (self.op, self.subject, self.sid, self.reply,
                                               self.payload)


def _b(data):
    return data.encode() if isinstance(data, str) else bytes(data)


class RawClient:
    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, sock=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = sock or socket.create_connection((host, port), timeout=scaled(timeout))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.info = None
        self.closed_by_peer = False

    # ---- sending

    def send(self, data):
        """Send exact bytes (str is UTF-8 encoded). Nothing is appended."""
        self.sock.sendall(_b(data))

    def send_line(self, line):
        """Send line followed by CRLF."""
        self.send(_b(line) + CRLF)

    def send_connect(self, **fields):
        """CONNECT with JSON fields (verbose and pedantic default to false)."""
        body = {"verbose": False, "pedantic": False}
        body.update(fields)
        self.send_line("CONNECT " + json.dumps(body, separators=(",", ":")))

    def pub(self, subject, payload=b"", reply=None):
        payload = _b(payload)
        head = "PUB %s %s%d" % (subject, (reply + " ") if reply else "", len(payload))
        self.send(_b(head) + CRLF + payload + CRLF)

    def hpub(self, subject, headers, payload=b"", reply=None):
        """headers: bytes of the full header block (NATS/1.0 ... \\r\\n\\r\\n)."""
        headers, payload = _b(headers), _b(payload)
        head = "HPUB %s %s%d %d" % (subject, (reply + " ") if reply else "", len(headers),
                                     len(headers) + len(payload))
        self.send(_b(head) + CRLF + headers + payload + CRLF)

    def sub(self, subject, sid, queue=None):
        self.send_line("SUB %s %s%s" % (subject, (queue + " ") if queue else "", sid))

    def unsub(self, sid, max_msgs=None):
        self.send_line("UNSUB %s%s" % (sid, (" %d" % max_msgs) if max_msgs is not None else ""))

    # ---- receiving

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed_by_peer = True
            raise ConnectionResetError("connection closed by peer")
        self.buf += chunk

    def _deadline(self, timeout):
        return time.monotonic() + scaled(self.timeout if timeout is None else timeout)

    def read_line(self, timeout=None):
        """The next CRLF-terminated line, without the CRLF, as str."""
        deadline = self._deadline(timeout)
        while CRLF not in self.buf:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise ProtocolError("timeout waiting for a line; have %r" % self.buf[:500])
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ProtocolError("%s while waiting for a line; have %r" % (e, self.buf[:500]))
        line, _, self.buf = self.buf.partition(CRLF)
        return line.decode("utf-8", "replace")

    def read_bytes(self, n, timeout=None):
        """Exactly n bytes."""
        deadline = self._deadline(timeout)
        while len(self.buf) < n:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise ProtocolError("timeout waiting for %d bytes; have %r" % (n, self.buf[:500]))
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ProtocolError("%s waiting for %d bytes; have %r" % (e, n, self.buf[:500]))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def expect_bytes(self, data, timeout=None):
        """The next bytes must be exactly data."""
        data = _b(data)
        got = self.read_bytes(len(data), timeout)
        if got != data:
            raise ProtocolError("expected %r, got %r (then %r)" % (data, got, self.buf[:200]))
        return got

    def expect_line(self, line, timeout=None, skip_pings=False):
        """The next line must equal line exactly. With skip_pings, server PINGs
        met on the way are answered with PONG and skipped."""
        while True:
            got = self.read_line(timeout)
            if skip_pings and got == "PING" and line != "PING":
                self.send(b"PONG\r\n")
                continue
            if got != line:
                raise ProtocolError("expected line %r, got %r" % (line, got))
            return got

    def expect_re(self, pattern, timeout=None):
        """The next line must match regex pattern (fully); returns the match."""
        got = self.read_line(timeout)
        m = re.fullmatch(pattern, got)
        if not m:
            raise ProtocolError("expected a line matching %r, got %r" % (pattern, got))
        return m

    def expect_err(self, text=None, timeout=None):
        """The next line must be -ERR, with 'text' as its argument if given."""
        got = self.read_line(timeout)
        if not got.startswith("-ERR"):
            raise ProtocolError("expected -ERR, got %r" % got)
        if text is not None and got != "-ERR '%s'" % text:
            raise ProtocolError("expected -ERR '%s', got %r" % (text, got))
        return got

    def read_info(self, timeout=None):
        """Read the next line, which must be INFO {json}; return the dict."""
        got = self.read_line(timeout)
        if not got.startswith("INFO "):
            raise ProtocolError("expected INFO, got %r" % got)
        try:
            self.info = json.loads(got[5:])
        except ValueError as e:
            raise ProtocolError("INFO is not JSON (%s): %r" % (e, got))
        return self.info

    def read_msg(self, timeout=None):
        """Read one MSG or HMSG (control line and payload)."""
        line = self.read_line(timeout)
        parts = line.split(" ")
        op = parts[0]
        if op == "MSG" and len(parts) in (4, 5):
            subject, sid = parts[1], parts[2]
            reply = parts[3] if len(parts) == 5 else None
            size = int(parts[-1])
            data = self.read_bytes(size + 2, timeout)
            if data[-2:] != CRLF:
                raise ProtocolError("MSG payload not followed by CRLF: %r" % data[-20:])
            return Msg(op, subject, sid, reply, None, data[:-2], line)
        if op == "HMSG" and len(parts) in (5, 6):
            subject, sid = parts[1], parts[2]
            reply = parts[3] if len(parts) == 6 else None
            hsize, tsize = int(parts[-2]), int(parts[-1])
            data = self.read_bytes(tsize + 2, timeout)
            if data[-2:] != CRLF:
                raise ProtocolError("HMSG payload not followed by CRLF: %r" % data[-20:])
            return Msg(op, subject, sid, reply, data[:hsize], data[hsize:tsize], line)
        raise ProtocolError("expected MSG or HMSG, got %r" % line)

    def expect_msg(self, subject, sid, payload, reply=None, timeout=None):
        m = self.read_msg(timeout)
        want = (subject, str(sid), reply, _b(payload))
        have = (m.subject, m.sid, m.reply, m.payload)
        if want != have:
            raise ProtocolError("expected MSG %r, got %r (line %r)" % (want, have, m.line))
        return m

    def ping_pong(self, timeout=None):
        """PING, and expect PONG as the next line (a flush barrier); a PING of
        the server met on the way is answered and skipped."""
        self.send(b"PING\r\n")
        self.expect_line("PONG", timeout, skip_pings=True)

    def expect_nothing(self, duration=0.2):
        """Nothing at all may arrive within duration seconds."""
        deadline = time.monotonic() + duration
        while not self.buf:
            try:
                self._fill(deadline)
            except socket.timeout:
                return
            except (ConnectionResetError, BrokenPipeError):
                raise ProtocolError("connection closed while expecting nothing")
        raise ProtocolError("expected nothing, got %r" % self.buf[:500])

    def expect_closed(self, timeout=None):
        """The server must close the connection (after anything still buffered,
        which is returned)."""
        deadline = self._deadline(timeout)
        while True:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise ProtocolError("connection still open; have %r" % self.buf[:500])
            except (ConnectionResetError, BrokenPipeError):
                rest, self.buf = self.buf, b""
                return rest

    def handshake(self, timeout=None, **connect_fields):
        """read_info, CONNECT, PING/PONG. Returns the INFO dict."""
        info = self.read_info(timeout)
        self.send_connect(**connect_fields)
        self.ping_pong(timeout)
        return info

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
