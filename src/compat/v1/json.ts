/**
 * Lossless JSON for the v1.0 envelope.
 *
 * v1.0 peers sign Python's `json.dumps(d, sort_keys=True, separators=(",", ":"))` of what
 * `json.loads` made of the body (docs/V1_COMPAT.md). `JSON.parse` cannot reproduce that: it
 * turns `1.0` into `1` and rounds integers beyond 2^53. So this parser keeps every number's
 * source text (`JsonNumber`) and objects as `Map`s, and canonical.ts re-serialises as CPython
 * does: ints exactly, floats by `float.__repr__` (so a float spelt `1.50` or `1E5` by a
 * non-Python sender is signed as `1.5` / `100000.0`, what a Python verifier computes), keys
 * sorted by code point at every level, ensure_ascii escapes with lowercase hex.
 *
 * Parsing follows CPython's `json.loads` (strict mode) except where it is deliberately stricter,
 * all refused with MALFORMED_FRAME: the non-JSON literals `NaN`/`Infinity`/`-Infinity`
 * (CPython accepts them), duplicate object keys (CPython keeps the last; two parsers disagreeing
 * on which one counts is a classic signature bypass), a byte-order mark, and input beyond the
 * size and depth limits. Escaped lone surrogates (`"\ud800"`) are accepted and re-serialised
 * as CPython does.
 */
import { ErrorCode, PeerError } from '../../errors.js';
import { pythonFloatRepr } from './python.js';

/** Default input limit: 1 MiB of UTF-8, the endpoint's body limit. */
export const JSON_MAX_BYTES = 1 << 20;
/** Default nesting limit (objects and arrays, the envelope itself is depth 1); CPython stops near 1000. */
export const JSON_MAX_DEPTH = 100;
/**
 * Default limit on members (of every object and array together) in one document. Parsing cost
 * grows with members, not bytes: a 1 MiB array of 500k zeros took 320 ms. v1.0 payloads are
 * small records; 10,000 members parse in a few ms.
 */
export const JSON_MAX_MEMBERS = 10_000;
/** CPython ≥ 3.11 refuses integers of more digits (sys.int_info.default_max_str_digits). */
export const PYTHON_INT_MAX_DIGITS = 4300;

/** A JSON number as it arrived: its source text, and whether Python reads it as an int. */
export class JsonNumber {
  #canonical: string | undefined;

  private constructor(
    readonly text: string,
    /** No fraction and no exponent: Python's json makes an int of it, anything else a float. */
    readonly isInteger: boolean,
  ) {}

  /** Parses one number in JSON grammar (what the parser keeps); MALFORMED_FRAME otherwise. */
  static parse(text: string): JsonNumber {
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.exec(text);
    if (m === null) throw malformed(`not a JSON number: ${text.slice(0, 40)}`);
    return JsonNumber.of(text, m[1] === undefined && m[2] === undefined);
  }

  /** An integer (Python int). A number must be a safe integer; use a bigint beyond 2^53. */
  static int(value: bigint | number): JsonNumber {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new PeerError(ErrorCode.INVALID_ARGUMENT, `${value} is not a safe integer; pass a bigint`);
    }
    return new JsonNumber(BigInt(value).toString(), true);
  }

  /** A float (Python float), written as Python's repr: `JsonNumber.float(1)` is `1.0`. */
  static float(value: number): JsonNumber {
    if (!Number.isFinite(value)) throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'a JSON float must be finite');
    return new JsonNumber(pythonFloatRepr(value), false);
  }

  /** @internal trusted text from the parser */
  static of(text: string, isInteger: boolean): JsonNumber {
    if (isInteger && text.length - (text[0] === '-' ? 1 : 0) > PYTHON_INT_MAX_DIGITS) {
      throw malformed(`integer of more than ${PYTHON_INT_MAX_DIGITS} digits (CPython refuses it)`);
    }
    return new JsonNumber(text, isInteger);
  }

  /** The nearest double (what Python's float() gives for a float; ±Infinity beyond range). */
  toNumber(): number {
    return Number(this.text);
  }

  /** The exact integer; INVALID_STATE for a float. */
  toBigInt(): bigint {
    if (!this.isInteger) throw new PeerError(ErrorCode.INVALID_STATE, `${this.text} is a float`);
    return BigInt(this.text);
  }

  /** How Python re-serialises it: ints as written (only `-0` becomes `0`), floats by repr. */
  canonical(): string {
    this.#canonical ??= this.isInteger ? (this.text === '-0' ? '0' : this.text) : pythonFloatRepr(Number(this.text));
    return this.#canonical;
  }

  toString(): string {
    return this.text;
  }
}

