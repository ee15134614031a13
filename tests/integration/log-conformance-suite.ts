// The Log conformance suite (log.ts invariants 1–6): one function that any Log implementation runs through a factory, with opaque byte payloads and nothing implementation-specific — MemoryLog and SqliteLog run it in log-conformance.test.ts, and the JetStream log will import it unchanged.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LogError } from "../../packages/onelog/src/internal/log/log.js";
import type { EntryHeader, Log, LogEntry, StoredEntry } from "../../packages/onelog/src/internal/log/log.js";

// ---------------------------------------------------------------------------------------------
// Helpers: entries are opaque bytes to the log, so the suite uses plain bytes, not records.

/** A small entry whose payload is its tag, so tests can check contents, not only LSNs. */
export function rec(tag: string, header: EntryHeader = {}): LogEntry {
  return { header, payload: Buffer.from(tag, "utf8") };
}

/** An entry with a header and a large binary payload that starts with its tag. */
export function bigRec(tag: string, sizeBytes: number): LogEntry {
  const payload = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) payload[i] = (i * 31 + 7) & 0xff;
  payload.set(Buffer.from(`${tag}|`, "utf8"));
  return { header: { leaderEpoch: 3, dedup: { producer: "ingress-1", seq: 42 } }, payload };
}

export function tagOf(entry: StoredEntry): string {
  const text = Buffer.from(entry.payload).toString("latin1");
  const bar = text.indexOf("|");
  return bar === -1 ? Buffer.from(entry.payload).toString("utf8") : text.slice(0, bar);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Passes if `fn` throws `check`-matching synchronously or returns a promise that rejects so. */
export async function failsWith(fn: () => unknown, check: (e: unknown) => boolean): Promise<void> {
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
export function follow(log: Log, partition: number, fromLsn: number) {
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
export async function readN(
  log: Log,
  partition: number,
  fromLsn: number,
  count: number,
): Promise<StoredEntry[]> {
  const reader = follow(log, partition, fromLsn);
  await reader.until(count);
  return (await reader.stop()).slice(0, count);
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One implementation under test, as the suite sees it: nothing implementation-specific. */
export interface Subject {
  log: Log;
  /** Simulates a restart: a log that sees what the old one made durable (the old one is gone). */
  restart(): Promise<Log>;
  dispose(): Promise<void>;
}

export type Factory = (options: { partitions: number }) => Subject;

// ---------------------------------------------------------------------------------------------
// The conformance suite: every Log implementation must pass it.

/**
 * Registers the suite for one implementation. `factory` builds a fresh log with that many
 * partitions (and a way to restart it over the same durable state) for every test.
 *
 * @example
 * logConformance("JetStreamLog", ({ partitions }) => jetStreamSubject(partitions));
 */
export function logConformance(name: string, factory: Factory): void {
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
