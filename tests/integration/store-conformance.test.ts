// Proves MemoryStore and SqlitePartitionStore behave alike (one suite run against both), including rollback of a failed transaction and snapshot/restore (same rows, same applied LSN, no sharing); for SQLite, that its in-memory caches never show what a rolled-back or failed commit wrote, and that a per-partition snapshot of the shared store.db holds exactly that partition's rows and restores over them — with real SQLite files.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { JournalEntry } from "@onelog/sdk/internal";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import Database from "better-sqlite3";
import { partitionOfKey } from "../../packages/onelog/src/internal/partition/ids.js";
import { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";
import type {
  InvocationStatus,
  PartitionSnapshot,
  PartitionStore,
} from "../../packages/onelog/src/internal/partition/store/store.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function status(id: string, over: Partial<InvocationStatus> = {}): InvocationStatus {
  return {
    invocationId: id,
    target: { service: "S", handler: "h", key: "k" },
    handlerKind: "exclusive",
    state: "invoked",
    attemptEpoch: 1,
    retryCount: 0,
    journalLength: 1,
    commandCount: 1,
    retry: { initialIntervalMs: 50, factor: 2, maxIntervalMs: 1000, maxAttempts: 3, onMaxAttempts: "pause" },
    retentionMs: 0,
    createdAt: 1,
    createdLsn: 1,
    modifiedAt: 1,
    ...over,
  };
}

const META = { at: 1_700_000_000_000, attempt: 1 };
const input: JournalEntry = { type: "input", argument: Buffer.from("1"), headers: {} };
let completionIds = 0;
const run = (name: string): JournalEntry => ({ type: "run", name, completionId: ++completionIds });

/** Writes one row of every table for an invocation id and an object key, at an applied LSN. */
function fill(store: PartitionStore, id: string, key: string, appliedLsn: number): void {
  store.transaction(() => {
    store.putStatus(status(id, { target: { service: "S", handler: "h", key } }));
    store.appendJournal(id, 0, input, META);
    store.appendJournal(id, 1, run("step"), META);
    store.putTimer({ dueAt: 100 + appliedLsn, key: { kind: "sleep", invocationId: id, completionId: 1 } });
    store.putState("S", key, "count", Buffer.from([appliedLsn, 0, 255]));
    store.setLock("S", key, id);
    store.pushInbox("S", key, `${id}-next`);
    store.pushOutbox({ type: "resume", invocationId: id });
    store.setDedup(`p${appliedLsn}`, appliedLsn);
    store.putPromise("S", key, "done", { waiters: [{ invocationId: id, completionId: 2 }] });
    store.setAppliedLsn(appliedLsn);
    store.setLeaderEpoch(3);
  });
}

/** What a store holds for `fill`'s id and key, read through the interface. */
function rows(store: PartitionStore, id: string, key: string): unknown {
  return {
    status: store.getStatus(id),
    journal: store.getJournal(id),
    journalMeta: store.getJournalMeta(id),
    timers: store.listTimers(Number.MAX_SAFE_INTEGER, 100),
    state: store.listState("S", key).map(([n, v]) => [n, [...v]]),
    lock: store.getLock("S", key),
    outbox: store.listOutbox(0, 100),
    dedup: [store.getDedup("p42"), store.getDedup("p7")],
    promise: store.getPromise("S", key, "done"),
    appliedLsn: store.getAppliedLsn(),
    leaderEpoch: store.getLeaderEpoch(),
  };
}

const ID0 = "inv_00000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

