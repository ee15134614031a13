/**
 * The admin endpoint of a cluster node answering for the whole cluster (docs/admin.md#in-a-cluster),
 * over the node channel (cluster-nodes.ts):
 *
 * - `POST /query` and `GET /invocations` ask every live node for its share — the rows of the
 *   partitions it leads — and combine them (cluster-merge.ts, sql-cluster.ts);
 * - a request about one invocation or one key is forwarded to the node leading its partition,
 *   which replays it against its own admin endpoint; its answer is returned unchanged.
 *
 * Invariants:
 * 1. A node answers only for the partitions whose processor leads them here
 *    (`engine.leads(p)`): never from a follower's copy, so answers stay right when a
 *    node keeps a current store only for what it leads.
 * 2. An answer covers every partition, or is a 503 (OL1050) naming the partitions no answer
 *    covered and the nodes that did not answer: never partial data presented as whole.
 * 3. A forwarded request is forwarded once: the leader answers it itself, or 503 when it no
 *    longer leads the partition, and the asking node tries again (briefly) with the new leader.
 */
import type { IncomingMessage } from "node:http";
import type { ClusterNodes, NodeAnswers } from "../cluster-nodes.js";
import { NodeRequestError } from "../cluster-nodes.js";
import type { Engine } from "../engine.js";
import type {
  GatheredView,
  GatheredViewName,
  InvocationFilter,
  QueryResult,
  SqlIntrospection,
} from "../ops/sql.js";
import { GATHERED_VIEWS } from "../ops/sql.js";
import { viewsRead } from "../ops/sql-cluster.js";
import type { SqlRunner } from "../ops/sql-runner.js";
import { AdminError } from "./admin-error.js";
import {
  combineGathered,
  mergeInvocationPages,
  owners,
  sumCounts,
  type ListingKey,
  type PartitionClaim,
} from "./cluster-merge.js";

/** How long a forwarded request may take, asked and replayed (ClusterAdminOptions.forwardTimeoutMs). */
const DEFAULT_FORWARD_TIMEOUT_MS = 30_000;
/** The header a forwarded request carries: the node that forwarded it (invariant 3). */
export const FORWARDED_HEADER = "onelog-forwarded-from";
/** Marks a forwarded request's 503 from a node that no longer leads the partition (retried). */
const NOT_LEADER_HEADER = "onelog-not-leader";
/** Headers a forwarded request keeps; the rest are the asking node's business. */
const FORWARDED_HEADERS = ["authorization", "content-type", "if-match", "accept"] as const;
/** Headers of the leader's answer that are returned with it. */
const ANSWER_HEADERS = ["content-type", "etag", "www-authenticate"] as const;

/** What the asking node sends over the node channel. */
type NodeRequest =
  | { readonly type: "gather"; readonly views: readonly GatheredViewName[]; readonly maxRows: number }
  | {
      readonly type: "list";
      readonly filter: InvocationFilter;
      readonly limit: number;
      readonly counts: boolean;
    }
  | {
      readonly type: "http";
      readonly method: string;
      readonly target: string;
      readonly headers: Record<string, string>;
      readonly body: string;
    };

/** A node's share: the partitions it leads (invariant 1) and what it has of them. */
interface Share {
  readonly partitions: readonly PartitionClaim[];
}
interface GatherShare extends Share {
  readonly views: Readonly<Record<string, GatheredView>>;
}
interface ListShare extends Share {
  readonly rows: Record<string, unknown>[];
  readonly counts?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The leader's answer to a forwarded request. */
export interface ForwardedAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** base64 */
  readonly body: string;
}

/** Options of {@link ClusterAdmin}. */
export interface ClusterAdminOptions {
  readonly nodes: ClusterNodes;
  readonly engine: Engine;
  readonly sql: SqlIntrospection;
  readonly runner: SqlRunner;
  /** This admin endpoint's own URL, for forwarded requests (known once it listens). */
  readonly selfUrl: () => string | undefined;
  /** How long a node has to gather its rows for one query (the query timeout). */
  readonly gatherTimeoutMs: number;
  /** Most rows of one view gathered from the whole cluster for one query. */
  readonly maxGatherRows: number;
  /** How long a forwarded request may take: the asking node waits that long, and the leading node replays it for as long (default 30 s). */
  readonly forwardTimeoutMs?: number;
}

