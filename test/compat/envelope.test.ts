/** Every field check of the v1.0 envelope, the timestamp formats, and sign()'s argument checks. */
import { describe, expect, it } from 'vitest';
import { v1 } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { expectPeerError } from '../helpers/errors.js';

const id = Identity.generate();
const base = {
  version: '1.0', msg_type: 'status', sender_id: 'entity-a', recipient_id: 'entity-b',
  session_id: '6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f', sequence_num: 1,
  timestamp: '2026-02-01T12:34:56.123456+00:00', nonce: 'a5e705a16d42f4d01b57fe7e0d8a2106',
  payload: { a: 1 }, signature: 'A'.repeat(86) + '==',
};
/** A body with some fields replaced (undefined removes one); the signature is not valid. */
const body = (changes: Record<string, unknown>): string => {
  const o: Record<string, unknown> = { ...base, ...changes };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return JSON.stringify(o);
};
const parses = (changes: Record<string, unknown>): v1.V1Envelope => v1.parseEnvelope(body(changes));

describe('parseEnvelope: each field', () => {
  it('accepts the reference body', () => {
    const env = parses({});
    expect(env).toMatchObject({ version: '1.0', msgType: 'status', senderId: 'entity-a', recipientId: 'entity-b', sequenceNum: 1, nonce: base.nonce });
    expect(env.signature.length).toBe(64);
  });
  it('version: "1.0" and "0.3", else INVALID_VERSION', () => {
    expect(parses({ version: '0.3' }).version).toBe('0.3');
    for (const version of ['1.1', '2.0', '', 1.0, null, undefined, ['1.0']]) expectPeerError(() => parses({ version }), ErrorCode.INVALID_VERSION, String(version));
  });
  it('msg_type, sender_id: non-empty strings up to 256 chars; recipient_id: a string', () => {
    for (const field of ['msg_type', 'sender_id']) {
      for (const v of [undefined, null, 1, '', 'x'.repeat(257), {}]) expectPeerError(() => parses({ [field]: v }), ErrorCode.MALFORMED_FRAME, `${field}=${String(v)}`);
      expect(() => parses({ [field]: 'x'.repeat(256) })).not.toThrow();
    }
    for (const v of [undefined, null, 7]) expectPeerError(() => parses({ recipient_id: v }), ErrorCode.MALFORMED_FRAME);
    expect(parses({ recipient_id: '' }).recipientId).toBe('');
  });
  it('session_id: a UUID, null or absent', () => {
    expect(parses({ session_id: null }).sessionId).toBeNull();
    expect(parses({ session_id: undefined }).sessionId).toBeNull();
    expect(parses({ session_id: '6F1C2A9E-3B4D-4C5E-8F70-1A2B3C4D5E6F' }).sessionId).toBe('6F1C2A9E-3B4D-4C5E-8F70-1A2B3C4D5E6F');
    for (const v of ['nope', '6f1c2a9e3b4d4c5e8f701a2b3c4d5e6f', 5, {}]) expectPeerError(() => parses({ session_id: v }), ErrorCode.MALFORMED_FRAME);
  });
  it('sequence_num: a non-negative integer, null or absent', () => {
    expect(parses({ sequence_num: null }).sequenceNum).toBeNull();
    expect(parses({ sequence_num: undefined }).sequenceNum).toBeNull();
    expect(parses({ sequence_num: 0 }).sequenceNum).toBe(0);
    for (const v of [-1, '1', 2 ** 53, true]) expectPeerError(() => parses({ sequence_num: v }), ErrorCode.MALFORMED_FRAME, String(v));
    expectPeerError(() => v1.parseEnvelope(body({}).replace('"sequence_num":1', '"sequence_num":1.0')), ErrorCode.MALFORMED_FRAME);
  });
  it('timestamp: ISO 8601 UTC with Z or +00:00, with or without a fraction', () => {
    const t = Date.UTC(2026, 1, 1, 12, 34, 56);
    expect(parses({ timestamp: '2026-02-01T12:34:56Z' }).timestampMs).toBe(t);
    expect(parses({ timestamp: '2026-02-01T12:34:56+00:00' }).timestampMs).toBe(t);
    expect(parses({ timestamp: '2026-02-01T12:34:56.123456Z' }).timestampMs).toBe(t + 123);
    expect(parses({ timestamp: '2026-02-01T12:34:56.5Z' }).timestampMs).toBe(t + 500);
    expect(parses({ timestamp: '2024-02-29T00:00:00Z' }).timestampMs).toBe(Date.UTC(2024, 1, 29));
    expect(parses({ timestamp: '0001-01-01T00:00:00Z' }).timestampMs).toBe(-62135596800000);
    for (const v of ['2026-02-01T12:34:56+01:00', '2026-02-01T12:34:56', '2026-02-01 12:34:56Z', '2026-02-30T00:00:00Z', '2025-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z', '2026-02-01T24:00:00Z', '2026-02-01T12:60:00Z', '2026-02-01T12:34:56.1234567Z', '2026-02-01t12:34:56z', 1769949296, null, undefined]) {
      expectPeerError(() => parses({ timestamp: v }), ErrorCode.MALFORMED_FRAME, String(v));
    }
  });
  it('nonce: 32 lowercase hex chars', () => {
    for (const v of [base.nonce.toUpperCase(), base.nonce.slice(1), `${base.nonce}0`, 'g'.repeat(32), null, undefined]) {
      expectPeerError(() => parses({ nonce: v }), ErrorCode.MALFORMED_FRAME, String(v));
    }
  });
  it('payload: a JSON object', () => {
    expect(parses({ payload: {} }).payload.size).toBe(0);
    for (const v of [[], null, 'x', 1, undefined]) expectPeerError(() => parses({ payload: v }), ErrorCode.MALFORMED_FRAME, String(v));
  });
  it('signature: 88 canonical base64 or 128 hex chars, else INVALID_SIGNATURE', () => {
    expect(parses({ signature: 'AB'.repeat(64) }).signature).toEqual(Buffer.from('AB'.repeat(64), 'hex'));
    for (const v of [undefined, null, 5, '', 'A'.repeat(87) + '=', 'A'.repeat(86) + 'B=', 'A'.repeat(85) + 'B==', 'A'.repeat(88), 'a'.repeat(127), 'A'.repeat(84) + '====', 'A'.repeat(86).replace('A', '-') + '==']) {
      expectPeerError(() => parses({ signature: v }), ErrorCode.INVALID_SIGNATURE, String(v));
    }
  });
  it('the body: a JSON object, valid JSON', () => {
    for (const b of ['[]', '"x"', 'null', '{', '', '{"version":"1.0",}']) expectPeerError(() => v1.parseEnvelope(b), ErrorCode.MALFORMED_FRAME, b);
  });
  it('unknown extra fields are kept in body but not signed', () => {
    const env = parses({ encrypted: true, extra: [1, 2] });
    expect(env.body.get('encrypted')).toBe(true);
  });
  it('check order: JSON, then version, then the fields, then the signature', () => {
    expectPeerError(() => parses({ version: '9', nonce: 'bad', signature: null }), ErrorCode.INVALID_VERSION);
    expectPeerError(() => parses({ nonce: 'bad', signature: null }), ErrorCode.MALFORMED_FRAME);
  });
});