function suite(
  name: string,
  make: () => {
    store: PartitionStore;
    reopen?: () => PartitionStore;
    /** A store of partition 0, elsewhere (a new file, a new object), from a snapshot. */
    restore: (snapshot: PartitionSnapshot) => PartitionStore;
  },
): void {
  void describe(`store conformance: ${name}`, () => {
    void it("snapshot and restore: the same rows and applied LSN, and no sharing with the original", async () => {
      const { store, restore } = make();
      fill(store, ID0, "alice", 42);
      const before = rows(store, ID0, "alice");
      const snapshot = await store.snapshot();
      assert.equal(snapshot.partition, 0);
      assert.equal(snapshot.appliedLsn, 42);
      assert.ok(snapshot.bytes.byteLength > 0);
      // Later changes to the original do not reach the snapshot.
      store.transaction(() => {
        store.putState("S", "alice", "count", Buffer.from([9]));
        store.appendJournal(ID0, 2, run("later"), META);
        store.setAppliedLsn(43);
      });
      const restored = restore(snapshot);
      assert.deepEqual(rows(restored, ID0, "alice"), before);
      assert.equal(
        restored.transaction(() => restored.popInbox("S", "alice")),
        `${ID0}-next`,
      );
      // The restored store is a store: it takes the next batch.
      restored.transaction(() => restored.setAppliedLsn(43));
      assert.equal(restored.getAppliedLsn(), 43);
      let inside: Promise<PartitionSnapshot> | undefined;
      store.transaction(() => {
        inside = store.snapshot();
      });
      await assert.rejects(inside!, /inside a transaction/);
    });

    void it("statuses: put, get, delete, listInvoked in creation order", () => {
      const { store } = make();
      store.transaction(() => {
        store.putStatus(status("b", { createdAt: 2 }));
        store.putStatus(status("a", { createdAt: 1 }));
        store.putStatus(status("c", { state: "suspended" }));
      });
      assert.deepEqual(store.listInvoked(), ["a", "b"]);
      store.transaction(() => store.deleteStatus("a"));
      assert.equal(store.getStatus("a"), undefined);
      assert.equal(store.getStatus("c")?.state, "suspended");
    });

    void it("journal: append in order, read back, delete", () => {
      const { store } = make();
      store.transaction(() => {
        store.appendJournal("x", 0, input, META);
        store.appendJournal("x", 1, run("one"), META);
      });
      store.transaction(() => store.appendJournal("x", 2, run("two"), META));
      assert.deepEqual(
        store.getJournal("x").map((e) => e.type + (e.type === "run" ? e.name : "")),
        ["input", "runone", "runtwo"],
      );
      store.transaction(() => store.deleteJournal("x"));
      assert.deepEqual(store.getJournal("x"), []);
    });

    void it("a transaction that throws leaves no trace, also in what reads return", () => {
      const { store } = make();
      store.transaction(() => {
        store.putStatus(status("s", { attemptEpoch: 1 }));
        store.appendJournal("s", 0, input, META);
        store.setAppliedLsn(5);
      });
      assert.throws(() =>
        store.transaction(() => {
          store.putStatus(status("s", { attemptEpoch: 9 }));
          store.putStatus(status("new"));
          store.appendJournal("s", 1, run("lost"), META);
          store.putState("S", "k", "n", Buffer.from("1"));
          store.setAppliedLsn(6);
          throw new Error("boom");
        }),
      );
      assert.equal(store.getStatus("s")?.attemptEpoch, 1);
      assert.equal(store.getStatus("new"), undefined);
      assert.equal(store.getJournal("s").length, 1);
      assert.equal(store.getState("S", "k", "n"), undefined);
      assert.equal(store.getAppliedLsn(), 5);
    });

    void it("timers: due order, delete once, keyed by completion id", () => {
      const { store } = make();
      store.transaction(() => {
        store.putTimer({ dueAt: 30, key: { kind: "sleep", invocationId: "i", completionId: 2 } });
        store.putTimer({ dueAt: 10, key: { kind: "retry", invocationId: "i" } });
        store.putTimer({ dueAt: 20, key: { kind: "sleep", invocationId: "i", completionId: 1 } });
      });
      assert.deepEqual(
        store.listTimers(25, 10).map((t) => t.dueAt),
        [10, 20],
      );
      let first = false;
      let second = true;
      store.transaction(() => {
        first = store.deleteTimer({ kind: "sleep", invocationId: "i", completionId: 1 });
        second = store.deleteTimer({ kind: "sleep", invocationId: "i", completionId: 1 });
      });
      assert.equal(first, true);
      assert.equal(second, false);
      assert.deepEqual(
        store.listTimers(100, 10).map((t) => t.key.completionId ?? -1),
        [-1, 2],
      );
    });

    void it("state, locks, inbox FIFO, outbox, dedup, promises", () => {
      const { store } = make();
      store.transaction(() => {
        store.putState("S", "k", "b", Buffer.from("2"));
        store.putState("S", "k", "a", Buffer.from("1"));
        store.putState("S", "other", "a", Buffer.from("9"));
        store.setLock("S", "k", "holder");
        store.pushInbox("S", "k", "w1");
        store.pushInbox("S", "k", "w2");
        store.pushInbox("S", "k", "w3");
        store.setDedup("p1", 7);
        store.putPromise("W", "id", "p", { waiters: [{ invocationId: "x", completionId: 3 }] });
      });
      assert.deepEqual(
        store.listState("S", "k").map(([n, v]) => [n, Buffer.from(v).toString()]),
        [
          ["a", "1"],
          ["b", "2"],
        ],
      );
      assert.equal(store.getLock("S", "k"), "holder");
      store.transaction(() => store.removeFromInbox("S", "k", "w2"));
      const popped: (string | undefined)[] = [];
      store.transaction(() => {
        popped.push(store.popInbox("S", "k"), store.popInbox("S", "k"), store.popInbox("S", "k"));
      });
      assert.deepEqual(popped, ["w1", "w3", undefined]);
      let s1 = 0;
      let s2 = 0;
      store.transaction(() => {
        s1 = store.pushOutbox({ type: "cancel", invocationId: "a" });
        s2 = store.pushOutbox({ type: "kill", invocationId: "b" });
      });
      assert.equal(s2, s1 + 1);
      assert.deepEqual(
        store.listOutbox(0, 10).map((r) => r.seq),
        [s1, s2],
      );
      store.transaction(() => store.deleteOutboxUpTo(s1));
      assert.deepEqual(
        store.listOutbox(0, 10).map((r) => r.seq),
        [s2],
      );
      assert.equal(store.getDedup("p1"), 7);
      assert.equal(store.getDedup("p2"), undefined);
      assert.deepEqual(store.getPromise("W", "id", "p")?.waiters, [{ invocationId: "x", completionId: 3 }]);
      store.transaction(() => {
        store.clearState("S", "k");
        store.clearPromises("W", "id");
        store.deleteLock("S", "k");
      });
      assert.deepEqual(store.listState("S", "k"), []);
      assert.equal(store.listState("S", "other").length, 1);
      assert.equal(store.getPromise("W", "id", "p"), undefined);
      assert.equal(store.getLock("S", "k"), undefined);
    });
  });
}

