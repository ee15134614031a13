// `npm run chaos`: minutes of concurrent ledger transfers against a child onelog that is SIGKILLed at seeded random moments, then a drain, a final restart and a check of every guarantee (answers for good, exact balances, nothing stuck), with memory and throughput per process lifetime; prints a report, writes chaos-report.json, exits 1 if a guarantee broke.
//
// The same file is the child server when env ONELOG_CHAOS_ROLE=server: the ledger example plus
// SlowTransfer (as tests/e2e/ledger-server.ts), with the admin endpoint on a free port so the
// driver can read /stats. Run `npm run chaos -- --help` for the options.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Logger, WorkflowContext, WorkflowSharedContext } from "onelog";
import type { TransferRequest } from "../examples/ledger.js";
import {
  Children,
  errorLines,
  kill,
  prng,
  request,
  sleep,
  type Child,
  type Reply,
} from "../tests/e2e/harness.js";

const ROLE_ENV = "ONELOG_CHAOS_ROLE";

// =============================================================================================
// The child: one process lifetime of the server

/** A stderr line the child writes before READY, so the driver knows where its admin endpoint is. */
const ADMIN_LINE = /^ADMIN (\S+)$/;

async function serve(): Promise<void> {
  const onelog = await import("onelog");
  const { account, transfer } = await import("../examples/ledger.js");
  const dataDir = process.env.DATA_DIR;
  if (dataDir === undefined || dataDir === "") throw new Error("chaos server: env DATA_DIR is required");

  // tests/e2e/ledger-server.ts's SlowTransfer (that file starts its own server when imported, without
  // an admin endpoint): the debit, a durable sleep a kill can land on, the credit or the compensation.
  const slowTransfer = onelog.workflow({
    name: "SlowTransfer",
    handlers: {
      run: async (ctx: WorkflowContext, req: TransferRequest & { readonly sleepMs: number }) => {
        ctx.set("status", "debiting");
        await ctx.objectClient(account, req.from).withdraw(req.amount);
        ctx.set("status", "sleeping");
        await ctx.sleep(req.sleepMs);
        ctx.set("status", "crediting");
        try {
          await ctx.objectClient(account, req.to).credit(req.amount);
        } catch (e) {
          if (!onelog.isTerminalError(e)) throw e;
          ctx.set("status", "compensating");
          await ctx.objectClient(account, req.from).deposit(req.amount);
          ctx.set("status", "failed");
          throw new onelog.TerminalError(`transfer ${ctx.key} failed and was rolled back: ${e.message}`, {
            errorCode: 409,
          });
        }
        ctx.set("status", "done");
        return { id: ctx.key, ...req };
      },
      status: async (ctx: WorkflowSharedContext) => (await ctx.get<string>("status")) ?? "unknown",
    },
  });

  // Warnings and errors go to stderr as JSON lines (the driver counts them); the rest is dropped.
  const line = (level: string, obj: object, msg?: string) => {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      fields[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
    }
    process.stderr.write(JSON.stringify({ level, msg, ...fields }) + "\n");
  };
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (obj, msg) => line("warn", obj, msg),
    error: (obj, msg) => line("error", obj, msg),
  };

  const server = await onelog.start({
    services: [account, transfer, slowTransfer],
    dataDir,
    ingressPort: Number(process.env.PORT ?? "0"),
    adminPort: 0,
    host: "127.0.0.1",
    partitions: 4,
    logger,
  });
  process.stderr.write(`ADMIN ${server.adminUrl}\n`);
  process.stdout.write(`READY ${server.ingressUrl}\n`);
}

// =============================================================================================
// Options

interface Options {
  readonly durationMs: number;
  readonly accounts: number;
  readonly concurrency: number;
  readonly killMinMs: number;
  readonly killMaxMs: number;
  readonly seed: number;
  /** Given by the user (kept), or undefined for a temporary one (removed unless keep). */
  readonly dataDir: string | undefined;
  readonly keep: boolean;
  readonly reportPath: string;
}

const USAGE = `usage: npm run chaos -- [options]

  --duration <time>     load phase length: seconds, or with s/m (90s, 3m)   env ONELOG_CHAOS_DURATION   default 3m
  --accounts <n>        Account objects (2 of them get closed)             env ONELOG_CHAOS_ACCOUNTS   default 50
  --concurrency <n>     transfers in flight at once                        env ONELOG_CHAOS_CONCURRENCY default 32
  --kill-min <time>     shortest time between READY and SIGKILL            env ONELOG_CHAOS_KILL_MIN   default 3s
  --kill-max <time>     longest time between READY and SIGKILL             env ONELOG_CHAOS_KILL_MAX   default 10s
  --seed <n>            seeds the transfer plan and the kill intervals     env ONELOG_CHAOS_SEED       default random
  --data-dir <dir>      data directory (must be empty or absent; kept)     env ONELOG_CHAOS_DATA_DIR   default a temp dir
  --keep                keep the temporary data directory                  env ONELOG_CHAOS_KEEP=1
  --report <file>       where the JSON report goes                         env ONELOG_CHAOS_REPORT     default ./chaos-report.json

Hard deadline: duration + 2 minutes. Exit 0 when every guarantee held, 1 when one broke, 2 on bad options.`;

/** Parses "30", "30s", "3m", "1500ms" into milliseconds. */
function parseDurationMs(name: string, raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (m === null)
    throw new Error(`${name}: expected seconds or a number with ms/s/m, got ${JSON.stringify(raw)}`);
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  if (!(ms > 0)) throw new Error(`${name}: must be positive, got ${JSON.stringify(raw)}`);
  return Math.round(ms);
}

