/** Assertions for the library's error contract: a PeerError carrying one exact code. */
import { expect } from 'vitest';
import { PeerError, isPeerError, type ErrorCode } from '../../src/index.js';

function check(err: unknown, code: ErrorCode, message: string | undefined): PeerError {
  expect(err, message).toBeInstanceOf(PeerError);
  expect((err as PeerError).code, message).toBe(code);
  expect(isPeerError(err, code), message).toBe(true);
  return err as PeerError;
}

/** Runs fn, which must throw PeerError(code); returns that error for further checks. */
export function expectPeerError(fn: () => unknown, code: ErrorCode, message?: string): PeerError {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    thrown = err;
  }
  expect(threw, `${message ?? ''} expected PeerError ${code}, nothing was thrown`.trim()).toBe(true);
  return check(thrown, code, message);
}

/** The promise must reject with PeerError(code). */
export async function expectPeerErrorAsync(promise: Promise<unknown>, code: ErrorCode, message?: string): Promise<PeerError> {
  let thrown: unknown;
  let threw = false;
  try {
    await promise;
  } catch (err) {
    threw = true;
    thrown = err;
  }
  expect(threw, `${message ?? ''} expected a rejection with PeerError ${code}`.trim()).toBe(true);
  return check(thrown, code, message);
}

/** Any PeerError (whatever its code); for contracts that only promise "rejected with a PeerError". */
export function expectAnyPeerError(fn: () => unknown, message?: string): PeerError {
  let thrown: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    threw = true;
    thrown = err;
  }
  expect(threw, `${message ?? ''} expected a PeerError, nothing was thrown`.trim()).toBe(true);
  expect(thrown, message).toBeInstanceOf(PeerError);
  return thrown as PeerError;
}

/** The PeerError code fn throws (anything else thrown fails the test); throws if fn does not throw. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PeerError);
    return (e as PeerError).code;
  }
  throw new Error('expected a PeerError');
}
