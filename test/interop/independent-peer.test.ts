// peercomm against a peer written from docs/PROTOCOL.md alone (test/interop/doc-peer.ts).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import {
  Conn, Identity, Ephemeral, initiate, respond, deriveKeys, encodeInit, encodeInitAck, decodeInitAck,
  encodeChallengeResponse, encodeConfirm, frame, recordHeader, nonceFor, seal, encodeMessages, DocSession,
  MSG, T, type Keys, type Message,
} from './doc-peer.js';
import { cleanups, libPeer, waitFor } from './lib-peer.js';

const ex = JSON.parse(readFileSync(new URL('../vectors/handshake-example.json', import.meta.url), 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const bytes = (n: number, salt: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + salt) & 0xff));

describe('an independent peer written from PROTOCOL.md', () => {
  it('1. doc initiator -> peercomm listener: handshake, messages both ways, key_update, close', async () => {
    const { p, messages, sessions } = await libPeer();
    const addr = await p.listen({ host: '127.0.0.1', port: 0 });
    const conn = await Conn.connect(addr.host, addr.port);
    cleanups.push(() => conn.socket.destroy());
    const me = new Identity();
    const s = await initiate(conn, { entityId: 'doc', identity: me });
    expect(s.remote.entityId).toBe('lib');

    const sent: Message[] = [
      { type: MSG.task!, payload: Buffer.alloc(0) },
      { type: MSG.message!, payload: bytes(10, 1) },
      { type: MSG.task!, payload: bytes(1000, 2) },
      { type: MSG.message!, payload: bytes(60_000, 3) },
    ];
    for (const m of sent) s.sendMessages([m]);
    const coalesced: Message[] = [
      { type: MSG.message!, payload: Buffer.from('one') },
      { type: MSG.task!, payload: Buffer.alloc(0) },
      { type: MSG.task!, payload: bytes(1000, 4) },
      { type: 0x80, payload: Buffer.from('application type') },
    ];
    s.sendMessages(coalesced); // one data record, count 4
    expect(s.sendSeq).toBe(8);
    s.sendKeyUpdate(); // takes record sequence 8, not a message number
    const after: Message = { type: MSG.task!, payload: Buffer.from('after key_update') };
    s.sendMessages([after]);
    const all = [...sent, ...coalesced, after];
    await waitFor(() => messages.length === all.length);
    const names: Record<number, string> = Object.fromEntries(Object.entries(MSG).map(([k, v]) => [v, k]));
    messages.forEach((m, i) => {
      expect(m.from).toBe('doc');
      if (all[i]!.type < 0x80) expect(m.type).toBe(names[all[i]!.type]);
      else expect([0x80, '0x80', 128]).toContain(m.type);
      expect(Buffer.from(m.payload).equals(all[i]!.payload)).toBe(true);
      expect(m.seq).toBe(i);
    });
    expect(sessions).toHaveLength(1);
    const lib = sessions[0];
    expect(lib.remote.entityId).toBe('doc');
    expect(Buffer.from(lib.remote.publicKey, typeof lib.remote.publicKey === 'string' ? 'hex' : undefined).equals(me.publicKey)).toBe(true);

    // the library's session answers; our peer opens the records
    await lib.send('reply from peercomm', { type: 'task' });
    await lib.send(bytes(30_000, 5), { type: 'message' });
    const got: Message[] = [];
    while (got.length < 2) {
      const r = await s.recvRecord();
      expect(r?.type).toBe(T.data);
      got.push(...r!.messages!);
    }
    expect(got[0]).toEqual({ type: MSG.task, payload: Buffer.from('reply from peercomm'), seq: 0 });
    expect(got[1]!.type).toBe(MSG.message);
    expect(got[1]!.payload.equals(bytes(30_000, 5))).toBe(true);
    expect(got[1]!.seq).toBe(1);

    // orderly close from our side: a close record; §6: the receiver ends the connection too
    s.sendClose(true);
    await waitFor(() => lib.state === 'CLOSED');
    expect(await conn.recv(2000)).toBeNull();
    conn.close();
    expect(await conn.recv()).toBeNull();
    expect(conn.ended).toBe(true);
  });

  it('2. peercomm initiator -> doc responder: handshake, messages both ways, close', async () => {
    const server = net.createServer();
    cleanups.push(() => new Promise((r) => server.close(r)));
    const ours = new Promise<DocSession>((resolve, reject) => server.once('connection', (sock) => {
      const conn = new Conn(sock);
      cleanups.push(() => sock.destroy());
      respond(conn, { entityId: 'doc-responder' }).then(resolve, reject);
    }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;

    const { p, messages } = await libPeer('lib-initiator');
    const lib = await p.connect({ host: '127.0.0.1', port });
    const s = await ours;
    expect(lib.remote!.entityId).toBe('doc-responder');
    expect(s.remote.entityId).toBe('lib-initiator');

    const payloads = ['first', '', 'x'.repeat(1000), 'y'.repeat(60_000)];
    for (const [i, pl] of payloads.entries()) await lib.send(pl, { type: i % 2 ? 'message' : 'task' });
    const got: Message[] = [];
    while (got.length < payloads.length) got.push(...(await s.recvRecord())!.messages!);
    got.forEach((m, i) => {
      expect(m.type).toBe(i % 2 ? MSG.message : MSG.task);
      expect(m.payload.toString()).toBe(payloads[i]);
      expect(m.seq).toBe(i);
    });

    s.sendMessages([{ type: MSG.task!, payload: Buffer.from('hi from the doc peer') }, { type: MSG.message!, payload: bytes(100, 7) }]);
    s.sendKeyUpdate();
    s.sendMessages([{ type: MSG.task!, payload: Buffer.from('after key_update') }]);
    await waitFor(() => messages.length === 3);
    expect(messages.map((m) => [m.from, m.type, m.seq])).toEqual([['doc-responder', 'task', 0], ['doc-responder', 'message', 1], ['doc-responder', 'task', 2]]);
    expect(Buffer.from(messages[0].payload).toString()).toBe('hi from the doc peer');
    expect(Buffer.from(messages[1].payload).equals(bytes(100, 7))).toBe(true);
    expect(Buffer.from(messages[2].payload).toString()).toBe('after key_update');

    await lib.close(); // sends a close record
    const r = await s.recvRecord();
    expect(r?.type).toBe(T.close);
  });

  it('3. fixed inputs reproduce the §9 worked example byte for byte', async () => {
    const { initiator: ia, responder: rb } = ex.inputs;
    const A = new Identity(hex(ia.seed)), B = new Identity(hex(rb.seed));
    const eA = new Ephemeral(hex(ia.ephemeralSecret)), eB = new Ephemeral(hex(rb.ephemeralSecret));
    expect(A.publicKey.toString('hex')).toBe(ex.publicKeys.initiatorIdentity);
    expect(B.publicKey.toString('hex')).toBe(ex.publicKeys.responderIdentity);
    expect(eA.publicKey.toString('hex')).toBe(ex.publicKeys.initiatorEphemeral);
    expect(eB.publicKey.toString('hex')).toBe(ex.publicKeys.responderEphemeral);

    // message by message, with the pure functions
    const init = encodeInit({ versions: [0x11], suites: [0x01, 0x02], identity: A.publicKey, ephemeral: eA.publicKey,
      timestamp: ex.inputs.timestamp, nonce: hex(ia.nonce), entityId: ia.entityId });
    expect(init.toString('hex')).toBe(ex.messages.handshake_init);
    const ack = encodeInitAck({ version: 0x11, suite: 0x01, identity: B.publicKey, ephemeral: eB.publicKey,
      challenge: hex(rb.challenge), entityId: rb.entityId }, init, B);
    expect(ack.toString('hex')).toBe(ex.messages.handshake_init_ack);
    expect(decodeInitAck(ack, init).entityId).toBe('bob');
    const hh = (await import('node:crypto')).createHash('sha256').update(Buffer.concat([init, ack])).digest();
    expect(hh.toString('hex')).toBe(ex.derived.handshakeHash);
    expect(encodeChallengeResponse(A, hh).toString('hex')).toBe(ex.messages.challenge_response);
    const kA = deriveKeys(eA.shared(eB.publicKey), hh), kB = deriveKeys(eB.shared(eA.publicKey), hh);
    const asHex = (k: Keys) => Object.fromEntries(Object.entries(k).map(([n, v]) => [n, v.toString('hex')]));
    expect(asHex(kA)).toEqual(asHex(kB));
    const d = ex.derived;
    expect(asHex(kA)).toEqual({ shared: d.sharedSecret, sessionKey: d.sessionKey, keyI2R: d.keyI2R, ivI2R: d.ivI2R,
      keyR2I: d.keyR2I, ivR2I: d.ivR2I, confirmKey: d.confirmKey, sessionId: d.sessionId });
    expect(encodeConfirm(T.established, kB).toString('hex')).toBe(ex.messages.session_established);
    expect(encodeConfirm(T.confirm, kA).toString('hex')).toBe(ex.messages.session_confirm);
    expect(encodeConfirm(T.ready, kB).toString('hex')).toBe(ex.messages.ready);
    const header = recordHeader(T.data, kA.sessionId, 0, 1);
    expect(header.toString('hex')).toBe(ex.record.header);
    expect(nonceFor(kA.ivI2R, 0).toString('hex')).toBe(ex.record.nonce);
    const pt = encodeMessages([{ type: MSG.task!, payload: Buffer.from(ex.inputs.record.payload) }]);
    expect(frame(seal(kA.keyI2R, kA.ivI2R, header, pt)).toString('hex')).toBe(ex.record.frame);

    // and the two drivers, over a real socket, with the fixed inputs, produce the same transcript
    const server = net.createServer();
    cleanups.push(() => new Promise((r) => server.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const responder = new Promise<DocSession>((resolve, reject) => server.once('connection', (sock) => {
      cleanups.push(() => sock.destroy());
      respond(new Conn(sock), { entityId: 'bob', identity: B, ephemeralSecret: hex(rb.ephemeralSecret),
        challenge: hex(rb.challenge), suites: [0x01, 0x02], now: () => ex.inputs.timestamp }).then(resolve, reject);
    }));
    const conn = await Conn.connect('127.0.0.1', (server.address() as net.AddressInfo).port);
    cleanups.push(() => conn.socket.destroy());
    const sA = await initiate(conn, { entityId: 'alice', identity: A, ephemeralSecret: hex(ia.ephemeralSecret),
      nonce: hex(ia.nonce), timestamp: ex.inputs.timestamp, suites: [0x01, 0x02] });
    const sB = await responder;
    expect(conn.transcript.map((t) => t.body.toString('hex'))).toEqual([ex.messages.handshake_init,
      ex.messages.handshake_init_ack, ex.messages.challenge_response, ex.messages.session_established,
      ex.messages.session_confirm, ex.messages.ready]);
    sA.sendMessages([{ type: MSG.task!, payload: Buffer.from('hello, bob') }]);
    expect(frame(conn.transcript.at(-1)!.body).toString('hex')).toBe(ex.record.frame);
    const r = await sB.recvRecord();
    expect(r?.messages).toEqual([{ type: MSG.task, payload: Buffer.from('hello, bob'), seq: 0 }]);
  });

  // §6: "Every failure but REPLAY_DETECTED ends the session: the receiver sends an error record (or
  // a handshake_error before READY)". (This check found peercomm sending a plaintext
  // handshake_error after READY; it now seals the error record as §6 says.)
  async function tamperedRecordReply() {
    const { p, messages, sessions } = await libPeer();
    const addr = await p.listen({ host: '127.0.0.1', port: 0 });
    const conn = await Conn.connect(addr.host, addr.port);
    cleanups.push(() => conn.socket.destroy());
    const s = await initiate(conn, { entityId: 'doc' });
    s.sendMessages([{ type: MSG.task!, payload: Buffer.from('fine') }]);
    await waitFor(() => messages.length === 1);
    const bad = s.sealRecord(T.data, 1, encodeMessages([{ type: MSG.task!, payload: Buffer.from('tampered with') }]));
    bad[24 + 3]! ^= 0x10; // a ciphertext bit (the header is 24 bytes)
    conn.send(bad);
    const r = await s.recvRecord();
    const closed = (await conn.recv()) === null;
    return { r, closed, messages, sessions };
  }

  it('4. a flipped ciphertext bit: peercomm answers with a sealed error record DECRYPTION_FAILED and closes', async () => {
    const { r, closed, messages, sessions } = await tamperedRecordReply();
    expect(r?.type).toBe(T.error);
    expect(r?.error?.code).toBe('DECRYPTION_FAILED');
    expect(closed).toBe(true);
    expect(messages).toHaveLength(1);
    await waitFor(() => sessions[0]?.state !== 'READY');
  });

  it('4c. a sequence gap: a sealed error record SEQUENCE_ERROR, then the connection closes', async () => {
    const { p } = await libPeer();
    const addr = await p.listen({ host: '127.0.0.1', port: 0 });
    const conn = await Conn.connect(addr.host, addr.port);
    cleanups.push(() => conn.socket.destroy());
    const s = await initiate(conn, { entityId: 'doc' });
    s.sendSeq = 5;
    s.sendMessages([{ type: MSG.task!, payload: Buffer.from('skipped ahead') }]);
    const r = await s.recvRecord();
    expect(r?.error?.code).toBe('SEQUENCE_ERROR');
    expect(r?.type).toBe(T.error);
    expect(await conn.recv()).toBeNull();
  });
});
