#!/usr/bin/env bash
# make bench: smg side by side with nginx and haproxy as reverse proxies, on the same machine and the
# same backends, then the tokenizer benchmarks (bench/token/*.sh) when they exist.
#
# Method (docs/performance.md has the details): each target (direct = client -> backend, smg, nginx,
# haproxy) is started alone, pinned to core $BENCH_PROXY_CPU, in front of a backend pinned with the
# load generator to core $BENCH_LOAD_CPU. Phases:
#   1. backend nginx returning a fixed 1 KB chat completion: RSS idle and with $BENCH_IDLE_CONNS idle
#      keep-alive connections, wrk -t1 at 64 and 256 connections (req/s, CPU us/request of the proxy
#      from /proc/PID/stat, p50/p99 at 64) and at 1 connection (p50/p99)
#   2. backend smg-sim (--response-bytes 1024), wrk at 64 connections (skipped if smg-sim does not run)
#   3. SSE, 100 chunks per response: chunks/s at itl 0 (smg-sim, else bench/tools/sse_origin) and
#      per-chunk delay at itl $BENCH_SSE_ITL_MS ms (sse_origin: exact schedule) against a direct stream
#      run at the same time (bench/tools/sse_client)
# Results: table on stdout, bench/results/proxy.{json,md,svg}.
#
# Environment (defaults in parentheses; bench/README.md has the table):
#   BENCH_DURATION (10 s per wrk run), BENCH_SSE_DURATION (5), BENCH_IDLE_CONNS (10000),
#   BENCH_REPEAT (1: runs of each measurement; the report takes medians),
#   BENCH_TARGETS ("direct smg nginx haproxy"), BENCH_PHASES ("nginx sim sse"),
#   BENCH_SSE_CONNS (16), BENCH_SSE_ITL_MS (5), BENCH_SSE_ITL_CONNS (1),
#   BENCH_SSE_BACKEND (sim) and BENCH_SSE_LATENCY_BACKEND (origin): sim = smg-sim when it runs,
#     origin = bench/tools/sse_origin,
#   BENCH_PROXY_CPU (0), BENCH_LOAD_CPU (1), SMG_BIN (build/smg), SIM_BIN (build/smg-sim),
#   SMG_ARGS ("--log-level warn"), SMG_COMMIT (smg's commit as the results name it; git HEAD),
#   BENCH_OUT (bench/results), BENCH_SKIP_TOKEN=1 (no tokenizer benchmarks),
#   BENCH_NO_BUILD=1 (no `make all` first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

DUR=${BENCH_DURATION:-10}
SSE_DUR=${BENCH_SSE_DURATION:-5}
IDLE_N=${BENCH_IDLE_CONNS:-10000}
TARGETS=${BENCH_TARGETS:-direct smg nginx haproxy}
PHASES=${BENCH_PHASES:-nginx sim sse}
SSE_CONNS=${BENCH_SSE_CONNS:-16}
SSE_ITL=${BENCH_SSE_ITL_MS:-5}
SSE_ITL_CONNS=${BENCH_SSE_ITL_CONNS:-1}
REPEAT=${BENCH_REPEAT:-1}
SSE_BACKEND=${BENCH_SSE_BACKEND:-sim}
SSE_LAT_BACKEND=${BENCH_SSE_LATENCY_BACKEND:-origin}
SSE_TP_DESC=none; SSE_LAT_DESC=none
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
SMG_BIN=${SMG_BIN:-build/smg}
SIM_BIN=${SIM_BIN:-build/smg-sim}
SMG_ARGS=${SMG_ARGS:---log-level warn}
OUT=${BENCH_OUT:-bench/results}
TOOLS=build/bench
P=bench/proxy

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

for v in DUR SSE_DUR IDLE_N SSE_CONNS SSE_ITL_CONNS REPEAT PROXY_CPU LOAD_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
for v in SSE_BACKEND SSE_LAT_BACKEND; do
    [[ ${!v} =~ ^(sim|origin)$ ]] || die "$v must be sim or origin, got '${!v}'"
done
for v in DUR SSE_DUR IDLE_N SSE_CONNS SSE_ITL_CONNS REPEAT; do
    [ "${!v}" -ge 1 ] || die "$v must be at least 1"
