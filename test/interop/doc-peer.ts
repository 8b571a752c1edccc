// An independent peercomm v1.1 peer, written from docs/PROTOCOL.md alone (no import from src/).
// Uses only node:crypto, node:net and node:buffer.
import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey,
  diffieHellman, hkdfSync, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';
import net from 'node:net';
import { Buffer } from 'node:buffer';

export const VERSION = 0x11;
export const T = {
  init: 0x01, initAck: 0x02, challengeResponse: 0x03, established: 0x04, confirm: 0x05, ready: 0x06,
  handshakeError: 0x07, cookieReply: 0x08, cookieEcho: 0x09,
  data: 0x10, chunk: 0x11, error: 0x12, close: 0x13, keyUpdate: 0x14,
} as const;
export const MSG: Record<string, number> = {
  ping: 0x01, heartbeat: 0x02, status: 0x03, task: 0x04, task_delegate: 0x05, task_result: 0x06,
  wake_up: 0x07, capability: 0x08, capability_query: 0x09, capability_response: 0x0a, discovery: 0x0b, message: 0x0c,
};
const ascii = (s: string) => Buffer.from(s, 'ascii');
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const str = (s: string) => { const b = Buffer.from(s, 'utf8'); if (b.length < 1 || b.length > 255) throw new Error('bad string'); return Buffer.concat([Buffer.from([b.length]), b]); };
const sha256 = (...p: Buffer[]) => createHash('sha256').update(Buffer.concat(p)).digest();
const hmac = (k: Buffer, ...p: Buffer[]) => createHmac('sha256', k).update(Buffer.concat(p)).digest();

// ---- keys from raw bytes (DER prefixes) ----
const ED_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const rawPub = (k: KeyObject) => (createPublicKey(k).export({ format: 'der', type: 'spki' }) as Buffer).subarray(12);
export class Identity {
  readonly priv: KeyObject; readonly publicKey: Buffer;
  constructor(readonly seed: Buffer = randomBytes(32)) {
    this.priv = createPrivateKey({ key: Buffer.concat([ED_PKCS8, seed]), format: 'der', type: 'pkcs8' });
    this.publicKey = rawPub(this.priv);
  }
  sign(data: Buffer): Buffer { return sign(null, data, this.priv); }
}
export const edVerify = (pub: Buffer, data: Buffer, sig: Buffer) =>
  verify(null, data, createPublicKey({ key: Buffer.concat([ED_SPKI, pub]), format: 'der', type: 'spki' }), sig);
export class Ephemeral {
  readonly priv: KeyObject; readonly publicKey: Buffer;
  constructor(secret: Buffer = randomBytes(32)) {
    this.priv = createPrivateKey({ key: Buffer.concat([X_PKCS8, secret]), format: 'der', type: 'pkcs8' });
    this.publicKey = rawPub(this.priv);
  }
  shared(peerPub: Buffer): Buffer {
    const s = diffieHellman({ privateKey: this.priv, publicKey: createPublicKey({ key: Buffer.concat([X_SPKI, peerPub]), format: 'der', type: 'spki' }) });
    if (s.every((b) => b === 0)) throw new Error('all-zero shared secret');
    return s;
  }
}

// ---- §5 key schedule ----
export function hkdfExpand(prk: Buffer, info: Buffer, len: number): Buffer {
  const out: Buffer[] = []; let t = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < len; i++) { t = hmac(prk, t, info, Buffer.from([i])); out.push(t); }
  return Buffer.concat(out).subarray(0, len);
}
export interface Keys { shared: Buffer; sessionKey: Buffer; keyI2R: Buffer; ivI2R: Buffer; keyR2I: Buffer; ivR2I: Buffer; confirmKey: Buffer; sessionId: Buffer }
export function deriveKeys(shared: Buffer, handshakeHash: Buffer): Keys {
  const sessionKey = Buffer.from(hkdfSync('sha256', shared, handshakeHash, ascii('peer-v1.1-session-key'), 32));
  const x = (label: string, l: number) => hkdfExpand(sessionKey, ascii('peer-v1.1 ' + label), l);
  return {
    shared, sessionKey,
    keyI2R: x('key initiator->responder', 32), ivI2R: x('iv initiator->responder', 12),
    keyR2I: x('key responder->initiator', 32), ivR2I: x('iv responder->initiator', 12),
    confirmKey: x('key confirmation', 32), sessionId: x('session id', 8),
  };
}

