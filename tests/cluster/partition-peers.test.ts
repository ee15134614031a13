// Proves the partition requests between cluster nodes (packages/nats partition-peers.ts) on a real nats-server: a request reaches the node serving its partition and comes back with its answer; with nobody serving the partition (no leader yet, or one that stopped serving) it fails at once with PeerUnavailableError, and a leader that does not answer in time fails it the same way, never hanging; two nodes serving one partition during a hand-over give one answer.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NatsPartitionPeers } from "../../packages/nats/src/internal/partition-peers.js";
import { PeerUnavailableError } from "../../packages/onelog/src/internal/partition/peers.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

void describe("partition requests over NATS", { skip }, () => {
  let nats: NatsCluster;
  const conns: NatsConnection[] = [];
  let a: NatsPartitionPeers;
  let b: NatsPartitionPeers;
  before(async () => {
    nats = await startNats({ servers: 1 });
    for (let i = 0; i < 2; i++) conns.push(await connect({ servers: nats.urls }));
    a = new NatsPartitionPeers(conns[0]!, "t");
    b = new NatsPartitionPeers(conns[1]!, "t");
  });
  after(async () => {
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  it("reaches the node serving the partition, and nobody once it stops serving", async () => {
    const stop = await a.serve(3, async (body) => bytes(`a got ${text(body)}`));
    assert.equal(text(await b.request(3, bytes("hello"), 2000)), "a got hello");
    // Another partition nobody serves: at once, not after the timeout.
    const asked = performance.now();
    await assert.rejects(b.request(4, bytes("x"), 5000), PeerUnavailableError);
    assert.ok(performance.now() - asked < 2000, "no responders is known at once");
    await stop();
    await assert.rejects(b.request(3, bytes("x"), 2000), PeerUnavailableError);
  });

  it("a leader that does not answer in time fails the request, which may be sent again", async () => {
    let answer: (() => void) | undefined;
    const stop = await a.serve(5, (body) => new Promise((r) => (answer = () => r(body))));
    await assert.rejects(b.request(5, bytes("slow"), 300), PeerUnavailableError);
    answer?.();
    await stop();
  });

  it("two nodes serving one partition (a hand-over) give one answer", async () => {
    const stopA = await a.serve(7, async () => bytes("a"));
    const stopB = await b.serve(7, async () => bytes("b"));
    const answers = new Set<string>();
    for (let i = 0; i < 20; i++) answers.add(text(await a.request(7, bytes("?"), 2000)));
    assert.ok(
      [...answers].every((x) => x === "a" || x === "b"),
      [...answers].join(),
    );
    await stopA();
    assert.equal(text(await a.request(7, bytes("?"), 2000)), "b");
    await stopB();
  });
});
