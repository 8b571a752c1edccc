/**
 * ListenerGuard's accounting without sockets: prefix keying (IPv6 /64, IPv4 /32 or /24),
 * exempt prefixes, and the fair share of the half-open cap (evict the largest holder's oldest).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, PeerError } from '../../src/index.js';
import { ListenerGuard, type Ticket } from '../../src/peer/listener-guard.js';

const noLimit = { take: () => 0 };

function guard(limits: ConstructorParameters<typeof ListenerGuard>[0], address = {}): { g: ListenerGuard; closed: PeerError[] } {
  const closed: PeerError[] = [];
  return { g: new ListenerGuard(limits, noLimit, 0, address), closed };
}

function open(g: ListenerGuard, address: string, closed: PeerError[] = []): Ticket | PeerError {
  return g.connect(address, (err) => closed.push(err));
}

describe('ListenerGuard', () => {
  it('counts every address of an IPv6 /64 as one', () => {
    const { g } = guard({ maxConnectionsPerAddress: 2 });
    expect(open(g, '2001:db8:1:2::1')).not.toBeInstanceOf(PeerError);
    expect(open(g, '2001:db8:1:2:ffff:ffff:ffff:ffff')).not.toBeInstanceOf(PeerError);
    const third = open(g, '2001:db8:1:2::abcd');
    expect(third).toBeInstanceOf(PeerError);
    expect((third as PeerError).code).toBe(ErrorCode.RATE_LIMITED);
    expect(open(g, '2001:db8:1:3::1')).not.toBeInstanceOf(PeerError); // the next /64
    expect(g.stats().connectionsRefused).toBe(1);
  });

  it('counts an IPv4-mapped address as its IPv4 address', () => {
    const { g } = guard({ maxConnectionsPerAddress: 1 });
    expect(open(g, '192.0.2.1')).not.toBeInstanceOf(PeerError);
    expect(open(g, '::ffff:192.0.2.1')).toBeInstanceOf(PeerError);
  });

  it('frees the slots of a closed connection exactly once', () => {
    const { g } = guard({ maxConnectionsPerAddress: 1 });
    const t = open(g, '192.0.2.1') as Ticket;
    g.disconnect(t);
    g.disconnect(t);
    expect(g.stats().halfOpen).toBe(0);
    expect(open(g, '192.0.2.1')).not.toBeInstanceOf(PeerError);
  });

  it('exempt prefixes have no per-address limit and are never evicted', () => {
    const { g, closed } = guard({ maxConnectionsPerAddress: 1, maxHalfOpenPerAddress: 1, maxHalfOpen: 3 }, { exempt: ['10.0.0.0/8'] });
    for (let i = 0; i < 3; i++) expect(open(g, '10.1.2.3', closed)).not.toBeInstanceOf(PeerError);
    expect(open(g, '192.0.2.1')).toBeInstanceOf(PeerError); // the listener-wide cap still holds
    expect(closed).toHaveLength(0);
  });

  it('a full listener gives a newcomer the slot of the largest holder\'s oldest handshake', () => {
    const { g } = guard({ maxHalfOpen: 4, maxHalfOpenPerAddress: 4 });
    const closedA: PeerError[] = [];
    const a1 = open(g, '192.0.2.1', closedA) as Ticket;
    open(g, '192.0.2.1', closedA);
    open(g, '192.0.2.1', closedA);
    open(g, '192.0.2.2');
    const b = open(g, '198.51.100.7');
    expect(b).not.toBeInstanceOf(PeerError);
    expect(closedA).toHaveLength(1);
    expect(closedA[0]!.code).toBe(ErrorCode.RATE_LIMITED);
    expect(a1.state).toBe('closed');
    expect(g.stats()).toMatchObject({ evicted: 1, halfOpen: 4 });
    // 192.0.2.1 still holds 2, the most: the next newcomer takes its oldest slot too.
    open(g, '198.51.100.8');
    expect(closedA).toHaveLength(2);
    // Four prefixes hold one each; a fifth takes the oldest one's slot, but a holder of one
    // cannot take a slot from prefixes that hold no more than it does.
    expect(open(g, '203.0.113.1')).not.toBeInstanceOf(PeerError);
    expect(closedA).toHaveLength(3);
    expect(open(g, '198.51.100.7')).toBeInstanceOf(PeerError);
    expect(g.stats()).toMatchObject({ evicted: 3, halfOpenRefused: 1, halfOpen: 4 });
  });

  it('a prefix at its half-open share is refused while others are not', () => {
    const { g } = guard({ maxHalfOpenPerAddress: 2 }, { prefixBits: { v4: 24 } });
    open(g, '192.0.2.1');
    open(g, '192.0.2.200');
    expect(open(g, '192.0.2.3')).toBeInstanceOf(PeerError);
    expect(open(g, '192.0.3.1')).not.toBeInstanceOf(PeerError);
    expect(g.stats().halfOpenRefused).toBe(1);
  });
});
