// Proves MemoryLog and SqliteLog keep every clause of the Log contract (log.ts invariants 1–6) by running one suite, through the public API and with opaque byte payloads only, against a factory per implementation (a JetStream log plugs in the same way); then each one's own behaviour (group commit, crashes, fsync'd batches, corruption, full disk) in its own describe.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { LogError } from "../../packages/onelog/src/internal/log/log.js";
import type { EntryHeader, Log, LogEntry, StoredEntry } from "../../packages/onelog/src/internal/log/log.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { SqliteLog } from "../../packages/onelog/src/internal/log/sqlite-log.js";
import type { SqliteLogOptions } from "../../packages/onelog/src/internal/log/sqlite-log.js";
import { DataFormatError, LOG_FORMAT } from "../../packages/onelog/src/internal/format-versions.js";

// ---------------------------------------------------------------------------------------------
// Helpers: entries are opaque bytes to the log, so the suite uses plain bytes, not records.

/** A small entry whose payload is its tag, so tests can check contents, not only LSNs. */
function rec(tag: string, header: EntryHeader = {}): LogEntry {
  return { header, payload: Buffer.from(tag, "utf8") };
}

/** An entry with a header and a large binary payload that starts with its tag. */
function bigRec(tag: string, sizeBytes: number): LogEntry {
  const payload = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) payload[i] = (i * 31 + 7) & 0xff;
  payload.set(Buffer.from(`${tag}|`, "utf8"));
  return { header: { leaderEpoch: 3, dedup: { producer: "ingress-1", seq: 42 } }, payload };
}

function tagOf(entry: StoredEntry): string {
  const text = Buffer.from(entry.payload).toString("latin1");
  const bar = text.indexOf("|");
  return bar === -1 ? Buffer.from(entry.payload).toString("utf8") : text.slice(0, bar);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Passes if `fn` throws `check`-matching synchronously or returns a promise that rejects so. */
async function failsWith(fn: () => unknown, check: (e: unknown) => boolean): Promise<void> {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    assert.ok(check(e), `unexpected error ${String(e)}`);
    return;
  }
  await assert.rejects(Promise.resolve(result), check);
}

/** Follows a partition from an LSN in the background, collecting what the reader yields. */
function follow(log: Log, partition: number, fromLsn: number) {
  const controller = new AbortController();
  const records: StoredEntry[] = [];
  let wakeUp: () => void = () => {};
  let error: Error | undefined;
  let ended = false;
  const done = (async () => {
    try {
      for await (const batch of log.read(partition, fromLsn, controller.signal)) {
        assert.ok(batch.length > 0, "a reader never yields an empty batch");
        records.push(...batch);
        wakeUp();
      }
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    } finally {
      ended = true;
      wakeUp();
    }
  })();
  return {
    records,
    done,
    get ended() {
      return ended;
    },
    get error() {
      return error;
    },
    /** Waits until at least `count` records were read (fails if the reader ends first). */
    async until(count: number): Promise<StoredEntry[]> {
      while (records.length < count) {
        if (error !== undefined) throw error;
        if (ended) assert.fail(`reader ended after ${records.length} records, expected ${count}`);
        await new Promise<void>((resolve) => (wakeUp = resolve));
      }
      return records;
    },
    async stop(): Promise<StoredEntry[]> {
      controller.abort();
      await done;
      if (error !== undefined) throw error;
      return records;
    },
  };
}

