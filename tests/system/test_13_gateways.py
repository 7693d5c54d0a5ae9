"""Gateways, byte by byte: the interop catalogue T1-T31 of
docs/protocol/gateway.md section 9, plus bad input from a peer.

Every test runs against the reference nats-server 2.9.10 (id nats-server)
and natsd (id natsd): `-k nats-server` runs the reference only. The server
under test S is `server_name: srvA1` with `gateway { name: A }`; a fake gateway
peer F (gwpeer.py) plays cluster X, either connecting to S's gateway port (S's
inbound) or listening so that S connects to it (S's outbound). C is a raw
client of S.

Exact bytes are asserted where the document gives them, with S's server_id
and the ports substituted. Timing facts (the first PING about 1 s after
CONNECT, staleness after three ping intervals, reconnects one second apart)
are checked by order and occurrence with generous timeouts, never by
measured elapsed time. After every bad-input case the server must still
serve a normal client.

Two inputs crash the reference (section 1.1 and T34): A+/A- on a connection
the peer opened, and an RMSG without interest on a connection the server
opened. They are skipped for nats-server; natsd must answer them with an
-ERR and a close, and keep running.
"""

import json
import ssl

import pytest

from gwpeer import (Closed, GwConn, GwError, GwListener, b64, check_alive, client, cmd_info,
                    dumps, h6, http_json, old_hash, peer_info, pending_msgs, ref_cmd_info,
                    ref_gossip_info, routed_reply, stays, wait_until)
from natsd import free_port, make_test_certs

KINDS = [pytest.param("nats-server", id="nats-server", marks=pytest.mark.interop),
         pytest.param("natsd", id="natsd", marks=pytest.mark.threaded)]

# A peer that closes while S still writes to it (an RS- for a client that
# just left, a PING) makes S log a write error.
WRITE_ERRS = [r"Error flushing", r"[Bb]roken pipe", r"[Cc]onnection reset",
              # a fake peer that listened has gone: the server's redial fails
              r"Error connecting to implicit gateway"]

pytestmark = [pytest.mark.spawns, pytest.mark.parametrize("kind", KINDS),
              pytest.mark.expect_errors(*WRITE_ERRS)]

# [ERR] lines of the reference for the peer errors provoked below (natsd is
# expected to log the same texts).
AUTH_ERRS = [r"authentication error"]
SYS_RS = r"RS[+-] \$SYS "


# ----------------------------------------------------------------------------------------- helpers


def s_conf(gw_extra="", top=""):
    return ("server_name: srvA1\nlisten: 127.0.0.1:@PORT@\n%s\n"
            "gateway {\n  name: A\n  listen: 127.0.0.1:@PORT_GW@\n%s\n}\n" % (top, gw_extra))


def start_s(server_factory, kind, gw_extra="", top="", errors=(), **kw):
    return server_factory(kind, conf=s_conf(gw_extra, top), expect_errors=list(errors), **kw)


def gw_port(srv):
    return srv.ports["GW"]


def expected_info(sid, port, server_name="srvA1", extra_after_headers="", adv=None):
    """S's gateway INFO line (section 2.4), without CRLF."""
    url = adv or "127.0.0.1:%d" % port
    host, p = url.rsplit(":", 1)
    return ('INFO {"server_id":"%s","server_name":"%s","version":"2.9.10","proto":0,"go":"",'
            '"host":"%s","port":%s,"headers":true,%s"max_payload":1048576,"gateway":"A",'
            '"gateway_urls":["%s"],"gateway_url":"%s","gateway_nrp":true,"gateway_iom":true}'
            % (sid, server_name, host, p, extra_after_headers, url, url))


def expected_connect(sid, gateway="A", creds=None, tls=False):
    """S's CONNECT line on its outbound (section 2.6), without CRLF."""
    c = '"user":"%s","pass":"%s",' % creds if creds else ""
    return ('CONNECT {"echo":false,"verbose":false,"pedantic":false,%s"tls_required":%s,'
            '"headers":false,"name":"%s","cluster":"","gateway":"%s"}'
            % (c, "true" if tls else "false", sid, gateway))


class Peer:
    """F registered on S as cluster `name`: f is the connection F opened to
    S (S's inbound), o the one S opened back to F's listener (S's outbound),
    when the INFO carried gateway_urls. sid is S's server_id, fid F's."""

    def __init__(self, srv, name="X", listen=True, accept=True, burst=("$G", "$SYS"),
                 info=None, connect=None, show_pings=False, out_info=None, **kw):
        self.srv = srv
        self.name = name
        self.fid = "NFAKE%sPEER" % name
        self.lst = GwListener() if listen else None
        self.f = GwConn.connect(gw_port(srv), show_pings=show_pings, **kw)
        self.sinfo = self.f.read_info()
        self.sid = self.sinfo["server_id"]
        self.f.send_connect(**(connect or {"gateway": name, "server_id": self.fid}))
        body = info or peer_info(name, server_id=self.fid,
                                 port=self.lst.port if self.lst else None)
        self.f.send_info(body)
        self.burst = self.f.read_burst(burst) if burst else []
        self.o = None
        self.out_connect = self.out_info = None
        if self.lst and accept:
            self.o = self.lst.accept()
            self.o.send_info(out_info or peer_info(name, server_id=self.fid, port=self.lst.port))
            self.out_connect, self.out_info = self.o.read_connect_and_info()

    def close(self):
        for c in (self.f, self.o):
            if c:
                c.close()
        if self.lst:
            self.lst.close()


def barrier(*conns):
    """A PING/PONG on each gateway connection; returns all frames seen
    before the PONGs, $SYS interest lines left out."""
    out = []
    for c in conns:
        out += [f for f in c.sync() if not f.line.startswith(("RS+ $SYS", "RS- $SYS"))]
    return out


def g_frames(frames):
    """Frames that are not about $SYS (messages and interest of $G and others)."""
    return [f for f in frames if not (f.line.startswith(("RS+ $SYS", "RS- $SYS"))
                                      or (f.op in ("RMSG", "HMSG") and f.account == "$SYS"))]


# --------------------------------------------------------------------------- T1-T5: accepting side


def test_t01_accepting_side_info(kind, server_factory):
    s = start_s(server_factory, kind)
    f = GwConn.connect(gw_port(s), show_pings=True)
    info = f.read_info()
    assert f.info_frame.raw == (expected_info(info["server_id"], gw_port(s)) + "\r\n").encode()
    assert "auth_required" not in info and "tls_required" not in info
    # nothing before CONNECT: no PING timer runs yet (the auth timeout is 2 s)
    f.expect_nothing(1.4)
    f.close()
    s.wait_log(r"\[INF\] 127\.0\.0\.1:\d+ - gid:\d+ - Processing inbound gateway connection")


