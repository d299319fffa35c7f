import type { Session } from './session.js';

/**
 * While `work` runs, an abort cancels the running statement on backend `pid` from a side
 * connection. A cancel must never land on what follows (a rollback, the session reset, the lock
 * release): once one was sent, the step waits for it to be delivered, then runs `SELECT 1` until
 * one survives, so a late cancel is spent there. A connection that cannot be made sure of is
 * marked broken (closed, not handed back).
 */
export async function withCancellation<T>(
  session: Session,
  pid: number,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  if (signal === undefined) return work();
  let sent: Promise<void> | null = null;
  const cancel = () => {
    sent = session
      .openSide()
      .then(async (side) => {
        try {
          await side.query('SELECT pg_cancel_backend($1)', [pid]);
        } finally {
          await side.end();
        }
      })
      .catch(() => {});
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return await work();
  } finally {
    signal.removeEventListener('abort', cancel);
    if (sent !== null) {
      await sent;
      let absorbed = false;
      for (let attempt = 0; attempt < 3 && !absorbed; attempt++) {
        absorbed = await session.client.query('SELECT 1').then(
          () => true,
          () => false,
        );
      }
      if (!absorbed) session.markBroken();
    }
  }
}
