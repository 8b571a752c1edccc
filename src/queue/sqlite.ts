/**
 * The embedded default backend: one SQLite file through better-sqlite3 (synchronous, so a whole
 * group commit is one call). WAL; `synchronous` NORMAL (survives kill -9) or FULL (survives
 * power loss): docs/QUEUE.md "Stored". Every method is one transaction.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { ErrorCode, PeerError } from '../errors.js';
import { FreshEntries } from './sqlite-fresh.js';
import {
  EPOCH_BYTES, type AcceptRequest, type AcceptResult, type EntryInfo, type EntryState, type LeaseRequest, type LeaseResult,
  type OutboxEntry, type PutRequest, type PutResult, type QueueStore, type Quota, type Usage,
} from './store.js';

export type Durability = 'normal' | 'full';

export interface SqliteStoreOptions {
  /** A file, or ':memory:' (not durable). */
  path: string;
  durability?: Durability;
}

/**
 * The schema this code writes, in `PRAGMA user_version`. A file at a lower version is migrated
 * when opened (MIGRATIONS); one at a higher version, written by a newer peercomm, is refused.
 */
export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id BLOB NOT NULL UNIQUE, recipient TEXT NOT NULL, pos INTEGER NOT NULL, type INTEGER NOT NULL,
  payload BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_fifo ON outbox (recipient, dead, pos);
