/**
 * One direction of a session: its key, IV, AEAD context and the count of records sealed or
 * opened under the current key. Nonces are IV XOR the record's first sequence number.
 */
import { createAead, hkdfExpand, wipe, type Aead, type AeadSuite } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';

const KEY_UPDATE_KEY = Buffer.from('peer-v1.1 key update key');
const KEY_UPDATE_IV = Buffer.from('peer-v1.1 key update iv');
export const NONCE_BYTES = 12;

export class Direction {
  /** Created at the first record: an idle session holds no cipher context (~1.7 KiB each, native). */
  private context: Aead | null = null;
  private destroyed = false;
  records = 0;

  constructor(private key: Buffer, private iv: Buffer, private readonly suite: AeadSuite) {}

  get aead(): Aead {
    // Never a context from the wiped key of a destroyed direction.
    if (this.destroyed) throw new PeerError(ErrorCode.INVALID_STATE, 'AEAD context was destroyed');
    return (this.context ??= createAead(this.key, this.suite));
  }

  /** Writes IV XOR seq (u64 big-endian in the last 8 bytes) at out[at…], TLS 1.3 style. */
  writeNonce(seq: number, out: Uint8Array, at: number): void {
    const iv = this.iv;
    const hi = Math.floor(seq / 2 ** 32);
    const lo = seq >>> 0;
    out[at] = iv[0]!;
    out[at + 1] = iv[1]!;
    out[at + 2] = iv[2]!;
    out[at + 3] = iv[3]!;
    out[at + 4] = iv[4]! ^ (hi >>> 24);
    out[at + 5] = iv[5]! ^ ((hi >>> 16) & 0xff);
    out[at + 6] = iv[6]! ^ ((hi >>> 8) & 0xff);
    out[at + 7] = iv[7]! ^ (hi & 0xff);
    out[at + 8] = iv[8]! ^ (lo >>> 24);
    out[at + 9] = iv[9]! ^ ((lo >>> 16) & 0xff);
    out[at + 10] = iv[10]! ^ ((lo >>> 8) & 0xff);
    out[at + 11] = iv[11]! ^ (lo & 0xff);
  }

  /** key_update: key and IV expanded from the current key, which is wiped (PROTOCOL.md §6). */
  update(): void {
    const key = hkdfExpand(this.key, KEY_UPDATE_KEY, 32);
    const iv = hkdfExpand(this.key, KEY_UPDATE_IV, NONCE_BYTES);
    this.destroy();
    this.destroyed = false;
    this.key = key;
    this.iv = iv;
    this.records = 0;
  }

  destroy(): void {
    this.destroyed = true;
    this.context?.destroy();
    this.context = null;
    wipe(this.key, this.iv);
  }
}

/** Reusable nonce and region-table scratch, grown on demand (no allocation per record). */
export class RegionScratch {
  nonces = Buffer.alloc(NONCE_BYTES * 16);
  table = new Uint32Array(4 * 16);

  ensure(records: number): void {
    if (this.table.length < 4 * records) {
      const n = Math.max(records, this.table.length / 2);
      this.nonces = Buffer.alloc(NONCE_BYTES * n);
      this.table = new Uint32Array(4 * n);
    }
  }

  /** Views sized for `records` entries, as the region calls require. */
  views(records: number): { nonces: Buffer; table: Uint32Array } {
    return { nonces: this.nonces.subarray(0, NONCE_BYTES * records), table: this.table.subarray(0, 4 * records) };
  }
}
