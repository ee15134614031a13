/**
 * What a bench run found, as JSON (bench/results/latest.json) and as the markdown tables that
 * docs/benchmarks.md shows, with each result's ratio to its baseline and the issue's targets.
 */
import { renderAdminQuery, type AdminQueryRow } from "./admin-query.js";
import { renderCluster, type ClusterRow, type ClusterSystem } from "./cluster-report.js";
import type { RateResult } from "./disk.js";
import type { DriveResult } from "./driver.js";
import type { LogAppendResult } from "./log-append.js";
import { fixed, int, mb, pct } from "./stats.js";

export interface Machine {
  readonly date: string;
  readonly commit: string;
  readonly nproc: number;
  readonly cpu: string;
  readonly memoryBytes: number;
  readonly node: string;
  readonly kernel: string;
  /** The device and file system of the data directories. */
  readonly disk: string;
  /** 1-minute load average when the run started and when it ended: other work skews the figures. */
  readonly loadAverage: { start: number; end: number };
}

/**
 * The systems a run can measure (`--systems`), in the order each workload runs them. Every
 * system but `bare` gets a fresh server (and endpoint) for each workload at each concurrency.
 */
export const SYSTEMS = [
  "bare",
  "embedded",
  "remote-restate-sdk",
  "restate-server",
  "remote-onelog-sdk",
  "restate-server-onelog-sdk",
] as const;
export type SystemName = (typeof SYSTEMS)[number];
/** The systems with a server and an endpoint in two processes. */
export type RemoteSystem = Exclude<SystemName, "bare" | "embedded">;

/** How the report names each system. */
export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = {
  bare: "bare node:http",
  embedded: "onelog embedded",
  "remote-restate-sdk": "onelog server + Restate SDK endpoint",
  "restate-server": "restate-server + Restate SDK endpoint",
  "remote-onelog-sdk": "onelog server + onelog SDK endpoint",
  "restate-server-onelog-sdk": "restate-server + onelog SDK endpoint",
};

/**
 * The pairs that compare the two servers with the same endpoint program: onelog server ÷
 * restate-server, the issue's goal being ≥ 2×.
 */
export const SAME_ENDPOINT_PAIRS = [
  { endpoint: "Restate SDK", onelog: "remote-restate-sdk", restate: "restate-server" },
  { endpoint: "onelog SDK", onelog: "remote-onelog-sdk", restate: "restate-server-onelog-sdk" },
] as const satisfies readonly { endpoint: string; onelog: RemoteSystem; restate: RemoteSystem }[];

/** onelog server ÷ restate-server throughput with one endpoint program, at one workload and concurrency. */
export interface SameEndpointRatio {
  readonly endpoint: string;
  readonly onelogThroughput: number;
  readonly restateThroughput: number;
  readonly ratio: number;
  /** Judged at the highest concurrency of the run. */
  readonly target: TargetCheck | undefined;
}

export interface Settings {
  readonly systems: readonly SystemName[];
  /** The cluster systems that ran (bench/cluster-report.ts) and their log's partition count. */
  readonly clusterSystems?: readonly ClusterSystem[];
  readonly clusterPartitions?: number;
  /** `--heavy-query`: onelog embedded also ran while a client POSTed admin SQL. */
  readonly heavyQuery?: boolean;
  /** restate-server's `--default-num-partitions` (onelog's default is 4 too). */
  readonly restatePartitions: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly concurrency: readonly number[];
  readonly workloads: readonly string[];
  readonly greeter: "quiet" | "example";
  /** How the onelog servers ran: compiled JavaScript (as `onelog serve`), or TypeScript under tsx. */
  readonly runtime: "compiled" | "tsx";
  readonly client: string;
  readonly dataDirParent: string;
}

/** What one more process (an endpoint) used over a run. */
export interface ProcessUse {
  /** CPU time per second of the window (100% = one core). */
  readonly cpuPercent: number;
  /** CPU time per measured request, µs. */
  readonly cpuUsPerRequest: number;
  readonly rss: ServerRun["rss"];
}

/** One server under one workload at one concurrency. */
export interface ServerRun extends DriveResult {
  /** Server CPU time per second of the window (100% = one core). */
  readonly serverCpuPercent: number;
  /** The driver's (this process's) CPU time per second of the window. */
  readonly driverCpuPercent: number;
  /**
   * User-mode CPU time every other process of the machine used per second of the window (100% =
   * one core): anything well above a few % means the figures of this row are skewed.
   */
  readonly otherCpuPercent: number;
  /** Server CPU time per measured request, µs. */
  readonly serverCpuUsPerRequest: number;
  readonly rss: {
    /** Right after the server started (the bare server: once, at the start of the bench). */
    readonly idleBytes: number;
    /** The highest RSS sampled in the measured window. */
    readonly windowMaxBytes: number;
    readonly windowMeanBytes: number;
    /** The mean RSS of each tenth of the window, oldest first (the server's only). */
    readonly windowTenthsBytes?: readonly number[];
    /** VmHWM after the run: the peak since the process started. */
    readonly peakBytes: number;
    /** Right after the last request of the run was answered. */
    readonly afterBytes: number;
  };
  /** The endpoint process that served the handlers, for the remote systems. */
  readonly endpoint?: ProcessUse;
}

