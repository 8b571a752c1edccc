/**
 * The one timer of a session, and its idle clock. Session decides which deadline comes next and
 * what happens when it passes; this only keeps a single timer set for it. The timer's callback
 * is shared by every session (the timer rides as its argument): no closure per session.
 */

/** Largest delay setTimeout takes (it fires at once beyond it). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** What the timer calls when its deadline passes (Session, through its backstop). */
export interface TimerOwner {
  guarded<A>(handler: (owner: this, arg: A) => void, arg: A): void;
  onDeadline(): void;
}

const fire = (t: SessionTimer): void => {
  t.fired();
  t.owner.guarded(deadlineOf, undefined);
};
const deadlineOf = (owner: TimerOwner): void => owner.onDeadline();

export class SessionTimer {
  /** Last time a record went either way (idle timeout). */
  lastActivity = Date.now();
  /** The reassembly deadline when the timer was last set: the receive side re-arms when it moves. */
  armedReassembly: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** When the timer set fires (Infinity: none set). */
  private armedAt = Infinity;

  /** `idleTimeoutMs` 0: never idle. */
  constructor(private readonly idleTimeoutMs: number, readonly owner: TimerOwner) {}

  idleAt(): number {
    return this.idleTimeoutMs > 0 ? this.lastActivity + this.idleTimeoutMs : Infinity;
  }

  /**
   * Makes the timer fire by `deadline` (none when null); unref'd, so it never holds the process.
   * A timer already set for that time or earlier is kept: the owner's deadline handler checks
   * every deadline against the clock and arms again, so firing early only costs that check,
   * while a handshake's steps (each of which arms) no longer set and clear a Timeout each.
   */
  arm(deadline: number | null, reassembly: number | null): void {
    this.armedReassembly = reassembly;
    if (deadline === null) return this.stop();
    if (this.armedAt <= deadline) return;
    this.stop();
    const now = Date.now();
    const delay = Math.max(0, Math.min(deadline - now, MAX_DELAY_MS));
    this.timer = setTimeout(fire, delay, this);
    this.timer.unref();
    this.armedAt = now + delay;
  }

  /** The timer fired (before its owner's handler, which arms it again). @internal */
  fired(): void {
    this.timer = null;
    this.armedAt = Infinity;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
  }
}
