/**
 * A Peer in a child process (node-process.mjs, on the built dist/): a relay, or a target that
 * has no listener and is reachable only through its relays. A relay that crashed shows as a
 * dead child; kill() is SIGKILL.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { RelayStats } from '../../../src/relay/index.js';

const SCRIPT = new URL('./node-process.mjs', import.meta.url).pathname;

export interface NodeInfo {
  entityId: string;
  publicKey: string;
  relay: { host: string; port: number } | null;
  dht: string | null;
}

export class NodeProcess {
  exitCode: number | null = null;
  stderr = '';
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.on('data', (d) => (this.stderr += d));
    child.on('message', (m: { id?: number; ok?: unknown; error?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.ok);
    });
    this.exited = new Promise((r) => child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : -1);
      for (const p of this.pending.values()) p.reject(new Error(`child exited (${this.exitCode}): ${this.stderr}`));
      this.pending.clear();
      r();
    }));
  }

  static async start(options: Record<string, unknown>): Promise<NodeProcess> {
    const child = fork(SCRIPT, [JSON.stringify(options)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    const n = new NodeProcess(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', () => reject(new Error(`child did not start: ${n.stderr}`)));
    });
    return n;
  }

  get alive(): boolean {
    return this.exitCode === null;
  }

  info(): Promise<NodeInfo> {
    return this.call('info') as Promise<NodeInfo>;
  }

  /** The relay's address "127.0.0.1:port". */
  async relayAddress(): Promise<string> {
    const { relay } = await this.info();
    return `${relay!.host}:${relay!.port}`;
  }

  /** Waits until `n` reservations are held; the relays listed in the record. */
  ready(n = 1): Promise<{ listed: { address: string; expiresAt: number }[] }> {
    return this.call('ready', { n }) as Promise<{ listed: { address: string; expiresAt: number }[] }>;
  }

  stats(): Promise<{ relay: (RelayStats & { refusedConnections: number }) | null; rss: number; droppedJoins: number }> {
    return this.call('stats') as Promise<{ relay: (RelayStats & { refusedConnections: number }) | null; rss: number; droppedJoins: number }>;
  }

  async received(): Promise<string[]> {
    return ((await this.call('received')) as { received: string[] }).received;
  }

  /** Ids (hex) of the mailbox messages it was handed, in order. */
  async mail(): Promise<string[]> {
    return ((await this.call('mail')) as { mail: string[] }).mail;
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  private call(cmd: string, args?: unknown): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`child exited (${this.exitCode}): ${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
  }
}
