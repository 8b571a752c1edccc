// Handshake pipelining (PROTOCOL.md §4 "Pipelining"), both ways against the peer written from
// the document (test/interop/doc-peer.ts), and what a peer that pipelines hostile bytes gets.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  Conn, DocSession, Ephemeral, Identity, checkChallengeResponse, decodeInit, deriveKeys, encodeChallengeResponse,
  encodeConfirm, encodeInit, encodeInitAck, decodeInitAck, frame, initiate, MSG, T, type Keys,
} from './doc-peer.js';
import { createHash } from 'node:crypto';
import { cleanups, libPeer, waitFor } from './lib-peer.js';

const sha256 = (...p: Buffer[]) => createHash('sha256').update(Buffer.concat(p)).digest();
/** A listening peercomm peer and a doc-peer connection to it. */
async function libListener() {
  const lib = await libPeer();
  const addr = await lib.p.listen({ host: '127.0.0.1', port: 0 });
  const connect = async () => {
    const conn = await Conn.connect(addr.host, addr.port);
    cleanups.push(() => conn.socket.destroy());
    return conn;
  };
  return { ...lib, connect };
}

/** A doc responder's first step: reads handshake_init, sends handshake_init_ack; the handshake hash and keys. */
async function docAck(conn: Conn) {
  const id = new Identity(), eph = new Ephemeral();
  const initBody = await conn.mustRecv();
  const init = decodeInit(initBody);
  const ackBody = encodeInitAck({ version: 0x11, suite: 0x01, identity: id.publicKey, ephemeral: eph.publicKey,
    challenge: randomBytes(32), entityId: 'doc-responder' }, initBody, id);
  conn.send(ackBody);
  const hh = sha256(initBody, ackBody);
  return { init, hh, keys: deriveKeys(eph.shared(init.ephemeral), hh) };
}

/** The doc initiator up to its keys: sends init, reads and verifies init_ack. */
async function initiatorKeys(conn: Conn, id = new Identity()) {
  const eph = new Ephemeral();
  const init = encodeInit({ versions: [0x11], suites: [0x01], identity: id.publicKey, ephemeral: eph.publicKey,
    timestamp: Date.now(), nonce: randomBytes(16), entityId: 'doc' });
  conn.send(init);
  const ackBody = await conn.mustRecv();
  const ack = decodeInitAck(ackBody, init);
  const hh = sha256(init, ackBody);
  return { id, hh, keys: deriveKeys(eph.shared(ack.ephemeral), hh), ack };
}

/** A session that was READY answers; the listener still serves a fresh doc initiator. */
async function listenerStillServes(connect: () => Promise<Conn>, messages: any[]) {
  const conn = await connect();
  const s = await initiate(conn, { entityId: 'doc-check', pipeline: true });
  const before = messages.length;
  s.sendMessages([{ type: MSG.task!, payload: Buffer.from('still there?') }]);
  await waitFor(() => messages.length === before + 1);
  expect(Buffer.from(messages[before].payload).toString()).toBe('still there?');
}

