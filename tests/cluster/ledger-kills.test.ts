// Proves the bank ledger (examples/ledger.ts: Account objects, a Transfer workflow with a compensation) keeps its books exact across onelog node SIGKILLs in a cluster: three node processes on a real nats-server; several clients send transfers between accounts to random live nodes, each under its own workflow id and retried (attaching when already invoked) until it has a final answer, while the nodes are SIGKILLed and restarted one at a time; at the end the sum of the balances is unchanged and every balance is exactly what the acknowledged transfers imply.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { prng, request, sleep, type Reply } from "../e2e/harness.js";
import { natsSkip } from "./nats-harness.js";
import { Caller, clusterFixture, seeded } from "./onelog-nodes.js";

const skip = natsSkip();
const NODES = 3;
const PARTITIONS = 6;
const LEASE_MS = 2000;
const ACCOUNTS = 8;
const INITIAL_BALANCE = 1000;
/** Transfers to it fail at the credit and are compensated (the debit is given back). */
const CLOSED = "acct-7";
const KILLS = 3;
const CALL_TIMEOUT_MS = 5000;
const ALREADY_INVOKED = "the workflow method was already invoked";

interface Transfer {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly amount: number;
  answer?: { readonly status: number; readonly body: string };
}

void describe(
  "the bank ledger across node kills (3 onelog nodes, 1 nats-server)",
  { skip, timeout: 150_000 },
  () => {
    const cluster = clusterFixture(1);

    void it("moves no money twice and loses none: the sum is unchanged and every balance exact", async (t) => {
      const { seed, rand } = seeded(t, "the transfers and the kills");
      const schedule = prng(seed ^ 0x5bd1e995);
      const nodes = await cluster.start({
        count: NODES,
        // Compaction rounds of 500 ms: snapshots are written and the log trimmed behind them while
        // nodes die and come back, so a restarted node (or a follower slowed by the busy machine)
        // is often behind the trim point and restores from a snapshot.
        env: { LEASE_MS: String(LEASE_MS), PARTITIONS: String(PARTITIONS), COMPACT_INTERVAL_MS: "500" },
      });
      await nodes.settled(PARTITIONS);
      const caller = new Caller(nodes, rand);
      const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`);
      const post = (path: string, body: unknown, key?: string) => (url: string) =>
        request(`${url}${path}`, {
          method: "POST",
          body,
          ...(key === undefined ? {} : { headers: { "idempotency-key": key } }),
          timeoutMs: CALL_TIMEOUT_MS,
        });
      await Promise.all(
        accounts.map((a) =>
          caller.call({
            send: post(`/Account/${a}/deposit`, INITIAL_BALANCE, `fund-${a}`),
            final: (r) => r.status === 200,
          }),
        ),
      );
      await caller.call({
        send: post(`/Account/${CLOSED}/close`, null, "close"),
        final: (r) => r.status === 200,
      });

      const transfers: Transfer[] = [];
      const started = performance.now();
      let loading = true;
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; loading; i++) {
          const from = rand(0, ACCOUNTS - 2); // the closed account sends nothing
          const to = (from + rand(1, ACCOUNTS - 1)) % ACCOUNTS;
          const x: Transfer = {
            id: `t${c}-${i}`,
            from: accounts[from]!,
            to: accounts[to]!,
            amount: rand(1, 400),
          };
          transfers.push(x);
          const run = post(`/Transfer/${x.id}/run`, { from: x.from, to: x.to, amount: x.amount });
          const answer = await caller.call({
            // A retried run of a workflow that was invoked already is answered by attaching to it.
            send: async (url): Promise<Reply> => {
              const r = await run(url);
              if (!r.answered || r.status !== 409 || !r.body.includes(ALREADY_INVOKED)) return r;
              return request(`${url}/restate/workflow/Transfer/${x.id}/attach`, {
                method: "GET",
                timeoutMs: CALL_TIMEOUT_MS,
              });
            },
            final: (r) => r.status === 200 || (r.status === 409 && !r.body.includes(ALREADY_INVOKED)),
          });
          x.answer = { status: answer.reply.status, body: answer.reply.body };
        }
      });
      // Awaited below; if the test fails first, the calls end when the nodes stop.
      for (const c of clients) c.catch(() => undefined);

      // SIGKILL a node, restart it on its data directory, let the partitions spread again; next.
      const killed: string[] = [];
      for (let k = 0; k < KILLS; k++) {
        await sleep(schedule(800, 1500));
        const victim = schedule(0, NODES - 1);
        const at = performance.now() - started;
        await nodes.kill(victim);
        await sleep(schedule(LEASE_MS, LEASE_MS + 1500));
        const down = performance.now() - started - at;
        await nodes.restart(victim);
        const settledMs = await nodes.settled(PARTITIONS);
        killed.push(
          `node-${victim} at ${Math.round(at)} ms, down ${Math.round(down)} ms, spread again ${Math.round(settledMs)} ms after its restart`,
        );
      }
      await sleep(1000);
      loading = false;
      await Promise.all(clients);
      const loadMs = performance.now() - started;

      // The books: initial balances, plus what every 200 moved; a 409 moved nothing, or gave the debit back.
      const expected = new Map(accounts.map((a) => [a, INITIAL_BALANCE]));
      const outcomes = { done: 0, refused: 0, compensated: 0 };
      const violations: string[] = [];
      for (const x of transfers) {
        const { status, body } = x.answer!;
        if (status === 200) {
          outcomes.done++;
          expected.set(x.from, expected.get(x.from)! - x.amount);
          expected.set(x.to, expected.get(x.to)! + x.amount);
          const want = JSON.stringify({ id: x.id, from: x.from, to: x.to, amount: x.amount });
          if (JSON.stringify(JSON.parse(body)) !== want)
            violations.push(`${x.id}: answered ${body}, sent ${want}`);
        } else if (body.includes("insufficient funds")) outcomes.refused++;
        else if (body.includes("failed and was rolled back")) outcomes.compensated++;
        else violations.push(`${x.id}: answered ${status} ${body}`);
      }
      let sum = 0;
      const url = nodes.current[0]!.url;
      for (const a of accounts) {
        const r = await request(`${url}/Account/${a}/balance`, {
          method: "POST",
          body: null,
          timeoutMs: 30_000,
        });
        if (!r.answered || r.status !== 200) {
          violations.push(`${a}: balance: ${r.answered ? `${r.status} ${r.body}` : r.reason}`);
          continue;
        }
        const balance = Number(r.body);
        sum += balance;
        if (balance !== expected.get(a))
          violations.push(`${a}: balance ${balance}, the acknowledged transfers imply ${expected.get(a)}`);
      }
      const gap = caller.longestGapMs(started, performance.now());
      t.diagnostic(
        `${transfers.length} transfers over ${Math.round(loadMs)} ms (${outcomes.done} done, ${outcomes.refused} refused for funds, ` +
          `${outcomes.compensated} compensated); sum of balances ${sum} (initial ${ACCOUNTS * INITIAL_BALANCE})`,
      );
      t.diagnostic(
        `killed ${killed.join("; ")}; partitions restored from snapshots, per node: ` +
          nodes.children
            .map((_, i) => nodes.lines(i, "partition restored from its snapshot").length)
            .join(", "),
      );
      t.diagnostic(
        `longest time without an answer ${Math.round(gap.gapMs)} ms; slowest transfer ${Math.round(caller.maxLatencyMs)} ms; ` +
          `retries ${JSON.stringify(Object.fromEntries(caller.retries))}`,
      );
      assert.deepEqual(
        violations,
        [],
        "every answer and every balance is what the acknowledged transfers imply",
      );
      assert.equal(sum, ACCOUNTS * INITIAL_BALANCE, "no money made or lost");
      assert.ok(outcomes.done > 0 && outcomes.compensated > 0, "transfers succeeded and were compensated");
      assert.deepEqual(nodes.errors(), [], "no node logged an error");
    });
  },
);
