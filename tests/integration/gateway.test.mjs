// End-to-end tests of the gateway with the official OpenAI SDK and raw HTTP,
// in front of smg-sim engines.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { chatBody, json, post, rawRequest, sleep, startGateway, startSim, stop, waitFor } from './lib.mjs';

const MODEL = 'sim-model';
// chat completions a simulated engine has served (health probes and stats calls not counted)
const chatCount = async (sim) => (await json(`${sim.url}/stats`)).body.by_path['/v1/chat/completions'] ?? 0;

describe('OpenAI SDK through the gateway', () => {
  let sims, gw, client;
  before(async () => {
    sims = [await startSim(MODEL), await startSim(MODEL)];
    gw = await startGateway(['--worker-urls', ...sims.map((s) => s.url), '--policy', 'round_robin']);
    client = new OpenAI({ baseURL: `${gw.base}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { await stop(gw); for (const s of sims) await stop(s); });

  test('non-streaming chat completion', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, MODEL);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.equal(r.usage.completion_tokens, 5);
  });

  test('streaming chat completion arrives as chunks', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 12, stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage;
    for await (const c of stream) {
      chunks++;
      if (c.choices?.[0]?.delta?.content) text += c.choices[0].delta.content;
      if (c.usage) usage = c.usage;
    }
    assert.ok(chunks >= 12, `got ${chunks} chunks`);
    assert.ok(text.length > 0);
    assert.equal(usage.completion_tokens, 12);
  });

  test('text completion, embeddings and model list', async () => {
    const c = await client.completions.create({ model: MODEL, prompt: 'once upon', max_tokens: 3 });
    assert.equal(c.object, 'text_completion');
    assert.equal(c.usage.completion_tokens, 3);
    const e = await client.embeddings.create({ model: MODEL, input: ['a', 'b'] });
    assert.equal(e.data.length, 2);
    assert.ok(e.data[0].embedding.length > 0);
    const models = await client.models.list();
    const ids = [];
    for await (const m of models) ids.push(m.id);
    assert.deepEqual(ids, [MODEL]);
  });

  test('round robin spreads requests evenly', async () => {
    const before = await Promise.all(sims.map((s) => chatCount(s)));
    for (let i = 0; i < 20; i++) {
      const r = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(r.status, 200);
    }
    const afterN = await Promise.all(sims.map((s) => chatCount(s)));
    assert.deepEqual(afterN.map((n, i) => n - before[i]), [10, 10]);
  });

  test('x-request-id is taken, forwarded upstream and echoed; generated otherwise', async () => {
    const r = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), { 'x-request-id': 'my-req-42' });
    assert.equal(r.headers.get('x-request-id'), 'my-req-42');
    const seen = await Promise.all(sims.map(async (s) => (await json(`${s.url}/stats/last_headers`)).body));
    assert.ok(seen.some((h) => JSON.stringify(h).includes('my-req-42')), JSON.stringify(seen));
    const g = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL));
    assert.match(g.headers.get('x-request-id'), /^chatcmpl-[A-Za-z0-9]{24}$/);
  });

  test('native routes: /generate, /health_generate, /v1/messages', async () => {
    const g = await post(`${gw.base}/generate`, JSON.stringify({ text: 'hi', sampling_params: { max_new_tokens: 4 } }));
    assert.equal(g.status, 200);
    assert.ok(typeof g.body.text === 'string');
    const h = await json(`${gw.base}/health_generate`);
    assert.equal(h.status, 200);
    const m = await post(`${gw.base}/v1/messages`, JSON.stringify({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] }));
    assert.equal(m.status, 200);
    assert.equal(m.body.type, 'message');
  });

  test('admin: workers list, loads, liveness and readiness', async () => {
    const w = await json(`${gw.base}/workers`);
    assert.equal(w.status, 200);
    assert.equal(w.body.total, 2);
    assert.ok(w.body.workers.every((x) => x.status === 'ready' && x.models.includes(MODEL)));
    const one = await json(`${gw.base}/workers/${w.body.workers[0].id}`);
    assert.equal(one.body.url, sims[0].url);
    const loads = await json(`${gw.base}/get_loads`);
    assert.equal(loads.body.workers.length, 2);
    assert.equal((await fetch(`${gw.base}/liveness`)).status, 200);
    assert.equal((await fetch(`${gw.base}/health`)).status, 200);
    assert.equal((await json(`${gw.base}/readiness`)).body.status, 'ready');
  });
});

describe('fleet changes', () => {
  test('a killed worker leaves rotation and comes back', async () => {
    const a = await startSim(MODEL);
    let b = await startSim(MODEL);
    const bport = b.port;
    const gw = await startGateway(['--worker-urls', a.url, b.url, '--health-check-interval-secs', '1',
      '--health-failure-threshold', '1', '--health-success-threshold', '1']);
    try {
      await stop(b, 'SIGKILL');
      // requests keep succeeding: a connection refused before any byte is retried on the other worker
      for (let i = 0; i < 6; i++) assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL))).status, 200);
      await waitFor(async () => (await json(`${gw.base}/workers`)).body.workers.find((w) => w.url === b.url).status !== 'ready', 8000, 'worker b to leave rotation');
      const before = await chatCount(a);
      for (let i = 0; i < 4; i++) assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL))).status, 200);
      assert.equal(await chatCount(a) - before, 4);
      b = await startSim(MODEL, [], bport);
      await waitFor(async () => (await json(`${gw.base}/workers`)).body.workers.every((w) => w.status === 'ready'), 8000, 'worker b to come back');
      const bBefore = await chatCount(b);
      for (let i = 0; i < 4; i++) await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(await chatCount(b) - bBefore, 2);
    } finally { await stop(gw); await stop(a); await stop(b); }
  });

  test('workers added and removed through the admin API', async () => {
    const a = await startSim('model-a');
    const b = await startSim('model-b');
    const gw = await startGateway(['--worker-urls', a.url, '--admin-api-key', 'adm1n']);
    try {
      const auth = { authorization: 'Bearer adm1n' };
      assert.equal((await post(`${gw.base}/workers`, JSON.stringify({ url: b.url }))).status, 401);
      const add = await post(`${gw.base}/workers`, JSON.stringify({ url: b.url, labels: { zone: 'z1' } }), auth);
      assert.equal(add.status, 202);
      assert.ok(add.body.worker_id);
      assert.equal((await post(`${gw.base}/workers`, JSON.stringify({ url: b.url }), auth)).status, 409);
      await waitFor(async () => (await json(`${gw.base}/workers/${add.body.worker_id}`, { headers: auth })).body.status === 'ready', 8000, 'new worker ready');
      const models = (await json(`${gw.base}/v1/models`)).body.data.map((m) => m.id);
      assert.deepEqual(models, ['model-a', 'model-b']);
      const r = await post(`${gw.base}/v1/chat/completions`, chatBody('model-b'));
      assert.equal(r.status, 200);
      assert.equal(r.body.model, 'model-b');
      const del = await json(`${gw.base}/workers/${add.body.worker_id}`, { method: 'DELETE', headers: auth });
      assert.equal(del.status, 202);
      await waitFor(async () => (await json(`${gw.base}/workers`, { headers: auth })).body.total === 1, 5000, 'worker removed');
      assert.equal((await post(`${gw.base}/v1/chat/completions`, chatBody('model-b'))).status, 404);
      assert.equal((await json(`${gw.base}/workers/${add.body.worker_id}`, { headers: auth })).status, 404);
    } finally { await stop(gw); await stop(a); await stop(b); }
  });
});

describe('streams and failures', () => {
  test('a client disconnect aborts the upstream request', async () => {
    const sim = await startSim(MODEL, ['--itl-ms', '50']);
    const gw = await startGateway(['--worker-urls', sim.url]);
    try {
      const ac = new AbortController();
      const res = await fetch(`${gw.base}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
        body: chatBody(MODEL, { stream: true, max_tokens: 200 }),
      });
      assert.equal(res.status, 200);
      const reader = res.body.getReader();
      await reader.read();
      await reader.read();
      ac.abort();
      await waitFor(async () => (await json(`${sim.url}/stats`)).body.aborted === 1, 5000, 'sim to count the abort');
      assert.equal((await json(`${sim.url}/stats`)).body.in_flight, 0);
    } finally { await stop(gw); await stop(sim); }
  });

  test('an upstream that dies mid-stream ends the stream with an SSE error event', async () => {
    const sim = await startSim(MODEL, ['--itl-ms', '40']);
    const gw = await startGateway(['--worker-urls', sim.url]);
    try {
      const res = await fetch(`${gw.base}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(MODEL, { stream: true, max_tokens: 200 }),
      });
      const reader = res.body.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      await stop(sim, 'SIGKILL');
      for (;;) { const { value, done } = await reader.read(); if (done) break; text += new TextDecoder().decode(value); }
      const events = text.split('\n\n').filter(Boolean);
      const last = events[events.length - 1];
      assert.match(last, /^data: \{"error":/);
      assert.equal(JSON.parse(last.slice(6)).error.type, 'server_error');
      assert.ok(!text.includes('[DONE]'));
    } finally { await stop(gw); await stop(sim); }
  });

  test('SIGTERM: readiness 503 at once, listeners close after the settle window, a live stream finishes, exit 0', async () => {
    const sim = await startSim(MODEL, ['--itl-ms', '25']);
    const gw = await startGateway(['--worker-urls', sim.url, '--shutdown-grace-period-secs', '10']);
    try {
      const res = await fetch(`${gw.base}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(MODEL, { stream: true, max_tokens: 300 }),
      });
      const reader = res.body.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      const exited = new Promise((r) => gw.proc.once('exit', (code, sig) => r({ code, sig })));
      const t0 = Date.now();
      gw.proc.kill('SIGTERM');
      await sleep(200);
      // settle window (min(grace/2, 5 s) = 5 s): still accepting, readiness says 503, liveness 200
      const ready = await fetch(`${gw.base}/readiness`);
      assert.equal(ready.status, 503);
      assert.equal((await ready.json()).reason, 'draining');
      assert.equal((await fetch(`${gw.base}/liveness`)).status, 200);
      // after it the listener is closed: new connections are refused
      await waitFor(async () => { try { await fetch(`${gw.base}/liveness`); return false; } catch { return true; } }, 8000, 'listener to close');
      assert.ok(Date.now() - t0 >= 4500, 'listeners stayed open for the settle window');
      for (;;) { const { value, done } = await reader.read(); if (done) break; text += new TextDecoder().decode(value); }
      assert.ok(text.includes('data: [DONE]'), 'stream finished');
      const contentChunks = text.split('\n\n').filter((e) => e.includes('"delta"') && e.includes('"content"'));
      assert.ok(contentChunks.length >= 300, `${contentChunks.length} content chunks`);
      assert.deepEqual(await exited, { code: 0, sig: null });
    } finally { await stop(gw); await stop(sim); }
  });

  test('upstream errors: timeout 504, unreachable 502, none ready 503, worker 4xx passes through', async () => {
    const hang = await startSim(MODEL, ['--hang']);
    const gw = await startGateway(['--worker-urls', hang.url, '--request-timeout-secs', '1', '--disable-health-check'], { waitReady: false });
    try {
      await waitFor(async () => (await json(`${gw.base}/readiness`)).status === 200, 8000, 'ready (health checks disabled)');
      const t = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(t.status, 504);
      assert.equal(t.body.error.code, 'upstream_timeout');
    } finally { await stop(gw); await stop(hang); }
    const failing = await startSim(MODEL, ['--fail-rate', '1', '--fail-status', '429']);
    const gwf = await startGateway(['--worker-urls', failing.url]);
    try {
      const r = await post(`${gwf.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(r.status, 429, 'worker 4xx passes through');
    } finally { await stop(gwf); await stop(failing); }
    const gw2 = await startGateway(['--worker-urls', 'http://127.0.0.1:9', '--disable-health-check'], { waitReady: false });
    try {
      await waitFor(async () => (await json(`${gw2.base}/readiness`)).status === 200, 8000, 'ready (health checks disabled)');
      const r = await post(`${gw2.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(r.status, 502);
      assert.equal(r.body.error.type, 'server_error');
    } finally { await stop(gw2); }
    const gw3 = await startGateway(['--worker-urls', 'http://127.0.0.1:9'], { waitReady: false });
    try {
      const r = await post(`${gw3.base}/v1/chat/completions`, chatBody(MODEL));
      assert.equal(r.status, 503);
      assert.equal((await json(`${gw3.base}/readiness`)).status, 503);
    } finally { await stop(gw3); }
  });
});

