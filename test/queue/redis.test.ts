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

        await raw.sendCommand(['SET', '{future}:layout', '3']);
        const future = await RedisStore.open({ url: server.url, prefix: 'future' }).catch((e: unknown) => e);
        expect((future as PeerError).code).toBe(ErrorCode.INVALID_STATE);
        expect((future as PeerError).message).toMatch(/layout 3/);

        // An old outbox with nothing in it: opened, with a new epoch (positions start again at 1).
        await raw.sendCommand(['SET', '{empty}:epoch', '00112233445566ff']);
        const s = await RedisStore.open({ url: server.url, prefix: 'empty' });
        expect(Buffer.from(s.epoch).toString('hex')).not.toBe('00112233445566ff');
        expect(await raw.sendCommand(['GET', '{empty}:layout'])).toBe('2');
        await s.close();
        const again = await RedisStore.open({ url: server.url, prefix: 'empty' });
        expect(Buffer.from(again.epoch).toString('hex')).toBe(Buffer.from(s.epoch).toString('hex'));
        await again.close();
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
