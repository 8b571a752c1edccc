/**
 * Hostile input at the endpoint: fuzzed, malformed, invalid UTF-8, huge, deeply nested and
 * concurrent bodies, slow senders and broken HTTP. The endpoint must answer each with a 4xx/503
 * (never crash, never 500), keep serving, and hold no more body bytes than its limits allow.
 */
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1Endpoint, v1 } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { TrustStore } from '../../src/peer/trust.js';

const sender = Identity.generate();
const MAX_BODY = 256 * 1024;
const MAX_BUFFERED = 1024 * 1024;
let ep: V1Endpoint;
let port = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

beforeAll(async () => {
  ep = new V1Endpoint({
    identity: Identity.generate(), entityId: 'us', trust: new TrustStore([['fuzzer', sender.publicKey]], false), log: () => undefined,
    rateLimiter: false,
    limits: { maxBodyBytes: MAX_BODY, maxBufferedBytes: MAX_BUFFERED, headersTimeoutMs: 400, requestTimeoutMs: 800 },
  });
  port = (await ep.listen()).port;
});
afterAll(async () => {
  agent.destroy();
  await ep.close();
});

function post(body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', path: '/message', method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(t) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes raw bytes on a fresh connection; resolves with what came back once the server closes it (or after `ms`). */
function raw(parts: (string | Buffer)[], ms = 5_000, gapMs = 0): Promise<{ text: string; closed: boolean; elapsed: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, elapsed: Date.now() - t0 });
    };
    const timer = setTimeout(() => done(false), ms);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('close', () => done(true));
    s.on('error', () => undefined);
    void (async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    })();
  });
}

async function healthy(): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: '/health', agent }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  expect(status).toBe(200);
  expect(ep.stats().bufferedBytes).toBe(0);
}

const valid = (): string => v1.sign({ msgType: 'status', senderId: 'fuzzer', recipientId: 'us', payload: { load: 3, note: 'é😀' } }, sender);

describe('fuzzed bodies', () => {
  it('random bytes, text, JSON and mutations of a valid body: always 400 with a detail (200 only for a body that verifies)', async () => {
    const mutate = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete', 'truncate')).map(([at, byte, op]) => {
      const b = Buffer.from(valid());
      const i = at % b.length;
      if (op === 'flip') b[i] = byte;
      if (op === 'truncate') return b.subarray(0, i);
      if (op === 'delete') return Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
      if (op === 'insert') return Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      return b;
    });
    const bodies = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
      fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s)),
      fc.json({ maxDepth: 6 }).map((s) => Buffer.from(s)),
      mutate,
    );
    await fc.assert(fc.asyncProperty(bodies, async (body) => {
      const r = await post(body);
      expect([200, 400]).toContain(r.status);
      if (r.status === 200) expect(() => v1.verify(body, sender.publicKey)).not.toThrow();
      else expect(typeof r.json.detail).toBe('string');
    }), { numRuns: 400 });
    await healthy();
  });

  it('invalid UTF-8 (overlong, surrogates encoded, truncated, beyond U+10FFFF): 400 malformed_frame', async () => {
    const good = valid();
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xff], [0xfe, 0xff]]) {
      const body = Buffer.concat([Buffer.from(good.slice(0, good.indexOf('é'))), Buffer.from(bad), Buffer.from(good.slice(good.indexOf('é') + 1))]);
      expect((await post(body)).json).toMatchObject({ detail: 'malformed_frame' });
    }
    await healthy();
  });

  it('deep nesting within the size limit: 400 malformed_frame, no stack overflow', async () => {
    for (const open of ['[', '{"a":', '[{"a":']) {
      const body = open.repeat(Math.floor((MAX_BODY - 10) / open.length));
      expect((await post(body)).json).toMatchObject({ detail: 'malformed_frame' });
    }
    const env = valid().replace('"payload":{', `"payload":{"deep":${'['.repeat(150)}${']'.repeat(150)},`);
    expect((await post(env)).json).toMatchObject({ detail: 'malformed_frame' });
    await healthy();
  });
});

