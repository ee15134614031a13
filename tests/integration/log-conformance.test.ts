// Proves MemoryLog and SqliteLog keep every clause of the Log contract (log.ts invariants 1–6) by running the shared suite (log-conformance-suite.ts: opaque byte payloads, one factory per implementation, as the JetStream log will) against each; then each one's own behaviour (group commit, crashes, fsync'd batches, corruption, full disk, file format) in its own describe, on real SQLite files.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { LogError } from "../../packages/onelog/src/internal/log/log.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { SqliteLog } from "../../packages/onelog/src/internal/log/sqlite-log.js";
import type { SqliteLogOptions } from "../../packages/onelog/src/internal/log/sqlite-log.js";
import { DataFormatError, LOG_FORMAT } from "../../packages/onelog/src/internal/format-versions.js";
import {
  bigRec,
  follow,
  logConformance,
  range,
  readN,
  rec,
  tagOf,
  tick,
  type Factory,
  type Subject,
} from "./log-conformance-suite.js";

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-log-test-"));
  tempDirs.push(dir);
  return dir;
}

const memoryFactory: Factory = ({ partitions }) => {
  const log = new MemoryLog({ partitions });
  return {
    log,
    restart: () => {
      log.crash();
      return Promise.resolve(log);
    },
    dispose: () => log.close(),
  };
};

function sqliteFactory(extra: Omit<SqliteLogOptions, "path" | "partitions"> = {}): Factory {
  return ({ partitions }) => {
    const file = path.join(tempDir(), "log.db");
    let log = SqliteLog.open({ path: file, partitions, ...extra });
    const subject: Subject = {
      log,
      restart: async () => {
        await log.close();
        log = SqliteLog.open({ path: file, partitions, ...extra });
        subject.log = log;
        return log;
      },
      dispose: () => log.close(),
    };
    return subject;
  };
}

logConformance("MemoryLog", memoryFactory);
logConformance("SqliteLog", sqliteFactory());
// Every read goes to disk, and tailing readers hand over between disk and a 4-record cache often.
logConformance("SqliteLog (tiny tail cache)", sqliteFactory({ tailCacheRecords: 4 }));

// ---------------------------------------------------------------------------------------------
// Implementation-specific behaviour.

void describe("MemoryLog: simulated crashes", { timeout: 10_000 }, () => {
  function manual() {
    const queue: (() => void)[] = [];
    const log = new MemoryLog({ partitions: 2, scheduler: { defer: (fn) => queue.push(fn) } });
    const flush = (): void => {
      for (const fn of queue.splice(0)) fn();
    };
    return { log, queue, flush };
  }

  void it("proposals made before the deferred flush share one commit", async () => {
    const { log, flush } = manual();
    const a = log.append(0, [rec("a")]);
    await tick();
    const b = log.append(1, [rec("b"), rec("c")]);
    const c = log.append(0, [rec("d")]);
    assert.equal((await log.findTail(0)).tailLsn, 0, "nothing is durable before the flush");
    flush();
    assert.deepEqual(await Promise.all([a, b, c]), [[1], [1, 2], [2]]);
    assert.deepEqual(log.stats, { commits: 1, records: 4, maxRecordsPerCommit: 4 });
  });

  void it("crash() loses unflushed proposals, keeps flushed ones, and reuses the lost LSNs", async () => {
    const { log, queue, flush } = manual();
    const kept = log.append(0, [rec("kept")]);
    flush();
    assert.deepEqual(await kept, [1]);
    let settled = false;
    log.append(0, [rec("lost1"), rec("lost2")]).then(
      () => (settled = true),
      () => (settled = true),
    );
    log.crash();
    const next = log.append(0, [rec("after")]);
    queue[0]!(); // the flush scheduled before the crash belongs to the dead process: no effect
    await tick();
    assert.equal(settled, false, "a lost proposal never settles");
    assert.equal((await log.findTail(0)).tailLsn, 1);
    flush();
    assert.deepEqual(await next, [2]);
    const reader = follow(log, 0, 1);
    await reader.until(2);
    flush();
    await tick();
    assert.deepEqual((await reader.stop()).map(tagOf), ["kept", "after"]);
  });

  void it("crash() ends active readers; a new reader sees the durable records", async () => {
    const { log, flush } = manual();
    void log.append(0, [rec("r1")]);
    flush();
    const reader = follow(log, 0, 1);
    await reader.until(1);
    log.crash();
    await tick();
    assert.ok(reader.ended, "crash() ends the reader");
    assert.equal(reader.error, undefined);
    assert.deepEqual((await readN(log, 0, 1, 1)).map(tagOf), ["r1"]);
  });
});

