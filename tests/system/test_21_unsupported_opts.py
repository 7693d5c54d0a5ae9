"""Options natsd accepts from nats-server's configuration language but does
not implement (docs/configuration.md, "Options natsd does not implement").

An option whose whole point is to restrict who may connect, what they may do,
or what TLS asks of a peer must never be ignored: natsd would then run with
less security than the file says. Each such option makes natsd refuse to
start with an error naming it, makes `-t` fail the same way, and makes a
reload that adds it fail while the server keeps its old configuration.

An option that only configures something natsd does not open (leaf node,
websocket and MQTT listeners, JetStream) cannot let anyone in: it is accepted
with a warning, and the tests check that nothing listens where it asks.

A negative max_control_line is refused too (it would lift the limit).
"""

import json
import os
import re
import signal
import subprocess

import pytest

import natsd as harness
from natsd import describe_run, port_open, run_binary, sanitizer_lines
from proto_util import PROTO_ERR_LOGS, Conn, connected

pytestmark = pytest.mark.spawns

OPERATOR_KEY = "OBYEOZQ46VZMFMNETBAW2H6VGDSOBLP67VUEZJ5LPR3PIZBWWRIY4UI4"
REFUSED_TAIL = "is not supported by natsd and cannot be ignored"

# id -> (configuration lines, the text naming the option in natsd's error).
# @TLS@ becomes a tls block with the generated server certificate.
REFUSED = {
    "operator": ('operator: "op.jwt"', 'option "operator" ' + REFUSED_TAIL),
    "root_operators": ('root_operators: "op.jwt"', 'option "root_operators" ' + REFUSED_TAIL),
    "trusted": ('trusted: "%s"' % OPERATOR_KEY, 'option "trusted" ' + REFUSED_TAIL),
    "trusted_keys": ('trusted_keys: ["%s"]' % OPERATOR_KEY, 'option "trusted_keys" ' + REFUSED_TAIL),
    "resolver": ("resolver: MEMORY", 'option "resolver" ' + REFUSED_TAIL),
    "account_resolver": ('account_resolver: {type: full, dir: "jwt"}',
                         'option "account_resolver" ' + REFUSED_TAIL),
    "resolver_tls": ("resolver_tls: @TLS@", 'option "resolver_tls" ' + REFUSED_TAIL),
    "resolver_preload": ("resolver_preload: {}", 'option "resolver_preload" ' + REFUSED_TAIL),
    "resolver_pinned_accounts": ("resolver_pinned_accounts: []",
                                 'option "resolver_pinned_accounts" ' + REFUSED_TAIL),
    "ocsp_always_with_tls": ("tls: @TLS@\nocsp: {mode: always}", 'option "ocsp" ' + REFUSED_TAIL),
    "ocsp_must_cluster_must_staple": (
        'ocsp: {mode: must}\ncluster { listen: "127.0.0.1:@PORT_CL@", tls: @MUSTTLS@ }',
        'option "ocsp" ' + REFUSED_TAIL),
    "must_staple_certificate": ("tls: @MUSTTLS@",
                                "the OCSP Must-Staple certificate \"@MUST@\" " + REFUSED_TAIL),
    "account_max_connections": (
        "accounts { A { users: [{user: a, password: a}], limits: {max_connections: 1} } }",
        'option "max_connections" in the limits of account "A" ' + REFUSED_TAIL),
    "account_max_subs": (
        "accounts { A { users: [{user: a, password: a}], limits: {max_subs: 10} } }",
        'option "max_subs" in the limits of account "A" ' + REFUSED_TAIL),
    "account_max_payload": (
        "accounts { A { users: [{user: a, password: a}], limits: {max_payload: 64} } }",
        'option "max_payload" in the limits of account "A" ' + REFUSED_TAIL),
    "negative_max_control_line": ("max_control_line: -1",
                                  "max_control_line value can not be negative"),
}

