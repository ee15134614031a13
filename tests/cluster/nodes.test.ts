// Proves three onelog cluster nodes (real processes, the `serve --cluster` wiring) on a real nats-server keep exactly-once under a node SIGKILL: a client sends idempotent Counter/add calls to random nodes and retries each one, with its idempotency key, on another node until it is answered; one node is SIGKILLed mid-load; its partitions move to the others after its lease, and in the end every counter equals the number of distinct calls made to it — none lost, none applied twice.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Children, errorLines, kill, prng, request, seedFrom, sleep, type Child } from "../e2e/harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
const NODES = 3;
const KEYS = 12;
const LEASE_MS = 2000;

void describe(
  "three cluster nodes, one SIGKILLed under load (1 nats-server)",
  { skip, timeout: 180_000 },
  () => {
    let nats: NatsCluster;
    const dirs: string[] = [];
    const children: Children[] = [];
    before(async () => {
      nats = await startNats({ servers: 1 });
    });
    after(async () => {
      for (const c of children) await c.killAll();
      await nats?.stop();
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    void it("answers every call exactly once while a node dies and its partitions move", async (t) => {
      const seed = seedFrom("CLUSTER_SEED");
      t.diagnostic(`seed ${seed} (CLUSTER_SEED=${seed} replays the schedule)`);
      const rand = prng(seed);
      const nodes: Child[] = [];
      for (let i = 0; i < NODES; i++) {
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `onelog-node${i}-`));
        dirs.push(dataDir);
        const c = new Children({
          script: "tests/cluster/node-server.ts",
          env: {
            NATS_URLS: nats.urls.join(","),
            NODE: `node-${i}`,
            DATA_DIR: dataDir,
            LEASE_MS: String(LEASE_MS),
          },
          readyTimeoutMs: 60_000,
        });
        children.push(c);
        nodes.push(await c.start(0));
      }
      const alive = new Set([0, 1, 2]);
      const sent = new Map<string, number>(); // idempotency key → counter key index
      const answered = new Map<string, number>();
      let unanswered = 0;

      /** One call, retried on other live nodes with the same idempotency key until answered. */
      const call = async (id: string, key: number): Promise<void> => {
        sent.set(id, key);
        for (let attempt = 0; attempt < 200; attempt++) {
          const live = [...alive];
          const node = nodes[live[rand(0, live.length - 1)]!]!;
          const reply = await request(`${node.url}/Counter/k${key}/add`, {
            method: "POST",
            body: 1,
            headers: { "idempotency-key": id },
            timeoutMs: 10_000,
          });
          if (reply.answered && reply.status === 200) {
            answered.set(id, Number(reply.body));
            return;
          }
          unanswered++;
          await sleep(100);
        }
        assert.fail(`call ${id} never answered`);
      };

      const started = Date.now();
      const victim = rand(0, NODES - 1);
      let killedAt = 0;
      let ledAtKill = 0;
      const leading = (i: number) =>
        children[i]!.stderr.filter((l) => l.line.includes('"leading partition"')).length;
      const killer = (async () => {
        await sleep(rand(1500, 3000));
        assert.ok(leading(victim) > 0, `node-${victim} leads partitions before it dies`);
        alive.delete(victim);
        ledAtKill = [...alive].reduce((n, i) => n + leading(i), 0);
        killedAt = Date.now() - started;
        await kill(nodes[victim]!);
      })();
      const clients = Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; Date.now() - started < 8000; i++) await call(`c${c}-${i}`, rand(0, KEYS - 1));
      });
      await Promise.all([killer, ...clients]);
      const loadMs = Date.now() - started;
      const took = [...alive].reduce((n, i) => n + leading(i), 0) - ledAtKill;
      assert.ok(took > 0, "the survivors took the dead node's partitions over");

      // Every counter equals the number of distinct calls to it: each applied exactly once.
      const expected = Array.from({ length: KEYS }, () => 0);
      for (const key of sent.values()) expected[key]!++;
      const survivor = nodes[[...alive][0]!]!;
      for (let k = 0; k < KEYS; k++) {
        const reply = await request(`${survivor.url}/Counter/k${k}/get`, {
          method: "POST",
          body: null,
          timeoutMs: 30_000,
        });
        assert.ok(reply.answered && reply.status === 200, `get k${k}`);
        assert.equal(Number(reply.body), expected[k], `counter k${k}`);
      }
      t.diagnostic(
        `${sent.size} calls over ${loadMs} ms through ${NODES} nodes; node-${victim} SIGKILLed at ${killedAt} ms ` +
          `(lease ${LEASE_MS} ms), the others took ${took} partitions over; ${unanswered} attempts went unanswered and were retried; every counter exact`,
      );
      const errors = children.flatMap((c) => errorLines(c.stderr));
      assert.deepEqual(errors, [], "no node logged an error");
    });
  },
);
