import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The queue's SIGKILL crash tests are racy (they failed twice in fresh-clone CI runs on
    // 2026-12-03, each time a different case): out of the default run until fixed, run them
    // with `npm run test:queue-crash`.
    exclude: ['**/node_modules/**', 'test/queue/crash.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
