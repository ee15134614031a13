// Proves the admin HTTP API answers what an operator needs — services and handlers with their options, the one embedded deployment, invocation lists and descriptions with the decoded journal, state read and patched through the log (refused while the key is locked), bearer-token protection, and the refusal to listen beyond loopback without a token — by running real handlers in onelog.start() on temp data dirs and calling the admin endpoint over HTTP.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as onelog from "onelog";
import { eventually, http, removeTmpDirs, startServer, tmpDir } from "./admin-harness.js";

const published = new Map<string, string>();

const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) => ctx.run("compose", () => `hello ${name}`),
    // Binary in, a JSON step, then a long sleep: the journal stays for the describe test.
    digest: onelog.handlers.handler(
      { input: onelog.serde.binary, output: onelog.serde.binary },
      async (ctx: onelog.Context, bytes: Uint8Array) => {
        await ctx.run("measure", () => ({ length: bytes.length }));
        await ctx.sleep({ minutes: 10 });
        return bytes;
      },
    ),
    strict: onelog.handlers.handler(
      {
        retryPolicy: { maxAttempts: 3, onMaxAttempts: "kill", initialInterval: { seconds: 1 } },
        ingressPrivate: true,
      },
      async () => "never called from the ingress",
    ),
  },
});

const account = onelog.object({
  name: "Account",
  handlers: {
    deposit: async (ctx: onelog.ObjectContext, amount: number) => {
      const balance = ((await ctx.get<number>("balance")) ?? 0) + amount;
      ctx.set("balance", balance);
      return balance;
    },
    // Holds the key's lock until its awakeable is resolved.
    hold: async (ctx: onelog.ObjectContext) => {
      const a = ctx.awakeable<string>();
      await ctx.run("publish", () => void published.set(`hold/${ctx.key}`, a.id));
      return a.promise;
    },
    balance: onelog.handlers.object.shared(
      async (ctx: onelog.ObjectSharedContext) => (await ctx.get<number>("balance")) ?? 0,
    ),
  },
});

const signup = onelog.workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: onelog.WorkflowContext, email: string) => {
      ctx.set("email", email);
      return "done";
    },
  },
});

let server: onelog.OnelogServer;
let admin: string;
let ingress: string;

before(async () => {
  server = await startServer([greeter, account, signup]);
  admin = server.adminUrl!;
  ingress = server.ingressUrl;
});

after(async () => {
  await server?.stop();
  removeTmpDirs();
});