CREATE INDEX IF NOT EXISTS outbox_expiry ON outbox (expires_at);
CREATE TABLE IF NOT EXISTS recipients (
  recipient TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0, messages INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS seen (
  sender TEXT NOT NULL, id BLOB NOT NULL, keep_until INTEGER NOT NULL, handled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (sender, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_expiry ON seen (keep_until);
CREATE TABLE IF NOT EXISTS senders (sender TEXT PRIMARY KEY, epoch BLOB, last INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0);
`;

type Db = BetterSqlite3.Database;

/**
 * WAL pages between checkpoints (SQLite's default is 1,000, ~4 MiB). A checkpoint runs inside the
 * commit that crosses it, on the event loop, and calls fsync twice even with synchronous=NORMAL
 * (~20 ms each on a cloud disk): 10,000 (~40 MiB of WAL) makes that stall ten times rarer.
 */
const WAL_CHECKPOINT_PAGES = 10_000;

/** MIGRATIONS[v] brings a file from version v to v + 1 (after SCHEMA created any missing table). */
const MIGRATIONS: ((db: Db) => void)[] = [
  // 0 → 1: files from before versioning; the oldest lack recipients.sent. Their leases counted
  // every hand-out in outbox.attempts, so a mark of 0 (nothing handed out uncounted) is exact.
  (db) => {
    const columns = db.prepare<{ name: string }>("SELECT name FROM pragma_table_info('recipients')").all();
    if (!columns.some((c) => c.name === 'sent')) db.exec('ALTER TABLE recipients ADD COLUMN sent INTEGER NOT NULL DEFAULT 0');
  },
];

/** Creates what is missing and migrates an older file, in one transaction. */
function migrate(db: Db): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`its schema is version ${version}, written by a newer peercomm (this one knows up to ${SCHEMA_VERSION})`);
    }
    db.exec(SCHEMA);
    for (let v = version; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    if (version !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

interface Row {
  id: Buffer; recipient: string; pos: number; type: number; payload: Buffer; created_at: number; expires_at: number; attempts: number; dead: number;
}
interface RecipientRow { recipient: string; seq: number; messages: number; bytes: number; dead: number; lease_owner: string | null; lease_until: number; sent: number }

/**
 * Attempts without a write per hand-out: `recipients.sent` is the highest position ever handed
 * out, and an entry at or below it was handed out once more than its `attempts` column says. So
 * a lease of new entries writes only the recipient's row, not every payload's page; only entries
 * handed out again (after a restart, an ack timeout, a gap) get their column incremented.
 */
const ATTEMPTS = '(attempts + (pos <= (SELECT sent FROM recipients r WHERE r.recipient = outbox.recipient)))';

/** Entries of handedOut, all recipients: a window of 1,024 for 8 recipients, ~2 MiB of heap (~260 B each, measured). */
const HANDED_OUT_MAX = 8_192;

/** Handled marks are written with the next accept, or after this long without one (see handled()). */
const MARK_DELAY_MS = 50;

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function info(r: Omit<Row, 'payload'> & { size: number }): EntryInfo {
  return {
    id: r.id, recipient: r.recipient, pos: r.pos, type: r.type, size: r.size, createdAt: r.created_at,
    expiresAt: r.expires_at, attempts: r.attempts, state: r.dead ? 'dead' : 'pending',
  };
}

export class SqliteStore implements QueueStore {
  readonly backend = 'sqlite' as const;
  readonly epoch: Uint8Array;
  private readonly db: Db;
  private readonly q;
  /**
   * What lease() handed out, per recipient: position → id and payload size. An entry's position
   * never changes and is never reused, so an ack whose ids match these at a run of positions, all
   * still pending (an index-only count), removes the run without reading its rows. Bounded by
   * HANDED_OUT_MAX (cleared when full: acks then read the rows); stale entries only cost memory.
   */
  private handedOut = new Map<string, Map<number, { id: Buffer; size: number }>>();
  private handedOutCount = 0;
  /** Receiver: ids handed to the application whose handled mark is not written yet (see handled()). */
  private marks: { sender: string; id: Uint8Array }[] = [];
  private markTimer: NodeJS.Timeout | null = null;
  /** What put() stored and no lease handed out yet, so a lease need not read it back. */
  private readonly fresh = new FreshEntries();

  private constructor(db: Db) {
    this.db = db;
    const p = <R = unknown>(sql: string) => db.prepare<R>(sql);
    // Rows as arrays (no object per row) for the statements of the delivery path.
    const raw = <R extends unknown[]>(sql: string) => db.prepare(sql).raw(true) as BetterSqlite3.Statement<R>;
    this.q = {
      epochGet: p<{ v: Buffer }>("SELECT v FROM meta WHERE k = 'epoch'"),
      epochSet: p("INSERT INTO meta (k, v) VALUES ('epoch', ?)"),
      byId: p<Row>(`SELECT *, ${ATTEMPTS} AS attempts FROM outbox WHERE id = ?`),
      rcpt: p<RecipientRow>('SELECT * FROM recipients WHERE recipient = ?'),
      rcptNew: p('INSERT OR IGNORE INTO recipients (recipient) VALUES (?)'),
      rcptSet: p('UPDATE recipients SET seq = ?, messages = ?, bytes = ? WHERE recipient = ?'),
      posById: p<{ pos: number }>('SELECT pos FROM outbox WHERE id = ?'),
      rcptSub: p('UPDATE recipients SET messages = messages - ?, dead = dead - ?, bytes = bytes - ? WHERE recipient = ?'),
      rcptDie: p('UPDATE recipients SET messages = messages - ?, dead = dead + ? WHERE recipient = ?'),
      rcptRetry: p('UPDATE recipients SET messages = messages + ?, dead = dead - ? WHERE recipient = ?'),
      rcptLease: p('UPDATE recipients SET lease_owner = ?, lease_until = ?, sent = ? WHERE recipient = ?'),
      rcptRelease: p('UPDATE recipients SET lease_owner = NULL, lease_until = 0 WHERE recipient = ? AND lease_owner = ?'),
      insert: p('INSERT INTO outbox (id, recipient, pos, type, payload, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING'),
      next: raw<[Buffer, number, number, Buffer, number, number, number]>('SELECT id, pos, type, payload, created_at, expires_at, attempts FROM outbox WHERE recipient = ? AND dead = 0 AND pos > ? ORDER BY pos LIMIT ?'),
      again: p('UPDATE outbox SET attempts = attempts + 1 WHERE recipient = ? AND dead = 0 AND pos > ? AND pos <= ?'),
      kill: p('UPDATE outbox SET dead = 1 WHERE id = ?'),
      del: p('DELETE FROM outbox WHERE id = ?'),
      range: raw<[Buffer, number, number]>('SELECT id, pos, length(payload) FROM outbox WHERE recipient = ? AND dead = 0 AND pos BETWEEN ? AND ?'),
      countRange: raw<[number]>('SELECT count(*) FROM outbox WHERE recipient = ? AND dead = 0 AND pos BETWEEN ? AND ?'),
      delRange: p('DELETE FROM outbox WHERE recipient = ? AND dead = 0 AND pos BETWEEN ? AND ?'),
      delOf: p<{ id: Buffer; pos: number; dead: number; size: number }>('DELETE FROM outbox WHERE id = ? AND recipient = ? RETURNING id, pos, dead, length(payload) AS size'),
      expired: p<Row>('SELECT id, recipient, dead, length(payload) AS size FROM outbox WHERE expires_at <= ? LIMIT ?'),
      usageOne: p<Usage>('SELECT messages, bytes, dead FROM recipients WHERE recipient = ?'),
      usageAll: p<Usage>('SELECT coalesce(sum(messages), 0) AS messages, coalesce(sum(bytes), 0) AS bytes, coalesce(sum(dead), 0) AS dead FROM recipients'),
      recipients: p<{ recipient: string }>('SELECT recipient FROM recipients WHERE messages > 0 ORDER BY recipient'),
      listOne: p<Row & { size: number }>(`SELECT id, recipient, pos, type, length(payload) AS size, created_at, expires_at, ${ATTEMPTS} AS attempts, dead FROM outbox WHERE recipient = ? AND dead = ? ORDER BY pos LIMIT ?`),
      listAll: p<Row & { size: number }>(`SELECT id, recipient, pos, type, length(payload) AS size, created_at, expires_at, ${ATTEMPTS} AS attempts, dead FROM outbox WHERE dead = ? ORDER BY recipient, pos LIMIT ?`),
      deadOf: p<{ id: Buffer }>('SELECT id FROM outbox WHERE recipient = ? AND dead = 1'),
      revive: p(`UPDATE outbox SET dead = 0, attempts = attempts - ${ATTEMPTS} WHERE id = ? AND recipient = ? AND dead = 1`),
      purgeOf: p<{ id: Buffer }>('SELECT id FROM outbox WHERE recipient = ? AND dead = ?'),
      sender: p<{ epoch: Buffer | null; last: number; count: number }>('SELECT epoch, last, count FROM senders WHERE sender = ?'),
      senderPut: p('INSERT INTO senders (sender, epoch, last, count) VALUES (?, ?, ?, ?) ON CONFLICT (sender) DO UPDATE SET epoch = excluded.epoch, last = excluded.last, count = excluded.count'),
      seenGet: p<{ handled: number }>('SELECT handled FROM seen WHERE sender = ? AND id = ?'),
      seenPut: p('INSERT INTO seen (sender, id, keep_until) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      seenHandled: p('UPDATE seen SET handled = 1 WHERE sender = ? AND id = ?'),
      seenOld: p<{ sender: string; id: Buffer }>('SELECT sender, id FROM seen WHERE keep_until <= ? LIMIT ?'),
      seenDel: p('DELETE FROM seen WHERE sender = ? AND id = ?'),
      senderDec: p('UPDATE senders SET count = count - 1 WHERE sender = ?'),
    };
    const stored = this.q.epochGet.get();
    if (stored) {
      this.epoch = new Uint8Array(stored.v);
    } else {
      this.epoch = randomBytes(EPOCH_BYTES);
      this.q.epochSet.run(this.epoch);
    }
  }

  /** Opens (creating) the database; PeerError INVALID_STATE if better-sqlite3 cannot load or open it. */
  static open(opts: SqliteStoreOptions): SqliteStore {
    let Database: typeof BetterSqlite3;
    try {
      Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
    } catch (err) {
      throw new PeerError(ErrorCode.INVALID_STATE, `the SQLite queue needs better-sqlite3, which did not load: ${(err as Error).message}`);
    }
    let db: Db | undefined;
    try {
      db = new Database(opts.path, { timeout: 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      migrate(db);
      return new SqliteStore(db);
    } catch (err) {
      db?.close();
      throw new PeerError(ErrorCode.INVALID_STATE, `cannot open the queue database ${opts.path}: ${(err as Error).message}`);
    }
  }

  /** Runs `fn` as one transaction (all or nothing), then `committed` if it committed. */
  private tx<R>(fn: () => R, committed?: () => void): Promise<R> {
    try {
      const r = this.db.transaction(fn)();
      committed?.();
      return Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * One statement per new row: the insert (ON CONFLICT on the id: an id already stored returns its
   * position). Quota and position come from the recipient's counters, read once per recipient and
   * batch and written back once at the end.
   */
  put(requests: PutRequest[], quota: Quota, _now: number): Promise<PutResult[]> {
    const added: PutRequest[] = [];
    const positions: number[] = [];
    return this.tx(() => {
      const counters = new Map<string, RecipientRow>();
      const results: PutResult[] = [];
      for (const r of requests) {
        let rc = counters.get(r.recipient);
        if (rc === undefined) {
          this.q.rcptNew.run(r.recipient);
          rc = this.q.rcpt.get(r.recipient)!;
          counters.set(r.recipient, rc);
        }
        const over = rc.messages + rc.dead + 1 > quota.messages ? 'messages' : rc.bytes + r.payload.length > quota.bytes ? 'bytes' : null;
        if (over !== null) {
          const existing = this.q.posById.get(r.id);
          results.push(existing ? { ok: true, pos: existing.pos } : { ok: false, limit: over });
          continue;
        }
        const pos = rc.seq + 1;
        if (this.q.insert.run(r.id, r.recipient, pos, r.type, r.payload, r.createdAt, r.expiresAt).changes === 0) {
          results.push({ ok: true, pos: this.q.posById.get(r.id)!.pos });
          continue;
        }
        rc.seq = pos;
        rc.messages++;
        rc.bytes += r.payload.length;
        results.push({ ok: true, pos });
        added.push(r);
        positions.push(pos);
      }
      for (const rc of counters.values()) this.q.rcptSet.run(rc.seq, rc.messages, rc.bytes, rc.recipient);
      return results;
    }, () => added.forEach((r, i) => this.fresh.add(r.recipient, positions[i]!, r)));
  }

  lease(recipient: string, req: LeaseRequest, now: number): Promise<LeaseResult> {
    return this.tx(() => {
      const out: LeaseResult = { held: false, entries: [], expired: [], dead: [] };
      const rc = this.q.rcpt.get(recipient);
      if (rc === undefined) return { ...out, held: true };
      if (rc.lease_owner !== null && rc.lease_owner !== req.owner && rc.lease_until > now) return out;
      out.held = true;
      let after = req.after;
      let died = 0;
      let expiredBytes = 0;
      while (out.entries.length < req.max) {
        if (this.leaseFresh(recipient, out, after, Math.max(rc.sent, after), req.max, now)) {
          after = out.entries.at(-1)!.pos;
          continue;
        }
        const rows = this.q.next.all(recipient, after, req.max - out.entries.length);
        if (rows.length === 0) break;
        for (const [id, pos, type, payload, createdAt, expiresAt, attempts] of rows) {
          after = pos;
          const handedOut = attempts + (pos <= rc.sent ? 1 : 0);
          if (expiresAt <= now) {
            this.q.del.run(id);
            expiredBytes += payload.length;
            out.expired.push(id);
          } else if (handedOut >= req.maxAttempts) {
            this.q.kill.run(id);
            died++;
            out.dead.push(id);
          } else {
            out.entries.push({ id, recipient, pos, type, payload, createdAt, expiresAt, attempts: handedOut + 1 });
            this.remember(recipient, pos, id, payload.length);
          }
        }
      }
      if (out.expired.length > 0) this.q.rcptSub.run(out.expired.length, 0, expiredBytes, recipient);
      if (died > 0) this.q.rcptDie.run(died, died, recipient);
      // Entries at or below the mark were handed out before: count this time in their column.
      if (out.entries.length > 0 && req.after < rc.sent) this.q.again.run(recipient, req.after, Math.min(after, rc.sent));
      this.q.rcptLease.run(req.owner, now + req.leaseMs, Math.max(rc.sent, out.entries.at(-1)?.pos ?? 0), recipient);
      return out;
    });
  }

  /**
   * Hands out the recipient's fresh entries from position after + 1 on, if this process put them
   * and an index-only count shows every one still pending (see FreshEntries); true if it did.
   */
  private leaseFresh(recipient: string, out: LeaseResult, after: number, sent: number, max: number, now: number): boolean {
    const run = this.fresh.peek(recipient, after + 1, sent, max - out.entries.length, now);
    if (run.length === 0) return false;
    if (this.q.countRange.get(recipient, run[0]!.pos, run.at(-1)!.pos)![0] !== run.length) {
      this.fresh.drop(recipient);
      return false;
    }
    this.fresh.take(recipient, run.length);
    for (const e of run) {
      out.entries.push({ id: e.id, recipient, pos: e.pos, type: e.type, payload: e.payload, createdAt: e.createdAt, expiresAt: e.expiresAt, attempts: 1 });
      this.remember(recipient, e.pos, e.id, e.payload.length);
    }
    return true;
  }

  private removeRow(row: Pick<Row, 'id' | 'recipient' | 'dead'> & { size?: number; payload?: Buffer }): void {
    this.q.del.run(row.id);
    const size = row.size ?? row.payload!.length;
    this.q.rcptSub.run(row.dead ? 0 : 1, row.dead ? 1 : 0, size, row.recipient);
  }

  private remember(recipient: string, pos: number, id: Buffer, size: number): void {
    if (this.handedOutCount >= HANDED_OUT_MAX) {
      this.handedOut = new Map();
      this.handedOutCount = 0;
    }
    let known = this.handedOut.get(recipient);
    if (known === undefined) this.handedOut.set(recipient, (known = new Map()));
    if (!known.has(pos)) this.handedOutCount++;
    known.set(pos, { id, size });
  }

  /**
   * Runs of consecutive known positions: one range DELETE each, after an index-only count when
   * this process handed the run out (see handedOut), else after a range read (every stored id
   * must be the one acknowledged at its position); the rest one DELETE … RETURNING per id. The
   * recipient's counters once per batch.
   */
  ack(recipient: string, ids: Uint8Array[], positions: number[] = []): Promise<Uint8Array[]> {
    return this.tx(() => {
      const removed: Uint8Array[] = [];
      const sums = { pending: 0, dead: 0, bytes: 0 };
      const byPos: { id: Uint8Array; pos: number }[] = [];
      const rest: Uint8Array[] = [];
      const known = this.handedOut.get(recipient);
      const gone = (pos: number): void => void (known?.delete(pos) && this.handedOutCount--);
      ids.forEach((id, i) => ((positions[i] ?? 0) > 0 ? byPos.push({ id, pos: positions[i]! }) : rest.push(id)));
      byPos.sort((a, b) => a.pos - b.pos);
      for (let i = 0; i < byPos.length;) {
        let j = i;
        while (j + 1 < byPos.length && byPos[j + 1]!.pos === byPos[j]!.pos + 1) j++;
        const run = byPos.slice(i, j + 1);
        i = j + 1;
        const first = run[0]!.pos;
        const last = run[run.length - 1]!.pos;
        if (known !== undefined && run.every((e) => known.get(e.pos)?.id.equals(e.id)) && this.q.countRange.get(recipient, first, last)![0] === run.length) {
          this.q.delRange.run(recipient, first, last);
          for (const e of run) {
            sums.pending++;
            sums.bytes += known.get(e.pos)!.size;
            removed.push(known.get(e.pos)!.id);
            gone(e.pos);
          }
          continue;
        }
        const rows = this.q.range.all(recipient, first, last);
        if (!rows.every(([id, pos]) => id.equals(run[pos - first]!.id))) {
          rest.push(...run.map((e) => e.id));
          continue;
        }
        if (rows.length > 0) this.q.delRange.run(recipient, first, last);
        for (const [id, pos, size] of rows) {
          sums.pending++;
          sums.bytes += size;
          removed.push(id);
          gone(pos);
        }
        // Not pending at its position (dead, or gone): looked up by id below.
        if (rows.length < run.length) {
          const found = new Set(rows.map((r) => r[1]));
          for (const e of run) if (!found.has(e.pos)) rest.push(e.id);
        }
      }
      for (const id of rest) {
        const row = this.q.delOf.get(id, recipient);
        if (row === undefined) continue;
        if (row.dead) sums.dead++;
        else sums.pending++;
        sums.bytes += row.size;
        removed.push(row.id);
        gone(row.pos);
      }
      if (removed.length > 0) this.q.rcptSub.run(sums.pending, sums.dead, sums.bytes, recipient);
      return removed;
    });
  }

  release(recipient: string, owner: string): Promise<void> {
    return this.tx(() => {
    this.q.rcptRelease.run(recipient, owner);
    });
  }

  sweep(now: number, limit: number): Promise<{ expired: { recipient: string; id: Uint8Array }[]; seenPruned: number }> {
    return this.tx(() => {
    const expired = this.q.expired.all(now, limit).map((row) => {
      this.removeRow(row as Row & { size: number });
      return { recipient: row.recipient, id: new Uint8Array(row.id) };
    });
    const old = this.q.seenOld.all(now, limit);
    for (const s of old) {
      this.q.seenDel.run(s.sender, s.id);
      this.q.senderDec.run(s.sender);
    }
    return { expired, seenPruned: old.length };
    });
  }

  usage(recipient?: string): Promise<Usage> {
    const u = recipient === undefined ? this.q.usageAll.get() : this.q.usageOne.get(recipient);
    return Promise.resolve(u ?? { messages: 0, bytes: 0, dead: 0 });
  }

  recipients(): Promise<string[]> {
    return Promise.resolve(this.q.recipients.all().map((r) => r.recipient));
  }

  list(recipient: string | undefined, state: EntryState, limit: number): Promise<EntryInfo[]> {
    const dead = state === 'dead' ? 1 : 0;
    const rows = recipient === undefined ? this.q.listAll.all(dead, limit) : this.q.listOne.all(recipient, dead, limit);
    return Promise.resolve(rows.map(info));
  }

  get(id: Uint8Array): Promise<(EntryInfo & { payload: Uint8Array }) | null> {
    const row = this.q.byId.get(id);
    return Promise.resolve(row ? { ...info({ ...row, size: row.payload.length }), payload: row.payload } : null);
  }

  retry(recipient: string, ids?: Uint8Array[]): Promise<number> {
    return this.tx(() => {
    const targets = ids?.map(buf) ?? this.q.deadOf.all(recipient).map((r) => r.id);
    let n = 0;
    for (const id of targets) n += this.q.revive.run(id, recipient).changes;
    this.q.rcptRetry.run(n, n, recipient);
    return n;
    });
  }

  purge(recipient: string, state: EntryState): Promise<number> {
    return this.tx(() => {
    const ids = this.q.purgeOf.all(recipient, state === 'dead' ? 1 : 0);
    for (const { id } of ids) this.removeRow(this.q.byId.get(id)!);
    return ids.length;
    });
  }

  /**
   * Per new message one statement (the insert, which also finds a seen id); each sender's row is
   * read once and written once per batch. A seen id answers duplicate/redeliver before gap/full.
   */
  accept(requests: AcceptRequest[], maxSeenPerSender: number, _now: number): Promise<AcceptResult[]> {
    const marked = this.marks.length;
    return this.tx(() => {
    this.writeMarks(marked);
    const senders = new Map<string, { epoch: Buffer | null; last: number; count: number; dirty: boolean }>();
    const results = requests.map((r): AcceptResult => {
      let s = senders.get(r.sender);
      if (s === undefined) {
        const row = this.q.sender.get(r.sender);
        s = { epoch: row?.epoch ?? null, last: row?.last ?? 0, count: row?.count ?? 0, dirty: false };
        senders.set(r.sender, s);
      }
      const id = buf(r.id);
      const epoch = buf(r.epoch);
      const last = s.epoch !== null && epoch.equals(s.epoch) ? s.last : 0;
      const refused = r.prev !== 0 && r.prev > last ? 'gap' : s.count >= maxSeenPerSender ? 'full' : null;
      if (refused !== null || this.q.seenPut.run(r.sender, id, r.keepUntil).changes === 0) {
        const seen = this.q.seenGet.get(r.sender, id);
        if (seen) return seen.handled ? 'duplicate' : 'redeliver';
        return refused!;
      }
      if (last === 0) s.epoch = Buffer.from(epoch);
      s.last = r.pos;
      s.count++;
      s.dirty = true;
      return 'new';
    });
    for (const [sender, s] of senders) if (s.dirty) this.q.senderPut.run(sender, s.epoch, s.last, s.count);
    return results;
    }, () => this.marks.splice(0, marked));
  }

  /**
   * The marks wait for the next accept's transaction (a copy arriving later then finds them), or
   * MARK_DELAY_MS, or close(): one transaction instead of two per batch of arrivals, and the pages
   * the marks rewrite are mostly the ones the next inserts append to. A crash before they are
   * written leaves the ids seen and not handled: delivered again with redelivered: true
   * (docs/QUEUE.md "Receiver side").
   */
  handled(items: { sender: string; id: Uint8Array }[]): Promise<void> {
    for (const it of items) this.marks.push(it);
    if (this.markTimer === null && this.marks.length > 0) {
      this.markTimer = setTimeout(() => {
        this.markTimer = null;
        const n = this.marks.length;
        // A failure leaves them for the next accept or timer (they are retried, never dropped).
        this.tx(() => this.writeMarks(n), () => this.marks.splice(0, n)).catch(() => this.handled([]));
      }, MARK_DELAY_MS);
      this.markTimer.unref();
    }
    return Promise.resolve();
  }

  /** Writes the first `n` pending marks (inside a transaction; removed from `marks` once it commits). */
  private writeMarks(n: number): void {
    for (let i = 0; i < n; i++) this.q.seenHandled.run(this.marks[i]!.sender, this.marks[i]!.id);
  }

  close(): Promise<void> {
    if (this.markTimer !== null) clearTimeout(this.markTimer);
    this.markTimer = null;
    if (this.db.open) {
      try {
        const n = this.marks.length;
        if (n > 0) this.db.transaction(() => this.writeMarks(n))();
      } finally {
        this.db.close();
      }
    }
    return Promise.resolve();
  }
}