describe('size and memory bounds', () => {
  it('a declared Content-Length above the limit is refused before reading: 400 frame_too_large, connection closed', async () => {
    const r = await raw([`POST /message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n{"version":`]);
    expect(r.text).toMatch(/^HTTP\/1\.1 400/);
    expect(r.text).toContain('"detail":"frame_too_large"');
    expect(r.closed).toBe(true);
    expect(ep.stats().peakBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
    await healthy();
  });

  it('Expect: 100-continue with an oversized body is refused without a 100', async () => {
    const r = await raw([`POST /message HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`]);
    expect(r.text).not.toMatch(/100 Continue/);
    expect(r.text).toMatch(/^HTTP\/1\.1 400/);
  });

  it('a chunked body streamed past the limit is cut off at the limit: 400 frame_too_large, bounded memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const parts: Buffer[] = [Buffer.from('POST /message HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')];
    for (let i = 0; i < 320; i++) parts.push(frame); // 20 MiB offered
    const before = ep.stats().peakBufferedBytes;
    const r = await raw(parts);
    expect(r.text).toMatch(/^HTTP\/1\.1 400/);
    expect(r.text).toContain('frame_too_large');
    expect(r.closed).toBe(true);
    expect(Math.max(before, ep.stats().peakBufferedBytes)).toBeLessThanOrEqual(MAX_BUFFERED);
    await healthy();
  });

  it('many large bodies at once stay within the shared budget: the excess is 503 busy (v1.0 clients retry it)', async () => {
    const size = 200 * 1024;
    const body = Buffer.from(`"${'x'.repeat(size - 2)}"`);
    // Send the first 150 KiB of 20 bodies, pause, then the rest: 3 MiB would be held at once.
    const runs = Array.from({ length: 20 }, () => raw([
      `POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`, body.subarray(0, 150 * 1024), body.subarray(150 * 1024),
    ], 5_000, 150));
    const results = await Promise.all(runs);
    const statuses = results.map((r) => Number(r.text.slice(9, 12)));
    expect(statuses.every((s) => s === 400 || s === 503)).toBe(true);
    expect(statuses).toContain(503);
    expect(results.find((r) => r.text.startsWith('HTTP/1.1 503'))!.text).toMatch(/retry-after: 1/i);
    expect(ep.stats().peakBufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
    await healthy();
  });
});

describe('slow and broken HTTP', () => {
  it('slow-loris headers: closed after the header timeout', async () => {
    const r = await raw(['POST /message HTTP/1.1\r\n', 'Host: x\r\n'], 5_000, 50);
    expect(r.closed).toBe(true);
    expect(r.elapsed).toBeLessThan(3_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a body that never completes: closed after the request timeout', async () => {
    const r = await raw(['POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"version"'], 5_000);
    expect(r.closed).toBe(true);
    expect(r.elapsed).toBeLessThan(3_500);
    expect(ep.stats().bufferedBytes).toBe(0);
  });

  it('garbage and oversized headers: 400 / 431 and closed', async () => {
    const g = await raw(['GARBAGE\r\n\r\n']);
    expect(g.text).toMatch(/^HTTP\/1\.1 400/);
    expect(g.closed).toBe(true);
    const big = await raw([`GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(64 * 1024)}\r\n\r\n`]);
    expect(big.text).toMatch(/^HTTP\/1\.1 431/);
    const te = await raw(['POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']);
    expect(te.text).toMatch(/^HTTP\/1\.1 400/);
    await healthy();
  });

  it('never answered 500: no internal error in all of the above', () => {
    expect(ep.stats().internalErrors).toBe(0);
    expect(Object.keys(ep.stats().rejected).sort()).toEqual(expect.arrayContaining(['MALFORMED_FRAME', 'FRAME_TOO_LARGE']));
  });
});
