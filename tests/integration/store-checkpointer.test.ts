// The SQLite store's WAL checkpointer (sqlite-store.ts invariant 5, checkpointer.ts), with real
// files: with the checkpointer on a worker thread, a steady stream of commits keeps the WAL
// bounded and loses nothing across a reopen; an idle store starts no worker.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

void describe("SqliteStoreDb WAL checkpointer", () => {
  void it("with the checkpointer on a worker, a steady stream of commits keeps the WAL bounded and loses nothing", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-ckpt-"));
    dirs.push(dir);
    const file = path.join(dir, "store.db");
    const db = SqliteStoreDb.open(file, { partitions: 1, checkpointInWorker: true });
    const store = db.partition(0);
    assert.equal(db.checkpointerStats(), undefined, "no worker before the first commits");
    const value = Buffer.alloc(2_000, 7);
    const batches = 3_000;
    for (let i = 1; i <= batches; i++) {
      store.transaction(() => {
        // Random keys, as invocation ids are: every batch dirties pages all over the table.
        for (let j = 0; j < 8; j++) store.putState("S", `${(i * 7919 + j * 104729) % 100_003}`, "v", value);
        store.setAppliedLsn(i);
      });
      // The engine waits for the log's fsync between batches: the writer is not always busy.
      if (i % 4 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    // ~48 MB of rows written, each page many times over; a pass every 128 commits (sqlite-store.ts).
    await new Promise((r) => setTimeout(r, 200));
    const stats = db.checkpointerStats()!;
    assert.ok(stats.passes > 10, `passes: ${stats.passes}`);
    // Never restarted, the WAL ends at ~92,000 pages (every page version written): an eighth of that.
    assert.ok(stats.walPages < 12_000, `the WAL had ${stats.walPages} pages after the last pass`);
    const walBytes = fs.statSync(`${file}-wal`).size;
    assert.ok(walBytes < 80 * 1024 * 1024, `WAL file ${walBytes} bytes`);
    db.close();
    const again = SqliteStoreDb.open(file, { partitions: 1 });
    assert.equal(again.partition(0).getAppliedLsn(), batches);
    assert.deepEqual(again.partition(0).getState("S", `${(batches * 7919) % 100_003}`, "v"), value);
    again.close();
  });
});
