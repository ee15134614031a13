/**
 * Runs one cluster system (bench/cluster-report.ts) for one workload at one concurrency, fresh:
 * nats-servers with JetStream on free loopback ports (bench/nats-server.ts guards each one),
 * then the onelog nodes (bench/cluster-node.ts), each on a data directory of its own; waits
 * until every partition has its leader and the leases are spread evenly, then drives the nodes'
 * ingress ports with the bench's driver and checks, and measures the nodes' and the servers' CPU
 * and memory around the window. Everything it started is stopped and its directory removed when
 * it returns or throws; ServerChild SIGKILLs what is left if the bench exits.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { StorageType, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { request } from "undici";
import { machineUserMs, sampleRss, ServerChild } from "./child.js";
import { CLUSTER_SPECS, type ClusterRun, type ClusterSystem, type GroupUse } from "./cluster-report.js";
import { drive, untilGreeterServes } from "./driver.js";
import { freePort } from "./ready.js";
import type { HttpWorkload } from "./workloads.js";

export interface ClusterRunOptions {
  readonly system: ClusterSystem;
  readonly workload: HttpWorkload;
  readonly concurrency: number;
  /** Unique per run: names the directories and logs, and tags the requests. */
  readonly run: number;
  /** Where the data directories go (removed afterwards). */
  readonly tmp: string;
  /** Where the processes' logs go. */
  readonly logDir: string;
  readonly partitions: number;
  /** bench/cluster-node.ts under tsx, or its compiled bundle (bench/compile.ts). */
  readonly node: { readonly script: string; readonly compiled: boolean };
  readonly greeter: "quiet" | "example";
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly requestTimeoutMs: number;
  readonly readyTimeoutMs: number;
  readonly nodeFlags: readonly string[];
}

const RSS_SAMPLE_MS = 250;
/** How long the leases may take to settle on an even spread after the nodes are up. */
const PLACEMENT_TIMEOUT_MS = 60_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * nats-server configs for `count` servers: one alone, or three in a JetStream cluster with
 * routes; each with its monitoring port (for /jsz).
 */
async function natsConfigs(
  dir: string,
  count: number,
): Promise<{ url: string; monitorUrl: string; config: string }[]> {
  const servers: { name: string; port: number; clusterPort: number; monitorPort: number }[] = [];
  for (let i = 0; i < count; i++) {
    servers.push({
      name: `n${i + 1}`,
      port: await freePort(),
      clusterPort: await freePort(),
      monitorPort: await freePort(),
    });
  }
  return servers.map((s) => {
    const lines = [
      `server_name: ${s.name}`,
      `listen: "127.0.0.1:${s.port}"`,
      `http: "127.0.0.1:${s.monitorPort}"`,
      `jetstream {`,
      `  store_dir: ${JSON.stringify(path.join(dir, `js-${s.name}`))}`,
      `  max_memory_store: 256MB`,
      `  max_file_store: 4GB`,
      `}`,
    ];
    if (count > 1) {
      lines.push(
        `cluster {`,
        `  name: onelog-bench`,
        `  listen: "127.0.0.1:${s.clusterPort}"`,
        `  routes: [`,
        ...servers.filter((o) => o !== s).map((o) => `    "nats-route://127.0.0.1:${o.clusterPort}"`),
        `  ]`,
        `}`,
      );
    }
    const config = path.join(dir, `${s.name}.conf`);
    writeFileSync(config, lines.join("\n") + "\n");
    return { url: `nats://127.0.0.1:${s.port}`, monitorUrl: `http://127.0.0.1:${s.monitorPort}`, config };
  });
}

/**
 * Resolves once JetStream can place a stream with `replicas` replicas (account info alone answers
 * before a cluster's peers have all joined the meta group): a probe stream is created and deleted.
 */
async function untilJetStream(urls: readonly string[], replicas: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: [...urls], timeout: 1000 });
      const jsm = await jetstreamManager(nc, { timeout: 2000 });
      const name = `bench_probe_${process.pid}_${Date.now()}`;
      await jsm.streams.add({
        name,
        subjects: [`${name}.>`],
        num_replicas: replicas,
        storage: StorageType.Memory,
      });
      await jsm.streams.delete(name);
      return;
    } catch (e) {
      last = e;
      await sleep(200);
    } finally {
      await nc?.close().catch(() => undefined);
    }
  }
  throw new Error(`JetStream (R${replicas}) not ready after ${timeoutMs} ms: ${String(last)}`);
}

interface Health {
  readonly partitions: readonly {
    partition: number;
    leader: boolean;
    applied_lsn: number;
    tail_lsn: number;
  }[];
}

/** The partitions some node has not applied up to the log's tail, as "node-2 p3 applied 1200 of 1350". */
async function behind(nodes: readonly ServerChild[]): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    nodes.map(async (node, i) => {
      try {
        for (const p of (await getJson<Health>(`${node.adminUrl!}/health`)).partitions) {
          if (p.applied_lsn < p.tail_lsn) {
            out.push(
              `node-${i + 1} p${p.partition}${p.leader ? " (leader)" : ""} applied ${p.applied_lsn} of ${p.tail_lsn}`,
            );
          }
        }
      } catch (e) {
        out.push(`node-${i + 1}: /health: ${(e as Error).message}`);
      }
    }),
  );
  return out.sort();
}

