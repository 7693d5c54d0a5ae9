"""Configuration conformance and command-line tests.

(a) Every conf_corpus/*.conf is checked with `nats-server -t -c F` and
    `natsd -t -c F` in a copy of the corpus that has freshly generated
    certificates in certs/; both must match the file's `# expect:` line, and
    for a curated subset natsd must print nats-server's error text.
(b) Command-line behaviour (flags, exit codes, messages), natsd next to
    nats-server where handy.
(c) Hostile input: natsd must fail cleanly (one `natsd: ` line naming the
    file, exit 1, no crash, no sanitizer report) within a timeout.
"""

import os
import random
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import natsd as harness
from natsd import describe_run, free_port, run_binary, sanitizer_lines

CORPUS_DIR = Path(__file__).resolve().parent / "conf_corpus"
CORPUS_FILES = sorted(p.name for p in CORPUS_DIR.glob("*.conf"))
EXPECT_RE = re.compile(r"^# expect: (valid|invalid)\s*$")
# natsd's own verdict where it must differ from nats-server's (a file that
# asks for something natsd does not enforce, and so refuses): a comment line
# "# natsd-expect: invalid: <why>" among the file's leading comments.
NATSD_EXPECT_RE = re.compile(r"^# natsd-expect: (valid|invalid): \S")

# Environment seen by both servers for every corpus file (syn_env_*.conf).
CORPUS_ENV = {"CORPUS_ENV_PORT": "4333", "CORPUS_ENV_NAME": "envname"}

CHECK_TIMEOUT = 30  # seconds for one -t run (scaled for sanitizer builds)

