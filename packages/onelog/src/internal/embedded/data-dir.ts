/**
 * The data directory of the embedded mode: `log.db` (the log), `store.db` (the partition
 * stores), `meta.json` (format versions and partition count, fixed at creation), `epochs.json`
 * (the leader epochs granted, so they only grow) and `LOCK` (the pid of the process that owns
 * it, and that process's start time where /proc tells it).
 *
 * Formats: `meta.json` records the versions of everything in the directory (format-versions.ts).
 * A directory whose versions differ from this onelog's is refused before any file in it is
 * opened (DataFormatError, OL1022); a `meta.json` without versions beyond `format` was written
 * before they existed, and reads as format 1 throughout.
 *
 * Invariants:
 * 1. At most one live process holds a directory, and one engine per process (`held`).
 * 2. A process that exits through `process.exit` or the end of its event loop, without calling
 *    `release`, still removes its LOCK (an `exit` hook); only SIGKILL or a crash leave one, and
 *    that one is stale: the next `openDataDir` takes it over and says so.
 */
import type { Deployment, DeploymentRecords } from "../invoker/deployments.js";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  DATA_DIR_FORMAT,
  DataFormatError,
  LOG_FORMAT,
  RECORD_FORMAT,
  STORE_FORMAT,
} from "../format-versions.js";
import type { EpochRecord } from "../partition/leadership.js";

/** What `meta.json` holds. */
export interface DataDirMeta {
  /** The directory's layout (DATA_DIR_FORMAT). */
  readonly format: number;
  /** The formats of the records, the store and the log inside (absent: format 1). */
  readonly recordFormat?: number;
  readonly storeFormat?: number;
  readonly logFormat?: number;
  readonly partitions: number;
}

/** What to do with a data directory this onelog refuses (the error page says more). */
const REFUSED_HINT =
  "Nothing in it was read or changed. Either run the onelog version that wrote it until its " +
  "invocations are done, or move the directory away and start with an empty one";

/** Refuses a data directory whose formats are not this onelog's (see the header). */
function checkFormats(dir: string, meta: DataDirMeta): void {
  const formats: [string, number, number][] = [
    ["data directory", meta.format, DATA_DIR_FORMAT],
    ["records in data directory", meta.recordFormat ?? 1, RECORD_FORMAT],
    ["store in data directory", meta.storeFormat ?? 1, STORE_FORMAT],
    ["log in data directory", meta.logFormat ?? 1, LOG_FORMAT],
  ];
  for (const [what, found, expected] of formats) {
    if (found !== expected) throw new DataFormatError(`${what} ${dir}`, found, expected, REFUSED_HINT);
  }
}

/** Another live process owns the data directory. */
export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `data directory ${dir} is in use by ${pid > 0 ? `process ${pid}` : "a process starting now"}; ` +
        "stop it first, or use another dataDir",
    );
    this.name = "DataDirLockedError";
  }
}

/** Data directories this process holds (two engines in one process must not share one). */
const held = new Set<string>();

/** Fields 3… of /proc/<pid>/stat (after the command name), or undefined off Linux. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat). */
function startTicks(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * Whether the process that wrote a LOCK still runs. A pid that answers signal 0 but is a zombie
 * (killed, not reaped yet), or whose start time differs from the one in the LOCK (the pid was
 * reused by another process), is not the owner.
 */
function alive(pid: number, started: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  const stat = procStat(pid);
  if (stat === undefined) return true;
  if (stat[0] === "Z") return false;
  return started === undefined || stat[19] === started;
}

/** Removes the LOCKs this process still holds when it exits without stopping its engines. */
const locks = new Map<string, string>();
let exitHook = false;
function releaseOnExit(dir: string, lock: string): void {
  locks.set(dir, lock);
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const path of locks.values()) rmSync(path, { force: true });
  });
}

/** Options of {@link openDataDir}. */
export interface OpenDataDirOptions {
  /** Partitions of a new directory. */
  readonly partitions: number;
  /** Called when a LOCK left by a process that no longer runs is taken over. */
  readonly onStaleLock?: (pid: number) => void;
}

