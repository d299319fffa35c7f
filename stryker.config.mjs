// Mutation testing of the pure modules against the unit tests only (no database): `npm run test:mutation`.
// Not part of CI. The HTML report lands in reports/mutation/mutation.html.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.unit.config.ts' },
  mutate: ['src/migrations/plan.ts', 'src/migrations/source.ts', 'src/sql/parse.ts', 'src/db/identifier.ts', 'src/seed/plan.ts'],
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  // The machine has 2 cores, shared.
  concurrency: 2,
  tempDirName: '.slipway/stryker-tmp',
  ignorePatterns: ['.slipway', 'dist', 'bench', 'examples', 'reports'],
  cleanTempDir: 'always',
  // Stryker rewrites the tsconfig's extends/references with TypeScript's JS API, which TypeScript 7
  // (the native compiler) does not have; nothing here points outside the sandbox, so name no tsconfig.
  tsconfigFile: 'no-tsconfig-for-stryker.json',
};
