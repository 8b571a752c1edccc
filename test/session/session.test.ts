import { describe, expect, it } from 'vitest';
import { Identity, PeerError, wire } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';
import { SecureSession, type SessionEvent, type SessionOptions } from '../../src/session/index.js';
import { codeOf } from '../helpers/errors.js';

const T0 = 1_780_000_000_000;
const alice = Identity.fromSeed(Buffer.alloc(32, 1));
const bob = Identity.fromSeed(Buffer.alloc(32, 2));

function pair(opts: SessionOptions = {}) {
  const { handshake: a, send } = Handshake.initiate({ identity: alice, entityId: 'alice' }, T0);
  const b = Handshake.respond({ identity: bob, entityId: 'bob' }, T0);
  let toB = send;
  while (toB.length > 0) toB = toB.flatMap((m) => b.receive(m, T0)).flatMap((m) => a.receive(m, T0));
  return { a: new SecureSession(a.result!, T0, opts), b: new SecureSession(b.result!, T0, opts) };
}

/** Splits flushed bytes into frame bodies. */
function bodies(bytes: Buffer | null): Uint8Array[] {
  return bytes ? new wire.Deframer({ maxFrameBytes: 1 << 20 }).push(bytes) : [];
}

function deliver(to: SecureSession, bytes: Buffer | null, now = T0): SessionEvent[] {
  return bodies(bytes).flatMap((b) => to.receive(b, now));
}

const TASK = wire.MESSAGE_TYPES.task.id;

