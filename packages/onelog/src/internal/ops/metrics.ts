/**
 * Prometheus metrics (admin `GET /metrics`) with prom-client, in a registry of their own per
 * server, so two servers in one process do not mix their numbers.
 *
 * Measured where they happen:
 * - append latency: a thin wrapper around the {@link Log} (`meter`), from `append` to durable;
 * - group-commit sizes: the log's commit counters, read as each append resolves;
 * - apply latency: the processor's observer hook, once per applied batch.
 * Read at scrape time: invocations by status (a count over the store), and per partition the
 * log's tail and retained records, the applied LSN, the apply lag, leadership and the running
 * attempts.
 */
import { statSync } from "node:fs";
import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Engine } from "../engine.js";
import type { Log, LogPosition } from "../log/log.js";
import type { ProcessorObserver } from "../partition/processor.js";
import type { SqlIntrospection } from "./sql.js";
import { INVOCATION_STATES, type InvocationState } from "../partition/store/store.js";

const STATES: readonly InvocationState[] = INVOCATION_STATES;

/** What the scrape-time gauges read. */
export interface MetricSources {
  readonly engine: Engine;
  readonly log: Log;
  readonly sql: SqlIntrospection;
  /** `<dataDir>/log.db`, for its size; none on a cluster node (its log is in the cluster). */
  readonly logPath?: string;
  /** `<dataDir>/store.db`, for its size. */
  readonly storePath: string;
}

/**
 * The metrics of one server.
 *
 * @example
 * const metrics = new Metrics();
 * const log = metrics.meter(SqliteLog.open({ path, partitions }));   // append latency, commit sizes
 * const engine = await Engine.start({ log, observer: metrics, … });  // apply latency
 * metrics.attach({ engine, log, sql, logPath, storePath });          // scrape-time gauges
 * const { contentType, body } = await metrics.text();
 */
export class Metrics implements ProcessorObserver {
  readonly registry = new Registry();
  private readonly appendSeconds: Histogram;
  private readonly commitRecords: Histogram;
  private readonly applySeconds: Histogram<"partition">;
  private readonly applyChildren: { observe(v: number): void }[] = [];
  private sources: MetricSources | undefined;
  private seenCommits = 0;
  private seenRecords = 0;