done
[[ $SSE_ITL =~ ^[0-9]+(\.[0-9]+)?$ ]] && [ "$SSE_ITL" != 0 ] || die "BENCH_SSE_ITL_MS must be a number > 0"
for t in wrk nginx haproxy node taskset curl ss pgrep cc; do
    command -v "$t" >/dev/null || die "$t not found (run tools/install-deps.sh)"
done
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then
    log "warning: 1 core only; proxy and load share it (figures are not comparable to 2-core runs)"
    PROXY_CPU=0; LOAD_CPU=0
fi

# File descriptors: 10,000 idle client connections need as many in the tool and in the proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" -lt $((IDLE_N + 1024)) ]; then
    log "warning: ulimit -n is $NOFILE; idle connections lowered to $((NOFILE - 1024))"
    IDLE_N=$((NOFILE - 1024))
fi

TMP=$(mktemp -d /tmp/smg-bench.XXXXXX)
RES=$TMP/results.jsonl
: >"$RES"
declare -a PIDS=()
stop_pid() { # pid: TERM, then KILL after 3 s; reaps it
    local p=$1 _
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    local keep=() q # forget it: a reaped PID may be reused by someone else's process
    for q in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
cleanup() {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do stop_pid "$p"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -------------------------------------------------------------------------------------
declare -A USED_PORTS=()
free_port() { # a port no socket uses, below the ephemeral range
    local p _
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        [ -z "${USED_PORTS[$p]:-}" ] || continue
        if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then USED_PORTS[$p]=1; echo "$p"; return 0; fi
    done
    die "no free port found"
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null || true; }
wait_http() { # url pid seconds: waits for 200 while pid lives
    local url=$1 pid=$2 n=$(( $3 * 10 )) _
    for _ in $(seq "$n"); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(http_code "$url")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
wait_line() { # file regex pid seconds: prints the first matching line
    local n=$(( $4 * 10 )) _ l
    for _ in $(seq "$n"); do
        l=$(grep -m1 -E "$2" "$1" 2>/dev/null || true)
        [ -n "$l" ] && { echo "$l"; return 0; }
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
tree_pids() { local c; echo "$1"; for c in $(pgrep -P "$1" 2>/dev/null); do tree_pids "$c"; done; }
cpu_ticks() { # utime+stime (clock ticks) summed over a process and its children
    local t=0 p v
    for p in $(tree_pids "$1"); do
        v=$(sed -E 's/^.*\) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
rss_kb() { # VmRSS summed over a process and its children
    local t=0 p v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)
fill() { # template out key=value...: replaces @KEY@ (values must not hold '|' '&' or '\')
    local src=$1 dst=$2 kv; shift 2
    local args=()
    for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${args[@]}" "$src" >"$dst"
}
record() { printf '%s\n' "$1" >>"$RES"; }

# --- build smg and the load tools ----------------------------------------------------------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    log "building smg and smg-sim (make all)"
    make -s -j2 all >"$TMP/make.log" 2>&1 ||
        log "warning: make all failed ($(tail -n1 "$TMP/make.log")); measuring the binaries as they are"
fi
log "building load tools (bench/tools -> $TOOLS)"
make -s -C bench OUT="$ROOT/$TOOLS" >/dev/null || die "building bench/tools failed"

RESPONSE=$(tr -d '\n' <$P/response.json)
MODELS='{"object":"list","data":[{"id":"bench","object":"model","created":1700000000,"owned_by":"bench"}]}'
case $RESPONSE in *\'*|*\\*|*\$*|*\|*|*\&*) die "$P/response.json must not contain ' \\ \$ | &";; esac

# --- backends (core LOAD_CPU) --------------------------------------------------------------------
BACKEND_PID=""; BACKEND_PORT=""; BACKEND_DESC=""
start_backend() { # kind [itl_ms]: nginx | sim | sse
    local kind=$1 itl=${2:-0} dir
    BACKEND_PORT=$(free_port)
    case $kind in
    nginx)
        dir=$TMP/backend-nginx; mkdir -p "$dir"
        fill $P/nginx-backend.conf "$dir/nginx.conf" DIR="$dir" PORT="$BACKEND_PORT" \
            NOFILE="$NOFILE" RESPONSE="$RESPONSE" MODELS="$MODELS"
        taskset -c "$LOAD_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
            >"$dir/out.log" 2>&1 &
        BACKEND_PID=$!; BACKEND_DESC="nginx 1 worker, fixed $(wc -c <$P/response.json)-byte chat completion"
        ;;
    sim)
        taskset -c "$LOAD_CPU" "$SIM_BIN" --port "$BACKEND_PORT" --host 127.0.0.1 --model bench \
            --response-bytes 1024 --itl-ms "$itl" --ttft-ms 0 >"$TMP/sim.log" 2>&1 &
        BACKEND_PID=$!; BACKEND_DESC="smg-sim, --itl-ms $itl"
        ;;
    sse)
        taskset -c "$LOAD_CPU" "$TOOLS/sse_origin" --port "$BACKEND_PORT" --model bench \
            --chunks 100 --itl-ms "$itl" --response $P/response.json >"$TMP/origin.log" 2>&1 &
        BACKEND_PID=$!; BACKEND_DESC="bench/tools/sse_origin, 100 chunks, --itl-ms $itl"
        ;;
    esac
    PIDS+=("$BACKEND_PID")
    wait_http "http://127.0.0.1:$BACKEND_PORT/v1/models" "$BACKEND_PID" 10
}
stop_backend() { [ -z "$BACKEND_PID" ] || stop_pid "$BACKEND_PID"; BACKEND_PID=""; }

sim_works() { # smg-sim starts, answers a 1 KB chat completion and streams `data:` events
    [ -x "$SIM_BIN" ] || { SIM_WHY="$SIM_BIN not built"; return 1; }
    if ! start_backend sim 0; then SIM_WHY="$SIM_BIN did not start ($(tail -n1 "$TMP/sim.log" 2>/dev/null))"; stop_backend; return 1; fi
    local u="http://127.0.0.1:$BACKEND_PORT/v1/chat/completions" ok=1
    [ "$(http_code -H 'Content-Type: application/json' --data-binary @$P/request.json "$u")" = 200 ] || ok=0
    curl -s -N --max-time 5 -H 'Content-Type: application/json' --data-binary @$P/request-stream.json "$u" \
        2>/dev/null | grep -q '^data: \[DONE\]' || ok=0
    stop_backend
    [ $ok = 1 ] || SIM_WHY="$SIM_BIN did not answer a chat completion and a stream"
    [ $ok = 1 ]
}

# --- targets (core PROXY_CPU) --------------------------------------------------------------------
T_PID=""; T_PORT=""; T_WHY=""; T_IDLE_N=0; STREAMING=0
start_target() { # name: starts it in front of BACKEND_PORT; sets T_PID (empty for direct), T_PORT
    local name=$1 dir
    T_PID=""; T_WHY=""; T_IDLE_N=$IDLE_N
    case $name in
    direct) T_PORT=$BACKEND_PORT; return 0 ;;
    nginx)
        T_PORT=$(free_port); dir=$TMP/proxy-nginx; rm -rf "$dir"; mkdir -p "$dir"
        fill $P/nginx-proxy.conf "$dir/nginx.conf" DIR="$dir" PORT="$T_PORT" BACKEND="$BACKEND_PORT" \
            NOFILE="$NOFILE" WCONN=$((IDLE_N + 2048))
        taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
            >"$dir/out.log" 2>&1 &
        T_PID=$!
        ;;
    haproxy)
        T_PORT=$(free_port); dir=$TMP/proxy-haproxy; rm -rf "$dir"; mkdir -p "$dir"
        # HAProxy reserves 2 descriptors per connection (client + server side) and refuses to start
        # when maxconn does not fit RLIMIT_NOFILE; where the hard limit is too low for IDLE_N idle
        # connections, it is measured with fewer (the table's per-connection figure stays comparable).
        local maxconn=$((IDLE_N + 2048)) fit=$(((NOFILE - 64) / 2))
        [ "$maxconn" -le "$fit" ] || { maxconn=$fit; T_IDLE_N=$((fit - 256)); }
        fill $P/haproxy.cfg "$dir/haproxy.cfg" PORT="$T_PORT" BACKEND="$BACKEND_PORT" \
            MAXCONN="$maxconn" NODELAY="$([ "$STREAMING" = 1 ] && echo 'option http-no-delay' || echo '# (default)')"
        taskset -c "$PROXY_CPU" haproxy -f "$dir/haproxy.cfg" -db >"$dir/out.log" 2>&1 &
        T_PID=$!
        ;;
    smg)
        T_PORT=$(free_port); dir=$TMP/proxy-smg; mkdir -p "$dir"
        if [ ! -x "$SMG_BIN" ]; then T_WHY="$SMG_BIN not built"; return 1; fi
        # shellcheck disable=SC2086
        taskset -c "$PROXY_CPU" "$SMG_BIN" --host 127.0.0.1 --port "$T_PORT" --threads 1 \
            --worker-urls "http://127.0.0.1:$BACKEND_PORT" --policy round_robin --prometheus-port 0 \
            $SMG_ARGS >"$dir/out.log" 2>&1 &
        T_PID=$!
        PIDS+=("$T_PID")
        if ! wait_line "$dir/out.log" 'smg listening on' "$T_PID" 10 >/dev/null ||
           ! wait_http "http://127.0.0.1:$T_PORT/readiness" "$T_PID" 15; then
            local why rc
            why=$(tail -n1 "$dir/out.log" 2>/dev/null | cut -c1-160)
            if ! kill -0 "$T_PID" 2>/dev/null; then
                wait "$T_PID" 2>/dev/null && rc=0 || rc=$?
                why="exited with status $rc${why:+: $why}"
            fi
            T_WHY="smg did not become ready (${why:-no output})"
            stop_pid "$T_PID"; T_PID=""
            return 1
        fi
        ;;
    esac
    [ "$name" = smg ] || PIDS+=("$T_PID")
    # The proxy is up when a chat completion goes through it.
    local _
    for _ in $(seq 50); do
        kill -0 "$T_PID" 2>/dev/null || break
        [ "$(http_code -H 'Content-Type: application/json' --data-binary @$P/request.json \
            "http://127.0.0.1:$T_PORT/v1/chat/completions")" = 200 ] && return 0
        sleep 0.1
    done
    T_WHY="$name did not proxy a chat completion: $(tail -n2 "$dir/out.log" "$dir/error.log" 2>/dev/null | tr '\n' ' ' | cut -c1-200)"
    stop_pid "$T_PID"; T_PID=""
    return 1
}
stop_target() { [ -z "$T_PID" ] || stop_pid "$T_PID"; T_PID=""; }