void describe("SqliteLog: group commit, batching, corruption, full disk, format", { timeout: 20_000 }, () => {
  void it("makes appends of one tick durable in one commit (group commit), in call order", async () => {
    const log = SqliteLog.open({ path: path.join(tempDir(), "log.db"), partitions: 3 });
    try {
      await log.append(0, [rec("warm-up")]);
      const before = log.stats.commits;
      const appends = range(1, 200).map((i) => log.append(i % 3, [rec(`r${i}`)]));
      const lsns = await Promise.all(appends);
      assert.equal(log.stats.commits - before, 1);
      // Per partition, in call order, consecutive after the warm-up record.
      for (let p = 0; p < 3; p++) {
        const got = lsns.filter((_, i) => (i + 1) % 3 === p).map(([lsn]) => lsn);
        const first = p === 0 ? 2 : 1;
        assert.deepEqual(got, range(first, first + got.length - 1));
      }
    } finally {
      await log.close();
    }
  });

  void it("reports records per commit for 1000 appends made in one tick", async (t) => {
    const log = SqliteLog.open({ path: path.join(tempDir(), "log.db"), partitions: 4 });
    try {
      const before = log.stats.commits;
      await Promise.all(range(1, 1000).map((i) => log.append(i % 4, [rec(`r${i}`)])));
      const commits = log.stats.commits - before;
      t.diagnostic(
        `SqliteLog: 1000 appends in one tick -> ${commits} commit(s), ${1000 / commits} records/commit`,
      );
      assert.equal(commits, 1);
    } finally {
      await log.close();
    }
  });

  void it("fsyncs the WAL before resolving: the file a reopen reads holds every resolved append", async () => {
    const file = path.join(tempDir(), "log.db");
    const log = SqliteLog.open({ path: file, partitions: 1 });
    const lsns = await Promise.all(range(1, 50).map((i) => log.append(0, [rec(`r${i}`)])));
    // A second connection (as after a crash) sees them before this log closes or checkpoints.
    const raw = new Database(file, { readonly: true });
    try {
      assert.equal(raw.prepare("SELECT count(*) FROM log").pluck().get(), lsns.length);
    } finally {
      raw.close();
      await log.close();
    }
  });

  void it("refuses a file of another format, and a format-1 file (no format row), with DataFormatError", async () => {
    const file = path.join(tempDir(), "log.db");
    await SqliteLog.open({ path: file, partitions: 1 }).close();
    const raw = new Database(file);
    raw.prepare("UPDATE log_meta SET value = ? WHERE name = 'format'").run(LOG_FORMAT + 1);
    raw.close();
    assert.throws(
      () => SqliteLog.open({ path: file, partitions: 1 }),
      (e: unknown) =>
        e instanceof DataFormatError && /newer onelog/.test(e.message) && /OL1022/.test(e.message),
    );
    // What onelog wrote before format versions: a log table with a body column, no format row.
    const old = path.join(tempDir(), "log.db");
    const v1 = new Database(old);
    v1.exec(
      "CREATE TABLE log (partition INTEGER, lsn INTEGER, body BLOB, crc INTEGER, PRIMARY KEY (partition, lsn)) WITHOUT ROWID;" +
        "CREATE TABLE log_meta (name TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;" +
        "INSERT INTO log_meta VALUES ('partitions', 1);",
    );
    v1.close();
    assert.throws(
      () => SqliteLog.open({ path: old, partitions: 1 }),
      (e: unknown) => e instanceof DataFormatError && e.found === 1 && /older onelog/.test(e.message),
    );
  });

  void it("splits one tick's appends beyond maxBatchRecords into several commits, in order (2)", async () => {
    const log = SqliteLog.open({ path: path.join(tempDir(), "log.db"), partitions: 2, maxBatchRecords: 100 });
    try {
      const before = log.stats.commits;
      const lsns = await Promise.all(range(1, 250).map((i) => log.append(i % 2, [rec(`r${i}`)])));
      assert.equal(log.stats.commits - before, 3);
      assert.ok(log.stats.maxRecordsPerCommit <= 100);
      assert.deepEqual(
        lsns.filter((_, i) => (i + 1) % 2 === 0).map(([l]) => l),
        range(1, 125),
      );
      assert.deepEqual(
        (await readN(log, 1, 1, 125)).map(tagOf),
        range(0, 124).map((i) => `r${2 * i + 1}`),
      );
      // One append larger than the limit stays atomic: one commit of its own.
      const beforeBig = log.stats.commits;
      assert.deepEqual(
        await log.append(
          0,
          range(1, 150).map((i) => rec(`big${i}`)),
        ),
        range(126, 275),
      );
      assert.equal(log.stats.commits - beforeBig, 1);
    } finally {
      await log.close();
    }
  });

  void it("splits by maxBatchBytes too", async () => {
    const log = SqliteLog.open({
      path: path.join(tempDir(), "log.db"),
      partitions: 1,
      maxBatchBytes: 10_000,
    });
    try {
      const lsns = await Promise.all(range(1, 10).map((i) => log.append(0, [bigRec(`r${i}`, 3000)])));
      assert.deepEqual(lsns.flat(), range(1, 10));
      assert.ok(log.stats.commits >= 4, `expected ≥ 4 commits, got ${log.stats.commits}`);
    } finally {
      await log.close();
    }
  });

  void it("detects a corrupted payload or header on read with LogError 'io' (5)", async () => {
    const file = path.join(tempDir(), "log.db");
    let log = SqliteLog.open({ path: file, partitions: 1 });
    await log.append(
      0,
      range(1, 10).map((i) => rec(`r${i}`)),
    );
    await log.close();

    const raw = new Database(file);
    const row = raw.prepare("SELECT payload FROM log WHERE partition = 0 AND lsn = 5").get() as {
      payload: Buffer;
    };
    const body = Buffer.from(row.payload);
    body[body.length - 1] = body[body.length - 1]! ^ 0x01;
    raw.prepare("UPDATE log SET payload = ? WHERE partition = 0 AND lsn = 5").run(body);
    // A flipped header field is caught too (the CRC covers it).
    raw.prepare("UPDATE log SET leader_epoch = 9 WHERE partition = 0 AND lsn = 8").run();
    raw.close();

    log = SqliteLog.open({ path: file, partitions: 1 });
    try {
      const reader = follow(log, 0, 1);
      // Without the check the reader would yield all 10 and wait for more: fail fast then.
      await Promise.race([reader.done, reader.until(10).catch(() => undefined)]);
      assert.deepEqual(
        reader.records.map((r) => r.lsn),
        [1, 2, 3, 4],
        "records before the bad one are yielded",
      );
      assert.ok(reader.error instanceof LogError, `expected LogError, got ${String(reader.error)}`);
      assert.equal(reader.error.code, "io");
      const fromSix = follow(log, 0, 6);
      await fromSix.done;
      assert.deepEqual(
        fromSix.records.map((r) => r.lsn),
        [6, 7],
        "the entry with a flipped header field fails too",
      );
      assert.ok(fromSix.error instanceof LogError && fromSix.error.code === "io");
      assert.deepEqual(
        (await readN(log, 0, 9, 2)).map((r) => r.lsn),
        [9, 10],
      );
    } finally {
      await log.close();
    }
  });

  void it("rejects a batch with 'disk_full' when the disk is full, keeps what was acknowledged, then recovers without a gap (3, 5)", async () => {
    const file = path.join(tempDir(), "log.db");
    const log = SqliteLog.open({ path: file, partitions: 2 });
    try {
      await log.append(
        0,
        range(1, 5).map((i) => rec(`r${i}`)),
      );
      await log.append(1, [rec("p1-1")]);
      const reader = follow(log, 0, 1);
      await reader.until(5);

      log.setMaxPageCount(1); // SQLite clamps it to the current size: any growth fails
      const failing = [
        log.append(0, [rec("small")]),
        log.append(0, [bigRec("huge", 256 * 1024)]),
        log.append(1, [rec("other partition")]),
      ];
      for (const append of failing) {
        await assert.rejects(append, (e: unknown) => e instanceof LogError && e.code === "disk_full");
      }
      assert.equal((await log.findTail(0)).tailLsn, 5);
      assert.equal((await log.findTail(1)).tailLsn, 1);

      log.setMaxPageCount(1_000_000);
      assert.deepEqual(await log.append(0, [rec("r6")]), [6]);
      assert.deepEqual(await log.append(1, [rec("p1-2")]), [2]);
      await reader.until(6);
      await tick();
      assert.deepEqual((await reader.stop()).map(tagOf), ["r1", "r2", "r3", "r4", "r5", "r6"]);
    } finally {
      await log.close();
    }
    const reopened = SqliteLog.open({ path: file, partitions: 2 });
    try {
      assert.deepEqual((await readN(reopened, 0, 1, 6)).map(tagOf), ["r1", "r2", "r3", "r4", "r5", "r6"]);
      assert.deepEqual((await readN(reopened, 1, 1, 2)).map(tagOf), ["p1-1", "p1-2"]);
    } finally {
      await reopened.close();
    }
  });

  void it("refuses to open a file with a different number of partitions", async () => {
    const file = path.join(tempDir(), "log.db");
    await SqliteLog.open({ path: file, partitions: 2 }).close();
    assert.throws(() => SqliteLog.open({ path: file, partitions: 3 }), /created with 2 partitions/);
  });
});
