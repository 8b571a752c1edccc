// A Peer in a child process, driven over IPC by test/helpers/victim.ts: a crash here (an
// exception thrown into the event loop) is the failure the parent looks for. It imports the
// built library (dist/), as users run it.
import { Peer } from '../../dist/index.js';
import { serve } from './child-serve.mjs';

const peer = await Peer.create(JSON.parse(process.argv[2] ?? '{}'));
// An application bug a peer can trigger: a message handler that throws on one payload.
const { throwOnPayload, echo } = JSON.parse(process.argv[3] ?? '{}');
if (throwOnPayload !== undefined) {
  peer.on('message', (m) => {
    if (Buffer.from(m.payload).toString() === throwOnPayload) throw new Error('application handler failed');
  });
}
// A server that answers: every whole message goes back to its sender on the same session.
if (echo) {
  peer.on('message', (m) => {
    if (!m.streamed) m.session.send(m.payload, { type: m.type }).catch(() => undefined);
  });
}
const sessions = [];
peer.on('sessionError', (err) => process.send({ event: 'sessionError', code: err.code, message: err.message }));

const commands = {
  listen: async () => ({ port: (await peer.listen({ host: '127.0.0.1' })).port }),
  // keep: false for the many short sessions of a fuzzer (not held here, not addressable by send).
  connect: async ({ port, keep = true }) => {
    const s = await peer.connect(`127.0.0.1:${port}`);
    if (!keep) return { session: null };
    sessions.push(s);
    s.on('close', (err) => process.send({ event: 'close', code: err?.code ?? null }));
    return { session: sessions.length - 1 };
  },
  send: async ({ session, payload, type }) => ({ seq: await sessions[session ?? sessions.length - 1].send(payload, { type }) }),
  stats: async () => ({ stats: peer.stats(), rss: process.memoryUsage().rss }),
  // Memory after a full collection (the child must run with --expose-gc): what is really retained.
  retained: async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
    }
    const m = process.memoryUsage();
    return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
  },
};

serve(commands);
