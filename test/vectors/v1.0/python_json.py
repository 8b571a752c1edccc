#!/usr/bin/env python3
"""Generates python-json.json: JSON texts and what CPython's json module makes of them.

For each case, `input` is a JSON text; `output` is
json.dumps(json.loads(input), sort_keys=True, separators=(",", ":")) (ensure_ascii default),
the re-serialisation v1.0 peers sign; or `error` when json.loads refuses the text.
Run with CPython >= 3.11 (int digit limit 4300): python3 python_json.py > python-json.json
Seeded, so the output is reproducible.
"""
import json
import random
import struct
import sys

rng = random.Random(20260201)
cases = []


def add(text):
    try:
        out = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        cases.append({"input": text, "output": out})
    except (ValueError, RecursionError) as e:
        cases.append({"input": text, "error": type(e).__name__})


# Floats: edge values, then random bit patterns written in several styles a non-Python
# sender might use (repr, %.17g, %e, trailing zeros, upper-case E, explicit + exponent).
edges = ["0.0", "-0.0", "-0", "0", "1.0", "1", "1.50", "1E5", "1e5", "1e+5", "1e-5", "1e-4", "0.0001",
         "0.00001", "1e15", "1e16", "1e17", "123456789012345678.0", "1e22", "1e21", "5e-324", "4.9e-324",
         "2.2250738585072014e-308", "1.7976931348623157e308", "1e308", "1e309", "-1e400", "1e-400",
         "0.1", "0.30000000000000004", "100.0", "9007199254740993", "9007199254740993.0",
         "-9223372036854775809", "12345678901234567890123456789012345678901234567890",
         "1.0e0", "10e-1", "0e0", "-0e-0", "0.000123456789", "1234567890123456.7", "12345678901234567.0"]
for t in edges:
    add("[%s]" % t)
for _ in range(400):
    bits = rng.getrandbits(64)
    x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if x != x or x in (float("inf"), float("-inf")):
        continue
    styles = [repr(x), "%.17g" % x, "%.6e" % x, "%.12E" % x]
    t = rng.choice(styles)
    if "." not in t and "e" not in t.lower() and "n" not in t:
        t += ".0"
    add("[%s]" % t)
for _ in range(200):
    # floats of ordinary magnitudes, written with extra zeros or an exponent
    x = rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-12, 12)
    t = rng.choice(["%.10f" % x, "%.4e" % x, repr(x), "%.17g" % x, "%.3f" % x + "000"])
    if "." not in t and "e" not in t.lower():
        t += ".0"
    add("[%s]" % t)

# Integers: big, negative, at the 4300-digit limit and past it.
for n in [2 ** 53, 2 ** 53 + 1, -(2 ** 63), 2 ** 64, 10 ** 30, -(10 ** 40) - 7]:
    add("[%d]" % n)
add("[%s]" % ("9" * 4300))
add("[%s]" % ("9" * 4301))

# Strings: escapes, controls, DEL, non-ASCII, astral, lone and paired surrogate escapes.
strings = [
    r'"quote\" backslash\\ slash/ \/ tab\t nl\n cr\r bs\b ff\f"',
    '"raw DEL \x7f and e-acute \u00e9"',
    r'"\u0000\u001f\u007f\u0080\u00ff\u2028\u2029\uffff"',
    r'"\uD83D\uDE00 pair upper"', r'"\ud83d\ude00 pair lower"', '"\U0001f600 raw astral"',
    r'"\ud800 lone high"', r'"\udc00 lone low"', r'"\udc00\ud800 reversed"', r'"\ud800\ud800\udc00"',
    r'"\ud800x"', r'"\ud800\u0041"', '"\u65e5\u672c\u8a9e"',
]
for s in strings:
    add("[%s]" % s)
# invalid texts
for bad in ['"\x01 raw control"', '"\\x"', '"\\u12"', '"\\uZZZZ"', "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]",
            "[-]", "[+1]", "[1e]", "[0x10]", "[\"a\" \"b\"]", "{'a':1}", "[true false]", "[nul]", "[1] x",
            "", " ", "[", "{\"a\"}", "{1:2}"]:
    add(bad)

# Key order: by code point, astral after U+FFFF (not UTF-16 order), lone surrogates, nesting.
def randkey():
    pool = [0x41, 0x61, 0x7a, 0x7f, 0xe9, 0x3042, 0xd7ff, 0xe000, 0xff5e, 0xffff,
            0x1f600, 0x10000, 0x10ffff, 0x20, 0x0, 0x1f]
    k = "".join(chr(rng.choice(pool)) for _ in range(rng.randint(0, 3)))
    return k


def esc(k):
    return json.dumps(k)


for _ in range(80):
    keys = {randkey() for _ in range(rng.randint(1, 6))}
    body = ",".join("%s:%d" % (esc(k), i) for i, k in enumerate(keys))
    inner = ",".join("%s:[%d,{%s:null}]" % (esc(k), i, esc(randkey())) for i, k in enumerate(keys))
    add("{%s,\"nested\":{%s}}" % (body, inner) if "nested" not in keys else "{%s}" % body)
add(r'{"\ud800":1,"\ue000":2,"\ud83d\ude00":3,"\udbff\udfff":4,"\uffff":5,"\udfff":6}')

json.dump({"about": __doc__.strip().splitlines()[0], "python": sys.version.split()[0], "cases": cases},
          sys.stdout, indent=1, ensure_ascii=True)
sys.stdout.write("\n")
