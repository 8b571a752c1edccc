/** ReassemblyBudgets: which budgets a session draws from, by trust and address prefix. */
import { describe, expect, it } from 'vitest';
import { MemoryBudget, ReassemblyBudgets } from '../../src/chunking/index.js';
import { expectPeerError } from '../helpers/errors.js';

describe('ReassemblyBudgets', () => {
  it('unpinned peers share one budget, and one per address prefix; pinned peers keep the rest of the process budget', () => {
    const process = new MemoryBudget(1000);
    const b = new ReassemblyBudgets({ perPeer: 500, perPrefix: 300, unpinned: 400 }, process);
    const s1 = b.lease('a', false, '192.0.2.1');
    const s2 = b.lease('b', false, '192.0.2.1'); // same /32: shares the prefix's 300
    const s3 = b.lease('c', false, '2001:db8::1');
    const s4 = b.lease('d', false, '2001:db8::ffff'); // same /64 as c
    const pinned = b.lease('p', true, '192.0.2.1'); // not counted against the prefix or the unpinned budget
    expect(s1.budget.reserve(200)).toBe(true);
    expect(s2.budget.reserve(101)).toBe(false);
    expect(s2.budget.reserve(100)).toBe(true);
    expect(s3.budget.reserve(100)).toBe(true);
    expect(s4.budget.reserve(1)).toBe(false); // unpinned: 400 in use
    expect(b.unpinnedInUse).toBe(400);
    expect(pinned.budget.reserve(500)).toBe(true);
    expect(pinned.budget.reserve(1)).toBe(false); // its own 500
    expect([b.inUse, process.inUse]).toEqual([900, 900]);
    for (const [s, n] of [[s1, 200], [s2, 100], [s3, 100], [pinned, 500]] as const) s.budget.release(n);
    expect(process.inUse).toBe(0);
  });

  it('a peer\'s sessions share its budget until the last one ends; then it and its prefix are forgotten', () => {
    const b = new ReassemblyBudgets({ perPeer: 100, perPrefix: 1000, unpinned: 1000 }, new MemoryBudget(10_000));
    const one = b.lease('a', false, '192.0.2.1');
    const two = b.lease('a', false, '192.0.2.1');
    expect(one.budget).toBe(two.budget);
    one.release();
    one.release(); // once only
    const three = b.lease('a', false, '192.0.2.1');
    expect(three.budget).toBe(two.budget);
    const other = b.lease('a', false, '192.0.2.2'); // the same key from another prefix: counted there
    expect(other.budget).not.toBe(two.budget);
    const entries = (b as unknown as { entries: Map<string, unknown> }).entries;
    expect(entries.size).toBe(4);
    two.release();
    other.release();
    expect(entries.size).toBe(2); // 'a' on 192.0.2.1 (three) and its prefix
    three.release();
    expect(entries.size).toBe(0);
  });

  it('groups addresses by the prefix bits given, and exempt prefixes skip the prefix budget', () => {
    const b = new ReassemblyBudgets({ perPeer: 100, perPrefix: 100, unpinned: 1000, prefixBits: { v4: 24 }, exempt: ['10.0.0.0/8'] }, new MemoryBudget(10_000));
    expect(b.lease('a', false, '192.0.2.1').budget.reserve(100)).toBe(true);
    expect(b.lease('b', false, '192.0.2.200').budget.reserve(1)).toBe(false); // same /24
    expect(b.lease('c', false, '10.0.0.1').budget.reserve(100)).toBe(true);
    expect(b.lease('d', false, '10.0.0.1').budget.reserve(100)).toBe(true); // a load balancer's address: no prefix budget
    expect(b.unpinnedInUse).toBe(300);
  });

  it('refuses a limit that is not a number of bytes', () => {
    expectPeerError(() => new ReassemblyBudgets({ unpinned: -1 }, new MemoryBudget(1)), 'INVALID_ARGUMENT');
    expectPeerError(() => new ReassemblyBudgets({ perPrefix: Number.NaN }, new MemoryBudget(1)), 'INVALID_ARGUMENT');
  });
});
