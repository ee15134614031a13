/**
 * An in-memory {@link Log} for tests and the deterministic simulator (docs/architecture.md).
 *
 * "Durable" here means "flushed": a proposal becomes durable when the deferred flush runs, and
 * {@link MemoryLog.crash} drops every proposal not flushed yet, as a process crash drops writes
 * that were never fsynced. The object itself plays the disk: it survives a crash.
 *
 * Invariants (besides the ones of {@link Log}, which cite as Log.1 … Log.6):
 * 1. Per partition, `durable` holds the entries with LSNs `trimmedLsn + 1 … tailLsn`, in order,
 *    without gaps; `nextLsn` is `tailLsn + 1` plus the number of pending proposed records.
 * 2. Pending proposals are flushed in the order they were made, all at once, by one deferred
 *    flush (one "commit", counted in `stats.commits`).
 * 3. A crash discards every pending proposal (their promises never settle), resets `nextLsn` to
 *    `tailLsn + 1`, ends every reader started before it, and leaves durable records untouched.
 * 4. A reader yields only durable records, each once, in LSN order (Log.3).
 */
import { LogError } from "./log.js";
import type { Log, LogEntry, LogPosition, StoredEntry } from "./log.js";

/**
 * Runs a function later, after the current synchronous work: the moment a group commit flushes.
 * The simulator passes its own to control when flushes (and so durability) happen.
 *
 * @example
 * const queue: Array<() => void> = [];
 * const log = new MemoryLog({ partitions: 2, scheduler: { defer: (fn) => queue.push(fn) } });
 */
export interface Scheduler {
  defer(fn: () => void): void;
}

/** Counts of commits (flushes) and the records they made durable, for tests and benchmarks. */
export interface MemoryLogStats {
  /** Flushes that made at least one record durable. */
  readonly commits: number;
  /** Records made durable. */
  readonly records: number;
  /** The largest number of records made durable by one flush. */
  readonly maxRecordsPerCommit: number;
}

/** Options of {@link MemoryLog}. */
export interface MemoryLogOptions {
  readonly partitions: number;
  /** When flushes run; default `setImmediate`, so appends of one event-loop turn share one. */
  readonly scheduler?: Scheduler;
}

interface Pending {
  readonly partition: number;
  readonly records: readonly StoredEntry[];
  readonly resolve: (lsns: number[]) => void;
}

interface PartitionState {
  /** Durable records, LSNs trimmedLsn + 1 … tailLsn (invariant 1). */
  durable: StoredEntry[];
  trimmedLsn: number;
  tailLsn: number;
  nextLsn: number;
  /** Readers waiting for a flush, a crash or a close. */
  waiters: Set<() => void>;
}

const defaultScheduler: Scheduler = { defer: (fn) => void setImmediate(fn) };

/** How many records a reader yields at most per batch. */
const READ_BATCH_RECORDS = 512;

/**
 * An in-memory log with group commit and simulated crashes.
 *
 * Appends resolve when the deferred flush runs; every append proposed before that flush shares
 * it (an implementation detail: the contract promises durability per call, Log.1). Payloads are
 * kept as given (the log owns them once appended, Log.2). `crash()` loses what was not flushed;
 * the object stays usable and acts like the reopened log of a restarted process.
 *
 * @example
 * const log = new MemoryLog({ partitions: 4 });
 * const [lsn] = await log.append(0, [encodeRecord({ header: { at: Date.now() }, body })]);
 * for await (const batch of log.read(0, 1, signal)) apply(batch.map(decodeRecord));
 */
export class MemoryLog implements Log {
  readonly partitions: number;
  readonly #scheduler: Scheduler;
  readonly #parts: PartitionState[];
  #pending: Pending[] = [];
  #flushScheduled = false;
  /** Bumped by every crash: flushes and readers of an older generation do nothing (invariant 3). */
  #generation = 0;
  #closed = false;
  #stats = { commits: 0, records: 0, maxRecordsPerCommit: 0 };

