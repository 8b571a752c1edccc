import { describe, expect, it } from 'vitest';
import { Identity, PeerError, wire } from '../../src/index.js';
import { CookieJar, COOKIE_SECRET_LIFETIME_MS, Handshake, decodeHandshakeMessage, encodeCookie } from '../../src/handshake/index.js';

const T0 = 1_780_000_000_000;

describe('cookies', () => {
  it('a cookie verifies for its source address only, under the current or the previous secret', () => {
    const jar = new CookieJar(T0);
    const c = jar.issue('127.0.0.2', T0);
    expect(jar.verify('127.0.0.2', c, T0 + 1)).toBe(true);
    expect(jar.verify('127.0.0.3', c, T0 + 1)).toBe(false);
    expect(jar.verify('127.0.0.2', c.subarray(0, 31), T0)).toBe(false);
    const flipped = Buffer.from(c);
    flipped[0]! ^= 1;
    expect(jar.verify('127.0.0.2', flipped, T0)).toBe(false);
    expect(jar.verify('127.0.0.2', c, T0 + COOKIE_SECRET_LIFETIME_MS + 1)).toBe(true); // previous secret
    expect(jar.verify('127.0.0.2', c, T0 + 2 * COOKIE_SECRET_LIFETIME_MS + 2)).toBe(false); // both rotated out
  });

  it('an initiator answers cookie_reply with cookie_echo and the same handshake_init, at most twice', () => {
    const { handshake, send } = Handshake.initiate({ identity: Identity.generate(), entityId: 'a' }, T0);
    const cookie = Buffer.alloc(32, 9);
    const out = handshake.receive(encodeCookie(wire.FrameType.CookieReply, cookie), T0);
    expect(out).toHaveLength(2);
    expect(decodeHandshakeMessage(out[0]!)).toMatchObject({ type: wire.FrameType.CookieEcho });
    expect(Buffer.from((decodeHandshakeMessage(out[0]!) as { cookie: Uint8Array }).cookie).equals(cookie)).toBe(true);
    expect(out[1]!.equals(send[0]!)).toBe(true);
    handshake.receive(encodeCookie(wire.FrameType.CookieReply, cookie), T0);
    expect(() => handshake.receive(encodeCookie(wire.FrameType.CookieReply, cookie), T0)).toThrow(PeerError);
    expect(handshake.state).toBe('ERROR');
  });

  it('a responder machine never sees cookies (admission handles them first)', () => {
    const b = Handshake.respond({ identity: Identity.generate(), entityId: 'b' }, T0);
    expect(() => b.receive(encodeCookie(wire.FrameType.CookieEcho, Buffer.alloc(32)), T0)).toThrow(expect.objectContaining({ code: 'INVALID_STATE' }));
    expect(() => Handshake.respond({ identity: Identity.generate(), entityId: 'b' }, T0).receive(encodeCookie(wire.FrameType.CookieReply, Buffer.alloc(32)), T0))
      .toThrow(expect.objectContaining({ code: 'INVALID_STATE' }));
  });
});
