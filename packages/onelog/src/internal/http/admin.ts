/**
 * The admin endpoint (default 127.0.0.1:9070, docs/architecture.md). Shapes follow Restate's admin API
 * where it has the same endpoint; docs/admin.md lists every path. Every field name is snake_case,
 * as in Restate's admin API and SQL columns; only user data (state names, header names, the
 * columns a query names) is shown as it is.
 *
 *   GET    /health                          200 once every partition has a leader (a cluster node: here or elsewhere), else 503 (no token needed)
 *   GET    /stats                           group-commit and apply counters
 *   GET    /metrics                         Prometheus text format
 *   GET    /services, /services/{name}      services and handlers with their resolved options
 *   GET    /deployments, /deployments/{id}  this process's handlers (embedded) and remote deployments
 *   POST   /deployments                     { uri, force?, use_http_11?, additional_headers? }: discover, register
 *   DELETE /deployments/{id}                remove a remote deployment
 *   GET    /invocations?status=&service=&handler=&key=&since=&until=&limit=&cursor=&counts=true
 *   GET    /invocations/{id}                the status row and the decoded journal
 *   PATCH  /invocations/{id}/cancel|kill|purge|pause|resume   (also DELETE /invocations/{id}?mode=)
 *   PATCH  /invocations/{id}/restart-as-new  a completed one's input, as a new invocation
 *   GET    /state/{service}/{key}           one key's state and its version (also as ETag)
 *   PATCH  /state/{service}/{key}           { name: value | null, … } through the log; If-Match: 412 if changed
 *   GET    /ui/                             the web UI (docs/ui.md); its files need no token
 *   POST   /query                           { "query": "SELECT …" } → { rows, truncated } (in a worker process, 10 s at most)
 *
 * With a token (start option `adminToken`, env ONELOG_ADMIN_TOKEN), every path but /health needs
 * `Authorization: Bearer <token>`. Errors are JSON in Restate's admin shape `{ message, restate_code, onelog_code }` (errors.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isIP } from "node:net";
import type { Engine } from "../engine.js";
import { parseTarget } from "./request-target.js";
import type { Log } from "../log/log.js";
import { LogError } from "../log/log.js";
import type { Logger } from "../ops/logger.js";
import type { Metrics } from "../ops/metrics.js";
import { Registry } from "./registry.js";
import { DeploymentConflictError, DiscoveryError } from "../invoker/deployments.js";
import { describeInvocation } from "./invocation-description.js";
import { showBytes, type ShownValue } from "./values.js";
import { SqlIntrospection, SqlQueryError, type InvocationCursor, type InvocationFilter } from "../ops/sql.js";
import { DEFAULT_QUERY_TIMEOUT_MS, SqlRunner } from "../ops/sql-runner.js";
import { INVOCATION_STATES, type InvocationState } from "../partition/store/store.js";
import { stateVersion } from "../partition/state-version.js";
import { serveUi } from "./ui.js";
import { AdminError, adminError } from "./admin-error.js";
import type { ClusterNodes } from "../cluster-nodes.js";
import { ClusterAdmin } from "./cluster-admin.js";
import { isInvocationId, partitionOf, partitionOfKey } from "../partition/ids.js";

export interface AdminOptions {
  readonly engine: Engine;
  readonly log: Log;
  readonly host: string;
  readonly port: number;
  /** `<dataDir>/store.db`: SQL introspection, journals and state are read from it. */
  readonly storePath: string;
  /** `<dataDir>/log.db`, whose size the metrics report; none on a cluster node. */
  readonly logPath?: string;
  /** When set, every path but /health needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Served at /metrics; the admin attaches its sources at listen. */
  readonly metrics?: Metrics;
  readonly logger?: Logger;
  /** How long one `POST /query` may run before it is stopped (default 10 s). */
  readonly queryTimeoutMs?: number;
  /** When the process started serving (the deployment's `created_at`). Default: now. */
  readonly startedAt?: number;
  /**
   * A cluster node's view of the other nodes (cluster-nodes.ts): SQL, the invocation listing,
   * per-invocation and per-key requests and /health then answer for the whole cluster
   * (cluster-admin.ts). Without it, the admin answers from this node's store.
   */
  readonly clusterNodes?: ClusterNodes;
  /** Most rows of one view a cluster-wide `POST /query` gathers from the nodes (default 50,000). */
  readonly clusterQueryMaxRows?: number;
}