# id -> (configuration lines, the option the start-up warning names, the
# @PORT_X@ names of listeners nats-server would open and natsd must not).
HARMLESS = {
    "leafnodes_with_authorization": (
        'leafnodes { listen: "127.0.0.1:@PORT_LN@", '
        "authorization { user: leaf, password: secret } }",
        "leafnodes", ["LN"]),
    "websocket_with_authorization": (
        'websocket { listen: "127.0.0.1:@PORT_WS@", no_tls: true, '
        "authorization { token: secret } }",
        "websocket", ["WS"]),
    "mqtt": ('mqtt { listen: "127.0.0.1:@PORT_MQ@" }', "mqtt", ["MQ"]),
    "jetstream": ('jetstream { store_dir: "js", max_memory_store: 1MB }', "jetstream", []),
    "account_jetstream": (
        "accounts { A { users: [{user: a, password: a}], jetstream: {max_mem: 1MB} } }",
        "jetstream", []),
    "ocsp_off_with_tls": ("tls: @TLS@\nocsp: false", "ocsp", []),
    "ocsp_off_must_staple": ("tls: @MUSTTLS@\nocsp: {mode: never}", "ocsp", []),
    "ocsp_auto_plain_certificate": ("tls: @TLS@\nocsp: true", "ocsp", []),
    "ocsp_without_tls": ("ocsp: {mode: always}", "ocsp", []),
    "account_mappings": ("accounts { A { users: [{user: a, password: a}], mappings: {a: b} } }",
                         "mappings", []),
    "default_js_domain": ("default_js_domain: {}", "default_js_domain", []),
    "store_dir": ('store_dir: "js"', "store_dir", []),
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """make_test_certs(), plus must.pem / must-key.pem: a server certificate
    from the same CA with the TLS Feature status_request (OCSP Must-Staple)."""
    d = harness.make_test_certs(tmp_path_factory.mktemp("certs"))
    with open(os.path.join(d, "must.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "tlsfeature=status_request\n")
    for args in (["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                  "-keyout", "must-key.pem", "-out", "must.csr"],
                 ["x509", "-req", "-in", "must.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                  "-CAcreateserial", "-days", "30", "-extfile", "must.ext", "-out", "must.pem"]):
        subprocess.run(["openssl"] + args, cwd=d, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    return d


def tls_block(certs, leaf="server"):
    return '{cert_file: "%s", key_file: "%s"}' % (os.path.join(certs, leaf + ".pem"),
                                                  os.path.join(certs, leaf + "-key.pem"))


def body(text, certs):
    return (text.replace("@TLS@", tls_block(certs))
            .replace("@MUSTTLS@", tls_block(certs, "must"))
            .replace("@MUST@", os.path.join(certs, "must.pem")))


def natsd_process(tmp_path, name, conf, **kw):
    """A ServerProcess for natsd (not started): its file has @PORT@ and every
    @PORT_X@ substituted."""
    return harness.ServerProcess("natsd", tmp_path / name, conf=conf, name=name, **kw)


def run_natsd(srv, *extra, timeout=15):
    try:
        p = run_binary(srv.binary, srv.command()[1:] + list(extra), cwd=srv.dir, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("natsd kept running with a configuration it must refuse:\n%s" % srv.conf_text)
    assert p.returncode >= 0, "natsd died of signal %d\n%s" % (-p.returncode, describe_run(p))
    assert not sanitizer_lines(p.stdout + p.stderr), describe_run(p)
    return p


def info(conn):
    return json.loads(conn.info[5:].decode())


def error_line(p):
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("natsd: ")]
    assert lines, "no 'natsd: ' line\n%s" % describe_run(p)
    return lines[0]


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_at_start(case, certs, tmp_path):
    text, want = REFUSED[case]
    want = body(want, certs)
    srv = natsd_process(tmp_path, case, "port: @PORT@\n" + body(text, certs) + "\n")
    p = run_natsd(srv)
    assert p.returncode == 1, describe_run(p)
    line = error_line(p)
    assert want in line, "want %r in %r\n%s" % (want, line, describe_run(p))
    if want.startswith("option"):
        # the message points at the file, where the option is written
        assert line.startswith("natsd: %s:" % srv.conf_path), line
    assert not port_open(srv.port), "natsd listened with a refused configuration"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_by_check(case, certs, tmp_path):
    text, want = REFUSED[case]
    want = body(want, certs)
    srv = natsd_process(tmp_path, case, "port: @PORT@\n" + body(text, certs) + "\n")
    p = run_natsd(srv, "-t")
    assert p.returncode == 1, describe_run(p)
    assert "is valid" not in p.stderr, describe_run(p)
    assert want in error_line(p), describe_run(p)


def _reload_refused(server_factory, certs, case, send):
    text, want = REFUSED[case]
    want = body(want, certs)
    base = "port: @PORT@\nmax_payload: 1024\n"
    srv = server_factory("natsd", conf=base,
                         expect_errors=[r"Failed to reload server configuration: "])
    c = connected(srv.port)
    assert info(c)["max_payload"] == 1024
    # one reloadable change and the refused option, together
    new = base.replace("1024", "4096") + body(text, certs) + "\n"
    new = new.replace("@PORT@", str(srv.port))
    new = re.sub(r"@PORT_[A-Z]+@", lambda m: str(harness.free_port()), new)
    with open(srv.conf_path, "w") as f:
        f.write(new)
    send(srv)
    srv.wait_log(r"Failed to reload server configuration: ")
    line = [ln for ln in srv.log_text().splitlines()
            if "Failed to reload server configuration" in ln][0]
    assert want in line, line
    assert "Reloaded server configuration" not in srv.log_text()
    assert "Reloaded: max_payload" not in srv.log_text(), "part of a refused reload applied"
    # still serving, with the old configuration, to the old and to new clients
    assert c.sync() == []
    c.close()
    c2 = connected(srv.port)
    assert info(c2)["max_payload"] == 1024, "a refused reload changed max_payload"
    c2.close()
    return srv


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_on_reload(case, certs, server_factory):
    _reload_refused(server_factory, certs, case, lambda srv: os.kill(srv.pid, signal.SIGHUP))


def test_refused_on_signal_reload(certs, server_factory, natsd_bin):
    """The same through `natsd --signal reload=<pid>`; then the file is put
    right and the next reload applies."""

    def send(srv):
        p = run_binary(natsd_bin, ["--signal", "reload=%d" % srv.pid], timeout=15)
        assert p.returncode == 0, describe_run(p)

    srv = _reload_refused(server_factory, certs, "trusted", send)
    with open(srv.conf_path, "w") as f:
        f.write("port: %d\nmax_payload: 4096\n" % srv.port)
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_log(r"Reloaded server configuration")
    c = connected(srv.port)
    assert info(c)["max_payload"] == 4096
    c.close()


@pytest.mark.interop
def test_must_staple_certificate_stops_nats_server_too(certs, tmp_path, nats_server_bin):
    """nats-server does not run a Must-Staple certificate without OCSP either
    (here it has no responder to ask): natsd's refusal matches it."""
    conf = "port: @PORT@\ntls: %s\n" % tls_block(certs, "must")
    srv = harness.ServerProcess("nats-server", tmp_path / "ns", conf=conf, name="ns",
                                binary=nats_server_bin)
    try:
        p = run_binary(nats_server_bin, srv.command()[1:], cwd=srv.dir, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("nats-server ran with a Must-Staple certificate and no OCSP responder")
    assert p.returncode == 1, describe_run(p)
    assert "ocsp" in p.stderr.lower(), describe_run(p)


@pytest.mark.interop
def test_operator_mode_requires_credentials_in_nats_server(server_factory):
    """Why natsd must refuse operator mode: under it nats-server admits no
    client without a user JWT, and a natsd that ignored it would admit all."""
    srv = server_factory("nats-server",
                         conf="port: @PORT@\ntrusted: \"%s\"\nresolver: MEMORY\n" % OPERATOR_KEY,
                         expect_errors=[r"authentication error"])
    c = Conn(srv.port)
    assert info(c).get("auth_required") is True
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
    assert c.until_close() == [b"-ERR 'Authorization Violation'\r\n"]


# --------------------------------------------------------------------------- harmless


@pytest.mark.parametrize("case", sorted(HARMLESS))
def test_harmless_is_a_warning(case, certs, server_factory):
    text, option, listeners = HARMLESS[case]
    srv = server_factory("natsd", conf="port: @PORT@\n" + body(text, certs) + "\n")
    srv.wait_log(r'\[WRN\] Option "%s" is not supported by natsd and is ignored' % option)
    for name in listeners:
        assert not port_open(srv.ports[name]), "natsd listens on the %s port" % name
    if "TLS@" in text:
        srv.expect_error(r"TLS handshake error")
        c = Conn(srv.port)  # the INFO, then the client would start TLS
        assert info(c)["tls_required"] is True
        c.close()
        return
    creds = {"user": "a", "pass": "a"} if "users:" in text else {}
    assert connected(srv.port, **creds).sync() == []


@pytest.mark.parametrize("case", sorted(HARMLESS))
def test_harmless_passes_check(case, certs, tmp_path):
    text, _, _ = HARMLESS[case]
    srv = natsd_process(tmp_path, case, "port: @PORT@\n" + body(text, certs) + "\n")
    p = run_natsd(srv, "-t")
    assert p.returncode == 0, describe_run(p)
    assert "natsd: configuration file %s is valid" % srv.conf_path in p.stderr, describe_run(p)


def test_jetstream_flags_are_a_warning(server_factory):
    srv = server_factory("natsd", conf="port: @PORT@\n", args=["-js", "-sd", "js"])
    srv.wait_log(r'\[WRN\] Option "js" is not supported by natsd and is ignored')
    srv.wait_log(r'\[WRN\] Option "sd" is not supported by natsd and is ignored')
    assert connected(srv.port).sync() == []


def test_max_control_line_zero_is_the_default(server_factory):
    """0 means the default (4096), as in nats-server, not "no limit"."""
    srv = server_factory("natsd", conf="port: @PORT@\nmax_control_line: 0\n",
                         expect_errors=PROTO_ERR_LOGS)
    c = connected(srv.port)
    c.send(b"SUB " + b"a" * 5000 + b" 1\r\n")
    assert c.until_close() == [b"-ERR 'maximum control line exceeded'\r\n"]
