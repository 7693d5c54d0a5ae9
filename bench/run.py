#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs natsd and the reference nats-server side by side on the same workloads.

Both servers run at once on free loopback ports with the same configuration (natsd's
adds `threads: N`). Route and gateway rows use a cluster / supercluster of each kind. Each round runs every workload against natsd, then against
nats-server (A B A B ...); the table shows the median of the rounds and the ratio
natsd / nats-server. Memory rows use a fresh server of each kind per round.

Python 3 standard library only. It builds nothing: `make bench-build` (or `make bench`,
which also runs this) puts the tools in build/bench/.

    /usr/bin/python3 bench/run.py --natsd build/release/natsd            # full run
    /usr/bin/python3 bench/run.py --quick --only pub                     # smoke run
    /usr/bin/python3 bench/run.py --write-docs                           # and update docs
    /usr/bin/python3 bench/run.py --quick --only gateway --natsd /usr/sbin/nats-server
                                      # gateway rows, both sides the reference (sanity run)
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

GW_SIZE_NAME = "gateway supercluster 3xN"

# Targets from the benchmark issue: a ratio bound (natsd / nats-server) or an absolute one.
T_TPUT = ("ratio>=", 2.0)
T_P99 = ("ratio<=", 0.5)

# name, kind, parameters, target. Throughput counts are sized for ~0.5-2 s per run on an idle 2-core machine.
WORKLOADS = [
    ("pub 16 B", "pub", dict(size=16, n=5_000_000), T_TPUT),
    ("pub 128 B", "pub", dict(size=128, n=4_000_000), T_TPUT),
    ("pub 1024 B", "pub", dict(size=1024, n=1_500_000), T_TPUT),
    ("pub/sub 1:1 16 B", "pubsub", dict(size=16, n=3_000_000, k=1), T_TPUT),
    ("pub/sub 1:1 128 B", "pubsub", dict(size=128, n=2_000_000, k=1), T_TPUT),
    ("fan-out 1:5 16 B", "pubsub", dict(size=16, n=1_000_000, k=5), T_TPUT),
    ("fan-out 1:5 128 B", "pubsub", dict(size=128, n=1_000_000, k=5), T_TPUT),
    ("queue 1:5 128 B", "pubsub", dict(size=128, n=2_000_000, k=5, queue="q"), T_TPUT),
    # Two-server cluster of each kind: subscriber(s) on server 1, publisher on server 2.
    ("route pub/sub 1:1 16 B", "route", dict(size=16, n=1_500_000, k=1), T_TPUT),
    ("route queue 1:5 128 B", "route", dict(size=128, n=1_000_000, k=5, queue="q"), T_TPUT),
    # Supercluster of three 1-server clusters A, B, C of each kind (gateways, no routes):
    # publisher / requester on A, subscriber(s) / responder on B.
    ("gateway pub/sub 1:1 16 B", "gw", dict(size=16, n=1_500_000, k=1), T_TPUT),
    ("gateway queue 1:5 128 B", "gw", dict(size=128, n=1_000_000, k=5, queue="q"), T_TPUT),
    ("gateway req/rep", "gwrr", dict(size=16, n=10_000), None),
    ("gateway interest 10,000 subs", "gwsubs", dict(n=10_000), None),
    ("req/rep raw", "rr", dict(size=16, n=10_000), None),
    ("req/rep libnats", "rr", dict(size=16, n=5_000, libnats=True), None),
    # A fresh server of each kind with a bcrypt user (cost 11) and one worker thread:
    # an authenticated client's PING round trips while 2 connections loop CONNECTs
    # with a wrong password for that user (bench_authstall).
    ("PING during bcrypt CONNECTs", "authstall", dict(n=20_000, loopers=2, secs=5), None),
    # SUB / PUB / UNSUB of 16,000 subjects and sids chosen to collide under an unkeyed
    # FNV-1a (bench/flood_keys.h), against as many that do not: colliding / random times.
    ("hash flood 16,000 subs", "flood", dict(n=16_000), None),
    ("RSS per idle conn (10,000)", "conns", dict(n=10_000), ("abs<=", 4096)),
    ("RSS per sub (100,000)", "subs", dict(n=100_000), ("abs<=", 250)),
    # Three clusters of N servers (routes inside, gateways between), round 1 only; main()
    # puts N (--gw-servers) into the name. Last: starting and stopping 2 x 3N servers
    # leaves the machine busy for a while, which the latency rows must not see.
    (GW_SIZE_NAME, "gwsize", dict(clusters=3), None),
]
# Rows a workload produces: (row name, metric key, unit, target, higher is better).
RR_ROWS = [("p50", "p50_us", None), ("p99", "p99_us", T_P99), ("p99.9", "p999_us", None)]
# Sequential requests: the rate is 1 / mean latency.
GWRR_ROWS = [("p50", "p50_us", "us", None), ("p99", "p99_us", "us", T_P99),
             ("rate", "rate", "req/s", None)]
# bcrypt("s3cr3t") at cost 11, for the authstall rows.
BCRYPT_COST11 = "$2b$11$natsdBcryptPoolTestSae1rpJZ6xQ0WsvH40EPUDkBhL4wAhmB5."
AUTHSTALL_CONF = ('authorization { users: [ {user: a, password: a}, '
                  '{user: bc, password: "%s"} ] }\n' % BCRYPT_COST11)
