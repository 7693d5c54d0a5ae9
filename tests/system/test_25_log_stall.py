"""A log destination that stops draining must not stall the server.

natsd queues its log lines and writes them on a logger thread of its own, so
a worker that logs never waits for the destination. These tests start natsd
with debug and trace on (-DV: several lines per message) and point its log at
something that stops reading:

  * stderr connected to a pipe the test does not read;
  * a remote syslog over TCP whose listener accepts and never reads.

Messages must still flow and PINGs be answered while the destination is
stuck (were a worker to wait for the log, the first PONG after the pipe
filled would never come). Once the destination is read again, the logger
reports the lines it had to drop ("N log lines dropped"). Nothing here
depends on timing: the assertions are on what arrives and in which order;
the timeouts only bound a failure.
"""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from natsd import free_port, port_open, sanitizer_env, sanitizer_lines, scaled
from rawclient import RawClient

# With -DV each message gives a trace of the PUB line, of its payload and of
# the MSG delivered: far more than a pipe (64 KiB) and the logger's queue
# (16,384 lines) hold together.
MESSAGES = 20000
BATCH = 1000
# Traced payloads make the lines long: a remote syslog's TCP send buffer
# (up to 4 MiB) must fill up too.
PAD = b"x" * 250


class Drain:
    """Reads a file descriptor (or socket) to its end on a thread, once told to."""

    def __init__(self, read):
        self.read = read
        self.data = bytearray()
        self.go = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.go.wait()
        while True:
            try:
                chunk = self.read()
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def wait_for(self, needle, timeout):
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            time.sleep(0.05)
        return False


def start_natsd(natsd_bin, port, args, stderr):
    return subprocess.Popen([natsd_bin, "-p", str(port), "-a", "127.0.0.1", "-DV"] + list(args),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                            env=sanitizer_env())


def wait_port(proc, port):
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:
        assert proc.poll() is None, "natsd exited (status %s) before it listened" % proc.returncode
        if port_open(port):
            return
        time.sleep(0.05)
    raise AssertionError("natsd did not listen on %d" % port)


def expect_msg(c, subject, sid, payload):
    """The next MSG, answering any PING of the server on the way."""
    while True:
        line = c.read_line()
        if line == "PING":
            c.send("PONG\r\n")
            continue
        want = "MSG %s %s %d" % (subject, sid, len(payload))
        assert line == want, "expected %r, got %r" % (want, line)
        data = c.read_bytes(len(payload) + 2)
        assert data == payload + b"\r\n", data[:40]
        return


def traffic(port):
    """A subscriber and a publisher exchange MESSAGES messages, all of which
    must arrive in order; then both still answer PING, and a new client
    can connect. Fails (a protocol timeout) if the server stalls."""
    sub = RawClient(port, timeout=20)
    sub.read_info()
    sub.send_connect()
    sub.send("SUB log.stall 1\r\n")
    sub.ping_pong()
    pub = RawClient(port, timeout=20)
    pub.read_info()
    pub.send_connect()
    n = 0
    while n < MESSAGES:
        pub.send(b"".join(b"PUB log.stall %d\r\nm%05d%s\r\n" % (6 + len(PAD), i, PAD)
                          for i in range(n, n + BATCH)))
        for i in range(n, n + BATCH):
            expect_msg(sub, "log.stall", "1", b"m%05d%s" % (i, PAD))
        n += BATCH
    pub.ping_pong()
    sub.ping_pong()
    late = RawClient(port, timeout=20)
    late.read_info()
    late.send_connect()
    late.ping_pong()
    for c in (late, pub, sub):
        c.close()


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=scaled(30))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("natsd did not exit after SIGINT")


@pytest.mark.threaded
@pytest.mark.spawns
def test_stderr_pipe_nobody_reads(natsd_bin):
    port = free_port()
    r, w = os.pipe()
    proc = start_natsd(natsd_bin, port, (), w)
    os.close(w)
    drain = Drain(lambda: os.read(r, 65536))
    try:
        wait_port(proc, port)
        traffic(port)
        # read the pipe again: the logger writes what it kept, then the report
        drain.go.set()
        assert drain.wait_for(" log lines dropped", 30), drain.text()[-3000:]
        # a later line is written too: the logger goes on after the stall
        c = RawClient(port)
        c.read_info()
        c.send_connect()
        c.ping_pong()
        c.close()
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drain.go.set()
        drain.thread.join(timeout=10)
        os.close(r)
    text = drain.text()
    assert not sanitizer_lines(text), "\n".join(sanitizer_lines(text))
    report = text.index(" log lines dropped")
    assert "[WRN] " in text[text.rfind("\n", 0, report):report]
    assert "Server Exiting.." in text[report:]


@pytest.mark.threaded
@pytest.mark.spawns
def test_remote_syslog_that_stops_reading(natsd_bin, tmp_path):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small receive window, inherited by the accepted connection
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    syslog_port = lst.getsockname()[1]
    port = free_port()
    conf = tmp_path / "natsd.conf"
    conf.write_text('remote_syslog: "tcp://127.0.0.1:%d"\n' % syslog_port)
    errf = open(tmp_path / "natsd.stderr", "wb")
    proc = start_natsd(natsd_bin, port, ("-c", str(conf)), errf)
    peer = None
    try:
        lst.settimeout(scaled(20))
        peer, _ = lst.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        drain = Drain(lambda: peer.recv(65536))
        wait_port(proc, port)
        traffic(port)
        drain.go.set()
        assert drain.wait_for(" log lines dropped", 30), drain.text()[-3000:]
        text = drain.text()
        # RFC 3164 framing, as before: <PRI>natsd[pid]: [LVL] text
        line = text[text.rfind("\n", 0, text.index(" log lines dropped")) + 1:]
        assert line.startswith("<28>natsd[%d]: [WRN] " % proc.pid), line[:200]
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if peer:
            peer.close()
        lst.close()
        errf.close()
    err = (tmp_path / "natsd.stderr").read_text(errors="replace")
    assert not sanitizer_lines(err), err[-3000:]
