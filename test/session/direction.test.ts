import { describe, expect, it } from 'vitest';
import { Direction } from '../../src/session/direction.js';
import { codeOf } from '../helpers/errors.js';

const NONCE = Buffer.alloc(12, 9);
const AAD = Buffer.from('aad');

describe('Direction (its cipher context is created at the first record)', () => {
  it('seals with its key whether the context was made before or after, and after key_update with the new key', () => {
    const a = new Direction(Buffer.alloc(32, 1), Buffer.alloc(12, 2), 'aes-256-gcm');
    const b = new Direction(Buffer.alloc(32, 1), Buffer.alloc(12, 2), 'aes-256-gcm');
    const sealed = a.aead.seal(NONCE, AAD, Buffer.from('hello'));
    expect(Buffer.from(b.aead.open(NONCE, AAD, sealed)!).toString()).toBe('hello');
    a.update();
    b.update();
    const again = a.aead.seal(NONCE, AAD, Buffer.from('hello'));
    expect(Buffer.from(again).equals(Buffer.from(sealed))).toBe(false);
    expect(Buffer.from(b.aead.open(NONCE, AAD, again)!).toString()).toBe('hello');
  });

  it('never makes a context from the wiped key of a destroyed direction, used or not', () => {
    for (const used of [false, true]) {
      const d = new Direction(Buffer.alloc(32, 1), Buffer.alloc(12, 2), 'aes-256-gcm');
      if (used) d.aead.seal(NONCE, AAD, Buffer.from('x'));
      d.destroy();
      expect(codeOf(() => d.aead.seal(NONCE, AAD, Buffer.from('x')))).toBe('INVALID_STATE');
    }
  });
});