async function getJson<T>(url: string): Promise<T> {
  const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return (await res.body.json()) as T;
}

/**
 * Waits until every partition is led by exactly one node and each node leads ⌊P/N⌋ or ⌈P/N⌉ of
 * them (the leases' even placement, docs/cluster.md); returns the count each node leads.
 */
async function untilPlaced(nodes: readonly ServerChild[], partitions: number): Promise<number[]> {
  const deadline = performance.now() + PLACEMENT_TIMEOUT_MS;
  let seen = "";
  for (;;) {
    try {
      const healths = await Promise.all(nodes.map((n) => getJson<Health>(`${n.adminUrl!}/health`)));
      const led = healths.map((h) => h.partitions.filter((p) => p.leader).map((p) => p.partition));
      const all = led.flat();
      const counts = led.map((l) => l.length);
      seen = counts.join("/");
      const even = counts.every(
        (c) => c === Math.floor(partitions / nodes.length) || c === Math.ceil(partitions / nodes.length),
      );
      if (all.length === partitions && new Set(all).size === partitions && even) return counts;
    } catch (e) {
      seen = (e as Error).message;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `leases not spread over ${nodes.length} nodes after ${PLACEMENT_TIMEOUT_MS} ms (${seen})`,
      );
    }
    await sleep(200);
  }
}

interface Stats {
  readonly partitions: readonly { records: number }[];
}

/** What a nats-server's /jsz says of JetStream: API requests it served, messages it stores. */
interface Jsz {
  readonly api: { readonly total: number; readonly errors: number };
  readonly messages: number;
}

/** Stops the children, the given ones first, in parallel within each list. */
async function stopAll(...groups: (readonly ServerChild[])[]): Promise<void> {
  for (const group of groups) await Promise.all(group.map((c) => c.stop()));
}

