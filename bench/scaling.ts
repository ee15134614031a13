/**
 * `npm run bench -- --scaling`: how the cost of embedded onelog grows (docs/benchmarks.md, "How
 * cost grows"). Six parts, each a table, with the driver and answer checks of the rest of the
 * bench, every point on a fresh server child (bench/scaling-server.ts) and a fresh data directory:
 *
 *   concurrency  Greeter.greet, Counter.add, Flow.run at C = 1, 8, 64, 256
 *   partitions   the same three at C = 64 over 1, 4, 16 partitions
 *   state        Blob.put: an object that reads and writes one state value of 1 KB … 100 KB
 *   journal      Steps.run: a workflow of 1 … 1,000 `ctx.run` steps (invocations/s and steps/s)
 *   recovery     N invocations after the first log trim, then restarts on the same data
 *                directory after a SIGKILL, after a clean stop, and with the store's WAL lost:
 *                time from spawn to ready and to the first answer, log records replayed
 *   disk         data-directory size every few seconds under a steady load with a short
 *                compaction interval, with the default retentions and with none
 *
 * Writes <out>/scaling.json and <out>/scaling.md and prints the tables. Exits 1 if an answer
 * failed its check or a server died. Every child is SIGKILLed and every data directory removed
 * when the run exits, however it exits (child.ts, and the exit handler below).
 */
import { execFileSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Pool, request } from "undici";
import { greeting } from "./answers.js";
import { machineUserMs, REPO, ServerChild } from "./child.js";
import { dataDirBytes, fsyncRate } from "./disk.js";
import { drive } from "./driver.js";
import {
  mib,
  renderScaling,
  sec,
  type DiskRun,
  type DiskSample,
  type Point,
  type RecoveryRow,
  type Restart,
  type Results,
} from "./scaling-report.js";
import {
  blobWorkload,
  ephemeralWorkload,
  sizeLabel,
  stepsWorkload,
  type Workload,
} from "./scaling-workloads.js";
import { fixed, int, pct } from "./stats.js";
import { HTTP_WORKLOADS } from "./workloads.js";

const PARTS = ["concurrency", "partitions", "state", "journal", "recovery", "disk"] as const;
type Part = (typeof PARTS)[number];

const REQUEST_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 120_000;
/** The first log trim runs this long after start (start.ts: min(5 s, compactIntervalMs)); the recovery part loads after it. */
const FIRST_TRIM_WAIT_MS = 6_000;
/** The recovery part's compaction interval: long enough that no second trim runs during its load. */
const RECOVERY_COMPACT_MS = 600_000;

/** Seconds, or a duration with a unit: `10`, `10s`, `500ms`. */
function parseMs(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (m === null) throw new Error(`--${flag}: expected seconds (10) or a duration (10s, 500ms), got ${text}`);
  return m[2] === "ms" ? Number(m[1]) : Number(m[1]) * 1000;
}

