// Shared plumbing of the cluster failure tests: onelog node processes (node-server.ts) on a NatsCluster — started together, SIGKILLed, restarted, paused (SIGSTOP) and resumed — and a client that sends each call to a live node and retries it on another until it has a final answer, noting when answers came (the longest gap between answers is the stall a user saw).
import { after, before, type TestContext } from "node:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import {
  Children,
  errorLines,
  kill,
  prng,
  request,
  seedFrom,
  sleep,
  type Child,
  type Reply,
} from "../e2e/harness.js";
import { connect } from "@nats-io/transport-node";
import { JetStreamLog } from "../../packages/nats/src/index.js";
import { decodeRecord } from "../../packages/onelog/src/internal/partition/codec.js";
import type { LogRecord } from "../../packages/onelog/src/internal/partition/records.js";
import { startNats, type NatsCluster } from "./nats-harness.js";

/** Options of {@link OnelogNodes.start}. */
export interface OnelogNodesOptions {
  readonly nats: NatsCluster;
  readonly count: number;
  /** Added to every node's environment (LEASE_MS, REPLICAS, PARTITIONS, COMPACT_INTERVAL_MS). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Onelog cluster nodes `node-0` … `node-<count−1>`, one child process each, each with its own
 * data directory kept across restarts. `stop()` SIGKILLs what runs and removes the directories.
 */
export class OnelogNodes {
  readonly children: Children[] = [];
  /** The running lifetime of each node; undefined while it is down. */
  readonly current: (Child | undefined)[] = [];
  readonly #dirs: string[] = [];
  readonly #paused = new Set<number>();
  /** Set by stop(): a client's calls end instead of retrying against nodes that are gone. */
  stopped = false;

  private constructor() {}

