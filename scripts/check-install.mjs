/**
 * Run by .ci/run inside an app that installed the packed tarball with scripts disabled, once per
 * platform (linux-x64 natively, linux-arm64 under qemu): the installed peercomm must load this
 * platform's prebuild (not build from source, not fall back to node:crypto), reproduce every
 * Project Wycheproof AES-256-GCM vector through the single, batch and region calls, agree with
 * this Node's node:crypto on random records, and carry a session over loopback. Any mismatch
 * throws (non-zero exit).
 * Copy it into the app first: `import('peercomm')` must resolve the app's node_modules (from
 * inside this repository it would resolve the repository itself).
 *   cp scripts/check-install.mjs $app/ && cd $app &&
 *   node check-install.mjs <aes_gcm_test.json> <prebuild directory, e.g. prebuilds/linux-arm64/>
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [vectorsFile, prebuildDir] = process.argv.slice(2);
const pkg = fileURLToPath(new URL('./node_modules/peercomm/', import.meta.url));
const entry = fileURLToPath(import.meta.resolve('peercomm'));
assert.ok(entry.startsWith(pkg), `peercomm resolves to ${entry}, not the installed ${pkg}`);
const loaded = createRequire(import.meta.url)('node-gyp-build').path(pkg);
assert.ok(loaded.startsWith(path.join(pkg, prebuildDir)), `loaded ${loaded}, not ${prebuildDir}`);
const { engine, createAead, packBatch, Peer } = await import('peercomm');
assert.equal(engine(), 'native');

const hex = (s) => Buffer.from(s, 'hex');
const reference = (key, r) => {
  const c = crypto.createCipheriv('aes-256-gcm', key, r.nonce);
  c.setAAD(r.aad);
  return Buffer.concat([c.update(r.data), c.final(), c.getAuthTag()]);
};
/** records as one region buffer: aad ‖ data ‖ tag space each; returns buffer, nonces, table. */
const regions = (records) => {
  const buffer = Buffer.concat(records.flatMap((r) => [r.aad, r.data, Buffer.alloc(16)]));
  const table = new Uint32Array(4 * records.length);
  let at = 0;
  records.forEach((r, i) => {
    table.set([at, r.aad.length, at + r.aad.length, r.data.length], 4 * i);
    at += r.aad.length + r.data.length + 16;
  });
  return { buffer, nonces: Buffer.concat(records.map((r) => r.nonce)), table };
};
/** Seals records with every call (single, batch, regions) and opens them back; returns ct‖tag. */
function sealEveryWay(aead, records) {
  const single = Buffer.concat(records.map((r) => aead.seal(r.nonce, r.aad, r.data)));
  const batch = packBatch(records);
  assert.deepEqual(Buffer.from(aead.sealBatch(batch)), single, 'sealBatch differs from seal');
  const opened = aead.openBatch({ ...batch, data: single, lengths: batch.lengths.map((n) => n + 16) });
  assert.deepEqual(Buffer.from(opened), batch.data, 'openBatch did not restore the plaintexts');
  const reg = regions(records);
  aead.sealRegions(reg.nonces, reg.buffer, reg.table);
  for (let i = 0, at = 0; i < records.length; i++) {
    const r = records[i];
    const n = r.data.length + 16;
    assert.deepEqual(reg.buffer.subarray(reg.table[4 * i + 2], reg.table[4 * i + 2] + n), single.subarray(at, at + n), 'sealRegions differs');
    at += n;
  }
  assert.equal(aead.openRegions(reg.nonces, reg.buffer, reg.table), records.length);
  return single;
}

// Wycheproof: every vector with a 256-bit key, 96-bit nonce and 128-bit tag.
const file = JSON.parse(readFileSync(vectorsFile, 'utf8'));
assert.equal(file.algorithm, 'AES-GCM');
const counts = { valid: 0, invalid: 0 };
for (const g of file.testGroups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128)) {
  for (const t of g.tests) {
    const aead = createAead(hex(t.key));
    const r = { nonce: hex(t.iv), aad: hex(t.aad), data: hex(t.msg) };
    const sealed = Buffer.concat([hex(t.ct), hex(t.tag)]);
    if (t.result === 'valid') {
      assert.deepEqual(sealEveryWay(aead, [r]), sealed, `tcId ${t.tcId}`);
      assert.deepEqual(Buffer.from(aead.open(r.nonce, r.aad, sealed)), r.data, `tcId ${t.tcId}`);
    } else {
      assert.throws(() => aead.open(r.nonce, r.aad, sealed), { code: 'DECRYPTION_FAILED' }, `tcId ${t.tcId}`);
    }
    counts[t.result]++;
    aead.destroy();
  }
}
assert.deepEqual(counts, { valid: 39, invalid: 27 }); // as many as the vendored file holds

// Random records, one key, against node:crypto, 0 B to 70 KiB.
const key = crypto.randomBytes(32);
const aead = createAead(key);
for (let round = 0; round < 20; round++) {
  const records = Array.from({ length: 1 + crypto.randomInt(40) }, () => ({
    nonce: crypto.randomBytes(12), aad: crypto.randomBytes(crypto.randomInt(64)), data: crypto.randomBytes(crypto.randomInt(round % 5 === 0 ? 70_000 : 2_000)),
  }));
  assert.deepEqual(sealEveryWay(aead, records), Buffer.concat(records.map((r) => reference(key, r))), `round ${round}`);
}
aead.destroy();

// A session over loopback: handshake, a small and a chunked message, both ways.
const bob = await Peer.create({ entityId: 'bob' });
const alice = await Peer.create({ entityId: 'alice' });
try {
  const addr = await bob.listen({ host: '127.0.0.1', port: 0 });
  const accepted = new Promise((resolve) => bob.once('session', resolve));
  const session = await alice.connect(`127.0.0.1:${addr.port}`);
  const big = crypto.randomBytes(300_000);
  const got = [];
  const both = new Promise((resolve) => bob.on('message', (m) => { got.push(m); if (got.length === 2) resolve(); }));
  await session.send('hello', { type: 'task' });
  await session.send(big, { type: 'task' });
  await both;
  assert.equal(Buffer.from(got[0].payload).toString(), 'hello');
  assert.deepEqual(Buffer.from(got[1].payload), big);
  const back = new Promise((resolve) => alice.once('message', resolve));
  await (await accepted).send('hi alice');
  assert.equal(Buffer.from((await back).payload).toString(), 'hi alice');
} finally {
  await alice.close();
  await bob.close();
}
console.log(`install OK on ${process.arch}, Node ${process.version}: ${path.relative(pkg, loaded)}; ` +
  `Wycheproof AES-GCM ${counts.valid} valid + ${counts.invalid} invalid, 20 random batches, session over loopback`);