describe("admin: the web UI's files", () => {
  it("serves /ui/ (index, app, styles, Preact, hooks, htm) with a strict CSP, from the package, without the token", async () => {
    const guarded = await startServer([greeter], { adminToken: "t0k3n" });
    try {
      const base = guarded.adminUrl!;
      const redirect = await fetch(`${base}/ui`, { redirect: "manual" });
      assert.equal(redirect.status, 308);
      assert.equal(redirect.headers.get("location"), "/ui/");
      const index = await fetch(`${base}/ui/`);
      assert.equal(index.status, 200);
      assert.match(index.headers.get("content-type")!, /^text\/html/);
      assert.match(index.headers.get("content-security-policy")!, /script-src 'self'/);
      assert.match(await index.text(), /<script type="module" src="\/ui\/app.js">/);
      for (const file of ["app.js", "style.css", "vendor/preact.mjs", "vendor/hooks.mjs", "vendor/htm.mjs"]) {
        const r = await fetch(`${base}/ui/${file}`);
        assert.equal(r.status, 200, file);
        const text = await r.text();
        assert.doesNotMatch(text, /sourceMappingURL/, file);
        // Only relative imports: the browser fetches nothing from elsewhere.
        for (const m of text.matchAll(/from\s*"([^"]+)"/g))
          assert.match(m[1]!, /^\.\//, `${file} imports ${m[1]}`);
      }
      assert.notEqual((await fetch(`${base}/ui/%2e%2e/store.db`)).status, 200);
      assert.equal((await fetch(`${base}/ui/nope.js`)).status, 404);
      // The data stays behind the token.
      assert.equal((await fetch(`${base}/invocations`)).status, 401);
    } finally {
      await guarded.stop();
    }
  });
});

describe("admin: services and deployments", () => {
  it("GET /services lists every service with its type and handlers with their resolved options", async () => {
    const r = await http("GET", `${admin}/services`);
    assert.equal(r.status, 200);
    const byName = new Map<string, any>(r.body.services.map((s: any) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), ["Account", "Greeter", "Signup"]);
    assert.equal(byName.get("Greeter").ty, "Service");
    assert.equal(byName.get("Account").ty, "VirtualObject");
    assert.equal(byName.get("Signup").ty, "Workflow");
    const strict = byName.get("Greeter").handlers.find((h: any) => h.name === "strict");
    assert.deepEqual(strict.retry_policy, {
      initial_interval: "1s",
      exponentiation_factor: 2,
      max_interval: "1m",
      max_attempts: 3,
      on_max_attempts: "Kill",
    });
    assert.equal(strict.public, false);
    const digest = byName.get("Greeter").handlers.find((h: any) => h.name === "digest");
    assert.equal(digest.input_content_type, "application/octet-stream");
    assert.equal(digest.ty, null);
    assert.equal(digest.idempotency_retention, "1d");
  });

  it("GET /services/{name} describes one service; an unknown one is 404 OL1001", async () => {
    const r = await http("GET", `${admin}/services/Account`);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.handlers.map((h: any) => [h.name, h.ty]),
      [
        ["deposit", "Exclusive"],
        ["hold", "Exclusive"],
        ["balance", "Shared"],
      ],
    );
    const wf = await http("GET", `${admin}/services/Signup`);
    assert.deepEqual(
      wf.body.handlers.map((h: any) => h.ty),
      ["Workflow"],
    );
    const missing = await http("GET", `${admin}/services/Nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.onelog_code, "OL1001");
  });

  it("GET /deployments shows one embedded deployment listing the services, with the id services name", async () => {
    const r = await http("GET", `${admin}/deployments`);
    assert.equal(r.status, 200);
    assert.equal(r.body.deployments.length, 1);
    const d = r.body.deployments[0];
    assert.equal(d.ty, "embedded");
    assert.equal(d.endpoint, null);
    assert.match(d.id, /^dp_[0-9a-f]+$/);
    assert.deepEqual(d.services.map((s: any) => s.name).sort(), ["Account", "Greeter", "Signup"]);
    const services = await http("GET", `${admin}/services`);
    assert.ok(services.body.services.every((s: any) => s.deployment_id === d.id));
    assert.equal((await http("GET", `${admin}/deployments/${d.id}`)).body.id, d.id);
    assert.equal((await http("GET", `${admin}/deployments/dp_nope`)).status, 404);
  });
});

describe("admin: invocations", () => {
  it("lists invocations newest first, filtered by status and service, limited", async () => {
    for (const name of ["a", "b", "c"]) {
      const r = await http("POST", `${ingress}/Greeter/greet`, JSON.stringify(name), {
        "idempotency-key": `list-${name}`,
      });
      assert.equal(r.status, 200);
    }
    const all = await http("GET", `${admin}/invocations?service=Greeter&status=completed`);
    assert.equal(all.status, 200);
    const keys = all.body.invocations.map((i: any) => i.idempotency_key);
    assert.deepEqual(keys.slice(0, 3), ["list-c", "list-b", "list-a"]);
    assert.ok(
      all.body.invocations.every((i: any) => i.status === "completed" && i.target === "Greeter/greet"),
    );
    const one = await http("GET", `${admin}/invocations?service=Greeter&limit=1`);
    assert.equal(one.body.invocations.length, 1);
    const none = await http("GET", `${admin}/invocations?service=Account&status=completed`);
    assert.deepEqual(none.body.invocations, []);
    const bad = await http("GET", `${admin}/invocations?status=running`);
    assert.equal(bad.status, 400);
    assert.equal((await http("GET", `${admin}/invocations?limit=0`)).status, 400);
  });

  it("pages through completed invocations with next_cursor, filters by handler and time, and counts by status", async () => {
    const since = Date.now() - 1;
    const made: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await http("POST", `${ingress}/Greeter/greet`, JSON.stringify(`page-${i}`));
      assert.equal(r.status, 200);
      made.push(r.headers.get("x-restate-id")!);
    }
    const until = Date.now() + 1;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `handler=greet&since=${since}&until=${new Date(until).toISOString()}&limit=3`;
      const r = await http("GET", `${admin}/invocations?${q}${cursor === null ? "" : `&cursor=${cursor}`}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.invocations.length <= 3);
      seen.push(...r.body.invocations.map((i: any) => i.id));
      for (const i of r.body.invocations) {
        // Completed plain calls are kept, with their result (docs/admin.md#history).
        assert.equal(i.status, "completed");
        assert.equal(i.completion_result, "success");
        assert.match(i.completion_value_utf8, /^"hello page-\d"$/);
      }
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...made].reverse());
    const counted = await http(
      "GET",
      `${admin}/invocations?handler=greet&since=${since}&counts=true&limit=1`,
    );
    assert.deepEqual(counted.body.counts, { completed: 7 });
    assert.equal((await http("GET", `${admin}/invocations?since=yesterday`)).status, 400);
    assert.equal((await http("GET", `${admin}/invocations?cursor=nope`)).status, 400);
    // The ingress answers a completed plain call's output by id while it is kept, as Restate does.
    const out = await http("GET", `${ingress}/restate/invocation/${made[0]}/output`);
    assert.equal(out.status, 200);
    assert.equal(out.body, "hello page-0");
  });

  it("describes an invocation with its decoded journal: JSON values as JSON text, other bytes as base64", async () => {
    const bytes = new Uint8Array([0xff, 0x00, 0x80]);
    // Raw bytes, not a string: fetch would encode a string as UTF-8.
    const res = await fetch(`${ingress}/Greeter/digest/send`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const d = await eventually("the sleep is journaled", async () => {
      const r = await http("GET", `${admin}/invocations/${invocationId}`);
      return r.status === 200 && r.body.journal.length >= 4 ? r.body : undefined;
    });
    assert.equal(d.id, invocationId);
    assert.equal(d.target, "Greeter/digest");
    assert.ok(d.status === "invoked" || d.status === "suspended", d.status);
    const [input, run, runResult, sleep] = d.journal;
    assert.equal(input.type, "input");
    assert.equal(input.command_index, 0);
    assert.deepEqual(input.fields.argument, { base64: Buffer.from(bytes).toString("base64") });
    // A step is a Run command and, once durable, the notification of its completion id.
    assert.equal(run.type, "run");
    assert.equal(run.name, "measure");
    assert.equal(run.description, "Run 'measure'");
    assert.equal(runResult.type, "completion");
    assert.equal(runResult.fields.completion_id, run.fields.completion_id);
    assert.deepEqual(runResult.fields.value, { ok: { json: '{"length":3}' } });
    assert.equal(sleep.type, "sleep");
    assert.equal(typeof sleep.fields.wake_up_at, "number");

    // Each entry says when it was appended and which attempt proposed it (the input: none).
    assert.equal(input.attempt, null);
    assert.equal(run.attempt, 1);
    for (const e of d.journal) assert.ok(Math.abs(Date.parse(e.appended_at) - Date.now()) < 3_600_000);

    const cancel = await http("PATCH", `${admin}/invocations/${invocationId}/cancel`);
    assert.equal(cancel.status, 202);
    // Kept for history: completed with the cancellation, its journal there to read.
    const done = await eventually("the cancelled invocation completes", async () => {
      const r = await http("GET", `${admin}/invocations/${invocationId}`);
      return r.body.status === "completed" ? r.body : undefined;
    });
    assert.deepEqual(done.failure, { code: 409, message: "Cancelled" });
    assert.ok(done.journal.length >= 4);
    assert.equal(done.journal_retention, "1d");
    const purge = await http("PATCH", `${admin}/invocations/${invocationId}/purge`);
    assert.equal(purge.status, 202);
    assert.equal((await http("GET", `${admin}/invocations/${invocationId}`)).status, 404);
  });

  it("restart-as-new starts a completed invocation's input again as a new invocation; refused for running ones and workflow runs", async () => {
    const first = await http("POST", `${ingress}/Greeter/greet`, '"again"');
    const id = first.headers.get("x-restate-id")!;
    const restarted = await http("PATCH", `${admin}/invocations/${id}/restart-as-new`);
    assert.equal(restarted.status, 200, restarted.text);
    const fresh = restarted.body.new_invocation_id as string;
    assert.notEqual(fresh, id);
    assert.equal((await http("GET", `${ingress}/restate/invocation/${fresh}/attach`)).body, "hello again");
    const wf = await http("POST", `${ingress}/Signup/w9/run`, '"x@example.com"');
    const refused = await http(
      "PATCH",
      `${admin}/invocations/${wf.headers.get("x-restate-id")}/restart-as-new`,
    );
    assert.equal(refused.status, 409);
    assert.equal(refused.body.onelog_code, "OL1023");
    assert.equal(
      (await http("PATCH", `${admin}/invocations/inv_${"0".repeat(40)}/restart-as-new`)).status,
      404,
    );
  });

  it("answers 409 OL1023 for an operation that would do nothing, saying why, and acts otherwise", async () => {
    const expect409 = async (id: string, op: string, why: RegExp) => {
      const r = await http("PATCH", `${admin}/invocations/${id}/${op}`);
      assert.equal(r.status, 409, `${op}: ${r.text}`);
      assert.equal(r.body.onelog_code, "OL1023");
      assert.match(r.body.message, new RegExp(`^cannot ${op} invocation ${id}: it is \\S+; `));
      assert.match(r.body.message, why);
    };
    const stateOf = async (id: string) => (await http("GET", `${admin}/invocations/${id}`)).body.status;

    // A running one (sleeping for 10 minutes): purge and resume would do nothing.
    const running = (
      await http("POST", `${ingress}/Greeter/digest/send`, "x", {
        "content-type": "application/octet-stream",
      })
    ).body.invocationId as string;
    await eventually("the sleep is journaled", async () =>
      (await http("GET", `${admin}/invocations/${running}`)).body.journal?.length >= 3 ? true : undefined,
    );
    await expect409(running, "purge", /purge applies only to completed invocations/);
    await expect409(running, "resume", /resume applies only to paused invocations/);
    assert.equal((await http("PATCH", `${admin}/invocations/${running}/pause`)).status, 202);
    assert.equal(await stateOf(running), "paused");
    await expect409(running, "pause", /paused already/);
    assert.equal((await http("PATCH", `${admin}/invocations/${running}/resume`)).status, 202);
    assert.notEqual(await stateOf(running), "paused");

    // A completed one: cancel, kill, pause and resume would do nothing; purge deletes it.
    await http("POST", `${ingress}/Greeter/greet`, '"Op"', { "idempotency-key": "ops-409" });
    const done = (
      await http("POST", `${admin}/query`, {
        query: "SELECT id FROM sys_invocation WHERE idempotency_key = 'ops-409'",
      })
    ).body.rows[0].id as string;
    assert.equal(await stateOf(done), "completed");
    await expect409(done, "cancel", /completed invocation cannot be cancelled/);
    await expect409(done, "kill", /completed invocation cannot be killed/);
    await expect409(done, "pause", /completed invocation cannot be paused/);
    await expect409(done, "resume", /resume applies only to paused invocations/);
    assert.equal((await http("PATCH", `${admin}/invocations/${done}/purge`)).status, 202);
    assert.equal((await http("GET", `${admin}/invocations/${done}`)).status, 404);
    assert.equal((await http("PATCH", `${admin}/invocations/${running}/kill`)).status, 202);
  });

  it("answers 400 for a malformed id and 404 for an unknown one", async () => {
    const bad = await http("GET", `${admin}/invocations/nope`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.onelog_code, "OL1013");
    const unknown = await http("GET", `${admin}/invocations/inv_${"0".repeat(40)}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.onelog_code, "OL1008");
  });
});

describe("admin: state", () => {
  it("optimistic versioning: If-Match (or ?version=) with the version read applies; a stale one is 412 OL1040, nothing written", async () => {
    assert.equal((await http("POST", `${ingress}/Account/dora/deposit`, "3")).body, 3);
    const read = await http("GET", `${admin}/state/Account/dora`);
    const v1 = read.body.version as string;
    const patched = await http(
      "PATCH",
      `${admin}/state/Account/dora`,
      { balance: 30 },
      { "if-match": `"${v1}"` },
    );
    assert.equal(patched.status, 200, patched.text);
    assert.notEqual(patched.body.version, v1);
    assert.equal(patched.headers.get("etag"), `"${patched.body.version}"`);
    // The version read before that patch is stale now.
    const stale = await http(
      "PATCH",
      `${admin}/state/Account/dora`,
      { balance: 1 },
      { "if-match": `"${v1}"` },
    );
    assert.equal(stale.status, 412);
    assert.equal(stale.body.onelog_code, "OL1040");
    assert.match(stale.body.message, /changed since it was read/);
    const viaQuery = await http("PATCH", `${admin}/state/Account/dora?version=${v1}`, { balance: 1 });
    assert.equal(viaQuery.status, 412);
    assert.equal((await http("POST", `${ingress}/Account/dora/balance`)).body, 30);
    const current = await http("PATCH", `${admin}/state/Account/dora?version=${patched.body.version}`, {
      balance: 31,
    });
    assert.equal(current.status, 200);
    assert.equal((await http("POST", `${ingress}/Account/dora/balance`)).body, 31);
  });

  it("reads one key's state and patches it through the log: values set, null deletes", async () => {
    assert.equal((await http("POST", `${ingress}/Account/alice/deposit`, "10")).body, 10);
    const read = await http("GET", `${admin}/state/Account/alice`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, {
      service: "Account",
      key: "alice",
      version: read.body.version,
      state: { balance: { json: "10" } },
    });
    assert.match(read.body.version, /^[0-9a-f]{16}$/);
    assert.equal(read.headers.get("etag"), `"${read.body.version}"`);

    const patched = await http("PATCH", `${admin}/state/Account/alice`, { balance: 50, note: { vip: true } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.state, { balance: { json: "50" }, note: { json: '{"vip":true}' } });
    // Each name says what happened to it: nothing reads like lost state.
    assert.deepEqual(patched.body.changes, [
      { name: "balance", action: "updated", before: { json: "10" }, after: { json: "50" } },
      { name: "note", action: "created", after: { json: '{"vip":true}' } },
    ]);
    // The handlers see the patched value.
    assert.equal((await http("POST", `${ingress}/Account/alice/balance`)).body, 50);
    assert.equal((await http("POST", `${ingress}/Account/alice/deposit`, "1")).body, 51);

    const deleted = await http("PATCH", `${admin}/state/Account/alice`, { note: null });
    assert.deepEqual(deleted.body.state, { balance: { json: "51" } });
    assert.deepEqual(deleted.body.changes, [
      { name: "note", action: "deleted", before: { json: '{"vip":true}' } },
    ]);
    const absent = await http("PATCH", `${admin}/state/Account/alice`, { never: null });
    assert.deepEqual(absent.body.changes, [{ name: "never", action: "absent" }]);
    // A workflow's state too.
    assert.equal((await http("POST", `${ingress}/Signup/w1/run`, '"a@example.com"')).body, "done");
    const wf = await http("PATCH", `${admin}/state/Signup/w1`, { email: "b@example.com" });
    assert.deepEqual(wf.body.state, { email: { json: '"b@example.com"' } });
  });

  it("refuses a patch with 409 OL1020 while an invocation holds the key's lock, and applies it after", async () => {
    assert.equal((await http("POST", `${ingress}/Account/bob/deposit`, "5")).body, 5);
    const hold = await http("POST", `${ingress}/Account/bob/hold/send`);
    assert.equal(hold.status, 202);
    const awakeable = await eventually("the holder published its awakeable", () => published.get("hold/bob"));
    const refused = await http("PATCH", `${admin}/state/Account/bob`, { balance: 1000 });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.onelog_code, "OL1020");
    assert.match(refused.body.message, new RegExp(`locked by invocation ${hold.body.invocationId}`));
    assert.deepEqual((await http("GET", `${admin}/state/Account/bob`)).body.state, {
      balance: { json: "5" },
    });

    const resolved = await http("POST", `${ingress}/restate/awakeables/${awakeable}/resolve`, '"go"');
    assert.equal(resolved.status, 202);
    const applied = await eventually("the lock is free and the patch applies", async () => {
      const r = await http("PATCH", `${admin}/state/Account/bob`, { balance: 1000 });
      return r.status === 200 ? r : undefined;
    });
    assert.deepEqual(applied.body.state, { balance: { json: "1000" } });
  });

  it("answers 404 for an unknown service, 400 for a service without state or a body that is not an object", async () => {
    const unknown = await http("GET", `${admin}/state/Nope/k`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.onelog_code, "OL1001");
    assert.equal((await http("PATCH", `${admin}/state/Greeter/k`, { a: 1 })).status, 400);
    for (const body of ["[1,2]", "5", "null", "not json", "{}"]) {
      const r = await http("PATCH", `${admin}/state/Account/carol`, body, {
        "content-type": "application/json",
      });
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.equal(r.body.onelog_code, "OL1003");
    }
    assert.deepEqual((await http("GET", `${admin}/state/Account/carol`)).body.state, {});
  });
});

describe("admin: paths and methods", () => {
  it("answers 404 for an unknown path and 405 for a wrong method, as JSON", async () => {
    const missing = await http("GET", `${admin}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.onelog_code, "OL1012");
    const wrong = await http("DELETE", `${admin}/services`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.body.onelog_code, "OL1007");
    assert.equal((await http("GET", `${admin}/query`)).status, 405);
  });
});

