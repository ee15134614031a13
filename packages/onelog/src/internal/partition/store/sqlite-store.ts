/**
 * The SQLite PartitionStore of the embedded mode: one database file holds every partition's
 * tables (a `partition` column), WAL mode with synchronous=NORMAL.
 *
 * Why NORMAL is safe here: the store is the materialized log. A commit lost to a power failure
 * rolls the store back to an earlier, consistent transaction (WAL keeps transactions atomic),
 * whose applied LSN is older, and the processor replays the log from there. The log itself is
 * synchronous=FULL. Log trimming must therefore only go up to an applied LSN that a checkpoint
 * made durable ({@link SqliteStoreDb.checkpoint}): the store file after a checkpoint is the
 * embedded mode's snapshot, and the log is trimmed behind it.
 *
 * All partitions share the file, so a per-partition snapshot ({@link SqliteStoreDb.snapshot})
 * copies only that partition's rows: by the `partition` column where a table has one, else by
 * the partition its invocation id or object key hashes to (the same hash that routed it here).
 * One file rather than one per partition: the admin's SQL views, the metrics and the storage
 * tests read `store.db`, and one WAL with one checkpoint serves every partition; a file per
 * partition (a cluster node holding a few partitions) was not measured and is left for then.
 *
 * Invariants:
 * 1. A batch's writes and its applied LSN commit in one transaction.
 * 2. Status rows are msgpack blobs with the columns queries need beside them (state, target).
 * 3. Status rows are cached in memory and written back once per transaction, at its commit: an
 *    invocation whose status changes several times in one batch is encoded and written once.
 *    A transaction that fails drops the cache entries it touched, so the cache never holds what
 *    the file does not.
 * 4. The file declares its format (`PRAGMA user_version` = STORE_FORMAT); a file with another
 *    one, or with tables and no version (format 1), is refused at open with DataFormatError.
 *    Additions that older code reads as before (a nullable column, an index) are made at open
 *    without a new format: the journal's `at` and `attempt` columns (history), added to a file
 *    that lacks them, stay NULL in its older rows.
 * 5. Under the engine (`checkpointInWorker`), the WAL is copied into the file by a worker thread
 *    (checkpointer.ts), never inside this connection's commits; a batch's transaction is
 *    IMMEDIATE, so it waits for the worker's short WAL restart instead of failing to upgrade
 *    a read into a write after it (SQLITE_BUSY).
 */
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import type { JournalEntry } from "@onelog/sdk/internal";
import { DataFormatError, STORE_FORMAT } from "../../format-versions.js";
import { partitionOf, partitionOfKey } from "../ids.js";
import { StoreCheckpointer } from "./checkpointer.js";
import type { OutboxMessage, TimerKey } from "../records.js";
import type {
  InvocationStatus,
  JournalMeta,
  PartitionSnapshot,
  PartitionStore,
  PromiseRow,
  TimerRow,
} from "./store.js";

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Status rows kept in memory per partition (invariant 3). */
const STATUS_CACHE_MAX = 4096;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS partition_meta (
  partition INTEGER PRIMARY KEY, applied_lsn INTEGER NOT NULL, leader_epoch INTEGER NOT NULL,
  outbox_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (
  service TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY (service, key, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
  service TEXT NOT NULL, key TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (service, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
  service TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (service, key, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  partition INTEGER NOT NULL, seq INTEGER NOT NULL, message BLOB NOT NULL, PRIMARY KEY (partition, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup (
  partition INTEGER NOT NULL, producer TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (partition, producer)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS promises (
  service TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (service, key, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invocation_status (
  partition INTEGER NOT NULL, id TEXT PRIMARY KEY, state TEXT NOT NULL,
  service TEXT NOT NULL, handler TEXT NOT NULL, key TEXT, created_at INTEGER NOT NULL,
  modified_at INTEGER NOT NULL, data BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS invocation_status_state ON invocation_status (partition, state, created_at);
CREATE INDEX IF NOT EXISTS invocation_status_created ON invocation_status (created_at, id);
CREATE TABLE IF NOT EXISTS journal (
  id TEXT NOT NULL, idx INTEGER NOT NULL, entry BLOB NOT NULL, at INTEGER, attempt INTEGER,
  PRIMARY KEY (id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
  partition INTEGER NOT NULL, due_at INTEGER NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
  command INTEGER NOT NULL DEFAULT -1,
  PRIMARY KEY (partition, kind, id, command)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_due ON timers (partition, due_at);
`;

/**
 * Which rows of each table belong to partition `?` (the parameter): the snapshot copies them,
 * a restore replaces them. Every table of SCHEMA is listed (a test checks it).
 */
const PARTITION_ROWS: readonly { readonly table: string; readonly where: string }[] = [
  { table: "partition_meta", where: "partition = ?" },
  { table: "state", where: "onelog_partition_of_key(service, key) = ?" },
  { table: "locks", where: "onelog_partition_of_key(service, key) = ?" },
  { table: "inbox", where: "onelog_partition_of_key(service, key) = ?" },
  { table: "outbox", where: "partition = ?" },
  { table: "dedup", where: "partition = ?" },
  { table: "promises", where: "onelog_partition_of_key(service, key) = ?" },
  { table: "invocation_status", where: "partition = ?" },
  { table: "journal", where: "onelog_partition_of_id(id) = ?" },
  { table: "timers", where: "partition = ?" },
];

/** Adds the journal's history columns to a file made before them (invariant 4); a no-op otherwise. */
function addJournalMetaColumns(db: Database.Database): void {
  const columns = (db.pragma("table_info(journal)") as { name: string }[]).map((c) => c.name);
  if (columns.length === 0 || columns.includes("at")) return;
  db.exec("ALTER TABLE journal ADD COLUMN at INTEGER; ALTER TABLE journal ADD COLUMN attempt INTEGER;");
}

/** Options of {@link SqliteStoreDb.open}. */
export interface SqliteStoreDbOptions {
  /** Partitions of the data directory: snapshots and restores need it to tell rows apart. */
  readonly partitions?: number;
  /**
   * Copy the WAL into the file on a worker thread (checkpointer.ts) instead of inside the
   * commits of this connection (invariant 5). The engine turns it on; told of a failed
   * checkpoint through `onCheckpointError`.
   */
  readonly checkpointInWorker?: boolean;
  readonly onCheckpointError?: (message: string) => void;
}

/**
 * Commits between two requests to the checkpointer (invariant 5). A pass copies each page once,
 * however many commits rewrote it since the last pass, and syncs the WAL and the file: fewer,
 * larger passes copy less. Under the server's Greeter load (bench, 2026-12-07) the worker used
 * 11–13% of the main thread's CPU at 16 commits per pass, 6.6% at 128, 5% at 256, 3% at 512.
 */
const COMMITS_PER_CHECKPOINT = 128;
/** The WAL file is cut back to this size after a checkpoint let it start over. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Asks the worker for a checkpoint every COMMITS_PER_CHECKPOINT commits of any partition, and
 * starts it with the first commits that need it: an idle store has no worker (memory).
 */
class CheckpointSchedule {
  checkpointer: StoreCheckpointer | undefined;
  #commits = 0;

  constructor(private start: (() => StoreCheckpointer) | undefined) {}

  committed(): void {
    if (this.start === undefined || ++this.#commits < COMMITS_PER_CHECKPOINT) return;
    this.#commits = 0;
    this.checkpointer ??= this.start();
    this.checkpointer.request();
  }

  /** The worker died: the store checkpoints in its commits again (checkpointer.ts, 4). */
  gone(): void {
    this.checkpointer = undefined;
    this.start = undefined;
  }
}

/** The store database file; `partition(p)` gives one partition's view. */
export class SqliteStoreDb {
  readonly db: Database.Database;
  private readonly stores = new Map<number, SqlitePartitionStore>();
  private readonly partitions: number | undefined;
  private readonly schedule: CheckpointSchedule;

  private constructor(
    readonly path: string,
    options: SqliteStoreDbOptions,
  ) {
    this.partitions = options.partitions;
    this.db = new Database(path);
    try {
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      const version = this.db.pragma("user_version", { simple: true }) as number;
      const tables = this.db
        .prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        .pluck()
        .get() as number;
      // Invariant 4: a file with tables but no version was written before versions (format 1).
      const found = version === 0 ? (tables > 0 ? 1 : STORE_FORMAT) : version;
      if (found !== STORE_FORMAT) throw new DataFormatError(`store ${path}`, found, STORE_FORMAT);
      addJournalMetaColumns(this.db); // 4
      this.db.exec(SCHEMA);
      if (options.checkpointInWorker === true) {
        this.db.pragma("wal_autocheckpoint = 0"); // 5
        this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        this.schedule = new CheckpointSchedule(
          () =>
            new StoreCheckpointer(path, options.onCheckpointError ?? (() => {}), () => {
              this.schedule.gone();
              if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
            }),
        );
      } else this.schedule = new CheckpointSchedule(undefined);
      if (version === 0) this.db.pragma(`user_version = ${STORE_FORMAT}`);
      const n = options.partitions;
      if (n !== undefined) {
        this.db.function("onelog_partition_of_key", { deterministic: true }, (service, key) =>
          partitionOfKey(String(service), String(key), n),
        );
        this.db.function("onelog_partition_of_id", { deterministic: true }, (id) =>
          partitionOf(String(id), n),
        );
      }
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /**
   * Opens (or creates) the store file. Throws DataFormatError (OL1022) if it has another format
   * (invariant 4), and SQLite's error if it cannot be opened.
   *
   * @example
   * const stores = SqliteStoreDb.open(".onelog/store.db", { partitions: 4 });
   */
  static open(path: string, options: SqliteStoreDbOptions = {}): SqliteStoreDb {
    return new SqliteStoreDb(path, options);
  }

  partition(p: number): SqlitePartitionStore {
    let s = this.stores.get(p);
    if (s === undefined) {
      s = new SqlitePartitionStore(
        this.db,
        p,
        () => this.snapshot(p),
        () => this.schedule.committed(),
      );
      this.stores.set(p, s);
    }
    return s;
  }

  /**
   * Makes every committed transaction durable (fsync of the WAL, then a checkpoint) and returns,
   * per partition, the applied LSN that is now durable: the store file is then a snapshot of
   * each partition at that LSN, and the log may be trimmed up to it. Throws on an I/O error.
   */
  checkpoint(): { partition: number; appliedLsn: number }[] {
    this.db.pragma("wal_checkpoint(FULL)");
    // Read right after the checkpoint, in the same synchronous turn: no commit in between.
    return this.db
      .prepare("SELECT partition, applied_lsn AS appliedLsn FROM partition_meta ORDER BY partition")
      .all() as { partition: number; appliedLsn: number }[];
  }

  /**
   * One partition's rows and applied LSN as a SQLite database file (its bytes), consistent: it
   * is copied in one read transaction. Throws without `partitions` at open, inside a transaction,
   * or on an I/O error.
   */
  snapshot(p: number): PartitionSnapshot {
    this.requirePartitions("snapshot");
    if (this.db.inTransaction) throw new Error(`snapshot of partition ${p} inside a transaction`);
    this.db.exec("ATTACH DATABASE ':memory:' AS snap");
    try {
      this.db.exec(
        SCHEMA.replaceAll("CREATE TABLE IF NOT EXISTS ", "CREATE TABLE snap.").replaceAll(
          "CREATE INDEX IF NOT EXISTS ",
          "CREATE INDEX snap.",
        ),
      );
      this.db.pragma(`snap.user_version = ${STORE_FORMAT}`);
      const copy = this.db.transaction(() => {
        for (const { table, where } of PARTITION_ROWS) {
          this.db.prepare(`INSERT INTO snap.${table} SELECT * FROM main.${table} WHERE ${where}`).run(p);
        }
        const applied = this.db
          .prepare("SELECT applied_lsn FROM snap.partition_meta WHERE partition = ?")
          .pluck()
          .get(p) as number | undefined;
        return applied ?? 0;
      });
      const appliedLsn = copy();
      return {
        partition: p,
        appliedLsn,
        format: STORE_FORMAT,
        bytes: this.db.serialize({ attached: "snap" }),
      };
    } finally {
      this.db.exec("DETACH DATABASE snap");
    }
  }

  /**
   * Replaces one partition's rows with a snapshot's, in one transaction, and returns the
   * partition's store (reloaded if it was open). Call it before the partition's processor starts
   * (a new leader restores, then replays the log from `appliedLsn + 1`). Throws DataFormatError
   * (OL1022) for a snapshot of another format, and an Error without `partitions` at open or
   * inside a transaction.
   *
   * @example
   * const store = SqliteStoreDb.open(path, { partitions }).restore(snapshotFromObjectStore);
   */
  restore(snapshot: PartitionSnapshot): SqlitePartitionStore {
    this.requirePartitions("restore");
    const p = snapshot.partition;
    if (this.db.inTransaction) throw new Error(`restore of partition ${p} inside a transaction`);
    const subject = `snapshot of partition ${p}`;
    if (snapshot.format !== STORE_FORMAT) throw new DataFormatError(subject, snapshot.format, STORE_FORMAT);
    const source = new Database(
      Buffer.from(snapshot.bytes.buffer, snapshot.bytes.byteOffset, snapshot.bytes.byteLength),
    );
    try {
      const version = source.pragma("user_version", { simple: true }) as number;
      if (version !== STORE_FORMAT) throw new DataFormatError(subject, version, STORE_FORMAT);
      const replace = this.db.transaction(() => {
        for (const { table, where } of PARTITION_ROWS) {
          this.db.prepare(`DELETE FROM main.${table} WHERE ${where}`).run(p);
          const select = source.prepare(`SELECT * FROM ${table}`).raw();
          // By name: a snapshot from a file without the newer nullable columns restores too (4).
          const columns = select.columns().map((c) => `"${c.name}"`);
          const insert = this.db.prepare(
            `INSERT INTO main.${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
          );
          for (const row of select.iterate() as Iterable<unknown[]>) insert.run(...row);
        }
      });
      replace();
    } finally {
      source.close();
    }
    const open = this.stores.get(p);
    if (open !== undefined) {
      open.reload();
      return open;
    }
    return this.partition(p);
  }

  private requirePartitions(what: string): void {
    if (this.partitions === undefined) {
      throw new Error(`store ${this.path}: ${what} needs the partition count (open it with { partitions })`);
    }
  }

  /** The WAL checkpointer's counters (checkpointer.ts), once it runs: passes, busy passes, WAL pages after the last. */
  checkpointerStats(): { passes: number; busy: number; walPages: number } | undefined {
    const c = this.schedule.checkpointer;
    return c === undefined ? undefined : { passes: c.checkpoints, busy: c.busy, walPages: c.walPages };
  }

  close(): void {
    void this.schedule.checkpointer?.close();
    this.db.close();
  }
}

export class SqlitePartitionStore implements PartitionStore {
  private readonly q;
  private appliedLsn: number;
  private leaderEpoch: number;
  private outboxSeq: number;

  constructor(
    private readonly db: Database.Database,
    readonly partition: number,
    private readonly snapshotter?: () => PartitionSnapshot,
    private readonly onCommit: () => void = () => {},
  ) {
    this.q = {
      getMeta: db.prepare(
        "SELECT applied_lsn, leader_epoch, outbox_seq FROM partition_meta WHERE partition = ?",
      ),
      putMeta: db.prepare(
        "INSERT INTO partition_meta (partition, applied_lsn, leader_epoch, outbox_seq) VALUES (?, ?, ?, ?) ON CONFLICT(partition) DO UPDATE SET applied_lsn = excluded.applied_lsn, leader_epoch = excluded.leader_epoch, outbox_seq = excluded.outbox_seq",
      ),
      getStatus: db.prepare("SELECT data FROM invocation_status WHERE id = ?").pluck(),
      putStatus: db.prepare(
        "INSERT OR REPLACE INTO invocation_status (partition, id, state, service, handler, key, created_at, modified_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      deleteStatus: db.prepare("DELETE FROM invocation_status WHERE id = ?"),
      listInvoked: db
        .prepare(
          "SELECT id FROM invocation_status WHERE partition = ? AND state = 'invoked' ORDER BY created_at, id",
        )
        .pluck(),
      getJournal: db.prepare("SELECT entry FROM journal WHERE id = ? ORDER BY idx").pluck(),
      getJournalMeta: db.prepare("SELECT at, attempt FROM journal WHERE id = ? ORDER BY idx").raw(),
      appendJournal: db.prepare("INSERT INTO journal (id, idx, entry, at, attempt) VALUES (?, ?, ?, ?, ?)"),
      deleteJournal: db.prepare("DELETE FROM journal WHERE id = ?"),
      putTimer: db.prepare(
        "INSERT OR REPLACE INTO timers (partition, due_at, kind, id, command) VALUES (?, ?, ?, ?, ?)",
      ),
      deleteTimer: db.prepare(
        "DELETE FROM timers WHERE partition = ? AND kind = ? AND id = ? AND command = ?",
      ),
      listTimers: db.prepare(
        "SELECT due_at, kind, id, command FROM timers WHERE partition = ? AND due_at <= ? ORDER BY due_at, kind, id, command LIMIT ?",
      ),
      getState: db.prepare("SELECT value FROM state WHERE service = ? AND key = ? AND name = ?").pluck(),
      putState: db.prepare("INSERT OR REPLACE INTO state (service, key, name, value) VALUES (?, ?, ?, ?)"),
      deleteState: db.prepare("DELETE FROM state WHERE service = ? AND key = ? AND name = ?"),
      listState: db
        .prepare("SELECT name, value FROM state WHERE service = ? AND key = ? ORDER BY name")
        .raw(),
      clearState: db.prepare("DELETE FROM state WHERE service = ? AND key = ?"),
      getLock: db.prepare("SELECT id FROM locks WHERE service = ? AND key = ?").pluck(),
      setLock: db.prepare("INSERT OR REPLACE INTO locks (service, key, id) VALUES (?, ?, ?)"),
      deleteLock: db.prepare("DELETE FROM locks WHERE service = ? AND key = ?"),
      inboxTail: db.prepare("SELECT max(seq) FROM inbox WHERE service = ? AND key = ?").pluck(),
      pushInbox: db.prepare("INSERT INTO inbox (service, key, seq, id) VALUES (?, ?, ?, ?)"),
      inboxHead: db.prepare("SELECT seq, id FROM inbox WHERE service = ? AND key = ? ORDER BY seq LIMIT 1"),
      deleteInbox: db.prepare("DELETE FROM inbox WHERE service = ? AND key = ? AND seq = ?"),
      removeFromInbox: db.prepare("DELETE FROM inbox WHERE service = ? AND key = ? AND id = ?"),
      pushOutbox: db.prepare("INSERT INTO outbox (partition, seq, message) VALUES (?, ?, ?)"),
      listOutbox: db.prepare(
        "SELECT seq, message FROM outbox WHERE partition = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      deleteOutbox: db.prepare("DELETE FROM outbox WHERE partition = ? AND seq <= ?"),
      getDedup: db.prepare("SELECT seq FROM dedup WHERE partition = ? AND producer = ?").pluck(),
      setDedup: db.prepare("INSERT OR REPLACE INTO dedup (partition, producer, seq) VALUES (?, ?, ?)"),
      getPromise: db.prepare("SELECT data FROM promises WHERE service = ? AND key = ? AND name = ?").pluck(),
      putPromise: db.prepare(
        "INSERT OR REPLACE INTO promises (service, key, name, data) VALUES (?, ?, ?, ?)",
      ),
      clearPromises: db.prepare("DELETE FROM promises WHERE service = ? AND key = ?"),
    };
    this.appliedLsn = 0;
    this.leaderEpoch = 0;
    this.outboxSeq = 0;
    this.reload();
    this.txn = db.transaction((fn: () => unknown) => {
      const r = fn();
      this.flushDirty();
      this.q.putMeta.run(this.partition, this.appliedLsn, this.leaderEpoch, this.outboxSeq);
      return r;
    });
  }

  /** Re-reads the counters and drops the caches: the rows changed underneath (a restore). */
  reload(): void {
    const meta = this.q.getMeta.get(this.partition) as
      { applied_lsn: number; leader_epoch: number; outbox_seq: number } | undefined;
    this.appliedLsn = meta?.applied_lsn ?? 0;
    this.leaderEpoch = meta?.leader_epoch ?? 0;
    this.outboxSeq = meta?.outbox_seq ?? 0;
    this.statusCache.clear();
    this.journalCache.clear();
  }

  /** See {@link SqliteStoreDb.snapshot}. Rejects if the store was not opened through one with `partitions`. */
  snapshot(): Promise<PartitionSnapshot> {
    try {
      if (this.snapshotter === undefined) throw new Error("this store cannot make snapshots");
      return Promise.resolve(this.snapshotter());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    const before = [this.appliedLsn, this.leaderEpoch, this.outboxSeq] as const;
    try {
      const r = this.txn.immediate(fn) as T; // 5
      this.onCommit();
      // Committed: the cache now matches the file (3).
      this.statusTouched.clear();
      this.journalTouched.clear();
      this.trimCaches();
      return r;
    } catch (e) {
      [this.appliedLsn, this.leaderEpoch, this.outboxSeq] = before;
      for (const id of this.statusTouched) this.statusCache.delete(id); // 3
      this.statusTouched.clear();
      this.dirty.clear();
      for (const id of this.journalTouched) this.journalCache.delete(id);
      this.journalTouched.clear();
      throw e;
    }
  }

  private readonly txn: Database.Transaction<(fn: () => unknown) => unknown>;

  /** Statuses read or written recently; null = known to be absent (invariant 3). */
  private readonly statusCache = new Map<string, InvocationStatus | null>();
  /** Statuses to write before the commit. */
  private readonly dirty = new Set<string>();
  /** Statuses changed in the open transaction: dropped from the cache if it rolls back. */
  private readonly statusTouched = new Set<string>();

  /** Writes the statuses changed in this transaction (they stay dirty until it commits). */
  private flushDirty(): void {
    for (const id of this.dirty) {
      const s = this.statusCache.get(id);
      if (s === null || s === undefined) this.q.deleteStatus.run(id);
      else this.writeStatus(s);
    }
    this.dirty.clear();
  }

  /** Keeps both caches bounded: the oldest half goes when one is full. */
  private trimCaches(): void {
    for (const cache of [this.statusCache, this.journalCache] as Map<string, unknown>[]) {
      if (cache.size <= STATUS_CACHE_MAX) continue;
      let drop = cache.size - STATUS_CACHE_MAX / 2;
      for (const id of cache.keys()) {
        if (drop-- <= 0) break;
        cache.delete(id);
      }
    }
  }

  getStatus(id: string): InvocationStatus | undefined {
    const cached = this.statusCache.get(id);
    if (cached !== undefined) return cached ?? undefined;
    const data = this.q.getStatus.get(id) as Buffer | undefined;
    const s = data === undefined ? undefined : (packr.unpack(data) as InvocationStatus);
    if (s !== undefined) this.statusCache.set(id, s);
    return s;
  }
  putStatus(s: InvocationStatus): void {
    this.statusCache.set(s.invocationId, s);
    if (this.db.inTransaction) {
      this.dirty.add(s.invocationId);
      this.statusTouched.add(s.invocationId);
    } else this.writeStatus(s);
  }
  private writeStatus(s: InvocationStatus): void {
    this.q.putStatus.run(
      this.partition,
      s.invocationId,
      s.state,
      s.target.service,
      s.target.handler,
      s.target.key ?? null,
      s.createdAt,
      s.modifiedAt,
      packr.pack(s),
    );
  }
  deleteStatus(id: string): void {
    this.statusCache.set(id, null);
    if (this.db.inTransaction) {
      this.dirty.add(id);
      this.statusTouched.add(id);
    } else this.q.deleteStatus.run(id);
  }
  listInvoked(): string[] {
    if (this.db.inTransaction) this.flushDirty();
    return this.q.listInvoked.all(this.partition) as string[];
  }

  getJournal(id: string): JournalEntry[] {
    const cached = this.journalCache.get(id);
    if (cached !== undefined) return [...cached];
    const journal = (this.q.getJournal.all(id) as Buffer[]).map((b) => packr.unpack(b) as JournalEntry);
    this.journalCache.set(id, journal);
    return [...journal];
  }
  getJournalMeta(id: string): (JournalMeta | undefined)[] {
    return (this.q.getJournalMeta.all(id) as [number | null, number | null][]).map(([at, attempt]) =>
      at === null ? undefined : attempt === null ? { at } : { at, attempt },
    );
  }
  appendJournal(id: string, index: number, entry: JournalEntry, meta: JournalMeta): void {
    this.q.appendJournal.run(id, index, packr.pack(entry), meta.at, meta.attempt ?? null);
    // Journals are written through: the rows go to the file now, the cache keeps a copy (3).
    if (this.db.inTransaction) this.journalTouched.add(id);
    const cached = this.journalCache.get(id);
    if (cached !== undefined && cached.length === index) cached.push(entry);
    else if (index === 0) this.journalCache.set(id, [entry]);
    else this.journalCache.delete(id);
  }
  deleteJournal(id: string): void {
    this.q.deleteJournal.run(id);
    this.journalCache.delete(id);
  }

  /** Journals of recent invocations, as written (invariant 3); an attempt starts without a read. */
  private readonly journalCache = new Map<string, JournalEntry[]>();
  private readonly journalTouched = new Set<string>();

  putTimer(row: TimerRow): void {
    this.q.putTimer.run(
      this.partition,
      row.dueAt,
      row.key.kind,
      row.key.invocationId,
      row.key.completionId ?? -1,
    );
  }
  deleteTimer(key: TimerKey): boolean {
    return (
      this.q.deleteTimer.run(this.partition, key.kind, key.invocationId, key.completionId ?? -1).changes > 0
    );
  }
  listTimers(untilMs: number, limit: number): TimerRow[] {
    const rows = this.q.listTimers.all(this.partition, untilMs, limit) as {
      due_at: number;
      kind: TimerKey["kind"];
      id: string;
      command: number;
    }[];
    return rows.map((r) => ({
      dueAt: r.due_at,
      key: { kind: r.kind, invocationId: r.id, ...(r.command < 0 ? {} : { completionId: r.command }) },
    }));
  }

  getState(service: string, key: string, name: string): Uint8Array | undefined {
    return this.q.getState.get(service, key, name) as Buffer | undefined;
  }
  putState(service: string, key: string, name: string, value: Uint8Array): void {
    this.q.putState.run(service, key, name, value);
  }
  deleteState(service: string, key: string, name: string): void {
    this.q.deleteState.run(service, key, name);
  }
  listState(service: string, key: string): [string, Uint8Array][] {
    return this.q.listState.all(service, key) as [string, Uint8Array][];
  }
  clearState(service: string, key: string): void {
    this.q.clearState.run(service, key);
  }

  getLock(service: string, key: string): string | undefined {
    return this.q.getLock.get(service, key) as string | undefined;
  }
  setLock(service: string, key: string, invocationId: string): void {
    this.q.setLock.run(service, key, invocationId);
  }
  deleteLock(service: string, key: string): void {
    this.q.deleteLock.run(service, key);
  }
  pushInbox(service: string, key: string, invocationId: string): void {
    const tail = (this.q.inboxTail.get(service, key) as number | null) ?? 0;
    this.q.pushInbox.run(service, key, tail + 1, invocationId);
  }
  popInbox(service: string, key: string): string | undefined {
    const head = this.q.inboxHead.get(service, key) as { seq: number; id: string } | undefined;
    if (head === undefined) return undefined;
    this.q.deleteInbox.run(service, key, head.seq);
    return head.id;
  }
  removeFromInbox(service: string, key: string, invocationId: string): void {
    this.q.removeFromInbox.run(service, key, invocationId);
  }

  pushOutbox(message: OutboxMessage): number {
    const seq = ++this.outboxSeq;
    this.q.pushOutbox.run(this.partition, seq, packr.pack(message));
    return seq;
  }
  listOutbox(afterSeq: number, limit: number): { seq: number; message: OutboxMessage }[] {
    return (this.q.listOutbox.all(this.partition, afterSeq, limit) as { seq: number; message: Buffer }[]).map(
      (r) => ({
        seq: r.seq,
        message: packr.unpack(r.message) as OutboxMessage,
      }),
    );
  }
  deleteOutboxUpTo(seq: number): void {
    this.q.deleteOutbox.run(this.partition, seq);
  }

  getDedup(producer: string): number | undefined {
    return this.q.getDedup.get(this.partition, producer) as number | undefined;
  }
  setDedup(producer: string, seq: number): void {
    this.q.setDedup.run(this.partition, producer, seq);
  }

  getPromise(service: string, key: string, name: string): PromiseRow | undefined {
    const data = this.q.getPromise.get(service, key, name) as Buffer | undefined;
    return data === undefined ? undefined : (packr.unpack(data) as PromiseRow);
  }
  putPromise(service: string, key: string, name: string, row: PromiseRow): void {
    this.q.putPromise.run(service, key, name, packr.pack(row));
  }
  clearPromises(service: string, key: string): void {
    this.q.clearPromises.run(service, key);
  }

  getAppliedLsn(): number {
    return this.appliedLsn;
  }
  setAppliedLsn(lsn: number): void {
    this.appliedLsn = lsn;
  }
  getLeaderEpoch(): number {
    return this.leaderEpoch;
  }
  setLeaderEpoch(epoch: number): void {
    this.leaderEpoch = epoch;
  }
}
