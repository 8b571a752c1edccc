/**
 * Fuzzing the delivery envelopes (PROTOCOL.md §6 "Acknowledged messages and requests"): the
 * envelope (0x0d), reply (0x0e) and ack (0x0f) payloads a peer puts in data records. Only
 * PeerError may come out, and what decodes is within its bounds.
 */
import { describe, expect, it } from 'vitest';
import {
  ID_BYTES, MAX_REASON_BYTES, decodeAck, decodeEnvelope, decodeReply, encodeAck, encodeEnvelope, encodeReplyError, encodeReplyOk,
} from '../../src/peer/envelope.js';
import { FUZZ_TIMEOUT_MS, fuzz, hostile, onlyPeerError } from './harness.js';

const id = Buffer.alloc(ID_BYTES, 7);
const CORPUS = [
  encodeEnvelope('ack', 0x04, id, Buffer.from('payload')),
  encodeEnvelope('request', 0x80, id, Buffer.alloc(0)),
  encodeReplyOk(0x04, id, Buffer.from('answer')),
  encodeReplyError(0x04, id, 'NOT_FOUND', 'no such thing', 1500),
  encodeReplyError(0xff, id, 'X', '', 0),
  encodeAck(id),
  Buffer.concat([id, Buffer.alloc(ID_BYTES, 8), Buffer.alloc(ID_BYTES, 9)]),
];

describe('fuzz: delivery envelopes', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('envelopes, replies and acks decode within their bounds or fail with a PeerError', () => {
    fuzz('envelopes', hostile(CORPUS, 128), (bytes) => {
      const env = onlyPeerError(() => decodeEnvelope(bytes));
      if (!(env instanceof Error)) expect(env.id.length).toBe(ID_BYTES);
      const reply = onlyPeerError(() => decodeReply(bytes));
      if (!(reply instanceof Error) && !reply.ok) {
        expect(reply.code).toMatch(/^[A-Z0-9_]{1,64}$/);
        expect(Buffer.byteLength(reply.reason)).toBeLessThanOrEqual(3 * MAX_REASON_BYTES);
        expect(reply.reason).not.toMatch(/[\u0000-\u001f\u007f]/);
      }
      const ack = onlyPeerError(() => decodeAck(bytes));
      if (!(ack instanceof Error)) for (const i of ack) expect(i.length).toBe(ID_BYTES);
    });
  });
});
