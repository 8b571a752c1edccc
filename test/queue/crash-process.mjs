// A queue agent in a child process (the built dist/), for the crash tests: SIGKILLed and restarted
// by test/queue/crash.test.ts, which decides every kill from what this process reports over IPC.
// Started ahead of time (the library loaded, { loaded } reported), it begins on { go: options }.
//   sender:   on { deliver: [names] } calls deliver('bob', name) for each (one tick: one group
//             commit) and reports { acked: [...], failed: [...] } (fulfilled / rejected names, in
//             call order); on { stats: true } reports { pending } (-1 while the store is down).
//   receiver: listens on `port`. The application appends one line per message handed to it:
//             "<id hex> <payload> <pid> <N|R: redelivered flag> <L: logged | S: skipped>". As
//             docs/QUEUE.md says, it consults its own record only for messages flagged
//             redelivered: one it already logged is skipped. After each tick with messages it
//             reports { logged } (its count of L lines). With `pauseAt`, on logging line number
//             `pauseAt` it writes "paused\n" to stdout and blocks reading stdin until the test
//             writes a byte: the test acts while delivery is held at that exact point.
import { appendFileSync, existsSync, readFileSync, readSync, writeSync } from 'node:fs';
import { Identity, Peer } from '../../dist/index.js';

process.send({ loaded: true });
const o = await new Promise((resolve) => process.once('message', (m) => resolve(m.go)));
const identity = await Identity.load(o.key);
const trust = [[o.remote.entityId, o.remote.publicKey]];

if (o.role === 'receiver') {
  const lines = existsSync(o.log) ? readFileSync(o.log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : [];
  const logged = new Set(lines.filter((f) => f[4] === 'L').map((f) => f[0]));
  let reporting = false;
  const report = () => {
    reporting = false;
    process.send({ logged: logged.size });
  };
  const peer = await Peer.create({ identity, entityId: 'bob', trust, queue: o.queue });
  peer.queue.on('error', () => undefined); // a store that is restarting: the sender sends again
  peer.queue.on('message', (m) => {
    const id = Buffer.from(m.id).toString('hex');
    const skip = m.redelivered && logged.has(id);
    appendFileSync(o.log, `${id} ${Buffer.from(m.payload).toString()} ${process.pid} ${m.redelivered ? 'R' : 'N'} ${skip ? 'S' : 'L'}\n`);
    if (!skip) logged.add(id);
    if (!skip && logged.size === o.pauseAt) {
      writeSync(1, 'paused\n');
      readSync(0, Buffer.alloc(1));
    }
    if (!reporting) {
      reporting = true;
      setImmediate(report);
    }
  });
  await peer.listen({ host: '127.0.0.1', port: o.port });
  process.send({ ready: true, logged: logged.size });
} else {
  const peer = await Peer.create({ identity, entityId: 'alice', trust, queue: o.queue });
  peer.queue.on('error', () => undefined); // a store that is restarting: the queue retries
  let chain = Promise.resolve();
  process.on('message', (m) => {
    if (m.deliver) {
      const names = m.deliver;
      chain = chain.then(async () => {
        const results = await Promise.allSettled(names.map((n) => peer.deliver('bob', n)));
        process.send({ acked: names.filter((_, k) => results[k].status === 'fulfilled'), failed: names.filter((_, k) => results[k].status === 'rejected') });
      });
    } else if (m.stats) {
      peer.queue.stats().then((s) => process.send({ pending: s.pending, delivered: s.delivered }), () => process.send({ pending: -1 }));
    }
  });
  process.send({ ready: true });
}
