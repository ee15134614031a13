// Proves a cluster compaction round (embedded/cluster.ts, invariant 2) trims each led partition's log up to the snapshot of the round before, and never past the snapshot stored when it trims: a deposed leader's late, older snapshot that replaced the newer one lowers the trim point. With a stand-in log, snapshot store and stores.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compactCluster, type ClusterBackend } from "../../packages/onelog/src/internal/embedded/cluster.js";
import type { SqliteStoreDb } from "../../packages/onelog/src/internal/partition/store/sqlite-store.js";

/** One partition whose store has applied `applied`; the snapshot store keeps what the test says. */
function oneLeader() {
  const trims: [number, number][] = [];
  const state = { applied: 0, stored: 0, afterPut: undefined as number | undefined };
  const cluster = {
    log: { trim: async (p: number, upTo: number) => void trims.push([p, upTo]) },
    snapshots: {
      put: async (s: { appliedLsn: number }) => {
        state.stored = Math.max(state.stored, s.appliedLsn);
        const appliedLsn = state.stored;
        // A deposed leader's late put of an older snapshot lands right after this one.
        if (state.afterPut !== undefined) state.stored = state.afterPut;
        return { appliedLsn };
      },
      appliedLsn: async () => state.stored,
    },
  } as unknown as ClusterBackend;
  const stores = {
    partition: () => ({
      snapshot: async () => ({ partition: 0, appliedLsn: state.applied, format: 1, bytes: new Uint8Array() }),
    }),
  } as unknown as SqliteStoreDb;
  const round = (previous: number[]) => compactCluster(cluster, stores, () => true, previous);
  return { trims, state, round };
}

void describe("compactCluster", () => {
  void it("trims up to the snapshot of the round before", async () => {
    const { trims, state, round } = oneLeader();
    state.applied = 250;
    let points = await round([0]);
    assert.deepEqual(points, [250]);
    assert.deepEqual(trims, [], "nothing stored before: nothing trimmed");
    state.applied = 350;
    points = await round(points);
    assert.deepEqual(points, [350]);
    assert.deepEqual(trims, [[0, 250]]);
  });

  void it("never trims past the snapshot stored when it trims (an older one replaced the newer)", async () => {
    const { trims, state, round } = oneLeader();
    state.applied = 250;
    const points = await round([0]);
    state.applied = 350;
    state.afterPut = 150;
    await round(points);
    assert.deepEqual(trims, [[0, 150]], "the log keeps what the stored snapshot does not cover");
  });
});
