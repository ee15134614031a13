/**
 * The embedded {@link Log}: every partition in one SQLite database, WAL mode, with group commit
 * (docs/architecture.md).
 *
 * Durability without blocking the event loop: SQLite runs with `synchronous=OFF`, so a COMMIT
 * only writes its WAL frames to the page cache; the log then fsyncs the WAL file itself with
 * `fs.fsync` on libuv's thread pool and resolves the appends of every transaction committed
 * before that fsync started. While one fsync is in flight the event loop keeps committing new
 * transactions, which the next fsync covers (pipelined group commit). This is what
 * `synchronous=FULL` does in WAL mode (sync the WAL before acknowledging a commit), moved off the
 * main thread. Checkpoints are never automatic: the log runs them itself with
 * `synchronous=FULL` (WAL fsynced before, database file fsynced after), so the WAL is never reset
 * over frames whose pages are not durable in the database file.
 *
 * Group commit is this implementation's own business (the Log contract only promises that each
 * append resolves once durable): appends made in one turn of the event loop, across partitions,
 * share one transaction and one fsync.
 *
 * Invariants (besides the ones of {@link Log}, which cite as Log.1 … Log.6):
 * 1. Per partition, the durable rows are exactly LSNs `trimmedLsn + 1 … tailLsn`, without gaps;
 *    committed but not yet fsynced rows are `tailLsn + 1 … committedLsn`; `nextLsn` is
 *    `committedLsn + 1` plus the number of pending (not yet committed) records. An append
 *    resolves, and readers see its records, only once they are durable (`tailLsn`).
 * 2. Pending appends are committed in the order they were made, in transactions of at most
 *    `maxBatchRecords` records and `maxBatchBytes` bytes (one append larger than that is committed
 *    alone); an append's records are never split across transactions, so an append is atomic.
 * 3. A failed transaction rejects every append in it and rolls `nextLsn` back to `committedLsn + 1`;
 *    nothing committed before is touched, and the next append continues without a gap.
 * 4. `cache` holds the most recently committed entries of the partition, consecutive and ending
 *    at `tailLsn`; readers serve from it whatever it holds and read older entries from disk.
 * 5. Every entry is stored with a CRC32 over its header and payload; a read whose CRC does not
 *    match fails with LogError "io".
 * 6. The file declares its layout (`log_meta.format` = LOG_FORMAT); a file with another layout is
 *    refused at open with DataFormatError (OL1022), before anything is read or written.
 */
