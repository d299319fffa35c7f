/**
 * The wait before retry number `attempt` (from 0): exponential from `initialMs`, capped at
 * `maxMs`, with jitter (between half and all of it) so that many waiters do not retry in step.
 * One rule for every retry slipway makes: the migration lock, a connection, a lock timeout.
 *
 * @example backoffDelay(0, 20, 500) // between 10 and 20
 * @example backoffDelay(10, 1000, 30_000) // between 15000 and 30000
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const full = Math.min(initialMs * 2 ** Math.min(attempt, 30), maxMs);
  return full / 2 + random() * (full / 2);
}
