// Proves POST /query answers SQL over the introspection views (sys_invocation, sys_journal, state, sys_inbox, sys_promise, sys_service, sys_deployment) with rows that match invocations, state and promises this test created through the ingress, and refuses every statement that could write (400 OL1019) without changing anything — on a real onelog.start() with a temp data dir.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import * as onelog from "onelog";
import { SqlIntrospection } from "../../packages/onelog/src/internal/ops/sql.js";
import { Registry } from "../../packages/onelog/src/internal/http/registry.js";
import { eventually, http, query, removeTmpDirs, startServer } from "./admin-harness.js";

const published = new Map<string, string>();

const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
    nap: async (ctx: onelog.Context, name: string) => {
      await ctx.run("before nap", () => name.toUpperCase());
      await ctx.sleep({ minutes: 30 });
      return name;
    },
    fail: async () => {
      throw new onelog.TerminalError("no such user", { errorCode: 404 });
    },
  },
});

const counter = onelog.object({
  name: "Counter",
  handlers: {
    add: async (ctx: onelog.ObjectContext, n: number) => {
      const v = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", v);
      return v;
    },
    raw: async (ctx: onelog.ObjectContext) => {
      ctx.set("blob", new Uint8Array([0xff, 0xfe]), onelog.serde.binary);
    },
    hold: async (ctx: onelog.ObjectContext) => {
      const a = ctx.awakeable<string>();
      await ctx.run("publish", () => void published.set(`hold/${ctx.key}`, a.id));
      return a.promise;
    },
  },
});

const approval = onelog.workflow({
  name: "Approval",
  handlers: {
    run: async (ctx: onelog.WorkflowContext) => ctx.promise<string>("decision").get(),
    decide: onelog.handlers.workflow.shared(async (ctx: onelog.WorkflowSharedContext, d: string) => {
      await ctx.promise<string>("decision").resolve(d);
    }),
  },
});

let server: onelog.OnelogServer;
let admin: string;
let ingress: string;
const ids: Record<string, string> = {};

before(async () => {
  server = await startServer([greeter, counter, approval]);
  admin = server.adminUrl!;
  ingress = server.ingressUrl;
  const greet = await http("POST", `${ingress}/Greeter/greet`, '"Ada"', { "idempotency-key": "sql-1" });
  assert.equal(greet.status, 200);
  ids.greet = greet.headers.get("x-restate-id")!;
  const failed = await http("POST", `${ingress}/Greeter/fail`, '""', { "idempotency-key": "sql-2" });
  assert.equal(failed.status, 404);
  ids.fail = failed.headers.get("x-restate-id") ?? "";
  ids.nap = (await http("POST", `${ingress}/Greeter/nap/send`, '"zz"')).body.invocationId;
  assert.equal((await http("POST", `${ingress}/Counter/k/add`, "5")).body, 5);
  assert.equal((await http("POST", `${ingress}/Counter/k/raw`)).status, 200);
  ids.hold = (await http("POST", `${ingress}/Counter/busy/hold/send`)).body.invocationId;
  await eventually("the holder runs", () => published.get("hold/busy"));
  ids.inboxed = (await http("POST", `${ingress}/Counter/busy/add/send`, "1")).body.invocationId;
  ids.approval = (await http("POST", `${ingress}/Approval/a1/run/send`)).body.invocationId;
  assert.equal((await http("POST", `${ingress}/Approval/a1/decide`, '"yes"')).status, 200);
  assert.equal((await http("GET", `${ingress}/restate/workflow/Approval/a1/attach`)).body, "yes");
  await eventually("the nap's sleep is journaled", async () => {
    const rows = await query(admin, "SELECT count(*) AS n FROM sys_journal WHERE id = ?", [ids.nap]);
    return rows[0].n >= 3;
  });
});

after(async () => {
  await server?.stop();
  removeTmpDirs();
});

