/**
 * The DHT's datagram handler has a backstop too (issue 10 item 1): an exception out of the
 * node's handling of one datagram (here a rate limiter that throws, standing for any bug on
 * that path) drops that datagram and is counted in stats().internalErrors; it must not reach
 * the event loop, where it kills the process (it did: exit 1). The node runs in a child
 * process, as users run it (dist/).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { describe, expect, it, onTestFinished } from 'vitest';
import { encodeFind, MSG } from '../../src/dht/messages.js';

const CHILD = `
import { DhtNode } from ${JSON.stringify(new URL('../../dist/dht/index.js', import.meta.url).href)};
const node = new DhtNode({ rateLimiter: { allow() { throw new TypeError('a bug on the datagram path'); }, sweep() {} } });
await node.start({ host: '127.0.0.1', port: 0 });
console.log('port', node.port);
setTimeout(() => { console.log('alive, internal errors', node.stats().internalErrors); process.exit(0); }, 1500);
`;

describe('DHT datagram backstop', () => {
  it('an exception while handling one datagram does not kill the process', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`child exited: ${err}`)));
    });
    const sock = dgram.createSocket('udp4');
    sock.send(encodeFind(MSG.FIND_NODE, 0, 1, new Uint8Array(32).fill(7), new Uint8Array(32)), port, '127.0.0.1');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    sock.close();
    expect({ code, report: /alive, internal errors (\d+)/.exec(out)?.[1], stderr: err }).toEqual({ code: 0, report: '1', stderr: '' });
  });
});
