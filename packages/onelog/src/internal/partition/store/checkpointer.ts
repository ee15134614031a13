/**
 * Copies the store's WAL into its database file on a worker thread, so the partitions' event
 * loop does not do it. Left to SQLite, the connection that commits runs the checkpoint inside a
 * COMMIT once the WAL passes 1,000 pages: page copies and two fsyncs on the thread that applies
 * every partition (measured under the Greeter load: one commit in ten took ~7 ms, 60–70% of all
 * the time the store's commits took).
 *
 * Invariants:
 * 1. At most one pass runs at a time; a request while one runs is remembered and runs after it.
 * 2. A pass copies the WAL without blocking the writer (PASSIVE), then, once the WAL holds
 *    RESTART_AT_PAGES or more and only if the writer is between transactions at that moment
 *    (busy_timeout 0: no waiting), copies what it added meanwhile and restarts the WAL (RESTART;
 *    the writer's next transaction waits for that short copy, so it is not done every pass). A pass that finds the writer busy leaves the WAL
 *    to grow until the next one; the file is cut back to the size limit when it restarts.
 * 3. The worker has its own connection (synchronous FULL: the WAL is synced before a copy and
 *    the file after), never writes rows, does not keep the process alive, and ends on `close()`.
 *    The store's own `checkpoint()` (before log trimming) still runs on the writer's connection.
 * 4. A pass that fails is reported through `onError` and tried again on the next request: the
 *    WAL keeps the data, only its size grows. A worker that dies is reported through `onGone`
 *    (the store then checkpoints in its commits again, as SQLite does by default).
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Plain JavaScript, so the worker needs no TypeScript loader (and carries none). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma("busy_timeout = 0");
parentPort.on("message", () => {
  try {
    // Invariant 2: the bulk without blocking the writer, then the rest and a restart if the
    // writer is between transactions (busy_timeout 0: no waiting).
    let [row] = db.pragma("wal_checkpoint(PASSIVE)");
    if (row.log >= workerData.restartAtPages) [row] = db.pragma("wal_checkpoint(RESTART)");
    parentPort.postMessage({ log: row.log, checkpointed: row.checkpointed, busy: row.busy });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
});
`;

/** The WAL's size (4 KiB pages) from which a pass also restarts it (2): 8 MiB. */
const RESTART_AT_PAGES = 2_048;

type Reply = { log: number; checkpointed: number; busy: number } | { error: string };

export class StoreCheckpointer {
  readonly #worker: Worker;
  #running = false;
  #again = false;
  #closed = false;
  /** Passes finished, and the WAL's size in pages after the last one. */
  checkpoints = 0;
  walPages = 0;
  /** Passes whose restart found the writer in a transaction (the next pass tries again). */
  busy = 0;

  constructor(path: string, onError: (message: string) => void, onGone: () => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, driver, restartAtPages: RESTART_AT_PAGES },
      execArgv: [],
    });
    this.#worker.unref(); // 3
    this.#worker.on("message", (reply: Reply) => {
      this.#running = false;
      if ("error" in reply)
        onError(reply.error); // 4
      else {
        this.checkpoints++;
        this.walPages = reply.log;
        if (reply.busy !== 0) this.busy++;
      }
      if (this.#again) this.request();
    });
    this.#worker.on("error", (e) => onError(e.message));
    this.#worker.on("exit", () => {
      if (!this.#closed) onGone(); // 4
      this.#closed = true;
    });
  }

  /** Asks for a pass (1). */
  request(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#again = false;
    this.#worker.postMessage(0);
  }

  close(): Promise<number> {
    this.#closed = true;
    return this.#worker.terminate();
  }
}
