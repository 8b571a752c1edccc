/** The `peercomm` command, run as users run it: the built dist/cli/main.js in child processes. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-cli-'));
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): ReturnType<typeof runCli> {
  return runCli(args, dir);
}

/** Starts a long-running command and resolves once its output matches. */
function start(args: string[], ready: RegExp): Promise<{ child: ChildProcessWithoutNullStreams; output: () => string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(ready);
      if (m) resolve({ child, output: () => out, match: m });
    });
    child.on('close', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

async function waitFor(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('peercomm CLI', () => {
  it('is built (npm test builds first)', () => {
    expect(existsSync(CLI)).toBe(true);
  });

  it('keygen writes a 0600 key file and refuses to overwrite it without --force', async () => {
    const r = await run(['keygen', '--out', 'a.key']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/fingerprint [0-9a-f]{64}/);
    expect(statSync(path.join(dir, 'a.key')).mode & 0o777).toBe(0o600);
    const again = await run(['keygen', '--out', 'a.key']);
    expect(again.code).toBe(2);
    expect((await run(['keygen', '--out', 'a.key', '--force'])).code).toBe(0);
  });

  it('send delivers text and a file to listen, which prints them with the sender', async () => {
    await run(['keygen', '--out', 'server.key']);
    const server = await start(['listen', '--port', '0', '--key', 'server.key', '--id', 'server'], /listening on 127\.0\.0\.1:(\d+)/);
    const port = server.match[1]!;
    const fp = server.output().match(/fingerprint ([0-9a-f]{64})/)![1]!;
    const sent = await run(['send', `127.0.0.1:${port}`, 'hello from the cli', '--id', 'client', '--type', 'task']);
    expect(sent.code, sent.err).toBe(0);
    expect(sent.out).toContain(`fingerprint ${fp}`);
    await waitFor(() => server.output().includes('[client #0 task] hello from the cli'));
    writeFileSync(path.join(dir, 'note.txt'), 'from a file');
    expect((await run(['send', `127.0.0.1:${port}`, '@note.txt', '--id', 'client'])).code).toBe(0);
    await waitFor(() => server.output().includes('[client #0 message] from a file'));
  });

  it('send refuses a remote whose key is not the pinned one (exit 1, PeerError code)', async () => {
    const server = await start(['listen', '--port', '0'], /listening on 127\.0\.0\.1:(\d+)/);
    const r = await run(['send', `127.0.0.1:${server.match[1]}`, 'x', '--pin', 'ab'.repeat(32)]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('INVALID_SIGNATURE');
  });

  it('usage errors exit 2', async () => {
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['send'])).code).toBe(2);
  });

  it('node and discover/lookup find each other across two processes (DHT over UDP)', async () => {
    // Each client on its own loopback address: the DHT limits requests per source address.
    const node = await start(['node', '--port', '0', '--id', 'summarizer', '--cap', 'summarize', '--cap', 'translate'], /DHT on (127\.0\.0\.1:\d+)/);
    const dht = node.match[1]!;
    const found = await run(['discover', 'summarize', '--bootstrap', dht, '--host', '127.0.91.1']);
    expect(found.code, found.err).toBe(0);
    expect(found.out).toMatch(/^summarizer 127\.0\.0\.1:\d+ key [0-9a-f]{64} capabilities summarize, translate binding none$/m);
    // 'summarizer' is a human name: lookup resolves it only to a pinned key, and says so otherwise.
    const unbound = await run(['lookup', 'summarizer', '--bootstrap', dht, '--host', '127.0.92.1']);
    expect(unbound.code).toBe(1);
    expect(unbound.err).toContain('no verifiable binding');
    const key = /key ([0-9a-f]{64})/.exec(found.out)![1]!;
    const looked = await run(['lookup', 'summarizer', '--bootstrap', dht, '--pin', key, '--host', '127.0.93.1']);
    expect(looked.out).toContain('summarizer 127.0.0.1:');
    expect(looked.out).toContain('binding pinned');
    const none = await run(['discover', 'juggling', '--bootstrap', dht, '--host', '127.0.94.1']);
    expect(none.out).toContain('no agent offers juggling');
    const missing = await run(['lookup', 'nobody', '--bootstrap', dht, '--host', '127.0.95.1']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('DHT_ERROR');
  }, 30_000);

  it('demo runs a local network and prints handshakes, messages and throughput', async () => {
    const r = await run(['demo', '--peers', '3', '--seconds', '0.2']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/agent-1 → agent-2: READY in/);
    expect(r.out).toMatch(/61,440 B: seq 3, echoed 61440 B/);
    expect(r.out).toMatch(/64 B messages: [\d,]+ msg\/s/);
    expect(r.out).toContain('3 handshakes completed, 0 failed');
    expect(r.err).toBe('');
  }, 30_000);
});
