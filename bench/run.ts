/**
 * `npm run bench`: measures onelog against its baselines in one run and writes
 * bench/results/latest.json and latest.md (method and figures: docs/benchmarks.md).
 *
 *   npm run bench -- --duration 10 --warmup 2 --concurrency 64,1 --workloads Greeter.greet,Counter.add,Flow.run,log.append
 *
 * Each HTTP workload runs, at each concurrency, against every system of `--systems` in turn: a
 * bare node:http server (the ceiling of HTTP here), onelog embedded, and the remote path — a
 * server and an endpoint process serving the handlers over the Restate service protocol (onelog
 * as a server, or restate-server, with the Restate SDK's endpoint or onelog's). All are child processes;
 * every system but the bare server is fresh, on a fresh data directory, for each workload and
 * concurrency. The disk's fsync rate and SQLite's commit rate are measured first, in the
 * directory the data directories live in. Exits 1 if an answer failed its check or a server
 * failed; the issue's targets are printed, never enforced.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { request } from "undici";
import { machineUserMs, REPO, RESTATE_SERVER, sampleRss, ServerChild, tsxLoaderRssBytes } from "./child.js";
import { dataDirBytes, fsyncRate, sqliteCommitRate } from "./disk.js";
import { compileOnelogServers } from "./compile.js";
import { drive, untilGreeterServes } from "./driver.js";
import { logAppend } from "./log-append.js";
import {
  FLOW_P50_TARGET_MS,
  IDLE_RSS_TARGET_BYTES,
  RATIO_TARGETS,
  REMOTE_RATIO_TARGET,
  renderMarkdown,
  SAME_ENDPOINT_PAIRS,
  SYSTEM_LABELS,
  SYSTEMS,
  type HttpRow,
  type LogAppendRow,
  type Machine,
  type OnelogExtras,
  type ProcessUse,
  type RemoteRun,
  type RemoteSystem,
  type Results,
  type SameEndpointRatio,
  type ServerRun,
  type SystemName,
  type TargetCheck,
} from "./report.js";
import { fixed, int, mb, pct } from "./stats.js";
import {
  startQueryClient,
  type AdminQueryRow,
  type AdminQueryRun,
  type AdminQueryUse,
  type QueryClient,
} from "./admin-query.js";
import { runCluster } from "./cluster.js";
import {
  CLUSTER_SYSTEMS,
  clusterLabel,
  type ClusterRow,
  type ClusterRun,
  type ClusterSystem,
} from "./cluster-report.js";
import { HTTP_WORKLOADS, type HttpWorkload } from "./workloads.js";

const ALL_WORKLOADS = [...HTTP_WORKLOADS.map((w) => w.name), "log.append"] as const;
const REQUEST_TIMEOUT_MS = 30_000;
const READY_TIMEOUT_MS = 60_000;
const DISK_PROBE_MS = 2_000;
const RSS_SAMPLE_MS = 250;
/** Idle RSS is read this long after the server reported ready. */
const IDLE_SETTLE_MS = 500;
/** How long a remote system may take, after registration, to answer its first invocation. */
const SERVED_TIMEOUT_MS = 30_000;

/** The endpoint programs: each serves Greeter, Counter and Flow, one fresh process per system under test. */
const ENDPOINTS = {
  // The Restate SDK 1.17 needs Promise.withResolvers, which Node 20 lacks.
  "restate-sdk": {
    script: "bench/restate-services.ts",
    nodeFlags: ["--import", "./tests/compat/with-resolvers.mjs"],
  },
  "onelog-sdk": { script: "bench/onelog-endpoint.ts", nodeFlags: [] },
} as const;

/**
 * The remote systems: which server runs (bench/onelog-server.ts with BENCH_MODE=server, or
 * restate-server under bench/restate-server.ts) and which endpoint program serves it the
 * handlers, as a child process of its own.
 */
const REMOTE_SYSTEMS: Readonly<
  Record<RemoteSystem, { server: "onelog" | "restate"; endpoint: keyof typeof ENDPOINTS }>