# Kinds that run on the long-lived 3x1 supercluster.
GW_KINDS = ("gw", "gwrr", "gwsubs")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    """n distinct free loopback ports below the kernel's ephemeral range, so that no
    outgoing connection (a route or gateway being dialled while later servers start) can
    take one before its server binds it. All are held until all are found."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    lo = 10000 if low > 10000 + 4 * n else 1024
    held, port = [], lo + int.from_bytes(os.urandom(2), "little") % max(1, low - lo - 2 * n)
    try:
        while len(held) < n:
            if port >= low:
                raise RuntimeError("no %d free ports below %d" % (n, low))
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                s.bind(("127.0.0.1", port))
                held.append(s)
            except OSError:
                s.close()
            port += 1
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def parse_kv(line):
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


class Server:
    """One server process on a free loopback port; stop() kills it by its PID."""

    live = []

    def __init__(self, kind, binary, conf, workdir, extra=(), port=None):
        self.kind, self.binary, self.conf, self.workdir = kind, binary, conf, workdir
        self.extra = list(extra)
        self.proc = None
        self.fixed_port = port
        self.port = None
        self.starts = 0
        self.termed = False

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.spawn()
        self.wait_ready()

    def spawn(self):
        self.port = self.fixed_port or free_port()
        self.starts += 1
        self.termed = False
        self.log_path = os.path.join(self.workdir, "%s.%d.log" % (self.kind, self.starts))
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.conf, "-p", str(self.port), "-a", "127.0.0.1"] + self.extra,
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        if self not in Server.live:
            Server.live.append(self)

    def wait_ready(self, timeout=10):
        """Until the client port answers with INFO."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start: %s" % (self.kind, self.tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4096).startswith(b"INFO "):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("%s did not start: %s" % (self.kind, self.tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss(self):
        return rss_bytes(self.proc.pid)

    def tail(self, n=5):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None and not self.termed:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in Server.live:
            Server.live.remove(self)
        self.proc = None

    @classmethod
    def stop_all(cls):
        cls.stop_many(list(cls.live))

    @staticmethod
    def stop_many(servers):
        """SIGTERM to every one first, so a large supercluster shuts down in parallel."""
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                try:
                    s.proc.send_signal(signal.SIGTERM)
                    s.termed = True
                except OSError:
                    pass
        for s in servers:
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


def write_cluster_confs(work, tag, base, name):
    """Two config files for a 2-server cluster: server 1 listens for routes, server 2
    solicits it. Each includes base (the shared file, or natsd's with `threads:`)."""
    c1, c2 = free_port(), free_port()
    paths = []
    for i, (listen, routes) in enumerate(((c1, ""), (c2, 'routes: ["nats://127.0.0.1:%d"]' % c1)), 1):
        path = os.path.join(work, "%s.route%d.conf" % (tag, i))
        with open(path, "w") as f:
            f.write('include ./%s\ncluster {\n  name: %s\n  listen: "127.0.0.1:%d"\n  %s\n}\n'
                    % (os.path.basename(base), name, listen, routes))
        paths.append(path)
    return paths


class Cluster:
    """Two servers of one kind joined by a route; server 1 takes the subscribers, server 2
    the publisher. Both run with monitoring (-m) so run.py can read server 2's /routez."""

    def __init__(self, kind, binary, confs, workdir):
        self.kind = kind
        self.http = [free_port(), free_port()]
        self.servers = [Server("%s-route%d" % (kind, i + 1), binary, c, workdir,
                               ["-m", str(self.http[i])]) for i, c in enumerate(confs)]
        self.base_subs = 0

    @property
    def url(self):
        return self.servers[0].url

    @property
    def pub_url(self):
        return self.servers[1].url

    def pids(self):
        return [s.proc.pid for s in self.servers]

    def alive(self):
        return all(s.alive() for s in self.servers)

    def tail(self):
        return " || ".join("%s: %s" % (s.kind, s.tail()) for s in self.servers)

    def routez(self):
        """(num_routes, remote subscriptions) as server 2, the publisher's, sees them."""
        url = "http://127.0.0.1:%d/routez" % self.http[1]
        with urllib.request.urlopen(url, timeout=2) as r:
            j = json.load(r)
        return j.get("num_routes", 0), sum(x.get("subscriptions", 0) for x in j.get("routes") or [])

    def wait_subs(self, cond, what, timeout=15):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("%s cluster died: %s" % (self.kind, self.tail()))
            try:
                last = self.routez()
                if last[0] >= 1 and cond(last[1]):
                    return last[1]
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("%s cluster: timed out waiting for %s (routez %s)"
                           % (self.kind, what, last))

    def start(self):
        for s in self.servers:
            s.stop()
        for s in self.servers:
            s.start()
        self.wait_subs(lambda n: True, "the route")
        # Remote subscriptions that exist with no client (nats-server's $SYS imports):
        # wait until the count holds still for 0.5 s, and use it as the baseline.
        prev, since, deadline = None, time.time(), time.time() + 10
        while time.time() < deadline:
            n = self.routez()[1]
            if n != prev:
                prev, since = n, time.time()
            elif time.time() - since >= 0.5:
                break
            time.sleep(0.05)
        self.base_subs = prev

    def stop(self):
        for s in self.servers:
            s.stop()


def http_json(port, path, timeout=2):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return json.load(r)


def tcp_established():
    """Local and remote ports of every established IPv4 loopback connection end."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] != "01":
                continue
            out.append((int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)))
    return out


class Supercluster:
    """Clusters A, B, C, ... of `per` servers each, all of one kind: routes inside a cluster
    (every server lists every other one), gateways between clusters (every server lists every
    cluster, its own included, with all of that cluster's gateway URLs, like the seed's
    shared `gateways` block). Each server runs with monitoring (-m) for /gatewayz and
    /routez. Traffic rows use server 1 of A (publisher, requester) and of B (subscribers,
    responder)."""

    def __init__(self, kind, binary, base, workdir, clusters=3, per=1):
        self.kind, self.clusters, self.per = kind, clusters, per
        self.names = [chr(ord("A") + i) for i in range(clusters)]
        n = clusters * per
        ports = free_ports(n * (4 if per > 1 else 3))
        self.client, self.gw, self.http = ports[:n], ports[n:2 * n], ports[2 * n:3 * n]
        self.route = ports[3 * n:] if per > 1 else []
        self.base_subs = 0
        self.form_s = None
        self.servers = []
        for ci, name in enumerate(self.names):
            for i in range(per):
                x = ci * per + i
                path = os.path.join(workdir, "%s.sc%dx%d.%s%d.conf" % (kind, clusters, per, name,
                                                                       i + 1))
                lines = ["include ./%s" % os.path.basename(base)]
                if per > 1:
                    routes = ", ".join('"nats://127.0.0.1:%d"' % self.route[ci * per + j]
                                       for j in range(per) if j != i)
                    lines.append('cluster {\n  name: %s\n  listen: "127.0.0.1:%d"\n'
                                 '  routes: [%s]\n}' % (name, self.route[x], routes))
                remotes = ",\n".join(
                    '    {name: %s, urls: [%s]}' % (
                        other, ", ".join('"nats://127.0.0.1:%d"' % self.gw[oi * per + j]
                                         for j in range(per)))
                    for oi, other in enumerate(self.names))
                lines.append('gateway {\n  name: %s\n  listen: "127.0.0.1:%d"\n'
                             '  gateways: [\n%s\n  ]\n}' % (name, self.gw[x], remotes))
                with open(path, "w") as f:
                    f.write("\n".join(lines) + "\n")
                self.servers.append(Server("%s-%s%d" % (kind, name, i + 1), binary, path, workdir,
                                           ["-m", str(self.http[x])], port=self.client[x]))

    def server(self, cluster, i=0):
        return self.servers[self.names.index(cluster) * self.per + i]

    @property
    def url(self):
        return self.server("B").url

    @property
    def pub_url(self):
        return self.server("A").url

    def pids(self):
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def alive(self):
        return all(s.alive() for s in self.servers)

    def tail(self):
        dead = [s for s in self.servers if not s.alive()] or self.servers[:2]
        return " || ".join("%s: %s" % (s.kind, s.tail()) for s in dead[:2])

    def links(self, short=None):
        """(outbound gateways, inbound gateway connections, routes) summed over every
        server, as each one's /gatewayz and /routez report them. With a list as short, the
        servers with fewer outbound gateways or routes than they should have go into it."""
        out = inb = routes = 0
        for x, s in enumerate(self.servers):
            j = http_json(self.http[x], "/gatewayz")
            o = len(j.get("outbound_gateways") or {})
            inb += sum(len(v or []) for v in (j.get("inbound_gateways") or {}).values())
            r = http_json(self.http[x], "/routez").get("num_routes", 0) if self.per > 1 else 0
            out, routes = out + o, routes + r
            if short is not None and (o < self.clusters - 1 or r < self.per - 1):
                short.append("%s %d out%s" % (s.kind, o, ", %d routes" % r if self.per > 1 else ""))
        return out, inb, routes

    def expected(self):
        return (self.clusters * (self.clusters - 1) * self.per,
                self.clusters * (self.clusters - 1) * self.per,
                self.clusters * self.per * (self.per - 1))

    def start(self, stall=15, limit=120):
        """Starts every server, then waits until every outbound gateway and every route is
        up and there are at least as many inbound gateway connections as outbound ones
        (more is possible: the reference sometimes keeps an extra one; the size row reports
        what there is). Fails when nothing progresses for `stall` seconds (a server that
        cannot form a supercluster fails in seconds, not minutes) or after `limit` s."""
        self.stop()
        t0 = time.time()
        for s in self.servers:
            s.spawn()
        for s in self.servers:
            s.wait_ready(timeout=30)
        want = self.expected()
        last, since = None, time.time()
        while True:
            if not self.alive():
                raise RuntimeError("%s supercluster: a server died: %s" % (self.kind, self.tail()))
            try:
                got = self.links()
            except (OSError, ValueError) as e:
                got = ("monitoring: %s" % e,)
            if len(got) == 3 and got[0] == want[0] and got[1] >= want[1] and got[2] == want[2]:
                break
            if got != last:
                last, since = got, time.time()
            if time.time() - since > stall or time.time() - t0 > limit:
                short = []
                try:
                    self.links(short)
                except (OSError, ValueError):
                    pass
                raise RuntimeError("%s supercluster %dx%d not formed after %.0f s: (outbound "
                                   "gateways, inbound gateways, routes) %s, want %s; short: %s"
                                   % (self.kind, self.clusters, self.per, time.time() - t0,
                                      last, want, ", ".join(short[:4]) or "none"))
            time.sleep(0.2 if self.per > 1 else 0.05)
        self.form_s = time.time() - t0

    def interest(self):
        """Subscriptions of account $G that A's outbound gateway to B holds."""
        j = http_json(self.http[0], "/gatewayz?gw_name=B&acc_name=%24G")
        gw = (j.get("outbound_gateways") or {}).get("B")
        if gw is None:
            raise ValueError("no outbound gateway to B")
        for acc in gw.get("accounts") or []:
            if acc.get("name") == "$G":
                return acc.get("num_subs", 0)
        return 0

    def wait_subs(self, cond, what, timeout=15):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError("%s supercluster died: %s" % (self.kind, self.tail()))
            try:
                last = self.interest()
                if cond(last):
                    return last
            except (OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.02)
        raise RuntimeError("%s supercluster: timed out waiting for %s (A's $G interest from B: "
                           "%s)" % (self.kind, what, last))

    def settle_interest(self):
        """$G subscriptions that exist with no client: the baseline, once it holds still."""
        prev, since, deadline = None, time.time(), time.time() + 10
        while time.time() < deadline:
            n = self.wait_subs(lambda _n: True, "A's view of B's interest")
            if n != prev:
                prev, since = n, time.time()
            elif time.time() - since >= 0.5:
                break
            time.sleep(0.05)
        self.base_subs = prev

    def connections(self):
        """(gateway, route) TCP connections, counted from /proc/net/tcp: one per accepted
        end on one of our gateway (route) listen ports."""
        gw, rt = set(self.gw), set(self.route)
        est = tcp_established()
        return sum(1 for l, _r in est if l in gw), sum(1 for l, _r in est if l in rt)

    def rss(self):
        return sum(rss_bytes(s.proc.pid) for s in self.servers)

    def stop(self):
        Server.stop_many(self.servers)


class Tools:
    def __init__(self, bench_dir):
        self.dir = bench_dir
        for t in ("bench_pub", "bench_sub", "bench_rr", "bench_conns", "bench_interest",
                  "bench_flood"):
            p = os.path.join(bench_dir, t)
            if not os.access(p, os.X_OK):
                sys.exit("run.py: %s is missing: run `make bench-build` first" % p)

    def path(self, name):
        return os.path.join(self.dir, name)


def run_tool(argv, timeout):
    """Runs a tool to completion; returns its RESULT line as a dict (or raises)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError("%s failed (rc %d): %s" % (os.path.basename(argv[0]), p.returncode,
                                                      (p.stderr or p.stdout).strip()[-400:]))
    return parse_kv(lines[-1])


def wait_line(proc, prefix, timeout):
    """Reads proc's stdout until a line starting with prefix (blocking, bounded by a timer)."""
    timer = time.time() + timeout
    while time.time() < timer:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix):
            return line
    raise RuntimeError("no '%s' line from %s" % (prefix, proc.args[0]))


def w_pub(tools, srv, p):
    r = run_tool([tools.path("bench_pub"), "-s", srv.url, "-j", "bench.pub", "-z",
                  str(p["size"]), "-n", str(p["n"])], timeout=120)
    return {"value": float(r["msgs_per_sec"])}


def w_pubsub(tools, srv, p, cluster=None):
    """Subscriber(s) on srv; with cluster, they go to server 1 and the publisher to server
    2, once server 2 has the subscribers' interest over the route."""
    subj = "bench.ps"
    pub_url = srv.url
    if cluster is not None:
        pub_url = cluster.pub_url
        # the last run's subscriptions must be gone, or their interest would look like ours
        cluster.wait_subs(lambda n: n <= cluster.base_subs, "old interest to drain")
    argv = [tools.path("bench_sub"), "-s", srv.url, "-j", subj, "-k", str(p["k"]), "-n",
            str(p["n"]), "-z", str(p["size"]), "-t", "3"]
    if p.get("queue"):
        argv += ["-q", p["queue"]]
    sub = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_line(sub, "ready", 10)
        if cluster is not None:
            cluster.wait_subs(lambda n: n > cluster.base_subs, "the subscribers' interest")
            time.sleep(0.2)  # the rest of a queue group's members, if counted one by one
        pub = run_tool([tools.path("bench_pub"), "-s", pub_url, "-j", subj, "-z", str(p["size"]),
                        "-n", str(p["n"])], timeout=120)
        out, err = sub.communicate(timeout=60)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise RuntimeError("bench_sub gave no result: %s" % err.strip()[-400:])
    r = parse_kv(lines[-1])
    expected = p["n"] * (1 if p.get("queue") else p["k"])
    res = {"value": float(r["msgs_per_sec"]), "pub_rate": float(pub["msgs_per_sec"])}
    problems = []
    if r["complete"] != "1":
        lost = expected - int(r["msgs"]) - int(r.get("late", 0))
        problems.append("lost %d of %d msgs (%.1f%%)" % (lost, expected, 100.0 * lost / expected))
        if int(r.get("late", 0)):
            problems.append("%s msgs late (delivered only after a PING)" % r["late"])
    if int(r["extra"]):
        problems.append("%s duplicate msgs" % r["extra"])
    if int(r["errors"]):
        problems.append("%s framing errors: %s" % (r["errors"], err.strip()[-200:]))
    if problems:
        res["problem"] = "; ".join(problems)
    return res


def w_rr(tools, srv, p, sc=None):
    """Requester and responder on srv; with sc (a supercluster), the requester on A and the
    responder on B, so every request and every reply crosses a gateway."""
    argv = [tools.path("bench_rr"), "-s", srv.url, "-j", "bench.rr", "-z", str(p["size"]), "-n",
            str(p["n"]), "-w", "500"]
    if sc is not None:
        sc.wait_subs(lambda n: n <= sc.base_subs, "old interest to drain")
        argv[2] = sc.pub_url
        argv += ["-r", sc.url]
    if p.get("libnats"):
        argv.append("-l")
    r = run_tool(argv, timeout=120)
    res = {k: float(r[k]) for k in ("p50_us", "p99_us", "p999_us")}
    if float(r["mean_us"]) > 0:
        res["rate"] = 1e6 / float(r["mean_us"])
    return res


def w_authstall(tools, srv, p):
    """Fresh server with a bcrypt user: PING round trips while wrong CONNECTs loop."""
    srv.start()
    try:
        r = run_tool([tools.path("bench_authstall"), "-s", srv.url, "-c", str(p["loopers"]),
                      "-n", str(p["n"]), "-d", str(p["secs"])], timeout=120)
        if not srv.alive():
            raise RuntimeError("%s died under bcrypt CONNECTs" % srv.kind)
        res = {k: float(r[k]) for k in ("p50_us", "p99_us", "p999_us")}
        res["connects"] = int(r["connects"])
        return res
    finally:
        srv.stop()


def w_interest(tools, sc, p):
    """p["n"] subscriptions on B; the time until a publisher on A reaches the last one, then
    a check that it reaches every one (bench_interest)."""
    sc.wait_subs(lambda n: n <= sc.base_subs, "old interest to drain", timeout=30)
    argv = [tools.path("bench_interest"), "-s", sc.pub_url, "-r", sc.url, "-n", str(p["n"])]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=90)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise RuntimeError("bench_interest failed (rc %d): %s"
                           % (proc.returncode, proc.stderr.strip()[-400:]))
    r = parse_kv(lines[-1])
    if float(r["last_ms"]) < 0:
        raise RuntimeError("the last subscription never became visible across the gateway "
                           "(30 s)")
    res = {"value": float(r["last_ms"]), "local_ms": float(r["local_ms"]),
           "all_ms": float(r["all_ms"]), "sweeps": int(r["sweeps"])}
    problems = []
    if int(r["late"]):
        problems.append("%s of %s subjects were not visible yet when the last one was"
                        % (r["late"], r["subs"]))
    if r["complete"] != "1":
        problems.append("%s subjects never became visible" % r["missing"])
    if problems:
        res["problem"] = "; ".join(problems)
    return res


