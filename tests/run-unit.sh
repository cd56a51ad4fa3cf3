#!/usr/bin/env bash
# Run every unit-test binary in a build dir; prints per-binary results and a total.
set -u
build=${1:-build}
pass=0; fail=0; bad=()
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p')
    f=$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" != 0 ]; then bad+=("$t"); printf '%s\n' "$out" | grep -v '^ok ' ; fi
    printf '  %-40s %s\n' "$(basename "$t")" "$line"
done
echo "unit ($build): $pass passed, $fail failed"
[ "$fail" = 0 ]