function parseIntOption(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name}: expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function parseOptions(argv: readonly string[]): Options | "help" {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: "string" },
      accounts: { type: "string" },
      concurrency: { type: "string" },
      "kill-min": { type: "string" },
      "kill-max": { type: "string" },
      seed: { type: "string" },
      "data-dir": { type: "string" },
      keep: { type: "boolean" },
      report: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const env = process.env;
  const pick = (flag: string | undefined, name: string, fallback: string) =>
    flag ?? env[`ONELOG_CHAOS_${name}`] ?? fallback;
  const killMinMs = parseDurationMs("--kill-min", pick(values["kill-min"], "KILL_MIN", "3s"));
  const killMaxMs = parseDurationMs("--kill-max", pick(values["kill-max"], "KILL_MAX", "10s"));
  if (killMinMs > killMaxMs)
    throw new Error(`--kill-min (${killMinMs} ms) is above --kill-max (${killMaxMs} ms)`);
  const seedRaw = values.seed ?? env.ONELOG_CHAOS_SEED;
  const dataDir = values["data-dir"] ?? env.ONELOG_CHAOS_DATA_DIR;
  return {
    durationMs: parseDurationMs("--duration", pick(values.duration, "DURATION", "3m")),
    accounts: parseIntOption("--accounts", pick(values.accounts, "ACCOUNTS", "50"), 4),
    concurrency: parseIntOption("--concurrency", pick(values.concurrency, "CONCURRENCY", "32"), 1),
    killMinMs,
    killMaxMs,
    seed: seedRaw === undefined ? Math.floor(Math.random() * 2 ** 31) : parseIntOption("--seed", seedRaw, 0),
    dataDir: dataDir === undefined || dataDir === "" ? undefined : path.resolve(dataDir),
    keep: values.keep === true || env.ONELOG_CHAOS_KEEP === "1",
    reportPath: path.resolve(values.report ?? env.ONELOG_CHAOS_REPORT ?? "chaos-report.json"),
  };
}

// =============================================================================================
// The driver

const INITIAL_BALANCE = 1_000;
/** One transfer in this many goes to one of the two closed accounts, so compensation happens. */
const TO_CLOSED_ONE_IN = 8;
/** One transfer in this many asks for more than an account starts with (most of those get 409). */
const OVERDRAW_ONE_IN = 5;
/** SlowTransfer's durable sleep between debit and credit (seeded per transfer). */
const SLEEP_MS = [10, 250] as const;
const REQUEST_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 30_000;
/** A job that has no final answer after this many requests is given up (and the run fails). */
const MAX_TRIES_PER_JOB = 50;
/** After the load, the drain gives every open transfer this long to get its final answer. */
const DRAIN_TIMEOUT_MS = 60_000;
/** Whole run: the load plus this much for setup, drain, final restart and verification. */
const DEADLINE_EXTRA_MS = 120_000;
/** The driver's own checks give up this long before the hard deadline, so a report still gets out. */
const DEADLINE_MARGIN_MS = 15_000;
/** How long the final lifetime may take to show 0 running attempts on every partition. */
const SETTLE_TIMEOUT_MS = 5_000;
const RSS_SAMPLE_INTERVAL_MS = 1_000;
/** Verification runs again and reads the status of every transfer a kill interrupted and one in this many others. */
const DEEP_CHECK_ONE_IN = 10;
/** Those checks stop when less than this is left before the hard deadline (balances and /stats remain). */
const DEEP_CHECK_RESERVE_MS = 30_000;
/** RSS at 100% of the longest lifetime above RSS at 25% by more than this: "MEMORY GROWTH?". */
const RSS_GROWTH_WARN = 0.5;

type Workflow = "Transfer" | "SlowTransfer";

interface Final {
  readonly status: number;
  readonly body: string;
  readonly life: number;
  /** performance.now() when the answer arrived. */
  readonly at: number;
  /** How long the request that got the answer took. */
  readonly requestMs: number;
}

/** Something sent until it has a final answer; a transfer keeps its id (its workflow id) for good. */
interface Job {
  readonly name: string;
  readonly path: string;
  readonly body: unknown;
  readonly idempotencyKey?: string;
  /** Statuses that end the job; anything else is retried (a 4xx other than these is also reported). */
  readonly finalStatuses: readonly number[];
  tries: number;
  /** performance.now() of the first request. */
  firstSentAt?: number;
  /** performance.now() before which the job is not sent again. */
  notBefore: number;
  lastFailure?: string;
  final?: Final;
  /** Why the driver stopped asking, when it did without a final answer. */
  gaveUp?: string;
}

interface Transfer {
  readonly id: string;
  readonly workflow: Workflow;
  readonly req: TransferRequest & { readonly sleepMs?: number };
  readonly job: Job;
}

interface Lifetime {
  readonly life: number;
  /** performance.now() when the process was spawned and when it printed READY. */
  readonly spawnedAt: number;
  readyAt: number;
  endedAt?: number;
  endedBy?: "kill" | "drained, then killed" | "verified";
  pid: number;
  adminUrl?: string;
  /** Requests in flight when the kill was decided. */
  inFlightAtKill?: number;
  readonly rss: { readonly tMs: number; readonly kb: number }[];
  rssAfterDrainKb?: number;
  /** Bytes of every file in the data directory when this lifetime was spawned. */
  readonly dataBytesAtSpawn: number;
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const median = (xs: readonly number[]): number | null =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const mb = (kb: number | null | undefined): string => (kb == null ? "-" : (kb / 1024).toFixed(1));
const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

/** Sizes in bytes of the files under `dir` (relative names), {} if it is gone. */
function filesIn(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      try {
        const st = fs.statSync(p);
        if (st.isDirectory()) walk(p);
        else out[path.relative(dir, p)] = st.size;
      } catch {
        // removed while walking (a WAL checkpointed away)
      }
    }
  };
  walk(dir);
  return out;
}

/** VmRSS of a live process in kB, or undefined once it is gone. */
function rssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function job(name: string, p: string, body: unknown, finalStatuses: readonly number[], key?: string): Job {
  return {
    name,
    path: p,
    body,
    finalStatuses,
    tries: 0,
    notBefore: 0,
    ...(key === undefined ? {} : { idempotencyKey: key }),
  };
}

/** The status a transfer's workflow state must end in, given its final answer. */
function expectedStatus(final: Final): "done" | "failed" | "debiting" | undefined {
  if (final.status === 200) return "done";
  if (final.status !== 409) return undefined;
  if (final.body.includes("failed and was rolled back")) return "failed";
  if (final.body.includes("insufficient funds")) return "debiting";
  return undefined;
}

