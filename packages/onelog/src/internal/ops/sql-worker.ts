/**
 * The process behind `POST /query` (sql-runner.ts): its own read-only connection to the store,
 * so a long scan never blocks the engine's thread, and a runaway one can be killed (SQLite cannot
 * be interrupted from another thread of better-sqlite3, but a process can always be stopped).
 * Messages, over the IPC channel: `{ init: { storePath, maxRows?, registry } }` once, then
 * `{ id, sql, params, registry? }` → `{ id, result }` or `{ id, error, sqlError }`.
 */
import { SqlIntrospection, SqlQueryError, type RegistryView } from "./sql.js";

interface Init {
  readonly storePath: string;
  readonly maxRows?: number;
  readonly registry: RegistryView;
}

interface Request {
  readonly id: number;
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Sent when the services or deployments changed since the last request. */
  readonly registry?: RegistryView;
}

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
    sql = SqlIntrospection.open({
      storePath: m.init.storePath,
      registry: view,
      ...(m.init.maxRows === undefined ? {} : { maxRows: m.init.maxRows }),
    });
    return;
  }
  if (m.registry !== undefined) registry = m.registry;
  try {
    process.send!({ id: m.id, result: sql!.query(m.sql, m.params) });
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
