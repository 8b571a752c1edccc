/**
 * A victim Peer in a child process (test/helpers/victim-process.mjs, running the built dist/):
 * an attack that would throw into the event loop kills the child, and the test sees its exit
 * instead of taking the test runner down. `alive` is the assertion; `stats()` also reports RSS.
 */
import { ChildRpc } from './child-rpc.js';
import type { PeerOptions, PeerStats } from '../../src/index.js';

const SCRIPT = new URL('./victim-process.mjs', import.meta.url).pathname;

export interface VictimEvent {
  event: string;
  code?: string | null;
  message?: string;
}

export class Victim extends ChildRpc {
  /** Events the child reported: 'sessionError' and 'close' with their codes. */
  readonly events: VictimEvent[] = [];

  protected override onEvent(e: VictimEvent): void {
    this.events.push(e);
  }

  /**
   * Starts a victim Peer with these options (JSON-serialisable: no identity objects); with
   * `throwOnPayload`, its application message handler throws on a message with that payload;
   * with `echo`, it sends every whole message back to its sender.
   */
  static async start(
    options: Omit<PeerOptions, 'identity' | 'trust'> & { trust?: [string, string][] } = {},
    app: { throwOnPayload?: string; echo?: boolean } = {},
    execArgv: string[] = [],
  ): Promise<Victim> {
    const v = new Victim(ChildRpc.fork(SCRIPT, [JSON.stringify(options), JSON.stringify(app)], execArgv), 'victim');
    await v.started();
    return v;
  }

  /** Listens on 127.0.0.1; returns the port. */
  async listen(): Promise<number> {
    return ((await this.call('listen')) as { port: number }).port;
  }

  /** Connects to 127.0.0.1:port; rejects with the handshake's code. `keep: false` drops the session once READY. */
  connect(port: number, keep = true): Promise<unknown> {
    return this.call('connect', { port, keep });
  }

  /** Sends one message on its latest session (or `session`). */
  send(payload: string, type?: string, session?: number): Promise<unknown> {
    return this.call('send', { payload, type, session });
  }

  async stats(): Promise<{ stats: PeerStats; rss: number }> {
    return (await this.call('stats')) as { stats: PeerStats; rss: number };
  }

  /** Memory after full garbage collections (start the victim with execArgv ['--expose-gc']). */
  async retained(): Promise<{ heapUsed: number; external: number; arrayBuffers: number; rss: number }> {
    return (await this.call('retained')) as { heapUsed: number; external: number; arrayBuffers: number; rss: number };
  }

  /** Waits until an event matching `pred` arrives, or the child exits; true if it arrived. */
  async waitFor(pred: (e: VictimEvent) => boolean, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.alive) {
      if (this.events.some(pred)) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.events.some(pred);
  }

  /** Resolves when the child exits, or after `ms` (whichever first). */
  async settle(ms: number): Promise<void> {
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, ms))]);
  }
}
