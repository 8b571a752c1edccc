/**
 * Ed25519 identities (generation, determinism, signatures against node:crypto, key files) and
 * X25519 key agreement (agreement, low-order points, sizes).
 */
import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, fingerprintOf, Identity, x25519 } from '../../src/index.js';
import { expectPeerError, expectPeerErrorAsync } from '../helpers/errors.js';
import { hexOf } from '../helpers/aead.js';

const seed32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const sha256Hex = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** node:crypto (OpenSSL) keys from raw 32-byte private keys, via the fixed PKCS#8 prefix. */
const pkcs8 = (prefix: string, raw: Uint8Array): crypto.KeyObject =>
  crypto.createPrivateKey({ key: Buffer.concat([Buffer.from(prefix, 'hex'), raw]), format: 'der', type: 'pkcs8' });
const ed25519Key = (seed: Uint8Array): crypto.KeyObject => pkcs8('302e020100300506032b657004220420', seed);
const x25519Key = (secret: Uint8Array): crypto.KeyObject => pkcs8('302e020100300506032b656e04220420', secret);
const rawPublic = (k: crypto.KeyObject): Buffer =>
  crypto.createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(-32);

describe('Identity', () => {
  it('generate() gives distinct 32-byte keys whose fingerprint is the hex SHA-256 of the key', () => {
    const a = Identity.generate();
    const b = Identity.generate();
    expect(a.publicKey.length).toBe(32);
    expect(hexOf(a.publicKey)).not.toBe(hexOf(b.publicKey));
    for (const id of [a, b]) {
      expect(id.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(id.fingerprint).toBe(sha256Hex(id.publicKey));
      expect(fingerprintOf(id.publicKey)).toBe(id.fingerprint);
      const sig = id.sign(Buffer.from('hello'));
      expect(() => Identity.verify(id.publicKey, Buffer.from('hello'), sig)).not.toThrow();
    }
    a.destroy();
    b.destroy();
  });

  it('fromSeed is deterministic and agrees with node:crypto (public key and signatures)', () => {
    fc.assert(
      fc.property(seed32, fc.uint8Array({ maxLength: 300 }), (seed, msg) => {
        const a = Identity.fromSeed(seed);
        const b = Identity.fromSeed(Buffer.from(seed));
        try {
          expect(hexOf(a.publicKey)).toBe(hexOf(b.publicKey));
          expect(a.fingerprint).toBe(b.fingerprint);
          const reference = ed25519Key(seed);
          expect(hexOf(a.publicKey)).toBe(hexOf(rawPublic(reference)));
          const sig = a.sign(msg);
          expect(hexOf(sig)).toBe(hexOf(b.sign(msg)));
          expect(hexOf(sig)).toBe(hexOf(crypto.sign(null, msg, reference)));
          expect(Identity.isValidSignature(a.publicKey, msg, sig)).toBe(true);
        } finally {
          a.destroy();
          b.destroy();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('fromSeed copies the seed: wiping the caller’s buffer afterwards changes nothing', () => {
    const seed = Buffer.alloc(32, 5);
    const id = Identity.fromSeed(seed);
    const before = id.sign(Buffer.from('m'));
    seed.fill(0);
    expect(hexOf(id.sign(Buffer.from('m')))).toBe(hexOf(before));
    expect(hexOf(id.publicKey)).toBe(hexOf(Identity.fromSeed(Buffer.alloc(32, 5)).publicKey));
    id.destroy();
  });

  it('different seeds give different identities', () => {
    const a = Identity.fromSeed(new Uint8Array(32));
    const b = Identity.fromSeed(new Uint8Array(32).fill(1));
    expect(hexOf(a.publicKey)).not.toBe(hexOf(b.publicKey));
    expect(a.fingerprint).not.toBe(b.fingerprint);
  });

  it('fromSeed / fingerprintOf with a wrong size or type are INVALID_KEY', () => {
    for (const size of [0, 16, 31, 33, 64]) {
      expectPeerError(() => Identity.fromSeed(new Uint8Array(size)), ErrorCode.INVALID_KEY, `seed ${size}`);
      expectPeerError(() => fingerprintOf(new Uint8Array(size)), ErrorCode.INVALID_KEY, `public key ${size}`);
    }
    expectPeerError(() => Identity.fromSeed('00'.repeat(32) as unknown as Uint8Array), ErrorCode.INVALID_KEY);
  });

  it('verify throws INVALID_SIGNATURE for tampered messages, signatures, keys and wrong sizes', () => {
    const id = Identity.fromSeed(new Uint8Array(32).fill(7));
    const other = Identity.fromSeed(new Uint8Array(32).fill(8));
    const msg = Buffer.from('peercomm');
    const sig = id.sign(msg);
    const bad: [string, Uint8Array, Uint8Array, Uint8Array][] = [
      ['other message', id.publicKey, Buffer.from('peercomM'), sig],
      ['other key', other.publicKey, msg, sig],
      ['signature bit flipped', id.publicKey, msg, Buffer.from(sig).fill(sig[0]! ^ 1, 0, 1)],
      ['signature truncated', id.publicKey, msg, sig.subarray(0, 63)],
      ['signature extended', id.publicKey, msg, Buffer.concat([sig, Buffer.alloc(1)])],
      ['empty signature', id.publicKey, msg, new Uint8Array(0)],
      ['public key truncated', id.publicKey.subarray(0, 31), msg, sig],
      ['public key extended', Buffer.concat([id.publicKey, Buffer.alloc(1)]), msg, sig],
      ['all-zero public key', new Uint8Array(32), msg, sig],
    ];
    for (const [name, pub, m, s] of bad) {
      expectPeerError(() => Identity.verify(pub, m, s), ErrorCode.INVALID_SIGNATURE, name);
      expect(Identity.isValidSignature(pub, m, s), name).toBe(false);
    }
    for (const notBytes of [null, 'x', [1]]) {
      const v = notBytes as unknown as Uint8Array;
      expectPeerError(() => Identity.verify(v, msg, sig), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => Identity.verify(id.publicKey, v, sig), ErrorCode.INVALID_SIGNATURE);
      expectPeerError(() => Identity.verify(id.publicKey, msg, v), ErrorCode.INVALID_SIGNATURE);
    }
    expect(() => Identity.verify(id.publicKey, msg, sig)).not.toThrow();
  });

  it('destroy() wipes the secret: sign and save throw INVALID_STATE, the public side still works', async () => {
    const id = Identity.fromSeed(new Uint8Array(32).fill(9));
    const msg = Buffer.from('before');
    const sig = id.sign(msg);
    const pub = hexOf(id.publicKey);
    id.destroy();
    expectPeerError(() => id.sign(msg), ErrorCode.INVALID_STATE);
    await expectPeerErrorAsync(id.save(path.join(os.tmpdir(), `peercomm-never-${process.pid}.key`)), ErrorCode.INVALID_STATE);
    expect(() => id.destroy()).not.toThrow();
    expect(hexOf(id.publicKey)).toBe(pub);
    expect(() => Identity.verify(id.publicKey, msg, sig)).not.toThrow();
  });
});

describe('Identity key files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'peercomm-identity-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const mode = async (file: string): Promise<number> => (await fs.stat(file)).mode & 0o777;
  const keyFile = (fields: Record<string, unknown>): string => `${JSON.stringify(fields)}\n`;
  /** Writes a file the way a user might, then forces its mode (umask cannot widen or narrow it). */
  async function write(name: string, body: string | Buffer, fileMode = 0o600): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, body, { mode: 0o600 });
    await fs.chmod(file, fileMode);
    return file;
  }

  it('save writes a 0600 file atomically (no temporary left), load restores the same identity', async () => {
    const id = Identity.fromSeed(crypto.randomBytes(32));
    const file = path.join(dir, 'round-trip.key');
    await id.save(file);
    expect(await mode(file)).toBe(0o600);
    expect(await fs.readdir(dir)).toEqual(['round-trip.key']);
    const loaded = await Identity.load(file);
    expect(hexOf(loaded.publicKey)).toBe(hexOf(id.publicKey));
    expect(loaded.fingerprint).toBe(id.fingerprint);
    const msg = Buffer.from('same key');
    expect(hexOf(loaded.sign(msg))).toBe(hexOf(id.sign(msg)));

    // Saving again replaces the file in place, still 0600, still no temporary left behind.
    const next = Identity.generate();
    await fs.chmod(file, 0o644);
    await next.save(file);
    expect(await mode(file)).toBe(0o600);
    expect(await fs.readdir(dir)).toEqual(['round-trip.key']);
    expect(hexOf((await Identity.load(file)).publicKey)).toBe(hexOf(next.publicKey));
    await fs.rm(file);
  });

  it('two concurrent saves to one path both complete; the file then holds one of the two keys', async () => {
    const a = Identity.generate();
    const b = Identity.generate();
    const file = path.join(dir, 'concurrent.key');
    const results = await Promise.allSettled([a.save(file), b.save(file)]);
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'saved'))).toEqual(['saved', 'saved']);
    expect(await mode(file)).toBe(0o600);
    expect([hexOf(a.publicKey), hexOf(b.publicKey)]).toContain(hexOf((await Identity.load(file)).publicKey));
    expect((await fs.readdir(dir)).filter((f) => f.includes('concurrent'))).toEqual(['concurrent.key']);
    await fs.rm(file);
  });

  it('a key file readable or writable by group or others is refused with INSECURE_KEY_FILE', async () => {
    const id = Identity.generate();
    for (const m of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620, 0o606]) {
      const file = path.join(dir, `mode-${m.toString(8)}.key`);
      await id.save(file);
      await fs.chmod(file, m);
      await expectPeerErrorAsync(Identity.load(file), ErrorCode.INSECURE_KEY_FILE, m.toString(8));
      await fs.chmod(file, 0o400);
      expect(hexOf((await Identity.load(file)).publicKey), 'owner read-only is fine').toBe(hexOf(id.publicKey));
      await fs.rm(file);
    }
  });

  it('malformed files, wrong types, bad seeds and mismatched public keys are INVALID_KEY', async () => {
    const id = Identity.fromSeed(new Uint8Array(32).fill(3));
    const other = Identity.fromSeed(new Uint8Array(32).fill(4));
    const seed = '03'.repeat(32);
    const publicKey = hexOf(id.publicKey);
    // The well-formed file these are variations of does load.
    const good = await write('good.key', keyFile({ type: 'peercomm-ed25519', seed, publicKey }));
    expect(hexOf((await Identity.load(good)).publicKey)).toBe(publicKey);
    expect(hexOf((await Identity.load(await write('upper.key', keyFile({ type: 'peercomm-ed25519', seed, publicKey: publicKey.toUpperCase() })))).publicKey)).toBe(publicKey);

    const cases: [string, string | Buffer][] = [
      ['not JSON', '{"type": "peercomm-ed25519", seed'],
      ['empty file', ''],
      ['binary', crypto.randomBytes(64)],
      ['JSON array', '[]'],
      ['JSON number', '42'],
      ['JSON string', '"peercomm-ed25519"'],
      ['wrong type', keyFile({ type: 'peercomm-x25519', seed, publicKey })],
      ['no type', keyFile({ seed, publicKey })],
      ['seed missing', keyFile({ type: 'peercomm-ed25519', publicKey })],
      ['seed not a string', keyFile({ type: 'peercomm-ed25519', seed: [3, 3], publicKey })],
      ['seed too short', keyFile({ type: 'peercomm-ed25519', seed: seed.slice(2), publicKey })],
      ['seed too long', keyFile({ type: 'peercomm-ed25519', seed: `${seed}03`, publicKey })],
      ['seed not hex', keyFile({ type: 'peercomm-ed25519', seed: `zz${seed.slice(2)}`, publicKey })],
      ['public key missing', keyFile({ type: 'peercomm-ed25519', seed })],
      ['public key of another identity', keyFile({ type: 'peercomm-ed25519', seed, publicKey: hexOf(other.publicKey) })],
      ['public key truncated', keyFile({ type: 'peercomm-ed25519', seed, publicKey: publicKey.slice(2) })],
      ['oversized', keyFile({ type: 'peercomm-ed25519', seed, publicKey, pad: 'x'.repeat(5000) })],
    ];
    for (const [name, body] of cases) {
      const file = await write(`bad-${name.replace(/\W+/g, '-')}.key`, body);
      await expectPeerErrorAsync(Identity.load(file), ErrorCode.INVALID_KEY, name);
    }
    await expectPeerErrorAsync(Identity.load(path.join(dir, 'does-not-exist.key')), ErrorCode.INVALID_KEY, 'missing');
  });

  it('a file holding the JSON literal null is INVALID_KEY (not a TypeError)', async () => {
    const file = await write('null.key', 'null\n');
    await expectPeerErrorAsync(Identity.load(file), ErrorCode.INVALID_KEY, 'JSON null');
  });

  it('a path naming a directory is an unreadable key file: INVALID_KEY (not a raw EISDIR)', async () => {
    const sub = path.join(dir, 'a-directory.key');
    await fs.mkdir(sub, { mode: 0o700 });
    await expectPeerErrorAsync(Identity.load(sub), ErrorCode.INVALID_KEY, 'a directory');
  });

  it('a symbolic link is not followed (INVALID_KEY)', async () => {
    const id = Identity.generate();
    const target = path.join(dir, 'target.key');
    await id.save(target);
    const link = path.join(dir, 'link.key');
    await fs.symlink(target, link);
    await expectPeerErrorAsync(Identity.load(link), ErrorCode.INVALID_KEY);
    expect(hexOf((await Identity.load(target)).publicKey)).toBe(hexOf(id.publicKey));
  });
});

