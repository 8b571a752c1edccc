/**
 * Loads the vendored Project Wycheproof vectors (test/vectors/wycheproof, Apache-2.0, see the
 * LICENSE there). Tests read only from test/vectors so that a fresh clone is self-contained.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const WYCHEPROOF_DIR = fileURLToPath(new URL('../vectors/wycheproof/', import.meta.url));

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: WycheproofResult;
}

export interface WycheproofGroup<T extends WycheproofTest> {
  type: string;
  tests: T[];
}

export interface WycheproofFile<G extends WycheproofGroup<WycheproofTest>> {
  algorithm: string;
  numberOfTests: number;
  testGroups: G[];
}

export interface AeadTest extends WycheproofTest {
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
}
export interface AeadGroup extends WycheproofGroup<AeadTest> {
  keySize: number;
  ivSize: number;
  tagSize: number;
}

export interface XdhTest extends WycheproofTest {
  public: string;
  private: string;
  shared: string;
}
export interface XdhGroup extends WycheproofGroup<XdhTest> {
  curve: string;
}

export interface EddsaTest extends WycheproofTest {
  msg: string;
  sig: string;
}
export interface EddsaGroup extends WycheproofGroup<EddsaTest> {
  publicKey: { curve: string; keySize: number; pk: string };
  /** Some Wycheproof releases also give the private key; this one (0.9rc5) does not. */
  key?: { sk?: string; pk: string };
}

export interface HkdfTest extends WycheproofTest {
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}
export interface HkdfGroup extends WycheproofGroup<HkdfTest> {
  keySize: number;
}

export interface MacTest extends WycheproofTest {
  key: string;
  msg: string;
  tag: string;
}
export interface MacGroup extends WycheproofGroup<MacTest> {
  keySize: number;
  tagSize: number;
}

/**
 * Reads one vector file and checks it is the file we think it is: the expected algorithm and
 * as many tests as its header announces (so a truncated copy cannot silently shrink a run).
 */
export function loadWycheproof<G extends WycheproofGroup<WycheproofTest>>(
  file: string,
  algorithm: string,
): WycheproofFile<G> {
  const parsed = JSON.parse(readFileSync(WYCHEPROOF_DIR + file, 'utf8')) as WycheproofFile<G>;
  if (parsed.algorithm !== algorithm) {
    throw new Error(`${file}: algorithm ${parsed.algorithm}, expected ${algorithm}`);
  }
  const total = parsed.testGroups.reduce((n, g) => n + g.tests.length, 0);
  if (total !== parsed.numberOfTests || total === 0) {
    throw new Error(`${file}: ${total} tests in groups, header says ${parsed.numberOfTests}`);
  }
  return parsed;
}

/** Every test of a file with its group, in file order. */
export function* eachTest<T extends WycheproofTest, G extends WycheproofGroup<T>>(
  file: WycheproofFile<G>,
): Generator<{ group: G; test: T }> {
  for (const group of file.testGroups) for (const test of group.tests as T[]) yield { group, test };
}

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** A label for assertion messages: which vector failed and why it exists. */
export function label(test: WycheproofTest): string {
  return `tcId ${test.tcId} (${test.result}; ${test.flags.join(',') || 'no flags'}${test.comment ? `; ${test.comment}` : ''})`;
}
