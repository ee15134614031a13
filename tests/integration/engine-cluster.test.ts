// Proves the engine's cluster mode (engine.ts invariant 3): two engines share one log, each applies and leads only the partitions the test grants it, and every operation on a partition the other leads — a call waiting for its result, an idempotent send, attach, status, cancel, a state patch — is asked of that partition's leader and answers as it would there; the asking engine's store of that partition stays empty. When a partition moves while callers wait (on either node), they are answered by its new leader; a partition whose apply fails is asked for again with a growing delay, not in a loop. With a Leadership the test places, a memory log, memory stores, and partition requests passed in memory (the NATS transport is tested by tests/cluster).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import type { Result } from "@onelog/sdk/internal";
import { counter } from "../../examples/counter.js";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";
import { silentLogger } from "../../packages/onelog/src/internal/ops/logger.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { partitionOfKey } from "../../packages/onelog/src/internal/partition/ids.js";
import { stateVersion } from "../../packages/onelog/src/internal/partition/state-version.js";
import type { Leadership, LeadershipGrant } from "../../packages/onelog/src/internal/partition/leadership.js";
import {
  PeerUnavailableError,
  type PartitionPeers,
} from "../../packages/onelog/src/internal/partition/peers.js";

const PARTITIONS = 2;
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
/** A result's value (bytes passed between nodes may come back as a Buffer). */
const value = (r: Result | undefined) => {
  assert.ok(r !== undefined && "ok" in r, `a value, not ${JSON.stringify(r)}`);
  return JSON.parse(new TextDecoder().decode(r.ok)) as unknown;
};

/** Holds each `Slow/<key>/run` until the test lets it go. */
const gates = new Map<string, () => void>();
const slow = onelog.object({
  name: "Slow",
  handlers: {
    run: async (ctx: onelog.ObjectContext) => {
      await ctx.run("wait", () => new Promise<void>((r) => gates.set(ctx.key, r)));
      await ctx.sleep(5); // where a cancellation is seen
      return `done ${ctx.key}`;
    },
  },
});

/** Places each partition on one node; a node's `acquire` waits until a partition is placed on it. */
class PlacedLeadership {
  readonly owner = new Map<number, string>();
  /** When each grant of a partition was handed out (performance.now()). */
  readonly grantedAt = new Map<number, number[]>();
  #epoch = 0;
  #granted = new Map<number, number>();
  #held = new Map<number, AbortController>();
  #waiting: (() => void)[] = [];

  for(node: string): Leadership {
    return {
      node,
      acquire: async (partition, signal) => {
        while (this.owner.get(partition) !== node || this.#held.has(partition)) {
          if (signal.aborted) throw signal.reason;
          await new Promise<void>((r) => {
            this.#waiting.push(r);
            signal.addEventListener("abort", () => r(), { once: true });
          });
        }
        const revoke = new AbortController();
        this.#held.set(partition, revoke);
        this.#granted.set(partition, this.grants(partition) + 1);
        this.grantedAt.set(partition, [...(this.grantedAt.get(partition) ?? []), performance.now()]);
        return { partition, epoch: ++this.#epoch, node, revoked: revoke.signal } satisfies LeadershipGrant;
      },
      release: async (grant) => {
        const held = this.#held.get(grant.partition);
        if (held?.signal !== grant.revoked) return;
        this.#held.delete(grant.partition);
        held.abort(new Error("released"));
        this.#wake();
      },
    };
  }

  /** How many grants of `partition` were handed out. */
  grants(partition: number): number {
    return this.#granted.get(partition) ?? 0;
  }

  /** Moves a partition: its holder's grant ends, and the new owner takes it. */
  move(partition: number, to: string): void {
    this.owner.set(partition, to);
    this.#held.get(partition)?.abort(new Error("moved"));
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}

/**
 * Partition requests in memory: whoever serves a partition answers it; an answer later than the
 * request's timeout is lost, as with NATS request/reply.
 */
class MemoryPeers {
  readonly serving = new Map<number, (body: Uint8Array) => Promise<Uint8Array>>();
  readonly asked: number[] = [];
  /** Who asked which partition, when (performance.now()). */
  readonly log: { node: string; partition: number; at: number }[] = [];

  for(node = ""): PartitionPeers {
    return {
      request: async (partition, body, timeoutMs) => {
        this.asked.push(partition);
        this.log.push({ node, partition, at: performance.now() });
        const answer = this.serving.get(partition);
        if (answer === undefined)
          throw new PeerUnavailableError(partition, `nobody serves partition ${partition}`, false);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new PeerUnavailableError(partition, `no answer in ${timeoutMs} ms`, true)),
            timeoutMs,
          );
        });
        return Promise.race([answer(body), late]).finally(() => clearTimeout(timer));
      },
      serve: async (partition, answer) => {
        this.serving.set(partition, answer);
        return async () => {
          if (this.serving.get(partition) === answer) this.serving.delete(partition);
        };
      },
    };
  }
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(ok(), what);
}

