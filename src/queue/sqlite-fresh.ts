/**
 * Entries this process put and no lease has handed out yet, per recipient: a run of consecutive
 * positions, so that a lease streaming right behind the puts hands them out without reading their
 * rows back (SqliteStore.lease). A hint only: the lease uses it after an index-only count proves
 * every position of the run still holds a pending row, and an entry above the recipient's
 * `sent` mark was never handed out (attempts 0, never dead) and never changes, nor does the row at
 * a position (positions are never reused). Payloads are copies (the caller may reuse its buffer).
 */

/** What a fresh entry carries: the columns a lease returns. */
export interface FreshEntry {
  id: Buffer;
  pos: number;
  type: number;
  payload: Buffer;
  createdAt: number;
  expiresAt: number;
}

/** At most this many entries and payload bytes, all recipients together (8 MiB of 1 KiB messages). */
const FRESH_MAX_ENTRIES = 8_192;
const FRESH_MAX_BYTES = 8 * 1024 * 1024;

export class FreshEntries {
  private readonly runs = new Map<string, { entries: FreshEntry[]; head: number }>();
  private entries = 0;
  private bytes = 0;

  /**
   * After a committed put: extends the recipient's run. Past the caps the entry is not kept, and
   * the run then ends there (an entry not right after it is not added) until leases used it up.
   */
  add(recipient: string, pos: number, e: { id: Uint8Array; type: number; payload: Uint8Array; createdAt: number; expiresAt: number }): void {
    if (this.entries >= FRESH_MAX_ENTRIES || this.bytes + e.payload.length > FRESH_MAX_BYTES) return;
    let run = this.runs.get(recipient);
    if (run === undefined) this.runs.set(recipient, (run = { entries: [], head: 0 }));
    else if (run.head < run.entries.length && run.entries.at(-1)!.pos + 1 !== pos) return;
    // Copied only when kept: a copy made and dropped per put is garbage outside the heap that
    // GC, seeing a small heap, is slow to free (RSS grew by tens of MiB while filling).
    run.entries.push({ id: Buffer.from(e.id), pos, type: e.type, payload: Buffer.from(e.payload), createdAt: e.createdAt, expiresAt: e.expiresAt });
    this.entries++;
    this.bytes += e.payload.length;
  }

  /**
   * Up to `max` entries from position `from` on (none unless the run's first entry above `sent`
   * is exactly at `from`), stopping before the first that has expired at `now`. Entries at or below
   * `sent` were handed out and are dropped. Nothing is removed: take() does, once the lease used them.
   */
  peek(recipient: string, from: number, sent: number, max: number, now: number): FreshEntry[] {
    const run = this.runs.get(recipient);
    if (run === undefined) return [];
    while (run.head < run.entries.length && run.entries[run.head]!.pos <= sent) this.consume(run);
    if (run.head === run.entries.length || run.entries[run.head]!.pos !== from) return [];
    const out: FreshEntry[] = [];
    for (let i = run.head; i < run.entries.length && out.length < max; i++) {
      const e = run.entries[i]!;
      if (e.expiresAt <= now) break;
      out.push(e);
    }
    return out;
  }

  /** The first `n` entries of the recipient's run were handed out. */
  take(recipient: string, n: number): void {
    const run = this.runs.get(recipient);
    if (run === undefined) return;
    for (let i = 0; i < n && run.head < run.entries.length; i++) this.consume(run);
    if (run.head === run.entries.length) this.runs.delete(recipient);
  }

  /** Forgets the recipient's run (it no longer matches the rows). */
  drop(recipient: string): void {
    const run = this.runs.get(recipient);
    if (run === undefined) return;
    while (run.head < run.entries.length) this.consume(run);
    this.runs.delete(recipient);
  }

  private consume(run: { entries: FreshEntry[]; head: number }): void {
    const e = run.entries[run.head]!;
    run.entries[run.head++] = undefined as unknown as FreshEntry;
    this.entries--;
    this.bytes -= e.payload.length;
    // Compact now and then, so a long-lived run does not keep a growing array of holes.
    if (run.head >= 1024 && run.head * 2 >= run.entries.length) {
      run.entries = run.entries.slice(run.head);
      run.head = 0;
    }
  }
}
