"""The official C client (libnats, tests/drivers/libnats_driver.c) against
natsd with `threads: 1` and `threads: 2` (both marked threaded: they also run
under TSan) and, as interop, against the reference nats-server.

The driver is found in NATSD_DRIVERS (set by the Makefile); the test is
skipped when it has not been built.
"""

import os
import subprocess

import pytest

from natsd import sanitizer_env, scaled
from proto_util import PROTO_ERR_LOGS, drivers_dir, params, start

pytestmark = [pytest.mark.spawns]

TARGETS = params(threaded_t1=True, threaded_t2=True)

SCENARIOS = ["pubsub", "wildcards", "queue", "request", "headers", "noresponders", "flush", "drain",
             "autounsub", "maxpayload"]


@pytest.fixture(scope="module")
def driver():
    d = drivers_dir()
    path = os.path.join(d, "libnats_driver") if d else None
    if not path or not os.access(path, os.X_OK):
        pytest.skip("libnats_driver not built (NATSD_DRIVERS=%s); make builds it" % d)
    return path


def driver_env():
    # The driver links an uninstrumented libnats: sanitizer reports from the
    # driver process itself are not what these tests are about (the server's
    # are checked by the harness). Leak checks off, TSan reports off.
    e = sanitizer_env()
    e["ASAN_OPTIONS"] = "detect_leaks=0"
    e["TSAN_OPTIONS"] = "report_bugs=0"
    return e


def run_driver(driver, scenario, port, timeout=120):
    p = subprocess.run([driver, scenario, "nats://127.0.0.1:%d" % port], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(timeout),
                       env=driver_env())
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, "libnats %s exit %d\n%s\n%s" % (scenario, p.returncode, out, err)
    assert "OK %s" % scenario in out


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_libnats(target, scenario, driver, server_factory):
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    run_driver(driver, scenario, srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_libnats_maxpayload_configured(target, driver, server_factory):
    """Payloads up to a configured max_payload (100000), then one over it."""
    srv = start(server_factory, target, conf="max_payload: 100000", expect_errors=PROTO_ERR_LOGS)
    run_driver(driver, "maxpayload", srv.port)


@pytest.mark.parametrize("target", TARGETS)
def test_libnats_reconnect(target, driver, server_factory):
    """The client reconnects after the server is restarted on the same port
    and re-sends its subscription."""
    srv = start(server_factory, target, expect_errors=PROTO_ERR_LOGS)
    p = subprocess.Popen([driver, "reconnect", "nats://127.0.0.1:%d" % srv.port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=driver_env())
    try:
        line = p.stdout.readline().decode()
        assert line == "PHASE1 OK\n", "driver said %r; stderr %r" % (line, p.stderr.read(4000))
        srv.stop()
        start(server_factory, target, port=srv.port, expect_errors=PROTO_ERR_LOGS)
        p.stdin.write(b"restarted\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=scaled(90))
        assert p.returncode == 0, "exit %d\n%s\n%s" % (p.returncode, out.decode(), err.decode())
        assert b"PHASE2 OK" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
