#!/usr/bin/env node
/**
 * The `peercomm` command: keygen, listen, send, demo. Exit codes: 0 success, 1 a PeerError
 * (its code is printed), 2 a usage error.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Identity } from '../crypto/index.js';
import { PeerError } from '../errors.js';
import { Peer, type Message } from '../peer/index.js';
import { PinnedKey, UsageError, address, messageType, pin, port, positive, target } from './args.js';
import { runDemo } from './demo.js';
import { runV1 } from './v1.js';
import { runRelay } from './relay.js';
import { runQueue } from './queue.js';

const USAGE = `usage: peercomm <command> [options]      (peercomm <command> --help for one command)

  keygen [--out FILE] [--force]          create an Ed25519 identity key file (mode 0600)
  listen [--port N] [--host H] [--key FILE] [--id NAME]
                                         accept sessions and print every message
  send <host:port|entity-id> <text|@file> [--type T] [--key FILE] [--id NAME] [--pin HEX]
       [--timeout MS] [--bootstrap H:P]  send one message (acknowledged by the remote) and close
  node [--port N] [--host H] [--dht-port N] [--bootstrap H:P]... [--cap NAME]... [--key FILE] [--id NAME]
                                         a long-lived node: sessions on TCP, the DHT on UDP
  discover <capability> --bootstrap H:P  the agents offering a capability (DHT)
  lookup <entity-id> --bootstrap H:P     an agent's signed record (DHT; a human name needs --pin KEY)
  demo [--peers N] [--seconds S]         a local network of peers: handshakes, messages, throughput
  v1 verify|send|serve …                 v1.0 compatibility (signed, not encrypted): peercomm v1 --help
  relay [--port N] [--host H] [--key FILE] …  run a relay for agents nobody can reach: peercomm relay --help
  queue list|inspect|retry|purge …       the offline queue's outbox, dead letters: peercomm queue --help
  help, --help, -h | --version

options: --key defaults to ./peercomm.key (created by keygen); --pin refuses the remote unless
its Ed25519 public key, or its fingerprint, is HEX (64 hex chars; \`listen\` prints both).
exit codes: 0 success, 1 a PeerError (its code is printed) or a failed operation (port in use,
unwritable file), 2 a usage error (bad arguments, unreadable input file).`;

const HELP: Record<string, string> = {
  keygen: 'usage: peercomm keygen [--out FILE] [--force]\n  writes a new Ed25519 identity (mode 0600; default ./peercomm.key) and prints its public key and fingerprint',
  listen: 'usage: peercomm listen [--port N (default 7400)] [--host H (default 127.0.0.1)] [--key FILE] [--id NAME]\n  accepts sessions, prints its public key and fingerprint, then every message',
  send: 'usage: peercomm send <host:port|entity-id> <text|@file> [--type T] [--pin HEX] [--timeout MS] [--bootstrap H:P] [--key FILE] [--id NAME]\n  T: a type name (task, status, …) or 128-255 / 0x80-0xff; HEX: the remote\'s public key or fingerprint;\n  MS: give up after this long (default 10000); --bootstrap: a DHT node, to reach an entity id',
  node: 'usage: peercomm node [--port N] [--host H] [--dht-port N] [--bootstrap H:P]... [--cap NAME]... [--key FILE] [--id NAME]',
  discover: 'usage: peercomm discover <capability> --bootstrap H:P',
  lookup: 'usage: peercomm lookup <entity-id> --bootstrap H:P [--pin KEY]',
  demo: 'usage: peercomm demo [--peers N (2-64)] [--seconds S]',
};

/** Positional arguments each command takes (more is a usage error). */
const POSITIONALS: Record<string, number> = { keygen: 0, listen: 0, send: 2, node: 0, discover: 1, lookup: 1, demo: 0 };

