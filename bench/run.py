#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs natsd and the reference nats-server side by side on the same workloads.

Both servers run at once on free loopback ports with the same configuration (natsd's
adds `threads: N`). Each round runs every workload against natsd, then against
nats-server (A B A B ...); the table shows the median of the rounds and the ratio
natsd / nats-server. Memory rows use a fresh server of each kind per round.

Python 3 standard library only. It builds nothing: `make bench-build` (or `make bench`,
which also runs this) puts the tools in build/bench/.

    /usr/bin/python3 bench/run.py --natsd build/release/natsd            # full run
    /usr/bin/python3 bench/run.py --quick --only pub                     # smoke run
    /usr/bin/python3 bench/run.py --write-docs                           # and update docs
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
    ("req/rep raw", "rr", dict(size=16, n=10_000), None),
    ("req/rep libnats", "rr", dict(size=16, n=5_000, libnats=True), None),
    ("RSS per idle conn (10,000)", "conns", dict(n=10_000), ("abs<=", 4096)),
    ("RSS per sub (100,000)", "subs", dict(n=100_000), ("abs<=", 250)),
]
# Rows a workload produces: (row name, metric key, unit, target, higher is better).
RR_ROWS = [("p50", "p50_us", None), ("p99", "p99_us", T_P99), ("p99.9", "p999_us", None)]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def __init__(self, kind, binary, conf, workdir, extra=()):
        self.kind, self.binary, self.conf, self.workdir = kind, binary, conf, workdir
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.starts = 0

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.port = free_port()
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "%s.%d.log" % (self.kind, self.starts))
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.conf, "-p", str(self.port), "-a", "127.0.0.1"] + self.extra,
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        if self not in Server.live:
            Server.live.append(self)
        deadline = time.time() + 10
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
        if self.proc.poll() is None:
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
        for s in list(cls.live):
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


class Tools:
    def __init__(self, bench_dir):
        self.dir = bench_dir
        for t in ("bench_pub", "bench_sub", "bench_rr", "bench_conns"):
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


def w_rr(tools, srv, p):
    argv = [tools.path("bench_rr"), "-s", srv.url, "-j", "bench.rr", "-z", str(p["size"]), "-n",
            str(p["n"]), "-w", "500"]
    if p.get("libnats"):
        argv.append("-l")
    r = run_tool(argv, timeout=120)
    return {k: float(r[k]) for k in ("p50_us", "p99_us", "p999_us")}


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
    if kind == "rr":
        return w_rr(tools, srv, p)
    return w_mem(tools, srv, p, kind)


def scaled(p, quick):
    if not quick:
        return p
    q = dict(p)
    q["n"] = max(1000, p["n"] // (10 if p.get("n", 0) >= 100_000 else 2))
    return q


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "msgs/s":
        return "{:,.0f}".format(v)
    if unit == "us":
        return "%.1f µs" % v
    return "{:,.0f} B".format(v)


def target_text(t, unit):
    if t is None:
        return "—"
    op, x = t
    if op == "ratio>=":
        return "≥ %.1fx" % x
    if op == "ratio<=":
        return "≤ %.2fx" % x
    return "≤ %s" % fmt(x, unit)


def target_met(t, a, ratio):
    if t is None or a is None:
        return ""
    op, x = t
    if op == "abs<=":
        return "yes" if a <= x else "**no**"
    if ratio is None:
        return ""
    if op == "ratio>=":
        return "yes" if ratio >= x else "**no**"
    return "yes" if ratio <= x else "**no**"


def build_rows(results, names):
    """results[name][server] = list of per-round dicts -> table rows."""
    rows = []
    for name, kind, _p, target in WORKLOADS:
        if name not in names:
            continue
        per = results.get(name, {})
        if kind == "rr":
            subrows = [("%s %s" % (name, lab), key, "us", t) for lab, key, t in RR_ROWS]
        else:
            unit = "msgs/s" if kind in ("pub", "pubsub", "route") else "B"
            subrows = [(name, "value", unit, target)]
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
                bad = [r for r in runs if "problem" in r or "error" in r]
                if bad:
                    notes.append("%s: %d/%d runs: %s" % (
                        srv, len(bad), len(runs),
                        "; ".join(sorted({b.get("problem") or b.get("error") for b in bad}))))
            a, b = vals["natsd"], vals["nats-server"]
            ratio = a / b if a is not None and b else None
            met = "invalid (lost msgs)" if invalid else target_met(t, a, ratio)
            rows.append(dict(name=rname, unit=unit, natsd=a, ref=b, ratio=ratio,
                             target=target_text(t, unit), met=met, notes=notes))
    return rows


def build_cpu_rows(results, names):
    rows = []
    for name, kind, _p, _t in WORKLOADS:
        if name not in names or kind not in ("pub", "pubsub", "route"):
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
           "of the cluster.", "",
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
        unit = " msgs/s" if r["unit"] == "msgs/s" else ""
        name = r["name"] + (" ¹" if r["notes"] else "")
        out.append("| %s | %s%s | %s%s | %s | %s | %s |" % (
            name, fmt(r["natsd"], r["unit"]), unit if r["natsd"] is not None else "",
            fmt(r["ref"], r["unit"]), unit if r["ref"] is not None else "",
            "%.2f" % r["ratio"] if r["ratio"] is not None else "n/a", r["target"], r["met"]))
    notes = [(r["name"], n) for r in rows for n in r["notes"]]
    if notes:
        out.append("")
        out.append("¹ Runs with problems. The median uses the clean runs; when every run of a "
                   "server lost messages it is the rate of what arrived, and the row is marked "
                   "invalid. An error run counts nothing.")
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
    ap.add_argument("--json", help="also write every run's numbers to this file")
    ap.add_argument("--write-docs", nargs="?", const=DOCS, metavar="PATH",
                    help="put the table between the bench markers of docs/benchmarks.md")
    ap.add_argument("--via-make", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.write_docs and (args.rounds < 3 or args.quick or args.only):
        ap.error("--write-docs needs a full run: >= 3 rounds, no --quick, no --only")

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
    with open(natsd_conf, "w") as f:
        f.write("include ./common.conf\nthreads: %d\n" % args.threads)

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
    results = {}
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
                for srv_kind in ("natsd", "nats-server"):
                    if kind in ("conns", "subs"):
                        srv = Server(srv_kind + "-mem", *servers[srv_kind], work)
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
                    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                        r = {"error": str(e)[-300:]}
                    if kind not in ("conns", "subs") and not srv.alive():
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
        "%s, `threads: %d`; %s (GOMAXPROCS default). %d rounds "
        "(A B interleaved), medians; run took %.0f s." % (
            version_of(args.natsd), args.threads, version_of(args.ref), args.rounds, elapsed),
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
