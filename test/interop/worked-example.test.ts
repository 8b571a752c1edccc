/**
 * The worked example of docs/PROTOCOL.md §9, replayed byte for byte: fixed keys and random
 * values → each handshake message → the derived keys → one sealed record. The library's output
 * and an independent node:crypto computation from the document must both equal the stored
 * vector. UPDATE_VECTORS=1 rewrites the vector (only when the protocol deliberately changes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Identity, wire, x25519 } from '../../src/index.js';
import { Handshake } from '../../src/handshake/index.js';
import { SecureSession } from '../../src/session/index.js';
import * as ref from '../helpers/node-crypto-reference.js';

const VECTOR = new URL('../vectors/handshake-example.json', import.meta.url);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const seq = (start: number): Buffer => Buffer.from(Array.from({ length: 32 }, (_, i) => start + i));

const inputs = {
  timestamp: 1_780_000_000_000,
  initiator: { entityId: 'alice', seed: hex(seq(0x00)), ephemeralSecret: hex(seq(0x40)), nonce: hex(seq(0x80).subarray(0, 16)) },
  responder: { entityId: 'bob', seed: hex(seq(0x20)), ephemeralSecret: hex(seq(0x60)), challenge: hex(seq(0xa0)) },
  record: { type: 'task', payload: 'hello, bob' },
};

function pairFrom(secretHex: string) {
  const secretKey = Buffer.from(secretHex, 'hex');
  return { secretKey, publicKey: x25519.publicKeyOf(secretKey) };
}

function runLibrary() {
  const now = inputs.timestamp;
  const { handshake: a, send } = Handshake.initiate({
    identity: Identity.fromSeed(Buffer.from(inputs.initiator.seed, 'hex')), entityId: inputs.initiator.entityId,
    fixed: { ephemeral: pairFrom(inputs.initiator.ephemeralSecret), nonce: Buffer.from(inputs.initiator.nonce, 'hex') },
  }, now);
  const b = Handshake.respond({
    identity: Identity.fromSeed(Buffer.from(inputs.responder.seed, 'hex')), entityId: inputs.responder.entityId,
    fixed: { ephemeral: pairFrom(inputs.responder.ephemeralSecret), challenge: Buffer.from(inputs.responder.challenge, 'hex') },
  }, now);
  const messages: Buffer[] = [];
  let toB = send;
  while (toB.length > 0) {
    messages.push(...toB);
    const toA = toB.flatMap((m) => b.receive(m, now));
    messages.push(...toA);
    toB = toA.flatMap((m) => a.receive(m, now));
  }
  const result = a.result!;
  const session = new SecureSession(result, now);
  session.send(wire.MESSAGE_TYPES.task.id, Buffer.from(inputs.record.payload), now);
  const frame = session.flush(now)!;
  // By type: session_confirm (5) is pipelined before session_established (4) on the wire.
  const names = ['', 'handshake_init', 'handshake_init_ack', 'challenge_response', 'session_established', 'session_confirm', 'ready'];
  return {
    messages: Object.fromEntries(messages.map((m) => [names[m[1]!], hex(m)])),
    keys: { keyI2R: hex(result.sendKey), ivI2R: hex(result.sendIv), keyR2I: hex(result.recvKey), ivR2I: hex(result.recvIv), sessionId: hex(result.sessionId), handshakeHash: hex(result.handshakeHash) },
    recordFrame: hex(frame),
  };
}

describe('worked example (PROTOCOL.md §9)', () => {
  const lib = runLibrary();

  it('the library reproduces the stored vector byte for byte', () => {
    if (process.env.UPDATE_VECTORS === '1') {
      const shared = ref.x25519(Buffer.from(inputs.initiator.ephemeralSecret, 'hex'), ref.x25519Public(Buffer.from(inputs.responder.ephemeralSecret, 'hex')));
      const ks = ref.keySchedule(shared, Buffer.from(lib.messages.handshake_init!, 'hex'), Buffer.from(lib.messages.handshake_init_ack!, 'hex'));
      const header = Buffer.from(lib.recordFrame, 'hex').subarray(4, 28);
      writeFileSync(VECTOR, `${JSON.stringify({
        description: 'peercomm v1.1 worked example: see docs/PROTOCOL.md §9',
        inputs,
        publicKeys: {
          initiatorIdentity: hex(ref.ed25519Public(Buffer.from(inputs.initiator.seed, 'hex'))),
          initiatorEphemeral: hex(ref.x25519Public(Buffer.from(inputs.initiator.ephemeralSecret, 'hex'))),
          responderIdentity: hex(ref.ed25519Public(Buffer.from(inputs.responder.seed, 'hex'))),
          responderEphemeral: hex(ref.x25519Public(Buffer.from(inputs.responder.ephemeralSecret, 'hex'))),
        },
        messages: lib.messages,
        derived: {
          sharedSecret: hex(shared), handshakeHash: hex(ks.handshakeHash), sessionKey: hex(ks.sessionKey),
          keyI2R: hex(ks.keyI2R), ivI2R: hex(ks.ivI2R), keyR2I: hex(ks.keyR2I), ivR2I: hex(ks.ivR2I),
          confirmKey: hex(ks.confirmKey), sessionId: hex(ks.sessionId),
        },
        record: { header: hex(header), nonce: hex(ref.recordNonce(ks.ivI2R, 0)), frame: lib.recordFrame },
      }, null, 2)}\n`);
    }
    const v = JSON.parse(readFileSync(VECTOR, 'utf8'));
    expect(v.inputs).toEqual(inputs);
    expect(lib.messages).toEqual(v.messages);
    expect(lib.keys).toEqual({
      keyI2R: v.derived.keyI2R, ivI2R: v.derived.ivI2R, keyR2I: v.derived.keyR2I, ivR2I: v.derived.ivR2I,
      sessionId: v.derived.sessionId, handshakeHash: v.derived.handshakeHash,
    });
    expect(lib.recordFrame).toBe(v.record.frame);
  });

  it('an independent node:crypto reading of PROTOCOL.md derives the same values from the messages', () => {
    const v = JSON.parse(readFileSync(VECTOR, 'utf8'));
    const m = (name: string): Buffer => Buffer.from(v.messages[name], 'hex');
    const init = m('handshake_init');
    const ack = m('handshake_init_ack');
    // Message 1 carries the initiator's keys at the documented offsets.
    const nv = init[2]!;
    const ns = init[3 + nv]!;
    const at = 4 + nv + ns;
    expect(hex(init.subarray(at, at + 32))).toBe(v.publicKeys.initiatorIdentity);
    expect(hex(init.subarray(at + 32, at + 64))).toBe(v.publicKeys.initiatorEphemeral);
    // sig_B over label ‖ SHA-256(msg1) ‖ msg2 without its signature.
    const signedAck = Buffer.concat([Buffer.from('peer-v1.1 handshake_init_ack signature'), ref.sha256(init), ack.subarray(0, ack.length - 64)]);
    expect(ref.ed25519Verify(Buffer.from(v.publicKeys.responderIdentity, 'hex'), signedAck, ack.subarray(ack.length - 64))).toBe(true);
    const shared = ref.x25519(Buffer.from(inputs.responder.ephemeralSecret, 'hex'), Buffer.from(v.publicKeys.initiatorEphemeral, 'hex'));
    expect(hex(shared)).toBe(v.derived.sharedSecret);
    const ks = ref.keySchedule(shared, init, ack);
    expect(hex(ks.handshakeHash)).toBe(v.derived.handshakeHash);
    expect(hex(ks.sessionKey)).toBe(v.derived.sessionKey);
    expect([hex(ks.keyI2R), hex(ks.ivI2R), hex(ks.keyR2I), hex(ks.ivR2I), hex(ks.confirmKey), hex(ks.sessionId)])
      .toEqual([v.derived.keyI2R, v.derived.ivI2R, v.derived.keyR2I, v.derived.ivR2I, v.derived.confirmKey, v.derived.sessionId]);
    // sig_A over label ‖ handshake_hash.
    const response = m('challenge_response');
    expect(ref.ed25519Verify(Buffer.from(v.publicKeys.initiatorIdentity, 'hex'),
      Buffer.concat([Buffer.from('peer-v1.1 challenge_response signature'), ks.handshakeHash]), response.subarray(2))).toBe(true);
    // Steps 4–6: session id ‖ HMAC(confirm_key, label ‖ session id).
    for (const [name, label] of [['session_established', 'peer-v1.1 session_established'], ['session_confirm', 'peer-v1.1 session_confirm'], ['ready', 'peer-v1.1 ready']] as const) {
      expect(hex(m(name).subarray(2))).toBe(hex(Buffer.concat([ks.sessionId, ref.hmac(ks.confirmKey, Buffer.from(label), ks.sessionId)])));
    }
    // The record: length ‖ header (AAD) ‖ AES-256-GCM(key A→B, IV A→B XOR 0, message run).
    const frame = Buffer.from(v.record.frame, 'hex');
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    const header = frame.subarray(4, 28);
    expect(hex(header)).toBe(v.record.header);
    expect(hex(header.subarray(4, 12))).toBe(v.derived.sessionId);
    const plain = ref.aesGcmOpen(ks.keyI2R, ref.recordNonce(ks.ivI2R, 0), header, frame.subarray(28));
    const payload = Buffer.from(inputs.record.payload);
    const run = Buffer.concat([Buffer.of(0x04, 0, 0, 0, payload.length), payload]);
    expect(hex(plain)).toBe(hex(run));
    expect(hex(ref.aesGcmSeal(ks.keyI2R, ref.recordNonce(ks.ivI2R, 0), header, run))).toBe(hex(frame.subarray(28)));
  });
});
