"""nkey users: INFO carries a nonce only when an nkey user is configured; a
client that signs it with its ed25519 key is admitted, a wrong or missing
signature gets -ERR 'Authorization Violation' and is closed; the same on
natsd and nats-server. Keys are made with the openssl command."""

import base64
import json
import os
import socket
import struct
import subprocess

import pytest

from natsd import nats_server_bin

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
PREFIX_USER = 20 << 3


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_nkey(prefix, key):
    raw = bytes([prefix]) + key
    raw += struct.pack("<H", crc16(raw))
    return base64.b32encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
def user_key(tmp_path_factory):
    d = tmp_path_factory.mktemp("nkey")
    key = str(d / "user.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, encode_nkey(PREFIX_USER, der[-32:]), d


def sign(key_path, workdir, nonce):
    msg = os.path.join(workdir, "nonce")
    with open(msg, "w") as f:
        f.write(nonce)
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key_path, "-rawin", "-in",
                          msg], check=True, capture_output=True).stdout
    return base64.urlsafe_b64encode(sig).decode().rstrip("=")


def read_info(sock):
    buf = b""
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        assert chunk, "closed before INFO"
        buf += chunk
    return json.loads(buf.split(b"\r\n", 1)[0][5:])


def exchange(port, connect):
    """INFO, then CONNECT built from the nonce, then PING; returns (info, reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        info = read_info(s)
        s.sendall(b"CONNECT " + json.dumps(connect(info)).encode() + b"\r\nPING\r\n")
        out = b""
        try:
            while not out.endswith(b"\r\n") or b"PONG" not in out and b"-ERR" not in out:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    return info, out


KINDS = ["natsd"] + (["nats-server"] if nats_server_bin() else [])


@pytest.mark.parametrize("kind", KINDS)
def test_nkey_user_signs_the_nonce(server_factory, user_key, kind):
    key, nkey, d = user_key
    srv = server_factory(kind, conf="authorization { users = [ {nkey: %s} ] }\n" % nkey)
    info, out = exchange(srv.port, lambda i: {"verbose": False, "nkey": nkey,
                                              "sig": sign(key, str(d), i["nonce"])})
    assert info["auth_required"] is True
    assert len(info["nonce"]) == 15
    assert out == b"PONG\r\n"


@pytest.mark.parametrize("kind", KINDS)
def test_nkey_wrong_signature_is_refused(server_factory, user_key, kind):
    key, nkey, d = user_key
    srv = server_factory(kind, conf="authorization { users = [ {nkey: %s} ] }\n" % nkey,
                         expect_errors=[r"authentication error - Nkey"])
    _, out = exchange(srv.port, lambda i: {"verbose": False, "nkey": nkey,
                                           "sig": sign(key, str(d), i["nonce"] + "x")})
    assert out == b"-ERR 'Authorization Violation'\r\n"
    _, out = exchange(srv.port, lambda i: {"verbose": False, "nkey": nkey})
    assert out == b"-ERR 'Authorization Violation'\r\n"
    log = srv.log_text()
    assert ('[ERR] 127.0.0.1:' in log and '- authentication error - Nkey "%s"' % nkey in log), \
        "the failure is logged as nats-server logs it"


@pytest.mark.parametrize("kind", KINDS)
def test_no_nonce_without_nkey_users(server_factory, kind):
    srv = server_factory(kind, conf="authorization { user: a, password: b }\n")
    info, out = exchange(srv.port, lambda i: {"verbose": False, "user": "a", "pass": "b"})
    assert "nonce" not in info
    assert out == b"PONG\r\n"