/** JSON.parse that answers undefined for a body that is not JSON (reported, never thrown). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const describe = (r: Reply): string => (r.answered ? `${r.status} ${r.body}` : `no answer (${r.reason})`);
const describeFinal = (f: Final): string => `${f.status} ${f.body}`;

async function drive(): Promise<number> {
  let o: Options | "help";
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`chaos: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o === "help") {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  if (opts.dataDir !== undefined && fs.existsSync(opts.dataDir) && fs.readdirSync(opts.dataDir).length > 0) {
    console.error(`chaos: --data-dir ${opts.dataDir} is not empty; the plan needs a fresh ledger`);
    return 2;
  }
  const workDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "onelog-chaos-"));
  const dataDir = opts.dataDir ?? path.join(workDir, "data");
  const startedAt = performance.now();
  const startedIso = new Date().toISOString();
  const log = (msg: string) =>
    console.log(`[chaos ${((performance.now() - startedAt) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

  log(
    `seed ${opts.seed} (replay the plan and the kill intervals with --seed ${opts.seed}); duration ${opts.durationMs / 1000}s; ` +
      `${opts.accounts} accounts; concurrency ${opts.concurrency}; kill every ${opts.killMinMs / 1000}–${opts.killMaxMs / 1000}s; data ${dataDir}`,
  );

  const children = new Children({
    script: fileURLToPath(import.meta.url),
    env: { DATA_DIR: dataDir, [ROLE_ENV]: "server" },
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const procs = new Set<Child["proc"]>();
  const killSync = () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  };
  process.on("exit", killSync);

  // ---- shared state ------------------------------------------------------------------------
  const lifetimes: Lifetime[] = [];
  const failuresByReason = new Map<string, number>();
  const unexpected: string[] = [];
  let abortReason: string | undefined;
  let inFlight = 0;
  let requests = 0;
  let live: Child | undefined;
  let current: Promise<Child>;
  const runDeadline = startedAt + opts.durationMs + DEADLINE_EXTRA_MS - DEADLINE_MARGIN_MS;

  const abort = (why: string) => {
    abortReason ??= why;
  };

  async function startLife(life: number): Promise<Child> {
    const spawnedAt = performance.now();
    const dataBytesAtSpawn = Object.values(filesIn(dataDir)).reduce((a, b) => a + b, 0);
    const child = await children.start(life);
    procs.add(child.proc);
    const lt: Lifetime = {
      life,
      spawnedAt,
      readyAt: performance.now(),
      pid: child.proc.pid ?? -1,
      rss: [],
      dataBytesAtSpawn,
    };
    lifetimes.push(lt);
    // The ADMIN line is written before READY but on stderr, which may be read a moment later.
    for (let i = 0; i < 100 && lt.adminUrl === undefined; i++) {
      const l = children.stderr.find((s) => s.life === life && ADMIN_LINE.test(s.line));
      if (l !== undefined) lt.adminUrl = ADMIN_LINE.exec(l.line)![1]!;
      else await sleep(20);
    }
    live = child;
    return child;
  }

  /** Ends the current lifetime with SIGKILL and starts the next; `current` is the new one at once. */
  async function restart(endedBy: NonNullable<Lifetime["endedBy"]>): Promise<Child> {
    const old = await current;
    const lt = lifetimes.find((l) => l.life === old.life)!;
    current = (async () => {
      lt.inFlightAtKill = inFlight;
      lt.endedAt = performance.now();
      lt.endedBy = endedBy;
      live = undefined;
      await kill(old);
      return startLife(old.life + 1);
    })();
    current.catch(() => {}); // surfaces through the workers that await it
    return current;
  }

  // ---- the plan: accounts and transfers from the seed --------------------------------------
  const accountIds = Array.from({ length: opts.accounts }, (_, i) => `acct-${i}`);
  /** Closed before any transfer: every transfer to it is compensated (or refused for funds). */
  const closedAtStart = accountIds[opts.accounts - 1]!;
  /** Closed a third of the way into the load. */
  const closedMidLoad = accountIds[opts.accounts - 2]!;
  const planRand = prng(opts.seed);
  const killRand = prng(opts.seed ^ 0x5bd1e995);
  const transfers: Transfer[] = [];

  function nextTransfer(): Transfer {
    const rand = planRand;
    const n = opts.accounts;
    const id = `t${transfers.length}`;
    const from = rand(0, n - 1);
    let to: number;
    if (rand(1, TO_CLOSED_ONE_IN) === 1) {
      to = rand(0, 1) === 0 ? n - 1 : n - 2;
      if (to === from) to = (to + 1) % n;
    } else {
      to = rand(0, n - 2);
      if (to >= from) to++;
    }
    const amount =
      rand(1, OVERDRAW_ONE_IN) === 1 ? rand(INITIAL_BALANCE + 1, 3 * INITIAL_BALANCE) : rand(1, 300);
    const workflow: Workflow = rand(0, 1) === 0 ? "Transfer" : "SlowTransfer";
    const req = {
      from: accountIds[from]!,
      to: accountIds[to]!,
      amount,
      ...(workflow === "SlowTransfer" ? { sleepMs: rand(...SLEEP_MS) } : {}),
    };
    const t: Transfer = { id, workflow, req, job: job(id, `/${workflow}/${id}/run`, req, [200, 409]) };
    transfers.push(t);
    return t;
  }

  // ---- sending ------------------------------------------------------------------------------

  /** One request of a job; records its final answer or why it has none. */
  async function attempt(j: Job): Promise<void> {
    if (j.tries >= MAX_TRIES_PER_JOB) {
      j.gaveUp = `no final answer after ${MAX_TRIES_PER_JOB} tries (last ${j.lastFailure ?? "-"})`;
      return;
    }
    j.tries++;
    let child: Child;
    try {
      child = await current;
    } catch (e) {
      abort(`the server did not come back: ${(e as Error).message}`);
      return;
    }
    j.firstSentAt ??= performance.now();
    requests++;
    inFlight++;
    const sentAt = performance.now();
    const r = await request(child.url + j.path, {
      method: "POST",
      body: j.body,
      ...(j.idempotencyKey === undefined ? {} : { headers: { "idempotency-key": j.idempotencyKey } }),
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    inFlight--;
    const now = performance.now();
    if (r.answered && j.finalStatuses.includes(r.status)) {
      j.final = { status: r.status, body: r.body, life: child.life, at: now, requestMs: now - sentAt };
      return;
    }
    const reason = r.answered ? `http ${r.status}` : r.reason;
    j.lastFailure = reason;
    failuresByReason.set(reason, (failuresByReason.get(reason) ?? 0) + 1);
    if (r.answered && r.status < 500) unexpected.push(`${j.name}: ${reason} ${r.body.slice(0, 200)}`);
    const retryAfterS = r.answered ? Number(r.headers.get("retry-after") ?? NaN) : NaN;
    j.notBefore = now + (Number.isFinite(retryAfterS) ? retryAfterS * 1000 : Math.min(20 * j.tries, 1000));
  }

  /**
   * Sends `batch` and whatever `source` hands out, with `opts.concurrency` workers, until `source`
   * is closed and every job has a final answer or was given up. Jobs without an answer go back
   * in the queue under the same id (idempotency key or workflow id).
   */
  async function pump(
    batch: readonly Job[],
    source?: { readonly open: () => boolean; readonly next: () => Job | undefined },
    drainBy?: () => number,
  ): Promise<void> {
    const fresh = [...batch];
    const waiting: Job[] = [];
    const tracked = [...batch];
    /** Jobs of `tracked` with neither a final answer nor given up. */
    let open = tracked.length;
    const take = (): Job | undefined => {
      const now = performance.now();
      const i = waiting.findIndex((j) => j.notBefore <= now);
      if (i >= 0) return waiting.splice(i, 1)[0];
      if (fresh.length > 0) return fresh.shift();
      if (source?.open() === true) {
        const j = source.next();
        if (j !== undefined) {
          tracked.push(j);
          open++;
        }
        return j;
      }
      return undefined;
    };
    const worker = async () => {
      while (abortReason === undefined) {
        const now = performance.now();
        if (now > runDeadline) {
          abort("deadline (duration + 2 min, less a margin for the report) passed with transfers still open");
          break;
        }
        if (drainBy !== undefined && source?.open() !== true && now > drainBy()) {
          for (const j of tracked)
            if (j.final === undefined)
              j.gaveUp ??= `drain timeout (${DRAIN_TIMEOUT_MS} ms), last ${j.lastFailure ?? "-"}`;
          break;
        }
        const j = take();
        if (j === undefined) {
          if (source?.open() !== true && open === 0) break;
          await sleep(10);
          continue;
        }
        await attempt(j);
        if (j.final === undefined && j.gaveUp === undefined) waiting.push(j);
        else open--;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  }

  // ---- RSS sampling ---------------------------------------------------------------------------
  const sampler = setInterval(() => {
    const c = live;
    if (c === undefined || c.proc.pid === undefined) return;
    const lt = lifetimes.find((l) => l.life === c.life);
    const kb = rssKb(c.proc.pid);
    if (lt !== undefined && kb !== undefined && lt.endedAt === undefined)
      lt.rss.push({ tMs: performance.now() - lt.readyAt, kb });
  }, RSS_SAMPLE_INTERVAL_MS);

  // ---- cleanup on every way out ----------------------------------------------------------------
  let finished = false;
  const cleanup = async () => {
    clearInterval(sampler);
    await children.killAll();
    if (opts.dataDir === undefined && !opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (finished) return;
    finished = true;
    console.error(`\nchaos: ${sig}: killing the server and stopping`);
    void cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // The hard deadline: if the run hangs anywhere (a worker, a restart, verification), stop it.
  const hardDeadline = setTimeout(() => {
    if (finished) return;
    finished = true;
    const why = `hard deadline of ${(opts.durationMs + DEADLINE_EXTRA_MS) / 1000}s passed`;
    console.error(`\nchaos: FAILED: ${why}; stopping`);
    fs.writeFileSync(
      opts.reportPath,
      JSON.stringify({ ok: false, failed: { "run completed": why }, seed: opts.seed }, null, 2) + "\n",
    );
    void cleanup().then(
      () => process.exit(1),
      () => process.exit(1),
    );
  }, opts.durationMs + DEADLINE_EXTRA_MS);

  // ============================================================================================
  // Setup: fund every account once (idempotency keys make retries safe), close one.
  current = startLife(0);
  current.catch(() => {});
  const funding = accountIds.map((a) =>
    job(`fund ${a}`, `/Account/${a}/deposit`, INITIAL_BALANCE, [200], `fund-${a}`),
  );
  const closeAtStart = job(`close ${closedAtStart}`, `/Account/${closedAtStart}/close`, undefined, [200]);
  const closeMidLoad = job(`close ${closedMidLoad}`, `/Account/${closedMidLoad}/close`, undefined, [200]);
  await pump([...funding, closeAtStart]);
  log(`funded ${opts.accounts} accounts with ${INITIAL_BALANCE} each; closed ${closedAtStart}`);

  // ============================================================================================
  // Phase 1: sustained load, SIGKILL at seeded random moments, restart on the same data dir.
  const loadStartedAt = performance.now();
  const loadEndsAt = loadStartedAt + opts.durationMs;
  const closeMidLoadAt = loadStartedAt + opts.durationMs / 3;
  let closeMidLoadSent = false;
  let kills = 0;
  let lastProgress = loadStartedAt;

  const killer = (async () => {
    while (abortReason === undefined) {
      let child: Child;
      try {
        child = await current;
      } catch {
        return;
      }
      const lt = lifetimes.find((l) => l.life === child.life)!;
      const killAt = lt.readyAt + killRand(opts.killMinMs, opts.killMaxMs);
      while (performance.now() < Math.min(killAt, loadEndsAt) && abortReason === undefined) await sleep(25);
      if (performance.now() >= loadEndsAt || abortReason !== undefined) return;
      kills++;
      const restarted = restart("kill");
      const next = await restarted.catch((e: unknown) => {
        abort(`restart after kill ${kills} failed: ${(e as Error).message}`);
        return undefined;
      });
      if (next === undefined) return;
      const prev = lifetimes[lifetimes.length - 2]!;
      log(
        `kill ${kills}: life ${prev.life} after ${((prev.endedAt! - prev.readyAt) / 1000).toFixed(1)}s with ${prev.inFlightAtKill} requests in flight; ` +
          `life ${next.life} READY in ${((lifetimes.at(-1)!.readyAt - prev.endedAt!) / 1000).toFixed(1)}s`,
      );
    }
  })();

  await pump(
    [],
    {
      open: () => performance.now() < loadEndsAt,
      next: () => {
        const now = performance.now();
        if (now - lastProgress > 15_000) {
          lastProgress = now;
          const answered = transfers.filter((t) => t.job.final !== undefined).length;
          log(
            `load: ${transfers.length} transfers sent, ${answered} answered, ${kills} kills, ${requests} requests`,
          );
        }
        if (!closeMidLoadSent && now >= closeMidLoadAt) {
          closeMidLoadSent = true;
          return closeMidLoad;
        }
        return nextTransfer().job;
      },
    },
    () => loadEndsAt + DRAIN_TIMEOUT_MS,
  );
  // Phase 2 began inside pump once the load ended: no more kills, every open transfer drained.
  await killer;
  const drainedAt = performance.now();
  log(
    `load over: ${transfers.length} transfers, ${kills} kills; drain took ${((drainedAt - loadEndsAt) / 1000).toFixed(1)}s` +
      (abortReason === undefined ? "" : `; ABORTED: ${abortReason}`),
  );

  // One more RSS sample of the lifetime that drained, then the final restart.
  const drainLife = live === undefined ? undefined : lifetimes.find((l) => l.life === live!.life);
  if (drainLife !== undefined && live?.proc.pid !== undefined) {
    const kb = rssKb(live.proc.pid);
    if (kb !== undefined) drainLife.rssAfterDrainKb = kb;
  }

  // ============================================================================================
  // Verification on a fresh lifetime: outcomes unchanged, balances exact, nothing still running.
  const violations: string[] = [];
  const failedChecks = new Map<string, string>();
  let stuckOutputs = 0;
  let deepChecked = 0;
  let deepSkipped = 0;
  let verifiedBalances = 0;
  let balanceSum: number | null = null;
  let settle: { partition: number; runningAttempts: number; storeErrors: number }[] | null = null;
  let finalChild: Child | undefined;
  const late: string[] = [];
  if (abortReason === undefined) {
    try {
      finalChild = await restart("drained, then killed");
    } catch (e) {
      abort(`the final restart failed: ${(e as Error).message}`);
    }
  }
  if (finalChild !== undefined && abortReason === undefined) {
    const fc = finalChild;
    log(`final restart: life ${fc.life} READY; verifying ${transfers.length} transfers`);
    const ask = (p: string, method: "GET" | "POST", body?: unknown): Promise<Reply> =>
      request(fc.url + p, { method, ...(body === undefined ? {} : { body }), timeoutMs: REQUEST_TIMEOUT_MS });
    const queue = [...transfers];
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        for (let x = queue.shift(); x !== undefined; x = queue.shift()) {
          if (performance.now() > runDeadline) {
            abort("deadline (duration + 2 min, less a margin for the report) passed during verification");
            return;
          }
          if (x.job.final === undefined) {
            // Never answered during the drain: its outcome for the books is its output now, if it
            // has one (asked without attaching, so a stuck run answers 470 at once).
            const now = await ask(`/restate/workflow/${x.workflow}/${x.id}/output`, "GET");
            late.push(`${x.id}: ${describe(now)}`);
            if (!now.answered || (now.status !== 200 && now.status !== 409)) {
              violations.push(`${x.id}: no final answer even after the restart: ${describe(now)}`);
              stuckOutputs++;
              continue;
            }
            x.job.final = {
              status: now.status,
              body: now.body,
              life: fc.life,
              at: performance.now(),
              requestMs: 0,
            };
          }
          const final = x.job.final;
          const was = describeFinal(final);
          const expected = expectedStatus(final);
          if (expected === undefined) violations.push(`${x.id}: answered ${was}, which no transfer answers`);
          if (
            final.status === 200 &&
            JSON.stringify(parseJson(final.body)) !== JSON.stringify({ id: x.id, ...x.req })
          )
            violations.push(`${x.id}: answered 200 ${final.body} for request ${JSON.stringify(x.req)}`);
          // Every transfer: not running any more, so the output is there without waiting (470 if
          // it were not), and it is the answer the driver got.
          const output = await ask(`/restate/workflow/${x.workflow}/${x.id}/output`, "GET");
          if (!output.answered || output.status === 470) stuckOutputs++;
          if (describe(output) !== was)
            violations.push(`${x.id}: answered ${was}; output after restart: ${describe(output)}`);
          // Each of these two asks appends to the log, so they go to every transfer a kill
          // interrupted and one in DEEP_CHECK_ONE_IN of the others, while the deadline allows.
          if (x.job.tries <= 1 && Number(x.id.slice(1)) % DEEP_CHECK_ONE_IN !== 0) continue;
          if (performance.now() > runDeadline - DEEP_CHECK_RESERVE_MS) {
            deepSkipped++;
            continue;
          }
          deepChecked++;
          // The run is once per workflow id: asking again attaches to it and gets the same answer.
          const again = await ask(`/${x.workflow}/${x.id}/run`, "POST", x.req);
          if (describe(again) !== was)
            violations.push(`${x.id}: answered ${was}; run again after restart: ${describe(again)}`);
          // Its workflow state ended where its answer says (a compensated transfer says "failed").
          const status = await ask(`/${x.workflow}/${x.id}/status`, "POST");
          if (expected !== undefined && describe(status) !== `200 ${JSON.stringify(expected)}`)
            violations.push(`${x.id}: answered ${was}; its status is ${describe(status)}, not "${expected}"`);
        }
      }),
    );

    // The books: what the 200s moved, nothing else (a 409 moved nothing, or gave the debit back).
    const expectedBalance = new Map(accountIds.map((a) => [a, INITIAL_BALANCE]));
    for (const x of transfers) {
      if (x.job.final?.status !== 200) continue;
      expectedBalance.set(x.req.from, expectedBalance.get(x.req.from)! - x.req.amount);
      expectedBalance.set(x.req.to, expectedBalance.get(x.req.to)! + x.req.amount);
    }
    balanceSum = 0;
    for (const a of accountIds) {
      const r = await ask(`/Account/${a}/balance`, "POST");
      if (!r.answered || r.status !== 200) {
        violations.push(`${a}: balance after restart: ${describe(r)}`);
        continue;
      }
      const balance = parseJson(r.body);
      if (typeof balance !== "number") {
        violations.push(`${a}: balance after restart is not a number: ${r.body}`);
        continue;
      }
      balanceSum += balance;
      const want = expectedBalance.get(a)!;
      if (balance === want && balance >= 0) verifiedBalances++;
      if (balance !== want)
        violations.push(
          `${a}: balance ${balance}, but initial ${INITIAL_BALANCE} + credits − debits of the 200s is ${want} (off by ${balance - want})`,
        );
      if (balance < 0) violations.push(`${a}: balance ${balance} is negative`);
    }

    // Nothing left running: every partition's invoker idle after a short settle.
    const lt = lifetimes.find((l) => l.life === fc.life)!;
    if (lt.adminUrl === undefined) violations.push(`life ${fc.life}: the child printed no ADMIN line`);
    else {
      const settleBy = performance.now() + SETTLE_TIMEOUT_MS;
      for (;;) {
        const r = await request(`${lt.adminUrl}/stats`, { method: "GET", timeoutMs: REQUEST_TIMEOUT_MS });
        if (r.answered && r.status === 200) {
          const stats = parseJson(r.body) as {
            partitions?: { partition: number; running_attempts: number; store_errors: number }[];
          };
          settle =
            stats?.partitions?.map(({ partition, running_attempts, store_errors }) => ({
              partition,
              runningAttempts: running_attempts,
              storeErrors: store_errors,
            })) ?? null;
          if (settle !== null && settle.length > 0 && settle.every((p) => p.runningAttempts === 0)) break;
        }
        if (performance.now() > settleBy) {
          violations.push(`admin /stats after ${SETTLE_TIMEOUT_MS} ms: ${r.answered ? r.body : describe(r)}`);
          break;
        }
        await sleep(200);
      }
    }
    const kb = fc.proc.pid === undefined ? undefined : rssKb(fc.proc.pid);
    if (kb !== undefined) lt.rss.push({ tMs: performance.now() - lt.readyAt, kb });
    lt.endedAt = performance.now();
    lt.endedBy = "verified";
    live = undefined;
    await kill(fc);
  }
  clearTimeout(hardDeadline);
  if (finished) return 1; // a signal or the hard deadline is already tearing down
  finished = true;
  const dataFilesAtEnd = filesIn(dataDir);
  await cleanup();

  // ============================================================================================
  // Tally and report.
  const finalOf = (t: Transfer) => t.job.final;
  const ok200 = transfers.filter((t) => finalOf(t)?.status === 200);
  const compensated = transfers.filter(
    (t) => finalOf(t) !== undefined && expectedStatus(finalOf(t)!) === "failed",
  );
  const refused = transfers.filter(
    (t) => finalOf(t) !== undefined && expectedStatus(finalOf(t)!) === "debiting",
  );
  const unanswered = transfers.filter((t) => t.job.gaveUp !== undefined);
  const jobs = [
    ...funding,
    closeAtStart,
    ...(closeMidLoadSent ? [closeMidLoad] : []),
    ...transfers.map((t) => t.job),
  ];
  const tries = jobs.reduce((s, j) => s + j.tries, 0);
  const setupUnanswered = [...funding, closeAtStart, ...(closeMidLoadSent ? [closeMidLoad] : [])].filter(
    (j) => j.final === undefined,
  );
  const retried = transfers.filter((t) => t.job.tries > 1);

  // Funding answered the first deposit's balance each time (a duplicate would say 2000).
  for (const f of funding)
    if (f.final !== undefined && f.final.body !== String(INITIAL_BALANCE))
      violations.push(`${f.name}: the deposit answered ${f.final.body}, expected ${INITIAL_BALANCE}`);
  // Closed accounts take no credit after their close was acknowledged.
  const closedAt = closeMidLoad.final?.at ?? Infinity;
  const creditedClosed = transfers.filter(
    (t) =>
      t.job.final?.status === 200 &&
      (t.req.to === closedAtStart || (t.req.to === closedMidLoad && t.job.firstSentAt! > closedAt)),
  );
  for (const t of creditedClosed) violations.push(`${t.id}: credited ${t.req.to} after it was closed`);

  const errors = errorLines(children.stderr);
  const warnings = children.stderr.filter((l) => !errors.includes(l) && !ADMIN_LINE.test(l.line));

  // Latency and throughput of the acknowledged transfers (final answers: 200 or 409).
  const acked = transfers.filter(
    (t) => t.job.final !== undefined && t.job.final.life < (finalChild?.life ?? Infinity),
  );
  const endToEnd = acked.map((t) => t.job.final!.at - t.job.firstSentAt!).sort((a, b) => a - b);
  const answering = acked.map((t) => t.job.final!.requestMs).sort((a, b) => a - b);
  const loadLives = lifetimes.filter((l) => l.endedBy !== "verified");
  const perLife = lifetimes.map((l) => {
    const here = acked.filter((t) => t.job.final!.life === l.life);
    const seconds = ((l.endedAt ?? performance.now()) - l.readyAt) / 1000;
    const kbs = l.rss.map((s) => s.kb);
    return {
      life: l.life,
      pid: l.pid,
      endedBy: l.endedBy ?? "-",
      readyMs: Math.round(l.readyAt - l.spawnedAt),
      upSeconds: round(seconds),
      inFlightAtKill: l.inFlightAtKill ?? null,
      acknowledged: here.length,
      ok200: here.filter((t) => t.job.final!.status === 200).length,
      ackPerSecond: l.endedBy === "verified" ? null : round(here.length / Math.max(seconds, 0.001)),
      rssSamples: kbs.length,
      rssMinKb: kbs.length === 0 ? null : Math.min(...kbs),
      rssMedianKb: median(kbs),
      rssMaxKb: kbs.length === 0 ? null : Math.max(...kbs),
      rssAfterDrainKb: l.rssAfterDrainKb ?? null,
      dataBytesAtSpawn: l.dataBytesAtSpawn,
    };
  });

  // Memory trend over the longest load lifetime: RSS at 25% of it against RSS at its end.
  const longest = [...loadLives].sort(
    (a, b) => (b.endedAt ?? 0) - b.readyAt - ((a.endedAt ?? 0) - a.readyAt),
  )[0];
  let trend: {
    life: number;
    upSeconds: number;
    rssAt25Kb: number;
    rssAt100Kb: number;
    growth: number;
  } | null = null;
  if (longest !== undefined && longest.rss.length >= 4) {
    const span = (longest.endedAt ?? performance.now()) - longest.readyAt;
    const at = (f: number) =>
      longest.rss.reduce((best, s) => (Math.abs(s.tMs - f * span) < Math.abs(best.tMs - f * span) ? s : best))
        .kb;
    const rssAt25Kb = at(0.25);
    const rssAt100Kb = longest.rss.at(-1)!.kb;
    trend = {
      life: longest.life,
      upSeconds: round(span / 1000),
      rssAt25Kb,
      rssAt100Kb,
      growth: round(rssAt100Kb / rssAt25Kb - 1, 3),
    };
  }
  // Across lifetimes: each restart rebuilds the heap, so growth here is state that outlives a
  // process (caches or indexes sized by the log or the number of invocations).
  const loadSamples = loadLives.flatMap((l) => l.rss.map((x) => ({ at: l.readyAt + x.tMs, kb: x.kb })));
  const quarterMs = opts.durationMs / 4;
  const firstQuarterKb = median(loadSamples.filter((x) => x.at < loadStartedAt + quarterMs).map((x) => x.kb));
  const lastQuarterKb = median(
    loadSamples.filter((x) => x.at >= loadEndsAt - quarterMs && x.at <= loadEndsAt).map((x) => x.kb),
  );
  const acrossRun =
    firstQuarterKb === null || lastQuarterKb === null
      ? null
      : {
          firstQuarterMedianKb: firstQuarterKb,
          lastQuarterMedianKb: lastQuarterKb,
          growth: round(lastQuarterKb / firstQuarterKb - 1, 3),
        };
  const ackRate = (from: number, to: number) =>
    round(acked.filter((t) => t.job.final!.at >= from && t.job.final!.at < to).length / ((to - from) / 1000));
  const memoryWarnings = [
    ...(trend !== null && trend.growth > RSS_GROWTH_WARN
      ? [
          `MEMORY GROWTH? life ${trend.life}: RSS ${mb(trend.rssAt25Kb)} MB at 25% → ${mb(trend.rssAt100Kb)} MB at 100% of it (+${Math.round(trend.growth * 100)}%)`,
        ]
      : []),
    ...(acrossRun !== null && acrossRun.growth > RSS_GROWTH_WARN
      ? [
          `MEMORY GROWTH? across the load: median RSS ${mb(acrossRun.firstQuarterMedianKb)} MB in the first quarter → ${mb(acrossRun.lastQuarterMedianKb)} MB in the last (+${Math.round(acrossRun.growth * 100)}%)`,
        ]
      : []),
  ];

  // The guarantees; each failed one is named.
  const check = (name: string, held: boolean, detail: string) => {
    if (!held) failedChecks.set(name, detail);
  };
  check("run completed", abortReason === undefined, abortReason ?? "");
  check(
    "every request got a final answer",
    unanswered.length === 0 && setupUnanswered.length === 0,
    [...setupUnanswered, ...unanswered.map((t) => t.job)]
      .slice(0, 5)
      .map((j) => `${j.name} (${j.gaveUp ?? "not answered"})`)
      .join("; "),
  );
  check(
    "no request refused with an unexpected 4xx",
    unexpected.length === 0,
    unexpected.slice(0, 5).join("; "),
  );
  check(
    "outcomes unchanged after restart, balances exact, closed accounts uncredited, deposits once",
    violations.length === 0,
    `${violations.length} violations, first: ${violations.slice(0, 5).join(" | ")}`,
  );
  check(
    "sum of balances unchanged",
    balanceSum === opts.accounts * INITIAL_BALANCE,
    `sum ${balanceSum ?? "not read"}, expected ${opts.accounts * INITIAL_BALANCE}`,
  );
  check(
    "no invocation left running",
    stuckOutputs === 0 && settle !== null && settle.every((p) => p.runningAttempts === 0),
    `${stuckOutputs} workflow outputs not ready; running attempts ${JSON.stringify(settle?.map((p) => p.runningAttempts) ?? "unknown")}`,
  );
  check(
    "the engine logged no errors",
    errors.length === 0,
    errors
      .slice(0, 3)
      .map((e) => `life ${e.life}: ${e.line.slice(0, 300)}`)
      .join(" | "),
  );
  check(
    "the run exercised kills and every outcome",
    kills >= 1 && ok200.length > 0 && compensated.length > 0 && refused.length > 0,
    `kills ${kills}, 200 ${ok200.length}, compensated ${compensated.length}, refused ${refused.length}`,
  );

  const report = {
    ok: failedChecks.size === 0,
    failed: Object.fromEntries(failedChecks),
    startedAt: startedIso,
    options: {
      seed: opts.seed,
      durationSeconds: opts.durationMs / 1000,
      accounts: opts.accounts,
      concurrency: opts.concurrency,
      killIntervalSeconds: [opts.killMinMs / 1000, opts.killMaxMs / 1000],
      dataDir: opts.dataDir === undefined && !opts.keep ? null : dataDir,
    },
    wallSeconds: round((performance.now() - startedAt) / 1000),
    transfers: {
      sent: transfers.length,
      slow: transfers.filter((t) => t.workflow === "SlowTransfer").length,
      acknowledged200: ok200.length,
      compensated409: compensated.length,
      refused409: refused.length,
      withoutFinalAnswer: unanswered.length,
      answeredOnlyAfterFinalRestart: late.length,
      retriedUnderSameId: retried.length,
      retriedThenSucceeded: retried.filter((t) => t.job.final?.status === 200).length,
    },
    faults: {
      kills,
      lifetimes: lifetimes.length,
      requests,
      retries: tries - jobs.length,
      retriesByReason: Object.fromEntries([...failuresByReason].sort((a, b) => b[1] - a[1])),
      drainSeconds: round((drainedAt - loadEndsAt) / 1000),
    },
    verification: {
      balancesVerified: verifiedBalances,
      accounts: opts.accounts,
      sum: balanceSum,
      expectedSum: opts.accounts * INITIAL_BALANCE,
      outputsChecked: transfers.length,
      runAgainAndStatusChecked: deepChecked,
      runAgainAndStatusSkippedForTime: deepSkipped,
      stuckInvocations: stuckOutputs,
      runningAttemptsAfterSettle: settle,
      violations: violations.slice(0, 50),
      violationCount: violations.length,
    },
    throughput: {
      loadAckPerSecond: ackRate(loadStartedAt, loadEndsAt),
      firstQuarterAckPerSecond: ackRate(loadStartedAt, loadStartedAt + quarterMs),
      lastQuarterAckPerSecond: ackRate(loadEndsAt - quarterMs, loadEndsAt),
      endToEndMs: {
        p50: round(percentile(endToEnd, 50) ?? 0),
        p99: round(percentile(endToEnd, 99) ?? 0),
        max: round(endToEnd.at(-1) ?? 0),
      },
      answeringRequestMs: {
        p50: round(percentile(answering, 50) ?? 0),
        p99: round(percentile(answering, 99) ?? 0),
      },
    },
    memory: { longestLifetime: trend, acrossLoad: acrossRun, warnings: memoryWarnings },
    lifetimes: perLife,
    dataDirBytesAtEnd: dataFilesAtEnd,
    stderr: {
      errorLines: errors.length,
      otherLines: warnings.length,
      sample: [...errors, ...warnings].slice(0, 5).map((l) => `life ${l.life}: ${l.line.slice(0, 300)}`),
    },
  };
  fs.writeFileSync(opts.reportPath, JSON.stringify(report, null, 2) + "\n");

  // ---- the printed table ----------------------------------------------------------------------
  const rows: [string, string | number][] = [
    ["seed", `${opts.seed}  (--seed ${opts.seed} replays the plan and kill intervals)`],
    [
      "wall time",
      `${report.wallSeconds} s (load ${opts.durationMs / 1000} s, drain ${report.faults.drainSeconds} s)`,
    ],
    ["transfers sent", `${transfers.length} (${report.transfers.slow} SlowTransfer)`],
    ["  acknowledged 200", ok200.length],
    ["  409 compensated", compensated.length],
    ["  409 refused (funds)", refused.length],
    ["  without final answer", unanswered.length],
    ["  retried under same id", `${retried.length} (${report.transfers.retriedThenSucceeded} then 200)`],
    ["kills (SIGKILL mid-load)", `${kills} (+1 after the drain); lifetimes ${lifetimes.length}`],
    ["requests / retries", `${requests} / ${report.faults.retries}`],
    [
      "retries by reason",
      Object.entries(report.faults.retriesByReason)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "-",
    ],
    [
      "outcomes after restart",
      `${transfers.length} outputs read; ${deepChecked} run again + status read (every retried one + 1 in ${DEEP_CHECK_ONE_IN})${deepSkipped > 0 ? `; ${deepSkipped} skipped for time` : ""}`,
    ],
    ["balances verified", `${verifiedBalances} / ${opts.accounts}`],
    ["sum of balances", `${balanceSum ?? "-"} (expected ${opts.accounts * INITIAL_BALANCE})`],
    [
      "stuck invocations",
      `${stuckOutputs} outputs not ready; running attempts ${settle === null ? "unknown" : settle.map((p) => p.runningAttempts).join("/")}`,
    ],
    ["violations", violations.length],
    [
      "throughput (load)",
      `${report.throughput.loadAckPerSecond} acknowledged/s (first quarter ${report.throughput.firstQuarterAckPerSecond}/s, last quarter ${report.throughput.lastQuarterAckPerSecond}/s)`,
    ],
    [
      "data dir at the end",
      Object.entries(dataFilesAtEnd)
        .map(([f, b]) => `${f} ${mb(b / 1024)} MB`)
        .join(", "),
    ],
    [
      "latency end-to-end",
      `p50 ${report.throughput.endToEndMs.p50} ms, p99 ${report.throughput.endToEndMs.p99} ms, max ${report.throughput.endToEndMs.max} ms (first send → final answer, retries included)`,
    ],
    [
      "latency answering req",
      `p50 ${report.throughput.answeringRequestMs.p50} ms, p99 ${report.throughput.answeringRequestMs.p99} ms`,
    ],
    [
      "memory, longest life",
      trend === null
        ? "too few samples"
        : `life ${trend.life} (${trend.upSeconds} s): ${mb(trend.rssAt25Kb)} MB at 25% → ${mb(trend.rssAt100Kb)} MB at 100% (${trend.growth >= 0 ? "+" : ""}${Math.round(trend.growth * 100)}%)`,
    ],
    [
      "memory across the load",
      acrossRun === null
        ? "too few samples"
        : `median ${mb(acrossRun.firstQuarterMedianKb)} MB in the first quarter → ${mb(acrossRun.lastQuarterMedianKb)} MB in the last (${acrossRun.growth >= 0 ? "+" : ""}${Math.round(acrossRun.growth * 100)}%)`,
    ],
    ["child stderr", `${errors.length} error lines, ${warnings.length} other lines`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log("\n=== onelog chaos report " + "=".repeat(70));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  console.log("\nper lifetime (RSS in MB; ack = final answers 200/409 received from that lifetime)");
  const header = [
    "life",
    "ended by",
    "ready ms",
    "up s",
    "in flight",
    "ack",
    "200",
    "ack/s",
    "rss min",
    "rss med",
    "rss max",
    "after drain",
    "data MB",
  ];
  const table = perLife.map((l) => [
    String(l.life),
    l.endedBy,
    String(l.readyMs),
    String(l.upSeconds),
    l.inFlightAtKill === null ? "-" : String(l.inFlightAtKill),
    String(l.acknowledged),
    String(l.ok200),
    l.ackPerSecond === null ? "-" : String(l.ackPerSecond),
    mb(l.rssMinKb),
    mb(l.rssMedianKb),
    mb(l.rssMaxKb),
    l.rssAfterDrainKb === null ? "" : mb(l.rssAfterDrainKb),
    mb(l.dataBytesAtSpawn / 1024),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(fmt(header));
  for (const r of table) console.log(fmt(r));
  for (const w of memoryWarnings) console.log(`\n${w} (a soft warning: GC is noisy)`);
  for (const w of report.stderr.sample) console.log(`stderr: ${w}`);
  for (const v of violations.slice(0, 10)) console.log(`violation: ${v}`);
  console.log(`\nreport written to ${opts.reportPath}`);
  if (failedChecks.size === 0) {
    console.log("ALL GUARANTEES HELD");
    return 0;
  }
  for (const [name, detail] of failedChecks) console.log(`FAILED: ${name}: ${detail}`);
  return 1;
}

// Last, so every constant above is initialized before either role runs.
if (process.env[ROLE_ENV] === "server") await serve();
else process.exitCode = await drive();
