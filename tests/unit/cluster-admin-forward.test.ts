// Proves a request forwarded to a partition's leader never hangs on the leader's side (http/cluster-admin.ts replay): when the leader's own admin endpoint accepts the connection but never answers, the leader gives up after the forward timeout, and the asking node answers 503 OL1050 as for an unreachable node.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { IncomingMessage } from "node:http";
import {
  ClusterAdmin,
  type ClusterAdminOptions,
} from "../../packages/onelog/src/internal/http/cluster-admin.js";
import { AdminError } from "../../packages/onelog/src/internal/http/admin-error.js";
import {
  NodeRequestError,
  type ClusterNodes,
  type NodeRequestHandler,
} from "../../packages/onelog/src/internal/cluster-nodes.js";
import type { Engine } from "../../packages/onelog/src/internal/engine.js";

const FORWARD_TIMEOUT_MS = 300;

/** Settles with the promise, or rejects when it takes longer than `ms` (a hang). */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Two cluster admins, "a" asking and "b" leading every partition, on an in-process node channel. */
function cluster(bUrl: string) {
  const handlers = new Map<string, NodeRequestHandler>();
  const nodes = (node: string): ClusterNodes => ({
    node,
    liveNodes: () => ["a", "b"],
    leaderOf: () => "b",
    // As node-requests.ts: a handler's error is a "failed" request; no timeout here, so a
    // replay that never ends leaves the request waiting too.
    request: async (to, body) => {
      try {
        return await handlers.get(to)!(body, node);
      } catch (e) {
        throw new NodeRequestError(to, "failed", e instanceof Error ? e.message : String(e));
      }
    },
    requestMany: () => Promise.reject(new Error("not used")),
    serve: (handler) => {
      handlers.set(node, handler);
      return () => handlers.delete(node);
    },
  });
  const admin = (node: string, selfUrl: string | undefined, leads: boolean) => {
    const options: ClusterAdminOptions = {
      nodes: nodes(node),
      engine: { leads: () => leads, processors: [], partitions: 4 } as unknown as Engine,
      sql: {} as ClusterAdminOptions["sql"],
      runner: {} as ClusterAdminOptions["runner"],
      selfUrl: () => selfUrl,
      gatherTimeoutMs: 1000,
      maxGatherRows: 100,
      forwardTimeoutMs: FORWARD_TIMEOUT_MS,
    };
    const a = new ClusterAdmin(options);
    a.serve();
    return a;
  };
  return { a: admin("a", undefined, false), b: admin("b", bUrl, true), handlers };
}

void describe("ClusterAdmin: a forwarded request whose replay gets no answer", () => {
  // An admin endpoint that takes requests and never answers them.
  const sockets = new Set<Socket>();
  const silent = http.createServer(() => undefined);
  silent.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  let url: string;
  before(async () => {
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  void it("the leader gives up after the forward timeout, saying so", async () => {
    const { handlers } = cluster(url);
    const started = performance.now();
    const replay = handlers.get("b")!(
      {
        type: "http",
        method: "GET",
        target: "/invocations/x",
        headers: {},
        body: "",
      },
      "a",
    );
    await assert.rejects(within(FORWARD_TIMEOUT_MS + 5000, replay), (e: Error) => {
      assert.match(
        e.message,
        /node b's admin endpoint did not answer a forwarded GET \/invocations\/x within 300 ms/,
      );
      return true;
    });
    const ms = performance.now() - started;
    assert.ok(ms >= FORWARD_TIMEOUT_MS - 20, `not before the timeout (${ms.toFixed(0)} ms)`);
  });

  void it("the asking node answers 503 OL1050 naming the leader", async () => {
    const { a } = cluster(url);
    const req = { method: "GET", url: "/invocations/x", headers: {} } as unknown as IncomingMessage;
    // The asking node tries the leader again for 3 s; each try ends after the forward timeout.
    await assert.rejects(
      within(3000 + FORWARD_TIMEOUT_MS + 5000, a.forward(req, Buffer.alloc(0), 1)),
      (e) => {
        assert.ok(e instanceof AdminError, String(e));
        assert.equal(e.status, 503);
        assert.equal(e.code, "OL1050");
        assert.match(e.message, /leader node b: .*did not answer a forwarded GET/);
        return true;
      },
    );
  });
});
