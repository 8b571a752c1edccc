import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PeerError, wire } from '../../src/index.js';

const { Deframer, encodeFrame, releaseFrame } = wire;

function stream(bodies: Uint8Array[]): Buffer {
  return Buffer.concat(bodies.map((b) => encodeFrame(b)));
}

/** Feeds `bytes` cut at the given sorted offsets; returns the frame bodies as hex. */
function deframe(bytes: Uint8Array, cuts: number[], max = 1 << 16): string[] {
  const d = new Deframer({ maxFrameBytes: max });
  const out: string[] = [];
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    for (const f of d.push(bytes.subarray(prev, cut))) out.push(Buffer.from(f).toString('hex'));
    prev = cut;
  }
  d.end();
  expect(d.buffered).toBe(0);
  return out;
}

const bodyArb = fc.uint8Array({ minLength: 1, maxLength: 300 });

describe('Deframer', () => {
  it('yields the same frames for every single and double split point of a stream', () => {
    const bodies = [Uint8Array.of(1), new Uint8Array(7).fill(2), new Uint8Array(3).fill(3), Uint8Array.of(4, 5)];
    const bytes = stream(bodies);
    const expected = bodies.map((b) => Buffer.from(b).toString('hex'));
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        expect(deframe(bytes, [i, j])).toEqual(expected);
      }
    }
  });

  it('yields the same frames for any random partition of the stream (property)', () => {
    fc.assert(
      fc.property(fc.array(bodyArb, { minLength: 0, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (bodies, rawCuts) => {
        const bytes = stream(bodies);
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        expect(deframe(bytes, cuts)).toEqual(bodies.map((b) => Buffer.from(b).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });

  it('delivers byte-at-a-time input intact', () => {
    const bodies = [new Uint8Array(1000).map((_, i) => i & 0xff), Uint8Array.of(9)];
    const bytes = stream(bodies);
    const cuts = Array.from({ length: bytes.length }, (_, i) => i);
    expect(deframe(bytes, cuts)).toEqual(bodies.map((b) => Buffer.from(b).toString('hex')));
  });

  it('returns frames inside one chunk as views without copying', () => {
    const bytes = stream([Uint8Array.of(1, 2, 3), Uint8Array.of(4)]);
    const [a, b] = new Deframer().push(bytes);
    expect(a!.buffer).toBe(bytes.buffer);
    expect(b!.buffer).toBe(bytes.buffer);
  });

  it('rejects an oversize length with FRAME_TOO_LARGE before allocating anything', () => {
    const d = new Deframer({ maxFrameBytes: 1024 });
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(0xffffffff);
    const err = (() => {
      try {
        d.push(prefix);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PeerError);
    expect((err as PeerError).code).toBe('FRAME_TOO_LARGE');
    expect(d.buffered).toBe(0);
  });

  it('accepts a frame of exactly the limit and rejects one byte more', () => {
    const d = new Deframer({ maxFrameBytes: 64 });
    expect(d.push(encodeFrame(new Uint8Array(64)))).toHaveLength(1);
    const over = Buffer.alloc(4);
    over.writeUInt32BE(65);
    expect(() => d.push(over)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });

  it('rejects an oversize length arriving split across chunks', () => {
    const d = new Deframer({ maxFrameBytes: 100 });
    expect(d.push(Uint8Array.of(0, 0))).toEqual([]);
    expect(() => d.push(Uint8Array.of(1, 0))).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });

  it('rejects an empty frame with MALFORMED_FRAME', () => {
    expect(() => new Deframer().push(Uint8Array.of(0, 0, 0, 0))).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
  });

  it('stays failed after an error: framing cannot be recovered', () => {
    const d = new Deframer({ maxFrameBytes: 8 });
    expect(() => d.push(Uint8Array.of(0, 0, 0, 9))).toThrow(PeerError);
    expect(() => d.push(encodeFrame(Uint8Array.of(1)))).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
  });

  it('reports a stream that ends inside a frame as MALFORMED_FRAME', () => {
    const d = new Deframer();
    d.push(encodeFrame(new Uint8Array(10)).subarray(0, 7));
    expect(d.buffered).toBe(10); // the body is allocated once, at its announced size
    expect(() => d.end()).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
    const p = new Deframer();
    p.push(Uint8Array.of(0, 0));
    expect(() => p.end()).toThrow(expect.objectContaining({ code: 'MALFORMED_FRAME' }));
  });

  it('never throws anything but PeerError on random input, and never buffers beyond the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const d = new Deframer({ maxFrameBytes: 256 });
        try {
          for (const c of chunks) {
            for (const f of d.push(c)) expect(f.length).toBeLessThanOrEqual(256);
            expect(d.buffered).toBeLessThanOrEqual(256 + 4);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(PeerError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('validates its options', () => {
    expect(() => new Deframer({ maxFrameBytes: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new Deframer({ maxFrameBytes: 2 ** 31 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => encodeFrame(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
  it('reuses a released body that spanned reads, never one still held, nor a view of a read', () => {
    const d = new Deframer();
    const body = (fill: number, n = 40_000): Buffer => Buffer.alloc(n, fill);
    /** Feeds one frame cut in two reads; returns its body. */
    const spanning = (b: Buffer): Uint8Array => {
      const bytes = encodeFrame(b);
      expect(d.push(bytes.subarray(0, 100))).toEqual([]);
      const [f] = d.push(bytes.subarray(100));
      expect(Buffer.from(f!).equals(b)).toBe(true);
      return f!;
    };
    const kept = spanning(body(1));
    const second = spanning(body(2));
    expect(second.buffer).not.toBe(kept.buffer);
    releaseFrame(second);
    releaseFrame(second); // twice: ignored
    const third = spanning(body(3, 39_000));
    expect(third.buffer).toBe(second.buffer); // the released memory, refilled
    const fourth = spanning(body(4));
    expect(fourth.buffer).not.toBe(second.buffer); // released once, handed out once
    expect(Buffer.from(kept).equals(body(1))).toBe(true); // never released: untouched
    // A body that was a view of its read is not the deframer's to recycle.
    const [view] = d.push(encodeFrame(body(5, 1000)));
    releaseFrame(view!);
    expect(spanning(body(6)).buffer).not.toBe(view!.buffer);
    // A spare is not used for a frame much smaller than itself (a kept body would pin the rest).
    releaseFrame(fourth);
    expect(spanning(body(7, 1000)).buffer).not.toBe(fourth.buffer);
  });
});
