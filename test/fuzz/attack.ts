/**
 * One authenticated attacker's session, as the fuzzers over a stream play it: sealed records
 * (forged-records.ts) with unsealed hostile frames slipped in among them (handshake messages
 * after READY, a cookie echo, a handshake error, random bytes), the byte stream cut into
 * arbitrary writes, sometimes a real renewal halfway (later records under the new keys, or
 * stale ones under the old), and an end: wait for the victim, FIN, reset, or FIN inside a frame.
 */
import fc from 'fast-check';
import { Identity, wire } from '../../src/index.js';
import { Handshake, encodeCookie } from '../../src/handshake/index.js';
import type { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { forgedRecords, sealRecord, sealRecords, type ForgedRecord } from './forged-records.js';
import { hostile } from './harness.js';

const handshakeFrames = (() => {
  const init = Handshake.initiate({ identity: Identity.generate(), entityId: 'mallory' }, Date.now()).send;
  return [...init, encodeCookie(wire.FrameType.CookieEcho, Buffer.alloc(32, 1)), Buffer.from([0x11, 0x07, 3, 0x41, 0x42, 0x43, 0, 0])];
})();

export interface Attack {
  records: ForgedRecord[];
  /** Unsealed frames slipped in among the records (positions wrap). */
  raw: { at: number; body: Uint8Array }[];
  /** Where the byte stream is cut into writes. */
  cuts: number[];
  /**
   * Renew the session (a real handshake under the same identity) before record `at` (wraps);
   * the records after it use the new keys, except those whose bit is set in `stale`: the old ones.
   */
  renew: { at: number; stale: number } | null;
  end: 'wait' | 'fin' | 'destroy' | 'cut-short';
}

export const attackArb: fc.Arbitrary<Attack> = fc.record({
  records: forgedRecords,
  raw: fc.array(fc.record({ at: fc.nat(), body: hostile(handshakeFrames, 64) }), { maxLength: 2 }),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  renew: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.record({ at: fc.nat({ max: 12 }), stale: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 4095 }) }) }) },
  ),
  end: fc.constantFrom('wait', 'wait', 'fin', 'destroy', 'cut-short'),
});

export function describeAttack(a: Attack): string {
  const recs = a.records.map((r) => `${wire.FrameType[r.type]}${JSON.stringify(r.fields)} seq${r.seqDelta ?? '+0'} ${Buffer.from(r.plain).toString('hex').slice(0, 80)}`);
  const renew = a.renew === null ? 'no' : `before record ${a.renew.at % (a.records.length + 1)}, stale mask ${a.renew.stale}`;
  return `${recs.join('\n  ')}\n  raw: ${a.raw.map((r) => Buffer.from(r.body).toString('hex').slice(0, 80)).join(' ')}\n  renew: ${renew}\n  end: ${a.end}`;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Seals the attack under `evil`'s keys and writes it as planned; resolves when it is over:
 * after the victim closed, or `lingerMs` (0: a few event-loop turns, for in-memory streams).
 * The caller then closes `evil` (after checking what the victim did with the connection).
 */
export async function playAttack(evil: AuthenticatedPeer, a: Attack, lingerMs: number): Promise<void> {
  const renew = evil.role === 'initiator' ? a.renew : null; // a responder cannot start a renewal
  const split = renew === null ? a.records.length : renew.at % (a.records.length + 1);
  const frames = sealRecords(evil.forge, a.records.slice(0, split));
  for (const r of a.raw) if (r.body.length > 0) frames.splice(r.at % (frames.length + 1), 0, wire.encodeFrame(r.body));
  let bytes = Buffer.concat(frames);
  if (renew !== null) {
    await write(evil, bytes, a.cuts);
    const old = evil.forge;
    try {
      await evil.renew();
    } catch {
      evil.close(); // refused (outside the renewal window, over the handshake rate) or closed
      return;
    }
    const stale = renew.stale;
    bytes = Buffer.concat(a.records.slice(split).map((r, i) => sealRecord((stale >> i) & 1 ? old : evil.forge, r)));
  }
  // cut-short: the stream ends one byte before the end of its last frame, i.e. inside a frame.
  await write(evil, a.end === 'cut-short' && bytes.length > 0 ? bytes.subarray(0, bytes.length - 1) : bytes, renew === null ? a.cuts : []);
  const socket = evil.raw.socket;
  if (a.end === 'fin' || a.end === 'cut-short') socket.end();
  if (a.end !== 'destroy') {
    if (lingerMs > 0) await evil.closed(a.end === 'wait' ? lingerMs : 5 * lingerMs);
    else for (let i = 0; i < 8; i++) await tick();
  }
  evil.close();
}

/** Writes `bytes` in pieces cut at `cuts` (positions wrap), a turn of the event loop apart. */
async function write(evil: AuthenticatedPeer, bytes: Buffer, cuts: readonly number[]): Promise<void> {
  const socket = evil.raw.socket;
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((x, y) => x - y), bytes.length]) {
    if (cut <= at || socket.destroyed) continue;
    socket.write(bytes.subarray(at, cut));
    at = cut;
    await tick();
  }
}
