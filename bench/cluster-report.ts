/**
 * The cluster systems of the bench (issue 14 item 7) and how the report shows them: onelog nodes
 * on NATS JetStream, 1 or 3 nodes, a stream of 1 or 3 replicas (docs/benchmarks.md, "Cluster").
 * Types and rendering only; bench/cluster.ts runs them.
 */
import type { DriveResult } from "./driver.js";
import { fixed, int, mb, pct } from "./stats.js";

/** The cluster systems `--systems` knows, in the order each workload runs them. */
export const CLUSTER_SYSTEMS = ["cluster-1n-r1", "cluster-1n-r3", "cluster-3n-r1", "cluster-3n-r3"] as const;
export type ClusterSystem = (typeof CLUSTER_SYSTEMS)[number];

/** What each cluster system runs: onelog nodes, nats-servers, and the replicas of the stream and buckets. */
export const CLUSTER_SPECS: Readonly<
  Record<ClusterSystem, { readonly nodes: 1 | 3; readonly natsServers: 1 | 3; readonly replicas: 1 | 3 }>
> = {
  "cluster-1n-r1": { nodes: 1, natsServers: 1, replicas: 1 },
  "cluster-1n-r3": { nodes: 1, natsServers: 3, replicas: 3 },
  "cluster-3n-r1": { nodes: 3, natsServers: 1, replicas: 1 },
  "cluster-3n-r3": { nodes: 3, natsServers: 3, replicas: 3 },
};

/** How the report names each cluster system. */
export function clusterLabel(system: ClusterSystem): string {
  const s = CLUSTER_SPECS[system];
  return (
    `onelog cluster, ${s.nodes} node${s.nodes === 1 ? "" : "s"}, R${s.replicas} ` +
    `(${s.natsServers} nats-server${s.natsServers === 1 ? "" : "s"})`
  );
}

/** A group of processes of one kind (the onelog nodes, or the nats-servers) over the window. */
export interface GroupUse {
  /** CPU time of all of them per second of the window (100% = one core). */
  readonly cpuPercent: number;
  /** The same, per measured request, µs. */
  readonly cpuUsPerRequest: number;
  /** Each process's CPU per second of the window, in start order. */
  readonly perProcessCpuPercent: readonly number[];
  /** The highest idle RSS and the highest peak (VmHWM) among them. */
  readonly idleBytesMax: number;
  readonly peakBytesMax: number;
}

/** One cluster system under one workload at one concurrency. */
export interface ClusterRun extends DriveResult {
  readonly system: ClusterSystem;
  readonly partitions: number;
  /** Partitions each node led during the window, in node order. */
  readonly leaders: readonly number[];
  /** From starting the first nats-server to every partition led and served: ms. */
  readonly startMs: number;
  readonly nodes: GroupUse;
  readonly nats: GroupUse;
  readonly driverCpuPercent: number;
  /** User-mode CPU of every other process of the machine per second of the window. */
  readonly otherCpuPercent: number;
  /** Records node 1's processors applied over the window ÷ requests measured (every node applies every record). */
  readonly logRecordsPerInvocation: number;
  /**
   * From the nats-servers' /jsz over the window, per request measured: messages added to JetStream
   * (the log's messages, each one or more whole appends, plus a few lease renewals), and JetStream
   * API requests served and of those, the ones that failed. The API count stays near 0 even where
   * writers race: the log's reads of a subject's last message after a lost race do not show in it
   * (measured: 0.00–0.06 per invocation in every run), so it is no measure of those races.
   */
  readonly jsMessagesPerInvocation: number;
  readonly jsApiPerInvocation: number;
  readonly jsApiErrorsPerInvocation: number;
}

/** The cluster rows of one workload at one concurrency, with onelog embedded of the same row to compare with. */
export interface ClusterRow {
  readonly workload: string;
  readonly concurrency: number;
  readonly embeddedThroughput: number | undefined;
  readonly runs: readonly ClusterRun[];
}

/** The markdown table of the cluster systems that ran (empty when none did). */
export function renderCluster(rows: readonly ClusterRow[]): string[] {
  if (!rows.some((row) => row.runs.length > 0)) return [];
  const out = [
    "Cluster systems: onelog nodes (bench/cluster-node.ts, in-process handlers, as `onelog serve --cluster`) on nats-server 2.9 " +
      "with JetStream; the driver spreads its connections over the nodes' ingress ports. CPU is each group's total " +
      "(100% = one core) and per request; per node in brackets.",
    "",
    "| Workload | C | system | req/s | ÷ embedded | p50 ms | p99 ms | CPU onelog nodes % (µs/req) [per node] | CPU nats-servers % (µs/req) | leaders per node | RSS node idle / peak MB | log rec/inv | JetStream msgs / API req per inv | CPU driver / others |",
    "| --- | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const row of rows) {
    for (const run of row.runs) {
      out.push(
        `| ${row.workload} | ${row.concurrency} | ${clusterLabel(run.system)} | ${int(run.throughput)} | ` +
          `${pct(run.throughput / (row.embeddedThroughput ?? NaN))} | ${fixed(run.latency.p50Ms, 2)} | ${fixed(run.latency.p99Ms, 2)} | ` +
          `${pct(run.nodes.cpuPercent / 100)} (${int(run.nodes.cpuUsPerRequest)}) [${run.nodes.perProcessCpuPercent.map((c) => pct(c / 100)).join(", ")}] | ` +
          `${pct(run.nats.cpuPercent / 100)} (${int(run.nats.cpuUsPerRequest)}) | ${run.leaders.join(" / ")} of ${run.partitions} | ` +
          `${mb(run.nodes.idleBytesMax)} / ${mb(run.nodes.peakBytesMax)} | ${fixed(run.logRecordsPerInvocation, 1)} | ` +
          `${fixed(run.jsMessagesPerInvocation, 2)} / ${fixed(run.jsApiPerInvocation, 2)} | ` +
          `${pct(run.driverCpuPercent / 100)} / ${pct(run.otherCpuPercent / 100)} |`,
      );
    }
  }
  out.push("");
  return out;
}