function parseCounts(flag: string, text: string): number[] {
  return text.split(",").map((c) => {
    const n = Number(c.trim().replace(/_/g, ""));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected positive integers, got ${c}`);
    return n;
  });
}

const HELP = `npm run bench -- --scaling [flags]
  --parts ${PARTS.join(",")}
                          which tables to measure
  --duration 5            measured window of each point (seconds, or 500ms)
  --warmup 1              warm-up before each window (its answers are checked, not counted)
  --concurrency 1,8,64,256
  --partitions 1,4,16     partitions of the partitions part (at --partitions-concurrency 64)
  --partitions-concurrency 64
  --state-sizes 1024,10240,102400   bytes of the one state value Blob.put reads and writes (at C = 64)
  --steps 1,10,100,1000   ctx.run steps of Steps.run
  --steps-concurrency 16  --steps-duration 10
  --recovery 1000,10000,50000       invocations before the crash and restart
  --steady 60             the disk part's load, per variant (seconds)
  --compact 5             the disk part's compaction interval (seconds)
  --sample 5              the disk part's sampling interval (seconds)
  --dir <dir>             where the data directories go (default: the OS temp dir)
  --out bench/results     where scaling.json and scaling.md go`;

function parseFlags(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      parts: { type: "string", default: PARTS.join(",") },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      concurrency: { type: "string", default: "1,8,64,256" },
      partitions: { type: "string", default: "1,4,16" },
      "partitions-concurrency": { type: "string", default: "64" },
      "state-sizes": { type: "string", default: "1024,10240,102400" },
      steps: { type: "string", default: "1,10,100,1000" },
      "steps-concurrency": { type: "string", default: "16" },
      "steps-duration": { type: "string", default: "10" },
      recovery: { type: "string", default: "1000,10000,50000" },
      steady: { type: "string", default: "60" },
      compact: { type: "string", default: "5" },
      sample: { type: "string", default: "5" },
      dir: { type: "string" },
      out: { type: "string", default: path.join(REPO, "bench/results") },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const parts = values.parts.split(",").map((name) => {
    const part = PARTS.find((p) => p === name.trim());
    if (part === undefined) throw new Error(`--parts: unknown part ${name}; known: ${PARTS.join(", ")}`);
    return part;
  });
  const one = (flag: string, text: string) => parseCounts(flag, text)[0]!;
  return {
    parts: PARTS.filter((p) => parts.includes(p)),
    durationMs: parseMs("duration", values.duration),
    warmupMs: parseMs("warmup", values.warmup),
    concurrency: parseCounts("concurrency", values.concurrency),
    partitions: parseCounts("partitions", values.partitions),
    partitionsConcurrency: one("partitions-concurrency", values["partitions-concurrency"]),
    stateSizes: parseCounts("state-sizes", values["state-sizes"]),
    steps: parseCounts("steps", values.steps),
    stepsConcurrency: one("steps-concurrency", values["steps-concurrency"]),
    stepsDurationMs: parseMs("steps-duration", values["steps-duration"]),
    recovery: parseCounts("recovery", values.recovery),
    steadyMs: parseMs("steady", values.steady),
    compactMs: parseMs("compact", values.compact),
    sampleMs: parseMs("sample", values.sample),
    dir: values.dir,
    out: path.resolve(values.out),
  };
}

type Flags = ReturnType<typeof parseFlags>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function progress(line: string): void {
  process.stderr.write(`[scaling ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Bytes a process caused to be written to storage so far (write_bytes of /proc/<pid>/io). */
function writtenBytes(pid: number): number {
  try {
    return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** The data directory's log and store files, each with its WAL, and the WALs alone, in bytes. */
function dirSizes(dir: string): Omit<DiskSample, "atMs" | "invocations"> {
  const sizes = { logBytes: 0, logWalBytes: 0, storeBytes: 0, storeWalBytes: 0 };
  for (const name of readdirSync(dir)) {
    const bytes = statSync(path.join(dir, name)).size;
    if (name.startsWith("log.db")) sizes.logBytes += bytes;
    if (name.startsWith("store.db")) sizes.storeBytes += bytes;
    if (name === "log.db-wal") sizes.logWalBytes += bytes;
    if (name === "store.db-wal") sizes.storeWalBytes += bytes;
  }
  return sizes;
}

interface LogStats {
  readonly log: { commits: number; records: number } | null;
  /** Records each partition applied since start, replayed ones included. */
  readonly partitions?: readonly { records: number }[];
}

async function logStats(adminUrl: string | undefined): Promise<LogStats> {
  if (adminUrl === undefined) return { log: null };
  try {
    const res = await request(`${adminUrl}/stats`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    return (await res.body.json()) as LogStats;
  } catch {
    // Unknown counters read as NaN rather than failing the run.
    return { log: null };
  }
}

interface Ctx {
  readonly flags: Flags;
  readonly tmp: string;
  readonly errors: string[];
  runs: number;
}

/** Starts a scaling server child on `dataDir` (created if new). */
function spawnServer(
  ctx: Ctx,
  dataDir: string,
  name: string,
  env: { partitions?: number; compactMs?: number } = {},
): Promise<ServerChild> {
  return ServerChild.spawn({
    script: "bench/scaling-server.ts",
    env: {
      BENCH_DATA_DIR: dataDir,
      ...(env.partitions === undefined ? {} : { BENCH_PARTITIONS: String(env.partitions) }),
      ...(env.compactMs === undefined ? {} : { BENCH_COMPACT_MS: String(env.compactMs) }),
    },
    logFile: path.join(ctx.flags.out, "logs", `scaling-${name}.log`),
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
}

/** Drives one workload on a fresh server and data directory; measures the server around the window. */
async function point(
  ctx: Ctx,
  o: {
    workload: Workload;
    concurrency: number;
    durationMs?: number;
    partitions?: number;
  },
): Promise<Point> {
  const run = ++ctx.runs;
  const dataDir = path.join(ctx.tmp, `p${run}`);
  const child = await spawnServer(ctx, dataDir, String(run), {
    ...(o.partitions === undefined ? {} : { partitions: o.partitions }),
  });
  try {
    await sleep(500);
    type Edge = {
      cpuMs: number;
      userMs: number;
      machineUserMs: number;
      selfUserMs: number;
      written: number;
      at: number;
    };
    const edge = (): Edge => {
      const cpu = child.cpu();
      return {
        cpuMs: cpu.userMs + cpu.systemMs,
        userMs: cpu.userMs,
        machineUserMs: machineUserMs(),
        selfUserMs: process.cpuUsage().user / 1000,
        written: writtenBytes(child.pid),
        at: performance.now(),
      };
    };
    const edges: Edge[] = [];
    const stats: Promise<LogStats>[] = [];
    const result = await drive({
      url: child.url,
      workload: o.workload,
      tag: `s${run}`,
      concurrency: o.concurrency,
      warmupMs: ctx.flags.warmupMs,
      durationMs: o.durationMs ?? ctx.flags.durationMs,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      onWindow: () => {
        edges.push(edge());
        stats.push(logStats(child.adminUrl));
      },
    });
    const [first, last] = edges;
    if (first === undefined || last === undefined)
      throw new Error("scaling: the measured window never ended");
    const [atStart, atEnd] = await Promise.all(stats);
    const windowMs = last.at - first.at;
    const cpuMs = last.cpuMs - first.cpuMs;
    const otherMs =
      last.machineUserMs -
      first.machineUserMs -
      (last.userMs - first.userMs) -
      (last.selfUserMs - first.selfUserMs);
    const at = `${o.workload.name} C=${o.concurrency}${o.partitions === undefined ? "" : ` P=${o.partitions}`}`;
    if (result.errors > 0)
      ctx.errors.push(`${at}: ${result.errors} errors, e.g. ${result.errorSamples.join("; ")}`);
    if (!child.running) ctx.errors.push(`${at}: the server exited during the run`);
    await child.stop();
    const stopped = dataDirBytes(dataDir);
    const answered = result.sent - result.errors;
    return {
      ...result,
      serverCpuPercent: (cpuMs * 100) / windowMs,
      serverCpuUsPerRequest: (cpuMs * 1000) / result.measured,
      otherCpuPercent: Math.max(0, (otherMs * 100) / windowMs),
      writtenBytesPerRequest: (last.written - first.written) / result.measured,
      logRecordsPerRequest: ((atEnd?.log?.records ?? NaN) - (atStart?.log?.records ?? NaN)) / result.measured,
      stoppedBytesPerRequest: (stopped.logBytes + stopped.storeBytes) / answered,
    };
  } finally {
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function report(p: Point): void {
  progress(
    `  ${int(p.throughput)} req/s, p50 ${fixed(p.latency.p50Ms, 2)} ms, p99 ${fixed(p.latency.p99Ms, 2)} ms, ` +
      `server ${pct(p.serverCpuPercent / 100)} (${int(p.serverCpuUsPerRequest)} µs/req), others ${pct(p.otherCpuPercent / 100)}` +
      (p.errors > 0 ? `, ${p.errors} ERRORS` : ""),
  );
}

/** Sends exactly `n` requests, `concurrency` at a time, and checks every answer (the recovery part's load). */
async function load(
  url: string,
  workload: Workload,
  tag: string,
  n: number,
  concurrency: number,
): Promise<{ errors: string[]; ms: number }> {
  const pool = new Pool(url, {
    connections: concurrency,
    pipelining: 1,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const checker = workload.checker(tag);
  const errors: string[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const { path: p, body } = workload.request(i, tag);
      try {
        const res = await pool.request({
          method: "POST",
          path: p,
          body,
          headers: { "content-type": "application/json" },
        });
        const problem = checker.check(i, res.statusCode, await res.body.text());
        if (problem !== undefined) errors.push(`request ${i} ${p}: ${problem}`);
      } catch (e) {
        errors.push(`request ${i} ${p}: ${(e as Error).message}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  } finally {
    await pool.close();
  }
  errors.push(...checker.finish());
  return { errors, ms: performance.now() - start };
}

/**
 * Spawns a server on `dataDir` and times it: spawn → ready, and spawn → its first answered
 * Greeter.greet; counts the log records it replayed (applied, less those it appended itself).
 */
async function timedStart(
  ctx: Ctx,
  dataDir: string,
  name: string,
  compactMs: number,
): Promise<Restart & { child: ServerChild }> {
  const t0 = performance.now();
  const child = await spawnServer(ctx, dataDir, name, { compactMs });
  const readyMs = performance.now() - t0;
  const res = await request(`${child.url}/Greeter/greet`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(`first-${name}`),
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  const text = await res.body.text();
  const firstAnswerMs = performance.now() - t0;
  const want = JSON.stringify(greeting(`first-${name}`));
  if (res.statusCode !== 200 || text !== want) {
    ctx.errors.push(
      `${name}: first answer after start: expected 200 ${want}, got ${res.statusCode} ${text.slice(0, 200)}`,
    );
  }
  const stats = await logStats(child.adminUrl);
  const applied = (stats.partitions ?? []).reduce((sum, p) => sum + p.records, 0);
  return { child, readyMs, firstAnswerMs, replayedRecords: applied - (stats.log?.records ?? NaN) };
}

/**
 * N Greeter.greet invocations on a fresh server after its first log trim, then SIGKILL, a
 * restart on the same data directory (timed), a clean stop and another timed restart. A copy of
 * the directory as the SIGKILL left it, less the store's WAL, is restarted too: the store then
 * holds what its last checkpoint wrote, as after a power loss (the store commits with
 * synchronous=NORMAL; its WAL is fsynced at checkpoints), and the log is replayed from there.
 */
async function recovery(ctx: Ctx, n: number): Promise<RecoveryRow> {
  const run = ++ctx.runs;
  const dataDir = path.join(ctx.tmp, `r${run}`);
  const lostDir = path.join(ctx.tmp, `r${run}-store-wal-lost`);
  const children: ServerChild[] = [];
  try {
    const fresh = await timedStart(ctx, dataDir, `${run}-fresh`, RECOVERY_COMPACT_MS);
    children.push(fresh.child);
    // The first trim runs 5 s after start; every record of the load comes after it.
    await sleep(Math.max(0, FIRST_TRIM_WAIT_MS - fresh.firstAnswerMs + fresh.readyMs));
    const before = await logStats(fresh.child.adminUrl);
    const loaded = await load(fresh.child.url, HTTP_WORKLOADS[0]!, `r${run}`, n, 64);
    const after = await logStats(fresh.child.adminUrl);
    if (loaded.errors.length > 0) {
      ctx.errors.push(
        `recovery N=${n}: ${loaded.errors.length} errors, e.g. ${loaded.errors.slice(0, 3).join("; ")}`,
      );
    }
    const size = dataDirBytes(dataDir);
    fresh.child.proc.kill("SIGKILL");
    await fresh.child.stop();
    cpSync(dataDir, lostDir, { recursive: true });
    for (const name of ["store.db-wal", "store.db-shm"]) rmSync(path.join(lostDir, name), { force: true });
    const afterKill = await timedStart(ctx, dataDir, `${run}-after-kill`, RECOVERY_COMPACT_MS);
    children.push(afterKill.child);
    await afterKill.child.stop();
    const afterStop = await timedStart(ctx, dataDir, `${run}-after-stop`, RECOVERY_COMPACT_MS);
    children.push(afterStop.child);
    await afterStop.child.stop();
    const walLost = await timedStart(ctx, lostDir, `${run}-store-wal-lost`, RECOVERY_COMPACT_MS);
    children.push(walLost.child);
    await walLost.child.stop();
    const times = ({ readyMs, firstAnswerMs, replayedRecords }: Restart): Restart => ({
      readyMs,
      firstAnswerMs,
      replayedRecords,
    });
    return {
      invocations: n,
      logRecords: (after.log?.records ?? NaN) - (before.log?.records ?? NaN),
      logBytes: size.logBytes,
      storeBytes: size.storeBytes,
      loadMs: loaded.ms,
      fresh: times(fresh),
      afterKill: times(afterKill),
      afterStop: times(afterStop),
      storeWalLost: times(walLost),
    };
  } finally {
    for (const c of children) await c.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(lostDir, { recursive: true, force: true });
  }
}

/** A steady load at C = 64 for `--steady` with a trim every `--compact`; the data directory's size every `--sample`. */
async function disk(ctx: Ctx, workload: Workload, retention: string): Promise<DiskRun> {
  const run = ++ctx.runs;
  const dataDir = path.join(ctx.tmp, `d${run}`);
  const child = await spawnServer(ctx, dataDir, String(run), { compactMs: ctx.flags.compactMs });
  try {
    await sleep(500);
    const initial = dataDirBytes(dataDir);
    const samples: DiskSample[] = [];
    let start = NaN;
    let timer: NodeJS.Timeout | undefined;
    let answered = 0;
    // Counts answers as they come, for the samples: the driver's own counts are per whole second.
    const counting: Workload = {
      ...workload,
      checker: (tag) => {
        const inner = workload.checker(tag);
        return {
          check: (i, status, body) => {
            const problem = inner.check(i, status, body);
            if (problem === undefined) answered++;
            return problem;
          },
          finish: () => inner.finish(),
        };
      },
    };
    const take = () => {
      const size = dirSizes(dataDir);
      samples.push({ atMs: performance.now() - start, invocations: answered, ...size });
    };
    let user = 0;
    let self = 0;
    let serverUser = 0;
    const result = await drive({
      url: child.url,
      workload: counting,
      tag: `d${run}`,
      concurrency: 64,
      warmupMs: 0,
      durationMs: ctx.flags.steadyMs,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      onWindow: (which) => {
        if (which === "start") {
          start = performance.now();
          user = machineUserMs();
          self = process.cpuUsage().user / 1000;
          serverUser = child.cpu().userMs;
          take();
          timer = setInterval(take, ctx.flags.sampleMs);
        } else {
          clearInterval(timer);
          take();
          user =
            machineUserMs() -
            user -
            (process.cpuUsage().user / 1000 - self) -
            (child.cpu().userMs - serverUser);
        }
      },
    });
    clearInterval(timer);
    if (result.errors > 0) {
      ctx.errors.push(
        `disk ${workload.name}: ${result.errors} errors, e.g. ${result.errorSamples.join("; ")}`,
      );
    }
    if (!child.running) ctx.errors.push(`disk ${workload.name}: the server exited during the run`);
    await child.stop();
    const stopped = dataDirBytes(dataDir);
    const initialBytes = initial.logBytes + initial.storeBytes;
    const stoppedBytes = stopped.logBytes + stopped.storeBytes;
    return {
      workload: workload.name,
      retention,
      throughput: result.throughput,
      otherCpuPercent: Math.max(0, (user * 100) / ctx.flags.steadyMs),
      samples,
      stoppedBytes,
      stoppedBytesPerInvocation: (stoppedBytes - initialBytes) / (result.sent - result.errors),
      initialBytes,
    };
  } finally {
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function machineLine(tmp: string, loadStart: number): string {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: REPO,
      encoding: "utf8",
    }).trim();
    if (dirty !== "") commit += " (with uncommitted changes)";
  } catch {
    // Not a git checkout.
  }
  return (
    `${new Date().toISOString().slice(0, 16)}Z, commit ${commit}, ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown CPU"}, ` +
    `${fixed(os.totalmem() / 2 ** 30, 1)} GiB, node ${process.version}, data in ${tmp}, ` +
    `load average ${fixed(loadStart, 2)} → ${fixed(os.loadavg()[0]!, 2)}`
  );
}

/** Runs the parts of `--parts`; resolves to the exit code. */
export async function scaling(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv);
  const parent = path.resolve(flags.dir ?? os.tmpdir());
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(path.join(parent, "onelog-scaling-"));
  // The servers' logs of this run (a previous --scaling run's go; the other runs' stay).
  const logs = path.join(flags.out, "logs");
  mkdirSync(logs, { recursive: true });
  for (const name of readdirSync(logs)) {
    if (name.startsWith("scaling-")) rmSync(path.join(logs, name), { force: true });
  }
  const ctx: Ctx = { flags, tmp, errors: [], runs: 0 };
  const has = (p: Part) => flags.parts.includes(p);
  const window = flags.warmupMs + flags.durationMs + 2_000;
  const estimateMs =
    (has("concurrency") ? 3 * flags.concurrency.length * window : 0) +
    (has("partitions") ? 3 * flags.partitions.length * window : 0) +
    (has("state") ? flags.stateSizes.length * window : 0) +
    (has("journal") ? flags.steps.length * (flags.warmupMs + flags.stepsDurationMs + 2_000) : 0) +
    (has("recovery") ? flags.recovery.reduce((a, n) => a + 15_000 + n, 0) : 0) +
    (has("disk") ? 2 * (flags.steadyMs + 3_000) : 0);
  // Everything is bounded: a run that takes far longer than planned is stuck; exiting kills the children.
  const watchdog = setTimeout(
    () => {
      console.error(
        `scaling: still running after ${Math.round((2 * estimateMs + 120_000) / 1000)} s; giving up`,
      );
      process.exit(2);
    },
    2 * estimateMs + 120_000,
  );
  watchdog.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  process.once("exit", () => {
    try {
      rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A child killed a moment ago may still be writing: the OS temp dir is cleaned eventually.
    }
  });
  const loadStart = os.loadavg()[0]!;
  progress(
    `${os.availableParallelism()} CPUs, node ${process.version}, data in ${tmp}; load average ${fixed(loadStart, 2)}; ` +
      `parts ${flags.parts.join(", ")}; about ${Math.round(estimateMs / 1000)} s`,
  );
  try {
    const fsync = fsyncRate(tmp, 1_000);
    progress(`disk: ${int(fsync.rate)} fsyncs/s`);
    const results: Omit<Results, "machine"> = {
      command: `npm run bench -- --scaling ${argv.filter((a) => a !== "--scaling").join(" ")}`.trim(),
      fsyncsPerSecond: fsync.rate,
      partitionsConcurrency: flags.partitionsConcurrency,
      stepsConcurrency: flags.stepsConcurrency,
      concurrency: [],
      partitions: [],
      state: [],
      journal: [],
      recovery: [],
      disk: [],
      errors: ctx.errors,
    };
    if (has("concurrency")) {
      for (const workload of HTTP_WORKLOADS) {
        for (const concurrency of flags.concurrency) {
          progress(`concurrency: ${workload.name} C=${concurrency}`);
          const p = await point(ctx, { workload, concurrency });
          report(p);
          results.concurrency.push({ workload: workload.name, concurrency, point: p });
        }
      }
    }
    if (has("partitions")) {
      for (const workload of HTTP_WORKLOADS) {
        for (const partitions of flags.partitions) {
          progress(`partitions: ${workload.name} C=${flags.partitionsConcurrency} P=${partitions}`);
          const p = await point(ctx, { workload, concurrency: flags.partitionsConcurrency, partitions });
          report(p);
          results.partitions.push({ workload: workload.name, partitions, point: p });
        }
      }
    }
    if (has("state")) {
      for (const size of flags.stateSizes) {
        progress(`state: Blob.put ${sizeLabel(size)} C=64`);
        const p = await point(ctx, { workload: blobWorkload(size), concurrency: 64 });
        report(p);
        results.state.push({ sizeBytes: size, point: p });
      }
    }
    if (has("journal")) {
      for (const steps of flags.steps) {
        progress(`journal: Steps.run with ${steps} steps, C=${flags.stepsConcurrency}`);
        const p = await point(ctx, {
          workload: stepsWorkload(steps),
          concurrency: flags.stepsConcurrency,
          durationMs: flags.stepsDurationMs,
        });
        report(p);
        results.journal.push({ steps, point: p });
      }
    }
    if (has("recovery")) {
      for (const n of flags.recovery) {
        progress(`recovery: ${int(n)} Greeter.greet, then SIGKILL and restart`);
        const row = await recovery(ctx, n);
        progress(
          `  ${int(row.logRecords)} log records since the trim; ready after ${sec(row.fresh.readyMs)} s fresh, ` +
            `${sec(row.afterKill.readyMs)} s after SIGKILL, ${sec(row.afterStop.readyMs)} s after a clean stop`,
        );
        results.recovery.push(row);
      }
    }
    if (has("disk")) {
      for (const [workload, retention] of [
        [HTTP_WORKLOADS[0]!, "default retentions: 24 h"],
        [ephemeralWorkload, "idempotency and journal retention 0"],
      ] as const) {
        progress(
          `disk: ${workload.name} C=64 for ${sec(flags.steadyMs)} s, a trim every ${sec(flags.compactMs)} s`,
        );
        const d = await disk(ctx, workload, retention);
        const last = d.samples[d.samples.length - 1];
        progress(
          `  ${int(d.throughput)} req/s; at the end log ${mib(last?.logBytes ?? NaN)} MiB, store ${mib(last?.storeBytes ?? NaN)} MiB; ` +
            `${int(d.stoppedBytesPerInvocation)} bytes/invocation after a clean stop`,
        );
        results.disk.push(d);
      }
    }
    const full: Results = { machine: machineLine(tmp, loadStart), ...results };
    const markdown = renderScaling(full);
    writeFileSync(path.join(flags.out, "scaling.json"), JSON.stringify(full, null, 2) + "\n");
    writeFileSync(path.join(flags.out, "scaling.md"), markdown);
    console.log(markdown);
    progress(`wrote ${path.join(flags.out, "scaling.json")} and scaling.md`);
    return ctx.errors.length === 0 ? 0 : 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