// ---- §4 handshake messages ----
export interface InitFields { versions: number[]; suites: number[]; identity: Buffer; ephemeral: Buffer; timestamp: number; nonce: Buffer; entityId: string }
export function encodeInit(f: InitFields): Buffer {
  return Buffer.concat([Buffer.from([VERSION, T.init, f.versions.length, ...f.versions, f.suites.length, ...f.suites]),
    f.identity, f.ephemeral, u64(f.timestamp), f.nonce, str(f.entityId)]);
}
class Reader {
  o = 0; constructor(readonly b: Buffer) {}
  take(n: number) { if (this.o + n > this.b.length) throw new Error('MALFORMED_FRAME: short'); const r = this.b.subarray(this.o, this.o + n); this.o += n; return r; }
  u8() { return this.take(1)[0]!; } u16() { return this.take(2).readUInt16BE(); } u32() { return this.take(4).readUInt32BE(); }
  u64() { return Number(this.take(8).readBigUInt64BE()); }
  str() { return this.take(this.u8()).toString('utf8'); }
  end() { if (this.o !== this.b.length) throw new Error('MALFORMED_FRAME: trailing bytes'); }
}
function head(b: Buffer, type: number): Reader {
  const r = new Reader(b);
  if (r.u8() !== VERSION) throw new Error('INVALID_VERSION');
  const t = r.u8(); if (t === T.handshakeError) throw new Error('handshake_error ' + JSON.stringify(decodeHandshakeError(b)));
  if (t !== type) throw new Error(`INVALID_STATE: expected type ${type}, got ${t}`);
  return r;
}
export function decodeInit(b: Buffer): InitFields {
  const r = head(b, T.init);
  const versions = [...r.take(r.u8())], suites = [...r.take(r.u8())];
  const f = { versions, suites, identity: r.take(32), ephemeral: r.take(32), timestamp: r.u64(), nonce: r.take(16), entityId: r.str() };
  r.end(); return f;
}
export interface AckFields { version: number; suite: number; identity: Buffer; ephemeral: Buffer; challenge: Buffer; entityId: string; sig: Buffer }
const ACK_LABEL = ascii('peer-v1.1 handshake_init_ack signature');
export function encodeInitAck(f: Omit<AckFields, 'sig'>, init: Buffer, id: Identity): Buffer {
  const unsigned = Buffer.concat([Buffer.from([VERSION, T.initAck, f.version, f.suite]), f.identity, f.ephemeral, f.challenge, str(f.entityId)]);
  return Buffer.concat([unsigned, id.sign(Buffer.concat([ACK_LABEL, sha256(init), unsigned]))]);
}
export function decodeInitAck(b: Buffer, init: Buffer): AckFields {
  const r = head(b, T.initAck);
  const f = { version: r.u8(), suite: r.u8(), identity: r.take(32), ephemeral: r.take(32), challenge: r.take(32), entityId: r.str(), sig: r.take(64) };
  r.end();
  if (!edVerify(f.identity, Buffer.concat([ACK_LABEL, sha256(init), b.subarray(0, b.length - 64)]), f.sig)) throw new Error('INVALID_SIGNATURE');
  return f;
}
const CR_LABEL = ascii('peer-v1.1 challenge_response signature');
export const encodeChallengeResponse = (id: Identity, hh: Buffer) => Buffer.concat([Buffer.from([VERSION, T.challengeResponse]), id.sign(Buffer.concat([CR_LABEL, hh]))]);
export function checkChallengeResponse(b: Buffer, pub: Buffer, hh: Buffer) {
  const r = head(b, T.challengeResponse); const sig = r.take(64); r.end();
  if (!edVerify(pub, Buffer.concat([CR_LABEL, hh]), sig)) throw new Error('CHALLENGE_INVALID');
}
const CONFIRM_LABEL: Record<number, string> = { [T.established]: 'session_established', [T.confirm]: 'session_confirm', [T.ready]: 'ready' };
export const encodeConfirm = (type: number, k: Keys) =>
  Buffer.concat([Buffer.from([VERSION, type]), k.sessionId, hmac(k.confirmKey, ascii('peer-v1.1 ' + CONFIRM_LABEL[type]), k.sessionId)]);
