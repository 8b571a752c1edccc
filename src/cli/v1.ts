/**
 * `peercomm v1 …`: v1.0 compatibility from the command line.
 *
 *   peercomm v1 verify <file> --key <hex>
 *   peercomm v1 send <url> <msg_type> <json-payload> [--key FILE] [--id NAME] [--to NAME] [--listen [HOST:]PORT]
 *   peercomm v1 serve [--port N] [--host H] [--key FILE] [--id NAME] [--pin NAME=HEX]… [--peer NAME=URL]… [--accept-unknown]
 *
 * Errors are PeerErrors (usage errors INVALID_ARGUMENT); the caller prints them and sets the exit code.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { V1Client, V1Endpoint, canonicalJson, parseJson, sign, verify, type JsonObject, type V1Message, type V1Rejection, type V1Session } from '../compat/v1/index.js';
import { Identity } from '../crypto/index.js';
import { ErrorCode, PeerError } from '../errors.js';
import { TrustStore } from '../peer/trust.js';

export const V1_USAGE = `usage: peercomm v1 <command> [options]   (v1.0 compatibility: signed, NOT encrypted)

  verify <file> --key <hex>              check a v1.0 envelope (HTTP body) and its signature
  send <url> <msg_type> <json-payload> [--key FILE] [--id NAME] [--to NAME] [--listen [HOST:]PORT]
                                         sign and POST one v1.0 message to <url>/message;
                                         with --listen, run the v1.0 handshake first (answered
                                         at this endpoint: the server's --peer NAME=URL)
  serve [--port N] [--host H] [--key FILE] [--id NAME] [--pin NAME=HEX]... [--peer NAME=URL]...
        [--accept-unknown]               a v1.0 endpoint: POST /message, GET /public-key, /health

--key defaults to a fresh identity for send and serve; --id to "peercomm"; --to to the entity_id
the peer's GET /public-key reports. serve accepts only --pin'ned senders unless --accept-unknown
(then unpinned senders must complete the v1.0 handshake first: v1 send --listen); --peer tells it
where to answer.`;

const MAX_FILE_BYTES = 1 << 20;
const HELP_WORDS: ReadonlySet<string> = new Set(['help', '--help', '-h']);

function usage(message: string): PeerError {
  return new PeerError(ErrorCode.INVALID_ARGUMENT, `${message}\n${V1_USAGE}`);
}

/** NAME=VALUE pairs of a repeated option. */
function pairs(values: string[] | undefined, what: string): [string, string][] {
  return (values ?? []).map((v) => {
    const i = v.indexOf('=');
    if (i <= 0 || i === v.length - 1) throw usage(`--${what} takes NAME=VALUE, got ${v}`);
    return [v.slice(0, i), v.slice(i + 1)];
  });
}

async function identityFrom(file: string | undefined, log: (line: string) => void): Promise<Identity> {
  if (file !== undefined) return Identity.load(file);
  const id = Identity.generate();
  log(`using a new identity: public key ${id.publicKey.toString('hex')}`);
  return id;
}

