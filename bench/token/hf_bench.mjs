// HF tokenizers (Rust, via @anush008/tokenizers) encode throughput with the
// batch API on the same lines as tok_bench.c. Prints one JSON object.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(ROOT, 'tests/package.json'));
const { Tokenizer } = require('@anush008/tokenizers');

const [dir, corpusFile, targetArg] = process.argv.slice(2);
const target = Number(targetArg ?? 5 * 1024 * 1024);
const lines = fs.readFileSync(corpusFile, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
const total = lines.reduce((a, l) => a + Buffer.byteLength(l), 0);
const reps = Math.ceil(target / total);
const all = [];
for (let r = 0; r < reps; r++) all.push(...lines);
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
const load = (performance.now() - t0) / 1000;
const rss1 = process.memoryUsage().rss;
// warm up once (thread pool, allocator)
await tok.encodeBatch(lines.slice(0, 50), { addSpecialTokens: false });
const t1 = performance.now();
let tokens = 0;
const CHUNK = 1024;
for (let i = 0; i < all.length; i += CHUNK) {
  const encs = await tok.encodeBatch(all.slice(i, i + CHUNK), { addSpecialTokens: false });
  for (const e of encs) tokens += e.getLength();
}
const secs = (performance.now() - t1) / 1000;
console.log(JSON.stringify({ bytes: total * reps, tokens, seconds: secs, load_seconds: load, rss_kb: Math.round((rss1 - rss0) / 1024) }));
