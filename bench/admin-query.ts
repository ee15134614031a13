/**
 * `--heavy-query` (issue 16 item 6): a second client that POSTs a heavy SQL query to the admin
 * API in a loop, one after the other, while the driver loads the ingress. onelog runs admin SQL
 * in a worker process (packages/onelog/src/internal/ops/sql-runner.ts), so the engine's thread
 * should hardly notice; the bench runs the same embedded load without and with this client and
 * compares latency. The worker's CPU is measured apart (it is a child of the server process, so
 * it is neither the server's CPU nor "others").
 */
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { request } from "undici";
import { fixed, int, pct } from "./stats.js";

/**
 * Full scans of sys_invocation (every invocation of the run is a row, kept for its retention;
 * the view decodes each row's status), `?` of them back to back, driven by a recursive CTE:
 * the client sets `?` after each query so that the next takes about {@link QUERY_TARGET_MS},
 * whatever the table's size at that moment — the query stays heavy from the first second of a
 * run at one client to the last of a run at 64.
 */
export const HEAVY_QUERY =
  "WITH RECURSIVE pass(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM pass WHERE i < ?) " +
  "SELECT count(*) AS rows, sum(length(s.completion_value_utf8)) AS bytes, max(s.journal_size) AS journal " +
  "FROM pass CROSS JOIN sys_invocation s";

/** How long each query should take; the admin API stops one after 10 s. */
export const QUERY_TARGET_MS = 2_000;

/** What the query client did, and what the SQL worker cost, over the measured window. */
export interface AdminQueryUse {
  readonly query: string;
  /** Queries answered (200) that ended inside the window. */
  readonly answered: number;
  /** Queries that failed (e.g. stopped by the admin API's timeout), warm-up included. */
  readonly failed: number;
  readonly failureSamples: readonly string[];
  /** Rows the answered queries of the window read (passes × the table's rows), on average. */
  readonly meanRows: number;
  /** Durations of the answered queries that ended inside the window, ms. */
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Share of the window during which a query was in flight. */
  readonly busyShare: number;
  /** The nice value the SQL worker ran at (0: as the engine starts it). */
  readonly workerNice: number;
  /** CPU of the server's child processes (the SQL worker) per second of the window. */
  readonly workerCpuPercent: number;
  readonly workerUserMs: number;
}

/** USER_HZ: 100 on every Linux that Node supports. */
const CLOCK_TICKS = 100;