suite("MemoryStore", () => ({ store: new MemoryStore(0), restore: (s) => MemoryStore.restore(s) }));
suite("SqlitePartitionStore", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
  dirs.push(dir);
  const db = SqliteStoreDb.open(path.join(dir, "store.db"), { partitions: 1 });
  return {
    store: db.partition(0),
    restore: (s) => SqliteStoreDb.open(path.join(dir, "restored.db"), { partitions: 1 }).restore(s),
  };
});

void describe("SqliteStoreDb: per-partition snapshots of the shared file", () => {
  /** An object key that hashes to the partition (of 2). */
  const keyIn = (partition: number): string => {
    for (let i = 0; ; i++) if (partitionOfKey("S", `k${i}`, 2) === partition) return `k${i}`;
  };
  const ID1 = "inv_80000000bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"; // the upper half of the key space: partition 1

  void it("a partition's snapshot holds exactly its rows, in every table; a restore replaces them and leaves the other partition alone", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
    dirs.push(dir);
    const db = SqliteStoreDb.open(path.join(dir, "store.db"), { partitions: 2 });
    const [k0, k1] = [keyIn(0), keyIn(1)];
    fill(db.partition(0), ID0, k0, 42);
    fill(db.partition(1), ID1, k1, 7);
    const before0 = rows(db.partition(0), ID0, k0);
    const before1 = rows(db.partition(1), ID1, k1);

    const snapshot = await db.partition(0).snapshot();
    assert.equal(snapshot.appliedLsn, 42);
    // Every table of the file is in the snapshot with partition 0's rows only.
    const copy = new Database(Buffer.from(snapshot.bytes));
    const tables = copy
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    assert.deepEqual(
      tables,
      db.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
    );
    for (const table of tables as string[]) {
      const count = copy.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
      assert.equal(count, table === "journal" ? 2 : 1, `${table}: partition 0's rows only`);
    }
    copy.close();

    // Restore into a fresh file: partition 0's rows, nothing of partition 1.
    const fresh = SqliteStoreDb.open(path.join(dir, "fresh.db"), { partitions: 2 });
    assert.deepEqual(rows(fresh.restore(snapshot), ID0, k0), before0);
    assert.equal(fresh.partition(1).getStatus(ID1), undefined);
    fresh.close();

    // Restore over the live file, after partition 0 moved on: back to the snapshot, open store reloaded.
    const live0 = db.partition(0);
    live0.transaction(() => {
      live0.putStatus(status(ID0, { state: "completed" }));
      live0.putState("S", k0, "extra", Buffer.from([1]));
      live0.setAppliedLsn(50);
    });
    assert.equal(db.restore(snapshot), live0, "the open store object is reused");
    assert.deepEqual(rows(live0, ID0, k0), before0);
    assert.equal(live0.getState("S", k0, "extra"), undefined);
    assert.deepEqual(rows(db.partition(1), ID1, k1), before1, "partition 1 untouched");
    db.close();
  });

  void it("snapshots need the partition count; a snapshot of another store format is refused", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
    dirs.push(dir);
    const db = SqliteStoreDb.open(path.join(dir, "store.db"));
    await assert.rejects(db.partition(0).snapshot(), /needs the partition count/);
    db.close();
    const withCount = SqliteStoreDb.open(path.join(dir, "store.db"), { partitions: 1 });
    const snapshot = await withCount.partition(0).snapshot();
    assert.throws(() => withCount.restore({ ...snapshot, format: snapshot.format + 1 }), /OL1022/);
    assert.throws(() => MemoryStore.restore({ ...snapshot, format: 1 }), /OL1022/);
    withCount.close();
  });
});

