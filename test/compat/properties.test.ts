/**
 * Property tests against an independent implementation (helpers/pyjson.ts, written from
 * V1_COMPAT.md on node:crypto): for random payloads — unicode beyond U+FFFF and lone
 * surrogates, also as keys; deep nesting; integers beyond 2^53; floats of every magnitude —
 * v1.sign's bodies verify under the independent serialiser, and the independent signer's
 * bodies (spelt in many ways) verify under v1.verify, with the values intact.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { v1 } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { expectPeerError } from '../helpers/errors.js';
import {
  dumps, ed25519, isFloat, isInt, isObj, isoMicros, pyFloat, signedText, toPlainModel, verifyRaw, writeBody,
  type BodyStyle, type Model,
} from './helpers/pyjson.js';

const RUNS = Number(process.env.V1_PROPERTY_RUNS ?? 300);

// ------------------------------------------------------------------ generators

const unit = fc.constantFrom(
  'a', 'Z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u0080',
  'é', '\u2028', '日', '\ud7ff', '\ue000', '\uffff', '\ud800', '\udbff', '\udc00', '\udfff', '😀', '\u{10000}', '\u{10ffff}',
);
const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit, maxLength: 12 }));
const id = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.string({ unit, minLength: 1, maxLength: 20 }));

const int: fc.Arbitrary<Model> = fc.oneof(
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.bigInt({ min: -1000n, max: 1000n }),
  fc.constantFrom(2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 64n, 10n ** 40n, 0n),
).map((n) => ({ int: n }));

const float: fc.Arbitrary<Model> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.integer({ min: -1e9, max: 1e9 }), // integral floats: 3.0 must stay 3.0
  fc.integer({ min: -330, max: 310 }).chain((e) => fc.integer({ min: 1, max: 9 }).map((d) => d * 10 ** e)),
  fc.constantFrom(1e16, 1e15, 1e-4, 1e-5, 5e-324, -0, 0, 1.7976931348623157e308, 0.1, 0.30000000000000004, 1e21, 1e22),
).filter(Number.isFinite).map((x) => ({ float: x }));

const leaf: fc.Arbitrary<Model> = fc.oneof(fc.constant(null), fc.boolean(), str, int, float);

const { value } = fc.letrec<{ value: Model; array: Model; object: Model }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.uniqueArray(fc.tuple(str, tie('value')), { selector: (e) => e[0], maxLength: 5 }).map((obj) => ({ obj })),
}));

const payload: fc.Arbitrary<{ obj: [string, Model][] }> = fc
  .uniqueArray(fc.tuple(str, value), { selector: (e) => e[0], maxLength: 6 })
  .map((obj) => ({ obj }));

/** A payload whose deepest value is `n` containers below it (the envelope is depth 1, the payload 2). */
const nested = (n: number): fc.Arbitrary<{ obj: [string, Model][] }> =>
  fc.tuple(fc.array(fc.tuple(fc.boolean(), str), { minLength: n, maxLength: n }), leaf).map(([shape, inner]) => {
    let m: Model = inner;
    for (const [asArray, key] of shape) m = asArray ? [m] : { obj: [[key, m]] };
    return { obj: [['deep', m]] };
  });

const style: fc.Arbitrary<BodyStyle> = fc.record({
  space: fc.constantFrom('', ' ', '\n  ', '\t'),
  rawUtf8: fc.boolean(),
  oddEscapes: fc.boolean(),
  floatSpelling: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<0 | 1 | 2 | 3>,
});

// Times from 1970 to 9999 (Python isoformat range we write), ms precision.
const time = fc.integer({ min: 0, max: 253_402_300_799_999 });

/** The model as library input: ints as bigint or number, floats as numbers or v1.float, objects as plain objects or Maps. */
function toLib(m: Model): unknown {
  if (m === null || typeof m !== 'object') return m;
  if (Array.isArray(m)) return m.map(toLib);
  if (isInt(m)) return Number.isSafeInteger(Number(m.int)) && m.int % 2n === 0n ? Number(m.int) : m.int;
  if (isFloat(m)) return Number.isInteger(m.float) || Object.is(m.float, -0) ? v1.float(m.float) : m.float;
  const entries = m.obj.map(([k, v]) => [k, toLib(v)] as [string, unknown]);
  return entries.length % 2 === 0 ? new Map(entries) : Object.fromEntries(entries);
}

const identity = Identity.generate();

// ------------------------------------------------------------------ the test's oracle against CPython

