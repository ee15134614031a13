// Proves the engine in cluster mode (followers: every partition followed, led when granted) keeps a caller's wait across a processor replacement: a partition's grant is revoked, its processor is stopped and replaced by a new follower that leads again; an idempotent send whose Invoke was appended but not yet applied when its processor was stopped (the log's reads held at a gate) waits on the replacement and answers, instead of failing with "the processor stopped". With a Leadership the test controls, a memory log and memory stores.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import { systemClock } from "../../packages/onelog/src/internal/clock.js";
import { silentLogger } from "../../packages/onelog/src/internal/ops/logger.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import type { Leadership, LeadershipGrant } from "../../packages/onelog/src/internal/partition/leadership.js";
import type { Log } from "../../packages/onelog/src/internal/log/log.js";

const greeter = onelog.service({
  name: "Greeter",
  handlers: { greet: async (_ctx: onelog.Context, name: string) => `hi ${name}` },
});

/** Grants at once, with growing epochs; the test revokes grants. */
class TestLeadership implements Leadership {
  readonly node = "n1";
  readonly grants = new Map<number, { grant: LeadershipGrant; revoke: AbortController }>();
  #epoch = 0;

  acquire(partition: number, signal: AbortSignal): Promise<LeadershipGrant> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const revoke = new AbortController();
    const grant: LeadershipGrant = {
      partition,
      epoch: ++this.#epoch,
      node: this.node,
      revoked: revoke.signal,
    };
    this.grants.set(partition, { grant, revoke });
    return Promise.resolve(grant);
  }

  release(grant: LeadershipGrant): Promise<void> {
    const held = this.grants.get(grant.partition);
    if (held?.grant === grant) held.revoke.abort(new Error("released"));
    return Promise.resolve();
  }
}

describe("Engine in cluster mode: a processor replaced under a waiting caller", () => {
  it("an idempotent send waiting on a processor that is stopped is answered by its replacement", async () => {
    const leadership = new TestLeadership();
    const memory = new MemoryLog({ partitions: 1 });
    // Reads wait at a gate the test closes: a record appended meanwhile is not applied.
    let gate: Promise<void> | undefined;
    const log: Log = {
      partitions: memory.partitions,
      append: (p, entries) => memory.append(p, entries),
      findTail: (p) => memory.findTail(p),
      trim: (p, lsn) => memory.trim(p, lsn),
      close: () => memory.close(),
      read: (p, from, signal) =>
        (async function* () {
          const aborted = new Promise<void>((r) =>
            signal.addEventListener("abort", () => r(), { once: true }),
          );
          for await (const batch of memory.read(p, from, signal)) {
            while (gate !== undefined && !signal.aborted) await Promise.race([gate, aborted]);
            if (signal.aborted) return;
            yield batch;
          }
        })(),
    };
    const store = new MemoryStore(0);
    const engine = await Engine.start({
      followers: true,
      log,
      storeFor: () => store,
      leadership,
      clock: systemClock,
      logger: silentLogger,
      services: [greeter],
    });
    try {
      const leads = async () => {
        for (let i = 0; i < 400 && !engine.processors[0]!.isLeader; i++)
          await new Promise((r) => setTimeout(r, 5));
        assert.ok(engine.processors[0]!.isLeader, "the partition is led");
      };
      await leads();
      const first = engine.processors[0]!;
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      // The Invoke is appended, and the send waits for it to be applied by `first`...
      const sent = engine.send({
        target: { service: "Greeter", handler: "greet" },
        argument: new TextEncoder().encode('"Al"'),
        idempotencyKey: "k1",
      });
      sent.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 30));
      // ...when the partition moves: `first` is deposed, stopped and replaced.
      leadership.grants.get(0)!.revoke.abort(new Error("moved"));
      for (let i = 0; i < 400 && engine.processors[0] === first; i++)
        await new Promise((r) => setTimeout(r, 5));
      assert.notEqual(engine.processors[0], first, "the processor was replaced");
      gate = undefined;
      open();
      const { invocationId, previouslyAccepted } = await sent;
      assert.equal(previouslyAccepted, false);
      await leads();
      const result = await engine.attach(invocationId);
      assert.ok(result !== undefined && "ok" in result, JSON.stringify(result));
      assert.equal(new TextDecoder().decode(result.ok), '"hi Al"');
    } finally {
      gate = undefined;
      await engine.stop();
    }
  });
});
