export * from './constants.js';
export { MemoryBudget, processReassemblyBudget } from './budget.js';
export { ReassemblyBudgets, type ReassemblyLimits, type BudgetLease } from './budgets.js';
export { planChunks, planFromHeader, chunkLength, chunkOffset, type ChunkPlan } from './plan.js';
export { Reassembler, type ReassemblyOptions, type ChunkEvent } from './reassembly.js';
export { configureBufferPool, bufferPoolStats, type BufferPoolStats } from './buffer-pool.js';
