"""A fake route peer over a raw socket, beside the fake gateway peer
(gwpeer.py), for the tests that play a hostile or unusual cluster member
(test_24_peer_limits.py).

    p = RoutePeer(srv.ports["CLUSTER"])          # reads the server's route INFO
    p.handshake(max_payload=8 * 1024 * 1024)     # CONNECT + INFO as a server sends them
    p.send(b"RS+ $G foo q1 1\\r\\n")
    p.ping()                                      # PING, wait for the PONG
    rest = p.expect_closed()                      # what came before the close

It also speaks nothing at all (a silent peer), or raw bytes (send, or
send_until_closed for a flood that the server should cut short). PINGs from
the server are answered while reading.

vm_rss() and vm_hwm() read a process's resident size and its peak from
/proc/<pid>/status, in bytes.
"""

import json
import select

from rawclient import RawClient

CRLF = b"\r\n"


def _status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def vm_rss(pid):
    """Resident set size of process pid, in bytes."""
    return _status_kb(pid, "VmRSS")


def vm_hwm(pid):
    """Peak resident set size of process pid, in bytes."""
    return _status_kb(pid, "VmHWM")


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class RoutePeer(RawClient):
    """A raw socket on a server's cluster port, speaking the route protocol
    as a soliciting server would."""

    def __init__(self, cport, server_id="NFAKEROUTEPEER", cluster="A", read_info=True,
                 timeout=5.0):
        super().__init__(cport, timeout=timeout)
        self.server_id = server_id
        self.cluster = cluster
        self.server_info = self.read_info() if read_info else None

    def connect_body(self, **extra):
        body = {"echo": True, "verbose": False, "pedantic": False, "tls_required": False,
                "headers": True, "name": self.server_id, "cluster": self.cluster}
        body.update(extra)
        return body

    def info_body(self, **extra):
        body = {"server_id": self.server_id, "server_name": self.server_id,
                "version": "2.9.10", "proto": 1, "host": "127.0.0.1", "port": 1,
                "headers": True, "max_payload": 1048576, "cluster": self.cluster}
        body.update(extra)
        return body

    def handshake(self, max_payload=1048576, **connect_extra):
        """CONNECT then INFO, as a server that dialled us sends them; then a
        PING round trip so that both were processed."""
        self.send_line("CONNECT " + dumps(self.connect_body(**connect_extra)))
        self.send_line("INFO " + dumps(self.info_body(max_payload=max_payload)))
        self.ping()

    def read_route_line(self, timeout=None):
        """The next line that is not a PING (answered)."""
        while True:
            line = self.read_line(timeout)
            if line == "PING":
                self.send(b"PONG\r\n")
                continue
            return line

    def ping(self, timeout=None):
        """PING and skip what the server sends (RS+, INFO) until its PONG."""
        self.send(b"PING\r\n")
        while True:
            if self.read_route_line(timeout) == "PONG":
                return

    def send_until_closed(self, first, filler, total, chunk=64 * 1024):
        """Send first, then up to total bytes of filler in chunks, stopping as
        soon as the server answers or closes. Returns (bytes sent, what the
        server sent meanwhile, also kept for expect_closed). Reading between
        chunks keeps the server's answer from being lost in a reset."""
        sock = self.sock
        sock.sendall(first)
        sent = len(first)
        got = b""
        block = (filler * (chunk // len(filler) + 1))[:chunk]
        while sent < total:
            try:
                sock.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(block)
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                got += data
                if not data or b"-ERR" in data:
                    break
        self.buf += got
        return sent, got
