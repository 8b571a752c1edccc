/**
 * Issue 11, routing-table poisoning over UDP on 127.x.y.z: an attacker that claims node X's id
 * (its public key, which every datagram of X carries) from its own address before X arrives,
 * and 96 sources that never answer (spoofed, for all the victim can tell) each sending one
 * request. On the DHT before proven ids, the first locked X out of the victim's table and was
 * advertised as X; the second put every one of the 96 in the table, and lookups went there.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import { idHex, nodeIdOf } from '../../src/dht/id.js';
import { decodeMessage, encodeFind, MSG } from '../../src/dht/messages.js';
import { DhtNode } from '../../src/dht/node.js';
import { encodePongFor } from './pong.js';

const nodes: DhtNode[] = [];
const sockets: dgram.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(nodes.map((n) => n.close()));
});

const settle = (ms = 400): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function socketAt(host: string, onMessage: (m: Buffer, from: string, s: dgram.Socket) => void = () => {}): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.on('message', (m, r) => onMessage(m, `${r.address}:${r.port}`, s));
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s;
}

function sendTo(s: dgram.Socket, to: string, data: Uint8Array): void {
  s.send(data, Number(to.slice(to.lastIndexOf(':') + 1)), to.slice(0, to.lastIndexOf(':')));
}

let victim: DhtNode;

beforeAll(async () => {
  victim = new DhtNode();
  await victim.start({ host: '127.7.0.1' });
  nodes.push(victim);
  // Ten honest nodes, each on its own /24.
  for (let i = 0; i < 10; i++) {
    const n = new DhtNode();
    await n.start({ host: `127.7.${10 + i}.1`, bootstrap: [victim.address] });
    nodes.push(n);
  }
  await settle();
}, 60_000);

describe('routing-table poisoning, over UDP', () => {
  it("an attacker claiming node X's id first, from its own address, neither locks X out nor is advertised as X", async () => {
    const x = Identity.generate();
    const xId = nodeIdOf(x.publicKey);
    const liar = Identity.generate();
    // The attacker sends requests under X's public key and answers PINGs as best it can: X's
    // key in the header, a signature of its own (it cannot sign for X).
    const attacker = await socketAt('127.7.90.1', (data, from, s) => {
      let m;
      try { m = decodeMessage(data); } catch { return; }
      if (m.type !== MSG.PING) return;
      const pong = new Uint8Array(encodePongFor(liar, m, encodeAddress(from)));
      pong.set(x.publicKey, 7);
      sendTo(s, from, pong);
    });
    sendTo(attacker, victim.address, encodeFind(MSG.FIND_NODE, 0, 1, x.publicKey, xId));
    await settle();
    // X itself arrives.
    const real = new DhtNode({ identity: x });
    await real.start({ host: '127.7.91.1', bootstrap: [victim.address] });
    nodes.push(real);
    await settle();
    const inTable = victim.dht.contacts().filter((c) => idHex(c.id) === idHex(xId)).map((c) => c.address);
    console.log(`victim's table holds X at ${JSON.stringify(inTable)} (X is at ${real.address}, the attacker at 127.7.90.1)`);
    expect(inTable).toEqual([real.address]);
    // What another node learns from the victim about X's id: X's address, never the attacker's.
    const asked = await nodes[3]!.findNode(xId);
    const advertised = asked.filter((c) => idHex(c.id) === idHex(xId)).map((c) => c.address);
    expect(advertised).toEqual([real.address]);
  }, 60_000);

  it('96 sources that never answer our nonce PING never enter the table, and no lookup is sent to them', async () => {
    const heard: { to: string; type: number }[] = [];
    const spoofed: dgram.Socket[] = [];
    for (let i = 0; i < 96; i++) {
      const host = `127.8.${i}.1`;
      spoofed.push(await socketAt(host, (data) => {
        try { heard.push({ to: host, type: decodeMessage(data).type }); } catch { /* not ours */ }
      }));
    }
    // One padded FIND_NODE from each, under a fresh key, aimed near the victim's id.
    spoofed.forEach((s, i) => sendTo(s, victim.address, encodeFind(MSG.FIND_NODE, 0, 100 + i, Identity.generate().publicKey, victim.id)));
    await settle(800);
    const admitted = victim.dht.contacts().filter((c) => c.address.startsWith('127.8.'));
    console.log(`contacts from the 96 silent sources in the victim's table: ${admitted.length}`);
    expect(admitted).toHaveLength(0);
    heard.length = 0;
    await victim.findNode(victim.id);
    await victim.findNode(Identity.generate().publicKey);
    const lookups = heard.filter((h) => h.type === MSG.FIND_NODE || h.type === MSG.FIND_VALUE);
    console.log(`lookup requests the victim then sent to the silent sources: ${lookups.length}`);
    expect(lookups).toHaveLength(0);
  }, 60_000);
});
