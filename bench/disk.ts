/**
 * What the disk can do, measured in the directory the data directories live in: the raw fsync
 * rate and the rate of single-row SQLite commits with the settings of onelog's log (WAL,
 * synchronous=FULL). No log append can be durable more often than these.
 */
import Database from "better-sqlite3";
import { closeSync, openSync, readdirSync, rmSync, statSync, fsyncSync, writeSync } from "node:fs";
import path from "node:path";
import { latencyOf, type Latency } from "./stats.js";

export interface RateResult {
  /** Operations per second. */
  readonly rate: number;
  readonly latency: Latency;
  readonly operations: number;
}

/** Appends 4 KiB to a new file and fsyncs it, over and over, for `durationMs`. */
export function fsyncRate(dir: string, durationMs: number): RateResult {
  const file = path.join(dir, "fsync-probe");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(4096, 0x61);
  const samples: number[] = [];
  try {
    const start = performance.now();
    let now = start;
    while (now - start < durationMs) {
      writeSync(fd, block);
      fsyncSync(fd);
      const after = performance.now();
      samples.push(after - now);
      now = after;
    }
    return {
      rate: (samples.length * 1000) / (now - start),
      latency: latencyOf(samples),
      operations: samples.length,
    };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** Commits one small row per transaction in a new WAL database with synchronous=FULL, for `durationMs`. */
export function sqliteCommitRate(dir: string, durationMs: number): RateResult {
  const file = path.join(dir, "sqlite-probe.db");
  const db = new Database(file);
  const samples: number[] = [];
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    const insert = db.prepare<[Buffer]>("INSERT INTO t (body) VALUES (?)");
    const body = Buffer.alloc(100, 0x62);
    const start = performance.now();
    let now = start;
    while (now - start < durationMs) {
      insert.run(body);
      const after = performance.now();
      samples.push(after - now);
      now = after;
    }
    return {
      rate: (samples.length * 1000) / (now - start),
      latency: latencyOf(samples),
      operations: samples.length,
    };
  } finally {
    db.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
  }
}

/** Sizes in bytes of the log (log.db*) and the stores (store.db*) in a data directory. */
export function dataDirBytes(dir: string): { logBytes: number; storeBytes: number } {
  let logBytes = 0;
  let storeBytes = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith("log.db")) logBytes += statSync(path.join(dir, name)).size;
    else if (name.startsWith("store.db")) storeBytes += statSync(path.join(dir, name)).size;
  }
  return { logBytes, storeBytes };
}
