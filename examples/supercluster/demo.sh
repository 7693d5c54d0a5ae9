#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The supercluster example end to end: starts A, B and C (A.conf, B.conf, C.conf from this
# directory), waits until every server has a gateway to both other clusters, subscribes on
# C, publishes on B and shows the message arriving at C, then stops the three servers.
#
#   examples/supercluster/demo.sh [SERVER]      (or: make demo)
#
# SERVER (or $NATSD) is the server binary: build/release/natsd by default; NATSD=nats-server
# runs the same demo on the reference server. Ports default to the example's (clients
# 4222/4333/4444, gateways 7222/7333/7444, monitoring 8222/8333/8444); if one is taken,
# override it, e.g. SC_B_PORT=14333 SC_B_GW=17333 SC_B_HTTP=18333. The servers run from
# copies of the files with those ports put in. Needs only bash and /usr/bin/python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3

BIN=${1:-${NATSD:-$ROOT/build/release/natsd}}
if [[ $BIN != */* ]]; then
    BIN=$(command -v "$BIN" || true)
fi
if [[ -z $BIN || ! -x $BIN ]]; then
    echo "demo: server binary '${1:-${NATSD:-$ROOT/build/release/natsd}}' not found" \
        "(build it with 'make', or set NATSD=/path/to/server)" >&2
    exit 1
fi

declare -A PORT GW HTTP
PORT[A]=${SC_A_PORT:-4222} GW[A]=${SC_A_GW:-7222} HTTP[A]=${SC_A_HTTP:-8222}
PORT[B]=${SC_B_PORT:-4333} GW[B]=${SC_B_GW:-7333} HTTP[B]=${SC_B_HTTP:-8333}
PORT[C]=${SC_C_PORT:-4444} GW[C]=${SC_C_GW:-7444} HTTP[C]=${SC_C_HTTP:-8444}
DEFAULTS="A:4222:7222:8222 B:4333:7333:8333 C:4444:7444:8444"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/natsd-supercluster.XXXXXX")
PIDS=()
STATUS=1

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $STATUS -ne 0 ]]; then
        for c in A B C; do
            if [[ -s $WORK/$c.log ]]; then
                echo "--- last lines of $c's log ---" >&2
                tail -n 8 "$WORK/$c.log" >&2
            fi
        done
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every port must be free before anything starts, or the error would be a server's.
taken=$("$PY" - "${PORT[@]}" "${GW[@]}" "${HTTP[@]}" <<'EOF'
import socket, sys
busy = []
for p in sys.argv[1:]:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            s.bind(("127.0.0.1", int(p)))
        except OSError:
            busy.append(p)
print(" ".join(busy))
EOF
)
if [[ -n $taken ]]; then
    echo "demo: port(s) $taken already in use; override them with SC_<A|B|C>_PORT," \
        "SC_<A|B|C>_GW or SC_<A|B|C>_HTTP (see the top of $0)" >&2
    exit 1
fi

# Copies of the three files with the chosen ports (identical to them with the defaults).
sed_args=()
for d in $DEFAULTS; do
    IFS=: read -r c p g h <<<"$d"
    sed_args+=(-e "s/localhost:$p\\b/localhost:${PORT[$c]}/g"
        -e "s/localhost:$g\\b/localhost:${GW[$c]}/g"
        -e "s/localhost:$h\\b/localhost:${HTTP[$c]}/g")
done
for c in A B C; do
    sed "${sed_args[@]}" "$HERE/$c.conf" >"$WORK/$c.conf"
done

echo "server: $BIN ($("$BIN" --version 2>&1 | head -n 1 || true))"
for c in A B C; do
    "$BIN" -c "$WORK/$c.conf" >"$WORK/$c.log" 2>&1 &
    PIDS+=($!)
    echo "started $c (pid $!): clients localhost:${PORT[$c]}, gateway localhost:${GW[$c]}," \
        "monitoring http://localhost:${HTTP[$c]}"
done

# Formed = every server has an outbound gateway to each other cluster and an inbound from
# each (B and C list only A: they learn of each other from A).
echo "waiting for the supercluster (GET /gatewayz on each server) ..."
"$PY" - "${HTTP[A]}" "${HTTP[B]}" "${HTTP[C]}" "${PIDS[@]}" <<'EOF'
import json, os, sys, time, urllib.request
http = dict(zip("ABC", sys.argv[1:4]))
pids = dict(zip("ABC", map(int, sys.argv[4:7])))
t0 = time.time()
deadline = t0 + 30
last = {}
while True:
    for c, pid in pids.items():
        try:
            os.kill(pid, 0)
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    raise ProcessLookupError
        except ProcessLookupError:
            sys.exit("demo: server %s exited" % c)
    for c, port in http.items():
        try:
            with urllib.request.urlopen("http://localhost:%s/gatewayz" % port, timeout=2) as r:
                j = json.load(r)
            last[c] = (sorted((j.get("outbound_gateways") or {}).keys()),
                       sorted(k for k, v in (j.get("inbound_gateways") or {}).items() if v))
        except (OSError, ValueError) as e:
            last[c] = ("error", str(e))
    if all(last[c] == ([x for x in "ABC" if x != c],) * 2 for c in "ABC"):
        break
    if time.time() > deadline:
        sys.exit("demo: no supercluster after 30 s; /gatewayz (outbound, inbound): %s" % last)
    time.sleep(0.1)
print("supercluster formed after %.1f s:" % (time.time() - t0))
for c in "ABC":
    print("  %s: outbound to %s, inbound from %s" % (c, ", ".join(last[c][0]),
                                                   ", ".join(last[c][1])))
EOF

# A raw NATS client (CONNECT/SUB/PUB/PING over a socket): subscribe on C, then publish on
# B until the message arrives. B forwards only what C has said it wants, so the first
# publishes can race C's interest crossing the gateway; each attempt is numbered.
"$PY" - "${PORT[B]}" "${PORT[C]}" <<'EOF'
import select, socket, sys
pub_port, sub_port = int(sys.argv[1]), int(sys.argv[2])

def connect(port, name):
    s = socket.create_connection(("localhost", port), timeout=5)
    f = s.makefile("rb")
    if not f.readline().startswith(b"INFO "):
        sys.exit("demo: no INFO from localhost:%d" % port)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"%s"}\r\nPING\r\n'
              % name.encode())
    expect(f, b"PONG")
    return s, f

def expect(f, what):
    while True:
        line = f.readline()
        if not line:
            sys.exit("demo: connection closed")
        if line.startswith(b"-ERR"):
            sys.exit("demo: %s" % line.decode().strip())
        if line.startswith(what):
            return line

sub, subf = connect(sub_port, "demo-sub-C")
sub.sendall(b"SUB demo.greeting 1\r\nPING\r\n")
expect(subf, b"PONG")
print("subscribed to 'demo.greeting' on C (localhost:%d)" % sub_port)
pub, pubf = connect(pub_port, "demo-pub-B")
for attempt in range(1, 51):
    body = b"hello from B, attempt %d" % attempt
    pub.sendall(b"PUB demo.greeting %d\r\n%s\r\nPING\r\n" % (len(body), body))
    expect(pubf, b"PONG")
    print("published '%s' on B (localhost:%d)" % (body.decode(), pub_port))
    # nothing is left in subf's buffer after the PONG, so the socket tells the truth
    if not select.select([sub], [], [], 0.2)[0]:
        continue
    line = expect(subf, b"MSG ")
    size = int(line.split()[-1])
    data = subf.read(size + 2)[:size]
    print("C received on [%s]: '%s'" % (line.split()[1].decode(), data.decode()))
    sys.exit(0)
sys.exit("demo: nothing arrived at C after 50 attempts (10 s)")
EOF

STATUS=0
echo "ok: a message published on B was delivered to a subscriber on C; stopping the servers"
