/**
 * Long-term Ed25519 identity (RFC 8032) on libsodium. The fingerprint that users pin is the hex
 * SHA-256 of the 32-byte public key; the DHT node id is the same digest as bytes.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import sodium from 'sodium-native';
import { ErrorCode, PeerError } from '../errors.js';
import { assertBytes, fromHex, randomBytes, sha256, toHex, wipe } from './bytes.js';

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** Key file: one JSON object. The seed is the secret; the public key lets a load check it. */
interface KeyFile {
  type: 'peercomm-ed25519';
  seed: string;
  publicKey: string;
}
const KEY_FILE_TYPE = 'peercomm-ed25519';
/** Owner read/write only; anything readable by group or others is refused on load. */
const KEY_FILE_MODE = 0o600;

export class Identity {
  readonly publicKey: Buffer;
  /** Hex SHA-256 of the public key. */
  readonly fingerprint: string;
  /** The key file it was loaded from or last saved to (the offline queue puts its database next to it). */
  file: string | undefined = undefined;
  /** 64-byte libsodium secret key (seed ‖ public key) in sodium_malloc memory. */
  #secretKey: Buffer | null;
  #seed: Buffer | null;

  private constructor(seed: Uint8Array) {
    this.#seed = sodium.sodium_malloc(ED25519_SEED_BYTES);
    this.#seed.set(seed);
    this.#secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES);
    this.publicKey = Buffer.allocUnsafe(ED25519_PUBLIC_KEY_BYTES);
    sodium.crypto_sign_seed_keypair(this.publicKey, this.#secretKey, this.#seed);
    this.fingerprint = fingerprintOf(this.publicKey);
  }

  static generate(): Identity {
    const seed = sodium.sodium_malloc(ED25519_SEED_BYTES);
    sodium.randombytes_buf(seed);
    try {
      return new Identity(seed);
    } finally {
      wipe(seed);
    }
  }

  /** The same 32-byte seed always gives the same identity (RFC 8032 private key). */
  static fromSeed(seed: Uint8Array): Identity {
    assertBytes(seed, 'Ed25519 seed', ED25519_SEED_BYTES, ErrorCode.INVALID_KEY);
    return new Identity(seed);
  }

  /** Loads a key file written by save(); refuses one that group or others can read. */
  static async load(file: string): Promise<Identity> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      throw new PeerError(ErrorCode.INVALID_KEY, `cannot open key file ${file}: ${(err as Error).message}`);
    }
    let text: Buffer;
    try {
      const stat = await handle.stat();
      if ((stat.mode & 0o077) !== 0) {
        throw new PeerError(
          ErrorCode.INSECURE_KEY_FILE,
          `key file ${file} has mode ${(stat.mode & 0o777).toString(8)}; run chmod 600 on it`,
        );
      }
      if (!stat.isFile()) throw new PeerError(ErrorCode.INVALID_KEY, `key file ${file} is not a regular file`);
      if (stat.size > 4096) throw new PeerError(ErrorCode.INVALID_KEY, `key file ${file} is too large`);
      text = await handle.readFile();
    } finally {
      await handle.close();
    }
    let parsed: Partial<KeyFile> | null;
    try {
      parsed = JSON.parse(text.toString('utf8')) as Partial<KeyFile> | null;
    } catch {
      throw new PeerError(ErrorCode.INVALID_KEY, `key file ${file} is not JSON`);
    } finally {
      wipe(text);
    }
    if (parsed === null || typeof parsed !== 'object' || parsed.type !== KEY_FILE_TYPE || typeof parsed.seed !== 'string' || typeof parsed.publicKey !== 'string') {
      throw new PeerError(ErrorCode.INVALID_KEY, `key file ${file} is not a ${KEY_FILE_TYPE} key`);
    }
    const seed = fromHex(parsed.seed, 'seed', ED25519_SEED_BYTES, ErrorCode.INVALID_KEY);
    try {
      const identity = new Identity(seed);
      if (toHex(identity.publicKey) !== parsed.publicKey.toLowerCase()) {
        identity.destroy();
        throw new PeerError(ErrorCode.INVALID_KEY, `key file ${file}: public key does not match the seed`);
      }
      identity.file = file;
      return identity;
    } finally {
      wipe(seed);
    }
  }

  /**
   * Writes the key file with mode 0600: to a temporary file (random name, created exclusively
   * with that mode) in the same directory, synced, then renamed over `file`, so a crash never
   * leaves half a key and concurrent saves never collide.
   */
  async save(file: string): Promise<void> {
    const body: KeyFile = { type: KEY_FILE_TYPE, seed: toHex(this.secret('seed')), publicKey: toHex(this.publicKey) };
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${toHex(randomBytes(8))}.tmp`);
    const bytes = Buffer.from(`${JSON.stringify(body)}\n`, 'utf8');
    const handle = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, KEY_FILE_MODE);
    try {
      await handle.writeFile(bytes);
      await handle.chmod(KEY_FILE_MODE);
      await handle.sync();
    } catch (err) {
      await handle.close();
      await fs.rm(tmp, { force: true });
      throw err;
    } finally {
      wipe(bytes);
    }
    await handle.close();
    await fs.rename(tmp, file);
    this.file = file;
  }

  sign(message: Uint8Array): Buffer {
    assertBytes(message, 'message');
    const sig = Buffer.allocUnsafe(ED25519_SIGNATURE_BYTES);
    sodium.crypto_sign_detached(sig, message, this.secret('secretKey'));
    return sig;
  }

  /**
   * Verifies an Ed25519 signature (libsodium: canonical encodings only, small-order keys
   * refused). Throws PeerError INVALID_SIGNATURE on any failure, including wrong sizes.
   */
  static verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
    if (!Identity.isValidSignature(publicKey, message, signature)) {
      throw new PeerError(ErrorCode.INVALID_SIGNATURE, 'Ed25519 signature does not verify');
    }
  }

  /** The same check as verify(), as a boolean, for callers that reject in bulk. */
  static isValidSignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    return (
      publicKey instanceof Uint8Array && publicKey.length === ED25519_PUBLIC_KEY_BYTES &&
      signature instanceof Uint8Array && signature.length === ED25519_SIGNATURE_BYTES &&
      message instanceof Uint8Array &&
      sodium.crypto_sign_verify_detached(signature, message, publicKey)
    );
  }

  /** Wipes the secret key; the identity can no longer sign. */
  destroy(): void {
    wipe(this.#secretKey, this.#seed);
    this.#secretKey = null;
    this.#seed = null;
  }

  private secret(which: 'seed' | 'secretKey'): Buffer {
    const value = which === 'seed' ? this.#seed : this.#secretKey;
    if (value === null) throw new PeerError(ErrorCode.INVALID_STATE, 'identity was destroyed');
    return value;
  }
}

/** Hex SHA-256 of an Ed25519 public key: what users compare and pin. */
export function fingerprintOf(publicKey: Uint8Array): string {
  assertBytes(publicKey, 'Ed25519 public key', ED25519_PUBLIC_KEY_BYTES, ErrorCode.INVALID_KEY);
  return toHex(sha256(publicKey));
}
