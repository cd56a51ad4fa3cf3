// A slow client applies backpressure to the upstream read: the gateway's
// memory stays bounded while a large stream waits for the client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { chatBody, rssBytes, sleep, startGateway, startSim, stop } from './lib.mjs';

const MODEL = 'sim-model';

test('a client that stops reading pauses the upstream; memory stays bounded; the stream completes', async () => {
  const sim = await startSim(MODEL);
  // a small ASan quarantine, so freed chunks are not counted as resident memory
  const gw = await startGateway(['--worker-urls', sim.url, '--threads', '1'],
    { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:quarantine_size_mb=4` } });
  try {
    const body = chatBody(MODEL, { stream: true, max_tokens: 100000 });
    // warm up, then take the baseline before the large streams start
    for (let i = 0; i < 3; i++) await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(MODEL) }).then((r) => r.text());
    const rssBefore = rssBytes(gw.proc.pid);
    // two slow clients, each asking for a ~18 MB stream
    const clients = [0, 1].map(() => {
      const c = { sock: net.connect(gw.port, '127.0.0.1'), received: 0, tail: '' };
      c.sock.on('data', (d) => {
        c.received += d.length;
        c.tail = (c.tail + d.toString('latin1')).slice(-64);
        // stop reading at once (not after the poll below): a fast gateway can
        // relay the whole stream within a few milliseconds of polling
        if (!c.stopped && c.received >= 4096) { c.stopped = true; c.sock.pause(); }
      });
      c.closed = new Promise((r) => c.sock.once('close', r));
      return c;
    });
    for (const c of clients) {
      await new Promise((r) => (c.sock.connecting ? c.sock.once('connect', r) : r()));
      c.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    }
    while (clients.some((c) => c.received < 4096)) await sleep(5);
    for (const c of clients) c.sock.pause();
    await sleep(2000);
    const growth = rssBytes(gw.proc.pid) - rssBefore;
    assert.ok(growth < 6 * 1024 * 1024, `gateway RSS grew by ${growth} bytes while its clients were not reading`);
    for (const c of clients) {
      const seenWhilePaused = c.received;
      c.sock.resume();
      await c.closed;
      assert.ok(c.received > 10 * 1024 * 1024, `stream is large (${c.received} bytes)`);
      assert.ok(c.received > seenWhilePaused);
      assert.match(c.tail, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/); // last SSE event, then the last chunk
    }
  } finally { await stop(gw); await stop(sim); }
});