/** See the header. */
export class ClusterAdmin {
  constructor(private readonly o: ClusterAdminOptions) {}

  /** Starts answering other nodes; returns the function that stops it. */
  serve(): () => void {
    return this.o.nodes.serve((body) => this.answer(body as NodeRequest));
  }

  /** Invariant 1: the partitions this node leads now, with their epochs. */
  led(): PartitionClaim[] {
    return this.o.engine.processors.flatMap((p) =>
      p?.isLeader === true ? [{ partition: p.partition, epoch: p.leaderEpoch }] : [],
    );
  }

  leads(partition: number): boolean {
    return this.o.engine.leads(partition);
  }

  /** What another node (or this one) asks. */
  private async answer(req: NodeRequest): Promise<unknown> {
    switch (req?.type) {
      case "gather": {
        const views = (req.views ?? []).filter((v) => v in GATHERED_VIEWS);
        const partitions = this.led();
        const gathered = await this.o.runner.gather(
          views,
          partitions.map((p) => p.partition),
          req.maxRows,
        );
        return { partitions, views: gathered } satisfies GatherShare;
      }
      case "list": {
        const partitions = this.led();
        const filter: InvocationFilter = { ...req.filter, partitions: partitions.map((p) => p.partition) };
        // limit + 1 rows: the merge needs to know whether this node has more (cluster-merge.ts 2).
        const page = this.o.sql.invocations(filter, req.limit + 1);
        return {
          partitions,
          rows: page.rows,
          ...(req.counts ? { counts: this.o.sql.invocationCountsByPartition(filter) } : {}),
        } satisfies ListShare;
      }
      case "http":
        return this.replay(req);
      default:
        throw new Error(`unknown node request ${JSON.stringify((req as { type?: unknown })?.type)}`);
    }
  }

  /** Asks every live node; invariant 2: the owner of every partition, or a 503. */
  private async askAll<T extends Share>(
    body: NodeRequest,
    timeoutMs: number,
  ): Promise<{ answers: Map<string, T>; owner: Map<number, string> }> {
    let gathered: NodeAnswers;
    try {
      gathered = await this.o.nodes.requestMany(body, { timeoutMs });
    } catch (e) {
      throw new AdminError(503, "OL1050", `the cluster's nodes cannot be asked now: ${String(e)}`);
    }
    const answers = gathered.answers as Map<string, T>;
    const { owner, uncovered } = owners(
      new Map([...answers].map(([node, a]) => [node, a.partitions])),
      this.o.engine.partitions,
    );
    if (uncovered.length > 0) {
      const missing = gathered.missing.map((m) => `${m.node} (${m.failure}: ${m.message})`);
      throw new AdminError(
        503,
        "OL1050",
        `no answer covers partition${uncovered.length === 1 ? "" : "s"} ${uncovered.join(", ")}: ` +
          (missing.length > 0
            ? `node${missing.length === 1 ? "" : "s"} ${missing.join("; ")} did not answer`
            : "no node leads them now (leadership is moving)") +
          "; nothing is answered rather than a part of the cluster's data — try again",
      );
    }
    return { answers, owner };
  }

  /**
   * `POST /query` for the whole cluster (sql-cluster.ts): the rows of the views the statement
   * reads, from every partition's leader, then the statement over them on this node's worker.
   */
  async query(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    this.o.sql.check(sql);
    const views = viewsRead(sql);
    let tables = {};
    let truncated = false;
    if (views.length > 0) {
      const maxRows = this.o.maxGatherRows;
      const { answers, owner } = await this.askAll<GatherShare>(
        { type: "gather", views, maxRows },
        this.o.gatherTimeoutMs,
      );
      ({ tables, truncated } = combineGathered(
        new Map([...answers].map(([node, a]) => [node, a.views])),
        owner,
        views,
        maxRows,
      ));
    }
    const result = await this.o.runner.queryTables(sql, params, tables);
    return { rows: result.rows, truncated: result.truncated || truncated };
  }