describe('the independent serialiser agrees with CPython', () => {
  it('on every float of the CPython vectors', () => {
    const { cases } = JSON.parse(readFileSync(new URL('../vectors/v1.0/python-json.json', import.meta.url), 'utf8')) as { cases: { input: string; output?: string }[] };
    let n = 0;
    for (const c of cases) {
      const m = /^\[(-?[0-9][0-9.eE+-]*)\]$/.exec(c.input);
      if (!m || c.output === undefined || /^\[-?\d+\]$/.test(c.input) || /Infinity/.test(c.output)) continue;
      expect(`[${pyFloat(Number(m[1]))}]`, c.input).toBe(c.output);
      n++;
    }
    expect(n).toBeGreaterThan(600);
  });
  it('on the key-order example', () => {
    const m: Model = { obj: [['\ud800', { int: 1n }], ['\ue000', { int: 2n }], ['😀', { int: 3n }], ['\udbff\udfff', { int: 4n }], ['\uffff', { int: 5n }], ['\udfff', { int: 6n }]] };
    expect(dumps(m)).toBe('{"\\ud800":1,"\\udfff":6,"\\ue000":2,"\\uffff":5,"\\ud83d\\ude00":3,"\\udbff\\udfff":4}');
  });
});

// ------------------------------------------------------------------ the properties

describe('v1.sign → independent verification', () => {
  const check = (p: { obj: [string, Model][] }, msgType: string, senderId: string, recipientId: string, ms: number, hex: boolean): void => {
    const body = v1.sign({ msgType, senderId, recipientId, payload: toLib(p) as never, timestamp: ms }, identity, { signatureEncoding: hex ? 'hex' : 'base64' });
    expect(body).toMatch(/^[\x20-\x7e]*$/); // ensure_ascii: the body is ASCII
    const parsed = JSON.parse(body) as Record<string, string>;
    expect(parsed.version).toBe('1.0');
    expect(parsed.msg_type).toBe(msgType);
    expect(parsed.sender_id).toBe(senderId);
    expect(parsed.recipient_id).toBe(recipientId);
    expect(parsed.timestamp).toBe(isoMicros(ms));
    expect(parsed.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(parsed.signature).toMatch(hex ? /^[0-9a-f]{128}$/ : /^[A-Za-z0-9+/]{86}==$/);
    const signed = signedText({ version: '1.0', msg_type: msgType, sender_id: senderId, payload: p, timestamp: parsed.timestamp!, nonce: parsed.nonce! });
    const sig = Buffer.from(parsed.signature!, hex ? 'hex' : 'base64');
    expect(verifyRaw(identity.publicKey, Buffer.from(signed, 'utf8'), sig)).toBe(true);
    // The body carries the payload in the signed spelling, so a Python receiver re-derives the same bytes.
    expect(body).toContain(`"payload":${dumps(p)},"signature"`);
  };

  it('random payloads, ids and times', () => {
    fc.assert(fc.property(payload, id, id, str, time, fc.boolean(), (p, t, s, r, ms, hex) => check(p, t, s, r, ms, hex)), { numRuns: RUNS });
  });
  it('deep nesting up to the limit', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 98 }).chain(nested), (p) => check(p, 'status', 'entity-a', 'entity-b', 1_769_949_296_123, false)), { numRuns: 60 });
  });
});

