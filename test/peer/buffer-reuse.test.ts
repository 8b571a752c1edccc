/**
 * The data path reuses memory (wire/deframer.ts releaseFrame: records assembled across reads
 * and decrypted elsewhere; session/seal.ts releaseSealBuffer: write buffers the socket took).
 * Over real TCP, what an application keeps must never be overwritten by a later message:
 * every message is kept until the end and checked then, byte for byte, against what was sent.
 */
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Peer, type MessageV11, type Session } from '../../src/index.js';
import { NO_LIMITS } from '../helpers/limits.js';

let server: Peer;
let client: Peer;
let session: Session;

beforeAll(async () => {
  server = await Peer.create({ entityId: 'server', rateLimits: NO_LIMITS });
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  client = await Peer.create({ entityId: 'client' });
  session = await client.connect({ host: '127.0.0.1', port });
});

afterAll(async () => {
  await client.close();
  await server.close();
});

/** Sends `sizes` (each message random bytes) with write()/'drain'; resolves with what was sent and what arrived, kept. */
async function roundTrip(sizes: number[]): Promise<{ sent: Buffer[]; got: MessageV11[] }> {
  const sent = sizes.map((n) => crypto.randomBytes(n));
  const got: MessageV11[] = [];
  const all = new Promise<void>((resolve) => {
    const on = (batch: MessageV11[]): void => {
      got.push(...batch);
      if (got.length === sent.length) {
        server.off('messages', on);
        resolve();
      }
    };
    server.on('messages', on);
  });
  for (const m of sent) {
    if (!session.write(m, { type: 'task' })) await new Promise((r) => session.once('drain', r));
  }
  await all;
  return { sent, got };
}

function expectSame(sent: Buffer[], got: MessageV11[]): void {
  expect(got.map((m) => m.size)).toEqual(sent.map((m) => m.length));
  for (let i = 0; i < sent.length; i++) {
    if (!Buffer.from(got[i]!.payload).equals(sent[i]!)) throw new Error(`message ${i} of ${sent.length} changed after delivery`);
  }
}

describe('memory reused on the data path never shows through', () => {
  it('64 KiB messages (one record each, assembled across reads) keep their bytes while later ones arrive', async () => {
    const { sent, got } = await roundTrip(Array.from({ length: 96 }, (_, i) => 64 * 1024 - (i % 3)));
    expectSame(sent, got);
  }, 60_000);

  it('1 MiB chunked messages interleaved with 64 KiB and small ones, all kept, arrive exactly as sent', async () => {
    const sizes = Array.from({ length: 24 }, (_, i) => [1024 * 1024 + i, 64 * 1024, 100, 3 * 64 * 1024 + 7][i % 4]!);
    const { sent, got } = await roundTrip(sizes);
    expectSame(sent, got);
  }, 60_000);
});
