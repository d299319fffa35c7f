import { describe, expect, it } from 'vitest';
import { formatFleet } from '../../src/cli/fleet.js';
import type { FleetResult, TenantResult } from '../../src/commands/fleet.js';

const failed: TenantResult = {
  tenant: 'tenant_007',
  database: 'app',
  schema: 'tenant_007',
  outcome: 'failed',
  executed: ['001_a', '002_b'],
  steps: ['003_c'],
  durationMs: 12,
  error: { code: 'MIGRATION_FAILED', message: '003_c failed: relation "x" does not exist; nothing was changed\nline 2 of 003_c.up.sql' },
};

describe('the fleet report', () => {
  it("keeps a failed tenant's first line whole, with what ran before it, and indents the detail under it", () => {
    const result = { command: 'up', tenants: [failed], summary: { failed: 1 } } as unknown as FleetResult;
    const [first, second] = formatFleet(result).split('\n');
    expect(first).toBe(
      'FAILED tenant_007: 003_c failed: relation "x" does not exist; nothing was changed (applied 2 before: 001_a, 002_b)',
    );
    expect(second).toBe('  line 2 of 003_c.up.sql');
  });
});
