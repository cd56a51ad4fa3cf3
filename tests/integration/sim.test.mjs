// smg-sim integration tests: spawn the real binary on port 0 and talk to it
// with fetch (undici) and raw sockets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIM = path.resolve(root, process.env.SMG_BUILD ?? 'build', 'smg-sim');
const procs = new Set();

function startSim(args = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(SIM, ['--port', '0', '--model', 'sim-test', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.add(p);
    let out = '';
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/smg-sim listening on ([\d.]+):(\d+)/);
      if (m) resolve({ proc: p, base: `http://127.0.0.1:${m[2]}`, port: Number(m[2]), stderr: () => err });
    });
    p.on('exit', (code) => {
      procs.delete(p);
      reject(new Error(`smg-sim exited early (${code}): ${err}`));
    });
  });
}

// SIGTERM and check a clean exit (0): under ASan a leak makes it non-zero.
async function stopSim(s) {
  const code = await new Promise((resolve) => {
    if (s.proc.exitCode !== null || s.proc.signalCode !== null) return resolve(s.proc.exitCode);
    s.proc.once('exit', (c) => resolve(c));
    s.proc.kill('SIGTERM');
  });
  assert.equal(code, 0, `smg-sim exit status; stderr: ${s.stderr()}`);
  return code;
}

after(() => { for (const p of procs) p.kill('SIGKILL'); });

const post = (base, route, body, headers = {}) =>
  fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Parse an SSE body into [{event, data}] and check the framing. */
function parseSSE(text) {
  assert.ok(text.endsWith('\n\n'), 'SSE body ends with a blank line');
  return text.slice(0, -2).split('\n\n').map((block) => {
    const ev = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf(': ');
      assert.ok(i > 0, `SSE line has a field: ${JSON.stringify(line)}`);
      ev[line.slice(0, i)] = line.slice(i + 2);
    }
    return ev;
  });
}

const chat = (extra = {}) => ({
  model: 'sim-test',
  messages: [{ role: 'user', content: 'say something nice please' }],
  ...extra,
});

test('models, health and loads', async () => {
  const s = await startSim();
  try {
    const m = await (await fetch(s.base + '/v1/models')).json();
    assert.equal(m.object, 'list');
    assert.equal(m.data.length, 1);
    assert.equal(m.data[0].id, 'sim-test');
    assert.equal(m.data[0].object, 'model');
    assert.equal(m.data[0].owned_by, 'smg-sim');
    assert.equal(typeof m.data[0].created, 'number');
    const h = await fetch(s.base + '/health');
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'OK' });
    const l = await (await fetch(s.base + '/get_load')).json();
    assert.equal(l.in_flight, 0);
    const nf = await fetch(s.base + '/nope');
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error.type, 'invalid_request_error');
  } finally { await stopSim(s); }
});

