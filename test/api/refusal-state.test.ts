/**
 * Issue 10 ("Error records fill unbounded maps"): an authenticated stranger floods a victim
 * (child process, 256 MiB heap) with non-fatal error records naming made-up message ids and
 * made-up rate classes. Refusal and back-off state is kept only for messages really outgoing
 * and for known classes, so the victim's retained heap stays flat (on the old code it grew
 * ~13x the bytes sent and the victim aborted).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { wire } from '../../src/index.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';
import { Victim } from '../helpers/victim.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const MiB = 1024 * 1024;

describe('error records cannot grow the victim', () => {
  it('200,000 RATE_LIMITED / CHUNK_ERROR records with made-up ids and classes: retained heap < 32 MiB more, victim alive', async () => {
    const victim = await Victim.start({ entityId: 'victim' }, {}, ['--expose-gc', '--max-old-space-size=256']);
    cleanup.push(() => victim.kill());
    const port = await victim.listen();
    const evil = await AuthenticatedPeer.connect(port);
    cleanup.push(() => evil.close());
    const before = await victim.retained();
    let sent = 0;
    for (let batch = 0; batch < 100; batch++) {
      const records: Buffer[] = [];
      for (let i = 0; i < 2000; i++) {
        const k = batch * 2000 + i;
        const payload = k % 2 === 0
          ? { code: 'RATE_LIMITED', reason: 'x'.repeat(64), seq: 2 ** 40 + k, messageId: k, retryAfter: 2 ** 40, rateClass: `c${k.toString(36).padStart(30, '0')}` }
          : { code: 'CHUNK_ERROR', reason: 'y'.repeat(64), messageId: 2 ** 45 + k };
        records.push(evil.seal(wire.FrameType.Error, encodeErrorPayload(payload)));
      }
      const chunk = Buffer.concat(records);
      sent += chunk.length;
      if (!evil.raw.socket.write(chunk)) await new Promise((r) => evil.raw.socket.once('drain', r));
    }
    await victim.settle(1500);
    expect(victim.alive).toBe(true);
    const after = await victim.retained();
    expect(sent).toBeGreaterThan(28 * MiB);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MiB);
  });
});
