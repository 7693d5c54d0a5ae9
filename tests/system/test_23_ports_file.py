"""What the official clients' test launchers read: the ports file and /varz.

The launchers of nats.js, nats.deno, nats.node (and NATS's Go test helpers)
start a binary named nats-server with random ports and --ports_file_dir, wait
for <basename of argv[0]>_<pid>.ports, read the monitoring and cluster URLs
from it, then poll /varz (cluster.cluster_port, connect_urls) until a cluster
has formed. natsd started through a link named nats-server must do all of that
as nats-server does: each test runs the same steps against both.
"""

import json
import os
import re
import signal
import time

import pytest

import natsd as harness
from rawclient import RawClient
from test_08_monitor import get_json, wait_for

pytestmark = [pytest.mark.spawns]

KINDS = ["nats-server", "natsd"]


def _launch(server_factory, tmp_path, kind, pdir, args=(), conf=None, name=None, create=True,
            **kw):
    """Start kind as a binary called nats-server (natsd through a symlink)."""
    binary = None
    if kind == "natsd":
        link_dir = tmp_path / "bin"
        link_dir.mkdir(exist_ok=True)
        link = link_dir / "nats-server"
        if not link.exists():
            os.symlink(harness.natsd_bin(), str(link))
        binary = str(link)
    if create:
        os.makedirs(str(pdir), exist_ok=True)
    args = list(args)
    if conf is None or "ports_file_dir" not in conf:
        args += ["--ports_file_dir", str(pdir)]
    return server_factory(kind, conf=conf, args=args, binary=binary, name=name, **kw)


def _ports_file(srv, pdir):
    return os.path.join(str(pdir), "nats-server_%d.ports" % srv.pid)


def _read_ports(srv, pdir):
    path = _ports_file(srv, pdir)
    assert wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0), \
        "%s: no %s; dir has %r" % (srv.kind, path, os.listdir(str(pdir)))
    with open(path) as f:
        return json.load(f)


def _port_of(url):
    m = re.match(r"^[a-z]+://(.+):(\d+)$", url)
    assert m, url
    return int(m.group(2))


def _hosts(urls):
    """The scheme://host part of each URL, ports dropped (they are random)."""
    return [re.sub(r":\d+$", "", u) for u in urls]


@pytest.mark.interop
def test_ports_file_through_nats_server_link(server_factory, tmp_path):
    """A launcher's start: random monitoring and cluster ports, read back from
    the ports file; /varz at that monitoring URL shows the bound cluster port."""
    files = {}
    for kind in KINDS:
        pdir = tmp_path / ("ports-" + kind)
        srv = _launch(server_factory, tmp_path, kind, pdir,
                      args=["-m", "-1", "--cluster", "nats://127.0.0.1:-1"])
        doc = _read_ports(srv, pdir)
        files[kind] = doc
        assert sorted(doc) == ["cluster", "monitoring", "nats"], (kind, doc)
        assert _port_of(doc["nats"][0]) == srv.port, (kind, doc)
        mon = _port_of(doc["monitoring"][0])
        cluster = _port_of(doc["cluster"][0])
        varz = get_json(mon, "/varz")
        assert varz["port"] == srv.port
        # the bound port, not the configured -1
        assert varz["cluster"]["cluster_port"] == cluster, (kind, varz["cluster"])
        # and something listens there for routes
        assert harness.port_open(cluster), (kind, cluster)
    ref, mine = files["nats-server"], files["natsd"]
    for k in ref:
        assert _hosts(ref[k]) == _hosts(mine[k]), (k, ref[k], mine[k])


@pytest.mark.interop
def test_ports_file_lists_every_interface_for_any_host(server_factory, tmp_path):
    """Bound to 0.0.0.0, every address of every interface is listed, in the
    same order as nats-server lists them."""
    files = {}
    for kind in KINDS:
        pdir = tmp_path / ("ports-" + kind)
        port = harness.free_port()
        srv = _launch(server_factory, tmp_path, kind, pdir, port=port,
                      args=["-p", str(port), "-a", "0.0.0.0", "-m", "-1"])
        files[kind] = _read_ports(srv, pdir)
    ref, mine = files["nats-server"], files["natsd"]
    assert sorted(ref) == sorted(mine) == ["monitoring", "nats"], (ref, mine)
    for k in ref:
        assert _hosts(ref[k]) == _hosts(mine[k]), (k, ref[k], mine[k])
    assert "nats://127.0.0.1" in _hosts(mine["nats"]), mine