/** Like {@link until}, for conditions that take seconds. */
async function untilWithin(ms: number, what: string, ok: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
  while (!ok() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(ok(), what);
}

/** A key of `service` whose partition is `p`. */
function keyOn(service: string, p: number, prefix: string): string {
  for (let i = 0; ; i++)
    if (partitionOfKey(service, `${prefix}${i}`, PARTITIONS) === p) return `${prefix}${i}`;
}

/**
 * A memory log whose next `slowAppends` appends are acknowledged `delayMs` late (a JetStream
 * publish retried through a stream leader's election): stored at once, or, with `storeLate`,
 * stored only then.
 */
class SlowAckLog extends MemoryLog {
  slowAppends = 0;
  delayMs = 0;
  storeLate = false;
  override async append(p: number, entries: Parameters<MemoryLog["append"]>[1]): Promise<number[]> {
    if (this.slowAppends === 0) return super.append(p, entries);
    this.slowAppends--;
    const pause = () => new Promise((r) => setTimeout(r, this.delayMs));
    if (this.storeLate) await pause();
    const lsns = await super.append(p, entries);
    if (!this.storeLate) await pause();
    return lsns;
  }
}

/** Nodes a and b on one log, a granted partition 0 and b partition 1; `storeOf` makes their stores. */
async function twoNodes(
  storeOf: (node: string, p: number) => MemoryStore = (_, p) => new MemoryStore(p),
  catchUp: (node: string, p: number) => Promise<void> = async () => {},
) {
  const log = new SlowAckLog({ partitions: PARTITIONS });
  const leadership = new PlacedLeadership();
  leadership.owner.set(0, "a");
  leadership.owner.set(1, "b");
  const peers = new MemoryPeers();
  const start = (node: string) => {
    const stores = Array.from({ length: PARTITIONS }, (_, p) => storeOf(node, p));
    return Engine.start({
      log,
      storeFor: (p) => stores[p]!,
      leadership: leadership.for(node),
      clock: systemClock,
      logger: silentLogger,
      services: [counter, slow],
      cluster: { peers: peers.for(node), catchUp: (p) => catchUp(node, p) },
    }).then((engine) => ({ engine, stores }));
  };
  const a = await start("a");
  const b = await start("b");
  return { a, b, log, leadership, peers, stop: () => Promise.all([a.engine.stop(), b.engine.stop()]) };
}

/** {@link twoNodes}, once each leads its partition. */
async function twoNodesLeading() {
  const nodes = await twoNodes();
  await until(
    "a leads partition 0 and b partition 1",
    () => nodes.a.engine.leads(0) && nodes.b.engine.leads(1),
  );
  return nodes;
}

void describe("Engine in cluster mode: each node applies the partitions it leads and asks the others", () => {
  void it("answers calls, sends, attach, status, cancel and state patches for a partition another node leads", async () => {
    const { a, b, peers, stop } = await twoNodesLeading();
    try {
      const key = keyOn("Counter", 1, "k");
      const target = { service: "Counter", handler: "add", key };
      const first = await a.engine.call({ target, argument: enc(2) });
      assert.deepEqual(value(first.result), 2);
      const second = await a.engine.call({ target, argument: enc(3) });
      assert.deepEqual(value(second.result), 5);
      assert.ok(peers.asked.includes(1), "node a asked partition 1's leader");
      // Only b applied partition 1: a's store of it has nothing.
      assert.equal(a.stores[1]!.getStatus(first.invocationId), undefined);
      assert.notEqual(b.stores[1]!.getStatus(first.invocationId), undefined);
      assert.equal(a.engine.leads(1), false);

      // Status and attach through the leader.
      const status = await a.engine.status(first.invocationId);
      assert.equal(status?.state, "completed");
      assert.deepEqual(value(await a.engine.attach(second.invocationId)), 5);
      assert.equal(await a.engine.attach("inv_1111111111111111111111111111"), undefined);

      // An idempotent send: accepted once, then "previously accepted".
      const sent = await a.engine.send({ target, argument: enc(10), idempotencyKey: "once" });
      const again = await a.engine.send({ target, argument: enc(10), idempotencyKey: "once" });
      assert.equal(sent.previouslyAccepted, false);
      assert.equal(again.previouslyAccepted, true);
      assert.equal(again.invocationId, sent.invocationId);
      assert.deepEqual(value(await a.engine.attach(sent.invocationId)), 15);

      // A state patch on the key's leader.
      const patched = await a.engine.patchState("Counter", key, [{ name: "count", value: enc(100) }]);
      assert.ok("ok" in patched, JSON.stringify(patched));
      assert.deepEqual(value((await a.engine.call({ target, argument: enc(1) })).result), 101);

      // Cancel an invocation that waits, through the node that does not lead it.
      const slowKey = keyOn("Slow", 1, "s");
      const running = await a.engine.send({
        target: { service: "Slow", handler: "run", key: slowKey },
        argument: enc(null),
      });
      await until("the slow handler runs", () => gates.has(slowKey));
      await a.engine.operate("cancel", running.invocationId);
      gates.get(slowKey)!(); // the handler sees the cancellation at its next await
      const cancelled = await a.engine.attach(running.invocationId);
      assert.ok(
        cancelled !== undefined && "err" in cancelled && cancelled.err.code === 409,
        JSON.stringify(cancelled),
      );
    } finally {
      gates.clear();
      await stop();
    }
  });

  void it("callers waiting on either node are answered by a partition's new leader when it moves", async () => {
    const { a, b, leadership, stop } = await twoNodesLeading();
    try {
      const key = keyOn("Slow", 1, "m");
      const target = { service: "Slow", handler: "run", key };
      // One caller on a (it asks b, which leads partition 1), one on b (it waits there).
      const onA = a.engine.call({ target, argument: enc(null), idempotencyKey: "x" });
      await until("the handler runs on b", () => gates.has(key));
      const onB = b.engine.call({ target, argument: enc(null), idempotencyKey: "x" });
      await new Promise((r) => setTimeout(r, 20));
      // Partition 1 moves to a: b's attempt is stopped, a replays the log and runs it again.
      gates.delete(key);
      leadership.move(1, "a");
      await until("a leads partition 1", () => a.engine.leads(1) && !b.engine.leads(1));
      await until("the handler runs again on a", () => gates.has(key));
      gates.get(key)!();
      const [x, y] = await Promise.all([onA, onB]);
      assert.deepEqual(value(x.result), `done ${key}`);
      assert.deepEqual(value(y.result), `done ${key}`);
      assert.equal(x.invocationId, y.invocationId);
      // a's store of partition 1 caught up from the log; b's stays where it was.
      assert.equal(a.stores[1]!.getStatus(x.invocationId)?.state, "completed");
      assert.notEqual(b.stores[1]!.getStatus(x.invocationId)?.state, "completed");
    } finally {
      gates.clear();
      await stop();
    }
  });
  void it("a partition whose apply fails is asked for again ever more slowly, and led once it applies", async () => {
    // Node a's store of partition 0 refuses every new invocation until the test mends it.
    let broken = true;
    class BrokenStore extends MemoryStore {
      override putStatus(s: Parameters<MemoryStore["putStatus"]>[0]): void {
        if (broken) throw new Error("a broken invariant");
        super.putStatus(s);
      }
    }
    const { a, b, leadership, stop } = await twoNodes((node, p) =>
      node === "a" && p === 0 ? new BrokenStore(p) : new MemoryStore(p),
    );
    try {
      await until("a leads partition 0", () => a.engine.leads(0));
      const key = keyOn("Counter", 0, "f");
      // b appends the invocation itself (a plain send needs no leader); a fails to apply it.
      const sent = await b.engine.send({
        target: { service: "Counter", handler: "add", key },
        argument: enc(7),
      });
      await until("a's partition 0 stopped", () => !a.engine.leads(0));
      const stoppedAt = performance.now();
      const grantsBefore = leadership.grants(0);
      // Timers are only ever late, so the pauses are at least 1 s, then 2 s (a loop has none).
      await untilWithin(
        10_000,
        "asked for partition 0 twice more",
        () => leadership.grants(0) >= grantsBefore + 2,
      );
      const [first, second] = leadership.grantedAt.get(0)!.slice(grantsBefore);
      assert.ok(
        first! - stoppedAt >= 900,
        `asked again ${(first! - stoppedAt).toFixed(0)} ms after it stopped`,
      );
      assert.ok(second! - first! >= 1_900, `then ${(second! - first!).toFixed(0)} ms later`);
      broken = false;
      await until("a leads partition 0 again", () => a.engine.leads(0));
      assert.deepEqual(value(await b.engine.attach(sent.invocationId)), 7);
    } finally {
      await stop();
    }
  });
  void it("a partition whose catch-up keeps failing is asked for again ever more slowly, not in a loop", async () => {
    const catchUps: number[] = [];
    const { a, stop } = await twoNodes(undefined, async (node, p) => {
      if (node !== "a" || p !== 0) return;
      catchUps.push(performance.now());
      throw new Error("no snapshot covers the gap");
    });
    try {
      await untilWithin(10_000, "catch-up tried three times", () => catchUps.length >= 3);
      const [x, y, z] = catchUps;
      assert.ok(
        y! - x! >= 900 && z! - y! >= 1_900,
        `tried at +0, +${(y! - x!).toFixed(0)}, +${(z! - x!).toFixed(0)} ms`,
      );
      assert.equal(a.engine.leads(0), false);
    } finally {
      await stop();
    }
  });

  void it("a write asked of a leader whose append is acknowledged late is done once: a repeat joins it", async () => {
    const { b, log, peers, stop } = await twoNodesLeading();
    try {
      const key = keyOn("Counter", 0, "p");
      // b asks a (partition 0's leader) to patch the key, expecting the empty state; a's append
      // is stored at once and acknowledged after b's try timed out (3 s), so b asks again.
      log.slowAppends = 1;
      log.delayMs = 3_500;
      const asked = peers.log.length;
      const patched = await b.engine.patchState(
        "Counter",
        key,
        [{ name: "count", value: enc(41) }],
        stateVersion([]),
      );
      assert.ok(
        peers.log.slice(asked).filter((x) => x.node === "b" && x.partition === 0).length >= 2,
        "b asked again",
      );
      assert.ok("ok" in patched, `the patch was answered ${JSON.stringify(patched)}`);
      const target = { service: "Counter", handler: "add", key };
      assert.deepEqual(value((await b.engine.call({ target, argument: enc(1) })).result), 42);

      // An idempotent send asked the same way is accepted, not "previously accepted" by itself.
      log.slowAppends = 1;
      const sent = await b.engine.send({ target, argument: enc(8), idempotencyKey: "late" });
      assert.equal(sent.previouslyAccepted, false);
      assert.deepEqual(value(await b.engine.attach(sent.invocationId)), 50);
    } finally {
      await stop();
    }
  });

  void it("a call whose Invoke is still being appended when its partition moves is answered, not 404", async () => {
    const { a, b, log, leadership, stop } = await twoNodesLeading();
    try {
      const key = keyOn("Slow", 0, "h");
      // Stored 4 s late: longer than a new leader says "not found" before it answers 404 (3 s).
      log.slowAppends = 1;
      log.delayMs = 4_000;
      log.storeLate = true;
      const call = a.engine.call({ target: { service: "Slow", handler: "run", key }, argument: enc(null) });
      await new Promise((r) => setTimeout(r, 50));
      leadership.move(0, "b");
      await until("b leads partition 0", () => b.engine.leads(0));
      await untilWithin(10_000, "the handler runs on b", () => gates.has(key));
      gates.get(key)!();
      assert.deepEqual(value((await call).result), `done ${key}`);
    } finally {
      gates.clear();
      await stop();
    }
  });

  void it("a request held for another node is answered when its partition moves, and the old leader stops asking", async () => {
    const { b, leadership, peers, stop } = await twoNodesLeading();
    try {
      const key = keyOn("Slow", 0, "o");
      // b's call waits on a, which leads partition 0; then partition 0 moves to b.
      const call = b.engine.call({ target: { service: "Slow", handler: "run", key }, argument: enc(null) });
      await until("the handler runs on a", () => gates.has(key));
      gates.delete(key);
      leadership.move(0, "b");
      await until("b leads partition 0", () => b.engine.leads(0));
      const movedAt = performance.now();
      await untilWithin(10_000, "the handler runs again on b", () => gates.has(key));
      await new Promise((r) => setTimeout(r, 1_000));
      const fromA = peers.log.filter((x) => x.node === "a" && x.partition === 0 && x.at > movedAt);
      assert.equal(fromA.length, 0, "a has no caller of its own: it asks nobody about the call");
      gates.get(key)!();
      assert.deepEqual(value((await call).result), `done ${key}`);
    } finally {
      gates.clear();
      await stop();
    }
  });
});
