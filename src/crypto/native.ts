/**
 * Loads the N-API addon (native/) through node-gyp-build: a local build/ first, then the
 * prebuild for this platform. When neither loads, or PEERCOMM_NO_NATIVE=1, the AEAD falls
 * back to node:crypto with the same output; a failed load says so once on stderr.
 */
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

/** An opaque handle to one AES-256-GCM context inside the addon. */
export type NativeAeadHandle = { readonly __nativeAead: unique symbol };

export interface NativeBinding {
  aeadCreate(key: Uint8Array): NativeAeadHandle;
  aeadDestroy(handle: NativeAeadHandle): void;
  aeadSeal(h: NativeAeadHandle, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array): void;
  aeadOpen(h: NativeAeadHandle, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
  aeadSealBatch(h: NativeAeadHandle, nonces: Uint8Array, aads: Uint8Array, aadLens: Uint32Array,
    pts: Uint8Array, ptLens: Uint32Array, out: Uint8Array): void;
  aeadOpenBatch(h: NativeAeadHandle, nonces: Uint8Array, aads: Uint8Array, aadLens: Uint32Array,
    sealed: Uint8Array, sealedLens: Uint32Array, out: Uint8Array): number;
  aeadSealRegions(h: NativeAeadHandle, nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): void;
  aeadOpenRegions(h: NativeAeadHandle, nonces: Uint8Array, buffer: Uint8Array, table: Uint32Array): number;
  /** A Buffer of exactly `bytes` from the large-buffer pool (undefined: external buffers refused). */
  poolAlloc(bytes: number): Buffer | undefined;
  poolConfigure(slots: number, idleMs: number): void;
  /** Ms until the pool falls idle (call again then), or 0 once idle and emptied. */
  poolTrim(): number;
  /** [hits, misses, buffers kept, bytes kept]. */
  poolStats(): [number, number, number, number];
}

export type Engine = 'native' | 'fallback';

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

function load(): { binding: NativeBinding | null; file: string | null; reason: string } {
  if (process.env.PEERCOMM_NO_NATIVE === '1') return { binding: null, file: null, reason: 'PEERCOMM_NO_NATIVE=1' };
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    const file = nodeGypBuild.path(packageRoot);
    return { binding: require(file) as NativeBinding, file, reason: '' };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] ?? String(err) : String(err);
    process.stderr.write(
      `peercomm: native addon unavailable (${reason}); using the node:crypto fallback, which is slower\n`,
    );
    return { binding: null, file: null, reason };
  }
}

const loaded = load();

/** The addon, or null when the fallback is in use. */
export const native: NativeBinding | null = loaded.binding;

/** The addon file loaded (build/Release/… or prebuilds/<platform>/…), or null. */
export const nativeFile: string | null = loaded.file;

/** Which AES-256-GCM implementation this process uses. */
export function engine(): Engine {
  return native === null ? 'fallback' : 'native';
}
