// Proves every field name onelog's tools show is snake_case (/^[a-z0-9_]+$/) — every key of every admin GET answer (each path docs/admin.md lists), of the PATCH and error answers, of `onelog … --json`, every column of each sys_* view and every key of the JSON text those columns hold — while user data (state names, header names, payloads) is shown as given: handlers with invocations in every status write deliberately non-snake user data, and a walker checks every key except those of the maps that are user data by their place.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as onelog from "onelog";
import { eventually, http, query, removeTmpDirs, startServer } from "./admin-harness.js";
import { cli, ROOT } from "./cli-harness.js";

const SNAKE = /^[a-z0-9_]+$/;

/** A path into a JSON value; `*` matches any key or array index. */
type Pattern = readonly string[];

const matches = (pattern: Pattern, at: readonly string[]) =>
  pattern.length === at.length && pattern.every((p, i) => p === "*" || p === at[i]);

/**
 * The paths of every key in `value` that is not snake_case. The keys of an object at one of the
 * `userKeyed` paths are user data and are not checked; what they hold is.
 */
function nonSnakeKeys(value: unknown, userKeyed: readonly Pattern[], at: string[] = []): string[] {
  const bad: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => bad.push(...nonSnakeKeys(v, userKeyed, [...at, String(i)])));
  } else if (value !== null && typeof value === "object") {
    const userData = userKeyed.some((p) => matches(p, at));
    for (const [k, v] of Object.entries(value)) {
      if (!userData && !SNAKE.test(k)) bad.push([...at, k].join("."));
      bad.push(...nonSnakeKeys(v, userKeyed, [...at, k]));
    }
  }
  return bad;
}

/** Where the admin answers hold maps keyed by user data. */
const STATE: Pattern[] = [["state"]];
const JOURNAL_HEADERS: Pattern[] = [["journal", "*", "fields", "headers"]];

function assertSnake(what: string, value: unknown, userKeyed: readonly Pattern[] = []): void {
  assert.deepEqual(nonSnakeKeys(value, userKeyed), [], `${what}: keys that are not snake_case`);
}

const published = new Map<string, string>();
/** Holds Helper/busy's step until the tests end: an invocation that stays `invoked` in every mode. */
let release!: () => void;
const blocker = new Promise<void>((r) => (release = r));

const helper = onelog.service({
  name: "Helper",
  handlers: {
    echo: async (_ctx: onelog.Context, v: unknown) => v,
    busy: async (ctx: onelog.Context) => ctx.run("block", () => blocker),
    refuse: async () => {
      throw new onelog.TerminalError("refused", { errorCode: 404 });
    },
    // Backing off for 30 s after its first failure: a next retry time and a last failure.
    flaky: onelog.handlers.handler({ retryPolicy: { initialInterval: { seconds: 30 } } }, async () => {
      throw new Error("not yet");
    }),
    // Paused after its one attempt.
    once: onelog.handlers.handler({ retryPolicy: { maxAttempts: 1, onMaxAttempts: "pause" } }, async () => {
      throw new Error("broken");
    }),
  },
});

// The user data is camelCase and has dashes on purpose: it must come back as given.
const shop = onelog.object({
  name: "Shop",
  handlers: {
    // A call with headers, a delayed send, state, then a wait: it suspends at once (and holds the
    // key, so a second visit is inboxed).
    visit: onelog.handlers.object.exclusive(
      { inactivityTimeout: 0 },
      async (ctx: onelog.ObjectContext, v: { lastItem: string }) => {
        ctx.set("lastSeen", v);
        await ctx
          .serviceClient(helper)
          .echo(v, onelog.rpc.opts({ headers: { "X-Request-Source": "shopFront" } }));
        ctx.serviceSendClient(helper).echo(v, onelog.rpc.sendOpts({ delay: { hours: 1 } }));
        const a = ctx.awakeable<string>();
        await ctx.run("publish", () => void published.set(`visit/${ctx.key}`, a.id));
        return a.promise;
      },
    ),
  },
});

