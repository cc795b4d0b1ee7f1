#!/usr/bin/env bash
#   Build curve and run every test: the self tests (ctest), the same under
#   AddressSanitizer + UBSan, every self test under valgrind, a codec-only build,
#   an install + consumer check, and a bounded fuzzing run.
#   Installs missing Debian packages itself when run as root.
#
#   Environment: FUZZ_SECONDS (default 60) per fuzz harness; JOBS (default
#   nproc); CI=true turns warnings into errors.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

packages="build-essential cmake pkg-config libsodium-dev libzmq3-dev
          libczmq-dev clang libclang-rt-14-dev valgrind python3-zmq"
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

jobs=${JOBS:-$(nproc)}
werror=OFF
[ "${CI:-}" = true ] && werror=ON
passed=0
failed=0
stage () {
    local name=$1
    shift
    echo
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        echo "== FAILED: $name"
        failed=$((failed + 1))
    fi
}

build () {     # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DCURVE_WERROR=$werror "$@" >/dev/null \
    && cmake --build "$dir" -j "$jobs" >/dev/null
}

run_ctest () {
    build build "$@" && (cd build && ctest --output-on-failure -j "$jobs")
}

run_sanitizers () {
    build build-asan -DCMAKE_C_COMPILER=clang -DCURVE_SANITIZE=ON \
        -DCURVE_BENCH=OFF \
    && (cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$jobs")
}

run_valgrind () {
    #   Every class, each in its own process (--continue). "Possibly lost"
    #   blocks are the thread-local storage of czmq actor threads, which are
    #   detached and may still be ending at exit; definite and indirect
    #   leaks are errors.
    valgrind --quiet --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect \
        --trace-children=no build/curve_selftest --continue
}

run_codec_only () {
    build build-codec -DCURVE_CODEC_ONLY=ON \
    && (cd build-codec && ctest --output-on-failure) \
    && ! ldd build-codec/libcurve.so | grep -q zmq
}

run_install () {
    local prefix
    prefix=$(mktemp -d)
    cmake --install build --prefix "$prefix" >/dev/null \
    && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --libs libcurve \
    && cmake -S selftest/consumer -B build-consumer \
        -DCMAKE_PREFIX_PATH="$prefix" >/dev/null \
    && cmake --build build-consumer >/dev/null \
    && LD_LIBRARY_PATH="$prefix/lib" build-consumer/consumer_cmake \
    && cc -o build-consumer/consumer_pc selftest/consumer/consumer.c \
        $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs libcurve libsodium) \
    && LD_LIBRARY_PATH="$prefix/lib" build-consumer/consumer_pc
    local rc=$?
    rm -rf "$prefix"
    return $rc
}

run_fuzz () {
    BUILD_DIR=build-fuzz bash selftest/fuzz.sh "${FUZZ_SECONDS:-60}"
}

stage "build and self tests (ctest)" run_ctest
stage "AddressSanitizer + UBSan" run_sanitizers
stage "valgrind: every self test" run_valgrind
stage "codec-only build (no czmq, no libzmq)" run_codec_only
stage "install: pkg-config and find_package (curve)" run_install
stage "fuzzing (${FUZZ_SECONDS:-60} s per harness)" run_fuzz

echo
echo "stages: $passed passed, $failed failed"
[ "$failed" = 0 ]