# nats-server 2.9.10's error text (what follows "nats-server: ") for corpus
# files that fail with exactly one, deterministic error. natsd must print the
# same text after "natsd: " (parse errors may carry a file:line:col prefix in
# natsd; the text must still be there verbatim).
CURATED_ERRORS = {
    'accounts_reserved_global.conf':
        'accounts_reserved_global.conf:3:5: "$G" is a Reserved Account',
    'accounts_unknown_key.conf':
        'accounts_unknown_key.conf:3:44: unknown field "colour"',
    'authz_duplicate_user.conf':
        'authz_duplicate_user.conf:2:1: Duplicate user "a" detected',
    'authz_permission_unknown_key.conf':
        'authz_permission_unknown_key.conf:4:72: Unknown field name "bogus" parsing subject permissions, only \'allow\' or \'deny\' are permitted',
    'authz_user_and_token.conf':
        'authz_user_and_token.conf:2:1: Cannot have a user/pass and token',
    'cluster_auth_token.conf':
        'cluster_auth_token.conf:5:5: Cluster authorization does not support tokens',
    'cluster_auth_users.conf':
        'cluster_auth_users.conf:5:5: Cluster authorization does not allow multiple users',
    'cluster_dup_routes.conf':
        'cluster_dup_routes.conf:6:41: invalid use of field "nats://127.0.0.1:6223": Duplicate route entry detected',
    'cluster_not_map.conf':
        'cluster_not_map.conf:2:1: Expected map to define cluster, got string',
    'cluster_pool_size.conf':
        'cluster_pool_size.conf:6:5: unknown field "pool_size"',
    'cluster_routes_string.conf':
        'cluster_routes_string.conf:6:5: interface conversion: interface {} is string, not []interface {}',
    'cluster_unknown_key.conf':
        'cluster_unknown_key.conf:5:5: unknown field "compression"',
    'gw_auth_token.conf':
        'gw_auth_token.conf:5:5: Gateway authorization does not support tokens',
    'gw_auth_users.conf':
        'gw_auth_users.conf:5:5: Gateway authorization does not allow multiple users',
    'gw_bad_url.conf':
        'gw_bad_url.conf:5:27: error parsing gateway url ["nats://127.0.0.1:7333:99%zz"]',
    'gw_dup_urls.conf':
        'gw_dup_urls.conf:7:52: invalid use of field "nats://127.0.0.1:7333": Duplicate gateway entry detected',
    'gw_entry_not_map.conf':
        'gw_entry_not_map.conf:5:18: Expected gateway entry to be a map/struct, got nats://127.0.0.1:7333',
    'gw_entry_unknown_key.conf':
        'gw_entry_unknown_key.conf:6:49: unknown field "weight"',
    'gw_gateways_not_array.conf':
        'Expected gateways field to be an array, got map[string]interface {}',
    'gw_int.conf':
        'gw_int.conf:2:1: Expected gateway to be a map, got int64',
    'gw_tls_unknown_key.conf':
        'gw_tls_unknown_key.conf:8:9: error parsing tls config, unknown field ["verify_depth"]',
    'gw_unknown_key.conf':
        'gw_unknown_key.conf:5:5: unknown field "pool_size"',
    'lex_datetime.conf':
        'lex_datetime.conf:3:1: interface conversion: interface {} is time.Time, not string',
    'lex_exponent.conf':
        "Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got '3' instead.'",
    'lex_float_port.conf':
        'lex_float_port.conf:2:1: interface conversion: interface {} is float64, not int64',
    'lex_hex.conf':
        'lex_hex.conf:3:1: interface conversion: interface {} is string, not int64',
    'lex_int_hash.conf':
        "Parse error on line 3: 'Expected a top-level value to end with a new line, comment or EOF, but got 'c' instead.'",
    'lex_int_out_of_range.conf':
        "integer '99999999999999999999999' is out of the range",
    'lex_leading_dot_float.conf':
        "Parse error on line 2: 'Floats must start with a digit'",
    'lex_ping_interval_1m.conf':
        'lex_ping_interval_1m.conf:3:1: invalid use of field "ping_interval": ping_interval should be converted to a duration',
    'lex_write_deadline_1m30s.conf':
        "Parse error on line 3: 'Expected a top-level value to end with a new line, comment or EOF, but got '3' instead.'",
    'syn_array_semicolon.conf':
        'Parse error on line 2: \'Expected an array value terminator "," or an array terminator "]", but got \';\' instead.\'',
    'syn_bad_escape.conf':
        'Parse error on line 2: \'Invalid escape character \'q\'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\", \\\\.\'',
    'syn_bare_tab.conf':
        "Parse error on line 3: 'Expected a top-level value to end with a new line, comment or EOF, but got 's' instead.'",
    'syn_duration_int_warning.conf':
        'syn_duration_int_warning.conf:3:1: invalid use of field "ping_interval": ping_interval should be converted to a duration',
    'syn_env_var_type.conf':
        'syn_env_var_type.conf:3:1: interface conversion: interface {} is string, not int64',
    'syn_include_missing.conf':
        "error parsing include file 'inc/no-such-file.inc', open inc/no-such-file.inc: no such file or directory",
    'syn_include_parent_var.conf':
        "error parsing include file 'inc/uses-parent-var.inc', variable reference for 'PARENT_VAR' on line 1 can not be found",
    'syn_trailing_garbage.conf':
        "Parse error on line 2: 'Expected a top-level value to end with a new line, comment or EOF, but got 'e' instead.'",
    'syn_unterminated_map.conf':
        "Parse error on line 5: 'Unexpected EOF processing map.'",
    'syn_unterminated_string.conf':
        "Parse error on line 3: 'Unexpected EOF.'",
    'syn_unused_variable.conf':
        'syn_unused_variable.conf:3:1: unknown field "UNUSED"',
    'syn_variable_before_definition.conf':
        "variable reference for 'P' on line 3 can not be found",
    'syn_variable_undefined.conf':
        "variable reference for 'NO_SUCH_VARIABLE_ANYWHERE' on line 2 can not be found",
    'tls_bad_cipher.conf':
        'tls_bad_cipher.conf:5:22: unrecognized cipher TLS_RSA_WITH_BOGUS_SHA',
    'tls_bad_curve.conf':
        'tls_bad_curve.conf:5:26: unrecognized curve preference P999',
    'tls_bad_pinned.conf':
        "tls_bad_pinned.conf:5:21: error parsing tls config, 'pinned_certs' key not-hex does not look like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo",
    'tls_missing_ca_file.conf':
        'tls_missing_ca_file.conf:2:1: open certs/no-such-ca.pem: no such file or directory',
    'tls_missing_cert_file.conf':
        'tls_missing_cert_file.conf:2:1: error parsing X509 certificate/key pair: open certs/does-not-exist.pem: no such file or directory',
    'tls_no_key.conf':
        "tls_no_key.conf:2:1: missing 'key_file' in TLS configuration",
    'tls_not_map.conf':
        'tls_not_map.conf:2:1: interface conversion: interface {} is bool, not map[string]interface {}',
    'tls_unknown_key.conf':
        'tls_unknown_key.conf:5:5: error parsing tls config, unknown field ["min_version"]',
    'tls_unquoted_dot_path.conf':
        "Parse error on line 4: 'Floats must start with a digit'",
    'top_unknown_key.conf':
        'top_unknown_key.conf:3:1: unknown field "foo"',
    'top_unknown_nested.conf':
        'top_unknown_nested.conf:3:3: unknown field "bogus_option"',
    'type_debug_string.conf':
        'type_debug_string.conf:3:1: interface conversion: interface {} is string, not bool',
    'type_lame_duck_short.conf':
        'type_lame_duck_short.conf:2:1: invalid lame_duck_duration of 1s, minimum is 30 seconds',
    'type_max_payload_too_big.conf':
        'type_max_payload_too_big.conf:2:1: max_payload value is too big',
    'type_max_sub_tokens_too_big.conf':
        'type_max_sub_tokens_too_big.conf:2:1: max_sub_tokens value is too big',
    'type_port_string.conf':
        'type_port_string.conf:2:1: interface conversion: interface {} is string, not int64',
}


