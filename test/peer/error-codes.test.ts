/**
 * Every error code of the handshake and the session, provoked by sending the offending bytes
 * over a real TCP connection to a listening Peer. After each, the Peer still serves a session
 * that was established before the attack.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Identity, Peer, wire, type Message, type Session } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { NO_LIMITS } from '../helpers/limits.js';

let server: Peer;
let port: number;
const CHALLENGE_LIFETIME_MS = 2000;
let friend: Peer;
let friendSession: Session;

beforeAll(async () => {
  server = await Peer.create({
    entityId: 'server',
    // Long enough that no other case's handshake runs out of it on a loaded machine (300 ms did,
    // in SESSION_NOT_FOUND); CHALLENGE_EXPIRED waits past it.
    handshake: { challengeLifetimeMs: CHALLENGE_LIFETIME_MS },
    session: { ttlMs: 60_000 },
    rateLimits: NO_LIMITS,
  });
  port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  friend = await Peer.create({ entityId: 'friend' });
  friendSession = await friend.connect({ host: '127.0.0.1', port });
});

afterAll(async () => {
  await friend.close();
  await server.close();
});

/** The session established before each attack still carries messages both ways. */
async function serverStillServes(): Promise<void> {
  const got = new Promise<Message>((r) => server.once('message', r));
  await friendSession.send('still there?');
  expect(Buffer.from((await got).payload).toString()).toBe('still there?');
  expect(friendSession.state).toBe('READY');
}

function initBody(versions?: number[]): Buffer {
  return Handshake.initiate({ identity: Identity.generate(), entityId: 'raw', versions }, Date.now()).send[0]!;
}

