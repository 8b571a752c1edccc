/** `peercomm v1 verify|send|serve` through runV1, in process, against real HTTP. */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runV1 } from '../../src/cli/v1.js';
import { V1Endpoint, type JsonNumber, type V1Message } from '../../src/compat/v1/index.js';
import { Identity } from '../../src/crypto/index.js';
import { ErrorCode } from '../../src/errors.js';
import { TrustStore } from '../../src/peer/trust.js';
import { expectPeerErrorAsync } from '../helpers/errors.js';
import { FakeV1Peer } from './helpers/fake-v1-peer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-v1-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { vectors } = JSON.parse(readFileSync(new URL('../vectors/v1.0/envelopes.json', import.meta.url), 'utf8')) as { vectors: { name: string; body: string; public_key_hex: string }[] };

function logger() {
  const lines: string[] = [];
  return { lines, log: (l: string) => void lines.push(l) };
}

describe('peercomm v1', () => {
  it('verify <file> --key <hex>: prints the envelope; a bad one is its PeerError', async () => {
    const v = vectors.find((x) => x.name === 'float_kept_as_written')!;
    const file = path.join(dir, 'env.json');
    writeFileSync(file, v.body);
    const { lines, log } = logger();
    await runV1(['verify', file, '--key', v.public_key_hex], log);
    expect(lines[0]).toBe('valid v1.0 envelope (version 1.0): status from entity-a to entity-b');
    expect(lines).toContain('payload {"ratio":1.0,"score":0.5}');
    const bad = vectors.find((x) => x.name === 'payload_tampered')!;
    writeFileSync(file, bad.body);
    await expectPeerErrorAsync(runV1(['verify', file, '--key', bad.public_key_hex], log), ErrorCode.INVALID_SIGNATURE);
    await expectPeerErrorAsync(runV1(['verify', file], log), ErrorCode.INVALID_ARGUMENT);
    await expectPeerErrorAsync(runV1(['verify', file, '--key', 'xyz'], log), ErrorCode.INVALID_KEY);
  });

  it('send <url> <msg_type> <json>: signs with the key file, sends the payload losslessly, learns the recipient from /public-key', async () => {
    const cli = Identity.generate();
    const keyFile = path.join(dir, 'cli.key');
    await cli.save(keyFile);
    const ep = new V1Endpoint({ identity: Identity.generate(), entityId: 'us', trust: new TrustStore([['cli', cli.publicKey]], false), log: () => undefined });
    await ep.listen();
    try {
      const got = once(ep, 'message') as Promise<[V1Message]>;
      const { lines, log } = logger();
      await runV1(['send', ep.url!, 'task_delegate', '{"ratio": 1.0, "big": 123456789012345678901234567890, "t": "é"}', '--key', keyFile, '--id', 'cli'], log);
      expect(lines.at(-1)).toMatch(/^200 \{"status":"received"/);
      const [m] = await got;
      expect(m).toMatchObject({ from: 'cli', type: 'task_delegate', payload: { ratio: 1, big: 123456789012345678901234567890n, t: 'é' } });
      expect(m.envelope.recipientId).toBe('us');
      expect((m.envelope.payload.get('ratio') as JsonNumber).text).toBe('1.0');
      // without a key file: a fresh identity, which the endpoint does not know
      const fresh = logger();
      await expectPeerErrorAsync(runV1(['send', ep.url!, 'ping', '{}', '--id', 'cli'], fresh.log), ErrorCode.INVALID_SIGNATURE);
      expect(fresh.lines[0]).toMatch(/^using a new identity: public key [0-9a-f]{64}$/);
      await expectPeerErrorAsync(runV1(['send', ep.url!, 'ping', '[1]'], log), ErrorCode.INVALID_ARGUMENT);
    } finally {
      await ep.close();
    }
  });

  it('serve: a v1.0 endpoint that prints what it receives, says it is unencrypted, and stops on abort', async () => {
    const fake = new FakeV1Peer('py-peer'); // used only to sign, not started
    const abort = new AbortController();
    const { lines, log } = logger();
    await runV1(['serve', '--port', '0', '--id', 'node', '--pin', `py-peer=${fake.publicKeyHex}`], log, { signal: abort.signal });
    const url = /serving v1\.0 on (http:\/\/[^ ]+)/.exec(lines.join('\n'))![1]!;
    expect(lines.join('\n')).toMatch(/NOT encrypted/);
    fake.directory.set('node', { url });
    expect((await fake.send('node', 'status', { obj: [['load', { int: 3n }]] })).status).toBe(200);
    expect(lines.some((l) => l === '[v1.0 py-peer status] {"load":3}')).toBe(true);
    const stranger = new FakeV1Peer('stranger');
    expect((await fake.post(url, stranger.envelope('status', 'node', { obj: [] }))).json.detail).toBe('unknown_sender');
    expect(lines.some((l) => l.startsWith('rejected UNKNOWN_SENDER'))).toBe(true);
    abort.abort();
    await new Promise((r) => setTimeout(r, 50));
    await expect(fake.post(url, fake.envelope('status', 'node', { obj: [] }))).rejects.toThrow();
  });

  it('usage errors are INVALID_ARGUMENT and carry the usage text', async () => {
    const { log } = logger();
    const e = await expectPeerErrorAsync(runV1([], log), ErrorCode.INVALID_ARGUMENT);
    expect(e.message).toContain('peercomm v1 <command>');
    await expectPeerErrorAsync(runV1(['nope'], log), ErrorCode.INVALID_ARGUMENT);
    await expectPeerErrorAsync(runV1(['serve', '--bogus'], log), ErrorCode.INVALID_ARGUMENT);
    await expectPeerErrorAsync(runV1(['serve', '--pin', 'novalue'], log), ErrorCode.INVALID_ARGUMENT);
  });
});
