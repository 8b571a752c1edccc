/**
 * Issue 12 "done when": kill -9 of the remote mid-traffic makes every unacknowledged ack: true
 * send reject with its id (SESSION_CLOSED); none stays pending, none resolves without its ack.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, PeerError } from '../../src/index.js';
import { Victim } from '../helpers/victim.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('kill -9 of the remote', () => {
  it('every ack: true send still unacknowledged rejects with its id', async () => {
    const remote = await Victim.start({ entityId: 'remote', rateLimits: { classes: { task: 'unlimited' } } });
    cleanup.push(() => remote.kill());
    const port = await remote.listen();
    const client = await Peer.create({ entityId: 'client' });
    cleanup.push(() => client.close());
    const session = await client.connect(`127.0.0.1:${port}`);
    const ids: string[] = [];
    const sends: Promise<number>[] = [];
    let killed = false;
    for (let i = 0; !killed && i < 200_000; i++) {
      const id = i.toString(16).padStart(32, '0');
      ids.push(id);
      const p = session.send(Buffer.alloc(512, i & 0xff), { type: 'task', ack: true, id });
      p.catch(() => undefined); // settled below with allSettled
      sends.push(p);
      if (i === 3000) void remote.kill().then(() => (killed = true));
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    const outcomes = await Promise.allSettled(sends);
    let acked = 0;
    let rejected = 0;
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') {
        acked++;
        return;
      }
      rejected++;
      const e = o.reason as PeerError;
      expect(e).toBeInstanceOf(PeerError);
      expect(e.code).toBe('SESSION_CLOSED');
      expect(e.details?.id).toBe(ids[i]);
    });
    expect(acked).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