describe('sign', () => {
  const fields = { msgType: 'status', senderId: 'me', recipientId: 'you', payload: { a: 1 } };
  it('writes v1.0 timestamps and nonces, and verifies', () => {
    const b = v1.sign({ ...fields, timestamp: Date.UTC(2026, 1, 1, 12, 34, 56, 7) }, id);
    const env = v1.verify(b, id.publicKey);
    expect(env.timestamp).toBe('2026-02-01T12:34:56.007000+00:00');
    expect(env.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(env.sessionId).toBeNull();
    expect(env.sequenceNum).toBeNull();
    expect(v1.verify(v1.sign(fields, id), id.publicKey).nonce).not.toBe(env.nonce);
  });
  it('keeps given unsigned and signed fields', () => {
    const b = v1.sign({ ...fields, version: '0.3', sessionId: base.session_id, sequenceNum: 9, timestamp: '2026-02-01T12:34:56Z', nonce: base.nonce }, id, { signatureEncoding: 'hex' });
    const env = v1.verify(b, id.publicKey.toString('hex'));
    expect(env).toMatchObject({ version: '0.3', sessionId: base.session_id, sequenceNum: 9, timestamp: '2026-02-01T12:34:56Z', nonce: base.nonce });
    expect(JSON.parse(b).signature).toMatch(/^[0-9a-f]{128}$/);
  });
  it('formatTimestamp is Python isoformat with microseconds', () => {
    expect(v1.formatTimestamp(Date.UTC(2026, 1, 1, 12, 34, 56, 123) + 0.456)).toMatch(/^2026-02-01T12:34:56\.12345[56]\+00:00$/);
    expect(v1.formatTimestamp(new Date(0))).toBe('1970-01-01T00:00:00.000000+00:00');
    expectPeerError(() => v1.formatTimestamp(8.7e15), ErrorCode.INVALID_ARGUMENT);
  });
  it('refuses fields a v1.0 peer would refuse, with INVALID_ARGUMENT', () => {
    const bad: Record<string, unknown>[] = [
      { msgType: '' }, { senderId: 'x'.repeat(257) }, { recipientId: 3 }, { payload: [1] }, { payload: null }, { payload: v1.int(1) },
      { sessionId: 'nope' }, { sequenceNum: -1 }, { sequenceNum: 1.5 }, { timestamp: 'yesterday' }, { nonce: 'A'.repeat(32) },
      { version: '1.1' }, { payload: { x: NaN } }, { payload: { x: undefined } }, { payload: { d: new Date() } },
    ];
    for (const b of bad) expectPeerError(() => v1.sign({ ...fields, ...b } as never, id), ErrorCode.INVALID_ARGUMENT, JSON.stringify(b));
  });
});