export function checkConfirm(b: Buffer, type: number, k: Keys) {
  head(b, type);
  if (!encodeConfirm(type, k).equals(b)) throw new Error('DECRYPTION_FAILED: confirmation mismatch');
}
export function decodeHandshakeError(b: Buffer) { const r = new Reader(b); r.take(2); const code = r.str(); const reason = r.take(r.u16()).toString('utf8'); r.end(); return { code, reason }; }
export const encodeHandshakeError = (code: string, reason: string) => Buffer.concat([Buffer.from([VERSION, T.handshakeError]), str(code), u16(Buffer.byteLength(reason)), Buffer.from(reason)]);

// ---- §1 framing over a socket ----
export const frame = (body: Buffer) => Buffer.concat([u32(body.length), body]);
export class Conn {
  private buf = Buffer.alloc(0); private q: Buffer[] = []; private waiters: ((b: Buffer | null) => void)[] = []; ended = false;
  readonly transcript: { dir: 'out' | 'in'; body: Buffer }[] = [];
  constructor(readonly socket: net.Socket, readonly maxBody = 16 << 20) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 4) {
        const len = this.buf.readUInt32BE(0);
        if (len === 0 || len > this.maxBody) { socket.destroy(); return this.finish(); }
        if (this.buf.length < 4 + len) break;
        this.push(Buffer.from(this.buf.subarray(4, 4 + len))); this.buf = this.buf.subarray(4 + len);
      }
    });
    socket.on('close', () => this.finish()); socket.on('error', () => this.finish());
  }
  private push(b: Buffer) { this.transcript.push({ dir: 'in', body: b }); const w = this.waiters.shift(); if (w) w(b); else this.q.push(b); }
  private finish() { this.ended = true; for (const w of this.waiters.splice(0)) w(null); }
  static connect(host: string, port: number) {
    return new Promise<Conn>((res, rej) => { const s = net.connect(port, host, () => res(new Conn(s))); s.once('error', rej); });
  }
  send(body: Buffer) { this.transcript.push({ dir: 'out', body }); this.socket.write(frame(body)); }
  /** Several frames in one write (§4 "Pipelining"). */
  sendAll(bodies: Buffer[]) { for (const body of bodies) this.transcript.push({ dir: 'out', body }); this.socket.write(Buffer.concat(bodies.map(frame))); }
  /** Next frame body, or null once the connection has ended. */
  recv(timeoutMs = 10_000): Promise<Buffer | null> {
    const b = this.q.shift(); if (b) return Promise.resolve(b);
    if (this.ended) return Promise.resolve(null);
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); rej(new Error('recv timeout')); }, timeoutMs);
      const w = (x: Buffer | null) => { clearTimeout(t); res(x); }; this.waiters.push(w);
    });
  }
  async mustRecv(timeoutMs?: number) { const b = await this.recv(timeoutMs); if (!b) throw new Error('connection closed'); return b; }
  close() { this.socket.end(); }
}