import Database from "better-sqlite3";
import { closeSync, fsync, fsyncSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import { DataFormatError, LOG_FORMAT } from "../format-versions.js";
import { LogError } from "./log.js";
import type { EntryHeader, Log, LogEntry, LogPosition, StoredEntry } from "./log.js";

/** Options of {@link SqliteLog.open}. */
export interface SqliteLogOptions {
  /** The database file; created if missing. */
  readonly path: string;
  /** The number of partitions; must match what the file was created with. */
  readonly partitions: number;
  /** Most records in one commit (default 1024). */
  readonly maxBatchRecords?: number;
  /** Most encoded bytes in one commit (default 4 MiB). */
  readonly maxBatchBytes?: number;
  /** SQLite `max_page_count`: caps the file size, so tests can simulate a full disk. */
  readonly maxPageCount?: number;
  /** Recently committed records kept in memory per partition for tailing readers (default 2048). */
  readonly tailCacheRecords?: number;
}

/** Counts of fsynced transactions and the records in them, for benchmarks and notes. */
export interface SqliteLogStats {
  /** Append transactions made durable (an fsync may cover several of them). */
  readonly commits: number;
  /** Records committed by them. */
  readonly records: number;
  /** The largest number of records committed by one transaction. */
  readonly maxRecordsPerCommit: number;
}

interface PendingAppend {
  readonly partition: number;
  readonly firstLsn: number;
  readonly entries: readonly LogEntry[];
  readonly resolve: (lsns: number[]) => void;
  readonly reject: (error: LogError) => void;
}

interface PartitionState {
  readonly index: number;
  tailLsn: number;
  /** Highest LSN committed to SQLite (durable or not yet). */
  committedLsn: number;
  nextLsn: number;
  trimmedLsn: number;
  /** Invariant 4: recent committed records, consecutive, the last one at tailLsn. */
  cache: StoredEntry[];
  /** Readers waiting for a commit or a close. */
  readonly waiters: Set<() => void>;
}

interface StoredRow {
  readonly lsn: number;
  readonly leader_epoch: number | null;
  readonly producer: string | null;
  readonly seq: number | null;
  readonly payload: Buffer;
  readonly crc: number;
}

const DEFAULT_MAX_BATCH_RECORDS = 1024;
const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
const DEFAULT_TAIL_CACHE_RECORDS = 2048;
/** A checkpoint (copying the WAL into the database file) runs after this many commits… */
const CHECKPOINT_EVERY_COMMITS = 1000;
/** …or once this many bytes were committed since the last one. */
const CHECKPOINT_EVERY_BYTES = 16 * 1024 * 1024;
/** fsyncs of the WAL running at once (libuv's thread pool has 4 threads). */
const MAX_CONCURRENT_FSYNCS = 2;
/** What a reset WAL may keep on disk (SQLite's journal_size_limit). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** How many records a reader reads from disk (and yields) at most per batch. */
const READ_BATCH_RECORDS = 512;

/**
 * A log in one SQLite file with group commit: every append made in one turn of the event loop
 * goes into one transaction and one fsync, across partitions (split when it exceeds the batch
 * limits). `append` resolves once its transaction committed; if the transaction fails, every
 * append in it rejects with LogError ("disk_full" for SQLITE_FULL, "io" otherwise), nothing
 * acknowledged before is lost, and the log stays usable.
 *
 * @example
 * const log = SqliteLog.open({ path: ".onelog/log.db", partitions: 4 });
 * const lsns = await log.append(2, records);          // durable once resolved
 * for await (const batch of log.read(2, 1, signal)) apply(batch);
 * await log.close();
 */
export class SqliteLog implements Log {
  readonly partitions: number;
  readonly #db: Database.Database;
  readonly #maxBatchRecords: number;
  readonly #maxBatchBytes: number;
  readonly #tailCacheRecords: number;
  readonly #parts: PartitionState[];
  readonly #insert: Database.Statement<
    [number, number, number | null, string | null, number | null, Uint8Array, number]
  >;
  readonly #selectFrom: Database.Statement<[number, number, number], StoredRow>;
  readonly #commitBatch: (batch: readonly PendingAppend[]) => void;
  readonly #trimTx: (partition: number, upToLsn: number) => void;
  #pending: PendingAppend[] = [];
  #pendingRecords = 0;
  #pendingBytes = 0;
  #flushTimer: NodeJS.Immediate | undefined;
  #closed = false;
  /** The WAL file, fsynced by this log (SQLite runs with synchronous=OFF). */
  readonly #walFd: number;
  /** Transactions committed but not yet covered by an fsync, oldest first. */
  #unsynced: { batch: readonly PendingAppend[]; count: number; seq: number }[] = [];
  /** Commits made so far (each gets the next number), and the highest one an fsync was started for. */
  #commitSeq = 0;
  #syncStartedSeq = 0;
  /** fsyncs running now (at most MAX_CONCURRENT_FSYNCS). */
  #syncing = 0;
  #syncWaiters: (() => void)[] = [];
  /** Set when an fsync failed: nothing after it can be trusted to be durable. */
  #failed: LogError | undefined;
  #commitsSinceCheckpoint = 0;
  #bytesSinceCheckpoint = 0;
  #stats = { commits: 0, records: 0, maxRecordsPerCommit: 0 };

  private constructor(db: Database.Database, options: SqliteLogOptions, walFd: number) {
    this.#db = db;
    this.#walFd = walFd;
    this.partitions = options.partitions;
    this.#maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    this.#maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#tailCacheRecords = options.tailCacheRecords ?? DEFAULT_TAIL_CACHE_RECORDS;

    this.#insert = db.prepare(
      "INSERT INTO log (partition, lsn, leader_epoch, producer, seq, payload, crc) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#selectFrom = db.prepare(
      "SELECT lsn, leader_epoch, producer, seq, payload, crc FROM log " +
        "WHERE partition = ? AND lsn >= ? ORDER BY lsn LIMIT ?",
    );
    this.#commitBatch = db.transaction((batch: readonly PendingAppend[]) => {
      for (const item of batch) {
        item.entries.forEach(({ header, payload }, i) =>
          this.#insert.run(
            item.partition,
            item.firstLsn + i,
            header.leaderEpoch ?? null,
            header.dedup?.producer ?? null,
            header.dedup?.seq ?? null,
            payload,
            checksum(header.leaderEpoch, header.dedup?.producer, header.dedup?.seq, payload),
          ),
        );
      }
    });
    const deleteUpTo = db.prepare<[number, number]>("DELETE FROM log WHERE partition = ? AND lsn <= ?");
    const setTrimmed = db.prepare<[number, number]>(
      "INSERT INTO log_trim (partition, trimmed_lsn) VALUES (?, ?) " +
        "ON CONFLICT (partition) DO UPDATE SET trimmed_lsn = excluded.trimmed_lsn",
    );
    this.#trimTx = db.transaction((partition: number, upToLsn: number) => {
      deleteUpTo.run(partition, upToLsn);
      setTrimmed.run(partition, upToLsn);
    });

    const tails = new Map<number, number>();
    for (const row of db.prepare("SELECT partition, MAX(lsn) AS lsn FROM log GROUP BY partition").all() as {
      partition: number;
      lsn: number;
    }[]) {
      tails.set(row.partition, row.lsn);
    }
    const trims = new Map<number, number>();
    for (const row of db.prepare("SELECT partition, trimmed_lsn FROM log_trim").all() as {
      partition: number;
      trimmed_lsn: number;
    }[]) {
      trims.set(row.partition, row.trimmed_lsn);
    }
    this.#parts = Array.from({ length: options.partitions }, (_, index) => {
      const trimmedLsn = trims.get(index) ?? 0;
      // A fully trimmed partition keeps its tail in log_trim, so LSNs never restart (Log.1).
      const tailLsn = Math.max(tails.get(index) ?? 0, trimmedLsn);
      return {
        index,
        tailLsn,
        committedLsn: tailLsn,
        nextLsn: tailLsn + 1,
        trimmedLsn,
        cache: [],
        waiters: new Set<() => void>(),
      };
    });
  }

  /**
   * Opens (or creates) the log file. Throws LogError "io" if the file cannot be opened, an Error
   * if it was created with a different number of partitions, and DataFormatError (OL1022) if it
   * has another layout (invariant 6).
   *
   * @example
   * const log = SqliteLog.open({ path: "/var/lib/onelog/log.db", partitions: 8 });
   */
  static open(options: SqliteLogOptions): SqliteLog {
    if (!Number.isInteger(options.partitions) || options.partitions < 1) {
      throw new RangeError(`SqliteLog: partitions must be a positive integer, got ${options.partitions}`);
    }
    for (const name of ["maxBatchRecords", "maxBatchBytes", "maxPageCount"] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new RangeError(`SqliteLog: ${name} must be a positive integer, got ${value}`);
      }
    }
    if (
      options.tailCacheRecords !== undefined &&
      (!Number.isInteger(options.tailCacheRecords) || options.tailCacheRecords < 0)
    ) {
      throw new RangeError(
        `SqliteLog: tailCacheRecords must be an integer ≥ 0, got ${options.tailCacheRecords}`,
      );
    }
    let db: Database.Database;
    try {
      db = new Database(options.path);
    } catch (error) {
      throw new LogError("io", `log ${options.path}: cannot open: ${messageOf(error)}`, { cause: error });
    }
    try {
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") throw new Error(`journal_mode is ${String(mode)}, not wal`);
      // OFF: commits do not fsync; the log fsyncs the WAL itself, off the event loop, before it
      // resolves an append (see the header). No automatic checkpoints: the log runs them with FULL.
      db.pragma("synchronous = OFF");
      db.pragma("wal_autocheckpoint = 0");
      if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
      checkFormat(db, options.path);
      db.exec(`
        CREATE TABLE IF NOT EXISTS log (
          partition INTEGER NOT NULL,
          lsn INTEGER NOT NULL,
          leader_epoch INTEGER,
          producer TEXT,
          seq INTEGER,
          payload BLOB NOT NULL,
          crc INTEGER NOT NULL,
          PRIMARY KEY (partition, lsn)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS log_trim (
          partition INTEGER PRIMARY KEY,
          trimmed_lsn INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS log_meta (
          name TEXT PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;
      `);
      db.prepare("INSERT OR IGNORE INTO log_meta (name, value) VALUES ('format', ?)").run(LOG_FORMAT);
      db.prepare("INSERT OR IGNORE INTO log_meta (name, value) VALUES ('partitions', ?)").run(
        options.partitions,
      );
      const stored = db
        .prepare("SELECT value FROM log_meta WHERE name = 'partitions'")
        .pluck()
        .get() as number;
      if (stored !== options.partitions) {
        throw new Error(
          `log ${options.path} was created with ${stored} partitions, opened with ${options.partitions}: ` +
            "records would land in other partitions; open it with the same count",
        );
      }
      // After a crash the WAL may be long (no checkpoint since the last one): copy it into the
      // database file (FULL: durable) and truncate it, so it never grows across restarts; and
      // cap what a reset WAL keeps on disk.
      db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      db.pragma("synchronous = FULL");
      db.pragma("wal_checkpoint(TRUNCATE)");
      db.pragma("synchronous = OFF");
      // The WAL file exists once the schema is written; its directory entry must be durable too.
      const walFd = openSync(`${options.path}-wal`, "r+");
      fsyncSync(walFd);
      const dirFd = openSync(dirname(options.path), "r");
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
      return new SqliteLog(db, options, walFd);
    } catch (error) {
      db.close();
      if (error instanceof LogError || error instanceof DataFormatError) throw error;
      if (error instanceof Error && !isSqliteError(error)) throw error;
      throw new LogError("io", `log ${options.path}: cannot open: ${messageOf(error)}`, { cause: error });
    }
  }

  /** A snapshot of the commit counters. */
  get stats(): SqliteLogStats {
    return { ...this.#stats };
  }

  /** The largest number of records committed by one transaction so far. */
  get maxRecordsPerCommit(): number {
    return this.#stats.maxRecordsPerCommit;
  }

  /**
   * Appends entries to a partition; resolves with their LSNs once their transaction is durable.
   * Rejects with LogError "closed" after {@link close}, "disk_full" or "io" if the transaction
   * failed (then none of these entries is stored).
   */
  append(partition: number, entries: readonly LogEntry[]): Promise<number[]> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: append to partition ${partition}`));
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    const count = entries.length;
    if (count === 0) return Promise.resolve([]);
    let bytes = 0;
    for (const entry of entries) bytes += entry.payload.byteLength;
    // Invariant 2: flush early rather than let one transaction exceed the batch limits.
    if (
      this.#pending.length > 0 &&
      (this.#pendingRecords + count > this.#maxBatchRecords ||
        this.#pendingBytes + bytes > this.#maxBatchBytes)
    ) {
      this.#flush();
    }
    // LSNs are assigned after that flush, so its rollback (invariant 3) cannot leave a gap.
    const firstLsn = part.nextLsn;
    part.nextLsn += count;
    this.#pendingRecords += count;
    this.#pendingBytes += bytes;
    const promise = new Promise<number[]>((resolve, reject) => {
      this.#pending.push({ partition, firstLsn, entries, resolve, reject });
    });
    this.#flushTimer ??= setImmediate(() => {
      this.#flushTimer = undefined;
      this.#flush();
    });
    return promise;
  }

  read(partition: number, fromLsn: number, signal: AbortSignal): AsyncIterable<readonly StoredEntry[]> {
    return this.#reader(this.#part(partition), fromLsn, signal);
  }

  /** The durable tail and trim point, from memory; rejects with LogError "closed" after close. */
  findTail(partition: number): Promise<LogPosition> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: findTail of partition ${partition}`));
    return Promise.resolve({ tailLsn: part.tailLsn, trimmedLsn: part.trimmedLsn });
  }

  /**
   * Deletes records ≤ upToLsn (clamped to the tail) in one fsynced transaction. Rejects with
   * LogError "closed" after close, "disk_full" or "io" if the delete failed.
   */
  trim(partition: number, upToLsn: number): Promise<void> {
    const part = this.#part(partition);
    if (this.#closed)
      return Promise.reject(new LogError("closed", `log closed: trim of partition ${partition}`));
    const upTo = Math.min(Math.floor(upToLsn), part.tailLsn);
    if (upTo <= part.trimmedLsn) return Promise.resolve();
    try {
      this.#trimTx(partition, upTo);
    } catch (error) {
      return Promise.reject(toLogError(error, `trim of partition ${partition} up to ${upTo}`));
    }
    part.trimmedLsn = upTo;
    const drop = part.cache.findIndex((entry) => entry.lsn > upTo);
    part.cache = drop === -1 ? [] : part.cache.slice(drop);
    return Promise.resolve();
  }

  /**
   * Commits pending appends, ends readers and closes the database. Later appends reject with
   * LogError "closed". Closing twice is harmless.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#flushTimer !== undefined) clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flush();
    this.#closed = true;
    // Every committed transaction is made durable (and its appends resolved) before closing.
    while (this.#syncing > 0 || this.#unsynced.length > 0) {
      await new Promise<void>((resolve) => {
        this.#syncWaiters.push(resolve);
        this.#startSync();
      });
    }
    for (const part of this.#parts) wake(part);
    try {
      this.#checkpoint();
      this.#db.close();
      closeSync(this.#walFd);
    } catch (error) {
      throw toLogError(error, "close");
    }
  }

  /**
   * Copies the WAL into the database file with synchronous=FULL (WAL fsynced first, database file
   * after), so the WAL can later be reset safely. PASSIVE: it never waits for readers.
   */
  #checkpoint(): void {
    this.#commitsSinceCheckpoint = 0;
    this.#bytesSinceCheckpoint = 0;
    this.#db.pragma("synchronous = FULL");
    try {
      this.#db.pragma("wal_checkpoint(PASSIVE)");
    } finally {
      this.#db.pragma("synchronous = OFF");
    }
  }

  /**
   * Starts an fsync of the WAL covering every transaction committed so far. Up to
   * MAX_CONCURRENT_FSYNCS run at once, so a commit does not wait for an fsync that started before
   * it to finish first. An fsync covers everything written before it started: when one returns,
   * every commit up to its start is durable, whatever earlier fsyncs are still running.
   */
  #startSync(): void {
    if (this.#syncStartedSeq >= this.#commitSeq || this.#syncing >= MAX_CONCURRENT_FSYNCS) {
      if (this.#syncing === 0 && this.#unsynced.length === 0)
        for (const w of this.#syncWaiters.splice(0)) w();
      return;
    }
    const upTo = this.#commitSeq;
    this.#syncStartedSeq = upTo;
    this.#syncing++;
    fsync(this.#walFd, (error) => {
      this.#syncing--;
      if (error !== null) {
        // After a failed fsync nothing written since the last good one is known to be durable
        // (the kernel may have dropped the dirty pages): fail these appends and every later one.
        this.#failed ??= new LogError("io", `log fsync failed: ${error.message}`, { cause: error });
        for (const { batch } of this.#unsynced) for (const item of batch) item.reject(this.#failed);
        this.#unsynced = [];
      } else {
        while (this.#unsynced.length > 0 && this.#unsynced[0]!.seq <= upTo) {
          const c = this.#unsynced.shift()!;
          this.#durable(c.batch, c.count);
        }
      }
      if (this.#syncing === 0 && this.#unsynced.length === 0)
        for (const w of this.#syncWaiters.splice(0)) w();
      this.#startSync();
    });
  }

  /**
   * Sets SQLite's `max_page_count` (the file's size cap, in pages) and returns the cap now in
   * force; SQLite never sets it below the current size. For tests that simulate a full disk, and
   * for operators who want a hard cap.
   */
  setMaxPageCount(pages: number): number {
    if (this.#closed) throw new LogError("closed", "log closed: setMaxPageCount");
    return this.#db.pragma(`max_page_count = ${Math.max(1, Math.floor(pages))}`, { simple: true }) as number;
  }

  #part(partition: number): PartitionState {
    const part = Number.isInteger(partition) ? this.#parts[partition] : undefined;
    if (part === undefined) {
      throw new RangeError(`SqliteLog: no partition ${partition} (the log has ${this.partitions})`);
    }
    return part;
  }

  /** Commits every pending append in one transaction (invariant 2), or rejects them all (invariant 3). */
  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    const count = this.#pendingRecords;
    this.#pending = [];
    this.#pendingRecords = 0;
    this.#pendingBytes = 0;
    try {
      this.#commitBatch(batch);
    } catch (error) {
      // Invariant 3: nothing is pending now, so every partition continues right after its last commit.
      for (const part of this.#parts) part.nextLsn = part.committedLsn + 1;
      const logError = toLogError(error, `append of ${count} records`);
      for (const item of batch) item.reject(logError);
      return;
    }
    for (const item of batch) {
      const part = this.#parts[item.partition]!;
      part.committedLsn = item.firstLsn + item.entries.length - 1;
    }
    this.#unsynced.push({ batch, count, seq: ++this.#commitSeq });
    this.#bytesSinceCheckpoint += bytesOf(batch);
    if (
      ++this.#commitsSinceCheckpoint >= CHECKPOINT_EVERY_COMMITS ||
      this.#bytesSinceCheckpoint >= CHECKPOINT_EVERY_BYTES
    ) {
      try {
        this.#checkpoint();
      } catch {
        // A checkpoint that cannot run now (disk full) runs later; the WAL keeps the records.
      }
    }
    this.#startSync();
  }

  /** A committed batch is durable: resolve its appends and hand its records to readers. */
  #durable(batch: readonly PendingAppend[], count: number): void {
    this.#stats.commits += 1;
    this.#stats.records += count;
    this.#stats.maxRecordsPerCommit = Math.max(this.#stats.maxRecordsPerCommit, count);
    const touched = new Set<PartitionState>();
    for (const item of batch) {
      const part = this.#parts[item.partition]!;
      if (item.firstLsn !== part.tailLsn + 1) {
        throw new Error(
          `SqliteLog invariant 1 broken: partition ${item.partition} tail ${part.tailLsn}, next ${item.firstLsn}`,
        );
      }
      part.tailLsn = item.firstLsn + item.entries.length - 1;
      if (this.#tailCacheRecords > 0) {
        // The appended entries themselves: the log owns their payloads (Log.2), no copy needed.
        item.entries.forEach(({ header, payload }, i) =>
          part.cache.push({ lsn: item.firstLsn + i, header, payload }),
        );
      }
      touched.add(part);
    }
    for (const part of touched) {
      // Trim the cache in steps, so the cost stays amortized O(1) per record (invariant 4).
      if (part.cache.length > 2 * this.#tailCacheRecords) {
        part.cache = part.cache.slice(part.cache.length - this.#tailCacheRecords);
      }
    }
    for (const item of batch) item.resolve(item.entries.map((_, i) => item.firstLsn + i));
    for (const part of touched) wake(part);
  }

  async *#reader(
    part: PartitionState,
    fromLsn: number,
    signal: AbortSignal,
  ): AsyncGenerator<readonly StoredEntry[]> {
    let next = Math.max(1, Math.floor(fromLsn));
    while (!signal.aborted && !this.#closed) {
      // Log.4: records at or below the trim point are gone; continue above it.
      next = Math.max(next, part.trimmedLsn + 1);
      if (next > part.tailLsn) {
        await waitForWake(part, signal);
        continue;
      }
      const cacheFirst = part.cache[0]?.lsn ?? part.tailLsn + 1;
      let batch: readonly StoredEntry[];
      if (next >= cacheFirst) {
        // Committed in this process and still cached: no disk read (invariant 4).
        const start = next - cacheFirst;
        batch = part.cache.slice(start, start + READ_BATCH_RECORDS);
      } else {
        batch = this.#readStored(part, next, Math.min(READ_BATCH_RECORDS, cacheFirst - next));
      }
      next = batch[batch.length - 1]!.lsn + 1;
      yield batch;
    }
  }

  /**
   * Reads up to `limit` stored records from `from` on, checking CRCs and continuity. Yields the
   * good prefix before a bad record, so the next read fails exactly at the bad one.
   */
  #readStored(part: PartitionState, from: number, limit: number): StoredEntry[] {
    let rows: StoredRow[];
    try {
      rows = this.#selectFrom.all(part.index, from, limit);
    } catch (error) {
      throw toLogError(error, `read of partition ${part.index} from LSN ${from}`);
    }
    const records: StoredEntry[] = [];
    for (const row of rows) {
      const expected = from + records.length;
      let problem: string | undefined;
      if (row.lsn !== expected) problem = `record missing (found LSN ${row.lsn} next)`;
      else if (checksum(row.leader_epoch, row.producer, row.seq, row.payload) !== row.crc)
        problem = "checksum mismatch (the entry is corrupted)";
      if (problem === undefined) {
        records.push({ lsn: row.lsn, header: headerOf(row), payload: row.payload });
        continue;
      }
      if (records.length > 0) return records;
      throw new LogError("io", `log partition ${part.index}, LSN ${expected}: ${problem}`);
    }
    if (records.length === 0) {
      throw new LogError(
        "io",
        `log partition ${part.index}, LSN ${from}: record missing (tail is ${part.tailLsn})`,
      );
    }
    return records;
  }
}