# --- measurements --------------------------------------------------------------------------------
fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%d us", u }'; }
jget() { # json path: prints a number from a one-line JSON
    node -e 'let o=JSON.parse(process.argv[1]);for(const k of process.argv[2].split("."))o=o?.[k];process.stdout.write(String(o??""))' "$1" "$2"
}

run_wrk() { # backend target conns seconds [label]: records a "wrk" result
    local backend=$1 target=$2 c=$3 d=$4 out c0 c1 b0 b1 line
    local pid=${T_PID:-}
    c0=0; [ -z "$pid" ] || c0=$(cpu_ticks "$pid"); b0=$(cpu_ticks "$BACKEND_PID")
    out=$(BENCH_BODY=$P/request.json taskset -c "$LOAD_CPU" wrk -t1 -c"$c" -d"${d}s" --latency \
        -s $P/post.lua "http://127.0.0.1:$T_PORT/v1/chat/completions" 2>&1) || true
    c1=0; [ -z "$pid" ] || c1=$(cpu_ticks "$pid"); b1=$(cpu_ticks "$BACKEND_PID")
    line=$(printf '%s\n' "$out" | sed -n 's/^BENCHJSON //p' | tail -n1)
    if [ -z "$line" ]; then
        log "  $target c=$c: wrk gave no result: $(printf '%s' "$out" | tail -n2 | tr '\n' ' ')"
        return 0
    fi
    [ "${5:-}" = warmup ] && return 0
    record "{\"kind\":\"wrk\",\"backend\":\"$backend\",\"target\":\"$target\",\"conns\":$c,\"wrk\":$line,\"proxy_cpu_ticks\":$((c1 - c0)),\"backend_cpu_ticks\":$((b1 - b0)),\"clk_tck\":$CLK_TCK}"
    local req dus p50 p99 err
    req=$(jget "$line" requests); dus=$(jget "$line" duration_us)
    p50=$(jget "$line" latency_us.p50); p99=$(jget "$line" latency_us.p99)
    err=$(node -e 'const e=JSON.parse(process.argv[1]).errors;process.stdout.write(String(Object.values(e).reduce((a,b)=>a+b,0)))' "$line")
    local cpu=""
    [ -z "$pid" ] || cpu=$(awk -v t=$((c1 - c0)) -v n="$req" -v k="$CLK_TCK" 'BEGIN{ if (n>0) printf "  cpu %.1f us/req", t*1e6/k/n }')
    log "  $(printf '%-8s c=%-4s %8.0f req/s  p50 %s  p99 %s%s%s' "$target" "$c" \
        "$(awk -v n="$req" -v d="$dus" 'BEGIN{print n/(d/1e6)}')" "$(fmt_us "$p50")" "$(fmt_us "$p99")" \
        "$cpu" "$([ "$err" = 0 ] || echo "  ERRORS $err")")"
}