// ---- §2/§6 records ----
export interface Message { type: number; payload: Buffer; seq?: number }
export interface Record_ { type: number; firstSeq: number; count: number; plaintext: Buffer; messages?: Message[]; error?: ErrorInfo }
export interface ErrorInfo { code: string; reason: string; flags: number; seq?: number; messageId?: number; retryAfter?: number; rateClass?: string }
export const recordHeader = (type: number, sessionId: Buffer, firstSeq: number, count: number) =>
  Buffer.concat([Buffer.from([VERSION, type, 0, 0]), sessionId, u64(firstSeq), u32(count)]);
export function nonceFor(iv: Buffer, seq: number) { const n = Buffer.from(iv); const s = u64(seq); for (let i = 0; i < 8; i++) n[4 + i]! ^= s[i]!; return n; }
export function seal(key: Buffer, iv: Buffer, header: Buffer, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonceFor(iv, Number(header.readBigUInt64BE(12))), { authTagLength: 16 });
  c.setAAD(header);
  return Buffer.concat([header, c.update(plaintext), c.final(), c.getAuthTag()]);
}
export const encodeMessages = (ms: Message[]) => Buffer.concat(ms.flatMap((m) => [Buffer.from([m.type]), u32(m.payload.length), m.payload]));
export function decodeMessages(p: Buffer, count: number): Message[] {
  const r = new Reader(p); const out: Message[] = [];
  while (r.o < p.length) { const type = r.u8(); out.push({ type, payload: Buffer.from(r.take(r.u32())) }); }
  if (out.length !== count) throw new Error('MALFORMED_FRAME: count');
  return out;
}
export function encodeErrorPlain(e: ErrorInfo): Buffer {
  const parts = [str(e.code), u16(Buffer.byteLength(e.reason)), Buffer.from(e.reason), Buffer.from([e.flags])];
  if (e.flags & 1) parts.push(u64(e.seq ?? 0)); if (e.flags & 2) parts.push(u64(e.messageId ?? 0));
  if (e.flags & 4) parts.push(u64(e.retryAfter ?? 0)); if (e.flags & 0x10) parts.push(str(e.rateClass ?? ''));
  return Buffer.concat(parts);
}
export function decodeErrorPlain(p: Buffer): ErrorInfo {
  const r = new Reader(p); const e: ErrorInfo = { code: r.str(), reason: r.take(r.u16()).toString('utf8'), flags: r.u8() };
  if (e.flags & ~0x1f) throw new Error('MALFORMED_FRAME: error flags');
  if (e.flags & 1) e.seq = r.u64(); if (e.flags & 2) e.messageId = r.u64();
  if (e.flags & 4) e.retryAfter = r.u64(); if (e.flags & 0x10) e.rateClass = r.str();
  r.end(); return e;
}
const nextKey = (k: Buffer) => ({ key: hkdfExpand(k, ascii('peer-v1.1 key update key'), 32), iv: hkdfExpand(k, ascii('peer-v1.1 key update iv'), 12) });

