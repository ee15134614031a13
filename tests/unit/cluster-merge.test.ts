// Proves the merge of a cluster's admin answers on its own (http/cluster-merge.ts, ops/sql-cluster.ts): a partition's rows come from the node claiming it with the highest epoch and unclaimed ones are named; merged listing pages walk a random cluster's invocations exactly as one sorted listing would (checked against the sorted whole for many random splits, limits and duplicate claims); counts sum per owner; gathered rows keep their SQLite types and SQL over them (aggregates, GROUP BY, ORDER BY/LIMIT, joins) equals SQL over one database holding every row; the views a statement reads are found outside strings and comments.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import {
  combineGathered,
  mergeInvocationPages,
  owners,
  sumCounts,
  type ListingKey,
} from "../../packages/onelog/src/internal/http/cluster-merge.js";
import {
  decodeCell,
  encodeCell,
  queryGathered,
  viewsRead,
} from "../../packages/onelog/src/internal/ops/sql-cluster.js";
import { partitionOf } from "../../packages/onelog/src/internal/partition/ids.js";

const registry = { version: 1, services: [], deployments: [] };

/** A tiny deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (r: () => number, n: number) =>
  Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");

void describe("owners", () => {
  void it("takes the highest epoch for a partition claimed twice and names the unclaimed", () => {
    const { owner, uncovered } = owners(
      new Map([
        [
          "a",
          [
            { partition: 0, epoch: 3 },
            { partition: 2, epoch: 9 },
          ],
        ],
        [
          "b",
          [
            { partition: 0, epoch: 5 },
            { partition: 7, epoch: 1 },
          ],
        ],
      ]),
      4,
    );
    assert.deepEqual([...owner].sort(), [
      [0, "b"],
      [2, "a"],
    ]);
    assert.deepEqual(uncovered, [1, 3]);
  });
});

void describe("mergeInvocationPages", () => {
  const P = 6;
  const iso = (ms: number) => new Date(ms).toISOString();
  const cmp = (a: ListingKey, b: ListingKey) =>
    a.createdAt !== b.createdAt ? b.createdAt - a.createdAt : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;

  void it("walks every invocation once, in the listing's order, for random splits and duplicate claims", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = prng(seed);
      // Invocations with few distinct times, so ties by id matter.
      const all = Array.from({ length: Math.floor(r() * 60) }, () => {
        const id = `inv_${hex(r, 40)}`;
        return { id, created_at: iso(1_700_000_000_000 + Math.floor(r() * 8)), p: partitionOf(id, P) };
      });
      const expected = [...all]
        .sort((a, b) =>
          cmp(
            { createdAt: Date.parse(a.created_at), id: a.id },
            { createdAt: Date.parse(b.created_at), id: b.id },
          ),
        )
        .map((x) => x.id);
      // Three nodes; each partition's owner, and some partitions also claimed (with a lower
      // epoch) by another node that still has the rows.
      const nodes = ["a", "b", "c"];
      const owner = new Map<number, string>();
      const holds = new Map<string, Set<number>>(nodes.map((n) => [n, new Set<number>()]));
      for (let p = 0; p < P; p++) {
        const o = nodes[Math.floor(r() * 3)]!;
        owner.set(p, o);
        holds.get(o)!.add(p);
        if (r() < 0.3) holds.get(nodes[Math.floor(r() * 3)]!)!.add(p);
      }
      const limit = 1 + Math.floor(r() * 9);
      const walked: string[] = [];
      let cursor: ListingKey | undefined;
      for (let pages = 0; pages < 200; pages++) {
        const nodePages = nodes.map((node) => ({
          node,
          rows: all
            .filter((x) => holds.get(node)!.has(x.p))
            .filter(
              (x) =>
                cursor === undefined || cmp({ createdAt: Date.parse(x.created_at), id: x.id }, cursor) > 0,
            )
            .sort((a, b) =>
              cmp(
                { createdAt: Date.parse(a.created_at), id: a.id },
                { createdAt: Date.parse(b.created_at), id: b.id },
              ),
            )
            .slice(0, limit + 1)
            .map(({ id, created_at }) => ({ id, created_at })),
        }));
        const page = mergeInvocationPages(nodePages, owner, P, limit);
        assert.ok(page.rows.length <= limit);
        walked.push(...page.rows.map((x) => String(x.id)));
        if (page.next === undefined) break;
        cursor = page.next;
      }
      assert.deepEqual(walked, expected, `seed ${seed}`);
    }
  });

  void it("says there is no next page exactly when the listing ended", () => {
    // Newest first, as a node lists them.
    const rows = [2, 1, 0].map((i) => ({ id: `inv_${"0".repeat(39)}${i}`, created_at: iso(1000 + i) }));
    const owner = new Map([[0, "a"]]);
    assert.equal(mergeInvocationPages([{ node: "a", rows }], owner, 1, 3).next, undefined);
    const two = mergeInvocationPages([{ node: "a", rows }], owner, 1, 2);
    assert.deepEqual(
      two.rows.map((x) => x.id),
      [rows[0]!.id, rows[1]!.id],
    );
    assert.deepEqual(two.next, { createdAt: 1001, id: rows[1]!.id });
  });
});

void describe("sumCounts", () => {
  void it("sums each partition's counts from its owner only", () => {
    const owner = new Map([
      [0, "a"],
      [1, "b"],
    ]);
    const counts = sumCounts(
      new Map([
        ["a", { 0: { completed: 2, invoked: 1 }, 1: { completed: 100 } }],
        ["b", { 1: { completed: 3 } }],
      ]),
      owner,
    );
    assert.deepEqual(counts, { completed: 5, invoked: 1 });
  });
});

void describe("SQL over gathered rows", () => {
  void it("keeps every cell's SQLite type across the trip", () => {
    const db = new Database(":memory:");
    const row = db
      .prepare(
        "SELECT 1 AS i, 9007199254740993 AS big, 2.5 AS r, 3.0 AS whole, x'00ff' AS b, 'é' AS t, NULL AS n",
      )
      .raw(true)
      .safeIntegers(true)
      .get() as unknown[];
    const decoded = JSON.parse(JSON.stringify(row.map(encodeCell))).map(decodeCell) as unknown[];
    const back = db
      .prepare(
        "SELECT typeof(?) || typeof(?) || typeof(?) || typeof(?) || typeof(?) || typeof(?) || typeof(?) AS t, ? AS big, ? AS b",
      )
      .safeIntegers(true)
      .get(...decoded, decoded[1], decoded[4]) as { t: string; big: bigint; b: Buffer };
    assert.equal(back.t, "integerintegerrealrealblobtextnull");
    assert.equal(back.big, 9007199254740993n);
    assert.deepEqual([...back.b], [0, 255]);
    db.close();
  });

  void it("answers as one database holding every row: aggregates, GROUP BY, ORDER BY … LIMIT, joins", () => {
    const r = prng(7);
    const P = 4;
    // One database with everything, as a single node would have.
    const whole = new Database(":memory:");
    whole.exec(`CREATE TABLE sys_invocation (id, partition, status, target_service_name, created_at);
                CREATE TABLE sys_journal (id, "index", entry_type)`);
    const inv = whole.prepare("INSERT INTO sys_invocation VALUES (?, ?, ?, ?, ?)");
    const jr = whole.prepare("INSERT INTO sys_journal VALUES (?, ?, ?)");
    for (let k = 0; k < 200; k++) {
      const id = `inv_${hex(r, 40)}`;
      inv.run(
        id,
        partitionOf(id, P),
        r() < 0.7 ? "completed" : "suspended",
        r() < 0.5 ? "A" : "B",
        new Date(1e12 + k * 7).toISOString(),
      );
      for (let j = 0; j < Math.floor(r() * 4); j++) jr.run(id, j, r() < 0.5 ? "run" : "input");
    }
    // Two nodes' gathers: node a leads partitions 0, 1; node b 2, 3 — and b also still claims 1
    // with an older epoch and has its rows (they must not count twice).
    const gather = (view: string, partitionExpr: string, parts: number[]) => {
      const stmt = whole
        .prepare(
          `SELECT ${partitionExpr} AS __partition, * FROM ${view} WHERE ${partitionExpr} IN (${parts.join(",")})`,
        )
        .raw(true)
        .safeIntegers(true);
      return {
        columns: stmt.columns().map((c) => c.name),
        rows: (stmt.all() as unknown[][]).map((x) => x.map(encodeCell)),
        more: false,
      };
    };
    whole.function("pid", (id: unknown) => partitionOf(String(id), P));
    const share = (parts: number[]) => ({
      sys_invocation: gather("sys_invocation", "partition", parts),
      sys_journal: gather("sys_journal", "CAST(pid(id) AS INTEGER)", parts),
    });
    const answers = new Map([
      ["a", JSON.parse(JSON.stringify(share([0, 1])))],
      ["b", JSON.parse(JSON.stringify(share([1, 2, 3])))],
    ]);
    const { owner } = owners(
      new Map([
        [
          "a",
          [
            { partition: 0, epoch: 5 },
            { partition: 1, epoch: 5 },
          ],
        ],
        [
          "b",
          [
            { partition: 1, epoch: 2 },
            { partition: 2, epoch: 4 },
            { partition: 3, epoch: 4 },
          ],
        ],
      ]),
      P,
    );
    const views = ["sys_invocation", "sys_journal"] as const;
    const { tables, truncated } = combineGathered(answers, owner, views, 10_000);
    assert.equal(truncated, false);
    for (const sql of [
      "SELECT count(*) AS n FROM sys_invocation",
      "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status ORDER BY status",
      "SELECT id FROM sys_invocation ORDER BY created_at DESC, id DESC LIMIT 9",
      `SELECT i.target_service_name AS s, count(*) AS runs FROM sys_invocation i JOIN sys_journal j ON j.id = i.id
       WHERE j.entry_type = 'run' GROUP BY 1 ORDER BY 1`,
      `SELECT max("index") AS m, count(DISTINCT id) AS ids FROM sys_journal`,
    ]) {
      const expected = whole.prepare(sql).all();
      const got = queryGathered({ tables, registry, sql, params: [], maxRows: 10_000 });
      assert.deepEqual(got.rows, expected, sql);
    }
    // Bounded: fewer rows gathered than there are says truncated.
    assert.equal(combineGathered(answers, owner, views, 50).truncated, true);
    whole.close();
  });

  void it("finds the views a statement reads, outside strings and comments", () => {
    assert.deepEqual(viewsRead("SELECT count(*) FROM sys_invocation i JOIN Sys_Journal j USING (id)"), [
      "sys_invocation",
      "sys_journal",
    ]);
    assert.deepEqual(viewsRead(`SELECT 'sys_journal' -- state\n /* sys_promise */ FROM "state"`), ["state"]);
    assert.deepEqual(viewsRead("SELECT * FROM sys_service"), []);
    assert.deepEqual(viewsRead("SELECT * FROM [sys_inbox], `sys_promise`"), ["sys_inbox", "sys_promise"]);
  });

  void it("refuses a write on gathered tables as on the store", () => {
    assert.throws(
      () => queryGathered({ tables: {}, registry, sql: "DELETE FROM sys_service", params: [], maxRows: 10 }),
      /only read-only/,
    );
  });
});
