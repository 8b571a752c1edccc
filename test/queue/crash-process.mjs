// A queue agent in a child process (the built dist/), for the crash tests: SIGKILLed and restarted
// by test/queue/crash.test.ts. argv[2]: JSON options. Reports over IPC.
//   sender:   delivers `count` messages named `${tag}:${i}` to 'bob' in batches of 100 and reports
//             each batch's acknowledged names ({ acked: [...] }); a rejected deliver() is retried
//             under a new name. Then keeps running, delivering what is queued.
//   receiver: listens on `port`; the application appends "<id hex> <payload>\n" to `log` and, as
//             docs/QUEUE.md says, checks its own record only for messages flagged redelivered.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { Identity, Peer } from '../../dist/index.js';

const o = JSON.parse(process.argv[2]);
const identity = await Identity.load(o.key);
const trust = [[o.remote.entityId, o.remote.publicKey]];

if (o.role === 'receiver') {
  const logged = new Set(existsSync(o.log) ? readFileSync(o.log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]) : []);
  const peer = await Peer.create({ identity, entityId: 'bob', trust, queue: o.queue });
  peer.queue.on('message', (m) => {
    const id = Buffer.from(m.id).toString('hex');
    if (m.redelivered && logged.has(id)) return;
    appendFileSync(o.log, `${id} ${Buffer.from(m.payload).toString()}\n`);
    logged.add(id);
  });
  await peer.listen({ host: '127.0.0.1', port: o.port });
  process.send({ ready: true });
} else {
  const peer = await Peer.create({ identity, entityId: 'alice', trust, queue: o.queue });
  peer.queue.on('error', () => undefined); // a store that is restarting: the queue retries
  process.send({ ready: true });
  let retry = 0;
  for (let i = 0; i < o.count; i += 100) {
    let names = [];
    for (let j = i; j < Math.min(o.count, i + 100); j++) names.push(`${o.tag}:${j}`);
    while (names.length > 0) {
      const results = await Promise.allSettled(names.map((n) => peer.deliver('bob', n)));
      process.send({ acked: names.filter((_, k) => results[k].status === 'fulfilled') });
      names = names.filter((_, k) => results[k].status === 'rejected').map((n) => `${n}:r${retry++}`);
      if (names.length > 0) await new Promise((r) => setTimeout(r, 50));
    }
  }
  process.send({ done: true });
  setInterval(async () => {
    try { process.send({ pending: (await peer.queue.stats()).pending }); } catch { /* store restarting */ }
  }, 100);
}
