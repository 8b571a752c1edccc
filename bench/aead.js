// AEAD cases: peercomm AES-256-GCM (single seal/open and batched sealBatch/openBatch) and the
// ChaCha20-Poly1305 suite, each against node:crypto AES-256-GCM with one createCipheriv /
// createDecipheriv per message (setAAD, update, final, getAuthTag / setAuthTag) on the very
// same records. Records look like a session's: 24-byte record header as AAD (wire codec),
// nonce = IV xor sequence number.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createAead, packBatch, wire } from '../dist/index.js';
import { KiB, MiB, sink, sizeLabel } from './common.js';

const SIZES = [64, KiB, 16 * KiB, 64 * KiB, MiB];
const TAG = 16;
const REFERENCE = 'node:crypto AES-256-GCM, createCipheriv/createDecipheriv per message';
const REFERENCE_EACH = `${REFERENCE}, on each record of the same batch`;

/** Records per batch call: 64 up to 16 KiB, fewer for the bulk sizes. */
const batchRecords = (size) => (size <= 16 * KiB ? 64 : size <= 64 * KiB ? 16 : 4);

/** Issue floors (ratio to the node:crypto reference, native engine), keyed by case id. */
const FLOORS = {
  'seal/single/64B': 10, 'seal/batch/64B': 15, 'seal/batch/1KiB': 7, 'seal/single/1MiB': 1.6,
  'open/single/64B': 10, 'open/batch/64B': 15, 'open/batch/1KiB': 7, 'open/single/1MiB': 1.6,
};
const GATED = new Set(['single/64B', 'batch/64B', 'single/1KiB', 'batch/1KiB', 'single/1MiB']);
const QUICK = new Set(['seal/single/64B', 'seal/batch/64B', 'seal/single/1MiB', 'open/single/64B']);

/** n records of `size` bytes: realistic headers as AAD, IV ⊕ sequence nonces, random data. */
function makeRecords(n, size) {
  const iv = crypto.randomBytes(12);
  const sessionId = crypto.randomBytes(8);
  const data = crypto.randomBytes(n * size);
  const records = [];
  for (let seq = 1000; seq < 1000 + n; seq++) {
    const nonce = Buffer.from(iv);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
    const aad = Buffer.alloc(wire.RECORD_HEADER_BYTES);
    wire.encodeRecordHeader({ type: wire.FrameType.Data, sessionId, firstSeq: seq, count: 1 }, aad);
    const i = seq - 1000;
    records.push({ nonce, aad, data: data.subarray(i * size, (i + 1) * size) });
  }
  return records;
}

// The reference, exactly as a node:crypto user writes it for one message.
function refSeal(key, nonce, aad, pt) {
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  c.setAAD(aad);
  const body = c.update(pt);
  c.final();
  const tag = c.getAuthTag();
  sink.v ^= body[0] ^ tag[0];
  return [body, tag];
}

function refOpen(key, nonce, aad, sealed) {
  const len = sealed.length - TAG;
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(len));
  const body = d.update(sealed.subarray(0, len));
  d.final(); // throws when the tag does not verify
  sink.v ^= body[0];
  return body;
}

const sealedRef = (key, r) => Buffer.concat(refSeal(key, r.nonce, r.aad, r.data));

/** What every case here declares: its id, where and how it is shown, and its rate's unit. */
function described(id, group, title, records, size) {
  return { id, group, title, records, bytes: size, unit: size >= 16 * KiB ? 'MB' : 'ops' };
}

/** An AES case's floor, whether the gate checks it, and whether --quick runs it. */
function tiers(id, op) {
  return { floor: FLOORS[id], gated: GATED.has(id.slice(op.length + 1)), quick: QUICK.has(id) };
}

function singleCase(op, size) {
  const key = crypto.randomBytes(32);
  const id = `${op}/single/${sizeLabel(size).replace(' ', '')}`;
  return {
    ...described(id, `AES-256-GCM ${op}, one message per call`, `${op} ${sizeLabel(size)}`, 1, size),
    ...tiers(id, op),
    make() {
      const aead = createAead(key);
      assert.equal(aead.implementation === 'native' || aead.implementation === 'node:crypto', true);
      const [r] = makeRecords(1, size);
      const sealed = sealedRef(key, r);
      if (op === 'seal') {
        assert.deepEqual(aead.seal(r.nonce, r.aad, r.data), sealed, 'peercomm and node:crypto disagree');
        return {
          subject: { name: `peercomm seal (${aead.implementation})`, fn: () => { const o = aead.seal(r.nonce, r.aad, r.data); sink.v ^= o[o.length - 1]; } },
          reference: { name: REFERENCE, fn: () => refSeal(key, r.nonce, r.aad, r.data) },
        };
      }
      assert.deepEqual(aead.open(r.nonce, r.aad, sealed), r.data);
      return {
        subject: { name: `peercomm open (${aead.implementation})`, fn: () => { sink.v ^= aead.open(r.nonce, r.aad, sealed)[0]; } },
        reference: { name: REFERENCE, fn: () => refOpen(key, r.nonce, r.aad, sealed) },
      };
    },
  };
}