/** One cluster system, fresh, under one workload at one concurrency; see the header. */
export async function runCluster(o: ClusterRunOptions): Promise<ClusterRun> {
  const spec = CLUSTER_SPECS[o.system];
  const dir = path.join(o.tmp, `${o.system}-${o.run}`);
  mkdirSync(dir, { recursive: true });
  const nats: ServerChild[] = [];
  const nodes: ServerChild[] = [];
  const started = performance.now();
  try {
    const configs = await natsConfigs(dir, spec.natsServers);
    nats.push(
      ...(await Promise.all(
        configs.map((c, i) =>
          ServerChild.spawn({
            script: "bench/nats-server.ts",
            env: { BENCH_NATS_CONFIG: c.config, BENCH_NATS_URL: c.url },
            logFile: path.join(o.logDir, `${o.system}-${o.run}-nats-${i + 1}.log`),
            readyTimeoutMs: o.readyTimeoutMs,
          }),
        ),
      )),
    );
    const urls = nats.map((n) => n.url);
    await untilJetStream(urls, spec.replicas, o.readyTimeoutMs);
    // Started together, as `onelog serve --cluster` nodes usually are: they race to create the
    // stream and the buckets, which connectCluster retries.
    const spawned = await Promise.allSettled(
      Array.from({ length: spec.nodes }, (_, i) =>
        ServerChild.spawn({
          ...o.node,
          env: {
            BENCH_DATA_DIR: path.join(dir, `node-${i + 1}`),
            BENCH_NATS_URLS: urls.join(","),
            BENCH_NODE: `node-${i + 1}`,
            BENCH_REPLICAS: String(spec.replicas),
            BENCH_PARTITIONS: String(o.partitions),
            BENCH_GREETER: o.greeter,
          },
          logFile: path.join(o.logDir, `${o.system}-${o.run}-node-${i + 1}.log`),
          nodeFlags: o.nodeFlags,
          readyTimeoutMs: o.readyTimeoutMs,
        }),
      ),
    );
    for (const s of spawned) if (s.status === "fulfilled") nodes.push(s.value);
    const failed = spawned.find((s) => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    const leaders = await untilPlaced(nodes, o.partitions);
    // Every node's ingress serves before the window starts.
    await Promise.all(nodes.map((node) => untilGreeterServes(node.url, o.readyTimeoutMs)));
    const startMs = performance.now() - started;
    const idle = nodes.map((n) => n.memory().rssBytes);
    const natsIdle = nats.map((n) => n.memory().rssBytes);

    type Cpu = { userMs: number; systemMs: number };
    type Edge = { nodes: Cpu[]; nats: Cpu[]; machineUserMs: number; self: NodeJS.CpuUsage; at: number };
    const edge = (): Edge => ({
      nodes: nodes.map((n) => n.cpu()),
      nats: nats.map((n) => n.cpu()),
      machineUserMs: machineUserMs(),
      self: process.cpuUsage(),
      at: performance.now(),
    });
    let first: Edge | undefined;
    let last: Edge | undefined;
    let stopSamplers: (() => void) | undefined;
    const stats: Promise<Stats | undefined>[] = [];
    const jsz: Promise<(Jsz | undefined)[]>[] = [];
    const result = await drive({
      url: nodes.map((n) => n.url),
      workload: o.workload,
      tag: `c${o.run}${o.system.replace(/[^0-9a-z]/g, "")}`,
      concurrency: o.concurrency,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      requestTimeoutMs: o.requestTimeoutMs,
      onWindow: (which) => {
        if (which === "start") {
          first = edge();
          // RSS sampled as for the other systems; only the peak (VmHWM) is reported.
          const samplers = nodes.map((n) => sampleRss(n, RSS_SAMPLE_MS));
          stopSamplers = () => samplers.forEach((s) => s());
        } else {
          last = edge();
          stopSamplers?.();
          stopSamplers = undefined;
        }
        stats.push(getJson<Stats>(`${nodes[0]!.adminUrl!}/stats`).catch(() => undefined));
        jsz.push(Promise.all(configs.map((c) => getJson<Jsz>(`${c.monitorUrl}/jsz`).catch(() => undefined))));
      },
    });
    stopSamplers?.();
    if (first === undefined || last === undefined) throw new Error("bench: the measured window never ended");
    const windowMs = last.at - first.at;
    const [atStart, atEnd] = await Promise.all(stats);
    const [jszStart, jszEnd] = await Promise.all(jsz);
    const jsDelta = (of: (j: Jsz) => number, combine: (values: number[]) => number) =>
      combine(
        configs.map(
          (_, i) =>
            of(jszEnd?.[i] ?? { api: { total: NaN, errors: NaN }, messages: NaN }) -
            of(jszStart?.[i] ?? { api: { total: NaN, errors: NaN }, messages: NaN }),
        ),
      );
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const records = (s: Stats | undefined) => s?.partitions.reduce((sum, p) => sum + p.records, 0) ?? NaN;
    const group = (
      procs: readonly ServerChild[],
      from: readonly Cpu[],
      to: readonly Cpu[],
      idleBytes: readonly number[],
    ): GroupUse & { userMs: number } => {
      const perMs = procs.map(
        (_, i) => to[i]!.userMs - from[i]!.userMs + to[i]!.systemMs - from[i]!.systemMs,
      );
      const totalMs = perMs.reduce((a, b) => a + b, 0);
      return {
        cpuPercent: (totalMs * 100) / windowMs,
        cpuUsPerRequest: (totalMs * 1000) / result.measured,
        perProcessCpuPercent: perMs.map((ms) => (ms * 100) / windowMs),
        idleBytesMax: Math.max(...idleBytes),
        peakBytesMax: Math.max(...procs.map((p) => p.memory().peakRssBytes)),
        userMs: procs.reduce((sum, _, i) => sum + to[i]!.userMs - from[i]!.userMs, 0),
      };
    };
    const { userMs: nodesUserMs, ...nodeUse } = group(nodes, first.nodes, last.nodes, idle);
    const { userMs: natsUserMs, ...natsUse } = group(nats, first.nats, last.nats, natsIdle);
    const selfUser = (last.self.user - first.self.user) / 1000;
    const selfMs = selfUser + (last.self.system - first.self.system) / 1000;
    const otherMs = last.machineUserMs - first.machineUserMs - nodesUserMs - natsUserMs - selfUser;
    // Requests that failed: is some node's follower behind the log (it answers a call when it applies the end)?
    const lagging = result.errors > 0 ? await behind(nodes) : [];
    const gone = [...nodes, ...nats].filter((c) => !c.running).length;
    if (gone > 0) throw new Error(`${gone} of its processes exited during the run (see ${o.logDir})`);
    return {
      ...result,
      ...(lagging.length === 0
        ? {}
        : { errorSamples: [...result.errorSamples, `behind the log after the run: ${lagging.join(", ")}`] }),
      system: o.system,
      partitions: o.partitions,
      leaders,
      startMs,
      nodes: nodeUse,
      nats: natsUse,
      driverCpuPercent: (selfMs * 100) / windowMs,
      otherCpuPercent: Math.max(0, (otherMs * 100) / windowMs),
      logRecordsPerInvocation: (records(atEnd) - records(atStart)) / result.measured,
      // Every replica stores every message: the server that stores the most has them all.
      jsMessagesPerInvocation:
        jsDelta(
          (j) => j.messages,
          (v) => Math.max(...v),
        ) / result.measured,
      jsApiPerInvocation: jsDelta((j) => j.api.total, sum) / result.measured,
      jsApiErrorsPerInvocation: jsDelta((j) => j.api.errors, sum) / result.measured,
    };
  } finally {
    // The nodes first (a clean stop releases their leases), then the servers under them.
    await stopAll(nodes, nats);
    rmSync(dir, { recursive: true, force: true });
  }
}
