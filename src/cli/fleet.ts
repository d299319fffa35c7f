/**
 * `slipway up|down|status|plan --tenants <source>`: the fleet commands' output. With --json,
 * one JSON line per tenant on stdout and a last `{"summary": …}` line; on a terminal, one
 * progress line (done/total, failed, rate, time left) while it runs, then the failures (and,
 * for status and plan, every tenant with something to do) and the summary; off a terminal the
 * library's JSON log lines, one per tenant, and the same report.
 */
import {
  describeFailure,
  describeOutcome,
  describeSummary,
  type FleetCommand,
  type FleetProgress,
  type FleetResult,
  type TenantResult,
} from '../commands/fleet.js';

/** Prints progress on a terminal, at most ten times a second, on one line of stderr. */
export function progressLine(enabled: boolean): { update: (p: FleetProgress) => void; clear: () => void } {
  let last = 0;
  let shown = false;
  return {
    update(p) {
      if (!enabled) return;
      const now = performance.now();
      if (p.done < p.total && now - last < 100) return;
      last = now;
      const rate = p.elapsedMs > 0 ? (p.done / p.elapsedMs) * 1000 : 0;
      const left = rate > 0 ? Math.ceil((p.total - p.done) / rate) : null;
      process.stderr.write(
        `\r\x1b[Ktenants: ${p.done}/${p.total} done, ${p.failed} failed, ${rate.toFixed(1)}/s${left === null ? '' : `, ${left} s left`}`,
      );
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

/** One JSON line for a tenant (the --json stream). */
export function tenantLine(result: TenantResult): string {
  return JSON.stringify(result);
}

/** The report after a fleet run: the tenants worth a line, then the summary. */
export function formatFleet(result: FleetResult): string {
  const { command } = result;
  const worth = (r: TenantResult) =>
    r.outcome === 'failed' || r.outcome === 'skipped' || (command === 'status' || command === 'plan' ? r.outcome === 'pending' : false);
  const lines = result.tenants
    .filter(worth)
    .map((r) =>
      r.outcome === 'failed' ? `FAILED ${r.tenant}: ${describeFailure(command, r)}` : `${r.tenant}: ${describeOutcome(command, r)}`,
    )
    // A message's detail lines are indented under their tenant's line.
    .map((line) => line.replaceAll('\n', '\n  '));
  return [...lines, describeSummary(command, result.summary)].join('\n');
}

export type { FleetCommand };