/** A remote system (server + endpoint) under one workload at one concurrency. */
export interface RemoteRun extends ServerRun {
  readonly system: RemoteSystem;
  readonly endpoint: ProcessUse;
  /** From a onelog server's admin /stats over the window; NaN for restate-server. */
  readonly logRecordsPerInvocation: number;
  readonly logRecordsPerCommit: number;
}

/** What only the engine has: the data directory's growth and the group-commit counters. */
export interface OnelogExtras {
  /**
   * (log.db* + store.db*) growth over the run / invocations answered (warm-up included), read
   * while the server runs: the WAL files count at their high-water mark.
   */
  readonly diskBytesPerInvocation: number;
  /** (log.db* + store.db*) after a clean stop (WALs checkpointed and removed) / invocations answered. */
  readonly stoppedBytesPerInvocation: number;
  readonly logBytesPerInvocation: number;
  readonly storeBytesPerInvocation: number;
  /** From admin /stats over the measured window. */
  readonly logRecordsPerInvocation: number;
  readonly logRecordsPerCommit: number;
  readonly logCommitsPerSecond: number;
}

export interface HttpRow {
  readonly workload: string;
  readonly path: string;
  readonly concurrency: number;
  /** onelog embedded (absent when `--systems` leaves it out). */
  readonly onelog?: ServerRun & OnelogExtras;
  readonly bare?: ServerRun;
  /** onelog embedded throughput / bare throughput; NaN unless both ran. */
  readonly ratio: number;
  readonly targets: readonly TargetCheck[];
  /** The remote systems that ran, in `SYSTEMS` order. */
  readonly remote: readonly RemoteRun[];
  /** onelog server ÷ restate-server with the same endpoint, for each pair of SAME_ENDPOINT_PAIRS that ran. */
  readonly sameEndpoint: readonly SameEndpointRatio[];
}

/** User-mode CPU every other process of the machine used meanwhile (100% = one core). */
export interface Others {
  readonly otherCpuPercent: number;
}

export interface LogAppendRow extends LogAppendResult, Others {
  readonly concurrency: number;
  /** records/s ÷ raw fsyncs/s: what group commit gains over one fsync per record. */
  readonly recordsVsFsync: number;
  /** commits/s ÷ SQLite single-row commits/s: how close each commit gets to SQLite's own rate. */
  readonly commitsVsSqlite: number;
}

export interface TargetCheck {
  readonly what: string;
  readonly met: boolean;
}

export interface Results {
  readonly machine: Machine;
  readonly settings: Settings;
  readonly baselines: {
    readonly fsync: RateResult & Others;
    readonly sqliteCommit: RateResult & Others;
  };
  readonly http: readonly HttpRow[];
  readonly logAppend: readonly LogAppendRow[];
  /** The cluster systems, per workload and concurrency (absent or empty when none ran). */
  readonly cluster?: readonly ClusterRow[];
  /** `--heavy-query`: embedded without and with a client running admin SQL. */
  readonly adminQuery?: readonly AdminQueryRow[];
  readonly idleRss: {
    readonly onelogBytes: readonly number[];
    readonly bareBytes: number | undefined;
    /** What `--import tsx` adds to an idle Node process; every child under tsx carries it. */
    readonly tsxLoaderBytes: number;
    /** Judged on the RSS as measured (with `--runtime tsx`, tsx loader included). */
    readonly target: TargetCheck | undefined;
  };
  readonly errors: readonly string[];
}

/** Throughput ratio targets of the issue, judged at the highest concurrency of the run. */
export const RATIO_TARGETS: Readonly<Record<string, number>> = {
  "Greeter.greet": 0.25,
  "Counter.add": 0.22,
  "Flow.run": 0.15,
};
export const FLOW_P50_TARGET_MS = 2;
/** onelog server ÷ restate-server with the same endpoint, judged at the highest concurrency. */
export const REMOTE_RATIO_TARGET = 2;
export const IDLE_RSS_TARGET_BYTES = 70e6;

const mark = (t: TargetCheck) => `${t.what} ${t.met ? "✓" : "✗"}`;

