/**
 * The deterministic simulator (docs/architecture.md): the whole engine — log, processors, apply,
 * invoker, timers, SDK — on virtual time and one seeded random source. It injects crashes
 * (losing every log write not yet flushed, and sometimes the store's commits since its last
 * checkpoint), random flush delays and timer skew, then lets the faults heal and checks:
 *
 *   I1 every client request completes, with the right output;
 *   I2 an idempotency key's answer never changes once acknowledged (one invocation per key);
 *   I3 no step body runs after its result was acknowledged to the handler;
 *   I4 replaying the whole log into empty stores gives exactly the live stores (exactly-once
 *      materialization);
 *   I5 no partition stopped on a broken invariant;
 *   I6 objects stay serial: two invocations never run an exclusive handler of one key at once;
 *   I7 money is conserved: transfers between Acct objects (cross-partition calls with sleeps in
 *      between) leave every balance at the sum of its completed deltas, and the total at zero;
 *   I8 history is tidy: every journal belongs to an invocation that is kept, every cleanup timer
 *      to a completed one, and no completed invocation outlives its retention (a third of the
 *      seeds run with a journal retention of a few virtual seconds, so the cleaners run among
 *      the crashes).
 *
 * Outbox shipments are sometimes delivered twice, as by a zombie leader; acks and notifications
 * reach the invoker late and reordered.
 * Half the seeds also run in suspend-always mode (every await that waits for a completion
 * suspends the attempt and resumes it by replay).
 *
 * Same seed, same run: the result carries a fingerprint of the log to show it.
 */
import { createHash } from "node:crypto";
import * as onelog from "onelog";
import { apply } from "../../packages/onelog/src/internal/partition/apply.js";
import { Engine } from "../../packages/onelog/src/internal/engine.js";
import { silentLogger } from "../../packages/onelog/src/internal/ops/logger.js";
import { MemoryLog } from "../../packages/onelog/src/internal/log/memory-log.js";
import { decodeRecord } from "../../packages/onelog/src/internal/partition/codec.js";
import { EmbeddedLeadership } from "../../packages/onelog/src/internal/partition/leadership.js";
import { ProcessorStoppedError } from "../../packages/onelog/src/internal/partition/processor.js";
import type { LogRecord } from "../../packages/onelog/src/internal/partition/records.js";
import type { StoredEntry } from "../../packages/onelog/src/internal/log/log.js";
import { MemoryStore } from "../../packages/onelog/src/internal/partition/store/memory-store.js";
import { VirtualClock } from "./virtual-clock.js";

/** A small fast PRNG (mulberry32): the simulator's only source of randomness. */
export class SimRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export interface SimOptions {
  readonly seed: number;
  readonly partitions?: number;
  /** Client requests (idempotency keys). */
  readonly requests?: number;
  /** Crashes injected before the faults heal. */
  readonly crashes?: number;
  /** Virtual ms during which faults happen. */
  readonly faultWindowMs?: number;
  /** Suspend at every await (default: on for even seeds). */
  readonly suspendAlways?: boolean;
  /** The engine's default journal retention (default: 0.1–1.9 s for seeds divisible by 3, else 24 h). */
  readonly journalRetentionMs?: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: string[];
  readonly crashes: number;
  readonly storeReverts: number;
  readonly completed: number;
  readonly stepReruns: number;
  readonly records: number;
  readonly virtualMs: number;
  readonly fingerprint: string;
}

interface Process {
  readonly id: number;
  engine: Engine | undefined;
  dead: boolean;
}

