/**
 * A hostile DHT node for attack tests: a raw UDP socket on 127.x.y.z that answers requests the
 * way the test says (forged records, made-up contacts, dropped STOREs), built from the
 * library's own encoders so the bytes are valid.
 */
import dgram from 'node:dgram';
import { Identity } from '../../src/crypto/index.js';
import { encodeAddress } from '../../src/dht/address.js';
import {
  decodeMessage, encodeError, encodeFind, encodeNodes, encodeStored, encodeValue, MSG, type Message,
} from '../../src/dht/messages.js';
import { encodePongFor } from './pong.js';

export interface RogueBehaviour {
  /** Records to answer every FIND_VALUE with (none: contacts). */
  values?: (m: Message & { type: typeof MSG.FIND_VALUE }) => Uint8Array[];
  /** Contacts (id ‖ wire address, back to back) and their count for NODES / empty VALUE answers. */
  contacts?: () => [number, Uint8Array];
  /** Acknowledge STOREs without keeping them (default: answer ERROR 9). */
  fakeStore?: boolean;
}

export class Rogue {
  readonly identity: Identity;
  received = 0;

  private constructor(private readonly socket: dgram.Socket, readonly address: string, identity: Identity, private readonly b: RogueBehaviour) {
    this.identity = identity;
  }

  static async start(host: string, b: RogueBehaviour, identity = Identity.generate()): Promise<Rogue> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
    const r = new Rogue(socket, `${host}:${socket.address().port}`, identity, b);
    socket.on('message', (data, rinfo) => r.onMessage(data, `${rinfo.address}:${rinfo.port}`));
    return r;
  }

  private onMessage(data: Uint8Array, from: string): void {
    let m: Message;
    try {
      m = decodeMessage(data);
    } catch {
      return;
    }
    this.received++;
    const pk = this.identity.publicKey;
    const [n, block] = this.b.contacts ? this.b.contacts() : [0, new Uint8Array(0)];
    let out: Uint8Array | null = null;
    switch (m.type) {
      case MSG.PING: out = encodePongFor(this.identity, m, encodeAddress(from)); break;
      case MSG.FIND_NODE: out = encodeNodes(0, m.tid, pk, null, n, block); break;
      case MSG.FIND_VALUE: {
        const recs = this.b.values ? this.b.values(m) : [];
        out = recs.length > 0 ? encodeValue(0, m.tid, pk, recs, 0, new Uint8Array(0)) : encodeValue(0, m.tid, pk, [], n, block);
        break;
      }
      case MSG.STORE: out = this.b.fakeStore ? encodeStored(0, m.tid, pk, 0) : encodeError(0, m.tid, pk, 9); break;
      default: return;
    }
    this.send(from, out);
  }

  /** Makes itself known to the node at `to`: a FIND_NODE of `target` under its own key. */
  announce(to: string, target: Uint8Array): void {
    this.send(to, encodeFind(MSG.FIND_NODE, 0, Math.floor(Math.random() * 2 ** 32), this.identity.publicKey, target));
  }

  private send(to: string, data: Uint8Array): void {
    this.socket.send(data, Number(to.slice(to.lastIndexOf(':') + 1)), to.slice(0, to.lastIndexOf(':')));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
