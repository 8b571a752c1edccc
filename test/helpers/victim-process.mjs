// A Peer in a child process, driven over IPC by test/helpers/victim.ts: a crash here (an
// exception thrown into the event loop) is the failure the parent looks for. It imports the
// built library (dist/), as users run it.
import { Peer } from '../../dist/index.js';

const peer = await Peer.create(JSON.parse(process.argv[2] ?? '{}'));
// An application bug a peer can trigger: a message handler that throws on one payload.
const { throwOnPayload } = JSON.parse(process.argv[3] ?? '{}');
if (throwOnPayload !== undefined) {
  peer.on('message', (m) => {
    if (Buffer.from(m.payload).toString() === throwOnPayload) throw new Error('application handler failed');
  });
}
const sessions = [];
peer.on('sessionError', (err) => process.send({ event: 'sessionError', code: err.code, message: err.message }));

const commands = {
  listen: async () => ({ port: (await peer.listen({ host: '127.0.0.1' })).port }),
  connect: async ({ port }) => {
    const s = await peer.connect(`127.0.0.1:${port}`);
    sessions.push(s);
    s.on('close', (err) => process.send({ event: 'close', code: err?.code ?? null }));
    return { session: sessions.length - 1 };
  },
  send: async ({ session, payload, type }) => ({ seq: await sessions[session ?? sessions.length - 1].send(payload, { type }) }),
  stats: async () => ({ stats: peer.stats(), rss: process.memoryUsage().rss }),
};

process.on('message', async ({ id, cmd, args }) => {
  try {
    process.send({ id, ok: await commands[cmd](args ?? {}) });
  } catch (err) {
    process.send({ id, error: err?.code ?? String(err) });
  }
});
process.send({ event: 'started' });
