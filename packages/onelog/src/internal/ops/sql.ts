/**
 * SQL introspection (admin `POST /query`, docs/architecture.md): SQL over the partition stores, through
 * views in the shapes of Restate's introspection tables. Column names are snake_case, and so are the
 * keys of the JSON text some columns hold (`entry_json`, `waiting_on`).
 *
 * It opens its own read-only connection to `store.db` and defines, on that connection only,
 * TEMP views over the store's tables (`sys_invocation`, `sys_journal`, `state`, `sys_inbox`,
 * `sys_promise`) and TEMP tables filled from the registry (`sys_service`, `sys_deployment`).
 * User functions decode the msgpack blobs (status rows, journal entries, promises) row by row.
 * The views read what the processors committed; a batch being applied is not visible yet.
 *
 * Invariants:
 * 1. A query never changes anything: the connection is read-only, and a statement runs only if
 *    it starts with SELECT, WITH, VALUES or EXPLAIN, SQLite reports it read-only, and it returns
 *    rows. One statement per query (better-sqlite3 refuses more).
 * 2. A query returns at most `maxRows` rows (then `truncated` is true), so memory stays bounded.
 *    Iteration always runs to its end or is closed, so no read transaction stays open.
 *
 * Queries run on the engine's thread (better-sqlite3 is synchronous): a query that scans a large
 * store delays the engine while it runs. Keep operator queries selective.
 */
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import type { JournalEntry } from "@onelog/sdk/internal";
import { formatDuration, type Registry } from "../http/registry.js";
import { targetText } from "./attempt-log.js";
import { entryName, jsonText, showDeep, utf8Text } from "../http/values.js";
import type { PromiseRow, InvocationStatus } from "../partition/store/store.js";
import { partitionOf, partitionOfKey } from "../partition/ids.js";

/** A query that cannot run: bad SQL, a statement that writes, or too long. Admin answers 400. */
export class SqlQueryError extends Error {
  readonly code = "OL1019";
  constructor(message: string) {
    super(message);
    this.name = "SqlQueryError";
  }
}

/** What a query returns. Blob columns are base64 strings. */
export interface QueryResult {
  readonly rows: Record<string, unknown>[];
  /** True when there were more than `maxRows` rows; the rest were not read. */
  readonly truncated: boolean;
}

/** Which invocations {@link SqlIntrospection.invocations} lists, newest first. */
export interface InvocationFilter {
  readonly status?: string;
  readonly service?: string;
  readonly handler?: string;
  /** The object key or workflow id. */
  readonly key?: string;
  /** Created at or after this time (ms). */
  readonly since?: number;
  /** Created before this time (ms). */
  readonly until?: number;
  /** Only invocations after this one in the listing's order (the previous page's `next`). */
  readonly after?: InvocationCursor;
  /** Only invocations of these partitions (a cluster node: the ones it leads). */
  readonly partitions?: readonly number[];
}

/** A place in the listing: an invocation's creation time (ms) and id. */
export interface InvocationCursor {
  readonly createdAt: number;
  readonly id: string;
}

/** The columns of sys_invocation that a listing row has. */
const LIST_COLUMNS = [
  "id",
  "target",
  "target_service_name",
  "target_service_key",
  "target_handler_name",
  "status",
  "attempt_epoch",
  "retry_count",
  "idempotency_key",
  "last_failure",
  "next_retry_at",
  "invoked_by_id",
  "completion_result",
  "completion_failure",
  "completion_value_utf8",
  "created_at",
  "modified_at",
  "completed_at",
] as const;

/** Options of {@link SqlIntrospection.open}. */
/** What the SQL tables show of the registry (a worker gets it as plain data). */
export type RegistryView = Pick<Registry, "version" | "services" | "deployments">;

export interface SqlOptions {
  /** The store database (`<dataDir>/store.db`); it must exist. */
  readonly storePath: string;
  /** Fills `sys_service` and `sys_deployment`. */
  readonly registry: RegistryView;
  /** Most rows one query returns (default 10,000). */
  readonly maxRows?: number;
  /**
   * The partition count: defines `ol_partition_of_id(id)` and `ol_partition_of_key(service,
   * key)`, which {@link SqlIntrospection.gather} filters by (a cluster node).
   */
  readonly partitions?: number;
}