/** Thrown by `start()` when the admin endpoint would listen beyond loopback without a token. */
export class AdminTokenRequiredError extends Error {
  readonly code = "OL1018";
  constructor(host: string) {
    super(
      `the admin endpoint would listen on ${host}, which is not a loopback address, without a token: ` +
        "set start({ adminToken }) or ONELOG_ADMIN_TOKEN, or bind it to 127.0.0.1 with adminHost [OL1018]",
    );
    this.name = "AdminTokenRequiredError";
  }
}

/** True for addresses only this machine can reach: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

const STATES: ReadonlySet<string> = new Set<InvocationState>(INVOCATION_STATES);
const OPERATIONS = new Set(["cancel", "kill", "purge", "pause", "resume"] as const);
type Operation = "cancel" | "kill" | "purge" | "pause" | "resume";
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * Why an operation would do nothing to an invocation in this state, or undefined when it acts.
 * These mirror apply's rules for the operation records, so the admin answers 409 (OL1023)
 * instead of 202 for a no-op. The check reads the applied status before the record is appended:
 * an invocation that changes state in between (it completes just then) gets a 202 and the no-op.
 */
function refusal(op: Operation, state: InvocationState): string | undefined {
  switch (op) {
    case "purge":
      return state === "completed"
        ? undefined
        : "purge applies only to completed invocations (cancel or kill it first)";
    case "resume":
      return state === "paused" ? undefined : "resume applies only to paused invocations";
    case "pause":
      if (state === "invoked" || state === "backing-off" || state === "suspended") return undefined;
      return state === "paused"
        ? "it is paused already"
        : state === "completed"
          ? "a completed invocation cannot be paused"
          : "pause applies to invocations that have started (invoked, suspended or backing-off)";
    case "cancel":
    case "kill":
      return state === "completed"
        ? `a completed invocation cannot be ${op === "cancel" ? "cancelled" : "killed"}; purge it to delete it`
        : undefined;
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export class Admin {
  private server: Server | undefined;
  private sql: SqlIntrospection | undefined;
  private registry: Registry | undefined;
  private runner: SqlRunner | undefined;
  private cluster: ClusterAdmin | undefined;
  private stopServingNodes: (() => void) | undefined;
  private url: string | undefined;

  constructor(private readonly options: AdminOptions) {}

  /** Opens the SQL connection and listens; resolves with the URL once bound. */
  async listen(): Promise<string> {
    this.registry = new Registry(this.options.engine, this.options.startedAt ?? Date.now());
    this.sql = SqlIntrospection.open({ storePath: this.options.storePath, registry: this.registry });
    // POST /query runs in a worker process: a long scan must not stall the partitions.
    const runner = new SqlRunner({
      storePath: this.options.storePath,
      registry: this.registry,
      partitions: this.options.engine.partitions,
      ...(this.options.queryTimeoutMs === undefined ? {} : { timeoutMs: this.options.queryTimeoutMs }),
    });
    this.runner = runner;
    const nodes = this.options.clusterNodes;
    if (nodes !== undefined) {
      this.cluster = new ClusterAdmin({
        nodes,
        engine: this.options.engine,
        sql: this.sql,
        runner,
        selfUrl: () => this.url,
        gatherTimeoutMs: this.options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
        maxGatherRows: this.options.clusterQueryMaxRows ?? 50_000,
      });
    }
    const remote = this.options.engine.remote;
    if (remote !== undefined) {
      // A scan of every status row: in the worker too, not on the engine's thread; in a cluster,
      // over every partition's leader (a node's own store is current only where it leads).
      const pinned =
        "SELECT target_service_name AS s, target_handler_name AS h FROM sys_invocation WHERE pinned_deployment_id = ? AND status <> 'completed'";
      remote.deployments.inFlight = async (deploymentId) =>
        (this.cluster === undefined
          ? await runner.query(pinned, [deploymentId])
          : await this.cluster.query(pinned, [deploymentId])
        ).rows.map((r) => `${String(r.s)}/${String(r.h)}`);
    }
    this.options.metrics?.attach({
      engine: this.options.engine,
      log: this.options.log,
      sql: this.sql,
      ...(this.options.logPath === undefined ? {} : { logPath: this.options.logPath }),
      storePath: this.options.storePath,
    });
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.options.port, this.options.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      this.server = undefined;
      this.closeSources();
      throw e;
    }
    const addr = server.address() as AddressInfo;
    this.url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
    this.stopServingNodes = this.cluster?.serve();
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    this.closeSources();
  }

  private closeSources(): void {
    this.stopServingNodes?.();
    this.stopServingNodes = undefined;
    this.options.metrics?.close();
    this.sql?.close();
    this.sql = undefined;
    void this.runner?.close();
    this.runner = undefined;
  }

  private send(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    const bytes = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length, ...headers });
    res.end(bytes);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof AdminError) {
      this.send(res, e.status, adminError(e.code, e.message), { ...e.headers });
    } else if (e instanceof SqlQueryError) {
      this.send(res, 400, adminError(e.code, e.message));
    } else if (e instanceof LogError) {
      this.send(res, 503, adminError("OL1011", e.message));
    } else {
      this.options.logger?.error({ err: e }, "admin request failed");
      this.send(res, 500, adminError("OL1000", `internal error: ${String(e)}`));
    }
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.options.token;
    if (token === undefined || token === "") return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    return m !== null && timingSafeEqual(digest(m[1]!.trim()), digest(token));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Split by hand: a target like //x/y stays a path, and \ is not a separator.
    const url = parseTarget(req.url ?? "");
    if (url === undefined) {
      req.resume();
      return this.send(res, 400, adminError("OL1021", `cannot parse the request target ${req.url ?? ""}`));
    }
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/health") {
      if (method !== "GET") throw this.methodNotAllowed("GET", path);
      return await this.health(res);
    }
    // The UI's files hold no data (ui.ts): served without the token; the API calls need it.
    if (serveUi(path, method, res)) {
      req.resume();
      return;
    }
    // A page on another site can make a browser send a simple POST here (no preflight): every
    // request that changes something must come from this origin (the UI) or from no browser.
    const origin = req.headers.origin;
    if (
      method !== "GET" &&
      method !== "HEAD" &&
      origin !== undefined &&
      origin !== `http://${req.headers.host ?? ""}`
    ) {
      req.resume();
      return this.send(
        res,
        403,
        adminError(
          "OL1033",
          `cross-origin ${method} refused: the request comes from ${origin}, not from this admin endpoint`,
        ),
      );
    }
    if (!this.authorized(req)) {
      req.resume();
      return this.send(
        res,
        401,
        adminError("OL1017", "the admin endpoint needs Authorization: Bearer <token> (ONELOG_ADMIN_TOKEN)"),
        { "www-authenticate": 'Bearer realm="onelog admin"' },
      );
    }
    let parts: string[];
    try {
      parts = path.split("/").slice(1).map(decodeURIComponent);
    } catch {
      throw new AdminError(400, "OL1021", `cannot decode the path ${path}`);
    }
    const [first, second, third] = parts;

    // A cluster: a request about one invocation or key goes to its partition's leader.
    const partition = this.cluster === undefined ? undefined : this.partitionAddressed(method, parts);
    if (partition !== undefined) {
      const answer = await this.cluster!.forward(req, await readBody(req), partition);
      if (answer !== undefined) {
        const bytes = Buffer.from(answer.body, "base64");
        res.writeHead(answer.status, { ...answer.headers, "content-length": bytes.length });
        res.end(bytes);
        return;
      }
    }

    if (first === "invocations" && second !== undefined && third !== undefined && parts.length === 3) {
      if (method !== "PATCH" && method !== "POST") {
        throw this.methodNotAllowed("PATCH, POST", path);
      }
      if (third === "restart-as-new") return this.restartAsNew(res, second);
      return this.operate(res, second, third);
    }
    if (first === "invocations" && second !== undefined && parts.length === 2 && method === "DELETE") {
      return this.operate(res, second, url.searchParams.get("mode") ?? "cancel");
    }
    if (path === "/deployments" && method === "POST")
      return this.registerDeployment(req, res, url.searchParams);
    if (first === "deployments" && second !== undefined && parts.length === 2 && method === "DELETE") {
      return this.removeDeployment(res, second, url.searchParams.get("force") === "true");
    }
    if (first === "state" && second !== undefined && third !== undefined && parts.length === 3) {
      if (method === "GET") return this.getState(res, second, third);
      if (method === "PATCH") return this.patchState(req, res, second, third, url.searchParams);
      throw this.methodNotAllowed("GET, PATCH", path);
    }
    if (path === "/query") {
      if (method !== "POST") throw this.methodNotAllowed("POST", path);
      return this.query(req, res);
    }
    if (method !== "GET") throw this.methodNotAllowed("GET", path);
    const registry = this.registry!;
    if (path === "/stats") return this.stats(res);
    if (path === "/metrics") {
      if (this.options.metrics === undefined) throw new AdminError(404, "OL1012", "metrics are not enabled");
      const { contentType, body } = await this.options.metrics.text();
      res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    // A cluster: what another node registered a moment ago is listed too (deployments.ts, 6).
    if (first === "services" || first === "deployments") {
      try {
        await this.options.engine.remote?.deployments.sync();
      } catch (e) {
        // Not a 500: the registry is fine, this node cannot read it now (JetStream away).
        throw new AdminError(
          503,
          "OL1011",
          `the cluster's deployment registry cannot be read now: ${String(e)}`,
        );
      }
    }
    if (path === "/services") return this.send(res, 200, { services: registry.services });
    if (first === "services" && second !== undefined && parts.length === 2) {
      const service = registry.service(second);
      if (service === undefined) throw new AdminError(404, "OL1001", `unknown service ${second}`);
      return this.send(res, 200, service);
    }
    if (path === "/deployments") return this.send(res, 200, { deployments: registry.deployments });
    if (first === "deployments" && second !== undefined && parts.length === 2) {
      const d = registry.deployment(second);
      if (d === undefined) throw new AdminError(404, "OL1012", `unknown deployment ${second}`);
      return this.send(res, 200, d);
    }
    if (path === "/invocations") return this.listInvocations(res, url.searchParams);
    if (first === "invocations" && second !== undefined && parts.length === 2) {
      return this.describeInvocation(res, second);
    }
    throw new AdminError(404, "OL1012", `no such path: ${path}`);
  }

  /**
   * The partition a request is about, when it is about one invocation or one key and its method
   * is one the path takes; undefined otherwise. Bad ids and unknown services throw their 4xx here,
   * before anything is forwarded.
   */
  private partitionAddressed(method: string, parts: readonly string[]): number | undefined {
    const [first, second, third] = parts;
    const partitions = this.options.engine.partitions;
    if (first === "invocations" && second !== undefined) {
      const ok =
        parts.length === 2
          ? method === "GET" || method === "DELETE"
          : parts.length === 3 && (method === "PATCH" || method === "POST");
      return ok ? partitionOf(this.checkedId(second), partitions) : undefined;
    }
    if (first === "state" && second !== undefined && third !== undefined && parts.length === 3) {
      if (method !== "GET" && method !== "PATCH") return undefined;
      this.keyedService(second);
      return partitionOfKey(second, third, partitions);
    }
    return undefined;
  }

  private methodNotAllowed(allow: string, path: string): AdminError {
    return new AdminError(405, "OL1007", `${path} takes ${allow}`);
  }

  private async health(res: ServerResponse): Promise<void> {
    const partitions = await Promise.all(
      this.options.engine.processors.map(async (p) => ({
        partition: p.partition,
        leader: p.isLeader,
        leader_epoch: p.leaderEpoch,
        failed: p.failed,
        applied_lsn: p.appliedLsn,
        tail_lsn: (await this.options.log.findTail(p.partition)).tailLsn,
      })),
    );
    const nodes = this.options.clusterNodes;
    if (nodes !== undefined) {
      // A cluster node with the node channel: a partition is well when some live node holds its
      // lease, and, when that is this node, its processor has not failed.
      const listed = partitions.map((p) => ({ ...p, leader_node: nodes.leaderOf(p.partition) ?? null }));
      const ok = listed.every((p) => p.leader_node !== null && !(p.leader_node === nodes.node && p.failed));
      this.send(res, ok ? 200 : 503, {
        status: ok ? "ok" : "unavailable",
        node: nodes.node,
        partitions: listed,
      });
      return;
    }
    // One process leads every partition.
    const ok = partitions.every((p) => p.leader);
    this.send(res, ok ? 200 : 503, { status: ok ? "ok" : "unavailable", partitions });
  }

  private stats(res: ServerResponse): void {
    const log = this.options.log.stats;
    this.send(res, 200, {
      log:
        log === undefined
          ? null
          : { commits: log.commits, records: log.records, max_records_per_commit: log.maxRecordsPerCommit },
      partitions: this.options.engine.processors.map((p) => ({
        partition: p.partition,
        applied_lsn: p.appliedLsn,
        batches: p.stats.batches,
        records: p.stats.records,
        store_errors: p.storeErrors,
        running_attempts: p.runningAttempts,
      })),
    });
  }

  private checkedId(id: string): string {
    if (!isInvocationId(id))
      throw new AdminError(400, "OL1013", `${JSON.stringify(id)} is not an invocation id`);
    return id;
  }

  private async operate(res: ServerResponse, rawId: string, mode: string): Promise<void> {
    if (!OPERATIONS.has(mode as Operation)) {
      throw new AdminError(
        404,
        "OL1012",
        `no such path: the operation must be cancel, kill, purge, pause or resume, not ${mode}`,
      );
    }
    const id = this.checkedId(rawId);
    const status = this.options.engine.statusOf(id);
    if (status === undefined) throw new AdminError(404, "OL1008", `invocation ${id} not found`);
    const refused = refusal(mode as Operation, status.state);
    if (refused !== undefined)
      throw new AdminError(
        409,
        "OL1023",
        `cannot ${mode} invocation ${id}: it is ${status.state}; ${refused}`,
      );
    try {
      await this.options.engine.operate(mode as Operation, id);
    } catch (e) {
      throw new AdminError(503, "OL1011", String(e));
    }
    this.send(res, 202, { invocation_id: id, operation: mode });
  }

  /**
   * `GET /invocations`: one page, newest first, with filters (status, service, handler, key,
   * since, until), `limit` (default 100) and `cursor` (the previous page's `next_cursor`);
   * `counts=true` adds the number of invocations per status under the same filters.
   */
  private async listInvocations(res: ServerResponse, params: URLSearchParams): Promise<void> {
    const status = params.get("status") ?? undefined;
    if (status !== undefined && !STATES.has(status)) {
      throw new AdminError(400, "OL1024", `status must be one of ${[...STATES].join(", ")}, not ${status}`);
    }
    const limitText = params.get("limit") ?? "100";
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new AdminError(400, "OL1024", `limit must be an integer from 1 to 10000, not ${limitText}`);
    }
    const text = (name: string) => {
      const v = params.get(name);
      return v === null || v === "" ? undefined : v;
    };
    const since = timeParam(params, "since");
    const until = timeParam(params, "until");
    const cursor = text("cursor");
    const after = cursor === undefined ? undefined : parseCursor(cursor);
    const filter: InvocationFilter = {
      ...(status === undefined ? {} : { status }),
      ...optional("service", text("service")),
      ...optional("handler", text("handler")),
      ...optional("key", text("key")),
      ...optional("since", since),
      ...optional("until", until),
      ...optional("after", after),
    };
    if (this.cluster !== undefined) {
      const page = await this.cluster.list(filter, limit, params.get("counts") === "true");
      return this.send(res, 200, {
        invocations: page.rows,
        next_cursor: page.next === undefined ? null : `${page.next.createdAt}:${page.next.id}`,
        ...(page.counts === undefined ? {} : { counts: page.counts }),
      });
    }
    const page = this.sql!.invocations(filter, limit);
    this.send(res, 200, {
      invocations: page.rows,
      next_cursor: page.next === undefined ? null : `${page.next.createdAt}:${page.next.id}`,
      ...(params.get("counts") === "true" ? { counts: this.sql!.invocationCounts(filter) } : {}),
    });
  }

  private describeInvocation(res: ServerResponse, rawId: string): void {
    const id = this.checkedId(rawId);
    const status = this.options.engine.statusOf(id);
    if (status === undefined) throw new AdminError(404, "OL1008", `invocation ${id} not found`);
    this.send(res, 200, describeInvocation(status, this.sql!.journal(id), this.sql!.journalMeta(id)));
  }

  private keyedService(service: string): void {
    const s = this.options.engine.services.get(service);
    if (s === undefined) throw new AdminError(404, "OL1001", `unknown service ${service}`);
    if (s.kind === "service") {
      throw new AdminError(400, "OL1003", `${service} is a service: only objects and workflows have state`);
    }
  }

  private stateOf(service: string, key: string): Record<string, ShownValue> {
    return Object.fromEntries(this.sql!.state(service, key).map(([name, value]) => [name, showBytes(value)]));
  }

  /** The version of a key's state as committed (state-version.ts), for optimistic edits. */
  private versionOf(service: string, key: string): string {
    return stateVersion(this.sql!.state(service, key));
  }

  private getState(res: ServerResponse, service: string, key: string): void {
    this.keyedService(service);
    const version = this.versionOf(service, key);
    this.send(
      res,
      200,
      { service, key, version, state: this.stateOf(service, key) },
      { etag: `"${version}"` },
    );
  }

  /**
   * `PATCH /invocations/{id}/restart-as-new` (Restate's path): a new invocation of the same
   * target with the same input and headers (not its idempotency key, which would only find this
   * one), from a completed invocation whose journal is still kept. 200 `{ new_invocation_id }`.
   */
  private async restartAsNew(res: ServerResponse, rawId: string): Promise<void> {
    const id = this.checkedId(rawId);
    const engine = this.options.engine;
    const status = engine.statusOf(id);
    if (status === undefined) throw new AdminError(404, "OL1008", `invocation ${id} not found`);
    const refuse = (why: string) =>
      new AdminError(409, "OL1023", `cannot restart invocation ${id} as new: ${why}`);
    if (status.state !== "completed")
      throw refuse(`it is ${status.state}; only completed invocations restart`);
    if (status.handlerKind === "workflow") throw refuse("a workflow's run runs once per workflow id");
    const input = this.sql!.journal(id)[0];
    if (input?.type !== "input") throw refuse("its journal (and so its input) is no longer kept");
    if (engine.handler(status.target.service, status.target.handler) === undefined) {
      throw refuse(`${status.target.service}/${status.target.handler} is not registered`);
    }
    let sent;
    try {
      sent = await engine.send({ target: status.target, argument: input.argument, headers: input.headers });
    } catch (e) {
      throw new AdminError(503, "OL1011", String(e));
    }
    this.send(res, 200, { new_invocation_id: sent.invocationId });
  }

  /** The deployments registry, or a 409 when this engine invokes no remote deployments. */
  private remote() {
    const remote = this.options.engine.remote;
    if (remote === undefined) {
      throw new AdminError(
        409,
        "OL1023",
        "this engine has no remote deployments (it was started without them)",
      );
    }
    return remote;
  }

  /**
   * `POST /deployments {"uri", "force"?, "use_http_11"?, "additional_headers"?}`: discovery, then
   * registration (Restate's request and answer shapes). 201 with the deployment's id and services.
   */
  private async registerDeployment(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<void> {
    const remote = this.remote();
    const body = parseJson(await readBody(req));
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new AdminError(
        400,
        "OL1003",
        'the body must be a JSON object, e.g. {"uri": "http://127.0.0.1:9080"}',
      );
    }
    const b = body as Record<string, unknown>;
    if (typeof b.uri !== "string" || b.uri === "") {
      throw new AdminError(
        400,
        "OL1003",
        'the body needs "uri": the deployment\'s base URL, e.g. "http://127.0.0.1:9080"',
      );
    }
    for (const flag of ["force", "use_http_11", "dry_run"]) {
      if (b[flag] !== undefined && typeof b[flag] !== "boolean") {
        throw new AdminError(400, "OL1003", `"${flag}" must be true or false`);
      }
    }
    const headers = b.additional_headers;
    if (
      headers !== undefined &&
      (headers === null ||
        typeof headers !== "object" ||
        Array.isArray(headers) ||
        Object.values(headers).some((v) => typeof v !== "string"))
    ) {
      throw new AdminError(
        400,
        "OL1003",
        '"additional_headers" must be an object of header names to strings',
      );
    }
    if (b.dry_run === true) throw new AdminError(400, "OL1003", '"dry_run" is not supported by onelog');
    const force = b.force === true || query.get("force") === "true";
    let registered;
    try {
      registered = await remote.deployments.discoverAndRegister(remote.client, {
        uri: b.uri,
        force,
        useHttp11: b.use_http_11 === true,
        additionalHeaders: (headers ?? {}) as Record<string, string>,
      });
    } catch (e) {
      if (e instanceof DeploymentConflictError) throw new AdminError(409, e.code, e.message);
      if (e instanceof DiscoveryError) throw new AdminError(400, e.code, e.message);
      throw e;
    }
    const d = registered.deployment;
    if (registered.created || force) {
      this.options.logger?.info(
        { deploymentId: d.id, uri: d.uri },
        `registered deployment ${d.id} at ${d.uri}`,
      );
    }
    const registry = this.registry!;
    // As Restate: 201 for a new deployment, 200 for one already registered (replaced with force).
    this.send(res, registered.created ? 201 : 200, {
      id: d.id,
      services: d.manifest.services.map((s) => registry.service(s.name)),
      min_protocol_version: d.minProtocolVersion,
      max_protocol_version: d.maxProtocolVersion,
    });
  }

  /** `DELETE /deployments/{id}[?force=true]`: 202; its services are no longer invoked until registered again. */
  private async removeDeployment(res: ServerResponse, id: string, force: boolean): Promise<void> {
    const remote = this.remote();
    let removed: boolean;
    try {
      removed = await remote.deployments.remove(id, force);
    } catch (e) {
      if (e instanceof DeploymentConflictError) throw new AdminError(409, e.code, e.message);
      throw e;
    }
    if (!removed) {
      const embedded = this.registry!.deployment(id) !== undefined;
      throw new AdminError(
        embedded ? 409 : 404,
        embedded ? "OL1023" : "OL1012",
        embedded
          ? `deployment ${id} is this process's own handlers; it cannot be removed`
          : `unknown deployment ${id}`,
      );
    }
    this.options.logger?.info({ deploymentId: id }, `removed deployment ${id}`);
    this.send(res, 202, {});
  }

  private async patchState(
    req: IncomingMessage,
    res: ServerResponse,
    service: string,
    key: string,
    query: URLSearchParams,
  ): Promise<void> {
    this.keyedService(service);
    const body = parseJson(await readBody(req));
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new AdminError(
        400,
        "OL1003",
        'the body must be a JSON object of state names to values, e.g. {"count": 5, "note": null} (null deletes)',
      );
    }
    const changes = Object.entries(body as Record<string, unknown>).map(([name, value]) => {
      if (name === "") throw new AdminError(400, "OL1003", "a state name cannot be empty");
      return { name, value: value === null ? null : new Uint8Array(Buffer.from(JSON.stringify(value))) };
    });
    if (changes.length === 0) throw new AdminError(400, "OL1003", "the body names no state to change");
    // Read just before the patch is appended: while it applies no exclusive handler holds the
    // key (apply refuses the patch then), so only another admin patch could come in between.
    const before = this.stateOf(service, key);
    // Optimistic versioning: If-Match (an ETag of GET /state) or ?version=; checked by apply.
    const ifMatch = req.headers["if-match"]?.replace(/^W\//, "").replace(/"/g, "").trim();
    const expected = ifMatch || query.get("version") || undefined;
    const result = await this.options.engine.patchState(service, key, changes, expected);
    if ("err" in result) {
      if (result.err.code === 412) throw new AdminError(412, "OL1040", result.err.message);
      throw new AdminError(409, "OL1020", result.err.message);
    }
    const state = this.stateOf(service, key);
    const version = this.versionOf(service, key);
    // One entry per name: what it was, what it is now, and in a word what happened, so that a
    // deleted name cannot be read as lost state (docs/admin.md#state).
    const changed = changes.map(({ name }) => {
      const was = before[name];
      const now = state[name];
      const action =
        now === undefined
          ? was === undefined
            ? "absent"
            : "deleted"
          : was === undefined
            ? "created"
            : "updated";
      return {
        name,
        action,
        ...(was === undefined ? {} : { before: was }),
        ...(now === undefined ? {} : { after: now }),
      };
    });
    this.send(res, 200, { service, key, version, changes: changed, state }, { etag: `"${version}"` });
  }

  private async query(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (await readBody(req)).toString("utf8");
    let sql: string;
    let params: unknown[] = [];
    if ((req.headers["content-type"] ?? "").includes("json")) {
      const body = parseJson(Buffer.from(text)) as { query?: unknown; params?: unknown } | null;
      if (body === null || typeof body !== "object" || typeof body.query !== "string") {
        throw new AdminError(400, "OL1003", 'the body must be {"query": "SELECT …"} (params optional)');
      }
      if (body.params !== undefined && !Array.isArray(body.params)) {
        throw new AdminError(400, "OL1003", "params must be an array");
      }
      sql = body.query;
      params = (body.params as unknown[] | undefined) ?? [];
    } else {
      sql = text;
    }
    const result =
      this.cluster === undefined
        ? await this.runner!.query(sql, params)
        : await this.cluster.query(sql, params);
    this.send(res, 200, result);
  }
}

