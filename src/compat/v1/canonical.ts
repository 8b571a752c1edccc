/**
 * Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))` (ensure_ascii default):
 * the exact bytes v1.0 peers sign. Accepts the parser's lossless tree, plain JS values, or both.
 */
import { ErrorCode, PeerError } from '../../errors.js';
import { JSON_MAX_DEPTH, JsonNumber, type JsonInput } from './json.js';
import { compareCodePoints, pythonFloatRepr, quotePython } from './python.js';

export interface StringifyOptions {
  /** Sort keys by code point at every level (default true: the signed form). */
  sortKeys?: boolean;
  /** Nesting limit (default 100); deeper or cyclic input is INVALID_ARGUMENT. */
  maxDepth?: number;
}

/**
 * Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))`. Numbers: JsonNumber by
 * its canonical form; bigint as an int; a JS number as an int when it is a safe integer, else as
 * a float (repr) — use JsonNumber.float(1) for a float with an integral value, a bigint for an
 * exact integer beyond 2^53. Non-finite numbers, undefined, functions, symbols and objects that
 * are not plain (Date, Buffer, class instances) are INVALID_ARGUMENT.
 */
export function canonicalJson(value: JsonInput, options: StringifyOptions = {}): string {
  const out: string[] = [];
  write(value, out, options.sortKeys ?? true, options.maxDepth ?? JSON_MAX_DEPTH, 0);
  return out.join('');
}

function invalid(message: string): PeerError {
  return new PeerError(ErrorCode.INVALID_ARGUMENT, `JSON: ${message}`);
}

function write(v: unknown, out: string[], sortKeys: boolean, maxDepth: number, depth: number): void {
  switch (typeof v) {
    case 'string': out.push(quotePython(v)); return;
    case 'boolean': out.push(v ? 'true' : 'false'); return;
    case 'bigint': out.push(v.toString()); return;
    case 'number':
      if (!Number.isFinite(v)) throw invalid(`${v} is not a JSON number`);
      out.push(Number.isSafeInteger(v) ? BigInt(v).toString() : pythonFloatRepr(v));
      return;
    case 'object': break;
    default: throw invalid(`a ${typeof v} is not a JSON value`);
  }
  if (v === null) {
    out.push('null');
    return;
  }
  if (v instanceof JsonNumber) {
    out.push(v.canonical());
    return;
  }
  if (depth >= maxDepth) throw invalid(`nesting deeper than ${maxDepth} (or a cycle)`);
  if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      if (!(i in v)) throw invalid('arrays must not have holes');
      write(v[i], out, sortKeys, maxDepth, depth + 1);
    }
    out.push(']');
    return;
  }
  let entries: [string, unknown][];
  if (v instanceof Map) {
    entries = [...(v as Map<unknown, unknown>)].map(([k, x]) => {
      if (typeof k !== 'string') throw invalid('object keys must be strings');
      return [k, x];
    });
  } else {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) throw invalid('only plain objects, arrays and Maps are JSON objects');
    entries = Object.entries(v as Record<string, unknown>);
  }
  if (sortKeys) entries.sort((a, b) => compareCodePoints(a[0], b[0]));
  out.push('{');
  for (let i = 0; i < entries.length; i++) {
    const [k, x] = entries[i]!;
    if (i > 0) out.push(',');
    out.push(quotePython(k), ':');
    write(x, out, sortKeys, maxDepth, depth + 1);
  }
  out.push('}');
}
