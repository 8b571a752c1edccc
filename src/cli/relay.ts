/**
 * `peercomm relay`: runs a relay (docs/RELAY.md) until SIGINT/SIGTERM, printing its address,
 * key and, every `--stats S` seconds, its counters. Bad arguments are UsageErrors (exit code 2).
 */
import { parseArgs } from 'node:util';
import { Identity } from '../crypto/index.js';
import { RelayServer } from '../relay/index.js';
import { UsageError } from './args.js';

export const RELAY_USAGE = `usage: peercomm relay [--port N (default 7500)] [--host H (default 127.0.0.1)] [--key FILE]
       [--max-circuits N] [--max-reservations N] [--circuit-mib N] [--circuit-seconds N] [--chain] [--stats S]
  serves circuits to the agents that reserve with it (docs/RELAY.md); --chain forwards to next relays
  (off by default); --stats prints its counters every S seconds`;

function int(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`relay: ${name} must be an integer ${min}..${max}`);
  return n;
}

/** Starts the relay; resolves once it listens (the process then runs until a signal). */
export async function runRelay(args: string[], log: (line: string) => void): Promise<RelayServer | null> {
  let values;
  try {
    ({ values } = parseArgs({
      args, allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' }, port: { type: 'string' }, host: { type: 'string' }, key: { type: 'string' },
        'max-circuits': { type: 'string' }, 'max-reservations': { type: 'string' }, 'circuit-mib': { type: 'string' },
        'circuit-seconds': { type: 'string' }, chain: { type: 'boolean' }, stats: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError(`relay: ${(err as Error).message.split('\n')[0]}`);
  }
  if (values.help) {
    log(RELAY_USAGE);
    return null;
  }
  const identity = values.key ? await Identity.load(values.key) : Identity.generate();
  const mib = int(values['circuit-mib'], '--circuit-mib', 1, 1 << 20);
  const seconds = int(values['circuit-seconds'], '--circuit-seconds', 1, 86_400);
  const relay = new RelayServer(identity, {
    host: values.host ?? '127.0.0.1', port: int(values.port, '--port', 0, 65535) ?? 7500,
    maxCircuits: int(values['max-circuits'], '--max-circuits', 1, 1 << 20),
    maxReservations: int(values['max-reservations'], '--max-reservations', 1, 1 << 20),
    maxCircuitBytes: mib === undefined ? undefined : mib * 1024 * 1024,
    maxCircuitDurationMs: seconds === undefined ? undefined : seconds * 1000,
    chain: values.chain ?? false,
  });
  const addr = await relay.listen();
  log(`relay on ${addr.host}:${addr.port}\npublic key  ${identity.publicKey.toString('hex')}\nfingerprint ${identity.fingerprint}`);
  const every = int(values.stats, '--stats', 1, 86_400);
  const timer = every === undefined ? null : setInterval(() => log(JSON.stringify(relay.stats())), every * 1000);
  const stop = (): void => {
    if (timer) clearInterval(timer);
    void relay.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return relay;
}
