/** Randomness for the core: request ids, store-token secrets, refresh targets. Injectable so a simulation can be replayed. */
import { randomBytes } from '../crypto/index.js';

export interface RandomSource {
  bytes(n: number): Uint8Array;
  /** A uniform 32-bit unsigned integer. */
  u32(): number;
}

/** The default: libsodium's CSPRNG, drawn 4 KiB at a time (request ids are per datagram). */
export class SecureRandom implements RandomSource {
  private pool: Uint8Array = new Uint8Array(0);
  private at = 0;

  bytes(n: number): Uint8Array {
    return randomBytes(n);
  }

  u32(): number {
    if (this.at + 4 > this.pool.length) {
      this.pool = randomBytes(4096);
      this.at = 0;
    }
    const p = this.pool;
    const v = ((p[this.at]! << 24) | (p[this.at + 1]! << 16) | (p[this.at + 2]! << 8) | p[this.at + 3]!) >>> 0;
    this.at += 4;
    return v;
  }
}

/**
 * A seeded generator (xoshiro128**, seeded by splitmix32): for simulations and tests only,
 * never for a node on a real network (request ids and tokens would be guessable).
 */
export class SeededRandom implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands the seed into four non-zero words.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0 || 1;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d >>> 0, 11);
    this.a >>>= 0; this.b >>>= 0;
    return r;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v >>> 24;
      if (i + 1 < n) out[i + 1] = (v >>> 16) & 0xff;
      if (i + 2 < n) out[i + 2] = (v >>> 8) & 0xff;
      if (i + 3 < n) out[i + 3] = v & 0xff;
    }
    return out;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 0x100000000;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
