/**
 * Fuzzing the v1.0 decoders: the lossless JSON parser, the envelope parser, and the receiver
 * (parse, admission, replay, signature, handshake payloads). Inputs are mutated bytes of valid
 * bodies, and — to get past the signature — correctly signed envelopes whose fields and payload
 * values are replaced by arbitrary JSON. Only PeerError may come out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { V1Handshakes, V1Receiver, ReplayGuard, parseEnvelope, parseJson, sign, type JsonInput } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { TrustStore } from '../../src/peer/trust.js';
import { FUZZ_TIMEOUT_MS, fuzz, hostile, onlyPeerError, tally } from './harness.js';

const T0 = 1_780_000_000_000;
const us = Identity.fromSeed(Buffer.alloc(32, 1));
const alice = Identity.fromSeed(Buffer.alloc(32, 2)); // pinned
const mallory = Identity.fromSeed(Buffer.alloc(32, 3)); // a stranger
const bob = Identity.fromSeed(Buffer.alloc(32, 4)); // unpinned, whom we contact
const SID = '6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const envelope = (msgType: string, senderId: string, who: Identity, payload: Record<string, JsonInput>, extra: { sessionId?: string; timestamp?: number } = {}): string =>
  sign({ msgType, senderId, recipientId: 'us', payload, sessionId: extra.sessionId ?? null, sequenceNum: 1, timestamp: extra.timestamp ?? T0 }, who);

const JSON_TEXTS = [
  '{"a":1,"b":[true,false,null],"c":{"d":"\\u00e9\\ud83d\\ude00","e":-0.0e-5}}',
  '[1e400, -1e-400, 123456789012345678901234567890, 0.1, "\\"\\\\\\/\\b\\f\\n\\r\\t"]',
  '{"nested":[[[[[[{"x":[]}]]]]]],"big":' + '9'.repeat(300) + '}',
  '"\u{10ffff}"',
].map(utf8);

const ENVELOPES = [
  envelope('task', 'alice', alice, { task: 'summarise', n: 3, list: [1, 2.5, 'x'] }),
  envelope('handshake', 'mallory', mallory, { version: '1.0', session_id: SID, challenge: 'ab'.repeat(32), public_key: mallory.publicKey.toString('hex'), supported_versions: ['1.0'], capabilities: ['x'] }),
  envelope('handshake_confirm', 'mallory', mallory, { session_id: SID, confirm: true, timestamp: '2026-05-28T20:26:40.000000+00:00' }, { sessionId: SID }),
].map(utf8);

/** A fresh receiver: alice pinned, strangers accepted, one handshake of ours with bob awaiting its ack. */
function receiver(): { rx: V1Receiver; handshakes: V1Handshakes; ours: string; hello: Record<string, JsonInput> } {
  const handshakes = new V1Handshakes(us);
  const trust = new TrustStore([['alice', alice.publicKey]], true);
  const rx = new V1Receiver({ trust, handshakes, replay: new ReplayGuard() });
  const { sessionId, payload } = handshakes.start('bob', T0);
  return { rx, handshakes, ours: sessionId, hello: payload };
}

const jsonValue = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonInput>;
/** Replaces, deletes or adds payload fields: field names are the handshake's and a few others. */
const FIELDS = ['version', 'session_id', 'challenge', 'public_key', 'supported_versions', 'capabilities', 'challenge_response', 'selected_version', 'confirm', 'timestamp', 'task'];
const edits = fc.array(fc.record({ field: fc.constantFrom(...FIELDS), value: fc.option(jsonValue, { freq: 4 }) }), { maxLength: 3 });

describe('fuzz: v1.0 JSON, envelopes and the receiver', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('parseJson returns a value or a PeerError, within its depth and size limits', () => {
    const input = fc.oneof(hostile(JSON_TEXTS, 128), fc.json({ maxDepth: 4 }).map(utf8), fc.string({ unit: 'binary', maxLength: 64 }).map(utf8));
    fuzz('v1 json', input, (bytes) => {
      onlyPeerError(() => parseJson(bytes, { maxDepth: 8, maxBytes: 4096 }));
    });
  });

  it('parseEnvelope returns an envelope or a PeerError', () => {
    fuzz('v1 envelope', hostile(ENVELOPES, 128), (bytes) => {
      const env = onlyPeerError(() => parseEnvelope(bytes));
      if (!(env instanceof Error)) expect(env.signature.length).toBe(64);
    });
  });

  it('the receiver, fed mutated signed bodies, yields an outcome or a PeerError', () => {
    fuzz('v1 receiver bytes', hostile(ENVELOPES, 128), (bytes) => {
      const { rx } = receiver();
      const out = onlyPeerError(() => rx.receive(bytes, T0));
      if (!(out instanceof Error)) tally(out.kind);
    });
  });

  it('the receiver, fed correctly signed envelopes with hostile fields, yields an outcome or a PeerError', () => {
    const input = fc.record({
      kind: fc.constantFrom('handshake', 'handshake_ack', 'handshake_confirm', 'task'),
      sender: fc.constantFrom('alice', 'mallory', 'bob', 'alice-impostor'),
      edits,
      sessionId: fc.constantFrom('ours', 'other', 'none'),
      skewMs: fc.constantFrom(0, 0, 0, 59_000, -61_000, 400_000),
      knownUrl: fc.boolean(),
      acked: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    });
    fuzz('v1 receiver signed', input, ({ kind, sender, edits: changes, sessionId, skewMs, knownUrl, acked }) => {
      const { rx, handshakes, ours, hello } = receiver();
      const who = sender === 'alice' ? alice : sender === 'bob' ? bob : mallory;
      const senderId = sender === 'alice-impostor' ? 'alice' : sender;
      // The endpoint's hook: a handshake from an id without a known URL is refused unanswered.
      const hooks = { canReply: (id: string) => knownUrl || id === 'alice' };
      // The honest payload of that kind, then the edits. A confirm follows the sender's own
      // honest handshake, acknowledged as the endpoint does once its ack went out.
      const start = new V1Handshakes(who).start('us', T0);
      if (kind === 'handshake_confirm') {
        onlyPeerError(() => rx.receive(envelope('handshake', senderId, who, start.payload), T0, hooks));
        if (acked) handshakes.acknowledge(start.sessionId);
      }
      const payload: Record<string, JsonInput> = kind === 'handshake' ? start.payload
        : kind === 'handshake_ack' ? ackTo(hello)
          : kind === 'handshake_confirm' ? { session_id: start.sessionId, confirm: true, timestamp: '2026-05-28T20:26:40.000000+00:00' }
            : { task: 'x' };
      if (kind === 'handshake_ack' && sessionId === 'other') payload.session_id = SID;
      for (const { field, value } of changes) {
        if (value === null) delete payload[field];
        else payload[field] = value;
      }
      const body = envelope(kind, senderId, who, payload, { sessionId: sessionId === 'ours' ? ours : sessionId === 'other' ? SID : undefined, timestamp: T0 + skewMs });
      const out = onlyPeerError(() => rx.receive(body, T0, hooks));
      if (!(out instanceof Error)) tally(out.kind);
    }, { minRuns: 20 });
  });
});

/** Bob's honest handshake_ack payload answering our `handshake` payload. */
function ackTo(hello: Record<string, JsonInput>): Record<string, JsonInput> {
  const parsed = parseJson(JSON.stringify(hello)) as Map<string, never>;
  return new V1Handshakes(bob).receiveHandshake('us', us.publicKey, parsed, T0).payload;
}
