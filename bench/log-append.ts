/**
 * The raw log: `concurrency` appenders, each appending one small record at a time to
 * SqliteLog (over 4 partitions) and waiting until it is durable. Group commit puts the appends
 * of one event-loop turn into one transaction and one fsync, so records/s can exceed the
 * disk's fsync rate by up to the number of appenders.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { SqliteLog } from "../packages/onelog/src/internal/log/sqlite-log.js";
import { encodeRecord } from "../packages/onelog/src/internal/partition/codec.js";
import type { ProposedRecord } from "../packages/onelog/src/internal/partition/records.js";
import { dataDirBytes } from "./disk.js";
import { latencyOf, type Latency } from "./stats.js";

export interface LogAppendOptions {
  /** A new directory for the log file. */
  readonly dir: string;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LogAppendResult {
  /** Records durable per second in the measured window. */
  readonly recordsPerSecond: number;
  /** Transactions (each one fsync) per second in the window. */
  readonly commitsPerSecond: number;
  /** Records per commit in the window, on average. */
  readonly recordsPerCommit: number;
  /** The largest commit of the run (SqliteLog's maxRecordsPerCommit). */
  readonly maxRecordsPerCommit: number;
  /** Latency of one append, from the call until it resolved. */
  readonly latency: Latency;
  /** Encoded size of the record appended. */
  readonly recordBytes: number;
  /** log.db* size at the end, before closing, per record appended (warm-up included): WAL at its high-water mark. */
  readonly liveDiskBytesPerRecord: number;
  /** log.db size after closing (WAL checkpointed and removed) per record appended. */
  readonly diskBytesPerRecord: number;
}

const PARTITIONS = 4;

/** A small record: an attempt's end with a short JSON output, as Greeter.greet appends one. */
function record(i: number): ProposedRecord {
  return {
    header: { at: Date.now() },
    body: {
      type: "end",
      invocationId: `inv_${i.toString(16).padStart(40, "0")}`,
      attemptEpoch: 1,
      result: { ok: Buffer.from(JSON.stringify(`Hello, u${i}!`)) },
    },
  };
}

export async function logAppend(o: LogAppendOptions): Promise<LogAppendResult> {
  mkdirSync(o.dir, { recursive: true });
  const log = SqliteLog.open({ path: path.join(o.dir, "log.db"), partitions: PARTITIONS });
  const latencies: number[] = [];
  let appended = 0;
  try {
    // The window's edges are timers, as in driver.ts: each happens exactly once.
    let phase: "warmup" | "measure" | "done" = "warmup";
    let windowStart = NaN;
    let windowEnd = NaN;
    let atStart = log.stats;
    let atEnd = log.stats;
    let endTimer: NodeJS.Timeout | undefined;
    const startTimer = setTimeout(() => {
      phase = "measure";
      windowStart = performance.now();
      atStart = log.stats;
      endTimer = setTimeout(() => {
        phase = "done";
        windowEnd = performance.now();
        atEnd = log.stats;
      }, o.durationMs);
    }, o.warmupMs);
    let next = 0;
    const appender = async (partition: number) => {
      while (phase !== "done") {
        const t0 = performance.now();
        await log.append(partition, [encodeRecord(record(next++))]);
        const t1 = performance.now();
        appended++;
        if (phase === "measure") latencies.push(t1 - t0);
      }
    };
    try {
      await Promise.all(Array.from({ length: o.concurrency }, (_, j) => appender(j % PARTITIONS)));
    } finally {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
    }
    const windowMs = windowEnd - windowStart;
    const commits = atEnd.commits - atStart.commits;
    const records = atEnd.records - atStart.records;
    const live = dataDirBytes(o.dir).logBytes;
    // Closing checkpoints the WAL into log.db and removes it: what stays is the records.
    await log.close();
    const closed = dataDirBytes(o.dir).logBytes;
    return {
      recordsPerSecond: (latencies.length * 1000) / windowMs,
      commitsPerSecond: (commits * 1000) / windowMs,
      recordsPerCommit: commits === 0 ? NaN : records / commits,
      maxRecordsPerCommit: log.stats.maxRecordsPerCommit,
      latency: latencyOf(latencies),
      recordBytes: encodeRecord(record(1)).payload.byteLength,
      liveDiskBytesPerRecord: live / appended,
      diskBytesPerRecord: closed / appended,
    };
  } finally {
    await log.close();
  }
}
