/** The lookup's candidate list: order by distance, duplicates, the bound, ties on leading bits. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAddress } from '../../src/dht/address.js';
import { compareDistance, idHex } from '../../src/dht/id.js';
import { Lookup } from '../../src/dht/lookup.js';
import { RoutingTable } from '../../src/dht/routing-table.js';

const contact = (id: Uint8Array): Uint8Array => Uint8Array.of(...id, ...encodeAddress('10.0.0.1:5'));
const self = new Uint8Array(32).fill(0xee);

describe('lookup candidates', () => {
  it('stay sorted by distance, without duplicates, bounded, whatever the order of arrival', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 150 }), fc.nat(), (target, ids, dupSeed) => {
      const l = new Lookup(target, 'nodes', self, 20, 3, 60);
      const offered = [...ids, ...ids.filter((_, i) => (i + dupSeed) % 3 === 0)];
      for (const id of offered) l.add(contact(id), 0);
      const want = [...new Map(ids.map((id) => [idHex(id), id])).values()].sort((a, b) => compareDistance(a, b, target)).slice(0, 60);
      expect(l.candidates.map((c) => idHex(c.id!))).toEqual(want.map(idHex));
      expect(l.candidates.every((c) => c.address === '10.0.0.1:5')).toBe(true);
    }), { numRuns: 300 });
  });

  it('order ids whose distances share their leading 45 bits exactly (ties)', () => {
    const target = new Uint8Array(32).fill(0x55);
    const near = (tail: number[]): Uint8Array => {
      const id = new Uint8Array(target);
      tail.forEach((v, i) => { id[6 + i] = target[6 + i]! ^ v; });
      return id;
    };
    const ids = [near([0, 9]), near([0, 3]), near([1]), near([0, 0, 7]), near([0, 3])];
    const l = new Lookup(target, 'nodes', self, 20, 3, 60);
    for (const id of ids) l.add(contact(id), 0);
    const want = [near([0, 0, 7]), near([0, 3]), near([0, 9]), near([1])].map(idHex);
    expect(l.candidates.map((c) => idHex(c.id!))).toEqual(want);

    const table = new RoutingTable(new Uint8Array(32), 20, 2);
    ids.forEach((id, i) => table.touch(id, encodeAddress(`10.0.0.${i + 1}:5`), 0));
    expect(table.closest(target, 3).map((c) => idHex(c.id))).toEqual(want.slice(0, 3));
  });

  it('never take our own id', () => {
    const l = new Lookup(new Uint8Array(32), 'nodes', self, 20, 3, 60);
    l.add(contact(self), 0);
    expect(l.candidates).toHaveLength(0);
  });

  it('a value or provider lookup that met no record waits for a request past its RTO until its hard deadline; a node lookup does not', () => {
    const target = new Uint8Array(32).fill(0x42);
    const holder = new Uint8Array(32).fill(0x43);
    for (const [mode, waits] of [['value', true], ['providers', true], ['nodes', false]] as const) {
      const l = new Lookup(target, mode, self, 20, 3, 60);
      l.add(contact(holder), 0);
      const [c] = l.next();
      expect(c).toBeDefined();
      l.fail(c!, true); // its RTO passed: nobody else to ask
      expect(l.next()).toEqual([]);
      expect(l.finished).toBe(!waits);
      if (mode !== 'nodes') {
        l.answer(c!, holder); // the late answer still counts (and held no record)
        expect([l.answered, l.slow, l.finished]).toEqual([1, 0, true]);
      }
    }
    const l = new Lookup(target, 'value', self, 20, 3, 60);
    l.add(contact(holder), 0);
    const [c] = l.next();
    l.fail(c!, true);
    l.lapsed(c!); // its hard deadline: given up
    expect([l.slow, l.finished, l.answered]).toEqual([0, true, 0]);
  });
});
