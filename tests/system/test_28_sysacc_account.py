"""The system account's per-account services ($SYS.REQ.ACCOUNT.<acc>.*), as
nats-server 2.9.10 answers them (events.go).

natsd and nats-server run with test_26_sysacc's configuration; a user of the
system account asks about account A (which has one client with a
subscription) and the replies are compared field by field and type by type.
"""

import pytest

from test_08_monitor import assert_same_shape
from test_26_sysacc import Client, SysClient, check_server_block, one, settle, start

pytestmark = [pytest.mark.spawns]

# the subscriptions nats-server adds to every account for the system
# services it imports there; natsd does not add them yet
SYS_IMPORTS = {"$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.STATZ",
               "$SYS.REQ.SERVER.PING.CONNZ"}


@pytest.fixture
def pair(server_factory):
    ref = start(server_factory, "nats-server")
    mine = start(server_factory, "natsd")
    users = []
    for s in (ref, mine):
        settle(s, 0)
        u = Client(s.port)
        u.read_info()
        u.send_connect(verbose=False, pedantic=False, user="a", **{"pass": "pw"})
        u.send("SUB foo.* 1\r\nPING\r\n")
        u.expect_line("PONG")
        users.append(u)
    clients = (SysClient(ref), SysClient(mine))
    yield (ref, mine), clients
    for c in clients + tuple(users):
        c.close()


def both(pair, subject, body=b""):
    (ref, mine), (cr, cm) = pair
    a = one(cr.request(subject, body), "nats-server " + subject)
    b = one(cm.request(subject, body), "natsd " + subject)
    check_server_block(cm.info, mine, b["server"])
    assert sorted(a) == sorted(b), (a, b)
    return a, b


@pytest.mark.interop
def test_account_connz(pair):
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.CONNZ")
    assert_same_shape(a, b, "CONNZ")
    assert a["data"]["num_connections"] == b["data"]["num_connections"] == 1
    assert a["data"]["connections"][0]["subscriptions"] == b["data"]["connections"][0]["subscriptions"] == 1
    # the body's options apply, the subject's account wins over the body's
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.CONNZ", {"subscriptions": True, "acc": "SYS"})
    assert a["data"]["connections"][0]["subscriptions_list"] == \
        b["data"]["connections"][0]["subscriptions_list"] == ["foo.*"]
    # the system user's own account
    a, b = both(pair, "$SYS.REQ.ACCOUNT.SYS.CONNZ")
    assert a["data"]["num_connections"] == b["data"]["num_connections"] == 1


@pytest.mark.interop
def test_account_subsz(pair):
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.SUBSZ")
    subj_a = {s["subject"] for s in a["data"]["subscriptions_list"]} - SYS_IMPORTS
    subj_b = {s["subject"] for s in b["data"]["subscriptions_list"]}
    assert subj_a == subj_b == {"foo.*"}
    assert all(s["account"] == "A" for s in b["data"]["subscriptions_list"])
    assert_same_shape(a["data"]["subscriptions_list"][0], b["data"]["subscriptions_list"][0], "sub")


@pytest.mark.interop
def test_account_leafz_jsz(pair):
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.LEAFZ")
    assert_same_shape(a, b, "LEAFZ")
    assert a["data"]["leafnodes"] == b["data"]["leafnodes"] == 0
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.JSZ")
    assert a["error"] == b["error"] == {"code": 500, "description": "jetstream not enabled"}
    assert a["data"] is b["data"] is None


@pytest.mark.interop
def test_account_info(pair):
    a, b = both(pair, "$SYS.REQ.ACCOUNT.A.INFO")
    for k in ("account_name", "expired", "complete", "jetstream_enabled", "client_connections",
              "leafnode_connections"):
        assert a["data"][k] == b["data"][k], k
    assert b["data"]["account_name"] == "A"
    a, b = both(pair, "$SYS.REQ.ACCOUNT.NOPE.INFO")
    assert a["error"] == b["error"] == {"code": 500, "description": "Account NOPE does not exist"}
    assert a["data"] is b["data"] is None


@pytest.mark.interop
@pytest.mark.parametrize("svc", ["CONNZ", "SUBSZ", "LEAFZ", "JSZ", "INFO"])
def test_account_filter_and_errors(pair, svc):
    (ref, mine), (cr, cm) = pair
    subj = "$SYS.REQ.ACCOUNT.A." + svc
    for c in (cr, cm):
        assert c.request(subj, {"server_name": "nobody"}, wait=0.5) == []
    a, b = both(pair, subj, b'"x"')
    assert a["error"]["code"] == b["error"]["code"] == 400
    if svc != "INFO":  # natsd names AccountzEventOptions there (AccInfoEventOptions)
        assert a["error"] == b["error"]


@pytest.mark.interop
def test_other_accounts_get_nothing(pair):
    (ref, mine), _ = pair
    for s in (ref, mine):
        u = SysClient(s, user="a")
        try:
            assert u.request("$SYS.REQ.ACCOUNT.A.CONNZ", wait=0.5) == []
        finally:
            u.close()


@pytest.mark.interop
def test_account_services_in_subsz(pair):
    """The services are subscriptions of the system account in /subsz, with
    nats-server's subjects; every subject natsd has there, nats-server has."""
    a, b = both(pair, "$SYS.REQ.ACCOUNT.SYS.SUBSZ")
    subj = {k: {x["subject"] for x in r["data"]["subscriptions_list"]
                if not x["subject"].startswith("_INBOX.")}
            for k, r in (("nats-server", a), ("natsd", b))}
    want = {"$SYS.REQ.ACCOUNT.*." + n for n in ("CONNZ", "SUBSZ", "LEAFZ", "JSZ", "INFO")}
    assert want <= subj["nats-server"]
    assert want <= subj["natsd"]
    norm = {k: {x for x in v if not x.startswith("$SYS.REQ.SERVER.N")} for k, v in subj.items()}
    assert norm["natsd"] <= norm["nats-server"], norm["natsd"] - norm["nats-server"]