# --------------------------------------------------------------------------- helpers


def expectation(path):
    """'valid' or 'invalid' from the file's first line, or None."""
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", "replace")
    m = EXPECT_RE.match(first.rstrip("\r\n"))
    return m.group(1) if m else None


def natsd_expectation(path):
    """natsd's verdict: the file's natsd-expect line, else its expect line."""
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.startswith("#"):
                break
            m = NATSD_EXPECT_RE.match(line)
            if m:
                return m.group(1)
    return expectation(path)


def corpus_env():
    env = dict(os.environ)
    env.update(CORPUS_ENV)
    return env


def prefixed_lines(text, prefix):
    return [ln for ln in text.splitlines() if ln.startswith(prefix)]


def assert_no_crash(p, what):
    """No signal death, no sanitizer text."""
    assert p.returncode >= 0, "%s died of signal %d\n%s" % (what, -p.returncode, describe_run(p))
    san = sanitizer_lines(p.stdout + p.stderr)
    assert not san, "%s: sanitizer output\n%s" % (what, describe_run(p))


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory):
    """A copy of conf_corpus/ with generated certificates in certs/."""
    d = tmp_path_factory.mktemp("corpus") / "conf_corpus"
    shutil.copytree(CORPUS_DIR, d)
    harness.make_test_certs(d / "certs")
    return d


_ref_cache = {}


def reference_check(corpus_copy, name):
    """`nats-server -t -c name` in the corpus copy (cached per session)."""
    if name not in _ref_cache:
        _ref_cache[name] = run_binary(harness.nats_server_bin(), ["-t", "-c", name],
                                      cwd=corpus_copy, env=corpus_env(), timeout=CHECK_TIMEOUT)
    return _ref_cache[name]


