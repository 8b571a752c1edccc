/**
 * Record keys in the simulation (owners' and attackers'): real Ed25519 keys and signatures
 * (libsodium), so every record a simulated node checks is a real check; but the secret is kept
 * in ordinary memory, not Identity's sodium_malloc pages: thousands of guarded allocations would
 * exhaust the process's memory mappings, and nothing here protects anything. Never for a real
 * node. Also the attacker's id grinding.
 */
import sodium from 'sodium-native';
import { nodeIdOf } from './id.js';
import type { RandomSource } from './random.js';
import type { RecordSigner } from './record.js';

export class SimKey implements RecordSigner {
  readonly publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  private readonly secret = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);

  constructor(seed: Uint8Array) {
    sodium.crypto_sign_seed_keypair(this.publicKey, this.secret, Buffer.from(seed.buffer, seed.byteOffset, seed.length));
  }

  static random(random: RandomSource): SimKey {
    return new SimKey(random.bytes(32));
  }

  sign(message: Uint8Array): Buffer {
    const sig = Buffer.alloc(sodium.crypto_sign_BYTES);
    sodium.crypto_sign_detached(sig, message, this.secret);
    return sig;
  }

}

/** Leading bits `a` and `b` share. */
function sharedBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

/**
 * An attacker grinding node ids: public keys drawn until the id (the real rule: SHA-256 of the
 * public key) shares at least `bits` leading bits with `target`. About 2^bits draws; returns
 * how many it took (a real attacker pays a key generation for each).
 */
export function grindPublicKey(target: Uint8Array, bits: number, random: RandomSource): { publicKey: Uint8Array; tries: number } {
  for (let tries = 1; ; tries++) {
    const publicKey = random.bytes(32);
    if (sharedBits(nodeIdOf(publicKey), target) >= bits) return { publicKey, tries };
  }
}
