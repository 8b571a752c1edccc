/**
 * Issue 12 items 2-4 over TCP: acknowledged delivery, request/reply, and refusals that land on
 * the message refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MESSAGE_TYPES, Peer, PeerError, type MessageType, type Session } from '../../src/index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pair(serverOpts: Parameters<typeof Peer.create>[0] = {}, clientOpts: Parameters<typeof Peer.create>[0] = {}): Promise<{ server: Peer; client: Peer; session: Session }> {
  const server = await Peer.create({ entityId: 'agent', ...serverOpts });
  const client = await Peer.create({ entityId: 'client', ...clientOpts });
  cleanup.push(() => client.close(), () => server.close());
  const { port } = await server.listen();
  return { server, client, session: await client.connect({ host: '127.0.0.1', port }) };
}

async function rejection(p: Promise<unknown>): Promise<PeerError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PeerError);
    return err as PeerError;
  }
  throw new Error('expected a rejection');
}

describe('acknowledged delivery', () => {
  it('ack: true resolves once the remote application accepted the message (manual accept)', async () => {
    const { server, session } = await pair({ session: { manualAck: true } });
    const held: { accept(): void; id: string | null }[] = [];
    server.on('message', (m) => {
      if (m.version === '1.1') held.push(m);
    });
    let settled = false;
    const p = session.send('hello', { type: 'task', ack: true }).then((seq) => ((settled = true), seq));
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false); // delivered, not yet accepted
    expect(held[0]!.id).toMatch(/^[0-9a-f]{32}$/);
    held[0]!.accept();
    expect(await p).toBe(0);
  });

  it('m.reject(code) refuses an ack: true message (REQUEST_FAILED with the code); a throwing handler ends only that session (SESSION_CLOSED with the id)', async () => {
    const { server, client, session } = await pair();
    server.on('message', (m) => {
      if (m.version !== '1.1') return;
      const text = Buffer.from(m.payload).toString();
      if (text === 'no') m.reject('NOT_WANTED', 'not today');
      if (text === 'bug') throw new Error('handler bug');
    });
    const refused = await rejection(session.send('no', { ack: true }));
    expect(refused.code).toBe('REQUEST_FAILED');
    expect(refused.details).toMatchObject({ remoteCode: 'NOT_WANTED', reason: 'not today' });
    expect(await session.send('fine', { ack: true })).toBe(1);
    const bug = await rejection(session.send('bug', { ack: true }));
    expect(bug.code).toBe('SESSION_CLOSED');
    expect(bug.details?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(server.stats().internalErrors).toBe(1);
    const again = await client.connect({ host: '127.0.0.1', port: server.address!.port });
    expect(await again.send('after', { ack: true })).toBe(0);
  });

  it('a request listener that throws fails the request (HANDLER_ERROR); the session goes on', async () => {
    const { server, session } = await pair();
    const errors: unknown[] = [];
    server.on('handlerError', (e) => errors.push(e));
    server.on('request', (req) => {
      if (Buffer.from(req.payload).toString() === 'bug') throw new Error('handler bug');
      void req.reply('ok');
    });
    expect((await rejection(session.request('bug'))).details?.remoteCode).toBe('HANDLER_ERROR');
    expect(Buffer.from((await session.request('fine')).payload).toString()).toBe('ok');
    expect(errors).toHaveLength(1);
  });

  it('a caller-chosen id travels and reaches the receiver (for dedup); a pending id cannot be reused', async () => {
    const { server, session } = await pair({ session: { manualAck: true } });
    const id = 'a1'.repeat(16);
    const seen: string[] = [];
    server.on('message', (m) => {
      if (m.version === '1.1' && m.id) seen.push(m.id);
    });
    const first = session.send('x', { ack: true, id });
    expect((await rejection(session.send('y', { ack: true, id }))).code).toBe('INVALID_ARGUMENT');
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual([id]);
    const firstErr = rejection(first);
    await session.close();
    const err = await firstErr;
    expect(err.code).toBe('SESSION_CLOSED');
    expect(err.details?.id).toBe(id);
  });

  it('every pending send rejects when the session closes: none just disappears', async () => {
    const { session } = await pair({ session: { manualAck: true } });
    const pending = Array.from({ length: 50 }, (_, i) => session.send(`m${i}`, { ack: true }));
    const closing = session.close();
    const errs = await Promise.all(pending.map(rejection));
    await closing;
    expect(errs.every((e) => e.code === 'SESSION_CLOSED' && typeof e.details?.id === 'string')).toBe(true);
    expect(new Set(errs.map((e) => e.details?.id)).size).toBe(50);
  });
});

describe('request/reply', () => {
  it('a round trip per message type, replies in the request\'s type by default', async () => {
    const { server, session } = await pair({ rateLimits: { classes: { discovery: 'unlimited' } } });
    server.on('request', (req) => void req.reply(Buffer.concat([Buffer.from('re:'), req.payload])));
    for (const type of [...Object.keys(MESSAGE_TYPES) as MessageType[], 0x80, 0xff]) {
      const r = await session.request(`q-${String(type)}`, { type });
      expect(Buffer.from(r.payload).toString()).toBe(`re:q-${String(type)}`);
      expect(r.type).toBe(type);
      expect(r.id).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('typed remote errors, timeouts, AbortSignal, NO_HANDLER', async () => {
    const { server, session } = await pair();
    server.on('request', (req) => {
      const q = Buffer.from(req.payload).toString();
      if (q === 'fail') void req.fail('NOT_FOUND', 'no such document');
      if (q === 'late') setTimeout(() => void req.reply('too late').catch(() => undefined), 300);
    });
    const failed = await rejection(session.request('fail'));
    expect(failed.code).toBe('REQUEST_FAILED');
    expect(failed.details).toMatchObject({ remote: true, remoteCode: 'NOT_FOUND', reason: 'no such document' });
    expect((await rejection(session.request('late', { timeout: 50 }))).code).toBe('TIMEOUT');
    const ac = new AbortController();
    const p = session.request('late', { signal: ac.signal });
    ac.abort();
    expect((await rejection(p)).code).toBe('ABORTED');
    server.removeAllListeners('request');
    const none = await rejection(session.request('anyone?'));
    expect(none.details?.remoteCode).toBe('NO_HANDLER');
  });

  it('requests and replies are ordered with other messages', async () => {
    const { server, session } = await pair({ rateLimits: { classes: { task: 'unlimited' } } });
    const order: string[] = [];
    server.on('message', (m) => void order.push(`m${Buffer.from(m.payload as Uint8Array).toString()}`));
    server.on('request', (req) => {
      order.push(`r${Buffer.from(req.payload).toString()}`);
      void req.reply('ok');
    });
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) all.push(i % 3 === 0 ? session.request(String(i)) : session.send(String(i)));
    await Promise.all(all);
    await session.request('end');
    expect(order.slice(0, 200)).toEqual(Array.from({ length: 200 }, (_, i) => `${i % 3 === 0 ? 'r' : 'm'}${i}`));
  });
});

describe('refusals land on the message refused', () => {
  it('1,000 concurrent tasks against an agent with default limits: each answered or rejected RATE_LIMITED with a retry-after', async () => {
    const { server, session } = await pair();
    server.on('request', (req) => void req.reply(`done ${Buffer.from(req.payload).toString()}`, { type: 'task_result' }));
    const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => session.request(String(i), { type: 'task', timeout: 20_000 })));
    let answered = 0;
    let limited = 0;
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') {
        expect(Buffer.from(o.value.payload).toString()).toBe(`done ${i}`);
        answered++;
      } else {
        const e = o.reason as PeerError;
        expect(e.code).toBe('RATE_LIMITED');
        expect(e.details?.retryAfter).toBeGreaterThan(0);
        limited++;
      }
    });
    expect(answered + limited).toBe(1000);
    expect(answered).toBeGreaterThanOrEqual(60); // the task burst
    expect(limited).toBeGreaterThan(0);
  });

  it('1,000 concurrent ack: true tasks with default limits: each accepted or rejected RATE_LIMITED with its id and a retry-after', async () => {
    const { server, session } = await pair();
    let taken = 0;
    server.on('message', () => void taken++);
    const ids = Array.from({ length: 1000 }, (_, i) => i.toString(16).padStart(32, '0'));
    const outcomes = await Promise.allSettled(ids.map((id, i) => session.send(String(i), { type: 'task', ack: true, id })));
    let limited = 0;
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') return;
      const e = o.reason as PeerError;
      expect(e.code).toBe('RATE_LIMITED');
      expect(e.details?.id).toBe(ids[i]);
      expect(e.details?.retryAfter).toBeGreaterThan(0);
      limited++;
    });
    expect(1000 - limited).toBe(taken); // accepted ones are exactly those the agent's application took
    expect(taken).toBeGreaterThanOrEqual(60);
  });

  it('1,000 concurrent plain tasks with default limits: each delivered, or named by one \'rejected\' event, or refused locally with a retry-after', async () => {
    const { server, session } = await pair();
    const delivered = new Set<number>();
    server.on('message', (m) => void (m.version === '1.1' && delivered.add(Number(Buffer.from(m.payload).toString()))));
    const named = new Map<number, number>(); // message number → events naming it
    let ranges = 0;
    session.on('rejected', (e) => {
      const d = e.details as { seq: number; count?: number; rateClass: string; retryAfter: number };
      expect(e.code).toBe('RATE_LIMITED');
      expect(d.rateClass).toBe('task');
      expect(d.retryAfter).toBeGreaterThan(0);
      ranges++;
      for (let s = d.seq; s < d.seq + (d.count ?? 1); s++) named.set(s, (named.get(s) ?? 0) + 1);
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => session.send(String(i), { type: 'task' })));
    const seqOf = new Map<number, number>(); // message number → which task
    let local = 0;
    outcomes.forEach((o, i) => {
      if (o.status === 'fulfilled') return void seqOf.set(o.value, i);
      expect((o.reason as PeerError).details).toMatchObject({ local: true, class: 'task' });
      expect((o.reason as PeerError).details?.retryAfter).toBeGreaterThan(0);
      local++;
    });
    // Every message that went out is accounted for: delivered, or named by a refusal.
    await session.request('sync', { type: 'status' }).catch(() => undefined); // ordered after all of them
    const deadline = Date.now() + 20_000;
    while (delivered.size + named.size < seqOf.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const [seq, task] of seqOf) {
      const times = (delivered.has(task) ? 1 : 0) + (named.get(seq) ?? 0);
      expect({ task, seq, times }).toEqual({ task, seq, times: 1 });
    }
    expect(delivered.size + named.size + local).toBe(1000);
    expect(delivered.size).toBeGreaterThanOrEqual(60);
    expect(ranges).toBeLessThan(20); // refusals travel as ranges, not one notice each
  });

  it('replies are admitted by credit: a client whose own task limit is spent still gets every answer', async () => {
    const { server, session } = await pair(
      { rateLimits: { classes: { task: 'unlimited' } } },
      { rateLimits: { classes: { task: { perMinute: 1, burst: 1 } } } },
    );
    server.on('request', (req) => void req.reply('result', { type: 'task_result' }));
    const replies = await Promise.all(Array.from({ length: 100 }, () => session.request('t', { type: 'task' })));
    expect(replies).toHaveLength(100);
  });

  it('a RATE_LIMITED notice rejects the ack: true message it names, not a later one', async () => {
    const { session } = await pair({ rateLimits: { classes: { task: { perMinute: 1, burst: 2 } } } });
    const rejected: PeerError[] = [];
    session.on('rejected', (e) => rejected.push(e));
    const results = await Promise.allSettled([0, 1, 2, 3].map((i) => session.send(String(i), { type: 'task', ack: true })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    const e2 = (results[2] as PromiseRejectedResult).reason as PeerError;
    expect(e2.code).toBe('RATE_LIMITED');
    expect(e2.details?.seq).toBe(2);
    // plain sends: the refusal is a typed 'rejected' event naming the message's number
    await session.send('plain', { type: 'heartbeat' });
    const before = rejected.length;
    const seq = await session.send('x', { type: 'task' }).catch((e: PeerError) => e);
    if (typeof seq === 'number') {
      while (rejected.length === before) await new Promise((r) => setTimeout(r, 5));
      expect(rejected.at(-1)!.details).toMatchObject({ code: 'RATE_LIMITED', seq });
    } else {
      expect(seq.details).toMatchObject({ local: true, class: 'task' }); // refused before sending: backing off
    }
  });
});