run_idle() { # backend target: RSS idle, then with IDLE_N idle keep-alive connections
    local backend=$1 target=$2 idle with out tp line
    idle=$(rss_kb "$T_PID")
    out=$TMP/idle.out; : >"$out"
    [ "$T_IDLE_N" = "$IDLE_N" ] || log "  $target: RLIMIT_NOFILE $NOFILE fits only $T_IDLE_N idle connections"
    taskset -c "$LOAD_CPU" "$TOOLS/idle_conns" --port "$T_PORT" --connections "$T_IDLE_N" \
        --body $P/request.json --concurrency 256 --hold 120 >"$out" 2>"$TMP/idle.err" &
    tp=$!; PIDS+=("$tp")
    line=$(wait_line "$out" '^ready' "$tp" 120) || line="ready open=0 failed=$T_IDLE_N"
    sleep 1 # let the proxy settle (deferred frees, buffers returned)
    with=$(rss_kb "$T_PID")
    stop_pid "$tp"
    local done_line open failed closed
    done_line=$(grep -m1 '^done' "$out" || echo "done open=0 closed_by_peer=0 failed=0")
    open=$(sed -nE 's/.*open=([0-9]+).*/\1/p' <<<"$line")
    failed=$(sed -nE 's/.*failed=([0-9]+).*/\1/p' <<<"$line")
    closed=$(sed -nE 's/.*closed_by_peer=([0-9]+).*/\1/p' <<<"$done_line")
    record "{\"kind\":\"rss\",\"backend\":\"$backend\",\"target\":\"$target\",\"idle_kb\":$idle,\"with_idle_kb\":$with,\"idle_conns\":$T_IDLE_N,\"open\":${open:-0},\"failed\":${failed:-0},\"closed_by_peer\":${closed:-0}}"
    log "  $(printf '%-8s RSS idle %.1f MB, with %s idle connections %.1f MB (+%.1f MB)%s' "$target" \
        "$(awk -v k="$idle" 'BEGIN{print k/1024}')" "${open:-0}" "$(awk -v k="$with" 'BEGIN{print k/1024}')" \
        "$(awk -v a="$idle" -v b="$with" 'BEGIN{print (b-a)/1024}')" \
        "$([ "${failed:-0}" = 0 ] && [ "${closed:-0}" = 0 ] || echo "  (failed ${failed:-0}, closed by proxy ${closed:-0})")")"
    sleep 1 # the proxy closes 10,000 connections
}