/** CPU ms (user, system) of every child process of `pid`, by pid. */
function childrenCpu(pid: number): Map<number, { userMs: number; systemMs: number }> {
  const out = new Map<number, { userMs: number; systemMs: number }>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/);
    } catch {
      continue;
    }
    for (const child of children) {
      if (child === "") continue;
      try {
        const stat = readFileSync(`/proc/${child}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out.set(Number(child), {
          userMs: (Number(fields[11]) * 1000) / CLOCK_TICKS,
          systemMs: (Number(fields[12]) * 1000) / CLOCK_TICKS,
        });
      } catch {
        // Gone meanwhile.
      }
    }
  }
  return out;
}

/** The query client while it runs: the driver tells it the window's edges, then stops it. */
export interface QueryClient {
  onWindow(edge: "start" | "end"): void;
  /** Ends the loop (aborting a query in flight) and reports; later calls report the same. */
  stop(): Promise<AdminQueryUse>;
}

/**
 * Starts POSTing {@link HEAVY_QUERY} to `adminUrl`/query back to back; `serverPid`'s children are
 * the SQL worker. With `workerNice`, the worker (started with the first query, restarted after a
 * timeout) is set to that nice value as soon as it appears: what the engine could do itself.
 */
export function startQueryClient(adminUrl: string, serverPid: number, workerNice?: number): QueryClient {
  const abort = new AbortController();
  const reniced = new Set<number>();
  const renice =
    workerNice === undefined
      ? undefined
      : setInterval(() => {
          for (const pid of childrenCpu(serverPid).keys()) {
            if (reniced.has(pid)) continue;
            try {
              os.setPriority(pid, workerNice);
              reniced.add(pid);
            } catch {
              // Gone meanwhile.
            }
          }
        }, 50);
  // Set by onWindow; asserted so that TypeScript does not narrow it inside the loop below.
  let phase = "warmup" as "warmup" | "measure" | "done";
  let windowStart = NaN;
  let windowEnd = NaN;
  let cpuAtStart = new Map<number, { userMs: number; systemMs: number }>();
  let worker = { cpuMs: NaN, userMs: NaN };
  let busyMs = 0;
  let failed = 0;
  const failureSamples: string[] = [];
  const durations: number[] = [];
  const rowCounts: number[] = [];
  let passes = 10;
  let stopped: Promise<AdminQueryUse> | undefined;
  const loop = (async () => {
    while (!abort.signal.aborted) {
      const t0 = performance.now();
      let problem: string | undefined;
      let rows = NaN;
      try {
        const res = await request(`${adminUrl}/query`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: HEAVY_QUERY, params: [passes] }),
          signal: abort.signal,
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) problem = `${res.statusCode} ${text.slice(0, 200)}`;
        else rows = (JSON.parse(text) as { rows: { rows: number }[] }).rows[0]?.rows ?? NaN;
      } catch (e) {
        problem = abort.signal.aborted ? undefined : (e as Error).message;
      }
      const t1 = performance.now();
      // The part of this query's time that fell inside the window.
      const from = Math.max(t0, windowStart);
      const to = Math.min(t1, Number.isNaN(windowEnd) ? t1 : windowEnd);
      if (to > from) busyMs += to - from;
      if (abort.signal.aborted) break;
      // The next query aims at the target duration: more passes while the table is small.
      passes = Math.max(
        1,
        Math.min(passes * 4, Math.round((passes * QUERY_TARGET_MS) / Math.max(1, t1 - t0))),
      );
      if (problem !== undefined) {
        failed++;
        if (failureSamples.length < 3) failureSamples.push(problem);
        // A failing admin API is not hammered.
        await new Promise((r) => setTimeout(r, 100));
      } else if (phase === "measure") {
        durations.push(t1 - t0);
        rowCounts.push(rows);
      }
    }
  })();
  return {
    onWindow(edge) {
      if (edge === "start") {
        phase = "measure";
        windowStart = performance.now();
        cpuAtStart = childrenCpu(serverPid);
      } else {
        phase = "done";
        windowEnd = performance.now();
        let cpuMs = 0;
        let userMs = 0;
        for (const [pid, cpu] of childrenCpu(serverPid)) {
          const before = cpuAtStart.get(pid) ?? { userMs: 0, systemMs: 0 };
          userMs += cpu.userMs - before.userMs;
          cpuMs += cpu.userMs - before.userMs + cpu.systemMs - before.systemMs;
        }
        worker = { cpuMs, userMs };
      }
    },
    stop() {
      return (stopped ??= report());
    },
  };
  async function report(): Promise<AdminQueryUse> {
    abort.abort();
    await loop;
    clearInterval(renice);
    const windowMs = windowEnd - windowStart;
    return {
      query: HEAVY_QUERY,
      answered: durations.length,
      workerNice: workerNice ?? 0,
      meanRows: rowCounts.reduce((a, b) => a + b, 0) / rowCounts.length,
      failed,
      failureSamples,
      meanMs: durations.reduce((a, b) => a + b, 0) / durations.length,
      minMs: Math.min(...durations),
      maxMs: Math.max(...durations),
      busyShare: busyMs / windowMs,
      workerCpuPercent: (worker.cpuMs * 100) / windowMs,
      workerUserMs: worker.userMs,
    };
  }
}

/** One run of onelog embedded in the comparison. */
export interface AdminQueryRun {
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuPercent: number;
  readonly otherCpuPercent: number;
  /** The query client, absent in the run without it. */
  readonly query?: AdminQueryUse;
}

/** One row of the comparison: the same embedded load without the query client, then with it (at each worker nice value). */
export interface AdminQueryRow {
  readonly workload: string;
  readonly concurrency: number;
  readonly without: AdminQueryRun;
  readonly with: readonly AdminQueryRun[];
}

/** The issue's goal: p99 with the query at most this many times p99 without it. */
export const P99_RATIO_GOAL = 2;

/** The markdown table of `--heavy-query` (empty when it did not run). */
export function renderAdminQuery(rows: readonly AdminQueryRow[]): string[] {
  if (rows.length === 0) return [];
  const out = [
    `Admin SQL during load: onelog embedded, the same workload on a fresh server each time — without, then with a second ` +
      `client POSTing this query to /query back to back, \`?\` set after each one so that the next takes about ` +
      `${QUERY_TARGET_MS / 1000} s: \`${HEAVY_QUERY}\`. "nice 19": the bench sets the SQL worker process to nice 19 as soon as it appears.`,
    "",
    "| Workload | C | admin query | req/s | p50 ms | p99 ms | p99 ÷ without | goal | queries in window (mean / max s; rows read each) | CPU SQL worker | CPU server % (µs/req) | CPU others |",
    "| --- | --: | --- | --: | --: | --: | --: | --- | --: | --: | --: | --: |",
  ];
  for (const row of rows) {
    for (const run of [row.without, ...row.with]) {
      const q = run.query;
      const ratio = run.p99Ms / row.without.p99Ms;
      out.push(
        `| ${row.workload} | ${row.concurrency} | ${q === undefined ? "none" : `back to back${q.workerNice === 0 ? "" : `, worker nice ${q.workerNice}`}`} | ` +
          `${int(run.throughput)} | ${fixed(run.p50Ms, 2)} | ${fixed(run.p99Ms, 2)} | ` +
          `${q === undefined ? "" : `${fixed(ratio, 2)}×`} | ${q === undefined ? "" : `≤ ${P99_RATIO_GOAL}× ${ratio <= P99_RATIO_GOAL ? "✓" : "✗"}`} | ` +
          `${q === undefined ? "" : `${q.answered} (${fixed(q.meanMs / 1000, 2)} / ${fixed(q.maxMs / 1000, 2)} s; ${int(q.meanRows)})${q.failed > 0 ? `, ${q.failed} failed` : ""}`} | ` +
          `${q === undefined ? "–" : pct(q.workerCpuPercent / 100)} | ${pct(run.serverCpuPercent / 100)} (${int((run.serverCpuPercent * 10_000) / run.throughput)}) | ${pct(run.otherCpuPercent / 100)} |`,
      );
    }
  }
  out.push("");
  return out;
}