export class DocSession {
  sendSeq = 0; recvSeq = 0; keyUpdatesReceived = 0; closed = false;
  private sk: Buffer; private siv: Buffer; private rk: Buffer; private riv: Buffer;
  constructor(readonly conn: Conn, readonly role: 'initiator' | 'responder', readonly keys: Keys, readonly remote: { entityId: string; publicKey: Buffer }) {
    const i = role === 'initiator';
    this.sk = i ? keys.keyI2R : keys.keyR2I; this.siv = i ? keys.ivI2R : keys.ivR2I;
    this.rk = i ? keys.keyR2I : keys.keyI2R; this.riv = i ? keys.ivR2I : keys.ivI2R;
  }
  /** Seals one record (advancing the send sequence by `count`) without sending it. */
  sealRecord(type: number, count: number, plaintext: Buffer): Buffer {
    const body = seal(this.sk, this.siv, recordHeader(type, this.keys.sessionId, this.sendSeq, count), plaintext);
    this.sendSeq += count; return body;
  }
  sendMessages(ms: Message[]) { this.conn.send(this.sealRecord(T.data, ms.length, encodeMessages(ms))); }
  /** A close record, then (unless `keepOpen`) our FIN: peercomm waits for the closer to end the TCP connection. */
  sendClose(keepOpen = false) { this.conn.send(this.sealRecord(T.close, 1, Buffer.alloc(0))); if (!keepOpen) this.conn.close(); }
  sendError(e: ErrorInfo) { this.conn.send(this.sealRecord(T.error, 1, encodeErrorPlain(e))); }
  sendKeyUpdate() { this.conn.send(this.sealRecord(T.keyUpdate, 1, Buffer.alloc(0))); const n = nextKey(this.sk); this.sk = n.key; this.siv = n.iv; }
  open(body: Buffer): Record_ {
    // §4/§6 say handshake_error is only for "before keys exist", but peercomm also ends a READY
    // session with a plaintext handshake_error (see independent-peer.test.ts, test 4): report it.
    if (body[0] === VERSION && body[1] === T.handshakeError) {
      const e = decodeHandshakeError(body); this.closed = true;
      return { type: T.handshakeError, firstSeq: -1, count: 0, plaintext: Buffer.alloc(0), error: { ...e, flags: 0 } };
    }
    const r = new Reader(body);
    if (r.u8() !== VERSION) throw new Error('INVALID_VERSION');
    const type = r.u8(), flags = r.u8(), reserved = r.u8();
    if (type < T.data || type > T.keyUpdate) throw new Error('MALFORMED_FRAME: type ' + type);
    if (reserved !== 0 || flags !== (type === T.chunk ? 1 : 0)) throw new Error('MALFORMED_FRAME: flags');
    if (type === T.chunk) throw new Error('chunk records are not implemented by this peer');
    const sid = r.take(8), firstSeq = r.u64(), count = r.u32();
    if (!sid.equals(this.keys.sessionId)) throw new Error('SESSION_NOT_FOUND');
    if (firstSeq !== this.recvSeq) throw new Error(`SEQUENCE_ERROR: got ${firstSeq}, expected ${this.recvSeq}`);
    if (count < 1 || (type !== T.data && count !== 1)) throw new Error('MALFORMED_FRAME: count');
    if (body.length < 24 + 16) throw new Error('MALFORMED_FRAME: short');
    const d = createDecipheriv('aes-256-gcm', this.rk, nonceFor(this.riv, firstSeq), { authTagLength: 16 });
    d.setAAD(body.subarray(0, 24)); d.setAuthTag(body.subarray(body.length - 16));
    let plaintext: Buffer;
    try { plaintext = Buffer.concat([d.update(body.subarray(24, body.length - 16)), d.final()]); } catch { throw new Error('DECRYPTION_FAILED'); }
    this.recvSeq += count;
    const rec: Record_ = { type, firstSeq, count, plaintext };
    if (type === T.data) {
      const base = firstSeq - this.keyUpdatesReceived;
      rec.messages = decodeMessages(plaintext, count).map((m, i) => ({ ...m, seq: base + i }));
    } else if (type === T.error) rec.error = decodeErrorPlain(plaintext);
    else if (type === T.keyUpdate) { const n = nextKey(this.rk); this.rk = n.key; this.riv = n.iv; this.keyUpdatesReceived++; }
    else if (type === T.close) this.closed = true;
    return rec;
  }
  /** Next record from the peer, or null when the connection ended. */
  async recvRecord(timeoutMs?: number): Promise<Record_ | null> { const b = await this.conn.recv(timeoutMs); return b && this.open(b); }
}

