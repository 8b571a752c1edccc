/**
 * Fuzzing the sealed-record layer with the keys: a SecureSession (sans-I/O) receives records
 * sealed under the real session keys, so the tag verifies and only its decoding of headers and
 * plaintexts stands between the bytes and the caller. Headers are forged (counts, sequence
 * numbers, flags, reserved byte, session id, chunk fields) and plaintexts mutated (runs, error
 * payloads, chunk bodies, key_update and close bodies). Only PeerError may come out, the result
 * must be well-formed, and a destroyed session must give back all its reassembly memory.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Identity, wire } from '../../src/index.js';
import { MemoryBudget } from '../../src/chunking/index.js';
import { Handshake, SessionState, type HandshakeResult } from '../../src/handshake/index.js';
import { SecureSession, type ReceiveResult } from '../../src/session/index.js';
import { RecordForger } from '../helpers/record-forger.js';
import { forgedRecords, sealRecords } from './forged-records.js';
import { FUZZ_TIMEOUT_MS, assertPeerError, fuzz, onlyPeerError, tally } from './harness.js';

const T0 = 1_780_000_000_000;

let attacker: HandshakeResult;
let victim: HandshakeResult;

beforeAll(() => {
  const { handshake: a, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'mallory' }, T0);
  const b = Handshake.respond({ identity: Identity.generate(), entityId: 'victim' }, T0);
  let toB = send;
  while (toB.length > 0) toB = toB.flatMap((m) => b.receive(m, T0)).flatMap((m) => a.receive(m, T0));
  attacker = a.result!;
  victim = b.result!;
});

function copyKeys(r: HandshakeResult): HandshakeResult {
  return { ...r, sendKey: Buffer.from(r.sendKey), recvKey: Buffer.from(r.recvKey), sendIv: Buffer.from(r.sendIv), recvIv: Buffer.from(r.recvIv) };
}

function checkResult(r: ReceiveResult): void {
  if (r.error !== null) {
    assertPeerError(r.error);
    tally(`error ${r.error.code}`);
  }
  for (const reply of r.replies) expect(Buffer.isBuffer(reply)).toBe(true);
  for (const e of r.events) {
    tally(e.kind);
    if (e.kind === 'message') expect(e.payload).toBeInstanceOf(Uint8Array);
    if (e.kind === 'chunk-error') assertPeerError(e.error);
    if (e.kind === 'error') expect(typeof e.error.code).toBe('string');
  }
}

describe('fuzz: sealed records under the real keys', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('a SecureSession fed forged records fails only with a PeerError and frees its reassembly memory', () => {
    const input = fc.record({ records: forgedRecords, oneRead: fc.boolean() });
    fuzz('sealed records', input, ({ records, oneRead }) => {
      const budget = new MemoryBudget(4 << 20);
      const session = new SecureSession(copyKeys(victim), T0, { reassembly: { budget, maxMessageSize: 1 << 20, streamThreshold: 700 } });
      const forger = new RecordForger({ sendKey: attacker.sendKey, sendIv: attacker.sendIv, sessionId: attacker.sessionId });
      const frames = sealRecords(forger, records);
      // One socket read (frames sharing a buffer: the batched path) or one read per record.
      const reads = oneRead ? [Buffer.concat(frames)] : frames;
      const deframer = new wire.Deframer();
      let now = T0;
      for (const read of reads) {
        const bodies = deframer.push(read);
        const out = onlyPeerError(() => session.receiveMany(bodies, now));
        if (!(out instanceof Error)) checkResult(out);
        if (session.state !== SessionState.Ready) break;
        now += 10;
      }
      // Deadlines later on must not throw either, and an ended session refuses quietly.
      const polled = onlyPeerError(() => session.poll(now + 60_000));
      if (!(polled instanceof Error)) checkResult(polled);
      if (session.state !== SessionState.Ready) {
        const after = onlyPeerError(() => session.receiveMany([Buffer.alloc(40)], now));
        if (!(after instanceof Error)) expect(after.error).not.toBeNull();
      }
      session.destroy();
      expect(budget.inUse).toBe(0);
    }, { minRuns: 20 });
  });
});