/**
 * Creates the directory if needed, takes its lock, and reads or writes meta.json. Returns the
 * meta and a release function (idempotent). A LOCK whose process no longer runs (SIGKILL, a
 * crash, a reused pid) is stale: it is taken over and `onStaleLock` is told.
 *
 * Throws DataDirLockedError when a live process (or this one) holds the directory, and the
 * file system's error when the directory cannot be created or read.
 *
 * @example
 * const { meta, release } = openDataDir(".onelog", { partitions: 4 });
 */
export function openDataDir(
  dir: string,
  options: OpenDataDirOptions,
): { meta: DataDirMeta; release: () => void } {
  mkdirSync(dir, { recursive: true });
  if (held.has(dir)) throw new DataDirLockedError(dir, process.pid);
  const lock = join(dir, "LOCK");
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      const started = startTicks(process.pid);
      writeSync(fd, started === undefined ? String(process.pid) : `${process.pid} ${started}`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let text: string;
      try {
        text = readFileSync(lock, "utf8").trim();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // released meanwhile
        throw err;
      }
      const [pidText, started] = text.split(/\s+/);
      const pid = Number(pidText);
      if (!Number.isInteger(pid) || pid <= 0) {
        // Created but not written yet by a process starting right now, or left empty by a crash
        // between the two: wait for the writer, take over an old one.
        if (Date.now() - statSync(lock).mtimeMs < 2_000) throw new DataDirLockedError(dir, 0);
      } else if (pid !== process.pid && alive(pid, started)) {
        throw new DataDirLockedError(dir, pid);
      } else {
        options.onStaleLock?.(pid);
      }
      rmSync(lock, { force: true });
    }
  }
  held.add(dir);
  releaseOnExit(dir, lock);
  const release = () => {
    if (!held.delete(dir)) return;
    locks.delete(dir);
    rmSync(lock, { force: true });
  };
  try {
    const metaPath = join(dir, "meta.json");
    let meta: DataDirMeta;
    try {
      meta = JSON.parse(readFileSync(metaPath, "utf8")) as DataDirMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      meta = {
        format: DATA_DIR_FORMAT,
        recordFormat: RECORD_FORMAT,
        storeFormat: STORE_FORMAT,
        logFormat: LOG_FORMAT,
        partitions: options.partitions,
      };
      writeFileSync(metaPath, JSON.stringify(meta, null, 2) + "\n");
    }
    if (typeof meta.format !== "number")
      throw new DataFormatError(`data directory ${dir}`, "unknown", DATA_DIR_FORMAT);
    checkFormats(dir, meta);
    return { meta, release };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * The leader epochs granted in a data directory, kept in `epochs.json` (partition → epoch).
 * Each grant rewrites the file atomically (write, fsync, rename, fsync the directory) before it
 * is handed out, so epochs only grow across crashes. Throws if the file cannot be written.
 *
 * @example
 * new EmbeddedLeadership({ lastEpoch, epochs: fileEpochRecord(dataDir) });
 */
export function fileEpochRecord(dir: string): EpochRecord {
  const path = join(dir, "epochs.json");
  let epochs: Record<string, number> = {};
  try {
    epochs = JSON.parse(readFileSync(path, "utf8")) as Record<string, number>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return {
    get: (partition) => epochs[String(partition)] ?? 0,
    set: (partition, epoch) => {
      const next = { ...epochs, [String(partition)]: epoch };
      writeFileDurably(dir, "epochs.json", JSON.stringify(next) + "\n");
      epochs = next;
    },
  };
}

/**
 * Replaces a file of the data directory atomically and durably: write a temp file, fsync it,
 * rename it over the file, fsync the directory. A crash leaves the old or the new file, whole.
 */
export function writeFileDurably(dir: string, name: string, text: string): void {
  const path = join(dir, name);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * The registered deployments of a data directory, in `deployments.json` (server mode).
 *
 * @example
 * const deployments = new Deployments(fileDeploymentRecords(dataDir));
 */
export function fileDeploymentRecords(dir: string): DeploymentRecords {
  const name = "deployments.json";
  return {
    load: () => {
      try {
        const text = readFileSync(join(dir, name), "utf8");
        return (JSON.parse(text) as { deployments: Deployment[] }).deployments;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw new Error(`${join(dir, name)} cannot be read: ${(e as Error).message}`);
      }
    },
    save: (deployments) => writeFileDurably(dir, name, JSON.stringify({ deployments }, null, 2) + "\n"),
  };
}
