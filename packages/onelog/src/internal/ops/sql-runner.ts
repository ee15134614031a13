/**
 * Runs admin SQL (`POST /query`) in a worker process with its own read-only connection, so a
 * large scan does not stall the partitions, which share this process's event loop. A process,
 * not a thread: better-sqlite3 cannot interrupt a running statement, and a thread stuck in one
 * cannot be terminated, but a process can be killed.
 *
 * Invariants:
 * 1. One query runs at a time; the others wait in arrival order.
 * 2. A query that runs longer than `timeoutMs` is stopped (the worker is killed and a new one
 *    started) and fails with a SqlQueryError; the next query runs as usual.
 * 3. The worker sees the registry (sys_service, sys_deployment) as it is when a query is sent.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SqlQueryError, type QueryResult, type RegistryView } from "./sql.js";

/** How long a query may run by default. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

export interface SqlRunnerOptions {
  readonly storePath: string;
  readonly registry: RegistryView;
  readonly maxRows?: number;
  readonly timeoutMs?: number;
}

type Reply = { id: number; result: QueryResult } | { id: number; error: string; sqlError: boolean };

export class SqlRunner {
  private worker: ChildProcess | undefined;
  private sentVersion = -1;
  private nextId = 1;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: SqlRunnerOptions) {}

  /**
   * Runs one read-only query on the worker (1, 2). Rejects with SqlQueryError for bad SQL, a
   * write, or a timeout.
   *
   * @example
   * const { rows } = await runner.query("SELECT count(*) AS n FROM sys_invocation");
   */
  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    const run = this.tail.then(() => this.run(sql, params));
    this.tail = run.catch(() => undefined); // 1
    return run;
  }

  private run(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new SqlQueryError("the admin endpoint is closing"));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const registry = this.options.registry;
    const fresh = this.sentVersion !== registry.version; // 3
    const message = {
      id,
      sql,
      params,
      ...(fresh
        ? {
            registry: {
              version: registry.version,
              services: registry.services,
              deployments: registry.deployments,
            },
          }
        : {}),
    };
    this.sentVersion = registry.version;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    return new Promise<QueryResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.restart(); // 2
        reject(new SqlQueryError(`the query ran longer than ${timeoutMs} ms and was stopped`));
      }, timeoutMs);
      const onMessage = (reply: Reply) => {
        if (reply.id !== id) return;
        cleanup();
        if ("result" in reply) resolve(reply.result);
        else reject(reply.sqlError ? new SqlQueryError(reply.error) : new Error(reply.error));
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        if (this.worker === worker) this.worker = undefined;
        reject(new Error(`the SQL worker exited (${signal ?? `code ${code}`}) during the query`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("exit", onExit);
      worker.send(message);
    });
  }

  private ensureWorker(): ChildProcess {
    if (this.worker !== undefined) return this.worker;
    const here = import.meta.url;
    const fromSource = here.endsWith(".ts");
    const file = new URL(fromSource ? "./sql-worker.ts" : "./sql-worker.js", here);
    const registry = this.options.registry;
    // From the TypeScript sources (this repository's tests and npm start) the child runs with
    // tsx, by absolute URL, and the parent's export conditions.
    const execArgv = fromSource
      ? [
          ...process.execArgv.filter((a) => a.startsWith("--conditions")),
          "--import",
          import.meta.resolve("tsx"),
        ]
      : [];
    const child = fork(fileURLToPath(file), [], { execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] });
    child.send({
      init: {
        storePath: this.options.storePath,
        ...(this.options.maxRows === undefined ? {} : { maxRows: this.options.maxRows }),
        registry: {
          version: registry.version,
          services: registry.services,
          deployments: registry.deployments,
        },
      },
    });
    child.unref();
    child.channel?.unref();
    this.worker = child;
    this.sentVersion = registry.version;
    return child;
  }

  private restart(): void {
    const w = this.worker;
    this.worker = undefined;
    this.sentVersion = -1;
    w?.kill("SIGKILL");
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w === undefined || w.exitCode !== null || w.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
    w.kill("SIGKILL");
    await exited;
  }
}
