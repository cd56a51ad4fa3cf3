#!/usr/bin/env bash
# Every test suite, in order, with progress; ends with "N passed, N failed".
#   unit (gcc -O2), unit (ASan+UBSan), fuzz corpus replay (clang libFuzzer),
#   integration (node --test) against the -O2 build and against the ASan build.
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
total_pass=0; total_fail=0; failed_suites=()
step() { printf '\n=== %s ===\n' "$*"; }
count() { # suite-name pass fail
    total_pass=$((total_pass + $2)); total_fail=$((total_fail + $3))
    [ "$3" = 0 ] || failed_suites+=("$1")
}
unit_suite() { # build-dir
    local out; out=$(tests/run-unit.sh "$1" 2>&1); echo "$out" | tail -n 40
    local line; line=$(echo "$out" | tail -n 1)
    local p f; p=$(echo "$line" | sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/p')
    f=$(echo "$line" | sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/p')
    count "unit $1" "${p:-0}" "${f:-1}"
}
node_suite() { # build-dir label
    local files; files=$(ls tests/integration/*.test.mjs tests/token/*.test.mjs 2>/dev/null)
    [ -n "$files" ] || return 0
    local log; log=$(mktemp)
    SMG_BUILD="$1" timeout 1500 node --test --test-concurrency=1 --test-reporter=spec \
        --test-reporter-destination=stdout $files 2>&1 | tee "$log" | grep -E '^\s*(✔|✖|ℹ (tests|pass|fail))' | tail -n 200
    local p f
    p=$(grep -E '^ℹ pass [0-9]+' "$log" | awk '{print $3}' | tail -1)
    f=$(grep -E '^ℹ fail [0-9]+' "$log" | awk '{print $3}' | tail -1)
    if [ -z "$p" ]; then p=0; f=1; fi
    [ "${f:-1}" = 0 ] || sed -n '/^✖ failing tests/,$p' "$log" | head -n 150
    count "integration $2" "$p" "${f:-1}"
    rm -f "$log"
}

step "build (gcc -O2)"
make -j"$JOBS" all unit-bins >/dev/null || { echo "build failed"; make all unit-bins 2>&1 | tail -30; exit 1; }
step "unit tests (-O2)"
unit_suite build
step "build (ASan+UBSan)"
make -j"$JOBS" SAN=asan all unit-bins >/dev/null || { echo "asan build failed"; exit 1; }
step "unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 unit_suite build-asan
step "fuzz corpus replay (libFuzzer, ASan+UBSan)"
if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    out=$(make -j"$JOBS" fuzz-replay 2>&1); echo "$out" | tail -n 20
    line=$(echo "$out" | grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(echo "$line" | sed -nE 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\1/p')
    f=$(echo "$line" | sed -nE 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\2/p')
    count fuzz "${p:-0}" "${f:-1}"
fi
step "integration tests (-O2 build)"
node_suite build O2
step "integration tests (ASan+UBSan build)"
ASAN_OPTIONS=detect_leaks=1 node_suite build-asan asan

echo
[ ${#failed_suites[@]} -eq 0 ] || echo "failing suites: ${failed_suites[*]}"
echo "all: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