def w_flood(tools, srv, p):
    """bench_flood on srv: the colliding / random ratio of each phase (1.0: no effect)."""
    r = run_tool([tools.path("bench_flood"), "-s", srv.url, "-n", str(p["n"]), "-r", "3"],
                 timeout=600)
    return {k: float(r[k]) for k in ("insert_ratio", "match_ratio", "remove_ratio",
                                     "insert_coll_ms", "insert_rand_ms", "match_coll_ms",
                                     "match_rand_ms")}


def w_gwsize(kind, binary, conf, work, p):
    """A fresh supercluster of p["clusters"] clusters of p["per"] servers: how long it takes
    to form, its gateway and route connections (sockets in /proc/net/tcp, and what
    /gatewayz reports), and every server's RSS together after 2 s at rest."""
    sc = Supercluster(kind, binary, conf, work, clusters=p["clusters"], per=p["per"])
    try:
        sc.start(stall=30, limit=max(120, 6 * p["clusters"] * p["per"]))
        # at rest: 2 s, then until the connection counts hold still for 2 s (at most 20 s)
        time.sleep(2.0)
        prev, since, deadline = None, time.time(), time.time() + 20
        while time.time() < deadline:
            counts = sc.connections() + sc.links()
            if counts != prev:
                prev, since = counts, time.time()
            elif time.time() - since >= 2.0:
                break
            time.sleep(0.5)
        gw, rt, out, inb, routes = prev
        rss = sc.rss()
        if not sc.alive():
            raise RuntimeError("%s supercluster: a server died: %s" % (kind, sc.tail()))
        want_gw, _want_in, want_routes = sc.expected()
        res = {"gw_conns": gw, "route_conns": rt, "rss": rss,
               "rss_per_server": rss / len(sc.servers), "form_s": sc.form_s,
               "gatewayz_out": out, "gatewayz_in": inb}
        # counts that differ from the formula are findings, not failed runs
        notes = []
        if gw != want_gw or out != want_gw or inb != want_gw:
            notes.append("gateway connections: %d sockets, /gatewayz %d outbound %d inbound; "
                         "the formula gives %d" % (gw, out, inb, want_gw))
        if rt != want_routes // 2 or routes != want_routes:
            notes.append("route connections: %d sockets, /routez %d ends; the formula gives %d"
                         % (rt, routes, want_routes // 2))
        if notes:
            res["note"] = "; ".join(notes)
        return res
    finally:
        sc.stop()


def w_mem(tools, srv, p, mode):
    """Fresh server: RSS before, hold n conns (or subs), RSS after, per-item bytes."""
    srv.start()
    try:
        time.sleep(0.5)
        before = srv.rss()
        holder = subprocess.Popen([tools.path("bench_conns"), "-s", srv.url, "-m", mode, "-n",
                                   str(p["n"]), "-H", "120"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            wait_line(holder, "ready", 90)
            time.sleep(1.0)
            after = srv.rss()
            if not srv.alive():
                raise RuntimeError("%s died holding %s" % (srv.kind, mode))
        finally:
            holder.stdin.close()
            try:
                holder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
            err = holder.stderr.read().strip()
            holder.stdout.close()
            holder.stderr.close()
        if holder.returncode not in (0, None):
            raise RuntimeError("bench_conns failed: %s" % err[-300:])
        return {"value": (after - before) / p["n"], "rss_before": before, "rss_after": after}
    finally:
        srv.stop()


def cpu_ns(pid):
    """CPU time of every live thread of pid, in ns (schedstat; ticks are too coarse)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_workload(tools, kind, srv, p):
    if kind in ("pub", "pubsub"):
        # The server's own CPU time per published message: on a small, shared machine the
        # wall-clock rate is bounded by the clients too; this is the server's cost alone.
        t0 = cpu_ns(srv.proc.pid)
        r = w_pub(tools, srv, p) if kind == "pub" else w_pubsub(tools, srv, p)
        r["cpu_ns"] = (cpu_ns(srv.proc.pid) - t0) / p["n"]
        return r
    if kind == "route":
        if not srv.alive():
            raise RuntimeError("%s cluster is down: %s" % (srv.kind, srv.tail()))
        # both servers' CPU: the publisher's server and the subscribers' one
        t0 = sum(cpu_ns(pid) for pid in srv.pids())
        r = w_pubsub(tools, srv, p, cluster=srv)
        r["cpu_ns"] = (sum(cpu_ns(pid) for pid in srv.pids()) - t0) / p["n"]
        return r
    if kind == "gw":
        # every server's CPU (C is idle: it has no interest in the subject)
        srv.wait_subs(lambda n: n <= srv.base_subs, "old interest to drain")
        t0 = sum(cpu_ns(pid) for pid in srv.pids())
        r = w_pubsub(tools, srv, p, cluster=srv)
        r["cpu_ns"] = (sum(cpu_ns(pid) for pid in srv.pids()) - t0) / p["n"]
        return r
    if kind == "gwrr":
        return w_rr(tools, srv, p, sc=srv)
    if kind == "gwsubs":
        return w_interest(tools, srv, p)
    if kind == "rr":
        return w_rr(tools, srv, p)
    if kind == "authstall":
        return w_authstall(tools, srv, p)
    if kind == "flood":
        return w_flood(tools, srv, p)
    return w_mem(tools, srv, p, kind)


def scaled(p, quick):
    if not quick or "n" not in p:
        return p
    q = dict(p)
    q["n"] = max(1000, p["n"] // (10 if p.get("n", 0) >= 100_000 else 2))
    return q


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit in ("msgs/s", "req/s"):
        return "{:,.0f}".format(v)
    if unit == "us":
        return "%.1f µs" % v
    if unit == "ms":
        return "%.1f ms" % v
    if unit == "s":
        return "%.1f s" % v
    if unit == "x":
        return "%.2fx" % v
    if unit == "conns":
        return "{:,.0f}".format(v)
    if v >= 10 * 2**20:
        return "{:,.1f} MiB".format(v / 2**20)
    return "{:,.0f} B".format(v)


def target_text(t, unit):
    if t is None:
        return "—"
    op, x = t
    if op == "ratio>=":
        return "≥ %.1fx" % x
    if op == "ratio<=":
        return "≤ %.2fx" % x
    if op == "abs==":
        return "= %s" % fmt(x, unit)
    return "≤ %s" % fmt(x, unit)


def target_met(t, a, ratio):
    if t is None or a is None:
        return ""
    op, x = t
    if op == "abs<=":
        return "yes" if a <= x else "**no**"
    if op == "abs==":
        return "yes" if a == x else "**no**"
    if ratio is None:
        return ""
    if op == "ratio>=":
        return "yes" if ratio >= x else "**no**"
    return "yes" if ratio <= x else "**no**"


def subrows_of(name, kind, p, target):
    """The table rows one workload makes: (row name, metric key, unit, target)."""
    if kind == "rr":
        return [("%s %s" % (name, lab), key, "us", t) for lab, key, t in RR_ROWS]
    if kind == "authstall":
        return [("%s %s" % (name, lab), key, "us", None) for lab, key, _t in RR_ROWS]
    if kind == "gwrr":
        return [("%s %s" % (name, lab), key, unit, t) for lab, key, unit, t in GWRR_ROWS]
    if kind == "gwsubs":
        return [(name, "value", "ms", target)]
    if kind == "flood":
        return [("%s: %s, colliding / random" % (name, ph), "%s_ratio" % ph, "x", target)
                for ph in ("insert", "match", "remove")]
    if kind == "gwsize":
        c, n = p["clusters"], p["per"]
        return [("%s: gateway connections" % name, "gw_conns", "conns", ("abs==", c * (c - 1) * n)),
                ("%s: route connections" % name, "route_conns", "conns",
                 ("abs==", c * n * (n - 1) // 2)),
                ("%s: RSS, all %d servers" % (name, c * n), "rss", "B", None),
                ("%s: RSS per server" % name, "rss_per_server", "B", None),
                ("%s: time to form" % name, "form_s", "s", None)]
    unit = "msgs/s" if kind in ("pub", "pubsub", "route", "gw") else "B"
    return [(name, "value", unit, target)]


def build_rows(results, names):
    """results[name][server] = list of per-round dicts -> table rows."""
    rows = []
    for name, kind, params, target in WORKLOADS:
        if name not in names:
            continue
        per = results.get(name, {})
        subrows = subrows_of(name, kind, params, target)
        for rname, key, unit, t in subrows:
            vals, notes = {}, []
            invalid = False
            for srv in ("natsd", "nats-server"):
                runs = per.get(srv, [])
                # runs that lost or duplicated messages count only if no run was clean
                clean = [r[key] for r in runs if key in r and "problem" not in r]
                lossy = [r[key] for r in runs if key in r and "problem" in r]
                vals[srv] = median(clean or lossy)
                invalid |= not clean and bool(lossy)
                bad = [r for r in runs if "problem" in r or "error" in r or "note" in r]
                if bad:
                    notes.append("%s: %d/%d runs: %s" % (
                        srv, len(bad), len(runs), "; ".join(sorted(
                            {b.get("problem") or b.get("error") or b.get("note") for b in bad}))))
            a, b = vals["natsd"], vals["nats-server"]
            ratio = a / b if a is not None and b else None
            met = target_met(t, a, ratio)
            if invalid:
                met = "invalid (lost msgs)" if unit == "msgs/s" else "invalid (see ¹)"
            rows.append(dict(name=rname, base=name, unit=unit, natsd=a, ref=b, ratio=ratio,
                             target=target_text(t, unit), met=met, notes=notes))
    return rows


def build_cpu_rows(results, names):
    rows = []
    for name, kind, _p, _t in WORKLOADS:
        if name not in names or kind not in ("pub", "pubsub", "route", "gw"):
            continue
        vals = {}
        for srv in ("natsd", "nats-server"):
            xs = [r["cpu_ns"] for r in results.get(name, {}).get(srv, []) if "cpu_ns" in r]
            vals[srv] = median(xs)
        a, b = vals["natsd"], vals["nats-server"]
        rows.append((name, a, b, a / b if a is not None and b else None))
    return rows


def render_cpu_table(rows):
    out = ["Server CPU time (all threads, from /proc/PID/task/*/schedstat) per published message; lower is "
           "better. Fan-out counts the 5 deliveries of one message; route rows add both servers "
           "of the cluster, gateway rows the three servers of the supercluster.", "",
           "| workload | natsd | nats-server | natsd / nats-server |", "|---|---:|---:|---:|"]
    for name, a, b, ratio in rows:
        out.append("| %s | %s | %s | %s |" % (
            name, "n/a" if a is None else "%.0f ns" % a, "n/a" if b is None else "%.0f ns" % b,
            "n/a" if ratio is None else "%.2f" % ratio))
    return "\n".join(out)


def render_table(rows):
    out = ["| workload | natsd | nats-server | natsd / nats-server | target | met |",
           "|---|---:|---:|---:|---|---|"]
    for r in rows:
        unit = " " + r["unit"] if r["unit"] in ("msgs/s", "req/s") else ""
        name = r["name"] + (" ¹" if r["notes"] else "")
        out.append("| %s | %s%s | %s%s | %s | %s | %s |" % (
            name, fmt(r["natsd"], r["unit"]), unit if r["natsd"] is not None else "",
            fmt(r["ref"], r["unit"]), unit if r["ref"] is not None else "",
            "%.2f" % r["ratio"] if r["ratio"] is not None else "n/a", r["target"], r["met"]))
    notes, seen = [], set()
    for r in rows:
        for n in r["notes"]:
            # one note per workload, however many rows it makes
            if (r["base"], n) not in seen:
                seen.add((r["base"], n))
                notes.append((r["base"] if len(r["name"]) > len(r["base"]) else r["name"], n))
    if notes:
        out.append("")
        out.append("¹ Runs with problems or remarks. The median uses the clean runs; when "
                   "every run of a server lost messages it is the rate of what arrived, and the "
                   "row is marked invalid. An error run counts nothing; a remark (a count "
                   "that differs from the formula) is a finding and still counts.")
        out.append("")
        for name, n in notes:
            out.append("- %s — %s" % (name, n))
    return "\n".join(out)


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return "%d CPUs (nproc), %s, %.0f GiB RAM, Linux %s" % (
        os.cpu_count() or 0, cpu, mem / 2**30, platform.release())


def proc_ticks():
    """{pid: (comm, utime+stime)} for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        out[int(d)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def other_load(seconds=1.0):
    """CPU use of other processes over a short window, before anything of ours starts:
    a busy machine makes every number here noisier, so the header says so."""
    hz = os.sysconf("SC_CLK_TCK")
    a = proc_ticks()
    time.sleep(seconds)
    b = proc_ticks()
    busy = []
    for pid, (comm, t) in b.items():
        if pid in a and pid != os.getpid():
            pct = 100.0 * (t - a[pid][1]) / hz / seconds
            if pct >= 10:
                busy.append((pct, comm))
    busy.sort(reverse=True)
    return ", ".join("%s %.0f%%" % (c, p) for p, c in busy) or "none"


def version_of(binary):
    for flag in ("--version", "-v"):
        try:
            p = subprocess.run([binary, flag], capture_output=True, text=True, timeout=5)
            text = (p.stdout + p.stderr).strip().splitlines()
            if p.returncode == 0 and text:
                return text[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "?"


def write_docs(path, block):
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("run.py: %s has no %s / %s markers" % (path, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + block + "\n" + END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--natsd", default=os.path.join(ROOT, "build/release/natsd"))
    ap.add_argument("--nats-server", dest="ref", default=shutil.which("nats-server") or
                    "/usr/sbin/nats-server")
    ap.add_argument("--bench-dir", default=os.path.join(ROOT, "build/bench"))
    ap.add_argument("--threads", type=int, default=2, help="natsd worker threads (default 2)")
    ap.add_argument("--rounds", type=int, default=5, help="A B rounds per workload (default 5)")
    ap.add_argument("--only", action="append", default=[],
                    help="run only workloads whose name contains this text (repeatable)")
    ap.add_argument("--quick", action="store_true", help="smaller counts (smoke test)")
    ap.add_argument("--gw-servers", type=int, metavar="N",
                    help="servers per cluster in the 3-cluster supercluster row (default 30; "
                    "5 with --quick)")
    ap.add_argument("--json", help="also write every run's numbers to this file")
    ap.add_argument("--write-docs", nargs="?", const=DOCS, metavar="PATH",
                    help="put the table between the bench markers of docs/benchmarks.md")
    ap.add_argument("--via-make", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.write_docs and (args.rounds < 3 or args.quick or args.only):
        ap.error("--write-docs needs a full run: >= 3 rounds, no --quick, no --only")
    gw_per = args.gw_servers or (5 if args.quick else 30)
    if gw_per < 1:
        ap.error("--gw-servers must be >= 1")
    for i, w in enumerate(WORKLOADS):
        if w[0] == GW_SIZE_NAME:
            WORKLOADS[i] = ("gateway supercluster 3x%d" % gw_per, w[1], dict(w[2], per=gw_per),
                            w[3])

    tools = Tools(os.path.abspath(args.bench_dir))
    for b in (args.natsd, args.ref):
        if not os.access(b, os.X_OK):
            sys.exit("run.py: %s is not executable" % b)

    # 10,000 connections need that many descriptors in the servers and in bench_conns.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 10_100:
        log("run.py: RLIMIT_NOFILE hard limit %d is below 10,100; the 10,000-connection row "
            "will fail (raise it with ulimit -Hn as root)" % want)

    selected = [w for w in WORKLOADS if not args.only or any(o in w[0] for o in args.only)]
    if not selected:
        sys.exit("run.py: --only matched no workload")

    work = tempfile.mkdtemp(prefix="natsd-bench-")
    common = os.path.join(work, "common.conf")
    with open(common, "w") as f:
        f.write("# shared by both servers\nmax_connections: 100000\n")
    natsd_conf = os.path.join(work, "natsd.conf")
    # --natsd may name another server (nats-server for a sanity run): `threads:` is natsd's
    natsd_is_natsd = "natsd" in version_of(args.natsd)
    with open(natsd_conf, "w") as f:
        f.write("include ./common.conf\n%s\n" % ("threads: %d" % args.threads if natsd_is_natsd
                                                  else "# not natsd: no threads:"))
    if not natsd_is_natsd:
        log("run.py: %s is not natsd (%s); its side runs without `threads:`"
            % (args.natsd, version_of(args.natsd)))

    # the bcrypt rows: natsd with one worker (the stall shows best there)
    authstall_confs = {}
    for kind, threads in (("natsd", natsd_is_natsd), ("nats-server", False)):
        authstall_confs[kind] = os.path.join(work, "%s-bcrypt.conf" % kind)
        with open(authstall_confs[kind], "w") as f:
            f.write(("threads: 1\n" if threads else "") + AUTHSTALL_CONF)

    def on_signal(signum, _frame):
        Server.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    others = other_load()
    if others != "none":
        log("run.py: other processes are using CPU (%s): numbers will be noisier" % others)
    servers = {"natsd": (args.natsd, natsd_conf), "nats-server": (args.ref, common)}
    long_lived = {}
    clusters = {}
    superclusters = {}  # kind -> the long-lived 3x1 supercluster
    sc_failed = {}  # kind -> (round, error) of the last failed start, tried once per round
    results = {}

    def get_supercluster(srv_kind, rnd):
        sc = superclusters.get(srv_kind)
        if sc is not None and sc.alive():
            return sc
        if sc_failed.get(srv_kind, (0,))[0] == rnd:
            raise RuntimeError(sc_failed[srv_kind][1])
        if sc is not None:
            log("!! %s supercluster died (%s); restarting it" % (srv_kind, sc.tail()))
            sc.stop()
        superclusters.pop(srv_kind, None)
        try:
            sc = Supercluster(srv_kind, *servers[srv_kind], work)
            sc.start()
            sc.settle_interest()
        except (RuntimeError, OSError, ValueError) as e:
            if sc is not None:
                sc.stop()
            sc_failed[srv_kind] = (rnd, "supercluster: %s" % e)
            log("!! %s supercluster failed: %s" % (srv_kind, e))
            raise RuntimeError(sc_failed[srv_kind][1]) from None
        superclusters[srv_kind] = sc
        log("%s supercluster 3x1 formed in %.1f s: publisher %s (A), subscribers %s (B), %d "
            "$G subs from B at rest" % (srv_kind, sc.form_s, sc.pub_url, sc.url, sc.base_subs))
        return sc

    started = time.time()
    try:
        for kind, (binary, conf) in servers.items():
            s = Server(kind, binary, conf, work)
            s.start()
            long_lived[kind] = s
        log("natsd %s, nats-server %s, work dir %s" % (long_lived["natsd"].url,
                                                       long_lived["nats-server"].url, work))
        if any(w[1] == "route" for w in selected):
            for kind, (binary, conf) in servers.items():
                c = Cluster(kind, binary, write_cluster_confs(work, kind, conf, "BENCH"), work)
                c.start()
                clusters[kind] = c
                log("%s cluster: subscribers %s, publisher %s, %d remote subs at rest"
                    % (kind, c.url, c.pub_url, c.base_subs))
        for rnd in range(1, args.rounds + 1):
            for name, kind, params, _t in selected:
                p = scaled(params, args.quick)
                if kind == "gwsize" and rnd > 1:
                    continue  # 2 x 3N servers: once per run
                for srv_kind in ("natsd", "nats-server"):
                    if kind == "gwsize":
                        try:
                            r = w_gwsize(srv_kind, *servers[srv_kind], work, p)
                        except (RuntimeError, OSError, ValueError) as e:
                            r = {"error": str(e)[-300:]}
                        results.setdefault(name, {}).setdefault(srv_kind, []).append(r)
                        log("round %d  %-28s %-12s %s" % (rnd, name, srv_kind, {
                            k: (round(v, 1) if isinstance(v, float) else v)
                            for k, v in r.items()}))
                        continue
                    if kind in GW_KINDS:
                        try:
                            srv = get_supercluster(srv_kind, rnd)
                        except RuntimeError as e:
                            r = {"error": str(e)[-300:]}
                            results.setdefault(name, {}).setdefault(srv_kind, []).append(r)
                            log("round %d  %-28s %-12s %s" % (rnd, name, srv_kind, r))
                            continue
                    elif kind in ("conns", "subs"):
                        srv = Server(srv_kind + "-mem", *servers[srv_kind], work)
                    elif kind == "authstall":
                        srv = Server(srv_kind + "-bcrypt", servers[srv_kind][0],
                                     authstall_confs[srv_kind], work)
                    elif kind == "route":
                        srv = clusters[srv_kind]
                        if not srv.alive():
                            log("!! %s cluster died (%s); restarting it" % (srv_kind, srv.tail()))
                            try:
                                srv.start()
                            except (RuntimeError, OSError) as e:
                                log("!! %s cluster restart failed: %s" % (srv_kind, e))
                    else:
                        srv = long_lived[srv_kind]
                        if not srv.alive():
                            log("!! %s died (%s); restarting it" % (srv_kind, srv.tail()))
                            srv.start()
                    try:
                        r = run_workload(tools, kind, srv, p)
                    except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError,
                            KeyError) as e:
                        r = {"error": str(e)[-300:]}
                    if kind not in ("conns", "subs", "authstall") and not srv.alive():
                        r.setdefault("error", "")
                        r["error"] += " %s crashed: %s" % (srv_kind, srv.tail())
                    results.setdefault(name, {}).setdefault(srv_kind, []).append(r)
                    shown = {k: (round(v, 1) if isinstance(v, float) else v)
                             for k, v in r.items()}
                    log("round %d  %-28s %-12s %s" % (rnd, name, srv_kind, shown))
    finally:
        Server.stop_all()

    elapsed = time.time() - started
    rows = build_rows(results, {w[0] for w in selected})
    table = render_table(rows)
    cpu_rows = build_cpu_rows(results, {w[0] for w in selected})
    if cpu_rows:
        table += "\n\n" + render_cpu_table(cpu_rows)
    if args.via_make:
        extra = [a for a in sys.argv[1:] if a != "--via-make"]
        extra = extra[4:]  # bench.mk's own --natsd X --bench-dir Y
        cmd = "make bench" + (" BENCH_ARGS=%s" % shlex.quote(" ".join(extra)) if extra else "")
    else:
        cmd = "/usr/bin/python3 " + " ".join(
            shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    header = "\n".join([
        "Command: `%s`" % cmd,
        "",
        "Date: %s. Machine: %s." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                                    machine_info()),
        "",
        "%s%s; %s (GOMAXPROCS default). %d rounds "
        "(A B interleaved), medians; run took %.0f s." % (
            version_of(args.natsd),
            ", `threads: %d`" % args.threads if natsd_is_natsd else " in natsd's column",
            version_of(args.ref), args.rounds, elapsed),
        "",
        "Other processes busy at the start (CPU of one core, over 1 s): %s." % others,
        "",
    ])
    print(header + "\n" + table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "rows": rows}, f, indent=1, default=str)
    if args.write_docs:
        write_docs(args.write_docs, header + "\n" + table)
        log("wrote %s" % args.write_docs)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
