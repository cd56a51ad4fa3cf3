#!/usr/bin/env bash
# Replay each committed libFuzzer corpus through its target (ASan+UBSan build).
# Prints one line per target and "fuzz: N passed, N failed" (N = targets).
set -u
dir=${1:-build-fuzz}
cd "$(dirname "$0")/../.."
pass=0; fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); bin="$dir/$name"; corpus="tests/fuzz/corpus/${name#fuzz_}"
    [ -d "$corpus" ] || corpus="tests/fuzz/corpus/$name"
    if [ ! -x "$bin" ]; then echo "  $name: not built"; fail=$((fail+1)); continue; fi
    files=$(find "$corpus" -type f 2>/dev/null | wc -l)
    if [ "$files" = 0 ]; then echo "  $name: empty corpus"; fail=$((fail+1)); continue; fi
    if out=$("$bin" -runs=0 "$corpus" 2>&1); then
        echo "  $name: $files inputs ok"; pass=$((pass+1))
    else
        echo "  $name: FAILED"; echo "$out" | tail -20; fail=$((fail+1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
