/**
 * Fuzzing the offline queue's wire format (docs/QUEUE.md "Wire format"): the `queued` envelope
 * (0x20) and the `queue_ack` (0x21) a peer puts in data records. Only PeerError may come out,
 * and what decodes is within its bounds.
 */
import { describe, expect, it } from 'vitest';
import { AckKind, MAX_ACK_IDS, decodeAck, decodeEnvelope, encodeAck, encodeEnvelope } from '../../src/queue/envelope.js';
import { FUZZ_TIMEOUT_MS, fuzz, hostile, onlyPeerError } from './harness.js';

const id = (n: number): Buffer => Buffer.alloc(16, n);
const CORPUS = [
  encodeEnvelope({ id: id(1), epoch: Buffer.alloc(8, 2), pos: 1, prev: 0, ttlSeconds: 3600, type: 0x04, payload: Buffer.from('task') }),
  encodeEnvelope({ id: id(3), epoch: Buffer.alloc(8, 2), pos: 2 ** 40, prev: 2 ** 40 - 1, ttlSeconds: 1, type: 0x80, payload: Buffer.alloc(0) }),
  encodeAck(AckKind.Acked, [id(1), id(2), id(3)]),
  encodeAck(AckKind.Gap, [id(9)]),
];

describe('fuzz: offline queue wire format', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('queued envelopes and queue acks decode within their bounds or fail with a PeerError', () => {
    fuzz('queue wire', hostile(CORPUS, 128), (bytes) => {
      const env = onlyPeerError(() => decodeEnvelope(bytes));
      if (!(env instanceof Error)) {
        expect(env.pos).toBeGreaterThan(env.prev);
        expect(Number.isSafeInteger(env.pos)).toBe(true);
        expect(env.ttlSeconds).toBeGreaterThan(0);
      }
      const ack = onlyPeerError(() => decodeAck(bytes));
      if (!(ack instanceof Error)) {
        expect(ack.ids.length).toBeGreaterThan(0);
        expect(ack.ids.length).toBeLessThanOrEqual(MAX_ACK_IDS);
      }
    });
  });
});