> = {
  "remote-restate-sdk": { server: "onelog", endpoint: "restate-sdk" },
  "restate-server": { server: "restate", endpoint: "restate-sdk" },
  "remote-onelog-sdk": { server: "onelog", endpoint: "onelog-sdk" },
  "restate-server-onelog-sdk": { server: "restate", endpoint: "onelog-sdk" },
};
const DEFAULT_SYSTEMS: readonly SystemName[] = [
  "bare",
  "embedded",
  "remote-restate-sdk",
  "restate-server",
  "remote-onelog-sdk",
];

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
      systems: { type: "string", default: DEFAULT_SYSTEMS.join(",") },
      // onelog's default partition count, so that both servers split the keys alike.
      "restate-partitions": { type: "string", default: "4" },
      // Divisible by 1, 2 and 3: the leases spread evenly over any node count the bench runs.
      "cluster-partitions": { type: "string", default: "6" },
      "heavy-query": { type: "boolean", default: false },
      greeter: { type: "string", default: "example" },
      dir: { type: "string" },
      profile: { type: "boolean", default: false },
      runtime: { type: "string", default: "compiled" },
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
  --systems ${DEFAULT_SYSTEMS.join(",")}
                         which systems serve the HTTP workloads (known: ${[...SYSTEMS, ...CLUSTER_SYSTEMS].join(", ")})
  --cluster-partitions 6 partitions of the cluster systems' log (cluster-<1|3>n-r<1|3>)
  --heavy-query          also run onelog embedded again while a client POSTs a heavy admin SQL query in a loop
  --restate-partitions 4 restate-server's --default-num-partitions (its own default is 24)
  --greeter example      example: examples/greeter.ts; quiet: bench/services.ts's copy without ctx.console
  --dir <dir>            where the data directories go (default: the OS temp dir)
  --profile              run the onelog servers with --cpu-prof (profiles in <out>/profiles)
  --runtime compiled     the onelog servers and cluster nodes as compiled JavaScript (npm run build; as
                         onelog serve runs), or tsx: TypeScript sources under tsx, as npm start runs them
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
  const names = values.systems.split(",").map((name) => name.trim());
  const clusterSystems = CLUSTER_SYSTEMS.filter((system) => names.includes(system));
  const systems = names
    .filter((name) => !(CLUSTER_SYSTEMS as readonly string[]).includes(name))
    .map((name) => {
      const system = SYSTEMS.find((known) => known === name);
      if (system === undefined) {
        throw new Error(
          `--systems: unknown system ${name}; known: ${[...SYSTEMS, ...CLUSTER_SYSTEMS].join(", ")}`,
        );
      }
      return system;
    });
  const clusterPartitions = Number(values["cluster-partitions"]);
  if (!Number.isInteger(clusterPartitions) || clusterPartitions < 1) {
    throw new Error(`--cluster-partitions: expected a positive integer, got ${values["cluster-partitions"]}`);
  }
  const restatePartitions = Number(values["restate-partitions"]);
  if (!Number.isInteger(restatePartitions) || restatePartitions < 1) {
    throw new Error(`--restate-partitions: expected a positive integer, got ${values["restate-partitions"]}`);
  }
  const restate = systems.find(
    (s) => s !== "bare" && s !== "embedded" && REMOTE_SYSTEMS[s].server === "restate",
  );
  if (restate !== undefined && !existsSync(RESTATE_SERVER)) {
    throw new Error(`--systems ${restate}: no ${RESTATE_SERVER} (npm install @restatedev/restate-server)`);
  }
  if (values.runtime !== "compiled" && values.runtime !== "tsx") {
    throw new Error(`--runtime: compiled or tsx, not ${values.runtime}`);
  }
  const runtime: "compiled" | "tsx" = values.runtime;
  const greeter: "quiet" | "example" = values.greeter === "quiet" ? "quiet" : "example";
  if (values.greeter !== greeter) throw new Error(`--greeter: quiet or example, not ${values.greeter}`);
  return {
    durationMs: parseMs("duration", values.duration),
    warmupMs: parseMs("warmup", values.warmup),
    concurrency,
    workloads,
    // In SYSTEMS order, whatever the order given.
    systems: SYSTEMS.filter((system) => systems.includes(system)),
    clusterSystems,
    clusterPartitions,
    heavyQuery: values["heavy-query"],
    restatePartitions,
    greeter,
    dir: values.dir,
    profile: values.profile,
    runtime,
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
  /** How the onelog servers run (`--runtime`): the compiled bundle, or the TypeScript under tsx. */
  readonly onelogServer: { readonly script: string; readonly compiled: boolean };
  /** How the cluster systems' nodes run, the same way. */
  readonly clusterNode: { readonly script: string; readonly compiled: boolean };
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

/** The processes under test: a server, and for the remote systems the endpoint that serves it the handlers. */
interface UnderTest {
  readonly server: ServerChild;
  readonly endpoint?: ServerChild;
}

/** Their idle RSS, read after they started. */
interface IdleBytes {
  readonly server: number;
  readonly endpoint?: number;
}

/** Drives one system with one workload; measures its processes' CPU and memory around the window. */
async function measure(
  ctx: RunContext,
  procs: UnderTest,
  idle: IdleBytes,
  workload: HttpWorkload,
  concurrency: number,
  tag: string,
  onWindow?: (edge: "start" | "end") => void,
): Promise<ServerRun> {
  type Cpu = { userMs: number; systemMs: number };
  // Taken at the window's edges: server and endpoint CPU, machine user CPU, the driver's own CPU, the time.
  type Edge = {
    server: Cpu;
    endpoint: Cpu | undefined;
    machineUserMs: number;
    self: NodeJS.CpuUsage;
    at: number;
  };
  const edge = (): Edge => ({
    server: procs.server.cpu(),
    endpoint: procs.endpoint?.cpu(),
    machineUserMs: machineUserMs(),
    self: process.cpuUsage(),
    at: performance.now(),
  });
  let first: Edge | undefined;
  let last: Edge | undefined;
  type Sampled = ReturnType<ReturnType<typeof sampleRss>>;
  let stopSamplers: (() => [Sampled, Sampled | undefined]) | undefined;
  let sampled: [Sampled, Sampled | undefined] = [
    { maxBytes: NaN, meanBytes: NaN, tenthsBytes: [] },
    undefined,
  ];
  const result = await drive({
    url: procs.server.url,
    workload,
    tag,
    concurrency,
    warmupMs: ctx.flags.warmupMs,
    durationMs: ctx.flags.durationMs,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    onWindow: (which) => {
      if (which === "start") {
        first = edge();
        const server = sampleRss(procs.server, RSS_SAMPLE_MS);
        const endpoint = procs.endpoint === undefined ? undefined : sampleRss(procs.endpoint, RSS_SAMPLE_MS);
        stopSamplers = () => [server(), endpoint?.()];
      } else {
        last = edge();
        if (stopSamplers !== undefined) sampled = stopSamplers();
        stopSamplers = undefined;
      }
      onWindow?.(which);
    },
  });
  if (stopSamplers !== undefined) sampled = stopSamplers();
  if (first === undefined || last === undefined) throw new Error("bench: the measured window never ended");
  const windowMs = last.at - first.at;
  const serverUserMs = last.server.userMs - first.server.userMs;
  const cpuMs = serverUserMs + last.server.systemMs - first.server.systemMs;
  const selfUs = { user: last.self.user - first.self.user, system: last.self.system - first.self.system };
  let endpoint: ProcessUse | undefined;
  let endpointUserMs = 0;
  if (procs.endpoint !== undefined && first.endpoint !== undefined && last.endpoint !== undefined) {
    endpointUserMs = last.endpoint.userMs - first.endpoint.userMs;
    const endpointMs = endpointUserMs + last.endpoint.systemMs - first.endpoint.systemMs;
    const memory = procs.endpoint.memory();
    endpoint = {
      cpuPercent: (endpointMs * 100) / windowMs,
      cpuUsPerRequest: (endpointMs * 1000) / result.measured,
      rss: {
        idleBytes: idle.endpoint ?? NaN,
        windowMaxBytes: sampled[1]?.maxBytes ?? NaN,
        windowMeanBytes: sampled[1]?.meanBytes ?? NaN,
        peakBytes: memory.peakRssBytes,
        afterBytes: memory.rssBytes,
      },
    };
  }
  const memory = procs.server.memory();
  const otherMs =
    last.machineUserMs - first.machineUserMs - serverUserMs - endpointUserMs - selfUs.user / 1000;
  return {
    ...result,
    serverCpuPercent: (cpuMs * 100) / windowMs,
    driverCpuPercent: ((selfUs.user + selfUs.system) * 0.1) / windowMs,
    otherCpuPercent: Math.max(0, (otherMs * 100) / windowMs),
    serverCpuUsPerRequest: (cpuMs * 1000) / result.measured,
    rss: {
      idleBytes: idle.server,
      windowMaxBytes: sampled[0].maxBytes,
      windowMeanBytes: sampled[0].meanBytes,
      windowTenthsBytes: sampled[0].tenthsBytes,
      peakBytes: memory.peakRssBytes,
      afterBytes: memory.rssBytes,
    },
    ...(endpoint === undefined ? {} : { endpoint }),
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
  options: {
    /** Started once the server is up (before the warm-up), told the window's edges, stopped after it. */
    readonly during?: (child: ServerChild) => Pick<QueryClient, "onWindow" | "stop">;
    /** Names the data directory and the log apart from the plain run's. */
    readonly suffix?: string;
  } = {},
): Promise<ServerRun & OnelogExtras> {
  const name = `onelog-${run}${options.suffix ?? ""}`;
  const dataDir = path.join(ctx.tmp, name);
  const child = await ServerChild.spawn({
    ...ctx.onelogServer,
    env: { BENCH_DATA_DIR: dataDir, BENCH_GREETER: ctx.flags.greeter },
    logFile: path.join(ctx.flags.out, "logs", `${name}.log`),
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
    const during = options.during?.(child);
    const server = await measure(
      ctx,
      { server: child },
      { server: idle },
      workload,
      concurrency,
      `o${run}`,
      (edge) => {
        // A failed read leaves the counters unknown (NaN) rather than failing the run.
        stats.push(adminStats(child.adminUrl!).catch((): AdminStats => ({ log: null })));
        during?.onWindow(edge);
      },
    );
    await during?.stop();
    const [atStart, atEnd] = await Promise.all(stats);
    const after = dataDirBytes(dataDir);
    const answered = server.sent - server.errors;
    const logBytes = after.logBytes - before.logBytes;
    const storeBytes = after.storeBytes - before.storeBytes;
    const commits = (atEnd?.log?.commits ?? NaN) - (atStart?.log?.commits ?? NaN);
    const records = (atEnd?.log?.records ?? NaN) - (atStart?.log?.records ?? NaN);
    if (!child.running) {
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

/** Registers an endpoint with a server's admin API (onelog's and restate-server's take the same request). */
async function register(adminUrl: string, endpointUrl: string): Promise<void> {
  const res = await request(`${adminUrl}/deployments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ uri: endpointUrl }),
    headersTimeout: READY_TIMEOUT_MS,
    bodyTimeout: READY_TIMEOUT_MS,
  });
  const text = await res.body.text();
  if (res.statusCode !== 201 && res.statusCode !== 200) {
    throw new Error(
      `POST ${adminUrl}/deployments {"uri":"${endpointUrl}"}: ${res.statusCode} ${text.slice(0, 300)}`,
    );
  }
}

/**
 * One workload at one concurrency on a fresh remote system: the server on a fresh data
 * directory, a fresh endpoint process, the endpoint registered through the server's admin API
 * before the warm-up.
 */
async function runRemote(
  ctx: RunContext,
  system: RemoteSystem,
  workload: HttpWorkload,
  concurrency: number,
  run: number,
): Promise<RemoteRun> {
  const spec = REMOTE_SYSTEMS[system];
  const program = ENDPOINTS[spec.endpoint];
  const dataDir = path.join(ctx.tmp, `${system}-${run}`);
  const logs = path.join(ctx.flags.out, "logs");
  const server =
    spec.server === "restate"
      ? await ServerChild.spawn({
          script: "bench/restate-server.ts",
          env: { BENCH_DATA_DIR: dataDir, BENCH_PARTITIONS: String(ctx.flags.restatePartitions) },
          logFile: path.join(logs, `${system}-${run}.log`),
          readyTimeoutMs: READY_TIMEOUT_MS,
        })
      : await ServerChild.spawn({
          ...ctx.onelogServer,
          env: { BENCH_DATA_DIR: dataDir, BENCH_MODE: "server" },
          logFile: path.join(logs, `${system}-${run}.log`),
          nodeFlags: ctx.flags.profile
            ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ctx.flags.out, "profiles")}`]
            : [],
          readyTimeoutMs: READY_TIMEOUT_MS,
        });
  let endpoint: ServerChild | undefined;
  try {
    endpoint = await ServerChild.spawn({
      script: program.script,
      env: { BENCH_GREETER: ctx.flags.greeter },
      logFile: path.join(logs, `${system}-${run}-endpoint.log`),
      nodeFlags: program.nodeFlags,
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    const [serverIdle, endpointIdle] = await Promise.all([idleRss(server), idleRss(endpoint)]);
    await register(server.adminUrl!, endpoint.url);
    await untilGreeterServes(server.url, SERVED_TIMEOUT_MS);
    const stats: Promise<AdminStats>[] = [];
    const measured = await measure(
      ctx,
      { server, endpoint },
      { server: serverIdle, endpoint: endpointIdle },
      workload,
      concurrency,
      `${spec.server === "restate" ? "s" : "r"}${run}`,
      () => {
        if (spec.server === "onelog") {
          stats.push(adminStats(server.adminUrl!).catch((): AdminStats => ({ log: null })));
        }
      },
    );
    const [atStart, atEnd] = await Promise.all(stats);
    const commits = (atEnd?.log?.commits ?? NaN) - (atStart?.log?.commits ?? NaN);
    const records = (atEnd?.log?.records ?? NaN) - (atStart?.log?.records ?? NaN);
    for (const [what, proc] of [
      ["server", server],
      ["endpoint", endpoint],
    ] as const) {
      if (!proc.running) {
        ctx.errors.push(
          `${workload.name} C=${concurrency} ${SYSTEM_LABELS[system]}: the ${what} exited during the run`,
        );
      }
    }
    return {
      ...measured,
      system,
      endpoint: measured.endpoint!,
      logRecordsPerInvocation: records / measured.measured,
      logRecordsPerCommit: records / commits,
    };
  } finally {
    // The server first, so that it does not retry against an endpoint that is gone.
    await server.stop();
    await endpoint?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One cluster system under one workload at one concurrency (bench/cluster.ts). */
function runClusterSystem(
  ctx: RunContext,
  system: ClusterSystem,
  workload: HttpWorkload,
  concurrency: number,
  run: number,
): Promise<ClusterRun> {
  return runCluster({
    system,
    workload,
    concurrency,
    run,
    tmp: ctx.tmp,
    logDir: path.join(ctx.flags.out, "logs"),
    partitions: ctx.flags.clusterPartitions,
    node: ctx.clusterNode,
    greeter: ctx.flags.greeter,
    warmupMs: ctx.flags.warmupMs,
    durationMs: ctx.flags.durationMs,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    readyTimeoutMs: READY_TIMEOUT_MS,
    nodeFlags: ctx.flags.profile
      ? ["--cpu-prof", `--cpu-prof-dir=${path.join(ctx.flags.out, "profiles")}`]
      : [],
  });
}

/**
 * `--heavy-query`: onelog embedded on a fresh server again, while a second client POSTs a heavy
 * admin SQL query back to back (bench/admin-query.ts); compared with the plain embedded run of
 * the same row (run first, if `--systems` left embedded out).
 */
async function runWithHeavyQuery(
  ctx: RunContext,
  workload: HttpWorkload,
  concurrency: number,
  run: number,
  plain: ServerRun | undefined,
): Promise<AdminQueryRow | undefined> {
  const at = `${workload.name} C=${concurrency}`;
  try {
    if (plain === undefined) {
      progress(`${at}: ${SYSTEM_LABELS.embedded} (without the admin query)`);
      plain = await runOnelog(ctx, workload, concurrency, run, { suffix: "-plain" });
    }
    const figures = (r: ServerRun, query?: AdminQueryUse): AdminQueryRun => ({
      throughput: r.throughput,
      p50Ms: r.latency.p50Ms,
      p99Ms: r.latency.p99Ms,
      serverCpuPercent: r.serverCpuPercent,
      // The SQL worker is the server's child: its user time is the server's work, not other load.
      otherCpuPercent: Math.max(
        0,
        r.otherCpuPercent - ((query?.workerUserMs ?? 0) * 100) / ctx.flags.durationMs,
      ),
      ...(query === undefined ? {} : { query }),
    });
    const without = figures(plain);
    const withQuery: AdminQueryRun[] = [];
    // As the engine starts its SQL worker, then at nice 19 (what the engine could set itself).
    for (const nice of [undefined, 19]) {
      progress(
        `${at}: ${SYSTEM_LABELS.embedded} while a client runs a heavy admin SQL query in a loop` +
          `${nice === undefined ? "" : `, the SQL worker at nice ${nice}`}`,
      );
      let client: QueryClient | undefined;
      const loaded = await runOnelog(ctx, workload, concurrency, run, {
        suffix: `-query${nice ?? ""}`,
        during: (child) => (client = startQueryClient(child.adminUrl!, child.pid, nice)),
      });
      const query = await client!.stop();
      const what = `${at} embedded with the admin query${nice === undefined ? "" : ` (worker nice ${nice})`}`;
      if (loaded.errors > 0) {
        ctx.errors.push(`${what}: ${loaded.errors} errors, e.g. ${loaded.errorSamples.join("; ")}`);
      }
      if (query.failed > 0) {
        ctx.errors.push(`${what}: ${query.failed} queries failed, e.g. ${query.failureSamples.join("; ")}`);
      }
      const r = figures(loaded, query);
      withQuery.push(r);
      progress(
        `  ${int(r.throughput)} req/s, p50 ${fixed(r.p50Ms, 2)} ms, p99 ${fixed(r.p99Ms, 2)} ms ` +
          `(without: ${int(plain.throughput)} req/s, p99 ${fixed(plain.latency.p99Ms, 2)} ms; ratio ${fixed(r.p99Ms / without.p99Ms, 2)}×); ` +
          `${query.answered} queries in the window, mean ${int(query.meanMs)} ms, SQL worker ${pct(query.workerCpuPercent / 100)} CPU`,
      );
    }
    return { workload: workload.name, concurrency, without, with: withQuery };
  } catch (e) {
    ctx.errors.push(`${at} --heavy-query: ${(e as Error).message}`);
    progress(`  failed: ${(e as Error).message}`);
    return undefined;
  }
}

/** The issue's targets for onelog embedded in this row (none if it did not run). */
function targetsFor(
  row: { workload: string; concurrency: number; ratio: number; onelog?: ServerRun },
  highest: number,
): TargetCheck[] {
  const targets: TargetCheck[] = [];
  if (row.onelog === undefined) return targets;
  const ratio = RATIO_TARGETS[row.workload];
  if (ratio !== undefined && row.concurrency === highest && Number.isFinite(row.ratio)) {
    targets.push({ what: `≥ ${pct(ratio)}`, met: row.ratio >= ratio });
  }
  if (row.workload === "Flow.run" && row.concurrency === 1) {
    targets.push({
      what: `p50 ≤ ${FLOW_P50_TARGET_MS} ms`,
      met: row.onelog.latency.p50Ms <= FLOW_P50_TARGET_MS,
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
  const needsOnelog = flags.systems.some(
    (s) => s === "embedded" || (s !== "bare" && REMOTE_SYSTEMS[s].server === "onelog"),
  );
  let onelogServer = { script: "bench/onelog-server.ts", compiled: false };
  let clusterNode = { script: "bench/cluster-node.ts", compiled: false };
  if (flags.runtime === "compiled" && (needsOnelog || flags.clusterSystems.length > 0)) {
    progress("building the packages, bench/onelog-server.ts and bench/cluster-node.ts (--runtime compiled)");
    const compiled = await compileOnelogServers();
    onelogServer = { script: compiled.onelogServer, compiled: true };
    clusterNode = { script: compiled.clusterNode, compiled: true };
  }
  const ctx: RunContext = { flags, tmp, errors: [], idleOnelog: [], onelogServer, clusterNode };
  const httpWorkloads = HTTP_WORKLOADS.filter((w) => flags.workloads.includes(w.name));
  const highest = Math.max(...flags.concurrency);
  const remoteSystems = flags.systems.filter((s): s is RemoteSystem => s !== "bare" && s !== "embedded");
  const extraSystems = flags.clusterSystems.length + (flags.heavyQuery ? 2 : 0);
  const windows =
    (httpWorkloads.length * (flags.systems.length + extraSystems) +
      (flags.workloads.includes("log.append") ? 1 : 0)) *
    flags.concurrency.length;
  // Starting and stopping: about 2 s for onelog, 5 s for a server and its endpoint, 15 s for a cluster.
  const startsMs =
    httpWorkloads.length *
    flags.concurrency.length *
    (2_000 +
      remoteSystems.length * 5_000 +
      flags.clusterSystems.length * 15_000 +
      (flags.heavyQuery ? 4_000 : 0));
  const estimateMs = windows * (flags.warmupMs + flags.durationMs) + 2 * DISK_PROBE_MS + startsMs;
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
  // An interrupted run leaves no data directories behind either (the children are killed first).
  process.once("exit", () => {
    try {
      rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A child killed a moment ago may still be writing: the OS temp dir is cleaned eventually.
    }
  });

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
    const clusterRows: ClusterRow[] = [];
    const adminQueryRows: AdminQueryRow[] = [];
    let bareIdle: number | undefined;
    if (httpWorkloads.length > 0 && flags.systems.includes("bare")) {
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
        const at = `${workload.name} C=${concurrency}`;
        let bareRun: ServerRun | undefined;
        const problems = (label: string, r: ServerRun) => {
          if (r.errors > 0) {
            ctx.errors.push(`${at} ${label}: ${r.errors} errors, e.g. ${r.errorSamples.join("; ")}`);
          }
        };
        const report = (r: ServerRun) =>
          progress(
            `  ${int(r.throughput)} req/s` +
              `${bareRun === undefined ? "" : ` (${pct(r.throughput / bareRun.throughput)} of bare)`}, ` +
              `p50 ${fixed(r.latency.p50Ms, 2)} ms, p99 ${fixed(r.latency.p99Ms, 2)} ms, ` +
              `server ${int(r.serverCpuUsPerRequest)} µs/req` +
              `${r.endpoint === undefined ? "" : `, endpoint ${int(r.endpoint.cpuUsPerRequest)} µs/req`}`,
          );
        if (bare !== undefined) {
          progress(`${at}: ${SYSTEM_LABELS.bare}`);
          bareRun = await measure(
            ctx,
            { server: bare },
            { server: bareIdle! },
            workload,
            concurrency,
            `b${run}`,
          );
          report(bareRun);
          problems("bare", bareRun);
        }
        let onelog: (ServerRun & OnelogExtras) | undefined;
        if (flags.systems.includes("embedded")) {
          progress(`${at}: ${SYSTEM_LABELS.embedded}`);
          onelog = await runOnelog(ctx, workload, concurrency, run);
          report(onelog);
          problems("onelog", onelog);
        }
        const remote: RemoteRun[] = [];
        for (const system of remoteSystems) {
          progress(`${at}: ${SYSTEM_LABELS[system]}`);
          try {
            const r = await runRemote(ctx, system, workload, concurrency, run);
            remote.push(r);
            report(r);
            problems(SYSTEM_LABELS[system], r);
          } catch (e) {
            // One system failing to start or register leaves the others' figures standing.
            ctx.errors.push(`${at} ${SYSTEM_LABELS[system]}: ${(e as Error).message}`);
            progress(`  failed: ${(e as Error).message}`);
          }
        }
        if (flags.heavyQuery) {
          const row = await runWithHeavyQuery(ctx, workload, concurrency, run, onelog);
          if (row !== undefined) adminQueryRows.push(row);
        }
        if (flags.clusterSystems.length > 0) {
          const runs: ClusterRun[] = [];
          for (const system of flags.clusterSystems) {
            progress(`${at}: ${clusterLabel(system)}`);
            try {
              const r = await runClusterSystem(ctx, system, workload, concurrency, run);
              runs.push(r);
              progress(
                `  ${int(r.throughput)} req/s, p50 ${fixed(r.latency.p50Ms, 2)} ms, p99 ${fixed(r.latency.p99Ms, 2)} ms, ` +
                  `nodes ${int(r.nodes.cpuUsPerRequest)} µs/req, nats-servers ${int(r.nats.cpuUsPerRequest)} µs/req ` +
                  `(started in ${fixed(r.startMs / 1000, 1)} s, leaders ${r.leaders.join("/")})`,
              );
              if (r.errors > 0) {
                ctx.errors.push(
                  `${at} ${clusterLabel(system)}: ${r.errors} errors, e.g. ${r.errorSamples.join("; ")}`,
                );
              }
            } catch (e) {
              ctx.errors.push(`${at} ${clusterLabel(system)}: ${(e as Error).message}`);
              progress(`  failed: ${(e as Error).message}`);
            }
          }
          clusterRows.push({
            workload: workload.name,
            concurrency,
            embeddedThroughput: onelog?.throughput,
            runs,
          });
        }
        const ratio = (onelog?.throughput ?? NaN) / (bareRun?.throughput ?? NaN);
        const sameEndpoint: SameEndpointRatio[] = [];
        for (const pair of SAME_ENDPOINT_PAIRS) {
          const o = remote.find((r) => r.system === pair.onelog);
          const r = remote.find((r) => r.system === pair.restate);
          if (o === undefined || r === undefined) continue;
          const pairRatio = o.throughput / r.throughput;
          sameEndpoint.push({
            endpoint: pair.endpoint,
            onelogThroughput: o.throughput,
            restateThroughput: r.throughput,
            ratio: pairRatio,
            target:
              concurrency === highest
                ? { what: `≥ ${REMOTE_RATIO_TARGET}×`, met: pairRatio >= REMOTE_RATIO_TARGET }
                : undefined,
          });
          progress(
            `  onelog server ÷ restate-server, both with the ${pair.endpoint} endpoint: ${fixed(pairRatio, 2)}×`,
          );
        }
        http.push({
          workload: workload.name,
          path: workload.path,
          concurrency,
          ...(onelog === undefined ? {} : { onelog }),
          ...(bareRun === undefined ? {} : { bare: bareRun }),
          ratio,
          targets: targetsFor(
            { workload: workload.name, concurrency, ratio, ...(onelog === undefined ? {} : { onelog }) },
            highest,
          ),
          remote,
          sameEndpoint,
        });
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
        systems: flags.systems,
        ...(flags.clusterSystems.length === 0
          ? {}
          : { clusterSystems: flags.clusterSystems, clusterPartitions: flags.clusterPartitions }),
        heavyQuery: flags.heavyQuery,
        restatePartitions: flags.restatePartitions,
        warmupMs: flags.warmupMs,
        durationMs: flags.durationMs,
        concurrency: flags.concurrency,
        workloads: flags.workloads,
        greeter: flags.greeter,
        runtime: ctx.onelogServer.compiled ? "compiled" : "tsx",
        client: "undici Pool (one keep-alive connection per request in flight, no pipelining)",
        dataDirParent: parent,
      },
      baselines: { fsync, sqliteCommit },
      http,
      logAppend: logAppendRows,
      cluster: clusterRows,
      adminQuery: adminQueryRows,
      idleRss: {
        onelogBytes: ctx.idleOnelog,
        bareBytes: bareIdle,
        tsxLoaderBytes: tsxBytes,
        target:
          ctx.idleOnelog.length === 0
            ? undefined
            : {
                what: `≤ ${mb(IDLE_RSS_TARGET_BYTES)} MB`,
                met: Math.max(...ctx.idleOnelog) <= IDLE_RSS_TARGET_BYTES,
              },
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

// `--scaling` runs bench/scaling.ts instead, with its own flags (docs/benchmarks.md, "How cost grows").
if (process.argv.includes("--scaling")) {
  const { scaling } = await import("./scaling.js");
  process.exitCode = await scaling(process.argv.slice(2).filter((arg) => arg !== "--scaling"));
} else {
  process.exitCode = await main();
}
