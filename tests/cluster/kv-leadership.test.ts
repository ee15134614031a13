// Proves the KV-lease leadership keeps the Leadership contract (leadership.ts invariants 1–3) by running the same conformance suite as the embedded one against real nats-server processes (R1 and R3 buckets), then what a cluster needs on top: partitions spread evenly over live nodes, moved when a node joins (no more than necessary) or dies (after its lease runs out, with higher epochs), a lease written by someone else revoking its holder at once, and a renewal stored whose PubAck was lost (a timeout) not deposing its holder: the watch or a read-back adopts the holder's own revision.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setMaxListeners } from "node:events";
import {
  connect,
  TimeoutError,
  type Msg,
  type NatsConnection,
  type Payload,
  type RequestOptions,
  type SubscriptionOptions,
} from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KvEntry } from "@nats-io/kv";
import {
  KvLeadership,
  type KvLeadershipOptions,
  type LeadershipEvent,
} from "../../packages/nats/src/index.js";
import { publishIfLast } from "../../packages/nats/src/internal/cas.js";
import type { LeadershipGrant } from "../../packages/onelog/src/internal/partition/leadership.js";
import { leadershipConformance, type Subject } from "../integration/leadership-conformance-suite.js";
import { natsSkip, startNats, type NatsCluster } from "./nats-harness.js";

const skip = natsSkip();
let buckets = 0;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Short leases, so expiry shows within a test. */
const FAST = { leaseMs: 1500, renewEveryMs: 300, joinGraceMs: 0 } as const;
/**
 * The placement tests' leases: long enough that a stall of a loaded machine (seconds) costs no
 * lease, so the partitions that move are the ones placement moves; expiry still shows in a test.
 */
const PLACED = { leaseMs: 6000, renewEveryMs: 1000, joinGraceMs: 0 } as const;

/** Waits until `done()`, at most `timeoutMs`; fails saying what it waited for. */
async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

for (const servers of [1, 3] as const) {
  void describe(
    `KvLeadership on ${servers} nats-server${servers === 1 ? " (R1)" : "s (R3)"}`,
    { skip },
    () => {
      let nats: NatsCluster;
      let nc: NatsConnection;
      const opened: KvLeadership[] = [];
      before(async () => {
        nats = await startNats({ servers });
        nc = await connect({ servers: nats.urls });
      });
      after(async () => {
        for (const l of opened) await l.close();
        await nc?.close();
        await nats?.stop();
      });
      leadershipConformance(`KvLeadership R${servers}`, (): Subject => {
        const bucket = `conf_${process.pid}_${++buckets}`;
        const known = new Map<number, number>();
        const build = () => {
          const l = new KvLeadership({
            connection: nc,
            node: "n1",
            partitions: 8,
            bucket,
            replicas: servers,
            lastEpoch: (p) => known.get(p) ?? 0,
            ...FAST,
          });
          opened.push(l);
          return l;
        };
        let leadership = build();
        return {
          get leadership() {
            return leadership;
          },
          restart: () => (leadership = build()),
          dataKnows: (p, epoch) => void known.set(p, epoch),
          revoke: (p) => leadership.revoke(p),
        };
      });
    },
  );
}

