// Proves that storage faults lose nothing acknowledged and run no acknowledged step again: onelog runs in a child process (tests/e2e/storage-server.ts); after SIGKILL the test tears the tails of log.db-wal and store.db-wal (a torn frame, garbage, a truncation, also after log compaction), deletes store.db, flips a byte of a log record (its CRC must catch it), and fills a small filesystem (tmpfs, else a loop ext4 image, else an injected RLIMIT_FSIZE) under the data dir or the store alone while calls keep coming; after each fault it restarts, asks every acknowledged call again and counts the steps' side effects.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { Children, REPO, errorLines, kill, prng, request, seedFrom, sleep, type Child } from "./harness.js";

const SERVER = path.join(REPO, "tests/e2e/storage-server.ts");
const READY_TIMEOUT_MS = 30_000;
const CALL_TIMEOUT_MS = 20_000;
const SEED = seedFrom("ONELOG_STORAGE_SEED");

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-storage-"));
const allChildren: Children[] = [];
/** Cleanups of mounts, run after every child is dead. */
const unmounts: (() => void)[] = [];

after(async () => {
  for (const c of allChildren) await c.killAll();
  for (const u of unmounts.splice(0)) u();
  fs.rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A driver per data dir: acknowledged calls, their side effects, and the check after a fault.

interface Counts {
  effect: number;
  second: number;
}

interface Ack {
  readonly output: string;
  readonly invocationId: string;
  /** The key's lines in the side-effect file when the 200 arrived. */
  readonly atAck: Counts;
}

class Driver {
  readonly children: Children;
  readonly acks = new Map<string, Ack>();
  readonly sideEffectFile: string;
  readonly adminUrlFile: string;
  /** The first step of `gated` calls returns once this file exists. */
  readonly gateFile: string;

  constructor(
    readonly name: string,
    readonly dataDir: string,
    extraEnv: Readonly<Record<string, string>> = {},
  ) {
    this.sideEffectFile = path.join(workDir, `${name}-side-effects.txt`);
    this.adminUrlFile = path.join(workDir, `${name}-admin-url`);
    this.gateFile = path.join(workDir, `${name}-gate`);
    this.children = new Children({
      script: SERVER,
      env: {
        DATA_DIR: dataDir,
        SIDE_EFFECT_FILE: this.sideEffectFile,
        ADMIN_URL_FILE: this.adminUrlFile,
        GATE_FILE: this.gateFile,
        ONELOG_ADMIN_TOKEN: "",
        // No log trimming unless a test asks for it: tests that delete store.db rebuild it from the log.
        COMPACT_INTERVAL_MS: "3600000",
        ...extraEnv,
      },
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    allChildren.push(this.children);
  }

  adminUrl(): string {
    return fs.readFileSync(this.adminUrlFile, "utf8");
  }

  counts(key: string): Counts {
    let text = "";
    try {
      text = fs.readFileSync(this.sideEffectFile, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    const c = { effect: 0, second: 0 };
    for (const line of text.split("\n")) {
      const [step, k] = line.split(" ");
      if (k !== key) continue;
      if (step === "effect") c.effect++;
      else if (step === "second") c.second++;
    }
    return c;
  }

  /** The nonces of the key's last step runs, as its output must name them. */
  expectedOutput(key: string): string {
    const lines = fs
      .readFileSync(this.sideEffectFile, "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((l) => l[1] === key);
    const last = (step: string) => lines.filter((l) => l[0] === step).at(-1)?.[2];
    return `${key}:${last("effect")}:${last("second")}`;
  }

  call(url: string, key: string, timeoutMs = CALL_TIMEOUT_MS) {
    return request(`${url}/Storage/${handlerOf(key)}`, {
      method: "POST",
      body: key,
      headers: { "idempotency-key": key },
      timeoutMs,
    });
  }

  /** Records a 200 as an acknowledgement; returns false for anything else. */
  record(key: string, r: Awaited<ReturnType<Driver["call"]>>): boolean {
    if (!r.answered || r.status !== 200) return false;
    const invocationId = r.headers.get("x-restate-id");
    assert.ok(invocationId !== null, `${key}: a 200 without x-restate-id`);
    const output = JSON.parse(r.body) as string;
    const earlier = this.acks.get(key);
    if (earlier === undefined) this.acks.set(key, { output, invocationId, atAck: this.counts(key) });
    else assert.equal(output, earlier.output, `${key}: acknowledged twice with different outputs`);
    return true;
  }

  /** Calls new keys and requires every one to be acknowledged. */
  async ackNew(url: string, keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const r = await this.call(url, key);
      assert.ok(this.record(key, r), `${key}: new call not acknowledged: ${show(r)}`);
    }
  }

  /**
   * Asks every acknowledged key again: the same output and invocation id, the output names the
   * journaled runs of the steps, and no step ran since the acknowledgement. Returns violations.
   */
  async verify(url: string, when: string): Promise<string[]> {
    const violations: string[] = [];
    for (const [key, ack] of this.acks) {
      const r = await this.call(url, key);
      if (!r.answered || r.status !== 200) {
        violations.push(`${when}: ${key}: acknowledged, now ${show(r)}`);
        continue;
      }
      const output = JSON.parse(r.body) as string;
      if (output !== ack.output)
        violations.push(`${when}: ${key}: acknowledged ${ack.output}, now ${output}`);
      const id = r.headers.get("x-restate-id");
      if (id !== ack.invocationId)
        violations.push(`${when}: ${key}: acknowledged as ${ack.invocationId}, now ${id}`);
      const now = this.counts(key);
      if (now.effect !== ack.atAck.effect || now.second !== ack.atAck.second) {
        violations.push(
          `${when}: ${key}: its steps ran ${JSON.stringify(ack.atAck)} times at the ack, ${JSON.stringify(now)} now`,
        );
      }
      if (ack.output !== this.expectedOutput(key))
        violations.push(`${when}: ${key}: output ${ack.output} is not the last run of its steps`);
    }
    return violations;
  }
}

/** Keys named slow… and gated… go to those handlers of storage-server.ts, the others to `step`. */
function handlerOf(key: string): "step" | "slow" | "gated" {
  return key.startsWith("slow") ? "slow" : key.startsWith("gated") ? "gated" : "step";
}

function show(r: Awaited<ReturnType<Driver["call"]>>): string {
  return r.answered ? `${r.status} ${r.body.slice(0, 300)}` : `no answer (${r.reason})`;
}

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

// ---------------------------------------------------------------------------------------------
// SQLite WAL files (https://sqlite.org/fileformat2.html#walformat): a 32-byte header, then frames
// of a 24-byte header and one page. A frame counts only if its salts match the header's and its
// cumulative checksum is right; recovery keeps the frames up to the last valid commit frame.

interface WalTail {
  readonly pageSize: number;
  readonly bigEndian: boolean;
  /** Header bytes 16..24: salt-1 and salt-2 of the current generation. */
  readonly salts: Buffer;
  /** Valid frames of the current generation, and the byte offset after the last commit frame. */
  readonly frames: number;
  readonly validEnd: number;
  /** Checksum after the last valid commit frame, and that frame's "database size" field. */
  readonly checksum: readonly [number, number];
  readonly dbPages: number;
  readonly fileSize: number;
}

function walChecksum(
  buf: Buffer,
  start: number,
  end: number,
  seed: readonly [number, number],
  bigEndian: boolean,
): [number, number] {
  let [s0, s1] = seed;
  for (let i = start; i < end; i += 8) {
    const x0 = bigEndian ? buf.readUInt32BE(i) : buf.readUInt32LE(i);
    const x1 = bigEndian ? buf.readUInt32BE(i + 4) : buf.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

function readWalTail(file: string): WalTail {
  const buf = fs.readFileSync(file);
  assert.ok(buf.length >= 32, `${file} has no WAL header (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  assert.ok(magic === 0x377f0682 || magic === 0x377f0683, `${file}: not a WAL (magic ${magic.toString(16)})`);
  const bigEndian = magic === 0x377f0683;
  const pageSize = buf.readUInt32BE(8);
  const salts = buf.subarray(16, 24);
  let sum = walChecksum(buf, 0, 24, [0, 0], bigEndian);
  assert.deepEqual(sum, [buf.readUInt32BE(24), buf.readUInt32BE(28)], `${file}: header checksum`);
  let frames = 0;
  let validEnd = 32;
  let checksum: [number, number] = sum;
  let dbPages = 0;
  for (let at = 32; at + 24 + pageSize <= buf.length; at += 24 + pageSize) {
    if (!buf.subarray(at + 8, at + 16).equals(salts)) break;
    sum = walChecksum(buf, at, at + 8, sum, bigEndian);
    sum = walChecksum(buf, at + 24, at + 24 + pageSize, sum, bigEndian);
    if (sum[0] !== buf.readUInt32BE(at + 16) || sum[1] !== buf.readUInt32BE(at + 20)) break;
    frames++;
    if (buf.readUInt32BE(at + 4) !== 0) {
      validEnd = at + 24 + pageSize;
      checksum = sum;
      dbPages = buf.readUInt32BE(at + 4);
    }
  }
  return {
    pageSize,
    bigEndian,
    salts: Buffer.from(salts),
    frames,
    validEnd,
    checksum,
    dbPages,
    fileSize: buf.length,
  };
}

/**
 * A commit frame for page 1 (the schema page: if recovery took it, nothing would open) that a
 * crash interrupted: its header is right (salts, commit flag, the checksum of the page it was
 * meant to carry), but only the page's first sectors reached the disk, the rest reads as zeros.
 */
function tornFrame(tail: WalTail, rand: (lo: number, hi: number) => number): Buffer {
  const page = randomBytes(tail.pageSize);
  const header = Buffer.alloc(24);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(Math.max(tail.dbPages, 1), 4);
  tail.salts.copy(header, 8);
  let sum = walChecksum(header, 0, 8, tail.checksum, tail.bigEndian);
  sum = walChecksum(page, 0, page.length, sum, tail.bigEndian);
  header.writeUInt32BE(sum[0], 16);
  header.writeUInt32BE(sum[1], 20);
  const written = Buffer.alloc(tail.pageSize);
  const cut = rand(1, tail.pageSize / 512 - 1) * 512; // sector-sized pieces reach the disk
  page.copy(written, 0, 0, cut);
  return Buffer.concat([header, written]);
}

/** Writes `bytes` at `offset` and ends the file right after them. */
function writeTail(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
    fs.ftruncateSync(fd, offset + bytes.length);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Frames of the current WAL generation that a checkpoint copied (or began to copy) into the
 * database file: max(nBackfill, nBackfillAttempted) of the WAL index (-shm, native byte order).
 * A real crash never loses those: the WAL is synced before a checkpoint writes the database.
 */
function backfilledFrames(shmFile: string): number {
  let shm: Buffer;
  try {
    shm = fs.readFileSync(shmFile);
  } catch {
    return 0;
  }
  if (shm.length < 132) return 0;
  const read = (at: number) => (os.endianness() === "LE" ? shm.readUInt32LE(at) : shm.readUInt32BE(at));
  return Math.max(read(96), read(128));
}

/**
 * Per partition, what SQLite recovers from the files as they are now: the applied LSN of the
 * store, and the trim point and tail of the log. Read from copies without their -shm (as after
 * a reboot), so SQLite rebuilds the WAL index from the WAL's checksums, as the server will.
 */
function recovered(
  dataDir: string,
  copyTo: string,
): { applied: number[]; trimmed: number[]; tails: number[] } {
  fs.rmSync(copyTo, { recursive: true, force: true });
  fs.mkdirSync(copyTo);
  for (const f of ["store.db", "store.db-wal", "log.db", "log.db-wal"]) {
    if (fs.existsSync(path.join(dataDir, f))) fs.copyFileSync(path.join(dataDir, f), path.join(copyTo, f));
  }
  const query = (file: string, sql: string): Map<number, number> => {
    if (!fs.existsSync(path.join(copyTo, file))) return new Map();
    const db = new Database(path.join(copyTo, file));
    try {
      return new Map((db.prepare(sql).raw().all() as [number, number][]).map(([p, lsn]) => [p, lsn]));
    } finally {
      db.close();
    }
  };
  const applied = query("store.db", "SELECT partition, applied_lsn FROM partition_meta");
  const trimmed = query("log.db", "SELECT partition, trimmed_lsn FROM log_trim");
  const stored = query("log.db", "SELECT partition, MAX(lsn) FROM log GROUP BY partition");
  const n = Math.max(applied.size, trimmed.size, stored.size);
  const all = (m: Map<number, number>) => Array.from({ length: n }, (_, p) => m.get(p) ?? 0);
  return {
    applied: all(applied),
    trimmed: all(trimmed),
    tails: all(stored).map((lsn, p) => Math.max(lsn, trimmed.get(p) ?? 0)),
  };
}

// ---------------------------------------------------------------------------------------------

void test(
  "torn WAL tails after SIGKILL: recovery keeps every acknowledged record, the store is rebuilt from the log, no step runs again",
  { timeout: 90_000 },
  async (t) => {
    const rand = prng(SEED);
    t.diagnostic(`seed ${SEED} (set ONELOG_STORAGE_SEED to replay)`);
    const d = new Driver("torn", path.join(workDir, "torn"));
    const data = (f: string) => path.join(d.dataDir, f);
    const copy = path.join(workDir, "torn-copy");
    const violations: string[] = [];
    let life = 0;
    let child: Child = await d.children.start(life);
    await d.ackNew(child.url, keys("a", 12));

    /**
     * SIGKILL, damage the files, check that SQLite recovers exactly the log it had (no record
     * lost, none made up), restart, check every ack, then acknowledge a few new calls.
     */
    async function crashDamageCheck(
      what: string,
      damage: () => void,
      fresh: string,
    ): Promise<{ before: ReturnType<typeof recovered>; after: ReturnType<typeof recovered> }> {
      await kill(child);
      const before = recovered(d.dataDir, copy);
      damage();
      const after = recovered(d.dataDir, copy);
      assert.deepEqual(after.tails, before.tails, `${what}: the log's tails changed`);
      child = await d.children.start(++life);
      violations.push(...(await d.verify(child.url, what)));
      await d.ackNew(child.url, keys(fresh, 3));
      return { before, after };
    }

    await crashDamageCheck(
      "torn frame in log.db-wal",
      () => {
        const tail = readWalTail(data("log.db-wal"));
        assert.ok(tail.frames > 0, "log.db-wal has no committed frame to tear after");
        writeTail(data("log.db-wal"), tail.validEnd, tornFrame(tail, rand));
        t.diagnostic(
          `log.db-wal: ${tail.frames} valid frames up to byte ${tail.validEnd} of ${tail.fileSize}; wrote a torn commit frame there`,
        );
      },
      "b",
    );

    await crashDamageCheck(
      "partial frame in log.db-wal",
      () => {
        const tail = readWalTail(data("log.db-wal"));
        const partial = tornFrame(tail, rand).subarray(0, rand(24, tail.pageSize));
        writeTail(data("log.db-wal"), tail.validEnd, partial);
        t.diagnostic(
          `log.db-wal: ${tail.frames} valid frames; the file now ends ${partial.length} bytes into a frame`,
        );
      },
      "c",
    );

    await crashDamageCheck(
      "garbage after store.db-wal",
      () => {
        const tail = readWalTail(data("store.db-wal"));
        const garbage = Buffer.concat([tornFrame(tail, rand), randomBytes(rand(1, 3 * tail.pageSize))]);
        fs.appendFileSync(data("store.db-wal"), garbage);
        t.diagnostic(
          `store.db-wal: ${tail.frames} valid frames; appended ${garbage.length} bytes of garbage at byte ${tail.fileSize}`,
        );
      },
      "d",
    );

    // The store is synchronous=NORMAL: a power loss may drop its newest commits (never the ones a
    // checkpoint copied into store.db). Cut the WAL at an arbitrary byte after the backfilled frames.
    const cut = await crashDamageCheck(
      "store.db-wal truncated",
      () => {
        const tail = readWalTail(data("store.db-wal"));
        const frameBytes = 24 + tail.pageSize;
        const backfilled = backfilledFrames(data("store.db-shm"));
        const keepFrom = 32 + backfilled * frameBytes;
        assert.ok(
          tail.validEnd - keepFrom > 2 * frameBytes,
          `store.db-wal: nothing to cut (${tail.frames} frames, ${backfilled} backfilled)`,
        );
        const at = rand(keepFrom + 1, tail.validEnd - frameBytes - 1);
        fs.truncateSync(data("store.db-wal"), at);
        t.diagnostic(
          `store.db-wal: ${tail.frames} valid frames (${backfilled} backfilled), cut at byte ${at} of ${tail.fileSize}`,
        );
      },
      "e",
    );
    t.diagnostic(
      `after the cut the store had applied LSNs ${cut.after.applied.join(",")} (before ${cut.before.applied.join(",")}) of log tails ${cut.after.tails.join(",")}`,
    );
    assert.ok(
      cut.after.applied.some((a, p) => a < cut.before.applied[p]!),
      "the cut lost no store commit, so nothing had to be replayed",
    );

    // The store lost entirely: rebuilt from the log alone.
    await crashDamageCheck(
      "store.db deleted",
      () => {
        for (const f of ["store.db", "store.db-wal", "store.db-shm"]) fs.rmSync(data(f), { force: true });
      },
      "f",
    );

    // One more lifetime with no damage: everything still there.
    await kill(child);
    child = await d.children.start(++life);
    violations.push(...(await d.verify(child.url, "final restart")));
    await kill(child);

    const errors = errorLines(d.children.stderr);
    t.diagnostic(
      `lifetimes ${life + 1}; acknowledged keys ${d.acks.size}; child error lines ${errors.length}`,
    );
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} violations`);
    assert.deepEqual(
      errors.map((e) => `life ${e.life}: ${e.line}`),
      [],
      "the child logged errors",
    );
  },
);

/** Resolves once compaction trimmed every partition's log to its tail (polled on a second connection). */
async function waitFullyTrimmed(logFile: string): Promise<void> {
  const db = new Database(logFile, { readonly: true });
  try {
    const left = () => db.prepare("SELECT COUNT(*) FROM log").pluck().get() as number;
    const trims = () => db.prepare("SELECT COUNT(*) FROM log_trim").pluck().get() as number;
    for (let i = 0; i < 100 && (left() > 0 || trims() === 0); i++) await sleep(100);
    assert.ok(left() === 0 && trims() > 0, "compaction did not trim the log");
  } finally {
    db.close();
  }
}

void test(
  "compaction, then a store that lost its newest commits: the log was trimmed only up to what a checkpoint made durable, so the replay finds every record it needs",
  { timeout: 60_000 },
  async (t) => {
    const rand = prng(SEED + 1);
    const d = new Driver("compacted", path.join(workDir, "compacted"), { COMPACT_INTERVAL_MS: "200" });
    const data = (f: string) => path.join(d.dataDir, f);
    let life = 0;
    let child = await d.children.start(life);
    await d.ackNew(child.url, keys("a", 10));
    await waitFullyTrimmed(data("log.db"));

    // Calls, then SIGKILL at once, so their store commits are newer than the last checkpoint; if a
    // checkpoint slipped in between (nothing left to cut), again.
    let cut: { before: ReturnType<typeof recovered>; after: ReturnType<typeof recovered> } | undefined;
    for (let round = 0; cut === undefined; round++) {
      assert.ok(round < 5, "every kill came right after a checkpoint: no store commit to lose");
      await d.ackNew(child.url, keys(`r${round}-`, 3));
      await kill(child);
      const tail = readWalTail(data("store.db-wal"));
      const frameBytes = 24 + tail.pageSize;
      const backfilled = backfilledFrames(data("store.db-shm"));
      const keepFrom = 32 + backfilled * frameBytes;
      if (tail.validEnd - keepFrom > 2 * frameBytes) {
        const before = recovered(d.dataDir, path.join(workDir, "compacted-copy"));
        const at = rand(keepFrom + 1, tail.validEnd - frameBytes - 1);
        fs.truncateSync(data("store.db-wal"), at);
        t.diagnostic(
          `store.db-wal: ${tail.frames} valid frames (${backfilled} backfilled), cut at byte ${at} of ${tail.fileSize}`,
        );
        cut = { before, after: recovered(d.dataDir, path.join(workDir, "compacted-copy")) };
      } else {
        child = await d.children.start(++life);
      }
    }
    const { before, after } = cut;
    t.diagnostic(
      `log trimmed to ${after.trimmed.join(",")}, tails ${after.tails.join(",")}; store applied ${before.applied.join(",")} before the cut, ${after.applied.join(",")} after`,
    );
    assert.deepEqual(after.tails, before.tails, "the log changed");
    assert.ok(
      after.trimmed.some((lsn) => lsn > 0),
      "the log was not trimmed",
    );
    assert.ok(
      after.applied.some((a, p) => a < before.applied[p]!),
      "the cut lost no store commit, so nothing had to be replayed",
    );
    assert.ok(
      after.applied.every((a, p) => a >= after.trimmed[p]!),
      `the log was trimmed past what the store kept: applied ${after.applied.join(",")}, trimmed ${after.trimmed.join(",")}`,
    );

    child = await d.children.start(++life);
    const violations = await d.verify(child.url, "store behind after compaction");
    await d.ackNew(child.url, keys("b", 3));
    await kill(child);
    const errors = errorLines(d.children.stderr);
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} violations`);
    assert.deepEqual(
      errors.map((e) => `life ${e.life}: ${e.line}`),
      [],
      "the child logged errors",
    );
  },
);

/*
 * Outside the fault model (a checkpointed store.db is durable), but an operator may well delete
 * store.db believing it is rebuilt from the log. Once the log is trimmed it cannot be: the
 * processor's reader skips to the trim point (Log.4), so with nothing after it the partition
 * would wait forever for the tail to be applied. start() checks the store's applied LSN against
 * the log's trim point and fails with an error that names both and says what to do.
 */
void test(
  "a store lost after the log was trimmed: start() fails with a clear error instead of hanging or answering from an empty store",
  {
    timeout: 60_000,
  },
  async () => {
    const d = new Driver("trimmed", path.join(workDir, "trimmed"), { COMPACT_INTERVAL_MS: "200" });
    const child = await d.children.start(0);
    await d.ackNew(child.url, keys("k", 6));
    await waitFullyTrimmed(path.join(d.dataDir, "log.db"));
    await kill(child);
    for (const f of ["store.db", "store.db-wal", "store.db-shm"])
      fs.rmSync(path.join(d.dataDir, f), { force: true });
    const started = await d.children.start(1).then(
      (c) => c,
      (e: Error) => e,
    );
    if (!(started instanceof Error)) {
      const wrong = await d.verify(started.url, "started without the trimmed records");
      await kill(started);
      assert.fail(`it started over a store that misses trimmed records; ${wrong.length} answers differ`);
    }
    assert.doesNotMatch(started.message, /exited \(13\)/, "start() never settled (exit 13)");
    assert.match(started.message, /trim/i, `the failure does not explain itself:\n${started.message}`);
  },
);

/*
 * A flipped byte in a stored record (crc kept): SqliteLog checks each record's CRC32 when it
 * reads from disk, and fails the read with LogError "io" ("log partition P, LSN L: checksum
 * mismatch"). What happens depends on whether the record is still needed:
 * - The store has applied it already: nothing reads it (the processor resumes after the applied
 *   LSN), so the server starts and answers from the store; the corruption stays latent until
 *   compaction trims the record.
 * - The store needs it (here: store.db is lost and rebuilt from the log): the partition's
 *   processor stops at that record, logs "partition processor stopped" with the LogError, and
 *   start() rejects with the same error, so the process exits before its ingress listens. Nothing
 *   is answered, nothing after the record is applied; an operator must restore the log.
 */
void test(
  "a corrupted log record is detected by its CRC: the server refuses to start, naming the partition and LSN, and answers nothing wrong",
  { timeout: 60_000 },
  async (t) => {
    const d = new Driver("crc", path.join(workDir, "crc"));
    const child = await d.children.start(0);
    await d.ackNew(child.url, keys("k", 10));
    await kill(child);

    // The fourth record of the fullest partition (past its leader announcement and first invoke).
    const db = new Database(path.join(d.dataDir, "log.db"));
    const victim = db
      .prepare(
        `SELECT partition, lsn, payload FROM log WHERE partition =
           (SELECT partition FROM log GROUP BY partition ORDER BY COUNT(*) DESC LIMIT 1)
         ORDER BY lsn LIMIT 1 OFFSET 3`,
      )
      .get() as { partition: number; lsn: number; payload: Buffer };
    const body = Buffer.from(victim.payload);
    body[Math.floor(body.length / 2)]! ^= 0x04;
    db.prepare("UPDATE log SET payload = ? WHERE partition = ? AND lsn = ?").run(
      body,
      victim.partition,
      victim.lsn,
    );
    db.close();
    t.diagnostic(
      `flipped one bit of partition ${victim.partition}, LSN ${victim.lsn} (${body.length} bytes)`,
    );

    // Store intact: the record is never read again; every answer is still the acknowledged one.
    const intact = await d.children.start(1);
    const violations = await d.verify(intact.url, "corrupt applied record, store intact");
    await kill(intact);
    assert.deepEqual(violations, []);

    // Store lost: the rebuild must read the record, and must stop there.
    for (const f of ["store.db", "store.db-wal", "store.db-shm"])
      fs.rmSync(path.join(d.dataDir, f), { force: true });
    const started = await d.children.start(2).then(
      (c) => c,
      (e: Error) => e,
    );
    if (!(started instanceof Error)) {
      // It came up: at least it must not answer anything different (and it should have failed).
      const wrong = await d.verify(started.url, "rebuilt over a corrupt record");
      await kill(started);
      assert.deepEqual(wrong, [], "it started over a corrupt record, and answered differently");
    }
    assert.ok(started instanceof Error, "the server started on a log with a corrupt record it had to replay");
    t.diagnostic(
      `start failed as expected: ${started.message.split("\n").slice(0, 2).join(" | ").slice(0, 300)}`,
    );
    const where = `log partition ${victim.partition}, LSN ${victim.lsn}: checksum mismatch`;
    assert.match(started.message, /exited \(1\) before READY/);
    assert.ok(started.message.includes(where), `the failure does not say "${where}":\n${started.message}`);
    const stopped = d.children.stderr.filter(
      (l) => l.life === 2 && l.line.includes("partition processor stopped"),
    );
    assert.equal(stopped.length, 1, "the stopped partition was not logged once");
    assert.ok(
      stopped[0]!.line.includes(`"partition":${victim.partition}`) && stopped[0]!.line.includes(where),
    );
  },
);

// ---------------------------------------------------------------------------------------------
// A small filesystem: a full disk the test can make and undo.

interface SmallFs {
  readonly mode: "tmpfs" | "ext4 loop image" | "injected RLIMIT_FSIZE";
  readonly dir: string;
  /** Makes the disk full (RLIMIT_FSIZE: for the child `pid`). Returns the bytes it took. */
  fill(pid: number): number;
  /** Gives the space back. */
  free(pid: number): void;
}

const FS_BYTES = 16 * 1024 * 1024;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
}

function why(e: unknown): string {
  const stderr = (e as { stderr?: Buffer }).stderr;
  return (stderr !== undefined && stderr.length > 0 ? stderr.toString() : String(e)).trim();
}

/** Writes a filler file until ENOSPC, in ever smaller pieces. */
/** Checkpoints a database's WAL into its file and truncates the WAL to 0 bytes, retrying while its writer is busy. */
async function truncateWal(file: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const db = new Database(file, { fileMustExist: true });
    try {
      db.pragma("busy_timeout = 200");
      db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // Busy: the server is committing; try again.
    } finally {
      db.close();
    }
    if (fs.statSync(`${file}-wal`).size === 0) return;
    await sleep(20);
  }
  throw new Error(`the WAL of ${file} could not be truncated`);
}

function fillWithFile(filler: string): number {
  const fd = fs.openSync(filler, "w");
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  let total = 0;
  try {
    for (const size of [1 << 20, 65536, 4096, 512, 1]) {
      for (let i = 0; i < 10_000; i++) {
        try {
          total += fs.writeSync(fd, chunk, 0, size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/**
 * Mounts a 16 MiB tmpfs at `name`; if mount is refused, an ext4 image on a loop device; if that
 * is refused too (and `injectedOk`), RLIMIT_FSIZE on the child at the size of log.db-wal in
 * `limitDir` (SQLite then gets EFBIG, an I/O error; the child ignores SIGXFSZ).
 * Env ONELOG_SMALL_FS=tmpfs|ext4|rlimit forces one. Unmounted in after().
 */
function makeSmallFs(
  name: string,
  limitDir: () => string,
  injectedOk: boolean,
  diagnostic: (s: string) => void,
): SmallFs | undefined {
  const dir = path.join(workDir, name);
  fs.mkdirSync(dir);
  const filler = path.join(dir, "filler");
  const byFile = { dir, fill: () => fillWithFile(filler), free: () => fs.rmSync(filler) };
  const unmount = () => {
    for (let i = 0; i < 20; i++) {
      try {
        return run("umount", [dir]);
      } catch {
        run("sleep", ["0.1"]);
      }
    }
    run("umount", ["-l", dir]);
  };
  const forced = process.env.ONELOG_SMALL_FS;
  if (forced === undefined || forced === "tmpfs") {
    try {
      run("mount", ["-t", "tmpfs", "-o", `size=${FS_BYTES}`, "tmpfs", dir]);
      unmounts.push(unmount);
      return { mode: "tmpfs", ...byFile };
    } catch (e) {
      diagnostic(`mount -t tmpfs was refused (${why(e)}); trying an ext4 image on a loop device`);
    }
  }
  if (forced === undefined || forced === "ext4") {
    const image = path.join(workDir, `${name}.img`);
    try {
      fs.writeFileSync(image, "");
      fs.truncateSync(image, FS_BYTES);
      run("mkfs.ext4", ["-q", "-F", image]);
      run("mount", ["-o", "loop", image, dir]);
      unmounts.push(unmount);
      return { mode: "ext4 loop image", ...byFile };
    } catch (e) {
      diagnostic(`mount -o loop of an ext4 image was refused (${why(e)})`);
    }
  }
  if (!injectedOk) return undefined;
  diagnostic("falling back to an injected limit: RLIMIT_FSIZE on the child (prlimit)");
  return {
    mode: "injected RLIMIT_FSIZE",
    dir,
    fill: (pid) => {
      // At the size of log.db-wal: neither WAL can grow (the store's is larger), the LOCK and
      // side-effect files are smaller.
      const limit = fs.statSync(path.join(limitDir(), "log.db-wal")).size;
      run("prlimit", ["--pid", String(pid), `--fsize=${limit}:unlimited`]); // the soft limit only
      return limit;
    },
    free: (pid) => run("prlimit", ["--pid", String(pid), "--fsize=unlimited:unlimited"]),
  };
}

interface FullTally {
  refused: number;
  acknowledged: number;
  waiting: number;
  readonly unexpected: string[];
}

/**
 * While the disk is full: new calls in groups of 4, each with a short timeout. Each must be
 * refused with 503 OL1011 + Retry-After (JSON), acknowledged, or left waiting; after each group
 * the ingress and admin health endpoints must answer; acknowledged outputs must stay readable.
 */
async function whileFull(
  d: Driver,
  child: Child,
  calls: readonly string[],
  t: { diagnostic(s: string): void },
): Promise<FullTally> {
  const tally: FullTally = { refused: 0, acknowledged: 0, waiting: 0, unexpected: [] };
  const deadline = Date.now() + 15_000;
  for (let i = 0; i < calls.length && Date.now() < deadline; i += 4) {
    const group = calls.slice(i, i + 4);
    const replies = await Promise.all(group.map((k) => d.call(child.url, k, 3_000)));
    replies.forEach((r, j) => {
      const key = group[j]!;
      if (d.record(key, r)) tally.acknowledged++;
      else if (!r.answered) tally.waiting++;
      else if (
        r.status === 503 &&
        (r.headers.get("content-type") ?? "").startsWith("application/json") &&
        (JSON.parse(r.body) as { onelog_code?: string }).onelog_code === "OL1011" &&
        /^\d+$/.test(r.headers.get("retry-after") ?? "")
      ) {
        if (tally.refused++ === 0) t.diagnostic(`first refusal: ${r.body.slice(0, 300)}`);
      } else tally.unexpected.push(`${key}: ${show(r)}`);
    });
    const health = await request(`${child.url}/restate/health`, { method: "GET", timeoutMs: 3_000 });
    assert.ok(health.answered && health.status === 200, `ingress health while full: ${show(health)}`);
    const admin = await request(`${d.adminUrl()}/health`, { method: "GET", timeoutMs: 3_000 });
    assert.ok(admin.answered, "admin /health did not answer while full");
    await sleep(300); // the full disk lasts past the in-flight calls' timers and outcome retries
  }
  for (const key of [...d.acks.keys()].slice(0, 3)) {
    const r = await request(`${child.url}/restate/invocation/Storage/${handlerOf(key)}/${key}/output`, {
      method: "GET",
      timeoutMs: 3_000,
    });
    if (!r.answered || r.status !== 200 || JSON.parse(r.body) !== d.acks.get(key)!.output)
      tally.unexpected.push(`GET output of acknowledged ${key}: ${show(r)}`);
  }
  return tally;
}

/** Asks calls that were not acknowledged again (a 503 is retried a few times) until each is. */
async function ackPending(d: Driver, url: string, calls: readonly string[]): Promise<void> {
  for (const key of calls) {
    if (d.acks.has(key)) continue;
    let r = await d.call(url, key);
    for (let i = 0; i < 10 && r.answered && r.status === 503; i++) {
      await sleep(500);
      r = await d.call(url, key);
    }
    if (!d.record(key, r)) {
      const health = await request(`${d.adminUrl()}/health`, { method: "GET", timeoutMs: 3_000 });
      const tail = d.children.stderr.slice(-3).map((l) => l.line.slice(0, 300));
      assert.fail(
        `${key}: not acknowledged after space returned: ${show(r)}; admin /health: ${show(health)}; child stderr ends ${tail.join(" | ")}`,
      );
    }
  }
}

async function storeErrors(d: Driver): Promise<number> {
  const stats = await request(`${d.adminUrl()}/stats`, { method: "GET", timeoutMs: 3_000 });
  assert.ok(stats.answered && stats.status === 200, `admin /stats: ${show(stats)}`);
  const body = JSON.parse(stats.body) as { partitions: { store_errors: number }[] };
  return body.partitions.reduce((s, p) => s + p.store_errors, 0);
}

void test(
  "full disk under the data dir: appends fail with 503 OL1011 and Retry-After, the server stays up, calls in flight wait, nothing acknowledged is lost, and it recovers when space returns",
  { timeout: 90_000 },
  async (t) => {
    const dataDir = path.join(workDir, "full", "data");
    const small = makeSmallFs(
      "full",
      () => dataDir,
      true,
      (s) => t.diagnostic(s),
    )!;
    t.diagnostic(`full disk made with: ${small.mode}`);
    const d = new Driver("full", dataDir);
    let child = await d.children.start(0);
    await d.ackNew(child.url, keys("before", 10));

    // Calls in flight across the fault. `slow` ones ran their first step and sleep: the timer
    // fires while the disk is full. `gated` ones are inside their first step: it returns once the
    // disk is full, so its result cannot be journaled.
    const inFlightKeys = [...keys("slow", 4), ...keys("gated", 4)];
    const inFlight = inFlightKeys.map((k) => d.call(child.url, k, 60_000));
    for (let i = 0; i < 400 && inFlightKeys.some((k) => d.counts(k).effect === 0); i++) await sleep(25);
    assert.deepEqual(
      inFlightKeys.filter((k) => d.counts(k).effect !== 1),
      [],
      "calls whose first step did not start",
    );

    const taken = small.fill(child.proc.pid!);
    fs.writeFileSync(d.gateFile, "");
    t.diagnostic(`filled: ${taken} bytes`);
    const during = keys("full", 24);
    const tally = await whileFull(d, child, during, t);
    const answeredWhileFull = await Promise.race([
      Promise.any(inFlight).then(() => true),
      sleep(0).then(() => false),
    ]);
    t.diagnostic(
      `while full: ${tally.refused} requests got 503 OL1011, ${tally.acknowledged} were acknowledged, ${tally.waiting} got no answer within 3 s; calls in flight answered meanwhile: ${answeredWhileFull}`,
    );
    assert.deepEqual(tally.unexpected, [], "answers other than 200 or 503 OL1011 while full");
    assert.ok(tally.refused > 0, "no request was refused: the disk was never full for the log");

    small.free(child.proc.pid!);

    // Space is back: the calls in flight finish, new calls complete, refused calls go through now.
    const inFlightReplies = await Promise.all(inFlight);
    inFlightReplies.forEach((r, i) =>
      assert.ok(
        d.record(inFlightKeys[i]!, r),
        `${inFlightKeys[i]}: in flight across the full disk, then ${show(r)}`,
      ),
    );
    const rerun = keys("gated", 4).filter((k) => d.counts(k).effect > 1).length;
    t.diagnostic(`gated calls whose first step ran again (its result was never journaled): ${rerun} of 4`);
    await d.ackNew(child.url, keys("after", 5));
    await ackPending(d, child.url, during);
    const violations = await d.verify(child.url, "space returned");

    await kill(child);
    child = await d.children.start(1);
    violations.push(...(await d.verify(child.url, "after the final SIGKILL")));
    await d.ackNew(child.url, keys("last", 2));
    await kill(child);

    const stopped = d.children.stderr.filter((l) => l.line.includes("partition processor stopped"));
    const errors = errorLines(d.children.stderr);
    t.diagnostic(
      `acknowledged keys ${d.acks.size}; child error lines ${errors.length} (expected while full)`,
    );
    for (const e of errors.slice(0, 2)) t.diagnostic(`  life ${e.life}: ${e.line.slice(0, 300)}`);
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} violations`);
    assert.deepEqual(
      stopped.map((l) => l.line),
      [],
      "a partition stopped on the full disk",
    );
  },
);

void test(
  "full disk under the store only: the log takes the calls, the store cannot commit them, they wait, and all complete once space returns",
  { timeout: 90_000 },
  async (t) => {
    const dataDir = path.join(workDir, "store-full", "data");
    const small = makeSmallFs(
      "store-full-fs",
      () => dataDir,
      false,
      (s) => t.diagnostic(s),
    );
    if (small === undefined) {
      t.skip("no small filesystem could be mounted: RLIMIT_FSIZE cannot target the store alone");
      return;
    }
    t.diagnostic(`full disk made with: ${small.mode}; store.db is a symlink into it, log.db is not`);
    fs.mkdirSync(dataDir, { recursive: true });
    fs.symlinkSync(path.join(small.dir, "store.db"), path.join(dataDir, "store.db"));
    const d = new Driver("store-full", dataDir);
    let child = await d.children.start(0);
    await d.ackNew(child.url, keys("before", 6));
    assert.ok(
      fs.existsSync(path.join(small.dir, "store.db-wal")),
      "the store's WAL is not on the small filesystem",
    );

    // A WAL that SQLite restarted keeps its file and is rewritten from the start: commits fit in
    // it without growing any file, full disk or not. Empty it first, so that they must grow it.
    await truncateWal(path.join(small.dir, "store.db"));
    small.fill(child.proc.pid!);
    const during = keys("full", 8);
    const tally = await whileFull(d, child, during, t);
    const errorsWhileFull = await storeErrors(d);
    t.diagnostic(
      `while the store was full: ${tally.refused} requests got 503, ${tally.acknowledged} were acknowledged, ${tally.waiting} got no answer within 3 s; store commit failures ${errorsWhileFull}`,
    );
    assert.deepEqual(
      tally.unexpected,
      [],
      "answers other than 200, 503 OL1011 or none while the store was full",
    );
    assert.ok(errorsWhileFull > 0, "no store commit failed: the store was never full");
    assert.ok(tally.waiting > 0, "no call waited although the store could not commit");

    small.free(child.proc.pid!);
    await ackPending(d, child.url, during);
    await d.ackNew(child.url, keys("after", 3));
    const violations = await d.verify(child.url, "space returned");
    await kill(child);
    child = await d.children.start(1);
    violations.push(...(await d.verify(child.url, "after the final SIGKILL")));
    await kill(child);

    const stopped = d.children.stderr.filter((l) => l.line.includes("partition processor stopped"));
    t.diagnostic(`acknowledged keys ${d.acks.size}`);
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} violations`);
    assert.deepEqual(
      stopped.map((l) => l.line),
      [],
      "a partition stopped on the full store",
    );
  },
);