void describe("SqliteStoreDb: a file from before the journal's history columns", () => {
  void it("opens it, adds the columns (older rows have no time), and restores a snapshot made of it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
    dirs.push(dir);
    const file = path.join(dir, "store.db");
    // The same store, its journal table as onelog created it before history (id, idx, entry).
    const oldLayout =
      "CREATE TABLE old_journal (id TEXT NOT NULL, idx INTEGER NOT NULL, entry BLOB NOT NULL, PRIMARY KEY (id, idx)) WITHOUT ROWID;" +
      "INSERT INTO old_journal SELECT id, idx, entry FROM journal; DROP TABLE journal; ALTER TABLE old_journal RENAME TO journal;";
    const db = SqliteStoreDb.open(file, { partitions: 1 });
    fill(db.partition(0), ID0, "k", 5);
    const snapshot = await db.partition(0).snapshot();
    db.db.exec(oldLayout);
    db.close();
    // A snapshot an older onelog made: the same, with the old journal table.
    const old = new Database(Buffer.from(snapshot.bytes));
    old.exec(oldLayout);
    const oldSnapshot = { ...snapshot, bytes: old.serialize() };
    old.close();

    const reopened = SqliteStoreDb.open(file, { partitions: 1 });
    const store = reopened.partition(0);
    assert.equal(store.getJournal(ID0).length, 2);
    assert.deepEqual(store.getJournalMeta(ID0), [undefined, undefined]);
    store.transaction(() => store.appendJournal(ID0, 2, run("new"), { at: 9, attempt: 2 }));
    assert.deepEqual(store.getJournalMeta(ID0), [undefined, undefined, { at: 9, attempt: 2 }]);
    // The old snapshot restores into the new layout; it snapshots again.
    const fresh = SqliteStoreDb.open(path.join(dir, "fresh.db"), { partitions: 1 });
    const restored = fresh.restore(oldSnapshot);
    assert.equal(restored.getJournal(ID0).length, 2);
    assert.deepEqual(restored.getJournalMeta(ID0), [undefined, undefined]);
    assert.equal((await restored.snapshot()).appliedLsn, 5);
    fresh.close();
    reopened.close();
  });
});

void describe("SqlitePartitionStore caches", () => {
  void it("a commit that fails (the file cannot grow) leaves no cached status or journal behind", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
    dirs.push(dir);
    const file = path.join(dir, "store.db");
    const db = SqliteStoreDb.open(file);
    const store = db.partition(0);
    store.transaction(() => {
      store.putStatus(status("c", { attemptEpoch: 1 }));
      store.appendJournal("c", 0, input, META);
    });
    // Cap the file at its current size: a large write cannot commit.
    db.db.pragma("wal_checkpoint(TRUNCATE)");
    db.db.pragma("max_page_count = 1");
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    assert.throws(
      () =>
        store.transaction(() => {
          store.putStatus(status("c", { attemptEpoch: 2 }));
          store.appendJournal("c", 1, run("x"), META);
          store.putState("S", "k", "big", big);
        }),
      (e: unknown) => (e as { code?: string }).code === "SQLITE_FULL",
    );
    assert.equal(store.getStatus("c")?.attemptEpoch, 1);
    assert.equal(store.getJournal("c").length, 1);
    db.db.pragma("max_page_count = 1000000");
    store.transaction(() => store.putStatus(status("c", { attemptEpoch: 3 })));
    db.close();
    const again = SqliteStoreDb.open(file).partition(0);
    assert.equal(again.getStatus("c")?.attemptEpoch, 3);
    assert.equal(again.getJournal("c").length, 1);
  });
});
