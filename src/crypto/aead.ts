/**
 * Authenticated encryption behind one interface, two suites:
 * - aes-256-gcm: the native addon (one OpenSSL context per key), or node:crypto when the addon
 *   is unavailable; both give identical bytes.
 * - chacha20-poly1305 (IETF, 96-bit nonce): sodium-native, for machines without AES hardware.
 * Output is always ciphertext ‖ 16-byte tag. Nonces are the caller's responsibility: the
 * session layer derives them from a per-direction IV and a sequence number, never at random.
 */
import crypto from 'node:crypto';
import sodium from 'sodium-native';
import { ErrorCode, PeerError } from '../errors.js';
import { assertBytes, wipe } from './bytes.js';
import { native, type NativeAeadHandle } from './native.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

export type AeadSuite = 'aes-256-gcm' | 'chacha20-poly1305';
export const AEAD_SUITES: readonly AeadSuite[] = ['aes-256-gcm', 'chacha20-poly1305'];

/**
 * n records laid out back to back: `nonces` holds 12 bytes per record, `aad` and `data` are
 * concatenations whose per-record lengths are `aadLengths[i]` and `lengths[i]`.
 */
export interface AeadBatch {
  nonces: Uint8Array;
  aad: Uint8Array;
  aadLengths: Uint32Array;
  data: Uint8Array;
  lengths: Uint32Array;
}

export interface AeadRecord {
  nonce: Uint8Array;
  aad: Uint8Array;
  data: Uint8Array;
}

export interface Aead {
  readonly suite: AeadSuite;
  /** Which implementation does the work: the addon, node:crypto, or libsodium. */
  readonly implementation: 'native' | 'node:crypto' | 'sodium';
  /** Returns ciphertext ‖ tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns the plaintext; throws PeerError DECRYPTION_FAILED when the tag does not verify. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /**
   * Writes ciphertext ‖ tag at out[offset…] and returns the byte count (plaintext + 16).
   * `out` may be the plaintext's own memory (in place) but must not partly overlap it.
   */
  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset?: number): number;
  /** Writes the plaintext at out[offset…] and returns its length; out may alias `sealed`. */
  openInto(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array, offset?: number): number;
  /** Seals every record of the batch in one call; returns each ciphertext ‖ tag back to back. */
  sealBatch(batch: AeadBatch, out?: Uint8Array): Uint8Array;
  /**
   * Opens every record; returns the plaintexts back to back. If any tag fails, throws
   * DECRYPTION_FAILED with `details.index` and nothing of the output is to be trusted.
   */
  openBatch(batch: AeadBatch, out?: Uint8Array): Uint8Array;
  /**
   * Seals n records in place inside one buffer, in one native call: `table` holds four u32 per
   * record (aad offset, aad length, data offset, data length); each data region becomes its
   * ciphertext and the 16-byte tag is written right after it. The session hot path: every
   * frame of a socket write lives in one buffer.
   */
  sealRegions(nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): void;
  /**
   * Opens n records in place (data length excludes the tag that follows it); returns how many
   * opened before the first whose tag fails (n when all do). A failed region is wiped.
   */
  openRegions(nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): number;
  /** Frees the context and wipes key material now; later calls throw INVALID_STATE. */
  destroy(): void;
}

/** Entries per record in a region table. */
export const REGION_FIELDS = 4;

/** Packs separate records into the contiguous layout the batch calls take. */
export function packBatch(records: readonly AeadRecord[]): AeadBatch {
  const n = records.length;
  const nonces = Buffer.allocUnsafe(n * AEAD_NONCE_BYTES);
  const aadLengths = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  let aadTotal = 0;
  let dataTotal = 0;
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    assertBytes(r.nonce, 'nonce', AEAD_NONCE_BYTES);
    assertBytes(r.aad, 'aad');
    assertBytes(r.data, 'data');
    nonces.set(r.nonce, i * AEAD_NONCE_BYTES);
    aadLengths[i] = r.aad.length;
    lengths[i] = r.data.length;
    aadTotal += r.aad.length;
    dataTotal += r.data.length;
  }
  const aad = Buffer.allocUnsafe(aadTotal);
  const data = Buffer.allocUnsafe(dataTotal);
  let a = 0;
  let d = 0;
  for (const r of records) {
    aad.set(r.aad, a);
    data.set(r.data, d);
    a += r.aad.length;
    d += r.data.length;
  }
  return { nonces, aad, aadLengths, data, lengths };
}

