/**
 * The log: per partition, an ordered sequence of records with LSNs 1, 2, 3, … (DESIGN.md §4).
 *
 * Invariants every implementation keeps (the conformance suite in tests/ checks them):
 * 1. `append` resolves only once its records are durable; the LSNs it returns are consecutive,
 *    per partition, in the order the records were given, and after every LSN handed out before.
 * 2. Appends made in the same turn of the event loop are made durable together (group commit).
 * 3. `read` yields every record with LSN ≥ fromLsn in LSN order, exactly once, then tails new
 *    appends until the signal aborts; what it yields was durable when yielded.
 * 4. `trim(p, lsn)` may drop records ≤ lsn; reads never see a gap above the trim point.
 * 5. A failed append (disk full, closed log) rejects with a {@link LogError} and loses nothing
 *    that was acknowledged before.
 */
import type { LogRecord, ProposedRecord } from "../partition/records.js";

export interface Log {
  /** The number of partitions this log holds. */
  readonly partitions: number;
  /** Appends records to one partition; resolves with their LSNs once durable. */
  append(partition: number, records: readonly ProposedRecord[]): Promise<number[]>;
  /**
   * Reads a partition from `fromLsn` on, in batches, and keeps tailing new records until
   * `signal` aborts (then the iterator ends).
   */
  read(partition: number, fromLsn: number, signal: AbortSignal): AsyncIterable<readonly LogRecord[]>;
  /** The highest LSN appended durably in the partition (0 when empty). */
  tailLsn(partition: number): number;
  /** The highest LSN trimmed away in the partition (0 when nothing was trimmed). */
  trimmedLsn(partition: number): number;
  /** Drops records with LSN ≤ upToLsn (they are materialized elsewhere). */
  trim(partition: number, upToLsn: number): Promise<void>;
  /** Group-commit counters: commits (fsyncs) and the records they carried, where measured. */
  readonly stats?: {
    readonly commits: number;
    readonly records: number;
    readonly maxRecordsPerCommit: number;
  };
  /** Flushes and releases resources; later appends reject with LogError "closed". */
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