const approval = onelog.workflow({
  name: "Approval",
  handlers: {
    run: async (ctx: onelog.WorkflowContext) => ctx.promise<unknown>("decisionMade").get(),
    decide: onelog.handlers.workflow.shared(async (ctx: onelog.WorkflowSharedContext, d: unknown) => {
      await ctx.promise<unknown>("decisionMade").resolve(d);
    }),
  },
});

let server: onelog.OnelogServer;
let admin: string;
let ingress: string;
const ids: Record<string, string> = {};

const status = async (id: string) => (await http("GET", `${admin}/invocations/${id}`)).body.status;

before(async () => {
  server = await startServer([helper, shop, approval]);
  admin = server.adminUrl!;
  ingress = server.ingressUrl;
  const send = async (p: string, body: string, key?: string) => {
    const r = await http(
      "POST",
      `${ingress}${p}/send`,
      body,
      key === undefined ? {} : { "idempotency-key": key },
    );
    assert.equal(r.status, 202, r.text);
    return r.body.invocationId as string;
  };
  const visit = await send("/Shop/k1/visit", '{"lastItem":"mugCup"}');
  ids.visit = visit;
  await eventually("the visit waits", async () => (await status(visit)) === "suspended");
  ids.inboxed = await send("/Shop/k1/visit", '{"lastItem":"teaPot"}');
  ids.echo = await send("/Helper/echo", '{"someKey":1}', "echo-1");
  ids.refuse = await send("/Helper/refuse", '""', "refuse-1");
  ids.flaky = await send("/Helper/flaky", '""');
  ids.once = await send("/Helper/once", '""');
  ids.waiting = await send("/Approval/a1/run", '""');
  ids.busy = await send("/Helper/busy", '""');
  ids.decided = await send("/Approval/a2/run", '""');
  assert.equal((await http("POST", `${ingress}/Approval/a2/decide`, '{"approvedBy":"someOne"}')).status, 200);
  for (const [name, want] of [
    ["inboxed", "inboxed"],
    ["echo", "completed"],
    ["refuse", "completed"],
    ["flaky", "backing-off"],
    ["once", "paused"],
    ["decided", "completed"],
    ["busy", "invoked"],
  ] as const) {
    const id = ids[name]!;
    await eventually(`${id} is ${want}`, async () => (await status(id)) === want);
  }
  const scheduled = await http("GET", `${admin}/invocations?status=scheduled`);
  assert.equal(scheduled.body.invocations.length, 1, "the visit's delayed send is scheduled");
});

after(async () => {
  release();
  await server?.stop();
  removeTmpDirs();
});

describe("snake_case: the checker", () => {
  it("finds a non-snake key at any depth, and skips only the keys of user-keyed maps", () => {
    assert.deepEqual(
      nonSnakeKeys(
        { ok_key: [{ fooBar: 1 }], state: { myName: { Json: "x", json: '{"innerKey":1}' } } },
        STATE,
      ),
      ["ok_key.0.fooBar", "state.myName.Json"],
    );
    assert.deepEqual(nonSnakeKeys({ "content-type": "x" }, []), ["content-type"]);
  });
});

