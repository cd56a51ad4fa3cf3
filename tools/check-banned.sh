#!/usr/bin/env bash
# STYLE.md rule 16: these C functions never appear in the tree.
cd "$(dirname "$0")/.."
if grep -rnE '\b(sprintf|strcpy|strcat|strtok|gets|atoi)\(' src tools tests/unit tests/fuzz --include='*.c' --include='*.h'; then
    echo "banned functions found (STYLE.md rule 16)"; exit 1
fi
