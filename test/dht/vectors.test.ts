/** The worked examples of docs/DHT.md, byte for byte. */
import { describe, expect, it } from 'vitest';
import { Identity } from '../../src/crypto/index.js';
import { idHex, nodeIdOf } from '../../src/dht/id.js';
import { decodeMessage, encodeFind, encodePing, encodePong, FLAG_WANT_TOKEN, MSG } from '../../src/dht/messages.js';
import { encodeAddress } from '../../src/dht/address.js';
import { ed25519Verifier, proofMessage } from '../../src/dht/proof.js';
import { capabilityHash, providerKey, recordKey, signRecord } from '../../src/dht/record.js';

const id = Identity.fromSeed(Buffer.alloc(32, 1));

describe('docs/DHT.md worked examples', () => {
  it('ids and keys', () => {
    expect(idHex(id.publicKey)).toBe('8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c');
    expect(idHex(nodeIdOf(id.publicKey))).toBe('34750f98bd59fcfc946da45aaabe933be154a4b5094e1c4abf42866505f3c97e');
    expect(capabilityHash('summarize')).toBe('bae9264d6d972b80f4fe23b4a22b599a1585c7faa7473232694978240159f3fe');
    expect(idHex(recordKey('alice'))).toBe('ff29089ca19c4067b6bba25c5770eeae8d4c45db23729107ea704c8cadc651ec');
    expect(idHex(recordKey('alice', 'summarize'))).toBe('1350434f435a098aafadc993e8c9f5a29da04bd6105ceac9c1afeddafc4ed428');
    expect(idHex(providerKey('summarize'))).toBe('140ea37e012eaef58766a2c289319bb50c3b88592dd58f7d4265d114a0279729');
  });

  it('a FIND_NODE datagram', () => {
    const d = encodeFind(MSG.FIND_NODE, FLAG_WANT_TOKEN, 0x01020304, id.publicKey, recordKey('alice'));
    expect(idHex(d)).toBe(
      'd1020201020304' +
      '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c' +
      'ff29089ca19c4067b6bba25c5770eeae8d4c45db23729107ea704c8cadc651ec' +
      '00'.repeat(411 - 71),
    );
  });

  it('a signed record (Ed25519 is deterministic)', () => {
    const r = signRecord({ entityId: 'alice', addresses: ['10.0.0.1:7000'], capabilities: ['summarize'], lastSeen: 1_790_000_000_000, ttl: 86_400 }, id);
    expect(idHex(r.bytes)).toBe(
      '010005616c696365' +
      '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c' +
      '000001a0c4506c0000015180' +
      '010d31302e302e302e313a37303030' +
      '010973756d6d6172697a65' +
      '8f912cc21a83ca9287b618a0504c491285a41a4c9e1a6b4a8e65bb2b999878ed' +
      'd584169e91dfe4542c205003524c57aec174602f25654f6ed70f278b4dee3106',
    );
  });

  it('a PING and the PONG proving the responder\'s id (seed 02 × 32, seen at 192.0.2.1:4000)', () => {
    const responder = Identity.fromSeed(Buffer.alloc(32, 2));
    const nonce = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    expect(idHex(encodePing(0, 0x01020304, id.publicKey, nonce))).toBe(
      'd1010001020304' + '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c' + '000102030405060708090a0b0c0d0e0f',
    );
    const observed = encodeAddress('192.0.2.1:4000');
    const signed = proofMessage(nonce, observed);
    expect(idHex(signed)).toBe('70656572636f6d6d2064687420706f6e6720763100' + '000102030405060708090a0b0c0d0e0f' + '04c00002010fa0');
    const pong = encodePong(0, 0x01020304, responder.publicKey, observed, responder.sign(signed));
    expect(idHex(pong)).toBe(
      'd1810001020304' +
      '8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394' +
      '04c00002010fa0' +
      'da7f85efdd26e2a38169140d4eb74c31f176973b2658dca281f633396ca0c192' +
      '25ee40a47a74bec978f5d83cce66e63a560873d84485df0e230c20624890be07',
    );
    const m = decodeMessage(pong);
    if (m.type !== MSG.PONG) throw new Error('type');
    expect(ed25519Verifier(m.publicKey, proofMessage(nonce, m.observed), m.signature)).toBe(true);
    expect(ed25519Verifier(m.publicKey, proofMessage(Buffer.alloc(16), m.observed), m.signature)).toBe(false);
  });
});
