#!/usr/bin/env bash
# Print docs/configuration.md, generated from smg's option table: `make docs` runs
#   tools/gen-config-doc.sh build/smg > docs/configuration.md
# Usage: tools/gen-config-doc.sh [path/to/smg]
set -euo pipefail
smg=${1:-build/smg}
if [ ! -x "$smg" ]; then
    echo "gen-config-doc: $smg not found; run make first" >&2
    exit 1
fi
out=$("$smg" --help-markdown) || {
    echo "gen-config-doc: '$smg --help-markdown' failed (is smg_options_load wired into main?)" >&2
    exit 1
}
printf '%s\n' "$out"
