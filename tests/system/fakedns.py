# SPDX-License-Identifier: Apache-2.0
"""A DNS server for tests, and servers that use it.

FakeDns answers A queries over UDP from a table the test changes as it
goes; while `hold` is set it answers nothing and keeps the queries, so a
test can see a lookup in progress and decide when it ends. Processes reach
it through their own view of /etc/resolv.conf: `wrap()` prefixes a command
with `unshare -m` and bind mounts (a mount namespace of their own, the
network is the test's), so nothing on the machine changes. Needs root
(CAP_SYS_ADMIN) and unshare; `skip_unless_usable()` skips a test otherwise.
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import natsd as harness

QTYPE_A = 1


def _qname(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(data[off:off + n].decode("ascii", "replace"))
        off += n


class FakeDns:
    """A UDP DNS server on 127.x.y.z:53 (a loopback address of its own)."""

    def __init__(self, directory):
        self.dir = str(directory)
        self.answers = {}      # name -> [IPv4 text]
        self.hold = False
        self.queries = []      # names asked for (A queries), in order
        self.answered = []     # names answered (A queries), in order
        self._held = []
        self._mu = threading.Condition()
        self.sock = None
        for _ in range(20):
            ip = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((ip, 53))
            except OSError:
                s.close()
                continue
            self.sock, self.ip = s, ip
            break
        if self.sock is None:
            pytest.skip("cannot bind a UDP socket on port 53 of a loopback address")
        self.sock.settimeout(0.2)
        self.resolv_conf = os.path.join(self.dir, "resolv.conf")
        with open(self.resolv_conf, "w") as f:
            # one long try: a held lookup stays pending for the whole test
            f.write("nameserver %s\noptions timeout:30 attempts:1 ndots:1\n" % self.ip)
        self.nsswitch = os.path.join(self.dir, "nsswitch.conf")
        with open(self.nsswitch, "w") as f:
            f.write("hosts: files dns\n")
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def wrap(self, cmd):
        """cmd run with this server as its only name server."""
        script = ('mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf'
                  ' && shift 2 && exec "$@"')
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                self.resolv_conf, self.nsswitch] + list(cmd)

    # ---- the test's controls

    def set(self, name, *ips):
        with self._mu:
            self.answers[name.lower()] = list(ips)

    def hold_queries(self):
        with self._mu:
            self.hold = True

    def release(self):
        """Stop holding and answer every query kept meanwhile."""
        with self._mu:
            self.hold = False
            held, self._held = self._held, []
        for data, addr in held:
            self._answer(data, addr)

    def wait_query(self, name, timeout=10.0, count=1):
        """Wait until name was asked for count times (A queries)."""
        deadline = time.monotonic() + harness.scaled(timeout)
        with self._mu:
            while self.queries.count(name.lower()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no lookup of %s within %.1fs (queries: %s)"
                                         % (name, timeout, self.queries))
                self._mu.wait(left)

    def close(self):
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()

    # ---- the server

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                name, qtype, _ = self._question(data)
            except (ValueError, IndexError, struct.error):
                continue
            with self._mu:
                if qtype == QTYPE_A:
                    self.queries.append(name)
                self._mu.notify_all()
                if self.hold:
                    self._held.append((data, addr))
                    continue
            self._answer(data, addr)

    @staticmethod
    def _question(data):
        if len(data) < 12:
            raise ValueError("short")
        qd = struct.unpack("!H", data[4:6])[0]
        if qd != 1:
            raise ValueError("one question only")
        name, off = _qname(data, 12)
        qtype, _qclass = struct.unpack("!HH", data[off:off + 4])
        return name, qtype, off + 4

    def _answer(self, data, addr):
        name, qtype, qend = self._question(data)
        with self._mu:
            ips = self.answers.get(name)
            if qtype == QTYPE_A and ips is not None:
                self.answered.append(name)
                self._mu.notify_all()
        qid = data[0:2]
        rd = data[2] & 0x01
        if ips is None:
            flags, ans = 0x8080 | (rd << 8) | 3, []  # NXDOMAIN
        else:
            flags, ans = 0x8080 | (rd << 8), ips if qtype == QTYPE_A else []
        out = qid + struct.pack("!HHHHH", flags, 1, len(ans), 0, 0) + data[12:qend]
        for ip in ans:
            out += struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, 0, 4) + socket.inet_aton(ip)
        try:
            self.sock.sendto(out, addr)
        except OSError:
            pass


def skip_unless_usable():
    if os.geteuid() != 0:
        pytest.skip("needs root: a mount namespace with its own /etc/resolv.conf")
    if not shutil.which("unshare"):
        pytest.skip("no unshare command")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        "mount --bind /etc/nsswitch.conf /etc/resolv.conf"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 0:
        pytest.skip("cannot bind mount in a mount namespace (%s)" % r.stderr.decode().strip())


class DnsServer(harness.ServerProcess):
    """A server whose name lookups go to dns (a FakeDns)."""

    def __init__(self, dns, *a, **kw):
        super().__init__(*a, **kw)
        self.dns = dns

    def command(self):
        return self.dns.wrap(super().command())
