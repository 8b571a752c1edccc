/**
 * queue_ack is admitted by credit: a peer's acknowledgements of the `queued` envelopes we sent
 * it on a session are not charged to its heartbeat class (a fast queue would otherwise stall
 * after 120 acks, each lease then waiting out its ack timeout), but only as many as we sent:
 * acks beyond that credit are charged and refused like any heartbeat-class message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Peer, type Session } from '../../src/index.js';

let server: Peer;
let port: number;
const cleanup: Peer[] = [];

beforeAll(async () => {
  server = await Peer.create({ entityId: 'queue-sender' }); // the spec's default limits
  port = (await server.listen()).port;
});
afterAll(async () => {
  await Promise.all(cleanup.map((p) => p.close()));
  await server.close();
});

/** A stranger (defaults apply to it) and the server's side of its session. */
async function stranger(name: string): Promise<{ client: Session; serverSide: Session }> {
  const p = await Peer.create({ entityId: name });
  p.trust.pin('queue-sender', server.identity.publicKey); // it takes all we send; we keep the defaults
  cleanup.push(p);
  const accepted = new Promise<Session>((r) => server.once('session', r));
  const client = await p.connect({ host: '127.0.0.1', port });
  return { client, serverSide: await accepted };
}

/** Sends `n` queued envelopes (bodies the peer's queue discards as malformed) and waits until they arrived. */
async function sendQueued(client: Session, serverSide: Session, n: number): Promise<void> {
  const arrived = new Promise<void>((resolve) => client.once('message', () => resolve()));
  for (let i = 0; i < n; i++) serverSide.write(new Uint8Array(8), { type: 'queued' });
  serverSide.write('sync', { type: 'task' }); // ordered after them; 'queued' goes to the queue, not 'message'
  await arrived;
}

async function ackAndCount(client: Session, n: number): Promise<number> {
  const before = server.stats().rateLimited.dropped.heartbeat;
  for (let i = 0; i < n; i++) await client.send(new Uint8Array([1, 0]), { type: 'queue_ack' });
  await client.send('sync', { type: 'task' }); // ordered after the acks
  await new Promise((r) => setTimeout(r, 200));
  return server.stats().rateLimited.dropped.heartbeat - before;
}

describe('queue_ack rate limiting', () => {
  it('acks of queued envelopes we sent are admitted beyond the heartbeat burst (120)', async () => {
    const { client, serverSide } = await stranger('receiver-with-credit');
    await sendQueued(client, serverSide, 300);
    expect(await ackAndCount(client, 300)).toBe(0);
    expect(client.state).toBe('READY');
  });

  it('acks beyond that credit are charged to heartbeat and refused past its burst', async () => {
    const { client, serverSide } = await stranger('receiver-without-credit');
    await sendQueued(client, serverSide, 1); // credit for one ack
    expect(await ackAndCount(client, 200)).toBe(200 - 1 - 120);
  });
});
