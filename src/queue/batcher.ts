/**
 * Group commit: items added during one event-loop tick are handed to `commit` together at
 * `setImmediate`, and batches are committed one after another (never two at once), so a slow
 * store gets bigger batches instead of concurrent ones. Each add() resolves with its item's result.
 */
interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, R> {
  private items: I[] = [];
  private waiters: (Waiter<R> | null)[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly commit: (items: I[]) => Promise<R[]>) {}

  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => this.enqueue(item, { resolve, reject }));
  }

  /** add() for an item whose result and failure nobody waits for: no promise per item. */
  push(item: I): void {
    this.enqueue(item, null);
  }

  private enqueue(item: I, waiter: Waiter<R> | null): void {
    this.items.push(item);
    this.waiters.push(waiter);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Resolves once everything added so far is committed (or failed). */
  async settled(): Promise<void> {
    while (this.scheduled || this.items.length > 0) await new Promise((r) => setImmediate(r));
    await this.running;
  }

  private flush(): void {
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.running = this.running.then(async () => {
      try {
        const results = await this.commit(items);
        waiters.forEach((w, i) => w?.resolve(results[i]!));
      } catch (err) {
        for (const w of waiters) w?.reject(err);
      }
    });
    // What arrives while this batch commits waits for it, then goes as one batch.
    void this.running.then(() => {
      this.scheduled = false;
      if (this.items.length > 0) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }
}
