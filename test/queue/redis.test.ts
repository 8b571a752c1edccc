import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, PeerError } from '../../src/errors.js';
import { RedisStore } from '../../src/queue/redis.js';
import type { QueueStore } from '../../src/queue/store.js';
import { conformance } from './conformance.js';
import { RedisServer, redisServerBinary } from './redis-server.js';

const bin = redisServerBinary();
const server = bin === null ? null : new RedisServer(bin);
beforeAll(async () => server?.start());
afterAll(async () => server?.stop());

let n = 0;
const prefixes = new WeakMap<QueueStore, string>();

if (server !== null) {
  conformance('redis', {
    async open() {
      const prefix = `t${n++}`;
      const s = await RedisStore.open({ url: server.url, prefix });
      prefixes.set(s, prefix);
      return s;
    },
    async reopen(store) {
      await store.close();
      // A restart of Redis itself: SIGKILL, then the same directory (AOF).
      await server.kill();
      await server.start();
      const s = await RedisStore.open({ url: server.url, prefix: prefixes.get(store)! });
      prefixes.set(s, prefixes.get(store)!);
      return s;
    },
  });

  describe('redis key layout', () => {
    it('refuses a prefix holding entries of the layout before 2, or of a layout it does not know; takes over an empty old outbox under a new epoch', async () => {
      const raw = createClient({ url: server.url });
      await raw.connect();
      try {
        // What layout 1 left for one pending entry (its expiry set, entry hash and payload).
        await raw.sendCommand(['SET', '{old}:epoch', '00112233445566ff']);
        await raw.sendCommand(['ZADD', '{old}:exp', '1700000000000', 'ab'.repeat(16)]);
        await raw.sendCommand(['HSET', `{old}:m:${'ab'.repeat(16)}`, 'r', 'bob', 'pos', '1']);
        const refused = await RedisStore.open({ url: server.url, prefix: 'old' }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(PeerError);
        expect((refused as PeerError).code).toBe(ErrorCode.INVALID_STATE);
        expect((refused as PeerError).message).toMatch(/\{old\}.*layout.*before layout 2/);
        expect(await raw.sendCommand(['EXISTS', `{old}:m:${'ab'.repeat(16)}`])).toBe(1); // nothing touched

        await raw.sendCommand(['SET', '{future}:layout', '4']);
        const future = await RedisStore.open({ url: server.url, prefix: 'future' }).catch((e: unknown) => e);
        expect((future as PeerError).code).toBe(ErrorCode.INVALID_STATE);
        expect((future as PeerError).message).toMatch(/layout 4/);

        // An old outbox with nothing in it: opened, with a new epoch (positions start again at 1).
        await raw.sendCommand(['SET', '{empty}:epoch', '00112233445566ff']);
        const s = await RedisStore.open({ url: server.url, prefix: 'empty' });
        expect(Buffer.from(s.epoch).toString('hex')).not.toBe('00112233445566ff');
        expect(await raw.sendCommand(['GET', '{empty}:layout'])).toBe('3');
        await s.close();
        const again = await RedisStore.open({ url: server.url, prefix: 'empty' });
        expect(Buffer.from(again.epoch).toString('hex')).toBe(Buffer.from(s.epoch).toString('hex'));
        await again.close();
      } finally {
        await raw.close();
      }
    });
  });

  describe('redis key layout 2 → 3', () => {
    it('migrates a layout-2 outbox in place: order, holes, dead letters, per-entry expiry members, then new entries in blocks', async () => {
      const raw = createClient({ url: server.url });
      await raw.connect();
      const T0 = 1_700_000_000_000;
      const HOUR = 3_600_000;
      const ids = [1, 2, 3, 4].map((i) => Buffer.alloc(16, i));
      const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
      // A layout-2 entry: id, expiry and creation (15 digits each), type (3 digits), payload.
      const entry = (i: number, expires: number) => Buffer.concat([ids[i]!, Buffer.from(`${String(expires).padStart(15, '0')}${String(T0).padStart(15, '0')}004`), Buffer.from(`payload${i}`)]);
      const expiry = [T0 + 1000, T0 + HOUR, T0 + HOUR, T0 + HOUR];
      try {
        // bob: positions 1..4; 2 acknowledged out of order, 4 a dead letter, 1 and 3 pending.
        const cmds: (string | Buffer)[][] = [
          ['SET', '{mig}:layout', '2'], ['SET', '{mig}:epoch', '00112233445566ff'], ['SADD', '{mig}:rc', 'bob'],
          ['HSET', '{mig}:e:bob', '1', entry(0, expiry[0]!), '3', entry(2, expiry[2]!), '4', entry(3, expiry[3]!)],
          ['HSET', '{mig}:i:bob', ids[0]!, '1 8', ids[2]!, '3 8', ids[3]!, '4 8'],
          ['ZADD', '{mig}:o:bob', '1', '1', '3', '3'], ['ZADD', '{mig}:dl:bob', '4', '4'],
          ['ZADD', '{mig}:x:bob', String(expiry[0]), '1', String(expiry[2]), '3', String(expiry[3]), '4'],
          ['HSET', '{mig}:u:bob', 'messages', '2', 'dead', '1', 'bytes', '24', 'seq', '4', 'sent', '4'],
        ];
        for (const c of cmds) await raw.sendCommand(c);
        const s = await RedisStore.open({ url: server.url, prefix: 'mig' });
        expect(Buffer.from(s.epoch).toString('hex')).toBe('00112233445566ff'); // same outbox: receivers' order state holds
        expect(await raw.sendCommand(['GET', '{mig}:layout'])).toBe('3');
        expect(await raw.sendCommand(['EXISTS', '{mig}:o:bob'])).toBe(0);
        expect(await s.usage('bob')).toEqual({ messages: 2, bytes: 24, dead: 1 });
        expect((await s.list('bob', 'pending', 10)).map((e) => e.pos)).toEqual([1, 3]);
        expect((await s.list('bob', 'dead', 10)).map((e) => e.pos)).toEqual([4]);

        // A new entry goes to position 5; the sweep expires position 1 through its layout-2 member.
        const fresh = { id: Buffer.alloc(16, 5), recipient: 'bob', type: 4, payload: Buffer.from('payload5'), createdAt: T0, expiresAt: T0 + HOUR };
        expect(await s.put([fresh], { messages: 100, bytes: 1e6 }, T0)).toEqual([{ ok: true, pos: 5 }]);
        const swept = await s.sweep(T0 + 2000, 100);
        expect(swept.expired.map((e) => hex(e.id))).toEqual([hex(ids[0]!)]);
        const l = await s.lease('bob', { owner: 'p', after: 0, max: 10, leaseMs: 30_000, maxAttempts: 20 }, T0 + 3000);
        expect(l.entries.map((e) => [e.pos, hex(e.id)])).toEqual([[3, hex(ids[2]!)], [5, hex(fresh.id)]]);
        expect((await s.ack('bob', [ids[2]!, fresh.id])).length).toBe(2);
        expect(await s.retry('bob')).toBe(1);
        const again = await s.lease('bob', { owner: 'p', after: 0, max: 10, leaseMs: 30_000, maxAttempts: 20 }, T0 + 4000);
        expect(again.entries.map((e) => [e.pos, e.attempts])).toEqual([[4, 1]]);
        expect(await s.ack('bob', [ids[3]!])).toHaveLength(1);
        expect(await s.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });
        // Nothing left behind: no expiry member, no block count.
        expect(await raw.sendCommand(['ZCARD', '{mig}:x:bob'])).toBe(0);
        expect(await raw.sendCommand(['EXISTS', '{mig}:xc:bob'])).toBe(0);
        await s.close();
      } finally {
        await raw.close();
      }
    });

    it('expiry blocks: the sweep removes expired entries among live ones and keeps the block for the rest', async () => {
      const s = await RedisStore.open({ url: server!.url, prefix: `blk${n++}` });
      const T0 = 1_700_000_000_000;
      const id = (i: number) => { const b = Buffer.alloc(16); b.writeUInt16BE(i, 0); return b; };
      // 300 entries over three blocks of 128 positions; every third one short-lived.
      const reqs = Array.from({ length: 300 }, (_, i) => ({ id: id(i), recipient: 'bob', type: 4, payload: Buffer.from('x'), createdAt: T0, expiresAt: T0 + (i % 3 === 0 ? 1000 : 60_000) }));
      await s.put(reqs, { messages: 1000, bytes: 1e6 }, T0);
      // At most `limit` per sweep; the rest at the next one.
      expect((await s.sweep(T0 + 2000, 30)).expired).toHaveLength(30);
      expect((await s.sweep(T0 + 2000, 1000)).expired).toHaveLength(70);
      expect(await s.usage('bob')).toEqual({ messages: 200, bytes: 200, dead: 0 });
      expect((await s.sweep(T0 + 2000, 1000)).expired).toHaveLength(0);
      const l = await s.lease('bob', { owner: 'p', after: 0, max: 1000, leaseMs: 30_000, maxAttempts: 20 }, T0 + 3000);
      expect(l.entries.map((e) => e.pos)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1).filter((p) => (p - 1) % 3 !== 0));
      expect((await s.sweep(T0 + 61_000, 1000)).expired).toHaveLength(200);
      expect(await s.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });
      await s.close();
    });
  });

  describe('redis seen-set expiry', () => {
    it('keeps one expiry member per sender and accept batch, until the latest keep-until in it; a sweep prunes at most its limit', async () => {
      const s = await RedisStore.open({ url: server!.url, prefix: `seen${n++}` });
      const T0 = 1_700_000_000_000;
      const epoch = Buffer.alloc(8, 1);
      const ids = Array.from({ length: 10 }, (_, i) => Buffer.alloc(16, i + 1));
      const req = (i: number, keep: number) => ({ sender: 'fpA', epoch, id: ids[i]!, pos: i + 1, prev: i, keepUntil: T0 + keep });
      // One batch of 10: nine kept an hour, one two hours: all stay until the later.
      expect(await s.accept(ids.map((_, i) => req(i, i === 9 ? 7_200_000 : 3_600_000)), 100, T0)).toEqual(Array(10).fill('new'));
      await s.handled(ids.map((id) => ({ sender: 'fpA', id })));
      expect((await s.sweep(T0 + 3_600_000, 100)).seenPruned).toBe(0);
      expect(await s.accept([req(0, 1000)], 100, T0)).toEqual(['duplicate']);
      expect((await s.sweep(T0 + 7_200_000, 4)).seenPruned).toBe(4);
      expect((await s.sweep(T0 + 7_200_000, 4)).seenPruned).toBe(4);
      // Ids 0–7 left the set (and the count: a cap of 2 admits a new one), 8 and 9 are still seen.
      expect(await s.accept([req(8, 1000), req(0, 9_000_000)], 3, T0 + 7_200_000)).toEqual(['duplicate', 'new']);
      expect((await s.sweep(T0 + 7_200_000, 4)).seenPruned).toBe(2);
      await s.close();
    });
  });

  describe('redis handled marks', () => {
    it('are written with the next accept, or shortly after without one, or at close', async () => {
      const raw = createClient({ url: server!.url });
      await raw.connect();
      const prefix = `mark${n++}`;
      const s = await RedisStore.open({ url: server!.url, prefix });
      const T0 = 1_700_000_000_000;
      const epoch = Buffer.alloc(8, 1);
      const ids = [1, 2, 3].map((i) => Buffer.alloc(16, i));
      const req = (i: number) => ({ sender: 'fpA', epoch, id: ids[i]!, pos: i + 1, prev: i, keepUntil: T0 + 3_600_000 });
      const flag = (i: number) => raw.sendCommand(['HGET', `{${prefix}}:seen:fpA`, ids[i]!.toString('hex')]);
      try {
        expect(await s.accept([req(0)], 100, T0)).toEqual(['new']);
        await s.handled([{ sender: 'fpA', id: ids[0]! }]);
        // The next accept writes the mark before it checks: a copy in it is a duplicate.
        expect(await s.accept([req(0), req(1)], 100, T0)).toEqual(['duplicate', 'new']);
        expect(await flag(0)).toBe('1');
        // No accept follows: the mark is written anyway (after a short delay; waited for, not timed).
        await s.handled([{ sender: 'fpA', id: ids[1]! }]);
        for (let i = 0; i < 200 && (await flag(1)) !== '1'; i++) await new Promise((r) => setTimeout(r, 25));
        expect(await flag(1)).toBe('1');
        // At close.
        expect(await s.accept([req(2)], 100, T0)).toEqual(['new']);
        await s.handled([{ sender: 'fpA', id: ids[2]! }]);
        await s.close();
        expect(await flag(2)).toBe('1');
      } finally {
        await raw.close();
      }
    });
  });

  describe('redis persistence check', () => {
    it('warns loudly when AOF is off', async () => {
      const noAof = new RedisServer(bin!, false);
      await noAof.start();
      try {
        const warnings: string[] = [];
        const s = await RedisStore.open({ url: noAof.url, warn: (m) => warnings.push(m) });
        await s.close();
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/without AOF/);
        const quiet: string[] = [];
        await (await RedisStore.open({ url: server.url, warn: (m) => quiet.push(m) })).close();
        expect(quiet).toEqual([]);
      } finally {
        await noAof.stop();
      }
    });
  });
} else {
  describe.skip('redis queue store (no redis-server)', () => {
    it('skipped', () => undefined);
  });
}
