/**
 * Smaller hostile inputs over real TCP: peer-sent error codes and reasons reach PeerError and
 * logs only cleaned (known codes, no control or format characters, capped); a handshake_init
 * reflected back at its initiator is refused before it signs anything. Also: key material and
 * partial frames never live in Node's shared Buffer pool.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, PeerError, hkdf, hkdfExpand, wire } from '../../src/index.js';
import { encodeHandshakeError } from '../../src/handshake/index.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { AuthenticatedPeer } from '../helpers/authenticated-peer.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const NASTY = 'line one\r\n[ERROR] forged log line\u0007\u001b[31m\u202eevil\u200b' + 'x'.repeat(900);

function expectClean(err: PeerError): void {
  expect(err.message).not.toMatch(/[\p{Cc}\p{Cf}]/u);
  expect(err.message.length).toBeLessThan(400);
}

/** A hand-written hostile listener (`onFrame` for each frame a client sends); returns the client's connect() error. */
async function connectTo(onFrame: (s: net.Socket, frame: Uint8Array) => void): Promise<PeerError | null> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    const d = new wire.Deframer();
    s.on('data', (chunk) => {
      for (const f of d.push(chunk)) onFrame(s, f);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const client = await Peer.create({ entityId: 'client' });
  cleanup.push(() => client.close());
  return client.connect(`127.0.0.1:${(server.address() as net.AddressInfo).port}`).then(() => null, (e: PeerError) => e);
}

describe('peer-sent error codes and reasons', () => {
  it.each([
    { sent: 'PWNED\u0007', code: 'INVALID_STATE', says: 'unknown code PWNED' },
    { sent: 'SEQUENCE_ERROR', code: 'SEQUENCE_ERROR', says: 'forged log line' },
  ])('an error record with code $sent and a hostile reason ends the session as $code, cleaned', async ({ sent, code, says }) => {
    const server = await Peer.create({ entityId: 'server' });
    cleanup.push(() => server.close());
    const got = new Promise<PeerError>((r) => server.once('sessionError', r));
    const evil = await AuthenticatedPeer.connect((await server.listen({ host: '127.0.0.1' })).port);
    cleanup.push(() => evil.close());
    evil.send(wire.FrameType.Error, encodeErrorPayload({ code: sent as never, reason: NASTY }));
    const err = await got;
    expect(err.code).toBe(code);
    expect(err.message).toContain(says);
    expectClean(err);
    expect(String(err.details?.reason)).not.toMatch(/[\p{Cc}\p{Cf}]/u);
  });

  it('a hostile listener’s handshake_error reaches connect() cleaned', async () => {
    const err = await connectTo((s) => s.end(wire.encodeFrame(encodeHandshakeError('NOT_A_CODE' as never, NASTY.slice(0, 500)))));
    expect(err?.code).toBe('INVALID_STATE');
    expectClean(err!);
  });
});

describe('reflection', () => {
  it('a handshake_init reflected back at its initiator is refused; nothing is signed for the reflector', async () => {
    const received: number[] = [];
    const err = await connectTo((s, f) => {
      received.push(f[1]!);
      if (f[1] === wire.FrameType.HandshakeInit) s.write(wire.encodeFrame(f)); // echo the client's own init
    });
    expect(err?.code).toBe('INVALID_STATE');
    await new Promise((r) => setTimeout(r, 100));
    expect(received).not.toContain(wire.FrameType.HandshakeInitAck);
  });
});

describe('no secrets or partial frames in the shared Buffer pool', () => {
  it('HKDF outputs have their own allocation', () => {
    const prk = Buffer.alloc(32, 7);
    for (const out of [hkdfExpand(prk, Buffer.from('x'), 32), hkdf(prk, Buffer.alloc(0), 'info', 12)]) {
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(out.length);
    }
  });

  it('a frame spanning reads is assembled in its own allocation', () => {
    const body = Buffer.alloc(100, 1);
    const framed = wire.encodeFrame(body);
    const d = new wire.Deframer();
    expect(d.push(framed.subarray(0, 50))).toEqual([]);
    const [f] = d.push(framed.subarray(50));
    expect(Buffer.from(f!).equals(body)).toBe(true);
    expect(f!.byteOffset).toBe(0);
    expect(f!.buffer.byteLength).toBe(100);
  });
});
