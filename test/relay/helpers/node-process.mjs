// A Peer in a child process for the relay tests (a relay, a reserved target, or a sender),
// driven over IPC by node.ts. It imports the built library (dist/), as users run it. A
// target records the message ids it received and acknowledges them (ack: true is answered by
// the library itself).
import { Identity, Peer } from '../../../dist/index.js';
import { serve } from '../../helpers/child-serve.mjs';

const { seed, ...options } = JSON.parse(process.argv[2] ?? '{}');
const mail = [];
const peer = await Peer.create({ ...options, ...(seed ? { identity: Identity.fromSeed(Buffer.from(seed, 'hex')) } : {}) });
peer.on('mail', (m) => mail.push(m.id));
const received = [];
peer.on('message', (m) => {
  const text = Buffer.from(m.payload).toString();
  if (received.length < 100_000) received.push(text.slice(0, 64));
  if (m.payload.length <= 64 && text.startsWith('echo:')) m.session.send(m.payload, { type: m.type }).catch(() => undefined);
});
peer.on('route', ({ path, via }) => process.send({ event: 'route', path, via }));

const commands = {
  info: async () => ({
    entityId: peer.entityId,
    publicKey: Buffer.from(peer.identity.publicKey).toString('hex'),
    relay: peer.relay?.address ?? null,
    dht: peer.dht?.address ?? null,
  }),
  ready: async ({ n }) => {
    await peer.relayReservations.ready(n);
    return { listed: peer.relayReservations.listed() };
  },
  stats: async () => ({ relay: peer.relay?.stats() ?? null, rss: process.memoryUsage().rss, droppedJoins: peer.relayReservations?.droppedJoins ?? 0 }),
  received: async () => ({ received }),
  mail: async () => ({ mail }),
};

serve(commands);
