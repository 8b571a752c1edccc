// The subset of sodium-native (libsodium bindings) that peercomm uses. sodium-native ships no
// type declarations; these mirror its README. Every function throws on failure.
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  const sodium: {
    crypto_sign_PUBLICKEYBYTES: number;
    crypto_sign_SECRETKEYBYTES: number;
    crypto_sign_SEEDBYTES: number;
    crypto_sign_BYTES: number;
    crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void;
    crypto_sign_keypair(pk: Bytes, sk: Bytes): void;
    crypto_sign_detached(sig: Bytes, m: Bytes, sk: Bytes): void;
    crypto_sign_verify_detached(sig: Bytes, m: Bytes, pk: Bytes): boolean;
    crypto_scalarmult_BYTES: number;
    crypto_scalarmult_SCALARBYTES: number;
    crypto_scalarmult_base(q: Bytes, n: Bytes): void;
    crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
    crypto_hash_sha256_BYTES: number;
    crypto_hash_sha256(out: Bytes, input: Bytes): void;
    crypto_hash_sha256_STATEBYTES: number;
    crypto_hash_sha256_init(state: Bytes): void;
    crypto_hash_sha256_update(state: Bytes, input: Bytes): void;
    crypto_hash_sha256_final(state: Bytes, out: Bytes): void;
    crypto_aead_chacha20poly1305_ietf_ABYTES: number;
    crypto_aead_chacha20poly1305_ietf_KEYBYTES: number;
    crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number;
    crypto_aead_chacha20poly1305_ietf_encrypt(
      c: Bytes, m: Bytes, ad: Bytes | null, nsec: null, npub: Bytes, k: Bytes): number;
    crypto_aead_chacha20poly1305_ietf_decrypt(
      m: Bytes, nsec: null, c: Bytes, ad: Bytes | null, npub: Bytes, k: Bytes): number;
    randombytes_buf(buf: Bytes): void;
    sodium_memzero(buf: Bytes): void;
    sodium_malloc(size: number): Buffer;
    sodium_memcmp(a: Bytes, b: Bytes): boolean;
  };
  export default sodium;
}
declare module 'node-gyp-build' {
  function load(dir: string): unknown;
  export default load;
}