run_sse() { # backend target conns itl label
    local backend=$1 target=$2 c=$3 itl=$4 label=$5 out c0 c1 b0 b1
    local pid=${T_PID:-} expect=()
    [ "$backend" = origin ] && expect=(--expect-chunks 100)
    # Latency: as many connections straight to the backend run at the same time (paired reference).
    [ "$label" = latency ] && [ "$target" != direct ] && expect+=(--ref-port "$BACKEND_PORT" --ref-connections "$c")
    c0=0; [ -z "$pid" ] || c0=$(cpu_ticks "$pid"); b0=$(cpu_ticks "$BACKEND_PID")
    out=$(taskset -c "$LOAD_CPU" "$TOOLS/sse_client" --port "$T_PORT" --body $P/request-stream.json \
        --connections "$c" --duration "$SSE_DUR" --warmup 0.5 --itl-ms "$itl" "${expect[@]}" 2>&1) || true
    c1=0; [ -z "$pid" ] || c1=$(cpu_ticks "$pid"); b1=$(cpu_ticks "$BACKEND_PID")
    case $out in '{'*) ;; *) log "  $target SSE: sse_client failed: $out"; return 0 ;; esac
    record "{\"kind\":\"sse\",\"mode\":\"$label\",\"backend\":\"$backend\",\"target\":\"$target\",\"sse\":$out,\"proxy_cpu_ticks\":$((c1 - c0)),\"backend_cpu_ticks\":$((b1 - b0)),\"clk_tck\":$CLK_TCK}"
    log "  $(printf '%-8s SSE itl=%sms c=%s: %8.0f chunks/s  chunk delay p50 %s  p99 %s  errors %s' "$target" \
        "$itl" "$c" "$(jget "$out" chunks_per_s)" "$(fmt_us "$(jget "$out" delay_us.p50)")" \
        "$(fmt_us "$(jget "$out" delay_us.p99)")" \
        "$(( $(jget "$out" errors) + $(jget "$out" status_errors) + $(jget "$out" bad_responses) ))")"
    if [ -n "$(jget "$out" ref.port)" ]; then
        log "  $(printf '%-8s   paired direct connections:       chunk delay p50 %s  p99 %s  -> added p50 %s' "" \
            "$(fmt_us "$(jget "$out" ref.delay_us.p50)")" "$(fmt_us "$(jget "$out" ref.delay_us.p99)")" \
            "$(fmt_us $(( $(jget "$out" delay_us.p50) - $(jget "$out" ref.delay_us.p50) )))")"
    fi
}