// ---- handshake drivers ----
export interface HandshakeOpts {
  identity?: Identity; entityId: string; ephemeralSecret?: Buffer; nonce?: Buffer; timestamp?: number; challenge?: Buffer;
  versions?: number[]; suites?: number[]; now?: () => number; onKeys?: (k: Keys, hh: Buffer) => void;
  /** Initiator: send session_confirm in the same write as challenge_response (§4 "Pipelining"). */
  pipeline?: boolean;
}
export async function initiate(conn: Conn, o: HandshakeOpts): Promise<DocSession> {
  const id = o.identity ?? new Identity(), eph = new Ephemeral(o.ephemeralSecret);
  const versions = o.versions ?? [VERSION], suites = o.suites ?? [0x01];
  const init = encodeInit({ versions, suites, identity: id.publicKey, ephemeral: eph.publicKey,
    timestamp: o.timestamp ?? Date.now(), nonce: o.nonce ?? randomBytes(16), entityId: o.entityId });
  conn.send(init);
  let ackBody = await conn.mustRecv();
  for (let cookies = 0; ackBody[1] === T.cookieReply; cookies++) {
    if (cookies >= 2) throw new Error('INVALID_STATE: too many cookie_replies');
    conn.send(Buffer.concat([Buffer.from([VERSION, T.cookieEcho]), head(ackBody, T.cookieReply).take(32)])); conn.send(init);
    ackBody = await conn.mustRecv();
  }
  const ack = decodeInitAck(ackBody, init);
  if (!versions.includes(ack.version) || !suites.includes(ack.suite)) throw new Error('INVALID_VERSION');
  if (ack.suite !== 0x01) throw new Error('this peer only implements aes-256-gcm');
  const hh = sha256(init, ackBody), keys = deriveKeys(eph.shared(ack.ephemeral), hh);
  o.onKeys?.(keys, hh);
  if (o.pipeline) {
    conn.sendAll([encodeChallengeResponse(id, hh), encodeConfirm(T.confirm, keys)]);
    checkConfirm(await conn.mustRecv(), T.established, keys);
  } else {
    conn.send(encodeChallengeResponse(id, hh));
    checkConfirm(await conn.mustRecv(), T.established, keys);
    conn.send(encodeConfirm(T.confirm, keys));
  }
  checkConfirm(await conn.mustRecv(), T.ready, keys);
  return new DocSession(conn, 'initiator', keys, { entityId: ack.entityId, publicKey: ack.identity });
}
export async function respond(conn: Conn, o: HandshakeOpts): Promise<DocSession> {
  const id = o.identity ?? new Identity(), eph = new Ephemeral(o.ephemeralSecret);
  const versions = o.versions ?? [VERSION], suites = o.suites ?? [0x01];
  const fail = (code: string, why: string): never => { conn.send(encodeHandshakeError(code, why)); conn.close(); throw new Error(code + ': ' + why); };
  const initBody = await conn.mustRecv();
  const init = decodeInit(initBody);
  const version = versions.find((v) => init.versions.includes(v)), suite = suites.find((s) => init.suites.includes(s));
  if (version === undefined || suite === undefined) fail('INVALID_VERSION', 'no common version or suite');
  if (Math.abs((o.now ?? Date.now)() - init.timestamp) > 60_000) fail('REPLAY_DETECTED', 'stale timestamp');
  const ackBody = encodeInitAck({ version: version!, suite: suite!, identity: id.publicKey, ephemeral: eph.publicKey,
    challenge: o.challenge ?? randomBytes(32), entityId: o.entityId }, initBody, id);
  conn.send(ackBody);
  const hh = sha256(initBody, ackBody);
  const cr = await conn.mustRecv();
  try { checkChallengeResponse(cr, init.identity, hh); } catch (e) { fail('CHALLENGE_INVALID', String(e)); }
  const keys = deriveKeys(eph.shared(init.ephemeral), hh);
  o.onKeys?.(keys, hh);
  conn.send(encodeConfirm(T.established, keys));
  checkConfirm(await conn.mustRecv(), T.confirm, keys);
  conn.send(encodeConfirm(T.ready, keys));
  return new DocSession(conn, 'responder', keys, { entityId: init.entityId, publicKey: init.identity });
}
