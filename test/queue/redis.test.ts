import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
