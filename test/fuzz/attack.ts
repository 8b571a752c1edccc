/**
 * One authenticated attacker's session, as the fuzzers over a stream play it: sealed records
 * (forged-records.ts) with unsealed hostile frames slipped in among them (handshake messages
 * after READY, a cookie echo, a handshake error, random bytes), the byte stream cut into
 * arbitrary writes, and an end: wait for the victim, FIN, reset, or FIN inside a frame.
 */
import fc from 'fast-check';
import { Identity, wire } from '../../src/index.js';
import { Handshake, encodeCookie } from '../../src/handshake/index.js';
import type { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { forgedRecord, sealRecords, type ForgedRecord } from './forged-records.js';
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
  end: 'wait' | 'fin' | 'destroy' | 'cut-short';
}

export const attackArb: fc.Arbitrary<Attack> = fc.record({
  records: fc.array(forgedRecord, { minLength: 1, maxLength: 12 }),
  raw: fc.array(fc.record({ at: fc.nat(), body: hostile(handshakeFrames, 64) }), { maxLength: 2 }),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  end: fc.constantFrom('wait', 'wait', 'fin', 'destroy', 'cut-short'),
});

export function describeAttack(a: Attack): string {
  const recs = a.records.map((r) => `${wire.FrameType[r.type]}${JSON.stringify(r.fields)} seq${r.seqDelta ?? '+0'} ${Buffer.from(r.plain).toString('hex').slice(0, 80)}`);
  return `${recs.join('\n  ')}\n  raw: ${a.raw.map((r) => Buffer.from(r.body).toString('hex').slice(0, 80)).join(' ')}\n  end: ${a.end}`;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Seals the attack under `evil`'s keys and writes it as planned; resolves when it is over:
 * after the victim closed, or `lingerMs` (0: a few event-loop turns, for in-memory streams).
 */
export async function playAttack(evil: AuthenticatedPeer, a: Attack, lingerMs: number): Promise<void> {
  const frames = sealRecords(evil.forge, a.records);
  for (const r of a.raw) if (r.body.length > 0) frames.splice(r.at % (frames.length + 1), 0, wire.encodeFrame(r.body));
  const all = Buffer.concat(frames);
  // cut-short: the stream ends one byte into the last frame's end, i.e. inside a frame.
  const bytes = a.end === 'cut-short' ? all.subarray(0, all.length - 1) : all;
  const socket = evil.raw.socket;
  let at = 0;
  for (const cut of [...a.cuts.map((c) => c % (bytes.length + 1)).sort((x, y) => x - y), bytes.length]) {
    if (cut <= at || socket.destroyed) continue;
    socket.write(bytes.subarray(at, cut));
    at = cut;
    await tick();
  }
  if (a.end === 'fin' || a.end === 'cut-short') socket.end();
  if (a.end !== 'destroy') {
    if (lingerMs > 0) await evil.closed(a.end === 'wait' ? lingerMs : 5 * lingerMs);
    else for (let i = 0; i < 8; i++) await tick();
  }
  evil.close();
}
