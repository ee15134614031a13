// Proves a cluster node that has never seen a partition takes it over from a snapshot in the JetStream object store plus the log's tail, and ends with the same state as the old leader (issue 14 item 4): node A serves calls with short compaction rounds (snapshots written, the shared log trimmed behind them), stops; node B starts on an empty data directory, restores, replays, and answers every idempotent call with A's first answer without running a step again — on a real nats-server, through the same wiring as `onelog serve --cluster`.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import * as onelog from "onelog";
import { connectCluster, JetStreamLog, JetStreamSnapshots } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";
import { connect } from "@nats-io/transport-node";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };
const PARTITIONS = 4;

let steps = 0;
const once = onelog.service({
  name: "Once",
  handlers: { go: async (ctx: onelog.Context, n: number) => ctx.run("step", () => ({ n, step: ++steps })) },
});
const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const value = ((await ctx.get<number>("value")) ?? 0) + n;
      ctx.set("value", value);
      return value;
    },
    get: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("value")) ?? 0,
    ),
  },
});

async function post(base: string, target: string, body: unknown, key?: string): Promise<unknown> {
  const res = await fetch(`${base}/${target}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${target}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

/** The rows a partition's state lives in, from a store file (everything but the leader's own bookkeeping). */
function tables(file: string): { state: unknown[]; invocations: unknown[]; dedup: unknown[] } {
  const db = new Database(file, { readonly: true });
  try {
    return {
      state: db.prepare("SELECT * FROM state ORDER BY service, key, name").all(),
      invocations: db.prepare("SELECT id, state, data FROM invocation_status ORDER BY id").all(),
      dedup: db.prepare("SELECT * FROM dedup ORDER BY 1, 2").all(),
    };
  } finally {
    db.close();
  }
}

void describe(
  "cluster takeover from a snapshot + the log's tail (1 nats-server)",
  { skip, timeout: 120_000 },
  () => {
    let nats: NatsCluster;
    const dirs: string[] = [];
    before(async () => {
      nats = await startNats({ servers: 1 });
    });
    after(async () => {
      await nats?.stop();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });
    const dataDir = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-node-"));
      dirs.push(d);
      return d;
    };
    const node = async (id: string, dir: string, admin = false) =>
      startServer(
        {
          services: [once, counter],
          dataDir: dir,
          ingressPort: 0,
          adminPort: admin ? 0 : false,
          logger: silent,
          partitions: PARTITIONS,
          compactIntervalMs: 150,
        },
        await connectCluster({ servers: nats.urls, node: id, partitions: PARTITIONS, leaseMs: 1500 }),
      );

    void it("a node that never saw the partitions restores, replays the tail, and has the old leader's state", async (t) => {
      const dirA = dataDir();
      const a = await node("a", dirA);
      const first: unknown[] = [];
      for (let i = 0; i < 20; i++) first.push(await post(a.ingressUrl, "Once/go", i, `k${i}`));
      for (let i = 0; i < 30; i++) await post(a.ingressUrl, `Counter/c${i % 5}/add`, i);
      // Wait for compaction rounds to snapshot every partition and trim the log behind them.
      const nc = await connect({ servers: nats.urls });
      const snapshots = await JetStreamSnapshots.open({ connection: nc, bucket: "onelog-snapshots" });
      const deadline = Date.now() + 20_000;
      const log = new JetStreamLog({ connection: nc, partitions: PARTITIONS });
      const positions = () => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => log.findTail(p)));
      let trimmed: number[] = [];
      for (;;) {
        trimmed = (await positions()).map((x) => x.trimmedLsn);
        if (trimmed.every((x) => x > 0) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(
        trimmed.every((x) => x > 0),
        `every partition's log is trimmed behind a snapshot: ${JSON.stringify(trimmed)}`,
      );
      // The tail: records after the last snapshot, which B must replay.
      for (let i = 0; i < 10; i++) await post(a.ingressUrl, `Counter/c${i % 5}/add`, 100);
      const tails = await positions();
      const stored = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => snapshots.appliedLsn(p)));
      await a.stop();
      const stateA = tables(path.join(dirA, "store.db"));

      const dirB = dataDir();
      const startedAt = Date.now();
      const b = await node("b", dirB, true);
      t.diagnostic(
        `B restored ${PARTITIONS} partitions (snapshots at LSNs ${stored.join(", ")}; log trimmed to ${trimmed.join(", ")}, ` +
          `tails ${tails.map((x) => x.tailLsn).join(", ")}) and serves after ${Date.now() - startedAt} ms`,
      );
      try {
        for (let i = 0; i < 20; i++) {
          assert.deepEqual(await post(b.ingressUrl, "Once/go", i, `k${i}`), first[i]);
        }
        assert.equal(steps, 20, "no step ran again");
        for (let c = 0; c < 5; c++) {
          const expected = [0, 1, 2, 3, 4, 5].reduce((sum, k) => sum + (c + 5 * k), 0) + 200;
          assert.equal(await post(b.ingressUrl, `Counter/c${c}/get`, null), expected, `counter c${c}`);
        }
        // The node's admin: /health and /metrics have a cluster meaning (no log.db here).
        const health = await fetch(`${b.adminUrl!}/health`);
        const body = (await health.json()) as {
          status: string;
          partitions: { failed: boolean; leader_epoch: number }[];
        };
        assert.equal(health.status, 200, JSON.stringify(body));
        assert.ok(
          body.partitions.every((p) => !p.failed && p.leader_epoch > 0),
          JSON.stringify(body),
        );
        const metrics = await (await fetch(`${b.adminUrl!}/metrics`)).text();
        for (let p = 0; p < PARTITIONS; p++) {
          assert.match(metrics, new RegExp(`onelog_partition_leader\\{partition="${p}"\\} 1`));
          const retained = new RegExp(`onelog_log_records\\{partition="${p}"\\} (\\d+)`).exec(metrics);
          assert.ok(retained !== null, `onelog_log_records of partition ${p}`);
        }
        assert.doesNotMatch(metrics, /file="log\.db"/);
        const stateB = tables(path.join(dirB, "store.db"));
        assert.deepEqual(stateB.state, stateA.state, "the same state rows");
        for (const row of stateA.invocations)
          assert.ok(
            stateB.invocations.some((r) => JSON.stringify(r) === JSON.stringify(row)),
            "every invocation of A is in B as A left it",
          );
      } finally {
        await b.stop();
        await log.close();
        await nc.close();
      }
    });
  },
);
