#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages natsd needs to build, test, fuzz and benchmark.
# As root it runs apt-get (one update, then one install of what is missing);
# otherwise it prints the exact command to run and fails.
set -euo pipefail

packages=(
    gcc make clang libclang-rt-14-dev clang-format clang-tidy cppcheck
    libssl-dev openssl libcjson-dev libmicrohttpd-dev libcrypt-dev
    libcriterion-dev libnats-dev nats-server
    python3 python3-pytest python3-pytest-xdist
    procps iproute2
    prometheus
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

cmd="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "natsd needs these Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "    sudo apt-get update && sudo $cmd" >&2
    exit 1
fi

echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
