/**
 * The authenticated fuzzer in-process, for speed and shrinking: a long-lived Peer (it echoes
 * every whole message, and greets every session with a large message) runs sessions over
 * in-memory streams (transport/memory.ts) with attackers that complete real handshakes — the Peer as responder or as initiator — and play the same
 * attacks as authenticated.test.ts (attack.ts). Nothing may reach the session backstop (each
 * such escape is a Peer 'internalError'), a session the Peer ended must not leave its connection
 * open, and once every session ended the Peer holds none and no reassembly memory. A failing
 * attack is shrunk to a minimal one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Peer, type Message, type Session } from '../../src/index.js';
import { isTerminal } from '../../src/handshake/index.js';
import { memoryDuplexPair } from '../../src/transport/memory.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { attackArb, describeAttack, playAttack } from './attack.js';
import { FUZZ_TIMEOUT_MS, fuzzAsync, tally } from './harness.js';

let victim: Peer;
const internal: unknown[] = [];

beforeAll(async () => {
  // Many handshakes from one test: the handshake limit (by address at a listener) is tested elsewhere.
  // A short TTL whose renewal window is all of it, so an attacker's renewal is taken at any time.
  victim = await Peer.create({
    entityId: 'victim', rateLimits: { classes: { handshake: { perMinute: 1_000_000, burst: 1_000_000 } } }, session: { ttlMs: 10_000, renewBeforeMs: 5_000 },
  });
  victim.on('internalError', (err: unknown) => internal.push(err));
  victim.on('sessionError', (err: { code: string }) => tally(err.code));
  // It greets every session with an 80 KiB message (two chunks), which the attacker's error records can refuse.
  victim.on('session', (s: Session) => {
    s.send(Buffer.alloc(80 * 1024, 0x67), { type: 'task' }).catch(() => undefined);
    s.on('renewed', () => tally('renewed'));
  });
  victim.on('message', (m: Message) => {
    if (m.version === '1.1' && !m.streamed) m.session.send(m.payload, { type: m.type }).catch(() => undefined);
  });
});
afterAll(() => victim.close());

describe('fuzz: an authenticated peer over in-memory streams (Peer in-process)', { timeout: FUZZ_TIMEOUT_MS }, () => {
  it('no attack reaches the backstop, and every session and its reassembly memory is released', async () => {
    const input = fc.record({ attack: attackArb, victimListens: fc.boolean() });
    await fuzzAsync('peer over streams', input, async ({ attack, victimListens }) => {
      const [mine, theirs] = memoryDuplexPair();
      const started = victim.connectStream(theirs, victimListens ? 'responder' : 'initiator').catch(() => undefined);
      const evil = await AuthenticatedPeer.stream(mine, victimListens ? 'initiator' : 'responder');
      const session = await started;
      await playAttack(evil, attack, 0);
      // A session the victim ended must not leave its connection open (nothing would close it).
      const leftOpen = session !== undefined && isTerminal(session.state) && !theirs.writableEnded && !theirs.destroyed;
      evil.close();
      if (leftOpen) throw new Error(`the victim's session is ${session.state} but its connection is open\nattack:\n  ${describeAttack(attack)}`);
      if (internal.length > 0) {
        const err = internal.splice(0)[0];
        throw new Error(`internal error: ${err instanceof Error ? err.stack : String(err)}\nattack:\n  ${describeAttack(attack)}`);
      }
    }, { minRuns: 10 });
    const deadline = Date.now() + 10_000;
    while (victim.stats().sessions > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const stats = victim.stats();
    expect({ sessions: stats.sessions, reassembly: stats.reassembly.bytesInUse, internalErrors: stats.internalErrors })
      .toEqual({ sessions: 0, reassembly: 0, internalErrors: 0 });
  });
});
