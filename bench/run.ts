/**
 * `npm run bench`: measures onelog against its baselines in one run and writes
 * bench/results/latest.json and latest.md (method and figures: docs/benchmarks.md).
 *
 *   npm run bench -- --duration 10 --warmup 2 --concurrency 64,1 --workloads Greeter.greet,Counter.add,Flow.run,log.append
 *
 * Each HTTP workload runs against a bare node:http server (the ceiling of HTTP here) and then
 * against a fresh onelog server on a fresh data directory, both child processes, at each
 * concurrency. The disk's fsync rate and SQLite's commit rate are measured first, in the
 * directory the data directories live in. Exits 1 if an answer failed its check or a server
 * failed; the targets are printed, never enforced.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { request } from "undici";
import { machineUserMs, REPO, sampleRss, ServerChild, tsxLoaderRssBytes } from "./child.js";
import { dataDirBytes, fsyncRate, sqliteCommitRate } from "./disk.js";
import { drive } from "./driver.js";
import { logAppend } from "./log-append.js";
import {
  FLOW_P50_TARGET_MS,
  IDLE_RSS_TARGET_BYTES,
  RATIO_TARGETS,
  renderMarkdown,
  type HttpRow,
  type LogAppendRow,
  type Machine,
  type OnelogExtras,
  type Results,
  type ServerRun,
  type TargetCheck,
} from "./report.js";
import { fixed, int, mb, pct } from "./stats.js";
import { HTTP_WORKLOADS, type HttpWorkload } from "./workloads.js";

const ALL_WORKLOADS = [...HTTP_WORKLOADS.map((w) => w.name), "log.append"] as const;
const REQUEST_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 60_000;
const DISK_PROBE_MS = 2_000;
const RSS_SAMPLE_MS = 250;
/** Idle RSS is read this long after the server reported ready. */
const IDLE_SETTLE_MS = 500;

/** Seconds, or a duration with a unit: `10`, `10s`, `500ms`. */
function parseMs(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (m === null) throw new Error(`--${flag}: expected seconds (10) or a duration (10s, 500ms), got ${text}`);
  return m[2] === "ms" ? Number(m[1]) : Number(m[1]) * 1000;
}

