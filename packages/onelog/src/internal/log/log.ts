/**
 * The log: per partition, an ordered sequence of entries with LSNs 1, 2, 3, … (docs/architecture.md).
 *
 * An entry is opaque bytes (the payload) with a small header the log may need to act on without
 * decoding the payload: the leader epoch of the proposer and a dedup key. The log knows nothing
 * of record types; the partition's codec (partition/codec.ts) turns records into payloads and
 * back. That is what lets a replicated log (JetStream: one message per entry, the header in
 * message headers) implement this interface unchanged.
 *
 * Invariants every implementation keeps (tests/integration/log-conformance-suite.ts checks each
 * one against every implementation):
 * 1. `append` resolves only once its entries are durable (as the implementation defines it:
 *    fsynced, or replicated to a quorum). The LSNs it returns are consecutive, per partition, in
 *    the order the entries were given, and above every LSN handed out before. One call's entries
 *    are appended atomically: all or none. How appends are grouped into commits is the
 *    implementation's business, not the contract's.
 * 2. A payload and its header are read back exactly as appended (bytes and fields); the log
 *    neither interprets nor changes them. The log owns a payload once it is appended (no copy is
 *    made: the appender must not modify it afterwards), and readers treat what they are given as
 *    read-only.
 * 3. `read` yields every entry with LSN ≥ fromLsn in LSN order, exactly once, in non-empty
 *    batches, then tails new appends until the signal aborts; what it yields was durable when
 *    yielded.
 * 4. `trim(p, lsn)` may drop entries ≤ lsn (clamped to the tail); reads from below the trim point
 *    continue above it, without a gap; LSNs never restart, even when everything was trimmed.
 * 5. `findTail` answers asynchronously with the durable tail and the trim point, both
 *    monotonic: an append that resolved with LSN n is followed by a tail ≥ n.
 * 6. A failed append (disk full, closed log, lost quorum) rejects with a {@link LogError} and
 *    loses nothing acknowledged before; the log stays usable unless it was closed.
 */

/** Dedup info: a producer (an ingress node, another partition's outbox) and its sequence number. */
export interface DedupKey {
  readonly producer: string;
  readonly seq: number;
}

/** What the log carries beside the payload: enough to fence and deduplicate without decoding. */
export interface EntryHeader {
  /** The leader epoch of the proposer, for entries proposed by a partition leader. */
  readonly leaderEpoch?: number;
  /** Set by producers that retry (outbox shipping, ingress): apply drops a seq already seen. */
  readonly dedup?: DedupKey;
}

/** An entry as appended: header and payload bytes. */
export interface LogEntry {
  readonly header: EntryHeader;
  readonly payload: Uint8Array;
}

/** An entry as read back: with the LSN the log gave it. */
export interface StoredEntry extends LogEntry {
  readonly lsn: number;
}

/** Where a partition's log stands (Log.5). */
export interface LogPosition {
  /** The highest durable LSN (0 when nothing was ever appended). */
  readonly tailLsn: number;
  /** The highest LSN trimmed away (0 when nothing was trimmed); ≤ tailLsn. */
  readonly trimmedLsn: number;
}

/**
 * A partitioned log. See the invariants above; every method's failures are LogErrors unless it
 * says otherwise, and a partition number outside `0 … partitions-1` throws a RangeError.
 *
 * @example
 * const [lsn] = await log.append(0, [{ header: {}, payload: encodeRecord(record) }]);
 * for await (const batch of log.read(0, lsn, signal)) for (const e of batch) handle(e);
 */
export interface Log {
  /** The number of partitions this log holds. */
  readonly partitions: number;
  /**
   * Appends entries to one partition; resolves with their LSNs once they are durable (Log.1).
   * Rejects with LogError "closed" after close, "disk_full" or "io" when nothing was appended.
   */
  append(partition: number, entries: readonly LogEntry[]): Promise<number[]>;
  /**
   * Reads a partition from `fromLsn` on, in batches, and keeps tailing new entries until
   * `signal` aborts or the log closes (then the iterator ends). A corrupted or missing entry
   * throws LogError "io" from the iterator, after the good entries before it.
   */
  read(partition: number, fromLsn: number, signal: AbortSignal): AsyncIterable<readonly StoredEntry[]>;
  /** The durable tail and trim point of a partition (Log.5). Rejects with LogError "closed" after close. */
  findTail(partition: number): Promise<LogPosition>;
  /**
   * Drops entries with LSN ≤ upToLsn: the caller holds a snapshot that covers them (Log.4).
   * Rejects with LogError "closed" after close, "disk_full" or "io" if nothing was dropped.
   */
  trim(partition: number, upToLsn: number): Promise<void>;
  /** Commit counters (commits, the entries they carried), where the implementation measures them. */
  readonly stats?: {
    readonly commits: number;
    readonly records: number;
    readonly maxRecordsPerCommit: number;
  };
  /** Makes pending appends durable and releases resources; later calls reject with LogError "closed". */
  close(): Promise<void>;
}

/** Why an append failed. These are expected failures, handled where they occur. */
export type LogErrorCode = "closed" | "disk_full" | "io";

/** An append or read that failed; `code` says why. Nothing acknowledged before is lost. */
export class LogError extends Error {
  constructor(
    readonly code: LogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LogError";
  }
}