def test_t02_not_connect_first(kind, server_factory):
    s = start_s(server_factory, kind, errors=AUTH_ERRS)
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send(b"PING\r\n")
    assert [x.raw for x in f.expect_closed()] == [b"-ERR 'Authorization Violation'\r\n"]
    s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - authentication error")
    check_alive(s)


def test_t03_client_on_gateway_port(kind, server_factory):
    s = start_s(server_factory, kind, errors=[r"attempted to connect to gateway port"])
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    assert [x.raw for x in f.expect_closed()] == [
        b"-ERR 'attempted to connect to gateway port'\r\n"]
    check_alive(s)


def test_t04_auth_timeout(kind, server_factory):
    s = start_s(server_factory, kind)
    f = GwConn.connect(gw_port(s), show_pings=True)
    f.read_info()
    # silent peer: the timeout comes (2 s by default), no PING before it
    assert [x.raw for x in f.expect_closed(timeout=8)] == [
        b"-ERR 'Authentication Timeout'\r\n"]
    check_alive(s)

    s2 = start_s(server_factory, kind,
                 gw_extra="authorization { user: gw, password: pwd, timeout: 0.5 }")
    f = GwConn.connect(gw_port(s2), show_pings=True)
    info = f.read_info()
    assert f.info_frame.line == expected_info(info["server_id"], gw_port(s2),
                                              extra_after_headers='"auth_required":true,')
    assert [x.raw for x in f.expect_closed(timeout=5)] == [
        b"-ERR 'Authentication Timeout'\r\n"]
    check_alive(s2)


def test_t05_registration_needs_info(kind, server_factory):
    s = start_s(server_factory, kind)
    f = GwConn.connect(gw_port(s), show_pings=True)
    f.read_info()
    f.send(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"gateway":"X"}\r\n'
           b"PING\r\n")
    f.expect_raw(b"PONG\r\n")
    # the PING timer started with CONNECT (about 1.1 s); nothing else comes,
    # and the connection is not registered yet
    f.expect_raw(b"PING\r\n", timeout=5)
    f.expect_nothing(0.3)
    assert "registered" not in s.log_text()
    f.send(b'INFO {"gateway":"X"}\r\n')
    burst = f.read_burst()
    assert burst[0].op == "INFO" and burst[0].cmd == 2
    s.wait_log(r'\[INF\] 127\.0\.0\.1:\d+ - gid:\d+ - Inbound gateway connection from "X" \(\) '
               r'registered')
    # no gateway_urls: no connection back
    assert "implicit gateway" not in s.log_text()
    f.close()


# --------------------------------------------------------------------------------- T6-T10: inbound


ACC1 = "accounts {\n  ACC1 { users: [ { user: a, password: a } ] }\n}\n"


def test_t06_initial_burst(kind, server_factory):
    s = start_s(server_factory, kind, top=ACC1)
    c = client(s, user="a", **{"pass": "a"})
    c.sub("bar", 1, queue="q1")
    c.sub("bar", 2, queue="q1")
    c.sub("foo", 3)
    c.sub("baz.>", 4)
    c.ping_pong()
    p = Peer(s, burst=("$G", "$SYS", "ACC1"), show_pings=True)
    lines = [x.line for x in p.burst]
    # 1. queue groups first, one RS+ per group whatever its member count
    assert lines[0] == "RS+ ACC1 bar q1 1"
    assert lines.count("RS+ ACC1 bar q1 1") == 1
    # 2. no gossip on a lone server
    assert not [x for x in p.burst if x.op == "INFO" and x.cmd == 1]
    # 3-5. per account: cmd 2, its plain RS+, cmd 3 (accounts may interleave)
    for acc in ("$G", "$SYS", "ACC1"):
        i2 = lines.index(ref_cmd_info("A", 2, acc))
        i3 = lines.index(ref_cmd_info("A", 3, acc))
        assert i2 < i3
        rs = [i for i, ln in enumerate(lines) if ln.startswith("RS+ %s " % acc) and
              len(ln.split()) == 3]
        assert all(i2 < i < i3 for i in rs), (acc, lines)
    assert "RS+ ACC1 foo" in lines and "RS+ ACC1 baz.>" in lines
    assert sum(ln.startswith("RS+ ACC1 ") for ln in lines) == 3
    assert not [ln for ln in lines if ln.startswith(("RS+ $G ", "A-", "A+", "RS-"))]
    assert all(x.op in ("INFO", "RS+") for x in p.burst)
    # 6. then the first PING (about 1 s later), nothing before it
    p.f.expect_raw(b"PING\r\n", timeout=5)
    s.wait_log(r'Inbound gateway connection from "X" \(NFAKEXPEER\) registered')
    p.close()
    c.close()


def test_t07_interest_updates(kind, server_factory):
    s = start_s(server_factory, kind)
    p = Peer(s, listen=False)
    c = client(s)
    c.sub("foo", 1)
    c.ping_pong()
    p.f.expect_raw(b"RS+ $G foo\r\n", skip=SYS_RS)
    c.sub("bar", 2, queue="q1")
    c.ping_pong()
    p.f.expect_raw(b"RS+ $G bar q1 1\r\n", skip=SYS_RS)
    c.sub("bar", 3, queue="q1")          # a second member: nothing
    c.sub("foo", 4)                      # a second plain subscriber: nothing
    c.unsub(4)
    c.unsub(1)                           # the last foo subscriber
    c.ping_pong()
    p.f.expect_raw(b"RS- $G foo\r\n", skip=SYS_RS)
    c.unsub(2)
    c.sub("baz.*", 5)
    c.ping_pong()
    p.f.expect_raw(b"RS+ $G baz.*\r\n", skip=SYS_RS)
    c.unsub(3)                           # the last q1 member
    c.ping_pong()
    p.f.expect_raw(b"RS- $G bar q1\r\n", skip=SYS_RS)
    assert barrier(p.f) == []
    p.close()
    c.close()


