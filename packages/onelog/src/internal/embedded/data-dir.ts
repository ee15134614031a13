/**
 * The data directory of the embedded mode: `log.db` (the log, synchronous=FULL), `store.db`
 * (the partition stores), `meta.json` (format version and partition count, fixed at creation)
 * and `LOCK` (the pid of the process that owns it).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const FORMAT = 1;

export interface DataDirMeta {
  readonly format: number;
  readonly partitions: number;
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
      meta = { format: FORMAT, partitions };
      writeFileSync(metaPath, JSON.stringify(meta, null, 2) + "\n");
    }
    if (meta.format !== FORMAT)
      throw new Error(`data directory ${dir} has format ${meta.format}; this onelog reads ${FORMAT}`);
    return { meta, release };
  } catch (e) {
    release();
    throw e;
  }
}