/** Validation and the batch loop shared by every implementation. */
abstract class BaseAead implements Aead {
  abstract readonly suite: AeadSuite;
  abstract readonly implementation: Aead['implementation'];
  protected destroyed = false;

  /** Seals into out[0 .. pt+16); arguments already checked. */
  protected abstract sealRaw(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void;
  /** Opens into out[0 .. sealed-16); returns false (out wiped) when the tag fails. */
  protected abstract openRaw(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
  protected abstract release(): void;

  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.check(nonce, aad, plaintext);
    const out = Buffer.allocUnsafe(plaintext.length + AEAD_TAG_BYTES);
    this.sealRaw(nonce, aad, plaintext, out);
    return out;
  }

  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
    this.checkSealed(nonce, aad, sealed);
    const out = Buffer.allocUnsafe(sealed.length - AEAD_TAG_BYTES);
    if (!this.openRaw(nonce, aad, sealed, out)) throw decryptionFailed();
    return out;
  }

  sealInto(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset = 0): number {
    this.check(nonce, aad, plaintext);
    const n = plaintext.length + AEAD_TAG_BYTES;
    this.sealRaw(nonce, aad, plaintext, outputRegion(out, offset, n));
    return n;
  }

  openInto(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array, offset = 0): number {
    this.checkSealed(nonce, aad, sealed);
    const n = sealed.length - AEAD_TAG_BYTES;
    if (!this.openRaw(nonce, aad, sealed, outputRegion(out, offset, n))) throw decryptionFailed();
    return n;
  }

  sealBatch(batch: AeadBatch, out?: Uint8Array): Uint8Array {
    this.alive();
    const size = checkBatch(batch, AEAD_TAG_BYTES);
    const dst = out === undefined ? Buffer.allocUnsafe(size) : outputRegion(out, 0, size);
    this.sealBatchRaw(batch, dst);
    return dst;
  }

  openBatch(batch: AeadBatch, out?: Uint8Array): Uint8Array {
    this.alive();
    const size = checkBatch(batch, -AEAD_TAG_BYTES);
    const dst = out === undefined ? Buffer.allocUnsafe(size) : outputRegion(out, 0, size);
    const opened = this.openBatchRaw(batch, dst);
    if (opened !== batch.lengths.length) {
      wipe(dst);
      throw decryptionFailed({ index: opened });
    }
    return dst;
  }

  sealRegions(nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): void {
    this.alive();
    checkRegions(nonces, buffer, table);
    this.sealRegionsRaw(nonces, buffer, table);
  }

  openRegions(nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): number {
    this.alive();
    checkRegions(nonces, buffer, table);
    return this.openRegionsRaw(nonces, buffer, table);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.release();
  }

  protected sealBatchRaw(b: AeadBatch, out: Uint8Array): void {
    let a = 0;
    let d = 0;
    let o = 0;
    for (let i = 0; i < b.lengths.length; i++) {
      const al = b.aadLengths[i]!;
      const len = b.lengths[i]!;
      const nonce = b.nonces.subarray(i * AEAD_NONCE_BYTES, (i + 1) * AEAD_NONCE_BYTES);
      this.sealRaw(nonce, b.aad.subarray(a, a + al), b.data.subarray(d, d + len), out.subarray(o, o + len + AEAD_TAG_BYTES));
      a += al;
      d += len;
      o += len + AEAD_TAG_BYTES;
    }
  }

  /** Returns how many records opened before the first failure. */
  protected openBatchRaw(b: AeadBatch, out: Uint8Array): number {
    let a = 0;
    let d = 0;
    let o = 0;
    for (let i = 0; i < b.lengths.length; i++) {
      const al = b.aadLengths[i]!;
      const len = b.lengths[i]!;
      const nonce = b.nonces.subarray(i * AEAD_NONCE_BYTES, (i + 1) * AEAD_NONCE_BYTES);
      const plain = len - AEAD_TAG_BYTES;
      if (!this.openRaw(nonce, b.aad.subarray(a, a + al), b.data.subarray(d, d + len), out.subarray(o, o + plain))) return i;
      a += al;
      d += len;
      o += plain;
    }
    return b.lengths.length;
  }

