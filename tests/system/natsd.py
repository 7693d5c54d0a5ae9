"""System-test harness: start natsd (or the reference nats-server) on free
loopback ports, wait until it is ready, and check its log at teardown.

Used through the fixtures in conftest.py (server_factory, natsd, ...), but
importable on its own:

    from natsd import ServerProcess, free_port, run_binary

Conventions (docs style.md section 3.9):
  * never a fixed port: every port comes from free_port(), which hands out
    each port once per test session, from below the kernel's ephemeral
    range (so no client's connect() can take it before the server binds it);
  * everything listens on loopback only;
  * at teardown a server gets SIGTERM, and the test fails if its output holds
    sanitizer text, a crash, or an [ERR]/[FTL] line the test did not declare
    with expect_errors=[regex, ...] (or the expect_errors marker).

Config templates: a config handed to ServerProcess may use
  @PORT@          the client port (allocated unless port= is given)
  @PORT_<NAME>@   one more free port per NAME (e.g. @PORT_CLUSTER@, @PORT_GW@);
                  pass ports={"GW": 1234} to pin one (for configs that name each
                  other's ports); read them back with server.ports["GW"]
  @DIR@           the server's own working directory (absolute)
Without @PORT@ in the config and without -p/--port in args, the harness adds
`-p <port> -a 127.0.0.1` to the command line.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

# --------------------------------------------------------------------------- binaries


def natsd_bin():
    """The natsd binary from NATSD_BIN, or None when the variable is unset."""
    p = os.environ.get("NATSD_BIN")
    return p or None


def nats_server_bin():
    """The reference nats-server on PATH, or None."""
    return shutil.which("nats-server")


def variant():
    """release, asan or tsan (NATSD_VARIANT, set by the Makefile)."""
    return os.environ.get("NATSD_VARIANT", "release")


def timeout_scale():
    """Sanitizer builds are slower; every harness timeout is multiplied by this."""
    try:
        return float(os.environ["NATSD_TIMEOUT_SCALE"])
    except (KeyError, ValueError):
        pass
    return 1.0 if variant() == "release" else 4.0


def scaled(seconds):
    return seconds * timeout_scale()


def sanitizer_env(env=None):
    """A copy of env (default os.environ) with sanitizer options that make
    reports land on stderr and make UBSan reports fatal, unless already set."""
    e = dict(os.environ if env is None else env)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.setdefault("TSAN_OPTIONS", "second_deadlock_stack=1:halt_on_error=0")
    return e


# --------------------------------------------------------------------------- ports

_ports_lock = threading.Lock()
_ports_given = set()
_ports_cursor = None

# The lowest port free_port() hands out when it can stay below the kernel's
# ephemeral range.
PORTS_LOW = 10000


def _port_share():
    """(index, count) of this pytest-xdist worker, or (0, 1) without xdist:
    parallel workers take ports from disjoint blocks, so two of them never
    hand out the same port."""
    w = os.environ.get("PYTEST_XDIST_WORKER", "")
    n = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if w.startswith("gw") and w[2:].isdigit() and n.isdigit() and int(n) > 1:
        return int(w[2:]) % int(n), int(n)
    return 0, 1


def _port_block():
    """(first, size) of the ports this process hands out: its share of the
    ports below the kernel's ephemeral range (ip_local_port_range), or None
    when that range leaves too few of them."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    idx, count = _port_share()
    size = (eph_low - PORTS_LOW) // count
    if size < 500:
        return None
    return PORTS_LOW + idx * size, size