  static async start(o: OnelogNodesOptions): Promise<OnelogNodes> {
    const nodes = new OnelogNodes();
    for (let i = 0; i < o.count; i++) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `onelog-node${i}-`));
      nodes.#dirs.push(dataDir);
      nodes.children.push(
        new Children({
          script: "tests/cluster/node-server.ts",
          env: { NATS_URLS: o.nats.urls.join(","), NODE: `node-${i}`, DATA_DIR: dataDir, ...o.env },
          readyTimeoutMs: 60_000,
        }),
      );
    }
    try {
      const started = await Promise.all(nodes.children.map((c) => c.start(0)));
      nodes.current.push(...started);
    } catch (error) {
      await nodes.stop();
      throw error;
    }
    return nodes;
  }

  /** Nodes that run and are not paused: the ones a client sends to. */
  live(): number[] {
    return this.current.flatMap((c, i) => (c === undefined || this.#paused.has(i) ? [] : [i]));
  }

  /** SIGKILLs node `i` and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const child = this.current[i];
    this.current[i] = undefined;
    if (child !== undefined) await kill(child);
  }

  /** Starts node `i` again on its data directory; resolves once it is READY. */
  async restart(i: number): Promise<void> {
    const lives = new Set(this.children[i]!.stderr.map((l) => l.life));
    const life = Math.max(0, ...lives) + 1;
    try {
      this.current[i] = await this.children[i]!.start(life);
    } catch (error) {
      const said = this.children[i]!.stderr.filter((l) => l.life === life).map((l) => l.line);
      throw new Error(`node-${i} did not restart: ${String(error)}\n${said.slice(-20).join("\n")}`, {
        cause: error,
      });
    }
  }

  /** SIGSTOPs node `i`: it keeps its sockets and its leases' revisions, and does nothing. */
  pause(i: number): void {
    this.#paused.add(i);
    this.current[i]!.proc.kill("SIGSTOP");
  }

  /** SIGCONTs node `i`. */
  resume(i: number): void {
    this.current[i]!.proc.kill("SIGCONT");
    this.#paused.delete(i);
  }

  /** Stderr lines of node `i` (every lifetime) that contain `text`. */
  lines(i: number, text: string): string[] {
    return this.children[i]!.stderr.filter((l) => l.line.includes(text)).map((l) => l.line);
  }

  /** How many times node `i` started leading a partition (every lifetime). */
  leading(i: number): number {
    return this.lines(i, '"leading partition"').length;
  }

  /** How many partitions node `i` leads now, by its log (leading minus lost, this lifetime). */
  leads(i: number): number {
    const life = this.current[i]?.life;
    const lines = this.children[i]!.stderr.filter((l) => l.life === life).map((l) => l.line);
    return (
      lines.filter((l) => l.includes('"leading partition"')).length -
      lines.filter((l) => l.includes('"partition leadership lost"')).length
    );
  }

  /** Resolves once the running nodes lead `partitions` in all, spread evenly (or throws after `timeoutMs`). */
  async settled(partitions: number, timeoutMs = 30_000): Promise<number> {
    const started = performance.now();
    for (;;) {
      const up = this.current.flatMap((c, i) => (c === undefined ? [] : [i]));
      const counts = up.map((i) => this.leads(i));
      const sum = counts.reduce((a, b) => a + b, 0);
      // At least: a processor deposed by a newer AnnounceLeader it read (not by its lease) logs no
      // 'lost' line, so a count may run high; this is a wait, not a check.
      if (sum >= partitions && counts.every((n) => n >= Math.floor(partitions / up.length)))
        return performance.now() - started;
      if (performance.now() - started > timeoutMs) {
        // What each node said this lifetime (leads, losses, warnings), for the failure's message.
        const said = up.flatMap((i) => {
          const life = this.current[i]?.life;
          return this.children[i]!.stderr.filter((l) => l.life === life)
            .slice(-25)
            .map((l) => `node-${i}: ${l.line.slice(0, 300)}`);
        });
        throw new Error(
          `partitions not spread after ${timeoutMs} ms: ${JSON.stringify(counts)}; the nodes said:\n${said.join("\n")}`,
        );
      }
      await sleep(50);
    }
  }

  /** Lines that mean the engine broke, on any node, tagged with the node. */
  errors(): string[] {
    return this.children.flatMap((c, i) =>
      errorLines(c.stderr).map((l) => `node-${i} life ${l.life}: ${l.line}`),
    );
  }

  /** SIGKILLs every node (resuming paused ones first) and removes the data directories. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const i of this.#paused) this.current[i]?.proc.kill("SIGCONT");
    for (const c of this.children) await c.killAll();
    for (const d of this.#dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** A call's final answer. */
export interface Answer {
  readonly reply: Reply & { readonly answered: true };
  /** Which node answered. */
  readonly node: number;
  /** performance.now() when it arrived. */
  readonly at: number;
  /** From the first send to the answer, in ms. */
  readonly latencyMs: number;
}

/** Options of {@link Caller.call}. */
export interface CallOptions {
  /** Sends the call to a node's ingress (the same call each time: an idempotency key, a workflow id). */
  readonly send: (url: string) => Promise<Reply>;
  /** Whether a reply is final; anything else (no answer, 5xx) is retried on another node. */
  readonly final: (reply: Reply & { readonly answered: true }) => boolean;
}

/**
 * Sends calls to random live nodes and retries each on another until it is answered for good,
 * recording when every final answer came.
 */
export class Caller {
  /** Arrival times (performance.now()) of every final answer. */
  readonly answeredAt: number[] = [];
  /** Tries that got no final answer, by reason (a status or a connection error). */
  readonly retries = new Map<string, number>();
  maxLatencyMs = 0;

  constructor(
    private readonly nodes: OnelogNodes,
    private readonly rand: (lo: number, hi: number) => number,
    private readonly maxTries = 300,
  ) {}

  async call(o: CallOptions): Promise<Answer> {
    const first = performance.now();
    for (let attempt = 0; attempt < this.maxTries; attempt++) {
      if (this.nodes.stopped)
        throw new Error("the nodes were stopped (the test ended) before the call was answered");
      const live = this.nodes.live();
      if (live.length === 0) {
        await sleep(50);
        continue;
      }
      const node = live[this.rand(0, live.length - 1)]!;
      const url = this.nodes.current[node]?.url;
      const reply = url === undefined ? undefined : await o.send(url);
      if (reply?.answered === true && o.final(reply)) {
        const at = performance.now();
        this.answeredAt.push(at);
        this.maxLatencyMs = Math.max(this.maxLatencyMs, at - first);
        return { reply, node, at, latencyMs: at - first };
      }
      const reason =
        reply === undefined ? "node down" : reply.answered ? `http ${reply.status}` : reply.reason;
      this.retries.set(reason, (this.retries.get(reason) ?? 0) + 1);
      await sleep(50);
    }
    throw new Error(
      `a call got no final answer in ${this.maxTries} tries: ${JSON.stringify([...this.retries])}`,
    );
  }

  /** The longest time without any final answer between `from` and `to` (performance.now() values). */
  longestGapMs(from: number, to: number): { readonly gapMs: number; readonly endsAt: number } {
    const times = [from, ...this.answeredAt.filter((t) => t > from && t < to).sort((a, b) => a - b), to];
    let gapMs = 0;
    let endsAt = from;
    for (let i = 1; i < times.length; i++) {
      if (times[i]! - times[i - 1]! > gapMs) {
        gapMs = times[i]! - times[i - 1]!;
        endsAt = times[i]!;
      }
    }
    return { gapMs, endsAt };
  }
}

/**
 * Counter load for exactly-once checks: `Counter/k<key>/add` with 1, under a unique idempotency
 * key per call. Exactly-once means each key's answers are 1, 2, … n in some order, n being the
 * calls made to it, and its final value is n.
 */
export class CounterLoad {
  /** Answers per key. */
  readonly answers: number[][];

  constructor(
    private readonly caller: Caller,
    readonly keys: number,
  ) {
    this.answers = Array.from({ length: keys }, () => []);
  }

  async add(id: string, key: number, timeoutMs: number): Promise<void> {
    const answer = await this.caller.call({
      send: (url) =>
        request(`${url}/Counter/k${key}/add`, {
          method: "POST",
          body: 1,
          headers: { "idempotency-key": id },
          timeoutMs,
        }),
      final: (r) => r.status === 200,
    });
    this.answers[key]!.push(Number(answer.reply.body));
  }

  get calls(): number {
    return this.answers.reduce((n, a) => n + a.length, 0);
  }

  /** What is wrong with the answers and the final values read through `url` (nothing: []). */
  async violations(url: string): Promise<string[]> {
    const out: string[] = [];
    for (let k = 0; k < this.keys; k++) {
      const got = [...this.answers[k]!].sort((a, b) => a - b);
      const want = got.map((_, i) => i + 1);
      if (JSON.stringify(got) !== JSON.stringify(want))
        out.push(`k${k}: answers ${JSON.stringify(got)}, expected 1…${got.length} once each`);
      const reply = await request(`${url}/Counter/k${k}/get`, {
        method: "POST",
        body: null,
        timeoutMs: 30_000,
      });
      if (!reply.answered || reply.status !== 200)
        out.push(`k${k}: get failed: ${reply.answered ? `${reply.status} ${reply.body}` : reply.reason}`);
      else if (Number(reply.body) !== got.length)
        out.push(`k${k}: value ${reply.body}, but ${got.length} calls were answered`);
    }
    return out;
  }
}

/** Every record of every partition, read from the shared log (what was trimmed is not there). */
export async function readLog(urls: string[], partitions: number): Promise<LogRecord[][]> {
  const nc = await connect({ servers: urls });
  const log = new JetStreamLog({ connection: nc, partitions });
  try {
    const out: LogRecord[][] = [];
    for (let p = 0; p < partitions; p++) {
      const { tailLsn } = await log.findTail(p);
      const records: LogRecord[] = [];
      const stop = new AbortController();
      if (tailLsn > 0) {
        for await (const batch of log.read(p, 1, stop.signal)) {
          records.push(...batch.map(decodeRecord));
          if (batch[batch.length - 1]!.lsn >= tailLsn) break;
        }
      }
      stop.abort();
      out.push(records);
    }
    return out;
  } finally {
    await log.close();
    await nc.close();
  }
}

/** What {@link clusterFixture} gives a test. */
export interface ClusterFixture {
  /** The nats-servers (started before the suite's tests). */
  readonly nats: NatsCluster;
  /** Starts the onelog nodes on them; they are stopped after the suite. */
  start(o: Omit<OnelogNodesOptions, "nats">): Promise<OnelogNodes>;
}

/**
 * The fixture of a cluster failure test, registered inside its `describe`: `servers`
 * nats-servers started before its tests and, with the onelog nodes a test starts, stopped after.
 */
export function clusterFixture(servers: 1 | 3): ClusterFixture {
  let nats: NatsCluster | undefined;
  let nodes: OnelogNodes | undefined;
  before(async () => {
    nats = await startNats({ servers });
  });
  after(async () => {
    await nodes?.stop();
    await nats?.stop();
  });
  return {
    get nats() {
      if (nats === undefined) throw new Error("the nats-servers are not started yet");
      return nats;
    },
    start: async (o) => (nodes = await OnelogNodes.start({ ...o, nats: nats! })),
  };
}

/** A random source from the test's seed (CLUSTER_SEED replays `what`), noted in the test's output. */
export function seeded(
  t: TestContext,
  what: string,
): { readonly seed: number; readonly rand: (lo: number, hi: number) => number } {
  const seed = seedFrom("CLUSTER_SEED");
  t.diagnostic(`seed ${seed} (CLUSTER_SEED=${seed} replays ${what})`);
  return { seed, rand: prng(seed) };
}