function batchCase(op, size) {
  const key = crypto.randomBytes(32);
  const n = batchRecords(size);
  const id = `${op}/batch/${sizeLabel(size).replace(' ', '')}`;
  return {
    ...described(id, `AES-256-GCM ${op}Batch, rates per record`, `${op}Batch ${sizeLabel(size)} ×${n}`, n, size),
    ...tiers(id, op),
    make() {
      const aead = createAead(key);
      const records = makeRecords(n, size);
      const plainBatch = packBatch(records);
      const sealedRecords = records.map((r) => ({ nonce: r.nonce, aad: r.aad, data: sealedRef(key, r) }));
      const sealedBatch = packBatch(sealedRecords);
      assert.deepEqual(aead.sealBatch(plainBatch), sealedBatch.data, 'peercomm and node:crypto disagree');
      assert.deepEqual(aead.openBatch(sealedBatch), plainBatch.data);
      if (op === 'seal') {
        return {
          subject: { name: `peercomm sealBatch (${aead.implementation})`, fn: () => { const o = aead.sealBatch(plainBatch); sink.v ^= o[o.length - 1]; } },
          reference: { name: REFERENCE_EACH, fn: () => { for (const r of records) refSeal(key, r.nonce, r.aad, r.data); } },
        };
      }
      return {
        subject: { name: `peercomm openBatch (${aead.implementation})`, fn: () => { sink.v ^= aead.openBatch(sealedBatch)[0]; } },
        reference: { name: REFERENCE_EACH, fn: () => { for (const r of sealedRecords) refOpen(key, r.nonce, r.aad, r.data); } },
      };
    },
  };
}

function chachaCase(op, size) {
  const key = crypto.randomBytes(32);
  return {
    ...described(`chacha-${op}/single/${sizeLabel(size).replace(' ', '')}`,
      'ChaCha20-Poly1305 (libsodium), one message per call, vs node:crypto AES-256-GCM', `chacha20-poly1305 ${op} ${sizeLabel(size)}`, 1, size),
    make() {
      const aead = createAead(key, 'chacha20-poly1305');
      const [r] = makeRecords(1, size);
      const sealed = aead.seal(r.nonce, r.aad, r.data);
      assert.deepEqual(aead.open(r.nonce, r.aad, sealed), r.data);
      const aesSealed = sealedRef(key, r);
      return op === 'seal'
        ? {
            subject: { name: 'peercomm chacha20-poly1305 seal (sodium)', fn: () => { const o = aead.seal(r.nonce, r.aad, r.data); sink.v ^= o[o.length - 1]; } },
            reference: { name: REFERENCE, fn: () => refSeal(key, r.nonce, r.aad, r.data) },
          }
        : {
            subject: { name: 'peercomm chacha20-poly1305 open (sodium)', fn: () => { sink.v ^= aead.open(r.nonce, r.aad, sealed)[0]; } },
            reference: { name: REFERENCE, fn: () => refOpen(key, r.nonce, r.aad, aesSealed) },
          };
    },
  };
}

/** sealInto/openInto a reused caller buffer: the API's allocation-free form (informational). */
function intoCase(op, size) {
  const key = crypto.randomBytes(32);
  return {
    ...described(`${op}Into/single/${sizeLabel(size).replace(' ', '')}`,
      'AES-256-GCM sealInto/openInto a reused buffer (no allocation), one message per call', `${op}Into ${sizeLabel(size)}`, 1, size),
    make() {
      const aead = createAead(key);
      const [r] = makeRecords(1, size);
      const sealed = sealedRef(key, r);
      const out = Buffer.alloc(size + TAG);
      if (op === 'seal') {
        aead.sealInto(r.nonce, r.aad, r.data, out);
        assert.deepEqual(out, sealed);
        return {
          subject: { name: `peercomm sealInto (${aead.implementation})`, fn: () => { aead.sealInto(r.nonce, r.aad, r.data, out); sink.v ^= out[size]; } },
          reference: { name: REFERENCE, fn: () => refSeal(key, r.nonce, r.aad, r.data) },
        };
      }
      aead.openInto(r.nonce, r.aad, sealed, out);
      assert.deepEqual(out.subarray(0, size), r.data);
      return {
        subject: { name: `peercomm openInto (${aead.implementation})`, fn: () => { aead.openInto(r.nonce, r.aad, sealed, out); sink.v ^= out[0]; } },
        reference: { name: REFERENCE, fn: () => refOpen(key, r.nonce, r.aad, sealed) },
      };
    },
  };
}

export function aeadCases() {
  const cases = [];
  for (const op of ['seal', 'open']) {
    for (const size of SIZES) cases.push(singleCase(op, size));
    for (const size of SIZES) cases.push(batchCase(op, size));
  }
  for (const op of ['seal', 'open']) for (const size of [64, MiB]) cases.push(intoCase(op, size));
  for (const op of ['seal', 'open']) for (const size of [64, MiB]) cases.push(chachaCase(op, size));
  return cases;
}
