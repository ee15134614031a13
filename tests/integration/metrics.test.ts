// Proves GET /metrics serves Prometheus text whose numbers agree with what the server did and what its other endpoints report — invocations by status, append/apply/group-commit histograms, per-partition tail, applied LSN, lag and retained log records — by making invocations on a real onelog.start() and parsing the exposition.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import {
  eventually,
  http,
  parseMetrics,
  removeTmpDirs,
  sample,
  startServer,
  type Sample,
} from "./admin-harness.js";

const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
    nap: async (ctx: onelog.Context) => {
      await ctx.sleep({ minutes: 30 });
    },
  },
});

let server: onelog.OnelogServer;
let admin: string;

async function scrape(): Promise<Sample[]> {
  const r = await http("GET", `${admin}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

before(async () => {
  server = await startServer([greeter]);
  admin = server.adminUrl!;
  for (const k of ["a", "b", "c"]) {
    const r = await http("POST", `${server.ingressUrl}/Greeter/greet`, '"x"', {
      "idempotency-key": `m-${k}`,
    });
    assert.equal(r.status, 200);
  }
  assert.equal((await http("POST", `${server.ingressUrl}/Greeter/nap/send`)).status, 202);
});

after(async () => {
  await server?.stop();
  removeTmpDirs();
});

describe("metrics", () => {
  it("invocations by status match the store: three retained, one running or suspended, zeros reported", async () => {
    const m = await eventually("the nap is running", async () => {
      const s = await scrape();
      const waiting =
        (sample(s, "onelog_invocations", { status: "invoked" }) ?? 0) +
        (sample(s, "onelog_invocations", { status: "suspended" }) ?? 0);
      return waiting === 1 ? s : undefined;
    });
    assert.equal(sample(m, "onelog_invocations", { status: "completed" }), 3);
    assert.equal(sample(m, "onelog_invocations", { status: "paused" }), 0);
    assert.equal(sample(m, "onelog_invocations", { status: "inboxed" }), 0);
  });

  it("append latency, group-commit sizes and apply latency are histograms that count what happened", async () => {
    const m = await scrape();
    const appends = sample(m, "onelog_log_append_duration_seconds_count")!;
    assert.ok(appends >= 4 * 3, `each call appends invoke, entry and end: ${appends}`);
    assert.equal(sample(m, "onelog_log_append_duration_seconds_bucket", { le: "+Inf" }), appends);
    // Every commit is counted once, and the records they carried add up to the log's own counters;
    // every applied batch once. Compared while nothing else is appended (the stats did not move).
    await eventually("metrics agree with /stats", async () => {
      const before = (await http("GET", `${admin}/stats`)).body;
      const now = await scrape();
      const after = (await http("GET", `${admin}/stats`)).body;
      if (JSON.stringify(before) !== JSON.stringify(after)) return undefined;
      assert.equal(sample(now, "onelog_log_group_commit_records_count"), after.log.commits);
      assert.equal(sample(now, "onelog_log_group_commit_records_sum"), after.log.records);
      let batches = 0;
      for (let p = 0; p < server.engine.partitions; p++) {
        batches += sample(now, "onelog_apply_batch_duration_seconds_count", { partition: String(p) }) ?? 0;
      }
      assert.equal(
        batches,
        after.partitions.reduce((n: number, p: any) => n + p.batches, 0),
      );
      return true;
    });

    await http("POST", `${server.ingressUrl}/Greeter/greet`, '"y"');
    const later = await scrape();
    assert.ok(sample(later, "onelog_log_append_duration_seconds_count")! > appends);
  });

  it("per partition: tail and applied LSN as /health says, lag = tail - applied, every record still in the log", async () => {
    const m = await scrape();
    const health = (await http("GET", `${admin}/health`)).body.partitions as any[];
    for (const p of health) {
      const partition = String(p.partition);
      assert.equal(sample(m, "onelog_log_tail_lsn", { partition }), p.tail_lsn);
      assert.equal(sample(m, "onelog_applied_lsn", { partition }), p.applied_lsn);
      assert.equal(sample(m, "onelog_apply_lag_records", { partition }), p.tail_lsn - p.applied_lsn);
      assert.equal(sample(m, "onelog_partition_leader", { partition }), 1);
      // Nothing was trimmed yet (compaction runs every 60 s): the log holds LSNs 1 … tail.
      assert.equal(sample(m, "onelog_log_records", { partition }), p.tail_lsn);
    }
    assert.ok(sample(m, "onelog_data_file_bytes", { file: "log.db" })! > 0);
    assert.ok(sample(m, "onelog_data_file_bytes", { file: "store.db" })! > 0);
    assert.notEqual(sample(m, "process_cpu_user_seconds_total"), undefined);
  });

  it("two servers in one process keep their own numbers", async () => {
    const other = await startServer([greeter]);
    try {
      const r = await http("GET", `${other.adminUrl}/metrics`);
      const m = parseMetrics(r.text);
      assert.equal(sample(m, "onelog_invocations", { status: "completed" }), 0);
      const mine = await scrape();
      assert.ok(
        sample(mine, "onelog_log_append_duration_seconds_count")! >
          sample(m, "onelog_log_append_duration_seconds_count")!,
      );
    } finally {
      await other.stop();
    }
  });
});
