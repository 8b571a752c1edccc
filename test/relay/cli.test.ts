/** `peercomm relay`: runs a relay an agent reserves on and is reached through; --help and bad arguments. */
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { Peer } from '../../src/index.js';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('peercomm relay', () => {
  it('serves circuits; --help exits 0; a bad option exits 2', async () => {
    expect(spawnSync(process.execPath, [MAIN, 'relay', '--help'], { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: expect.stringContaining('usage: peercomm relay') });
    expect(spawnSync(process.execPath, [MAIN, 'relay', '--port', 'x'], { encoding: 'utf8' }).status).toBe(2);
    const child = spawn(process.execPath, [MAIN, 'relay', '--port', '0', '--max-circuits', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => child.kill('SIGKILL'));
    let out = '';
    const addr = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /relay on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`relay exited: ${out}`)));
    });
    const b = await Peer.create({ reserve: { relays: [addr] } });
    cleanup.push(() => b.close());
    await b.relayReservations!.ready(1);
    const a = await Peer.create({});
    cleanup.push(() => a.close());
    const session = await a.connectVia([addr], b.identity.publicKey);
    await session.send('hi', { type: 'task', ack: true });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
