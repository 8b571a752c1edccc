/**
 * Which addon file this run loaded. CI sets PEERCOMM_EXPECT_ADDON to the directory it must come
 * from (prebuilds/linux-x64/ on Node 22 and 24 with build/ removed, prebuilds/linux-arm64/ under
 * qemu), so a run that fell back to node:crypto, or tested a local build instead of the
 * committed prebuild, fails instead of passing on the wrong binary.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeFile } from '../../src/crypto/native.js';
import { engine } from '../../src/index.js';

const expected = process.env.PEERCOMM_EXPECT_ADDON;
const root = fileURLToPath(new URL('../../', import.meta.url));

describe.runIf(expected !== undefined && process.env.PEERCOMM_NO_NATIVE !== '1')('the addon this run loaded', () => {
  it(`is the native engine from ${expected}`, () => {
    expect(engine()).toBe('native');
    expect(nativeFile).not.toBeNull();
    expect(path.relative(root, nativeFile!).startsWith(path.normalize(expected!))).toBe(true);
  });
});
