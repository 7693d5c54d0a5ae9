# SPDX-License-Identifier: Apache-2.0
"""Queue groups across gateways go to the remote cluster with the lowest RTT.

Cluster A (the publisher, no local member) reaches clusters B and C, each
with a member of queue group grp, through TCP proxies written here that delay
what flows back from B or C (the PONGs A measures its RTT with). A sends
every message of the group to the cluster behind the fast proxy; when the
delays are swapped, the next PING rounds move the traffic to the other one.
Each message is delivered once in the whole supercluster throughout."""
import json
import socket
import threading
import time

import pytest

from gwpeer import client, http_json, wait_until
from natsd import free_port, scaled

pytestmark = [pytest.mark.spawns]

KINDS = [pytest.param("nats-server", id="nats-server", marks=pytest.mark.interop),
         pytest.param("natsd", id="natsd", marks=pytest.mark.threaded)]


class DelayProxy:
    """Forwards a listening port to target; bytes coming back from target are
    held for `delay` seconds (set at any time) before they are passed on."""

    def __init__(self, target_port):
        self.target = target_port
        self.delay = 0.0
        self.port = free_port()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, True), daemon=True).start()

    def _pump(self, src, dst, delayed):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if delayed and self.delay:
                time.sleep(self.delay)
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.closed = True
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def _gw_conf(name, extra=""):
    # a gateway handshake through a proxy of this process may take a while
    # on a loaded machine: far more than the default 2s auth timeout, which
    # would close the link with an [ERR] and have A reconnect
    return """
server_name: %s
listen: 127.0.0.1:@PORT@
http: 127.0.0.1:@PORT_HTTP@
ping_interval: "1s"
gateway { name: %s, listen: "127.0.0.1:@PORT_GW@", authorization { timeout: %d } %s }
""" % (name, name, int(scaled(5)), extra)


def _batch(pub, subs, tag, n=20):
    """Publish n messages tagged tag; returns how many each subscriber got
    once all n have arrived somewhere (each exactly once)."""
    for i in range(n):
        pub.pub("work", b"%s-%02d" % (tag, i))
    pub.ping_pong()
    got = {k: [] for k in subs}

    def all_in():
        for k, c in subs.items():
            c.send(b"PING\r\n")
            while True:
                line = c.read_line()
                if line == "PONG":
                    break
                if line == "PING":
                    c.send(b"PONG\r\n")
                    continue
                parts = line.split(" ")
                data = c.read_bytes(int(parts[-1]) + 2)[:-2]
                if data.startswith(tag + b"-"):
                    got[k].append(data)
        return sum(len(v) for v in got.values()) >= n

    wait_until(all_in, timeout=10, what="the batch %r" % tag)
    everything = sorted(sum(got.values(), []))
    assert everything == sorted(b"%s-%02d" % (tag, i) for i in range(n)), "lost or duplicated"
    return {k: len(v) for k, v in got.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_queue_follows_lowest_rtt(kind, server_factory):
    # teardown: the proxies close first, so links break mid-write
    errs = [r"Error connecting to (implicit|explicit) gateway", r"Error flushing",
            r"[Bb]roken pipe", r"[Cc]onnection reset"]
    # B and C advertise their proxies: should A ever reconnect a gateway, it
    # goes through the proxy again, never to the address B's INFO gossips
    gw_b, gw_c = free_port(), free_port()
    pb, pc = DelayProxy(gw_b), DelayProxy(gw_c)
    try:
        b = server_factory(kind, _gw_conf("B", ', advertise: "127.0.0.1:%d"' % pb.port),
                           name="B", ports={"GW": gw_b}, expect_errors=errs)
        c = server_factory(kind, _gw_conf("C", ', advertise: "127.0.0.1:%d"' % pc.port),
                           name="C", ports={"GW": gw_c}, expect_errors=errs)
        pb.delay = 0.25
        a = server_factory(kind, _gw_conf("A", """, gateways: [
            {name: B, url: "nats://127.0.0.1:%d"},
            {name: C, url: "nats://127.0.0.1:%d"}]""" % (pb.port, pc.port)),
            name="A", expect_errors=errs)
        mb, mc = client(b), client(c)
        for m in (mb, mc):
            m.sub("work", 1, queue="grp")
            m.ping_pong()
        pub = client(a)
        seen = {}

        def a_knows_both():
            # the clients answer the servers' PINGs meanwhile (ping_interval
            # is 1s: left alone for 3s they would be closed as stale, and
            # their queue subscriptions with them)
            for cl in (mb, mc, pub):
                cl.ping_pong()
            gz = http_json(a.ports["HTTP"], "/gatewayz?accs=1")
            outs = gz.get("outbound_gateways") or {}
            seen["outbound_gateways"] = outs
            ok = set(outs) == {"B", "C"}
            for name in ("B", "C"):
                accs = (outs.get(name) or {}).get("accounts") or []
                ok = ok and any(x.get("num_queue_subs") for x in accs)
                rtt = ((outs.get(name) or {}).get("connection") or {}).get("rtt", "0s")
                ok = ok and rtt != "0s"
            return ok

        try:
            wait_until(a_knows_both, timeout=20, what="A's outbounds with queue interest and RTTs")
        except AssertionError as e:
            raise AssertionError("%s; A's last /gatewayz outbound_gateways: %s"
                                 % (e, json.dumps(seen.get("outbound_gateways")))) from None
        subs = {"B": mb, "C": mc}
        # the slow one gets nothing once RTTs are measured
        wait_until(lambda: _batch(pub, subs, b"c1")["B"] == 0, timeout=20,
                   what="every message going to C")
        assert _batch(pub, subs, b"c2") == {"B": 0, "C": 20}
        # swap: after the next PING rounds, B is the fast one
        pb.delay, pc.delay = 0.0, 0.25
        wait_until(lambda: _batch(pub, subs, b"b1")["C"] == 0, timeout=20,
                   what="every message going to B")
        assert _batch(pub, subs, b"b2") == {"B": 20, "C": 0}
        # a member in A itself takes everything: local cluster first
        ma = client(a)
        ma.sub("work", 1, queue="grp")
        ma.ping_pong()
        subs["A"] = ma
        assert _batch(pub, subs, b"a1") == {"A": 20, "B": 0, "C": 0}
    finally:
        pb.close()
        pc.close()
