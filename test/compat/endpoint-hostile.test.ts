/**
 * The v1.0 endpoint under the attacks of issue 10 (item 6), over real HTTP from distinct
 * 127.x.y.z source addresses: made-up senders filling the replay cache, a takeover of a
 * configured-but-unpinned peer id by someone who never saw the ack, one address holding the
 * body budget or the connections, stalled uploads, bodies read before the rate limit is asked,
 * and JSON with hundreds of thousands of members.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { V1Endpoint, type V1EndpointLimits, type V1Session } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { TrustStore } from '../../src/peer/trust.js';
import { RateLimiter } from '../../src/ratelimit/index.js';
import { FakeV1Peer, obj } from './helpers/fake-v1-peer.js';
import { isoMicros } from './helpers/pyjson.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakePeer(id: string): Promise<FakeV1Peer> {
  const f = await new FakeV1Peer(id).start();
  cleanups.push(() => f.stop());
  return f;
}

async function endpoint(o: { trust: TrustStore; peers?: [string, string][]; limits?: Partial<V1EndpointLimits>; maxNonces?: number; rateLimiter?: RateLimiter | false }): Promise<V1Endpoint> {
  const ep = new V1Endpoint({
    identity: Identity.generate(), entityId: 'us', trust: o.trust, peers: o.peers ?? [], log: () => undefined,
    rateLimiter: o.rateLimiter ?? false, limits: o.limits, replay: o.maxNonces === undefined ? undefined : { maxNonces: o.maxNonces },
    client: { sleep: async () => undefined, timeoutMs: 2_000, attempts: 1 },
  });
  await ep.listen({ host: '0.0.0.0', port: 0 });
  cleanups.push(() => ep.close());
  return ep;
}

const url = (ep: V1Endpoint): string => `http://127.0.0.1:${ep.address!.port}`;

/** POSTs a body from `localAddress`; resolves with the status and the JSON answer. */
function postFrom(ep: V1Endpoint, body: string | Buffer, localAddress = '127.0.0.1'): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url(ep)}/message`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false, localAddress }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A raw connection from `localAddress` that writes `head` and then whatever the test sends. */
function rawFrom(ep: V1Endpoint, localAddress: string, head: string): Promise<{ socket: net.Socket; text: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port: ep.address!.port, localAddress }, () => {
      socket.write(head);
      resolve({ socket, text: () => text, closed });
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (d) => (text += d));
    socket.on('error', () => undefined);
    socket.once('error', reject);
    cleanups.push(() => void socket.destroy());
  });
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('v1.0 endpoint under attack', () => {
  it('made-up senders\' handshakes are refused before verifying and store no nonce', async () => {
    const ep = await endpoint({ trust: new TrustStore([], true) });
    for (let i = 0; i < 20; i++) {
      const liar = new FakeV1Peer(`made-up-${i}`);
      const body = liar.envelope('handshake', 'us', obj({
        version: '1.0', session_id: crypto.randomUUID(), challenge: crypto.randomBytes(32).toString('hex'), public_key: liar.publicKeyHex, supported_versions: ['1.0'], capabilities: [],
      }));
      expect((await postFrom(ep, body)).json.error_code).toBe('UNKNOWN_SENDER');
    }
    expect(ep.stats().nonces).toBe(0);
  });

  it('v1.0 replay-cache filling leaves a pinned v1.0 peer served', async () => {
    const pinned = await fakePeer('pinned-peer');
    const other = await fakePeer('other-peer');
    const trust = new TrustStore([['pinned-peer', pinned.publicKeyHex]], true);
    const ep = await endpoint({ trust, peers: [['other-peer', other.url]], maxNonces: 40 });
    other.directory.set('us', { url: url(ep), publicKeyHex: ep.identity.publicKey.toString('hex') });
    // Made-up senders, then an unpinned peer with a session, send as much as they can.
    for (let i = 0; i < 30; i++) {
      const liar = new FakeV1Peer(`made-up-${i}`);
      await postFrom(ep, liar.envelope('handshake', 'us', obj({
        version: '1.0', session_id: crypto.randomUUID(), challenge: crypto.randomBytes(32).toString('hex'), public_key: liar.publicKeyHex, supported_versions: ['1.0'], capabilities: [],
      })));
    }
    const sid = await other.handshake('us');
    const flood: number[] = [];
    for (let i = 0; i < 60; i++) flood.push((await other.post(url(ep), other.envelope('status', 'us', obj({ i }), { sessionId: sid }))).status);
    expect(flood).toContain(400); // the flooder met its own quota...
    // ...and the pinned peer is still served.
    for (let i = 0; i < 5; i++) {
      const r = await postFrom(ep, pinned.envelope('status', 'us', obj({ i })));
      expect(r).toMatchObject({ status: 200 });
    }
  }, 30_000);

  it('someone who never saw the ack cannot take over a configured-but-unpinned peer id', async () => {
    const real = await fakePeer('py-peer');
    const trust = new TrustStore([], true);
    const ep = await endpoint({ trust, peers: [['py-peer', real.url]] });
    real.directory.set('us', { url: url(ep), publicKeyHex: ep.identity.publicKey.toString('hex') });
    const attacker = new FakeV1Peer('py-peer'); // same id, its own key; the ack goes to the real peer
    const sessionId = crypto.randomUUID();
    await attacker.post(url(ep), attacker.envelope('handshake', 'us', obj({
      version: '1.0', session_id: sessionId, challenge: crypto.randomBytes(32).toString('hex'), public_key: attacker.publicKeyHex, supported_versions: ['1.0'], capabilities: [],
    }), { sessionId }));
    await settle(300);
    const confirm = await attacker.post(url(ep), attacker.envelope('handshake_confirm', 'us', obj({ session_id: sessionId, confirm: true, timestamp: isoMicros(Date.now()) }), { sessionId }));
    expect(confirm.status).toBe(400);
    const task = await attacker.post(url(ep), attacker.envelope('task_delegate', 'us', obj({ evil: true }), { sessionId }));
    expect(task.status).toBe(400);
    expect(ep.sessions()).toEqual([]);
    // The real peer still gets its session.
    const established = new Promise<V1Session>((r) => ep.once('session', r));
    await real.handshake('us');
    expect((await established).publicKey.toString('hex')).toBe(real.publicKeyHex);
  }, 30_000);

  it('stalled uploads from one address cannot hold the whole body budget', async () => {
    const pinned = await fakePeer('pinned-peer');
    const ep = await endpoint({ trust: new TrustStore([['pinned-peer', pinned.publicKeyHex]], false) });
    const size = 1 << 20;
    // 16 uploads of 1 MiB from one address, each stalled one byte short: 16 MiB on main.
    for (let i = 0; i < 16; i++) {
      const c = await rawFrom(ep, '127.12.0.1', `POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
      c.socket.write(Buffer.alloc(size - 1, 0x20));
    }
    await settle(500);
    expect(ep.stats().bufferedBytes).toBeLessThanOrEqual(4 << 20);
    const r = await postFrom(ep, pinned.envelope('status', 'us', obj({ ok: true })));
    expect(r.status).toBe(200);
  }, 30_000);

  it('a stalled upload is dropped long before the request timeout', async () => {
    const ep = await endpoint({ trust: new TrustStore([], false) });
    const c = await rawFrom(ep, '127.13.0.1', 'POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"version"');
    const closed = await Promise.race([c.closed.then(() => true), settle(15_000).then(() => false)]);
    expect(closed).toBe(true); // the request timeout (30 s) would not have closed it yet
    expect(c.text()).toMatch(/^HTTP\/1\.1 408/);
  }, 30_000);

  it('one address cannot hold every connection', async () => {
    const pinned = await fakePeer('pinned-peer');
    const ep = await endpoint({ trust: new TrustStore([['pinned-peer', pinned.publicKeyHex]], false), limits: { maxConnections: 100 } });
    for (let i = 0; i < 100; i++) await rawFrom(ep, '127.14.0.1', '');
    await settle(200);
    const r = await postFrom(ep, pinned.envelope('status', 'us', obj({ ok: true })));
    expect(r.status).toBe(200);
  }, 30_000);

  it('an address out of tokens is refused before its body is read', async () => {
    const ep = await endpoint({ trust: new TrustStore([], false), rateLimiter: new RateLimiter({ classes: { task: { perMinute: 1, burst: 2 } } }) });
    for (let i = 0; i < 3; i++) await postFrom(ep, 'junk', '127.15.0.1');
    // Headers only: the body is never sent. The refusal must not wait for it.
    const c = await rawFrom(ep, '127.15.0.1', 'POST /message HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
    const answered = await Promise.race([c.closed.then(() => true), settle(10_000).then(() => false)]);
    expect(answered).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 400/);
    expect(c.text()).toContain('rate_limited');
  }, 30_000);

  it('a payload with hundreds of thousands of JSON members is refused as malformed', async () => {
    const pinned = await fakePeer('pinned-peer');
    const ep = await endpoint({ trust: new TrustStore([['pinned-peer', pinned.publicKeyHex]], false) });
    const zeros = `[${new Array(400_000).fill('0').join(',')}]`;
    const body = pinned.envelope('status', 'us', obj({ x: 'PLACEHOLDER' })).replace('"PLACEHOLDER"', zeros);
    const r = await postFrom(ep, body);
    expect(r.json.error_code).toBe('MALFORMED_FRAME');
  }, 30_000);
});
