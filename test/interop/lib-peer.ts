// What the interop tests share on peercomm's side: a Peer recording what it receives, and
// cleanups run after each test.
import { afterEach } from 'vitest';

export const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

export async function waitFor(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error('waitFor timed out'); await new Promise((r) => setTimeout(r, 10)); }
}

/** A peercomm Peer (closed after the test) with the messages and sessions it got. */
export async function libPeer(entityId = 'lib') {
  const { Peer } = await import('../../src/index.js');
  const p = await Peer.create({ entityId });
  cleanups.push(() => p.close());
  const messages: any[] = [], sessions: any[] = [];
  p.on('message', (m: any) => messages.push(m));
  p.on('session', (s: any) => sessions.push(s));
  return { p, messages, sessions };
}
