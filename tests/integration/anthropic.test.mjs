// The official Anthropic SDK through the gateway's /v1/messages (proxied to
// an engine that speaks the Messages API), streaming and not; errors keep the
// Anthropic shape.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, startSim, stop } from './lib.mjs';

const MODEL = 'sim-model';
let sim, gw, client;
before(async () => {
  sim = await startSim(MODEL);
  gw = await startGateway(['--worker-urls', sim.url, '--api-key', 'k-ant']);
  client = new Anthropic({ baseURL: gw.base, apiKey: 'k-ant', maxRetries: 0 });
});
after(async () => { await stop(gw); await stop(sim); });

test('messages.create, non-streaming', async () => {
  const m = await client.messages.create({ model: MODEL, max_tokens: 6, messages: [{ role: 'user', content: 'Hello' }] });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
  assert.equal(m.usage.output_tokens, 6);
});

test('messages.stream: events in order, final message assembled', async () => {
  const stream = client.messages.stream({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'Hello' }] });
  const types = [];
  stream.on('streamEvent', (e) => types.push(e.type));
  const final = await stream.finalMessage();
  assert.equal(types[0], 'message_start');
  assert.equal(types[types.length - 1], 'message_stop');
  assert.ok(types.filter((t) => t === 'content_block_delta').length >= 10);
  assert.ok(final.content[0].text.length > 0);
});

test('errors reach the SDK as typed Anthropic errors', async () => {
  await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 4, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.NotFoundError && e.status === 404 && e.error?.type === 'error' && e.error?.error?.type === 'not_found_error');
  const bad = new Anthropic({ baseURL: gw.base, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.AuthenticationError && e.status === 401);
});
