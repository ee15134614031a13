/**
 * Cluster-wide SQL (admin `POST /query` on a cluster node, docs/admin.md#sql-in-a-cluster): each
 * node contributes the rows of the introspection views a query reads, restricted to the
 * partitions it leads (`SqlIntrospection.gather`); the asking node loads them, one table per view
 * with the view's name and columns, into a fresh in-memory database beside the registry's tables,
 * and runs the user's statement there. So aggregates, GROUP BY, ORDER BY, LIMIT and joins see
 * every partition once, as on one node holding them all.
 *
 * Invariants:
 * 1. A cell keeps its SQLite type across the trip: integers stay INTEGER (also beyond 2^53),
 *    reals REAL, blobs BLOB, text TEXT (`encodeCell` / `decodeCell`).
 * 2. Each partition's rows come from one node only: its owner (cluster-merge.ts `owners`).
 * 3. At most `maxRows` rows per view are gathered; when a view had more, the answer says
 *    `truncated`, as it does when the statement returns more than its row bound.
 * 4. The statement runs under sql.ts's invariants 1–2 (read-only, one statement, bounded rows).
 */
import Database from "better-sqlite3";
export { encodeCell, type GatheredView } from "./sql.js";
import {
  fillRegistryTables,
  GATHERED_VIEWS,
  registryTables,
  runReadOnly,
  type GatheredViewName,
  type QueryResult,
  type RegistryView,
} from "./sql.js";

/** A view's rows from every node, combined (the partition column dropped). */
export interface GatheredTable {
  readonly columns: readonly string[];
  readonly rows: unknown[][];
}

/** Invariant 1: the value to bind for an encoded cell. */
export function decodeCell(v: unknown): unknown {
  if (typeof v === "number") return BigInt(v);
  if (v !== null && typeof v === "object") {
    const o = v as { i?: string; r?: number; b?: string };
    if (o.i !== undefined) return BigInt(o.i);
    if (o.r !== undefined) return o.r;
    if (o.b !== undefined) return Buffer.from(o.b, "base64");
  }
  return v;
}

/**
 * The introspection views a statement may read: every identifier (bare, "quoted", [bracketed] or
 * `backticked`) outside string literals and comments that names one. It may name more than the
 * statement reads (a column alias called `state`): that only costs a gather.
 *
 * @example
 * viewsRead("SELECT count(*) FROM sys_invocation i JOIN sys_journal j USING (id)"); // ["sys_invocation", "sys_journal"]
 */
export function viewsRead(sql: string): GatheredViewName[] {
  const names = new Set<string>();
  const token =
    /'(?:[^']|'')*'|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|"((?:[^"]|"")*)"|\[([^\]]*)\]|`((?:[^`]|``)*)`|([A-Za-z_][A-Za-z0-9_$]*)/g;
  for (const m of sql.matchAll(token)) {
    const name = m[1]?.replace(/""/g, '"') ?? m[2] ?? m[3]?.replace(/``/g, "`") ?? m[4];
    if (name !== undefined) names.add(name.toLowerCase());
  }
  return (Object.keys(GATHERED_VIEWS) as GatheredViewName[]).filter((v) => names.has(v));
}

/**
 * Runs one read-only statement over gathered tables and the registry's, in a fresh in-memory
 * database (invariant 4). Throws SqlQueryError as `SqlIntrospection.query` does.
 */
export function queryGathered(o: {
  readonly tables: Readonly<Record<string, GatheredTable>>;
  readonly registry: RegistryView;
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly maxRows: number;
}): QueryResult {
  const db = new Database(":memory:");
  try {
    db.exec(registryTables(""));
    fillRegistryTables(db, o.registry);
    for (const [name, table] of Object.entries(o.tables)) {
      if (!(name in GATHERED_VIEWS)) continue;
      const cols = table.columns.map((c) => `"${c.replace(/"/g, '""')}"`);
      db.exec(`CREATE TABLE ${name} (${cols.join(", ")})`);
      if (table.rows.length === 0) continue;
      const insert = db.prepare(`INSERT INTO ${name} VALUES (${cols.map(() => "?").join(", ")})`);
      db.transaction(() => {
        for (const row of table.rows) insert.run(...row.map(decodeCell));
      })();
    }
    db.pragma("query_only = 1");
    return runReadOnly(db, o.sql, o.params, o.maxRows);
  } finally {
    db.close();
  }
}