describe('independent signing → v1.verify', () => {
  const peer = ed25519();
  const pubHex = peer.publicKey.toString('hex');

  const check = (p: { obj: [string, Model][] }, msgType: string, senderId: string, ms: number, st: BodyStyle, hex: boolean, order: number[]): void => {
    const f = { version: '1.0', msg_type: msgType, sender_id: senderId, payload: p, timestamp: isoMicros(ms), nonce: Buffer.from(String(ms).padStart(16, '0')).toString('hex') };
    const signed = signedText(f);
    const sig = peer.sign(Buffer.from(signed, 'utf8'));
    const fields: [string, Model][] = [
      ['version', f.version], ['msg_type', f.msg_type], ['sender_id', f.sender_id], ['recipient_id', 'us'],
      ['session_id', null], ['sequence_num', { int: 1n }], ['timestamp', f.timestamp], ['nonce', f.nonce], ['payload', p],
      ['signature', hex ? sig.toString('hex') : sig.toString('base64')],
    ];
    const shuffled = order.map((i) => fields[i]!);
    const body = writeBody({ obj: shuffled }, st);
    const env = v1.verify(Buffer.from(body, 'utf8'), pubHex);
    expect(v1.signedBytes(env).toString('utf8')).toBe(signed);
    expect(env.msgType).toBe(msgType);
    expect(env.senderId).toBe(senderId);
    expect(v1.toPlain(env.payload)).toEqual(toPlainModel(p));
  };
  const order = fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], { minLength: 10, maxLength: 10 });

  it('random payloads in random spellings', () => {
    fc.assert(fc.property(payload, id, id, time, style, fc.boolean(), order, (p, t, s, ms, st, hex, o) => check(p, t, s, ms, st, hex, o)), { numRuns: RUNS });
  });
  it('deep nesting up to the limit, and one level more is MALFORMED_FRAME', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 98 }).chain(nested), style, (p, st) => check(p, 'status', 'a', 1_769_949_296_123, st, false, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])), { numRuns: 60 });
    const body = v1.sign({ msgType: 'status', senderId: 'a', recipientId: 'b', payload: { deep: JSON.parse('['.repeat(98) + ']'.repeat(98)) } }, identity);
    expect(v1.verify(body, identity.publicKey).senderId).toBe('a');
    const tooDeep = body.replace('"deep":[', '"deep":[[').replace(/\]\}/, ']]}');
    expectPeerError(() => v1.verify(tooDeep, identity.publicKey), ErrorCode.MALFORMED_FRAME);
  });
  it('any change to a signed field is INVALID_SIGNATURE; changes to unsigned fields are not', () => {
    fc.assert(fc.property(payload, (p) => {
      const body = v1.sign({ msgType: 'status', senderId: 'entity-a', recipientId: 'entity-b', payload: toLib(p) as never }, identity);
      // (string edits: JSON.parse would round the big integers)
      const unsigned = body.replace('"recipient_id":"entity-b"', '"recipient_id":"x"').replace('"sequence_num":null', '"sequence_num":7');
      expect(unsigned).not.toBe(body);
      expect(v1.verify(unsigned, identity.publicKey).recipientId).toBe('x');
      const edits: [RegExp, string][] = [
        [/"msg_type":"status"/, '"msg_type":"ping"'], [/"sender_id":"entity-a"/, '"sender_id":"entity-z"'],
        [/"timestamp":"[^"]+"/, '"timestamp":"2020-01-01T00:00:00Z"'], [/"nonce":"[0-9a-f]+"/, `"nonce":"${'0'.repeat(32)}"`],
        [/"version":"1.0"/, '"version":"0.3"'],
      ];
      for (const [re, to] of edits) {
        const changed = body.replace(re, to);
        expect(changed).not.toBe(body);
        expectPeerError(() => v1.verify(changed, identity.publicKey), ErrorCode.INVALID_SIGNATURE, to);
      }
      const tampered = body.replace(`"payload":${dumps(p)}`, `"payload":${dumps({ obj: [...p.obj, ['\u0000extra', null]] })}`);
      expectPeerError(() => v1.verify(tampered, identity.publicKey), ErrorCode.INVALID_SIGNATURE);
    }), { numRuns: 100 });
  });
});

it('the models exercise what they claim (big ints, astral keys, lone surrogates, integral floats)', () => {
  const samples = fc.sample(payload, 400);
  const all = (m: Model, acc: Model[] = []): Model[] => {
    acc.push(m);
    if (Array.isArray(m)) m.forEach((x) => all(x, acc));
    else if (m !== null && typeof m === 'object' && isObj(m)) m.obj.forEach(([, x]) => all(x, acc));
    return acc;
  };
  const values = samples.flatMap((p) => all(p));
  const keys = samples.flatMap((p) => all(p)).filter(isObj).flatMap((o) => o.obj.map(([k]) => k));
  expect(values.some((m) => isInt(m) && (m.int > 2n ** 53n || m.int < -(2n ** 53n)))).toBe(true);
  expect(values.some((m) => isFloat(m) && Number.isInteger(m.float))).toBe(true);
  expect(values.some((m) => isFloat(m) && Math.abs(m.float) > 1e100)).toBe(true);
  expect(values.some((m) => isFloat(m) && m.float !== 0 && Math.abs(m.float) < 1e-100)).toBe(true);
  expect(keys.some((k) => /[\u{10000}-\u{10ffff}]/u.test(k))).toBe(true);
  expect(keys.some((k) => /\p{Surrogate}/u.test(k))).toBe(true);
});