export async function runV1(args: string[], log: (line: string) => void, options: { signal?: AbortSignal } = {}): Promise<void> {
  const [command, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        key: { type: 'string' }, id: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, listen: { type: 'string' },
        pin: { type: 'string', multiple: true }, peer: { type: 'string', multiple: true }, 'accept-unknown': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || HELP_WORDS.has(command ?? '')) return log(V1_USAGE);
  switch (command) {
    case 'verify': {
      const [file] = positionals;
      if (file === undefined || positionals.length !== 1 || values.key === undefined) throw usage('verify takes <file> --key <hex>');
      const unreadable = (err: NodeJS.ErrnoException): never => {
        throw usage(`cannot read ${file}: ${err.code ?? err.message}`);
      };
      const size = (await stat(file).catch(unreadable)).size;
      if (size > MAX_FILE_BYTES) throw new PeerError(ErrorCode.FRAME_TOO_LARGE, `${file} is larger than ${MAX_FILE_BYTES} bytes`);
      const env = verify(await readFile(file).catch(unreadable), values.key);
      log(`valid v1.0 envelope (version ${env.version}): ${env.msgType} from ${env.senderId} to ${env.recipientId}`);
      log(`timestamp ${env.timestamp}  nonce ${env.nonce}  session ${env.sessionId ?? '-'}  seq ${env.sequenceNum ?? '-'}`);
      log(`payload ${canonicalJson(env.payload)}`);
      log('(recipient, session and seq are not signed)');
      return;
    }
    case 'send': {
      const [url, msgType, payloadText] = positionals;
      if (url === undefined || msgType === undefined || payloadText === undefined || positionals.length !== 3) throw usage('send takes <url> <msg_type> <json-payload>');
      let payload: JsonObject;
      try {
        const p = parseJson(payloadText); // lossless: 1.0 and big integers are sent as written
        if (!(p instanceof Map)) throw new Error('not an object');
        payload = p;
      } catch {
        throw usage('<json-payload> must be a JSON object');
      }
      const listen = values.listen === undefined ? null : hostPort(values.listen);
      const identity = await identityFrom(values.key, log);
      if (listen !== null) return sendInSession(url, msgType, payload, identity, values.id ?? 'peercomm', values.to, listen, log);
      const client = new V1Client();
      const to = values.to ?? (await client.publicKey(url).then((k) => k.entityId, () => ''));
      const body = sign({ msgType, senderId: values.id ?? 'peercomm', recipientId: to, payload }, identity);
      const res = await client.post(url, body);
      log(`${res.status} ${JSON.stringify(res.body)} (attempt ${res.attempts}; v1.0: signed, not encrypted)`);
      return;
    }
    case 'serve': {
      if (positionals.length !== 0) throw usage('serve takes no arguments');
      const port = portNumber(values.port ?? '8000', '--port');
      const identity = await identityFrom(values.key, log);
      const trust = new TrustStore(pairs(values.pin, 'pin'), values['accept-unknown'] === true);
      const endpoint = new V1Endpoint({ identity, entityId: values.id ?? 'peercomm', trust, peers: pairs(values.peer, 'peer'), log });
      endpoint.on('message', (m: V1Message) => log(`[v1.0 ${m.from} ${m.type}${m.seq === null ? '' : ` #${m.seq}`}] ${canonicalJson(m.envelope.payload)}`));
      endpoint.on('session', (s: V1Session) => log(`v1.0 session ${s.id} with ${s.peerId} (key ${s.publicKey.toString('hex')})`));
      endpoint.on('rejected', (r: V1Rejection) => log(`rejected ${r.code} from ${r.remoteAddress}: ${r.message}`));
      const addr = await endpoint.listen({ host: values.host ?? '127.0.0.1', port });
      log(`${endpoint.entityId} serving v1.0 on ${endpoint.url} (port ${addr.port}), public key ${identity.publicKey.toString('hex')}`);
      const stop = (): void => void endpoint.close();
      if (options.signal) options.signal.addEventListener('abort', stop, { once: true });
      else {
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }
      return;
    }
    default:
      throw usage(command === undefined ? 'missing command' : `unknown command: ${command}`);
  }
}

function portNumber(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw usage(`${what} must be 0..65535`);
  return port;
}

/** `--listen PORT` or `HOST:PORT` (host default 127.0.0.1). */
function hostPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return i < 0 ? { host: '127.0.0.1', port: portNumber(text, '--listen') } : { host: text.slice(0, i) || '127.0.0.1', port: portNumber(text.slice(i + 1), '--listen') };
}

/**
 * `v1 send --listen`: the v1.0 handshake with the server at `url` (its key pinned to what its
 * GET /public-key serves; its acks arrive at our endpoint on `listen`), then the message in
 * that session, then the endpoint closes.
 */
async function sendInSession(
  url: string, msgType: string, payload: JsonObject, identity: Identity, entityId: string, toName: string | undefined,
  listen: { host: string; port: number }, log: (line: string) => void,
): Promise<void> {
  const served = await new V1Client().publicKey(url);
  const to = toName ?? served.entityId;
  const trust = new TrustStore([[to, served.publicKey]], false);
  const endpoint = new V1Endpoint({ identity, entityId, trust, peers: [[to, url]], handshakeTimeoutMs: 10_000, log: () => undefined });
  try {
    await endpoint.listen(listen);
    const session = await endpoint.handshake(to);
    log(`v1.0 session ${session.id} with ${to} (key ${served.publicKey.toString('hex')})`);
    const res = await endpoint.send(to, msgType, payload);
    log(`${res.status} ${JSON.stringify(res.body)} (attempt ${res.attempts}; v1.0: signed, not encrypted)`);
  } finally {
    await endpoint.close();
  }
}
