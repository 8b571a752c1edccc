/**
 * Docs that run (issue 12 item 8): every ```ts block of README.md is type-checked against the
 * library's sources (strict) and then run, each as its own module; fixed ports (74xx) are
 * swapped for free ones so the suite can run beside anything else. The blocks are written to
 * be whole programs: no free variables, no fixtures, loopback addresses only.
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

function source(block: string): string {
  const code = block.replace(/from 'peercomm'/g, "from '../../../src/index.js'");
  const imports = code.split('\n').filter((l) => l.startsWith('import '));
  const rest = code.split('\n').filter((l) => !l.startsWith('import '));
  // One module per block; `import` lines first (the v1.0 block imports half-way down).
  return [...imports, ...rest, 'export {};'].join('\n');
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
      writeFileSync(f, source(b));
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

  it.each(BLOCKS.map((b, i) => [b.split('\n').find((l) => !l.startsWith('import ') && l.trim() !== '')!.trim().slice(0, 60), i, b] as const))('runs: %s', async (_name, i, b) => {
    let code = source(b);
    for (const port of new Set(code.match(/\b74\d\d\b/g) ?? [])) code = code.replaceAll(port, String(await freePort()));
    const f = path.join(DIR, `run-${i}.ts`);
    writeFileSync(f, code);
    await import(f);
  }, 60_000);
});
