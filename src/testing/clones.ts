/**
 * Clones of one template, from two pools:
 *
 * - **The server's shared pool**: `ready` clones per template, made by whichever process holds the
 *   template's fill lock (tried, never waited for: one filler per template on the server), named
 *   `slipway_ready_…`, marked kind `ready`, taking no connections. A process claims one in a single
 *   statement that renames it, opens it to connections and marks it a clone of this process, in one
 *   transaction: two claimants of one clone queue on its lock and the second finds it gone, so a
 *   clone is handed out once; a claim that dies midway rolls back and leaves the clone ready.
 * - **This process's own**: `warm` clones made ahead for this process (as the CLI's single clone
 *   is made on request). A take uses one that is ready; otherwise it claims a ready clone of the
 *   server's pool; when none is, it waits for its own clone in the making (or makes one).
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { DatabaseError } from '../errors.js';
import { quoteIdentifier } from '../db/identifier.js';
import {
  createMarked,
  dropMarked,
  NO_FLUSH_WAIT,
  parseMarker,
  strategyClause,
  thisProcess,
  type CloneStrategy,
  type Server,
} from './server.js';
import type { TemplateNames } from './template.js';

const { escapeLiteral } = pg;

type Outcome = { ok: true; name: string } | { ok: false; error: unknown };
interface Pending {
  readonly outcome: Promise<Outcome>;
  settled: boolean;
}

/** How many ready clones the filler makes at once. */
const FILL_AT_ONCE = 2;

export interface ClonesConfig {
  readonly server: Server;
  readonly names: TemplateNames;
  readonly major: number;
  readonly strategy: CloneStrategy;
  /** How many of this process's own to keep ready; 0 makes each one on request. */
  readonly warm: number;
  /** How many ready clones of this template to keep in the server's shared pool; 0 uses none. */
  readonly ready: number;
  /** Mark the clones with this process (a library caller), so they are dropped once it is gone; the CLI's outlive it. */
  readonly ownedByProcess: boolean;
}

/** The names of one template's ready clones start with this. */
export function readyPrefix(digest: string): string {
  return `slipway_ready_${digest.slice(0, 8)}_`;
}

