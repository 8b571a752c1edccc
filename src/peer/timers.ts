/**
 * The one timer of a session, and its idle clock. Session decides which deadline comes next and
 * what happens when it passes; this only keeps a single timer set for it. The timer's callback
 * is shared by every session (the owner rides as its argument): no closure per session.
 */

/** Largest delay setTimeout takes (it fires at once beyond it). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** What the timer calls when its deadline passes (Session, through its backstop). */
export interface TimerOwner {
  guarded<A>(handler: (owner: this, arg: A) => void, arg: A): void;
  onDeadline(): void;
}

const fire = (owner: TimerOwner): void => owner.guarded(deadlineOf, undefined);
const deadlineOf = (owner: TimerOwner): void => owner.onDeadline();

export class SessionTimer {
  /** Last time a record went either way (idle timeout). */
  lastActivity = Date.now();
  /** The reassembly deadline when the timer was last set: the receive side re-arms when it moves. */
  armedReassembly: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** `idleTimeoutMs` 0: never idle. */
  constructor(private readonly idleTimeoutMs: number, private readonly owner: TimerOwner) {}

  idleAt(): number {
    return this.idleTimeoutMs > 0 ? this.lastActivity + this.idleTimeoutMs : Infinity;
  }

  /** Replaces the timer with one for `deadline` (none when null); unref'd, so it never holds the process. */
  arm(deadline: number | null, reassembly: number | null): void {
    this.stop();
    this.armedReassembly = reassembly;
    if (deadline === null) return;
    this.timer = setTimeout(fire, Math.max(0, Math.min(deadline - Date.now(), MAX_DELAY_MS)), this.owner);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
