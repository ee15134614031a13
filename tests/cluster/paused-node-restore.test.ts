// Proves a node whose stores fell behind the log's trim point takes its partitions back from snapshots: two onelog node processes on a real nats-server with short compaction rounds (each leader snapshots its partitions and trims the shared log behind the round before); one node is SIGSTOPped for many rounds while the other takes its partitions and keeps serving Counter calls, so the log is trimmed past everything the paused node applied; after SIGCONT the paused node is deposed, answers through its own ingress (asking the other node, which leads everything), and when the other hands its share back it restores those partitions from their snapshots, replays the tail and leads them — every call applied exactly once.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { request, sleep } from "../e2e/harness.js";
import { natsSkip } from "./nats-harness.js";
import { Caller, CounterLoad, clusterFixture, seeded } from "./onelog-nodes.js";

const skip = natsSkip();
const PARTITIONS = 4;
const KEYS = 8;
const LEASE_MS = 2000;
const COMPACT_INTERVAL_MS = 300;
/** How long the node stays paused: many compaction rounds. */
const PAUSE_MS = 5000;
const CALL_TIMEOUT_MS = 3000;

void describe(
  "a node paused past several compaction rounds (2 onelog nodes, 1 nats-server)",
  { skip, timeout: 120_000 },
  () => {
    const cluster = clusterFixture(1);

    void it("takes its share back from snapshots when the log was trimmed past its stores, and serves throughout", async (t) => {
      const { rand } = seeded(t, "the client's choices");
      const nodes = await cluster.start({
        count: 2,
        env: {
          LEASE_MS: String(LEASE_MS),
          PARTITIONS: String(PARTITIONS),
          COMPACT_INTERVAL_MS: String(COMPACT_INTERVAL_MS),
        },
      });
      await nodes.settled(PARTITIONS);
      const caller = new Caller(nodes, rand);
      const counters = new CounterLoad(caller, KEYS);
      let loading = true;
      const clients = Array.from({ length: 2 }, async (_, c) => {
        for (let i = 0; loading; i++) await counters.add(`c${c}-${i}`, rand(0, KEYS - 1), CALL_TIMEOUT_MS);
      });
      for (const c of clients) c.catch(() => undefined);

      await sleep(1000);
      nodes.pause(1);
      await sleep(PAUSE_MS);
      const before = counters.calls;
      nodes.resume(1);
      const resumedAt = performance.now();
      // What the nodes said, for a failure's message: their warnings and errors, latest last.
      const said = () =>
        [0, 1]
          .flatMap((i) => nodes.lines(i, '"level":"').map((l) => `node-${i}: ${l.slice(0, 400)}`))
          .slice(-30)
          .join("\n");
      // Granted its share again, the resumed node finds the log trimmed past its stores and restores them.
      while (nodes.lines(1, "partition restored from its snapshot").length === 0) {
        assert.ok(
          performance.now() - resumedAt < 20_000,
          `node-1 never restored a partition from a snapshot; the nodes said:\n${said()}`,
        );
        await sleep(50);
      }
      const restoredAfterMs = performance.now() - resumedAt;
      // Its ingress answers again, whichever node leads each key's partition.
      const own = (key: number) =>
        request(`${nodes.current[1]!.url}/Counter/k${key}/get`, {
          method: "POST",
          body: null,
          timeoutMs: 20_000,
        });
      for (let k = 0; k < KEYS; k++) {
        const asked = performance.now();
        const reply = await own(k);
        assert.ok(
          reply.answered && reply.status === 200,
          `node-1 answers Counter/k${k}/get after the resume: ${reply.answered ? `${reply.status} ${reply.body}` : reply.reason} ` +
            `after ${Math.round(performance.now() - asked)} ms (${Math.round(performance.now() - resumedAt)} ms after SIGCONT); the nodes said:\n${said()}`,
        );
      }
      // It leads its share again (the other node hands partitions back).
      const resettledMs = await nodes.settled(PARTITIONS);
      await sleep(1000);
      loading = false;
      await Promise.all(clients);

      const restores = nodes.lines(1, "partition restored from its snapshot").length;
      t.diagnostic(
        `${counters.calls} counter calls (${before} by the end of the ${PAUSE_MS} ms pause, compaction every ${COMPACT_INTERVAL_MS} ms); ` +
          `node-1 began restoring ${Math.round(restoredAfterMs)} ms after SIGCONT, ${restores} partition restore(s); ` +
          `partitions spread again ${Math.round(resettledMs)} ms later; retries ${JSON.stringify(Object.fromEntries(caller.retries))}`,
      );
      assert.deepEqual(nodes.errors(), [], "no node logged an error");
      assert.deepEqual(
        await counters.violations(nodes.current[1]!.url),
        [],
        "every call applied exactly once",
      );
    });
  },
);