void describe(
  "KvLeadership: placement over live nodes (3 nats-servers, R3 bucket)",
  { skip, timeout: 120_000 },
  () => {
    let nats: NatsCluster;
    const connections: NatsConnection[] = [];
    const leaderships: KvLeadership[] = [];
    before(async () => {
      nats = await startNats({ servers: 3 });
    });
    after(async () => {
      for (const l of leaderships) await l.close();
      for (const nc of connections) if (!nc.isClosed()) await nc.close();
      await nats?.stop();
    });

    const PARTITIONS = 12;

    /** A node: its own connection, a leadership, and a loop that wants every partition. */
    async function node(bucket: string, id: string, extra: Partial<KvLeadershipOptions> = {}) {
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const leadership = await KvLeadership.start({
        connection: nc,
        node: id,
        partitions: PARTITIONS,
        bucket,
        replicas: 3,
        lastEpoch: () => 0,
        ...PLACED,
        ...extra,
      });
      leaderships.push(leadership);
      const grants: LeadershipGrant[] = [];
      /** When each grant started and ended, on this process's clock. */
      const times = new Map<LeadershipGrant, { from: number; to?: number }>();
      const stop = new AbortController();
      // One listener per partition's acquire, as on the engine's stop signal (engine.ts).
      setMaxListeners(10 + PARTITIONS, stop.signal);
      // As the engine does: ask for every partition, and again whenever a grant ends.
      for (let p = 0; p < PARTITIONS; p++) {
        void (async () => {
          while (!stop.signal.aborted) {
            let grant: LeadershipGrant;
            try {
              grant = await leadership.acquire(p, stop.signal);
            } catch {
              return;
            }
            grants.push(grant);
            const span: { from: number; to?: number } = { from: performance.now() };
            times.set(grant, span);
            await new Promise((r) => grant.revoked.addEventListener("abort", r, { once: true }));
            span.to = performance.now();
          }
        })();
      }
      return { id, nc, leadership, grants, times, stop: () => stop.abort() };
    }

    type Node = Awaited<ReturnType<typeof node>>;

    /** Waits until the nodes hold these many partitions each (and every partition once). */
    async function settle(
      nodes: Node[],
      counts: number[],
      timeoutMs = 20_000,
    ): Promise<Map<string, number[]>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const held = new Map(nodes.map((n) => [n.id, [...n.leadership.held.keys()].sort((a, b) => a - b)]));
        const all = [...held.values()].flat().sort((a, b) => a - b);
        const sizes = nodes.map((n) => held.get(n.id)!.length);
        if (
          JSON.stringify(sizes) === JSON.stringify(counts) &&
          JSON.stringify(all) === JSON.stringify(Array.from({ length: PARTITIONS }, (_, i) => i))
        ) {
          return held;
        }
        if (Date.now() > deadline) assert.fail(`not settled: ${JSON.stringify(Object.fromEntries(held))}`);
        await sleep(50);
      }
    }

    void it("spreads partitions evenly, moves no more than necessary when a node joins, and moves a dead node's partitions after its lease with higher epochs", async (t) => {
      const bucket = `place_${process.pid}`;
      const a = await node(bucket, "a");
      const b = await node(bucket, "b");
      const two = await settle([a, b], [6, 6]);
      const epochsBefore = new Map([...a.leadership.held, ...b.leadership.held]);

      const joinedAt = Date.now();
      const c = await node(bucket, "c");
      const three = await settle([a, b, c], [4, 4, 4]);
      t.diagnostic(`node c joined: 4 partitions each after ${Date.now() - joinedAt} ms`);
      for (const id of ["a", "b"]) {
        const kept = three.get(id)!.filter((p) => two.get(id)!.includes(p));
        assert.equal(kept.length, 4, `${id} kept 4 of its 6 partitions: only 2 moved from it`);
      }
      for (const p of three.get("c")!) {
        assert.ok(
          c.leadership.held.get(p)! > epochsBefore.get(p)!,
          `partition ${p} moved with a higher epoch`,
        );
      }

      // Node b dies: its connection goes away without a word (no release, no goodbye).
      const bHeld = new Map(b.leadership.held);
      const revoked = b.grants.filter((g) => !g.revoked.aborted);
      const diedAt = Date.now();
      b.stop();
      await b.nc.close();
      const after = await settle([a, c], [6, 6], 20_000);
      const movedMs = Date.now() - diedAt;
      t.diagnostic(
        `node b died holding ${bHeld.size}: a and c hold 6 each ${movedMs} ms later (lease ${PLACED.leaseMs} ms, renewed every ${PLACED.renewEveryMs} ms)`,
      );
      // Others count the lease from when they saw b's last renewal, at most one interval before b died.
      assert.ok(movedMs >= PLACED.leaseMs - PLACED.renewEveryMs, "not before b's lease ran out");
      await until(
        "the dead node's own grants ended too (its renewals failed for a whole lease)",
        () => revoked.every((g) => g.revoked.aborted),
        5000,
      );
      for (const [p, epoch] of bHeld) {
        const now = a.leadership.held.get(p) ?? c.leadership.held.get(p);
        assert.ok(now !== undefined && now > epoch, `partition ${p}: new epoch ${now} > ${epoch}`);
        const old = revoked.find((g) => g.partition === p)!;
        const successor = [...a.grants, ...c.grants].find((g) => g.partition === p && g.epoch === now)!;
        const ended = b.times.get(old)!.to!;
        const began = (a.times.get(successor) ?? c.times.get(successor))!.from;
        assert.ok(
          ended <= began,
          `partition ${p}: b stopped leading (${ended.toFixed(0)}) before the next leader began (${began.toFixed(0)})`,
        );
      }
      assert.deepEqual([...after.get("a")!, ...after.get("c")!].sort((x, y) => x - y).length, PARTITIONS);
      a.stop();
      c.stop();
    });

    void it("hands partitions to a joining node only once its join grace is over: no partition goes without a leader meanwhile", async (t) => {
      const bucket = `grace_${process.pid}`;
      const GRACE = { joinGraceMs: 2000 } as const;
      const a = await node(bucket, "a", GRACE);
      await settle([a], [PARTITIONS]);
      const joinedAt = performance.now();
      const b = await node(bucket, "b", GRACE);
      await settle([a, b], [6, 6]);
      const gaps: number[] = [];
      for (const grant of b.grants) {
        const old = a.grants.find((g) => g.partition === grant.partition && g.revoked.aborted)!;
        gaps.push(b.times.get(grant)!.from - a.times.get(old)!.to!);
      }
      const firstMoveMs = Math.min(...b.grants.map((g) => b.times.get(g)!.from)) - joinedAt;
      t.diagnostic(
        `b joined (join grace ${GRACE.joinGraceMs} ms): its first partition after ${firstMoveMs.toFixed(0)} ms; ` +
          `each moved partition was without a leader for ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`,
      );
      assert.ok(
        gaps.every((g) => g >= 0 && g < GRACE.joinGraceMs / 2),
        "a moved partition's next leader begins right after the old one ended, not a join grace later",
      );
      a.stop();
      b.stop();
    });

    void it("closed while still starting, leaves no heartbeat or timer behind", async () => {
      const bucket = `early_${process.pid}`;
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const leadership = new KvLeadership({
        connection: nc,
        node: "early",
        partitions: PARTITIONS,
        bucket,
        lastEpoch: () => 0,
        ...FAST,
      });
      await leadership.close(); // before its start finished
      await sleep(3 * FAST.renewEveryMs);
      const kv = await new Kvm(nc).open(bucket);
      const heartbeat = await kv.get("node.early");
      assert.ok(
        heartbeat === null || heartbeat.operation !== "PUT",
        "its heartbeat is gone, and not written again",
      );
    });

    void it("revokes the holder at once when another writer takes its lease by compare-and-set", async () => {
      const bucket = `steal_${process.pid}`;
      const a = await node(bucket, "a");
      await settle([a], [PARTITIONS]);
      const grant = a.grants.find((g) => g.partition === 3 && !g.revoked.aborted)!;
      const nc = await connect({ servers: nats.urls });
      connections.push(nc);
      const kv = await new Kvm(nc).open(bucket);
      const entry = await kv.get("lease.3");
      await kv.update(
        "lease.3",
        JSON.stringify({ node: "intruder", incarnation: "x", base: 0 }),
        entry!.revision,
      );
      // At once, not when the lease would have run out.
      await until("the holder stopped leading", () => grant.revoked.aborted, PLACED.leaseMs / 2);
      // The intruder never renews: after its lease runs out, a takes partition 3 back, with a higher epoch.
      const back = await settle([a], [PARTITIONS], PLACED.leaseMs + 10_000);
      assert.ok(back.get("a")!.includes(3));
      assert.ok(a.leadership.held.get(3)! > grant.epoch);
      a.stop();
    });
  },
);

