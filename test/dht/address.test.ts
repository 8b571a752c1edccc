/** UDP addresses in the DHT: strings and their wire form. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { encodeAddress, formatAddress, normalizeAddress } from '../../src/dht/address.js';
import { expectPeerError } from '../helpers/errors.js';

describe('addresses', () => {
  it('encodes IPv4 as family 4, four bytes, port', () => {
    expect([...encodeAddress('192.168.1.20:4000')]).toEqual([4, 192, 168, 1, 20, 0x0f, 0xa0]);
    expect(formatAddress(encodeAddress('10.0.0.1:1'))).toBe('10.0.0.1:1');
  });
  it('encodes IPv6 and formats it as RFC 5952 says', () => {
    const b = encodeAddress('[2001:db8::1]:53');
    expect(b.length).toBe(19);
    expect(b[0]).toBe(6);
    expect(formatAddress(b)).toBe('[2001:db8::1]:53');
    expect(normalizeAddress('[2001:0DB8:0:0:1:0:0:1]:80')).toBe('[2001:db8::1:0:0:1]:80');
    expect(normalizeAddress('[::]:80')).toBe('[::]:80');
    expect(normalizeAddress('[::ffff:1.2.3.4]:80')).toBe('[::ffff:102:304]:80');
    expect(normalizeAddress('[1:0:0:2:0:0:0:3]:9')).toBe('[1:0:0:2::3]:9');
  });
  it('round-trips any IPv4 or IPv6 address', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 1, max: 65535 }), fc.boolean(), (ip, port, v6) => {
      const wire = v6 ? Uint8Array.of(6, ...ip, port >> 8, port & 255) : Uint8Array.of(4, ...ip.subarray(0, 4), port >> 8, port & 255);
      const s = formatAddress(wire);
      expect([...encodeAddress(s)]).toEqual([...wire]);
    }));
  });
  it('refuses host names, bad ports, zone ids and garbage', () => {
    for (const bad of ['localhost:80', '1.2.3.4', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.256:1', '01.2.3.4:1', '[fe80::1%eth0]:1', '[1::2::3]:4', '[::1]', '::1:80', '', '1.2.3.4:8a']) {
      expectPeerError(() => encodeAddress(bad), ErrorCode.INVALID_ARGUMENT, bad);
    }
  });
});

describe('subnet prefixes from the wire form', () => {
  it('match the prefix keys of util/ip for IPv4, IPv6 and v4-mapped addresses', async () => {
    const { sourcePrefix, wireSubnet, SUBNET_BITS } = await import('../../src/dht/address.js');
    for (const a of ['10.1.2.3:4', '192.0.2.255:65535', '[2001:db8:1:2:3:4:5:6]:7', '[::ffff:10.9.8.7]:1', '[::1]:9']) {
      expect(wireSubnet(encodeAddress(a), 0)).toBe(sourcePrefix(a, SUBNET_BITS));
    }
  });
});
