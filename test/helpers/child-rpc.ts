/**
 * A forked child process driven over IPC (the child side is child-serve.mjs): `call(cmd, args)`
 * resolves with the command's result or rejects with its error code, every pending call rejects
 * when the child exits, and messages without an id are the child's events. A crash shows as
 * `alive === false` with the exit code and stderr, never in the test runner.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

export class ChildRpc {
  exitCode: number | null = null;
  stderr = '';
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  protected readonly exited: Promise<void>;

  protected constructor(protected readonly child: ChildProcess, private readonly label: string) {
    child.stderr!.on('data', (d) => (this.stderr += d));
    child.on('message', (m: { id?: number; ok?: unknown; error?: string } & ChildEvent) => {
      if (m.id === undefined) return this.onEvent(m);
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(Object.assign(new Error(m.error), { code: m.error }));
      else p.resolve(m.ok);
    });
    this.exited = new Promise((r) => child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : -1);
      for (const p of this.pending.values()) p.reject(new Error(`${label} exited (${this.exitCode}): ${this.stderr}`));
      this.pending.clear();
      r();
    }));
  }

  /** Forks `script` (stdin and stdout ignored, stderr kept for the failure message). */
  protected static fork(script: string, argv: string[], execArgv: string[] = []): ChildProcess {
    return fork(script, argv, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
  }

  /** Resolves on the child's first message (its 'started' event); rejects if it exits first. */
  protected started(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', () => reject(new Error(`${this.label} did not start: ${this.stderr}`)));
    });
  }

  /** An event from the child (a message without an id); the first one is 'started'. */
  protected onEvent(_event: ChildEvent): void {}

  get alive(): boolean {
    return this.exitCode === null;
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }

  protected call(cmd: string, args?: unknown): Promise<unknown> {
    if (!this.alive) return Promise.reject(new Error(`${this.label} exited (${this.exitCode}): ${this.stderr}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
  }
}
