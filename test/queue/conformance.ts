/**
 * The one conformance suite every queue backend passes (sqlite.test.ts, redis.test.ts), in
 * virtual time: the store never reads the clock, so `now` is whatever the test says.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PutRequest, QueueStore } from '../../src/queue/store.js';

export interface Backend {
  /** A fresh, empty store. */
  open(): Promise<QueueStore>;
  /** The same store opened again (a restart of the process). */
  reopen(store: QueueStore): Promise<QueueStore>;
}

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
const BIG = { messages: 1e9, bytes: 1e12 };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function msg(recipient: string, size = 10, ttl = HOUR, now = T0): PutRequest {
  return { id: randomBytes(16), recipient, type: 0x04, payload: randomBytes(size), createdAt: now, expiresAt: now + ttl };
}
const lease = (owner: string, after = 0, max = 100, leaseMs = 30_000, maxAttempts = 20) => ({ owner, after, max, leaseMs, maxAttempts });

export function conformance(name: string, backend: Backend): void {
  describe(`queue store conformance: ${name}`, () => {
    it('puts in FIFO positions per recipient; a repeated id is idempotent', async () => {
      const s = await backend.open();
      const a = [msg('bob'), msg('bob'), msg('carol'), msg('bob')];
      const r = await s.put(a, BIG, T0);
      expect(r).toEqual([{ ok: true, pos: 1 }, { ok: true, pos: 2 }, { ok: true, pos: 1 }, { ok: true, pos: 3 }]);
      expect(await s.put([a[1]!], BIG, T0)).toEqual([{ ok: true, pos: 2 }]);
      expect(await s.usage('bob')).toEqual({ messages: 3, bytes: 30, dead: 0 });
      expect(await s.usage()).toEqual({ messages: 4, bytes: 40, dead: 0 });
      expect((await s.recipients()).sort()).toEqual(['bob', 'carol']);
      const got = await s.get(a[0]!.id);
      expect(got && hex(got.payload)).toBe(hex(a[0]!.payload));
      expect(got?.state).toBe('pending');
      await s.close();
    });

    it('refuses over the message and byte quotas, per recipient, storing nothing', async () => {
      const s = await backend.open();
      const quota = { messages: 2, bytes: 25 };
      const r = await s.put([msg('bob'), msg('bob'), msg('bob'), msg('carol', 20), msg('carol', 10)], quota, T0);
      expect(r.map((x) => (x.ok ? 'ok' : x.limit))).toEqual(['ok', 'ok', 'messages', 'ok', 'bytes']);
      expect(await s.usage('bob')).toEqual({ messages: 2, bytes: 20, dead: 0 });
      expect(await s.usage('carol')).toEqual({ messages: 1, bytes: 20, dead: 0 });
      // Acknowledged entries free their quota.
      const [first] = await s.list('bob', 'pending', 1);
      await s.ack('bob', [first!.id]);
      expect((await s.put([msg('bob')], quota, T0))[0]!.ok).toBe(true);
      await s.close();
    });

    it('leases the oldest entries in order after a position, counting attempts', async () => {
      const s = await backend.open();
      const a = Array.from({ length: 5 }, () => msg('bob'));
      await s.put(a, BIG, T0);
      const l1 = await s.lease('bob', lease('p1', 0, 3), T0);
      expect(l1.held).toBe(true);
      expect(l1.entries.map((e) => e.pos)).toEqual([1, 2, 3]);
      expect(l1.entries.map((e) => hex(e.id))).toEqual(a.slice(0, 3).map((m) => hex(m.id)));
      expect(l1.entries.every((e) => e.attempts === 1 && e.recipient === 'bob' && e.type === 0x04)).toBe(true);
      expect(hex(l1.entries[0]!.payload)).toBe(hex(a[0]!.payload));
      const l2 = await s.lease('bob', lease('p1', 3, 10), T0 + 1);
      expect(l2.entries.map((e) => e.pos)).toEqual([4, 5]);
      const l3 = await s.lease('bob', lease('p1', 0, 10), T0 + 2);
      expect(l3.entries.map((e) => e.attempts)).toEqual([2, 2, 2, 2, 2]);
      await s.close();
    });

    it('lease take-over: a second owner gets nothing while the lease runs, everything after it expired or was released', async () => {
      const s = await backend.open();
      await s.put([msg('bob'), msg('bob')], BIG, T0);
      expect((await s.lease('bob', lease('p1', 0, 10, 1000), T0)).entries).toHaveLength(2);
      const blocked = await s.lease('bob', lease('p2', 0, 10, 1000), T0 + 999);
      expect(blocked).toEqual({ held: false, entries: [], expired: [], dead: [] });
      // The holder renews it by leasing again.
      await s.lease('bob', lease('p1', 2, 10, 1000), T0 + 900);
      expect((await s.lease('bob', lease('p2', 0, 10, 1000), T0 + 1899)).held).toBe(false);
      // p1 died: its lease runs out, p2 takes over and gets every unacknowledged entry.
      const taken = await s.lease('bob', lease('p2', 0, 10, 1000), T0 + 1900);
      expect(taken.held).toBe(true);
      expect(taken.entries.map((e) => e.pos)).toEqual([1, 2]);
      expect((await s.lease('bob', lease('p1', 0, 10, 1000), T0 + 1901)).held).toBe(false);
      // Released: another owner may lease at once; a release by a non-holder does nothing.
      await s.release('bob', 'p1');
      expect((await s.lease('bob', lease('p1', 0, 10, 1000), T0 + 1902)).held).toBe(false);
      await s.release('bob', 'p2');
      expect((await s.lease('bob', lease('p1', 0, 10, 1000), T0 + 1903)).held).toBe(true);
      await s.close();
    });

    it('acks remove only the entries of that recipient', async () => {
      const s = await backend.open();
      const b = msg('bob', 7);
      const c = msg('carol', 9);
      await s.put([b, c], BIG, T0);
      expect(await s.ack('bob', [c.id])).toEqual([]);
      expect(await s.usage('carol')).toEqual({ messages: 1, bytes: 9, dead: 0 });
      expect((await s.ack('bob', [b.id, b.id, randomBytes(16)])).map(hex)).toEqual([hex(b.id)]);
      expect(await s.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });
      expect(await s.recipients()).toEqual(['carol']);
      expect(await s.get(b.id)).toBeNull();
      await s.close();
    });

    it('expiry: expired entries are never leased, and sweep removes them', async () => {
      const s = await backend.open();
      const short = msg('bob', 10, 1000);
      const long = msg('bob', 10, HOUR);
      const other = msg('carol', 10, 500);
      await s.put([short, long, other], BIG, T0);
      const l = await s.lease('bob', lease('p1'), T0 + 1000);
      expect(l.expired.map(hex)).toEqual([hex(short.id)]);
      expect(l.entries.map((e) => hex(e.id))).toEqual([hex(long.id)]);
      const swept = await s.sweep(T0 + 2000, 100);
      expect(swept.expired.map((e) => [e.recipient, hex(e.id)])).toEqual([['carol', hex(other.id)]]);
      expect(await s.usage()).toEqual({ messages: 1, bytes: 10, dead: 0 });
      await s.close();
    });

    it('dead letters after maxAttempts; list, retry and purge them', async () => {
      const s = await backend.open();
      const a = [msg('bob'), msg('bob')];
      await s.put(a, BIG, T0);
      for (let i = 0; i < 3; i++) expect((await s.lease('bob', lease('p1', 0, 1, 30_000, 3), T0 + i)).entries).toHaveLength(1);
      const l = await s.lease('bob', lease('p1', 0, 1, 30_000, 3), T0 + 10);
      expect(l.dead.map(hex)).toEqual([hex(a[0]!.id)]);
      expect(l.entries.map((e) => hex(e.id))).toEqual([hex(a[1]!.id)]);
      expect(await s.usage('bob')).toEqual({ messages: 1, bytes: 20, dead: 1 });
      const dead = await s.list('bob', 'dead', 10);
      expect(dead.map((e) => [hex(e.id), e.state, e.attempts])).toEqual([[hex(a[0]!.id), 'dead', 3]]);
      expect((await s.list(undefined, 'pending', 10)).map((e) => hex(e.id))).toEqual([hex(a[1]!.id)]);
      // Dead letters count against the quota.
      expect((await s.put([msg('bob')], { messages: 2, bytes: 1e9 }, T0))[0]).toEqual({ ok: false, limit: 'messages' });
      expect(await s.retry('bob')).toBe(1);
      expect(await s.usage('bob')).toEqual({ messages: 2, bytes: 20, dead: 0 });
      const again = await s.lease('bob', lease('p1', 0, 10, 30_000, 3), T0 + 20);
      expect(again.entries.map((e) => [e.pos, e.attempts])).toEqual([[1, 1], [2, 2]]);
      expect(again.dead).toEqual([]);
      expect(await s.purge('bob', 'pending')).toBe(2);
      expect(await s.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });
      await s.close();
    });

    it('receiver seen set: new, duplicate, redeliver, gap, full, epochs, expiry', async () => {
      const s = await backend.open();
      const e1 = randomBytes(8);
      const ids = Array.from({ length: 4 }, () => randomBytes(16));
      const req = (i: number, pos: number, prev: number, epoch = e1, sender = 'fpA') => ({ sender, epoch, id: ids[i]!, pos, prev, keepUntil: T0 + HOUR });
      // Message 2 (prev 1) before message 1 arrived: a gap; then in order.
      expect(await s.accept([req(1, 2, 1), req(0, 1, 0), req(1, 2, 1)], 10, T0)).toEqual(['gap', 'new', 'new']);
      // Seen but not handled (the receiver died before its handler finished): redeliver.
      expect(await s.accept([req(0, 1, 0)], 10, T0)).toEqual(['redeliver']);
      await s.handled([{ sender: 'fpA', id: ids[0]! }]);
      expect(await s.accept([req(0, 1, 0), req(1, 2, 1)], 10, T0)).toEqual(['duplicate', 'redeliver']);
      // Another sender with the same id is another message.
      expect(await s.accept([req(0, 1, 0, e1, 'fpB')], 10, T0)).toEqual(['new']);
      // A new outbox (epoch) starts from position 0 again.
      const e2 = randomBytes(8);
      expect(await s.accept([req(2, 5, 4, e2), req(2, 1, 0, e2)], 10, T0)).toEqual(['gap', 'new']);
      // The cap per sender: refused, not recorded.
      expect(await s.accept([req(3, 2, 1, e2)], 3, T0)).toEqual(['full']);
      expect(await s.accept([req(3, 2, 1, e2)], 4, T0)).toEqual(['new']);
      // Ids leave the set after keepUntil; the count falls with them.
      const swept = await s.sweep(T0 + HOUR, 100);
      expect(swept.seenPruned).toBe(5);
      expect(await s.accept([req(0, 1, 0, e1, 'fpB')], 1, T0 + HOUR)).toEqual(['new']);
      await s.close();
    });

    it('batches: one put of many entries (repeats inside it, a quota reached half-way), leases in slices, one ack of mixed ids', async () => {
      const s = await backend.open();
      const bob = Array.from({ length: 300 }, () => msg('bob'));
      const carol = Array.from({ length: 5 }, () => msg('carol'));
      const batch = [...bob.slice(0, 150), carol[0]!, bob[7]!, ...bob.slice(150), ...carol.slice(1)];
      const r = await s.put(batch, { messages: 250, bytes: 1e9 }, T0);
      const want = [
        ...bob.slice(0, 150).map((_, i) => ({ ok: true, pos: i + 1 })), { ok: true, pos: 1 }, { ok: true, pos: 8 },
        ...bob.slice(150).map((_, i) => (i < 100 ? { ok: true, pos: 151 + i } : { ok: false, limit: 'messages' })),
        ...carol.slice(1).map((_, i) => ({ ok: true, pos: i + 2 })),
      ];
      expect(r).toEqual(want);
      expect(await s.usage('bob')).toEqual({ messages: 250, bytes: 2500, dead: 0 });
      // The refused ones can be put again once there is room; a stored one keeps its position.
      expect(await s.put([bob[260]!, bob[3]!], BIG, T0)).toEqual([{ ok: true, pos: 251 }, { ok: true, pos: 4 }]);
      // Slices of a pass, then a new pass from the start: handed out once more than before, no more.
      const l1 = await s.lease('bob', lease('p1', 0, 100), T0);
      const l2 = await s.lease('bob', lease('p1', 100, 100), T0);
      expect([...l1.entries, ...l2.entries].map((e) => [e.pos, e.attempts])).toEqual(Array.from({ length: 200 }, (_, i) => [i + 1, 1]));
      const l3 = await s.lease('bob', lease('p1', 0, 251), T0);
      expect(l3.entries.map((e) => e.attempts)).toEqual([...Array(200).fill(2), ...Array(51).fill(1)]);
      expect((await s.list('bob', 'pending', 300)).map((e) => e.attempts)).toEqual([...Array(200).fill(2), ...Array(51).fill(1)]);
      // One ack: bob's own (one twice), carol's, an unknown id: only bob's are removed, once each.
      const acked = [bob[0]!.id, bob[1]!.id, carol[0]!.id, randomBytes(16), bob[1]!.id, ...bob.slice(2, 100).map((m) => m.id)];
      const removed = await s.ack('bob', acked);
      expect(removed.map(hex)).toEqual(bob.slice(0, 100).map((m) => hex(m.id)));
      expect(await s.usage('bob')).toEqual({ messages: 151, bytes: 1510, dead: 0 });
      expect(await s.usage('carol')).toEqual({ messages: 5, bytes: 50, dead: 0 });
      const rest = await s.lease('bob', lease('p1', 0, 1000), T0);
      expect(rest.entries.map((e) => e.pos)).toEqual([...Array.from({ length: 150 }, (_, i) => i + 101), 251]);
      // With the positions they were leased at (a hint): a run goes at once. A wrong hint (bob[150]
      // said to be at 160, where bob[159] is) removes bob[150] only, never what is at 160.
      const run = bob.slice(100, 150);
      const hinted = [...run.map((m) => m.id), bob[150]!.id, randomBytes(16)];
      const removedRun = await s.ack('bob', hinted, [...run.map((_, i) => 101 + i), 160, 170]);
      expect(removedRun.map(hex).sort()).toEqual([...run, bob[150]!].map((m) => hex(m.id)).sort());
      expect(await s.usage('bob')).toEqual({ messages: 100, bytes: 1000, dead: 0 });
      const left = await s.lease('bob', lease('p1', 0, 1000), T0);
      expect(left.entries.map((e) => e.pos)).toEqual([...Array.from({ length: 99 }, (_, i) => i + 152), 251]);
      await s.close();
    });

    it('batches: one accept of many messages (a repeat inside it), handled, then all duplicates', async () => {
      const s = await backend.open();
      const epoch = randomBytes(8);
      const ids = Array.from({ length: 300 }, () => randomBytes(16));
      const req = (i: number) => ({ sender: 'fpA', epoch, id: ids[i]!, pos: i + 1, prev: i, keepUntil: T0 + HOUR });
      const batch = [...ids.map((_, i) => req(i)), req(5)];
      expect(await s.accept(batch, 1000, T0)).toEqual([...Array(300).fill('new'), 'redeliver']);
      await s.handled(ids.slice(0, 299).map((id) => ({ sender: 'fpA', id })));
      expect(await s.accept(batch, 1000, T0)).toEqual([...Array(299).fill('duplicate'), 'redeliver', 'duplicate']);
      // The cap counts the whole batch.
      const more = Array.from({ length: 3 }, (_, i) => ({ sender: 'fpA', epoch, id: randomBytes(16), pos: 301 + i, prev: 300 + i, keepUntil: T0 + HOUR }));
      expect(await s.accept(more, 302, T0)).toEqual(['new', 'new', 'full']);
      await s.close();
    });

    it('survives a reopen: epoch, entries, positions, seen ids', async () => {
      const s = await backend.open();
      const a = [msg('bob'), msg('bob')];
      await s.put(a, BIG, T0);
      const seenId = randomBytes(16);
      await s.accept([{ sender: 'fp', epoch: randomBytes(8), id: seenId, pos: 1, prev: 0, keepUntil: T0 + HOUR }], 10, T0);
      await s.handled([{ sender: 'fp', id: seenId }]);
      const epoch = hex(s.epoch);
      const r = await backend.reopen(s);
      expect(hex(r.epoch)).toBe(epoch);
      expect((await r.put([msg('bob')], BIG, T0))[0]).toEqual({ ok: true, pos: 3 });
      expect((await r.lease('bob', lease('p9'), T0)).entries.map((e) => hex(e.id)).slice(0, 2)).toEqual(a.map((m) => hex(m.id)));
      expect(await r.accept([{ sender: 'fp', epoch: randomBytes(8), id: seenId, pos: 1, prev: 0, keepUntil: T0 + HOUR }], 10, T0)).toEqual(['duplicate']);
      await r.close();
    });
  });
}