/** The introspection views a cluster node gathers, and how each row's partition is computed. */
export const GATHERED_VIEWS = {
  sys_invocation: "partition",
  sys_journal: "ol_partition_of_id(id)",
  state: "ol_partition_of_key(service_name, service_key)",
  sys_inbox: "ol_partition_of_key(service_name, service_key)",
  sys_promise: "ol_partition_of_key(service_name, service_key)",
} as const;

/** The name of an introspection view with rows of the partitions (not the registry's tables). */
export type GatheredViewName = keyof typeof GATHERED_VIEWS;

/**
 * One view's rows from one node (sql-cluster.ts): its column names (the first, `__partition`,
 * is each row's partition) and rows of encoded cells; `more` when the node had rows beyond the
 * bound.
 */
export interface GatheredView {
  readonly columns: readonly string[];
  readonly rows: unknown[][];
  readonly more: boolean;
}

/** sql-cluster.ts invariant 1: a SQLite value (read with safeIntegers) as JSON. */
export function encodeCell(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : { i: v.toString() };
  if (typeof v === "number") return { r: v };
  if (v instanceof Uint8Array) return { b: Buffer.from(v).toString("base64") };
  return v;
}

const MAX_QUERY_CHARS = 100_000;
const packr = new Packr({ useRecords: false, moreTypes: false });
const iso = (col: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${col} / 1000.0, 'unixepoch')`;
const SERVICE_TY = { Service: "service", VirtualObject: "virtual_object", Workflow: "workflow" } as const;

/** The registry's tables (TEMP on a store's connection; the main schema of a gathered query's). */
export const registryTables = (schema: "TEMP" | "") => `
CREATE ${schema} TABLE sys_service (
  name TEXT PRIMARY KEY, ty TEXT NOT NULL, revision INTEGER NOT NULL, public INTEGER NOT NULL,
  deployment_id TEXT NOT NULL, handlers INTEGER NOT NULL
);
CREATE ${schema} TABLE sys_deployment (
  id TEXT PRIMARY KEY, ty TEXT NOT NULL, endpoint TEXT, created_at TEXT NOT NULL, services INTEGER NOT NULL
);`;

const VIEWS = `${registryTables("TEMP")}
CREATE TEMP VIEW sys_invocation AS SELECT
  s.id AS id,
  s.service || '/' || CASE WHEN s.key IS NULL THEN '' ELSE s.key || '/' END || s.handler AS target,
  s.service AS target_service_name,
  s.key AS target_service_key,
  s.handler AS target_handler_name,
  (SELECT ty FROM sys_service WHERE name = s.service) AS target_service_ty,
  ol_status(s.data, 'handler_kind') AS handler_kind,
  s.partition AS partition,
  s.state AS status,
  ol_status(s.data, 'attempt_epoch') AS attempt_epoch,
  ol_status(s.data, 'retry_count') AS retry_count,
  ol_status(s.data, 'last_failure') AS last_failure,
  ol_status(s.data, 'pinned_deployment_id') AS pinned_deployment_id,
  ol_status(s.data, 'pinned_service_protocol_version') AS pinned_service_protocol_version,
  ${iso("ol_status(s.data, 'next_retry_at')")} AS next_retry_at,
  ol_status(s.data, 'idempotency_key') AS idempotency_key,
  ol_status(s.data, 'waiting_on') AS waiting_on,
  ol_status(s.data, 'callers') AS callers,
  ol_status(s.data, 'journal_size') AS journal_size,
  ol_status(s.data, 'journal_commands_size') AS journal_commands_size,
  ol_status(s.data, 'invoked_by') AS invoked_by,
  ol_status(s.data, 'invoked_by_id') AS invoked_by_id,
  ol_status(s.data, 'invoked_by_target') AS invoked_by_target,
  ol_status(s.data, 'completion_result') AS completion_result,
  ol_status(s.data, 'completion_failure') AS completion_failure,
  ol_status(s.data, 'completion_value_utf8') AS completion_value_utf8,
  ol_status(s.data, 'completion_retention') AS completion_retention,
  ol_status(s.data, 'journal_retention') AS journal_retention,
  ${iso("s.created_at")} AS created_at,
  ${iso("s.modified_at")} AS modified_at,
  ${iso("ol_status(s.data, 'completed_at')")} AS completed_at