  constructor(options: MemoryLogOptions) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1) {
      throw new RangeError(`MemoryLog: partitions must be a positive integer, got ${options.partitions}`);
    }
    this.partitions = options.partitions;
    this.#scheduler = options.scheduler ?? defaultScheduler;
    this.#parts = Array.from({ length: options.partitions }, () => ({
      durable: [],
      trimmedLsn: 0,
      tailLsn: 0,
      nextLsn: 1,
      waiters: new Set<() => void>(),
    }));
  }

  /** A snapshot of the commit counters. */
  get stats(): MemoryLogStats {
    return { ...this.#stats };
  }

  /** The largest number of records made durable by one flush so far. */
  get maxRecordsPerCommit(): number {
    return this.#stats.maxRecordsPerCommit;
  }

  /**
   * Proposes records; resolves with their LSNs at the next flush. Rejects with LogError "closed"
   * after {@link close}; never settles if the log crashes first.
   */
  append(partition: number, entries: readonly LogEntry[]): Promise<number[]> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: append to partition ${partition}`));
    // Invariant 1: LSNs are assigned at proposal, consecutively; a crash gives them back.
    const stored: StoredEntry[] = entries.map((entry, i) => ({
      lsn: part.nextLsn + i,
      header: entry.header,
      payload: entry.payload,
    }));
    if (stored.length === 0) return Promise.resolve([]);
    part.nextLsn += stored.length;
    return new Promise<number[]>((resolve) => {
      this.#pending.push({ partition, records: stored, resolve });
      this.#scheduleFlush();
    });
  }

  read(partition: number, fromLsn: number, signal: AbortSignal): AsyncIterable<readonly StoredEntry[]> {
    const part = this.#part(partition);
    return this.#reader(part, fromLsn, signal);
  }

  /** The durable tail and trim point; rejects with LogError "closed" after {@link close}. */
  findTail(partition: number): Promise<LogPosition> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: findTail of partition ${partition}`));
    return Promise.resolve({ tailLsn: part.tailLsn, trimmedLsn: part.trimmedLsn });
  }

  /** Drops durable records ≤ upToLsn (clamped to the tail); the trim point survives crashes. */
  trim(partition: number, upToLsn: number): Promise<void> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: trim of partition ${partition}`));
    const upTo = Math.min(upToLsn, part.tailLsn);
    if (upTo > part.trimmedLsn) {
      part.durable.splice(0, upTo - part.trimmedLsn);
      part.trimmedLsn = upTo;
    }
    return Promise.resolve();
  }

  /** Flushes pending proposals, ends readers; later appends and trims reject with "closed". */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#flush(this.#generation);
      this.#closed = true;
      this.#wakeAll();
    }
    return Promise.resolve();
  }

  /**
   * Simulates a process crash and restart: drops every proposal not flushed yet (their append
   * promises never settle), ends all active readers, and reopens the log if it was closed.
   * Durable records and trim points survive; new LSNs continue after the durable tail.
   */
  crash(): void {
    this.#generation += 1;
    this.#pending = [];
    this.#flushScheduled = false;
    this.#closed = false;
    for (const part of this.#parts) part.nextLsn = part.tailLsn + 1;
    this.#wakeAll();
  }

  #part(partition: number): PartitionState {
    const part = Number.isInteger(partition) ? this.#parts[partition] : undefined;
    if (part === undefined) {
      throw new RangeError(`MemoryLog: no partition ${partition} (the log has ${this.partitions})`);
    }
    return part;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const generation = this.#generation;
    this.#scheduler.defer(() => this.#flush(generation));
  }

  /** Makes every pending proposal durable as one commit (invariant 2). */
  #flush(generation: number): void {
    // A flush scheduled before a crash belongs to the dead process (invariant 3).
    if (generation !== this.#generation) return;
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let count = 0;
    const touched = new Set<PartitionState>();
    for (const item of batch) {
      const part = this.#parts[item.partition]!;
      for (const record of item.records) {
        // Invariant 1: pending records are flushed in proposal order, so each extends the tail.
        if (record.lsn !== part.tailLsn + 1) {
          throw new Error(
            `MemoryLog invariant 1 broken: partition ${item.partition} tail ${part.tailLsn}, next ${record.lsn}`,
          );
        }
        part.durable.push(record);
        part.tailLsn = record.lsn;
      }
      count += item.records.length;
      touched.add(part);
    }
    this.#stats.commits += 1;
    this.#stats.records += count;
    this.#stats.maxRecordsPerCommit = Math.max(this.#stats.maxRecordsPerCommit, count);
    for (const item of batch) item.resolve(item.records.map((r) => r.lsn));
    for (const part of touched) wake(part);
  }

  #wakeAll(): void {
    for (const part of this.#parts) wake(part);
  }

  async *#reader(
    part: PartitionState,
    fromLsn: number,
    signal: AbortSignal,
  ): AsyncGenerator<readonly StoredEntry[]> {
    const generation = this.#generation;
    let next = Math.max(1, Math.floor(fromLsn));
    const ended = (): boolean => signal.aborted || this.#closed || generation !== this.#generation;
    while (!ended()) {
      // Log.4: records at or below the trim point are gone; continue above it.
      next = Math.max(next, part.trimmedLsn + 1);
      if (next <= part.tailLsn) {
        const start = next - part.trimmedLsn - 1;
        const batch = part.durable.slice(start, start + READ_BATCH_RECORDS);
        next = batch[batch.length - 1]!.lsn + 1;
        yield batch;
        continue;
      }
      await waitForWake(part, signal);
    }
  }
}

function wake(part: PartitionState): void {
  const waiters = [...part.waiters];
  part.waiters.clear();
  for (const waiter of waiters) waiter();
}

/** Resolves at the partition's next wake-up (flush, crash, close) or when the signal aborts. */
function waitForWake(part: { waiters: Set<() => void> }, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      part.waiters.delete(done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    part.waiters.add(done);
    signal.addEventListener("abort", done, { once: true });
  });
}
