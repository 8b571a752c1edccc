/**
 * RATE_LIMITED notices for the peer's whole messages, refused by our rate limits: every refused
 * message is named, none silently dropped, in as few records as possible. Consecutive refusals
 * of one class become one range (`seq`, `count`: PROTOCOL.md §6 error record); a range is
 * written at the end of each read batch, or at once when a message of its class is accepted
 * (so no accepted message of the class ever lies inside it). At most one range per class is
 * held (five), so what a peer can make us keep is fixed; what it can make us write is at most
 * one notice per read batch and class, plus one per message of the class we accepted, which
 * its rate limit bounds. While our socket is backed up (the peer does not read) ranges keep
 * growing and are written once it drains.
 */
import type { Duplex } from 'node:stream';
import { ErrorCode } from '../errors.js';
import type { RateClass } from '../ratelimit/index.js';
import type { SessionChain } from '../session/index.js';

interface Range {
  seq: number;
  count: number;
  retryAfter: number;
}

export class RefusalNotices {
  private readonly ranges = new Map<RateClass, Range>();
  private waitingForDrain = false;

  constructor(private readonly stream: Duplex, private readonly chain: SessionChain) {}

  /** Message `seq` of class `cls` was refused. */
  refuse(cls: RateClass, seq: number, retryAfter: number): void {
    const r = this.ranges.get(cls);
    if (r === undefined) {
      this.ranges.set(cls, { seq, count: 1, retryAfter });
      return;
    }
    r.count = seq - r.seq + 1; // those of the class in between were refused too (an accepted one flushes)
    r.retryAfter = retryAfter;
  }

  /** A message of class `cls` was accepted: its range (before it) goes out now. */
  accepted(cls: RateClass): void {
    if (this.ranges.size === 0) return; // the usual case, on every message received
    const r = this.ranges.get(cls);
    if (r !== undefined) this.write(cls, r);
  }

  /** A chunked message was accepted: every range goes out now (it may belong to any class). */
  acceptedChunked(): void {
    for (const [cls, r] of this.ranges) this.write(cls, r);
  }

  /** End of a read batch: write every range, unless the socket is backed up (then on 'drain'). */
  flush(): void {
    if (this.ranges.size === 0) return;
    if (this.stream.writableNeedDrain) {
      if (this.waitingForDrain) return;
      this.waitingForDrain = true;
      this.stream.once('drain', () => {
        this.waitingForDrain = false;
        this.flush();
      });
      return;
    }
    for (const [cls, r] of this.ranges) this.write(cls, r);
  }

  private write(cls: RateClass, r: Range): void {
    this.ranges.delete(cls);
    if (this.stream.destroyed) return;
    const notice = this.chain.notify({
      code: ErrorCode.RATE_LIMITED, reason: `${cls} rate limit`, seq: r.seq, retryAfter: r.retryAfter, rateClass: cls,
      ...(r.count > 1 ? { count: r.count } : {}),
    });
    if (notice) this.stream.write(notice);
  }
}
