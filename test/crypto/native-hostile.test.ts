/**
 * The addon's entry points against hostile callers (issue 10): length tables rewritten by a
 * Worker while a batch call runs, and handles that are not ours. A crash is the failure, so
 * each attack runs in a child process (test/crypto/native-children/).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/crypto/native.js';

const children = fileURLToPath(new URL('./native-children/', import.meta.url));

interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function runChild(script: string, args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(children, script), ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

describe.skipIf(native === null)('native entry points against hostile callers', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peercomm-native-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a Worker rewriting a SharedArrayBuffer length table during every batch call never makes a call write out of bounds', async () => {
    const run = await runChild('table-race.mjs', ['2000']);
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const { calls, refused, flips } = JSON.parse(run.stdout) as { calls: number; refused: number; flips: number };
    expect(flips).toBeGreaterThan(0); // the Worker really rewrote the tables meanwhile
    expect(calls).toBeGreaterThan(refused); // and calls ran, most on tables they had checked
  });

  it("another addon's external is refused by every entry point in every argument position", async () => {
    const addon = path.join(tmp, 'foreign.node');
    execFileSync('cc', ['-shared', '-fPIC', '-o', addon, path.join(children, 'foreign-external.c')]);
    const run = await runChild('foreign-external.mjs', [addon]);
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const results = JSON.parse(run.stdout) as { fn: string; arg: number; threw: boolean; name?: string; code?: string }[];
    expect(results.length).toBeGreaterThanOrEqual(30);
    for (const r of results) {
      expect(r, `${r.fn} argument ${r.arg}`).toMatchObject({ threw: true, code: 'ERR_PEERCOMM_NATIVE' });
      if (r.arg === 0 && r.fn.startsWith('aead') && r.fn !== 'aeadCreate') expect(r.name, r.fn).toBe('TypeError');
    }
  });

  it('anything but a live handle of ours is a TypeError, a destroyed handle included', () => {
    const b = native!;
    const h = b.aeadCreate(new Uint8Array(32));
    b.aeadDestroy(h);
    b.aeadDestroy(h); // twice is harmless
    for (const bad of [h, {}, 1, null, undefined, new Uint8Array(8)]) {
      expect(() => b.aeadSeal(bad as never, new Uint8Array(12), new Uint8Array(0), new Uint8Array(0), new Uint8Array(16))).toThrow(TypeError);
      expect(() => b.aeadOpenRegions(bad as never, new Uint8Array(0), new Uint8Array(0), new Uint32Array(0))).toThrow(TypeError);
    }
  });

  it('batch tables that lie about their data are refused before any record is processed', () => {
    const b = native!;
    const h = b.aeadCreate(new Uint8Array(32));
    const plain = new Uint8Array(32).fill(1);
    const out = new Uint8Array(64);
    // record 0 is fine, record 1 claims more input than there is: nothing may be sealed.
    expect(() => b.aeadSealBatch(h, new Uint8Array(24), new Uint8Array(0), new Uint32Array(2), plain, Uint32Array.of(16, 0xfffffff0), out)).toThrow(RangeError);
    expect(out.every((x) => x === 0)).toBe(true);
    expect(() => b.aeadOpenBatch(h, new Uint8Array(12), new Uint8Array(0), new Uint32Array(1), plain, Uint32Array.of(15), out)).toThrow(RangeError);
    expect(() => b.aeadSealRegions(h, new Uint8Array(12), plain, Uint32Array.of(0, 0, 0xffffffff, 1))).toThrow(RangeError);
    expect(() => b.aeadSealRegions(h, new Uint8Array(11), plain, Uint32Array.of(0, 0, 0, 0))).toThrow(RangeError);
    b.aeadDestroy(h);
  });
});
