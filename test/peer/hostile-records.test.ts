/**
 * Sealed records whose tag verifies but whose plaintext disagrees with its header, sent by an
 * authenticated stranger over real TCP to a victim Peer in a child process: each must end only
 * that session with MALFORMED_FRAME, never throw into the victim's event loop. Both directions:
 * a hostile client against a listener, and a hostile listener against a connecting client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Peer, wire } from '../../src/index.js';
import { encodeErrorPayload } from '../../src/session/run.js';
import { AuthenticatedPeer, runOf, type ForgedFields } from '../helpers/authenticated-peer.js';
import { Victim } from '../helpers/victim.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const T = wire.FrameType;
const task = (text: string): { type: number; payload: Buffer } => ({ type: 0x04, payload: Buffer.from(text) });
const errorRecord = encodeErrorPayload({ code: 'CHUNK_ERROR', reason: 'x', messageId: 1 });

/** Each attack: a record type, its plaintext and forged header fields. */
const ATTACKS: [string, wire.RecordType, Uint8Array, ForgedFields][] = [
  ['data: count 2 with one message inside', T.Data, runOf([task('one')]), { count: 2 }],
  ['data: trailing bytes after the last message', T.Data, Buffer.concat([runOf([task('one')]), Buffer.from([1, 2, 3])]), {}],
  ['data: a message length past the end', T.Data, Buffer.from([0x04, 0, 0, 1, 0, 0x41]), {}],
  ['error: an unknown flag', T.Error, Buffer.concat([errorRecord.subarray(0, errorRecord.length - 9), Buffer.from([0x22]), errorRecord.subarray(errorRecord.length - 8)]), {}],
  ['error: truncated', T.Error, errorRecord.subarray(0, 5), {}],
  ['error: trailing bytes', T.Error, Buffer.concat([errorRecord, Buffer.from([0])]), {}],
  ['key_update with a payload', T.KeyUpdate, Buffer.from([1]), {}],
  ['close with a payload', T.Close, Buffer.from('bye'), {}],
];

async function listeningVictim(app: { throwOnPayload?: string } = {}): Promise<{ victim: Victim; port: number }> {
  const victim = await Victim.start({ entityId: 'victim' }, app);
  cleanup.push(() => victim.kill());
  return { victim, port: await victim.listen() };
}

/** An honest peer still gets a message through to the victim. */
async function servesHonestPeer(victim: Victim, port: number): Promise<void> {
  const honest = await Peer.create({ entityId: 'honest' });
  cleanup.push(() => honest.close());
  const before = (await victim.stats()).stats.messagesReceived;
  const s = await honest.connect(`127.0.0.1:${port}`);
  await s.send('still serving', { type: 'task' });
  const deadline = Date.now() + 10_000;
  while ((await victim.stats()).stats.messagesReceived === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect((await victim.stats()).stats.messagesReceived).toBe(before + 1);
}

describe('hostile sealed records (authenticated stranger)', () => {
  it('a listener ends only the offending session with MALFORMED_FRAME, for every malformed plaintext', async () => {
    const { victim, port } = await listeningVictim();
    for (const [name, type, plain, fields] of ATTACKS) {
      const evil = await AuthenticatedPeer.connect(port);
      cleanup.push(() => evil.close());
      evil.send(T.Data, runOf([task('fine')])); // a good record first: the session is really open
      evil.send(type, plain, fields);
      expect({ name, code: await evil.nextErrorCode() }).toEqual({ name, code: 'MALFORMED_FRAME' });
      expect(await evil.closed()).toBe(true);
      expect({ name, alive: victim.alive }).toEqual({ name, alive: true });
    }
    const { stats } = await victim.stats();
    expect(stats.sessionErrors.MALFORMED_FRAME).toBe(ATTACKS.length);
    expect(stats.internalErrors).toBe(0);
    await servesHonestPeer(victim, port);
  });

  it('a client connecting to a hostile listener ends that session with MALFORMED_FRAME and lives', async () => {
    const victim = await Victim.start({ entityId: 'victim' });
    cleanup.push(() => victim.kill());
    const listener = await AuthenticatedPeer.listen();
    cleanup.push(() => listener.close());
    for (const [name, type, plain, fields] of ATTACKS) {
      const before = victim.events.length;
      const connected = victim.connect(listener.port);
      const evil = await listener.accept();
      await connected;
      evil.send(type, plain, fields);
      expect({ name, code: await evil.nextErrorCode() }).toEqual({ name, code: 'MALFORMED_FRAME' });
      expect(await victim.waitFor((e) => victim.events.indexOf(e) >= before && e.event === 'close')).toBe(true);
      expect({ name, alive: victim.alive }).toEqual({ name, alive: true });
      expect(victim.events.slice(before).find((e) => e.event === 'close')!.code).toBe('MALFORMED_FRAME');
    }
    expect((await victim.stats()).stats.internalErrors).toBe(0);
  });

  it('a frame cut short by FIN is MALFORMED_FRAME, reported to the peer (PROTOCOL.md §1)', async () => {
    const { victim, port } = await listeningVictim();
    const evil = await AuthenticatedPeer.connect(port);
    cleanup.push(() => evil.close());
    const record = evil.seal(T.Data, runOf([task('cut short')]));
    evil.raw.socket.end(record.subarray(0, record.length - 5));
    expect(await evil.nextErrorCode()).toBe('MALFORMED_FRAME');
    expect(await victim.waitFor((e) => e.event === 'sessionError' && e.code === 'MALFORMED_FRAME')).toBe(true);
  });

  it('backstop: an exception from the application handler fails only that session and is counted', async () => {
    const { victim, port } = await listeningVictim({ throwOnPayload: 'trigger' });
    const evil = await AuthenticatedPeer.connect(port);
    cleanup.push(() => evil.close());
    evil.send(T.Data, runOf([task('trigger')]));
    expect(await evil.closed()).toBe(true);
    expect(victim.alive).toBe(true);
    expect((await victim.stats()).stats.internalErrors).toBe(1);
    await servesHonestPeer(victim, port);
  });
});