test('chat non-stream: usage, max_tokens, determinism, x-request-id echo', async () => {
  const s = await startSim();
  try {
    const r = await post(s.base, '/v1/chat/completions', chat({ max_tokens: 7 }), { 'x-request-id': 'rid-42' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-request-id'), 'rid-42');
    assert.match(r.headers.get('content-type'), /application\/json/);
    const j = await r.json();
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.model, 'sim-test');
    assert.equal(j.choices[0].message.role, 'assistant');
    assert.equal(j.choices[0].finish_reason, 'length');
    const words = j.choices[0].message.content.trim().split(' ');
    assert.equal(words.length, 7);
    assert.deepEqual(j.usage, { prompt_tokens: 4, completion_tokens: 7, total_tokens: 11 });
    // same prompt, same text; default max_tokens is 16
    const j2 = await (await post(s.base, '/v1/chat/completions', chat({ max_tokens: 7 }))).json();
    assert.equal(j2.choices[0].message.content, j.choices[0].message.content);
    const j3 = await (await post(s.base, '/v1/chat/completions', chat())).json();
    assert.equal(j3.usage.completion_tokens, 16);
    assert.ok(j3.choices[0].message.content.startsWith(j.choices[0].message.content));
    const last = await (await fetch(s.base + '/stats/last_headers')).json();
    assert.equal(last['content-type'], 'application/json');
  } finally { await stopSim(s); }
});

test('chat stream: SSE framing, deltas, finish, include_usage, [DONE]', async () => {
  const s = await startSim(['--itl-ms', '2']);
  try {
    const full = await (await post(s.base, '/v1/chat/completions', chat({ max_tokens: 5 }))).json();
    const r = await post(s.base, '/v1/chat/completions',
      chat({ max_tokens: 5, stream: true, stream_options: { include_usage: true } }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    const events = parseSSE(await r.text());
    assert.equal(events.at(-1).data, '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, full.choices[0].message.content);
    const fin = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(fin.length, 1);
    assert.equal(fin[0].choices[0].finish_reason, 'length');
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, []);
    assert.deepEqual(usage.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    // without include_usage: no usage chunk
    const r2 = await post(s.base, '/v1/chat/completions', chat({ max_tokens: 2, stream: true }));
    const ev2 = parseSSE(await r2.text());
    assert.ok(ev2.slice(0, -1).every((e) => JSON.parse(e.data).usage === undefined));
  } finally { await stopSim(s); }
});

test('completions, generate (SGLang), messages (Anthropic), responses', async () => {
  const s = await startSim();
  try {
    const c = await (await post(s.base, '/v1/completions', { model: 'sim-test', prompt: 'a b', max_tokens: 3 })).json();
    assert.equal(c.object, 'text_completion');
    assert.equal(c.choices[0].text.trim().split(' ').length, 3);
    assert.equal(c.usage.prompt_tokens, 2);

    const g = await (await post(s.base, '/generate', { text: 'hello', sampling_params: { max_new_tokens: 4 } })).json();
    assert.equal(g.text.trim().split(' ').length, 4);
    assert.equal(g.meta_info.completion_tokens, 4);
    assert.equal(g.meta_info.finish_reason.type, 'length');
    const gs = parseSSE(await (await post(s.base, '/generate', { text: 'hello', stream: true, sampling_params: { max_new_tokens: 4 } })).text());
    assert.equal(gs.at(-1).data, '[DONE]');
    assert.equal(JSON.parse(gs.at(-2).data).text, g.text);

    const m = await (await post(s.base, '/v1/messages', { model: 'sim-test', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] })).json();
    assert.equal(m.type, 'message');
    assert.equal(m.content[0].type, 'text');
    assert.equal(m.stop_reason, 'max_tokens');
    assert.deepEqual(m.usage, { input_tokens: 1, output_tokens: 3 });
    const ms = parseSSE(await (await post(s.base, '/v1/messages', { model: 'sim-test', max_tokens: 3, stream: true, messages: [{ role: 'user', content: 'hi' }] })).text());
    assert.deepEqual(ms.map((e) => e.event), ['message_start', 'content_block_start',
      'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop',
      'message_delta', 'message_stop']);
    assert.equal(ms.filter((e) => e.event === 'content_block_delta').map((e) => JSON.parse(e.data).delta.text).join(''), m.content[0].text);

    const rs = await (await post(s.base, '/v1/responses', { model: 'sim-test', input: 'x y z', max_output_tokens: 2 })).json();
    assert.equal(rs.object, 'response');
    assert.equal(rs.status, 'completed');
    assert.equal(rs.output[0].content[0].type, 'output_text');
    assert.equal(rs.usage.input_tokens, 3);
    assert.equal(rs.usage.output_tokens, 2);
  } finally { await stopSim(s); }
});

test('embeddings, rerank, classify, tokenize round trip', async () => {
  const s = await startSim(['--embedding-dim', '12']);
  try {
    const e = await (await post(s.base, '/v1/embeddings', { model: 'sim-test', input: ['one two', 'three'] })).json();
    assert.equal(e.object, 'list');
    assert.equal(e.data.length, 2);
    for (const d of e.data) {
      assert.equal(d.embedding.length, 12);
      const norm = Math.sqrt(d.embedding.reduce((a, x) => a + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-4);
    }
    assert.equal(e.usage.prompt_tokens, 3);
    const e2 = await (await post(s.base, '/v1/embeddings', { model: 'sim-test', input: 'three' })).json();
    assert.deepEqual(e2.data[0].embedding, e.data[1].embedding);

    const rr = await (await post(s.base, '/v1/rerank', { query: 'q', documents: ['a', 'b', 'c'] })).json();
    assert.equal(rr.results.length, 3);
    for (let i = 1; i < 3; i++) assert.ok(rr.results[i - 1].relevance_score >= rr.results[i].relevance_score);
    assert.deepEqual(rr.results.map((x) => x.index).sort(), [0, 1, 2]);

    const cl = await (await post(s.base, '/v1/classify', { model: 'sim-test', input: ['a', 'b'] })).json();
    assert.equal(cl.data.length, 2);
    assert.ok(Math.abs(cl.data[0].probs[0] + cl.data[0].probs[1] - 1) < 1e-5);

    const t = await (await post(s.base, '/v1/tokenize', { prompt: 'the of and' })).json();
    assert.equal(t.count, 3);
    const d = await (await post(s.base, '/v1/detokenize', { tokens: t.tokens })).json();
    assert.equal(d.prompt, 'the of and');
  } finally { await stopSim(s); }
});

test('errors: bad JSON 400, wrong model 404, fail-rate 1 with status', async () => {
  const s = await startSim(['--fail-rate', '1', '--fail-status', '503']);
  try {
    const bad = await post(s.base, '/v1/chat/completions', '{"model": ');
    assert.equal(bad.status, 400);
    const bj = await bad.json();
    assert.equal(bj.error.type, 'invalid_request_error');
    assert.match(bj.error.message, /invalid JSON/);
    const wm = await post(s.base, '/v1/chat/completions', chat({ model: 'other' }));
    assert.equal(wm.status, 404);
    assert.match((await wm.json()).error.message, /other/);
    const f = await post(s.base, '/v1/chat/completions', chat());
    assert.equal(f.status, 503);
    assert.equal((await f.json()).error.type, 'server_error');
    // runtime control turns failures off
    const c = await post(s.base, '/control', { fail_rate: 0, 'health-status': 503 });
    assert.equal(c.status, 200);
    assert.equal((await c.json()).fail_rate, 0);
    assert.equal((await post(s.base, '/v1/chat/completions', chat())).status, 200);
    assert.equal((await fetch(s.base + '/health')).status, 503);
    const cbad = await post(s.base, '/control', { fail_rate: 2 });
    assert.equal(cbad.status, 400);
  } finally { await stopSim(s); }
});

test('die-after N exits the process after N completed requests', async () => {
  const s = await startSim(['--die-after', '2']);
  const exited = new Promise((resolve) => s.proc.once('exit', (code) => resolve(code)));
  assert.equal((await post(s.base, '/v1/chat/completions', chat())).status, 200);
  assert.equal((await post(s.base, '/v1/completions', { prompt: 'x' })).status, 200);
  assert.equal(await exited, 3);
  await assert.rejects(fetch(s.base + '/health'));
});

function rawRequest(port, body) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    let got = '';
    sock.on('data', (d) => { got += d; if (got.includes('data: ')) resolve({ sock, got }); });
  });
}

async function waitStats(base, pred) {
  for (let i = 0; i < 200; i++) {
    const st = await (await fetch(base + '/stats')).json();
    if (pred(st)) return st;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('stats condition not reached');
}

test('client disconnect mid-stream counts as aborted; in_flight returns to 0', async () => {
  const s = await startSim(['--itl-ms', '50']);
  try {
    const { sock } = await rawRequest(s.port, JSON.stringify(chat({ max_tokens: 1000, stream: true })));
    const mid = await (await fetch(s.base + '/stats')).json();
    assert.equal(mid.in_flight, 1);
    assert.equal(mid.aborted, 0);
    sock.destroy();
    const st = await waitStats(s.base, (x) => x.aborted === 1);
    assert.equal(st.in_flight, 0);
    assert.equal(st.by_path['/v1/chat/completions'], 1);
  } finally { await stopSim(s); }
});

test('hang: accepted and never answered, aborted on disconnect', async () => {
  const s = await startSim(['--hang']);
  try {
    const ac = new AbortController();
    const p = post(s.base, '/v1/chat/completions', chat(), {}).catch((e) => e);
    const slow = fetch(s.base + '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat()), signal: ac.signal }).catch((e) => e);
    await waitStats(s.base, (x) => x.in_flight === 2);
    ac.abort();
    await slow;
    await waitStats(s.base, (x) => x.aborted >= 1);
    // the other request still waits; turn hang off for new ones
    await post(s.base, '/control', { hang: false });
    assert.equal((await post(s.base, '/v1/chat/completions', chat())).status, 200);
    void p;
  } finally { await stopSim(s); }
});

test('ttft holds the response; SIGTERM with a request in flight exits 0', async () => {
  const s = await startSim(['--ttft-ms', '3000']);
  const pending = post(s.base, '/v1/chat/completions', chat({ max_tokens: 1 })).catch((e) => e);
  // The request is held by the delay, not answered at once.
  const st = await waitStats(s.base, (x) => x.by_path['/v1/chat/completions'] === 1);
  assert.equal(st.in_flight, 1);
  assert.equal(st.completed, 0);
  await post(s.base, '/control', { ttft_ms: 0 });
  assert.equal((await post(s.base, '/v1/chat/completions', chat({ max_tokens: 1 }))).status, 200);
  // Shutdown aborts the held request and frees everything (LSan in the ASan build).
  assert.equal(await stopSim(s), 0);
  assert.ok((await pending) instanceof Error);
});
