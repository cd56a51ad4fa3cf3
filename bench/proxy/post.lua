-- wrk script of the proxy benchmark: POST the 1 KB chat completion body from $BENCH_BODY and, at
-- the end, print one line `BENCHJSON {...}` with the counts and latency percentiles (microseconds)
-- that bench/run.sh records. Non-2xx/3xx responses are counted by wrk in errors.status.
local path = os.getenv("BENCH_BODY") or "bench/proxy/request.json"
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
