import { describe, expect, it } from 'vitest';
import { Identity } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';

const T0 = 1_780_000_000_000;

describe('key schedule output', () => {
  it('keeps a session\'s keys, IVs and id in one allocation of their own (not Node\'s shared pool), the confirm key wiped at READY', () => {
    const { handshake: a, send } = Handshake.initiate({ identity: Identity.fromSeed(Buffer.alloc(32, 1)), entityId: 'a' }, T0);
    const b = Handshake.respond({ identity: Identity.fromSeed(Buffer.alloc(32, 2)), entityId: 'b' }, T0);
    let toB = send;
    while (toB.length > 0) toB = toB.flatMap((m) => b.receive(m, T0)).flatMap((m) => a.receive(m, T0));
    const pool = Buffer.allocUnsafe(1).buffer;
    for (const r of [a.result!, b.result!]) {
      const parts = [r.sendKey, r.sendIv, r.recvKey, r.recvIv, r.sessionId, r.confirmKey];
      for (const p of parts) {
        expect(p.buffer).toBe(r.sendKey.buffer);
        expect(p.buffer).not.toBe(pool);
      }
      expect(r.sendKey.buffer.byteLength).toBe(32 + 12 + 32 + 12 + 32 + 8);
      expect(r.confirmKey.every((x) => x === 0)).toBe(true);
      expect(r.sendKey.some((x) => x !== 0)).toBe(true);
    }
    expect(Buffer.from(a.result!.sendKey).equals(b.result!.recvKey)).toBe(true);
    expect(Buffer.from(a.result!.sendIv).equals(b.result!.recvIv)).toBe(true);
    expect(Buffer.from(a.result!.sessionId).equals(b.result!.sessionId)).toBe(true);
  });
});
