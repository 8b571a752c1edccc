import { describe, expect, it } from 'vitest';
import { Identity, PeerError, x25519, createAead, wire } from '../../src/index.js';
import { Handshake, InitReplayGuard, SessionState, decodeHandshakeMessage, type HandshakeOptions } from '../../src/handshake/index.js';
import { codeOf } from '../helpers/errors.js';

const T0 = 1_780_000_000_000;
const alice = Identity.fromSeed(Buffer.alloc(32, 0xa1));
const bob = Identity.fromSeed(Buffer.alloc(32, 0xb0));
const mallory = Identity.fromSeed(Buffer.alloc(32, 0x66));

function opts(identity: Identity, entityId: string, extra: Partial<HandshakeOptions> = {}): HandshakeOptions {
  return { identity, entityId, ...extra };
}

/** Runs both machines to completion, returning every message in order. */
function complete(a = opts(alice, 'alice'), b = opts(bob, 'bob'), now = T0) {
  const { handshake: init, send } = Handshake.initiate(a, now);
  const resp = Handshake.respond(b, now);
  const wire: Buffer[] = [];
  let toB = send;
  while (toB.length > 0) {
    wire.push(...toB);
    const toA = toB.flatMap((m) => resp.receive(m, now));
    wire.push(...toA);
    toB = toA.flatMap((m) => init.receive(m, now));
  }
  return { init, resp, wire };
}