def natsd_check(natsd_bin, corpus_copy, name):
    try:
        return run_binary(natsd_bin, ["-t", "-c", name], cwd=corpus_copy, env=corpus_env(),
                          timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("natsd -t -c %s did not finish within %ss" % (name, CHECK_TIMEOUT))


def outcome(p, prog, name):
    """'valid' / 'invalid' as a config checker's run says, checking the shape of
    its output (prog is "natsd" or "nats-server")."""
    if p.returncode == 0:
        want = "%s: configuration file %s is valid" % (prog, name)
        assert want in p.stderr.splitlines(), "%s accepted %s but did not say %r\n%s" % (
            prog, name, want, describe_run(p))
        return "valid"
    assert p.returncode == 1, "%s -t -c %s exited %d (want 0 or 1)\n%s" % (
        prog, name, p.returncode, describe_run(p))
    assert prefixed_lines(p.stderr, prog + ": "), "%s rejected %s without a '%s: ' line\n%s" % (
        prog, name, prog, describe_run(p))
    return "invalid"


# --------------------------------------------------------------------------- (a) corpus


def test_corpus_size():
    assert len(CORPUS_FILES) >= 60, "conf_corpus has only %d files" % len(CORPUS_FILES)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_expect_line(name):
    exp = expectation(CORPUS_DIR / name)
    assert exp is not None, "%s: first line must be '# expect: valid' or '# expect: invalid'" % name


@pytest.mark.interop
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_reference(name, corpus_copy):
    """The corpus itself: nats-server 2.9.10 agrees with every # expect: line."""
    exp = expectation(CORPUS_DIR / name)
    p = reference_check(corpus_copy, name)
    got = outcome(p, "nats-server", name)
    assert got == exp, "nats-server says %s is %s, the file says %s\n%s" % (
        name, got, exp, describe_run(p))
    if name in CURATED_ERRORS:
        want = CURATED_ERRORS[name]
        lines = prefixed_lines(p.stderr, "nats-server: ")
        assert lines and lines[0] == "nats-server: " + want, (
            "nats-server's error for %s changed:\n want: %s\n%s" % (name, want, describe_run(p)))


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_natsd(name, natsd_bin, corpus_copy):
    """natsd -t agrees with the # expect: line (and so with nats-server), or
    with its # natsd-expect: line where natsd refuses what it cannot enforce."""
    exp = natsd_expectation(CORPUS_DIR / name)
    assert exp is not None, "%s has no # expect: line" % name
    p = natsd_check(natsd_bin, corpus_copy, name)
    assert_no_crash(p, "natsd -t -c %s" % name)
    got = outcome(p, "natsd", name)
    ref = ""
    if harness.nats_server_bin():
        rp = reference_check(corpus_copy, name)
        ref = "\n--- nats-server ---\n" + describe_run(rp)
    assert got == exp, "natsd says %s is %s, expected %s\n--- natsd ---\n%s%s" % (
        name, got, exp, describe_run(p), ref)


@pytest.mark.parametrize("name", sorted(CURATED_ERRORS))
def test_corpus_natsd_error_text(name, natsd_bin, corpus_copy):
    """natsd prints nats-server's error text after its own `natsd: ` prefix."""
    p = natsd_check(natsd_bin, corpus_copy, name)
    assert_no_crash(p, "natsd -t -c %s" % name)
    want = CURATED_ERRORS[name]
    lines = prefixed_lines(p.stderr, "natsd: ")
    assert any(want in ln for ln in lines), (
        "natsd's error for %s differs from nats-server's\n want (after 'natsd: '): %s\n%s"
        % (name, want, describe_run(p)))


def test_curated_files_exist():
    missing = [n for n in CURATED_ERRORS if n not in CORPUS_FILES]
    assert not missing, "curated names without a corpus file: %s" % missing
    valid = [n for n in CURATED_ERRORS if expectation(CORPUS_DIR / n) != "invalid"]
    assert not valid, "curated error files must expect invalid: %s" % valid


# Start-time validations (not done by -t): the server must refuse to start.
STARTUP_CASES = {
    "gateway_no_name": (
        'gateway { listen: "127.0.0.1:@PORT_GW@" }',
        "gateway has no name"),
    "gateway_no_port": (
        'gateway { name: A, host: 127.0.0.1 }',
        'gateway "A" has no port specified (select -1 for random port)'),
    "gateway_entry_no_name": (
        'gateway { name: A, listen: "127.0.0.1:@PORT_GW@", gateways: [ {url: "nats://127.0.0.1:@PORT_GW2@"} ] }',
        "gateway in the list 0 has no name"),
    "gateway_entry_no_url": (
        'gateway { name: A, listen: "127.0.0.1:@PORT_GW@", gateways: [ {name: B} ] }',
        'gateway "B" has no URL'),
    "cluster_gateway_name_conflict": (
        'cluster { name: X, listen: "127.0.0.1:@PORT_CL@" }\n'
        'gateway { name: A, listen: "127.0.0.1:@PORT_GW@" }',
        "cluster name conflicts between cluster and gateway definitions"),
    "no_auth_user_unknown": (
        'authorization { users: [ {user: a, password: b} ] }\nno_auth_user: zz',
        'no_auth_user: "zz" not present as user in authorization block or account configuration'),
}


def _startup_failure(kind, binary, conf, tmp_path):
    """Write conf (ports substituted) and start the server; it must exit 1 by
    itself. Returns the CompletedProcess."""
    srv = harness.ServerProcess(kind, tmp_path / kind, conf=conf, name=kind, binary=binary)
    try:
        p = run_binary(binary, srv.command()[1:], cwd=srv.dir, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("%s started with a config it must refuse:\n%s" % (kind, srv.conf_text))
    return p


@pytest.mark.spawns
@pytest.mark.parametrize("case", sorted(STARTUP_CASES))
@pytest.mark.parametrize("kind", ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)])
def test_startup_validation(kind, case, request, tmp_path):
    binary = request.getfixturevalue("natsd_bin" if kind == "natsd" else "nats_server_bin")
    conf, msg = STARTUP_CASES[case]
    p = _startup_failure(kind, binary, conf, tmp_path)
    assert_no_crash(p, kind)
    assert p.returncode == 1, describe_run(p)
    assert "%s: %s" % (kind, msg) in p.stderr, "want %r\n%s" % ("%s: %s" % (kind, msg),
                                                               describe_run(p))


