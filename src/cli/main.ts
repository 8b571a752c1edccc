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
import { isMessageType, type MessageType } from '../wire/index.js';
import { runDemo } from './demo.js';
import { runV1 } from './v1.js';

const USAGE = `usage: peercomm <command> [options]

  keygen [--out FILE] [--force]          create an Ed25519 identity key file (mode 0600)
  listen [--port N] [--host H] [--key FILE] [--id NAME]
                                         accept sessions and print every message
  send <host:port> <text|@file> [--type T] [--key FILE] [--id NAME] [--pin HEX]
                                         send one message and close
  node [--port N] [--host H] [--dht-port N] [--bootstrap H:P]... [--cap NAME]... [--key FILE] [--id NAME]
                                         a long-lived node: sessions on TCP, the DHT on UDP
  discover <capability> --bootstrap H:P  the agents offering a capability (DHT)
  lookup <entity-id> --bootstrap H:P     an agent's signed record (DHT; a human name needs --pin KEY)
  demo [--peers N] [--seconds S]         a local network of peers: handshakes, messages, throughput
  v1 verify|send|serve …                 v1.0 compatibility (signed, not encrypted): peercomm v1 --help

options: --key defaults to ./peercomm.key (created by keygen); --pin refuses the remote unless
its Ed25519 public key is HEX.`;

function usage(message?: string): never {
  if (message) process.stderr.write(`peercomm: ${message}\n`);
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
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
  if (command === 'v1') {
    try {
      await runV1(rest, log);
    } catch (err) {
      // runV1 reports usage errors as INVALID_ARGUMENT with the usage text.
      if (err instanceof PeerError && err.code === 'INVALID_ARGUMENT') usage(err.message);
      throw err;
    }
    return;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      out: { type: 'string' }, force: { type: 'boolean' }, port: { type: 'string' }, host: { type: 'string' },
      key: { type: 'string' }, id: { type: 'string' }, type: { type: 'string' }, pin: { type: 'string' },
      peers: { type: 'string' }, seconds: { type: 'string' },
      'dht-port': { type: 'string' }, bootstrap: { type: 'string', multiple: true }, cap: { type: 'string', multiple: true },
    },
  });
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
      const peer = await Peer.create({ identity: await identityFrom(values.key), entityId: values.id });
      const addr = await peer.listen({ port: Number(values.port ?? 7400), host: values.host ?? '127.0.0.1' });
      log(`${peer.entityId} listening on ${addr.host}:${addr.port}\nfingerprint ${peer.identity.fingerprint}`);
      peer.on('session', (s) => log(`session ${s.id} from ${s.remote!.entityId} (fingerprint ${s.fingerprint})`));
      peer.on('message', (m: Message) => log(`[${m.from} #${m.seq} ${String(m.type)}] ${m.version === '1.0' ? JSON.stringify(m.payload) : Buffer.from(m.payload).toString('utf8')}`));
      peer.on('sessionError', (err: PeerError) => log(`session error ${err.code}: ${err.message}`));
      const stop = (): void => void peer.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
    case 'send': {
      const [address, text] = positionals;
      if (!address || text === undefined) usage('send needs <host:port> and <text|@file>');
      const type = values.type ?? 'message';
      if (!isMessageType(type)) usage(`unknown message type ${type}`);
      const payload = text.startsWith('@') ? await readFile(text.slice(1)) : Buffer.from(text, 'utf8');
      const peer = await Peer.create({ identity: await identityFrom(values.key), entityId: values.id, trust: [] });
      try {
        const started = Date.now();
        const session = await peer.connect(address);
        if (values.pin && session.remote!.publicKey && Buffer.from(session.remote!.publicKey).toString('hex') !== values.pin.toLowerCase()) {
          throw new PeerError('INVALID_SIGNATURE', `remote key ${Buffer.from(session.remote!.publicKey).toString('hex')} is not the pinned key`);
        }
        const seq = await session.send(payload, { type: type as MessageType });
        await session.close();
        log(`sent ${payload.length} B to ${session.remote!.entityId} (fingerprint ${session.fingerprint}) as #${seq} in ${Date.now() - started} ms`);
      } finally {
        await peer.close();
      }
      return;
    }
    case 'node': {
      const peer = await Peer.create({
        identity: await identityFrom(values.key), entityId: values.id, capabilities: values.cap ?? [],
        bootstrap: values.bootstrap ?? [], dht: { host: values.host ?? '127.0.0.1', port: Number(values['dht-port'] ?? 0) },
      });
      const addr = await peer.listen({ port: Number(values.port ?? 0), host: values.host ?? '127.0.0.1' });
      log(`${peer.entityId} sessions on ${addr.host}:${addr.port} (TCP), DHT on ${peer.dht!.address} (UDP)\nfingerprint ${peer.identity.fingerprint}\ncapabilities ${(values.cap ?? []).join(', ') || '(none)'}`);
      peer.on('message', (m: Message) => log(`[${m.from} #${m.seq} ${String(m.type)}] ${m.version === '1.0' ? JSON.stringify(m.payload) : Buffer.from(m.payload).toString('utf8')}`));
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
      const trust: [string, string][] = command === 'lookup' && values.pin ? [[what, values.pin]] : [];
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
      await runDemo({ peers: Number(values.peers ?? 4), seconds: Number(values.seconds ?? 1), log });
      return;
    default:
      usage(command ? `unknown command ${command}` : undefined);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof PeerError) {
    process.stderr.write(`peercomm: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
});