  protected sealRegionsRaw(nonces: Uint8Array, buf: Uint8Array, t: Uint32Array): void {
    for (let i = 0, r = 0; r < t.length; i++, r += REGION_FIELDS) {
      const at = t[r + 2]!;
      const data = buf.subarray(at, at + t[r + 3]!);
      this.sealRaw(nonces.subarray(i * AEAD_NONCE_BYTES, (i + 1) * AEAD_NONCE_BYTES), buf.subarray(t[r]!, t[r]! + t[r + 1]!), data, buf.subarray(at, at + data.length + AEAD_TAG_BYTES));
    }
  }

  protected openRegionsRaw(nonces: Uint8Array, buf: Uint8Array, t: Uint32Array): number {
    for (let i = 0, r = 0; r < t.length; i++, r += REGION_FIELDS) {
      const at = t[r + 2]!;
      const len = t[r + 3]!;
      const nonce = nonces.subarray(i * AEAD_NONCE_BYTES, (i + 1) * AEAD_NONCE_BYTES);
      if (!this.openRaw(nonce, buf.subarray(t[r]!, t[r]! + t[r + 1]!), buf.subarray(at, at + len + AEAD_TAG_BYTES), buf.subarray(at, at + len))) return i;
    }
    return t.length / REGION_FIELDS;
  }

  private alive(): void {
    if (this.destroyed) throw new PeerError(ErrorCode.INVALID_STATE, 'AEAD context was destroyed');
  }

  private check(nonce: Uint8Array, aad: Uint8Array, input: Uint8Array): void {
    this.alive();
    if (!(nonce instanceof Uint8Array) || nonce.length !== AEAD_NONCE_BYTES) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `nonce must be ${AEAD_NONCE_BYTES} bytes`);
    }
    if (!(aad instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'aad must be a Uint8Array');
    if (!(input instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'input must be a Uint8Array');
  }

  private checkSealed(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): void {
    this.check(nonce, aad, sealed);
    if (sealed.length < AEAD_TAG_BYTES) throw decryptionFailed({ reason: 'shorter than the tag' });
  }
}

function decryptionFailed(details?: Record<string, unknown>): PeerError {
  return new PeerError(ErrorCode.DECRYPTION_FAILED, 'authentication tag did not verify', details);
}

function outputRegion(out: Uint8Array, offset: number, size: number): Uint8Array {
  if (!(out instanceof Uint8Array)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'out must be a Uint8Array');
  if (!Number.isInteger(offset) || offset < 0 || offset + size > out.length) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `out needs ${size} bytes at offset ${offset}, has ${out.length}`);
  }
  return offset === 0 && size === out.length ? out : out.subarray(offset, offset + size);
}

/** Checks a batch's tables against its data; returns the output size (input + delta per record). */
function checkBatch(b: AeadBatch, deltaPerRecord: number): number {
  if (
    !b || !(b.nonces instanceof Uint8Array) || !(b.aad instanceof Uint8Array) || !(b.data instanceof Uint8Array) ||
    !(b.aadLengths instanceof Uint32Array) || !(b.lengths instanceof Uint32Array)
  ) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'batch needs nonces, aad, data (Uint8Array) and aadLengths, lengths (Uint32Array)');
  }
  const n = b.lengths.length;
  if (b.aadLengths.length !== n || b.nonces.length !== n * AEAD_NONCE_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, `batch of ${n} records needs ${n} aad lengths and ${n * AEAD_NONCE_BYTES} nonce bytes`);
  }
  let aad = 0;
  let data = 0;
  for (let i = 0; i < n; i++) {
    aad += b.aadLengths[i]!;
    const len = b.lengths[i]!;
    if (deltaPerRecord < 0 && len < -deltaPerRecord) throw decryptionFailed({ index: i, reason: 'shorter than the tag' });
    data += len;
  }
  if (aad > b.aad.length || data > b.data.length) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'batch length tables exceed their data');
  }
  return data + n * deltaPerRecord;
}

