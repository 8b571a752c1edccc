/** The DHT datagram codec: every message round-trips; anything else is MALFORMED_FRAME. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, PeerError } from '../../src/errors.js';
import { encodeAddress } from '../../src/dht/address.js';
import {
  decodeMessage, encodeError, encodeFind, encodeNodes, encodePing, encodePong, encodeStore, encodeStored, encodeValue,
  FLAG_READ_ONLY, FLAG_WANT_TOKEN, HEADER_BYTES, MSG, nextContact,
} from '../../src/dht/messages.js';
import { expectPeerError } from '../helpers/errors.js';

const pk = new Uint8Array(32).fill(9);
const id = new Uint8Array(32).fill(3);
const token = new Uint8Array(16).fill(5);
const contacts = (() => {
  const a = encodeAddress('10.1.2.3:4000');
  const b = encodeAddress('[2001:db8::7]:53');
  const out = new Uint8Array(32 + a.length + 32 + b.length);
  out.set(id, 0);
  out.set(a, 32);
  out.set(id, 32 + a.length);
  out.set(b, 64 + a.length);
  return out;
})();

const all = (): Uint8Array[] => [
  encodePing(0, 1, pk, new Uint8Array(16).fill(3)),
  encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 2, pk, id),
  encodeFind(MSG.FIND_VALUE, FLAG_READ_ONLY, 3, pk, id),
  encodeStore(0, 4, pk, token, id, new Uint8Array(100).fill(1)),
  encodePong(0, 5, pk, encodeAddress('1.2.3.4:5'), new Uint8Array(64).fill(4)),
  encodeNodes(0, 6, pk, token, 2, contacts),
  encodeNodes(0, 7, pk, null, 0, new Uint8Array(0)),
  encodeValue(0, 8, pk, [new Uint8Array(10).fill(2), new Uint8Array(20).fill(3)], 0, new Uint8Array(0)),
  encodeValue(0, 9, pk, [], 2, contacts),
  encodeStored(0, 10, pk, 1),
  encodeError(0, 0xffffffff, pk, 12),
];

describe('DHT messages', () => {
  it('round-trip, with the header fields in place', () => {
    const m = decodeMessage(encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 0xdeadbeef, pk, id));
    expect(m.type).toBe(MSG.FIND_NODE);
    expect(m.flags).toBe(FLAG_WANT_TOKEN);
    expect(m.tid).toBe(0xdeadbeef);
    expect([...m.publicKey]).toEqual([...pk]);
    const n = decodeMessage(encodeNodes(0, 6, pk, token, 2, contacts));
    if (n.type !== MSG.NODES) throw new Error('type');
    expect(n.contacts.count).toBe(2);
    expect(nextContact(n.contacts.bytes, 0)).toBe(39);
    expect(n.contacts.bytes.length).toBe(39 + 51);
    const s = decodeMessage(encodeStore(0, 4, pk, token, id, new Uint8Array(100).fill(1)));
    if (s.type !== MSG.STORE) throw new Error('type');
    expect(s.record.length).toBe(100);
    for (const d of all()) expect(decodeMessage(d).type).toBe(d[1]);
  });

  it('start with the documented header bytes', () => {
    const d = encodePing(FLAG_READ_ONLY, 0x01020304, pk, new Uint8Array(16));
    expect([...d.subarray(0, 7)]).toEqual([0xd1, 0x01, 0x01, 1, 2, 3, 4]);
    expect(d.length).toBe(HEADER_BYTES + 16);
  });

  it('reject truncation, trailing bytes, unknown versions, types, flags, families and zero ports', () => {
    for (const d of all()) {
      // A FIND's zero padding may be any length: cut into the header or target, not the padding.
      const end = d[1] === MSG.FIND_NODE || d[1] === MSG.FIND_VALUE ? HEADER_BYTES + 32 : d.length;
      for (let cut = 0; cut < end; cut++) expectPeerError(() => decodeMessage(d.subarray(0, cut)), ErrorCode.MALFORMED_FRAME);
      // (FIND requests may end in zero padding: a non-zero trailing byte is refused by every type.)
      expectPeerError(() => decodeMessage(Uint8Array.of(...d, 1)), ErrorCode.MALFORMED_FRAME);
    }
    const ping = encodePing(0, 1, pk, new Uint8Array(16));
    const patch = (at: number, v: number): Uint8Array => { const b = new Uint8Array(ping); b[at] = v; return b; };
    expectPeerError(() => decodeMessage(patch(0, 0x11)), ErrorCode.MALFORMED_FRAME);
    expectPeerError(() => decodeMessage(patch(1, 0x05)), ErrorCode.MALFORMED_FRAME);
    expectPeerError(() => decodeMessage(patch(2, 0x80)), ErrorCode.MALFORMED_FRAME);
    const pong = encodePong(0, 5, pk, encodeAddress('1.2.3.4:5'), new Uint8Array(64));
    const bad = new Uint8Array(pong);
    bad[HEADER_BYTES] = 5;
    expectPeerError(() => decodeMessage(bad), ErrorCode.MALFORMED_FRAME);
    bad[HEADER_BYTES] = 4;
    bad[HEADER_BYTES + 5] = 0;
    bad[HEADER_BYTES + 6] = 0;
    expectPeerError(() => decodeMessage(bad), ErrorCode.MALFORMED_FRAME);
  });

  it('refuse a datagram over the size limit before parsing it', () => {
    expectPeerError(() => decodeMessage(new Uint8Array(1233)), ErrorCode.FRAME_TOO_LARGE);
  });

  it('never throw anything but a PeerError on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1300 }), fc.boolean(), (junk, header) => {
      const input = header ? Uint8Array.of(0xd1, junk[0] ?? 0, 0, ...junk.subarray(1)) : junk;
      try {
        decodeMessage(input);
      } catch (e) {
        expect(e).toBeInstanceOf(PeerError);
      }
    }), { numRuns: 2000 });
  });
});
