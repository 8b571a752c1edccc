/**
 * The fuzzer that holds the keys, over real TCP against a Peer in a child process (the built
 * dist/, test/helpers/victim.ts). Each attacker completes a genuine 6-step handshake under a
 * fresh identity, then sends sealed records whose plaintext and header fields are mutated,
 * unsealed hostile frames among them, cut into arbitrary writes, and ends the connection in one
 * of several ways (attack.ts). Meanwhile a
 * pinned honest peer exchanges messages with the victim (it echoes them) the whole time.
 *
 * The victim must stay alive, answer every honest message, report no internal error (nothing
 * but a PeerError may end a session) and no error code but the spec's (whatever the attacker's
 * error records say), give back all reassembly memory, and keep its RSS bounded.
 * Second mode: the fuzzer is the listener and the victim a client connecting to it again and again.
 *
 * Time: PEERCOMM_FUZZ_NET_MS (default 20 s for the listener victim, 40% of it for the client
 * victim). Seed: printed, PEERCOMM_FUZZ_SEED reproduces; a failure names the attack (connection
 * number) in flight. Runs in the native pass only (the no-native pass shares every decoder).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, type Message } from '../../src/index.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { Victim } from '../helpers/victim.js';
import { attackArb, describeAttack, playAttack, type Attack } from './attack.js';
import { FUZZ_SEED, KNOWN_CODES, seedFor } from './harness.js';

const NET_MS = Number(process.env.PEERCOMM_FUZZ_NET_MS ?? 20_000);
/** Attackers at once. */
const ATTACKERS = 3;
/**
 * RSS growth allowed over the victim's baseline. Everything an attacker can make it hold is
 * bounded far below this (frames 128 KiB, reassembly budgets, a few sessions at a time); a leak
 * of a few KiB per session over thousands of sessions, or unbounded buffering, exceeds it.
 */
const RSS_GROWTH_LIMIT = 96 * 1024 * 1024;
/**
 * Growth of what the victim really retains (heap and array buffers after full collections)
 * between before and after the attacks. Per-peer state that outlives a session (rate-limiter
 * buckets, replay-guard nonces) is well under 1 KiB per attacker identity.
 */
const RETAINED_GROWTH_LIMIT = 24 * 1024 * 1024;
const retainedBytes = async (v: Victim): Promise<number> => {
  const r = await v.retained();
  return r.heapUsed + r.arrayBuffers;
};

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/**
 * Runs attacks on `ATTACKERS` lanes until `ms` passed or the victim died; returns how many ran.
 * `open()` gives a new authenticated attacker (null if the handshake did not complete).
 */
async function fuzzFor(target: string, ms: number, victim: Victim, open: () => Promise<AuthenticatedPeer | null>): Promise<{ attacks: number; handshakesFailed: number }> {
  const deadline = Date.now() + ms;
  let next = 0;
  let handshakesFailed = 0;
  const inFlight = new Map<number, Attack>();
  const lane = async (): Promise<void> => {
    while (Date.now() < deadline && victim.alive) {
      const n = next++;
      // Attack number n of a run: the same seed gives the same attacks.
      const attack = fc.sample(attackArb, { seed: seedFor(target) + n, numRuns: 1 })[0]!;
      inFlight.set(n, attack);
      const evil = await open();
      if (evil === null) handshakesFailed++;
      else {
        await playAttack(evil, attack, 100);
        evil.close();
      }
      await victim.settle(0);
      if (victim.alive) inFlight.delete(n);
    }
  };
  await Promise.all(Array.from({ length: ATTACKERS }, lane));
  await victim.settle(200);
  if (!victim.alive) {
    const suspects = [...inFlight].map(([n, a]) => `attack ${n}:\n  ${describeAttack(a)}`).join('\n');
    throw new Error(`the victim died (exit ${victim.exitCode}); reproduce with PEERCOMM_FUZZ_SEED=${FUZZ_SEED}\n${suspects}\nstderr:\n${victim.stderr}`);
  }
  return { attacks: next, handshakesFailed };
}

/** Samples the victim's RSS every 500 ms until stopped; `max` is the highest seen. */
function watchRss(victim: Victim): { stop(): Promise<number> } {
  let max = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped && victim.alive) {
      max = Math.max(max, (await victim.stats()).rss);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return { stop: async () => {
    stopped = true;
    await loop.catch(() => undefined);
    return max;
  } };
}