function usage(message: string): never {
  throw new UsageError(message);
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function identityFrom(file: string | undefined): Promise<Identity> {
  const path = file ?? 'peercomm.key';
  try {
    await stat(path);
  } catch {
    if (file) throw new PeerError('INVALID_KEY', `no key file at ${path}`);
    return Identity.generate();
  }
  return Identity.load(path);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  if (command === undefined) usage('a command is needed');
  if (command === 'help' || command === '--help' || command === '-h') return log(USAGE);
  if (command === '--version' || command === 'version' || command === '-v') return log(await version());
  if (command === 'v1') {
    try {
      await runV1(rest, log);
    } catch (err) {
      // runV1 reports usage errors as INVALID_ARGUMENT with the usage text.
      if (err instanceof PeerError && err.code === 'INVALID_ARGUMENT') usage(err.message.split('\n')[0]!);
      throw err;
    }
    return;
  }
  if (command === 'relay') return void (await runRelay(rest, log));
  if (command === 'queue') return runQueue(rest, log);
  if (!Object.hasOwn(POSITIONALS, command)) usage(`unknown command ${JSON.stringify(command)}`);
  let parsed;
  try {
    parsed = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' }, timeout: { type: 'string' },
      out: { type: 'string' }, force: { type: 'boolean' }, port: { type: 'string' }, host: { type: 'string' },
      key: { type: 'string' }, id: { type: 'string' }, type: { type: 'string' }, pin: { type: 'string' },
      peers: { type: 'string' }, seconds: { type: 'string' },
      'dht-port': { type: 'string' }, bootstrap: { type: 'string', multiple: true }, cap: { type: 'string', multiple: true },
    },
    });
  } catch (err) {
    usage((err as Error).message.split('\n')[0]!);
  }
  const { values, positionals } = parsed;
  if (values.help) return log(HELP[command]!);
  values.bootstrap?.forEach((b) => address(b, '--bootstrap'));
  if (positionals.length > POSITIONALS[command]!) usage(`${command}: unexpected argument ${JSON.stringify(positionals[POSITIONALS[command]!])}`);
  switch (command) {
    case 'keygen': {
      const out = values.out ?? 'peercomm.key';
      if (!values.force) {
        const exists = await stat(out).then(() => true, () => false);
        if (exists) usage(`${out} exists; pass --force to replace it`);
      }
      const id = Identity.generate();
      await id.save(out);
      log(`wrote ${out} (mode 0600)\npublic key  ${id.publicKey.toString('hex')}\nfingerprint ${id.fingerprint}`);
      return;
    }
    case 'listen': {
      const listenPort = port(values.port, 7400);
      const peer = await Peer.create({ identity: await identityFrom(values.key), entityId: values.id });
      const addr = await peer.listen({ port: listenPort, host: values.host ?? '127.0.0.1' }).catch(async (err: unknown) => {
        await peer.close();
        throw err;
      });
      log(`${peer.entityId} listening on ${addr.host}:${addr.port}\npublic key  ${peer.identity.publicKey.toString('hex')}\nfingerprint ${peer.identity.fingerprint}`);
      peer.on('session', (s) => log(`session ${s.id} from ${s.remote!.entityId} (fingerprint ${s.fingerprint})`));
      peer.on('message', (m: Message) => log(`[${m.from} #${m.seq} ${String(m.type)}] ${text(m)}`));
      peer.on('sessionError', (err: PeerError) => log(`session error ${err.code}: ${err.message}`));
      const stop = (): void => void peer.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    case 'send': {
      const [address, body] = positionals;
      if (!address || body === undefined) usage('send needs <host:port|entity-id> and <text|@file>');
      const to = target(address);
      const type = messageType(values.type);
      const pinned = values.pin === undefined ? null : pin(values.pin);
      const timeout = positive(values.timeout, 10_000, '--timeout', 3_600_000);
      const payload = body.startsWith('@')
        ? await readFile(body.slice(1)).catch((err: NodeJS.ErrnoException) => usage(`cannot read ${body.slice(1)}: ${err.code ?? err.message}`))
        : Buffer.from(body, 'utf8');
      const peer = await Peer.create({
        identity: await identityFrom(values.key), entityId: values.id,
        // The API's trust: an impostor is refused at handshake step 2, before any session key.
        trust: pinned === null ? [] : new PinnedKey(pinned),
        ...(values.bootstrap ? { bootstrap: values.bootstrap, dht: { host: values.host ?? '127.0.0.1', config: { readOnly: true } } } : {}),
      });
      let timer: NodeJS.Timeout | undefined;
      try {
        const started = Date.now();
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PeerError('TIMEOUT', `no answer from ${to} within ${timeout} ms (--timeout)`)), timeout);
        });
        const session = await Promise.race([peer.connect(to), deadline]);
        const seq = await Promise.race([session.send(payload, { type, ack: true }), deadline]);
        await session.close();
        log(`sent ${payload.length} B to ${session.remote!.entityId} (fingerprint ${session.fingerprint}) as #${seq}, acknowledged in ${Date.now() - started} ms`);
      } finally {
        clearTimeout(timer);
        await peer.close();
      }
      return;
    }
    case 'node': {
      const peer = await Peer.create({
        identity: await identityFrom(values.key), entityId: values.id, capabilities: values.cap ?? [],
        bootstrap: values.bootstrap ?? [], dht: { host: values.host ?? '127.0.0.1', port: port(values['dht-port'], 0, '--dht-port') },
      });
      const addr = await peer.listen({ port: port(values.port, 0), host: values.host ?? '127.0.0.1' });
      log(`${peer.entityId} sessions on ${addr.host}:${addr.port} (TCP), DHT on ${peer.dht!.address} (UDP)\nfingerprint ${peer.identity.fingerprint}\ncapabilities ${(values.cap ?? []).join(', ') || '(none)'}`);
      peer.on('message', (m: Message) => log(`[${m.from} #${m.seq} ${String(m.type)}] ${text(m)}`));
      const stop = (): void => void peer.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    case 'discover':
    case 'lookup': {
      const [what] = positionals;
      if (!what) usage(`${command} needs a ${command === 'discover' ? 'capability' : 'entity id'}`);
      if (!values.bootstrap?.length) usage(`${command} needs --bootstrap host:port (a DHT node)`);
      // A human name resolves only to the key given with --pin (self-certifying agent-<fingerprint> ids need none).
      const trust: [string, string][] = command === 'lookup' && values.pin ? [[what, pin(values.pin)]] : [];
      const peer = await Peer.create({ entityId: values.id ?? 'peercomm-cli', trust, bootstrap: values.bootstrap, dht: { host: values.host ?? '127.0.0.1', config: { readOnly: true } } });
      try {
        const records = command === 'discover' ? await peer.discover(what) : [await peer.lookup(what)];
        if (records.length === 0) log(`no agent offers ${what}`);
        for (const r of records) {
          log(`${r.entityId} ${r.addresses.join(' ') || '(no address)'} key ${Buffer.from(r.publicKey).toString('hex')} capabilities ${r.capabilities.join(', ')} binding ${r.binding}`);
        }
      } finally {
        await peer.close();
      }
      return;
    }
    case 'demo':
      await runDemo({ peers: positive(values.peers, 4, '--peers', 64), seconds: positive(values.seconds, 1, '--seconds', 600), log });
      return;
  }
}

/** A message as one line of text: v1.1 payload bytes as UTF-8, a v1.0 payload as JSON (bigints as digits). */
function text(m: Message): string {
  if (m.version === '1.1') return Buffer.from(m.payload).toString('utf8');
  return JSON.stringify(m.payload, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The one line an error prints, with a hint where the cause is a common mistake. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const first = err.message.split('\n')[0]!.replace(/[\p{Cc}]/gu, '?');
  if (err instanceof PeerError && err.code === 'FRAME_TOO_LARGE' && /\b(1213486160|1195725856|1347375956)\b/.test(first)) {
    return `${first} (the remote answered in HTTP: not a peercomm v1.1 listener; a v1.0 endpoint is reached with \`peercomm v1 send\`)`;
  }
  return first;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`peercomm: ${err.message} (see peercomm --help)\n`);
    process.exit(2);
  }
  // A PeerError (its code leads the message) or a failed operation (port in use, unwritable file): one line.
  process.stderr.write(`peercomm: ${describe(err)}\n`);
  process.exit(1);
});
