// Proves the KV-lease leadership keeps the Leadership contract (leadership.ts invariants 1–3) by running the same conformance suite as the embedded one against real nats-server processes (R1 and R3 buckets), then what a cluster needs on top: partitions spread evenly over live nodes, moved when a node joins (no more than necessary) or dies (after its lease runs out, with higher epochs), and a lease written by someone else revoking its holder at once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { KvLeadership, type KvLeadershipOptions } from "../../packages/nats/src/index.js";
import type { LeadershipGrant } from "../../packages/onelog/src/internal/partition/leadership.js";
import { leadershipConformance, type Subject } from "../integration/leadership-conformance-suite.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
let buckets = 0;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Short leases, so expiry shows within a test. */
const FAST = { leaseMs: 1500, renewEveryMs: 300, joinGraceMs: 0 } as const;

for (const servers of [1, 3] as const) {
  void describe(
    `KvLeadership on ${servers} nats-server${servers === 1 ? " (R1)" : "s (R3)"}`,
    { skip },
    () => {
      let nats: NatsCluster;
      let nc: NatsConnection;
      const opened: KvLeadership[] = [];
      before(async () => {
        nats = await startNats({ servers });
        nc = await connect({ servers: nats.urls });
      });
      after(async () => {
        for (const l of opened) await l.close();
        await nc?.close();
        await nats?.stop();
      });
      leadershipConformance(`KvLeadership R${servers}`, (): Subject => {
        const bucket = `conf_${process.pid}_${++buckets}`;
        const known = new Map<number, number>();
        const build = () => {
          const l = new KvLeadership({
            connection: nc,
            node: "n1",
            partitions: 8,
            bucket,
            replicas: servers,
            lastEpoch: (p) => known.get(p) ?? 0,
            ...FAST,
          });
          opened.push(l);
          return l;
        };
        let leadership = build();
        return {
          get leadership() {
            return leadership;
          },
          restart: () => (leadership = build()),
          dataKnows: (p, epoch) => void known.set(p, epoch),
          revoke: (p) => leadership.revoke(p),
        };
      });
    },
  );
}

