/**
 * Issue 12 item 7: the CLI's help, version, and every bad input of the issue: one line on
 * stderr, the documented exit code (1 PeerError / failed operation, 2 usage), never a stack.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { Identity, Peer } from '../../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-cli-bad-'));
const cleanup: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): ReturnType<typeof runCli> {
  return runCli(args, dir);
}

function oneLine(err: string): void {
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).toMatch(/^peercomm: /);
  expect(err).not.toMatch(/\n\s+at /);
}

describe('CLI help, version and bad inputs', () => {
  it('--help, -h, help, <command> --help and --version print and exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help'], ['keygen', '--help'], ['send', '--help'], ['listen', '-h'], ['demo', '--help'], ['node', '--help'],
      ['discover', '--help'], ['lookup', '--help'], ['v1', '--help'], ['v1', 'help'], ['v1', 'send', '--help'], ['v1', 'serve', '-h'], ['v1', 'verify', '--help']]) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 0 });
      expect(r.out).toMatch(/usage: peercomm/);
    }
    const v = await run(['--version']);
    expect(v.code).toBe(0);
    expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('usage errors: one line, exit 2', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => busy.close(r)));
    const cases: string[][] = [
      ['listen', '--port', '70000'], ['listen', '--port', 'abc'], ['listen', '--port', '-1'],
      ['send', '127.0.0.1:7400', '@missing.json'], ['send', '127.0.0.1:abc', 'hi'], ['send', '127.0.0.1:7400', 'hi', 'extra'],
      ['send', '127.0.0.1:7400', 'hi', '--pin', 'ab'], ['send', '127.0.0.1:7400', 'hi', '--pin', 'zz'.repeat(32)],
      ['send', '127.0.0.1:7400', 'hi', '--type', '300'], ['send', '127.0.0.1:7400', 'hi', '--timeout', 'soon'],
      ['demo', '--peers', 'abc'], ['frobnicate'], [], ['keygen', '--bogus'],
      ['discover', 'x', '--bootstrap', 'abc'], ['node', '--bootstrap', '127.0.0.1:0'], ['send', 'bob', 'hi', '--bootstrap', 'h:99999'],
      ['node', '--port', 'abc'], ['node', '--dht-port', '70000'], ['discover'], ['lookup', 'x'],
      ['v1'], ['v1', 'frobnicate'], ['v1', 'serve', '--port', '99999'], ['v1', 'serve', '--pin', 'x'], ['v1', 'verify', 'missing.json', '--key', 'ab'],
      ['v1', 'send', 'http://127.0.0.1:1', 'status', 'notjson'], ['v1', 'send', 'http://127.0.0.1:1', 'status', '{}', '--listen', 'abc'],
    ];
    for (const args of cases) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      oneLine(r.err);
    }
  });

  it('failed operations and PeerErrors: one line, exit 1 (port in use, unwritable key file, refused address, HTTP server, silent listener)', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const web = http.createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => busy.close(r)), () => silent.close(), () => web.close());
    const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const gonePort = portOf(gone);
    await new Promise((r) => gone.close(r));
    const cases: [string[], RegExp][] = [
      [['listen', '--port', String(portOf(busy))], /EADDRINUSE/],
      [['keygen', '--out', '/no/such/dir/a.key'], /ENOENT/],
      [['send', `127.0.0.1:${gonePort}`, 'hi'], /UNREACHABLE/],
      [['send', `127.0.0.1:${portOf(silent)}`, 'hi', '--timeout', '500'], /TIMEOUT/],
      [['send', `127.0.0.1:${portOf(web)}`, 'hi'], /HTTP/],
      [['send', 'somebody', 'hi'], /INVALID_STATE: this peer has no DHT node/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      oneLine(r.err);
      expect(r.err).toMatch(msg);
    }
  });

  it('--pin takes the key or the fingerprint; an impostor is refused at handshake step 2 (the API\'s trust)', async () => {
    const real = Identity.generate();
    const server = await Peer.create({ identity: real, entityId: 'bob' });
    const { port } = await server.listen();
    cleanup.push(() => server.close());
    let sessions = 0;
    server.on('session', () => void sessions++);
    const bySession = { key: real.publicKey.toString('hex'), fingerprint: real.fingerprint };
    for (const [what, hex] of Object.entries(bySession)) {
      const r = await run(['send', `127.0.0.1:${port}`, `pinned by ${what}`, '--pin', hex, '--type', '0x80']);
      expect({ what, code: r.code, err: r.err }).toEqual({ what, code: 0, err: '' });
      expect(r.out).toMatch(/acknowledged/);
    }
    const before = sessions;
    const failures = server.stats().handshakesFailed;
    const impostor = await run(['send', `127.0.0.1:${port}`, 'x', '--pin', Identity.generate().fingerprint]);
    expect(impostor.code).toBe(1);
    oneLine(impostor.err);
    expect(impostor.err).toContain('INVALID_SIGNATURE');
    await new Promise((r) => setTimeout(r, 100));
    expect(sessions).toBe(before); // never READY on the listener's side
    expect(server.stats().handshakesFailed).toBeGreaterThan(failures);
  });
});

describe('the v1 commands together, as the README shows them', () => {
  it('keygen, v1 serve --pin legacy=<key>, v1 send --key legacy.key --id legacy: delivered and printed', async () => {
    const key = await run(['keygen', '--out', 'legacy.key']);
    const hex = /public key\s+([0-9a-f]{64})/.exec(key.out)![1]!;
    const port = await freePort();
    const serve = spawn(process.execPath, [CLI, 'v1', 'serve', '--port', String(port), '--pin', `legacy=${hex}`], { cwd: dir });
    cleanup.push(() => serve.kill('SIGTERM'));
    let out = '';
    serve.stdout.on('data', (d) => (out += d));
    while (!out.includes('serving v1.0')) await new Promise((r) => setTimeout(r, 20));
    const sent = await run(['v1', 'send', `http://127.0.0.1:${port}`, 'status', '{"load": 0.3}', '--key', 'legacy.key', '--id', 'legacy']);
    expect(sent.code).toBe(0);
    while (!out.includes('[v1.0 legacy status]')) await new Promise((r) => setTimeout(r, 20));
    expect(out).toContain('{"load":0.3}');
  });

  it('v1 serve --accept-unknown --peer legacy=<url>, v1 send --listen <port>: the v1.0 handshake, then the message in its session', async () => {
    const [port, back] = [await freePort(), await freePort()];
    const serve = spawn(process.execPath, [CLI, 'v1', 'serve', '--port', String(port), '--accept-unknown', '--peer', `legacy=http://127.0.0.1:${back}`], { cwd: dir });
    cleanup.push(() => serve.kill('SIGTERM'));
    let out = '';
    serve.stdout.on('data', (d) => (out += d));
    while (!out.includes('serving v1.0')) await new Promise((r) => setTimeout(r, 20));
    // Without the handshake an unpinned sender is refused: one line, exit 1.
    const bare = await run(['v1', 'send', `http://127.0.0.1:${port}`, 'status', '{"load": 0.1}', '--key', 'legacy.key', '--id', 'legacy']);
    expect(bare.code).toBe(1);
    oneLine(bare.err);
    expect(bare.err).toContain('UNKNOWN_SENDER');
    const sent = await run(['v1', 'send', `http://127.0.0.1:${port}`, 'status', '{"load": 0.3}', '--key', 'legacy.key', '--id', 'legacy', '--listen', String(back)]);
    expect(sent.code, sent.err).toBe(0);
    expect(sent.out).toMatch(/v1\.0 session \S+ with peercomm/);
    while (!out.includes('[v1.0 legacy status #')) await new Promise((r) => setTimeout(r, 20));
    expect(out).toContain('{"load":0.3}');
    expect(out).toMatch(/v1\.0 session \S+ with legacy/);
  });
});

function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