export type JsonObject = Map<string, JsonValue>;
/** What the parser returns: objects as Maps (insertion order kept), numbers as JsonNumber. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** Plain JS JSON: what applications read and write. Integers beyond 2^53 as bigint. */
export type PlainJson = null | boolean | string | number | bigint | PlainJson[] | { [key: string]: PlainJson };

/** What the serialiser accepts: plain values, parsed values, or a mix. */
export type JsonInput = null | boolean | string | number | bigint | JsonNumber | JsonInput[] | Map<string, JsonInput> | { [key: string]: JsonInput };

export interface JsonLimits {
  /** UTF-8 bytes of input (default 1 MiB). */
  maxBytes?: number;
  /** Nesting of objects and arrays (default 100). */
  maxDepth?: number;
  /** Members of all objects and arrays together (default 10,000). */
  maxMembers?: number;
}

function malformed(message: string, details?: Record<string, unknown>): PeerError {
  return new PeerError(ErrorCode.MALFORMED_FRAME, `JSON: ${message}`, details);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses JSON text (a string, or bytes that must be valid UTF-8) into the lossless tree.
 * Throws MALFORMED_FRAME for invalid JSON, invalid UTF-8, or input beyond the limits.
 */
export function parseJson(input: string | Uint8Array, limits: JsonLimits = {}): JsonValue {
  const maxBytes = limits.maxBytes ?? JSON_MAX_BYTES;
  let text: string;
  if (typeof input === 'string') {
    // 3 bytes per UTF-16 unit at most: only measure exactly when it could matter.
    if (input.length * 3 > maxBytes && Buffer.byteLength(input, 'utf8') > maxBytes) throw malformed(`input exceeds ${maxBytes} bytes`, { limit: maxBytes });
    text = input;
  } else if (input instanceof Uint8Array) {
    if (input.length > maxBytes) throw malformed(`input exceeds ${maxBytes} bytes`, { limit: maxBytes });
    try {
      text = utf8.decode(input);
    } catch {
      throw malformed('input is not valid UTF-8');
    }
  } else {
    throw new PeerError(ErrorCode.INVALID_ARGUMENT, 'JSON input must be a string or a Uint8Array');
  }
  return new Parser(text, limits.maxDepth ?? JSON_MAX_DEPTH, limits.maxMembers ?? JSON_MAX_MEMBERS).parseDocument();
}

class Parser {
  private pos = 0;
  private depth = 0;
  private members = 0;

  constructor(private readonly s: string, private readonly maxDepth: number, private readonly maxMembers: number) {}

  parseDocument(): JsonValue {
    this.ws();
    const value = this.value();
    this.ws();
    if (this.pos !== this.s.length) this.fail('unexpected data after the value');
    return value;
  }

  private fail(message: string): never {
    throw malformed(`${message} at offset ${this.pos}`, { offset: this.pos });
  }

  private ws(): void {
    const s = this.s;
    let c = s.charCodeAt(this.pos);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++this.pos);
  }

  private value(): JsonValue {
    const c = this.s.charCodeAt(this.pos);
    if (c === 0x22) return this.string();
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.s.startsWith('true', this.pos)) return this.literal(4, true);
    if (this.s.startsWith('false', this.pos)) return this.literal(5, false);
    if (this.s.startsWith('null', this.pos)) return this.literal(4, null);
    return this.fail(Number.isNaN(c) ? 'unexpected end of input' : 'expected a value');
  }

  private literal<T>(length: number, value: T): T {
    this.pos += length;
    return value;
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    this.pos++;
    this.ws();
  }

  private object(): JsonObject {
    const out: JsonObject = new Map();
    this.container(0x7d, "expected ',' or '}'", () => {
      if (this.s.charCodeAt(this.pos) !== 0x22) this.fail('expected a string key');
      const key = this.string();
      if (out.has(key)) this.fail('duplicate key');
      this.ws();
      if (this.s.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':'");
      this.pos++;
      this.ws();
      out.set(key, this.value());
    });
    return out;
  }

  private array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.container(0x5d, "expected ',' or ']'", () => out.push(this.value()));
    return out;
  }

  /** An object's or array's members between its brackets: `member()` for each, ',' between. */
  private container(close: number, expected: string, member: () => void): void {
    this.enter();
    if (this.s.charCodeAt(this.pos) === close) {
      this.pos++;
    } else {
      for (;;) {
        if (++this.members > this.maxMembers) this.fail(`more than ${this.maxMembers} members`);
        member();
        this.ws();
        const c = this.s.charCodeAt(this.pos++);
        if (c === close) break;
        if (c !== 0x2c) this.fail(expected);
        this.ws();
      }
    }
    this.depth--;
  }

  private number(): JsonNumber {
    const s = this.s;
    const start = this.pos;
    let p = start;
    let integer = true;
    if (s.charCodeAt(p) === 0x2d) p++;
    const first = s.charCodeAt(p);
    if (first === 0x30) p++;
    else if (first >= 0x31 && first <= 0x39) p = digits(s, p);
    else this.fail('expected a digit');
    if (s.charCodeAt(p) === 0x2e) {
      integer = false;
      const q = digits(s, p + 1);
      if (q === p + 1) this.fail('expected a digit after the decimal point');
      p = q;
    }
    const e = s.charCodeAt(p);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      p++;
      const sign = s.charCodeAt(p);
      if (sign === 0x2b || sign === 0x2d) p++;
      const q = digits(s, p);
      if (q === p) this.fail('expected a digit in the exponent');
      p = q;
    }
    this.pos = p;
    return JsonNumber.of(s.slice(start, p), integer);
  }

  private string(): string {
    const s = this.s;
    let p = ++this.pos;
    let out = '';
    let runStart = p;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === 0x22) {
        out += s.slice(runStart, p);
        this.pos = p + 1;
        return out;
      }
      if (c === 0x5c) {
        out += s.slice(runStart, p);
        this.pos = p;
        out += this.escape();
        p = runStart = this.pos;
        continue;
      }
      if (!(c >= 0x20)) { // NaN past the end: unterminated
        this.pos = p;
        this.fail(Number.isNaN(c) ? 'unterminated string' : 'control character in a string');
      }
      p++;
    }
  }

  /** One escape; `\uXXXX` surrogate halves are kept as UTF-16 units, which is what CPython builds. */
  private escape(): string {
    const c = this.s.charCodeAt(this.pos + 1);
    this.pos += 2;
    switch (c) {
      case 0x22: return '"';
      case 0x5c: return '\\';
      case 0x2f: return '/';
      case 0x62: return '\b';
      case 0x66: return '\f';
      case 0x6e: return '\n';
      case 0x72: return '\r';
      case 0x74: return '\t';
      case 0x75: {
        const hex = this.s.slice(this.pos, this.pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
        this.pos += 4;
        return String.fromCharCode(parseInt(hex, 16));
      }
      default:
        this.pos -= 2;
        return this.fail('invalid escape');
    }
  }
}

function digits(s: string, p: number): number {
  let c = s.charCodeAt(p);
  while (c >= 0x30 && c <= 0x39) c = s.charCodeAt(++p);
  return p;
}

/**
 * The parsed tree as plain JS: objects as ordinary objects (built with Object.fromEntries, so a
 * `__proto__` key is an own property, not a prototype), ints as numbers when safe and as bigint
 * beyond 2^53 (exact), floats as numbers (the same double Python holds).
 */
export function toPlain(v: JsonValue): PlainJson {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof JsonNumber) {
    if (!v.isInteger) return v.toNumber();
    const n = Number(v.text);
    if (n === 0) return 0; // Python has no integer -0
    return Number.isSafeInteger(n) ? n : v.toBigInt();
  }
  if (Array.isArray(v)) return v.map(toPlain);
  return Object.fromEntries([...v].map(([k, x]) => [k, toPlain(x)]));
}