function checkRegions(nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): void {
  if (!(nonces instanceof Uint8Array) || !(buffer instanceof Uint8Array) || !(table instanceof Uint32Array)) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'regions need nonces and buffer (Uint8Array) and table (Uint32Array)');
  }
  const n = table.length / REGION_FIELDS;
  if (!Number.isInteger(n) || nonces.length !== n * AEAD_NONCE_BYTES) {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'region table needs 4 entries and 12 nonce bytes per record');
  }
  for (let r = 0; r < table.length; r += REGION_FIELDS) {
    if (table[r]! + table[r + 1]! > buffer.length || table[r + 2]! + table[r + 3]! + AEAD_TAG_BYTES > buffer.length) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `region ${r / REGION_FIELDS} lies outside the buffer`);
    }
  }
}

class NativeAesGcm extends BaseAead {
  readonly suite = 'aes-256-gcm';
  readonly implementation = 'native';
  private readonly handle: NativeAeadHandle;

  constructor(key: Uint8Array) {
    super();
    this.handle = native!.aeadCreate(key);
  }

  protected sealRaw(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void {
    native!.aeadSeal(this.handle, nonce, aad, pt, out);
  }

  protected openRaw(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    return native!.aeadOpen(this.handle, nonce, aad, sealed, out);
  }

  protected override sealBatchRaw(b: AeadBatch, out: Uint8Array): void {
    native!.aeadSealBatch(this.handle, b.nonces, b.aad, b.aadLengths, b.data, b.lengths, out);
  }

  protected override openBatchRaw(b: AeadBatch, out: Uint8Array): number {
    return native!.aeadOpenBatch(this.handle, b.nonces, b.aad, b.aadLengths, b.data, b.lengths, out);
  }

  protected override sealRegionsRaw(nonces: Uint8Array, buf: Uint8Array, t: Uint32Array): void {
    native!.aeadSealRegions(this.handle, nonces, buf, t);
  }

  protected override openRegionsRaw(nonces: Uint8Array, buf: Uint8Array, t: Uint32Array): number {
    return native!.aeadOpenRegions(this.handle, nonces, buf, t);
  }

  protected release(): void {
    native!.aeadDestroy(this.handle);
  }
}

/** node:crypto needs the raw key for every cipher object, so it is kept here until destroy(). */
class NodeCryptoAesGcm extends BaseAead {
  readonly suite = 'aes-256-gcm';
  readonly implementation = 'node:crypto';
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    super();
    this.key = Buffer.from(key);
  }

  protected sealRaw(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void {
    const c = crypto.createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: AEAD_TAG_BYTES });
    c.setAAD(aad);
    const body = c.update(pt);
    c.final();
    out.set(body, 0);
    out.set(c.getAuthTag(), pt.length);
  }

  protected openRaw(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    const len = sealed.length - AEAD_TAG_BYTES;
    const d = crypto.createDecipheriv('aes-256-gcm', this.key, nonce, { authTagLength: AEAD_TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(len));
    const body = d.update(sealed.subarray(0, len));
    try {
      d.final();
    } catch {
      wipe(body, out);
      return false;
    }
    out.set(body, 0);
    wipe(body);
    return true;
  }

  protected release(): void {
    wipe(this.key);
  }
}

class SodiumChaCha20Poly1305 extends BaseAead {
  readonly suite = 'chacha20-poly1305';
  readonly implementation = 'sodium';
  /** A plain buffer wiped by destroy(): sodium_malloc's guard pages per session would not scale. */
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    super();
    this.key = Buffer.from(key);
  }

  protected sealRaw(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, pt, aad, null, nonce, this.key);
  }

  protected openRaw(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean {
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, this.key);
      return true;
    } catch {
      wipe(out);
      return false;
    }
  }

  protected release(): void {
    wipe(this.key);
  }
}

/**
 * Creates an AEAD context for one key. The key is copied; the caller may wipe its own copy.
 * Wrong key size or unknown suite → PeerError INVALID_KEY / INVALID_ARGUMENT.
 */
export function createAead(key: Uint8Array, suite: AeadSuite = 'aes-256-gcm'): Aead {
  assertBytes(key, 'key', AEAD_KEY_BYTES, ErrorCode.INVALID_KEY);
  switch (suite) {
    case 'aes-256-gcm':
      return native === null ? new NodeCryptoAesGcm(key) : new NativeAesGcm(key);
    case 'chacha20-poly1305':
      return new SodiumChaCha20Poly1305(key);
    default:
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `unknown AEAD suite ${String(suite)}`);
  }
}