/** The markdown tables of a run. */
export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  const s = r.settings;
  out.push(
    `Run of ${r.machine.date} at ${r.machine.commit}: warm-up ${s.warmupMs / 1000} s, window ${s.durationMs / 1000} s, ` +
      `onelog servers ${s.runtime === "compiled" ? "compiled JavaScript (npm run build, no tsx)" : "TypeScript under tsx"}, ` +
      `client ${s.client}, Greeter: ${s.greeter === "quiet" ? "bench/services.ts (no ctx.console)" : "examples/greeter.ts"}; ` +
      `load average ${fixed(r.machine.loadAverage.start, 2)} at the start, ${fixed(r.machine.loadAverage.end, 2)} at the end ` +
      `(${r.machine.nproc} CPUs).`,
    "",
  );
  const embedded = r.http.filter((row) => row.onelog !== undefined);
  if (embedded.length > 0) {
    out.push(
      "| Workload | C | onelog req/s | bare req/s | ratio | target | p50 ms | p99 ms | bare p50 / p99 ms | RSS idle / peak / after MB | disk B/inv live / stopped | log rec/inv | rec/commit | CPU server / others |",
      "| --- | --: | --: | --: | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const row of embedded) {
      const o = row.onelog!;
      const bare = row.bare;
      out.push(
        `| ${row.workload} | ${row.concurrency} | ${int(o.throughput)} | ${int(bare?.throughput ?? NaN)} | ${pct(row.ratio)} | ` +
          `${row.targets.map(mark).join(", ")} | ${fixed(o.latency.p50Ms, 2)} | ${fixed(o.latency.p99Ms, 2)} | ` +
          `${fixed(bare?.latency.p50Ms ?? NaN, 2)} / ${fixed(bare?.latency.p99Ms ?? NaN, 2)} | ` +
          `${mb(o.rss.idleBytes)} / ${mb(o.rss.peakBytes)} / ${mb(o.rss.afterBytes)} | ${int(o.diskBytesPerInvocation)} / ${int(o.stoppedBytesPerInvocation)} | ` +
          `${fixed(o.logRecordsPerInvocation, 1)} | ${fixed(o.logRecordsPerCommit, 1)} | ${pct(o.serverCpuPercent / 100)} / ${pct(o.otherCpuPercent / 100)} |`,
      );
    }
    out.push("");
  }
  if (r.http.some((row) => row.remote.length > 0)) {
    out.push(
      `Remote systems: the server and the endpoint are two processes, CPU per request is each one's own; ` +
        `restate-server runs with --default-num-partitions ${s.restatePartitions} and its other defaults (a native binary: no tsx in its RSS); ` +
        `the endpoints are bench/restate-services.ts (Restate SDK) and bench/onelog-endpoint.ts (onelog SDK), under tsx, logging at their default levels.`,
      "",
      ...renderSystems(r.http),
      "",
    );
  }
  out.push(...renderCluster(r.cluster ?? []), ...renderAdminQuery(r.adminQuery ?? []));
  const b = r.baselines;
  out.push(
    "| Baseline | rate | p50 ms | p99 ms | CPU server / others |",
    "| --- | --: | --: | --: | --: |",
    `| disk: 4 KiB append + fsync | ${int(b.fsync.rate)} fsyncs/s | ${fixed(b.fsync.latency.p50Ms, 2)} | ${fixed(b.fsync.latency.p99Ms, 2)} | – / ${pct(b.fsync.otherCpuPercent / 100)} |`,
    `| SQLite: 1-row commit, WAL, synchronous=FULL | ${int(b.sqliteCommit.rate)} commits/s | ${fixed(b.sqliteCommit.latency.p50Ms, 2)} | ${fixed(b.sqliteCommit.latency.p99Ms, 2)} | – / ${pct(b.sqliteCommit.otherCpuPercent / 100)} |`,
  );
  for (const row of r.http) {
    if (row.bare === undefined) continue;
    out.push(
      `| bare http, ${row.workload}, C=${row.concurrency} | ${int(row.bare.throughput)} req/s | ${fixed(row.bare.latency.p50Ms, 2)} | ${fixed(row.bare.latency.p99Ms, 2)} | ` +
        `${pct(row.bare.serverCpuPercent / 100)} / ${pct(row.bare.otherCpuPercent / 100)} |`,
    );
  }
  out.push("");
  if (r.logAppend.length > 0) {
    out.push(
      "| log.append appenders | records/s | commits/s | records/commit (max) | p50 ms | p99 ms | records/s ÷ fsyncs/s | commits/s ÷ SQLite commits/s | record B | disk B/record live / closed | CPU others |",
      "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const row of r.logAppend) {
      out.push(
        `| ${row.concurrency} | ${int(row.recordsPerSecond)} | ${int(row.commitsPerSecond)} | ${fixed(row.recordsPerCommit, 1)} (${row.maxRecordsPerCommit}) | ` +
          `${fixed(row.latency.p50Ms, 2)} | ${fixed(row.latency.p99Ms, 2)} | ${fixed(row.recordsVsFsync, 2)}× | ${pct(row.commitsVsSqlite)} | ` +
          `${row.recordBytes} | ${int(row.liveDiskBytesPerRecord)} / ${int(row.diskBytesPerRecord)} | ${pct(row.otherCpuPercent / 100)} |`,
      );
    }
    out.push("");
  }
  const idle = r.idleRss;
  if (idle.onelogBytes.length > 0) {
    const lo = Math.min(...idle.onelogBytes);
    const hi = Math.max(...idle.onelogBytes);
    const t = idle.tsxLoaderBytes;
    out.push(
      `Idle RSS right after start: onelog ${mb(lo)}–${mb(hi)} MB over ${idle.onelogBytes.length} starts` +
        `${idle.target === undefined ? "" : ` (target ${mark(idle.target)})`}` +
        `${idle.bareBytes === undefined ? "" : `; bare http server ${mb(idle.bareBytes)} MB (under tsx)`}. ` +
        (s.runtime === "compiled"
          ? `onelog ran as compiled JavaScript; tsx's loader, which the bare server and the endpoints carry, adds ${mb(t)} MB to any Node process.`
          : `onelog ran under tsx, whose loader adds ${mb(t)} MB to any Node process: as compiled JavaScript it would be about ${mb(lo - t)}–${mb(hi - t)} MB.`),
      "",
    );
  }
  if (r.errors.length > 0) {
    out.push(`**${r.errors.length} problems:**`, "", ...r.errors.slice(0, 20).map((e) => `- ${e}`), "");
  }
  return out.join("\n");
}

