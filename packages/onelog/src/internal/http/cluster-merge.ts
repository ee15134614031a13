/**
 * How the admin endpoint of a cluster node combines the answers of every node into the answer
 * one node holding every partition would give (docs/admin.md#in-a-cluster). Pure functions: the
 * node channel and the stores are elsewhere (admin.ts, cluster-admin.ts).
 *
 * Every node answers for the partitions it leads and says which, with the leader epoch it leads
 * them with. Invariants:
 * 1. Each partition's rows and counts come from exactly one node, its owner: the node claiming
 *    it with the highest epoch (two nodes claim one only while leadership moves, and the newer
 *    epoch is the current leader). A partition nobody claims is `uncovered`, and the caller must
 *    not answer as if it were complete.
 * 2. A merged listing page is what one node would list: newest first (creation time, then id),
 *    `limit` rows, and a next cursor exactly when rows may remain.
 */
import type { GatheredView, GatheredViewName } from "../ops/sql.js";
import { decodeCell, type GatheredTable } from "../ops/sql-cluster.js";
import { partitionOf } from "../partition/ids.js";

/** A partition a node says it leads, with its epoch. */
export interface PartitionClaim {
  readonly partition: number;
  readonly epoch: number;
}

/**
 * Invariant 1: the owner of each partition among the nodes' claims, and the partitions no node
 * claims (sorted).
 *
 * @example
 * owners(new Map([["a", [{ partition: 0, epoch: 3 }]], ["b", [{ partition: 0, epoch: 5 }]]]), 2);
 * // { owner: Map { 0 => "b" }, uncovered: [1] }
 */
export function owners(
  claims: ReadonlyMap<string, readonly PartitionClaim[]>,
  partitions: number,
): { owner: Map<number, string>; uncovered: number[] } {
  const best = new Map<number, { node: string; epoch: number }>();
  for (const [node, list] of claims) {
    for (const { partition, epoch } of list) {
      if (!Number.isInteger(partition) || partition < 0 || partition >= partitions) continue;
      const b = best.get(partition);
      if (b === undefined || epoch > b.epoch || (epoch === b.epoch && node < b.node)) {
        best.set(partition, { node, epoch });
      }
    }
  }
  const owner = new Map([...best].map(([p, b]) => [p, b.node]));
  const uncovered: number[] = [];
  for (let p = 0; p < partitions; p++) if (!owner.has(p)) uncovered.push(p);
  return { owner, uncovered };
}

/**
 * Invariants 1 (sql-cluster.ts 2) and sql-cluster.ts 3: each view's rows from every node, keeping
 * only the rows of partitions the node owns, at most `maxRows` per view; `truncated` when a view
 * had more (on a node, or in all).
 */
export function combineGathered(
  answers: ReadonlyMap<string, Readonly<Record<string, GatheredView>>>,
  owner: ReadonlyMap<number, string>,
  views: readonly GatheredViewName[],
  maxRows: number,
): { tables: Record<string, GatheredTable>; truncated: boolean } {
  const tables: Record<string, GatheredTable> = {};
  let truncated = false;
  for (const view of views) {
    let columns: readonly string[] | undefined;
    const rows: unknown[][] = [];
    for (const [node, gathered] of answers) {
      const g = gathered[view];
      if (g === undefined) continue;
      columns ??= g.columns.slice(1);
      if (g.more) truncated = true;
      for (const row of g.rows) {
        if (owner.get(Number(decodeCell(row[0]))) !== node) continue;
        if (rows.length >= maxRows) {
          truncated = true;
          break;
        }
        rows.push(row.slice(1));
      }
    }
    if (columns !== undefined) tables[view] = { columns, rows };
  }
  return { tables, truncated };
}

/** One node's listing page: at most limit + 1 rows after the cursor, newest first. */
export interface NodePage {
  readonly node: string;
  /** sys_invocation listing rows (`id` and `created_at` as ISO text are what the merge reads). */
  readonly rows: readonly Record<string, unknown>[];
}

/** A place in the listing: creation time (ms) and id; the cursor of the next page. */
export interface ListingKey {
  readonly createdAt: number;
  readonly id: string;
}

const keyOf = (row: Record<string, unknown>): ListingKey => ({
  createdAt: Date.parse(String(row.created_at)),
  id: String(row.id),
});

/** Negative when `a` comes first in the listing (newer, or as new with a greater id). */
function compare(a: ListingKey, b: ListingKey): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Invariant 2: one page of the whole cluster's listing from the nodes' pages (each fetched with
 * `limit + 1` rows after the same cursor), keeping only rows of partitions the node owns.
 *
 * A node's page with `limit + 1` rows is complete only down to its last row; rows beyond it were
 * not fetched. So the merged page never goes past the earliest such last row: with rows dropped
 * (a partition two nodes claimed) it may end early, with a next cursor, but it never skips one.
 */
export function mergeInvocationPages(
  pages: readonly NodePage[],
  owner: ReadonlyMap<number, string>,
  partitions: number,
  limit: number,
): { rows: Record<string, unknown>[]; next: ListingKey | undefined } {
  let horizon: ListingKey | undefined;
  const kept: { row: Record<string, unknown>; key: ListingKey }[] = [];
  for (const page of pages) {
    if (page.rows.length > limit) {
      const last = keyOf(page.rows[page.rows.length - 1]!);
      if (horizon === undefined || compare(last, horizon) < 0) horizon = last;
    }
    for (const row of page.rows) {
      if (owner.get(partitionOf(String(row.id), partitions)) === page.node)
        kept.push({ row, key: keyOf(row) });
    }
  }
  kept.sort((a, b) => compare(a.key, b.key));
  const within = horizon === undefined ? kept : kept.filter((k) => compare(k.key, horizon) <= 0);
  if (within.length > limit) {
    return { rows: within.slice(0, limit).map((k) => k.row), next: within[limit - 1]!.key };
  }
  return {
    rows: within.map((k) => k.row),
    next: horizon === undefined ? undefined : (within[within.length - 1]?.key ?? horizon),
  };
}

/** Invariant 1: the counts by status of every node, each partition from its owner only. */
export function sumCounts(
  byNode: ReadonlyMap<string, Readonly<Record<string, Readonly<Record<string, number>>>>>,
  owner: ReadonlyMap<number, string>,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [node, byPartition] of byNode) {
    for (const [partition, byState] of Object.entries(byPartition)) {
      if (owner.get(Number(partition)) !== node) continue;
      for (const [state, n] of Object.entries(byState)) counts[state] = (counts[state] ?? 0) + n;
    }
  }
  return counts;
}
