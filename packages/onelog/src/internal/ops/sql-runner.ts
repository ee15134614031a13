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
import {
  SqlQueryError,
  type GatheredView,
  type GatheredViewName,
  type QueryResult,
  type RegistryView,
} from "./sql.js";
import type { GatheredTable } from "./sql-cluster.js";

/** How long a query may run by default. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

export interface SqlRunnerOptions {
  readonly storePath: string;
  readonly registry: RegistryView;
  readonly maxRows?: number;
  readonly timeoutMs?: number;
  /** The partition count, for the partition functions a gather filters by (a cluster node). */
  readonly partitions?: number;
}

/** What the worker is asked, besides its id and the registry (sql-worker.ts). */
export type WorkerTask =
  | { readonly sql: string; readonly params: readonly unknown[] }
  | {
      readonly sql: string;
      readonly params: readonly unknown[];
      readonly tables: Readonly<Record<string, GatheredTable>>;
    }
  | {
      readonly gather: {
        readonly views: readonly GatheredViewName[];
        readonly partitions: readonly number[];
        readonly maxRows: number;
      };
    };

type Reply = { id: number; result: unknown } | { id: number; error: string; sqlError: boolean };

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
    return this.enqueue({ sql, params }) as Promise<QueryResult>;
  }

  /**
   * A cluster-wide query's last step (sql-cluster.ts): runs the statement over gathered tables
   * in a fresh in-memory database on the worker, under the same bounds and timeout.
   */
  queryTables(
    sql: string,
    params: readonly unknown[],
    tables: Readonly<Record<string, GatheredTable>>,
  ): Promise<QueryResult> {
    return this.enqueue({ sql, params, tables }) as Promise<QueryResult>;
  }

  /** This node's share of a cluster-wide query: `SqlIntrospection.gather` on the worker. */
  gather(
    views: readonly GatheredViewName[],
    partitions: readonly number[],
    maxRows: number,
  ): Promise<Record<string, GatheredView>> {
    return this.enqueue({ gather: { views, partitions, maxRows } }) as Promise<Record<string, GatheredView>>;
  }

  private enqueue(task: WorkerTask): Promise<unknown> {
    const run = this.tail.then(() => this.run(task));
    this.tail = run.catch(() => undefined); // 1
    return run;
  }

  private run(task: WorkerTask): Promise<unknown> {
    if (this.closed) return Promise.reject(new SqlQueryError("the admin endpoint is closing"));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    const registry = this.options.registry;
    const fresh = this.sentVersion !== registry.version; // 3
    const message = {
      id,
      ...task,
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
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.restart(); // 2
        reject(
          new SqlQueryError(
            `the ${"gather" in task ? "gathering of this node's rows" : "query"} ran longer than ${timeoutMs} ms and was stopped`,
          ),
        );
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
        ...(this.options.partitions === undefined ? {} : { partitions: this.options.partitions }),
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
