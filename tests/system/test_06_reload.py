"""SIGHUP reload: reloadable options take effect for new connections and are
logged one by one; a change to an option that cannot change at run time is
refused with nats-server's message and the server keeps its configuration."""

import json
import os
import signal
import socket
import time

import pytest

from natsd import timeout_scale

pytestmark = pytest.mark.threaded


def info(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, "closed before INFO"
            buf += chunk
    line = buf.split(b"\r\n", 1)[0]
    assert line.startswith(b"INFO ")
    return json.loads(line[5:])


def wait_log(srv, text):
    deadline = time.monotonic() + 10 * timeout_scale()
    while text not in srv.log_text():
        assert time.monotonic() < deadline, "no %r in the log:\n%s" % (text, srv.log_text())
        time.sleep(0.02)


def rewrite(srv, text):
    with open(srv.conf_path, "w") as f:
        f.write(text.replace("@PORT@", str(srv.port)))


@pytest.mark.parametrize("threads", [1, 2])
def test_reload_applies_reloadable_options(server_factory, threads):
    srv = server_factory("natsd", conf="port: @PORT@\nthreads: %d\nmax_payload: 1024\n" % threads)
    assert info(srv.port)["max_payload"] == 1024
    rewrite(srv, "port: @PORT@\nthreads: %d\nmax_payload: 2048\ndebug: true\n" % threads)
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Reloaded server configuration")
    log = srv.log_text()
    assert "[INF] Reloaded: max_payload = 2048" in log
    assert "[INF] Reloaded: debug = true" in log
    assert info(srv.port)["max_payload"] == 2048


def test_reload_refuses_a_port_change(server_factory):
    srv = server_factory("natsd", conf="port: @PORT@\nmax_payload: 1024\n",
                         expect_errors=[r"Failed to reload server configuration: "
                                        r"config reload not supported for port"])
    rewrite(srv, "port: 1\nmax_payload: 4096\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Failed to reload server configuration")
    assert info(srv.port)["max_payload"] == 1024, "nothing of a refused reload applies"


def test_reload_reports_a_broken_file(server_factory):
    srv = server_factory("natsd", conf="port: @PORT@\n",
                         expect_errors=[r"Failed to reload server configuration: .*"
                                        r"Parse error"])
    rewrite(srv, "port: @PORT@\nmax_payload: {\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Failed to reload server configuration")
    assert info(srv.port)["port"] == srv.port


def test_reload_refuses_tls_and_accounts_changes(server_factory):
    """natsd builds its TLS context and account table at start: a reload that
    changes them is refused whole (never half-applied) and says which key."""
    srv = server_factory("natsd", conf="port: @PORT@\nmax_payload: 1024\n",
                         expect_errors=[r"Failed to reload server configuration: "
                                        r"config reload not supported for accounts"])
    rewrite(srv, "port: @PORT@\nmax_payload: 4096\naccounts { A { users: [{user: a, password: "
                 "a}] } }\n")
    os.kill(srv.pid, signal.SIGHUP)
    wait_log(srv, "Failed to reload server configuration")
    assert info(srv.port)["max_payload"] == 1024
