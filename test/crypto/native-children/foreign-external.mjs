/**
 * Child process: hands an external made by another addon (argv[2], built from
 * foreign-external.c) to every entry point of peercomm's addon, in every argument position,
 * with the other arguments valid. Each call must throw; reading the external as one of our
 * AEAD contexts would dereference a wild pointer (SIGSEGV) or free it. Prints
 * [{fn, arg, threw, name, code}] and exits 0 if the process survived.
 */
import { createRequire } from 'node:module';
import { binding as b } from './binding.mjs';

const foreign = createRequire(import.meta.url)(process.argv[2]).external();
const h = b.aeadCreate(new Uint8Array(32));
const n12 = () => new Uint8Array(12);
const none = () => new Uint8Array(0);
const lens = () => new Uint32Array(1);
// Valid arguments for every entry point (each call succeeds as written).
const valid = {
  aeadCreate: () => [new Uint8Array(32)],
  aeadSeal: () => [h, n12(), none(), none(), new Uint8Array(16)],
  aeadOpen: () => [h, n12(), none(), new Uint8Array(16), none()],
  aeadSealBatch: () => [h, n12(), none(), lens(), none(), lens(), new Uint8Array(16)],
  aeadOpenBatch: () => [h, n12(), none(), lens(), new Uint8Array(16), Uint32Array.of(16), none()],
  aeadSealRegions: () => [h, n12(), new Uint8Array(16), new Uint32Array(4)],
  aeadOpenRegions: () => [h, n12(), new Uint8Array(16), new Uint32Array(4)],
  poolAlloc: () => [1],
  poolConfigure: () => [2, 10_000],
  poolStats: () => [],
  poolTrim: () => [],
  aeadDestroy: () => [b.aeadCreate(new Uint8Array(32))],
};
const missing = Object.keys(b).filter((k) => !(k in valid));
if (missing.length > 0) throw new Error(`entry points without a case here: ${missing.join(', ')}`);

const results = [];
for (const [fn, args] of Object.entries(valid)) {
  b[fn](...args()); // the valid call works
  for (let arg = 0; arg < args().length; arg++) {
    const a = args();
    a[arg] = foreign;
    try {
      b[fn](...a);
      results.push({ fn, arg, threw: false });
    } catch (err) {
      results.push({ fn, arg, threw: true, name: err.name, code: err.code });
    }
  }
}
// Our own handle still works after all that.
const out = new Uint8Array(16);
b.aeadSeal(h, n12(), none(), none(), out);
console.log(JSON.stringify(results));
