/**
 * `peercomm queue` (list, inspect, retry, purge), run as users run it: the built dist/cli/main.js
 * in child processes, on a real SQLite outbox in a temp dir and on a real redis-server.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/queue/redis.js';
import { SqliteStore } from '../../src/queue/sqlite.js';
import type { QueueStore } from '../../src/queue/store.js';
import { runCli } from '../helpers/cli.js';
import { RedisServer, freePort, redisServerBinary } from './redis-server.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-queue-cli-'));
const bin = redisServerBinary();
let redis: RedisServer | null = null;
const now = Date.now();
const quota = { messages: 100, bytes: 1 << 20 };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ids = Array.from({ length: 4 }, (_, i) => Buffer.alloc(16, i + 1));

/** bob: ids[0] (a dead letter, text), ids[1] (binary), ids[2]; carol: ids[3]. */
async function fill(store: QueueStore): Promise<void> {
  const put = (id: Buffer, recipient: string, payload: Buffer) => ({ id, recipient, type: 0x80, payload, createdAt: now, expiresAt: now + 3_600_000 });
  await store.put([
    put(ids[0]!, 'bob', Buffer.from('hello bob')), put(ids[1]!, 'bob', Buffer.from([0, 1, 2, 0xff])),
    put(ids[2]!, 'bob', Buffer.from('third')), put(ids[3]!, 'carol', Buffer.from('hi carol')),
  ], quota, now);
  // Handed out once with maxAttempts 1, the next lease moves it to the dead letters.
  const lease = { owner: 'test', after: 0, max: 1, leaseMs: 1000, maxAttempts: 1 };
  await store.lease('bob', lease, now);
  expect((await store.lease('bob', lease, now)).dead.map(hex)).toEqual([hex(ids[0]!)]);
  await store.release('bob', 'test');
}

beforeAll(async () => {
  const store = SqliteStore.open({ path: path.join(dir, 'agent.key.queue.db') });
  await fill(store);
  await store.close();
  if (bin !== null) {
    redis = new RedisServer(bin);
    await redis.start();
    const r = await RedisStore.open({ url: redis.url, prefix: 'cli' });
    await fill(r);
    await r.close();
  }
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => runCli(['queue', ...args], dir);

describe('peercomm queue', () => {
  it('--help prints the usage (exit 0); the top-level usage names it', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: peercomm queue <command>/);
    expect(r.out).toMatch(/inspect <ID>/);
    expect((await runCli(['--help'], dir)).out).toMatch(/queue list\|inspect\|retry\|purge/);
  });

  it('lists, inspects, retries and purges a SQLite outbox (by default the one next to --key)', async () => {
    const list = await run('list', '--key', 'agent.key');
    expect(list.code).toBe(0);
    const lines = list.out.trim().split('\n');
    expect(lines.slice(0, -1).map((l) => l.split(' ').slice(0, 4).join(' '))).toEqual([
      `${hex(ids[1]!)} bob #2 pending`, `${hex(ids[2]!)} bob #3 pending`, `${hex(ids[3]!)} carol #1 pending`,
    ]);
    expect(lines.at(-1)).toBe('all recipients: 3 pending, 1 dead, 26 B (sqlite)');
    const db = ['--db', 'agent.key.queue.db'];
    const dead = await run('list', 'bob', '--dead', ...db);
    expect(dead.out).toMatch(new RegExp(`^${hex(ids[0]!)} bob #1 dead type 128 9 B attempts 1 created \\S+ expires \\S+\\nbob: 2 pending, 1 dead, 18 B \\(sqlite\\)\\n$`));
    const json = await run('list', 'carol', '--json', ...db);
    expect(JSON.parse(json.out)).toMatchObject({ id: hex(ids[3]!), recipient: 'carol', pos: 1, state: 'pending', size: 8 });

    expect((await run('inspect', hex(ids[0]!), ...db)).out).toMatch(/\npayload text: hello bob\n$/);
    expect((await run('inspect', hex(ids[1]!), ...db)).out).toMatch(/\npayload hex: 000102ff\n$/);
    expect(JSON.parse((await run('inspect', hex(ids[1]!), '--json', ...db)).out).payload).toBe('000102ff');

    expect((await run('retry', 'bob', ...db)).out).toBe('1 dead letter of bob back to pending\n');
    expect((await run('list', 'bob', '--dead', ...db)).out).toBe('bob: 3 pending, 0 dead, 18 B (sqlite)\n');
    expect((await run('purge', 'carol', '--pending', ...db)).out).toBe('purged 1 pending entry of carol\n');
    expect((await run('purge', 'bob', ...db)).out).toBe('purged 0 dead letters of bob\n');
    expect((await run('list', ...db)).out.trim().split('\n').at(-1)).toBe('all recipients: 3 pending, 0 dead, 18 B (sqlite)');
  }, 180_000);

  it('one-line errors: exit 2 for bad arguments, exit 1 for a store that is not there or an unknown id', async () => {
    const bad = [[], ['frobnicate'], ['inspect'], ['inspect', 'abc'], ['retry'], ['retry', 'bob', 'xyz'], ['purge', 'bob', '--dead'],
      ['list', 'a', 'b'], ['list', '--limit', '0'], ['list', '--limit', '1.5'], ['list', '--bogus'], ['list', '--db', 'x', '--redis', 'redis://h:1'],
      ['list', '--redis', 'http://x'], ['list', '--prefix', 'p']];
    const results = await Promise.all(bad.map((args) => run(...args)));
    results.forEach((r, i) => {
      expect([r.code, r.out], bad[i]!.join(' ')).toEqual([2, '']);
      expect(r.err, bad[i]!.join(' ')).toMatch(/^peercomm: [^\n]+ \(see peercomm --help\)\n$/);
    });
    const missing = await run('list', '--db', 'nope.db');
    expect([missing.code, missing.err]).toEqual([1, `peercomm: INVALID_ARGUMENT: no queue database at nope.db (--db FILE, or --key FILE for FILE.queue.db)\n`]);
    expect(existsSync(path.join(dir, 'nope.db'))).toBe(false);
    const unknown = await run('inspect', 'ab'.repeat(16), '--key', 'agent.key');
    expect([unknown.code, unknown.err]).toEqual([1, `peercomm: INVALID_ARGUMENT: no entry ${'ab'.repeat(16)} in the queue (delivered, expired or purged)\n`]);
    const port = await freePort();
    const down = await run('list', '--redis', `redis://127.0.0.1:${port}`, '--timeout', '500');
    expect([down.code, down.err]).toEqual([1, `peercomm: TIMEOUT: cannot reach Redis at redis://127.0.0.1:${port} within 500 ms (--timeout)\n`]);
  }, 180_000);

  it.skipIf(bin === null)('works on a Redis outbox (--redis URL --prefix P)', async () => {
    const at = ['--redis', redis!.url, '--prefix', 'cli'];
    const list = await run('list', 'bob', '--dead', ...at);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${hex(ids[0]!)} bob #1 dead .*\\nbob: 2 pending, 1 dead, 18 B \\(redis\\)\\n$`));
    expect((await run('inspect', hex(ids[0]!), ...at)).out).toMatch(/\npayload text: hello bob\n$/);
    expect((await run('retry', 'bob', hex(ids[0]!), ...at)).out).toBe('1 dead letter of bob back to pending\n');
    expect((await run('purge', 'bob', '--pending', ...at)).out).toBe('purged 3 pending entries of bob\n');
    expect((await run('list', ...at)).out).toMatch(/carol #1 pending .*\nall recipients: 1 pending, 0 dead, 8 B \(redis\)\n$/);
  }, 180_000);
});