target_unavailable() { # backend target
    log "  $(printf '%-8s n/a: %s' "$2" "$T_WHY")"
    record "{\"kind\":\"na\",\"backend\":\"$1\",\"target\":\"$2\",\"reason\":$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$T_WHY")}"
}

# --- run -----------------------------------------------------------------------------------------
START=$(date +%s)
log "proxy benchmark: targets [$TARGETS], phases [$PHASES], wrk ${DUR}s per run, SSE ${SSE_DUR}s,"
log "  proxy on core $PROXY_CPU, load generator + backend on core $LOAD_CPU, ulimit -n $NOFILE"
SIM_OK=0; SIM_WHY=""
if sim_works; then SIM_OK=1; else log "smg-sim unavailable: $SIM_WHY"; fi

for phase in $PHASES; do
case $phase in
nginx)
    log "phase: backend nginx (fixed chat completion); RSS, req/s at 64 and 256 connections, latency at 1"
    start_backend nginx || die "the nginx backend did not start: $(tail -n2 "$TMP/backend-nginx/error.log" 2>/dev/null)"
    log "  backend: $BACKEND_DESC on 127.0.0.1:$BACKEND_PORT"
    for t in $TARGETS; do
        log " $t"
        if ! start_target "$t"; then target_unavailable nginx "$t"; continue; fi
        [ -z "$T_PID" ] || run_idle nginx "$t"
        run_wrk nginx "$t" 64 1 warmup
        for _ in $(seq "$REPEAT"); do
            run_wrk nginx "$t" 64 "$DUR"
            run_wrk nginx "$t" 256 "$DUR"
            run_wrk nginx "$t" 1 "$DUR"
        done
        [ -z "$T_PID" ] || record "{\"kind\":\"rss_after\",\"backend\":\"nginx\",\"target\":\"$t\",\"kb\":$(rss_kb "$T_PID")}"
        stop_target
    done
    stop_backend
    ;;
sim)
    if [ $SIM_OK = 0 ]; then log "phase: backend smg-sim skipped ($SIM_WHY)"; continue; fi
    log "phase: backend smg-sim (--response-bytes 1024); req/s at 64 connections"
    start_backend sim 0 || die "smg-sim did not start"
    for t in $TARGETS; do
        if ! start_target "$t"; then target_unavailable sim "$t"; continue; fi
        run_wrk sim "$t" 64 1 warmup
        for _ in $(seq "$REPEAT"); do run_wrk sim "$t" 64 "$DUR"; done
        stop_target
    done
    stop_backend
    ;;