  /** `GET /invocations` for the whole cluster: the nodes' pages merged, their counts summed. */
  async list(
    filter: InvocationFilter,
    limit: number,
    counts: boolean,
  ): Promise<{
    rows: Record<string, unknown>[];
    next: ListingKey | undefined;
    counts?: Record<string, number>;
  }> {
    const { answers, owner } = await this.askAll<ListShare>(
      { type: "list", filter, limit, counts },
      this.o.gatherTimeoutMs,
    );
    const merged = mergeInvocationPages(
      [...answers].map(([node, a]) => ({ node, rows: a.rows })),
      owner,
      this.o.engine.partitions,
      limit,
    );
    return {
      ...merged,
      ...(counts
        ? { counts: sumCounts(new Map([...answers].map(([n, a]) => [n, a.counts ?? {}])), owner) }
        : {}),
    };
  }

  /**
   * Invariant 3: the answer of the node leading `partition` to this request, or undefined when
   * this node leads it (answer here). A request forwarded here for a partition this node does not
   * lead is a 503, which the forwarding node retries.
   */
  async forward(req: IncomingMessage, body: Buffer, partition: number): Promise<ForwardedAnswer | undefined> {
    const nodes = this.o.nodes;
    if (this.leads(partition)) return undefined;
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      throw new AdminError(
        503,
        "OL1050",
        `node ${nodes.node} does not lead partition ${partition} now (it moved while the request was forwarded); try again`,
        { [NOT_LEADER_HEADER]: "1" },
      );
    }
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers[h];
      if (typeof v === "string") headers[h] = v;
    }
    const request: NodeRequest = {
      type: "http",
      method: req.method ?? "GET",
      target: req.url ?? "/",
      headers,
      body: body.toString("base64"),
    };
    // Leadership may be moving: ask whoever holds the lease, for a little while.
    const until = Date.now() + 3000;
    let why = "";
    for (;;) {
      if (this.leads(partition)) return undefined;
      const leader = nodes.leaderOf(partition);
      if (leader === undefined) why = `no node holds partition ${partition}'s lease now`;
      else if (leader === nodes.node)
        why = `this node holds partition ${partition}'s lease but does not lead it yet`;
      else {
        try {
          const answer = (await nodes.request(leader, request, {
            timeoutMs: this.o.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS,
          })) as ForwardedAnswer;
          if (answer.status !== 503 || !answer.headers[NOT_LEADER_HEADER]) return answer;
          why = `node ${leader} no longer leads partition ${partition}`;
        } catch (e) {
          why = `partition ${partition}'s leader ${e instanceof NodeRequestError ? e.message : String(e)}`;
          if (e instanceof NodeRequestError && e.failure === "timeout") break;
        }
      }
      if (Date.now() >= until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new AdminError(503, "OL1050", `${why}; try again`);
  }

  /**
   * A forwarded request, replayed against this node's own admin endpoint (invariant 3). It has
   * the forward timeout, as the asking node does: it never outlives the question (the asker,
   * having given up, answers 503 OL1050; a replay that times out fails as an unreachable node).
   */
  private async replay(req: Extract<NodeRequest, { type: "http" }>): Promise<ForwardedAnswer> {
    const url = this.o.selfUrl();
    if (url === undefined) throw new Error(`node ${this.o.nodes.node}'s admin endpoint is not listening`);
    const body = Buffer.from(req.body, "base64");
    const timeoutMs = this.o.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await fetch(new URL(req.target, url), {
        method: req.method,
        headers: { ...req.headers, [FORWARDED_HEADER]: "1" },
        ...(body.byteLength === 0 || req.method === "GET" || req.method === "HEAD" ? {} : { body }),
        signal,
      });
      const headers: Record<string, string> = {};
      for (const h of [...ANSWER_HEADERS, NOT_LEADER_HEADER]) {
        const v = res.headers.get(h);
        if (v !== null) headers[h] = v;
      }
      return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()).toString("base64") };
    } catch (e) {
      if (!signal.aborted) throw e;
      throw new Error(
        `node ${this.o.nodes.node}'s admin endpoint did not answer a forwarded ${req.method} ${req.target} within ${timeoutMs} ms`,
      );
    }
  }
}
