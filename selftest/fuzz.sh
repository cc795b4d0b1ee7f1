#!/usr/bin/env bash
#   =========================================================================
#   fuzz.sh - build the libFuzzer harnesses and run each for a while
#
#   Copyright (c) the curve contributors.
#   This Source Code Form is subject to the terms of the Mozilla Public
#   License, v. 2.0. If a copy of the MPL was not distributed with this
#   file, You can obtain one at http://mozilla.org/MPL/2.0/.
#   =========================================================================
#
#   Usage: selftest/fuzz.sh [SECONDS]
#
#   Builds the harnesses (clang, libFuzzer, ASan and UBSan, the full
#   library) in $BUILD_DIR (default build-fuzz; a relative path is taken
#   from the repository root) and runs each, one after the other, for
#   SECONDS (default 60) on a copy of its seed corpus, so the checkout
#   stays clean:
#       curve_fuzz_codec     selftest/corpus/codec      the codec
#       curve_fuzz_session   selftest/corpus/session    the session engine
#       curve_fuzz_metadata  selftest/corpus/metadata   metadata both ways
#       curve_fuzz_cert      selftest/corpus/cert       certificate files
#   For each it prints the number of executions and libFuzzer's closing
#   coverage, then a summary line. Exits non-zero if any finds a crash, a
#   leak or a broken invariant (after running the others); the input that
#   did it is kept in $BUILD_DIR/fuzz-artifacts/, named after the harness.
#
#   To replay a crash file with a trace of every call:
#       CURVE_FUZZ_TRACE=1 $BUILD_DIR/curve_fuzz_<harness> CRASH_FILE
#   CURVE_FUZZ_STRICT=1 makes curve_fuzz_session abort also on a message
#   delivered twice across a server restart (a known limitation of RESET,
#   see the harness) for inputs that only move, drop or reorder frames.
set -eu

seconds=${1:-60}
case $seconds in
    ''|*[!0-9]*)
        echo "usage: $0 [SECONDS]" >&2
        exit 2
        ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-fuzz}
case $build in
    /*) ;;
    *)  build=$root/$build ;;
esac
harnesses="codec session metadata cert"

#   CURVE_FUZZ also instruments the library, so libFuzzer sees its branches.
#   CURVE_CODEC_ONLY is set OFF explicitly: an older build directory may
#   have it cached ON, and the session and cert harnesses need czmq.
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang \
      -DCURVE_FUZZ=ON -DCURVE_SANITIZE=ON -DCURVE_CODEC_ONLY=OFF \
      -DCURVE_EXAMPLES=OFF -DCURVE_BENCH=OFF > /dev/null
targets=
for harness in $harnesses; do
    targets="$targets curve_fuzz_$harness"
done
# shellcheck disable=SC2086
cmake --build "$build" -j "$(nproc 2> /dev/null || echo 2)" \
      --target $targets > /dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts"

failed=
total=0
count=0
for harness in $harnesses; do
    count=$((count + 1))
    corpus=$work/corpus-$harness
    log=$work/$harness.log
    mkdir -p "$corpus" "$work/tmp-$harness"
    if [ -d "$root/selftest/corpus/$harness" ]; then
        find "$root/selftest/corpus/$harness" -maxdepth 1 -type f \
             -exec cp {} "$corpus/" \;
    fi
    options=
    #   czmq's zconfig prints parse errors on stdout: keep them out
    [ "$harness" = cert ] && options=-close_fd_mask=1
    status=0
    # shellcheck disable=SC2086
    ( cd "$work" && TMPDIR="$work/tmp-$harness" \
        "$build/curve_fuzz_$harness" $options \
        -max_total_time="$seconds" -detect_leaks=1 -timeout=60 \
        -artifact_prefix="$build/fuzz-artifacts/$harness-" "$corpus" ) \
        > "$log" 2>&1 || status=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
        tail -n 60 "$log"
        echo "curve_fuzz_$harness: FAILED (exit $status); inputs kept in" \
             "$build/fuzz-artifacts/"
        failed="$failed $harness"
        continue
    fi
    executions=$(echo "$done_line" | sed -E 's/^#([0-9]+).*/\1/')
    coverage=$(echo "$done_line" | sed -E 's/.* cov: ([0-9]+).*/\1/')
    total=$((total + executions))
    echo "curve_fuzz_$harness: executions $executions, cov $coverage"
done

if [ -n "$failed" ]; then
    echo "fuzz.sh: FAILED:$failed ($count harnesses, $seconds s each);" \
         "inputs kept in $build/fuzz-artifacts/" >&2
    exit 1
fi
echo "fuzz.sh: $count harnesses clean, $seconds s each, $total executions"
