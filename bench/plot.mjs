// Draws bench/results/proxy.svg from bench/results/proxy.json: grouped bars, one colour per target
// (direct, smg, nginx, haproxy), four panels: requests/s, proxy CPU per request, added latency at
// one connection, RSS. Plain SVG written by hand (no plotting library on this machine).
//   node bench/plot.mjs proxy.json proxy.svg
import { readFileSync, writeFileSync } from 'node:fs';

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
    console.error('usage: node bench/plot.mjs proxy.json proxy.svg');
    process.exit(2);
}
const data = JSON.parse(readFileSync(inPath, 'utf8'));
const COLORS = { direct: '#9e9e9e', smg: '#d2492a', nginx: '#2a8c4a', haproxy: '#2a5cd2' };
const get = (t, path) => path.split('.').reduce((o, k) => (o == null ? null : o[k]), data.targets[t]);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// Top of the axis: 4 grid steps of 1, 2, 2.5 or 5 times a power of ten.
function niceMax(v) {
    if (!(v > 0)) return 1;
    const e = 10 ** Math.floor(Math.log10(v / 4));
    for (const m of [1, 2, 2.5, 5, 10]) if (4 * m * e >= v) return 4 * m * e;
    return 40 * e;
}
const fmt = (v) => (Math.abs(v) >= 10000 ? `${Math.round(v / 1000)}k` : Math.abs(v) >= 100 ? Math.round(v).toString()
    : Number(v.toFixed(1)).toString());

// One panel at (x, y) of size (w, h): groups of bars, one bar per target present in `targets`.
function panel(x, y, w, h, title, unit, groups, targets) {
    const parts = [];
    const padL = 56, padB = 40, padT = 30;
    const pw = w - padL - 10, ph = h - padB - padT;
    const vals = groups.flatMap((g) => targets.map((t) => get(t, g.path))).filter((v) => v != null);
    const max = niceMax(Math.max(0, ...vals));
    const ox = x + padL, oy = y + padT + ph;
    parts.push(`<text x="${x + w / 2}" y="${y + 18}" class="t">${esc(title)}</text>`);
    for (let i = 0; i <= 4; i++) {
        const gy = oy - (ph * i) / 4;
        parts.push(`<line x1="${ox}" y1="${gy}" x2="${ox + pw}" y2="${gy}" class="g"/>`);
        parts.push(`<text x="${ox - 6}" y="${gy + 4}" class="a" text-anchor="end">${fmt((max * i) / 4)}</text>`);
    }
    parts.push(`<text x="${x + 12}" y="${y + padT + ph / 2}" class="a" transform="rotate(-90 ${x + 12} ${y + padT + ph / 2})" text-anchor="middle">${esc(unit)}</text>`);
    const gw = pw / groups.length, bw = Math.min(36, (gw * 0.8) / targets.length);
    groups.forEach((g, gi) => {
        const gx = ox + gi * gw + (gw - bw * targets.length) / 2;
        targets.forEach((t, ti) => {
            const v = get(t, g.path), bx = gx + ti * bw;
            if (v == null) {
                parts.push(`<text x="${bx + bw / 2}" y="${oy - 4}" class="n" text-anchor="middle">n/a</text>`);
                return;
            }
            const bh = (Math.max(0, v) / max) * ph;
            parts.push(`<rect x="${bx + 1}" y="${oy - bh}" width="${bw - 2}" height="${bh}" fill="${COLORS[t]}"><title>${esc(t)}: ${esc(v)}</title></rect>`);
            parts.push(`<text x="${bx + bw / 2}" y="${oy - bh - 3}" class="v" text-anchor="middle">${fmt(v)}</text>`);
        });
        parts.push(`<text x="${ox + gi * gw + gw / 2}" y="${oy + 16}" class="a" text-anchor="middle">${esc(g.label)}</text>`);
    });
    parts.push(`<line x1="${ox}" y1="${oy}" x2="${ox + pw}" y2="${oy}" class="x"/>`);
    return parts.join('\n');
}

const W = 1000, H = 780, PW = 490, PH = 330;
const all = ['direct', 'smg', 'nginx', 'haproxy'], proxies = ['smg', 'nginx', 'haproxy'];
const m = data.meta || {};
const body = [
    panel(0, 56, PW, PH, 'Requests/s (wrk -t1, 1 KB POST)', 'requests/s',
        [{ label: '64 connections', path: 'nginx_backend.c64.rps' }, { label: '256 connections', path: 'nginx_backend.c256.rps' },
            { label: '64 conns, smg-sim backend', path: 'sim_backend.c64.rps' }], all),
    panel(500, 56, PW, PH, 'Proxy CPU per request (utime+stime)', 'microseconds',
        [{ label: '64 connections', path: 'nginx_backend.c64.proxy_cpu_us_per_req' },
            { label: '256 connections', path: 'nginx_backend.c256.proxy_cpu_us_per_req' },
            { label: 'smg-sim backend', path: 'sim_backend.c64.proxy_cpu_us_per_req' }], proxies),
    panel(0, 416, PW, PH, 'Latency added over direct', 'microseconds',
        [{ label: 'p50, 1 connection', path: 'added.p50_c1_us' }, { label: 'p50, 64 connections', path: 'added.p50_c64_us' },
            { label: `SSE per chunk p50`, path: 'added.sse_chunk_p50_us' }], proxies),
    panel(500, 416, PW, PH, 'Resident memory', 'MB',
        [{ label: 'idle', path: 'rss.idle_mb' }, { label: `+ ${m.idle_conns ?? 10000} idle connections`, path: 'rss.with_idle_conns_mb' }],
        proxies),
];
const legend = all.map((t, i) => `<rect x="${20 + i * 110}" y="${H - 22}" width="14" height="14" fill="${COLORS[t]}"/>`
    + `<text x="${40 + i * 110}" y="${H - 10}" class="a">${t}</text>`).join('\n');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<style>.t{font-size:14px;font-weight:bold;text-anchor:middle}.a{font-size:11px;fill:#333}.v{font-size:10px;fill:#111}
.n{font-size:10px;fill:#999}.g{stroke:#e4e4e4}.x{stroke:#333}</style>
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="22" class="t" font-size="16">${esc(`smg vs nginx vs haproxy — ${m.date ?? ''}, ${m.cores ?? '?'} cores, proxy on 1 core`)}</text>
${body.join('\n')}
${legend}
<text x="${W / 2}" y="40" class="a" text-anchor="middle">${esc(`${m.command ?? 'make bench'}; figures in bench/results/proxy.json`)}</text>
</svg>
`;
writeFileSync(outPath, svg);
