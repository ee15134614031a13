/**
 * The data directory of the embedded mode: `log.db` (the log, synchronous=FULL), `store.db`
 * (the partition stores), `meta.json` (format versions and partition count, fixed at creation),
 * `epochs.json` (the leader epochs granted, so they only grow) and `LOCK` (the pid of the
 * process that owns it).
 *
 * Formats: `meta.json` records the versions of everything in the directory (format-versions.ts).
 * A directory whose versions differ from this onelog's is refused before any file in it is
 * opened (DataFormatError, OL1022); a `meta.json` without versions beyond `format` was written
 * before they existed, and reads as format 1 throughout.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
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
    super(`data directory ${dir} is in use by process ${pid}; stop it first, or use another dataDir`);
    this.name = "DataDirLockedError";
  }
}

/** Data directories this process holds (two engines in one process must not share one). */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  // A killed process that its parent has not reaped yet still answers signal 0 (a zombie).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/**
 * Creates the directory if needed, takes its lock (a stale lock of a dead process is taken
 * over), and reads or writes meta.json. Returns the meta and a release function.
 */
export function openDataDir(dir: string, partitions: number): { meta: DataDirMeta; release: () => void } {
  mkdirSync(dir, { recursive: true });
  if (held.has(dir)) throw new DataDirLockedError(dir, process.pid);
  const lock = join(dir, "LOCK");
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(lock, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid))
        throw new DataDirLockedError(dir, pid);
      rmSync(lock, { force: true });
    }
  }
  held.add(dir);
  const release = () => {
    held.delete(dir);
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
        partitions,
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
      const tmp = `${path}.tmp`;
      const fd = openSync(tmp, "w");
      try {
        writeSync(fd, JSON.stringify(next) + "\n");
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
      epochs = next;
    },
  };
}
