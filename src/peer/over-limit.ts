/**
 * Which peers stay far over their rate limit: they are disconnected (RATE_LIMITED) instead of
 * costing us a limiter check per message forever. Time is cut into one-second slots; a slot
 * is "far over" when the messages refused in it exceed `factor` × the messages accepted in it
 * (at least 1). Sending at 11× a class's rate makes every slot far over (10 refused per
 * accepted); `seconds` far-over slots in a row end the session. A burst that an honest sender
 * stops after its first RATE_LIMITED notice fills one slot, never `seconds` of them.
 * Sans-I/O: `now` comes in, a verdict goes out.
 */

/** Defaults: 10× over the limit, 3 seconds running. */
export const DEFAULT_OVER_LIMIT_FACTOR = 10;
export const DEFAULT_OVER_LIMIT_SECONDS = 3;
const SLOT_MS = 1000;

export interface OverLimitOptions {
  /** Refused messages per accepted one (per second) that count as far over (default 10). */
  factor?: number;
  /** Consecutive far-over seconds that end the session (default 3). */
  seconds?: number;
}

export class OverLimitMeter {
  private readonly factor: number;
  private readonly seconds: number;
  private slot = -1;
  private accepted = 0;
  private refused = 0;
  /** Far-over slots in a row, ending with the one before the current slot. */
  private run = 0;

  constructor(opts: OverLimitOptions = {}) {
    this.factor = opts.factor ?? DEFAULT_OVER_LIMIT_FACTOR;
    this.seconds = opts.seconds ?? DEFAULT_OVER_LIMIT_SECONDS;
  }

  /** Counts `count` accepted messages. */
  accept(now: number, count: number): void {
    this.advance(now);
    this.accepted += count;
  }

  /** Counts a refused message; true when the peer has now been far over for `seconds` slots. */
  refuse(now: number): boolean {
    this.advance(now);
    this.refused++;
    return this.farOver() && this.run + 1 >= this.seconds;
  }

  private farOver(): boolean {
    return this.refused > this.factor * Math.max(1, this.accepted);
  }

  /** Closes the current slot when `now` is past it; a skipped (silent) second breaks the run. */
  private advance(now: number): void {
    const slot = Math.floor(now / SLOT_MS);
    if (slot === this.slot) return;
    this.run = slot === this.slot + 1 && this.farOver() ? this.run + 1 : 0;
    this.slot = slot;
    this.accepted = 0;
    this.refused = 0;
  }
}