describe("admin: the bearer token", () => {
  it("with a token, every path but /health needs Authorization: Bearer <token>", async () => {
    const guarded = await startServer([greeter], { adminToken: "s3cret" });
    try {
      const url = guarded.adminUrl!;
      assert.equal((await http("GET", `${url}/health`)).status, 200);
      const none = await http("GET", `${url}/services`);
      assert.equal(none.status, 401);
      assert.equal(none.body.onelog_code, "OL1017");
      assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.equal(
        (await http("GET", `${url}/services`, undefined, { authorization: "Bearer wrong" })).status,
        401,
      );
      assert.equal((await http("GET", `${url}/metrics`)).status, 401);
      const ok = await http("GET", `${url}/services`, undefined, { authorization: "Bearer s3cret" });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.services[0].name, "Greeter");
    } finally {
      await guarded.stop();
    }
  });

  it("refuses to start the admin endpoint beyond loopback without a token (OL1018), and leaves the data dir free", async () => {
    const dataDir = tmpDir("refused");
    await assert.rejects(
      startServer([greeter], { dataDir, host: "0.0.0.0" }),
      (e: any) => e.code === "OL1018" && e.name === "AdminTokenRequiredError",
    );
    await assert.rejects(
      startServer([greeter], { dataDir, adminHost: "::" }),
      (e: any) => e.code === "OL1018",
    );
    // Nothing was opened: the same data dir starts on loopback, and beyond loopback with a token.
    const withToken = await startServer([greeter], { dataDir, adminHost: "0.0.0.0", adminToken: "t" });
    await withToken.stop();
    const loopback = await startServer([greeter], { dataDir, host: "127.0.0.1" });
    await loopback.stop();
  });
});

describe("admin: cross-origin requests", () => {
  it("a change sent by a page on another site is refused; the same from the CLI, curl or the UI's origin is not", async () => {
    const server = await startServer([]);
    try {
      const foreign = await http("POST", `${server.adminUrl}/deployments`, '{"uri":"http://127.0.0.1:1"}', {
        origin: "https://evil.example",
        "content-type": "text/plain",
      });
      assert.equal(foreign.status, 403, foreign.text);
      assert.equal(foreign.body.onelog_code, "OL1033");
      const own = await http(
        "POST",
        `${server.adminUrl}/deployments`,
        { uri: "http://127.0.0.1:1" },
        {
          origin: server.adminUrl!,
        },
      );
      assert.equal(own.status, 400, own.text); // got through: discovery fails, as it should here
      const noOrigin = await http("POST", `${server.adminUrl}/query`, "SELECT 1 AS one");
      assert.deepEqual(noOrigin.body.rows, [{ one: 1 }]);
    } finally {
      await server.stop();
    }
  });
});
