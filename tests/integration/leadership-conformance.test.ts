// Proves the Leadership contract (leadership.ts invariants 1–3) with the shared suite (leadership-conformance-suite.ts) run against a factory per implementation (the embedded one with its epochs in memory and in a real epochs.json, so a cluster lease can plug in the same way), and that a processor leads with its grant's epoch, announces its node, and stops leading when the grant is revoked — on a MemoryLog and memory stores.
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
} from "../../packages/onelog/src/internal/partition/leadership.js";
import { leadershipConformance, type Subject } from "./leadership-conformance-suite.js";
import type { LogRecord } from "../../packages/onelog/src/internal/partition/records.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

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