describe("snake_case: the admin API", () => {
  it("every GET path docs/admin.md lists answers snake_case JSON (user data excepted)", async () => {
    const walked = new Set<string>();
    const get = async (template: string, p: string, userKeyed: readonly Pattern[] = []) => {
      const r = await http("GET", `${admin}${p}`);
      assert.equal(r.status, 200, `GET ${p}: ${r.text}`);
      assertSnake(`GET ${p}`, r.body, userKeyed);
      walked.add(template);
      return r.body;
    };
    await get("/health", "/health");
    await get("/stats", "/stats");
    const services = await get("/services", "/services");
    for (const s of services.services) await get("/services/{name}", `/services/${s.name}`);
    const deployments = await get("/deployments", "/deployments");
    await get("/deployments/{id}", `/deployments/${deployments.deployments[0].id}`);
    const listed = await get("/invocations?status=&service=&limit=", "/invocations?limit=1000");
    const statuses = new Set<string>();
    for (const row of listed.invocations) {
      const d = await get("/invocations/{id}", `/invocations/${row.id}`, JOURNAL_HEADERS);
      statuses.add(d.status);
    }
    assert.deepEqual(
      [...statuses].sort(),
      ["backing-off", "completed", "inboxed", "invoked", "paused", "scheduled", "suspended"],
      "an invocation in every status was described",
    );
    const visit = await get("/invocations/{id}", `/invocations/${ids.visit}`, JOURNAL_HEADERS);
    const call = visit.journal.find((e: any) => e.type === "call");
    assert.equal(call.fields.headers["X-Request-Source"], "shopFront", "header names are shown as given");
    const state = await get("/state/{service}/{key}", "/state/Shop/k1", STATE);
    assert.deepEqual(Object.keys(state.state), ["lastSeen"], "state names are shown as given");

    // The paths table's GET rows (Prometheus text at /metrics is not JSON).
    const doc = fs.readFileSync(path.join(ROOT, "docs/admin.md"), "utf8");
    const documented = [...doc.matchAll(/^\| GET +\|(.*?)\|/gm)].flatMap((m) =>
      [...m[1]!.matchAll(/`([^`]+)`/g)].map((p) => p[1]!),
    );
    assert.ok(documented.length >= 9, `found the GET rows of docs/admin.md: ${documented.join(" ")}`);
    assert.deepEqual(
      documented.filter((p) => p !== "/metrics" && !walked.has(p)),
      [],
      "every documented GET path was walked",
    );
  });

  it("PATCH answers and error bodies are snake_case too", async () => {
    const patched = await http("PATCH", `${admin}/state/Shop/k2`, { favouriteThing: { deepKey: 1 } });
    assert.equal(patched.status, 200, patched.text);
    assertSnake("PATCH /state", patched.body, STATE);
    assert.deepEqual(Object.keys(patched.body.state), ["favouriteThing"]);
    const operated = await http("PATCH", `${admin}/invocations/${ids.flaky}/pause`);
    assert.equal(operated.status, 202, operated.text);
    assertSnake("PATCH /invocations/{id}/pause", operated.body);
    assert.deepEqual(operated.body, { invocation_id: ids.flaky, operation: "pause" });
    const missing = await http("GET", `${admin}/invocations/inv_${"0".repeat(40)}`);
    assert.equal(missing.status, 404);
    assertSnake("a 404", missing.body);
  });
});

describe("snake_case: the SQL views", () => {
  // Columns of user payloads: their text is the user's JSON, not ours.
  const USER_VALUES = new Set(["value_utf8", "completion_success_value_utf8"]);

  for (const view of [
    "sys_invocation",
    "sys_journal",
    "state",
    "sys_inbox",
    "sys_promise",
    "sys_service",
    "sys_deployment",
  ]) {
    it(`${view}: snake_case columns, and snake_case keys in the JSON text they hold`, async () => {
      const rows = await query(admin, `SELECT * FROM ${view}`);
      assert.ok(rows.length > 0, `${view} has rows to check`);
      for (const row of rows) {
        assertSnake(`${view} columns`, row);
        for (const [column, cell] of Object.entries(row)) {
          if (USER_VALUES.has(column) || typeof cell !== "string" || !/^[[{]/.test(cell)) continue;
          let json: unknown;
          try {
            json = JSON.parse(cell);
          } catch {
            continue; // `[404] refused` and the like
          }
          assertSnake(`${view}.${column}`, json, [["headers"]]);
        }
      }
    });
  }
});

describe("snake_case: onelog --json", () => {
  it("invocations ls and describe, state get and services ls print snake_case JSON", async () => {
    const runs: [string[], Pattern[]][] = [
      [["invocations", "ls"], []],
      [["invocations", "describe", ids.visit!], JOURNAL_HEADERS],
      [["state", "get", "Shop", "k1"], STATE],
      [["services", "ls"], []],
    ];
    for (const [args, userKeyed] of runs) {
      const r = await cli(["--admin-url", admin, "--json", ...args]);
      assert.equal(r.code, 0, r.stderr);
      assertSnake(`onelog --json ${args.join(" ")}`, JSON.parse(r.stdout), userKeyed);
    }
  });
});
