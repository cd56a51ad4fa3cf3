// Shared helpers for the integration tests: spawn smg and smg-sim on free
// ports, wait until they are ready, stop them by PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = path.resolve(root, process.env.SMG_BUILD ?? 'build');
export const SMG = path.join(BUILD, 'smg');
export const SIM = path.join(BUILD, 'smg-sim');

const children = new Set();
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch {} } });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Spawn a process and resolve once a stdout line matches re; returns
// { proc, match, output() }.
function spawnUntil(bin, args, re, { timeoutMs = 15000, env } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    children.add(proc);
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) { done = true; proc.kill('SIGKILL'); reject(new Error(`${bin} did not start: ${out}\n${err}`)); }
    }, timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(re);
      if (m && !done) { done = true; clearTimeout(timer); resolve({ proc, match: m, output: () => out + err }); }
    });
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code, sig) => {
      children.delete(proc);
      proc.exitInfo = { code, sig };
      if (!done) { done = true; clearTimeout(timer); reject(new Error(`${bin} exited ${code ?? sig}: ${out}\n${err}`)); }
    });
    proc.stderrText = () => err;
  });
}

export async function startSim(model = 'sim-model', extra = [], port = 0) {
  const { proc, match } = await spawnUntil(SIM, ['--host', '127.0.0.1', '--port', String(port), '--model', model, ...extra],
    /smg-sim listening on [^\s]+:(\d+)/);
  const p = Number(match[1]);
  return { proc, port: p, url: `http://127.0.0.1:${p}`, model };
}

export async function startGateway(args = [], { waitReady = true, metrics = false, env } = {}) {
  const margs = metrics ? ['--prometheus-port', String(await freePort()), '--prometheus-host', '127.0.0.1']
                        : ['--prometheus-port', '0'];
  const { proc, match, output } = await spawnUntil(SMG,
    ['--host', '127.0.0.1', '--port', '0', ...(args.includes('--threads') ? [] : ['--threads', '2']),
      // a short grace period keeps the shutdown settle window (grace / 2) short in tests
      ...(args.includes('--shutdown-grace-period-secs') ? [] : ['--shutdown-grace-period-secs', '1']),
      ...margs, ...args],
    /smg listening on [^\s]+:(\d+)/, { env });
  const port = Number(match[1]);
  const base = `http://127.0.0.1:${port}`;
  const gw = { proc, port, base, output };
  if (metrics) gw.metrics = `http://127.0.0.1:${margs[1]}`;
  if (waitReady) await waitFor(async () => (await fetch(`${base}/readiness`)).status === 200, 15000, 'gateway readiness');
  return gw;
}

export async function waitFor(fn, timeoutMs = 10000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// Stop a process we started. A SIGTERM must end it cleanly (exit 0): under
// ASan that is also where LeakSanitizer reports, so every test that stops
// smg or smg-sim this way checks for leaks and sanitizer errors.
export async function stop(p, signal = 'SIGTERM') {
  if (!p) return undefined;
  let info = p.proc.exitInfo;
  if (p.proc.exitCode === null && p.proc.signalCode === null) {
    const exited = new Promise((r) => p.proc.once('exit', (code, sig) => r({ code, sig })));
    p.proc.kill(signal);
    const t = setTimeout(() => p.proc.kill('SIGKILL'), 15000);
    info = await exited;
    clearTimeout(t);
    if (signal === 'SIGTERM' && info.code !== 0) {
      throw new Error(`${p.proc.spawnfile} exited ${info.code ?? info.sig} after SIGTERM:\n${(p.proc.stderrText?.() ?? '').slice(-4000)}`);
    }
  }
  return info;
}

export async function json(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: r.status, headers: r.headers, body };
}

export function chatBody(model, extra = {}) {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8, ...extra });
}

export const post = (url, body, headers = {}) =>
  json(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

// Raw HTTP/1.1 over a socket: returns everything the server sent until it
// closed or `idleMs` passed without data.
export function rawRequest(port, payload, { idleMs = 3000, writeDelays } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let timer;
    const finish = () => { clearTimeout(timer); sock.destroy(); resolve(data); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(finish, idleMs); };
    sock.on('data', (d) => { data += d.toString('latin1'); arm(); });
    sock.on('close', finish);
    sock.on('error', finish);
    sock.on('connect', async () => {
      arm();
      if (writeDelays) {
        for (const [chunk, delay] of writeDelays) { if (sock.destroyed) break; sock.write(chunk); await sleep(delay); }
      } else sock.write(payload);
    });
  });
}

// Resident memory of a process, in bytes (Linux).
export function rssBytes(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
}
