/** The v1.0 client's rules (10 s per try, 3 tries, 1 s / 2 s backoff, no retry on 400/401/403/404) against a plain node:http server. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  V1Client, messageUrl, CLIENT_ATTEMPTS, CLIENT_BACKOFF_MS, CLIENT_TIMEOUT_MS, NO_RETRY_STATUSES,
} from '../../src/compat/v1/client.js';
import { ErrorCode } from '../../src/errors.js';
import { expectPeerErrorAsync } from '../helpers/errors.js';

/** Each request takes the next scripted answer (the last repeats); 'hang' never answers. */
type Answer = { status: number; body?: string } | 'hang';
let script: Answer[] = [];
let hits: { method: string; url: string; body: string; type: string | undefined }[] = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    hits.push({ method: req.method!, url: req.url!, body, type: req.headers['content-type'] });
    const a = script[Math.min(hits.length - 1, script.length - 1)]!;
    if (a === 'hang') return;
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(a.body ?? '{}');
  });
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

function client(timeoutMs = 2_000) {
  const delays: number[] = [];
  const c = new V1Client({ timeoutMs, sleep: async (ms) => void delays.push(ms) });
  return { c, delays };
}
function run(answers: Answer[]): void {
  script = answers;
  hits = [];
}

describe('V1Client', () => {
  it('has their numbers by default', () => {
    expect(CLIENT_TIMEOUT_MS).toBe(10_000);
    expect(CLIENT_ATTEMPTS).toBe(3);
    expect(CLIENT_BACKOFF_MS).toEqual([1_000, 2_000]);
    expect([...NO_RETRY_STATUSES].sort()).toEqual([400, 401, 403, 404]);
    const c = new V1Client();
    expect([c.timeoutMs, c.attempts]).toEqual([10_000, 3]);
  });

  it('POSTs the body as JSON to /message and returns the answer', async () => {
    run([{ status: 200, body: '{"status":"received"}' }]);
    const { c, delays } = client();
    const r = await c.post(base, '{"a":1}');
    expect(r).toEqual({ status: 200, body: { status: 'received' }, attempts: 1 });
    expect(hits).toEqual([{ method: 'POST', url: '/message', body: '{"a":1}', type: 'application/json' }]);
    expect(delays).toEqual([]);
  });

  it('retries 5xx with 1 s then 2 s between tries', async () => {
    run([{ status: 500 }, { status: 502 }, { status: 200 }]);
    const { c, delays } = client();
    expect((await c.post(base, '{}')).attempts).toBe(3);
    expect(delays).toEqual([1_000, 2_000]);
  });

  it('gives up after 3 tries: SESSION_NOT_FOUND for a peer that keeps failing', async () => {
    run([{ status: 503, body: '{"detail":"overloaded"}' }]);
    const { c, delays } = client();
    const e = await expectPeerErrorAsync(c.post(base, '{}'), ErrorCode.SESSION_NOT_FOUND);
    expect(e.details).toMatchObject({ status: 503, attempts: 3 });
    expect(hits.length).toBe(3);
    expect(delays).toEqual([1_000, 2_000]);
  });

  for (const [status, body, code] of [
    [400, '{"detail":"invalid_signature"}', ErrorCode.INVALID_SIGNATURE],
    [400, '{"detail":"Invalid signature"}', ErrorCode.INVALID_SIGNATURE],
    [400, '{"detail":"rate_limited"}', ErrorCode.RATE_LIMITED],
    [400, '{"detail":"Replay detected"}', ErrorCode.REPLAY_DETECTED],
    [400, '{"detail":"Unknown sender"}', ErrorCode.UNKNOWN_SENDER],
    [400, '{"detail":"x","error_code":"INVALID_VERSION"}', ErrorCode.INVALID_VERSION],
    [400, '{"detail":"something else"}', ErrorCode.MALFORMED_FRAME],
    [401, '{}', ErrorCode.UNKNOWN_SENDER],
    [403, '{}', ErrorCode.UNKNOWN_SENDER],
    [404, '{"detail":"Not Found"}', ErrorCode.SESSION_NOT_FOUND],
  ] as const) {
    it(`does not retry ${status} ${body}: ${code}`, async () => {
      run([{ status, body }]);
      const { c, delays } = client();
      const e = await expectPeerErrorAsync(c.post(base, '{}'), code);
      expect(e.details).toMatchObject({ status, attempts: 1 });
      expect(hits.length).toBe(1);
      expect(delays).toEqual([]);
    });
  }

  it('retries other 4xx (422, 429) like their client does', async () => {
    run([{ status: 422 }, { status: 429 }, { status: 422, body: '{"detail":"bad field"}' }]);
    const { c } = client();
    await expectPeerErrorAsync(c.post(base, '{}'), ErrorCode.MALFORMED_FRAME);
    expect(hits.length).toBe(3);
  });

  it('times out each try (SESSION_NOT_FOUND) and retries', async () => {
    run(['hang', { status: 200 }]);
    const { c } = client(200);
    const t0 = Date.now();
    expect((await c.post(base, '{}')).attempts).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    run(['hang']);
    await expectPeerErrorAsync(c.post(base, '{}'), ErrorCode.SESSION_NOT_FOUND);
    expect(hits.length).toBe(3);
  });

  it('an unreachable peer is SESSION_NOT_FOUND after 3 tries', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { c, delays } = client();
    await expectPeerErrorAsync(c.post(`http://127.0.0.1:${port}`, '{}'), ErrorCode.SESSION_NOT_FOUND);
    expect(delays).toEqual([1_000, 2_000]);
  });

  it('refuses an oversized answer', async () => {
    run([{ status: 200, body: JSON.stringify({ pad: 'x'.repeat(100_000) }) }]);
    const c = new V1Client({ sleep: async () => undefined, maxResponseBytes: 1000 });
    await expectPeerErrorAsync(c.post(base, '{}'), ErrorCode.FRAME_TOO_LARGE);
  });

  it('GET /public-key', async () => {
    run([{ status: 200, body: JSON.stringify({ entity_id: 'bob', public_key: 'ab'.repeat(32) }) }]);
    const { c } = client();
    expect(await c.publicKey(`${base}/`)).toEqual({ entityId: 'bob', publicKey: Buffer.alloc(32, 0xab) });
    expect(hits[0]).toMatchObject({ method: 'GET', url: '/public-key' });
  });

  it('messageUrl', () => {
    expect(messageUrl('http://h:1').href).toBe('http://h:1/message');
    expect(messageUrl('http://h:1/api/').href).toBe('http://h:1/api/message');
    expect(messageUrl('https://h/message').href).toBe('https://h/message');
    expect(() => messageUrl('ftp://h')).toThrow(/http/);
    expect(() => messageUrl('nope')).toThrow(/URL/);
  });
});
