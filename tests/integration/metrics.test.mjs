// /metrics: the exposition has the families the issue asks for, with the
// reference's names, and a real Prometheus server scrapes and parses it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chatBody, freePort, json, post, sleep, startGateway, startSim, stop, waitFor } from './lib.mjs';

const MODEL = 'sim-model';
let sim, gw;
before(async () => {
  sim = await startSim(MODEL);
  gw = await startGateway(['--worker-urls', sim.url], { metrics: true });
  for (let i = 0; i < 3; i++) await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL));
  await post(`${gw.base}/v1/chat/completions`, chatBody('nope'));
  await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(MODEL, { stream: true }) }).then((r) => r.text());
});
after(async () => { await stop(gw); await stop(sim); });

function series(text, name) {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

test('request counts and durations by route, model, worker and status', async () => {
  const text = await (await fetch(`${gw.metrics}/metrics`)).text();
  const ok = series(text, 'smg_gateway_requests_total').find((l) => l.includes('status="200"') && l.includes(`model="${MODEL}"`) && l.includes(`worker="${sim.url}"`) && l.includes('route="/v1/chat/completions"'));
  assert.ok(ok, text);
  assert.equal(Number(ok.split(' ').pop()), 4);
  assert.ok(series(text, 'smg_gateway_requests_total').some((l) => l.includes('status="404"') && l.includes('model="nope"')));
  assert.ok(series(text, 'smg_gateway_request_duration_seconds_bucket').some((l) => l.includes('le="+Inf"')));
  assert.ok(series(text, 'smg_http_requests_total').length > 0);
  assert.ok(series(text, 'smg_router_requests_total').length > 0);
  const active = series(text, 'smg_worker_requests_active').find((l) => l.includes(sim.url));
  assert.equal(Number(active.split(' ').pop()), 0);
  const health = series(text, 'smg_worker_health').find((l) => l.includes(sim.url));
  assert.equal(Number(health.split(' ').pop()), 1);
  assert.ok(text.includes('# TYPE smg_gateway_request_duration_seconds histogram'));
});

test('a real Prometheus scrapes it', { skip: !fs.existsSync('/usr/bin/prometheus') && 'prometheus not installed' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smg-prom-'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: smg\n    static_configs:\n      - targets: ['${new URL(gw.metrics).host}']\n`);
  const prom = spawn('/usr/bin/prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  try {
    const q = async (expr) => (await json(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`)).body;
    await waitFor(async () => (await q('up{job="smg"}')).data?.result?.[0]?.value?.[1] === '1', 30000, 'prometheus to scrape smg');
    const r = await q(`sum(smg_gateway_requests_total{model="${MODEL}",status="200"})`);
    assert.equal(r.data.result[0].value[1], '4');
    const targets = (await json(`http://127.0.0.1:${port}/api/v1/targets`)).body;
    assert.equal(targets.data.activeTargets[0].lastError, '');
  } finally {
    prom.kill('SIGTERM');
    await new Promise((r) => prom.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
