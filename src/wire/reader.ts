/**
 * Bounds-checked cursor over a frame body. Every read checks the remaining length first and
 * throws PeerError MALFORMED_FRAME past the end, so decoders never index out of range.
 */
import { ErrorCode, PeerError } from '../errors.js';
import { readU64, writeU64 } from './u64.js';

export class ByteReader {
  private at = 0;

  constructor(private readonly bytes: Uint8Array, private readonly what: string) {}

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.bytes[this.at]! << 8) | this.bytes[this.at + 1]!;
    this.at += 2;
    return v;
  }

  /** u64 as a JS number; values of 2^53 or more are MALFORMED_FRAME. */
  u64(): number {
    this.need(8);
    const v = readU64(new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 8), 0, this.what);
    this.at += 8;
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  bytesView(n: number): Uint8Array {
    this.need(n);
    const v = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  /** u8 length then that many bytes of UTF-8, which must be valid and 1..max bytes long. */
  shortString(max = 255): string {
    const n = this.u8();
    if (n === 0 || n > max) this.fail(`string length ${n} outside 1..${max}`);
    const raw = this.bytesView(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return this.fail('string is not valid UTF-8');
    }
  }

  /** Asserts the body was consumed exactly: trailing bytes are MALFORMED_FRAME. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`);
  }

  fail(reason: string): never {
    throw new PeerError(ErrorCode.MALFORMED_FRAME, `${this.what}: ${reason}`);
  }

  private need(n: number): void {
    if (this.bytes.length - this.at < n) this.fail(`truncated (needs ${n} more bytes at offset ${this.at})`);
  }
}

/** Appends fields to a growing list of parts; `finish()` concatenates once. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  u8(v: number): this {
    return this.raw(Uint8Array.of(v & 0xff));
  }

  u16(v: number): this {
    return this.raw(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
  }

  u64(v: number, name = 'u64 field'): this {
    const b = new Uint8Array(8);
    writeU64(new DataView(b.buffer), 0, v, name);
    return this.raw(b);
  }

  shortString(s: string, max = 255): this {
    const b = Buffer.from(s, 'utf8');
    if (b.length === 0 || b.length > max) throw new PeerError(ErrorCode.INVALID_ARGUMENT, `string must be 1..${max} UTF-8 bytes`);
    return this.u8(b.length).raw(b);
  }

  raw(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