function bytesOf(batch: readonly PendingAppend[]): number {
  let n = 0;
  for (const item of batch) for (const entry of item.entries) n += entry.payload.byteLength;
  return n;
}

/**
 * The CRC32 of an entry: over its header fields (as text) and then its payload, so a flipped
 * byte in either is caught (invariant 5). The common entry without a header costs one crc32.
 */
function checksum(
  leaderEpoch: number | null | undefined,
  producer: string | null | undefined,
  seq: number | null | undefined,
  payload: Uint8Array,
): number {
  if (leaderEpoch == null && producer == null && seq == null) return crc32(payload);
  return crc32(payload, crc32(`${leaderEpoch ?? ""}\0${producer ?? ""}\0${seq ?? ""}`));
}

function headerOf(row: StoredRow): EntryHeader {
  if (row.leader_epoch === null && row.producer === null) return {};
  return {
    ...(row.leader_epoch === null ? {} : { leaderEpoch: row.leader_epoch }),
    ...(row.producer === null ? {} : { dedup: { producer: row.producer, seq: row.seq ?? 0 } }),
  };
}

/**
 * Invariant 6: refuses a file of another layout. A file without a `format` row but with a `log`
 * table was written before format versions (format 1: the record codec's bytes in `body`).
 */
function checkFormat(db: Database.Database, path: string): void {
  const hasTable = (name: string): boolean =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  if (!hasTable("log")) return; // a new file
  const format = hasTable("log_meta")
    ? (db.prepare("SELECT value FROM log_meta WHERE name = 'format'").pluck().get() as number | undefined)
    : undefined;
  const found = format ?? 1;
  if (found !== LOG_FORMAT) throw new DataFormatError(`log ${path}`, found, LOG_FORMAT);
}

function isSqliteError(error: unknown): error is Error & { code: string } {
  return error instanceof Database.SqliteError;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toLogError(error: unknown, what: string): LogError {
  if (error instanceof LogError) return error;
  const code = isSqliteError(error) && error.code === "SQLITE_FULL" ? "disk_full" : "io";
  return new LogError(code, `log ${what} failed: ${messageOf(error)}`, { cause: error });
}

function wake(part: PartitionState): void {
  const waiters = [...part.waiters];
  part.waiters.clear();
  for (const waiter of waiters) waiter();
}

/** Resolves at the partition's next wake-up (a commit or close) or when the signal aborts. */
function waitForWake(part: PartitionState, signal: AbortSignal): Promise<void> {
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
