/**
 * A real redis-server for the tests: started on a free port in a temporary directory with AOF
 * on, restartable (SIGKILL, then the same directory: what AOF kept), killed in afterAll.
 * Without a redis-server binary the Redis suites are skipped with a printed line; under
 * CI=true a missing server fails the run (.ci/run installs one).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function redisServerBinary(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const bin = r.stdout.trim();
  if (bin !== '') return bin;
  if (process.env.CI === 'true') throw new Error('CI=true but no redis-server binary on PATH: .ci/run must install it (apt-get install -y redis-server)');
  console.log('[peercomm] redis-server not found on PATH: the Redis queue suites are skipped (apt-get install -y redis-server)');
  return null;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export class RedisServer {
  private child: ChildProcess | null = null;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'peercomm-redis-'));
  port = 0;

  // appendfsync always: the tests kill Redis and assert that every acknowledged write survives,
  // which everysec does not promise (up to ~2 s lost while an fsync lags; docs/QUEUE.md).
  constructor(private readonly bin: string, private readonly appendonly = true) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.child = spawn(this.bin, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', this.appendonly ? 'yes' : 'no', '--appendfsync', 'always', '--daemonize', 'no', '--logfile', '',
    ], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not answer on port ${this.port}`);
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c === null || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
      s.setTimeout(1000, () => {
        s.destroy();
        resolve(false);
      });
    });
  }
}