describe('handshake', () => {
  it('runs the six steps and both sides derive mirrored keys', () => {
    const { init, resp, wire: msgs } = complete();
    // session_confirm (5) is pipelined right behind challenge_response (3).
    expect(msgs.map((m) => m[1])).toEqual([1, 2, 3, 5, 4, 6]);
    expect(init.state).toBe(SessionState.Ready);
    expect(resp.state).toBe(SessionState.Ready);
    expect(init.phase).toBe('ACTIVE');
    const a = init.result!;
    const b = resp.result!;
    expect(a.sendKey.equals(b.recvKey)).toBe(true);
    expect(a.recvKey.equals(b.sendKey)).toBe(true);
    expect(a.sendIv.equals(b.recvIv)).toBe(true);
    expect(a.sendKey.equals(a.recvKey)).toBe(false);
    expect(a.sessionId.equals(b.sessionId)).toBe(true);
    expect(a.handshakeHash.equals(b.handshakeHash)).toBe(true);
    expect(a.remote.entityId).toBe('bob');
    expect(b.remote.entityId).toBe('alice');
    expect(a.remote.fingerprint).toBe(bob.fingerprint);
    expect(a.suite).toBe('aes-256-gcm');
    // The derived keys work as an AEAD pair.
    const nonce = Buffer.alloc(12);
    const sealed = createAead(a.sendKey).seal(nonce, Buffer.alloc(0), Buffer.from('hi'));
    expect(Buffer.from(createAead(b.recvKey).open(nonce, Buffer.alloc(0), sealed)).toString()).toBe('hi');
  });

  it('walks the spec states in order on both sides', () => {
    const { handshake: a, send: m1 } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    expect([a.state, b.state]).toEqual([SessionState.HandshakeInitSent, SessionState.Initial]);
    const [m2] = b.receive(m1[0]!, T0);
    expect(b.state).toBe(SessionState.HandshakeAckReceived);
    const [m3, m5, ...more] = a.receive(m2!, T0);
    expect(more).toEqual([]);
    expect([m3![1], m5![1]]).toEqual([wire.FrameType.ChallengeResponse, wire.FrameType.SessionConfirm]);
    expect(a.state).toBe(SessionState.ChallengeSent); // 5 is sent, but 4 not yet accepted
    const [m4] = b.receive(m3!, T0);
    expect(b.state).toBe(SessionState.SessionEstablished);
    const [m6] = b.receive(m5!, T0);
    expect(b.state).toBe(SessionState.Ready);
    expect(a.receive(m4!, T0)).toEqual([]); // session_confirm already went out
    expect(a.state).toBe(SessionState.SessionConfirmed);
    expect(a.receive(m6!, T0)).toEqual([]);
    expect(a.state).toBe(SessionState.Ready);
  });

  it('a pipelining initiator completes with a responder that answers 3 before it reads 5', () => {
    const { handshake: a, send: m1 } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    const [m3, m5] = a.receive(b.receive(m1[0]!, T0)[0]!, T0);
    const [m4] = b.receive(m3!, T0);
    expect(a.receive(m4!, T0)).toEqual([]); // 4 reaches A before B has read 5
    expect(a.state).toBe(SessionState.SessionConfirmed);
    const [m6] = b.receive(m5!, T0);
    a.receive(m6!, T0);
    expect([a.state, b.state]).toEqual([SessionState.Ready, SessionState.Ready]);
  });

  it('each side takes only the next message of its direction: ready before session_established, or confirm before challenge_response, is INVALID_STATE', () => {
    const { handshake: a, send: m1 } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    const [m3, m5] = a.receive(b.receive(m1[0]!, T0)[0]!, T0);
    // B reads session_confirm first: refused before any check of its MAC.
    const b2 = Handshake.respond(opts(bob, 'bob'), T0);
    const { handshake: a2, send: n1 } = Handshake.initiate(opts(alice, 'alice'), T0);
    const [, n5] = a2.receive(b2.receive(n1[0]!, T0)[0]!, T0);
    expect(codeOf(() => b2.receive(n5!, T0))).toBe('INVALID_STATE');
    expect(b2.state).toBe(SessionState.Error);
    // A gets ready before session_established (a responder reordering its frames): refused.
    const [m4] = b.receive(m3!, T0);
    const [m6] = b.receive(m5!, T0);
    expect(codeOf(() => a.receive(m6!, T0))).toBe('INVALID_STATE');
    expect(a.state).toBe(SessionState.Error);
    expect(m4![1]).toBe(wire.FrameType.SessionEstablished);
  });

  it('negotiates ChaCha20-Poly1305 when the responder prefers it and both offer it', () => {
    const { init } = complete(opts(alice, 'alice'), opts(bob, 'bob', { suites: ['chacha20-poly1305', 'aes-256-gcm'] }));
    expect(init.result!.suite).toBe('chacha20-poly1305');
  });

  it('INVALID_VERSION when no version or no suite is in common', () => {
    const { send } = Handshake.initiate(opts(alice, 'alice', { versions: [0x12] }), T0);
    expect(codeOf(() => Handshake.respond(opts(bob, 'bob'), T0).receive(send[0]!, T0))).toBe('INVALID_VERSION');
    const { send: s2 } = Handshake.initiate(opts(alice, 'alice', { suites: ['chacha20-poly1305'] }), T0);
    const b = Handshake.respond(opts(bob, 'bob', { suites: ['aes-256-gcm'] }), T0);
    expect(codeOf(() => b.receive(s2[0]!, T0))).toBe('INVALID_VERSION');
    expect(b.state).toBe(SessionState.Error);
  });

  it('INVALID_SIGNATURE when the responder signature is bad, and the initiator wipes its ephemeral secret', () => {
    const eph = x25519.generateKeyPair();
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice', { fixed: { ephemeral: eph } }), T0);
    const [ack] = Handshake.respond(opts(bob, 'bob'), T0).receive(send[0]!, T0);
    ack![ack!.length - 1]! ^= 1;
    expect(codeOf(() => a.receive(ack!, T0))).toBe('INVALID_SIGNATURE');
    expect(a.state).toBe(SessionState.Error);
    expect(eph.secretKey.every((b) => b === 0)).toBe(true);
  });

  it('REPLAY_DETECTED for a replayed handshake_init and for a stale timestamp', () => {
    const guard = new InitReplayGuard();
    const { send } = Handshake.initiate(opts(alice, 'alice'), T0);
    Handshake.respond(opts(bob, 'bob', { replayGuard: guard }), T0).receive(send[0]!, T0);
    expect(codeOf(() => Handshake.respond(opts(bob, 'bob', { replayGuard: guard }), T0 + 5).receive(send[0]!, T0 + 5))).toBe('REPLAY_DETECTED');
    const stale = Handshake.initiate(opts(alice, 'alice'), T0 - 61_000).send[0]!;
    expect(codeOf(() => Handshake.respond(opts(bob, 'bob', { replayGuard: guard }), T0).receive(stale, T0))).toBe('REPLAY_DETECTED');
  });

  it('CHALLENGE_EXPIRED when challenge_response comes after the lifetime, via receive or poll', () => {
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob', { challengeLifetimeMs: 1000 }), T0);
    const [m3] = a.receive(b.receive(send[0]!, T0)[0]!, T0);
    expect(b.deadline).toBe(T0 + 1000);
    expect(codeOf(() => b.receive(m3!, T0 + 1001))).toBe('CHALLENGE_EXPIRED');
    expect(b.state).toBe(SessionState.Expired);
    const b2 = Handshake.respond(opts(bob, 'bob', { challengeLifetimeMs: 1000 }), T0);
    b2.receive(Handshake.initiate(opts(alice, 'alice'), T0).send[0]!, T0);
    b2.poll(T0 + 999);
    expect(codeOf(() => b2.poll(T0 + 1000))).toBe('CHALLENGE_EXPIRED');
  });

  it('SESSION_EXPIRED when the whole handshake times out', () => {
    const { handshake: a } = Handshake.initiate(opts(alice, 'alice', { handshakeTimeoutMs: 500 }), T0);
    expect(a.deadline).toBe(T0 + 500);
    expect(codeOf(() => a.poll(T0 + 500))).toBe('SESSION_EXPIRED');
    expect(a.phase).toBe('CLOSED');
  });

  it('CHALLENGE_INVALID when challenge_response is not signed by the initiator', () => {
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    const [m3] = a.receive(b.receive(send[0]!, T0)[0]!, T0);
    m3![10]! ^= 0x40;
    expect(codeOf(() => b.receive(m3!, T0))).toBe('CHALLENGE_INVALID');
  });

  it('HANDSHAKE_IN_PROGRESS (non-fatal) for a second handshake_init on a running handshake', () => {
    const { send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    b.receive(send[0]!, T0);
    const again = Handshake.initiate(opts(alice, 'alice'), T0).send[0]!;
    const [reply] = b.receive(again, T0);
    const msg = decodeHandshakeMessage(reply!);
    expect(msg).toMatchObject({ type: wire.FrameType.HandshakeError, code: 'HANDSHAKE_IN_PROGRESS' });
    expect(b.state).toBe(SessionState.HandshakeAckReceived);
  });

  it('resolves simultaneous open deterministically: the lower key stays initiator', () => {
    const x = Handshake.initiate(opts(alice, 'alice'), T0);
    const y = Handshake.initiate(opts(bob, 'bob'), T0);
    const outOfY = y.handshake.receive(x.send[0]!, T0); // y's replies, bound for x
    const outOfX = x.handshake.receive(y.send[0]!, T0); // x's replies, bound for y
    const aliceWins = Buffer.compare(alice.publicKey, bob.publicKey) < 0;
    const [winner, loser, toLoser, toWinner] = aliceWins
      ? [x.handshake, y.handshake, outOfX, outOfY]
      : [y.handshake, x.handshake, outOfY, outOfX];
    expect(winner.role).toBe('initiator');
    expect(loser.role).toBe('responder');
    expect(decodeHandshakeMessage(toLoser[0]!)).toMatchObject({ code: 'HANDSHAKE_IN_PROGRESS' });
    expect(loser.receive(toLoser[0]!, T0)).toEqual([]); // the loser ignores the notice
    let toW = toWinner;
    while (toW.length > 0) toW = toW.flatMap((m) => winner.receive(m, T0)).flatMap((m) => loser.receive(m, T0));
    expect(winner.state).toBe(SessionState.Ready);
    expect(loser.state).toBe(SessionState.Ready);
    expect(winner.result!.sendKey.equals(loser.result!.recvKey)).toBe(true);
  });

  it('INVALID_STATE for a message out of order, and for anything after a failure', () => {
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    const [m2] = b.receive(send[0]!, T0);
    const [m3] = a.receive(m2!, T0);
    expect(codeOf(() => a.receive(m3!, T0))).toBe('INVALID_STATE'); // our own message reflected
    expect(codeOf(() => a.receive(m2!, T0))).toBe('INVALID_STATE');
  });

  it('DECRYPTION_FAILED when key confirmation does not match', () => {
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const b = Handshake.respond(opts(bob, 'bob'), T0);
    const [m4] = b.receive(a.receive(b.receive(send[0]!, T0)[0]!, T0)[0]!, T0);
    m4![m4!.length - 1]! ^= 1;
    expect(codeOf(() => a.receive(m4!, T0))).toBe('DECRYPTION_FAILED');
  });

  it('MITM: swapping ephemeral keys breaks the signatures; substituting the identity fails a pinned key', () => {
    // Mallory rewrites the initiator's ephemeral key in handshake_init: the responder signs the
    // transcript it saw, so the initiator's check of that signature fails.
    const { handshake: a, send } = Handshake.initiate(opts(alice, 'alice'), T0);
    const forged = Buffer.from(send[0]!);
    const ephOffset = 2 + 1 + forged[2]! + 1 + forged[3 + forged[2]!]! + 32;
    forged.set(x25519.generateKeyPair().publicKey, ephOffset);
    const [ack] = Handshake.respond(opts(bob, 'bob'), T0).receive(forged, T0);
    expect(codeOf(() => a.receive(ack!, T0))).toBe('INVALID_SIGNATURE');
    // Mallory answers as herself claiming to be bob: a pinned key refuses her.
    const pinned = (r: { entityId: string; publicKey: Uint8Array }) => {
      if (r.entityId === 'bob' && !Buffer.from(r.publicKey).equals(bob.publicKey)) throw new PeerError('INVALID_SIGNATURE', 'key does not match the pinned key');
    };
    const { handshake: a2, send: s2 } = Handshake.initiate(opts(alice, 'alice', { verifyRemote: pinned }), T0);
    const [evil] = Handshake.respond(opts(mallory, 'bob'), T0).receive(s2[0]!, T0);
    expect(codeOf(() => a2.receive(evil!, T0))).toBe('INVALID_SIGNATURE');
  });

  it('forward secrecy: both ephemeral secrets are zero once READY', () => {
    const ea = x25519.generateKeyPair();
    const eb = x25519.generateKeyPair();
    complete(opts(alice, 'alice', { fixed: { ephemeral: ea } }), opts(bob, 'bob', { fixed: { ephemeral: eb } }));
    expect(ea.secretKey.every((b) => b === 0)).toBe(true);
    expect(eb.secretKey.every((b) => b === 0)).toBe(true);
  });

  it('rejects malformed handshake bodies with MALFORMED_FRAME and never another error type', () => {
    const { send } = Handshake.initiate(opts(alice, 'alice'), T0);
    for (let cut = 0; cut < send[0]!.length; cut++) {
      const code = codeOf(() => Handshake.respond(opts(bob, 'bob'), T0).receive(send[0]!.subarray(0, cut), T0));
      expect(['MALFORMED_FRAME', 'INVALID_VERSION']).toContain(code);
    }
    expect(codeOf(() => Handshake.respond(opts(bob, 'bob'), T0).receive(Buffer.concat([send[0]!, Buffer.of(0)]), T0))).toBe('MALFORMED_FRAME');
  });
});