def test_t08_delivery_from_gateway(kind, server_factory):
    s = start_s(server_factory, kind)
    c = client(s)
    c.sub("foo", 1)
    c.sub("bar", 2, queue="q1")
    c.ping_pong()
    p = Peer(s, listen=False)
    f = p.f
    f.send(b"RMSG $G foo 5\r\nhello\r\n")
    f.send(b"RMSG $G foo reply.x 5\r\nhello\r\n")
    f.send(b"RMSG $G bar 5\r\nnoqls\r\n")           # no queue list: not for q1
    f.send(b"RMSG $G bar | q1 5\r\nhello\r\n")
    f.send(b"RMSG $G bar + rep q1 5\r\nhello\r\n")
    f.send(b"RMSG $G bar | qZ 5\r\nwrong\r\n")      # a group that is not here
    f.send(b"HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
    f.send(b"RMSG $G nointerest 2\r\nhi\r\n")
    # interest-only: nothing goes back on the inbound
    assert barrier(f) == []
    c.expect_msg("foo", 1, b"hello")
    c.expect_msg("foo", 1, b"hello", reply="reply.x")
    c.expect_msg("bar", 2, b"hello")
    c.expect_msg("bar", 2, b"hello", reply="rep")
    m = c.read_msg()
    assert m.line == "HMSG foo 1 12 17" and m.headers == b"NATS/1.0\r\n\r\n" and \
        m.payload == b"hello"
    assert pending_msgs(c) == []
    p.close()
    c.close()


def test_t09_unknown_account(kind, server_factory):
    s = start_s(server_factory, kind)
    p = Peer(s, listen=False)
    p.f.send(b"RMSG UNKNOWNACC foo 2\r\nhi\r\n")
    assert [x.raw for x in barrier(p.f)] == [b"A- UNKNOWNACC\r\n"]
    # once per inbound
    p.f.send(b"RMSG UNKNOWNACC foo 2\r\nhi\r\n")
    p.f.send(b"HMSG UNKNOWNACC foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
    assert barrier(p.f) == []
    check_alive(s)
    p.close()


def test_t10_reverse_implicit_outbound(kind, server_factory):
    s = start_s(server_factory, kind, top="http: 127.0.0.1:@PORT_HTTP@")
    p = Peer(s, accept=False)
    o = p.lst.accept(show_pings=True)
    # S sends nothing until our INFO
    o.expect_nothing(0.3)
    o.send_info(peer_info("X", server_id=p.fid, port=p.lst.port))
    o.expect_raw(expected_connect(p.sid) + "\r\n")
    o.expect_raw(expected_info(p.sid, gw_port(s)) + "\r\n")
    # then the first PING, about 1 s later
    o.expect_raw(b"PING\r\n", timeout=5)
    px = p.lst.port
    s.wait_log(r'\[INF\] Connecting to implicit gateway "X" \(127\.0\.0\.1:%d\) at '
               r'127\.0\.0\.1:%d \(attempt 1\)' % (px, px))
    s.wait_log(r'\[INF\] 127\.0\.0\.1:%d - gid:\d+ - Creating outbound gateway connection to "X"'
               % px)
    s.wait_log(r'\[INF\] 127\.0\.0\.1:%d - gid:\d+ - Outbound gateway connection to "X" '
               r'\(NFAKEXPEER\) registered' % px)
    gz = http_json(s.ports["HTTP"], "/gatewayz")
    assert gz["name"] == "A" and gz["port"] == gw_port(s)
    out = gz["outbound_gateways"]["X"]
    assert out["configured"] is False and out["connection"]["name"] == p.fid
    assert out["connection"]["port"] == px
    assert len(gz["inbound_gateways"]["X"]) == 1
    assert gz["inbound_gateways"]["X"][0]["configured"] is False
    p.close()
    o.close()


# ------------------------------------------------------------------------------- T11-T13: messages


def test_t11_outbound_interest_and_messages(kind, server_factory):
    s = start_s(server_factory, kind,
                errors=[r"Account absent from receive-all-subscriptions-start command"])
    c = client(s)
    c.sub("bar", 1, queue="q1")
    c.ping_pong()
    p = Peer(s)
    o = p.o
    assert p.burst[0].raw == b"RS+ $G bar q1 1\r\n"
    # a plain RS+ before cmd 2 is ignored by an interest-only sender
    o.rs_plus("$G", "foo")
    assert barrier(o) == []
    c.pub("foo", b"no")
    c.ping_pong()
    assert barrier(o) == []
    o.register("$G", subs=["foo"], queues=[("bar", "q2")])
    assert barrier(o) == []
    c.pub("foo", b"hello")
    c.ping_pong()
    o.expect_raw(b"RMSG $G foo 5\r\nhello\r\n")
    c.pub("bar", b"hello")
    c.expect_msg("bar", 1, b"hello")
    o.expect_raw(b"RMSG $G bar | q2 5\r\nhello\r\n")
    # a reply without a recent subscription goes as is
    c.pub("foo", b"hello", reply="myrep")
    c.ping_pong()
    o.expect_raw(b"RMSG $G foo myrep 5\r\nhello\r\n")
    # a reply with a fresh subscription is mapped (and its interest announced)
    c.sub("myrep2", 9)
    c.pub("foo", b"hello", reply="myrep2")
    c.ping_pong()
    p.f.expect_raw(b"RS+ $G myrep2\r\n", skip=SYS_RS)
    mapped = routed_reply("A", p.sid, "myrep2")
    assert mapped.startswith("_GR_.NUmM6c.")
    o.expect_raw(("RMSG $G foo %s 5\r\nhello\r\n" % mapped).encode())
    c.pub("bar", b"hello", reply="myrep2")
    c.expect_msg("bar", 1, b"hello", reply="myrep2")
    o.expect_raw(("RMSG $G bar + %s q2 5\r\nhello\r\n" % mapped).encode())
    c.hpub("foo", b"NATS/1.0\r\n\r\n", b"hello")
    c.ping_pong()
    o.expect_raw(b"HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
    assert barrier(o) == []
    # cmd 2 without an account: an error and a close
    o.send_info({"gateway": "X", "gateway_cmd": 2})
    assert [x.raw for x in o.expect_closed()] == [
        b"-ERR 'Account absent from receive-all-subscriptions-start command'\r\n"]
    check_alive(s)
    p.close()
    c.close()


def test_t12_reply_return_paths(kind, server_factory):
    s = start_s(server_factory, kind)
    c = client(s)
    c.sub("myrep2", 9)
    c.sub("foo", 1)
    c.ping_pong()
    p = Peer(s)
    # a reply coming back to this cluster and server: delivered stripped
    p.f.rmsg("$G", "_GR_.%s.%s.myrep2" % (h6("A"), h6(p.sid)), b"ans")
    # a wrong cluster hash: dropped
    p.f.rmsg("$G", "_GR_.%s.%s.myrep2" % (h6("C"), h6(p.sid)), b"bad")
    assert barrier(p.f) == []
    c.expect_msg("myrep2", 9, b"ans")
    assert pending_msgs(c) == []
    # ... and then offered to the gateways with its plain subject once X has
    # interest in it; a service reply (_R_.) stays in this cluster
    p.o.register("$G", subs=["myrep2", "_R_.>"])
    assert barrier(p.o) == []
    p.f.rmsg("$G", "_GR_.%s.%s._R_.svc.r1" % (h6("A"), h6(p.sid)), b"svc")
    p.f.rmsg("$G", "_GR_.%s.%s.myrep2" % (h6("A"), h6(p.sid)), b"ans")
    p.f.rmsg("$G", "$GR.%s.myrep2" % old_hash("A"), b"old")
    barrier(p.f)
    c.expect_msg("myrep2", 9, b"ans")
    c.expect_msg("myrep2", 9, b"old")
    p.o.expect_raw(b"RMSG $G myrep2 3\r\nans\r\n")
    p.o.expect_raw(b"RMSG $G myrep2 3\r\nold\r\n")
    assert pending_msgs(c) == []
    # a request from X with a routed reply: the client sees the plain reply;
    # its answer goes straight back to X, without any interest from X
    rr = "_GR_.%s.%s.xinbox" % (h6("X"), h6(p.fid))
    assert rr.startswith("_GR_.Dglu96.")
    p.f.rmsg("$G", "foo", b"req", reply=rr)
    barrier(p.f)
    m = c.expect_msg("foo", 1, b"req", reply="xinbox")
    c.pub(m.reply, b"rsp")
    c.ping_pong()
    p.o.expect_raw(("RMSG $G %s 3\r\nrsp\r\n" % rr).encode())
    assert pending_msgs(c) == []
    p.close()
    c.close()


def test_t13_reserved_prefixes_for_clients(kind, server_factory):
    s = start_s(server_factory, kind, errors=[r"Publish Violation"])
    c = client(s)
    c.pub("_GR_.abc.def.ghi", b"hi")
    c.expect_line("-ERR 'Permissions Violation for Publish to \"_GR_.abc.def.ghi\"'")
    c.pub("foo", b"hi", reply="_GR_.abc.def.ghi")
    c.expect_line("-ERR 'Permissions Violation for Publish with Reply of \"_GR_.abc.def.ghi\"'")
    c.ping_pong()
    c.close()


# ---------------------------------------------------------------- T14-T16: connecting side, gossip


def test_t14_connecting_side_checks(kind, server_factory):
    lb = GwListener()
    s = start_s(server_factory, kind,
                gw_extra='gateways: [ { name: B, url: "nats://127.0.0.1:%d" } ]' % lb.port,
                errors=[r'Failing connection to gateway "B", remote gateway name is "C"',
                        r'Attempt to connect to gateway "B" using wrong port',
                        r'rejected, wanted to connect to "B"'])
    # about 1 s after start S dials B and sends nothing before our INFO
    o = lb.accept()
    o.expect_nothing(0.3)
    o.send_info(peer_info("C", port=lb.port))
    assert [x.raw for x in o.expect_closed()] == [
        b"-ERR 'Connection from \"A\" rejected, wanted to connect to \"B\", this is \"C\"'\r\n"]
    s.wait_log(r'Failing connection to gateway "B", remote gateway name is "C"')
    # explicit remotes are retried
    o = lb.accept()
    o.send_info({"server_id": "NOTGW", "host": "127.0.0.1", "port": 4222, "max_payload": 1048576})
    assert [x.raw for x in o.expect_closed()] == [
        b"-ERR 'Attempt to connect to gateway \"B\" using wrong port'\r\n"]
    o = lb.accept()
    o.send_info(peer_info("B", port=lb.port))
    cn, inf = o.read_connect_and_info()
    sid = inf.obj["server_id"]
    assert cn.line == expected_connect(sid)
    assert inf.line == expected_info(sid, gw_port(s))
    s.wait_log(r'\[INF\] Connecting to explicit gateway "B" \(127\.0\.0\.1:%d\) at 127\.0\.0\.1:%d'
               r' \(attempt 1\)' % (lb.port, lb.port))
    s.wait_log(r'Outbound gateway connection to "B" \(NFAKEBPEER\) registered')
    check_alive(s)
    lb.close()


def test_t15_gossip_on_outbound(kind, server_factory):
    lb = GwListener()
    s = start_s(server_factory, kind,
                gw_extra='gateways: [ { name: B, url: "nats://127.0.0.1:%d" } ]' % lb.port,
                errors=[r'Error connecting to implicit gateway "D"'])
    o = lb.accept()
    o.send_info(peer_info("B", port=lb.port))
    o.read_connect_and_info()
    # gossip about D (nothing listens there): one attempt, then D is dropped
    pd = free_port()
    o.send_info({"server_id": "NFAKEBPEER", "gateway": "D", "gateway_urls": ["127.0.0.1:%d" % pd],
                 "gateway_cmd": 1})
    s.wait_log(r'\[INF\] Connecting to implicit gateway "D" \(127\.0\.0\.1:%d\) at '
               r'127\.0\.0\.1:%d \(attempt 1\)' % (pd, pd))
    s.wait_log(r'\[ERR\] Error connecting to implicit gateway "D"')
    # gossip about E (a listener): S dials it
    le = GwListener()
    o.send_info({"server_id": "NFAKEBPEER", "gateway": "E", "gateway_urls": [le.url],
                 "gateway_cmd": 1})
    e = le.accept()
    e.send_info(peer_info("E", port=le.port))
    cn, inf = e.read_connect_and_info()
    assert cn.obj["gateway"] == "A"
    stays(lambda: s.log_text().count('Connecting to implicit gateway "D"') == 1, 1.5,
          "D retried although connect_retries is 0")
    check_alive(s)
    lb.close()
    le.close()


def test_t16_gossip_to_new_inbound(kind, server_factory):
    a = server_factory(kind, name="A1", conf=s_conf())
    pga = gw_port(a)
    conf_b = ("server_name: srvB1\nlisten: 127.0.0.1:@PORT@\n"
              "gateway {\n  name: B\n  listen: 127.0.0.1:@PORT_GW@\n"
              '  gateways: [ { name: A, url: "nats://127.0.0.1:%d" } ]\n}\n' % pga)
    b = server_factory(kind, name="B1", conf=conf_b)
    f = GwConn.connect(gw_port(b))
    bid = f.read_info()["server_id"]
    f.send_connect(gateway="X")
    f.send_info(peer_info("X"))
    burst = f.read_burst()
    lines = [x.line for x in burst]
    gossip = ref_gossip_info(bid, "A", ["127.0.0.1:%d" % pga])
    assert gossip in lines, lines[:5]
    first_cmd2 = min(i for i, x in enumerate(burst) if x.op == "INFO" and x.cmd == 2)
    assert lines.index(gossip) < first_cmd2
    assert sum(1 for x in burst if x.op == "INFO" and x.cmd == 1) == 1
    f.close()


# --------------------------------------------------------------------------------- T17-T18: routes


class FakeRoute(GwConn):
    """A raw route peer of S's cluster A (route protocol of test_12)."""

    @classmethod
    def join(cls, cport, rid, gw_url=None):
        r = cls.connect(cport)
        r.route_info = r.read_info()
        r.rid = rid
        r.send_line("CONNECT " + dumps({"echo": True, "verbose": False, "pedantic": False,
                                        "tls_required": False, "headers": True, "name": rid,
                                        "cluster": "A"}))
        info = {"server_id": rid, "server_name": "fakeR", "version": "2.9.10", "proto": 1,
                "host": "127.0.0.1", "port": 1, "headers": True, "max_payload": 1048576,
                "cluster": "A"}
        if gw_url:
            info["gateway_url"] = gw_url
        r.send_info(info)
        return r


def test_t17_cluster_url_changes(kind, server_factory):
    s = start_s(server_factory, kind, top="cluster { name: A, listen: 127.0.0.1:@PORT_CLUSTER@ }")
    pg = gw_port(s)
    p = Peer(s)
    rid = "NFAKEROUTEPEERR"
    pr = free_port()
    r = FakeRoute.join(s.ports["CLUSTER"], rid, gw_url="127.0.0.1:%d" % pr)
    assert r.route_info.get("gateway_url") == "127.0.0.1:%d" % pg
    # the route learns about X (S has an outbound to it)
    gossip = ('INFO {"server_id":"GW%s","server_name":"","version":"","proto":0,"go":"",'
              '"host":"","port":0,"headers":false,"max_payload":0,"gateway":"X",'
              '"gateway_urls":["%s"],"gateway_cmd":1}' % (p.sid, p.lst.url))
    r.expect_line(gossip, skip=r"RS\+ ")
    # the inbound gets the full INFO again with the new cluster URL
    f = p.f.next(skip=SYS_RS)
    assert f.op == "INFO" and not f.cmd
    want = json.loads(expected_info(p.sid, pg)[5:])
    got = dict(f.obj)
    assert sorted(got.pop("gateway_urls")) == sorted(["127.0.0.1:%d" % pg, "127.0.0.1:%d" % pr])
    want.pop("gateway_urls")
    assert got == want and list(f.obj) == list(json.loads(expected_info(p.sid, pg)[5:]))
    # a subscription only the route has, then the route goes away
    r.send(b"RS+ $G routed.only\r\n")
    p.f.expect_raw(b"RS+ $G routed.only\r\n", skip=SYS_RS)
    r.close()
    got = {}
    while "info" not in got or "rs" not in got:
        f = p.f.next(skip=SYS_RS)
        if f.op == "INFO":
            assert f.obj["gateway_urls"] == ["127.0.0.1:%d" % pg]
            got["info"] = f
        else:
            assert f.raw == b"RS- $G routed.only\r\n"
            got["rs"] = f
    p.close()


def test_t18_forwarding_to_and_from_routes(kind, server_factory):
    s = start_s(server_factory, kind, top="cluster { name: A, listen: 127.0.0.1:@PORT_CLUSTER@ }")
    p = Peer(s)
    rid = "NFAKEROUTEPEERR"
    r = FakeRoute.join(s.ports["CLUSTER"], rid)
    r.sync(skip=r"(RS\+|INFO) ")
    r.send(b"RS+ $G routed.sub\r\n")
    p.f.expect_raw(b"RS+ $G routed.sub\r\n", skip=SYS_RS)
    p.f.send(b"RMSG $G routed.sub 2\r\nhi\r\n")
    r.expect_raw(b"RMSG $G routed.sub 2\r\nhi\r\n", skip=r"(RS\+|INFO) ")
    r.send(b"RS+ $G rq qq 1\r\n")
    p.f.expect_raw(b"RS+ $G rq qq 1\r\n", skip=SYS_RS)
    p.f.send(b"RMSG $G rq | qq 2\r\nhi\r\n")
    r.expect_raw(b"RMSG $G rq | qq 2\r\nhi\r\n", skip=r"(RS\+|INFO) ")
    # a reply for the route peer (its server hash): forwarded unchanged
    rr = "_GR_.%s.%s.inbox1" % (h6("A"), h6(rid))
    p.f.rmsg("$G", rr, b"hi")
    r.expect_raw(("RMSG $G %s 2\r\nhi\r\n" % rr).encode(), skip=r"(RS\+|INFO) ")
    # a message that came over a route never goes to a gateway
    p.o.register("$G", subs=["fromroute"])
    barrier(p.o)
    r.send(b"RMSG $G fromroute 2\r\nhi\r\n")
    r.sync(skip=r"(RS\+|INFO) ")
    assert barrier(p.o) == []
    # while a client's publish does
    c = client(s)
    c.pub("fromroute", b"cl")
    c.ping_pong()
    p.o.expect_raw(b"RMSG $G fromroute 2\r\ncl\r\n")
    c.close()
    r.close()
    p.close()


# ------------------------------------------------------------------------------ T19: queues by RTT


def test_t19_queue_routing_by_rtt(kind, server_factory):
    lx, ly = GwListener(), GwListener()
    s = start_s(server_factory, kind, top='ping_interval: "1s"',
                gw_extra='gateways: [ { name: X, url: "nats://127.0.0.1:%d" },\n'
                         '             { name: Y, url: "nats://127.0.0.1:%d" } ]'
                         % (lx.port, ly.port))
    peers = {}
    for name, lst, delay in (("X", lx, 0.0), ("Y", ly, 0.3)):
        o = lst.accept(pong_delay=delay)
        o.send_info(peer_info(name, port=lst.port))
        o.read_connect_and_info()
        o.register("$G", gateway=name, queues=[("q.sub", "grp")])
        peers[name] = o
    x, y = peers["X"], peers["Y"]
    c = client(s)

    def land(n=5):
        """Publish n q.sub messages; return how many reached X and Y (each
        message exactly once, as RMSG $G q.sub | grp)."""
        for _ in range(n):
            c.pub("q.sub", b"Z")
        c.ping_pong()
        got = {"X": 0, "Y": 0}
        for name, o in (("X", x), ("Y", y)):
            for f in o.sync():
                assert f.raw == b"RMSG $G q.sub | grp 1\r\nZ\r\n", f
                got[name] += 1
        assert got["X"] + got["Y"] == n, got
        return got

    # once both have answered a PING, X (fast) is preferred
    x.wait_pongs(1, timeout=10)
    y.wait_pongs(1, timeout=10)
    wait_until(lambda: land() == {"X": 5, "Y": 0}, timeout=10, what="all queue messages to X")
    # swap the delays: after the next PING round Y is preferred
    x.pong_delay, y.pong_delay = 0.3, 0.0
    nx, ny = x.pongs_sent, y.pongs_sent
    x.wait_pongs(nx + 1, timeout=10)
    y.wait_pongs(ny + 1, timeout=10)
    wait_until(lambda: land() == {"X": 0, "Y": 5}, timeout=10, what="all queue messages to Y")
    assert land() == {"X": 0, "Y": 5}
    # a local member: nothing goes to any gateway
    c.sub("q.sub", 7, queue="grp")
    c.ping_pong()
    for _ in range(5):
        c.pub("q.sub", b"L")
    assert len([m for m in pending_msgs(c) if m.subject == "q.sub"]) == 5
    assert barrier(x, y) == []
    c.unsub(7)
    c.ping_pong()
    # Y's last member leaves: X takes over
    y.rs_minus("$G", "q.sub", "grp")
    barrier(y)
    assert land() == {"X": 5, "Y": 0}
    c.close()
    lx.close()
    ly.close()


# --------------------------------------------------------- T20-T25: rejections, verbose, staleness


def test_t20_reject_unknown_cluster(kind, server_factory):
    s = start_s(server_factory, kind, gw_extra="reject_unknown_cluster: true",
                errors=[r'Rejecting connection from gateway "X"', r"wrong gateway"])
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send_connect(gateway="X")
    f.send_info(peer_info("X"))
    assert [x.raw for x in f.expect_closed()] == [
        b"-ERR 'Connection to gateway \"A\" rejected'\r\n"]
    s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - Rejecting connection from gateway "X"')
    check_alive(s)


def test_t21_duplicate_server_name(kind, server_factory):
    s = start_s(server_factory, kind, errors=[r'Remote server has a duplicate name: "srvA1"'])
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send_connect(gateway="X")
    f.send_info(peer_info("X", server_name="srvA1"))
    assert f.expect_closed() == []
    s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - Remote server has a duplicate name: "srvA1"')
    assert "registered" not in s.log_text()
    check_alive(s)


@pytest.mark.parametrize("op", ["RS+ $G foo", "RS- $G foo", "RS+ $G foo q 1"])
def test_t22_wrong_direction_interest(kind, op, server_factory):
    s = start_s(server_factory, kind,
                errors=[r"Received RS[+-] from gateway on inbound connection"])
    p = Peer(s, listen=False)
    p.f.send_line(op)
    assert p.f.expect_closed() == []
    s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - Received %s from gateway on inbound "
               r"connection" % op[:3].replace("+", r"\+"))
    check_alive(s)


def test_t23_garbage(kind, server_factory):
    s = start_s(server_factory, kind, errors=[r"Gateway parser ERROR"] + AUTH_ERRS)
    # before CONNECT anything else is an authorization violation
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send(b"xxxx\r\n")
    assert [x.raw for x in f.expect_closed()] == [b"-ERR 'Authorization Violation'\r\n"]
    # after registration: a parser error
    for junk in (b"xxxx\r\n", b"MSG foo 1 2\r\nhi\r\n", b"LS+ $G foo\r\n", b"\x00\x01\x02\r\n"):
        p = Peer(s, listen=False)
        p.f.send(junk)
        # the previous round's check_alive client may leave just now: its
        # RS- can reach this new inbound first
        got = [x.raw for x in p.f.expect_closed() if x.op not in ("RS+", "RS-")]
        assert got == [b"-ERR 'Unknown Protocol Operation'\r\n"], junk
        check_alive(s)
    s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - Gateway parser ERROR, state=\d+, i=\d+: "
               r"proto='\"xxxx")


def test_t24_verbose(kind, server_factory):
    s = start_s(server_factory, kind)
    c = client(s)
    c.sub("foo", 1)
    c.ping_pong()
    p = Peer(s, listen=False, connect={"gateway": "X", "verbose": True})
    p.f.send(b"RMSG $G foo 2\r\nhi\r\n")
    p.f.send(b"RMSG $G nothing 2\r\nhi\r\n")
    assert [x.raw for x in barrier(p.f)] == [b"+OK\r\n", b"+OK\r\n"]
    c.expect_msg("foo", 1, b"hi")
    p.close()
    c.close()


def test_t25_staleness(kind, server_factory):
    s = start_s(server_factory, kind, top='ping_interval: "1s"')
    p = Peer(s, listen=False, burst=None, show_pings=True, auto_pong=False)
    frames = p.f.expect_closed(timeout=15)
    tail = [x.raw for x in frames if x.op in ("PING", "-ERR")]
    assert tail == [b"PING\r\n", b"PING\r\n", b"-ERR 'Stale Connection'\r\n"], frames
    assert frames[-1].raw == b"-ERR 'Stale Connection'\r\n"
    check_alive(s)


# ------------------------------------------------------------ T26-T28: TLS, credentials, advertise


def _tls_contexts(d, client_cert=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d + "/ca.pem")
    ctx.check_hostname = False
    if client_cert:
        ctx.load_cert_chain(d + "/client.pem", d + "/client-key.pem")
    return ctx


def test_t26_tls_and_auth(kind, server_factory, tmp_path):
    d = make_test_certs(str(tmp_path / "certs"))
    tls = ('tls { cert_file: "%s/server.pem", key_file: "%s/server-key.pem", '
           'ca_file: "%s/ca.pem" }' % (d, d, d))
    s = start_s(server_factory, kind,
                gw_extra=tls + "\nauthorization { user: gwu, password: gwp }",
                errors=[r"TLS gateway handshake error", r"TLS handshake"] + AUTH_ERRS)
    # plain TCP: the server waits for a ClientHello and sends nothing
    f = GwConn.connect(gw_port(s))
    f.expect_nothing(1.0)
    f.close()
    # TLS without a client certificate: the handshake fails
    no_cert = _tls_contexts(d, client_cert=False)
    with pytest.raises((ssl.SSLError, ConnectionError, Closed, GwError, OSError)):
        f = GwConn.connect(gw_port(s), tls=no_cert)
        f.read_info()
    # TLS with a certificate: INFO inside the session
    ok = _tls_contexts(d)
    f = GwConn.connect(gw_port(s), tls=ok)
    info = f.read_info()
    assert f.info_frame.line == expected_info(
        info["server_id"], gw_port(s),
        extra_after_headers='"auth_required":true,"tls_required":true,"tls_verify":true,')
    f.send_connect(gateway="X")
    f.send_info(peer_info("X"))
    assert [x.raw for x in f.expect_closed()] == [b"-ERR 'Authorization Violation'\r\n"]
    f = GwConn.connect(gw_port(s), tls=ok)
    f.read_info()
    f.send_connect(gateway="X", user="gwu", **{"pass": "gwp"})
    f.send_info(peer_info("X"))
    burst = f.read_burst()
    assert burst[-1].op == "INFO" and burst[-1].cmd == 3
    f.close()
    check_alive(s)


def _tls_peer(d, leaf):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(d + "/ca.pem")
    ctx.check_hostname = False
    ctx.load_cert_chain("%s/%s.pem" % (d, leaf), "%s/%s-key.pem" % (d, leaf))
    return ctx


def _tls_register(s, ctx, ok, **creds):
    """F over TLS with ctx's certificate: registered (ok), or refused with
    nats-server's error and a close."""
    f = GwConn.connect(gw_port(s), tls=ctx)
    f.read_info()
    f.send_connect(gateway="X", **creds)
    f.send_info(peer_info("X"))
    if ok:
        burst = f.read_burst()
        assert burst[-1].op == "INFO" and burst[-1].cmd == 3
    else:
        assert [x.raw for x in f.expect_closed()] == [b"-ERR 'Authorization Violation'\r\n"]
    f.close()


@pytest.mark.parametrize("mode", ["verify_and_map", "verify_cert_and_check_known_urls"])
def test_t26_tls_certificate_names_the_peer(kind, mode, server_factory, tmp_path):
    """verify_and_map: the peer's certificate must name the authorization
    user (CONNECT credentials are not looked at); check_known_urls: a DNS SAN
    of the certificate must be the host of a configured gateway URL. The
    server certificate has the SAN localhost, the client one only
    CN=natsd-test-client."""
    d = make_test_certs(str(tmp_path / "certs"))
    tls = ('tls { cert_file: "%s/server.pem", key_file: "%s/server-key.pem", '
           'ca_file: "%s/ca.pem", %s: true }' % (d, d, d, mode))
    if mode == "verify_and_map":
        extra = tls + '\nauthorization { user: "CN=natsd-test-client", password: pw }'
    else:
        extra = tls + ('\ngateways: [ { name: Y, url: "nats://localhost:%d" } ]'
                       % free_port())
    s = start_s(server_factory, kind, gw_extra=extra,
                errors=[r"TLS gateway handshake error", r"TLS handshake",
                        r"Error connecting to explicit gateway"] + AUTH_ERRS)
    client_crt, server_crt = _tls_peer(d, "client"), _tls_peer(d, "server")
    if mode == "verify_and_map":
        # named by its subject; no credentials in CONNECT, or wrong ones
        _tls_register(s, client_crt, True)
        _tls_register(s, client_crt, True, user="x", **{"pass": "y"})
        # the right credentials do not help a certificate that names another
        _tls_register(s, server_crt, False, user="CN=natsd-test-client", **{"pass": "pw"})
    else:
        _tls_register(s, server_crt, True)
        _tls_register(s, client_crt, False)
    check_alive(s)


def test_t27_outbound_credentials(kind, server_factory):
    lb = GwListener()
    s = start_s(server_factory, kind,
                gw_extra='authorization { user: gw, password: pwd }\n'
                         'gateways: [ { name: B, url: "nats://u1:p1@127.0.0.1:%d" } ]' % lb.port)
    o = lb.accept()
    o.send_info(peer_info("B", port=lb.port))
    cn, inf = o.read_connect_and_info()
    sid = inf.obj["server_id"]
    assert cn.line == expected_connect(sid, creds=("u1", "p1"))
    assert inf.line == expected_info(sid, gw_port(s), extra_after_headers='"auth_required":true,')
    # the implicit X authenticates with S's own gateway credentials
    p = Peer(s, connect={"gateway": "X", "server_id": "NFAKEXPEER", "user": "gw", "pass": "pwd"})
    assert p.out_connect.line == expected_connect(sid, creds=("gw", "pwd"))
    p.close()
    lb.close()


def test_t28_advertise(kind, server_factory):
    adv = "127.0.0.1:%d" % free_port()
    s = start_s(server_factory, kind, gw_extra='advertise: "%s"' % adv)
    f = GwConn.connect(gw_port(s))
    info = f.read_info()
    assert f.info_frame.line == expected_info(info["server_id"], gw_port(s), adv=adv)
    s.wait_log(r'\[INF\] Advertise address for gateway "A" is set to %s' % adv)
    f.close()


# ----------------------------------------------------------------------------------------- T29-T31


def test_t29_self_pointing_remote(kind, server_factory):
    s = start_s(server_factory, kind,
                gw_extra='gateways: [ { name: B, url: "nats://127.0.0.1:@PORT_GW@" } ]',
                errors=[r'Failing connection to gateway "B", remote gateway name is "A"',
                        r'rejected, wanted to connect to "B"', r"Gateway Error"] + AUTH_ERRS)
    wait_until(lambda: s.log_text().count(
        'Failing connection to gateway "B", remote gateway name is "A"') >= 2,
        timeout=10, what="two failed self connections")
    assert "authentication error" in s.log_text()
    check_alive(s)


def test_t30_connect_retries_implicit(kind, server_factory):
    s = start_s(server_factory, kind, gw_extra="connect_retries: 2", top="debug: true",
                errors=[r'Error connecting to implicit gateway "X"'])
    dead = free_port()
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send_connect(gateway="X")
    f.send_info(peer_info("X", urls=["127.0.0.1:%d" % dead]))
    f.read_burst()
    f.close()
    pat = (r'\[(?:INF|DBG)\] Connecting to implicit gateway "X" \(127\.0\.0\.1:%d\) at '
           r'127\.0\.0\.1:%d \(attempt %%d\)' % (dead, dead))
    pos = 0
    for n in (1, 2, 3):
        m = s.wait_log(pat % n, timeout=10, start=pos)
        pos += m.end()
    # then it stops: X is dropped
    stays(lambda: "(attempt 4)" not in s.log_text(), 2.0, "a fourth attempt")
    check_alive(s)


def test_t31_optimistic_peer(kind, server_factory):
    lx = GwListener()
    s = start_s(server_factory, kind,
                gw_extra='gateways: [ { name: X, url: "nats://127.0.0.1:%d" } ]' % lx.port)
    o = lx.accept()
    o.send_info(peer_info("X", port=lx.port, headers=False, nrp=None, iom=None))
    o.read_connect_and_info()
    c = client(s)

    def g_msgs():
        """$G messages that reached X up to a barrier."""
        c.ping_pong()
        return [f for f in g_frames(o.sync())]

    # everything is sent, without any interest shown
    c.pub("foo", b"hi")
    c.pub("any.thing", b"hi")
    assert [f.raw for f in g_msgs()] == [b"RMSG $G foo 2\r\nhi\r\n",
                                         b"RMSG $G any.thing 2\r\nhi\r\n"]
    # old-style reply mapping for a peer without gateway_nrp
    c.sub("myrep", 1)
    c.pub("foo", b"hi", reply="myrep")
    assert [f.raw for f in g_msgs()] == [
        ("RMSG $G foo $GR.%s.myrep 2\r\nhi\r\n" % old_hash("A")).encode()]
    assert old_hash("A") == "559a"
    # headers stripped for a peer that cannot take them
    c.hpub("foo", b"NATS/1.0\r\nK: v\r\n\r\n", b"hello")
    assert [f.raw for f in g_msgs()] == [b"RMSG $G foo 5\r\nhello\r\n"]
    # RS- stops one subject, RS+ brings it back
    o.rs_minus("$G", "foo")
    barrier(o)
    c.pub("foo", b"no")
    c.pub("bar", b"yes")
    assert [f.raw for f in g_msgs()] == [b"RMSG $G bar 3\r\nyes\r\n"]
    o.rs_plus("$G", "foo")
    barrier(o)
    c.pub("foo", b"back")
    assert [f.raw for f in g_msgs()] == [b"RMSG $G foo 4\r\nback\r\n"]
    # A- stops the whole account, A+ restores it
    o.send(b"A- $G\r\n")
    barrier(o)
    c.pub("foo", b"no")
    c.pub("bar", b"no")
    assert g_msgs() == []
    o.send(b"A+ $G\r\n")
    barrier(o)
    c.pub("bar", b"again")
    assert [f.raw for f in g_msgs()] == [b"RMSG $G bar 5\r\nagain\r\n"]
    c.close()
    lx.close()


# --------------------------------------------------------------------------------------- bad input


def test_bad_connect_json(kind, server_factory):
    s = start_s(server_factory, kind, errors=[r"invalid character", r"[Jj][Ss][Oo][Nn]",
                                              r"invalid CONNECT"])
    for bad in (b"CONNECT {bad json\r\n", b"CONNECT\r\n", b"CONNECT [1,2]\r\n",
                b'CONNECT {"gateway":5}\r\n'):
        f = GwConn.connect(gw_port(s))
        f.read_info()
        f.send(bad)
        got = f.expect_closed()
        assert all(x.op == "-ERR" for x in got), (bad, got)
        check_alive(s)


def test_wrong_credentials(kind, server_factory):
    s = start_s(server_factory, kind, gw_extra="authorization { user: gw, password: pwd }",
                errors=AUTH_ERRS)
    for creds in ({}, {"user": "gw", "pass": "bad"}, {"user": "nope", "pass": "pwd"}):
        f = GwConn.connect(gw_port(s))
        assert f.read_info()["auth_required"] is True
        f.send_connect(gateway="X", **creds)
        f.send_info(peer_info("X"))
        assert [x.raw for x in f.expect_closed()] == [b"-ERR 'Authorization Violation'\r\n"]
        check_alive(s)
    p = Peer(s, listen=False, connect={"gateway": "X", "user": "gw", "pass": "pwd"})
    p.close()
    s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - gid:\d+ - authentication error")


def test_long_control_line(kind, server_factory):
    """MAX_CONTROL_LINE_SIZE does not apply to gateway connections (2.1)."""
    s = start_s(server_factory, kind)
    c = client(s)
    c.sub("big.>", 1)
    c.ping_pong()
    p = Peer(s, listen=False)
    subj = "big." + "a" * 8000
    p.f.rmsg("$G", subj, b"hi")
    assert barrier(p.f) == []
    m = c.read_msg()
    assert m.subject == subj and m.payload == b"hi"
    check_alive(s)
    p.close()
    c.close()


def test_peer_claims_our_name(kind, server_factory):
    """A peer that says it is cluster A (S's own name): the reference accepts
    it (section 2.11); natsd may refuse it. Either way S never dials its own
    name and keeps serving."""
    s = start_s(server_factory, kind, errors=[r'[Gg]ateway.*"A"', r"own"])
    lst = GwListener()
    f = GwConn.connect(gw_port(s))
    f.read_info()
    f.send_connect(gateway="A")
    f.send_info(peer_info("A", port=lst.port))
    if kind == "nats-server":
        f.read_burst()
    else:
        try:
            f.read_burst()
        except Closed:
            pass
    assert lst.no_connection(1.5), "S dialled a gateway with its own name"
    assert 'implicit gateway "A"' not in s.log_text()
    check_alive(s)
    f.close()
    lst.close()


def test_account_interest_on_inbound(kind, server_factory):
    """A+/A- on a connection the peer opened: the reference panics (T34).
    natsd answers with an error and closes."""
    if kind == "nats-server":
        pytest.skip("nats-server 2.9.10 crashes (nil dereference) on A+/A- received on an "
                    "inbound gateway connection")
    s = start_s(server_factory, kind, errors=[r"A[+-]", r"[Pp]rotocol", r"inbound"])
    for op in (b"A- $G\r\n", b"A+ $G\r\n", b"A- NOPE\r\n"):
        p = Peer(s, listen=False)
        p.f.send(op)
        got = p.f.expect_closed()
        assert got and all(x.op == "-ERR" for x in got), (op, [x.raw for x in got])
        check_alive(s)


def test_message_on_outbound_without_interest(kind, server_factory):
    """An RMSG without local interest on a connection the server opened:
    the reference panics (T34). natsd answers with an error and closes."""
    if kind == "nats-server":
        pytest.skip("nats-server 2.9.10 crashes (assignment to entry in nil map) on an RMSG "
                    "without interest received on an outbound gateway connection")
    # the fake peer goes away between rounds: the redial of the implicit X may fail
    s = start_s(server_factory, kind, errors=[r"RMSG", r"HMSG", r"[Pp]rotocol", r"outbound",
                                              r"Error connecting to implicit gateway"])
    for msg in (b"RMSG $G nobody 2\r\nhi\r\n", b"HMSG $G nobody 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"):
        p = Peer(s)
        p.o.send(msg)
        got = p.o.expect_closed()
        assert got and all(x.op == "-ERR" for x in got), (msg, got)
        check_alive(s)
        p.close()


# ---------------------------------------------------------------------------- gwpeer's own vectors


@pytest.mark.parametrize("text,hash6,hash4", [
    ("A", "NUmM6c", "559a"),
    ("B", "b2oh2L", "df7e"),
    ("C", "jZ6RvV", "6b23"),
    ("X", "Dglu96", "4b68"),
    ("NDVKFNPLJ64T37XR3H7FZH2K2RYITGFFU5RATOEISCVSEIERYKNIPXRA", "3o55vG", None),
])
def test_hash_vectors(kind, text, hash6, hash4):
    """Section 12.2 (no server involved; runs once per kind for uniform ids)."""
    assert h6(text) == hash6
    if hash4:
        assert old_hash(text) == hash4


def test_base64_vectors(kind):
    """Section 12.3."""
    assert b64("$G") == "JEc=" and b64("$SYS") == "JFNZUw==" and b64("ACC1") == "QUNDMQ=="
    assert cmd_info("A", 2, "$G") == {"gateway": "A", "gateway_cmd": 2,
                                      "gateway_cmd_payload": "JEc="}
