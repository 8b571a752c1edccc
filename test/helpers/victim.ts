/**
 * A victim Peer in a child process (test/helpers/victim-process.mjs, running the built dist/):
 * an attack that would throw into the event loop kills the child, and the test sees its exit
 * instead of taking the test runner down. `alive` is the assertion; `stats()` also reports RSS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { PeerOptions, PeerStats } from '../../src/index.js';

const SCRIPT = new URL('./victim-process.mjs', import.meta.url).pathname;

export interface VictimEvent {
  event: string;
  code?: string | null;
  message?: string;
}

export class Victim {
  /** Events the child reported: 'sessionError' and 'close' with their codes. */
  readonly events: VictimEvent[] = [];
  exitCode: number | null = null;
  stderr = '';
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (d) => (this.stderr += d));
    child.on('message', (m: { id?: number; ok?: unknown; error?: string } & VictimEvent) => {
      if (m.id === undefined) {
        this.events.push(m);
        return;
      }
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(Object.assign(new Error(m.error), { code: m.error }));
      else p.resolve(m.ok);
    });
    this.exited = new Promise((r) => child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : -1);
      for (const p of this.pending.values()) p.reject(new Error(`victim exited (${this.exitCode}): ${this.stderr}`));
      this.pending.clear();
      r();
    }));
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
    const child = fork(SCRIPT, [JSON.stringify(options), JSON.stringify(app)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
    const v = new Victim(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', () => reject(new Error(`victim did not start: ${v.stderr}`)));
    });
    return v;
  }

  get alive(): boolean {
    return this.exitCode === null;
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

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  private call(cmd: string, args?: unknown): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`victim exited (${this.exitCode}): ${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
  }
}