describe("sql: sys_invocation", () => {
  it("a completed idempotent call: target, status, result, key, timestamps, retentions and its kept journal", async () => {
    const [row] = await query(admin, "SELECT * FROM sys_invocation WHERE id = ?", [ids.greet]);
    assert.equal(row.target, "Greeter/greet");
    assert.equal(row.target_service_name, "Greeter");
    assert.equal(row.target_service_key, null);
    assert.equal(row.target_handler_name, "greet");
    assert.equal(row.target_service_ty, "service");
    assert.equal(row.handler_kind, "service");
    assert.equal(row.status, "completed");
    assert.equal(row.completion_result, "success");
    assert.equal(row.completion_failure, null);
    assert.equal(row.idempotency_key, "sql-1");
    assert.equal(row.retry_count, 0);
    assert.equal(row.attempt_epoch, 1);
    // Kept for history (docs/admin.md#history): input, the step and its result.
    assert.equal(row.journal_size, 3);
    assert.equal(row.journal_commands_size, 2);
    assert.equal(row.completion_value_utf8, '"hello Ada"');
    assert.equal(row.invoked_by, "ingress");
    assert.equal(row.invoked_by_id, null);
    assert.equal(row.completion_retention, "1d");
    assert.equal(row.journal_retention, "1d");
    const journal = await query(
      admin,
      'SELECT "index", entry_type, name, attempt, appended_at FROM sys_journal WHERE id = ? ORDER BY "index"',
      [ids.greet],
    );
    assert.deepEqual(
      journal.map((j) => [j.index, j.entry_type, j.name, j.attempt]),
      [
        [0, "input", null, null],
        [1, "run", "compose", 1],
        [2, "completion", null, 1],
      ],
    );
    for (const j of journal) assert.ok(Math.abs(Date.parse(j.appended_at) - Date.now()) < 3_600_000);
    for (const at of ["created_at", "modified_at", "completed_at"]) {
      assert.match(row[at], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(row[at]) - Date.now()) < 3_600_000, `${at} is about now`);
    }
  });

  it("a terminal failure shows its code and message", async () => {
    const [row] = await query(
      admin,
      "SELECT status, completion_result, completion_failure FROM sys_invocation WHERE id = ?",
      [ids.fail],
    );
    assert.deepEqual(row, {
      status: "completed",
      completion_result: "failure",
      completion_failure: "[404] no such user",
    });
  });

  it("a running or suspended one, an object's locked key and its inboxed invocation", async () => {
    const rows = await query(
      admin,
      "SELECT id, status, target, target_service_key, target_service_ty FROM sys_invocation WHERE id IN (?, ?, ?) ORDER BY target",
      [ids.nap, ids.hold, ids.inboxed],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.ok(["invoked", "suspended"].includes(byId.get(ids.nap).status));
    assert.ok(["invoked", "suspended"].includes(byId.get(ids.hold).status));
    assert.deepEqual(byId.get(ids.inboxed), {
      id: ids.inboxed,
      status: "inboxed",
      target: "Counter/busy/add",
      target_service_key: "busy",
      target_service_ty: "virtual_object",
    });
  });

  it("counts by status agree with the invocations made", async () => {
    const rows = await query(
      admin,
      "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status ORDER BY status",
    );
    const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    assert.equal(counts.inboxed, 1);
    // Every completed one is kept for history: 2 Greeter calls, 2 Counter calls, the workflow's 2.
    assert.equal(counts.completed, 6);
    assert.equal((counts.invoked ?? 0) + (counts.suspended ?? 0), 2);
  });
});

describe("sql: sys_journal", () => {
  it("the entries of a running invocation, in order, with names and JSON", async () => {
    const rows = await query(
      admin,
      'SELECT "index", entry_type, name, sleep_wakeup_at, entry_json FROM sys_journal WHERE id = ? ORDER BY "index"',
      [ids.nap],
    );
    assert.deepEqual(
      rows.map((r) => [r.index, r.entry_type, r.name]),
      [
        [0, "input", null],
        [1, "run", "before nap"],
        [2, "completion", null],
        [3, "sleep", null],
      ],
    );
    assert.deepEqual(JSON.parse(rows[0].entry_json).argument, { json: '"zz"' });
    // The step's result is the notification of the Run command's completion id.
    assert.equal(JSON.parse(rows[2].entry_json).completion_id, JSON.parse(rows[1].entry_json).completion_id);
    assert.deepEqual(JSON.parse(rows[2].entry_json).value, { ok: { json: '"ZZ"' } });
    assert.ok(Date.parse(rows[3].sleep_wakeup_at) > Date.now());
  });
});

describe("sql: state, sys_inbox, sys_promise", () => {
  it("state rows: JSON values as text, binary ones only as bytes (base64 in the answer)", async () => {
    const rows = await query(
      admin,
      "SELECT service_name, service_key, key, value_utf8, value FROM state WHERE service_name = 'Counter' AND service_key = 'k' ORDER BY key",
    );
    assert.deepEqual(rows, [
      {
        service_name: "Counter",
        service_key: "k",
        key: "blob",
        value_utf8: null,
        value: Buffer.from([0xff, 0xfe]).toString("base64"),
      },
      {
        service_name: "Counter",
        service_key: "k",
        key: "count",
        value_utf8: "5",
        value: Buffer.from("5").toString("base64"),
      },
    ]);
  });

  it("sys_inbox lists the invocation waiting for the key's lock", async () => {
    const rows = await query(admin, "SELECT service_name, service_key, id, sequence_number FROM sys_inbox");
    assert.deepEqual(rows, [
      { service_name: "Counter", service_key: "busy", id: ids.inboxed, sequence_number: 1 },
    ]);
  });

  it("sys_promise shows a workflow's completed durable promise", async () => {
    const rows = await query(admin, "SELECT * FROM sys_promise WHERE service_name = 'Approval'");
    assert.deepEqual(rows, [
      {
        service_name: "Approval",
        service_key: "a1",
        key: "decision",
        completed: 1,
        completion_success_value: Buffer.from('"yes"').toString("base64"),
        completion_success_value_utf8: '"yes"',
        completion_failure: null,
        waiters: 0,
      },
    ]);
  });
});