/** CPU as "% of a core (µs per request)". */
const cpu = (percent: number, usPerRequest: number) => `${pct(percent / 100)} (${int(usPerRequest)})`;

/**
 * Every system that ran, side by side per workload and concurrency, with the server's and the
 * endpoint's CPU and memory apart; then onelog server ÷ restate-server with the same endpoint.
 */
function renderSystems(http: readonly HttpRow[]): string[] {
  const out = [
    "| Workload | C | system | req/s | ÷ bare | p50 ms | p99 ms | CPU server % (µs/req) | CPU endpoint % (µs/req) | RSS server idle / peak MB | RSS endpoint idle / peak MB | CPU others |",
    "| --- | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const row of http) {
    const bare = row.bare?.throughput ?? NaN;
    const runs: [SystemName, ServerRun][] = [
      ...(row.bare === undefined ? [] : [["bare", row.bare] as [SystemName, ServerRun]]),
      ...(row.onelog === undefined ? [] : [["embedded", row.onelog] as [SystemName, ServerRun]]),
      ...row.remote.map((run) => [run.system, run] as [SystemName, ServerRun]),
    ];
    for (const [system, run] of runs) {
      const e = run.endpoint;
      out.push(
        `| ${row.workload} | ${row.concurrency} | ${SYSTEM_LABELS[system]} | ${int(run.throughput)} | ` +
          `${system === "bare" ? "" : pct(run.throughput / bare)} | ${fixed(run.latency.p50Ms, 2)} | ${fixed(run.latency.p99Ms, 2)} | ` +
          `${cpu(run.serverCpuPercent, run.serverCpuUsPerRequest)} | ${e === undefined ? "–" : cpu(e.cpuPercent, e.cpuUsPerRequest)} | ` +
          `${mb(run.rss.idleBytes)} / ${mb(run.rss.peakBytes)} | ${e === undefined ? "–" : `${mb(e.rss.idleBytes)} / ${mb(e.rss.peakBytes)}`} | ` +
          `${pct(run.otherCpuPercent / 100)} |`,
      );
    }
  }
  if (http.some((row) => row.sameEndpoint.length > 0)) {
    out.push(
      "",
      "| Workload | C | endpoint | onelog server req/s | restate-server req/s | onelog ÷ restate | goal |",
      "| --- | --: | --- | --: | --: | --: | --- |",
    );
    for (const row of http) {
      for (const pair of row.sameEndpoint) {
        out.push(
          `| ${row.workload} | ${row.concurrency} | ${pair.endpoint} | ${int(pair.onelogThroughput)} | ${int(pair.restateThroughput)} | ` +
            `${fixed(pair.ratio, 2)}× | ${pair.target === undefined ? "" : mark(pair.target)} |`,
        );
      }
    }
  }
  return out;
}
