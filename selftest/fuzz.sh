#!/usr/bin/env bash
#   =========================================================================
#   fuzz.sh - build the curve_codec fuzzer and run it for a while
#
#   Copyright (c) the curve contributors.
#   This Source Code Form is subject to the terms of the Mozilla Public
#   License, v. 2.0. If a copy of the MPL was not distributed with this
#   file, You can obtain one at http://mozilla.org/MPL/2.0/.
#   =========================================================================
#
#   Usage: selftest/fuzz.sh [SECONDS]
#
#   Builds curve_fuzz_codec (clang, libFuzzer, ASan and UBSan) in $BUILD_DIR
#   (default build-fuzz; a relative path is taken from the repository
#   root), runs it for SECONDS (default 60) on a copy of the seed corpus in
#   selftest/corpus/codec, so the checkout stays clean, and prints the
#   number of executions and libFuzzer's closing coverage line. Exits
#   non-zero if the fuzzer finds a crash, a leak or a broken invariant; the
#   input that did it is kept in $BUILD_DIR/fuzz-artifacts/.
#
#   To replay a crash file with a trace of every codec call:
#       CURVE_FUZZ_TRACE=1 $BUILD_DIR/curve_fuzz_codec CRASH_FILE
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

#   CURVE_FUZZ also instruments the library, so libFuzzer sees the codec
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang \
      -DCURVE_FUZZ=ON -DCURVE_SANITIZE=ON -DCURVE_CODEC_ONLY=ON \
      -DCURVE_EXAMPLES=OFF -DCURVE_BENCH=OFF > /dev/null
cmake --build "$build" --target curve_fuzz_codec > /dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$build/fuzz-artifacts"
cp "$root"/selftest/corpus/codec/* "$work/corpus/"

status=0
( cd "$work" && "$build/curve_fuzz_codec" \
    -max_total_time="$seconds" -detect_leaks=1 -timeout=60 \
    -artifact_prefix="$build/fuzz-artifacts/" corpus ) \
    > "$work/fuzz.log" 2>&1 || status=$?

done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" \
            | tail -n 1 || true)
if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
    tail -n 60 "$work/fuzz.log"
    echo "fuzz.sh: the fuzzer failed (exit $status); inputs kept in" \
         "$build/fuzz-artifacts/" >&2
    [ "$status" -ne 0 ] || status=1
    exit "$status"
fi
executions=$(echo "$done_line" | sed -E 's/^#([0-9]+).*/\1/')
echo "executions: $executions"
echo "$done_line"