describe("sql: sys_service and sys_deployment", () => {
  it("list the registry: services with their type, and the one embedded deployment", async () => {
    const services = await query(
      admin,
      "SELECT name, ty, handlers, public, deployment_id FROM sys_service ORDER BY name",
    );
    assert.deepEqual(
      services.map((s) => [s.name, s.ty, s.handlers, s.public]),
      [
        ["Approval", "workflow", 2, 1],
        ["Counter", "virtual_object", 3, 1],
        ["Greeter", "service", 3, 1],
      ],
    );
    const deployments = await query(admin, "SELECT * FROM sys_deployment");
    assert.equal(deployments.length, 1);
    assert.equal(deployments[0].ty, "embedded");
    assert.equal(deployments[0].services, 3);
    assert.ok(services.every((s) => s.deployment_id === deployments[0].id));
  });

  it("views join: invocations per service type", async () => {
    const rows = await query(
      admin,
      "SELECT s.ty, count(i.id) AS n FROM sys_service s LEFT JOIN sys_invocation i ON i.target_service_name = s.name GROUP BY s.ty ORDER BY s.ty",
    );
    assert.deepEqual(rows, [
      { ty: "service", n: 3 },
      { ty: "virtual_object", n: 4 },
      { ty: "workflow", n: 2 },
    ]);
  });
});

describe("sql: only reads run", () => {
  it("refuses statements that write or change the connection, with 400 OL1019, and changes nothing", async () => {
    const before = await query(admin, "SELECT count(*) AS n FROM state");
    for (const sql of [
      "DELETE FROM state",
      "DELETE FROM main.state",
      "UPDATE main.state SET value = x'00'",
      "INSERT INTO sys_service VALUES ('x', 'service', 1, 1, 'd', 0)",
      "WITH x AS (SELECT 1) DELETE FROM sys_service",
      "DROP VIEW sys_invocation",
      "CREATE TABLE t (a)",
      "PRAGMA query_only = 0",
      "ATTACH '/tmp/x.db' AS x",
      "SELECT 1; DELETE FROM state",
      "/* hidden */ DELETE FROM state",
      "",
    ]) {
      const r = await http("POST", `${admin}/query`, { query: sql });
      assert.equal(r.status, 400, `${sql}: ${r.text}`);
      assert.equal(r.body.onelog_code, "OL1019", sql);
    }
    assert.deepEqual(await query(admin, "SELECT count(*) AS n FROM state"), before);
    assert.equal((await query(admin, "SELECT count(*) AS n FROM sys_service"))[0].n, 3);
  });

  it("bad SQL is a 400 with SQLite's message; parameters and a plain-text body work", async () => {
    const bad = await http("POST", `${admin}/query`, { query: "SELECT * FROM no_such_view" });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /no such table: no_such_view/);
    assert.deepEqual(await query(admin, "SELECT ? + ? AS n", [2, 3]), [{ n: 5 }]);
    const text = await http("POST", `${admin}/query`, "SELECT 'plain' AS body", {
      "content-type": "text/plain",
    });
    assert.deepEqual(text.body.rows, [{ body: "plain" }]);
    const notJson = await http("POST", `${admin}/query`, "{", { "content-type": "application/json" });
    assert.equal(notJson.status, 400);
  });

  it("stops at maxRows and says the answer was truncated", () => {
    const sql = SqlIntrospection.open({
      storePath: path.join(server.dataDir, "store.db"),
      registry: new Registry(server.engine, Date.now()),
      maxRows: 2,
    });
    try {
      const r = sql.query("SELECT id FROM sys_invocation");
      assert.equal(r.rows.length, 2);
      assert.equal(r.truncated, true);
      assert.equal(sql.query("SELECT id FROM sys_invocation LIMIT 2").truncated, false);
    } finally {
      sql.close();
    }
  });
});

describe("sql: queries run off the engine's thread", () => {
  it("a long query does not stall invocations, is stopped at the time limit, and the next query runs", async () => {
    const greeter = onelog.service({
      name: "Quick",
      handlers: { hi: async (_ctx: onelog.Context, n: number) => n + 1 },
    });
    const server = await startServer([greeter], { queryTimeoutMs: 1_500 });
    try {
      const heavy = http("POST", `${server.adminUrl}/query`, {
        query: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c",
      });
      // While the scan runs on the worker, the engine's thread serves invocations.
      let served = 0;
      let pending = true;
      void heavy.finally(() => (pending = false));
      while (pending && served < 20) {
        const r = await http("POST", `${server.ingressUrl}/Quick/hi`, "1", {
          "content-type": "application/json",
        });
        assert.equal(r.body, 2);
        served++;
      }
      assert.ok(served >= 5, `only ${served} calls were served while the query ran`);
      const stopped = await heavy;
      assert.equal(stopped.status, 400, stopped.text);
      assert.match(stopped.body.message, /ran longer than 1500 ms and was stopped/);
      const next = await query(server.adminUrl!, "SELECT count(*) AS n FROM sys_invocation");
      assert.equal(typeof next[0].n, "number");
    } finally {
      await server.stop();
    }
  });
});