@pytest.mark.interop
@pytest.mark.parametrize("kind", KINDS)
def test_ports_file_removed_and_moved(server_factory, tmp_path, kind):
    """Removed when the server stops; a reload that changes ports_file_dir
    removes the old file and writes the new one."""
    a, b = tmp_path / "a", tmp_path / "b"
    os.makedirs(str(b))
    conf = 'port: @PORT@\nports_file_dir: "%s"\n' % a
    srv = _launch(server_factory, tmp_path, kind, a, conf=conf)
    _read_ports(srv, a)
    with open(srv.conf_path, "w") as f:
        f.write(srv.conf_text.replace(str(a), str(b)))
    os.kill(srv.pid, signal.SIGHUP)
    doc = _read_ports(srv, b)
    assert _port_of(doc["nats"][0]) == srv.port
    assert wait_for(lambda: not os.path.exists(_ports_file(srv, a))), os.listdir(str(a))
    pid = srv.pid
    srv.stop()
    assert not os.path.exists(os.path.join(str(b), "nats-server_%d.ports" % pid)), \
        os.listdir(str(b))


@pytest.mark.interop
def test_varz_routes_and_connect_urls_in_a_cluster(server_factory, tmp_path):
    """A launcher waits on /varz for a cluster: routes, remotes, connect_urls
    as nats-server shows them with two servers routed."""
    got = {}
    for kind in KINDS:
        pdir = tmp_path / ("ports-" + kind)
        seed = _launch(server_factory, tmp_path, kind, pdir, name=kind + "-seed",
                       args=["-m", "-1", "--cluster", "nats://127.0.0.1:-1",
                             "--cluster_name", "L"])
        sdoc = _read_ports(seed, pdir)
        other = _launch(server_factory, tmp_path, kind, pdir, name=kind + "-other",
                        args=["-m", "-1", "--cluster", "nats://127.0.0.1:-1",
                              "--cluster_name", "L", "--routes", sdoc["cluster"][0]])
        odoc = _read_ports(other, pdir)
        mon = _port_of(sdoc["monitoring"][0])

        def formed():
            v = get_json(mon, "/varz")
            return v if v["routes"] == 1 and len(v.get("connect_urls", [])) == 2 else None

        v = wait_for(formed)
        assert v, (kind, get_json(mon, "/varz"))
        assert v["remotes"] == 1, (kind, v["remotes"])
        assert sorted(v["connect_urls"]) == sorted(
            ["127.0.0.1:%d" % seed.port, "127.0.0.1:%d" % other.port]), (kind, v)
        o = get_json(_port_of(odoc["monitoring"][0]), "/varz")
        assert o["cluster"]["cluster_port"] == _port_of(odoc["cluster"][0]), (kind, o)
        got[kind] = v
    assert got["nats-server"]["cluster"].keys() == got["natsd"]["cluster"].keys()


@pytest.mark.interop
def test_gateway_name_stands_for_the_cluster(server_factory):
    """A gateway block without a cluster block: its name is the cluster name
    in /varz and in the client INFO."""
    conf = """
port: @PORT@
http: "127.0.0.1:@PORT_HTTP@"
no_system_account: true
gateway { name: "GWX", listen: "127.0.0.1:@PORT_GW@" }
"""
    res = {}
    for kind in KINDS:
        srv = server_factory(kind, conf=conf)
        varz = get_json(srv.ports["HTTP"], "/varz")
        c = RawClient(srv.port)
        info = c.read_info()
        c.close()
        res[kind] = (varz["cluster"], info.get("cluster"))
    assert res["nats-server"] == ({"name": "GWX"}, "GWX"), res
    assert res["natsd"] == res["nats-server"], res


@pytest.mark.interop
def test_ports_file_errors_logged_as_reference(server_factory, tmp_path):
    """A ports_file_dir that does not exist: the write and the clean-up at
    shutdown fail with nats-server's words."""
    missing = str(tmp_path / "missing")
    lines = {}
    for kind in KINDS:
        srv = _launch(server_factory, tmp_path, kind, missing, create=False,
                      expect_errors=[r"Error writing ports file", r"Error cleaning up ports file"])
        srv.wait_log(r"Error writing ports file")
        pid = srv.pid
        srv.stop()
        got = [re.sub(r"^\[\d+\] \S+ \S+ ", "", ln).replace("_%d." % pid, "_PID.")
               for ln in srv.log_text().splitlines() if "ports file" in ln]
        lines[kind] = got
    assert lines["natsd"] == lines["nats-server"], lines
    assert len(lines["natsd"]) == 2, lines
