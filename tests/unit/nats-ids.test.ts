// Proves node ids and log producers are checked before anything is sent: they go into every
// message's headers and ids, inside the header room the log keeps under max_payload
// (packages/nats: checkNodeId, JetStreamLog's producer option, connectCluster). No nats-server.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { checkNodeId } from "../../packages/nats/src/internal/kv-leadership.js";
import { JetStreamLog } from "../../packages/nats/src/internal/jetstream-log.js";
import { connectCluster } from "../../packages/nats/src/internal/cluster.js";

/** A connection that fails the test if the code under test uses it. */
const unused = new Proxy({} as NatsConnection, {
  get: (_t, name) => assert.fail(`the connection was used (${String(name)})`),
});

void describe("node ids and producers (packages/nats)", () => {
  void it("takes 1 to 64 letters, digits, - and _ as a node id", () => {
    for (const ok of ["n1", "node-2_b", "x".repeat(64)]) checkNodeId(ok);
    for (const bad of ["", "x".repeat(65), "a.b", "a b", "ü", "n1\n"]) {
      assert.throws(() => checkNodeId(bad), RangeError, JSON.stringify(bad));
    }
  });

  void it("connectCluster refuses a bad node id before it connects", async () => {
    await assert.rejects(
      connectCluster({ servers: ["nats://127.0.0.1:1"], node: "n".repeat(300), partitions: 4 }),
      (e: unknown) => e instanceof RangeError && /1 to 64/.test(e.message),
    );
  });

  void it("JetStreamLog refuses a producer that would not fit its headers", () => {
    assert.throws(
      () => new JetStreamLog({ connection: unused, partitions: 1, producer: "p".repeat(129) }),
      (e: unknown) => e instanceof RangeError && /producer/.test(e.message),
    );
    assert.throws(() => new JetStreamLog({ connection: unused, partitions: 1, producer: "a b" }), RangeError);
  });
});
