/**
 * The relay control messages: the worked example of docs/PROTOCOL.md §10 byte for byte, the
 * decoder's refusals (only PeerError MALFORMED_FRAME, whatever the bytes), the record's relay
 * list, and RelayCore's caps and budget as a Sans-I/O unit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Identity, PeerError } from '../../src/index.js';
import { decodeRecord, signRecord } from '../../src/dht/index.js';
import {
  RelayCore, RelayStatus, decodeControl, encodeAccept, encodeConnect, encodeHello, encodeIncoming, encodeReserve,
  encodeReserveOk, encodeStatus, reserveSigned, voucherSigned,
} from '../../src/relay/index.js';

const target = Identity.fromSeed(new Uint8Array(32).fill(1));
const relay = Identity.fromSeed(new Uint8Array(32).fill(2));
const ch = Buffer.alloc(32, 0xcc);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('relay control messages', () => {
  it('match the worked example of docs/PROTOCOL.md §10', () => {
    const doc = {
      hello: '0000004211308139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394' + 'cc'.repeat(32),
      reserve: '0000006611318a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c00000258'
        + '355b4f8e04c09d4c20c0ca997ec84e5f963138e3035c46b57594d4bd5fbfe601c3a42702c4fb80d0c4938717f9173bb145b38a3c62a6e6ee20518e5c59884f0b',
      reserveOk: '0000006a1132000001a0c45993c0fe2b9e6137b105f8cc679c0afa7d22789b5e409789d3950128dd3f4f0647bbca'
        + '1404c940cf202cf54928492dc800955d828d94f039b626c9c3fdc5f1811d6201' + 'dd'.repeat(32),
      incoming: '000000121133' + 'ab'.repeat(16),
      accept: '000000121134' + 'ab'.repeat(16),
      connect1: '0000002511358a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c010000',
      connect3: '0000004311358a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0300020e3132372e302e302e313a373430320e3132372e302e302e313a37343033',
      status: '0000000411360102',
    };
    const signature = target.sign(reserveSigned(relay.publicKey, ch, 600));
    const voucher = relay.sign(voucherSigned(relay.publicKey, target.publicKey, 1790000600000));
    const got = {
      hello: encodeHello({ relayKey: relay.publicKey, challenge: ch }),
      reserve: encodeReserve({ key: target.publicKey, ttlS: 600, signature }),
      reserveOk: encodeReserveOk({ expiresAt: 1790000600000, voucher, nextChallenge: Buffer.alloc(32, 0xdd) }),
      incoming: encodeIncoming(Buffer.alloc(16, 0xab)),
      accept: encodeAccept(Buffer.alloc(16, 0xab)),
      connect1: encodeConnect({ target: target.publicKey, hopBudget: 1, visited: [], next: [] }),
      connect3: encodeConnect({ target: target.publicKey, hopBudget: 3, visited: [], next: ['127.0.0.1:7402', '127.0.0.1:7403'] }),
      status: encodeStatus({ code: RelayStatus.NO_RESERVATION, hop: 2 }),
    };
    for (const [k, v] of Object.entries(got)) {
      expect(hex(v), k).toBe(doc[k as keyof typeof doc]);
      // Each decodes back to itself.
      const m = decodeControl(v.subarray(4));
      expect(m.type).toBe(v[5]);
    }
    expect(decodeControl(got.connect3.subarray(4))).toMatchObject({ hopBudget: 3, next: ['127.0.0.1:7402', '127.0.0.1:7403'] });
  });

  it('any bytes decode or fail with MALFORMED_FRAME only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0x30, max: 0x36 }), (tail, type) => {
      for (const body of [tail, Uint8Array.of(0x11, type, ...tail)]) {
        try {
          decodeControl(body);
        } catch (err) {
          expect(err).toBeInstanceOf(PeerError);
          expect((err as PeerError).code).toBe('MALFORMED_FRAME');
        }
      }
    }), { numRuns: 3000 });
    // Cut short, or with a byte left over: refused.
    const ok = encodeStatus({ code: 0, hop: 1 }).subarray(4);
    expect(() => decodeControl(ok.subarray(0, 3))).toThrow(/MALFORMED_FRAME/);
    expect(() => decodeControl(Buffer.concat([ok, Buffer.of(0)]))).toThrow(/MALFORMED_FRAME/);
    const four = Buffer.from(encodeConnect({ target: target.publicKey, hopBudget: 1, visited: [], next: [] }).subarray(4));
    four[35] = 4; // n_visited 4 > 3
    expect(() => decodeControl(four)).toThrow(/visited/);
  });

  it('a DHT record carries its relays, signed, and refuses a non-canonical list', () => {
    const fields = { entityId: 'b', addresses: [], capabilities: [], lastSeen: 1, ttl: 600, relays: [{ address: '127.0.0.1:7500', expiresAt: 600_001 }] };
    const rec = signRecord(fields, target);
    expect(decodeRecord(rec.bytes).relays).toEqual(fields.relays);
    expect(signRecord({ ...fields, relays: [] }, target).relays).toEqual([]);
    expect(() => signRecord({ ...fields, relays: Array(4).fill(fields.relays[0]) }, target)).toThrow(/at most 3 relays/);
    // A tombstone never lists a relay.
    expect(signRecord({ ...fields, tombstone: true }, target).relays).toEqual([]);
  });
});

describe('RelayCore (Sans-I/O)', () => {
  it('charges caps before work and frees every entry it made', () => {
    const core = new RelayCore({ maxReservations: 2, maxReservationsPerPrefix: 1, maxCircuitsPerTarget: 2, maxCircuitsPerPrefix: 1, maxCircuits: 3 });
    expect(core.reserve('k1', 'p1', 1, 60, 0)).toMatchObject({ ok: true, expiresAt: 60_000 });
    expect(core.reserve('k2', 'p1', 2, 60, 0)).toEqual({ ok: false, code: RelayStatus.RESERVATION_LIMIT });
    expect(core.reserve('k2', 'p2', 2, 99_999, 0)).toMatchObject({ ok: true, expiresAt: 3_600_000 });
    expect(core.reserve('k3', 'p3', 3, 60, 0)).toEqual({ ok: false, code: RelayStatus.RESERVATION_LIMIT });
    // The same key from another connection takes the reservation over.
    expect(core.reserve('k1', 'p1', 9, 60, 0)).toMatchObject({ ok: true, replaced: 1 });
    expect(core.openCircuit('nobody', 'q1', 't0', 0)).toEqual({ ok: false, code: RelayStatus.NO_RESERVATION });
    const c1 = core.openCircuit('k1', 'q1', 't1', 0);
    expect(c1).toMatchObject({ ok: true, conn: 9 });
    expect(core.openCircuit('k1', 'q1', 't2', 0)).toEqual({ ok: false, code: RelayStatus.CIRCUIT_LIMIT });
    expect(core.openCircuit('k1', 'q2', 't2', 0)).toMatchObject({ ok: true });
    expect(core.openCircuit('k1', 'q3', 't3', 0)).toEqual({ ok: false, code: RelayStatus.CIRCUIT_LIMIT });
    expect(core.acceptCircuit('t1')).toBe((c1 as { id: number }).id);
    expect(core.acceptCircuit('t1')).toBeNull();
    expect(core.stats()).toMatchObject({ reservations: 2, circuits: 1, pendingCircuits: 1 });
    core.closeCircuit((c1 as { id: number }).id);
    core.closeCircuit(2, 't2');
    expect(core.release('k1', 1)).toBe(false); // not the holder any more
    expect(core.release('k1', 9)).toBe(true);
    expect(core.release('k2', 2, 1)).toBe(false); // not yet expired
    expect(core.release('k2', 2, 3_600_000)).toBe(true);
    expect(core.stats()).toMatchObject({ reservations: 0, circuits: 0, pendingCircuits: 0 });
    expect(core.stats().refused).toEqual({ RESERVATION_LIMIT: 2, NO_RESERVATION: 1, CIRCUIT_LIMIT: 2 });
  });

  it('an option given as undefined keeps its default (the CLI passes unset flags so)', () => {
    const core = new RelayCore({ maxCircuitDurationMs: undefined, maxCircuitBytes: undefined, maxCircuits: 4 });
    expect(core.limits).toMatchObject({ maxCircuitDurationMs: 600_000, maxCircuitBytes: 64 * 1024 * 1024, maxCircuits: 4 });
  });

  it('cuts a circuit at its byte limit and meters the global byte budget', () => {
    const core = new RelayCore({ maxCircuitBytes: 1000, maxBytesPerSecond: 1000 });
    core.reserve('k', 'p', 1, 60, 0);
    const c = core.openCircuit('k', 'q', 't', 0) as { id: number };
    core.acceptCircuit('t');
    expect(core.charge(c.id, 0, 600, 0)).toBe(0);
    expect(core.charge(c.id, 1, 400, 0)).toBe(0);
    // The budget (1000 B/s, 1 s burst) is spent: wait about 0.6 s for 600 more.
    const wait = core.charge(c.id, 1, 600, 0) as number;
    expect(wait).toBeGreaterThan(0);
    expect(core.charge(c.id, 1, 600, wait)).toBe(0);
    expect(core.charge(c.id, 0, 401, 10_000)).toBe('cut');
    expect(core.stats().cut.bytes).toBe(1);
  });
});
