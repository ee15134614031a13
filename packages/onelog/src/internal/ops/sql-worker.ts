/**
 * The process behind `POST /query` (sql-runner.ts): its own read-only connection to the store,
 * so a long scan never blocks the engine's thread, and a runaway one can be killed (SQLite cannot
 * be interrupted from another thread of better-sqlite3, but a process can always be stopped).
 * Messages, over the IPC channel: `{ init: { storePath, maxRows?, registry } }` once, then
 * `{ id, registry?, …task }` → `{ id, result }` or `{ id, error, sqlError }`, where the task
 * (sql-runner.ts `WorkerTask`) is a query on the store, a query on gathered tables (a cluster's
 * `POST /query`, sql-cluster.ts), or this node's rows for one (`gather`).
 */
import { SqlIntrospection, SqlQueryError, type RegistryView } from "./sql.js";
import { queryGathered } from "./sql-cluster.js";
import type { WorkerTask } from "./sql-runner.js";

interface Init {
  readonly storePath: string;
  readonly maxRows?: number;
  readonly partitions?: number;
  readonly registry: RegistryView;
}

type Request = WorkerTask & {
  readonly id: number;
  /** Sent when the services or deployments changed since the last request. */
  readonly registry?: RegistryView;
};

let maxRows = 10_000;

let registry: RegistryView | undefined;
let sql: SqlIntrospection | undefined;
const view: RegistryView = {
  get version() {
    return registry!.version;
  },
  get services() {
    return registry!.services;
  },
  get deployments() {
    return registry!.deployments;
  },
};

process.on("message", (m: { init: Init } | Request) => {
  if ("init" in m) {
    registry = m.init.registry;
    maxRows = m.init.maxRows ?? maxRows;
    sql = SqlIntrospection.open({
      storePath: m.init.storePath,
      registry: view,
      maxRows,
      ...(m.init.partitions === undefined ? {} : { partitions: m.init.partitions }),
    });
    return;
  }
  if (m.registry !== undefined) registry = m.registry;
  try {
    const result =
      "gather" in m
        ? sql!.gather(m.gather.views, m.gather.partitions, m.gather.maxRows)
        : "tables" in m
          ? queryGathered({ tables: m.tables, registry: view, sql: m.sql, params: m.params, maxRows })
          : sql!.query(m.sql, m.params);
    process.send!({ id: m.id, result });
  } catch (e) {
    process.send!({
      id: m.id,
      error: e instanceof Error ? e.message : String(e),
      sqlError: e instanceof SqlQueryError,
    });
  }
});
// The engine's process going away takes this one with it.
process.on("disconnect", () => process.exit(0));
