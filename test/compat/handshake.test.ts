/** The v1.0 handshake state machine, both roles, sans-I/O: the happy path and every refusal. */
import { describe, expect, it } from 'vitest';
import { V1Handshakes, HANDSHAKE_TTL_MS, SESSION_TTL_MS } from '../../src/compat/v1/handshake.js';
import { canonicalJson } from '../../src/compat/v1/canonical.js';
import { parseJson, type JsonInput, type JsonObject } from '../../src/compat/v1/json.js';
import { formatTimestamp } from '../../src/compat/v1/envelope.js';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { expectPeerError } from '../helpers/errors.js';

const T = 1_769_949_296_000;
/** What the other side parses out of the envelope: the payload as a lossless JSON object. */
const wire = (p: Record<string, JsonInput>): JsonObject => parseJson(canonicalJson(p)) as JsonObject;
const edit = (p: Record<string, JsonInput>, changes: Record<string, JsonInput | undefined>): JsonObject => {
  const o: Record<string, JsonInput> = { ...p };
  for (const [k, v] of Object.entries(changes)) if (v === undefined) delete o[k]; else o[k] = v;
  return wire(o);
};

function pair() {
  const a = Identity.generate();
  const b = Identity.generate();
  return { a, b, A: new V1Handshakes(a, { capabilities: ['summarise'] }), B: new V1Handshakes(b) };
}

