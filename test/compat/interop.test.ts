/**
 * The endpoint against a v1.0 peer written in the test (helpers/fake-v1-peer.ts: node:http,
 * node:crypto, no library code), over real HTTP on 127.0.0.1, in both directions: messages,
 * the 3-message handshake, replays, stale timestamps, wrong keys, unknown senders, rate limits.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { V1Endpoint, type V1Message, type V1Rejection, type V1Session } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { TrustStore } from '../../src/peer/trust.js';
import { RateLimiter } from '../../src/ratelimit/index.js';
import { expectPeerErrorAsync } from '../helpers/errors.js';
import { FakeV1Peer, obj } from './helpers/fake-v1-peer.js';
import { ed25519, isoMicros } from './helpers/pyjson.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

interface Setup {
  pin?: boolean;
  acceptUnknown?: boolean;
  rateLimiter?: RateLimiter | false;
  handshakeTimeoutMs?: number;
}

async function setup(o: Setup = {}) {
  const fake = await new FakeV1Peer('py-peer').start();
  const identity = Identity.generate();
  const trust = new TrustStore(o.pin === false ? [] : [['py-peer', fake.publicKeyHex]], o.acceptUnknown ?? false);
  const logs: string[] = [];
  const ep = new V1Endpoint({
    identity, entityId: 'us', trust, peers: [['py-peer', fake.url]], capabilities: ['summarise'],
    log: (l) => logs.push(l), rateLimiter: o.rateLimiter ?? false, handshakeTimeoutMs: o.handshakeTimeoutMs,
    client: { sleep: async () => undefined, timeoutMs: 2_000 },
  });
  await ep.listen({ host: '127.0.0.1', port: 0 });
  fake.directory.set('us', { url: ep.url!, publicKeyHex: identity.publicKey.toString('hex') });
  const rejected: V1Rejection[] = [];
  ep.on('rejected', (r: V1Rejection) => rejected.push(r));
  cleanups.push(async () => {
    await ep.close();
    await fake.stop();
  });
  return { fake, ep, identity, trust, logs, rejected };
}

const within = <T>(p: Promise<T>, ms = 5_000): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);

async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function get(url: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(t) }));
    }).on('error', reject);
  });
}

describe('a v1.0 peer → our endpoint', () => {
  it('delivers a verified message as an event marked version 1.0, not encrypted, and says so when listening', async () => {
    const { fake, ep, logs } = await setup();
    expect(logs.join('\n')).toMatch(/v1\.0 .*NOT encrypted/);
    const got = once(ep, 'message') as Promise<[V1Message]>;
    const body = fake.envelope('task_delegate', 'us', {
      obj: [['task_id', 't-1'], ['big', { int: 2n ** 64n }], ['ratio', { float: 0.25 }], ['text', 'café 😀'], ['nested', { obj: [['b', [{ int: 3n }, null]]] }]],
    }, { seq: 1, sessionId: '6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f' });
    const r = await fake.post(ep.url!, body);
    expect(r).toEqual({ status: 200, json: { status: 'received', nonce: JSON.parse(body).nonce } });
    const [m] = await within(got);
    expect(m).toMatchObject({ version: '1.0', encrypted: false, from: 'py-peer', type: 'task_delegate', seq: 1, sessionId: '6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f', session: undefined });
    expect(m.payload).toEqual({ task_id: 't-1', big: 2n ** 64n, ratio: 0.25, text: 'café 😀', nested: { b: [3, null] } });
    expect(m.publicKey.toString('hex')).toBe(fake.publicKeyHex);
    expect(m.envelope.recipientId).toBe('us');
    expect(ep.stats().received).toBe(1);
  });

  it('a replayed message is 400 replay_detected, and reported', async () => {
    const { fake, ep, rejected } = await setup();
    const body = fake.envelope('status', 'us', obj({ load: 3 }));
    expect((await fake.post(ep.url!, body)).status).toBe(200);
    const again = await fake.post(ep.url!, body);
    expect(again).toEqual({ status: 400, json: { detail: 'replay_detected', error_code: 'REPLAY_DETECTED' } });
    expect(rejected).toMatchObject([{ status: 400, code: ErrorCode.REPLAY_DETECTED, remoteAddress: '127.0.0.1' }]);
    expect(ep.stats().rejected).toEqual({ REPLAY_DETECTED: 1 });
  });

  it('a stale or future timestamp (beyond ±60 s) is 400 replay_detected; within it is accepted', async () => {
    const { fake, ep } = await setup();
    for (const dt of [-120_000, -61_000, 61_000, 3_600_000]) {
      const r = await fake.post(ep.url!, fake.envelope('status', 'us', obj({}), { timestamp: isoMicros(Date.now() + dt) }));
      expect(r.json, String(dt)).toEqual({ detail: 'replay_detected', error_code: 'REPLAY_DETECTED' });
    }
    for (const dt of [-50_000, 50_000]) expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({}), { timestamp: isoMicros(Date.now() + dt) }))).status).toBe(200);
    // Z and no microseconds are v1.0 timestamps too
    const z = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({}), { timestamp: z }))).status).toBe(200);
  });

  it('a wrong key is 400 invalid_signature: another key, an impostor, a tampered body', async () => {
    const { fake, ep } = await setup();
    const other = ed25519();
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({ a: 1 }), { signWith: other.sign }))).json).toEqual({ detail: 'invalid_signature', error_code: 'INVALID_SIGNATURE' });
    const impostor = new FakeV1Peer('py-peer'); // same name, its own key; not started: only signs
    expect((await fake.post(ep.url!, impostor.envelope('status', 'us', obj({ a: 1 })))).json.detail).toBe('invalid_signature');
    const tampered = fake.envelope('status', 'us', obj({ amount: 10 })).replace(/"amount" ?: ?10/, '"amount": 1000');
    expect(tampered).toContain('1000');
    expect((await fake.post(ep.url!, tampered)).json.detail).toBe('invalid_signature');
    // a handshake that claims a key other than the pinned one
    const hs = impostor.envelope('handshake', 'us', obj({ version: '1.0', session_id: randomUUID(), challenge: 'ab'.repeat(32), public_key: impostor.publicKeyHex, supported_versions: ['1.0'] }));
    expect((await fake.post(ep.url!, hs)).json.detail).toBe('invalid_signature');
  });

  it('an unknown sender is 400 unknown_sender; bad versions and bad bodies are refused by code', async () => {
    const { fake, ep } = await setup();
    const stranger = new FakeV1Peer('stranger');
    expect((await fake.post(ep.url!, stranger.envelope('status', 'us', obj({})))).json).toEqual({ detail: 'unknown_sender', error_code: 'UNKNOWN_SENDER' });
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({}), { version: '2.0' }))).json.detail).toBe('invalid_version');
    expect((await fake.post(ep.url!, '{"version": "1.0", "msg_type": ')).json.detail).toBe('malformed_frame');
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({})).replace(/"signature" ?: ?"[^"]+"/, '"signature": null'))).json.detail).toBe('invalid_signature');
  });

  it('serves GET /public-key, /health, /peers, /stats; 404 and 405 elsewhere', async () => {
    const { ep, identity } = await setup();
    expect(await get(`${ep.url}/public-key`)).toEqual({ status: 200, json: { entity_id: 'us', public_key: identity.publicKey.toString('hex') } });
    expect(await get(`${ep.url}/health`)).toEqual({ status: 200, json: { status: 'healthy', entity_id: 'us', version: '1.0' } });
    expect((await get(`${ep.url}/peers`)).json).toEqual({ peers: [] });
    expect((await get(`${ep.url}/stats`)).status).toBe(200);
    expect((await get(`${ep.url}/nope`)).status).toBe(404);
    expect((await get(`${ep.url}/message`)).status).toBe(405);
  });

  it('rate limits per source address and msg_type class: 400 rate_limited, before any signature check', async () => {
    const { fake, ep } = await setup({ rateLimiter: new RateLimiter({ classes: { task: { perMinute: 1, burst: 2 }, handshake: { perMinute: 1, burst: 1 } } }) });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fake.post(ep.url!, fake.envelope('task_delegate', 'us', obj({ i })))).json.detail ?? 'ok');
    expect(statuses).toEqual(['ok', 'ok', 'rate_limited']);
    // another class has its own bucket
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({})))).status).toBe(200);
    // unsigned junk is charged too (as task), so it cannot be used to flood the verifier
    expect((await fake.post(ep.url!, 'garbage')).json.detail).toBe('rate_limited');
  });
});

describe('the v1.0 handshake, both directions', () => {
  it('a v1.0 peer initiates: ack POSTed back to it, confirm accepted, then its messages verify by the learned key', async () => {
    const { fake, ep } = await setup({ pin: false, acceptUnknown: true });
    // not pinned, no session yet: unknown
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({})))).json.detail).toBe('unknown_sender');
    const sessionEvent = once(ep, 'session') as Promise<[V1Session]>;
    const sid = await within(fake.handshake('us'));
    const [s] = await within(sessionEvent);
    expect(s).toMatchObject({ id: sid, peerId: 'py-peer', initiator: false, version: '1.0', capabilities: ['chat'] });
    expect(s.publicKey.toString('hex')).toBe(fake.publicKeyHex);
    expect(fake.posted.map((p) => [p.msgType, p.status])).toEqual([['handshake', 200], ['handshake_confirm', 200]]);
    expect(fake.sessions.get(sid)?.publicKeyHex).toBe(ep.identity.publicKey.toString('hex'));

    const got = once(ep, 'message') as Promise<[V1Message]>;
    expect((await fake.post(ep.url!, fake.envelope('status', 'us', obj({ ok: true }), { sessionId: sid, seq: 1 }))).status).toBe(200);
    const [m] = await within(got);
    expect(m.session?.id).toBe(sid);
    expect(m.payload).toEqual({ ok: true });
    expect(ep.sessions().map((x) => x.id)).toEqual([sid]);
  });

  it('we initiate: the v1.0 peer answers with an ack POST, we confirm, and our messages carry the session', async () => {
    const { fake, ep, identity } = await setup({ pin: false, acceptUnknown: true });
    const s = await within(ep.handshake('py-peer'));
    expect(s).toMatchObject({ peerId: 'py-peer', initiator: true, version: '1.0' });
    expect(s.publicKey.toString('hex')).toBe(fake.publicKeyHex);
    await within(new Promise<void>((r) => (fake.sessions.has(s.id) ? r() : fake.once('session', () => r()))));
    expect(fake.sessions.get(s.id)).toEqual({ peer: 'us', publicKeyHex: identity.publicKey.toString('hex') });

    await ep.send('py-peer', 'status', { load: 3, note: 'ünïcode ✓' });
    await ep.send('py-peer', 'ping', {});
    expect(fake.inbox.map((x) => [x.envelope.msg_type, x.envelope.session_id, x.envelope.sequence_num])).toEqual([['status', s.id, 1], ['ping', s.id, 2]]);
    expect(fake.inbox[0]!.payload).toEqual({ load: 3, note: 'ünïcode ✓' });
  });

  it('our messages without a session verify at a v1.0 peer that knows our key; one that does not refuses them (no retry)', async () => {
    const { fake, ep } = await setup();
    const r = await ep.send('py-peer', 'capability_query', { want: ['summarise'] });
    expect(r).toMatchObject({ status: 200, attempts: 1 });
    expect(fake.inbox[0]!.envelope).toMatchObject({ msg_type: 'capability_query', sender_id: 'us', recipient_id: 'py-peer', session_id: null, sequence_num: null });
    fake.directory.set('us', { url: ep.url! });
    const e = await expectPeerErrorAsync(ep.send('py-peer', 'ping', {}), ErrorCode.UNKNOWN_SENDER);
    expect(e.details).toMatchObject({ status: 400, attempts: 1 });
  });

  it('a bad challenge_response fails our handshake() at once with INVALID_SIGNATURE', async () => {
    const { fake, ep } = await setup();
    fake.misbehave.badChallengeResponse = true;
    await expectPeerErrorAsync(within(ep.handshake('py-peer')), ErrorCode.INVALID_SIGNATURE);
    await until(() => fake.posted.length === 1); // our 400 reaches the fake just after handshake() settles
    expect(fake.posted.at(-1)).toMatchObject({ msgType: 'handshake_ack', status: 400, json: { detail: 'invalid_signature' } });
    expect(ep.stats().pendingHandshakes).toBe(0);
    expect(ep.sessions()).toEqual([]);
  });

  it('a handshake_confirm whose timestamp is more than 60 s off is 400 replay_detected; no session', async () => {
    const { fake, ep } = await setup();
    fake.misbehave.confirmSkewMs = -90_000;
    let sessions = 0;
    ep.on('session', () => sessions++);
    await expect(within(fake.handshake('us'))).rejects.toThrow(/replay_detected/);
    expect(sessions).toBe(0);
  });

  it('a peer whose key changed cannot take over a live session name (first key wins while it lives)', async () => {
    const { fake, ep } = await setup({ pin: false, acceptUnknown: true });
    await within(fake.handshake('us'));
    const impostor = await new FakeV1Peer('py-peer').start();
    cleanups.push(() => impostor.stop());
    impostor.directory.set('us', { url: ep.url! });
    await expect(within(impostor.handshake('us'))).rejects.toThrow(/invalid_signature/);
  });

  it('with unknown entities refused, an unpinned peer can neither handshake nor be contacted', async () => {
    const { fake, ep } = await setup({ pin: false, acceptUnknown: false });
    await expect(within(fake.handshake('us'))).rejects.toThrow(/unknown_sender/);
    await expectPeerErrorAsync(ep.handshake('py-peer'), ErrorCode.UNKNOWN_SENDER);
  });

  it('a handshake from a peer with no known address is refused (we could not answer it)', async () => {
    const { fake, ep } = await setup({ pin: false, acceptUnknown: true });
    const lost = await new FakeV1Peer('nowhere').start();
    cleanups.push(() => lost.stop());
    lost.directory.set('us', { url: ep.url! });
    await expect(within(lost.handshake('us'))).rejects.toThrow(/unknown_sender/);
    expect(fake.posted).toEqual([]);
  });

  it('no ack: handshake() gives up with CHALLENGE_EXPIRED', async () => {
    const { ep } = await setup({ handshakeTimeoutMs: 300 });
    const silent = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{"status":"received"}'));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => silent.close(() => r())));
    ep.addPeer('py-peer', `http://127.0.0.1:${(silent.address() as { port: number }).port}`);
    await expectPeerErrorAsync(ep.handshake('py-peer'), ErrorCode.CHALLENGE_EXPIRED);
    expect(ep.stats().pendingHandshakes).toBe(0);
  });
});