describe('x25519', () => {
  it('two parties derive the same secret, equal to node:crypto’s', () => {
    for (let i = 0; i < 20; i++) {
      const a = x25519.generateKeyPair();
      const b = x25519.generateKeyPair();
      expect(a.publicKey.length).toBe(32);
      expect(a.secretKey.length).toBe(32);
      expect(hexOf(x25519.publicKeyOf(a.secretKey))).toBe(hexOf(a.publicKey));
      expect(hexOf(a.publicKey)).toBe(hexOf(rawPublic(x25519Key(a.secretKey))));
      const ab = x25519.sharedSecret(a.secretKey, b.publicKey);
      const ba = x25519.sharedSecret(b.secretKey, a.publicKey);
      expect(ab.length).toBe(32);
      expect(hexOf(ab)).toBe(hexOf(ba));
      const reference = crypto.diffieHellman({ privateKey: x25519Key(a.secretKey), publicKey: crypto.createPublicKey(x25519Key(b.secretKey)) });
      expect(hexOf(ab)).toBe(hexOf(reference));
      expect(ab.every((x) => x === 0)).toBe(false);
    }
  });

  it('wipe(pair) zeroes the secret key', () => {
    const pair = x25519.generateKeyPair();
    expect(pair.secretKey.some((x) => x !== 0)).toBe(true);
    x25519.wipe(pair);
    expect(pair.secretKey.every((x) => x === 0)).toBe(true);
  });

  it('low-order public keys (and their top-bit-set twins) give INVALID_KEY, never a zero secret', () => {
    const p = (lastByte: number, first: number): string => first.toString(16).padStart(2, '0') + 'ff'.repeat(30) + lastByte.toString(16);
    const lowOrder = [
      '00'.repeat(32), // 0 (order 4)
      '01' + '00'.repeat(31), // 1 (order 1)
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
      p(0x7f, 0xec), // p − 1 (order 2)
      p(0x7f, 0xed), // p ≡ 0
      p(0x7f, 0xee), // p + 1 ≡ 1
    ];
    const withTopBit = lowOrder.map((h) => {
      const b = Buffer.from(h, 'hex');
      b[31]! |= 0x80; // RFC 7748: the top bit is ignored
      return hexOf(b);
    });
    const pair = x25519.generateKeyPair();
    for (const h of [...lowOrder, ...withTopBit]) {
      expect(h).toHaveLength(64);
      expectPeerError(() => x25519.sharedSecret(pair.secretKey, Buffer.from(h, 'hex')), ErrorCode.INVALID_KEY, h);
    }
    // The same secret key still works with a proper public key.
    const peer = x25519.generateKeyPair();
    expect(hexOf(x25519.sharedSecret(pair.secretKey, peer.publicKey))).toBe(hexOf(x25519.sharedSecret(peer.secretKey, pair.publicKey)));
  });

  it('keys of the wrong size or type are INVALID_KEY', () => {
    const pair = x25519.generateKeyPair();
    for (const size of [0, 16, 31, 33, 64]) {
      const k = new Uint8Array(size).fill(9);
      expectPeerError(() => x25519.sharedSecret(k, pair.publicKey), ErrorCode.INVALID_KEY, `secret ${size}`);
      expectPeerError(() => x25519.sharedSecret(pair.secretKey, k), ErrorCode.INVALID_KEY, `public ${size}`);
      expectPeerError(() => x25519.publicKeyOf(k), ErrorCode.INVALID_KEY, `publicKeyOf ${size}`);
    }
    expectPeerError(() => x25519.sharedSecret(hexOf(pair.secretKey) as unknown as Uint8Array, pair.publicKey), ErrorCode.INVALID_KEY);
    expectPeerError(() => x25519.sharedSecret(pair.secretKey, null as unknown as Uint8Array), ErrorCode.INVALID_KEY);
  });
});