# --------------------------------------------------------------------------- (b) CLI

BOTH = ["natsd", pytest.param("nats-server", marks=pytest.mark.interop)]


@pytest.fixture
def prog(request):
    """(binary, program name) for the kind parameter."""
    kind = request.param if hasattr(request, "param") else "natsd"
    binary = request.getfixturevalue("natsd_bin" if kind == "natsd" else "nats_server_bin")
    return binary, kind


def cli(binary, *args, cwd=None, timeout=15):
    try:
        p = run_binary(binary, list(args), cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("%s %s did not exit within %ss" % (binary, " ".join(args), timeout))
    assert_no_crash(p, "%s %s" % (binary, " ".join(args)))
    return p


@pytest.mark.parametrize("flag", ["-v", "--version", "version"])
def test_version(natsd_bin, flag):
    p = cli(natsd_bin, flag)
    assert p.returncode == 0, describe_run(p)
    assert re.match(r"^natsd: v\d+\.\d+\.\d+", p.stdout), describe_run(p)


@pytest.mark.interop
@pytest.mark.parametrize("flag", ["-v", "--version", "version"])
def test_version_reference(nats_server_bin, flag):
    p = cli(nats_server_bin, flag)
    assert p.returncode == 0 and p.stdout.startswith("nats-server: v2.9.10"), describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
@pytest.mark.parametrize("flag", ["-h", "--help", "help"])
def test_help(prog, flag):
    binary, name = prog
    p = cli(binary, flag)
    assert p.returncode == 0, describe_run(p)
    assert "Usage: %s [options]" % name in p.stdout, describe_run(p)
    assert "-c, --config" in p.stdout, describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
@pytest.mark.parametrize("flag", ["-bogus", "--bogus"])
def test_unknown_flag(prog, flag):
    binary, name = prog
    p = cli(binary, "-a", "127.0.0.1", "-p", str(free_port()), flag)
    # Go's flag package: message, usage, and the usage function exits 0.
    assert p.returncode == 0, describe_run(p)
    assert "flag provided but not defined: -bogus" in p.stderr.splitlines(), describe_run(p)
    assert "Usage: %s [options]" % name in p.stdout, describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
@pytest.mark.parametrize("args", [["-p", "abc"], ["-p=abc"]])
def test_bad_flag_value(prog, args):
    binary, _ = prog
    p = cli(binary, "-a", "127.0.0.1", *args)
    assert p.returncode == 0, describe_run(p)
    assert 'invalid value "abc" for flag -p: parse error' in p.stderr.splitlines(), describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
def test_bad_flag_value_long(prog):
    binary, _ = prog
    p = cli(binary, "-a", "127.0.0.1", "--port", "abc")
    assert p.returncode == 0, describe_run(p)
    assert 'invalid value "abc" for flag -port: parse error' in p.stderr.splitlines(), describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
def test_check_without_config(prog):
    binary, name = prog
    p = cli(binary, "-t")
    assert p.returncode == 1, describe_run(p)
    assert p.stderr.splitlines()[:1] == [
        "%s: must specify [-c, --config] option to check configuration file syntax" % name
    ], describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
@pytest.mark.parametrize("args", [["-c", "/nonexistent"], ["-t", "-c", "/nonexistent"],
                                  ["--config=/nonexistent"]])
def test_missing_config_file(prog, args):
    binary, name = prog
    p = cli(binary, *(args + ["-a", "127.0.0.1", "-p", str(free_port())]))
    assert p.returncode == 1, describe_run(p)
    assert "%s: open /nonexistent: no such file or directory" % name in p.stderr.splitlines(), \
        describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
def test_unrecognized_command(prog):
    binary, name = prog
    p = cli(binary, "foo")
    assert p.returncode == 1, describe_run(p)
    assert '%s: unrecognized command: "foo"' % name in p.stderr.splitlines(), describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
@pytest.mark.parametrize("args", [
    ["-t", "-c", "ok.conf"],
    ["--t", "--c", "ok.conf"],
    ["-c", "ok.conf", "-t"],
    ["-config", "ok.conf", "-t"],
    ["--config", "ok.conf", "-t"],
    ["-c=ok.conf", "-t"],
    ["--config=ok.conf", "--t"],
    ["-t=true", "-c", "ok.conf"],
])
def test_check_flag_forms(prog, args, tmp_path):
    binary, name = prog
    (tmp_path / "ok.conf").write_text("port: 4222\n")
    p = cli(binary, *args, cwd=tmp_path)
    assert p.returncode == 0, describe_run(p)
    assert "%s: configuration file ok.conf is valid" % name in p.stderr.splitlines(), describe_run(p)


@pytest.mark.parametrize("prog", BOTH, indirect=True)
def test_check_reports_invalid(prog, tmp_path):
    binary, name = prog
    (tmp_path / "bad.conf").write_text("port: 4222\nfoo: 1\n")
    p = cli(binary, "-t", "-c", "bad.conf", cwd=tmp_path)
    assert p.returncode == 1, describe_run(p)
    assert prefixed_lines(p.stderr, name + ": ")[:1] == [
        '%s: bad.conf:2:1: unknown field "foo"' % name], describe_run(p)


@pytest.mark.spawns
@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("form", ["-p=N", "-p N", "--port=N", "--port N"])
def test_port_flag_forms(kind, form, server_factory):
    port = free_port()
    flag, sep, _ = form.partition("=") if "=" in form else form.partition(" ")
    args = [flag + "=" + str(port)] if sep == "=" else [flag, str(port)]
    s = server_factory(kind, args=args + ["-a", "127.0.0.1"], port=port)
    assert s.port == port
    assert "Listening for client connections on 127.0.0.1:%d" % port in s.log_text()


@pytest.mark.spawns
@pytest.mark.threaded
@pytest.mark.parametrize("kind", BOTH)
def test_flags_override_file(kind, server_factory):
    file_port, flag_port = free_port(), free_port()
    conf = "port: %d\nnet: 127.0.0.2\n" % file_port
    s = server_factory(kind, conf=conf, args=["-p", str(flag_port), "-a", "127.0.0.1"],
                       port=flag_port)
    log = s.log_text()
    assert "Listening for client connections on 127.0.0.1:%d" % flag_port in log, log
    assert "Using configuration file: %s" % s.conf_path in log, log
    assert not harness.port_open(file_port, "127.0.0.1")
    assert not harness.port_open(file_port, "127.0.0.2")
    assert not harness.port_open(flag_port, "127.0.0.2")


@pytest.mark.spawns
@pytest.mark.threaded
@pytest.mark.parametrize("kind", BOTH)
def test_listen_from_file(kind, server_factory):
    """Without flags the file decides: listen host:port."""
    s = server_factory(kind, conf='listen: "127.0.0.1:@PORT@"\n')
    assert "Listening for client connections on 127.0.0.1:%d" % s.port in s.log_text()


@pytest.mark.spawns
@pytest.mark.threaded
@pytest.mark.parametrize("kind", BOTH)
def test_sigterm_exit(kind, server_factory):
    """SIGTERM shuts down with 'Server Exiting..' (status 1 as nats-server)."""
    s = server_factory(kind)
    rc = s.stop(signal.SIGTERM)
    assert rc == 1, "exit status %s after SIGTERM\n%s" % (rc, s.log_text())
    assert "Server Exiting.." in s.log_text()


# --------------------------------------------------------------------------- (c) hostile input


def _write_bad_inputs(d):
    """name -> (file to pass to -c, files it may name, line number it should
    name or None). Files are written into d."""
    d = Path(d)
    rnd = random.Random(20240229)
    cases = {}

    garbage = bytes(rnd.randrange(256) for _ in range(64 * 1024))
    garbage = b"\x00\xff{[\"(" + garbage  # starts with a NUL: not text at all
    (d / "garbage.conf").write_bytes(garbage)
    cases["binary_garbage"] = ("garbage.conf", ["garbage.conf"], None)

    with open(d / "longline.conf", "w") as f:
        f.write("server_name: " + "a" * (10 * 1024 * 1024) + " x\n")
    cases["ten_mb_line"] = ("longline.conf", ["longline.conf"], 1)

    (d / "unterm_string.conf").write_text('port: 4222\nserver_name: "abc\n')
    cases["unterminated_string"] = ("unterm_string.conf", ["unterm_string.conf"], None)
    (d / "unterm_block.conf").write_text("port: 4222\nserver_name: (\n  abc\n")
    cases["unterminated_block"] = ("unterm_block.conf", ["unterm_block.conf"], None)
    (d / "unterm_map.conf").write_text('cluster {\n  name: C\n  listen: "127.0.0.1:6222"\n')
    cases["unterminated_map"] = ("unterm_map.conf", ["unterm_map.conf"], None)
    (d / "unterm_array.conf").write_text("server_tags: [a, b\n")
    cases["unterminated_array"] = ("unterm_array.conf", ["unterm_array.conf"], None)

    (d / "loop_a.conf").write_text("port: 4222\ninclude loop_b.conf\n")
    (d / "loop_b.conf").write_text("ping_max: 3\ninclude loop_a.conf\n")
    cases["include_loop"] = ("loop_a.conf", ["loop_a.conf", "loop_b.conf"], None)
    (d / "self_include.conf").write_text("include self_include.conf\n")
    cases["include_self"] = ("self_include.conf", ["self_include.conf"], 1)

    (d / "missing_include.conf").write_text("port: 4222\ninclude \"nope/missing.inc\"\n")
    cases["missing_include"] = ("missing_include.conf", ["missing_include.conf", "missing.inc"], None)

    (d / "deep_maps.conf").write_text("a " + "{ b " * 10000 + "}" * 10000 + "\n")
    cases["deep_maps"] = ("deep_maps.conf", ["deep_maps.conf"], 1)
    (d / "deep_arrays.conf").write_text("server_tags: " + "[" * 10000 + "]" * 10000 + "\n")
    cases["deep_arrays"] = ("deep_arrays.conf", ["deep_arrays.conf"], 1)

    (d / "int_range.conf").write_text("port: 4222\nmax_payload: 99999999999999999999999\n")
    cases["int_out_of_range"] = ("int_range.conf", ["int_range.conf"], 2)
    (d / "int_suffix_range.conf").write_text("max_pending: 9000000EB\n")
    cases["int_suffix_overflow"] = ("int_suffix_range.conf", ["int_suffix_range.conf"], 1)
    return cases


BAD_CASES = [
    "binary_garbage", "ten_mb_line", "unterminated_string", "unterminated_block",
    "unterminated_map", "unterminated_array", "include_loop", "include_self", "missing_include",
    "deep_maps", "deep_arrays", "int_out_of_range", "int_suffix_overflow"]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_inputs")
    return d, _write_bad_inputs(d)


@pytest.mark.spawns
@pytest.mark.parametrize("mode", ["check", "start"])
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input(case, mode, natsd_bin, bad_inputs):
    d, cases = bad_inputs
    conf, names, line = cases[case]
    args = ["-t", "-c", conf] if mode == "check" else ["-c", conf, "-p", str(free_port()),
                                                        "-a", "127.0.0.1"]
    try:
        p = run_binary(natsd_bin, args, cwd=d, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("natsd %s did not exit within the timeout" % " ".join(args))
    assert_no_crash(p, "natsd %s" % " ".join(args))
    assert p.returncode == 1, describe_run(p)
    errs = prefixed_lines(p.stderr, "natsd: ")
    assert len(errs) == 1, "want exactly one 'natsd: ' line\n%s" % describe_run(p)
    err = errs[0]
    assert len(err) < 4096, "error line is %d bytes long" % len(err)
    assert any(n in err for n in names), "error does not name %s: %r" % (" or ".join(names), err)
    if line is not None:
        assert re.search(r"(:%d:\d+:|line %d\b)" % (line, line), err), \
            "error does not name line %d: %r" % (line, err)
    else:
        assert re.search(r"(:\d+:\d+:|line \d+\b)", err), "error names no line: %r" % err


@pytest.mark.interop
@pytest.mark.parametrize("case", ["ten_mb_line", "unterminated_string", "unterminated_block",
                                  "unterminated_map", "unterminated_array", "missing_include",
                                  "int_out_of_range", "binary_garbage"])
def test_bad_input_reference(case, nats_server_bin, bad_inputs):
    """The same inputs are rejected by nats-server (it crashes on include loops
    and accepts 10,000-deep nesting, so those are natsd-only)."""
    d, cases = bad_inputs
    conf = cases[case][0]
    p = run_binary(nats_server_bin, ["-t", "-c", conf], cwd=d, timeout=60)
    assert p.returncode == 1 and prefixed_lines(p.stderr, "nats-server: "), describe_run(p)
