/**
 * How CPython's json module writes strings and floats, and how Python orders str keys: the
 * pieces of the signed form that differ from JavaScript's defaults.
 */

/**
 * Python's `repr(float)` as json.dumps writes it: the shortest digits that round-trip (the same
 * digits JS finds), fixed notation when the decimal exponent is in (-4, 16], else `d.ddde±XX`
 * with at least two exponent digits; `.0` added to integral fixed values; json's spelling of
 * the non-finite values.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e') as [string, string];
  const ds = mantissa.replace('.', '');
  const decpt = Number(exponent) + 1; // value = 0.ds × 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${ds}`;
    if (decpt >= ds.length) return `${sign}${ds}${'0'.repeat(decpt - ds.length)}.0`;
    return `${sign}${ds.slice(0, decpt)}.${ds.slice(decpt)}`;
  }
  const e = decpt - 1;
  const m = ds.length === 1 ? ds : `${ds[0]}.${ds.slice(1)}`;
  return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** Orders strings by code point as Python does (UTF-16 order differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

const HEX = '0123456789abcdef';
const SHORT_ESCAPES: Readonly<Record<number, string>> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

/**
 * json.dumps with ensure_ascii: printable ASCII (space to `~`) as is, except `"` and `\`;
 * short escapes for `" \ \b \f \n \r \t`; everything else (controls, DEL, non-ASCII) as
 * `\uxxxx` per UTF-16 unit, which gives a surrogate pair above U+FFFF and a lone surrogate as
 * itself, as CPython does. `/` is not escaped.
 */
export function quotePython(s: string): string {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(runStart, i);
    runStart = i + 1;
    out += SHORT_ESCAPES[c] ?? `\\u${HEX[c >> 12]}${HEX[(c >> 8) & 15]}${HEX[(c >> 4) & 15]}${HEX[c & 15]}`;
  }
  return `${out}${s.slice(runStart)}"`;
}
