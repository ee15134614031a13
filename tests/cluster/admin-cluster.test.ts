// Proves the admin API of a cluster node answers for the whole cluster, on a real nats-server and three onelog cluster nodes (startServer + connectCluster, as `onelog serve --cluster`): with invocations on every partition, the same SQL (count, GROUP BY, ORDER BY … LIMIT, a join of sys_invocation and sys_journal, state) asked on each node gives the same answer, equal to the known totals; GET /invocations with counts and its cursor walk list every invocation once on each node; invocations and object state on every partition read (and patch, and cancel) through every node. Each node's store gets "poison" rows in the partitions it does not lead, which a node reading its followers' copies would count: every answer stays exact, so nothing relies on a follower's store. A node that stops answering makes the answers a 503 that names it, within the query timeout.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import * as onelog from "onelog";
import { connectCluster } from "../../packages/nats/src/index.js";
import { startServer } from "../../packages/onelog/src/internal/embedded/start.js";
import type { ClusterBackend } from "../../packages/onelog/src/internal/embedded/cluster.js";
import { partitionOf, partitionOfKey } from "../../packages/onelog/src/internal/partition/ids.js";
import { eventually, http, query, removeTmpDirs, tmpDir } from "../integration/admin-harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";
import { counter, greeter, sleeper } from "./services.js";

const skip = natsSkip();
const PARTITIONS = 6;
const KEYS = 12;

/** An invocation id in partition `p` that no invocation has. */
function idIn(p: number): string {
  for (;;) {
    const id = `inv_${randomBytes(20).toString("hex")}`;
    if (partitionOf(id, PARTITIONS) === p) return id;
  }
}

/** A Counter key in partition `p` that no call used. */
function keyIn(p: number): string {
  for (let i = 0; ; i++) if (partitionOfKey("Counter", `poison-${i}`, PARTITIONS) === p) return `poison-${i}`;
}

