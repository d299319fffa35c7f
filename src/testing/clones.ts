/**
 * Clones of one template, with a few kept ready: a caller takes the oldest clone in the queue
 * (ready, or the one being made that will be ready first) and the queue is refilled in the
 * background. A clone is `CREATE DATABASE … TEMPLATE`, then its marker.
 */
import { randomBytes } from 'node:crypto';
import { dropMarked, createMarked, strategyClause, thisProcess, type CloneStrategy, type Server } from './server.js';
import { quoteIdentifier } from '../db/identifier.js';
import type { TemplateNames } from './template.js';

type Outcome = { ok: true; name: string } | { ok: false; error: unknown };

export class Clones {
  /** Clones made or being made, oldest first; each settles to its name or its error. */
  private readonly queue: Array<Promise<Outcome>> = [];
  private closed = false;

  constructor(
    private readonly server: Server,
    private readonly names: TemplateNames,
    private readonly major: number,
    private readonly strategy: CloneStrategy,
    /** How many to keep ready; 0 makes each one on request. */
    private readonly warm: number,
    /** Mark the clones with this process (a library caller), so they are dropped once it is gone; the CLI's outlive it. */
    private readonly ownedByProcess: boolean,
  ) {}

  /** A new database cloned from the template, as soon as one is ready. */
  async take(): Promise<string> {
    const next = this.queue.shift() ?? this.make();
    this.refill();
    const outcome = await next;
    if (!outcome.ok) throw outcome.error;
    return outcome.name;
  }

  /** Drops the ready clones and stops refilling. */
  async close(): Promise<void> {
    this.closed = true;
    const left = this.queue.splice(0);
    await Promise.all(
      left.map(async (p) => {
        const outcome = await p;
        if (outcome.ok) await dropMarked(this.server, { name: outcome.name, isTemplate: false }, true).catch(() => {});
      }),
    );
  }

  private refill(): void {
    while (!this.closed && this.queue.length < this.warm) this.queue.push(this.make());
  }

  private make(): Promise<Outcome> {
    const name = `slipway_test_${this.names.digest.slice(0, 8)}_${randomBytes(6).toString('hex')}`;
    const marker = { slipway: 'test-db', kind: 'clone', digest: this.names.digest, ...(this.ownedByProcess && thisProcess) } as const;
    return createMarked(
      this.server,
      name,
      marker,
      `TEMPLATE ${quoteIdentifier(this.names.template)}${strategyClause(this.major, this.strategy)}`,
    ).then(
      () => ({ ok: true as const, name }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  }
}