/**
 * A connection for one leadership that can lose the PubAck of its next publish to `subject` (the
 * write is stored; the request then fails with a timeout, as when the ack is lost on the way or a
 * server dies before answering), and hold back what its subscriptions deliver (a watch lagging
 * under load). `replies` are the PubAcks JetStream sent for `subject`, lost ones included.
 */
function lossy(nc: NatsConnection, subject: string) {
  const state = {
    loseNext: false,
    lost: [] as number[],
    replies: [] as { seq?: number; duplicate?: boolean; error?: unknown }[],
    /** Lease messages the watch got (held back ones once delivered). */
    delivered: 0,
    held: undefined as (() => void)[] | undefined,
  };
  const connection = new Proxy(nc, {
    get(target, prop) {
      if (prop === "request") {
        return async (s: string, data?: Payload, opts?: RequestOptions): Promise<Msg> => {
          const reply = await target.request(s, data, opts);
          if (s !== subject) return reply;
          const ack = reply.json<{ seq?: number; duplicate?: boolean; error?: unknown }>();
          state.replies.push(ack);
          if (state.loseNext && ack.seq !== undefined && ack.duplicate !== true) {
            state.loseNext = false;
            state.lost.push(ack.seq);
            throw new TimeoutError();
          }
          return reply;
        };
      }
      if (prop === "subscribe") {
        return (s: string, opts: SubscriptionOptions = {}) => {
          const callback = opts.callback;
          if (callback === undefined) return target.subscribe(s, opts);
          const deliver = (err: Error | null, msg: Msg): void => {
            if (msg?.subject === subject) state.delivered++;
            void callback(err, msg);
          };
          return target.subscribe(s, {
            ...opts,
            callback: (err, msg) => {
              if (state.held === undefined) deliver(err, msg);
              else state.held.push(() => deliver(err, msg));
            },
          });
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const deliverHeld = (): void => {
    const held = state.held ?? [];
    state.held = undefined;
    for (const deliver of held) deliver();
  };
  return { connection, state, deliverHeld };
}

/** How many of `subject`'s publishes were stored since reply number `mark` (lost acks included). */
function storedSince(state: ReturnType<typeof lossy>["state"], mark: number): number {
  return state.replies.slice(mark).filter((r) => r.seq !== undefined && r.duplicate !== true).length;
}

void describe("KvLeadership: a renewal stored whose PubAck was lost (1 nats-server)", { skip }, () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  const opened: KvLeadership[] = [];
  before(async () => {
    nats = await startNats({ servers: 1 });
    nc = await connect({ servers: nats.urls });
  });
  after(async () => {
    for (const l of opened) await l.close();
    await nc?.close();
    await nats?.stop();
  });

  async function holder(bucket: string, timing: { leaseMs: number; renewEveryMs: number }) {
    const subject = `$KV.${bucket}.lease.0`;
    const { connection, state, deliverHeld } = lossy(nc, subject);
    const events: LeadershipEvent[] = [];
    const leadership = await KvLeadership.start({
      connection,
      node: "n1",
      partitions: 1,
      bucket,
      lastEpoch: () => 0,
      joinGraceMs: 0,
      ...timing,
      onEvent: (e) => events.push(e),
    });
    opened.push(leadership);
    const grant = await leadership.acquire(0, new AbortController().signal);
    const kv = await new Kvm(nc).open(bucket);
    return { leadership, grant, events, kv, subject, state, deliverHeld };
  }

  void it("keeps its grant when the lease is one revision past the holder's with the holder's own value (the watch adopts it)", async () => {
    const { leadership, grant, events, kv, subject, state } = await holder(`ack_watch_${process.pid}`, {
      leaseMs: 6000, // no stall of a loaded machine runs it out
      renewEveryMs: 500,
    });
    // What a renewal whose PubAck timed out leaves behind: the same value, stored by
    // compare-and-set on the revision the holder knows (and with the message id it would use).
    // (Again if a renewal got to that revision first.)
    let entry: KvEntry;
    let stored: number | undefined;
    for (let tries = 0; stored === undefined; tries++) {
      assert.ok(tries < 5, "the rewrite never got in between two renewals");
      entry = (await kv.get("lease.0"))!;
      stored = await publishIfLast(jetstream(nc), subject, entry.string(), entry.revision);
    }
    const mark = state.replies.length;
    await until(
      "two renewals after the rewrite, or the grant ended",
      () => grant.revoked.aborted || storedSince(state, mark) >= 2,
    );
    assert.equal(grant.revoked.aborted, false, `grant ended: ${String(grant.revoked.reason)}`);
    assert.deepEqual(
      events.map((e) => e.type),
      ["taken"],
    );
    assert.equal(leadership.held.get(0), grant.epoch, "the same grant, the same epoch");
    const now = (await kv.get("lease.0"))!;
    assert.ok(now.revision > stored, `renewed on past the adopted revision ${stored}: at ${now.revision}`);
    assert.equal(now.string(), entry!.string(), "by the holder (its incarnation)");
  });

  void it("keeps its grant when a renewal's PubAck is lost while the watch lags: the next renewal loses its compare-and-set, reads the lease back, and renews on the revision it finds", async () => {
    const { grant, events, kv, state, deliverHeld } = await holder(`ack_read_${process.pid}`, {
      leaseMs: 6000, // no stall of a loaded machine runs it out
      renewEveryMs: 500,
    });
    state.held = []; // the watch shows nothing until the next renewal is done
    state.loseNext = true;
    await until("a renewal stored with its PubAck lost", () => state.lost.length === 1);
    const mark = state.replies.length;
    await until(
      "the next renewal stored, or the grant ended",
      () => grant.revoked.aborted || storedSince(state, mark) >= 1,
    );
    deliverHeld();
    assert.equal(grant.revoked.aborted, false, `grant ended: ${String(grant.revoked.reason)}`);
    assert.deepEqual(
      state.replies
        .slice(mark, mark + 2)
        .map((r) => (r.duplicate ? "duplicate" : r.error ? "error" : "stored")),
      ["duplicate", "stored"],
      "the retry on the old revision was the lost write's duplicate; the one on the revision read back was stored",
    );
    await until(
      "two more renewals, or the grant ended",
      () => grant.revoked.aborted || storedSince(state, mark) >= 3,
    );
    assert.equal(grant.revoked.aborted, false, `grant ended: ${String(grant.revoked.reason)}`);
    assert.deepEqual(
      events.map((e) => e.type),
      ["taken"],
    );
    assert.ok((await kv.get("lease.0"))!.revision > state.lost[0]! + 1, "renewals go on");
  });

  void it("a release right after a renewal whose PubAck was lost frees the lease at once (it writes on the revision the watch showed)", async () => {
    // Renewals 3 s apart: none runs between the lost one and the release.
    const { leadership, grant, kv, state } = await holder(`ack_release_${process.pid}`, {
      leaseMs: 9000,
      renewEveryMs: 3000,
    });
    state.loseNext = true;
    await until("a renewal stored with its PubAck lost", () => state.lost.length === 1);
    await until("the watch showed it", () => state.delivered >= storedSince(state, 0));
    await sleep(100); // the watch's loop records it (microtasks: they run before this timer)
    const mark = state.replies.length;
    await leadership.release(grant);
    assert.equal(state.replies.length, mark + 1, "only the release wrote (no renewal in between)");
    const lease = (await kv.get("lease.0"))!;
    assert.equal(lease.json<{ node: string | null }>().node, null, `released: ${lease.string()}`);
  });
});
