// Proves the Leadership contract (leadership.ts invariants 1–3) with one suite run against a factory per implementation (the embedded one with its epochs in memory and in a real epochs.json, so a cluster lease can plug in the same way), and that a processor leads with its grant's epoch, announces its node, and stops leading when the grant is revoked — on a MemoryLog and memory stores.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as onelog from "onelog";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import { fileEpochRecord } from "../../packages/onelog/src/internal/embedded/data-dir.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { decodeRecord } from "../../packages/onelog/src/internal/partition/codec.js";
import {
  EmbeddedLeadership,
  memoryEpochRecord,
  type EpochRecord,
  type Leadership,
} from "../../packages/onelog/src/internal/partition/leadership.js";
import type { LogRecord } from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** One implementation under test: a Leadership, and the same one after a process restart. */
interface Subject {
  leadership: Leadership;
  /** The leadership a restarted process would build over the same durable state. */
  restart(): Leadership;
  /** Makes the data know a higher epoch (the store applied someone's AnnounceLeader). */
  dataKnows(partition: number, epoch: number): void;
  /** Ends a live grant from outside, as a lost lease does. */
  revoke(partition: number): void;
}

function embedded(epochs: () => EpochRecord): () => Subject {
  return () => {
    const known = new Map<number, number>();
    const record = epochs();
    const build = () =>
      new EmbeddedLeadership({ node: "n1", lastEpoch: (p) => known.get(p) ?? 0, epochs: record });
    let leadership = build();
    return {
      get leadership() {
        return leadership;
      },
      restart: () => (leadership = build()),
      dataKnows: (p, epoch) => void known.set(p, epoch),
      revoke: (p) => leadership.revoke(p),
    };
  };
}

function leadershipConformance(name: string, factory: () => Subject): void {
  void describe(`Leadership conformance: ${name}`, () => {
    const never = new AbortController().signal;

    void it("grants positive, growing epochs per partition, above what the data knows (1)", async () => {
      const s = factory();
      const a = await s.leadership.acquire(0, never);
      assert.ok(a.epoch > 0);
      assert.equal(a.partition, 0);
      assert.equal(a.node, s.leadership.node);
      const b = await s.leadership.acquire(0, never);
      assert.ok(b.epoch > a.epoch);
      s.dataKnows(0, b.epoch + 10);
      const c = await s.leadership.acquire(0, never);
      assert.ok(c.epoch > b.epoch + 10, "above the epoch the data knows");
      const other = await s.leadership.acquire(1, never);
      assert.ok(other.epoch > 0, "partitions are independent");
    });

    void it("epochs keep growing across a restart, even when the data never learned them (1)", async () => {
      const s = factory();
      const first = await s.leadership.acquire(2, never);
      const second = await s.leadership.acquire(2, never);
      const restarted = s.restart();
      const third = await restarted.acquire(2, never);
      assert.ok(third.epoch > second.epoch && second.epoch > first.epoch);
    });

    void it("a new grant ends the previous one; release and revoke end a grant (2, 3)", async () => {
      const s = factory();
      const a = await s.leadership.acquire(3, never);
      assert.equal(a.revoked.aborted, false);
      const b = await s.leadership.acquire(3, never);
      assert.equal(a.revoked.aborted, true, "one live grant per partition");
      await s.leadership.release(b);
      assert.equal(b.revoked.aborted, true);
      await s.leadership.release(b); // twice is harmless
      const c = await s.leadership.acquire(3, never);
      s.revoke(3);
      assert.equal(c.revoked.aborted, true);
      const d = await s.leadership.acquire(3, never);
      assert.ok(d.epoch > c.epoch, "a revoked grant is never valid again: a new one has a new epoch");
      assert.equal(d.revoked.aborted, false);
    });

    void it("rejects an acquire whose signal already aborted, granting nothing", async () => {
      const s = factory();
      const aborted = new AbortController();
      aborted.abort(new Error("stopping"));
      await assert.rejects(s.leadership.acquire(0, aborted.signal), /stopping/);
    });
  });
}

leadershipConformance("EmbeddedLeadership (epochs in memory)", embedded(memoryEpochRecord));
leadershipConformance(
  "EmbeddedLeadership (epochs.json)",
  embedded(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-epochs-"));
    dirs.push(dir);
    const record = fileEpochRecord(dir);
    // Reads go through a fresh file reader each time, as a restarted process would.
    return { get: (p) => fileEpochRecord(dir).get(p), set: (p, e) => record.set(p, e) };
  }),
);

void describe("the processor and its grant", { timeout: 20_000 }, () => {
  const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const greeter = onelog.service({
    name: "Greeter",
    handlers: { greet: async (_ctx: onelog.Context, name: string) => `hello ${name}` },
  });

  async function records(log: MemoryLog, partition: number): Promise<LogRecord[]> {
    const { tailLsn } = await log.findTail(partition);
    const out: LogRecord[] = [];
    const ac = new AbortController();
    for await (const batch of log.read(partition, 1, ac.signal)) {
      out.push(...batch.map(decodeRecord));
      if (out.length >= tailLsn) break;
    }
    ac.abort();
    return out;
  }

  void it("announces the grant's epoch and node, leads, and stops leading when the grant is revoked", async () => {
    const log = new MemoryLog({ partitions: 2 });
    const stores = [new MemoryStore(0), new MemoryStore(1)];
    // The data says epoch 6 was seen on partition 1: its grant must be above it.
    stores[1]!.transaction(() => stores[1]!.setLeaderEpoch(6));
    const leadership = new EmbeddedLeadership({
      node: "node-a",
      lastEpoch: (p) => stores[p]!.getLeaderEpoch(),
    });
    const engine = await Engine.start({
      log,
      storeFor: (p) => stores[p]!,
      leadership,
      clock: systemClock,
      logger: silent,
      services: [greeter],
    });
    try {
      assert.deepEqual(
        engine.processors.map((p) => p.isLeader),
        [true, true],
      );
      const announce = (await records(log, 1)).find((r) => r.body.type === "announce_leader");
      assert.deepEqual(announce?.body, { type: "announce_leader", leaderEpoch: 7, node: "node-a" });
      assert.equal(announce?.header.leaderEpoch, 7);
      assert.equal(stores[1]!.getLeaderEpoch(), 7);

      leadership.revoke(0);
      assert.equal(engine.processors[0]!.isLeader, false, "a revoked grant stops the leader at once");
      assert.equal(engine.processors[1]!.isLeader, true, "other partitions keep their leader");
    } finally {
      await engine.stop();
    }
  });
});
