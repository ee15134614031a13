// Proves a leader paused past its lease (SIGSTOP, as a long GC pause would) and then resumed (SIGCONT) cannot corrupt anything: three onelog node processes on a real nats-server serve idempotent Counter calls; the leader running a Pauser step is stopped in the middle of it; its partitions move; the step runs again on the new leader, which answers; after the resume the old leader's late record of its step is in the log after the newer AnnounceLeader and is dropped (the invocation's output names the new leader), the resumed node logs that it lost its partitions, and every counter is exact — no acknowledged call lost or applied twice.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import type { LogRecord } from "../../packages/onelog/src/internal/partition/records.js";
import { request, sleep } from "../e2e/harness.js";
import { natsSkip } from "./nats-harness.js";
import { Caller, CounterLoad, clusterFixture, readLog, seeded } from "./onelog-nodes.js";

const skip = natsSkip();
const NODES = 3;
const PARTITIONS = 6;
const KEYS = 12;
const LEASE_MS = 2000;
/** How long the Pauser step blocks its node's event loop: the window the SIGSTOP lands in. */
const BUSY_MS = 800;
/** A call unanswered for this long is sent again to another node. */
const CALL_TIMEOUT_MS = 3000;

/** A record proposed under a leader epoch older than an AnnounceLeader before it: apply drops it. */
interface Fenced {
  readonly partition: number;
  readonly lsn: number;
  readonly epoch: number;
  /** The node whose AnnounceLeader carried that epoch (undefined for epoch 0: a deposed processor). */
  readonly node: string | undefined;
  readonly record: LogRecord;
}

function fencedRecords(log: LogRecord[][]): Fenced[] {
  const out: Fenced[] = [];
  log.forEach((records, partition) => {
    let newest = 0;
    const nodeOf = new Map<number, string>();
    for (const record of records) {
      const epoch = record.header.leaderEpoch;
      if (record.body.type === "announce_leader")
        nodeOf.set(record.body.leaderEpoch, record.body.node ?? "?");
      if (epoch !== undefined && epoch < newest)
        out.push({ partition, lsn: record.lsn, epoch, node: nodeOf.get(epoch), record });
      if (record.body.type === "announce_leader") newest = Math.max(newest, record.body.leaderEpoch);
    }
  });
  return out;
}

void describe(
  "a leader paused past its lease and resumed (3 onelog nodes, 1 nats-server)",
  { skip, timeout: 120_000 },
  () => {
    const cluster = clusterFixture(1);

    void it("moves its partitions, fences its late appends, and every call applies exactly once", async (t) => {
      const { rand } = seeded(t, "the client's choices");
      const nodes = await cluster.start({
        count: NODES,
        env: { LEASE_MS: String(LEASE_MS), PARTITIONS: String(PARTITIONS), COMPACT_INTERVAL_MS: "600000" },
      });
      const caller = new Caller(nodes, rand);
      const counters = new CounterLoad(caller, KEYS);
      const started = performance.now();
      let loading = true;
      const clients = Array.from({ length: 3 }, async (_, c) => {
        for (let i = 0; loading; i++) await counters.add(`c${c}-${i}`, rand(0, KEYS - 1), CALL_TIMEOUT_MS);
      });
      // Awaited below; if the test fails first, the calls end when the nodes stop.
      for (const c of clients) c.catch(() => undefined);

      await sleep(1500);
      // The Pauser step: whichever node runs it (the leader of its partition) is SIGSTOPped in it.
      let victim: number | undefined;
      let pausedAt = 0;
      const watcher = (async () => {
        while (victim === undefined) {
          const i = nodes.children.findIndex((_, n) => nodes.lines(n, "STEP_BUSY").length > 0);
          if (i >= 0) {
            victim = i;
            nodes.pause(i);
            pausedAt = performance.now();
          } else await sleep(2);
        }
      })();
      const paused = await caller.call({
        send: (url) =>
          request(`${url}/Pauser/go`, {
            method: "POST",
            body: BUSY_MS,
            headers: { "idempotency-key": "pause-me" },
            timeoutMs: CALL_TIMEOUT_MS,
          }),
        final: (r) => r.status === 200,
      });
      await watcher;
      const v = victim!;
      const answeredAfterMs = paused.at - pausedAt;
      const ledBefore = nodes.leading(v);
      // The step was run again by the new leader, which answered: its AnnounceLeader is in the log.
      nodes.resume(v);
      const resumedAt = performance.now();
      const lostLine = async () => {
        while (nodes.lines(v, "partition leadership lost").length === 0) {
          if (performance.now() - resumedAt > 10_000) return undefined;
          await sleep(20);
        }
        return performance.now() - resumedAt;
      };
      const steppedDownMs = await lostLine();
      await sleep(2500);
      loading = false;
      await Promise.all(clients);
      const loadMs = performance.now() - started;

      const output = JSON.parse(paused.reply.body) as { node: string };
      const violations = await counters.violations(nodes.current[(v + 1) % NODES]!.url);
      const fenced = fencedRecords(await readLog(cluster.nats.urls, PARTITIONS));
      const fencedOfVictim = fenced.filter((f) => f.node === `node-${v}`);
      const lateSteps = fencedOfVictim.filter(
        (f) =>
          f.record.body.type === "run_completion" &&
          "ok" in f.record.body.result &&
          new TextDecoder().decode(f.record.body.result.ok).includes(`node-${v}`),
      );
      const gap = caller.longestGapMs(started, performance.now());
      t.diagnostic(
        `${counters.calls} counter calls over ${Math.round(loadMs)} ms; node-${v} SIGSTOPped in its step, ` +
          `the step answered by ${output.node} ${Math.round(answeredAfterMs)} ms later (lease ${LEASE_MS} ms); ` +
          `node-${v} resumed and logged 'partition leadership lost' after ${steppedDownMs === undefined ? "never" : Math.round(steppedDownMs)} ms`,
      );
      t.diagnostic(
        `log: ${fenced.length} records under an epoch older than an earlier AnnounceLeader (dropped by apply), ` +
          `${fencedOfVictim.length} of node-${v}'s old epochs (${fencedOfVictim.map((f) => f.record.body.type).join(", ")}), ` +
          `${lateSteps.length} its step's result; longest time without an answer ${Math.round(gap.gapMs)} ms; ` +
          `retries ${JSON.stringify(Object.fromEntries(caller.retries))}; node-${v} led ${ledBefore} partitions before, ${nodes.leading(v)} after`,
      );

      assert.notEqual(
        output.node,
        `node-${v}`,
        "the paused leader's step result was fenced: the new leader's is the output",
      );
      assert.ok(
        lateSteps.length >= 1,
        "the paused leader appended its step's result after it resumed, under its old epoch",
      );
      assert.ok(steppedDownMs !== undefined, `node-${v} logged that it lost its partitions after the resume`);
      assert.deepEqual(violations, [], "every counter call applied exactly once");
      assert.deepEqual(nodes.errors(), [], "no node logged an error");
    });
  },
);