def _port_is_free(port, host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(host="127.0.0.1"):
    """A TCP port that was free on host a moment ago, never the same one twice
    in this process (nor in another xdist worker).

    The port comes from below the kernel's ephemeral range: between this call
    and the server's bind(), no connect() anywhere on the machine (the tests'
    thousands of clients, the servers' routes and gateways, a benchmark) can
    take it as its local port, which a port from bind(("", 0)) does not
    guarantee. Each xdist worker walks its own block of that range from a
    random start (so that two test sessions at once rarely meet), and skips
    the ports it cannot bind (in use, or TIME_WAIT from an earlier run).
    Without such a range it falls back to bind(("", 0))."""
    global _ports_cursor
    with _ports_lock:
        block = _port_block()
        if block is None:
            return _free_port_ephemeral(host)
        first, size = block
        if _ports_cursor is None:
            _ports_cursor = int.from_bytes(os.urandom(4), "little") % size
        for _ in range(size):
            port = first + _ports_cursor
            _ports_cursor = (_ports_cursor + 1) % size
            if port not in _ports_given and _port_is_free(port, host):
                _ports_given.add(port)
                return port
            if len(_ports_given) >= size:
                _ports_given.clear()  # the block is used up: start a new round
    raise RuntimeError("could not find a free port")


def _free_port_ephemeral(host):
    """free_port() for a machine without ports below its ephemeral range:
    bind port 0, read the port back, close (called with _ports_lock held)."""
    idx, count = _port_share()
    for _ in range(100 * count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        # port >> 1: bind() to port 0 hands out even ports first (odd
        # ones are kept for connect()), so a residue of the port itself
        # would starve every odd class
        if (port >> 1) % count == idx and port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("could not find a free port")


def port_open(port, host="127.0.0.1", timeout=0.5):
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- log checks

# Text that fails any test when a server prints it.
SANITIZER_PATTERNS = [
    re.compile(r"runtime error"),
    re.compile(r"Sanitizer"),
    re.compile(r"WARNING: ThreadSanitizer"),
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"ERROR: LeakSanitizer"),
]
ERR_LINE = re.compile(r"\[(ERR|FTL)\]")


def sanitizer_lines(text):
    """Lines of text that carry sanitizer/UBSan output."""
    return [ln for ln in text.splitlines() if any(p.search(ln) for p in SANITIZER_PATTERNS)]


def unexpected_error_lines(text, expect_errors=()):
    """[ERR]/[FTL] lines of text that match none of the regexes expect_errors."""
    pats = [re.compile(p) if isinstance(p, str) else p for p in expect_errors]
    out = []
    for ln in text.splitlines():
        if ERR_LINE.search(ln) and not any(p.search(ln) for p in pats):
            out.append(ln)
    return out


# --------------------------------------------------------------------------- one-shot runs


def run_binary(binary, args, cwd=None, timeout=30, env=None, input_bytes=None):
    """Run binary with args to completion (e.g. -t -c F, -v, -h).
    Returns subprocess.CompletedProcess with text stdout/stderr (bytes that are
    not UTF-8 replaced). Raises subprocess.TimeoutExpired after killing the
    process when it runs longer than timeout (scaled for sanitizer builds)."""
    p = subprocess.run(
        [binary] + list(args),
        cwd=cwd,
        env=sanitizer_env(env),
        input=input_bytes,
        stdin=None if input_bytes is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=scaled(timeout),
    )
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


def describe_run(p):
    """Readable summary of a CompletedProcess, for assertion messages."""
    return "exit=%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        p.returncode, p.stdout[-4000:], p.stderr[-4000:])


# --------------------------------------------------------------------------- servers

_PORT_TOKEN = re.compile(r"@PORT_([A-Za-z0-9_]+)@")
# a cluster block that names a listen address (before any nested block)
_CLUSTER_LISTEN = re.compile(r"^\s*cluster\s*[:=]?\s*\{[^}]*\blisten\b", re.M)


class ServerError(AssertionError):
    """A server did not start, did not stop, crashed, or logged what it must not."""


class ServerProcess:
    """One natsd or nats-server process.

    kind          "natsd" or "nats-server"
    directory     working directory (config, stderr/stdout files live here)
    conf          config text (template, see module doc) or None for no -c
    args          extra command-line arguments
    port          client port to use for @PORT@ / -p (allocated when None)
    ports         {"NAME": port} pins for @PORT_NAME@ tokens
    expect_errors regexes of [ERR]/[FTL] lines the test expects
    name          base name of the files written (default: kind)
    """

    def __init__(self, kind, directory, conf=None, args=(), port=None, ports=None,
                 expect_errors=(), name=None, binary=None, env=None, ready_timeout=10.0):
        if kind not in ("natsd", "nats-server"):
            raise ValueError("kind must be natsd or nats-server")
        self.kind = kind
        self.binary = binary or (natsd_bin() if kind == "natsd" else nats_server_bin())
        if not self.binary:
            raise ServerError("no binary for %s (NATSD_BIN unset or nats-server not on PATH)" % kind)
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name or kind
        self.args = list(args)
        self.expect_errors = list(expect_errors)
        self.env = env
        self.ready_timeout = ready_timeout
        self.host = "127.0.0.1"
        self.ports = dict(ports or {})
        self.proc = None
        self.returncode = None
        self.stopped = False
        self.conf_path = None
        self.stderr_path = os.path.join(self.dir, self.name + ".stderr")
        self.stdout_path = os.path.join(self.dir, self.name + ".stdout")
        self._checked = False

        args_port = _flag_value(self.args, ("p", "port"))
        conf_has_port = conf is not None and "@PORT@" in conf
        if port is None:
            port = int(args_port) if args_port is not None else free_port()
        self.port = int(port)
        self._add_port_flag = not conf_has_port and args_port is None

        if conf is not None:
            text = conf.replace("@PORT@", str(self.port)).replace("@DIR@", self.dir)

            def sub(m):
                key = m.group(1)
                if key not in self.ports:
                    self.ports[key] = free_port()
                return str(self.ports[key])

            text = _PORT_TOKEN.sub(sub, text)
            self.conf_text = text
            self.conf_path = os.path.join(self.dir, self.name + ".conf")
            with open(self.conf_path, "w") as f:
                f.write(text)
        else:
            self.conf_text = None

    # ---- lifecycle

    def command(self):
        cmd = [self.binary]
        if self.conf_path:
            cmd += ["-c", self.conf_path]
        if self._add_port_flag:
            cmd += ["-p", str(self.port), "-a", self.host]
        return cmd + self.args

    def start(self, wait=True):
        self._stderr_f = open(self.stderr_path, "wb")
        self._stdout_f = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.dir, env=sanitizer_env(self.env),
            stdin=subprocess.DEVNULL, stdout=self._stdout_f, stderr=self._stderr_f)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def listens_for_routes(self):
        """True when the config (a cluster block with a listen) or the command
        line (--cluster) gives this server a route listener."""
        if _flag_value(self.args, ("cluster",)) is not None:
            return True
        return bool(self.conf_text and _CLUSTER_LISTEN.search(self.conf_text))

    def wait_ready(self, timeout=None):
        """Wait until the log says "Server is ready" and the client port accepts,
        and, for a server with a route listener, until the log says it listens:
        nats-server opens that one only after "Server is ready"."""
        deadline = time.monotonic() + scaled(timeout or self.ready_timeout)
        routes = self.listens_for_routes()
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                self.stopped = True
                raise ServerError("%s exited (status %s) before it was ready\ncommand: %s\n%s"
                                  % (self.kind, rc, " ".join(self.command()), self._tail()))
            log = self.log_text()
            if ("Server is ready" in log and
                    (not routes or "Listening for route connections on" in log) and
                    port_open(self.port, self.host)):
                return
            time.sleep(0.05)
        raise ServerError("%s not ready within %.1fs on port %d\ncommand: %s\n%s"
                          % (self.kind, scaled(timeout or self.ready_timeout), self.port,
                             " ".join(self.command()), self._tail()))

    def wait_log(self, pattern, timeout=10.0, start=0):
        """Wait until a log line matches regex pattern (from offset start of the
        log text); return the match. Fails the test on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = rx.search(self.log_text()[start:])
            if m:
                return m
            if self.proc.poll() is not None and not rx.search(self.log_text()[start:]):
                raise ServerError("%s exited (status %s) while waiting for %r\n%s"
                                  % (self.kind, self.proc.returncode, pattern, self._tail()))
            if time.monotonic() >= deadline:
                raise ServerError("no log line matching %r within %.1fs\n%s"
                                  % (pattern, scaled(timeout), self._tail()))
            time.sleep(0.05)

    def send_signal(self, sig):
        """Send sig to this process (by its pid) if it still runs."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig, wait for the exit, SIGKILL if it does not come (and fail).
        Returns the exit status. Safe to call more than once."""
        if self.proc is None:
            return None
        if self.stopped and self.returncode is not None:
            return self.returncode
        self.stopped = True
        hung = False
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                hung = True
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._close_files()
        if hung:
            raise ServerError("%s (pid %d) did not exit within %.1fs of %s; killed\n%s"
                              % (self.kind, self.proc.pid, scaled(timeout), sig.name, self._tail()))
        return self.returncode

    def _close_files(self):
        for f in (getattr(self, "_stderr_f", None), getattr(self, "_stdout_f", None)):
            if f and not f.closed:
                f.close()

    # ---- output

    def log_text(self):
        """Everything the server wrote so far: stderr, then stdout, then the
        log file if the config or the arguments named one (-l/--log)."""
        parts = []
        for p in (self.stderr_path, self.stdout_path, self.log_file_path()):
            if p and os.path.exists(p):
                with open(p, "rb") as f:
                    parts.append(f.read().decode("utf-8", "replace"))
        return "".join(parts)

    def log_file_path(self):
        v = _flag_value(self.args, ("l", "log"))
        if v is None and self.conf_text:
            m = re.search(r"^\s*(?:log_file|logfile)\s*[:=]?\s*\"?([^\"\s]+)\"?", self.conf_text,
                          re.M | re.I)
            v = m.group(1) if m else None
        if v is None:
            return None
        return v if os.path.isabs(v) else os.path.join(self.dir, v)

    def _tail(self, n=60):
        lines = self.log_text().splitlines()
        return "--- last %d lines of output ---\n%s" % (min(n, len(lines)), "\n".join(lines[-n:]))

    def expect_error(self, regex):
        """Declare an [ERR]/[FTL] line as expected (during the test)."""
        self.expect_errors.append(regex)

    # ---- teardown check

    def check(self):
        """Stop the server if it runs and raise ServerError on a crash, on
        sanitizer output, or on an [ERR]/[FTL] line nobody expected."""
        if self._checked:
            return
        self._checked = True
        problems = []
        if self.proc is not None and not self.stopped and self.proc.poll() is not None:
            problems.append("%s (pid %d) exited on its own with status %s during the test"
                            % (self.kind, self.proc.pid, self.proc.returncode))
        try:
            rc = self.stop()
        except ServerError as e:
            problems.append(str(e))
            rc = self.proc.returncode if self.proc else None
        if rc is not None and rc < 0 and -rc not in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
            problems.append("%s (pid %d) died of signal %s"
                            % (self.kind, self.proc.pid, signal.Signals(-rc).name))
        text = self.log_text()
        san = sanitizer_lines(text)
        if san:
            problems.append("sanitizer output:\n" + "\n".join(san[:20]))
        errs = unexpected_error_lines(text, self.expect_errors)
        if errs:
            problems.append("unexpected [ERR]/[FTL] lines:\n" + "\n".join(errs[:20]))
        if problems:
            raise ServerError("%s %s:\n%s\n%s" % (self.kind, self.name, "\n".join(problems),
                                                  self._tail()))

    def __repr__(self):
        return "<ServerProcess %s pid=%s port=%s>" % (self.kind, self.pid, self.port)


class ExternalServer:
    """A server the suite did not start (NATSD_TEST_ADDR=host:port): the same
    attributes as ServerProcess where they make sense, and no-op teardown."""

    kind = "external"
    pid = None
    ports = {}

    def __init__(self, addr):
        host, _, port = addr.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port)

    def log_text(self):
        return ""

    def expect_error(self, regex):
        pass

    def stop(self, *a, **k):
        return None

    def check(self):
        pass


def _flag_value(args, names):
    """The value of flag -name/--name in args (forms "-p 5", "-p=5", "--port 5"),
    or None when absent."""
    args = list(args)
    for i, a in enumerate(args):
        if not a.startswith("-"):
            continue
        body = a.lstrip("-")
        key, eq, val = body.partition("=")
        if key in names:
            if eq:
                return val
            if i + 1 < len(args):
                return args[i + 1]
    return None


# --------------------------------------------------------------------------- TLS material


def make_test_certs(directory, days=30):
    """Write a throw-away CA and two leaf certificates signed by it into
    directory, with the openssl command:
        ca.pem ca-key.pem            the CA
        server.pem server-key.pem    CN=localhost, SAN localhost/127.0.0.1, server+client auth
        client.pem client-key.pem    CN=natsd-test-client, client auth
    Returns directory. Files already there are regenerated."""
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    openssl = shutil.which("openssl")
    if not openssl:
        raise RuntimeError("openssl command not found")

    def run(*args):
        p = subprocess.run([openssl] + list(args), cwd=directory, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr.decode()))

    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    with open(os.path.join(directory, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
        "-subj", "/CN=natsd-test-ca", "-keyout", "ca-key.pem", "-out", "ca.pem")
    for leaf, cn in (("server", "localhost"), ("client", "natsd-test-client")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
            "-keyout", leaf + "-key.pem", "-out", leaf + ".csr")
        run("x509", "-req", "-in", leaf + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", str(days), "-extfile", leaf + ".ext", "-out", leaf + ".pem")
    return directory