describe('SecureSession', () => {
  it('delivers messages in order with their sequence numbers, coalescing small ones into one record', () => {
    const { a, b } = pair();
    for (let i = 0; i < 100; i++) expect(a.send(TASK, Buffer.from(`m${i}`), T0)).toBe(i);
    const out = a.flush(T0);
    expect(bodies(out)).toHaveLength(1);
    const events = deliver(b, out);
    expect(events.map((e) => (e.kind === 'message' ? [e.seq, Buffer.from(e.payload).toString()] : e))).toEqual(
      Array.from({ length: 100 }, (_, i) => [i, `m${i}`]),
    );
  });

  it('splits a queue into records of at most the payload limit', () => {
    const { a, b } = pair({ maxRecordPayload: 1024 });
    for (let i = 0; i < 50; i++) a.send(TASK, Buffer.alloc(100, i), T0);
    const out = a.flush(T0);
    const frames = bodies(out);
    expect(frames.length).toBeGreaterThan(5);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(24 + 1024 + 16);
    expect(deliver(b, out).map((e) => (e as { seq: number }).seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('puts no plaintext byte on the wire (eavesdropping)', () => {
    const { a } = pair();
    const secret = Buffer.from('the secret plan is to meet at dawn');
    a.send(TASK, secret, T0);
    const out = a.flush(T0)!;
    expect(out.includes(secret)).toBe(false);
    expect(out.includes(secret.subarray(0, 8))).toBe(false);
  });

  it('rejects any flipped byte of a record (tampering) and ends the session', () => {
    const probe = pair();
    probe.a.send(TASK, Buffer.from('hello world, this is a record'), T0);
    const length = bodies(probe.a.flush(T0))[0]!.length;
    for (let i = 0; i < length; i++) {
      const { a, b } = pair();
      a.send(TASK, Buffer.from('hello world, this is a record'), T0);
      const frame = bodies(a.flush(T0))[0]!;
      const tampered = Buffer.from(frame);
      tampered[i]! ^= 0x01;
      const code = codeOf(() => b.receive(tampered, T0));
      // Header bytes fail their own checks first; anything else fails the tag.
      // (byte 12 flips the sequence to ≥ 2^53, byte 23 the message count to 0: both malformed)
      const expected = i === 0 ? 'INVALID_VERSION' : i < 4 ? 'MALFORMED_FRAME' : i < 12 ? 'SESSION_NOT_FOUND'
        : i === 12 ? 'MALFORMED_FRAME' : i < 20 ? 'SEQUENCE_ERROR' : i === 23 ? 'MALFORMED_FRAME' : 'DECRYPTION_FAILED';
      expect([code, i]).toEqual([expected, i]);
      expect(b.state).toBe('ERROR');
    }
  });

  it('REPLAY_DETECTED for a replayed record, which is dropped while the session goes on', () => {
    const { a, b } = pair();
    a.send(TASK, Buffer.from('once'), T0);
    const frame = Buffer.from(bodies(a.flush(T0))[0]!);
    const copy = Buffer.from(frame);
    expect(b.receive(frame, T0)).toHaveLength(1);
    expect(codeOf(() => b.receive(copy, T0))).toBe('REPLAY_DETECTED');
    a.send(TASK, Buffer.from('twice'), T0);
    expect(deliver(b, a.flush(T0))).toMatchObject([{ kind: 'message', seq: 1 }]);
  });

  it('SEQUENCE_ERROR when a record is missing, SESSION_NOT_FOUND for another session id', () => {
    const { a, b } = pair();
    a.send(TASK, Buffer.from('lost'), T0);
    a.flush(T0);
    a.send(TASK, Buffer.from('next'), T0);
    const next = bodies(a.flush(T0))[0]!;
    expect(codeOf(() => b.receive(next, T0))).toBe('SEQUENCE_ERROR');
    expect(b.state).toBe('ERROR');
    const other = pair();
    other.a.send(TASK, Buffer.from('x'), T0);
    expect(codeOf(() => pair().b.receive(bodies(other.a.flush(T0))[0]!, T0))).toBe('SESSION_NOT_FOUND');
  });

  it('SESSION_EXPIRED after the TTL, for sending and receiving', () => {
    const { a, b } = pair({ ttlMs: 1000 });
    a.send(TASK, Buffer.from('late'), T0);
    const out = a.flush(T0);
    expect(codeOf(() => deliver(b, out, T0 + 1000))).toBe('SESSION_EXPIRED');
    expect(b.state).toBe('EXPIRED');
    expect(codeOf(() => a.send(TASK, Buffer.from('x'), T0 + 1000))).toBe('SESSION_EXPIRED');
  });

  it('carries error and close records, after which the session refuses to send', () => {
    const { a, b } = pair();
    expect(deliver(b, a.error('SEQUENCE_ERROR', 'lost one'))).toEqual([{ kind: 'error', fatal: true, error: { code: 'SEQUENCE_ERROR', reason: 'lost one' } }]);
    expect(b.state).toBe('ERROR');
    expect(codeOf(() => a.send(TASK, Buffer.from('x'), T0))).toBe('INVALID_STATE');
    const p = pair();
    p.a.send(TASK, Buffer.from('last words'), T0);
    expect(deliver(p.b, p.a.close(T0))).toMatchObject([{ kind: 'message', seq: 0 }, { kind: 'close' }]);
    expect(p.b.state).toBe('CLOSED');
  });

  it('rekeys in the middle of 1,000,000 messages: none lost, duplicated or reordered', () => {
    const { a, b } = pair({ recordsPerKey: 64 });
    const total = 1_000_000;
    const perFlush = 1000;
    const payload = Buffer.alloc(8);
    let expected = 0;
    let keyUpdates = 0;
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < perFlush; i++, sent++) {
        payload.writeUInt32BE(sent, 0);
        a.send(TASK, Buffer.from(payload), T0);
      }
      // Small records so that key updates fall between messages of one flush.
      const frames = bodies(a.flush(T0));
      for (const f of frames) {
        if (f[1] === wire.FrameType.KeyUpdate) keyUpdates++;
        for (const e of b.receive(f, T0)) {
          if (e.kind !== 'message' || e.seq !== expected || Buffer.from(e.payload).readUInt32BE(0) !== expected) {
            throw new Error(`message ${expected} lost, duplicated or reordered`);
          }
          expected++;
        }
      }
    }
    expect(expected).toBe(total);
    expect(keyUpdates).toBeGreaterThan(0);
  }, 120_000);

  it('rotates keys every recordsPerKey records', () => {
    const { a, b } = pair({ recordsPerKey: 4, maxRecordPayload: 64 });
    for (let i = 0; i < 40; i++) a.send(TASK, Buffer.alloc(40, i), T0);
    const frames = bodies(a.flush(T0));
    const updates = frames.filter((f) => f[1] === wire.FrameType.KeyUpdate).length;
    expect(updates).toBe(Math.floor(40 / 3)); // 3 data records + 1 key update per key
    expect(frames.flatMap((f) => b.receive(f, T0))).toHaveLength(40);
  });

  it('chunks sealed straight from the message buffer, between in-place records and across key updates, open to the bytes sent and show none of them', () => {
    const { a, b } = pair({ recordsPerKey: 4, maxRecordPayload: 64 });
    const big = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    a.send(TASK, Buffer.alloc(10, 1), T0);
    a.send(TASK, big, T0); // 16 chunks: the first copied in (type byte), the others from `big`
    a.send(TASK, Buffer.alloc(10, 2), T0);
    const out = a.flush(T0)!;
    expect(out.includes(big.subarray(100, 116))).toBe(false);
    const frames = bodies(out);
    expect(frames.filter((f) => f[1] === wire.FrameType.KeyUpdate).length).toBeGreaterThan(3);
    const got = frames.flatMap((f) => b.receive(f, T0)) as { payload: Uint8Array }[];
    expect(got.map((m) => Buffer.from(m.payload).toString('hex'))).toEqual([Buffer.alloc(10, 1), big, Buffer.alloc(10, 2)].map((x) => x.toString('hex')));
  });

  it('a non-fatal error record (RATE_LIMITED) refuses one message and keeps the session', () => {
    const { a, b } = pair();
    const notice = a.notify({ code: 'RATE_LIMITED', reason: 'slow down', seq: 7, retryAfter: 1500 });
    expect(deliver(b, notice)).toEqual([{ kind: 'error', fatal: false, error: { code: 'RATE_LIMITED', reason: 'slow down', seq: 7, retryAfter: 1500 } }]);
    expect(b.state).toBe('READY');
    expect(a.notify({ code: 'DECRYPTION_FAILED', reason: 'fatal codes are not notices' })).toBeNull();
  });
});
