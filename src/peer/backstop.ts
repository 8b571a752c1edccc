/**
 * The last line of defence at each I/O boundary of a session (socket events, its timer): what
 * a handler throws — a decode path that failed to turn its error into the session's failure,
 * an application listener that threw — ends that one session instead of reaching the event
 * loop, where it would kill the process and every other session with it.
 */
export function guarded<A extends unknown[]>(handler: (...args: A) => void, onThrow: (err: unknown) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      handler(...args);
    } catch (err) {
      onThrow(err);
    }
  };
}
