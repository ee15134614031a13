// Proves a /metrics scrape asks the log for each partition's position once, not once per gauge that shows it (tail, lag, retained records): on a cluster node each findTail is a request to JetStream. The log and engine here are stand-ins; only the Metrics module is under test.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Metrics, type MetricSources } from "../../packages/onelog/src/internal/ops/metrics.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import type { Log } from "../../packages/onelog/src/internal/log/log.js";

describe("Metrics: log positions per scrape", () => {
  it("calls findTail once per partition per scrape, and the three gauges agree", async () => {
    const partitions = 3;
    const memory = new MemoryLog({ partitions });
    for (let p = 0; p < partitions; p++) {
      await memory.append(
        p,
        Array.from({ length: 5 + p }, () => ({ header: {}, payload: new Uint8Array([p]) })),
      );
    }
    await memory.trim(1, 2);
    let calls = 0;
    const log: Log = Object.assign(Object.create(memory) as Log, {
      findTail: (p: number) => {
        calls++;
        return memory.findTail(p);
      },
    });
    const engine = {
      partitions,
      processors: Array.from({ length: partitions }, () => ({
        appliedLsn: 4,
        isLeader: true,
        runningAttempts: 0,
      })),
      leads: () => true,
    } as unknown as MetricSources["engine"];
    const sql = { countByStatus: () => new Map() } as unknown as MetricSources["sql"];
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.attach({ engine, log, sql, storePath: "/nonexistent/store.db" });
    const text = await metrics.registry.metrics();
    assert.equal(calls, partitions, "one findTail per partition");
    assert.match(text, /onelog_log_tail_lsn\{partition="2"\} 7/);
    assert.match(text, /onelog_apply_lag_records\{partition="2"\} 3/);
    assert.match(text, /onelog_log_records\{partition="1"\} 4/);
  });
});
