/**
 * Issue 11, stores: made-up providers dated into the future must not evict honest providers, and
 * a flood of records from one source must not evict what a node is responsible for. Both fail on
 * the store of issue 5 (eviction by the *signed* last_seen; no quota per source).
 */
import { describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { decodeRecord, providerKey, recordKey, signRecord } from '../../src/dht/record.js';
import { DEFAULT_STORE_LIMITS, RecordStore } from '../../src/dht/store.js';
import { fields, T0 } from './helpers.js';

const NOW = T0 + 1000;

describe('store attacks', () => {
  it('128 providers dated +299 s from one /24 do not evict the honest providers of a capability', () => {
    const s = new RecordStore(new Uint8Array(32));
    const key = providerKey('summarize');
    const honest = Array.from({ length: 100 }, (_, i) => `honest-${i}`);
    honest.forEach((e, i) => {
      const r = signRecord(fields({ entityId: e, capabilities: ['summarize'], lastSeen: NOW - 1000 }), Identity.generate());
      expect(s.put(key, r.bytes, NOW, `4/0a${i.toString(16).padStart(4, '0')}`).ok).toBe(true);
    });
    const evil = Identity.generate();
    for (let i = 0; i < 128; i++) {
      const r = signRecord(fields({ entityId: `fake-${i}`, capabilities: ['summarize'], lastSeen: NOW + 299_000 }), evil);
      s.put(key, r.bytes, NOW + 10 + i, '4/c6336400');
    }
    const left = new Set(s.get(key, NOW + 200).map((b) => decodeRecord(b).entityId));
    expect(honest.filter((e) => left.has(e))).toHaveLength(100);
    expect([...left].filter((e) => e.startsWith('fake-')).length).toBeLessThanOrEqual(s.limits.maxProvidersPerSource);
  });

  it('a full store keeps the 300 records it is responsible for when one /24 floods it with closer keys', () => {
    const self = new Uint8Array(32);
    const s = new RecordStore(self, { ...DEFAULT_STORE_LIMITS, maxStoredRecords: 1024, maxRecordsPerSource: 64 });
    const signer = Identity.generate();
    const honest: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const r = signRecord(fields({ entityId: `mine-${i}`, capabilities: [] }), signer);
      const k = recordKey(`mine-${i}`);
      honest.push(k);
      expect(s.put(k, r.bytes, NOW, `4/0a${(i % 200).toString(16).padStart(4, '0')}`).ok).toBe(true);
    }
    // The flood's keys are ground closer to us than any honest key (first byte 0).
    const evil = Identity.generate();
    let sent = 0;
    for (let i = 0; sent < s.limits.maxStoredRecords; i++) {
      const k = recordKey(`near-${i}`);
      if (k[0] !== 0) continue;
      sent++;
      s.put(k, signRecord(fields({ entityId: `near-${i}`, capabilities: [] }), evil).bytes, NOW, '4/c6336400');
    }
    expect(honest.filter((k) => s.get(k, NOW).length === 1)).toHaveLength(300);
    expect(s.size).toBeLessThanOrEqual(300 + s.limits.maxRecordsPerSource);
  }, 60_000);
});
