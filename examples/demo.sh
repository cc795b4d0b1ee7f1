#!/usr/bin/env bash
#   The README's demo command. Builds curve (installing missing Debian
#   packages when run as root) and runs the main demo.
#   Until the encrypted chat through a broker lands, the demo is
#   examples/hello: keys made with curve_cert, a curve_server behind
#   zauth with a directory of authorised client keys (Ironhouse), an
#   encrypted exchange, and the same client refused once its key is
#   removed.
set -eu
cd "$(dirname "$0")/.."

packages="build-essential cmake pkg-config libsodium-dev libzmq3-dev libczmq-dev"
missing=""
for package in $packages; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "== installing:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
        exit 1
    fi
fi

cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" --target hello >/dev/null
build/examples/hello/hello
