/** The results of `npm run bench -- --scaling` and their markdown tables (docs/benchmarks.md, "How cost grows"). */
import type { DriveResult } from "./driver.js";
import { sizeLabel } from "./scaling-workloads.js";
import { fixed, int, pct } from "./stats.js";

/** One measured point: the driver's figures and the server's CPU, disk writes and log records over the window. */
export interface Point extends DriveResult {
  readonly serverCpuPercent: number;
  readonly serverCpuUsPerRequest: number;
  readonly otherCpuPercent: number;
  readonly writtenBytesPerRequest: number;
  readonly logRecordsPerRequest: number;
  /** The data directory after a clean stop (WALs checkpointed) ÷ every answer, warm-up included. */
  readonly stoppedBytesPerRequest: number;
}

export interface RecoveryRow {
  readonly invocations: number;
  /** Log records appended since the first trim (what a replay from an empty store would read). */
  readonly logRecords: number;
  readonly logBytes: number;
  readonly storeBytes: number;
  readonly loadMs: number;
  readonly fresh: Restart;
  readonly afterKill: Restart;
  readonly afterStop: Restart;
  /** The directory as SIGKILL left it, less the store's WAL (a power loss's worst case for the store). */
  readonly storeWalLost: Restart;
}

/** One timed start: from spawn to ready and to the first answer, and the log records it replayed. */
export interface Restart {
  readonly readyMs: number;
  readonly firstAnswerMs: number;
  readonly replayedRecords: number;
}

export interface DiskSample {
  readonly atMs: number;
  readonly invocations: number;
  /** log.db and its WAL (and shared-memory file) together; the WAL alone. */
  readonly logBytes: number;
  readonly logWalBytes: number;
  readonly storeBytes: number;
  readonly storeWalBytes: number;
}

export interface DiskRun {
  readonly workload: string;
  readonly retention: string;
  readonly throughput: number;
  readonly otherCpuPercent: number;
  readonly samples: readonly DiskSample[];
  /** Data directory after a clean stop, and its growth per invocation. */
  readonly stoppedBytes: number;
  readonly stoppedBytesPerInvocation: number;
  readonly initialBytes: number;
}

export interface Results {
  readonly machine: string;
  readonly command: string;
  readonly fsyncsPerSecond: number;
  readonly partitionsConcurrency: number;
  readonly stepsConcurrency: number;
  readonly concurrency: { workload: string; concurrency: number; point: Point }[];
  readonly partitions: { workload: string; partitions: number; point: Point }[];
  readonly state: { sizeBytes: number; point: Point }[];
  readonly journal: { steps: number; point: Point }[];
  readonly recovery: RecoveryRow[];
  readonly disk: DiskRun[];
  readonly errors: string[];
}

export const ms = (x: number) => fixed(x, 2);
export const sec = (x: number) => fixed(x / 1000, 2);
export const mib = (bytes: number) => fixed(bytes / 2 ** 20, 1);