/** The advisory-lock key of one template's filler, under a prefix of its own. */
function fillLockKey(digest: string): bigint {
  return BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`slipway-test-ready:${digest}`).digest('hex').slice(0, 16)}`));
}

export class Clones {
  /** This process's own clones, made or being made, oldest first. */
  private readonly queue: Pending[] = [];
  private filling: Promise<void> | undefined;
  /** Work begun in the background (a prune), waited for by `close`. */
  private readonly background: Promise<unknown>[] = [];
  private closed = false;

  constructor(private readonly config: ClonesConfig) {}

  /** A new database cloned from the template, as soon as one is ready. */
  async take(): Promise<string> {
    const head = this.queue[0];
    if (!head?.settled && this.config.ready > 0) {
      const claimed = await this.claim();
      this.fillInBackground();
      if (claimed !== undefined) {
        this.refill();
        return claimed;
      }
    }
    const next = this.queue.shift() ?? this.make();
    this.refill();
    const outcome = await next.outcome;
    if (!outcome.ok) throw outcome.error;
    return outcome.name;
  }

  /**
   * Claims a ready clone of the server's pool: in one transaction it is renamed to a clone's name,
   * opened to connections and marked as this process's clone. Candidates come in random order,
   * so claimants at the same moment rarely queue on one; a loser finds it gone (3D000) and tries
   * the next. Undefined when none is ready, or when the template itself is gone.
   */
  async claim(): Promise<string | undefined> {
    const { names } = this.config;
    const name = cloneName(names.digest);
    const marker = JSON.stringify({
      slipway: 'test-db',
      kind: 'clone',
      digest: names.digest,
      ...(this.config.ownedByProcess && thisProcess),
    });
    try {
      await this.config.server.query(
        `DO $claim$ DECLARE r record; BEGIN
          ${NO_FLUSH_WAIT}
          -- A ready clone of a template that is gone (pruned) is no sign the template exists: the
          -- caller's later clones are made from it.
          IF NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = ${escapeLiteral(names.template)} AND datistemplate) THEN
            RAISE EXCEPTION 'no template' USING ERRCODE = 'no_data_found';
          END IF;
          FOR r IN SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database
                    WHERE starts_with(datname, ${escapeLiteral(readyPrefix(names.digest))}) ORDER BY random() LOOP
            BEGIN
              IF starts_with(r.comment, '{') AND r.comment::jsonb @> jsonb_build_object('slipway', 'test-db', 'kind', 'ready', 'digest', ${escapeLiteral(names.digest)}) THEN
                EXECUTE format('ALTER DATABASE %I RENAME TO %I', r.datname, ${escapeLiteral(name)});
                EXECUTE format('ALTER DATABASE %I WITH ALLOW_CONNECTIONS true', ${escapeLiteral(name)});
                EXECUTE format('COMMENT ON DATABASE %I IS %L', ${escapeLiteral(name)}, (${escapeLiteral(marker)}::jsonb
                  || jsonb_build_object('createdAt', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))::text);
                RETURN;
              END IF;
            EXCEPTION WHEN invalid_catalog_name OR object_in_use OR insufficient_privilege OR invalid_text_representation THEN
              NULL; -- claimed or dropped by another (3D000), or not ours to take
            END;
          END LOOP;
          RAISE EXCEPTION 'no ready clone' USING ERRCODE = 'no_data_found';
        END $claim$`,
      );
      return name;
    } catch (error) {
      if (error instanceof DatabaseError && error.sqlState === 'P0002') return undefined;
      throw error;
    }
  }

  /**
   * Tops the server's pool of this template up to `ready`, if no other process is doing it (the
   * fill lock is tried, never waited for). Resolves when this process's filling ends.
   */
  fill(): Promise<void> {
    if (this.config.ready === 0 || this.closed) return Promise.resolve();
    this.filling ??= (async () => {
      // A claim made while this process held the lock found it taken and left the topping up to
      // this process: counted again once the lock is released, so none is missed.
      while ((await this.fillUnderLock()) && !this.closed && (await this.countReady()) < this.config.ready);
    })().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  /** A clone already made for this process (claimed before the first take): the next take's. */
  hold(name: string): void {
    this.queue.unshift({ outcome: Promise.resolve({ ok: true, name }), settled: true });
  }

  /** Runs work in the background (its failure ignored); `close` waits for it. */
  track(work: Promise<unknown>): void {
    this.background.push(work.catch(() => {}));
  }

  /** Drops this process's own ready clones, stops refilling, and waits for a fill under way to end. */
  async close(): Promise<void> {
    this.closed = true;
    const left = this.queue.splice(0);
    await Promise.all([
      this.filling?.catch(() => {}),
      ...this.background.splice(0),
      ...left.map(async (p) => {
        const outcome = await p.outcome;
        if (outcome.ok) await dropMarked(this.config.server, { name: outcome.name, isTemplate: false }, true).catch(() => {});
      }),
    ]);
  }

  private fillInBackground(): void {
    this.fill().catch(() => {});
  }

  /** Fills while holding the fill lock; false when another process holds it. */
  private async fillUnderLock(): Promise<boolean> {
    const { server, names, ready } = this.config;
    const key = fillLockKey(names.digest).toString();
    const client = await server.pool.connect();
    let broken = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key]);
      if (!rows[0]!.locked) return false;
      try {
        // Counted again after each round: other processes claim meanwhile.
        for (let need = ready - (await this.countReady()); need > 0 && !this.closed; need = ready - (await this.countReady())) {
          await Promise.all(Array.from({ length: Math.min(need, FILL_AT_ONCE) }, () => this.makeReady()));
        }
      } finally {
        const unlocked = await client.query<{ ok: boolean }>('SELECT pg_advisory_unlock($1::bigint) AS ok', [key]).then(
          (r) => r.rows[0]!.ok,
          () => false,
        );
        // Not released: end the session, which releases it.
        broken = !unlocked;
      }
      return true;
    } catch (error) {
      broken = true;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** The ready clones of this template on the server, by their marker. */
  private async countReady(): Promise<number> {
    const { rows } = await this.config.server.query<{ comment: string | null }>(
      `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_catalog.pg_database WHERE starts_with(datname, $1)`,
      [readyPrefix(this.config.names.digest)],
    );
    return rows.filter((r) => {
      const marker = parseMarker(r.comment);
      return marker?.kind === 'ready' && marker.digest === this.config.names.digest;
    }).length;
  }

  /** One ready clone: it takes no connections, and is claimable only once its marker says `ready`. */
  private async makeReady(): Promise<void> {
    const { server, names, major, strategy } = this.config;
    const name = `${readyPrefix(names.digest)}${randomBytes(6).toString('hex')}`;
    await createMarked(
      server,
      name,
      { slipway: 'test-db', kind: 'ready', digest: names.digest },
      `TEMPLATE ${quoteIdentifier(names.template)}${strategyClause(major, strategy)} ALLOW_CONNECTIONS false`,
    );
  }

  private refill(): void {
    while (!this.closed && this.queue.length < this.config.warm) this.queue.push(this.make());
  }

  private make(): Pending {
    const { server, names, major, strategy, ownedByProcess } = this.config;
    const name = cloneName(names.digest);
    const marker = { slipway: 'test-db', kind: 'clone', digest: names.digest, ...(ownedByProcess && thisProcess) } as const;
    const pending: Pending = {
      settled: false,
      outcome: createMarked(server, name, marker, `TEMPLATE ${quoteIdentifier(names.template)}${strategyClause(major, strategy)}`).then(
        () => ({ ok: true as const, name }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    };
    void pending.outcome.then(() => {
      pending.settled = true;
    });
    return pending;
  }
}

function cloneName(digest: string): string {
  return `slipway_test_${digest.slice(0, 8)}_${randomBytes(6).toString('hex')}`;
}
