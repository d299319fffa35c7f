/**
 * Which locks protect a ledger. A run holds the lock key it was given (runners that share a key
 * exclude each other, whatever ledger they write) and, under it, the lock that follows from the
 * ledger itself (see {@link ledgerLockKey}): any two runs on one ledger exclude each other, with
 * whatever key they were given, a fleet's tenant runs and a single run on that tenant included.
 * Both are taken by polling, never by blocking (see `acquireLock`).
 */
import { withLock, type AcquireOptions, type HeldLock } from '../db/lock.js';
import type { TableName } from '../db/identifier.js';
import type { Session } from '../db/session.js';
import { locateLedger, type Ledger } from '../migrations/ledger.js';

/**
 * Runs `work` holding the lock `key` and the lock of the ledger `tableName` names, located under
 * the first lock. The lock passed to `work` is the run's: its backend, and the time waited for both.
 */
export async function withLedgerLocks<T>(
  session: Session,
  tableName: TableName,
  key: bigint,
  options: AcquireOptions,
  work: (ledger: Ledger, lock: HeldLock) => Promise<T>,
): Promise<T> {
  return withLock(session, key, options, async (keyLock) => {
    for (let attempt = 1; ; attempt++) {
      const ledger = await locateLedger(session.client, tableName);
      if (ledger.lockKey === key) return work(ledger, keyLock);
      const timeoutMs = options.timeoutMs === undefined ? undefined : Math.max(0, options.timeoutMs - keyLock.waitedMs);
      const outcome = await withLock(session, ledger.lockKey, { ...options, timeoutMs, purpose: 'ledger' }, async (ledgerLock) => {
        // While this run waited, a run with another key may have created the table elsewhere:
        // an unqualified name then leads there, and that ledger's lock is the one to hold.
        const now = await locateLedger(session.client, tableName);
        if (now.sqlName !== ledger.sqlName && attempt < 3) return null;
        return { value: await work(now, { ...keyLock, waitedMs: keyLock.waitedMs + ledgerLock.waitedMs }) };
      });
      if (outcome !== null) return outcome.value;
    }
  });
}
