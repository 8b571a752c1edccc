/**
 * Joins the two TCP connections of an open circuit. No crypto and no parsing: bytes are
 * charged to the circuit (its per-direction byte limit, the relay's global byte budget) before
 * they are written on, and reading stops while the other side's socket buffer is full, so a
 * circuit holds at most one read chunk plus one socket buffer per direction. The duration limit
 * and a byte-limit cut end both connections; so does either end closing.
 */
import type net from 'node:net';
import type { RelayCore } from './core.js';

export type SpliceEnd = 'closed' | 'bytes' | 'duration';

/** Time an end gets to finish after the other end closed, before it is destroyed. */
const LINGER_MS = 5_000;

export function splice(core: RelayCore, id: number, a: net.Socket, b: net.Socket, onEnd: (why: SpliceEnd) => void): void {
  let ended = false;
  const finish = (why: SpliceEnd): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    a.destroy();
    b.destroy();
    onEnd(why);
  };
  const timer = setTimeout(() => {
    core.cutForDuration();
    finish('duration');
  }, core.limits.maxCircuitDurationMs);
  pump(core, id, 0, a, b, finish);
  pump(core, id, 1, b, a, finish);
  // One end gone: the other gets what was already forwarded and a FIN (not a reset), then a
  // bounded linger; the circuit's slot is freed when both are closed.
  const closed = (other: net.Socket) => (): void => {
    if (other.destroyed) return finish('closed');
    other.end();
    setTimeout(() => finish('closed'), LINGER_MS).unref();
    other.once('close', () => finish('closed'));
  };
  a.once('close', closed(b));
  b.once('close', closed(a));
}

function pump(core: RelayCore, id: number, dir: 0 | 1, src: net.Socket, dst: net.Socket, finish: (why: SpliceEnd) => void): void {
  let held: Buffer | null = null;
  let waitDrain = false;
  let budgetTimer: NodeJS.Timeout | null = null;
  const maybeResume = (): void => {
    if (held === null && !waitDrain && budgetTimer === null) src.resume();
  };
  const forward = (chunk: Buffer): void => {
    const wait = core.charge(id, dir, chunk.length, Date.now());
    if (wait === 'cut') return finish('bytes');
    if (wait > 0) {
      // Global byte budget spent: hold this chunk, read nothing more, try again when it refills.
      held = chunk;
      src.pause();
      budgetTimer = setTimeout(() => {
        budgetTimer = null;
        const c = held!;
        held = null;
        forward(c);
        maybeResume();
      }, Math.ceil(wait));
      return;
    }
    if (!dst.write(chunk)) {
      waitDrain = true;
      src.pause();
    }
  };
  dst.on('drain', () => {
    waitDrain = false;
    maybeResume();
  });
  src.on('data', forward);
  src.on('end', () => dst.end());
  src.once('close', () => {
    if (budgetTimer) clearTimeout(budgetTimer);
  });
  src.resume();
}
