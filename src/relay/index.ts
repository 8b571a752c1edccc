export * from './constants.js';
export { RelayCore, type RelayLimits, type RelayStats } from './core.js';
export * from './messages.js';
export { RelayServer, type RelayOptions } from './server.js';
export { openCircuit, joinCircuit, Reservation, DEFAULT_RELAY_TIMEOUT_MS } from './client.js';
export { RelayAgent, type ReserveOptions } from './agent.js';
export { readControl } from './read-control.js';
