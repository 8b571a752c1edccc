// A handshake flood for bench/net.js, run as a child process: from four source addresses in
// 127.0.0.0/8, keeps 64 connections busy sending handshake_init (never completing one) to
// 127.0.0.1:<port> as fast as the listener answers or closes them. Far more than 20× the
// spec's handshake limit (5/min, burst 10 per address).
import net from 'node:net';
import { Identity, wire } from '../dist/index.js';
import { Handshake } from '../dist/handshake/index.js';

const port = Number(process.argv[2]);
const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const identity = Identity.generate();
const inits = Array.from({ length: 256 }, () => wire.encodeFrame(Handshake.initiate({ identity, entityId: 'flood' }, Date.now()).send[0]));
let sent = 0;

function one(k) {
  const s = net.connect({ host: '127.0.0.1', port, localAddress: ADDRESSES[k % ADDRESSES.length] });
  s.on('connect', () => s.write(inits[sent++ % inits.length]));
  s.on('data', () => s.destroy());
  s.on('error', () => undefined);
  s.on('close', () => setImmediate(() => one(k + 1)));
  s.setTimeout(2000, () => s.destroy());
}

for (let k = 0; k < 64; k++) one(k);
