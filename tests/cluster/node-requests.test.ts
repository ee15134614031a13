// Proves the cluster's node channel (packages/nats node-requests.ts) on a real nats-server: a request reaches the node it names and comes back with the handler's answer, also when the body and the answer are many times the server's max_payload (chunked); a handler's error comes back as that error; a node nothing serves fails at once (no responders) and a silent one after the timeout, never hanging; and a request to every live node says exactly which nodes did not answer.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsNodeRequests } from "../../packages/nats/src/index.js";
import { NodeRequestError } from "../../packages/onelog/src/internal/cluster-nodes.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();

void describe("node requests over NATS", { skip }, () => {
  let nats: NatsCluster;
  const conns: NatsConnection[] = [];
  /** Nodes a, b, c (each on its own connection); live: a, b, c and d, which serves nothing. */
  const nodes = new Map<string, NatsNodeRequests>();
  const view = { liveNodes: ["a", "b", "c", "d"], leaderOf: (p: number) => ["a", "b", "c"][p % 3] };
  before(async () => {
    nats = await startNats({ servers: 1 });
    for (const id of ["a", "b", "c", "d"]) {
      const nc = await connect({ servers: nats.urls });
      conns.push(nc);
      nodes.set(
        id,
        new NatsNodeRequests({ connection: nc, stream: "t", node: id, view: () => view, timeoutMs: 1500 }),
      );
    }
    nodes.get("a")!.serve(async (body, from) => ({ node: "a", from, body }));
    nodes.get("b")!.serve(async (body) => {
      if ((body as { fail?: boolean }).fail === true) throw new Error("b refuses");
      return { node: "b", echo: body };
    });
    // c never answers the "slow" requests.
    nodes.get("c")!.serve(
      (body) =>
        new Promise((resolve) => {
          if ((body as { slow?: boolean }).slow !== true) resolve({ node: "c" });
        }),
    );
  });
  after(async () => {
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  it("answers with the handler's answer, from the node named, and knows who leads", async () => {
    const a = nodes.get("a")!;
    assert.deepEqual(await nodes.get("b")!.request("a", { x: 1 }), { node: "a", from: "b", body: { x: 1 } });
    assert.deepEqual(await a.request("c", {}), { node: "c" });
    assert.equal(a.leaderOf(4), "b");
    assert.deepEqual(a.liveNodes(), ["a", "b", "c", "d"]);
  });

  it("carries bodies and answers far above max_payload", async () => {
    const big = "x".repeat(5 * 1024 * 1024 + 17) + "é€";
    const answer = (await nodes.get("a")!.request("b", { big })) as { echo: { big: string } };
    assert.equal(answer.echo.big, big);
  });

  it("a handler's error comes back as that error", async () => {
    await assert.rejects(nodes.get("a")!.request("b", { fail: true }), (e: unknown) => {
      assert.ok(e instanceof NodeRequestError);
      assert.equal(e.failure, "failed");
      assert.match(e.message, /b refuses/);
      return true;
    });
  });

  it("no responders fails at once, a silent node after the timeout", async () => {
    const started = performance.now();
    await assert.rejects(
      nodes.get("a")!.request("d", {}),
      (e: unknown) => e instanceof NodeRequestError && e.failure === "no_responders",
    );
    assert.ok(performance.now() - started < 1000, "no responders is told at once");
    const t = performance.now();
    await assert.rejects(
      nodes.get("a")!.request("c", { slow: true }, { timeoutMs: 300 }),
      (e: unknown) => e instanceof NodeRequestError && e.failure === "timeout",
    );
    assert.ok(performance.now() - t >= 290);
  });

  it("requestMany gathers every live node's answer and names the ones that gave none", async () => {
    const t = performance.now();
    const timeoutMs = 500;
    const { answers, missing } = await nodes.get("a")!.requestMany({ slow: true }, { timeoutMs });
    // c never answers: without the timeout this would not return at all. The slack is for a
    // loaded machine (CI runs 2 test files at a time on 2 cores).
    const tookMs = performance.now() - t;
    assert.ok(
      tookMs < timeoutMs + 3000,
      `it does not wait beyond the timeout (took ${tookMs.toFixed(0)} ms)`,
    );
    assert.deepEqual([...answers.keys()].sort(), ["a", "b"]);
    assert.deepEqual(
      missing.map((m) => [m.node, m.failure]),
      [
        ["c", "timeout"],
        ["d", "no_responders"],
      ],
    );
  });
});
