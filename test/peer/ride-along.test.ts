/**
 * The responder's last handshake frame (ready) and the first record its application sends on
 * 'session' leave in one write (a corked stream uncorked after that turn): one syscall and one
 * segment, not two. Transport-level only: the frames on the wire are the same bytes.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Peer, wire } from '../../src/index.js';

type Writer = (this: net.Socket, writev: boolean, data: unknown, encoding: string, cb: () => void) => unknown;
const proto = net.Socket.prototype as unknown as { _writeGeneric: Writer };
const original = proto._writeGeneric;
const peers: Peer[] = [];
afterAll(async () => {
  proto._writeGeneric = original;
  await Promise.all(peers.map((p) => p.close()));
});

/** The frame types in one write (a Buffer, or writev's chunks), in order. */
function frameTypes(writev: boolean, data: unknown): number[] {
  const chunks = writev ? (data as { chunk: Buffer }[]).map((c) => c.chunk) : [data as Buffer];
  const all = Buffer.concat(chunks);
  const types: number[] = [];
  for (let at = 0; at + 4 <= all.length; at += 4 + all.readUInt32BE(at)) types.push(all[at + 5]!);
  return types;
}

describe('first application record rides with ready', () => {
  it('the responder writes ready and the record its session handler sends in one write', async () => {
    const server = await Peer.create({ entityId: 'server' });
    const client = await Peer.create({ entityId: 'client' });
    peers.push(server, client);
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
    server.on('session', (s) => void s.send('hello', { type: 'task' }));
    const writes: number[][] = [];
    proto._writeGeneric = function (writev, data, encoding, cb) {
      if (this.localPort === port) writes.push(frameTypes(writev, data));
      return original.call(this, writev, data, encoding, cb);
    };
    const session = await client.connect({ host: '127.0.0.1', port });
    const [first] = await new Promise<unknown[]>((resolve) => session.once('message', (...m) => resolve(m)));
    expect(Buffer.from((first as { payload: Uint8Array }).payload).toString()).toBe('hello');
    proto._writeGeneric = original;
    const readyWrite = writes.find((w) => w.includes(wire.FrameType.Ready));
    expect(readyWrite).toBeDefined();
    // The client pipelined session_confirm behind challenge_response, so one write carries
    // session_established, ready and the record.
    expect(readyWrite).toEqual([wire.FrameType.SessionEstablished, wire.FrameType.Ready, wire.FrameType.Data]);
    await session.close();
  }, 30_000);
});
