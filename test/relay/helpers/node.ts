/**
 * A Peer in a child process (node-process.mjs, on the built dist/): a relay, or a target that
 * has no listener and is reachable only through its relays. A relay that crashed shows as a
 * dead child; kill() is SIGKILL.
 */
import { ChildRpc } from '../../helpers/child-rpc.js';
import type { RelayStats } from '../../../src/relay/index.js';

const SCRIPT = new URL('./node-process.mjs', import.meta.url).pathname;

export interface NodeInfo {
  entityId: string;
  publicKey: string;
  relay: { host: string; port: number } | null;
  dht: string | null;
}

export class NodeProcess extends ChildRpc {
  static async start(options: Record<string, unknown>): Promise<NodeProcess> {
    const n = new NodeProcess(ChildRpc.fork(SCRIPT, [JSON.stringify(options)]), 'child');
    await n.started();
    return n;
  }

  info(): Promise<NodeInfo> {
    return this.call('info') as Promise<NodeInfo>;
  }

  /** The relay's address "127.0.0.1:port". */
  async relayAddress(): Promise<string> {
    const { relay } = await this.info();
    return `${relay!.host}:${relay!.port}`;
  }

  /** Waits until `n` reservations are held; the relays listed in the record. */
  ready(n = 1): Promise<{ listed: { address: string; expiresAt: number }[] }> {
    return this.call('ready', { n }) as Promise<{ listed: { address: string; expiresAt: number }[] }>;
  }

  stats(): Promise<{ relay: (RelayStats & { refusedConnections: number }) | null; rss: number; droppedJoins: number }> {
    return this.call('stats') as Promise<{ relay: (RelayStats & { refusedConnections: number }) | null; rss: number; droppedJoins: number }>;
  }

  async received(): Promise<string[]> {
    return ((await this.call('received')) as { received: string[] }).received;
  }

  /** Ids (hex) of the mailbox messages it was handed, in order. */
  async mail(): Promise<string[]> {
    return ((await this.call('mail')) as { mail: string[] }).mail;
  }
}