FROM main.invocation_status s;
CREATE TEMP VIEW sys_journal AS SELECT
  j.id AS id,
  j.idx AS "index",
  ol_entry(j.entry, 'type') AS entry_type,
  ol_entry(j.entry, 'name') AS name,
  ol_entry(j.entry, 'invoked_id') AS invoked_id,
  ${iso("ol_entry(j.entry, 'sleep_wakeup_at')")} AS sleep_wakeup_at,
  ol_entry(j.entry, 'json') AS entry_json,
  ${iso("j.at")} AS appended_at,
  j.attempt AS attempt,
  j.entry AS raw
FROM main.journal j;
CREATE TEMP VIEW state AS SELECT
  st.service AS service_name,
  st.key AS service_key,
  st.name AS key,
  ol_utf8(st.value) AS value_utf8,
  st.value AS value
FROM main.state st;
CREATE TEMP VIEW sys_inbox AS SELECT
  i.service AS service_name,
  i.key AS service_key,
  i.id AS id,
  i.seq AS sequence_number,
  ${iso("s.created_at")} AS created_at
FROM main.inbox i LEFT JOIN main.invocation_status s ON s.id = i.id;
CREATE TEMP VIEW sys_promise AS SELECT
  p.service AS service_name,
  p.key AS service_key,
  p.name AS key,
  ol_promise(p.data, 'completed') AS completed,
  ol_promise(p.data, 'value') AS completion_success_value,
  ol_promise(p.data, 'value_utf8') AS completion_success_value_utf8,
  ol_promise(p.data, 'failure') AS completion_failure,
  ol_promise(p.data, 'waiters') AS waiters
