/** The in-memory datagram network: virtual time, latency per path, loss, death, churn. */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { MemoryNetwork } from '../../src/transport/memory-network.js';
import { expectPeerError } from '../helpers/errors.js';

describe('MemoryNetwork', () => {
  it('delivers in virtual time after the path latency, stable per path', () => {
    const net = new MemoryNetwork({ seed: 3, startTime: 0 });
    const got: [string, number, string][] = [];
    const a = net.attach((d, from, now) => got.push(['a', now, from]));
    const b = net.attach((d, from, now) => got.push(['b', now, Buffer.from(d).toString()]));
    const lat = net.latency(a, b);
    expect(lat).toBeGreaterThanOrEqual(5);
    expect(lat).toBeLessThanOrEqual(100);
    expect(net.latency(b, a)).toBe(lat);
    a.send(b.address, Buffer.from('hi'));
    a.send('10.9.9.9:1', Buffer.from('nobody'));
    net.run(1000);
    expect(got).toEqual([['b', lat, 'hi']]);
    expect(net.now).toBe(1000);
    expect(net.stats).toMatchObject({ sent: 2, delivered: 1, undeliverable: 1 });
  });

  it('runs timers and callbacks in time order', () => {
    const net = new MemoryNetwork({ startTime: 0 });
    const order: string[] = [];
    const a = net.attach(() => {}, (now) => order.push(`timer@${now}`));
    net.schedule(30, () => order.push('cb@30'));
    a.setTimer(10);
    a.setTimer(50);
    net.run(100);
    expect(order).toEqual(['timer@10', 'cb@30', 'timer@50']);
  });

  it('loses datagrams at the configured rate', () => {
    const net = new MemoryNetwork({ seed: 9, loss: 0.2 });
    let n = 0;
    const a = net.attach(() => {});
    const b = net.attach(() => { n++; });
    for (let i = 0; i < 5000; i++) a.send(b.address, new Uint8Array(1));
    net.run(net.now + 1000);
    expect(1 - n / 5000).toBeGreaterThan(0.17);
    expect(1 - n / 5000).toBeLessThan(0.23);
    expect(net.stats.lost + n).toBe(5000);
  });

  it('drops what a dead endpoint sends or should receive, in flight too, until revived', () => {
    const net = new MemoryNetwork({ startTime: 0 });
    let n = 0;
    const a = net.attach(() => {});
    const b = net.attach(() => { n++; });
    a.send(b.address, new Uint8Array(1));
    net.kill(b.address);
    net.run(1000);
    expect(n).toBe(0);
    net.revive(b.address);
    a.send(b.address, new Uint8Array(1));
    net.kill(a.address);
    a.send(b.address, new Uint8Array(1));
    net.run(2000);
    expect(n).toBe(1);
  });

  it('churns endpoints up and down with the configured means', () => {
    const net = new MemoryNetwork({ seed: 5, startTime: 0 });
    const eps = Array.from({ length: 400 }, () => net.attach(() => {}));
    net.churn(3000, 1000, 1e9);
    let down = 0;
    let samples = 0;
    for (let t = 10_000; t <= 100_000; t += 1000) {
      net.run(t);
      down += eps.filter((e) => !e.alive).length;
      samples += eps.length;
    }
    expect(down / samples).toBeGreaterThan(0.2);
    expect(down / samples).toBeLessThan(0.3);
  });

  it('refuses impossible parameters with a PeerError', () => {
    expectPeerError(() => new MemoryNetwork({ loss: 1 }), ErrorCode.INVALID_ARGUMENT);
    expectPeerError(() => new MemoryNetwork({ jitterMs: -1 }), ErrorCode.INVALID_ARGUMENT);
  });
});
