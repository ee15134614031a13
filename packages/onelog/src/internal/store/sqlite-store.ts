/**
 * The SQLite PartitionStore of the embedded mode: one database file holds every partition's
 * tables (a `partition` column), WAL mode with synchronous=NORMAL.
 *
 * Why NORMAL is safe here: the store is the materialized log. A commit lost to a power failure
 * rolls the store back to an earlier, consistent transaction (WAL keeps transactions atomic),
 * whose applied LSN is older, and the processor replays the log from there. The log itself is
 * synchronous=FULL. Log trimming must therefore only go up to an applied LSN that a checkpoint
 * made durable ({@link SqliteStoreDb.checkpoint}).
 *
 * Invariants:
 * 1. A batch's writes and its applied LSN commit in one transaction.
 * 2. Status rows are msgpack blobs with the columns queries need beside them (state, target).
 */
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import type { JournalEntry } from "@onelog/sdk/internal";
import type { TimerKey } from "../records.js";
import type { InvocationStatus, PartitionStore, TimerRow } from "./store.js";

const packr = new Packr({ useRecords: false, moreTypes: false });

const SCHEMA = `
CREATE TABLE IF NOT EXISTS partition_meta (
  partition INTEGER PRIMARY KEY, applied_lsn INTEGER NOT NULL, leader_epoch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invocation_status (
  partition INTEGER NOT NULL, id TEXT PRIMARY KEY, state TEXT NOT NULL,
  service TEXT NOT NULL, handler TEXT NOT NULL, key TEXT, created_at INTEGER NOT NULL,
  modified_at INTEGER NOT NULL, data BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS invocation_status_state ON invocation_status (partition, state, created_at);
CREATE TABLE IF NOT EXISTS journal (
  id TEXT NOT NULL, idx INTEGER NOT NULL, entry BLOB NOT NULL, PRIMARY KEY (id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
  partition INTEGER NOT NULL, due_at INTEGER NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
  PRIMARY KEY (partition, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_due ON timers (partition, due_at);
`;

/** The store database file; `partition(p)` gives one partition's view. */
export class SqliteStoreDb {
  readonly db: Database.Database;
  private readonly stores = new Map<number, SqlitePartitionStore>();

  private constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
  }

  static open(path: string): SqliteStoreDb {
    return new SqliteStoreDb(path);
  }

  partition(p: number): SqlitePartitionStore {
    let s = this.stores.get(p);
    if (s === undefined) {
      s = new SqlitePartitionStore(this.db, p);
      this.stores.set(p, s);
    }
    return s;
  }

  /** Makes every committed transaction durable (fsync of the WAL, then a checkpoint). */
  checkpoint(): void {
    this.db.pragma("wal_checkpoint(FULL)");
  }

  close(): void {
    this.db.close();
  }
}

export class SqlitePartitionStore implements PartitionStore {
  private readonly q;
  private appliedLsn: number;
  private leaderEpoch: number;

  constructor(
    private readonly db: Database.Database,
    readonly partition: number,
  ) {
    this.q = {
      getMeta: db.prepare("SELECT applied_lsn, leader_epoch FROM partition_meta WHERE partition = ?"),
      putMeta: db.prepare(
        "INSERT INTO partition_meta (partition, applied_lsn, leader_epoch) VALUES (?, ?, ?) ON CONFLICT(partition) DO UPDATE SET applied_lsn = excluded.applied_lsn, leader_epoch = excluded.leader_epoch",
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
      appendJournal: db.prepare("INSERT INTO journal (id, idx, entry) VALUES (?, ?, ?)"),
      deleteJournal: db.prepare("DELETE FROM journal WHERE id = ?"),
      putTimer: db.prepare("INSERT OR REPLACE INTO timers (partition, due_at, kind, id) VALUES (?, ?, ?, ?)"),
      deleteTimer: db.prepare("DELETE FROM timers WHERE partition = ? AND kind = ? AND id = ?"),
      listTimers: db.prepare(
        "SELECT due_at, kind, id FROM timers WHERE partition = ? AND due_at <= ? ORDER BY due_at, kind, id LIMIT ?",
      ),
    };
    const meta = this.q.getMeta.get(partition) as { applied_lsn: number; leader_epoch: number } | undefined;
    this.appliedLsn = meta?.applied_lsn ?? 0;
    this.leaderEpoch = meta?.leader_epoch ?? 0;
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    const before = [this.appliedLsn, this.leaderEpoch] as const;
    try {
      return this.db.transaction(() => {
        const r = fn();
        this.q.putMeta.run(this.partition, this.appliedLsn, this.leaderEpoch);
        return r;
      })();
    } catch (e) {
      [this.appliedLsn, this.leaderEpoch] = before;
      throw e;
    }
  }

  getStatus(id: string): InvocationStatus | undefined {
    const data = this.q.getStatus.get(id) as Buffer | undefined;
    return data === undefined ? undefined : (packr.unpack(data) as InvocationStatus);
  }
  putStatus(s: InvocationStatus): void {
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
    this.q.deleteStatus.run(id);
  }
  listInvoked(): string[] {
    return this.q.listInvoked.all(this.partition) as string[];
  }

  getJournal(id: string): JournalEntry[] {
    return (this.q.getJournal.all(id) as Buffer[]).map((b) => packr.unpack(b) as JournalEntry);
  }
  appendJournal(id: string, index: number, entry: JournalEntry): void {
    this.q.appendJournal.run(id, index, packr.pack(entry));
  }
  deleteJournal(id: string): void {
    this.q.deleteJournal.run(id);
  }

  putTimer(row: TimerRow): void {
    this.q.putTimer.run(this.partition, row.dueAt, row.key.kind, row.key.invocationId);
  }
  deleteTimer(key: TimerKey): boolean {
    return this.q.deleteTimer.run(this.partition, key.kind, key.invocationId).changes > 0;
  }
  listTimers(untilMs: number, limit: number): TimerRow[] {
    const rows = this.q.listTimers.all(this.partition, untilMs, limit) as {
      due_at: number;
      kind: TimerKey["kind"];
      id: string;
    }[];
    return rows.map((r) => ({ dueAt: r.due_at, key: { kind: r.kind, invocationId: r.id } }));
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
