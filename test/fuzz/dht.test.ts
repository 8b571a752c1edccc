/**
 * Fuzzing the DHT decoders: datagrams, signed records, and the core's receive path (requests
 * from strangers, answers to a request of ours with its real transaction id). The decoders may
 * only throw PeerError; DhtCore.receive and tick never throw at all (they run in a UDP handler).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import { DhtCore, type DhtOutput } from '../../src/dht/core.js';
import {
  MSG, decodeMessage, encodeError, encodeFind, encodeNodes, encodePing, encodePong, encodeStore, encodeStored, encodeValue, FLAG_WANT_TOKEN,
} from '../../src/dht/messages.js';
import { SeededRandom } from '../../src/dht/random.js';
import { decodeRecord, recordKey } from '../../src/dht/record.js';
import { record, T0 } from '../dht/helpers.js';
import { FUZZ_TIMEOUT_MS, fuzz, hostile, onlyPeerError, tally } from './harness.js';

const ME_KEY = Identity.fromSeed(new Uint8Array(32).fill(0x11));
const ME = ME_KEY.publicKey;
const THEM = new Uint8Array(32).fill(0x22);
const BOOTSTRAP = '127.0.0.2:9000';

/** A core with one request in flight (its bootstrap FIND_NODE to BOOTSTRAP); same seed, same tid. */
function core(): { core: DhtCore; tid: number } {
  const c = new DhtCore({ identity: ME_KEY, now: T0, random: new SeededRandom(1) });
  c.bootstrap([BOOTSTRAP], T0);
  const out = c.drain();
  const sent = out.datagrams.find((d) => d.to === BOOTSTRAP);
  if (!sent) throw new Error('the bootstrap sent no request');
  return { core: c, tid: decodeMessage(sent.data).tid };
}

const { tid: TID } = core();
const contacts = (() => {
  const parts = [THEM, encodeAddress('127.0.0.3:9001'), new Uint8Array(32).fill(0x33), encodeAddress('[::1]:9002')];
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
})();
const rec = record(0).bytes;
const RECORDS = [rec, record(1, { entityId: 'bob', capabilities: [] }).bytes];
const token = new Uint8Array(16).fill(5);
const DATAGRAMS = [
  encodePing(0, 7, THEM, new Uint8Array(16).fill(7)),
  encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 8, THEM, ME),
  encodeFind(MSG.FIND_VALUE, 0, 9, THEM, recordKey('alice')),
  encodeStore(0, 10, THEM, token, recordKey('alice'), rec),
  // Answers to our request in flight.
  encodeNodes(0, TID, THEM, token, 2, contacts),
  encodeValue(0, TID, THEM, [rec], 2, contacts),
  encodePong(0, TID, THEM, encodeAddress('127.0.0.1:4000'), new Uint8Array(64).fill(9)),
  encodeStored(0, TID, THEM, 1),
  encodeError(0, TID, THEM, 3),
];

function checkOutput(out: DhtOutput): void {
  for (const d of out.datagrams) {
    expect(typeof d.to).toBe('string');
    expect(d.data.length).toBeGreaterThan(0);
    tally('reply');
  }
  expect(Number.isFinite(out.deadline)).toBe(true);
}

/** Runs `f`, which must not throw at all. */
function noThrow<T>(f: () => T): T {
  const out = onlyPeerError(f);
  if (out instanceof Error) throw new Error(`threw ${out.message}`);
  return out;
}

describe('fuzz: DHT datagrams and records', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('decodeMessage returns a message or a PeerError', () => {
    fuzz('dht datagram', hostile(DATAGRAMS, 300), (bytes) => {
      const m = onlyPeerError(() => decodeMessage(bytes));
      if (!(m instanceof Error)) expect(m.type).toBe(bytes[1]);
    });
  });

  it('decodeRecord returns a record or a PeerError', () => {
    fuzz('dht record', hostile(RECORDS, 300), (bytes) => {
      const r = onlyPeerError(() => decodeRecord(bytes));
      if (!(r instanceof Error)) expect(r.publicKey.length).toBe(32);
    });
  });

  it('DhtCore.receive and tick never throw, whatever arrives from whom', () => {
    const input = fc.array(fc.record({
      from: fc.constantFrom(BOOTSTRAP, '127.0.0.9:1234', '[::1]:5000', '127.0.0.3:9001'),
      bytes: hostile(DATAGRAMS, 200),
      laterMs: fc.constantFrom(0, 10, 1_000, 30_000),
    }), { minLength: 1, maxLength: 5 });
    fuzz('dht core', input, (datagrams) => {
      const { core: c } = core();
      let now = T0;
      for (const d of datagrams) {
        now += d.laterMs;
        checkOutput(noThrow(() => c.receive(d.bytes, d.from, now)));
        checkOutput(noThrow(() => c.tick(now)));
      }
      checkOutput(noThrow(() => c.tick(now + 120_000)));
      tally(`contacts ${Math.min(c.contacts().length, 3)}`);
    }, { minRuns: 20 });
  });
});
