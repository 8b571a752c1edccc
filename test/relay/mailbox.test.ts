/**
 * Mailboxes, every party in a process of its own (B and the relay children, A this process):
 * B is offline (SIGKILLed, its signed record still names its mailbox and key); A leaves 1,000
 * sealed messages, the relay is SIGKILLed once mid-way and restarted on its SQLite file, A goes
 * offline; B comes back and gets all 1,000, exactly once, in A's order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Peer, PeerError, randomBytes } from '../../src/index.js';
import { NodeProcess } from './helpers/node.js';

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('mailboxes (separate processes)', () => {
  it('B offline: 1,000 sealed messages survive a relay SIGKILL and reach B exactly once, in order', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-mailbox-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const seedPeer = await Peer.create({ entityId: 'seed', dht: { host: '127.0.71.1' } });
    cleanup.push(() => seedPeer.close());
    const boot = [seedPeer.dht!.address];
    const relayOptions = { seed: randomBytes(32).toString('hex'), relay: { host: '127.0.0.1', port: await freePort(), mailbox: { path: path.join(dir, 'mailbox.db') } } };
    let relay = await NodeProcess.start(relayOptions);
    cleanup.push(() => relay.kill());
    const relayAddr = await relay.relayAddress();
    const bOptions = { seed: randomBytes(32).toString('hex'), mailbox: { relay: relayAddr, secret: randomBytes(32).toString('hex'), drainEveryMs: 300 }, bootstrap: boot, dht: { host: '127.0.72.1' } };
    let b = await NodeProcess.start(bOptions);
    cleanup.push(() => b.kill());
    const bId = (await b.info()).entityId;

    const a = await Peer.create({ bootstrap: boot, dht: { host: '127.0.73.1' } });
    cleanup.push(() => a.close());
    for (let i = 0; i < 100 && (await a.lookup(bId).catch(() => null))?.mailbox == null; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await a.lookup(bId)).mailbox?.address).toBe(relayAddr);
    await b.kill(); // B is offline: no listener, no session, only its record and its mailbox

    const N = 1000;
    const id = (i: number): Buffer => Buffer.from(i.toString(16).padStart(32, '0'), 'hex');
    let acked = 0;
    let restarted: Promise<void> | null = null;
    let failures = 0;
    for (let i = 0; i < N;) {
      const window = Array.from({ length: Math.min(100, N - i) }, (_, k) => i + k);
      const results = await Promise.allSettled(window.map((j) => a.mail(bId, `m${j}`, { type: 'task', id: id(j) }).then(() => {
        // The relay dies mid-window, with deposits in flight; it comes back on the same file and port.
        if (++acked === 450) restarted = relay.kill().then(async () => {
          relay = await NodeProcess.start(relayOptions);
        });
      })));
      const firstFail = results.findIndex((r) => r.status === 'rejected');
      if (firstFail === -1) {
        i += window.length;
        continue;
      }
      const err = (results[firstFail] as PromiseRejectedResult).reason as PeerError;
      expect(['SESSION_CLOSED', 'UNREACHABLE']).toContain(err.code);
      expect(++failures).toBeLessThan(100);
      i += firstFail; // re-sent in order from the first unconfirmed one (the mailbox drops ids it holds)
      await restarted;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(restarted).not.toBeNull();
    await a.close(); // A goes offline too

    b = await NodeProcess.start(bOptions); // B comes back with its key and mailbox secret
    let got: string[] = [];
    for (let i = 0; i < 300 && got.length < N; i++) {
      await new Promise((r) => setTimeout(r, 100));
      got = await b.mail();
    }
    await new Promise((r) => setTimeout(r, 700)); // another drain or two: nothing more may come
    got = await b.mail();
    expect(got).toEqual(Array.from({ length: N }, (_, i) => id(i).toString('hex')));
    const st = (await relay.stats()).relay!;
    console.log(`mailbox: ${N} delivered exactly once in order; ${failures} retry rounds after the relay SIGKILL; relay after restart ${JSON.stringify(st.mailbox)}`);
  }, 120_000);
});
