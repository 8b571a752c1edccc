/**
 * Child process: a Worker rewrites the length tables (in a SharedArrayBuffer) of every batch
 * call in a loop while this thread makes those calls. Each call must either run on lengths it
 * checked or refuse them; a length changed between the check and the use would write out of
 * bounds (SIGSEGV). Prints {calls, refused, flips} and exits 0 if the process survived.
 * argv[2]: how long to run, in ms.
 */
import { Worker } from 'node:worker_threads';
import { binding as b } from './binding.mjs';

const runMs = Number(process.argv[2] ?? 2000);
const N = 256; // records per call: a long enough check loop for the race to land
const LEN = 16; // plaintext bytes per record
const TAG = 16;
const key = new Uint8Array(32).fill(7);
const h = b.aeadCreate(key);
const nonces = new Uint8Array(12 * N);
const aads = new Uint8Array(0);

// Batch tables (aad lengths, input lengths) and a region table, all shared with the Worker.
const aadLens = new Uint32Array(new SharedArrayBuffer(4 * N));
const lens = new Uint32Array(new SharedArrayBuffer(4 * N));
const regionTable = new Uint32Array(new SharedArrayBuffer(16 * N));
const stop = new Int32Array(new SharedArrayBuffer(8)); // [0] stop flag, [1] flips done
const region = (i) => [0, 0, i * (LEN + TAG), LEN];
const reset = () => {
  lens.fill(LEN + TAG);
  for (let i = 0; i < N; i++) regionTable.set(region(i), 4 * i);
};
reset();

const plain = new Uint8Array(N * LEN);
const sealed = new Uint8Array(N * (LEN + TAG));
const opened = new Uint8Array(N * LEN);
const regionBuf = new Uint8Array(N * (LEN + TAG));

const worker = new Worker(`
  const { workerData: { lens, regionTable, stop, LEN, TAG } } = require('node:worker_threads');
  // Valid, then far out of range (seal: writes past the output; open: below the tag, so the
  // length minus the tag wraps), then valid again.
  const bad = [0xfffffff0, 0, 7, 0x7fffffff];
  for (let k = 0; Atomics.load(stop, 0) === 0; k++) {
    const v = bad[k & 3];
    for (let i = 0; i < lens.length; i++) {
      lens[i] = v;
      lens[i] = LEN + TAG;
      regionTable[4 * i + 2] = v;
      regionTable[4 * i + 3] = v;
      regionTable[4 * i + 2] = i * (LEN + TAG);
      regionTable[4 * i + 3] = LEN;
    }
    Atomics.add(stop, 1, 1);
  }
`, { eval: true, workerData: { lens, regionTable, stop, LEN, TAG } });
await new Promise((resolve, reject) => { worker.once('online', resolve); worker.once('error', reject); });

let calls = 0;
let refused = 0;
const attempt = (fn) => {
  calls++;
  try {
    fn();
  } catch (err) {
    if (!(err instanceof RangeError || err instanceof TypeError)) throw err;
    refused++;
  }
};
const ptLens = new Uint32Array(N).fill(LEN);
const end = Date.now() + runMs;
while (Date.now() < end) {
  // sealBatch with the shared table as plaintext lengths: the output holds (LEN + TAG) per record.
  attempt(() => b.aeadSealBatch(h, nonces, aads, aadLens, new Uint8Array(N * (LEN + TAG)), lens, new Uint8Array(N * (2 * TAG + LEN))));
  attempt(() => b.aeadSealBatch(h, nonces, aads, aadLens, plain, ptLens, sealed));
  attempt(() => b.aeadOpenBatch(h, nonces, aads, aadLens, sealed, lens, opened));
  attempt(() => b.aeadSealRegions(h, nonces, regionBuf, regionTable));
  attempt(() => b.aeadOpenRegions(h, nonces, regionBuf, regionTable));
}
Atomics.store(stop, 0, 1);
await worker.terminate();
console.log(JSON.stringify({ calls, refused, flips: Atomics.load(stop, 1) }));
