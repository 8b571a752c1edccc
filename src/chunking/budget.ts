/**
 * Reassembly memory accounting: a budget per peer nested in a budget per process, so no peer,
 * and no set of peers, can make this process hold more than configured.
 */
export class MemoryBudget {
  private used = 0;

  constructor(readonly limit: number, private readonly parent: MemoryBudget | null = null) {}

  get inUse(): number {
    return this.used;
  }

  /** Reserves `bytes` here and in every parent, or nothing at all. */
  reserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    if (this.parent && !this.parent.reserve(bytes)) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
    this.parent?.release(bytes);
  }
}

let processBudget: MemoryBudget | null = null;

/** The one process-wide budget (created with the first limit asked for). */
export function processReassemblyBudget(limit: number): MemoryBudget {
  processBudget ??= new MemoryBudget(limit);
  return processBudget;
}