FROM main.promises p;
`;

/** Decodes msgpack blobs, remembering the last one (a view reads several fields of one row). */
function lastDecoded<T>(): (bytes: Buffer) => T {
  let last: Buffer | undefined;
  let value: T | undefined;
  return (bytes) => {
    if (last === undefined || !last.equals(bytes)) {
      value = packr.unpack(bytes) as T;
      last = bytes;
    }
    return value!;
  };
}

function statusField(s: InvocationStatus, field: string): string | number | null {
  switch (field) {
    case "handler_kind":
      return s.handlerKind;
    case "attempt_epoch":
      return s.attemptEpoch;
    case "retry_count":
      return s.retryCount;
    case "journal_size":
      return s.journalLength;
    case "journal_commands_size":
      return s.commandCount;
    case "invoked_by":
      return s.invokedBy === undefined ? "ingress" : "service";
    case "invoked_by_id":
      return s.invokedBy?.invocationId ?? null;
    case "invoked_by_target":
      return s.invokedBy === undefined ? null : targetText(s.invokedBy.target);
    case "completion_value_utf8":
      return s.result !== undefined && "ok" in s.result ? (utf8Text(s.result.ok) ?? null) : null;
    case "completion_retention":
      return formatDuration(s.retentionMs);
    case "journal_retention":
      return s.journalRetentionMs === undefined ? null : formatDuration(s.journalRetentionMs);
    case "idempotency_key":
      return s.idempotencyKey ?? null;
    case "last_failure":
      return s.lastFailure ?? null;
    case "pinned_deployment_id":
      return s.pinnedDeployment?.deploymentId ?? null;
    case "pinned_service_protocol_version":
      return s.pinnedDeployment?.protocolVersion ?? null;
    case "next_retry_at":
      return s.nextRetryAt ?? null;
    case "completed_at":
      return s.completedAt ?? null;
    case "waiting_on":
      return s.waitingOn === undefined
        ? null
        : JSON.stringify({
            completion_ids: s.waitingOn.completionIds,
            signal_ids: s.waitingOn.signalIds,
            ...(s.waitingOn.signalNames === undefined ? {} : { signal_names: s.waitingOn.signalNames }),
          });
    case "callers":
      return s.sinks === undefined || s.sinks.length === 0
        ? null
        : JSON.stringify(s.sinks.map((c) => c.invocationId));
    case "completion_result":
      return s.result === undefined ? null : "ok" in s.result ? "success" : "failure";
    case "completion_failure":
      return s.result !== undefined && "err" in s.result
        ? `[${s.result.err.code}] ${s.result.err.message}`
        : null;
    default:
      throw new SqlQueryError(`ol_status: no field ${JSON.stringify(field)}`);
  }
}

function entryField(e: JournalEntry, field: string): string | number | null {
  switch (field) {
    case "type":
      return e.type;
    case "name":
      return entryName(e) ?? null;
    case "invoked_id":
      // A call's callee id is the notification of its invocation-id completion.
      return e.type === "completion" && "invocationId" in e.value
        ? e.value.invocationId
        : e.type === "attach" || e.type === "cancel_invocation" || e.type === "send_named_signal"
          ? e.invocationId
          : (e.type === "attach_target" || e.type === "get_output") && e.invocationId !== undefined
            ? e.invocationId
            : null;
    case "sleep_wakeup_at":
      return e.type === "sleep" ? e.wakeUpAt : null;
    case "json": {
      // `wire` is a remote command's exact bytes, kept for replay: the decoded fields say it all.
      const { wire: _wire, ...shown } = e as JournalEntry & { wire?: unknown };
      return JSON.stringify(showDeep(shown));
    }
    default:
      throw new SqlQueryError(`ol_entry: no field ${JSON.stringify(field)}`);
  }
}

function promiseField(p: PromiseRow, field: string): string | number | Buffer | null {
  const ok = p.result !== undefined && "ok" in p.result ? p.result.ok : undefined;
  switch (field) {
    case "completed":
      return p.result === undefined ? 0 : 1;
    case "value":
      return ok === undefined ? null : Buffer.from(ok);
    case "value_utf8":
      return ok === undefined ? null : (utf8Text(ok) ?? null);
    case "failure":
      return p.result !== undefined && "err" in p.result
        ? `[${p.result.err.code}] ${p.result.err.message}`
        : null;
    case "waiters":
      return p.waiters.length;
    default:
      throw new SqlQueryError(`ol_promise: no field ${JSON.stringify(field)}`);
  }
}

/** Invariant 1: the statement's first keyword, after comments and blanks. */
function firstKeyword(sql: string): string {
  const rest = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, "");
  return (/^[A-Za-z]+/.exec(rest)?.[0] ?? "").toUpperCase();
}

const READ_KEYWORDS = new Set(["SELECT", "WITH", "VALUES", "EXPLAIN"]);

/** A read-only SQL view of one data directory's store. */
export class SqlIntrospection {
  private readonly db: Database.Database;
  private readonly maxRows: number;
  private readonly journalQuery: Database.Statement<[string]>;
  private readonly journalMetaQuery: Database.Statement<[string]>;
  private readonly stateQuery: Database.Statement<[string, string]>;

  private readonly registry: RegistryView;
  /** The registry version the TEMP tables hold (deployments change in server mode). */
  private registryVersion = -1;

  private constructor(o: SqlOptions) {
    this.maxRows = o.maxRows ?? 10_000;
    this.db = new Database(o.storePath, { readonly: true, fileMustExist: true });
    try {
      const status = lastDecoded<InvocationStatus>();
      const entry = lastDecoded<JournalEntry>();
      const promise = lastDecoded<PromiseRow>();
      const fn = { deterministic: true, varargs: false } as const;
      this.db.function("ol_status", fn, (data: unknown, field: unknown) =>
        statusField(status(data as Buffer), String(field)),
      );
      this.db.function("ol_entry", fn, (data: unknown, field: unknown) =>
        entryField(entry(data as Buffer), String(field)),
      );
      this.db.function("ol_promise", fn, (data: unknown, field: unknown) =>
        promiseField(promise(data as Buffer), String(field)),
      );
      this.db.function("ol_utf8", fn, (bytes: unknown) =>
        bytes instanceof Uint8Array ? (utf8Text(bytes) ?? null) : null,
      );
      this.db.function("ol_json", fn, (bytes: unknown) =>
        bytes instanceof Uint8Array ? (jsonText(bytes) ?? null) : null,
      );
      const partitions = o.partitions;
      if (partitions !== undefined) {
        this.db.function("ol_partition_of_id", fn, (id: unknown) => partitionOf(String(id), partitions));
        // Keys and service names are TEXT in the store.
        this.db.function("ol_partition_of_key", fn, (service: unknown, key: unknown) =>
          typeof key === "string" && typeof service === "string"
            ? partitionOfKey(service, key, partitions)
            : null,
        );
      }
      this.db.exec(VIEWS);
      this.registry = o.registry;
      this.fillRegistry();
      this.db.pragma("query_only = 1");
      this.journalQuery = this.db.prepare("SELECT entry FROM main.journal WHERE id = ? ORDER BY idx").pluck();
      this.journalMetaQuery = this.db
        .prepare("SELECT at, attempt FROM main.journal WHERE id = ? ORDER BY idx")
        .raw();
      this.stateQuery = this.db
        .prepare("SELECT name, value FROM main.state WHERE service = ? AND key = ? ORDER BY name")
        .raw();
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  /** Opens the read-only connection and defines the views. Throws if the store does not exist. */
  static open(o: SqlOptions): SqlIntrospection {
    return new SqlIntrospection(o);
  }

  /**
   * Runs one read-only statement (invariant 1) with optional positional parameters. Throws
   * {@link SqlQueryError} for bad SQL, a statement that writes, or a failure while it runs.
   *
   * @example
   * sql.query("SELECT id, status FROM sys_invocation WHERE target_service_name = ?", ["Greeter"]);
   */
  query(sql: string, params: readonly unknown[] = []): QueryResult {
    this.refreshRegistry();
    return runReadOnly(this.db, sql, params, this.maxRows);
  }

  /**
   * Invariant 1 without running: throws {@link SqlQueryError} when the statement would not run
   * (bad SQL, a write), so a cluster-wide query fails before anything is gathered for it.
   */
  check(sql: string): void {
    prepareReadOnly(this.db, sql);
  }

  /**
   * The rows of `views` that belong to `partitions` (a cluster node's led partitions), at most
   * `maxRows` per view (`more` says there were others), each row's partition first: what a node
   * contributes to a cluster-wide query (sql-cluster.ts). Cells are encoded by `encodeCell`.
   */
  gather(
    views: readonly GatheredViewName[],
    partitions: readonly number[],
    maxRows: number,
  ): Record<string, GatheredView> {
    this.refreshRegistry();
    const list = partitions.filter((p) => Number.isInteger(p)).join(", ");
    const out: Record<string, GatheredView> = {};
    for (const view of views) {
      const partition = GATHERED_VIEWS[view];
      if (partition === undefined) throw new SqlQueryError(`${String(view)} is not an introspection view`);
      const stmt = this.db
        // A user function's number is REAL to SQLite: the partition is cast, so it reads as an integer.
        .prepare(
          `SELECT CAST(${partition} AS INTEGER) AS __partition, * FROM ${view} WHERE ${partition} IN (${list}) LIMIT ?`,
        )
        .raw(true)
        .safeIntegers(true);
      const columns = stmt.columns().map((c) => c.name);
      const rows = (stmt.all(maxRows + 1) as unknown[][]).map((r) => r.map(encodeCell));
      const more = rows.length > maxRows;
      if (more) rows.pop();
      out[view] = { columns, rows, more };
    }
    return out;
  }

  private refreshRegistry(): void {
    if (this.registryVersion !== this.registry.version) {
      this.db.pragma("query_only = 0");
      try {
        this.fillRegistry();
      } finally {
        this.db.pragma("query_only = 1");
      }
    }
  }

  /** One key's state as committed, by name. */
  state(service: string, key: string): [string, Buffer][] {
    return this.stateQuery.all(service, key) as [string, Buffer][];
  }

  /** Invocations by status, as committed, in the partitions `counted` accepts (metrics). */
  countByStatus(counted: (partition: number) => boolean = () => true): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [partition, byState] of Object.entries(this.invocationCountsByPartition({}))) {
      if (!counted(Number(partition))) continue;
      for (const [state, n] of Object.entries(byState)) counts.set(state, (counts.get(state) ?? 0) + n);
    }
    return counts;
  }

  /** An invocation's journal as committed (empty when it has none). */
  journal(invocationId: string): JournalEntry[] {
    return (this.journalQuery.all(invocationId) as Buffer[]).map((b) => packr.unpack(b) as JournalEntry);
  }

  /** When each entry of a journal was appended and by which attempt (null where not recorded). */
  journalMeta(invocationId: string): { at: number | null; attempt: number | null }[] {
    return (this.journalMetaQuery.all(invocationId) as [number | null, number | null][]).map(
      ([at, attempt]) => ({ at, attempt }),
    );
  }

  /**
   * One page of invocations, newest first (by creation time, then id), as sys_invocation rows,
   * and the cursor of the next page (undefined on the last). Walks the creation-time index, so a
   * page costs the same with 10 or 100,000 invocations.
   *
   * @example
   * const page = sql.invocations({ status: "completed", service: "Greeter" }, 50);
   * const next = sql.invocations({ status: "completed", service: "Greeter", after: page.next }, 50);
   */
  invocations(
    filter: InvocationFilter,
    limit: number,
  ): { rows: Record<string, unknown>[]; next: InvocationCursor | undefined } {
    const { where, args } = invocationWhere(filter, true);
    const rows = this.db
      .prepare(
        `SELECT ${LIST_COLUMNS.map((c) => `v.${c}`).join(", ")}, p.created_at AS created_at_ms
         FROM (SELECT id, created_at FROM main.invocation_status ${where}
               ORDER BY created_at DESC, id DESC LIMIT ?) p
         JOIN sys_invocation v ON v.id = p.id
         ORDER BY p.created_at DESC, p.id DESC`,
      )
      .all(...args, limit + 1) as Record<string, unknown>[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const next =
      rows.length > limit && last !== undefined
        ? { createdAt: last.created_at_ms as number, id: last.id as string }
        : undefined;
    for (const r of page) delete r.created_at_ms;
    return { rows: page.map(toJsonRow), next };
  }

  /** How many invocations match `filter` (its status and cursor aside), by status. */
  invocationCounts(filter: InvocationFilter): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const byState of Object.values(this.invocationCountsByPartition(filter))) {
      for (const [state, n] of Object.entries(byState)) counts[state] = (counts[state] ?? 0) + n;
    }
    return counts;
  }

  /** {@link invocationCounts} per partition (a cluster node's share, merged by the asking node). */
  invocationCountsByPartition(filter: InvocationFilter): Record<number, Record<string, number>> {
    const { where, args } = invocationWhere({ ...filter, status: undefined, after: undefined }, false);
    const rows = this.db
      .prepare(
        `SELECT partition, state, count(*) AS n FROM main.invocation_status ${where} GROUP BY partition, state`,
      )
      .all(...args) as { partition: number; state: string; n: number }[];
    const out: Record<number, Record<string, number>> = {};
    for (const r of rows) (out[r.partition] ??= {})[r.state] = r.n;
    return out;
  }

  /** (Re)fills the TEMP tables sys_service and sys_deployment from the registry. */
  private fillRegistry(): void {
    fillRegistryTables(this.db, this.registry);
    this.registryVersion = this.registry.version;
  }

  close(): void {
    this.db.close();
  }
}

/** The WHERE clause of a listing over `main.invocation_status` (its own columns only). */
function invocationWhere(
  f: { readonly [K in keyof InvocationFilter]?: InvocationFilter[K] | undefined },
  withCursor: boolean,
): { where: string; args: unknown[] } {
  const conditions: string[] = [];
  const args: unknown[] = [];
  const add = (sql: string, ...values: unknown[]) => {
    conditions.push(sql);
    args.push(...values);
  };
  if (f.partitions !== undefined) {
    conditions.push(`partition IN (${f.partitions.filter((p) => Number.isInteger(p)).join(", ")})`);
  }
  if (f.status !== undefined) add("state = ?", f.status);
  if (f.service !== undefined) add("service = ?", f.service);
  if (f.handler !== undefined) add("handler = ?", f.handler);
  if (f.key !== undefined) add("key = ?", f.key);
  if (f.since !== undefined) add("created_at >= ?", f.since);
  if (f.until !== undefined) add("created_at < ?", f.until);
  if (withCursor && f.after !== undefined) {
    add("(created_at < ? OR (created_at = ? AND id < ?))", f.after.createdAt, f.after.createdAt, f.after.id);
  }
  return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, args };
}

/** Invariant 1: the prepared statement, or a SqlQueryError when it would not only read. */
function prepareReadOnly(db: Database.Database, sql: string): Database.Statement {
  if (sql.length > MAX_QUERY_CHARS)
    throw new SqlQueryError(`the query is longer than ${MAX_QUERY_CHARS} characters`);
  const keyword = firstKeyword(sql);
  if (!READ_KEYWORDS.has(keyword)) {
    throw new SqlQueryError(
      `only read-only queries run here (SELECT, WITH, VALUES, EXPLAIN), not ${keyword === "" ? "an empty statement" : keyword}`,
    );
  }
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    throw new SqlQueryError(messageOf(e));
  }
  if (!stmt.readonly || !stmt.reader) {
    throw new SqlQueryError(
      "the statement would change the database or returns no rows; only reads run here",
    );
  }
  return stmt;
}

/**
 * Invariants 1 and 2 on any connection: runs one read-only statement and returns at most
 * `maxRows` rows. Throws {@link SqlQueryError} for bad SQL, a write, or a failure while it runs.
 */
export function runReadOnly(
  db: Database.Database,
  sql: string,
  params: readonly unknown[],
  maxRows: number,
): QueryResult {
  const stmt = prepareReadOnly(db, sql);
  const rows: Record<string, unknown>[] = [];
  let truncated = false;
  try {
    // Invariant 2: for-of closes the iterator (and its read transaction) on break.
    for (const row of stmt.iterate(...params) as Iterable<Record<string, unknown>>) {
      if (rows.length >= maxRows) {
        truncated = true;
        break;
      }
      rows.push(toJsonRow(row));
    }
  } catch (e) {
    if (e instanceof SqlQueryError) throw e;
    throw new SqlQueryError(messageOf(e));
  }
  return { rows, truncated };
}

/** Fills the registry's tables (`registryTables`) of a connection from the registry. */
export function fillRegistryTables(db: Database.Database, r: RegistryView): void {
  db.transaction(() => {
    db.exec("DELETE FROM sys_service; DELETE FROM sys_deployment;");
    const addService = db.prepare("INSERT INTO sys_service VALUES (?, ?, ?, ?, ?, ?)");
    for (const s of r.services) {
      addService.run(
        s.name,
        SERVICE_TY[s.ty],
        s.revision,
        s.public ? 1 : 0,
        s.deployment_id,
        s.handlers.length,
      );
    }
    const addDeployment = db.prepare("INSERT INTO sys_deployment VALUES (?, ?, ?, ?, ?)");
    for (const d of r.deployments) addDeployment.run(d.id, d.ty, d.endpoint, d.created_at, d.services.length);
  })();
}

function toJsonRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(row)) {
    if (v instanceof Uint8Array) row[k] = Buffer.from(v).toString("base64");
    else if (typeof v === "bigint") row[k] = v.toString();
  }
  return row;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