describe('error codes over TCP', () => {
  it('INVALID_VERSION: no protocol version in common', async () => {
    const c = await RawClient.connect(port);
    c.send(initBody([0x12]));
    expect(await c.nextErrorCode()).toBe('INVALID_VERSION');
    expect(await c.closed()).toBe(true);
    await serverStillServes();
  });

  it('INVALID_SIGNATURE: a responder whose handshake_init_ack signature is forged', async () => {
    const evil = net.createServer((socket) => {
      const d = new wire.Deframer();
      socket.on('data', (chunk) => {
        for (const body of d.push(chunk)) {
          if (body[1] !== wire.FrameType.HandshakeInit) continue;
          const [ack] = Handshake.respond({ identity: Identity.generate(), entityId: 'evil' }, Date.now()).receive(body, Date.now());
          ack![ack!.length - 5]! ^= 0x10;
          socket.write(wire.encodeFrame(ack!));
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilPort = (evil.address() as net.AddressInfo).port;
    await expect(server.connect({ host: '127.0.0.1', port: evilPort })).rejects.toMatchObject({ code: 'INVALID_SIGNATURE' });
    evil.close();
    await serverStillServes();
  });

  it('REPLAY_DETECTED: a recorded handshake_init replayed on a new connection', async () => {
    const init = initBody();
    const first = await RawClient.connect(port);
    first.send(init);
    expect((await first.next())![1]).toBe(wire.FrameType.HandshakeInitAck);
    const replay = await RawClient.connect(port);
    replay.send(init);
    expect(await replay.nextErrorCode()).toBe('REPLAY_DETECTED');
    first.close();
    await serverStillServes();
  });

  it('SESSION_EXPIRED: a session past its TTL', async () => {
    const shortLived = await Peer.create({ entityId: 'short', session: { ttlMs: 300 } });
    const p = (await shortLived.listen()).port;
    const c = await RawClient.connect(p);
    const session = await c.handshake();
    expect(await c.nextErrorCode(session)).toBe('SESSION_EXPIRED');
    await shortLived.close();
    await serverStillServes();
  });

  it('SEQUENCE_ERROR: a record whose sequence skips one', async () => {
    const c = await RawClient.connect(port);
    const session = await c.handshake();
    session.send(0x0c, Buffer.from('lost'), Date.now());
    session.flush(Date.now());
    session.send(0x0c, Buffer.from('next'), Date.now());
    c.send(session.flush(Date.now())!, true);
    expect(await c.nextErrorCode(session)).toBe('SEQUENCE_ERROR');
    await serverStillServes();
  });

  it('DECRYPTION_FAILED: a record with one flipped ciphertext bit', async () => {
    const c = await RawClient.connect(port);
    const session = await c.handshake();
    session.send(0x0c, Buffer.from('tampered in flight'), Date.now());
    const frame = session.flush(Date.now())!;
    frame[frame.length - 20]! ^= 0x01;
    c.send(frame, true);
    const code = await c.nextErrorCode(session);
    expect(code).toBe('DECRYPTION_FAILED');
    await serverStillServes();
  });

  it('CHALLENGE_EXPIRED: challenge_response after the challenge lifetime', async () => {
    const c = await RawClient.connect(port);
    const { handshake, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'slow' }, Date.now());
    c.send(send[0]!);
    const ack = (await c.next())!;
    const [response] = handshake.receive(ack, Date.now());
    await new Promise((r) => setTimeout(r, CHALLENGE_LIFETIME_MS + 300));
    c.send(response!);
    expect(await c.nextErrorCode()).toBe('CHALLENGE_EXPIRED');
    await serverStillServes();
  });

  it('CHALLENGE_INVALID: challenge_response not signed by the initiator', async () => {
    const c = await RawClient.connect(port);
    const { handshake, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'forger' }, Date.now());
    c.send(send[0]!);
    const [response] = handshake.receive((await c.next())!, Date.now());
    response![5]! ^= 0x01;
    c.send(response!);
    expect(await c.nextErrorCode()).toBe('CHALLENGE_INVALID');
    await serverStillServes();
  });

  it('HANDSHAKE_IN_PROGRESS: a second handshake_init on a connection mid-handshake', async () => {
    const c = await RawClient.connect(port);
    c.send(initBody());
    expect((await c.next())![1]).toBe(wire.FrameType.HandshakeInitAck);
    c.send(initBody());
    expect(await c.nextErrorCode()).toBe('HANDSHAKE_IN_PROGRESS');
    c.close();
    await serverStillServes();
  });

  it('SESSION_NOT_FOUND: a record for a session id the connection does not have', async () => {
    const other = await RawClient.connect(port);
    const otherSession = await other.handshake();
    const c = await RawClient.connect(port);
    const session = await c.handshake();
    otherSession.send(0x0c, Buffer.from('wrong session'), Date.now());
    c.send(otherSession.flush(Date.now())!, true);
    expect(await c.nextErrorCode(session)).toBe('SESSION_NOT_FOUND');
    other.close();
    await serverStillServes();
  });

  it('ENCRYPTION_NOT_READY: a data record before the handshake completed', async () => {
    const donor = await RawClient.connect(port);
    const donorSession = await donor.handshake();
    donorSession.send(0x0c, Buffer.from('too early'), Date.now());
    const record = donorSession.flush(Date.now())!;
    const c = await RawClient.connect(port);
    c.send(record, true);
    expect(await c.nextErrorCode()).toBe('ENCRYPTION_NOT_READY');
    donor.close();
    await serverStillServes();
  });

  it('INVALID_STATE: challenge_response as the first message', async () => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([Buffer.of(0x11, wire.FrameType.ChallengeResponse), Buffer.alloc(64)]));
    expect(await c.nextErrorCode()).toBe('INVALID_STATE');
    await serverStillServes();
  });

  it('ENCRYPTION_REQUIRED: a plaintext (v1.0-style JSON) message on a v1.1 connection', async () => {
    const c = await RawClient.connect(port);
    await c.handshake();
    c.send(Buffer.from(JSON.stringify({ version: '1.0', msg_type: 'task', payload: { do: 'it' } })));
    const f = (await c.next())!;
    // Sent after READY, so the server seals the error record; without our session keys we can
    // still see its type, and the connection closes.
    expect(f[1]).toBe(wire.FrameType.Error);
    expect(server.stats().sessionErrors.ENCRYPTION_REQUIRED).toBeGreaterThanOrEqual(1);
    const before = await RawClient.connect(port);
    before.send(Buffer.from('{"version":"1.0"}'));
    expect(await before.nextErrorCode()).toBe('ENCRYPTION_REQUIRED');
    await serverStillServes();
  });

  it('a malformed frame and an oversize frame are refused with their codes', async () => {
    const c = await RawClient.connect(port);
    c.send(Buffer.of(0x11, 0x01, 0xff));
    expect(await c.nextErrorCode()).toBe('MALFORMED_FRAME');
    const big = await RawClient.connect(port);
    big.send(Buffer.of(0x7f, 0xff, 0xff, 0xff), true);
    expect(await big.nextErrorCode()).toBe('FRAME_TOO_LARGE');
    await serverStillServes();
  });

  it('counts every failure in peer.stats()', () => {
    const errors = server.stats().sessionErrors;
    for (const code of ['INVALID_VERSION', 'REPLAY_DETECTED', 'SEQUENCE_ERROR', 'DECRYPTION_FAILED', 'CHALLENGE_EXPIRED',
      'CHALLENGE_INVALID', 'SESSION_NOT_FOUND', 'ENCRYPTION_NOT_READY', 'INVALID_STATE', 'ENCRYPTION_REQUIRED']) {
      expect([code, errors[code as keyof typeof errors] ?? 0]).not.toEqual([code, 0]);
    }
  });
});
