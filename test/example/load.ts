import { call, type Reply, type Service, waitUntil } from './service.js';

/** One replica behind the load balancer: which release's code it runs. */
export interface Replica {
  readonly release: string;
  readonly service: Service & { url: string };
}

/** A request the load sent, once it completed (a reply or a network error). */
export interface Sent {
  readonly release: string;
  readonly replica: Replica;
  /** The load's epoch when it was sent: a request sent after `mark()` returned e has epoch ≥ e. */
  readonly epoch: number;
  /** The load's epoch when it completed. */
  readonly completed: number;
  readonly method: string;
  readonly url: string;
  readonly ok: boolean;
  /** The HTTP status; 0 for a network error. */
  readonly status: number;
  /** What went wrong: the reply's message, a wrong description, or the network error. */
  readonly problem?: string;
}

/** One round of the load: an issue written through one replica and read back through the next. */
export interface Round {
  readonly epoch: number;
  readonly writer: string;
  readonly reader: string;
  readonly ok: boolean;
}

/**
 * A steady request load on the issues of one workspace, through a load balancer's rotation of
 * replicas. Each round takes two replicas in turn (writer, then the next one as reader) and sends
 * four requests: create an issue with a description through the writer, read it through the reader,
 * change the description through the reader, read it through the writer. A request fails on a
 * status it did not expect or a description other than the one written (stale or lost).
 *
 * Taking a replica out of rotation (`retire`) waits until no round uses it any more, as a load
 * balancer drains a backend before it stops: every request it gets was sent while it was in rotation.
 */
export class Load {
  readonly sent: Sent[] = [];
  readonly rounds: Round[] = [];
  /** Issue number → the description last written to it successfully. */
  readonly written = new Map<number, string>();
  private readonly rotation: Replica[] = [];
  private readonly busy = new Map<Replica, number>();
  private epoch = 0;
  private next = 0;
  private stopped = false;
  private readonly workers: Array<Promise<void>> = [];

  constructor(private readonly workspace: string) {}

  /** Starts `workers` loops of rounds. */
  start(workers: number): void {
    for (let i = 0; i < workers; i++) this.workers.push(this.work());
  }

  /** Lets every loop finish its round, then resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  /** A new epoch: every request sent from now on has an epoch ≥ the one returned. */
  mark(): number {
    return ++this.epoch;
  }

  /** Puts `replica` in rotation; returns the epoch from which its requests count. */
  add(replica: Replica): number {
    this.rotation.push(replica);
    return this.mark();
  }

  /** Takes `replica` out of rotation and waits until no round is using it. */
  async retire(replica: Replica): Promise<void> {
    this.rotation.splice(this.rotation.indexOf(replica), 1);
    await waitUntil(() => (this.busy.get(replica) ?? 0) === 0, `the rounds using ${replica.service.url} to finish`, 60_000);
  }

  /** Requests sent in epoch `from` or later (to `replica`, when given). */
  sentSince(from: number, replica?: Replica): Sent[] {
    return this.sent.filter((s) => s.epoch >= from && (replica === undefined || s.replica === replica));
  }

  failures(): Sent[] {
    return this.sent.filter((s) => !s.ok);
  }

  /** The failures in a line each: `0.1.0 POST /workspaces/load/issues: status 500: …`. */
  failureLines(failures = this.failures()): string[] {
    return failures.map((f) => `${f.release} ${f.method} ${f.url}: ${f.problem}`);
  }

  /** Waits until every replica in `replicas` has answered at least `count` requests sent in epoch `from` or later. */
  async served(replicas: readonly Replica[], from: number, count: number, what: string): Promise<void> {
    await waitUntil(() => replicas.every((r) => this.sentSince(from, r).length >= count), what, 60_000);
  }

  private async work(): Promise<void> {
    while (!this.stopped) {
      if (this.rotation.length === 0) throw new Error('the load has no replica in rotation');
      const i = this.next++;
      const writer = this.rotation[i % this.rotation.length]!;
      const reader = this.rotation[(i + 1) % this.rotation.length]!;
      const epoch = this.epoch;
      for (const r of [writer, reader]) this.busy.set(r, (this.busy.get(r) ?? 0) + 1);
      try {
        const ok = await this.round(i, writer, reader);
        this.rounds.push({ epoch, writer: writer.release, reader: reader.release, ok });
      } finally {
        for (const r of [writer, reader]) this.busy.set(r, this.busy.get(r)! - 1);
      }
    }
  }

  private async round(i: number, writer: Replica, reader: Replica): Promise<boolean> {
    const issues = `/workspaces/${this.workspace}/issues`;
    const first = `round ${i}: written through ${writer.release}`;
    const created = await this.send(writer, 'POST', issues, { title: `round ${i}`, description: first }, 201, first);
    if (created === undefined) return false;
    const issue = `${issues}/${created.body.number as number}`;
    this.written.set(created.body.number, first);
    if ((await this.send(reader, 'GET', issue, undefined, 200, first)) === undefined) return false;
    const second = `round ${i}: changed through ${reader.release}`;
    if ((await this.send(reader, 'PATCH', issue, { description: second }, 200, second)) === undefined) return false;
    this.written.set(created.body.number, second);
    return (await this.send(writer, 'GET', issue, undefined, 200, second)) !== undefined;
  }

  /** One request; its reply when it has `status` and shows `description`, else undefined (a failure, recorded). */
  private async send(replica: Replica, method: string, url: string, body: unknown, status: number, description: string) {
    const epoch = this.epoch;
    const record = (reply: Reply | undefined, problem?: string) =>
      this.sent.push({
        release: replica.release,
        replica,
        epoch,
        completed: this.epoch,
        method,
        url,
        ok: problem === undefined,
        status: reply?.status ?? 0,
        ...(problem !== undefined && { problem }),
      });
    let reply: Reply;
    try {
      reply = await call(replica.service.url, method, url, body);
    } catch (error) {
      record(undefined, String((error as Error).cause ?? error));
      return undefined;
    }
    if (reply.status !== status) record(reply, `status ${reply.status}: ${reply.body?.message}`);
    else if (reply.body.description !== description) record(reply, `description ${JSON.stringify(reply.body.description)}`);
    else {
      record(reply);
      return reply;
    }
    return undefined;
  }
}