function parseFlags() {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "2" },
      concurrency: { type: "string", default: "64,1" },
      workloads: { type: "string", default: ALL_WORKLOADS.join(",") },
      greeter: { type: "string", default: "example" },
      dir: { type: "string" },
      profile: { type: "boolean", default: false },
      out: { type: "string", default: path.join(REPO, "bench/results") },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`npm run bench -- [flags]
  --duration 10          measured window per workload and concurrency (seconds, or 500ms)
  --warmup 2             warm-up before each window
  --concurrency 64,1     requests in flight (one or more)
  --workloads ${ALL_WORKLOADS.join(",")}
  --greeter example      example: examples/greeter.ts; quiet: bench/services.ts's copy without ctx.console
  --dir <dir>            where the data directories go (default: the OS temp dir)
  --profile              run the onelog servers with --cpu-prof (profiles in <out>/profiles)
  --out bench/results    where latest.json and latest.md go`);
    process.exit(0);
  }
  const concurrency = values.concurrency.split(",").map((c) => {
    const n = Number(c);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--concurrency: expected positive integers, got ${c}`);
    return n;
  });
  const workloads = values.workloads.split(",").map((w) => w.trim());
  for (const w of workloads) {
    if (!(ALL_WORKLOADS as readonly string[]).includes(w)) {
      throw new Error(`--workloads: unknown workload ${w}; known: ${ALL_WORKLOADS.join(", ")}`);
    }
  }
  const greeter: "quiet" | "example" = values.greeter === "quiet" ? "quiet" : "example";
  if (values.greeter !== greeter) throw new Error(`--greeter: quiet or example, not ${values.greeter}`);
  return {
    durationMs: parseMs("duration", values.duration),
    warmupMs: parseMs("warmup", values.warmup),
    concurrency,
    workloads,
    greeter,
    dir: values.dir,
    profile: values.profile,
    out: path.resolve(values.out),
  };
}

function machine(dir: string): Machine {
  let commit = "unknown";
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: REPO,
      encoding: "utf8",
    }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: REPO,
      encoding: "utf8",
    }).trim();
    commit = dirty === "" ? head : `${head} (with uncommitted changes)`;
  } catch {
    // Not a git checkout: the commit stays unknown.
  }
  // The mount that holds the data directories: the longest mount point that prefixes it.
  let disk = "unknown";
  try {
    let best = "";
    for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
      const [device, mountPoint, fsType, options] = line.split(" ");
      if (device === undefined || mountPoint === undefined) continue;
      const prefix = mountPoint.endsWith("/") ? mountPoint : `${mountPoint}/`;
      if ((dir === mountPoint || dir.startsWith(prefix)) && mountPoint.length > best.length) {
        best = mountPoint;
        const name = path.basename(device).replace(/p?\d+$/, "");
        let kind = "";
        try {
          kind =
            readFileSync(`/sys/block/${name}/queue/rotational`, "utf8").trim() === "1"
              ? ", rotational"
              : ", non-rotational";
        } catch {
          // Not a block device we can look up (overlay, tmpfs).
        }
        disk = `${device} on ${mountPoint} (${fsType}, ${options?.split(",")[0] ?? ""}${kind})`;
      }
    }
  } catch {
    // No /proc/mounts: the disk stays unknown.
  }
  return {
    date: new Date().toISOString(),
    commit,
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryBytes: os.totalmem(),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    disk,
    loadAverage: { start: os.loadavg()[0]!, end: NaN },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface AdminStats {
  readonly log: { commits: number; records: number } | null;
}

async function adminStats(adminUrl: string): Promise<AdminStats> {
  const res = await request(`${adminUrl}/stats`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return (await res.body.json()) as AdminStats;
}

interface RunContext {
  readonly flags: ReturnType<typeof parseFlags>;
  readonly tmp: string;
  readonly errors: string[];
  readonly idleOnelog: number[];
}

/** Runs `fn` in this process and measures the CPU every other process used meanwhile (100% = one core). */
async function othersDuring<T>(fn: () => Promise<T> | T): Promise<T & { otherCpuPercent: number }> {
  const start = performance.now();
  const user = machineUserMs();
  const self = process.cpuUsage();
  const value = await fn();
  const otherMs = machineUserMs() - user - process.cpuUsage(self).user / 1000;
  return { ...value, otherCpuPercent: Math.max(0, (otherMs * 100) / (performance.now() - start)) };
}

/** Drives one server with one workload; measures its CPU and memory around the window. */
async function measure(
  ctx: RunContext,
  child: ServerChild,
  idleBytes: number,
  workload: HttpWorkload,
  concurrency: number,
  tag: string,
  onWindow?: (edge: "start" | "end") => void,
): Promise<ServerRun> {
  // Taken at the window's edges: server CPU, machine user CPU, the driver's own CPU, the time.
  type Edge = {
    server: { userMs: number; systemMs: number };
    machineUserMs: number;
    self: NodeJS.CpuUsage;
    at: number;
  };
  const edge = (): Edge => ({
    server: child.cpu(),
    machineUserMs: machineUserMs(),
    self: process.cpuUsage(),
    at: performance.now(),
  });
  let first: Edge | undefined;
  let last: Edge | undefined;
  let stopSampler: (() => { maxBytes: number; meanBytes: number }) | undefined;
  let sampled = { maxBytes: NaN, meanBytes: NaN };
  const result = await drive({
    url: child.url,
    workload,
    tag,
    concurrency,
    warmupMs: ctx.flags.warmupMs,
    durationMs: ctx.flags.durationMs,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    onWindow: (which) => {
      if (which === "start") {
        first = edge();
        stopSampler = sampleRss(child, RSS_SAMPLE_MS);
      } else {
        last = edge();
        if (stopSampler !== undefined) sampled = stopSampler();
        stopSampler = undefined;
      }
      onWindow?.(which);
    },
  });
  if (stopSampler !== undefined) sampled = stopSampler();
  const memory = child.memory();
  if (first === undefined || last === undefined) throw new Error("bench: the measured window never ended");
  const windowMs = last.at - first.at;
  const serverUserMs = last.server.userMs - first.server.userMs;
  const cpuMs = serverUserMs + last.server.systemMs - first.server.systemMs;
  const selfUs = { user: last.self.user - first.self.user, system: last.self.system - first.self.system };
  const otherMs = last.machineUserMs - first.machineUserMs - serverUserMs - selfUs.user / 1000;
  return {
    ...result,
    serverCpuPercent: (cpuMs * 100) / windowMs,
    driverCpuPercent: ((selfUs.user + selfUs.system) * 0.1) / windowMs,
    otherCpuPercent: Math.max(0, (otherMs * 100) / windowMs),
    serverCpuUsPerRequest: (cpuMs * 1000) / result.measured,
    rss: {
      idleBytes,
      windowMaxBytes: sampled.maxBytes,
      windowMeanBytes: sampled.meanBytes,
      peakBytes: memory.peakRssBytes,
      afterBytes: memory.rssBytes,
    },
  };
}

async function idleRss(child: ServerChild): Promise<number> {
  await sleep(IDLE_SETTLE_MS);
  return child.memory().rssBytes;
}

/** One workload at one concurrency on a fresh onelog server and data directory. */
async function runOnelog(
  ctx: RunContext,
  workload: HttpWorkload,
  concurrency: number,
  run: number,
): Promise<ServerRun & OnelogExtras> {
  const dataDir = path.join(ctx.tmp, `onelog-${run}`);
  const child = await ServerChild.spawn({
    script: "bench/onelog-server.ts",
    env: { BENCH_DATA_DIR: dataDir, BENCH_GREETER: ctx.flags.greeter },
    logFile: path.join(ctx.flags.out, "logs", `onelog-${run}.log`),
    nodeFlags: ctx.flags.profile
      ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ctx.flags.out, "profiles")}`]
      : [],
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  try {
    const idle = await idleRss(child);
    ctx.idleOnelog.push(idle);
    const before = dataDirBytes(dataDir);
    const stats: Promise<AdminStats>[] = [];
    const server = await measure(ctx, child, idle, workload, concurrency, `o${run}`, () => {
      // A failed read leaves the counters unknown (NaN) rather than failing the run.
      stats.push(adminStats(child.adminUrl!).catch((): AdminStats => ({ log: null })));
    });
    const [atStart, atEnd] = await Promise.all(stats);
    const after = dataDirBytes(dataDir);
    const answered = server.sent - server.errors;
    const logBytes = after.logBytes - before.logBytes;
    const storeBytes = after.storeBytes - before.storeBytes;
    const commits = (atEnd?.log?.commits ?? NaN) - (atStart?.log?.commits ?? NaN);
    const records = (atEnd?.log?.records ?? NaN) - (atStart?.log?.records ?? NaN);
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      ctx.errors.push(`${workload.name} C=${concurrency}: the onelog server exited during the run`);
    }
    // A clean stop checkpoints the WALs into the database files: what stays is the data itself.
    await child.stop();
    const stopped = dataDirBytes(dataDir);
    return {
      ...server,
      diskBytesPerInvocation: (logBytes + storeBytes) / answered,
      logBytesPerInvocation: logBytes / answered,
      storeBytesPerInvocation: storeBytes / answered,
      stoppedBytesPerInvocation: (stopped.logBytes + stopped.storeBytes) / answered,
      logRecordsPerInvocation: records / server.measured,
      logRecordsPerCommit: records / commits,
      logCommitsPerSecond: (commits * 1000) / ctx.flags.durationMs,
    };
  } finally {
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function targetsFor(row: Omit<HttpRow, "targets">, highest: number): TargetCheck[] {
  const targets: TargetCheck[] = [];
  const ratio = RATIO_TARGETS[row.workload];
  if (ratio !== undefined && row.concurrency === highest) {
    targets.push({ what: `≥ ${pct(ratio)}`, met: row.ratio >= ratio });
  }
  if (row.workload === "Flow.run" && row.concurrency === 1) {
    targets.push({
      what: `p50 < ${FLOW_P50_TARGET_MS} ms`,
      met: row.onelog.latency.p50Ms < FLOW_P50_TARGET_MS,
    });
  }
  return targets;
}

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<number> {
  const flags = parseFlags();
  const parent = path.resolve(flags.dir ?? os.tmpdir());
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(path.join(parent, "onelog-bench-"));
  // Server logs of this run (the previous run's go).
  rmSync(path.join(flags.out, "logs"), { recursive: true, force: true });
  mkdirSync(path.join(flags.out, "logs"), { recursive: true });
  const ctx: RunContext = { flags, tmp, errors: [], idleOnelog: [] };
  const httpWorkloads = HTTP_WORKLOADS.filter((w) => flags.workloads.includes(w.name));
  const highest = Math.max(...flags.concurrency);
  const windows =
    (httpWorkloads.length * 2 + (flags.workloads.includes("log.append") ? 1 : 0)) * flags.concurrency.length;
  const estimateMs = windows * (flags.warmupMs + flags.durationMs) + 2 * DISK_PROBE_MS + windows * 2_000;
  // Everything is bounded: a run that takes far longer than planned is stuck; the exit handler kills the children.
  const watchdog = setTimeout(
    () => {
      console.error(
        `bench: still running after ${Math.round((2 * estimateMs + 120_000) / 1000)} s; giving up`,
      );
      process.exit(2);
    },
    2 * estimateMs + 120_000,
  );
  watchdog.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

  const info = machine(tmp);
  progress(
    `${info.nproc} CPUs, ${int(info.memoryBytes / 2 ** 20)} MiB, node ${info.node}, data in ${tmp} (${info.disk}); ` +
      `load average ${fixed(os.loadavg()[0]!, 2)}; about ${Math.round(estimateMs / 1000)} s`,
  );
  let bare: ServerChild | undefined;
  try {
    progress("baseline: disk fsync");
    const fsync = await othersDuring(() => fsyncRate(tmp, DISK_PROBE_MS));
    progress(`  ${int(fsync.rate)} fsyncs/s; baseline: SQLite commits`);
    const sqliteCommit = await othersDuring(() => sqliteCommitRate(tmp, DISK_PROBE_MS));
    progress(`  ${int(sqliteCommit.rate)} commits/s; idle RSS of the tsx loader`);

    const tsxBytes = await tsxLoaderRssBytes(IDLE_SETTLE_MS);
    progress(`  the tsx loader adds ${mb(tsxBytes)} MB RSS to every server child`);

    const http: HttpRow[] = [];
    let bareIdle: number | undefined;
    if (httpWorkloads.length > 0) {
      bare = await ServerChild.spawn({
        script: "bench/bare-server.ts",
        env: {},
        logFile: path.join(flags.out, "logs", "bare.log"),
        readyTimeoutMs: READY_TIMEOUT_MS,
      });
      bareIdle = await idleRss(bare);
    }
    let run = 0;
    for (const workload of httpWorkloads) {
      for (const concurrency of flags.concurrency) {
        run++;
        progress(`${workload.name} C=${concurrency}: bare http`);
        const bareRun = await measure(ctx, bare!, bareIdle!, workload, concurrency, `b${run}`);
        progress(`  ${int(bareRun.throughput)} req/s; onelog`);
        const onelog = await runOnelog(ctx, workload, concurrency, run);
        const partial = {
          workload: workload.name,
          path: workload.path,
          concurrency,
          onelog,
          bare: bareRun,
          ratio: onelog.throughput / bareRun.throughput,
        };
        const row: HttpRow = { ...partial, targets: targetsFor(partial, highest) };
        http.push(row);
        progress(
          `  ${int(onelog.throughput)} req/s (${pct(row.ratio)} of bare), p50 ${fixed(onelog.latency.p50Ms, 2)} ms, ` +
            `p99 ${fixed(onelog.latency.p99Ms, 2)} ms`,
        );
        for (const [server, r] of [
          ["bare", bareRun],
          ["onelog", onelog],
        ] as const) {
          if (r.errors > 0) {
            ctx.errors.push(
              `${workload.name} C=${concurrency} ${server}: ${r.errors} errors, e.g. ${r.errorSamples.join("; ")}`,
            );
          }
        }
      }
    }
    await bare?.stop();

    const logAppendRows: LogAppendRow[] = [];
    if (flags.workloads.includes("log.append")) {
      for (const concurrency of flags.concurrency) {
        progress(`log.append with ${concurrency} appenders`);
        const dir = path.join(tmp, `log-append-${concurrency}`);
        const r = await othersDuring(() =>
          logAppend({ dir, concurrency, warmupMs: flags.warmupMs, durationMs: flags.durationMs }),
        );
        rmSync(dir, { recursive: true, force: true });
        logAppendRows.push({
          ...r,
          concurrency,
          recordsVsFsync: r.recordsPerSecond / fsync.rate,
          commitsVsSqlite: r.commitsPerSecond / sqliteCommit.rate,
        });
        progress(`  ${int(r.recordsPerSecond)} records/s, ${fixed(r.recordsPerCommit, 1)} records/commit`);
      }
    }

    const results: Results = {
      machine: { ...info, loadAverage: { ...info.loadAverage, end: os.loadavg()[0]! } },
      settings: {
        warmupMs: flags.warmupMs,
        durationMs: flags.durationMs,
        concurrency: flags.concurrency,
        workloads: flags.workloads,
        greeter: flags.greeter,
        client: "undici Pool (one keep-alive connection per request in flight, no pipelining)",
        dataDirParent: parent,
      },
      baselines: { fsync, sqliteCommit },
      http,
      logAppend: logAppendRows,
      idleRss: {
        onelogBytes: ctx.idleOnelog,
        bareBytes: bareIdle,
        tsxLoaderBytes: tsxBytes,
        target:
          ctx.idleOnelog.length === 0
            ? undefined
            : { what: "< 100 MB", met: Math.max(...ctx.idleOnelog) < IDLE_RSS_TARGET_BYTES },
      },
      errors: ctx.errors,
    };
    writeFileSync(path.join(flags.out, "latest.json"), JSON.stringify(results, null, 2) + "\n");
    const markdown = renderMarkdown(results);
    writeFileSync(path.join(flags.out, "latest.md"), markdown);
    console.log(markdown);
    progress(`wrote ${path.join(flags.out, "latest.json")} and latest.md`);
    return ctx.errors.length === 0 ? 0 : 1;
  } finally {
    await bare?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

process.exitCode = await main();
