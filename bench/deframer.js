// De-framer throughput: one call pushes a whole pre-cut stream (about 1 MiB of frames) through
// a fresh wire.Deframer. Reference: the deframer most Node code writes, which Buffer.concat()s
// the pending bytes with every chunk and slices frames off the front (with the same length
// checks). Both return frame bodies as views, so the difference is buffering strategy.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { wire } from '../dist/index.js';
import { KiB, sink } from './common.js';

const STREAM_BYTES = 1024 * KiB;
const MAX_FRAME = 128 * KiB;

export class NaiveDeframer {
  constructor(maxFrameBytes) {
    this.max = maxFrameBytes;
    this.pending = Buffer.alloc(0);
  }

  push(chunk) {
    this.pending = Buffer.concat([this.pending, chunk]);
    const frames = [];
    while (this.pending.length >= 4) {
      const len = this.pending.readUInt32BE(0);
      if (len === 0 || len > this.max) throw new Error(`bad frame length ${len}`);
      if (this.pending.length < 4 + len) break;
      frames.push(this.pending.subarray(4, 4 + len));
      this.pending = this.pending.subarray(4 + len);
    }
    return frames;
  }
}

/** Frames of the given body sizes back to back, as one buffer. */
function stream(bodySizes) {
  return Buffer.concat(bodySizes.map((n) => wire.encodeFrame(crypto.randomBytes(n))));
}

/** Cuts `buf` into chunks whose sizes cycle through `sizes`. */
function cut(buf, sizes) {
  const chunks = [];
  for (let at = 0, i = 0; at < buf.length; i++) {
    const n = sizes[i % sizes.length];
    chunks.push(buf.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

function deframerCase({ id, title, bodies, chunkSizes, gated = false, quick = false }) {
  return {
    id,
    group: 'De-framer (u32 BE length ‖ body), stream MB/s',
    title,
    // Rates per frame; bytes per frame counts the prefix, so MB/s is stream throughput.
    records: bodies.length,
    bytes: (bodies.reduce((a, b) => a + b, 0) + 4 * bodies.length) / bodies.length,
    unit: 'MB',
    gated,
    quick,
    make() {
      const buf = stream(bodies);
      const chunks = cut(buf, chunkSizes);
      const count = (d) => { let n = 0; for (const c of chunks) n += d.push(c).length; return n; };
      assert.equal(count(new wire.Deframer({ maxFrameBytes: MAX_FRAME })), bodies.length);
      assert.equal(count(new NaiveDeframer(MAX_FRAME)), bodies.length);
      const run = (d) => {
        let n = 0;
        for (const c of chunks) {
          const frames = d.push(c);
          n += frames.length;
          if (frames.length > 0) sink.v ^= frames[frames.length - 1][0];
        }
        sink.v ^= n;
      };
      return {
        subject: { name: 'peercomm wire.Deframer', fn: () => run(new wire.Deframer({ maxFrameBytes: MAX_FRAME })) },
        reference: { name: 'naive deframer in the bench: Buffer.concat(pending, chunk) on every push', fn: () => run(new NaiveDeframer(MAX_FRAME)) },
      };
    },
  };
}

const fill = (size) => Array.from({ length: Math.floor(STREAM_BYTES / (size + 4)) }, () => size);

export function deframerCases() {
  // Mixed sizes, from a fixed seed so every run deframes the same stream.
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const mixed = [];
  for (let total = 0; total < STREAM_BYTES;) {
    const n = rnd() < 0.8 ? 1 + Math.floor(rnd() * 256) : 1 + Math.floor(rnd() * 8 * KiB);
    mixed.push(n);
    total += n + 4;
  }
  return [
    deframerCase({ id: 'deframe/64B', title: '64 B frames, 64 KiB chunks', bodies: fill(64), chunkSizes: [64 * KiB], gated: true, quick: true }),
    deframerCase({ id: 'deframe/1KiB', title: '1 KiB frames, 64 KiB chunks', bodies: fill(KiB), chunkSizes: [64 * KiB] }),
    deframerCase({
      id: 'deframe/mixed-odd',
      title: '1 B–8 KiB frames, odd chunk sizes',
      bodies: mixed,
      // Odd cuts: inside length prefixes, inside bodies, tiny and large reads.
      chunkSizes: [1, 3, 517, 1447, 4093, 2, 16381, 65521, 7, 9973],
    }),
  ];
}