  constructor(options: { readonly defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.appendSeconds = new Histogram({
      name: "onelog_log_append_duration_seconds",
      help: "Time from a log append to its records being durable (group commit and fsync included)",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers,
    });
    this.commitRecords = new Histogram({
      name: "onelog_log_group_commit_records",
      help: "Records per log commit (one fsync); an average when several commits end between two appends",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.applySeconds = new Histogram({
      name: "onelog_apply_batch_duration_seconds",
      help: "Time to apply one batch of records and commit it to the store, per partition",
      labelNames: ["partition"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const current = (): MetricSources | undefined => this.sources;
    // One findTail per partition per scrape: three gauges read it, and in a cluster it is a
    // request to JetStream. A scrape starts every gauge's collect in one synchronous pass, so the
    // request in flight is shared, and forgotten once it settles (the next scrape asks again).
    const inFlight = new Map<number, Promise<LogPosition>>();
    const positionOf = (s: MetricSources, p: number): Promise<LogPosition> => {
      let position = inFlight.get(p);
      if (position === undefined) {
        position = s.log.findTail(p);
        inFlight.set(p, position);
        const forget = () => inFlight.delete(p);
        position.then(forget, forget);
      }
      return position;
    };
    new Gauge({
      name: "onelog_invocations",
      help: "Invocations by status in the partitions this process leads (completed ones only while retained)",
      labelNames: ["status"],
      registers,
      collect() {
        const s = current();
        if (s === undefined) return;
        // A cluster node's store of a partition it does not lead is not current (cluster.ts, invariant 1).
        const counts = s.sql.countByStatus((p) => s.engine.leads(p));
        for (const s of STATES) this.set({ status: s }, counts.get(s) ?? 0);
      },
    });
    const perPartition = (
      name: string,
      help: string,
      read: (s: MetricSources, partition: number) => number | undefined | Promise<number | undefined>,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["partition"],
        registers,
        // Async: the log's positions are asynchronous (a replicated log answers over the network).
        async collect() {
          const s = current();
          if (s === undefined) return;
          const values = await Promise.all(
            Array.from({ length: s.engine.partitions }, (_, p) => Promise.resolve(read(s, p))),
          );
          values.forEach((v, p) => {
            if (v !== undefined) this.set({ partition: String(p) }, v);
          });
        },
      });
    perPartition(
      "onelog_log_tail_lsn",
      "The highest durable LSN of the partition's log",
      async (s, p) => (await positionOf(s, p)).tailLsn,
    );
    perPartition(
      "onelog_applied_lsn",
      "The LSN the partition's store has applied",
      (s, p) => s.engine.processors[p]?.appliedLsn,
    );
    perPartition(
      "onelog_apply_lag_records",
      "Records appended to the partition's log and not applied yet",
      async (s, p) => (await positionOf(s, p)).tailLsn - (s.engine.processors[p]?.appliedLsn ?? 0),
    );
    perPartition(
      "onelog_log_records",
      "Records still in the partition's log (not trimmed yet)",
      async (s, p) => {
        const { tailLsn, trimmedLsn } = await positionOf(s, p);
        return tailLsn - trimmedLsn;
      },
    );
    perPartition("onelog_partition_leader", "1 while this process leads the partition", (s, p) =>
      s.engine.leads(p) ? 1 : 0,
    );
    perPartition(
      "onelog_attempts_running",
      "Attempts running in the partition's invoker",
      (s, p) => s.engine.processors[p]?.runningAttempts,
    );
    new Gauge({
      name: "onelog_data_file_bytes",
      help: "Size of the data directory's database files, WAL included",
      labelNames: ["file"],
      registers,
      collect() {
        const s = current();
        if (s === undefined) return;
        if (s.logPath !== undefined) {
          this.set({ file: "log.db" }, fileBytes(s.logPath) + fileBytes(`${s.logPath}-wal`));
        }
        this.set({ file: "store.db" }, fileBytes(s.storePath) + fileBytes(`${s.storePath}-wal`));
      },
    });
  }

  /** Gives the scrape-time gauges what they read; before this they report nothing. */
  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  /** The processor's hook (ProcessorObserver). */
  batchApplied(partition: number, _records: number, durationMs: number): void {
    let child = this.applyChildren[partition];
    if (child === undefined) {
      child = this.applySeconds.labels({ partition: String(partition) });
      this.applyChildren[partition] = child;
    }
    child.observe(durationMs / 1000);
  }

  /**
   * Wraps a log so every append's latency is measured, and the group commits' sizes with it.
   * Everything else goes straight through.
   */
  meter(log: Log): Log {
    const appended = (startedMs: number): void => {
      this.appendSeconds.observe((performance.now() - startedMs) / 1000);
      const stats = log.stats;
      if (stats === undefined || stats.commits === this.seenCommits) return;
      const commits = stats.commits - this.seenCommits;
      const size = (stats.records - this.seenRecords) / commits;
      for (let i = 0; i < commits; i++) this.commitRecords.observe(size);
      this.seenCommits = stats.commits;
      this.seenRecords = stats.records;
    };
    const metered: Log = {
      partitions: log.partitions,
      append(partition, records) {
        const started = performance.now();
        const result = log.append(partition, records);
        result.then(
          () => appended(started),
          () => {},
        );
        return result;
      },
      read: (partition, fromLsn, signal) => log.read(partition, fromLsn, signal),
      findTail: (partition) => log.findTail(partition),
      trim: (partition, upToLsn) => log.trim(partition, upToLsn),
      close: () => log.close(),
    };
    if (log.stats !== undefined) {
      Object.defineProperty(metered, "stats", { get: () => log.stats, enumerable: true });
    }
    return metered;
  }

  /** The Prometheus text exposition. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.sources = undefined;
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
