export { memoryDuplexPair } from './memory.js';
export { connectTcp, listenTcp, parseAddress, tuneSocket, type TcpAddress } from './tcp.js';
