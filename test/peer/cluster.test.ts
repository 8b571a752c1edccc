/**
 * examples/cluster.mjs (docs/CLUSTER.md): node:cluster workers share one TCP port and one
 * identity, the primary alone is on the DHT. A client that knows only the entity id finds the
 * cluster through the DHT, and its sessions, served by different worker processes, all
 * authenticate the one identity. Runs the built library (dist/), as the example does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { Identity, Peer, type Session } from '../../src/index.js';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'cluster.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'peercomm-cluster-'));
const peers: Peer[] = [];
let child: ChildProcess | null = null;

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await Promise.all(peers.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('node:cluster: one identity, one port, one DHT presence', () => {
  it('serves sessions from two worker processes under one identity found through the DHT', async () => {
    const identity = Identity.generate();
    const identityFile = path.join(dir, 'agent.key');
    await identity.save(identityFile);
    const seed = await Peer.create({ entityId: 'seed', dht: { host: '127.0.51.1' } });
    peers.push(seed);
    const bootstrap = [seed.dht!.address];

    child = spawn(process.execPath, [EXAMPLE, JSON.stringify({ identityFile, workers: 2, bootstrap, dhtHost: '127.0.52.1' })], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const started = JSON.parse(line) as { port: number; workers: number[]; entityId: string; fingerprint: string };
    expect(started.workers).toHaveLength(2);
    expect(started.fingerprint).toBe(identity.fingerprint);

    const client = await Peer.create({ entityId: 'client', bootstrap, dht: { host: '127.0.53.1' } });
    peers.push(client);
    const record = await client.lookup(started.entityId);
    expect(record.addresses).toEqual([`127.0.0.1:${started.port}`]);

    const served = new Set<number>();
    const sessions: Session[] = [];
    // The primary hands connections to the workers in turn; a few are enough to reach both.
    for (let i = 0; i < 8 && served.size < 2; i++) {
      const session = await client.connect(started.entityId);
      sessions.push(session);
      expect(session.fingerprint).toBe(identity.fingerprint);
      const reply = await session.request('which worker?');
      const { pid } = JSON.parse(Buffer.from(reply.payload).toString()) as { pid: number };
      expect(started.workers).toContain(pid);
      served.add(pid);
    }
    expect(served.size).toBe(2);
    await Promise.all(sessions.map((s) => s.close()));
  }, 60_000);
});
