/**
 * The load driver: a closed loop that keeps `concurrency` requests in flight over as many
 * keep-alive connections (undici's Pool), records each request's latency and checks each
 * answer. A warm-up comes first; the measured window counts the requests that completed in it.
 */
import { Pool, request } from "undici";
import { greeting } from "./answers.js";
import { latencyOf, type Latency } from "./stats.js";
import type { HttpWorkload } from "./workloads.js";

export interface DriveOptions {
  /**
   * The ingress to drive, or several (the nodes of a cluster): worker i then sends over a pool of
   * its own to `url[i mod n]`, so the connections spread evenly over them.
   */
  readonly url: string | readonly string[];
  /** What to send and how to check it (bench/workloads.ts, or the scaling workloads of bench/scaling.ts). */
  readonly workload: Pick<HttpWorkload, "request" | "checker">;
  /** Unique per run: keys and workflow ids are fresh. */
  readonly tag: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** A request that takes longer fails (and counts as an error). */
  readonly requestTimeoutMs: number;
  /** Called when the measured window starts (to take counters) and when it ends. */
  readonly onWindow?: (edge: "start" | "end") => void;
}

export interface DriveResult {
  /** Requests that completed in the measured window, per second. */
  readonly throughput: number;
  readonly latency: Latency;
  /** Completed requests in the window. */
  readonly measured: number;
  /** Requests answered in each second of the window: a server that slows down over time shows here. */
  readonly perSecond: readonly number[];
  /** Every request sent, warm-up included. */
  readonly sent: number;
  /** Answers that failed their check, requests that failed, and problems found at the end. */
  readonly errors: number;
  readonly errorSamples: readonly string[];
  /** CPU the driver (this process) used per measured request, in µs. */
  readonly driverCpuUsPerRequest: number;
}

/** Runs one workload against one server and returns what was measured. Never throws for bad answers. */
export async function drive(o: DriveOptions): Promise<DriveResult> {
  const urls = typeof o.url === "string" ? [o.url] : o.url;
  const pools = urls.map(
    (url, n) =>
      new Pool(url, {
        // The workers that use this pool: n, n + urls.length, …
        connections: Math.max(1, Math.ceil((o.concurrency - n) / urls.length)),
        pipelining: 1,
        headersTimeout: o.requestTimeoutMs,
        bodyTimeout: o.requestTimeoutMs,
      }),
  );
  const checker = o.workload.checker(o.tag);
  const latencies: number[] = [];
  const perSecond: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let next = 0;
  const fail = (what: string) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(what);
  };

  // The phases change on timers, never on a worker's clock check, so the window's edges (and
  // what onWindow takes there) happen exactly once, whatever the workers are doing.
  let phase: "warmup" | "measure" | "done" = "warmup";
  let windowStart = NaN;
  let windowEnd = NaN;
  let cpuAtStart = process.cpuUsage();
  let cpu = { user: NaN, system: NaN };
  const startTimer = setTimeout(() => {
    phase = "measure";
    windowStart = performance.now();
    cpuAtStart = process.cpuUsage();
    o.onWindow?.("start");
    endTimer = setTimeout(() => {
      phase = "done";
      windowEnd = performance.now();
      cpu = process.cpuUsage(cpuAtStart);
      o.onWindow?.("end");
    }, o.durationMs);
  }, o.warmupMs);
  let endTimer: NodeJS.Timeout | undefined;

  const worker = async (_: unknown, w: number) => {
    const pool = pools[w % pools.length]!;
    while (phase !== "done") {
      const i = next++;
      const { path, body } = o.workload.request(i, o.tag);
      const t0 = performance.now();
      let status: number;
      let text: string;
      try {
        const res = await pool.request({
          method: "POST",
          path,
          body,
          headers: { "content-type": "application/json" },
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (e) {
        fail(`request ${i} ${path}: ${(e as Error).message}`);
        continue;
      }
      const t1 = performance.now();
      const problem = checker.check(i, status, text);
      if (problem !== undefined) fail(`request ${i} ${path}: ${problem}`);
      else if (phase === "measure") {
        latencies.push(t1 - t0);
        const second = Math.floor((t1 - windowStart) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    await Promise.all(pools.map((pool) => pool.close()));
  }
  for (const problem of checker.finish()) fail(problem);
  return {
    throughput: (latencies.length * 1000) / (windowEnd - windowStart),
    latency: latencyOf(latencies),
    measured: latencies.length,
    // Whole seconds only: the window's last, partial second would read as a drop.
    perSecond: Array.from(perSecond, (n) => n ?? 0).slice(0, Math.floor((windowEnd - windowStart) / 1000)),
    sent: next,
    errors,
    errorSamples,
    driverCpuUsPerRequest: latencies.length === 0 ? NaN : (cpu.user + cpu.system) / latencies.length,
  };
}

/**
 * Calls `Greeter.greet` through `ingressUrl` until it answers right: a server just started, or
 * an ingress that learns of a new deployment a moment after its admin API answered. Throws with
 * the last answer after `timeoutMs`.
 */
export async function untilGreeterServes(ingressUrl: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const res = await request(`${ingressUrl}/Greeter/greet`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("probe"),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      if (res.statusCode === 200 && text === JSON.stringify(greeting("probe"))) return;
      last = `${res.statusCode} ${text.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (performance.now() > deadline) {
      throw new Error(`${ingressUrl}: Greeter.greet not served after ${timeoutMs} ms: ${last}`);
    }
    await new Promise<void>((r) => setTimeout(r, 100));
  }
}