describe('handshake pipelining', () => {
  it('doc initiator that pipelines (3 and 5 in one write) -> peercomm listener: READY, messages both ways', async () => {
    const { messages, sessions, connect } = await libListener();
    const conn = await connect();
    const s = await initiate(conn, { entityId: 'doc', pipeline: true });
    expect(conn.transcript.filter((t) => t.dir === 'in').map((t) => t.body[1])).toEqual([T.initAck, T.established, T.ready]);
    s.sendMessages([{ type: MSG.task!, payload: Buffer.from('after a pipelined handshake') }]);
    await waitFor(() => messages.length === 1);
    expect(Buffer.from(messages[0].payload).toString()).toBe('after a pipelined handshake');
    await sessions[0].send('reply', { type: 'task' });
    const r = await s.recvRecord();
    expect(r?.messages?.[0]?.payload.toString()).toBe('reply');
  });

  it('peercomm initiator pipelines: a responder that sends nothing after init_ack until it has read both 3 and 5 gets them', async () => {
    const server = net.createServer();
    cleanups.push(() => new Promise((r) => server.close(r)));
    const order: number[] = [];
    const done = new Promise<DocSession>((resolve, reject) => server.once('connection', (sock) => {
      cleanups.push(() => sock.destroy());
      const conn = new Conn(sock);
      (async () => {
        const { init, hh, keys } = await docAck(conn);
        // A non-pipelining initiator would now wait for session_established: this would time out.
        const cr = await conn.mustRecv(5000);
        const confirm = await conn.mustRecv(5000);
        order.push(cr[1]!, confirm[1]!);
        checkChallengeResponse(cr, init.identity, hh);
        expect(encodeConfirm(T.confirm, keys).equals(confirm)).toBe(true);
        conn.send(encodeConfirm(T.established, keys));
        conn.send(encodeConfirm(T.ready, keys));
        return new DocSession(conn, 'responder', keys, { entityId: init.entityId, publicKey: init.identity });
      })().then(resolve, reject);
    }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { p } = await libPeer('lib-initiator');
    const session = await p.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    const doc = await done;
    expect(order).toEqual([T.challengeResponse, T.confirm]);
    await session.send('hello', { type: 'task' });
    expect((await doc.recvRecord())?.messages?.[0]?.payload.toString()).toBe('hello');
  });

  it('a pipelined session_confirm with a wrong MAC: session_established was sent, then DECRYPTION_FAILED ends only that connection', async () => {
    const { sessions, messages, connect } = await libListener();
    const conn = await connect();
    const { id, hh, keys } = await initiatorKeys(conn);
    const bad = encodeConfirm(T.confirm, keys);
    bad[bad.length - 1]! ^= 1;
    conn.sendAll([encodeChallengeResponse(id, hh), bad]);
    expect((await conn.mustRecv())[1]).toBe(T.established);
    const err = await conn.mustRecv();
    expect(err[1]).toBe(T.handshakeError);
    expect(err.subarray(3, 3 + err[2]!).toString()).toBe('DECRYPTION_FAILED');
    expect(await conn.recv()).toBeNull(); // closed, no ready
    expect(sessions).toHaveLength(0);
    await listenerStillServes(connect, messages);
  });

  it('a pipelined session_confirm behind a bad challenge_response is never looked at: CHALLENGE_INVALID, nothing else sent', async () => {
    const { sessions, messages, connect } = await libListener();
    const conn = await connect();
    const { hh, keys } = await initiatorKeys(conn);
    const forged = encodeChallengeResponse(new Identity(), hh); // signed by a key that is not the init's
    conn.sendAll([forged, encodeConfirm(T.confirm, keys)]);
    const err = await conn.mustRecv();
    expect(err[1]).toBe(T.handshakeError);
    expect(err.subarray(3, 3 + err[2]!).toString()).toBe('CHALLENGE_INVALID');
    expect(await conn.recv()).toBeNull();
    expect(sessions).toHaveLength(0);
    await listenerStillServes(connect, messages);
  });

  it('session_confirm before challenge_response, or a record pipelined before session_confirm: refused, that connection only', async () => {
    const { sessions, messages, connect } = await libListener();
    // 5 then 3: the responder wants challenge_response next.
    const c1 = await connect();
    const k1 = await initiatorKeys(c1);
    c1.sendAll([encodeConfirm(T.confirm, k1.keys), encodeChallengeResponse(k1.id, k1.hh)]);
    const e1 = await c1.mustRecv();
    expect(e1.subarray(3, 3 + e1[2]!).toString()).toBe('INVALID_STATE');
    expect(await c1.recv()).toBeNull();
    // 3, a sealed record, then 5: the record comes before READY.
    const c2 = await connect();
    const k2 = await initiatorKeys(c2);
    const early = new DocSession(c2, 'initiator', k2.keys as Keys, { entityId: 'lib', publicKey: k2.ack.identity });
    const record = early.sealRecord(T.data, 1, Buffer.concat([Buffer.from([MSG.task!, 0, 0, 0, 5]), Buffer.from('early')]));
    c2.socket.write(Buffer.concat([frame(encodeChallengeResponse(k2.id, k2.hh)), frame(record), frame(encodeConfirm(T.confirm, k2.keys))]));
    expect((await c2.mustRecv())[1]).toBe(T.established);
    const e2 = await c2.mustRecv();
    expect(e2.subarray(3, 3 + e2[2]!).toString()).toBe('ENCRYPTION_NOT_READY');
    expect(await c2.recv()).toBeNull();
    expect(sessions).toHaveLength(0);
    expect(messages).toHaveLength(0);
    await listenerStillServes(connect, messages);
  });

  it('peercomm initiator: a responder that sends ready before session_established is refused (INVALID_STATE)', async () => {
    const server = net.createServer((sock) => {
      cleanups.push(() => sock.destroy());
      const conn = new Conn(sock);
      void (async () => {
        const { keys } = await docAck(conn);
        await conn.mustRecv();
        conn.sendAll([encodeConfirm(T.ready, keys), encodeConfirm(T.established, keys)]);
      })().catch(() => undefined);
    });
    cleanups.push(() => new Promise((r) => server.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { p } = await libPeer('lib-initiator');
    await expect(p.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port })).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });
});
