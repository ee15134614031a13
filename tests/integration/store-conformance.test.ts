// Proves MemoryStore and SqlitePartitionStore behave alike (one suite run against both), including rollback of a failed transaction and, for SQLite, that its in-memory caches never show what a rolled-back or failed commit wrote.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { JournalEntry } from "@onelog/sdk/internal";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";
import type {
  InvocationStatus,
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

const input: JournalEntry = { type: "input", argument: Buffer.from("1"), headers: {} };
let completionIds = 0;
const run = (name: string): JournalEntry => ({ type: "run", name, completionId: ++completionIds });

function suite(name: string, make: () => { store: PartitionStore; reopen?: () => PartitionStore }): void {
  void describe(`store conformance: ${name}`, () => {
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
        store.appendJournal("x", 0, input);
        store.appendJournal("x", 1, run("one"));
      });
      store.transaction(() => store.appendJournal("x", 2, run("two")));
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
        store.appendJournal("s", 0, input);
        store.setAppliedLsn(5);
      });
      assert.throws(() =>
        store.transaction(() => {
          store.putStatus(status("s", { attemptEpoch: 9 }));
          store.putStatus(status("new"));
          store.appendJournal("s", 1, run("lost"));
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

suite("MemoryStore", () => ({ store: new MemoryStore(0) }));
suite("SqlitePartitionStore", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-store-"));
  dirs.push(dir);
  const db = SqliteStoreDb.open(path.join(dir, "store.db"));
  return { store: db.partition(0) };
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
      store.appendJournal("c", 0, input);
    });
    // Cap the file at its current size: a large write cannot commit.
    db.db.pragma("wal_checkpoint(TRUNCATE)");
    db.db.pragma("max_page_count = 1");
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    assert.throws(
      () =>
        store.transaction(() => {
          store.putStatus(status("c", { attemptEpoch: 2 }));
          store.appendJournal("c", 1, run("x"));
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
