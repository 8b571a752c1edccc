import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, SqliteStore } from '../../src/queue/sqlite.js';
import type { QueueStore } from '../../src/queue/store.js';
import { conformance } from './conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const paths = new WeakMap<QueueStore, string>();
let n = 0;

conformance('sqlite', {
  async open() {
    const file = path.join(dir, `q${n++}.db`);
    const s = SqliteStore.open({ path: file });
    paths.set(s, file);
    return s;
  },
  async reopen(store) {
    await store.close();
    const s = SqliteStore.open({ path: paths.get(store)!, durability: 'full' });
    paths.set(s, paths.get(store)!);
    return s;
  },
});

describe('sqlite schema versions', () => {
  // The schema of the first queue release (97ffe18): no recipients.sent, no user_version; its
  // leases counted every hand-out in outbox.attempts.
  const V0_SCHEMA = `
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE outbox (
  id BLOB NOT NULL UNIQUE, recipient TEXT NOT NULL, pos INTEGER NOT NULL, type INTEGER NOT NULL,
  payload BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX outbox_fifo ON outbox (recipient, dead, pos);
CREATE INDEX outbox_expiry ON outbox (expires_at);
CREATE TABLE recipients (
  recipient TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0);
CREATE TABLE seen (
  sender TEXT NOT NULL, id BLOB NOT NULL, keep_until INTEGER NOT NULL, handled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (sender, id)) WITHOUT ROWID;
CREATE INDEX seen_expiry ON seen (keep_until);
CREATE TABLE senders (sender TEXT PRIMARY KEY, epoch BLOB, last INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0);
`;
  const T = 1_700_000_000_000;
  const id = (n: number) => Buffer.alloc(16, n);

  it('opens a file of the first release (no recipients.sent, user_version 0): migrated, its entries leased with the attempts they had', async () => {
    const file = path.join(dir, 'v0.db');
    const old = new Database(file);
    old.exec(V0_SCHEMA);
    old.prepare("INSERT INTO meta (k, v) VALUES ('epoch', ?)").run(Buffer.alloc(8, 9));
    const ins = old.prepare('INSERT INTO outbox (id, recipient, pos, type, payload, created_at, expires_at, attempts) VALUES (?, ?, ?, 4, ?, ?, ?, ?)');
    ins.run(id(1), 'bob', 1, Buffer.from('one'), T, T + 3_600_000, 2); // handed out twice by the old code
    ins.run(id(2), 'bob', 2, Buffer.from('two'), T, T + 3_600_000, 0);
    old.prepare("INSERT INTO recipients (recipient, seq, messages, bytes) VALUES ('bob', 2, 2, 6)").run();
    old.prepare("INSERT INTO seen (sender, id, keep_until, handled) VALUES ('ab', ?, ?, 1)").run(id(7), T + 3_600_000);
    old.close();

    const s = SqliteStore.open({ path: file });
    expect(Buffer.from(s.epoch)).toEqual(Buffer.alloc(8, 9));
    const l = await s.lease('bob', { owner: 'o', after: 0, max: 10, leaseMs: 30_000, maxAttempts: 3 }, T);
    expect(l.entries.map((e) => [e.pos, e.attempts, Buffer.from(e.payload).toString()])).toEqual([[1, 3, 'one'], [2, 1, 'two']]);
    // Handed out again: the first one has now used its 3 attempts.
    const again = await s.lease('bob', { owner: 'o', after: 0, max: 10, leaseMs: 30_000, maxAttempts: 3 }, T);
    expect(again.dead).toEqual([id(1)]);
    expect(again.entries.map((e) => [e.pos, e.attempts])).toEqual([[2, 2]]);
    const seen = await s.accept([{ sender: 'ab', epoch: Buffer.alloc(8), id: id(7), pos: 1, prev: 0, keepUntil: T }], 10, T);
    expect(seen).toEqual(['duplicate']);
    expect((await s.put([{ id: id(3), recipient: 'bob', type: 4, payload: Buffer.from('3'), createdAt: T, expiresAt: T + 1000 }], { messages: 10, bytes: 100 }, T))[0]).toEqual({ ok: true, pos: 3 });
    await s.close();

    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM pragma_table_info('recipients')").all()).toContainEqual({ name: 'sent' });
    db.close();
    // Opening it again (already current) changes nothing.
    const s2 = SqliteStore.open({ path: file });
    expect((await s2.usage('bob')).messages).toBe(2);
    await s2.close();
  });

  it('refuses a file written by a newer schema, leaving it untouched', async () => {
    const file = path.join(dir, 'future.db');
    const future = new Database(file);
    future.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    future.close();
    expect(() => SqliteStore.open({ path: file })).toThrow(/newer peercomm/);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'outbox'").get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('sqlite acks of runs this store handed out', () => {
  const T = 1_700_000_000_000;
  const put = (n: number) => Array.from({ length: n }, (_, i) => ({ id: randomBytes(16), recipient: 'bob', type: 4, payload: Buffer.alloc(10 + i), createdAt: T, expiresAt: T + 3_600_000 }));
  const lease = { owner: 'local', after: 0, max: 100, leaseMs: 30_000, maxAttempts: 20 };

  it('remove exactly what is still pending when another connection (the CLI) removed some of the run meanwhile', async () => {
    const file = path.join(dir, 'runs.db');
    const a = SqliteStore.open({ path: file });
    const b = SqliteStore.open({ path: file }); // e.g. `peercomm queue purge` while the agent runs
    const entries = put(10);
    await a.put(entries, { messages: 100, bytes: 1e6 }, T);
    const leased = (await a.lease('bob', lease, T)).entries;
    expect(leased.map((e) => e.pos)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await b.ack('bob', [entries[4]!.id])).toHaveLength(1);
    const removed = await a.ack('bob', leased.map((e) => e.id), leased.map((e) => e.pos));
    expect(removed.map((id) => Buffer.from(id).toString('hex')).sort()).toEqual(entries.filter((_, i) => i !== 4).map((e) => e.id.toString('hex')).sort());
    expect(await a.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });

    const more = put(5);
    await a.put(more, { messages: 100, bytes: 1e6 }, T);
    const again = (await a.lease('bob', lease, T)).entries;
    expect(await b.purge('bob', 'pending')).toBe(5);
    expect(await a.ack('bob', again.map((e) => e.id), again.map((e) => e.pos))).toEqual([]);
    expect(await a.usage('bob')).toEqual({ messages: 0, bytes: 0, dead: 0 });
    await a.close();
    await b.close();
  });
});

describe('sqlite leases of entries this store put (handed out without reading their rows)', () => {
  const T = 1_700_000_000_000;
  const entry = (expiresAt: number, size = 16) => ({ id: randomBytes(16), recipient: 'bob', type: 4, payload: Buffer.alloc(size, 1), createdAt: T, expiresAt });
  const lease = { owner: 'local', after: 0, max: 100, leaseMs: 30_000, maxAttempts: 20 };
  const hex = (ids: Uint8Array[]) => ids.map((id) => Buffer.from(id).toString('hex'));

  it('hand out what the rows hold: not what another connection removed, not a reused caller buffer, not what expired', async () => {
    const file = path.join(dir, 'fresh.db');
    const a = SqliteStore.open({ path: file });
    const b = SqliteStore.open({ path: file }); // e.g. `peercomm queue purge` while the agent runs
    const entries = Array.from({ length: 10 }, () => entry(T + 3_600_000));
    await a.put(entries, { messages: 100, bytes: 1e6 }, T);
    for (const e of entries) e.payload.fill(9); // the caller reuses its buffers once put() resolved
    const leased = await a.lease('bob', { ...lease, max: 2 }, T);
    expect(leased.entries.map((e) => e.pos)).toEqual([1, 2]);
    expect(await b.ack('bob', [entries[2]!.id, entries[7]!.id])).toHaveLength(2);
    const rest = await a.lease('bob', { ...lease, after: 2 }, T);
    expect(rest.entries.map((e) => e.pos)).toEqual([4, 5, 6, 7, 9, 10]);
    for (const e of [...leased.entries, ...rest.entries]) {
      expect(Buffer.from(e.payload)).toEqual(Buffer.alloc(16, 1));
      expect(e.attempts).toBe(1);
    }
    expect(hex([...leased.entries, ...rest.entries].map((e) => e.id))).toEqual(hex(entries.filter((_, i) => i !== 2 && i !== 7).map((e) => e.id)));

    const short = [entry(T + 1000), entry(T + 1000), entry(T + 3_600_000)];
    await a.put(short, { messages: 100, bytes: 1e6 }, T);
    const later = await a.lease('bob', { ...lease, after: 10 }, T + 2000);
    expect(hex(later.expired)).toEqual(hex(short.slice(0, 2).map((e) => e.id)));
    expect(later.entries.map((e) => [e.pos, e.attempts])).toEqual([[13, 1]]);
    // A new pass hands the same entries out again, from their rows, counted.
    const again = await a.lease('bob', lease, T + 2000);
    expect(again.entries.map((e) => [e.pos, e.attempts])).toEqual([[1, 2], [2, 2], [4, 2], [5, 2], [6, 2], [7, 2], [9, 2], [10, 2], [13, 2]]);
    expect(await a.usage('bob')).toEqual({ messages: 9, bytes: 9 * 16, dead: 0 });
    await a.close();
    await b.close();
  });
});

describe('sqlite handled marks (written with the next accept, after a short delay, or at close)', () => {
  const T = 1_700_000_000_000;
  const epoch = randomBytes(8);
  const req = (id: Buffer, pos: number) => ({ sender: 'fp', epoch, id, pos, prev: pos - 1, keepUntil: T + 3_600_000 });

  it('reach the file without another accept: another connection then finds the ids handled', async () => {
    const file = path.join(dir, 'marks.db');
    const a = SqliteStore.open({ path: file });
    const ids = [randomBytes(16), randomBytes(16)];
    expect(await a.accept([req(ids[0]!, 1), req(ids[1]!, 2)], 10, T)).toEqual(['new', 'new']);
    await a.handled([{ sender: 'fp', id: ids[0]! }]);
    const b = SqliteStore.open({ path: file });
    // Written within the delay (50 ms), with no accept on `a` to carry it.
    for (let i = 0; i < 200 && (await b.accept([req(ids[0]!, 1)], 10, T))[0] !== 'duplicate'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await b.accept([req(ids[0]!, 1), req(ids[1]!, 2)], 10, T)).toEqual(['duplicate', 'redeliver']);
    await b.close();
    // At close: the mark is on disk for the next process.
    await a.handled([{ sender: 'fp', id: ids[1]! }]);
    await a.close();
    const c = SqliteStore.open({ path: file });
    expect(await c.accept([req(ids[1]!, 2)], 10, T)).toEqual(['duplicate']);
    await c.close();
  });
});