describe('bad input', () => {
  let sim, gw;
  before(async () => {
    sim = await startSim(MODEL);
    gw = await startGateway(['--worker-urls', sim.url, '--max-payload-size', '2000', '--header-timeout-secs', '1',
      '--api-key', 'sekret', '--admin-api-key', 'adm']);
  });
  after(async () => { await stop(gw); await stop(sim); });
  const A = { authorization: 'Bearer sekret' };

  const cases = [
    ['bad JSON', () => post(`${gw.base}/v1/chat/completions`, '{"model":', A), 400, 'invalid_request_error'],
    ['JSON that is not an object', () => post(`${gw.base}/v1/chat/completions`, '[1,2]', A), 400, 'invalid_request_error'],
    ['model not a string', () => post(`${gw.base}/v1/chat/completions`, '{"model":5}', A), 400, 'invalid_request_error'],
    ['wrong content type', () => json(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain', ...A }, body: chatBody(MODEL) }), 415, 'invalid_request_error'],
    ['oversized body', () => post(`${gw.base}/v1/chat/completions`, chatBody(MODEL, { pad: 'x'.repeat(5000) }), A), 413, 'invalid_request_error'],
    ['unknown model', () => post(`${gw.base}/v1/chat/completions`, chatBody('nope'), A), 404, 'invalid_request_error'],
    ['unknown route', () => json(`${gw.base}/v1/nothing`), 404, 'invalid_request_error'],
    ['wrong method', () => json(`${gw.base}/v1/chat/completions`, { method: 'GET' }), 405, 'invalid_request_error'],
    ['missing API key', () => post(`${gw.base}/v1/chat/completions`, chatBody(MODEL)), 401, 'authentication_error'],
    ['wrong API key', () => post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), { authorization: 'Bearer sekreT' }), 401, 'authentication_error'],
    ['admin route with the serving key', () => json(`${gw.base}/workers`, { headers: A }), 401, 'authentication_error'],
    ['admin: missing url', () => post(`${gw.base}/workers`, '{"models":["a"]}', { authorization: 'Bearer adm' }), 400, 'invalid_request_error'],
    ['admin: bad url', () => post(`${gw.base}/workers`, '{"url":"ftp://x"}', { authorization: 'Bearer adm' }), 400, 'invalid_request_error'],
    ['admin: models not a list', () => post(`${gw.base}/workers`, '{"url":"http://127.0.0.1:1","models":5}', { authorization: 'Bearer adm' }), 400, 'invalid_request_error'],
    ['admin: bad JSON', () => post(`${gw.base}/workers`, '{url', { authorization: 'Bearer adm' }), 400, 'invalid_request_error'],
    ['admin: unknown worker', () => json(`${gw.base}/workers/w999`, { method: 'DELETE', headers: { authorization: 'Bearer adm' } }), 404, 'invalid_request_error'],
    ['anthropic route errors are Anthropic-shaped', () => post(`${gw.base}/v1/messages`, '{', A), 400, 'anthropic'],
  ];
  for (const [name, fn, status, type] of cases) {
    test(name, async () => {
      const r = await fn();
      assert.equal(r.status, status, JSON.stringify(r.body));
      if (type === 'anthropic') {
        assert.equal(r.body.type, 'error');
        assert.equal(r.body.error.type, 'invalid_request_error');
      } else {
        assert.equal(typeof r.body.error.message, 'string');
        assert.equal(r.body.error.type, type);
      }
    });
  }

  test('errors the server makes itself keep the Anthropic shape on /v1/messages', async () => {
    const big = JSON.stringify({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const r = await post(`${gw.base}/v1/messages`, big, A);
    assert.equal(r.status, 413);
    assert.equal(r.body.type, 'error');
    assert.equal(r.body.error.type, 'request_too_large');
    const o = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL, { pad: 'x'.repeat(5000) }), A);
    assert.equal(o.status, 413);
    assert.equal(o.body.error.type, 'invalid_request_error');
  });

  test('header flood gets 431 and a close', async () => {
    let req = 'GET /health HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 300; i++) req += `X-H${i}: ${'v'.repeat(10)}\r\n`;
    const out = await rawRequest(gw.port, req + '\r\n');
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('huge header gets 431', async () => {
    const out = await rawRequest(gw.port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100000)}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('slow headers (slowloris) get 408 and a close', async () => {
    const out = await rawRequest(gw.port, null, { idleMs: 4000, writeDelays: [['GET /health HTTP/1.1\r\n', 700], ['Host: x\r\n', 700], ['X-A: 1\r\n', 700]] });
    assert.match(out, /^HTTP\/1\.1 408 /);
  });

  test('malformed request line gets 400', async () => {
    const out = await rawRequest(gw.port, 'GARBAGE\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
  });

  test('smuggling attempt (Content-Length with Transfer-Encoding) gets 400', async () => {
    const out = await rawRequest(gw.port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
  });

  test('chunked request body and Expect: 100-continue are accepted', async () => {
    const body = chatBody(MODEL);
    const chunked = `${(body.length - 10).toString(16)}\r\n${body.slice(0, -10)}\r\n${(10).toString(16)}\r\n${body.slice(-10)}\r\n0\r\n\r\n`;
    const out = await rawRequest(gw.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunked}`);
    assert.match(out, /^HTTP\/1\.1 200 /);
    // the body follows only after the interim answer, as curl does
    const out2 = await rawRequest(gw.port, null, { writeDelays: [
      [`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 300],
      [body, 0]] });
    assert.match(out2, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  });

  test('keep-alive and pipelining answer in order', async () => {
    const one = 'GET /liveness HTTP/1.1\r\nHost: x\r\n\r\n';
    const out = await rawRequest(gw.port, one + one + 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '404']);
  });

  test('the process survived all of it', async () => {
    assert.equal(gw.proc.exitCode, null);
    const r = await post(`${gw.base}/v1/chat/completions`, chatBody(MODEL), A);
    assert.equal(r.status, 200);
  });
});