/** Lets every pending promise settle: a macrotask runs only after all microtasks drained. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs one simulation; never throws for a violation — it reports them. */
export async function simulate(options: SimOptions): Promise<SimResult> {
  const seed = options.seed;
  const rnd = new SimRandom(seed);
  const partitions = options.partitions ?? 1 + (seed % 4);
  const suspendAlways = options.suspendAlways ?? seed % 2 === 0;
  const requests = options.requests ?? 24;
  const crashesPlanned = options.crashes ?? 2 + (seed % 5);
  const faultWindowMs = options.faultWindowMs ?? 3_000;
  // From the seed, not from rnd: the other seeds' runs stay what they were.
  const journalRetentionMs =
    options.journalRetentionMs ?? (seed % 3 === 0 ? 100 + (seed % 7) * 300 : undefined);
  const clock = new VirtualClock();
  const violations: string[] = [];
  const violate = (v: string) => {
    if (violations.length < 20) violations.push(v);
  };

  // The "disk": the log (loses unflushed proposals on crash) and the stores, with checkpoints.
  let owner = 0;
  const log = new MemoryLog({
    partitions,
    // Group-commit flushes happen after a random delay: now, or 1–15 virtual ms (a slow fsync).
    scheduler: { defer: (fn) => clock.schedule(owner, rnd.chance(0.5) ? 0 : rnd.int(1, 15), fn) },
  });
  let stores = Array.from({ length: partitions }, (_, p) => new MemoryStore(p));
  let checkpoints = stores.map((s) => s.copy());
  // Leadership outlives crashes, as its epoch file does: epochs only grow across restarts.
  const leadership = new EmbeddedLeadership({ lastEpoch: (p) => stores[p]!.getLeaderEpoch() });

  // The world outside the engine: what step bodies did, and what handlers saw acknowledged.
  const executions = new Map<string, number>();
  const acked = new Set<string>();
  let stepReruns = 0;
  const failOnce = new Set<string>();

  const work = onelog.service({
    name: "Work",
    handlers: {
      run: async (ctx: onelog.Context, input: { key: string; steps: number }) => {
        let sum = 0;
        for (let i = 0; i < input.steps; i++) {
          const step = `${input.key}/s${i}`;
          const v = await ctx.run(`s${i}`, async () => {
            // Steps take virtual time, so crashes land inside them too.
            const proc = current;
            if (proc !== undefined && rnd.chance(0.5)) {
              await new Promise<void>((resolve) => clock.schedule(proc.id, rnd.int(1, 20), resolve));
            }
            if (acked.has(step)) violate(`I3: step ${step} ran again after its result was acknowledged`);
            const n = (executions.get(step) ?? 0) + 1;
            executions.set(step, n);
            if (n > 1) stepReruns++;
            // Some steps fail once with a retryable error: the attempt is retried with backoff.
            if (!failOnce.has(step) && rnd.chance(0.1)) {
              failOnce.add(step);
              throw new Error(`flaky ${step}`);
            }
            return i + 1;
          });
          acked.add(step);
          sum += v;
        }
        return { key: input.key, sum };
      },
    },
  });

  // Objects stay serial (I6): which invocation runs an exclusive handler of each key now.
  const running = new Map<string, string>();
  const acct = onelog.object({
    name: "Acct",
    handlers: {
      add: async (ctx: onelog.ObjectContext, delta: number) => {
        const me = ctx.request().id;
        const other = running.get(ctx.key);
        if (other !== undefined && other !== me)
          violate(`I6: Acct/${ctx.key} ran ${me} while ${other} held it`);
        running.set(ctx.key, me);
        const balance = (await ctx.get<number>("balance")) ?? 0;
        // Handlers branch only on journaled randomness (ctx.rand), or replays would diverge.
        if (ctx.rand.random() < 0.3) await ctx.sleep(1 + Math.floor(ctx.rand.random() * 30));
        ctx.set("balance", balance + delta);
        ctx.set("ops", ((await ctx.get<number>("ops")) ?? 0) + 1);
        if (running.get(ctx.key) === me) running.delete(ctx.key);
        return balance + delta;
      },
    },
  });
  const mover = onelog.service({
    name: "Mover",
    handlers: {
      move: async (ctx: onelog.Context, m: { key: string; from: string; to: string; amount: number }) => {
        await ctx.objectClient<typeof acct>({ name: "Acct" }, m.from).add(-m.amount);
        if (ctx.rand.random() < 0.3) await ctx.sleep(1 + Math.floor(ctx.rand.random() * 50));
        await ctx.objectClient<typeof acct>({ name: "Acct" }, m.to).add(m.amount);
        return { key: m.key, moved: m.amount };
      },
    },
  });

  const processes: Process[] = [];
  let current: Process | undefined;
  let crashes = 0;
  let storeReverts = 0;

  const boot = async () => {
    owner++;
    const proc: Process = { id: owner, engine: undefined, dead: false };
    processes.push(proc);
    current = proc;
    const skew = rnd.int(-50, 50);
    const engine = await Engine.start({
      log,
      storeFor: (p) => stores[p]!,
      leadership,
      clock: clock.view(proc.id, skew),
      // Invocation ids from the seed too, so a failing seed replays the same run.
      random: {
        hex: (bytes) =>
          Array.from({ length: bytes }, () => rnd.int(0, 255).toString(16).padStart(2, "0")).join(""),
      },
      logger: silentLogger,
      services: [work, acct, mover],
      console: silentConsole,
      suspendAlways,
      ...(journalRetentionMs === undefined ? {} : { defaultJournalRetentionMs: journalRetentionMs }),
      // Some shipments arrive twice (a zombie leader, a retried append): dedup must drop them.
      faults: {
        duplicateShipment: () => (rnd.chance(0.2) ? rnd.int(0, 300) : undefined),
        // Acks and notifications reach the invoker late and out of order.
        delayInvokerTraffic: () => (rnd.chance(0.3) ? rnd.int(0, 40) : undefined),
      },
    }).catch((e: unknown) => {
      if (!proc.dead) violate(`I5: engine failed to start: ${String(e)}`);
      return undefined;
    });
    if (engine === undefined) return;
    if (proc.dead) return;
    proc.engine = engine;
    for (const p of engine.processors) {
      void p.waitApplied(Number.MAX_SAFE_INTEGER).catch((e: unknown) => {
        // Stopped on request (the run ended) is not a broken invariant.
        if (!proc.dead && !(e instanceof ProcessorStoppedError))
          violate(`I5: partition ${p.partition} stopped: ${String(e)}`);
      });
    }
  };

  const crash = () => {
    const proc = current;
    if (proc === undefined) return;
    crashes++;
    running.clear(); // the dead process's handlers stopped with it
    proc.dead = true;
    clock.kill(proc.id);
    log.crash();
    // With synchronous=NORMAL a crash may lose the store's commits since the last checkpoint.
    if (rnd.chance(0.3)) {
      stores = checkpoints.map((c) => c.copy());
      storeReverts++;
    }
    current = undefined;
  };

  // Clients: each key is requested, and re-requested after every crash until answered.
  const answers = new Map<string, string>();
  const expected = new Map<string, string>();
  const requestKey = (key: string, steps: number) => {
    const mv = moves.get(key);
    const proc = current;
    const engine = proc?.engine;
    if (process.env.SIM_TRACE)
      console.log(`request ${key} at ${clock.now()} ${engine === undefined ? "(no engine)" : ""}`);
    if (engine === undefined || proc === undefined) return;
    const argument = Buffer.from(JSON.stringify(mv ?? { key, steps }));
    const target =
      mv === undefined ? { service: "Work", handler: "run" } : { service: "Mover", handler: "move" };
    engine
      .call({ target, argument, idempotencyKey: key })
      .then(({ result }) => {
        if (proc.dead) return; // the answer of a crashed process never reached the client
        const text = "ok" in result ? Buffer.from(result.ok).toString() : `error ${result.err.message}`;
        const before = answers.get(key);
        if (before !== undefined && before !== text)
          violate(`I2: key ${key} answered ${before} then ${text}`);
        answers.set(key, text);
        if (process.env.SIM_TRACE) console.log(`answered ${key} at ${clock.now()}`);
      })
      .catch((e: unknown) => {
        if (!proc.dead) violate(`client ${key}: ${String(e)}`);
      });
  };
  const moves = new Map<string, { key: string; from: string; to: string; amount: number }>();
  const accounts = ["a", "b", "c", "d", "e", "f"];
  const keys = Array.from({ length: requests }, (_, i) => {
    const steps = rnd.int(1, 4);
    const key = `k${i}`;
    if (rnd.chance(0.5)) {
      const from = accounts[rnd.int(0, accounts.length - 1)]!;
      let to = accounts[rnd.int(0, accounts.length - 1)]!;
      if (to === from) to = accounts[(accounts.indexOf(from) + 1) % accounts.length]!;
      const amount = rnd.int(1, 100);
      moves.set(key, { key, from, to, amount });
      expected.set(key, JSON.stringify({ key, moved: amount }));
    } else {
      expected.set(key, JSON.stringify({ key, sum: (steps * (steps + 1)) / 2 }));
    }
    return { key, steps, at: rnd.int(0, faultWindowMs) };
  });
  const crashTimes = Array.from({ length: crashesPlanned }, () => rnd.int(50, faultWindowMs)).sort(
    (a, b) => a - b,
  );

  // Booting needs virtual time to pass (log flushes), so the clock runs while it boots.
  const bootAndRun = async () => {
    let booted = false;
    void boot().finally(() => (booted = true));
    for (let i = 0; !booted && i < 100_000; i++) {
      await settle();
      if (!booted && !clock.step()) await settle();
    }
  };
  const start = clock.now();
  await bootAndRun();
  // The fault window: requests arrive, the process crashes and restarts, stores checkpoint.
  const events: { at: number; kind: "request" | "crash" | "checkpoint"; i: number }[] = [
    ...keys.map((k, i) => ({ at: k.at, kind: "request" as const, i })),
    ...crashTimes.map((at, i) => ({ at, kind: "crash" as const, i })),
    ...Array.from({ length: 6 }, (_, i) => ({
      at: rnd.int(0, faultWindowMs),
      kind: "checkpoint" as const,
      i,
    })),
  ].sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind) || a.i - b.i);
  for (const ev of events) {
    await runUntil(clock, start + ev.at);
    if (ev.kind === "request") requestKey(keys[ev.i]!.key, keys[ev.i]!.steps);
    else if (ev.kind === "checkpoint") checkpoints = stores.map((s) => s.copy());
    else {
      crash();
      await settle();
      await runFor(clock, rnd.int(1, 200));
      await bootAndRun();
      // Clients retry everything not yet answered.
      for (const k of keys)
        if (!answers.has(k.key) && start + k.at <= clock.now()) requestKey(k.key, k.steps);
    }
  }
  // Faults heal: no more crashes. Run until every key is answered (bounded virtual time).
  const deadline = clock.now() + 600_000;
  for (;;) {
    await settle();
    if (answers.size >= keys.length || clock.now() >= deadline) break;
    if (!clock.step()) {
      // Nothing scheduled and still unanswered: clients retry once more, then give it time.
      for (const k of keys) if (!answers.has(k.key)) requestKey(k.key, k.steps);
      await settle();
      if (!clock.step()) break;
    }
  }
  await settle();
  const healedMs = clock.now() - start;

  // I1
  for (const k of keys) {
    const got = answers.get(k.key);
    if (got === undefined) {
      violate(`I1: key ${k.key} never completed`);
      if (process.env.SIM_TRACE !== undefined) {
        for (const st of stores) {
          for (const [id, status] of (st.dump() as { status: [string, unknown][] }).status) {
            const x = status as {
              state: string;
              target: unknown;
              sinks?: unknown;
              waitingOn?: unknown;
              idempotencyKey?: string;
            };
            if (x.state !== "completed") console.log("unfinished", st.partition, id, JSON.stringify(x));
          }
          console.log(
            "partition",
            st.partition,
            "outbox",
            JSON.stringify(st.listOutbox(0, 100).map((r) => r.seq)),
          );
        }
      }
    } else if (got !== expected.get(k.key))
      violate(`I1: key ${k.key} answered ${got}, expected ${expected.get(k.key)}`);
  }
  // I2 after all: asking again gives the same answer.
  for (const k of keys.slice(0, 3)) requestKey(k.key, k.steps);
  for (let i = 0; i < 50 && clock.step(); i++) await settle();
  await settle();

  // I7: balances are the sums of the completed moves' deltas; the total is zero.
  const wantBalance = new Map<string, number>();
  for (const m of moves.values()) {
    wantBalance.set(m.from, (wantBalance.get(m.from) ?? 0) - m.amount);
    wantBalance.set(m.to, (wantBalance.get(m.to) ?? 0) + m.amount);
  }
  let total = 0;
  for (const a of accounts) {
    let got = 0;
    for (const st of stores) {
      const v = st.getState("Acct", a, "balance");
      if (v !== undefined) got = JSON.parse(Buffer.from(v).toString()) as number;
    }
    total += got;
    if (got !== (wantBalance.get(a) ?? 0))
      violate(`I7: Acct/${a} balance ${got}, expected ${wantBalance.get(a) ?? 0}`);
  }
  if (total !== 0) violate(`I7: balances sum to ${total}, expected 0`);

  // I8: journals and cleanup timers belong to kept invocations; none is kept past its retention.
  for (const st of stores) {
    const d = st.dump() as {
      status: [string, { state: string; completedAt?: number; retentionMs: number }][];
      journal: [string, unknown][];
      timers: [string, { dueAt: number; key: { kind: string; invocationId: string } }][];
    };
    const status = new Map(d.status);
    for (const [id] of d.journal) if (!status.has(id)) violate(`I8: journal of ${id} without its invocation`);
    for (const [, t] of d.timers) {
      if (t.key.kind !== "cleanup" && t.key.kind !== "journal_cleanup") continue;
      if (status.get(t.key.invocationId)?.state !== "completed")
        violate(`I8: ${t.key.kind} timer of ${t.key.invocationId}, which is not a kept completed invocation`);
    }
    for (const [id, s] of status) {
      if (
        s.state === "completed" &&
        s.completedAt !== undefined &&
        s.completedAt + s.retentionMs < clock.now() - 1_000
      )
        violate(`I8: ${id} is kept ${clock.now() - s.completedAt - s.retentionMs} ms past its retention`);
    }
  }

  // I4: replay the whole log into empty stores; it must equal the live stores.
  const rawAll = await readAll(log, partitions);
  const all: LogRecord[][] = rawAll.map((entries) => entries.map(decodeRecord));
  let records = 0;
  for (let p = 0; p < partitions; p++) {
    const fresh = new MemoryStore(p);
    for (const r of all[p]!)
      fresh.transaction(() => {
        apply(fresh, r);
        fresh.setAppliedLsn(r.lsn);
      });
    records += all[p]!.length;
    const live = JSON.stringify(stores[p]!.dump(), bytesReplacer);
    const replayed = JSON.stringify(fresh.dump(), bytesReplacer);
    if (live !== replayed) violate(`I4: partition ${p}: replayed store differs from the live store`);
    // A snapshot restores the same rows and applied LSN (what a new leader would start from).
    const restored = MemoryStore.restore(await stores[p]!.snapshot());
    if (JSON.stringify(restored.dump(), bytesReplacer) !== live)
      violate(`I4: partition ${p}: a restored snapshot differs from the live store`);
  }
  const fp = createHash("sha256");
  for (const entries of rawAll)
    for (const e of entries) fp.update(JSON.stringify([e.lsn, e.header])).update(e.payload);

  await current?.engine?.stop();
  return {
    seed,
    ok: violations.length === 0,
    violations,
    crashes,
    storeReverts,
    completed: answers.size,
    stepReruns,
    records,
    virtualMs: healedMs,
    fingerprint: fp.digest("hex").slice(0, 16),
  };
}

