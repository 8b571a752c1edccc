/**
 * Docs that run (issue 12 item 8): every ```ts block of README.md is type-checked against the
 * library's sources, and the blocks that make a network are run end to end (their fixed ports
 * swapped for free ones, so the suite can run beside anything else). Blocks that need things
 * the README leaves to the reader (a key file, a v1.0 peer at 10.0.0.5, a socket) get those as
 * declared fixtures for the type check only.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const DIR = path.join(ROOT, 'test/docs/.blocks');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BLOCKS = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Free variables a block uses without defining them, declared for the type check. */
const FIXTURES = `
import type { Duplex } from 'node:stream';
import type { Identity as Id } from '../../../src/index.js';
declare const key32: Uint8Array, nonce12: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number;
declare const nonces: Uint8Array, aadLengths: Uint32Array, data: Uint8Array, lengths: Uint32Array, message: Uint8Array;
declare const seed32: Uint8Array, peerPublic: Uint8Array, salt: Uint8Array, socket: Duplex, publicKeyHex: string;
/** A v1.0 body (string) in one block, a frame body (bytes) in another. */
declare const body: never;
declare const identity: Id, msgType: string, senderId: string, recipientId: string, payload: Record<string, number>;
declare function handle(body: Uint8Array): void;
`;

function source(block: string, fixtures: boolean): string {
  const code = block.replace(/from 'peercomm'/g, "from '../../../src/index.js'");
  const imports = code.split('\n').filter((l) => l.startsWith('import '));
  const rest = code.split('\n').filter((l) => !l.startsWith('import '));
  // One module per block; `import` lines first (the v1.0 block imports half-way down).
  return [...imports, fixtures ? FIXTURES : '', ...rest, 'export {};'].join('\n');
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

mkdirSync(DIR, { recursive: true });
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('README.md code blocks', () => {
  it('has ts blocks', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(5);
  });

  it('every ts block type-checks (strict, against src/)', () => {
    const files = BLOCKS.map((b, i) => {
      const f = path.join(DIR, `check-${i}.ts`);
      writeFileSync(f, source(b, true));
      return f;
    });
    writeFileSync(path.join(DIR, 'tsconfig.json'), JSON.stringify({
      extends: '../../../tsconfig.json',
      compilerOptions: { noEmit: true, rootDir: '../../..', noUnusedLocals: false },
      include: [...files.map((f) => path.basename(f)), '../../../src/types/*.d.ts'],
    }));
    let output = '';
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(DIR, 'tsconfig.json')], { encoding: 'utf8' });
    } catch (err) {
      output = (err as { stdout: string }).stdout;
    }
    expect(output).toBe('');
  });

  const runnable = BLOCKS.map((b, i) => ({ b, i })).filter(({ b }) => /Peer\.create/.test(b) && !/allowV1/.test(b));
  it.each(runnable.map(({ b, i }) => [b.split('\n').find((l) => l.includes('Peer.create'))!.trim().slice(0, 60), i, b] as const))('runs: %s', async (_name, i, b) => {
    let code = source(b, false);
    for (const port of new Set(code.match(/\b74\d\d\b/g) ?? [])) code = code.replaceAll(port, String(await freePort()));
    const f = path.join(DIR, `run-${i}.ts`);
    writeFileSync(f, code);
    await import(f);
  }, 60_000);
});
