/** The record store: acceptance rules (forged, replayed, oversized, stale) and its bounds. */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULT_STORE_LIMITS, RecordStore, rejectError } from '../../src/dht/store.js';
import { decodeRecord, providerKey, recordKey, signRecord } from '../../src/dht/record.js';
import { fields, record, signer, T0 } from './helpers.js';

const self = new Uint8Array(32);
const NOW = T0 + 1000;

describe('store acceptance rules', () => {
  it('accepts a valid record under each of its keys, and identical bytes as unchanged', () => {
    const s = new RecordStore(self);
    const r = record();
    expect(s.put(recordKey('alice'), r.bytes, NOW)).toEqual({ ok: true, status: 'stored' });
    expect(s.put(recordKey('alice', 'summarize'), r.bytes, NOW)).toEqual({ ok: true, status: 'stored' });
    expect(s.put(providerKey('translate'), r.bytes, NOW)).toEqual({ ok: true, status: 'stored' });
    expect(s.put(recordKey('alice'), r.bytes, NOW)).toEqual({ ok: true, status: 'unchanged' });
    expect(s.get(recordKey('alice'), NOW)).toHaveLength(1);
    expect(s.size).toBe(3);
  });

  it('rejects a forged record (bad signature)', () => {
    const s = new RecordStore(self);
    const b = new Uint8Array(record().bytes);
    b[b.length - 10]! ^= 0x40;
    expect(s.put(recordKey('alice'), b, NOW)).toEqual({ ok: false, reason: 'signature' });
    expect(rejectError('signature').code).toBe(ErrorCode.INVALID_SIGNATURE);
    expect(s.size).toBe(0);
  });

  it('rejects a replayed record: older, or as old as, the one held', () => {
    const s = new RecordStore(self);
    const old = record(0, { lastSeen: T0 });
    const newer = record(0, { lastSeen: T0 + 500 });
    expect(s.put(recordKey('alice'), newer.bytes, NOW).ok).toBe(true);
    expect(s.put(recordKey('alice'), old.bytes, NOW)).toEqual({ ok: false, reason: 'not-newer' });
    const sameTime = record(0, { lastSeen: T0 + 500, addresses: ['tcp://evil:1'] });
    expect(s.put(recordKey('alice'), sameTime.bytes, NOW)).toEqual({ ok: false, reason: 'not-newer' });
    expect(rejectError('not-newer').code).toBe(ErrorCode.REPLAY_DETECTED);
  });

  it('rejects an oversized record before parsing it', () => {
    const s = new RecordStore(self);
    expect(s.put(recordKey('alice'), new Uint8Array(DEFAULT_STORE_LIMITS.maxRecordBytes + 1), NOW)).toEqual({ ok: false, reason: 'oversized' });
    expect(rejectError('oversized').code).toBe(ErrorCode.FRAME_TOO_LARGE);
  });

  it('rejects a stale record (last_seen + ttl passed) and one from the future', () => {
    const s = new RecordStore(self);
    const r = record(0, { lastSeen: T0, ttl: 10 });
    expect(s.put(recordKey('alice'), r.bytes, T0 + 10_000)).toEqual({ ok: false, reason: 'stale' });
    const future = record(0, { lastSeen: NOW + DEFAULT_STORE_LIMITS.clockSkewMs + 1 });
    expect(s.put(recordKey('alice'), future.bytes, NOW)).toEqual({ ok: false, reason: 'future' });
  });

  it('rejects a record under a key that is not one of its own', () => {
    const s = new RecordStore(self);
    expect(s.put(recordKey('bob'), record().bytes, NOW)).toEqual({ ok: false, reason: 'wrong-key' });
    expect(s.put(providerKey('nothing'), record().bytes, NOW)).toEqual({ ok: false, reason: 'wrong-key' });
  });

  it('holds a second key claiming a human name beside the first (no squatting); a rotation signed by the old key replaces it', () => {
    const s = new RecordStore(self);
    expect(s.put(recordKey('alice'), record(0).bytes, NOW, '4/0a0001').ok).toBe(true);
    const other = record(1, { lastSeen: T0 + 1 });
    // The first key seen does not lock the name: the other claim is held too, and both are served.
    expect(s.put(recordKey('alice'), other.bytes, NOW + 1, '4/0a0002')).toEqual({ ok: true, status: 'stored' });
    expect(s.get(recordKey('alice'), NOW + 1)).toHaveLength(2);
    // A rotation signed by key 0 replaces key 0's claim.
    const rotated = signRecord(fields({ lastSeen: T0 + 2 }), signer(2), signer(0));
    expect(s.put(recordKey('alice'), rotated.bytes, NOW + 2, '4/0a0001')).toEqual({ ok: true, status: 'stored' });
    expect(s.get(recordKey('alice'), NOW + 2)).toHaveLength(2);
    // One source prefix holds one key per name: its new key replaces its old one (unless that
    // one is the claim held longest, here key 0's, now key 2's).
    expect(s.put(recordKey('alice'), record(3, { lastSeen: T0 + 3 }).bytes, NOW + 3, '4/0a0002').ok).toBe(true);
    expect(s.get(recordKey('alice'), NOW + 3)).toHaveLength(2);
  });

  it('refuses a self-certifying name signed by a key it does not certify, from anyone', () => {
    const s = new RecordStore(self);
    const owner = signer(0);
    const name = `agent-${owner.fingerprint.slice(0, 16)}`;
    expect(s.put(recordKey(name), record(1, { entityId: name }).bytes, NOW)).toEqual({ ok: false, reason: 'unbound' });
    expect(s.put(recordKey(name), record(0, { entityId: name }).bytes, NOW)).toEqual({ ok: true, status: 'stored' });
  });

  it('a name claimed by maxKeysPerName prefixes still takes a new claim (one of the younger ones gives way)', () => {
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, maxKeysPerName: 4 });
    for (let i = 0; i < 4; i++) expect(s.put(recordKey('alice'), record(10 + i).bytes, NOW, `4/0a00${i}`).ok).toBe(true);
    expect(s.put(recordKey('alice'), record(0).bytes, NOW, '4/0b0000')).toEqual({ ok: true, status: 'stored' });
    expect(s.get(recordKey('alice'), NOW)).toHaveLength(4);
  });

  it('forged claims from many prefixes never push out the claim held longest, which its owner keeps republishing', () => {
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, maxKeysPerName: 4 });
    const ownerKey = signer(0).publicKey;
    const held = (): boolean => s.get(recordKey('alice'), NOW + 60_000).some((b) => Buffer.from(decodeRecord(b).publicKey).equals(ownerKey));
    expect(s.put(recordKey('alice'), record(0).bytes, NOW, '4/0a0000').ok).toBe(true);
    // 40 forgers, each a key of its own from a /24 of its own, arriving after the owner (the
    // owner republishing in between); a random victim at the cap would have been the owner's
    // claim with probability 1 − (3/4)^37.
    for (let i = 0; i < 40; i++) {
      expect(s.put(recordKey('alice'), record(100 + i).bytes, NOW + i * 1000, `4/0b${i.toString(16).padStart(4, '0')}`).ok).toBe(true);
      if (i % 10 === 9) expect(s.put(recordKey('alice'), record(0, { lastSeen: T0 + i * 1000 }).bytes, NOW + i * 1000, '4/0a0000').ok).toBe(true);
      expect(held()).toBe(true);
    }
    expect(s.get(recordKey('alice'), NOW + 60_000)).toHaveLength(4);
    // Another key from the owner's prefix does not replace the claim held longest either.
    expect(s.put(recordKey('alice'), record(200).bytes, NOW + 50_000, '4/0a0000')).toEqual({ ok: false, reason: 'quota' });
    expect(held()).toBe(true);
  });

  it('drops records when they expire (ttl, or tExpire after being stored)', () => {
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, tExpireMs: 60_000 });
    s.put(recordKey('alice'), record(0, { ttl: 3600 }).bytes, NOW);
    s.put(recordKey('bob'), record(1, { entityId: 'bob', ttl: 30 }).bytes, NOW);
    expect(s.get(recordKey('bob'), T0 + 30_000)).toHaveLength(0);
    expect(s.get(recordKey('alice'), NOW + 59_000)).toHaveLength(1);
    expect(s.sweep(NOW + 60_000)).toBe(1);
    expect(s.size).toBe(0);
  });
});

