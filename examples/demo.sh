#!/usr/bin/env bash
#   The README's demo command. Builds curve (installing missing Debian
#   packages when run as root) and runs the main demo, examples/chat: an
#   encrypted chat between alice, bob and carol through an untrusted
#   broker. Keys are made with curve_keygen, three scripted chat clients
#   talk through chat_broker (to all and in private), each transcript is
#   shown, and the broker's log of everything it forwarded is searched for
#   every line that was said: none may be there, only ciphertext.
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

echo "== building curve, curve_keygen, chat and chat_broker in build/"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" --target curve_keygen chat chat_broker \
    >/dev/null
echo "== examples/chat/demo.sh: encrypted chat through an untrusted broker"
echo
bash examples/chat/demo.sh build