/** The tables of docs/benchmarks.md's "How cost grows". */
export function renderScaling(r: Results): string {
  const lines: string[] = [`${r.machine}; disk ${int(r.fsyncsPerSecond)} fsyncs/s`, ""];
  const table = (head: string[], align: string[], rows: string[][]) => {
    lines.push(
      `| ${head.join(" | ")} |`,
      `| ${align.join(" | ")} |`,
      ...rows.map((row) => `| ${row.join(" | ")} |`),
      "",
    );
  };
  const cpu = (p: Point) => `${pct(p.serverCpuPercent / 100)} (${int(p.serverCpuUsPerRequest)})`;
  if (r.concurrency.length > 0) {
    lines.push("**Concurrency**", "");
    table(
      [
        "Workload",
        "C",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU (µs/req)",
        "KB written/req",
        "disk B/inv",
        "others",
      ],
      ["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"],
      r.concurrency.map(({ workload, concurrency, point: p }) => [
        workload,
        String(concurrency),
        int(p.throughput),
        ms(p.latency.p50Ms),
        ms(p.latency.p99Ms),
        cpu(p),
        fixed(p.writtenBytesPerRequest / 1024, 1),
        int(p.stoppedBytesPerRequest),
        pct(p.otherCpuPercent / 100),
      ]),
    );
  }
  if (r.partitions.length > 0) {
    lines.push(`**Partitions** (C = ${r.partitionsConcurrency})`, "");
    table(
      ["Workload", "partitions", "req/s", "p50 ms", "p99 ms", "server CPU (µs/req)", "others"],
      ["---", "--:", "--:", "--:", "--:", "--:", "--:"],
      r.partitions.map(({ workload, partitions, point: p }) => [
        workload,
        String(partitions),
        int(p.throughput),
        ms(p.latency.p50Ms),
        ms(p.latency.p99Ms),
        cpu(p),
        pct(p.otherCpuPercent / 100),
      ]),
    );
  }
  if (r.state.length > 0) {
    lines.push("**State size** (`Blob.put`, C = 64, 100 keys)", "");
    table(
      ["state value", "req/s", "p50 ms", "p99 ms", "server CPU (µs/req)", "KB written/req", "others"],
      ["--:", "--:", "--:", "--:", "--:", "--:", "--:"],
      r.state.map(({ sizeBytes, point: p }) => [
        sizeLabel(sizeBytes),
        int(p.throughput),
        ms(p.latency.p50Ms),
        ms(p.latency.p99Ms),
        cpu(p),
        fixed(p.writtenBytesPerRequest / 1024, 1),
        pct(p.otherCpuPercent / 100),
      ]),
    );
  }
  if (r.journal.length > 0) {
    // Per log record rather than per invocation: with 1,000 steps only a few invocations end in a
    // window, but the records appended in it count every step in flight (a step is two records).
    lines.push(
      "**Journal length** (`Steps.run`; per log record: what every step in flight appended in the window)",
      "",
    );
    table(
      [
        "steps",
        "C",
        "invocations/s",
        "steps/s",
        "p50 ms",
        "p99 ms",
        "log records/s",
        "server µs/record",
        "KB written/record",
        "others",
      ],
      ["--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:", "--:"],
      r.journal.map(({ steps, point: p }) => [
        int(steps),
        String(r.stepsConcurrency),
        p.throughput < 10 ? fixed(p.throughput, 1) : int(p.throughput),
        int(p.throughput * steps),
        ms(p.latency.p50Ms),
        ms(p.latency.p99Ms),
        int(p.logRecordsPerRequest * p.throughput),
        int(p.serverCpuUsPerRequest / p.logRecordsPerRequest),
        fixed(p.writtenBytesPerRequest / p.logRecordsPerRequest / 1024, 1),
        pct(p.otherCpuPercent / 100),
      ]),
    );
  }
  if (r.recovery.length > 0) {
    lines.push(
      "**Restart** (`Greeter.greet` × N after the first log trim; each cell: s from spawn to ready / to the first answer, log records replayed)",
      "",
    );
    const cell = (r: Restart) => `${sec(r.readyMs)} / ${sec(r.firstAnswerMs)} (${int(r.replayedRecords)})`;
    table(
      [
        "N",
        "log records since trim",
        "data dir MiB (log + store)",
        "fresh directory",
        "after SIGKILL",
        "after a clean stop",
        "after SIGKILL, store WAL lost",
      ],
      ["--:", "--:", "--:", "--:", "--:", "--:", "--:"],
      r.recovery.map((row) => [
        int(row.invocations),
        int(row.logRecords),
        `${mib(row.logBytes)} + ${mib(row.storeBytes)}`,
        cell(row.fresh),
        cell(row.afterKill),
        cell(row.afterStop),
        cell(row.storeWalLost),
      ]),
    );
  }
  if (r.disk.length > 0) {
    lines.push("**Disk under steady load** (C = 64; data-directory MiB, log + store, WALs included)", "");
    const runs = r.disk;
    const count = Math.max(...runs.map((d) => d.samples.length));
    table(
      ["s", ...runs.flatMap((d) => [`${d.workload}: invocations`, "log MiB (WAL)", "store MiB (WAL)"])],
      ["--:", ...runs.flatMap(() => ["--:", "--:", "--:"])],
      Array.from({ length: count }, (_, i) => [
        sec(runs[0]!.samples[i]?.atMs ?? NaN).replace(/\.\d+$/, ""),
        ...runs.flatMap((d) => {
          const s = d.samples[i];
          return s === undefined
            ? ["", "", ""]
            : [
                int(s.invocations),
                `${mib(s.logBytes)} (${mib(s.logWalBytes)})`,
                `${mib(s.storeBytes)} (${mib(s.storeWalBytes)})`,
              ];
        }),
      ]),
    );
    for (const d of runs) {
      lines.push(
        `- ${d.workload} (${d.retention}): ${int(d.throughput)} req/s, others ${pct(d.otherCpuPercent / 100)}; ` +
          `after a clean stop ${mib(d.stoppedBytes)} MiB, ${int(d.stoppedBytesPerInvocation)} bytes per invocation`,
      );
    }
    lines.push("");
  }
  if (r.errors.length > 0) lines.push("**Errors**", "", ...r.errors.map((e) => `- ${e}`), "");
  return lines.join("\n");
}
