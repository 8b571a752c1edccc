import { describe, expect, it } from 'vitest';
import { addressPrefix, PrefixSet, ipBytes } from '../../src/util/ip.js';
import { PeerError } from '../../src/errors.js';

describe('address prefixes', () => {
  it('IPv4 counts by /32 by default, /24 on request', () => {
    expect(addressPrefix('10.1.2.3')).toBe('4/0a010203');
    expect(addressPrefix('10.1.2.3')).not.toBe(addressPrefix('10.1.2.4'));
    expect(addressPrefix('10.1.2.3', { v4: 24 })).toBe(addressPrefix('10.1.2.250', { v4: 24 }));
    expect(addressPrefix('10.1.2.3', { v4: 24 })).not.toBe(addressPrefix('10.1.3.3', { v4: 24 }));
  });
  it('IPv6 counts by /64: every address of one /64 is one key', () => {
    const a = addressPrefix('2001:db8:1:2::1');
    expect(addressPrefix('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(a);
    expect(addressPrefix('2001:db8:1:3::1')).not.toBe(a);
    expect(addressPrefix('2001:db8:1:2::1', { v6: 128 })).not.toBe(addressPrefix('2001:db8:1:2::2', { v6: 128 }));
  });
  it('IPv4-mapped IPv6 is the IPv4 address', () => {
    expect(addressPrefix('::ffff:127.0.0.1')).toBe(addressPrefix('127.0.0.1'));
    expect(ipBytes('::ffff:1.2.3.4')).toEqual([1, 2, 3, 4]);
  });
  it('a non-address is its own key, never merged with an address', () => {
    expect(addressPrefix('memory-7')).toBe('?/memory-7');
    expect(addressPrefix('')).toBe('?/');
  });
  it('PrefixSet matches by bits and refuses bad prefixes', () => {
    const s = new PrefixSet(['10.0.0.0/8', 'fd00::/8', '192.168.1.5']);
    expect(s.has('10.200.1.1')).toBe(true);
    expect(s.has('11.0.0.1')).toBe(false);
    expect(s.has('fd12::1')).toBe(true);
    expect(s.has('fe80::1')).toBe(false);
    expect(s.has('192.168.1.5')).toBe(true);
    expect(s.has('192.168.1.6')).toBe(false);
    expect(s.has('::ffff:10.1.1.1')).toBe(true);
    expect(new PrefixSet().has('10.0.0.1')).toBe(false);
    for (const bad of ['10.0.0.0/33', 'nope', '10.0.0.0/x', '::/129', '10.0.0.0/']) {
      expect(() => new PrefixSet([bad])).toThrow(PeerError);
    }
  });
});