void describe(
  "admin API of a cluster node: the whole cluster (1 nats-server, 3 nodes)",
  { skip, timeout: 180_000 },
  () => {
    let nats: NatsCluster;
    const nodes: onelog.OnelogServer[] = [];
    const clusters: ClusterBackend[] = [];
    const problems: string[] = [];
    const logger: onelog.Logger = {
      debug() {},
      info() {},
      warn: (o, m) => void problems.push(`warn ${String(m)} ${JSON.stringify(o)}`),
      error: (o, m) => void problems.push(`error ${String(m)} ${JSON.stringify(o)}`),
    };
    const admin = (i: number) => nodes[i]!.adminUrl!;
    /** The known invocations: id → service. */
    const invocations = new Map<string, string>();
    const sleepers: string[] = [];
    /** The poison rows written in node `node`'s store: an invocation id and a Counter key. */
    const poison: { node: number; id: string; key: string }[] = [];

    /** Each partition's leader by node 0's /health, once every partition has one. */
    const leaders = async (): Promise<string[]> => {
      const r = await http("GET", `${admin(0)}/health`);
      assert.equal(r.status, 200, r.text);
      return (r.body.partitions as { leader_node: string }[]).map((p) => p.leader_node);
    };

    before(async () => {
      nats = await startNats({ servers: 1 });
      const node = async (i: number) => {
        const cluster = await connectCluster({
          servers: nats.urls,
          node: `node-${i}`,
          partitions: PARTITIONS,
          leaseMs: 3000,
        });
        clusters[i] = cluster;
        return startServer(
          {
            services: [greeter, counter, sleeper],
            dataDir: tmpDir(`admin-cluster-${i}`),
            ingressPort: 0,
            adminPort: 0,
            logger,
            partitions: PARTITIONS,
            queryTimeoutMs: 3000,
          },
          cluster,
        );
      };
      nodes.push(await node(0));
      nodes.push(...(await Promise.all([1, 2].map(node))));
      // Every node leads a share, and every partition's leader announced itself.
      await eventually(
        "the partitions spread over the three nodes, each led",
        () => {
          const led = nodes.map((n) => n.engine.processors.filter((p) => p.isLeader).length);
          return led.every((n) => n >= 1) && led.reduce((a, b) => a + b, 0) === PARTITIONS;
        },
        30_000,
      );

      const ingress = (k: number) => nodes[k % 3]!.ingressUrl;
      const json = { "content-type": "application/json" };
      for (let k = 0; k < KEYS; k++) {
        const r = await http("POST", `${ingress(k)}/Counter/k${k}/add`, "1", json);
        assert.equal(r.status, 200, r.text);
      }
      // Greetings until every partition has invocations (random ids spread over them).
      for (
        let k = 0;
        k < 24 || new Set([...invocations.keys()].map((id) => partitionOf(id, PARTITIONS))).size < PARTITIONS;
        k++
      ) {
        const r = await http("POST", `${ingress(k)}/Greeter/greet/send`, `"n${k}"`, json);
        assert.equal(r.status, 202, r.text);
        invocations.set(r.body.invocationId as string, "Greeter");
      }
      for (let k = 0; k < 6; k++) {
        const r = await http("POST", `${ingress(k)}/Sleeper/nap/send`, "null", json);
        assert.equal(r.status, 202, r.text);
        invocations.set(r.body.invocationId as string, "Sleeper");
        sleepers.push(r.body.invocationId as string);
      }
      // The counters' invocation ids, from the leaders (the ingress did not say them).
      const counters = await query(
        admin(0),
        "SELECT id FROM sys_invocation WHERE target_service_name = 'Counter'",
      );
      for (const r of counters) invocations.set(r.id as string, "Counter");
      assert.equal(counters.length, KEYS);
      // Every greeting done.
      await eventually("every greeting completed", async () => {
        const rows = await query(
          admin(1),
          "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'Greeter' AND status = 'completed'",
        );
        return rows[0].n === [...invocations.values()].filter((s) => s === "Greeter").length;
      });

      // Poison: rows each node's store has for partitions it does not lead (copies of real rows
      // under new ids and keys). A node answering from its followers' copies would count them.
      const led = await leaders();
      for (let i = 0; i < 3; i++) {
        const db = new Database(path.join(nodes[i]!.dataDir, "store.db"));
        db.pragma("busy_timeout = 5000");
        // A greeting this node's store has (it led that partition).
        const model = (
          db.prepare("SELECT id FROM invocation_status WHERE service = 'Greeter' LIMIT 1").get() as {
            id: string;
          }
        ).id;
        let inserted = 0;
        db.transaction(() => {
          for (let p = 0; p < PARTITIONS; p++) {
            if (led[p] === `node-${i}`) continue;
            const id = idIn(p);
            const key = keyIn(p);
            poison.push({ node: i, id, key });
            inserted += db
              .prepare(
                `INSERT INTO invocation_status (partition, id, state, service, handler, key, created_at, modified_at, data)
             SELECT ?, ?, state, service, handler, key, created_at, modified_at, data FROM invocation_status WHERE id = ?`,
              )
              .run(p, id, model).changes;
            db.prepare(
              `INSERT INTO journal (id, idx, entry, at, attempt) SELECT ?, idx, entry, at, attempt FROM journal WHERE id = ?`,
            ).run(id, model);
            db.prepare("INSERT INTO state (service, key, name, value) VALUES ('Counter', ?, 'value', ?)").run(
              key,
              Buffer.from("1"),
            );
          }
        })();
        db.close();
        // The poison is there to be (wrongly) counted, one row in each partition the node does not lead.
        assert.equal(
          inserted,
          PARTITIONS - led.filter((n) => n === `node-${i}`).length,
          `node ${i}'s own store has the poison rows`,
        );
      }
    });
    after(async () => {
      for (const n of nodes) await n.stop();
      await nats?.stop();
      removeTmpDirs();
    });

    void it("the same SQL on every node gives the whole cluster's answer", async () => {
      const total = invocations.size;
      const greets = [...invocations.values()].filter((s) => s === "Greeter").length;
      const byService = [
        { s: "Counter", n: KEYS },
        { s: "Greeter", n: greets },
        { s: "Sleeper", n: 6 },
      ];
      const asked = {
        count: "SELECT count(*) AS n FROM sys_invocation",
        byStatus: "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status ORDER BY status",
        byService: "SELECT target_service_name AS s, count(*) AS n FROM sys_invocation GROUP BY 1 ORDER BY 1",
        newest: "SELECT id, partition FROM sys_invocation ORDER BY created_at DESC, id DESC LIMIT 7",
        join: `SELECT i.target_service_name AS s, count(*) AS runs FROM sys_invocation i
             JOIN sys_journal j ON j.id = i.id WHERE j.entry_type = 'run' GROUP BY 1 ORDER BY 1`,
        journalPerInvocation: `SELECT count(DISTINCT j.id) AS ids, count(*) AS entries FROM sys_journal j`,
        state:
          "SELECT count(*) AS n, sum(CAST(value_utf8 AS INTEGER)) AS total FROM state WHERE service_name = 'Counter'",
        services:
          "SELECT i.target_service_ty AS ty, count(*) AS n FROM sys_invocation i JOIN sys_service s ON s.name = i.target_service_name GROUP BY 1 ORDER BY 1",
      };
      const answers: Record<string, unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        const a: Record<string, unknown> = {};
        for (const [name, sql] of Object.entries(asked)) {
          const r = await http("POST", `${admin(i)}/query`, { query: sql });
          assert.equal(r.status, 200, `${name} on node ${i}: ${r.text}`);
          assert.equal(r.body.truncated, false, `${name} on node ${i}`);
          a[name] = r.body.rows;
        }
        answers.push(a);
      }
      assert.deepEqual(answers[0]!.count, [{ n: total }]);
      assert.deepEqual(answers[0]!.byService, byService);
      const statuses = answers[0]!.byStatus as { status: string; n: number }[];
      assert.equal(statuses.find((r) => r.status === "completed")?.n, KEYS + greets);
      assert.equal(
        statuses.reduce((n, r) => n + r.n, 0),
        total,
      );
      assert.deepEqual(answers[0]!.join, [{ s: "Greeter", runs: greets }]);
      assert.deepEqual(answers[0]!.state, [{ n: KEYS, total: KEYS }]);
      assert.deepEqual(answers[0]!.services, [
        { ty: "service", n: greets + 6 },
        { ty: "virtual_object", n: KEYS },
      ]);
      const ids = (answers[0]!.journalPerInvocation as { ids: number }[])[0]!.ids;
      assert.equal(ids, total, "every invocation has its journal (24 h journal retention)");
      const newest = answers[0]!.newest as { id: string; partition: number }[];
      assert.equal(newest.length, 7);
      for (const r of newest) assert.ok(invocations.has(r.id), `${r.id} is a real invocation`);
      assert.deepEqual(answers[1], answers[0], "node 1 answers as node 0");
      assert.deepEqual(answers[2], answers[0], "node 2 answers as node 0");
    });

    void it("GET /invocations: full counts and one walk over every invocation, on every node", async () => {
      const walks: string[][] = [];
      for (let i = 0; i < 3; i++) {
        const first = await http("GET", `${admin(i)}/invocations?counts=true&limit=7`);
        assert.equal(first.status, 200, first.text);
        const counts = first.body.counts as Record<string, number>;
        assert.equal(
          Object.values(counts).reduce((a, b) => a + b, 0),
          invocations.size,
          JSON.stringify(counts),
        );
        assert.equal(counts.completed, invocations.size - 6);
        const seen: string[] = [];
        let cursor: string | null = null;
        let page = first;
        for (;;) {
          seen.push(...(page.body.invocations as { id: string }[]).map((r) => r.id));
          cursor = page.body.next_cursor as string | null;
          if (cursor === null) break;
          page = await http("GET", `${admin(i)}/invocations?limit=7&cursor=${encodeURIComponent(cursor)}`);
          assert.equal(page.status, 200, page.text);
        }
        assert.equal(seen.length, invocations.size, `node ${i}: every invocation once`);
        assert.deepEqual([...seen].sort(), [...invocations.keys()].sort());
        walks.push(seen);
        const sleeping = await http("GET", `${admin(i)}/invocations?service=Sleeper&counts=true`);
        assert.deepEqual(
          (sleeping.body.invocations as { id: string }[]).map((r) => r.id).sort(),
          [...sleepers].sort(),
        );
      }
      assert.deepEqual(walks[1], walks[0]);
      assert.deepEqual(walks[2], walks[0]);
      // The SQL ORDER BY … LIMIT and the listing agree on the newest.
      const newest = await query(
        admin(2),
        "SELECT id FROM sys_invocation ORDER BY created_at DESC, id DESC LIMIT 7",
      );
      assert.deepEqual(
        newest.map((r) => r.id),
        walks[0]!.slice(0, 7),
      );
    });

    void it("every invocation and every key reads through every node", async () => {
      for (let i = 0; i < 3; i++) {
        for (const [id, service] of invocations) {
          const r = await http("GET", `${admin(i)}/invocations/${id}`);
          assert.equal(r.status, 200, `node ${i} ${id}: ${r.text}`);
          assert.equal(r.body.id, id);
          assert.equal(r.body.target_service_name, service);
        }
        for (let k = 0; k < KEYS; k++) {
          const r = await http("GET", `${admin(i)}/state/Counter/k${k}`);
          assert.equal(r.status, 200, r.text);
          assert.deepEqual(r.body.state, { value: { json: "1" } }, `node ${i} k${k}`);
          assert.ok(r.headers.get("etag") !== null);
        }
        const missing = await http("GET", `${admin(i)}/invocations/${idIn(0)}`);
        assert.equal(missing.status, 404, missing.text);
        assert.equal(missing.body.onelog_code, "OL1008");
        const bad = await http("GET", `${admin(i)}/invocations/nope`);
        assert.equal(bad.status, 400);
      }
      // What a node's store holds of a partition it does not lead is never what it answers.
      for (const { node, id, key } of poison) {
        const r = await http("GET", `${admin(node)}/invocations/${id}`);
        assert.equal(r.status, 404, `node ${node}'s poison ${id}: ${r.text}`);
        const s = await http("GET", `${admin(node)}/state/Counter/${key}`);
        assert.deepEqual(s.body.state, {}, `node ${node}'s poison key ${key}`);
      }
    });

    void it("a patch and a cancel sent to a node that does not lead the partition work", async () => {
      const led = await leaders();
      // k-keys whose partition node 0 does not lead.
      const k = [...Array(KEYS).keys()].find(
        (k) => led[partitionOfKey("Counter", `k${k}`, PARTITIONS)] !== "node-0",
      )!;
      const read = await http("GET", `${admin(0)}/state/Counter/k${k}`);
      const patched = await http(
        "PATCH",
        `${admin(0)}/state/Counter/k${k}`,
        { value: 5 },
        { "if-match": read.headers.get("etag")! },
      );
      assert.equal(patched.status, 200, patched.text);
      assert.deepEqual(patched.body.changes, [
        { name: "value", action: "updated", before: { json: "1" }, after: { json: "5" } },
      ]);
      const stale = await http(
        "PATCH",
        `${admin(1)}/state/Counter/k${k}`,
        { value: 6 },
        { "if-match": read.headers.get("etag")! },
      );
      assert.equal(stale.status, 412, stale.text);
      for (let i = 0; i < 3; i++) {
        const r = await http("GET", `${admin(i)}/state/Counter/k${k}`);
        assert.deepEqual(r.body.state, { value: { json: "5" } });
      }
      const id = sleepers.find((s) => led[partitionOf(s, PARTITIONS)] !== "node-0")!;
      const cancelled = await http("PATCH", `${admin(0)}/invocations/${id}/cancel`);
      assert.equal(cancelled.status, 202, cancelled.text);
      assert.deepEqual(cancelled.body, { invocation_id: id, operation: "cancel" });
      await eventually("the cancelled invocation completes", async () => {
        const r = await http("GET", `${admin(2)}/invocations/${id}`);
        return r.body.status === "completed" && r.body.completion_result === "failure";
      });
      const again = await http("PATCH", `${admin(1)}/invocations/${id}/cancel`);
      assert.equal(again.status, 409, again.text);
      const rows = await query(
        admin(1),
        "SELECT status, count(*) AS n FROM sys_invocation WHERE target_service_name = 'Sleeper' GROUP BY 1 ORDER BY 1",
      );
      assert.equal(rows.find((r) => r.status === "completed")?.n, 1);
    });

    void it("bad input is a 4xx on a cluster node too", async () => {
      const r = await http("POST", `${admin(1)}/query`, { query: "DELETE FROM sys_invocation" });
      assert.equal(r.status, 400);
      assert.equal(r.body.onelog_code, "OL1019");
      const bad = await http("POST", `${admin(1)}/query`, { query: "SELECT nope FROM sys_invocation" });
      assert.equal(bad.status, 400, bad.text);
      const list = await http("GET", `${admin(1)}/invocations?limit=0`);
      assert.equal(list.status, 400);
      const plain = await http("GET", `${admin(1)}/state/Greeter/x`);
      assert.equal(plain.status, 400);
    });

    void it("/health lists each partition's leader node", async () => {
      const led = await leaders();
      assert.equal(led.length, PARTITIONS);
      for (let i = 0; i < 3; i++) {
        const r = await http("GET", `${admin(i)}/health`);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.node, `node-${i}`);
        const parts = r.body.partitions as { partition: number; leader: boolean; leader_node: string }[];
        assert.deepEqual(
          parts.map((p) => p.leader_node),
          led,
        );
        for (const p of parts)
          assert.equal(p.leader, p.leader_node === `node-${i}`, `node ${i} partition ${p.partition}`);
      }
    });

    void it("a node that does not answer makes the answers a 503 that names it, within the timeout", async () => {
      // Node 2 keeps its leases and stops answering its channel (as a stalled node would).
      const stop = clusters[2]!.nodes.serve(() => new Promise(() => undefined));
      try {
        const started = Date.now();
        const r = await http("POST", `${admin(0)}/query`, {
          query: "SELECT count(*) AS n FROM sys_invocation",
        });
        assert.equal(r.status, 503, r.text);
        assert.equal(r.body.onelog_code, "OL1050");
        assert.match(r.body.message as string, /node-2 \(timeout/);
        assert.ok(Date.now() - started < 6000, `answered after ${Date.now() - started} ms`);
        const list = await http("GET", `${admin(1)}/invocations?counts=true`);
        assert.equal(list.status, 503, list.text);
        assert.match(list.body.message as string, /node-2/);
        // What needs no partition still answers.
        assert.equal(
          (await http("POST", `${admin(0)}/query`, { query: "SELECT count(*) AS n FROM sys_service" }))
            .status,
          200,
        );
      } finally {
        stop();
      }
      assert.deepEqual(
        problems.filter((p) => p.startsWith("error")),
        [],
      );
    });
  },
);
