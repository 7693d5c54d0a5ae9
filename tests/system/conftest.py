"""pytest fixtures for the natsd system tests. See natsd.py for the harness.

Fixtures
  natsd_bin        path of the natsd binary (skips the test when NATSD_BIN is unset)
  nats_server_bin  path of the reference nats-server (skips when not on PATH)
  free_port        a function returning a fresh free loopback port
  server_factory   server_factory(kind="natsd"|"nats-server", conf=None, args=(),
                   port=None, ports=None, expect_errors=(), name=None, start=True)
                   -> natsd.ServerProcess, started and ready; stopped and checked
                   (sanitizer text, crashes, unexpected [ERR]/[FTL]) at teardown
  natsd            one natsd with no config on a free port (or the server named
                   by NATSD_TEST_ADDR=host:port)

Markers
  threaded         runs again under TSan (make system-threaded: -m threaded)
  interop          needs the reference nats-server; skipped when it is missing
  spawns           starts its own servers; skipped under NATSD_TEST_ADDR
  expect_errors(*regex)  [ERR]/[FTL] lines every server of the test may log
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import natsd as harness  # noqa: E402


def pytest_configure(config):
    for line in (
        "threaded: exercises natsd's worker threads; also run under TSan (make system-threaded)",
        "interop: needs the reference nats-server on PATH (skipped without it)",
        "spawns: starts its own server processes (skipped when NATSD_TEST_ADDR is set)",
        "expect_errors(*regex): [ERR]/[FTL] log lines the test expects from its servers",
    ):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config, items):
    no_ref = harness.nats_server_bin() is None
    external = bool(os.environ.get("NATSD_TEST_ADDR"))
    skip_ref = pytest.mark.skip(reason="interop test: reference nats-server is not on PATH")
    skip_ext = pytest.mark.skip(reason="starts servers; NATSD_TEST_ADDR is set")
    for item in items:
        if no_ref and item.get_closest_marker("interop"):
            item.add_marker(skip_ref)
        if external and item.get_closest_marker("spawns"):
            item.add_marker(skip_ext)


def pytest_report_header(config):
    return "natsd: NATSD_BIN=%s (variant %s); reference nats-server: %s" % (
        harness.natsd_bin() or "<unset>", harness.variant(), harness.nats_server_bin() or "<none>")


@pytest.fixture(scope="session")
def natsd_bin():
    b = harness.natsd_bin()
    if not b:
        pytest.skip("NATSD_BIN is not set: build natsd and run `make system` "
                    "(or NATSD_BIN=build/release/natsd python3 -m pytest tests/system)")
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.fail("NATSD_BIN=%s is not an executable file" % b)
    return b


@pytest.fixture(scope="session")
def nats_server_bin():
    b = harness.nats_server_bin()
    if not b:
        pytest.skip("reference nats-server is not on PATH")
    return b


@pytest.fixture
def free_port():
    return harness.free_port


@pytest.fixture
def server_factory(request, tmp_path):
    """Start servers for this test; stop and check them all at teardown."""
    servers = []
    marker_errors = []
    for m in request.node.iter_markers("expect_errors"):
        marker_errors.extend(m.args)

    def factory(kind="natsd", conf=None, args=(), port=None, ports=None, expect_errors=(),
                name=None, start=True, **kw):
        if kind == "natsd":
            request.getfixturevalue("natsd_bin")
        elif kind == "nats-server":
            request.getfixturevalue("nats_server_bin")
        name = name or "%s-%d" % (kind, len(servers) + 1)
        s = harness.ServerProcess(kind, tmp_path / name, conf=conf, args=args, port=port,
                                  ports=ports, expect_errors=list(marker_errors) + list(expect_errors),
                                  name=name, **kw)
        servers.append(s)
        if start:
            s.start()
        return s

    yield factory

    problems = []
    for s in reversed(servers):
        if s.proc is None:
            continue
        try:
            s.check()
        except harness.ServerError as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def natsd(request):
    """A running natsd with defaults on a free port, or NATSD_TEST_ADDR's server."""
    addr = os.environ.get("NATSD_TEST_ADDR")
    if addr:
        return harness.ExternalServer(addr)
    return request.getfixturevalue("server_factory")("natsd")