describe('store bounds', () => {
  it('a node flooded with STOREs stays within its record bound, keeping the keys closest to it', () => {
    const max = 64;
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, maxStoredRecords: max });
    const id = signer(0);
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const r = signRecord(fields({ entityId: `flood-${i}`, capabilities: [] }), id);
      if (s.put(recordKey(`flood-${i}`), r.bytes, NOW).ok) accepted++;
      expect(s.size).toBeLessThanOrEqual(max);
    }
    expect(s.size).toBe(max);
    expect(accepted).toBeGreaterThan(max);
    expect(s.stats.evicted + s.stats.rejected.full).toBe(400 - max);
    // What is left is the `max` keys closest to us (self = 0: the smallest keys).
    const kept = s.keys().sort();
    const all = Array.from({ length: 400 }, (_, i) => recordKey(`flood-${i}`).toString('hex')).sort();
    expect(kept).toEqual(all.slice(0, max));
  });

  it('bounds the records per entity and the providers per capability', () => {
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, maxRecordsPerEntity: 2, maxProvidersPerKey: 3 });
    const r = record();
    expect(s.put(recordKey('alice'), r.bytes, NOW).ok).toBe(true);
    expect(s.put(recordKey('alice', 'summarize'), r.bytes, NOW).ok).toBe(true);
    expect(s.put(recordKey('alice', 'translate'), r.bytes, NOW)).toEqual({ ok: false, reason: 'entity-full' });
    const key = providerKey('summarize');
    for (let i = 0; i < 3; i++) expect(s.put(key, record(10 + i, { entityId: `p${i}`, lastSeen: T0 + i }).bytes, NOW + i, `4/0a00${i}`).ok).toBe(true);
    // Full: the least recently *arrived* provider gives way, whatever date the newcomer signed.
    expect(s.put(key, record(20, { entityId: 'late', lastSeen: T0 - 1 }).bytes, NOW + 10, '4/0b0000').ok).toBe(true);
    expect(s.get(key, NOW + 10).map((b) => decodeRecord(b).entityId).sort()).toEqual(['late', 'p1', 'p2']);
    expect(s.get(key, NOW)).toHaveLength(3);
  });
});
