// The SQLite store's group commit and WAL checkpointer (sqlite-store.ts invariant 5,
// checkpointer.ts), with real files: batches of several partitions applied in one event-loop
// turn commit together, and only then; a batch that fails leaves the others of its group alone;
// with the checkpointer on a worker thread, a steady stream of commits keeps the WAL bounded and
// loses nothing across a reopen.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-group-"));
  dirs.push(dir);
  return path.join(dir, "store.db");
}

/** What another connection (the admin's SQL, a snapshot reader) sees of a partition. */
function committedLsn(file: string, partition: number): number | undefined {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT applied_lsn FROM partition_meta WHERE partition = ?").pluck().get(partition) as
      number | undefined;
  } finally {
    db.close();
  }
}

void describe("SqliteStoreDb group commit", () => {
  void it("batches of two partitions in one turn commit together, after the turn, and committed() tells when", async () => {
    const file = tempFile();
    const db = SqliteStoreDb.open(file, { partitions: 2 });
    const [a, b] = [db.partition(0), db.partition(1)];
    a.transaction(() => a.setAppliedLsn(1));
    a.transaction(() => a.setAppliedLsn(1)); // creates the row; the file has the table from open
    await a.committed();
    a.transaction(() => {
      a.putState("S", "k", "n", Buffer.from([1]));
      a.setAppliedLsn(2);
    });
    b.transaction(() => b.setAppliedLsn(7));
    // Applied (this connection reads its own writes) but not committed yet.
    assert.equal(a.getAppliedLsn(), 2);
    assert.deepEqual(a.getState("S", "k", "n"), Buffer.from([1]));
    assert.equal(committedLsn(file, 0), 1);
    assert.equal(committedLsn(file, 1), undefined);
    await Promise.all([a.committed(), b.committed()]);
    assert.equal(committedLsn(file, 0), 2);
    assert.equal(committedLsn(file, 1), 7);
    db.close();
  });

  void it("a batch that throws is undone alone: the other partition's batch of the same turn commits", async () => {
    const file = tempFile();
    const db = SqliteStoreDb.open(file, { partitions: 2 });
    const [a, b] = [db.partition(0), db.partition(1)];
    b.transaction(() => {
      b.putState("S", "b", "n", Buffer.from([2]));
      b.setAppliedLsn(5);
    });
    assert.throws(() =>
      a.transaction(() => {
        a.putState("S", "a", "n", Buffer.from([1]));
        a.setAppliedLsn(9);
        throw new Error("broken invariant");
      }),
    );
    assert.equal(a.getAppliedLsn(), 0);
    assert.equal(a.getState("S", "a", "n"), undefined);
    await b.committed();
    assert.equal(committedLsn(file, 1), 5);
    assert.equal(committedLsn(file, 0), undefined);
    db.close();
    const again = SqliteStoreDb.open(file, { partitions: 2 });
    assert.deepEqual(again.partition(1).getState("S", "b", "n"), Buffer.from([2]));
    assert.equal(again.partition(0).getState("S", "a", "n"), undefined);
    again.close();
  });

  void it("a snapshot or checkpoint commits the open group first, and refuses inside a batch", async () => {
    const file = tempFile();
    const db = SqliteStoreDb.open(file, { partitions: 2 });
    const a = db.partition(0);
    a.transaction(() => a.setAppliedLsn(3));
    const snapshot = await a.snapshot();
    assert.equal(snapshot.appliedLsn, 3);
    assert.equal(committedLsn(file, 0), 3);
    a.transaction(() => a.setAppliedLsn(4));
    assert.deepEqual(db.checkpoint(), [{ partition: 0, appliedLsn: 4 }]);
    assert.throws(() => a.transaction(() => db.commit()), /inside a transaction/);
    db.close();
  });

  void it("with the checkpointer on a worker, a steady stream of commits keeps the WAL bounded and loses nothing", async () => {
    const file = tempFile();
    const db = SqliteStoreDb.open(file, { partitions: 1, checkpointInWorker: true });
    const store = db.partition(0);
    assert.equal(db.checkpointerStats(), undefined, "no worker before the first commits");
    const value = Buffer.alloc(2_000, 7);
    const batches = 1_500;
    for (let i = 1; i <= batches; i++) {
      store.transaction(() => {
        // Random keys, as invocation ids are: every batch dirties pages all over the table.
        for (let j = 0; j < 8; j++) store.putState("S", `${(i * 7919 + j * 104729) % 100_003}`, "v", value);
        store.setAppliedLsn(i);
      });
      await store.committed();
      // The engine waits for the log's fsync between batches: the writer is not always busy.
      if (i % 4 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    // ~24 MB of rows written, ~6,000 pages: without checkpoints the WAL would hold them all.
    await new Promise((r) => setTimeout(r, 200));
    const stats = db.checkpointerStats()!;
    assert.ok(stats.passes > 10, `passes: ${stats.passes}`);
    assert.ok(stats.walPages < 4_000, `the WAL had ${stats.walPages} pages after the last pass`);
    const walBytes = fs.statSync(`${file}-wal`).size;
    assert.ok(walBytes < 80 * 1024 * 1024, `WAL file ${walBytes} bytes`);
    db.close();
    const again = SqliteStoreDb.open(file, { partitions: 1 });
    assert.equal(again.partition(0).getAppliedLsn(), batches);
    assert.deepEqual(again.partition(0).getState("S", `${(batches * 7919) % 100_003}`, "v"), value);
    again.close();
  });
});
