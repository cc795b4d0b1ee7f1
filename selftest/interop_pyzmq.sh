#!/usr/bin/env bash
#   interop_pyzmq.sh KEYGEN SCRATCH
#
#   Certificates made by curve_keygen load in pyzmq, and certificates made
#   by pyzmq load in curve. KEYGEN is the curve_keygen binary; SCRATCH is a
#   directory this script may wipe and fill (it is removed at the end).
#
#   Uses Debian's /usr/bin/python3 with python3-zmq on purpose, not any
#   other python3 on PATH. Exits 77 (CTest: skipped) when that python has
#   no zmq module.
#
#   Permissions: pyzmq's zmq.auth.create_certificates writes the secret file
#   with a plain open (), so its mode is whatever the umask gives (0644
#   with the usual umask 022: readable by everyone). curve refuses such a
#   file, which is the intended behaviour; the script checks the refusal,
#   then runs chmod 600 as a pyzmq user must, and checks the file loads.
#
#   Copyright (c) the curve contributors.
#   This Source Code Form is subject to the terms of the Mozilla Public
#   License, v. 2.0. If a copy of the MPL was not distributed with this
#   file, You can obtain one at http://mozilla.org/MPL/2.0/.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 KEYGEN SCRATCH" >&2
    exit 2
fi
keygen=$1
scratch=$2
python=/usr/bin/python3

if ! "$python" -c 'import zmq.auth' 2>/dev/null; then
    echo "SKIP: $python has no zmq module (apt-get install python3-zmq)"
    exit 77
fi

fail () {
    echo "FAIL: $*" >&2
    exit 1
}

rm -rf "$scratch"
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
echo "pyzmq $("$python" -c 'import zmq; print(zmq.__version__)'), \
libzmq $("$python" -c 'import zmq; print(zmq.zmq_version())')"

#   Print "public-z85 ok|mismatch|none" for a certificate file, as pyzmq
#   loads it; "ok" when pyzmq's secret key derives pyzmq's public key. The
#   secret key itself is never printed.
py_load () {
    "$python" - "$1" <<'EOF'
import sys
import zmq
import zmq.auth
public, secret = zmq.auth.load_certificate(sys.argv[1])
if secret is None:
    verdict = "none"
else:
    verdict = "ok" if zmq.curve_public(secret) == public else "mismatch"
print(public.decode("ascii"), verdict)
EOF
}

#   1. curve_keygen -> pyzmq
keys=$scratch/keys
public=$("$keygen" alice --dir "$keys" --meta name=Alice --meta role=client)
[ ${#public} -eq 40 ] || fail "curve_keygen printed '$public', not a Z85 key"
[ "$(stat -c %a "$keys/alice.key_secret")" = 600 ] \
    || fail "alice.key_secret is not mode 600"
[ "$("$keygen" --public "$keys/alice.key")" = "$public" ] \
    || fail "curve_keygen --public disagrees with what it printed"
[ "$(py_load "$keys/alice.key")" = "$public none" ] \
    || fail "pyzmq reads alice.key as '$(py_load "$keys/alice.key")'"
[ "$(py_load "$keys/alice.key_secret")" = "$public ok" ] \
    || fail "pyzmq reads alice.key_secret as" \
            "'$(py_load "$keys/alice.key_secret")'"
echo "ok: curve_keygen's files load in pyzmq ($public)"

#   pyzmq's directory loader (the *.key convention) sees curve_keygen keys
clients=$scratch/authorized_clients
mkdir -p "$clients"
"$keygen" bob --dir "$keys" >/dev/null 2>&1
cp "$keys/alice.key" "$keys/bob.key" "$clients/"
found=$("$python" - "$clients" <<'EOF'
import sys
import zmq.auth
keys = zmq.auth.load_certificates(sys.argv[1])
print(" ".join(sorted(key.decode("ascii") for key in keys)))
EOF
)
expected=$(printf '%s\n' "$public" "$("$keygen" --public "$keys/bob.key")" \
           | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
[ "$found" = "$expected" ] \
    || fail "pyzmq load_certificates found '$found', expected '$expected'"
echo "ok: pyzmq load_certificates reads an authorized_clients directory"

#   2. pyzmq -> curve
pydir=$scratch/pyzmq
mkdir -p "$pydir"
read -r py_public py_secret_file < <("$python" - "$pydir" <<'EOF'
import sys
import zmq.auth
public_file, secret_file = zmq.auth.create_certificates(
    sys.argv[1], "py", metadata={"name": "Py Thon"})
public, _ = zmq.auth.load_certificate(public_file)
print(public.decode("ascii"), secret_file)
EOF
)
[ "$py_secret_file" = "$pydir/py.key_secret" ] \
    || fail "pyzmq wrote its secret file as '$py_secret_file'"
[ "$("$keygen" --public "$pydir/py.key")" = "$py_public" ] \
    || fail "curve_keygen --public reads pyzmq's py.key differently"
[ "$("$keygen" --public "$pydir/py.key_secret")" = "$py_public" ] \
    || fail "curve_keygen --public reads pyzmq's py.key_secret differently"

mode=$(stat -c %a "$pydir/py.key_secret")
echo "note: pyzmq wrote py.key_secret with mode $mode (umask $(umask))"
if [ "$mode" != 600 ] && [ "$mode" != 400 ]; then
    #   Too open: curve must refuse it, naming the file and the fix
    if message=$("$keygen" --check "$pydir/py.key_secret" 2>&1); then
        fail "curve loaded a secret file of mode $mode"
    fi
    refusal="Permissions 0$mode for '$pydir/py.key_secret' are too open"
    case $message in
        *"$refusal"*"chmod 600 "*) ;;
        *) fail "unexpected refusal: $message" ;;
    esac
    echo "ok: refused as it should be: $message"
    chmod 600 "$pydir/py.key_secret"
fi
#   curve_cert_load_secret (through --check) loads it and checks the pair
[ "$("$keygen" --check "$pydir/py.key")" = "$py_public" ] \
    || fail "curve cannot load pyzmq's secret certificate"
[ "$("$keygen" --check "$pydir/py.key_secret")" = "$py_public" ] \
    || fail "curve cannot load pyzmq's secret certificate by its own name"
echo "ok: pyzmq's files load in curve ($py_public)"

#   3. Errors: a usage error exits 2, a failure 1, an existing key is kept
set +e
"$keygen" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments should exit 2"
"$keygen" alice --dir "$keys" >/dev/null 2>"$scratch/stderr"
[ $? -eq 1 ] || fail "overwriting should fail"
set -e
grep -q -- "--force" "$scratch/stderr" \
    || fail "no --force hint: $(cat "$scratch/stderr")"
[ "$("$keygen" --public "$keys/alice.key")" = "$public" ] \
    || fail "a refused overwrite changed alice.key"
replaced=$("$keygen" alice --dir "$keys" --force 2>/dev/null)
[ "$replaced" != "$public" ] || fail "--force did not make a new key"
[ "$(py_load "$keys/alice.key_secret")" = "$replaced ok" ] \
    || fail "pyzmq reads the replaced key pair wrongly"
echo "ok: exit codes, overwrite refusal, --force"
echo "interop_pyzmq: all passed"
