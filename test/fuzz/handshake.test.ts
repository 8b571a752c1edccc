/**
 * Fuzzing the handshake: the message codec alone, and both state machines fed an honest
 * exchange in which one step (1–6, or a cookie or error frame) is replaced by a mutation of
 * itself, a splice or random bytes. Only PeerError may come out; a failed machine is terminal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Identity, x25519, wire } from '../../src/index.js';
import {
  Handshake, SessionState, decodeHandshakeMessage, encodeCookie, encodeHandshakeError, isTerminal,
} from '../../src/handshake/index.js';
import { FUZZ_TIMEOUT_MS, fuzz, hostile, mutated, onlyPeerError } from './harness.js';

const T0 = 1_780_000_000_000;
const alice = Identity.fromSeed(Buffer.alloc(32, 0xa1));
const bob = Identity.fromSeed(Buffer.alloc(32, 0xb0));

/** Fresh machines with fixed randomness (a fixed ephemeral pair is wiped after use, so a new copy each time). */
function machines(): { a: Handshake; b: Handshake; first: Buffer[] } {
  const pair = (fill: number) => {
    const secretKey = Buffer.alloc(32, fill);
    return { secretKey, publicKey: x25519.publicKeyOf(secretKey) };
  };
  const { handshake: a, send } = Handshake.initiate({ identity: alice, entityId: 'alice', fixed: { ephemeral: pair(1), nonce: Buffer.alloc(16, 2) } }, T0);
  const b = Handshake.respond({ identity: bob, entityId: 'bob', fixed: { ephemeral: pair(3), challenge: Buffer.alloc(32, 4) } }, T0);
  return { a, b, first: send };
}

/** The honest transcript, in wire order: 1, 2, then 3 with 5 pipelined behind it, then 4, 6. */
function transcript(): Buffer[] {
  const { a, b, first } = machines();
  const out: Buffer[] = [];
  let toB = first;
  while (toB.length > 0) {
    out.push(...toB);
    const toA = toB.flatMap((m) => b.receive(m, T0));
    out.push(...toA);
    toB = toA.flatMap((m) => a.receive(m, T0));
  }
  return out;
}

const STEPS = transcript();
const CORPUS = [
  ...STEPS,
  encodeCookie(wire.FrameType.CookieReply, Buffer.alloc(32, 9)),
  encodeCookie(wire.FrameType.CookieEcho, Buffer.alloc(32, 9)),
  encodeHandshakeError('HANDSHAKE_IN_PROGRESS', 'a handshake is already in progress'),
  encodeHandshakeError('RATE_LIMITED', 'x'.repeat(200)),
];

describe('fuzz: handshake', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('the honest transcript is six steps that reach READY (the corpus is real)', () => {
    expect(STEPS.map((m) => m[1])).toEqual([1, 2, 3, 5, 4, 6]);
  });

  it('decodeHandshakeMessage returns a message or a PeerError', () => {
    fuzz('handshake codec', hostile(CORPUS), (body) => {
      const m = onlyPeerError(() => decodeHandshakeMessage(body));
      if (!(m instanceof Error)) expect(m.type).toBe(body[1]);
    });
  });

  it('both machines, with one step of an honest exchange replaced by hostile bytes, fail only with a PeerError', () => {
    const input = fc.record({
      step: fc.nat({ max: STEPS.length - 1 }),
      bytes: fc.oneof({ weight: 6, arbitrary: mutated(CORPUS) }, { weight: 1, arbitrary: hostile(CORPUS, 200) }),
      // Sometimes insert the bytes before the honest message instead of replacing it.
      insert: fc.boolean(),
    });
    fuzz('handshake machines', input, ({ step, bytes, insert }) => {
      const { a, b, first } = machines();
      // Deliver the exchange message by message; at `step`, the hostile bytes go to the same recipient.
      const queue: { to: Handshake; body: Uint8Array }[] = first.map((body) => ({ to: b, body }));
      let index = 0;
      while (queue.length > 0) {
        const next = queue.shift()!;
        const deliveries = index === step ? (insert ? [bytes, next.body] : [bytes]) : [next.body];
        index++;
        for (const body of deliveries) {
          if (isTerminal(next.to.state)) break;
          const wasReady = next.to.state === SessionState.Ready;
          const out = onlyPeerError(() => next.to.receive(body, T0));
          if (out instanceof Error) {
            // A failed machine is over, and one that failed before READY yields no keys.
            expect(isTerminal(next.to.state)).toBe(true);
            if (!wasReady) expect(next.to.result).toBeNull();
            continue;
          }
          const other = next.to === a ? b : a;
          for (const m of out) queue.push({ to: other, body: m });
        }
      }
      for (const h of [a, b]) {
        if (h.state === SessionState.Ready) expect(h.result).not.toBeNull();
        h.destroy();
      }
    }, { minRuns: 20 });
  });
});
