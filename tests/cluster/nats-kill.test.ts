// Proves a SIGKILLed nats-server of an R3 JetStream cluster loses nothing acknowledged and measures the stall it causes: three onelog node processes on three nats-servers (stream and buckets with 3 replicas) serve idempotent Counter calls from several clients, each retried on another node until answered; the server leading the log's stream is SIGKILLed under load and restarted on its store; every counter ends exact (each call applied once), no node logs an error, and the longest time without any answer is printed (and bounded).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { sleep } from "../e2e/harness.js";
import { natsSkip, type NatsCluster } from "./nats-harness.js";
import { Caller, CounterLoad, clusterFixture, seeded } from "./onelog-nodes.js";

const skip = natsSkip();
const NODES = 3;
const KEYS = 12;
const LEASE_MS = Number(process.env.CLUSTER_LEASE_MS ?? "10000");
const CALL_TIMEOUT_MS = 5000;
/** The server is killed this long into the load, and restarted this long after. */
const KILL_AT_MS = 2000;
const DOWN_MS = 5000;
/** The load goes on this long after the kill. */
const LOAD_AFTER_KILL_MS = 12_000;

/** Which server (index) leads a stream's Raft group now. */
async function leaderOf(nats: NatsCluster, stream: string): Promise<{ index: number; name: string }> {
  const nc = await connect({ servers: nats.urls });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const name = info.cluster?.leader ?? "";
    return { index: nats.nodes.findIndex((n) => n.name === name), name };
  } finally {
    await nc.close();
  }
}

void describe(
  "a nats-server SIGKILLed and restarted under load (3 onelog nodes, 3 nats-servers, R3)",
  { skip, timeout: 150_000 },
  () => {
    const cluster = clusterFixture(3);

    void it("answers every call exactly once; the stall is bounded", async (t) => {
      const { rand } = seeded(t, "the client's choices");
      const nodes = await cluster.start({
        count: NODES,
        // Compaction rounds of 1 s: a follower that stalls through the election may fall behind
        // the trim point, and then restores from a snapshot (cluster.ts, invariant 1).
        env: { LEASE_MS: String(LEASE_MS), REPLICAS: "3", PARTITIONS: "6", COMPACT_INTERVAL_MS: "1000" },
      });
      const settleMs = await nodes.settled(6);
      const caller = new Caller(nodes, rand);
      const counters = new CounterLoad(caller, KEYS);
      const started = performance.now();
      let loading = true;
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; loading; i++) await counters.add(`c${c}-${i}`, rand(0, KEYS - 1), CALL_TIMEOUT_MS);
      });
      // Awaited below; if the test fails first, the calls end when the nodes stop.
      for (const c of clients) c.catch(() => undefined);

      await sleep(KILL_AT_MS);
      const victim = await leaderOf(cluster.nats, "onelog");
      const leases = await leaderOf(cluster.nats, "KV_onelog-leases");
      const ledAtKill = nodes.children.reduce((n, _, i) => n + nodes.leading(i), 0);
      const killedAt = performance.now();
      await cluster.nats.kill(victim.index);
      await sleep(DOWN_MS);
      const restartAt = performance.now();
      await cluster.nats.restart(victim.index);
      const restartedMs = performance.now() - restartAt;
      await sleep(Math.max(0, killedAt + LOAD_AFTER_KILL_MS - performance.now()));
      loading = false;
      await Promise.all(clients);
      const ended = performance.now();
      const newLeader = await leaderOf(cluster.nats, "onelog");

      const violations = await counters.violations(nodes.current[0]!.url);
      const gap = caller.longestGapMs(started, ended);
      const firstAfterKill = Math.min(...caller.answeredAt.filter((a) => a > killedAt)) - killedAt;
      const moves = nodes.children.reduce((n, _, i) => n + nodes.leading(i), 0) - ledAtKill;
      t.diagnostic(
        `partitions spread ${Math.round(settleMs)} ms after the nodes were ready; ${counters.calls} calls over ${Math.round(ended - started)} ms; killed ${victim.name} (the log stream's leader; ` +
          `the lease bucket's was ${leases.name}) at ${Math.round(killedAt - started)} ms, restarted it ${DOWN_MS} ms later ` +
          `(ready in ${Math.round(restartedMs)} ms); the log stream's leader is now ${newLeader.name}`,
      );
      t.diagnostic(
        `longest time without any answer ${Math.round(gap.gapMs)} ms (ending ${Math.round(gap.endsAt - killedAt)} ms after the kill); ` +
          `first answer ${Math.round(firstAfterKill)} ms after the kill; slowest call ${Math.round(caller.maxLatencyMs)} ms; ` +
          `retries ${JSON.stringify(Object.fromEntries(caller.retries))}; lease ${LEASE_MS} ms; ` +
          `${moves} partitions changed leader after the kill; partitions restored from snapshots, per node: ` +
          nodes.children
            .map((_, i) => nodes.lines(i, "partition restored from its snapshot").length)
            .join(", "),
      );
      assert.deepEqual(violations, [], "every call applied exactly once");
      assert.ok(gap.gapMs < 25_000, `the stall is bounded: ${Math.round(gap.gapMs)} ms without an answer`);
      assert.deepEqual(nodes.errors(), [], "no node logged an error");
    });
  },
);