sse)
    STREAMING=1 # proxies configured for streaming (see bench/proxy/haproxy.cfg)
    for itl in 0 "$SSE_ITL"; do
        if [ "$itl" = 0 ]; then label=throughput; c=$SSE_CONNS; else label=latency; c=$SSE_ITL_CONNS; fi
        # Throughput: smg-sim when it runs. Latency: sse_origin by default, whose schedule is exact
        # (timerfd); smg-sim's libuv timers have 1 ms granularity, which swamps a 0.1 ms difference.
        want=$SSE_BACKEND; [ "$label" = latency ] && want=$SSE_LAT_BACKEND
        kind=sse; bname=origin
        if [ "$want" = sim ] && [ $SIM_OK = 1 ]; then kind=sim; bname=sim; fi
        [ "$label" = throughput ] && SSE_TP_DESC=$bname || SSE_LAT_DESC=$bname
        log "phase: SSE, 100 chunks per response, itl ${itl} ms, $c connections ($label)"
        start_backend $kind "$itl" || die "the SSE backend ($kind) did not start"
        log "  backend: $BACKEND_DESC on 127.0.0.1:$BACKEND_PORT"
        for t in $TARGETS; do
            if ! start_target "$t"; then target_unavailable "$bname" "$t"; continue; fi
            for _ in $(seq "$REPEAT"); do run_sse "$bname" "$t" "$c" "$itl" "$label"; done
            stop_target
        done
        stop_backend
    done
    STREAMING=0
    ;;
*) die "unknown phase '$phase' (nginx, sim, sse)" ;;
esac
done
ELAPSED=$(( $(date +%s) - START ))

# --- report --------------------------------------------------------------------------------------
mkdir -p "$OUT"
backend_name() { case $1 in sim) echo smg-sim ;; origin) echo bench/tools/sse_origin ;; *) echo none ;; esac; }
META=$(node -e 'process.stdout.write(JSON.stringify(Object.fromEntries(process.argv.slice(1).map(a=>[a.slice(0,a.indexOf("=")),a.slice(a.indexOf("=")+1)]))))' \
    "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "kernel=$(uname -sr)" \
    "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" "cores=$NCPU" \
    "nginx=$(nginx -v 2>&1 | sed 's/.*version: //')" "haproxy=$(haproxy -v 2>&1 | head -n1 | awk '{print $3}')" \
    "wrk=$(wrk -v 2>&1 | head -n1 | awk '{print $2}')" \
    "smg=$( ([ -x "$SMG_BIN" ] && "$SMG_BIN" --version 2>/dev/null | head -n1) || echo n/a)" \
    "smg_commit=${SMG_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}" \
    "command=BENCH_DURATION=$DUR BENCH_SSE_DURATION=$SSE_DUR BENCH_IDLE_CONNS=$IDLE_N$([ "$REPEAT" = 1 ] || echo " BENCH_REPEAT=$REPEAT") make bench" \
    "repeat=$REPEAT" \
    "duration_s=$DUR" "sse_duration_s=$SSE_DUR" "idle_conns=$IDLE_N" "sse_conns=$SSE_CONNS" \
    "sse_itl_ms=$SSE_ITL" "sse_itl_conns=$SSE_ITL_CONNS" "proxy_cpu=$PROXY_CPU" "load_cpu=$LOAD_CPU" \
    "smg_args=$SMG_ARGS" "elapsed_s=$ELAPSED" \
    "sse_backend=$(backend_name "$SSE_TP_DESC") at itl 0, $(backend_name "$SSE_LAT_DESC") at itl $SSE_ITL ms")
node bench/proxy/report.mjs "$RES" "$META" "$OUT"
node bench/plot.mjs "$OUT/proxy.json" "$OUT/proxy.svg"
log "proxy benchmark done in ${ELAPSED}s: $OUT/proxy.json, $OUT/proxy.md, $OUT/proxy.svg"

# --- tokenizer benchmarks (written by others) ----------------------------------------------------
if [ "${BENCH_SKIP_TOKEN:-0}" != 1 ]; then
    ran=0
    for s in bench/token/run.sh bench/token/template_bench.sh bench/token/template_bench.mjs; do
        [ -f "$s" ] || continue
        # the template benchmark comes as .sh or .mjs: run one of them
        [ "$s" = bench/token/template_bench.mjs ] && [ -f bench/token/template_bench.sh ] && continue
        log "running $s"
        ran=1
        case $s in
        *.mjs) node "$s" || log "warning: $s failed (exit $?)" ;;
        *) bash "$s" || log "warning: $s failed (exit $?)" ;;
        esac
    done
    [ $ran = 1 ] || log "no tokenizer benchmarks (bench/token/run.sh, template_bench.sh) in this tree"
fi
