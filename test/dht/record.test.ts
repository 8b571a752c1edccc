/** Signed records: canonical encoding, keys, signatures, key rotation. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { MAX_RECORD_BYTES } from '../../src/dht/constants.js';
import {
  capabilityHash, decodeRecord, hasValidSignatures, keyKindFor, providerKey, recordKey, recordKeys, signRecord, verifyRecord,
} from '../../src/dht/record.js';
import { expectPeerError } from '../helpers/errors.js';
import { fields, record, signer, T0 } from './helpers.js';

describe('record keys', () => {
  it('capability_hash is hex SHA-256 of the name; key = SHA-256(entity_id ":" capability_hash)', () => {
    const h = sha256(Buffer.from('summarize')).toString('hex');
    expect(capabilityHash('summarize')).toBe(h);
    expect(recordKey('alice', 'summarize').toString('hex')).toBe(sha256(Buffer.from(`alice:${h}`)).toString('hex'));
    // The presence key is the same formula with the empty capability name.
    expect(recordKey('alice').toString('hex')).toBe(sha256(Buffer.from(`alice:${sha256(Buffer.alloc(0)).toString('hex')}`)).toString('hex'));
    expect(providerKey('summarize').toString('hex')).toBe(sha256(Buffer.from(`cap:${h}`)).toString('hex'));
  });
  it('binds a record to its presence, capability and provider keys only', () => {
    const r = record();
    const keys = recordKeys(r);
    expect(keys.map((k) => k.kind)).toEqual(['presence', 'capability', 'capability', 'provider', 'provider']);
    for (const k of keys) expect(keyKindFor(r, k.key)).toBe(k.kind);
    expect(keyKindFor(r, recordKey('bob'))).toBeNull();
    expect(keyKindFor(r, providerKey('other'))).toBeNull();
  });
});

describe('record encoding', () => {
  it('round-trips and verifies', () => {
    const r = record();
    const d = decodeRecord(r.bytes);
    expect(d.entityId).toBe('alice');
    expect(d.capabilities).toEqual(['summarize', 'translate']);
    expect(d.addresses).toEqual(['tcp://10.0.0.1:7000']);
    expect(d.lastSeen).toBe(T0);
    expect(d.ttl).toBe(3600);
    expect(Buffer.from(d.publicKey).equals(signer(0).publicKey)).toBe(true);
    expect(hasValidSignatures(d)).toBe(true);
  });
  it('is canonical: capabilities sorted and unique, whatever the input order', () => {
    const a = record(0, { capabilities: ['b', 'a', 'b'] });
    const b = record(0, { capabilities: ['a', 'b'] });
    expect(Buffer.from(a.bytes).equals(b.bytes)).toBe(true);
    // A record with unsorted capabilities is not canonical: refused even if signed.
    const bad = Buffer.from(b.bytes);
    const at = bad.indexOf(Buffer.from([1, 0x61, 1, 0x62]));
    bad.set([1, 0x62, 1, 0x61], at);
    expectPeerError(() => decodeRecord(bad), ErrorCode.MALFORMED_FRAME);
  });
  it('rejects bad input with a PeerError', () => {
    expectPeerError(() => signRecord(fields({ entityId: '' }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => signRecord(fields({ ttl: 0 }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => signRecord(fields({ lastSeen: -1 }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => signRecord(fields({ capabilities: Array.from({ length: 17 }, (_, i) => `c${i}`) }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => signRecord(fields({ addresses: Array.from({ length: 9 }, () => 'x') }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => signRecord(fields({ capabilities: ['x'.repeat(65)] }), signer(0)), ErrorCode.INVALID_ARGUMENT);
    // Within every per-field limit but over the total: FRAME_TOO_LARGE.
    expectPeerError(() => signRecord(fields({ addresses: Array.from({ length: 8 }, (_, i) => `${i}`.repeat(120)) }), signer(0)), ErrorCode.FRAME_TOO_LARGE);
    expectPeerError(() => decodeRecord(new Uint8Array(MAX_RECORD_BYTES + 1)), ErrorCode.FRAME_TOO_LARGE);
  });
  it('never throws anything but a PeerError on arbitrary or truncated bytes', () => {
    const good = record().bytes;
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(good.length), (junk, cut) => {
      for (const input of [junk, good.subarray(0, cut), Uint8Array.of(...good, ...junk.subarray(0, 3))]) {
        try {
          decodeRecord(input);
        } catch (e) {
          expect((e as Error).name).toBe('PeerError');
        }
      }
    }));
  });
});

describe('record signatures', () => {
  it('a forged record (any byte of the signed body changed) fails', () => {
    const r = record();
    const sigAt = r.bytes.length - 64;
    for (let i = 2; i < sigAt; i += 7) {
      const b = new Uint8Array(r.bytes);
      b[i]! ^= 1;
      let d;
      try {
        d = decodeRecord(b);
      } catch {
        continue;
      }
      expect(hasValidSignatures(d), `byte ${i}`).toBe(false);
      expectPeerError(() => verifyRecord(d), ErrorCode.INVALID_SIGNATURE);
    }
  });
  it('a record signed by another key than the one it names fails', () => {
    const r = record();
    const b = new Uint8Array(r.bytes);
    b.set(signer(1).publicKey, 3 + 'alice'.length);
    expect(hasValidSignatures(decodeRecord(b))).toBe(false);
  });
  it('a key rotation carries the old key and its signature over the same body', () => {
    const r = signRecord(fields(), signer(1), signer(0));
    expect(r.rotation && Buffer.from(r.rotation.publicKey).equals(signer(0).publicKey)).toBe(true);
    expect(hasValidSignatures(r)).toBe(true);
    const b = new Uint8Array(r.bytes);
    b[b.length - 1]! ^= 1;
    expect(hasValidSignatures(decodeRecord(b))).toBe(false);
  });
});