/** `{ [name]: value }`, or nothing when the value is undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(name: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [k in K]?: V };
}

/** A time parameter: ms since the epoch, or an ISO 8601 date; undefined when absent. */
function timeParam(params: URLSearchParams, name: string): number | undefined {
  const text = params.get(name);
  if (text === null || text === "") return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    throw new AdminError(
      400,
      "OL1024",
      `${name} must be a time: ms since the epoch or ISO 8601 (2025-01-31T12:00:00Z), not ${text}`,
    );
  }
  return ms;
}

/** A `next_cursor` of GET /invocations: `<created_at ms>:<id>`. */
function parseCursor(text: string): InvocationCursor {
  const m = /^(\d+):(inv_[0-9A-Za-z]+)$/.exec(text);
  if (m === null) {
    throw new AdminError(400, "OL1024", `cursor must be a next_cursor of GET /invocations, not ${text}`);
  }
  return { createdAt: Number(m[1]), id: m[2]! };
}

/** Bodies already read (a request checked for forwarding is read before its handler runs). */
const bodies = new WeakMap<IncomingMessage, Buffer>();

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const read = bodies.get(req);
  if (read !== undefined) return read;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new AdminError(413, "OL1004", `the body is larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  bodies.set(req, body);
  return body;
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new AdminError(
      400,
      "OL1003",
      `the body is not JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}
