/**
 * Issue 12 item 6: the typed API. A program written against the public exports is compiled
 * (strict): what must compile does, and every line marked @ts-expect-error must fail to
 * compile (tsc reports an unused directive otherwise). Then, at run time over HTTP and TCP:
 * a v1.0 message reaches a typed 'message' handler as `version: '1.0'` with a plain-object
 * payload, and a handler that throws on it does not kill the process ('handlerError').
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Peer } from '../../src/index.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DIR = path.join(ROOT, 'test/api/.types');

const PROGRAM = `
import { Peer, type Message, type MessageV11, type PeerError, type Reply, type Request, type Session, type V1Message } from '../../../src/index.js';

declare const peer: Peer;
declare const session: Session;

// What must compile.
peer.on('message', (m: Message) => {
  if (m.version === '1.0') {
    const load: unknown = m.payload['load'];   // a v1.0 payload is a plain object
    void load;
    const unencrypted: false = m.encrypted;
    void unencrypted;
  } else {
    const bytes: Uint8Array = m.payload;
    const n: number = m.seq;
    const id: string | null = m.id;
    void bytes, n, id;
  }
});
peer.on('request', (req: Request) => void req.reply('ok', { type: 'task_result' }));
peer.on('session', (s: Session) => void s.send('hi'));
peer.on('rejected', (e: PeerError, s: Session) => void [e.details?.retryAfter, s.id]);
peer.on('dhtError', (e: PeerError) => void e.code);
session.on('close', (reason: PeerError | undefined) => void reason);
session.on('message', (m: MessageV11) => void m.accept());
const reply: Promise<Reply> = session.request('q', { type: 'task', timeout: 1000 });
const seq: Promise<number> = session.send('x', { ack: true });
void reply, seq;
const v1: V1Message | null = null;
void v1;

// What must not.
// @ts-expect-error an event name that does not exist
peer.on('mesage', () => undefined);
// @ts-expect-error a listener with the wrong argument type
peer.on('message', (m: number) => void m);
// @ts-expect-error a v1.0 message has no byte payload: narrow on m.version first
peer.on('message', (m: Message) => void Buffer.from(m.payload));
// @ts-expect-error session 'close' gives a PeerError or undefined, not a string
session.on('close', (reason: string) => void reason);
// @ts-expect-error a type outside the table and 0x80-0xff is not a MessageType
void session.send('x', { type: 'tsak' });
// @ts-expect-error send resolves with a number, not a Reply
const wrong: Promise<Reply> = session.send('x');
void wrong;
export {};
`;

mkdirSync(DIR, { recursive: true });
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('typed API', () => {
  it('typed events, the Message union and option types: right code compiles, wrong code does not', () => {
    writeFileSync(path.join(DIR, 'program.ts'), PROGRAM);
    writeFileSync(path.join(DIR, 'tsconfig.json'), JSON.stringify({
      extends: '../../../tsconfig.json',
      compilerOptions: { noEmit: true, rootDir: '../../..', noUnusedLocals: false },
      include: ['program.ts', '../../../src/types/*.d.ts'],
    }));
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(DIR, 'tsconfig.json')], { encoding: 'utf8' });
    } catch (err) {
      output = (err as { stdout: string }).stdout;
    }
    expect(output).toBe('');
  }, 60_000);

  it('a v1.0 message reaches a typed handler narrowed on version; a handler that throws on it is a handlerError, not a crash', async () => {
    const bob = await Peer.create({ entityId: 'bob', allowV1: true });
    const legacy = await Peer.create({ entityId: 'legacy', allowV1: true });
    cleanup.push(() => legacy.close(), () => bob.close());
    const { port: bobPort } = await bob.listenV1({ host: '127.0.0.1', port: 0 });
    const { port: legacyPort } = await legacy.listenV1({ host: '127.0.0.1', port: 0 });
    legacy.addV1Peer('bob', `http://127.0.0.1:${bobPort}`);
    bob.addV1Peer('legacy', `http://127.0.0.1:${legacyPort}`);
    const loads: unknown[] = [];
    bob.on('message', (m) => {
      if (m.version === '1.0') loads.push(m.payload['load']);
    });
    bob.on('message', () => {
      throw new Error('a buggy handler');
    });
    const errors = new Promise<unknown>((resolve) => bob.once('handlerError', resolve));
    await legacy.sendV1('bob', 'status', { load: 0.3 });
    expect(await errors).toBeInstanceOf(Error);
    expect(loads).toEqual([0.3]);
    await legacy.sendV1('bob', 'status', { load: 0.5 }); // the endpoint is still there
    while (loads.length < 2) await new Promise((r) => setTimeout(r, 10));
    expect(loads).toEqual([0.3, 0.5]);
  });
});
