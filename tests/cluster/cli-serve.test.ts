// Proves `onelog serve --cluster` as a user runs it, through the real CLI: two nodes on a real nats-server, one configured by flags and one by a config file, with short compaction rounds and a short lease — the log is trimmed within seconds (with the default 60 s rounds it would not be), and when one node is SIGKILLed the other leads every partition within a few seconds (with the default 10 s lease it could not), and answers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { connect } from "@nats-io/transport-node";
import { JetStreamLog } from "../../packages/nats/src/index.js";
import { eventually, freePort, http, removeTmpDirs, tmpDir } from "../integration/admin-harness.js";
import { CLI_NODE_ARGS, GroupProcess, ROOT, cleanEnv, servicesFile } from "../integration/cli-harness.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
// More than 10: each partition's loop listens on one stop signal (no MaxListenersExceededWarning).
const PARTITIONS = 12;

/** An `onelog serve` process in its own group (SIGKILL to the group ends it and its server child). */
class Node extends GroupProcess {
  constructor(args: readonly string[]) {
    super([...CLI_NODE_ARGS, "serve", ...args], { cwd: ROOT, env: cleanEnv({ ONELOG_LOG_LEVEL: "warn" }) });
  }

  kill(): void {
    try {
      process.kill(-this.child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The partitions a node leads now, from its /metrics. */
async function led(adminUrl: string): Promise<number> {
  const { text } = await http("GET", `${adminUrl}/metrics`);
  return [...text.matchAll(/onelog_partition_leader\{partition="\d+"\} 1/g)].length;
}

void describe(
  "onelog serve --cluster through the CLI (2 nodes, 1 nats-server)",
  { skip, timeout: 120_000 },
  () => {
    let nats: NatsCluster | undefined;
    const nodes: Node[] = [];
    before(async () => {
      nats = await startNats({ servers: 1 });
    });
    after(async () => {
      for (const n of nodes) n.kill();
      await Promise.all(nodes.map((n) => n.exited));
      await nats?.stop();
      removeTmpDirs();
    });

    void it("takes --compact-interval-ms and --lease-ms from flags and from a config file", async (t) => {
      const dir = tmpDir("cli-cluster");
      const file = servicesFile(dir, "hi");
      const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
      const url = nats!.urls.join(",");
      const a = new Node([
        file,
        "--cluster",
        url,
        "--node",
        "a",
        "--partitions",
        String(PARTITIONS),
        "--data-dir",
        path.join(dir, "a"),
        "--ingress-port",
        String(ports[0]),
        "--admin-port",
        String(ports[1]),
        "--lease-ms",
        "1000",
        "--compact-interval-ms",
        "200",
      ]);
      nodes.push(a);
      const config = path.join(dir, "b.json");
      fs.writeFileSync(
        config,
        JSON.stringify({
          cluster: nats!.urls,
          node: "b",
          partitions: PARTITIONS,
          dataDir: "b",
          ingressPort: ports[2],
          adminPort: ports[3],
          leaseMs: 1000,
          compactIntervalMs: 200,
        }),
      );
      const b = new Node([file, "--config", config]);
      nodes.push(b);
      await Promise.all([a.banner(), b.banner()]);
      const [ingressA, adminA, ingressB, adminB] = ports.map((p) => `http://127.0.0.1:${p}`);
      for (const ingress of [ingressA!, ingressB!]) {
        assert.equal((await http("POST", `${ingress}/Greeter/greet`, '"Al"')).body, "hi Al");
      }
      await eventually("both nodes lead a partition", async () =>
        (await led(adminA!)) >= 1 && (await led(adminB!)) >= 1 ? true : undefined,
      );

      // Compaction rounds of 200 ms: each leader snapshots, and trims behind the round before.
      const nc = await connect({ servers: nats!.urls });
      const log = new JetStreamLog({ connection: nc, partitions: PARTITIONS });
      try {
        const trimmed = await eventually(
          "every partition's log trimmed",
          async () => {
            const points = await Promise.all(
              Array.from({ length: PARTITIONS }, async (_, p) => (await log.findTail(p)).trimmedLsn),
            );
            return points.every((x) => x > 0) ? points : undefined;
          },
          10_000,
        );
        t.diagnostic(`trim points ${trimmed.join(", ")}`);
      } finally {
        await log.close();
        await nc.close();
      }

      // A 1 s lease: node b leads every partition soon after node a dies.
      const killedAt = performance.now();
      a.kill();
      await a.exited;
      await eventually(
        "node b leads every partition",
        async () => ((await led(adminB!)) === PARTITIONS ? true : undefined),
        8_000,
      );
      const tookMs = performance.now() - killedAt;
      t.diagnostic(
        `node b led all ${PARTITIONS} partitions ${Math.round(tookMs)} ms after node a was SIGKILLed`,
      );
      assert.ok(tookMs < 8_000, `within the short lease, not the 10 s default: ${Math.round(tookMs)} ms`);
      assert.equal((await http("POST", `${ingressB!}/Greeter/greet`, '"Bo"')).body, "hi Bo");
      for (const [name, node] of [["a", a] as const, ["b", b] as const]) {
        assert.doesNotMatch(node.stderr, /Warning/, `node ${name} printed a warning`);
      }
    });
  },
);
