# SPDX-License-Identifier: Apache-2.0
"""The official C client (libnats) across a gateway: the responder connects
to one cluster, the requester to another, in every pairing of natsd and
nats-server. libnats's requests use a wildcard inbox subscription made just
before the first request, which is what the routed-reply mapping is for."""
import os
import subprocess

import pytest

from natsd import scaled, sanitizer_env
from proto_util import drivers_dir

pytestmark = [pytest.mark.spawns]

PAIRS = [pytest.param(("natsd", "natsd"), id="natsd", marks=pytest.mark.threaded),
         pytest.param(("natsd", "nats-server"), id="mixed-natsd-ref",
                      marks=[pytest.mark.interop, pytest.mark.threaded]),
         pytest.param(("nats-server", "natsd"), id="mixed-ref-natsd",
                      marks=[pytest.mark.interop, pytest.mark.threaded])]

CONF = """
listen: 127.0.0.1:@PORT@
gateway { name: %s, listen: "127.0.0.1:@PORT_GW@" %s }
"""


@pytest.fixture(scope="module")
def driver():
    d = drivers_dir()
    path = os.path.join(d, "libnats_driver") if d else None
    if not path or not os.access(path, os.X_OK):
        pytest.skip("libnats_driver not built (NATSD_DRIVERS=%s); make builds it" % d)
    return path


@pytest.mark.parametrize("kinds", PAIRS)
def test_request_reply_across_gateway(kinds, driver, server_factory):
    errs = [r"Error connecting to (implicit|explicit) gateway"]
    a = server_factory(kinds[0], CONF % ("A", ""), name="A", expect_errors=errs)
    b = server_factory(kinds[1], CONF % ("B", ', gateways: [{name: A, url: "nats://127.0.0.1:%d"}]'
                                         % a.ports["GW"]), name="B", expect_errors=errs)
    env = sanitizer_env()
    env["ASAN_OPTIONS"] = "detect_leaks=0"  # the driver links an uninstrumented libnats
    env["TSAN_OPTIONS"] = "report_bugs=0"
    for svc, req in ((a, b), (b, a)):
        url = "nats://127.0.0.1:%d,nats://127.0.0.1:%d" % (svc.port, req.port)
        p = subprocess.run([driver, "xrequest", url], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=scaled(120), env=env)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        assert p.returncode == 0 and "OK xrequest" in out, "exit %d\n%s\n%s" % (
            p.returncode, out, err)