/** Waits until the victim holds only `sessions` sessions (the attackers' have ended). */
async function settled(victim: Victim, sessions: number): Promise<Awaited<ReturnType<Victim['stats']>>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await victim.stats();
    if (s.stats.sessions <= sessions || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The victim echoes every whole message back (peer.test.ts also has it send chunked messages). */
const VICTIM_APP = { echo: true };

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Generous limits for the fuzzers' many handshakes from 127.0.0.1 (the handshake limit is tested elsewhere). */
const MANY_HANDSHAKES = { rateLimits: { classes: { handshake: { perMinute: 1_000_000, burst: 1_000_000 } } } };

describe.skipIf(process.env.PEERCOMM_NO_NATIVE === '1')('fuzz: an authenticated peer with mutated sealed records (child-process victim)', () => {
  it('a listener survives, serves a pinned honest peer throughout, and stays within its memory', async () => {
    const honestId = Identity.generate();
    const victim = await Victim.start({ entityId: 'victim', trust: [['honest', honestId.publicKey.toString('hex')]], ...MANY_HANDSHAKES }, VICTIM_APP, ['--expose-gc']);
    cleanup.push(() => victim.kill());
    const port = await victim.listen();

    // The honest peer: one session, a message every 20 ms, each echoed back.
    const honest = await Peer.create({ identity: honestId, entityId: 'honest', rateLimits: { classes: { task: { perMinute: 1_000_000, burst: 1_000_000 } } } });
    cleanup.push(() => honest.close());
    const session = await honest.connect(`127.0.0.1:${port}`);
    const echoed = new Set<string>();
    honest.on('message', (m: Message) => {
      if (m.version === '1.1') echoed.add(Buffer.from(m.payload).toString());
    });
    let sent = 0;
    let talking = true;
    const talk = (async () => {
      while (talking) {
        await session.send(`honest ${sent++}`, { type: 'task' });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const retainedBefore = await retainedBytes(victim);
    const baseline = (await victim.stats()).rss;
    const rss = watchRss(victim);

    const { attacks, handshakesFailed } = await fuzzFor('authenticated listener', NET_MS, victim, () => AuthenticatedPeer.connect(port).catch(() => null));
    talking = false;
    await talk;
    const maxRss = await rss.stop();

    // Every honest message came back, on the same session.
    const deadline = Date.now() + 10_000;
    while (echoed.size < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect({ echoed: echoed.size, sessionState: session.state }).toEqual({ echoed: sent, sessionState: 'READY' });
    expect(sent).toBeGreaterThan(20);
    expect(attacks - handshakesFailed).toBeGreaterThan(50);

    const { stats } = await settled(victim, 1);
    const retainedGrowth = (await retainedBytes(victim)) - retainedBefore;
    expect(victim.alive).toBe(true);
    expect(stats.internalErrors).toBe(0);
    expect(Object.keys(stats.sessionErrors).filter((code) => !KNOWN_CODES.has(code))).toEqual([]);
    expect(stats.sessions).toBe(1);
    expect(stats.reassembly.bytesInUse).toBe(0);
    expect(maxRss - baseline).toBeLessThan(RSS_GROWTH_LIMIT);
    expect(retainedGrowth).toBeLessThan(RETAINED_GROWTH_LIMIT);
    if (process.env.PEERCOMM_FUZZ_VERBOSE) {
      console.log(`listener: ${attacks} attacks (${handshakesFailed} handshakes failed), ${sent} honest messages echoed, RSS ${mib(baseline)} -> max ${mib(maxRss)} MiB, retained +${mib(retainedGrowth)} MiB`, stats.sessionErrors);
    }
  }, NET_MS + 60_000);

  it('a client connecting to a malicious listener again and again survives and stays within its memory', async () => {
    const victim = await Victim.start({ entityId: 'client' }, VICTIM_APP, ['--expose-gc']);
    cleanup.push(() => victim.kill());
    const listener = await AuthenticatedPeer.listen();
    cleanup.push(() => listener.close());
    const retainedBefore = await retainedBytes(victim);
    const baseline = (await victim.stats()).rss;
    const rss = watchRss(victim);
    let connected = 0;
    const open = async (): Promise<AuthenticatedPeer | null> => {
      const dialled = victim.connect(listener.port, false).then(() => connected++, () => undefined);
      const evil = await Promise.race([listener.accept(), victim.settle(10_000).then(() => null)]).catch(() => null);
      await dialled;
      return evil;
    };
    const { attacks } = await fuzzFor('malicious listener', Math.round(NET_MS * 0.4), victim, open);
    const maxRss = await rss.stop();
    const { stats } = await settled(victim, 0);
    const retainedGrowth = (await retainedBytes(victim)) - retainedBefore;
    expect(victim.alive).toBe(true);
    expect(connected).toBeGreaterThan(20);
    expect(stats.internalErrors).toBe(0);
    expect(Object.keys(stats.sessionErrors).filter((code) => !KNOWN_CODES.has(code))).toEqual([]);
    expect(stats.reassembly.bytesInUse).toBe(0);
    expect(maxRss - baseline).toBeLessThan(RSS_GROWTH_LIMIT);
    expect(retainedGrowth).toBeLessThan(RETAINED_GROWTH_LIMIT);
    if (process.env.PEERCOMM_FUZZ_VERBOSE) {
      console.log(`client: ${attacks} attacks, ${connected} sessions, RSS ${mib(baseline)} -> max ${mib(maxRss)} MiB, retained +${mib(retainedGrowth)} MiB`, stats.sessionErrors);
    }
  }, NET_MS + 60_000);
});
