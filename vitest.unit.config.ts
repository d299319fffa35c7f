import { defineConfig } from 'vitest/config';

/**
 * The tests that need no database (no global setup, no server): what `npm run test:mutation`
 * (Stryker, stryker.config.mjs) runs against each mutant of the pure modules.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/seed/plan.test.ts', 'test/seed/files.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
