import { defineConfig } from 'vitest/config';

// The offline queue's SIGKILL crash tests alone (left out of `npm test` while they are racy).
export default defineConfig({
  test: {
    include: ['test/queue/crash.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
