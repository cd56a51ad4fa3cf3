// Configuration, health states, worker drain on removal, and the access log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMG, chatBody, json, post, sleep, startGateway, startSim, stop, waitFor } from './lib.mjs';

const MODEL = 'sim-model';
const workerStatus = async (gw, url) => (await json(`${gw.base}/workers`)).body.workers.find((w) => w.url === url)?.status;

test('an unknown flag or a bad value exits 2 with a one-line reason; --help and --version exit 0', () => {
  for (const [args, re] of [[['--bogus'], /^smg: unknown option --bogus/], [['--port', 'x'], /^smg: --port: /],
    [['--policy', 'fastest'], /^smg: --policy: 'fastest' is not one of/], [['--worker-urls', 'ftp://x'], /^smg: --worker-urls: /]]) {
    const r = spawnSync(SMG, args, { encoding: 'utf8' });
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr.split('\n')[0], re);
  }
  const h = spawnSync(SMG, ['--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0);
  for (const flag of ['--worker-urls', '--policy', '--prometheus-port', '--request-timeout-secs', '--max-payload-size',
    '--health-check-interval-secs', '--health-check-timeout-secs', '--health-failure-threshold', '--health-success-threshold',
    '--health-check-endpoint', '--api-key', '--log-level', '--threads', '--log-json', '--config'])
    assert.ok(h.stdout.includes(flag), flag);
  assert.match(h.stdout, /\[default: 30000\]/);
  const v = spawnSync(SMG, ['--version'], { encoding: 'utf8' });
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^smg \d+\.\d+\.\d+/);
});

test('--config FILE: YAML with the same keys; the command line overrides it', async () => {
  const sim = await startSim(MODEL);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smg-cfg-'));
  const file = path.join(dir, 'smg.yaml');
  fs.writeFileSync(file, `worker-urls:\n  - ${sim.url}\npolicy: power_of_two\nhealth_check_interval_secs: 2\napi-key: from-file\n`);
  const gw = await startGateway(['--config', file, '--api-key', 'from-cli']);
  try {
    const w = (await json(`${gw.base}/workers`, { headers: { authorization: 'Bearer from-cli' } })).body;
    assert.equal(w.policy, 'power_of_two');
    assert.equal(w.workers[0].url, sim.url);
    assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), { authorization: 'Bearer from-file' })).status, 401);
    assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), { authorization: 'Bearer from-cli' })).status, 200);
  } finally { await stop(gw); await stop(sim); fs.rmSync(dir, { recursive: true, force: true }); }
  const bad = path.join(dir + '-bad.yaml');
  fs.writeFileSync(bad, 'port: 1\nbogus_key: 3\n');
  const r = spawnSync(SMG, ['--config', bad], { encoding: 'utf8' });
  fs.rmSync(bad);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /-bad\.yaml:2: /);
});

test('health states: pending → failed for a worker that never answers; ready → not_ready → failed → ready', async () => {
  const gw = await startGateway(['--worker-urls', 'http://127.0.0.1:9', '--health-failure-threshold', '1'], { waitReady: false });
  try {
    assert.equal(await workerStatus(gw, 'http://127.0.0.1:9'), 'pending');
    await waitFor(async () => (await workerStatus(gw, 'http://127.0.0.1:9')) === 'failed', 10000, 'pending → failed');
  } finally { await stop(gw); }
  let sim = await startSim(MODEL);
  const port = sim.port;
  const gw2 = await startGateway(['--worker-urls', sim.url, '--health-check-interval-secs', '1', '--health-failure-threshold', '1',
    '--health-success-threshold', '1']);
  try {
    await stop(sim, 'SIGKILL');
    await waitFor(async () => (await workerStatus(gw2, sim.url)) === 'not_ready', 5000, 'ready → not_ready');
    assert.equal((await json(`${gw2.base}/readiness`)).status, 503);
    await waitFor(async () => (await workerStatus(gw2, sim.url)) === 'failed', 8000, 'not_ready → failed');
    sim = await startSim(MODEL, [], port);
    await waitFor(async () => (await workerStatus(gw2, sim.url)) === 'ready', 5000, 'failed → ready');
    assert.equal((await post(`${gw2.base}/v1/chat/completions`, chatBody(MODEL))).status, 200);
  } finally { await stop(gw2); await stop(sim); }
});

test('DELETE /workers/{id} drains: no new requests, the live stream finishes, then the worker leaves', async () => {
  const a = await startSim(MODEL, ['--itl-ms', '20']);
  const b = await startSim(MODEL, ['--itl-ms', '20']);
  const gw = await startGateway(['--worker-urls', a.url, b.url, '--shutdown-grace-period-secs', '20']);
  try {
    const ids = Object.fromEntries((await json(`${gw.base}/workers`)).body.workers.map((w) => [w.url, w.id]));
    // round robin: the first request goes to a
    const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: chatBody(MODEL, { stream: true, max_tokens: 60 }) });
    const reader = res.body.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    assert.equal((await json(`${a.url}/stats`)).body.in_flight, 1);
    const del = await json(`${gw.base}/workers/${ids[a.url]}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal(await workerStatus(gw, a.url), 'draining');
    for (let i = 0; i < 4; i++) assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL))).status, 200);
    assert.equal((await json(`${a.url}/stats`)).body.by_path['/v1/chat/completions'], 1, 'no new request reached the draining worker');
    for (;;) { const { value, done } = await reader.read(); if (done) break; text += new TextDecoder().decode(value); }
    assert.ok(text.includes('data: [DONE]'));
    await waitFor(async () => (await workerStatus(gw, a.url)) === undefined, 5000, 'drained worker removed');
  } finally { await stop(gw); await stop(a); await stop(b); }
});

test('one JSON access-log line per request, with id, route, model, worker, status, bytes, duration, TTFB', async () => {
  const sim = await startSim(MODEL);
  const gw = await startGateway(['--worker-urls', sim.url, '--log-json']);
  try {
    await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), { 'x-request-id': 'log-me-1' });
    await post(`${gw.base}/v1/chat/completions`, chatBody('nope'), { 'x-request-id': 'log-me-2' });
    await sleep(100);
  } finally { await stop(gw); await stop(sim); }
  const lines = gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const ok = lines.filter((l) => l.msg === 'access' && l.request_id === 'log-me-1');
  assert.equal(ok.length, 1);
  assert.equal(ok[0].route, '/v1/chat/completions');
  assert.equal(ok[0].model, MODEL);
  assert.equal(ok[0].worker, sim.url);
  assert.equal(ok[0].status, 200);
  assert.ok(ok[0].bytes_in > 0 && ok[0].bytes_out > 0);
  assert.ok(ok[0].duration_ms >= ok[0].ttfb_ms && ok[0].ttfb_ms > 0);
  const nf = lines.filter((l) => l.msg === 'access' && l.request_id === 'log-me-2');
  assert.equal(nf.length, 1);
  assert.equal(nf[0].status, 404);
  assert.ok(lines.every((l) => typeof l.ts === 'string' && typeof l.level === 'string'));
});

test('a second gateway on a port in use fails to start (no silent SO_REUSEPORT sharing)', async () => {
  const gw = await startGateway([], { waitReady: false });
  try {
    const r = spawnSync(SMG, ['--host', '127.0.0.1', '--port', String(gw.port), '--prometheus-port', '0'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
  } finally { await stop(gw); }
});
