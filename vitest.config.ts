import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['lib/**/*.test.ts', 'src/**/*.test.ts', 'mesh/**/*.test.ts', 'crypto/**/*.test.ts', 'router/**/*.test.ts', 'ipam/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Network-namespace tests share the machine; run files one at a time to keep them independent.
    fileParallelism: false,
  },
});
