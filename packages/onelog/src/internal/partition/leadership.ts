/**
 * Leadership: which node leads which partition, with which leader epoch (docs/architecture.md). It is
 * decided outside the log: the embedded mode grants every partition to its one node; a cluster
 * holds a lease per partition in a replicated KV store whose revision is the epoch. The
 * processor asks for a grant, appends `AnnounceLeader { leaderEpoch, node }` with it, and leads
 * once that record is applied; apply drops records proposed under an older epoch.
 *
 * Invariants every implementation keeps (the Leadership conformance suite in
 * tests/integration/leadership-conformance-suite.ts checks them):
 * 1. Epochs of one partition only grow: every grant has an epoch greater than every epoch granted
 *    before for that partition (by this process or an earlier one on the same data), and greater
 *    than `lastEpoch(partition)` at the moment of the grant.
 * 2. At most one grant per partition is live at a time; a grant ends when its `revoked` signal
 *    aborts (a lease lost, an operator moved the partition) or when it is released.
 * 3. A grant that was revoked is never valid again: a node that wants the partition back asks
 *    for a new grant, which has a new epoch.
 */

/** One partition handed to one node under one leader epoch. */
export interface LeadershipGrant {
  readonly partition: number;
  /** The leader epoch of this term: positive, growing per partition (invariant 1). */
  readonly epoch: number;
  /** The node the partition was granted to. */
  readonly node: string;
  /** Aborts when the grant ends; the holder must stop acting as leader at once (invariant 2). */
  readonly revoked: AbortSignal;
}

/**
 * The source of partition leadership. The processor depends on this, never on how it is decided.
 *
 * @example
 * const grant = await leadership.acquire(3, signal);
 * await log.append(3, [encodeRecord({ header: { at, leaderEpoch: grant.epoch },
 *   body: { type: "announce_leader", leaderEpoch: grant.epoch, node: grant.node } })]);
 * grant.revoked.addEventListener("abort", stepDown);
 */
export interface Leadership {
  /** This node's id. */
  readonly node: string;
  /**
   * Resolves with a grant once this node leads `partition` (it may wait, in a cluster, until a
   * lease is free). Rejects with the signal's reason if `signal` aborts first, and with an Error
   * if the epoch cannot be recorded (then nothing was granted).
   */
  acquire(partition: number, signal: AbortSignal): Promise<LeadershipGrant>;
  /** Gives a grant up (the processor stops); its `revoked` signal aborts. Releasing twice is harmless. */
  release(grant: LeadershipGrant): Promise<void>;
}

/** Where the embedded leadership records the epochs it granted, so they only grow across restarts. */
export interface EpochRecord {
  /** The highest epoch granted for the partition so far (0 if none). */
  get(partition: number): number;
  /** Records a granted epoch durably before the grant is handed out; throws if it cannot. */
  set(partition: number, epoch: number): void;
}

/** An {@link EpochRecord} in memory: for tests and the simulator (the object plays the disk). */
export function memoryEpochRecord(): EpochRecord {
  const epochs = new Map<number, number>();
  return {
    get: (partition) => epochs.get(partition) ?? 0,
    set: (partition, epoch) => void epochs.set(partition, epoch),
  };
}

/** Options of {@link EmbeddedLeadership}. */
export interface EmbeddedLeadershipOptions {
  /** This node's id (default "embedded"). */
  readonly node?: string;
  /**
   * The last epoch known from the data: the partition store's leader epoch, read after the
   * processor replayed the log's tail (so it covers every AnnounceLeader in the log).
   */
  readonly lastEpoch: (partition: number) => number;
  /** Where granted epochs are kept (default: in memory). */
  readonly epochs?: EpochRecord;
}

/**
 * The embedded mode's leadership: one node, every partition granted to it at once, with epoch =
 * max(last epoch known from the data, last epoch granted) + 1, recorded before it is handed out.
 * Grants end only when released, or revoked by {@link EmbeddedLeadership.revoke} (tests).
 *
 * @example
 * const leadership = new EmbeddedLeadership({ lastEpoch: (p) => stores[p].getLeaderEpoch() });
 */
export class EmbeddedLeadership implements Leadership {
  readonly node: string;
  readonly #lastEpoch: (partition: number) => number;
  readonly #epochs: EpochRecord;
  readonly #live = new Map<number, { grant: LeadershipGrant; end: AbortController }>();

  constructor(options: EmbeddedLeadershipOptions) {
    this.node = options.node ?? "embedded";
    this.#lastEpoch = options.lastEpoch;
    this.#epochs = options.epochs ?? memoryEpochRecord();
  }

  acquire(partition: number, signal: AbortSignal): Promise<LeadershipGrant> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    try {
      // Invariant 2: a new grant ends the previous one (a restarted processor in this process).
      this.#live.get(partition)?.end.abort();
      // Invariant 1: above what the data knows and above what was granted before.
      const epoch = Math.max(this.#lastEpoch(partition), this.#epochs.get(partition)) + 1;
      this.#epochs.set(partition, epoch);
      const end = new AbortController();
      const grant: LeadershipGrant = { partition, epoch, node: this.node, revoked: end.signal };
      this.#live.set(partition, { grant, end });
      return Promise.resolve(grant);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  release(grant: LeadershipGrant): Promise<void> {
    const live = this.#live.get(grant.partition);
    if (live?.grant === grant) {
      this.#live.delete(grant.partition);
      live.end.abort();
    }
    return Promise.resolve();
  }

  /** Ends the live grant of a partition, as a cluster does when a lease is lost (tests). */
  revoke(partition: number): void {
    const live = this.#live.get(partition);
    if (live === undefined) return;
    this.#live.delete(partition);
    live.end.abort();
  }
}