void describe(
  "KvLeadership: placement over live nodes (3 nats-servers, R3 bucket)",
  { skip, timeout: 120_000 },
  () => {
    let nats: NatsCluster;
    const connections: NatsConnection[] = [];
    const leaderships: KvLeadership[] = [];
    before(async () => {
      nats = await startNats({ servers: 3 });
    });
    after(async () => {
      for (const l of leaderships) await l.close();
      for (const nc of connections) if (!nc.isClosed()) await nc.close();
      await nats?.stop();
    });

    const PARTITIONS = 12;

    /** A node: its own connection, a leadership, and a loop that wants every partition. */
    async function node(bucket: string, id: string, extra: Partial<KvLeadershipOptions> = {}) {
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const leadership = await KvLeadership.start({
        connection: nc,
        node: id,
        partitions: PARTITIONS,
        bucket,
        replicas: 3,
        lastEpoch: () => 0,
        ...FAST,
        ...extra,
      });
      leaderships.push(leadership);
      const grants: LeadershipGrant[] = [];
      /** When each grant started and ended, on this process's clock. */
      const times = new Map<LeadershipGrant, { from: number; to?: number }>();
      const stop = new AbortController();
      // As the engine does: ask for every partition, and again whenever a grant ends.
      for (let p = 0; p < PARTITIONS; p++) {
        void (async () => {
          while (!stop.signal.aborted) {
            let grant: LeadershipGrant;
            try {
              grant = await leadership.acquire(p, stop.signal);
            } catch {
              return;
            }
            grants.push(grant);
            const span: { from: number; to?: number } = { from: performance.now() };
            times.set(grant, span);
            await new Promise((r) => grant.revoked.addEventListener("abort", r, { once: true }));
            span.to = performance.now();
          }
        })();
      }
      return { id, nc, leadership, grants, times, stop: () => stop.abort() };
    }

    type Node = Awaited<ReturnType<typeof node>>;

    /** Waits until the nodes hold these many partitions each (and every partition once). */
    async function settle(
      nodes: Node[],
      counts: number[],
      timeoutMs = 20_000,
    ): Promise<Map<string, number[]>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const held = new Map(nodes.map((n) => [n.id, [...n.leadership.held.keys()].sort((a, b) => a - b)]));
        const all = [...held.values()].flat().sort((a, b) => a - b);
        const sizes = nodes.map((n) => held.get(n.id)!.length);
        if (
          JSON.stringify(sizes) === JSON.stringify(counts) &&
          JSON.stringify(all) === JSON.stringify(Array.from({ length: PARTITIONS }, (_, i) => i))
        ) {
          return held;
        }
        if (Date.now() > deadline) assert.fail(`not settled: ${JSON.stringify(Object.fromEntries(held))}`);
        await sleep(50);
      }
    }

    void it("spreads partitions evenly, moves no more than necessary when a node joins, and moves a dead node's partitions after its lease with higher epochs", async (t) => {
      const bucket = `place_${process.pid}`;
      const a = await node(bucket, "a");
      const b = await node(bucket, "b");
      const two = await settle([a, b], [6, 6]);
      const epochsBefore = new Map([...a.leadership.held, ...b.leadership.held]);

      const joinedAt = Date.now();
      const c = await node(bucket, "c");
      const three = await settle([a, b, c], [4, 4, 4]);
      t.diagnostic(`node c joined: 4 partitions each after ${Date.now() - joinedAt} ms`);
      for (const id of ["a", "b"]) {
        const kept = three.get(id)!.filter((p) => two.get(id)!.includes(p));
        assert.equal(kept.length, 4, `${id} kept 4 of its 6 partitions: only 2 moved from it`);
      }
      for (const p of three.get("c")!) {
        assert.ok(
          c.leadership.held.get(p)! > epochsBefore.get(p)!,
          `partition ${p} moved with a higher epoch`,
        );
      }

      // Node b dies: its connection goes away without a word (no release, no goodbye).
      const bHeld = new Map(b.leadership.held);
      const revoked = b.grants.filter((g) => !g.revoked.aborted);
      const diedAt = Date.now();
      b.stop();
      await b.nc.close();
      const after = await settle([a, c], [6, 6], 20_000);
      const movedMs = Date.now() - diedAt;
      t.diagnostic(
        `node b died holding ${bHeld.size}: a and c hold 6 each ${movedMs} ms later (lease ${FAST.leaseMs} ms, renewed every ${FAST.renewEveryMs} ms)`,
      );
      // Others count the lease from when they saw b's last renewal, at most one interval before b died.
      assert.ok(movedMs >= FAST.leaseMs - FAST.renewEveryMs, "not before b's lease ran out");
      await sleep(100);
      assert.ok(
        revoked.every((g) => g.revoked.aborted),
        "the dead node's own grants ended too (its renewals failed for a whole lease)",
      );
      for (const [p, epoch] of bHeld) {
        const now = a.leadership.held.get(p) ?? c.leadership.held.get(p);
        assert.ok(now !== undefined && now > epoch, `partition ${p}: new epoch ${now} > ${epoch}`);
        const old = revoked.find((g) => g.partition === p)!;
        const successor = [...a.grants, ...c.grants].find((g) => g.partition === p && g.epoch === now)!;
        const ended = b.times.get(old)!.to!;
        const began = (a.times.get(successor) ?? c.times.get(successor))!.from;
        assert.ok(
          ended <= began,
          `partition ${p}: b stopped leading (${ended.toFixed(0)}) before the next leader began (${began.toFixed(0)})`,
        );
      }
      assert.deepEqual([...after.get("a")!, ...after.get("c")!].sort((x, y) => x - y).length, PARTITIONS);
      a.stop();
      c.stop();
    });

    void it("hands partitions to a joining node only once its join grace is over: no partition goes without a leader meanwhile", async (t) => {
      const bucket = `grace_${process.pid}`;
      const GRACE = { joinGraceMs: 1000 } as const;
      const a = await node(bucket, "a", GRACE);
      await settle([a], [PARTITIONS]);
      const joinedAt = performance.now();
      const b = await node(bucket, "b", GRACE);
      await settle([a, b], [6, 6]);
      const gaps: number[] = [];
      for (const grant of b.grants) {
        const old = a.grants.find((g) => g.partition === grant.partition && g.revoked.aborted)!;
        gaps.push(b.times.get(grant)!.from - a.times.get(old)!.to!);
      }
      const firstMoveMs = Math.min(...b.grants.map((g) => b.times.get(g)!.from)) - joinedAt;
      t.diagnostic(
        `b joined (join grace ${GRACE.joinGraceMs} ms): its first partition after ${firstMoveMs.toFixed(0)} ms; ` +
          `each moved partition was without a leader for ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`,
      );
      assert.ok(
        gaps.every((g) => g >= 0 && g < GRACE.joinGraceMs / 2),
        "a moved partition's next leader begins right after the old one ended, not a join grace later",
      );
      a.stop();
      b.stop();
    });

    void it("closed while still starting, leaves no heartbeat or timer behind", async () => {
      const bucket = `early_${process.pid}`;
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const leadership = new KvLeadership({
        connection: nc,
        node: "early",
        partitions: PARTITIONS,
        bucket,
        lastEpoch: () => 0,
        ...FAST,
      });
      await leadership.close(); // before its start finished
      await sleep(3 * FAST.renewEveryMs);
      const kv = await new Kvm(nc).open(bucket);
      const heartbeat = await kv.get("node.early");
      assert.ok(
        heartbeat === null || heartbeat.operation !== "PUT",
        "its heartbeat is gone, and not written again",
      );
    });

    void it("revokes the holder at once when another writer takes its lease by compare-and-set", async () => {
      const bucket = `steal_${process.pid}`;
      const a = await node(bucket, "a");
      await settle([a], [PARTITIONS]);
      const grant = a.grants.find((g) => g.partition === 3 && !g.revoked.aborted)!;
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const kv = await new Kvm(nc).open(bucket);
      const entry = await kv.get("lease.3");
      await kv.update(
        "lease.3",
        JSON.stringify({ node: "intruder", incarnation: "x", base: 0 }),
        entry!.revision,
      );
      const deadline = Date.now() + 2000;
      while (!grant.revoked.aborted && Date.now() < deadline) await sleep(10);
      assert.ok(grant.revoked.aborted, "the holder stopped leading");
      assert.ok(Date.now() < deadline - FAST.leaseMs / 2, "at once, not when the lease would have run out");
      // The intruder never renews: after its lease runs out, a takes partition 3 back, with a higher epoch.
      const back = await settle([a], [PARTITIONS], 10_000);
      assert.ok(back.get("a")!.includes(3));
      assert.ok(a.leadership.held.get(3)! > grant.epoch);
      a.stop();
    });
  },
);
