/**
 * Mailbox refusals and seals (relay in this process, an in-memory store): no storage for a
 * recipient whose record does not name this relay; the per-recipient quota; a deposit the
 * mailbox stores but whose seal is forged is dropped by the recipient; a mailbox holds no
 * plaintext and no sender identity.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Identity, RelayServer, randomBytes } from '../../src/index.js';
import { signRecord } from '../../src/dht/index.js';
import { MailAgent, MailboxSender, openLetter, sealLetter } from '../../src/relay/index.js';
import { x25519 } from '../../src/crypto/index.js';

const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('mailbox limits', () => {
  it('refuses records that do not name it, enforces the recipient quota, stores only sealed bytes', async () => {
    const relayId = Identity.generate();
    const relay = new RelayServer(relayId, { mailbox: { maxMessagesPerRecipient: 5 } });
    const addr = await relay.listen();
    cleanup.push(() => relay.close());
    const address = `${addr.host}:${addr.port}`;
    const b = Identity.generate();
    const secret = randomBytes(32);
    const mailbox = { address, relayKey: relayId.publicKey, key: x25519.publicKeyOf(secret), expiresAt: Date.now() + 60_000 };
    const fields = { entityId: 'b', addresses: [], capabilities: [], lastSeen: Date.now(), ttl: 600 };
    // A record naming another relay, an expired key, or a forged signature: NO_MAILBOX.
    for (const rec of [
      signRecord({ ...fields, mailbox: { ...mailbox, relayKey: Identity.generate().publicKey } }, b).bytes,
      signRecord({ ...fields, mailbox: { ...mailbox, expiresAt: Date.now() - 1 } }, b).bytes,
      (() => { const x = Buffer.from(signRecord({ ...fields, mailbox }, b).bytes); x[x.length - 1]! ^= 1; return x; })(),
    ]) {
      await expect(MailboxSender.open(address, rec, 5000)).rejects.toMatchObject({ code: 'UNREACHABLE', details: { relayStatus: 'NO_MAILBOX', hop: 1 } });
    }
    const sender = await MailboxSender.open(address, signRecord({ ...fields, mailbox }, b).bytes, 5000);
    cleanup.push(() => sender.close());
    const a = Identity.generate();
    const expiresAt = Date.now() + 60_000;
    const ids = Array.from({ length: 6 }, () => randomBytes(16));
    const results = await Promise.allSettled(ids.map((id, i) => sender.put(id, expiresAt, sealLetter(a, 'alice', b.publicKey, mailbox.key, { id, expiresAt, type: 4, payload: Buffer.from(`SECRET-${i}`) }))));
    expect(results.slice(0, 5).every((r) => r.status === 'fulfilled')).toBe(true);
    expect((results[5] as PromiseRejectedResult).reason).toMatchObject({ code: 'QUEUE_FULL', details: { relayStatus: 'MAILBOX_FULL' } });
    // Re-depositing a held id is accepted without storing it twice (the quota is full: it would be refused otherwise).
    await sender.put(ids[0]!, expiresAt, sealLetter(a, 'alice', b.publicKey, mailbox.key, { id: ids[0]!, expiresAt, type: 4, payload: Buffer.from('SECRET-0') }));
    // What the mailbox holds: no plaintext, no sender key or entity id.
    const stored = await relay.mailboxStore!.list(Buffer.from(b.publicKey).toString('hex'), 'pending', 10);
    expect(stored).toHaveLength(5);
    for (const e of stored) {
      const env = Buffer.from((await relay.mailboxStore!.get(e.id))!.payload);
      expect(env.includes(Buffer.from('SECRET'))).toBe(false);
      expect(env.includes(a.publicKey)).toBe(false);
      expect(env.includes(Buffer.from('alice'))).toBe(false);
      expect(openLetter(secret, b.publicKey, e.id, e.expiresAt, env).from).toBe('alice');
    }
    // A forged seal (sender signature broken) is stored by the blind mailbox but dropped by B.
    const agent = new MailAgent(b, { relay: address, secret });
    const got: string[] = [];
    agent.on('mail', (m) => got.push(Buffer.from(m.payload).toString()));
    expect(await agent.drain()).toBe(5);
    expect(got.sort()).toEqual(['SECRET-0', 'SECRET-1', 'SECRET-2', 'SECRET-3', 'SECRET-4']);
    const forgedId = randomBytes(16);
    const forged = Buffer.from(sealLetter(a, 'alice', b.publicKey, mailbox.key, { id: forgedId, expiresAt, type: 4, payload: Buffer.from('x') }));
    forged[40]! ^= 1; // inside the ciphertext: the tag fails
    await sender.put(forgedId, expiresAt, forged);
    expect(await agent.drain()).toBe(0);
    expect(await relay.mailboxStore!.usage(Buffer.from(b.publicKey).toString('hex'))).toMatchObject({ messages: 0 });
    agent.close();
  });
});