/** Reads a partition from `fromLsn` until it has `count` records, then stops the reader. */
async function readN(log: Log, partition: number, fromLsn: number, count: number): Promise<StoredEntry[]> {
  const reader = follow(log, partition, fromLsn);
  await reader.until(count);
  return (await reader.stop()).slice(0, count);
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One implementation under test, as the suite sees it: nothing implementation-specific. */
interface Subject {
  log: Log;
  /** Simulates a restart: a log that sees what the old one made durable (the old one is gone). */
  restart(): Promise<Log>;
  dispose(): Promise<void>;
}

type Factory = (options: { partitions: number }) => Subject;

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

// ---------------------------------------------------------------------------------------------
// The conformance suite: every Log implementation must pass it.

function logConformance(name: string, factory: Factory): void {
  void describe(`Log conformance: ${name}`, { timeout: 20_000 }, () => {
    async function withLog(partitions: number, fn: (subject: Subject) => Promise<void>): Promise<void> {
      const subject = factory({ partitions });
      try {
        await fn(subject);
      } finally {
        await subject.dispose();
      }
    }

    void it("gives consecutive LSNs per partition, in call order, independent across partitions (1)", () =>
      withLog(3, async ({ log }) => {
        assert.deepEqual(await log.append(0, [rec("a"), rec("b"), rec("c")]), [1, 2, 3]);
        assert.deepEqual(await log.append(1, [rec("x")]), [1]);
        assert.deepEqual(await log.append(0, [rec("d")]), [4]);
        // Concurrent appends in one tick: LSNs follow call order.
        const [e, fg, y, h] = await Promise.all([
          log.append(0, [rec("e")]),
          log.append(0, [rec("f"), rec("g")]),
          log.append(1, [rec("y")]),
          log.append(0, [rec("h")]),
        ]);
        assert.deepEqual([e, fg, y, h], [[5], [6, 7], [2], [8]]);
        const tails = await Promise.all([0, 1, 2].map(async (p) => (await log.findTail(p)).tailLsn));
        assert.deepEqual(tails, [8, 2, 0]);
        assert.deepEqual(await log.append(2, []), []);
        const read = await readN(log, 0, 1, 8);
        assert.deepEqual(read.map(tagOf), ["a", "b", "c", "d", "e", "f", "g", "h"]);
        assert.deepEqual(
          read.map((r) => r.lsn),
          range(1, 8),
        );
      }));

    void it("resolves each append only once durable: a restart right after keeps it (1)", () =>
      withLog(2, async (subject) => {
        const lsns = await subject.log.append(1, [rec("durable")]);
        assert.deepEqual(lsns, [1]);
        const log = await subject.restart();
        assert.deepEqual((await readN(log, 1, 1, 1)).map(tagOf), ["durable"]);
      }));

    void it("answers tail and trim positions asynchronously, monotonic, covering every resolved append (5)", () =>
      withLog(2, async ({ log }) => {
        const empty = log.findTail(0);
        assert.ok(empty instanceof Promise, "findTail returns a promise");
        assert.deepEqual(await empty, { tailLsn: 0, trimmedLsn: 0 });
        let last = { tailLsn: 0, trimmedLsn: 0 };
        for (let i = 1; i <= 5; i++) {
          const [lsn] = await log.append(0, [rec(`r${i}`)]);
          const now = await log.findTail(0);
          assert.ok(now.tailLsn >= lsn!, `tail ${now.tailLsn} covers the resolved LSN ${lsn}`);
          assert.ok(now.tailLsn >= last.tailLsn && now.trimmedLsn >= last.trimmedLsn, "monotonic");
          last = now;
        }
        await log.trim(0, 3);
        assert.deepEqual(await log.findTail(0), { tailLsn: 5, trimmedLsn: 3 });
        assert.deepEqual(await log.findTail(1), { tailLsn: 0, trimmedLsn: 0 }, "partitions are independent");
      }));

    void it("round-trips every header shape and payload bytes exactly (2)", () =>
      withLog(1, async ({ log }) => {
        const every = new Uint8Array(256).map((_, i) => i);
        const entries: LogEntry[] = [
          { header: {}, payload: every },
          { header: { leaderEpoch: 7 }, payload: Buffer.from("epoch only") },
          { header: { dedup: { producer: "p3", seq: 0 } }, payload: Buffer.from("dedup, seq 0") },
          {
            header: { leaderEpoch: 1, dedup: { producer: "ingress/é ✓", seq: Number.MAX_SAFE_INTEGER } },
            payload: Buffer.from("both"),
          },
          { header: {}, payload: new Uint8Array(0) },
          bigRec("big", 300_000),
        ];
        await log.append(0, entries);
        const read = await readN(log, 0, 1, entries.length);
        entries.forEach((entry, i) => {
          assert.deepEqual(read[i]!.header, entry.header, `header of entry ${i + 1}`);
          assert.deepEqual(
            new Uint8Array(read[i]!.payload),
            new Uint8Array(entry.payload),
            `payload ${i + 1}`,
          );
        });
      }));

    void it("reads from LSN 1 in order, then tails new appends (3)", () =>
      withLog(2, async ({ log }) => {
        await log.append(
          0,
          range(1, 5).map((i) => rec(`old${i}`)),
        );
        await log.append(1, [rec("other partition")]);
        const reader = follow(log, 0, 1);
        await reader.until(5);
        await log.append(0, [rec("new1"), rec("new2")]);
        await log.append(1, [rec("other partition again")]);
        await log.append(0, [rec("new3")]);
        await reader.until(8);
        const records = await reader.stop();
        assert.deepEqual(
          records.map((r) => r.lsn),
          range(1, 8),
        );
        assert.deepEqual(records.map(tagOf), [
          "old1",
          "old2",
          "old3",
          "old4",
          "old5",
          "new1",
          "new2",
          "new3",
        ]);
        assert.ok(reader.ended, "the reader ends when its signal aborts");
      }));

    void it("a reader on an empty partition waits, then yields the first record", () =>
      withLog(1, async ({ log }) => {
        const reader = follow(log, 0, 1);
        await tick();
        assert.equal(reader.records.length, 0);
        await log.append(0, [rec("first")]);
        assert.deepEqual((await reader.until(1)).map(tagOf), ["first"]);
        await reader.stop();
      }));

    void it("reads from a middle LSN, and from beyond the tail once it is reached (3)", () =>
      withLog(1, async ({ log }) => {
        await log.append(
          0,
          range(1, 10).map((i) => rec(`r${i}`)),
        );
        const middle = await readN(log, 0, 4, 7);
        assert.deepEqual(
          middle.map((r) => r.lsn),
          range(4, 10),
        );
        assert.deepEqual(
          middle.map(tagOf),
          range(4, 10).map((i) => `r${i}`),
        );
        const ahead = follow(log, 0, 12);
        await log.append(0, [rec("r11"), rec("r12"), rec("r13")]);
        assert.deepEqual(
          (await ahead.until(2)).map((r) => r.lsn),
          [12, 13],
        );
        await ahead.stop();
      }));

    void it("two concurrent readers each see every record exactly once, in order (3)", () =>
      withLog(2, async ({ log }) => {
        await log.append(
          0,
          range(1, 700).map((i) => rec(`r${i}`)),
        );
        const a = follow(log, 0, 1);
        const b = follow(log, 0, 1);
        let next = 701;
        for (let round = 0; round < 20; round++) {
          const appends: Promise<number[]>[] = [];
          for (let k = 0; k < 15; k++) {
            appends.push(log.append(0, [rec(`r${next}`), rec(`r${next + 1}`)]));
            appends.push(log.append(1, [rec("noise")]));
            next += 2;
          }
          await Promise.all(appends);
          if (round % 3 === 0) await tick();
        }
        const total = next - 1;
        for (const reader of [a, b]) {
          await reader.until(total);
          await tick();
          const records = await reader.stop();
          assert.deepEqual(
            records.map((r) => r.lsn),
            range(1, total),
          );
          assert.deepEqual(
            records.map(tagOf),
            range(1, total).map((i) => `r${i}`),
          );
        }
      }));

    void it("keeps every acknowledged record across a restart; LSNs continue after the tail (1, 5)", () =>
      withLog(2, async (subject) => {
        await subject.log.append(
          0,
          range(1, 30).map((i) => rec(`a${i}`)),
        );
        await Promise.all(range(31, 40).map((i) => subject.log.append(0, [rec(`a${i}`)])));
        await subject.log.append(1, [rec("b1"), rec("b2")]);
        const log = await subject.restart();
        assert.equal((await log.findTail(0)).tailLsn, 40);
        assert.equal((await log.findTail(1)).tailLsn, 2);
        assert.deepEqual(
          (await readN(log, 0, 1, 40)).map(tagOf),
          range(1, 40).map((i) => `a${i}`),
        );
        assert.deepEqual(await log.append(0, [rec("a41")]), [41]);
        assert.deepEqual(await log.append(1, [rec("b3")]), [3]);
        assert.deepEqual((await readN(log, 1, 1, 3)).map(tagOf), ["b1", "b2", "b3"]);
      }));

    void it("trims records ≤ the LSN; reads continue above the trim point, also after a restart (4)", () =>
      withLog(2, async (subject) => {
        await subject.log.append(
          0,
          range(1, 10).map((i) => rec(`r${i}`)),
        );
        await subject.log.trim(0, 4);
        const afterTrim = await readN(subject.log, 0, 1, 6);
        assert.deepEqual(
          afterTrim.map((r) => r.lsn),
          range(5, 10),
        );
        assert.deepEqual(await subject.log.findTail(0), { tailLsn: 10, trimmedLsn: 4 });
        // A reader trimmed past while it waits skips to the trim point, never a gap above it.
        await subject.log.trim(0, 10);
        await subject.log.trim(0, 3); // lower than before: no effect
        let log = await subject.restart();
        assert.deepEqual(
          await log.findTail(0),
          { tailLsn: 10, trimmedLsn: 10 },
          "a fully trimmed partition keeps its tail and trim point",
        );
        assert.deepEqual(await log.append(0, [rec("r11")]), [11]);
        assert.deepEqual(
          (await readN(log, 0, 1, 1)).map((r) => r.lsn),
          [11],
        );
        // Trimming beyond the tail trims to the tail only.
        await log.trim(1, 99);
        assert.deepEqual(await log.append(1, [rec("p1")]), [1]);
        log = await subject.restart();
        assert.deepEqual((await readN(log, 1, 1, 1)).map(tagOf), ["p1"]);
      }));

    void it("rejects appends, trims and position queries after close with LogError 'closed', and ends readers (6)", () =>
      withLog(2, async (subject) => {
        const { log } = subject;
        const idle = follow(log, 1, 1); // waits on an empty partition: only close can end it
        await tick();
        const pending = log.append(0, [rec("flushed by close")]);
        await log.close();
        assert.deepEqual(await pending, [1], "close flushes pending appends");
        await tick();
        assert.ok(idle.ended, "close ends waiting readers");
        assert.equal(idle.error, undefined);
        await assert.rejects(
          log.append(0, [rec("too late")]),
          (e: unknown) => e instanceof LogError && e.code === "closed",
        );
        await assert.rejects(log.trim(0, 1), (e: unknown) => e instanceof LogError && e.code === "closed");
        await assert.rejects(log.findTail(0), (e: unknown) => e instanceof LogError && e.code === "closed");
        await log.close(); // twice is harmless
        const log2 = await subject.restart();
        assert.deepEqual((await readN(log2, 0, 1, 1)).map(tagOf), ["flushed by close"]);
      }));

    void it("refuses a partition it does not have with a RangeError", () =>
      withLog(2, async ({ log }) => {
        for (const p of [2, -1, 0.5]) {
          await failsWith(
            () => log.append(p, [rec("x")]),
            (e) => e instanceof RangeError,
          );
          await failsWith(
            () => log.findTail(p),
            (e) => e instanceof RangeError,
          );
        }
        assert.deepEqual(await log.append(1, [rec("still fine")]), [1]);
      }));
  });
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
