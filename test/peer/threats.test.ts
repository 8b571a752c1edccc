/**
 * The spec's security considerations, each attacked over real TCP through a man-in-the-middle
 * proxy: eavesdropping, tampering, replay, MITM (key substitution), forward secrecy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Identity, Peer, wire, x25519, type Message } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { TcpProxy, type Rewrite } from '../helpers/tcp-proxy.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(rewrite?: Rewrite, serverOpts: Parameters<typeof Peer.create>[0] = {}) {
  const server = await Peer.create({ entityId: 'bob', ...serverOpts });
  const port = (await server.listen()).port;
  const proxy = await TcpProxy.start(port, rewrite);
  const client = await Peer.create({ entityId: 'alice' });
  cleanup.push(() => server.close(), () => proxy.close(), () => client.close());
  return { server, proxy, client };
}

/** Waits (up to 20 s, however loaded the machine) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
}

function firstMessage(p: Peer): Promise<Message> {
  return new Promise((r) => p.once('message', r));
}

describe('threats (spec: Security Considerations)', () => {
  it('eavesdropping: no plaintext byte of a message crosses the wire', async () => {
    const { server, proxy, client } = await setup();
    const secret = Buffer.from('launch code 7391-alpha, tell no one; the plan is to meet at dawn by the river');
    const got = firstMessage(server);
    const s = await client.connect({ host: '127.0.0.1', port: proxy.port });
    await s.send(secret, { type: 'task' });
    expect(Buffer.from((await got).payload).equals(secret)).toBe(true);
    const wireBytes = Buffer.concat([proxy.bytes('toServer'), proxy.bytes('toClient')]);
    for (let i = 0; i + 6 <= secret.length; i++) expect(wireBytes.includes(secret.subarray(i, i + 6))).toBe(false);
    expect(wireBytes.includes(Buffer.from('task'))).toBe(false);
  });

  it('tampering: any flipped byte of a record is rejected, never delivered', async () => {
    const payload = Buffer.from('transfer 10 credits to agent-7');
    for (const offset of [4, 12, 21, 30, 40, 60]) {
      const { server, proxy, client } = await setup((body, dir) => {
        if (dir === 'toServer' && body[1] === wire.FrameType.Data && offset < body.length) body[offset]! ^= 0x20;
        return body;
      });
      const delivered: Message[] = [];
      server.on('message', (m: Message) => delivered.push(m));
      const errors: string[] = [];
      server.on('sessionError', (e: { code: string }) => errors.push(e.code));
      const s = await client.connect({ host: '127.0.0.1', port: proxy.port });
      const closed = new Promise((r) => s.once('close', r));
      await s.send(payload);
      await closed;
      expect(delivered).toEqual([]);
      expect(errors.length).toBe(1);
      expect(['DECRYPTION_FAILED', 'SESSION_NOT_FOUND', 'SEQUENCE_ERROR', 'MALFORMED_FRAME']).toContain(errors[0]);
    }
  });

  it('replay: a recorded record replayed is rejected and not delivered twice', async () => {
    const { server, proxy, client } = await setup((body) => body);
    const delivered: string[] = [];
    server.on('message', (m: Message) => delivered.push(Buffer.from(m.payload).toString()));
    const s = await client.connect({ host: '127.0.0.1', port: proxy.port });
    await s.send('pay once');
    await until(() => delivered.length === 1);
    // Inject a copy of the recorded data record into the live client→server stream.
    const record = proxy.frames.toServer.find((f) => f[1] === wire.FrameType.Data)!;
    const dropped = server.stats().recordsDropped;
    proxy.inject('toServer', record);
    await s.send('second');
    // The stream is ordered: once 'second' is delivered, the replayed copy before it was handled.
    await until(() => delivered.length >= 2);
    await new Promise((r) => setTimeout(r, 50)); // a second delivery of the copy would show here
    expect(delivered).toEqual(['pay once', 'second']);
    expect(server.stats().recordsDropped).toBe(dropped + 1);
  });

  it('replay: a recorded handshake_init replayed to the server is REPLAY_DETECTED', async () => {
    const { proxy, client, server } = await setup();
    await client.connect({ host: '127.0.0.1', port: proxy.port });
    const init = new wire.Deframer().push(proxy.bytes('toServer'))[0]!;
    expect(init[1]).toBe(wire.FrameType.HandshakeInit);
    const raw = await RawClient.connect(server.address!.port);
    raw.send(init);
    expect(await raw.nextErrorCode()).toBe('REPLAY_DETECTED');
    raw.close();
  });

  it('MITM: swapping the ephemeral key in handshake_init cannot complete the handshake', async () => {
    const { proxy, client } = await setup((body, dir) => {
      if (dir === 'toServer' && body[1] === wire.FrameType.HandshakeInit) {
        const at = 2 + 1 + body[2]! + 1 + body[3 + body[2]!]! + 32;
        body.set(x25519.generateKeyPair().publicKey, at);
      }
      return body;
    });
    await expect(client.connect({ host: '127.0.0.1', port: proxy.port })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('MITM: swapping the ephemeral key in handshake_init_ack cannot complete the handshake', async () => {
    const { proxy, client } = await setup((body, dir) => {
      if (dir === 'toClient' && body[1] === wire.FrameType.HandshakeInitAck) body.set(x25519.generateKeyPair().publicKey, 4 + 32);
      return body;
    });
    await expect(client.connect({ host: '127.0.0.1', port: proxy.port })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('MITM: a middleman with its own identity is detected by the pinned key (fingerprint)', async () => {
    const bob = await Peer.create({ entityId: 'bob' });
    await bob.listen();
    // Mallory terminates the client's connection herself, claiming to be bob.
    const mallory = await Peer.create({ entityId: 'bob' });
    const mport = (await mallory.listen()).port;
    const alice = await Peer.create({ entityId: 'alice', trust: [['bob', bob.identity.publicKey]] });
    cleanup.push(() => bob.close(), () => mallory.close(), () => alice.close());
    await expect(alice.connect({ host: '127.0.0.1', port: mport })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
    const unpinned = await Peer.create({ entityId: 'carol' });
    cleanup.push(() => unpinned.close());
    const s = await unpinned.connect({ host: '127.0.0.1', port: mport });
    expect(s.fingerprint).toBe(mallory.identity.fingerprint); // what a user compares against bob's
    expect(s.fingerprint).not.toBe(bob.identity.fingerprint);
  });

  it('forward secrecy: both ephemeral secrets are zero once the handshake is done', () => {
    const ea = x25519.generateKeyPair();
    const eb = x25519.generateKeyPair();
    const now = Date.now();
    const { handshake: a, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'a', fixed: { ephemeral: ea } }, now);
    const b = Handshake.respond({ identity: Identity.generate(), entityId: 'b', fixed: { ephemeral: eb } }, now);
    let toB = send;
    while (toB.length > 0) toB = toB.flatMap((m) => b.receive(m, now)).flatMap((m) => a.receive(m, now));
    expect(a.state).toBe('READY');
    expect(ea.secretKey.every((x) => x === 0)).toBe(true);
    expect(eb.secretKey.every((x) => x === 0)).toBe(true);
  });
});
