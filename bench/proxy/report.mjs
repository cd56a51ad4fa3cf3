// Turns the raw records of bench/run.sh (one JSON object per line) into bench/results/proxy.json,
// bench/results/proxy.md and the side-by-side table printed on stdout.
//   node bench/proxy/report.mjs RESULTS.jsonl META_JSON OUT_DIR
// A missing measurement is null in the JSON and "n/a" in the tables; nothing here is pass/fail.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [resultsPath, metaJson, outDir] = process.argv.slice(2);
if (!resultsPath || !metaJson || !outDir) {
    console.error('usage: node report.mjs RESULTS.jsonl META_JSON OUT_DIR');
    process.exit(2);
}
const meta = JSON.parse(metaJson);
const records = readFileSync(resultsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const TARGETS = ['direct', 'smg', 'nginx', 'haproxy'];

const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const find = (pred) => records.find(pred);
const wrkErrors = (w) => Object.values(w.errors).reduce((a, b) => a + b, 0);

// With BENCH_REPEAT > 1 a measurement has several records: each figure is the median of its runs
// (errors are summed, so that one bad run shows), and `runs` says how many there were.
function median(xs) {
    const v = xs.filter((x) => x != null).sort((a, b) => a - b);
    if (v.length === 0) return null;
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
function merge(list) {
    if (list.length === 1) return { ...list[0], runs: 1 };
    const out = { runs: list.length };
    for (const k of Object.keys(list[0])) {
        const vals = list.map((x) => x[k]);
        if (k === 'errors') out[k] = vals.reduce((a, b) => a + (b ?? 0), 0);
        else if (vals.every((x) => x == null || typeof x === 'number')) out[k] = median(vals);
        else if (vals.every((x) => x == null || (typeof x === 'object' && !Array.isArray(x))))
            out[k] = vals.some((x) => x) ? merge(vals.filter(Boolean)) : null;
        else out[k] = vals[0];
    }
    return out;
}

function wrkFigures(backend, target, conns) {
    const rs = records.filter((x) => x.kind === 'wrk' && x.backend === backend && x.target === target && x.conns === conns);
    return rs.length ? merge(rs.map((r) => wrkFigure(r, target))) : null;
}
function wrkFigure(r, target) {
    const w = r.wrk;
    const secs = w.duration_us / 1e6;
    // utime+stime ticks over the whole wrk run divided by the requests wrk completed.
    const cpu = (ticks) => (w.requests === 0 ? null : ((ticks / r.clk_tck) * 1e6) / w.requests);
    return {
        requests: w.requests,
        errors: wrkErrors(w),
        rps: round(w.requests / secs, 0),
        p50_us: w.latency_us.p50,
        p99_us: w.latency_us.p99,
        mean_us: w.latency_us.mean,
        proxy_cpu_us_per_req: target === 'direct' ? null : round(cpu(r.proxy_cpu_ticks), 2),
        backend_cpu_us_per_req: round(cpu(r.backend_cpu_ticks), 2),
    };
}

function sseFigures(mode, target) {
    const rs = records.filter((x) => x.kind === 'sse' && x.mode === mode && x.target === target);
    return rs.length ? merge(rs.map((r) => sseFigure(r, target))) : null;
}
function sseFigure(r, target) {
    const s = r.sse;
    const ticks = target === 'direct' ? null : r.proxy_cpu_ticks;
    // CPU ticks cover the whole run including the warm-up; chunks only the window: scale by time.
    const totalSecs = s.duration_s + 0.5;
    return {
        backend: r.backend,
        connections: s.connections,
        itl_ms: s.itl_ms,
        chunks: s.chunks,
        chunks_per_s: round(s.chunks_per_s, 0),
        errors: s.errors + s.status_errors + s.bad_responses,
        delay_p50_us: s.delay_us.p50,
        delay_p99_us: s.delay_us.p99,
        delay_mean_us: round(s.delay_us.mean, 1),
        first_chunk_p50_us: s.first_chunk_us.p50,
        // Direct connections measured at the same time as this target (latency mode only).
        paired_direct: s.ref ? { delay_p50_us: s.ref.delay_us.p50, delay_p99_us: s.ref.delay_us.p99,
            errors: s.ref.errors + s.ref.status_errors + s.ref.bad_responses } : null,
        paired_added_p50_us: s.ref ? s.delay_us.p50 - s.ref.delay_us.p50 : null,
        paired_added_p99_us: s.ref ? s.delay_us.p99 - s.ref.delay_us.p99 : null,
        proxy_cpu_us_per_chunk: ticks == null || s.chunks === 0 ? null
            : round(((ticks / r.clk_tck) * 1e6 * (s.duration_s / totalSecs)) / s.chunks, 3),
    };
}

const out = { meta, targets: {}, ratios: {}, targets_check: {} };
for (const t of TARGETS) {
    const na = records.filter((x) => x.kind === 'na' && x.target === t);
    const rss = find((x) => x.kind === 'rss' && x.target === t);
    const after = find((x) => x.kind === 'rss_after' && x.target === t);
    out.targets[t] = {
        available: records.some((x) => x.target === t && x.kind !== 'na'),
        unavailable_reason: na.length ? na[0].reason : null,
        nginx_backend: { c64: wrkFigures('nginx', t, 64), c256: wrkFigures('nginx', t, 256), c1: wrkFigures('nginx', t, 1) },
        sim_backend: { c64: wrkFigures('sim', t, 64) },
        rss: rss ? {
            idle_mb: round(rss.idle_kb / 1024, 1),
            with_idle_conns_mb: round(rss.with_idle_kb / 1024, 1),
            added_mb: round((rss.with_idle_kb - rss.idle_kb) / 1024, 1),
            per_conn_kb: rss.open ? round((rss.with_idle_kb - rss.idle_kb) / rss.open, 2) : null,
            idle_conns: rss.idle_conns, open: rss.open, failed: rss.failed, closed_by_peer: rss.closed_by_peer,
            after_load_mb: after ? round(after.kb / 1024, 1) : null,
        } : null,
        sse: { throughput: sseFigures('throughput', t), latency: sseFigures('latency', t) },
    };
}

// Derived: latency added over direct, per proxy.
const get = (t, path) => path.split('.').reduce((o, k) => (o == null ? null : o[k]), out.targets[t]);
for (const t of TARGETS) {
    const T = out.targets[t];
    const sub = (a, b) => (a == null || b == null ? null : a - b);
    T.added = {
        p50_c1_us: sub(get(t, 'nginx_backend.c1.p50_us'), get('direct', 'nginx_backend.c1.p50_us')),
        p99_c1_us: sub(get(t, 'nginx_backend.c1.p99_us'), get('direct', 'nginx_backend.c1.p99_us')),
        p50_c64_us: sub(get(t, 'nginx_backend.c64.p50_us'), get('direct', 'nginx_backend.c64.p50_us')),
        // Against the paired direct connections when there are some, else against the direct run.
        sse_chunk_p50_us: get(t, 'sse.latency.paired_added_p50_us')
            ?? sub(get(t, 'sse.latency.delay_p50_us'), get('direct', 'sse.latency.delay_p50_us')),
        sse_chunk_p99_us: get(t, 'sse.latency.paired_added_p99_us')
            ?? sub(get(t, 'sse.latency.delay_p99_us'), get('direct', 'sse.latency.delay_p99_us')),
    };
}

// Rows of the table: [label, path, digits, lower-is-better, unit]
const ROWS = [
    ['req/s, 64 conns', 'nginx_backend.c64.rps', 0, false],
    ['req/s, 256 conns', 'nginx_backend.c256.rps', 0, false],
    ['proxy CPU us/req, 64 conns', 'nginx_backend.c64.proxy_cpu_us_per_req', 1, true],
    ['proxy CPU us/req, 256 conns', 'nginx_backend.c256.proxy_cpu_us_per_req', 1, true],
    ['p50 latency us, 1 conn', 'nginx_backend.c1.p50_us', 0, true],
    ['p99 latency us, 1 conn', 'nginx_backend.c1.p99_us', 0, true],
    ['added p50 us, 1 conn', 'added.p50_c1_us', 0, true],
    ['p50 latency us, 64 conns', 'nginx_backend.c64.p50_us', 0, true],
    ['p99 latency us, 64 conns', 'nginx_backend.c64.p99_us', 0, true],
    ['RSS idle MB', 'rss.idle_mb', 1, true],
    ['RSS with idle conns MB', 'rss.with_idle_conns_mb', 1, true],
    ['RSS added by idle conns MB', 'rss.added_mb', 1, true],
    ['RSS per idle conn KB', 'rss.per_conn_kb', 2, true],
    ['req/s, 64 conns, smg-sim backend', 'sim_backend.c64.rps', 0, false],
    ['proxy CPU us/req, smg-sim backend', 'sim_backend.c64.proxy_cpu_us_per_req', 1, true],
    ['SSE chunks/s, itl 0', 'sse.throughput.chunks_per_s', 0, false],
    ['SSE proxy CPU us/chunk', 'sse.throughput.proxy_cpu_us_per_chunk', 2, true],
    ['SSE chunk delay p50 us, itl ' + (meta.sse_itl_ms ?? '5') + ' ms', 'sse.latency.delay_p50_us', 0, true],
    ['SSE chunk delay p99 us', 'sse.latency.delay_p99_us', 0, true],
    ['SSE added per-chunk p50 us', 'added.sse_chunk_p50_us', 0, true],
    ['SSE added per-chunk p99 us', 'added.sse_chunk_p99_us', 0, true],
];

// A ratio of a negative (within-noise "added" figure) or zero value means nothing: n/a.
const ratio = (a, b) => (a == null || b == null || a < 0 || b <= 0 ? null : a / b);
for (const [label, path] of ROWS) {
    out.ratios[path] = {
        label,
        smg_over_nginx: round(ratio(get('smg', path), get('nginx', path)), 2),
        smg_over_haproxy: round(ratio(get('smg', path), get('haproxy', path)), 2),
    };
}

// The targets, shown next to the figures (not pass/fail).
function check(value, limit, desc) {
    return { desc, value: value == null ? null : round(value, 2), limit: limit == null ? null : round(limit, 2),
        met: value == null || limit == null ? null : value <= limit };
}
const smgCpu = get('smg', 'nginx_backend.c64.proxy_cpu_us_per_req');
const haCpu = get('haproxy', 'nginx_backend.c64.proxy_cpu_us_per_req');
out.targets_check = {
    cpu: check(smgCpu, haCpu == null ? null : 0.6 * haCpu, 'smg CPU/request <= 0.6 x haproxy (64 conns)'),
    latency: check(get('smg', 'added.p50_c1_us'), get('nginx', 'added.p50_c1_us'),
        'smg added p50 latency at 1 conn <= nginx added p50'),
    rss_idle: check(get('smg', 'rss.idle_mb'), 10, 'smg idle RSS < 10 MB'),
    rss_conns: check(get('smg', 'rss.added_mb'), 80, `smg RSS added by ${get('smg', 'rss.idle_conns') ?? meta.idle_conns} idle conns < 80 MB`),
};
out.raw = records;

// ---- tables ----
const fmt = (v, d) => (v == null ? 'n/a' : Number(v).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const fmtRatio = (v) => (v == null ? 'n/a' : v.toFixed(2) + 'x');
const header = ['', ...TARGETS, 'smg/nginx', 'smg/haproxy'];
const rows = ROWS.map(([label, path, d]) => [label, ...TARGETS.map((t) => fmt(get(t, path), d)),
    fmtRatio(out.ratios[path].smg_over_nginx), fmtRatio(out.ratios[path].smg_over_haproxy)]);
const checkRows = Object.values(out.targets_check).map((c) => [c.desc, fmt(c.value, 1), fmt(c.limit, 1),
    c.met == null ? 'n/a' : c.met ? 'met' : 'not met']);

function textTable(head, body) {
    const w = head.map((_, i) => Math.max(...[head, ...body].map((r) => String(r[i]).length)));
    const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
    return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}
function mdTable(head, body) {
    return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
        ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const notes = [];
for (const t of TARGETS) {
    const T = out.targets[t];
    if (T.unavailable_reason) notes.push(`${t}: n/a (${T.unavailable_reason})`);
    for (const k of ['c64', 'c256', 'c1']) {
        const f = T.nginx_backend[k];
        if (f && f.errors) notes.push(`${t}: ${f.errors} wrk errors at ${k.slice(1)} connections`);
    }
    for (const k of ['throughput', 'latency']) {
        const f = T.sse[k];
        if (f && f.errors) notes.push(`${t}: ${f.errors} SSE errors (${k})`);
    }
    if (T.rss && (T.rss.failed || T.rss.closed_by_peer))
        notes.push(`${t}: of ${T.rss.idle_conns} idle connections ${T.rss.failed} failed to open, ${T.rss.closed_by_peer} were closed by the proxy`);
}

const title = `Proxy benchmark, ${meta.date}: ${meta.cores} cores (${meta.cpu}), proxy on core ${meta.proxy_cpu}, `
    + `wrk and backend on core ${meta.load_cpu}; wrk -t1 ${meta.duration_s}s per run, 1 KB chat completion POST`;
console.log('\n' + title + '\n');
console.log(textTable(header, rows));
console.log('\nTargets (figures, not pass/fail):');
console.log(textTable(['target', 'smg', 'limit', ''], checkRows));
if (notes.length) console.log('\nNotes:\n' + notes.map((n) => '  - ' + n).join('\n'));

const md = [
    `# Proxy benchmark results`,
    '',
    `Run ${meta.date} by \`${meta.command}\` (${meta.smg}, commit ${meta.smg_commit}; nginx ${meta.nginx}, `
        + `HAProxy ${meta.haproxy}, wrk ${meta.wrk}), ${meta.cores} cores (${meta.cpu}), kernel ${meta.kernel}. `
        + `Proxy pinned to core ${meta.proxy_cpu}; wrk and the backend pinned to core ${meta.load_cpu}. `
        + `Backend for the request rows: nginx returning a fixed 1 KB chat completion; SSE rows: ${meta.sse_backend}, `
        + `100 chunks per response (${meta.sse_conns} connections at itl 0; at itl ${meta.sse_itl_ms} ms ${meta.sse_itl_conns} stream(s) through the proxy and as many straight to the backend at the same time). `
        + `"added" = through the proxy minus direct. Method: docs/performance.md.`,
    '',
    mdTable(header, rows),
    '',
    '## Targets (figures, not pass/fail)',
    '',
    mdTable(['target', 'smg', 'limit', ''], checkRows),
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
].join('\n');

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'proxy.json'), JSON.stringify(out, null, 2) + '\n');
writeFileSync(join(outDir, 'proxy.md'), md);
