import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../../src/queue/sqlite.js';
import type { QueueStore } from '../../src/queue/store.js';
import { conformance } from './conformance.js';

const dir = mkdtempSync(path.join(tmpdir(), 'peercomm-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const paths = new WeakMap<QueueStore, string>();
let n = 0;

conformance('sqlite', {
  async open() {
    const file = path.join(dir, `q${n++}.db`);
    const s = SqliteStore.open({ path: file });
    paths.set(s, file);
    return s;
  },
  async reopen(store) {
    await store.close();
    const s = SqliteStore.open({ path: paths.get(store)!, durability: 'full' });
    paths.set(s, paths.get(store)!);
    return s;
  },
});
