/**
 * Every envelope of test/vectors/v1.0/envelopes.json (signed by Python + PyNaCl) through
 * v1.verify: the valid ones verify and re-serialise to exactly the vector's signed_bytes, the
 * invalid ones are refused with the code that fits them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { v1 } from '../../src/compat/v1/index.js';
import { ErrorCode, PeerError } from '../../src/errors.js';
import { expectPeerError } from '../helpers/errors.js';

interface Vector { name: string; public_key_hex: string; body: string; signed_bytes: string; expect: 'valid' | 'invalid'; note: string }
const { vectors } = JSON.parse(readFileSync(new URL('../vectors/v1.0/envelopes.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

/** Why each invalid vector is invalid. */
const INVALID_CODES: Record<string, ErrorCode> = {
  bad_signature: ErrorCode.INVALID_SIGNATURE,
  payload_tampered: ErrorCode.INVALID_SIGNATURE,
  wrong_key: ErrorCode.INVALID_SIGNATURE,
  missing_signature: ErrorCode.INVALID_SIGNATURE,
};

describe('v1.0 envelope vectors', () => {
  it('has the expected set', () => {
    expect(vectors.length).toBe(15);
    for (const v of vectors.filter((x) => x.expect === 'invalid')) expect(INVALID_CODES[v.name], v.name).toBeDefined();
  });

  for (const v of vectors) {
    it(`${v.name}: ${v.expect}${v.note ? ` (${v.note})` : ''}`, () => {
      if (v.expect === 'valid') {
        for (const key of [v.public_key_hex, Buffer.from(v.public_key_hex, 'hex')]) {
          for (const body of [v.body, Buffer.from(v.body, 'utf8')]) {
            const env = v1.verify(body, key);
            expect(v1.signedBytes(env).toString('latin1')).toBe(v.signed_bytes);
          }
        }
        const env = v1.verify(v.body, v.public_key_hex);
        const raw = JSON.parse(v.body) as Record<string, unknown>;
        expect(env.version).toBe(raw.version);
        expect(env.msgType).toBe(raw.msg_type);
        expect(env.senderId).toBe(raw.sender_id);
        expect(env.recipientId).toBe(raw.recipient_id);
        expect(env.sessionId).toBe(raw.session_id);
        expect(env.sequenceNum).toBe(raw.sequence_num);
        expect(env.nonce).toBe(raw.nonce);
        expect(env.timestamp).toBe(raw.timestamp);
        expect(env.timestampMs).toBe(Date.parse('2026-02-01T12:34:56.123Z'));
        expect(v1.toPlain(env.payload)).toEqual(raw.payload);
      } else {
        expectPeerError(() => v1.verify(v.body, v.public_key_hex), INVALID_CODES[v.name]!, v.name);
        // The body parses: it is the signature that fails, not the format.
        if (v.name !== 'missing_signature') expect(v1.parseEnvelope(v.body).senderId).toBe('entity-a');
        // The signed bytes are still what the vector says for a body whose fields were not changed.
        if (v.name !== 'payload_tampered' && v.name !== 'missing_signature') {
          expect(v1.signedBytes(v1.parseEnvelope(v.body)).toString('latin1')).toBe(v.signed_bytes);
        }
      }
    });
  }

  it('the float vector keeps 1.0 (JSON.parse would make it 1 and the signature fail)', () => {
    const v = vectors.find((x) => x.name === 'float_kept_as_written')!;
    const env = v1.verify(v.body, v.public_key_hex);
    expect((env.payload.get('ratio') as InstanceType<typeof v1.JsonNumber>).text).toBe('1.0');
    const naive = v.signed_bytes.replace('1.0', '1');
    expect(naive).not.toBe(v.signed_bytes);
  });

  it('a v1.0 key that is not 32 bytes is INVALID_KEY, before the body is looked at', () => {
    expectPeerError(() => v1.verify('not json', 'abcd'), ErrorCode.INVALID_KEY);
    expectPeerError(() => v1.verify('not json', new Uint8Array(31)), ErrorCode.INVALID_KEY);
    expect(() => v1.verify('not json', vectors[0]!.public_key_hex)).toThrow(PeerError);
  });
});
