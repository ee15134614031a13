// Proves a cluster node's compaction (embedded/start.ts) runs one round at a time and that
// stopping the node waits for the round in flight: with snapshot puts slower than the interval,
// no two puts ever overlap, and nothing is put or trimmed once stop() has resolved (the log and
// stores are closed then). One real nats-server; the node is startServer + connectCluster, as
// `onelog serve --cluster`, with its snapshot store slowed down and its trims watched.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { connectCluster } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";
import type { ClusterBackend } from "../../packages/onelog/src/internal/embedded/cluster.js";
import { eventually, removeTmpDirs, tmpDir } from "../integration/admin-harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";
import { counter } from "./services.js";

const skip = natsSkip();
const PARTITIONS = 2;
/** Each snapshot put takes this long, six ticks of the compaction interval. */
const PUT_MS = 300;
const INTERVAL_MS = 50;

/** Watches a cluster's snapshot puts and trims: how many puts overlap, and what comes after `stopped`. */
function watched(cluster: ClusterBackend) {
  const seen = { inFlight: 0, most: 0, puts: 0, trims: 0, stopped: false, late: [] as string[] };
  const inner = cluster.snapshots;
  const log = cluster.log;
  const watchedLog = new Proxy(log, {
    get(target, key) {
      if (key === "trim") {
        return async (partition: number, upTo: number) => {
          if (seen.stopped) seen.late.push(`trim of partition ${partition} to ${upTo}`);
          seen.trims++;
          return target.trim(partition, upTo);
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const backend: ClusterBackend = {
    ...cluster,
    log: watchedLog,
    snapshots: {
      put: async (snapshot) => {
        if (seen.stopped) seen.late.push(`put of partition ${snapshot.partition}`);
        seen.inFlight++;
        seen.most = Math.max(seen.most, seen.inFlight);
        try {
          await sleep(PUT_MS);
          return await inner.put(snapshot);
        } finally {
          seen.inFlight--;
          seen.puts++;
        }
      },
      latest: (partition) => inner.latest(partition),
      appliedLsn: (partition) => inner.appliedLsn(partition),
    },
  };
  return { backend, seen };
}

void describe("cluster compaction rounds (1 nats-server)", { skip, timeout: 120_000 }, () => {
  let nats: NatsCluster;
  before(async () => {
    nats = await startNats({ servers: 1 });
  });
  after(async () => {
    await nats?.stop();
    removeTmpDirs();
  });

  void it("never overlap when a put outlasts the interval, and stop waits for the one in flight", async (t) => {
    const cluster = await connectCluster({
      servers: nats.urls,
      node: "n1",
      partitions: PARTITIONS,
      leaseMs: 1500,
      stream: "compaction",
    });
    const { backend, seen } = watched(cluster);
    const server = await startServer(
      {
        services: [counter],
        dataDir: tmpDir("compaction-rounds"),
        ingressPort: 0,
        adminPort: 0,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        partitions: PARTITIONS,
        compactIntervalMs: INTERVAL_MS,
      },
      backend,
    );
    let stopped = false;
    try {
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${server.ingressUrl}/Counter/k${i}/add`, { method: "POST", body: "1" });
        assert.equal(r.status, 200);
      }
      await eventually(
        "three rounds' puts and a trim",
        () => seen.puts >= 2 * PARTITIONS + 2 && seen.trims > 0,
      );
      // Stop in the middle of a put: the round finishes before the log and stores close.
      await eventually("a put in flight", () => seen.inFlight > 0);
      await server.stop();
      stopped = true;
      seen.stopped = true;
      await sleep(3 * PUT_MS);
      t.diagnostic(
        `${seen.puts} puts of ${PUT_MS} ms at ${INTERVAL_MS} ms ticks, at most ${seen.most} at once; ${seen.trims} trims`,
      );
      assert.equal(seen.most, 1, "one put at a time: rounds do not overlap");
      assert.deepEqual(seen.late, [], "nothing put or trimmed after stop() resolved");
    } finally {
      if (!stopped) await server.stop();
    }
  });
});
