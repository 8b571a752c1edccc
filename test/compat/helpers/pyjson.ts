/**
 * An independent v1.0 implementation for the tests, written from V1_COMPAT.md alone with
 * node:crypto, sharing no code with src/compat/v1: a JSON model that says int or float
 * explicitly, Python's json.dumps(sort_keys=True, separators=(",", ":")) over it, a body
 * writer that spells the same values in other ways (whitespace, field order, raw UTF-8, other
 * escapes, other float spellings), and Ed25519 over node:crypto.
 */
import crypto from 'node:crypto';

export type Model =
  | null
  | boolean
  | string
  | { int: bigint }
  | { float: number }
  | Model[]
  | { obj: [string, Model][] };

export const isInt = (m: Model): m is { int: bigint } => m !== null && typeof m === 'object' && !Array.isArray(m) && 'int' in m;
export const isFloat = (m: Model): m is { float: number } => m !== null && typeof m === 'object' && !Array.isArray(m) && 'float' in m;
export const isObj = (m: Model): m is { obj: [string, Model][] } => m !== null && typeof m === 'object' && !Array.isArray(m) && 'obj' in m;

/**
 * Python's float repr, from JS's own number-to-string: take the digits and the decimal point
 * position out of String(x), then lay them out as Python does (fixed when the point is at
 * -4 < decpt <= 16, else d.ddde±XX).
 */
export function pyFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const neg = x < 0;
  const s = String(Math.abs(x));
  const [mant, expPart] = s.split('e');
  const [intPart, fracPart = ''] = mant!.split('.');
  let digits = intPart! + fracPart;
  let decpt = intPart!.length + (expPart === undefined ? 0 : parseInt(expPart, 10));
  while (digits.startsWith('0')) {
    digits = digits.slice(1);
    decpt--;
  }
  digits = digits.replace(/0+$/, '');
  let out: string;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) out = '0.' + '0'.repeat(-decpt) + digits;
    else if (digits.length <= decpt) out = digits.padEnd(decpt, '0') + '.0';
    else out = digits.slice(0, decpt) + '.' + digits.slice(decpt);
  } else {
    const e = decpt - 1;
    const exp = (e < 0 ? '-' : '+') + (Math.abs(e) < 10 ? '0' : '') + Math.abs(e);
    out = (digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits) + 'e' + exp;
  }
  return (neg ? '-' : '') + out;
}

/** ensure_ascii string: short escapes, \u00XX for controls and DEL, \uxxxx per UTF-16 unit above. */
export function pyString(s: string): string {
  const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (short[ch] !== undefined) out += short[ch];
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Code point order: compare arrays of code points ([...s] splits by code point, lone surrogates alone). */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export function dumps(m: Model): string {
  if (m === null) return 'null';
  if (m === true) return 'true';
  if (m === false) return 'false';
  if (typeof m === 'string') return pyString(m);
  if (Array.isArray(m)) return '[' + m.map(dumps).join(',') + ']';
  if (isInt(m)) return m.int.toString();
  if (isFloat(m)) return pyFloat(m.float);
  const entries = [...m.obj].sort((a, b) => byCodePoint(a[0], b[0]));
  return '{' + entries.map(([k, v]) => pyString(k) + ':' + dumps(v)).join(',') + '}';
}

/** What a v1.0 signature covers. */
export function signedText(f: { version: string; msg_type: string; sender_id: string; payload: Model; timestamp: string; nonce: string }): string {
  return dumps({ obj: [['version', f.version], ['msg_type', f.msg_type], ['sender_id', f.sender_id], ['payload', f.payload], ['timestamp', f.timestamp], ['nonce', f.nonce]] });
}

export interface BodyStyle {
  /** Indentation / spaces after separators. */
  space: string;
  /** Non-ASCII written raw (UTF-8) rather than escaped. */
  rawUtf8: boolean;
  /** Upper-case hex in \u escapes, and "\/" for "/". */
  oddEscapes: boolean;
  /** Floats spelt otherwise (17 significant digits, exponent with E, trailing zeros). */
  floatSpelling: 0 | 1 | 2 | 3;
}

function bodyString(s: string, st: BodyStyle): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pairHigh = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
    const lone = c >= 0xd800 && c <= 0xdfff && !pairHigh;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x2f && st.oddEscapes) out += '\\/';
    else if (c < 0x20 || lone || (c > 0x7e && !st.rawUtf8)) {
      const hex = c.toString(16).padStart(4, '0');
      out += '\\u' + (st.oddEscapes ? hex.toUpperCase() : hex);
    } else if (pairHigh) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else out += s[i];
  }
  return out + '"';
}

function bodyFloat(x: number, st: BodyStyle): string {
  if (Object.is(x, -0)) return '-0.0'; // the other spellings below lose the sign of zero
  switch (st.floatSpelling) {
    case 1: {
      const t = x.toPrecision(17); // 1e16 → "10000000000000000": must still read as a float
      return /[.e]/.test(t) ? t : `${t}.0`;
    }
    case 2: return x.toExponential().toUpperCase().replace('E+', 'E');
    case 3: {
      // trailing zeros: 1.5 → 1.500, 1.5e+20 → 1.50e+20, 1e+16 → 1.0e+16
      const [m, e] = pyFloat(x).split('e');
      return e === undefined ? `${m}00` : `${m!.includes('.') ? `${m}0` : `${m}.0`}e${e}`;
    }
    default: return pyFloat(x);
  }
}

/** The same values in another spelling: what the body may look like, not what is signed. */
export function writeBody(m: Model, st: BodyStyle): string {
  const w = (v: Model): string => {
    if (v === null || typeof v === 'boolean') return String(v);
    if (typeof v === 'string') return bodyString(v, st);
    if (Array.isArray(v)) return '[' + st.space + v.map(w).join(',' + st.space) + st.space + ']';
    if (isInt(v)) return v.int.toString();
    if (isFloat(v)) return bodyFloat(v.float, st);
    return '{' + st.space + v.obj.map(([k, x]) => bodyString(k, st) + st.space + ':' + st.space + w(x)).join(',' + st.space) + st.space + '}';
  };
  return w(m);
}

/** What the library's toPlain should give: safe ints as numbers, big ints as bigint, floats as numbers. */
export function toPlainModel(m: Model): unknown {
  if (m === null || typeof m !== 'object') return m;
  if (Array.isArray(m)) return m.map(toPlainModel);
  if (isInt(m)) return m.int >= BigInt(Number.MIN_SAFE_INTEGER) && m.int <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(m.int) : m.int;
  if (isFloat(m)) return m.float;
  return Object.fromEntries(m.obj.map(([k, v]) => [k, toPlainModel(v)]));
}

/** An Ed25519 key pair on node:crypto, with the raw public key. */
export function ed25519(): { publicKey: Buffer; sign(data: Buffer): Buffer; verify(data: Buffer, sig: Buffer): boolean } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    publicKey: Buffer.from(raw),
    sign: (data) => crypto.sign(null, data, privateKey),
    verify: (data, sig) => crypto.verify(null, data, publicKey, sig),
  };
}

/** Verifies with a raw 32-byte Ed25519 public key on node:crypto. */
export function verifyRaw(publicKey: Uint8Array, data: Buffer, sig: Buffer): boolean {
  const key = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
  return crypto.verify(null, data, key, sig);
}

/** A Python-isoformat UTC timestamp with microseconds. */
export function isoMicros(ms: number): string {
  return new Date(Math.floor(ms)).toISOString().slice(0, 19) + '.' + String(Math.floor(ms * 1000) % 1_000_000).padStart(6, '0') + '+00:00';
}