describe('v1.0 handshake', () => {
  it('three messages establish the same session on both sides', () => {
    const { a, b, A, B } = pair();
    const init = A.start('bob', T);
    expect(init.payload).toMatchObject({ version: '1.0', session_id: init.sessionId, public_key: a.publicKey.toString('hex'), supported_versions: ['1.0', '0.3'], capabilities: ['summarise'] });
    expect(init.payload.challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(A.awaitingAck('bob', init.sessionId)).toBe(true);

    const ack = B.receiveHandshake('alice', a.publicKey, wire(init.payload), T + 10);
    expect(ack.payload).toMatchObject({ session_id: init.sessionId, public_key: b.publicKey.toString('hex'), selected_version: '1.0', confirm: true });
    // challenge_response: bob's signature over the challenge's hex string
    expect(Identity.isValidSignature(b.publicKey, Buffer.from(init.payload.challenge as string), Buffer.from(ack.payload.challenge_response as string, 'base64'))).toBe(true);
    // Until the endpoint has checked the key and sent the ack, no confirm completes it.
    expect(B.pendingKey('alice', init.sessionId)).toBeUndefined();
    B.acknowledge(init.sessionId);
    expect(B.pendingKey('alice', init.sessionId)).toEqual(a.publicKey);

    const { session: sa, payload: confirm } = A.receiveAck('bob', b.publicKey, wire(ack.payload), T + 20);
    expect(sa).toMatchObject({ id: init.sessionId, peerId: 'bob', initiator: true, version: '1.0', establishedAt: T + 20, expiresAt: T + 20 + SESSION_TTL_MS });
    expect(sa.publicKey).toEqual(b.publicKey);
    expect(confirm).toEqual({ session_id: init.sessionId, confirm: true, timestamp: formatTimestamp(T + 20) });

    const sb = B.receiveConfirm('alice', a.publicKey, wire(confirm), T + 30);
    expect(sb).toMatchObject({ id: init.sessionId, peerId: 'alice', initiator: false, capabilities: ['summarise'] });
    expect(sb.publicKey).toEqual(a.publicKey);
    expect(B.sessionWith('alice', T + 30)).toBe(sb);
    expect(A.sessionWith('bob', T + 30)).toBe(sa);
    expect(A.pendingCount + B.pendingCount).toBe(0);
  });

  it('a hex challenge_response is accepted too', () => {
    const { b, A, B } = pair();
    const init = A.start('bob', T);
    const ack = B.receiveHandshake('alice', Buffer.from(init.payload.public_key as string, 'hex'), wire(init.payload), T);
    const hex = Buffer.from(ack.payload.challenge_response as string, 'base64').toString('hex');
    expect(A.receiveAck('bob', b.publicKey, edit(ack.payload, { challenge_response: hex }), T).session.id).toBe(init.sessionId);
  });

  it('sessions live 3600 s, half-open handshakes 300 s', () => {
    const { a, b, A, B } = pair();
    const init = A.start('bob', T);
    const ack = B.receiveHandshake('alice', a.publicKey, wire(init.payload), T);
    const { payload: confirm } = A.receiveAck('bob', b.publicKey, wire(ack.payload), T);
    expect(A.sessionWith('bob', T + SESSION_TTL_MS - 1)).toBeDefined();
    expect(A.sessionWith('bob', T + SESSION_TTL_MS)).toBeUndefined();
    // bob's side is still half-open: the confirm comes too late
    expectPeerError(() => B.receiveConfirm('alice', a.publicKey, wire(confirm), T + HANDSHAKE_TTL_MS), ErrorCode.SESSION_EXPIRED);
    expect(B.pendingCount).toBe(0);
    const late = A.start('bob', T);
    A.expire(T + HANDSHAKE_TTL_MS);
    expect(A.awaitingAck('bob', late.sessionId)).toBe(false);
    A.expire(T + SESSION_TTL_MS);
    expect(A.sessionCount).toBe(0);
  });

  describe('responder refuses', () => {
    const { a, A, B } = pair();
    const init = A.start('bob', T);
    const p = init.payload;
    it('a public_key other than the envelope signer: INVALID_SIGNATURE', () => {
      expectPeerError(() => B.receiveHandshake('alice', Identity.generate().publicKey, wire(p), T), ErrorCode.INVALID_SIGNATURE);
    });
    it('no version we speak: INVALID_VERSION', () => {
      expectPeerError(() => B.receiveHandshake('alice', a.publicKey, edit(p, { version: '2.0', supported_versions: ['2.0'] }), T), ErrorCode.INVALID_VERSION);
      expect(B.receiveHandshake('x', a.publicKey, edit(p, { version: '0.3', supported_versions: ['0.3'], session_id: '00000000-0000-4000-8000-000000000001' }), T).payload.selected_version).toBe('0.3');
    });
    it('malformed fields: MALFORMED_FRAME', () => {
      for (const c of [{ session_id: 'x' }, { challenge: 'ab' }, { challenge: undefined }, { public_key: 'zz' }, { capabilities: [1] }, { supported_versions: 'x' }] as Record<string, JsonInput | undefined>[]) {
        expectPeerError(() => B.receiveHandshake('alice', a.publicKey, edit(p, c), T), ErrorCode.MALFORMED_FRAME, JSON.stringify(c));
      }
    });
    it('a session id already in use: HANDSHAKE_IN_PROGRESS', () => {
      B.receiveHandshake('alice', a.publicKey, wire(p), T);
      expectPeerError(() => B.receiveHandshake('mallory', a.publicKey, wire(p), T), ErrorCode.HANDSHAKE_IN_PROGRESS);
    });
    it('confirm: not acknowledged, wrong session, confirm false, timestamp more than 60 s off', () => {
      const c0 = { session_id: init.sessionId, confirm: true, timestamp: formatTimestamp(T) };
      expectPeerError(() => B.receiveConfirm('alice', a.publicKey, wire(c0), T), ErrorCode.SESSION_NOT_FOUND);
      B.acknowledge(init.sessionId);
      const ack = B.pendingKey('alice', init.sessionId);
      expect(ack).toEqual(a.publicKey);
      const c = { session_id: init.sessionId, confirm: true, timestamp: formatTimestamp(T) };
      expectPeerError(() => B.receiveConfirm('alice', a.publicKey, edit(c, { session_id: '00000000-0000-4000-8000-000000000009' }), T), ErrorCode.SESSION_NOT_FOUND);
      expectPeerError(() => B.receiveConfirm('eve', a.publicKey, wire(c), T), ErrorCode.SESSION_NOT_FOUND);
      expectPeerError(() => B.receiveConfirm('alice', a.publicKey, edit(c, { confirm: false }), T), ErrorCode.MALFORMED_FRAME);
      expectPeerError(() => B.receiveConfirm('alice', a.publicKey, edit(c, { timestamp: formatTimestamp(T - 61_000) }), T), ErrorCode.REPLAY_DETECTED);
      expectPeerError(() => B.receiveConfirm('alice', a.publicKey, edit(c, { timestamp: formatTimestamp(T + 61_000) }), T), ErrorCode.REPLAY_DETECTED);
      expectPeerError(() => B.receiveConfirm('alice', Identity.generate().publicKey, wire(c), T), ErrorCode.INVALID_SIGNATURE);
      expect(B.receiveConfirm('alice', a.publicKey, edit(c, { timestamp: formatTimestamp(T + 59_000) }), T).peerId).toBe('alice');
    });
  });

  describe('initiator refuses', () => {
    it('a bad challenge_response, an unknown or expired session, an unoffered version, no confirm', () => {
      const { a, b, A, B } = pair();
      const init = A.start('bob', T);
      const ack = B.receiveHandshake('alice', a.publicKey, wire(init.payload), T).payload;
      const other = Identity.generate();
      expectPeerError(() => A.receiveAck('bob', b.publicKey, edit(ack, { challenge_response: other.sign(Buffer.from(init.payload.challenge as string)).toString('base64') }), T), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, edit(ack, { challenge_response: b.sign(Buffer.from('another challenge')).toString('base64') }), T), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, edit(ack, { challenge_response: 'not a signature' }), T), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => A.receiveAck('bob', other.publicKey, wire(ack), T), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, edit(ack, { selected_version: '1.1' }), T), ErrorCode.INVALID_VERSION);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, edit(ack, { confirm: undefined }), T), ErrorCode.MALFORMED_FRAME);
      expectPeerError(() => A.receiveAck('carol', b.publicKey, wire(ack), T), ErrorCode.SESSION_NOT_FOUND);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, wire(ack), T + HANDSHAKE_TTL_MS), ErrorCode.SESSION_EXPIRED);
      expectPeerError(() => A.receiveAck('bob', b.publicKey, wire(ack), T), ErrorCode.SESSION_NOT_FOUND); // dropped once expired
    });
  });

  it('bounded: half-open past maxPending is RATE_LIMITED; sessions past maxSessions drop the oldest', () => {
    const me = Identity.generate();
    const H = new V1Handshakes(me, { maxPending: 2, maxSessions: 2 });
    H.start('p1', T);
    H.start('p2', T);
    expectPeerError(() => H.start('p3', T), ErrorCode.RATE_LIMITED);
    H.start('p3', T + HANDSHAKE_TTL_MS); // the old ones expired
    expect(H.pendingCount).toBe(1);

    const R = new V1Handshakes(me, { maxSessions: 2 });
    for (const peer of ['x', 'y', 'z']) {
      const other = Identity.generate();
      const init = new V1Handshakes(other).start('me', T);
      R.receiveHandshake(peer, other.publicKey, wire(init.payload), T);
      R.acknowledge(init.sessionId);
      R.receiveConfirm(peer, other.publicKey, wire({ session_id: init.sessionId, confirm: true, timestamp: formatTimestamp(T) }), T);
    }
    expect(R.sessionCount).toBe(2);
    expect(R.sessionWith('x', T)).toBeUndefined();
    expect(R.sessionWith('z', T)).toBeDefined();
  });

  it('a new handshake from the same peer replaces its half-open one', () => {
    const { a, A, B } = pair();
    const first = A.start('bob', T);
    const second = A.start('bob', T);
    B.receiveHandshake('alice', a.publicKey, wire(first.payload), T);
    B.receiveHandshake('alice', a.publicKey, wire(second.payload), T);
    expect(B.pendingCount).toBe(1);
    B.acknowledge(first.sessionId);
    expect(B.pendingKey('alice', first.sessionId)).toBeUndefined();
  });

  it('a handshake under the same id but another key cannot cancel the half-open one', () => {
    const { a, A, B } = pair();
    const first = A.start('bob', T);
    B.receiveHandshake('alice', a.publicKey, wire(first.payload), T);
    const mallory = Identity.generate();
    const forged = new V1Handshakes(mallory).start('bob', T);
    expectPeerError(() => B.receiveHandshake('alice', mallory.publicKey, wire(forged.payload), T), ErrorCode.HANDSHAKE_IN_PROGRESS);
    B.acknowledge(first.sessionId);
    expect(B.pendingKey('alice', first.sessionId)).toEqual(a.publicKey);
  });
});
