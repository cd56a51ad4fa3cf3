// --tokenizer-path: /v1/tokenize and /v1/detokenize answered by the gateway
// itself, in the reference's format, checked against Hugging Face's own
// tokenizers (@anush008/tokenizers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { corpus, modelDir, oracle } from '../token/tok-common.mjs';
import { json, post, startGateway, startSim, stop } from './lib.mjs';

let sim, gw, llama, qwen;
const lines = corpus().slice(0, 60).filter((l) => typeof l === 'string' && l.length < 4000);

before(async () => {
  sim = await startSim('sim-model');
  gw = await startGateway(['--worker-urls', sim.url, '--tokenizer-path', modelDir('llama3'), '--tokenizer-path', `qwen3=${modelDir('qwen3')}`,
    '--tokenizer-path', `gemma3=${modelDir('gemma3')}`]);
  llama = oracle('llama3');
  qwen = oracle('qwen3');
});
after(async () => { await stop(gw); await stop(sim); });

test('tokenize: ids equal to Hugging Face, single and batch, with and without special tokens', async () => {
  for (const add of [true, false]) {
    const want = (await llama.encodeBatch(lines, { addSpecialTokens: add })).map((e) => Array.from(e.getIds()));
    const batch = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ prompt: lines, add_special_tokens: add }));
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    assert.deepEqual(batch.body.tokens, want);
    assert.deepEqual(batch.body.count, want.map((w) => w.length));
    const one = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ model: 'anything', prompt: lines[3], add_special_tokens: add }));
    assert.deepEqual(one.body.tokens, want[3]);
    assert.equal(one.body.count, want[3].length);
    assert.equal(typeof one.body.max_model_len, 'number');
  }
});

test('a named model uses its own tokenizer', async () => {
  const want = Array.from((await qwen.encodeBatch([lines[5]], { addSpecialTokens: true }))[0].getIds());
  const llamaIds = Array.from((await llama.encodeBatch([lines[5]], { addSpecialTokens: true }))[0].getIds());
  assert.notDeepEqual(want, llamaIds, 'the two tokenizers differ on this line');
  const r = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ model: 'qwen3', prompt: lines[5] }));
  assert.deepEqual(r.body.tokens, want);
});

test('detokenize: text equal to Hugging Face, skipping special tokens or not', async () => {
  const ids = (await llama.encodeBatch(lines.slice(0, 20), { addSpecialTokens: true })).map((e) => Array.from(e.getIds()));
  for (const skip of [true, false]) {
    const want = await Promise.all(ids.map((x) => llama.decode(x, skip)));
    const r = await post(`${gw.base}/v1/detokenize`, JSON.stringify({ tokens: ids, skip_special_tokens: skip }));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.text, want);
    const one = await post(`${gw.base}/v1/detokenize`, JSON.stringify({ tokens: ids[1], skip_special_tokens: skip }));
    assert.equal(one.body.text, want[1]);
  }
});

test('bad tokenize/detokenize requests get 400 and the right shape', async () => {
  for (const body of ['{', '[]', '{"prompt":5}', '{"prompt":["a",1]}', '{"prompt":"a","add_special_tokens":"yes"}',
    '{"tokens":"x"}', '{"tokens":[-1]}', '{"tokens":[1.5]}', '{"tokens":[[1],"a"]}', '{"model":3,"prompt":"a"}']) {
    const path = body.includes('tokens') ? '/v1/detokenize' : '/v1/tokenize';
    const r = await post(`${gw.base}${path}`, body);
    assert.equal(r.status, 400, `${path} ${body}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.type, 'invalid_request_error');
  }
});

test('without --tokenizer-path the routes are proxied to a worker', async () => {
  const gw2 = await startGateway(['--worker-urls', sim.url]);
  try {
    const r = await post(`${gw2.base}/v1/tokenize`, JSON.stringify({ model: 'sim-model', prompt: 'hello world' }));
    assert.equal(r.status, 200);
    const stats = (await json(`${sim.url}/stats`)).body;
    assert.ok(stats.by_path['/v1/tokenize'] >= 1);
  } finally { await stop(gw2); }
});

test('a tokenizer that cannot load stops start-up with exit 2 and the reason', async () => {
  await assert.rejects(startGateway(['--tokenizer-path', '/nonexistent-dir'], { waitReady: false }), /exited 2.*nonexistent-dir/s);
});

test('tokenize messages: the chat template renders the prompt, template errors are 400 with the line', async () => {
  const { Template } = await import('@huggingface/jinja');
  const fs = await import('node:fs');
  const cfg = JSON.parse(fs.readFileSync(`${modelDir('qwen3')}/tokenizer_config.json`, 'utf8'));
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there, 世界!' }];
  const prompt = new Template(cfg.chat_template).render({ messages, add_generation_prompt: true, bos_token: '', eos_token: cfg.eos_token });
  const want = Array.from((await qwen.encodeBatch([prompt], { addSpecialTokens: false }))[0].getIds());
  const r = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ model: 'qwen3', messages }));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.tokens, want);
  // gemma3's template raises an exception when roles do not alternate
  const bad = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ model: 'gemma3', messages: [{ role: 'user', content: 'x' }, { role: 'user', content: 'y' }] }));
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  assert.match(bad.body.error.message, /^chat template error at line \d+: Conversation roles must alternate/);
  assert.equal(bad.body.error.code, 'chat_template_error');
  const both = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ prompt: 'a', messages }));
  assert.equal(both.status, 400);
  const notList = await post(`${gw.base}/v1/tokenize`, JSON.stringify({ model: 'qwen3', messages: 'hi' }));
  assert.equal(notList.status, 400);
});