async function runUntil(clock: VirtualClock, t: number): Promise<void> {
  for (;;) {
    await settle();
    const before = clock.now();
    if (before >= t) return;
    // Step only timers due before t; if none, jump.
    if (!peekBefore(clock, t)) {
      clock.schedule(-1, t - before, () => {});
      clock.step();
      return;
    }
    clock.step();
  }
}

function peekBefore(clock: VirtualClock, t: number): boolean {
  return (clock as unknown as { timers: { at: number }[] }).timers.some((x) => x.at <= t);
}

async function runFor(clock: VirtualClock, ms: number): Promise<void> {
  await runUntil(clock, clock.now() + ms);
  await settle();
}

async function readAll(log: MemoryLog, partitions: number): Promise<StoredEntry[][]> {
  const out: StoredEntry[][] = [];
  for (let p = 0; p < partitions; p++) {
    const { tailLsn: tail } = await log.findTail(p);
    const recs: StoredEntry[] = [];
    const ac = new AbortController();
    if (tail > 0) {
      for await (const batch of log.read(p, 1, ac.signal)) {
        recs.push(...batch);
        if (recs[recs.length - 1]!.lsn >= tail) break;
      }
    }
    ac.abort();
    out.push(recs);
  }
  return out;
}

function bytesReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (v !== null && typeof v === "object" && (v as { type?: string }).type === "Buffer") return v;
  return v;
}

const silentConsole: Console = new Proxy(console, {
  get: (target, prop) => (typeof (target as any)[prop] === "function" ? () => {} : (target as any)[prop]),
});
