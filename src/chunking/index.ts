export * from './constants.js';
export { MemoryBudget, processReassemblyBudget } from './budget.js';
export { planChunks, planFromHeader, chunkLength, chunkOffset, type ChunkPlan } from './plan.js';
export { Reassembler, type ReassemblyOptions, type ChunkEvent, type ChunkTarget } from './reassembly.js';
export { configureBufferPool, bufferPoolStats, type BufferPoolStats } from './buffer-pool.js';
