// Proves the HTTP ingress behaves as documented (ingress.ts, errors.ts) by starting the real embedded server with onelog.start() on a temp dataDir and talking to it with fetch over 127.0.0.1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as onelog from "onelog";

// ---------------------------------------------------------------------------------------------
// Helpers

const silent: onelog.Logger = { debug() {}, info() {}, warn() {}, error() {} };
const tmpDirs: string[] = [];

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-ingress-"));
  tmpDirs.push(dir);
  return dir;
}

function startOn(
  dataDir: string,
  services: onelog.AnyDefinition[],
  extra: Partial<onelog.StartOptions> = {},
) {
  return onelog.start({ services, dataDir, ingressPort: 0, adminPort: 0, logger: silent, ...extra });
}

/** POSTs a JSON value (or raw text) and returns status, headers and the parsed body. */
async function post(
  base: string,
  p: string,
  body?: unknown,
  init: { headers?: Record<string, string>; raw?: string } = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const payload = init.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const res = await fetch(base + p, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    ...(payload === undefined ? {} : { body: payload }),
  });
  return read(res);
}

async function get(base: string, p: string): Promise<{ status: number; headers: Headers; body: any }> {
  return read(await fetch(base + p));
}

async function read(res: Response): Promise<{ status: number; headers: Headers; body: any }> {
  const text = await res.text();
  let body: unknown = text;
  if (text !== "" && (res.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

/**
 * An error answer in Restate's shape: this status, a JSON body whose `code` is the status, whose
 * `source` is "ingress", with a non-empty message, and onelog's own code in `onelog_code`.
 */
function assertError(
  r: { status: number; headers: Headers; body: any },
  status: number,
  code: string | number,
): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  assert.equal(typeof r.body, "object");
  assert.equal(r.body.code, status);
  assert.equal(r.body.source, "ingress");
  assert.equal(r.body.onelog_code, code);
  assert.equal(typeof r.body.message, "string");
  assert.ok(r.body.message.length > 0);
}

/** Waits until `cond` holds, checking often; fails with `what` if it never does. */
async function eventually(what: string, cond: () => boolean, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const UNKNOWN_ID = "inv_" + "0".repeat(40);

// ---------------------------------------------------------------------------------------------
// The services under test. Counters live in closures so a test can see how often a step ran.

const stepRuns = new Map<string, number>();
const countRun = (key: string) => stepRuns.set(key, (stepRuns.get(key) ?? 0) + 1);

const greeter = onelog.service({
  name: "Greeter",
  handlers: {
    greet: async (ctx: onelog.Context, name: string) =>
      ctx.run("compose", () => {
        countRun(name);
        return `hello ${name}`;
      }),
  },
});

const gates = new Map<string, () => void>();
const slow = onelog.service({
  name: "Slow",
  handlers: {
    /** Waits until the test opens the gate named by the input. */
    wait: async (_ctx: onelog.Context, gate: string) => {
      await new Promise<void>((resolve) => gates.set(gate, resolve));
      return `opened ${gate}`;
    },
  },
});

const flakyFailures = new Map<string, number>();
let healed = false;
const failing = onelog.service({
  name: "Failing",
  options: { retryPolicy: { initialInterval: 5, maxInterval: 20 } },
  handlers: {
    terminal: async () => {
      throw new onelog.TerminalError("cannot process that thing", { errorCode: 422 });
    },
    oddCode: async () => {
      throw new onelog.TerminalError("odd", { errorCode: 1234 });
    },
    /** Throws a plain error on the first two attempts for a given input, then succeeds. */
    flaky: async (_ctx: onelog.Context, key: string) => {
      const n = (flakyFailures.get(key) ?? 0) + 1;
      flakyFailures.set(key, n);
      if (n <= 2) throw new Error(`flaky failure ${n}`);
      return `ok after ${n} attempts`;
    },
    doomed: onelog.handlers.handler({ retryPolicy: { maxAttempts: 2, onMaxAttempts: "kill" } }, async () => {
      throw new Error("always broken");
    }),
    pausable: onelog.handlers.handler(
      { retryPolicy: { maxAttempts: 2, onMaxAttempts: "pause" } },
      async () => {
        if (!healed) throw new Error("not healed yet");
        return "healed";
      },
    ),
  },
});

const tally = onelog.object({
  name: "Tally",
  handlers: {
    bump: async (ctx: onelog.ObjectContext) => {
      const n = ((await ctx.get<number>("n")) ?? 0) + 1;
      ctx.set("n", n);
      return n;
    },
  },
});

const secret = onelog.service({
  name: "Secret",
  options: { ingressPrivate: true },
  handlers: { peek: async () => "secret" },
});

// ---------------------------------------------------------------------------------------------

after(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe("ingress", () => {
  let server: onelog.OnelogServer;
  let base: string;

  before(async () => {
    server = await startOn(tmpDir(), [greeter, slow, failing, secret, tally], { maxRequestBytes: 1024 });
    base = server.ingressUrl;
  });
  after(async () => {
    for (const open of gates.values()) open();
    await server?.stop();
  });

  describe("calls and sends", () => {
    it("a call answers with the output as application/json and an x-restate-id header", async () => {
      const r = await post(base, "/Greeter/greet", "Ada");
      assert.equal(r.status, 200);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(r.body, "hello Ada");
      assert.match(r.headers.get("x-restate-id") ?? "", /^inv_[0-9a-f]{40}$/);
    });

    it("/restate/call/{service}/{handler} is an alias of the call", async () => {
      const r = await post(base, "/restate/call/Greeter/greet", "Alias");
      assert.equal(r.status, 200);
      assert.equal(r.body, "hello Alias");
      assert.match(r.headers.get("x-restate-id") ?? "", /^inv_[0-9a-f]{40}$/);
    });

    it("a send answers 202 JSON {invocationId, status: Accepted} with x-restate-id; the invocation then runs", async () => {
      const r = await post(base, "/Greeter/greet/send", "Sent");
      assert.equal(r.status, 202);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(r.body.status, "Accepted");
      assert.match(r.body.invocationId, /^inv_[0-9a-f]{40}$/);
      assert.equal(r.headers.get("x-restate-id"), r.body.invocationId);
      await eventually("the sent invocation ran its step", () => stepRuns.get("Sent") === 1);
    });

    it("a send with an idempotency key completes later, and attach by id returns its output", async () => {
      const r = await post(base, "/Greeter/greet/send", "SentKeyed", {
        headers: { "idempotency-key": "send-attach-1" },
      });
      assert.equal(r.status, 202);
      assert.equal(r.body.status, "Accepted");
      // With a key the output is retained, so attach answers whether or not it has completed yet.
      const attached = await get(base, `/restate/invocation/${r.body.invocationId}/attach`);
      assert.equal(attached.status, 200);
      assert.equal(attached.body, "hello SentKeyed");
      assert.equal(attached.headers.get("x-restate-id"), r.body.invocationId);
      assert.equal(stepRuns.get("SentKeyed"), 1);
    });

    it("/restate/send/{service}/{handler} is an alias of the send", async () => {
      const r = await post(base, "/restate/send/Greeter/greet", "SentAlias", {
        headers: { "idempotency-key": "alias-1" },
      });
      assert.equal(r.status, 202);
      assert.equal(r.body.status, "Accepted");
      const attached = await get(base, `/restate/invocation/${r.body.invocationId}/attach`);
      assert.equal(attached.body, "hello SentAlias");
    });

    it("a call with an empty body passes undefined to the handler", async () => {
      const r = await post(base, "/Greeter/greet");
      assert.equal(r.status, 200);
      assert.equal(r.body, "hello undefined");
    });
  });

  describe("idempotency", () => {
    it("a duplicate call with the same idempotency-key gets the same output and id; the step ran once", async () => {
      const headers = { "idempotency-key": "dup-call-1" };
      const first = await post(base, "/Greeter/greet", "Idem", { headers });
      const second = await post(base, "/Greeter/greet", "Idem", { headers });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal(first.body, "hello Idem");
      assert.equal(second.body, "hello Idem");
      assert.equal(second.headers.get("x-restate-id"), first.headers.get("x-restate-id"));
      assert.equal(stepRuns.get("Idem"), 1);
    });

    it("concurrent duplicate calls with the same key run the step once and all get the output", async () => {
      const headers = { "idempotency-key": "dup-call-concurrent" };
      const all = await Promise.all(
        [1, 2, 3].map(() => post(base, "/Greeter/greet", "Concurrent", { headers })),
      );
      for (const r of all) {
        assert.equal(r.status, 200);
        assert.equal(r.body, "hello Concurrent");
        assert.equal(r.headers.get("x-restate-id"), all[0]!.headers.get("x-restate-id"));
      }
      assert.equal(stepRuns.get("Concurrent"), 1);
    });

    it("an idempotent send twice: the second answers PreviouslyAccepted with the same id", async () => {
      const headers = { "idempotency-key": "dup-send-1" };
      const first = await post(base, "/Greeter/greet/send", "IdemSend", { headers });
      const second = await post(base, "/Greeter/greet/send", "IdemSend", { headers });
      assert.equal(first.status, 202);
      assert.equal(first.body.status, "Accepted");
      assert.equal(second.status, 202);
      assert.equal(second.body.status, "PreviouslyAccepted");
      assert.equal(second.body.invocationId, first.body.invocationId);
      const out = await get(base, `/restate/invocation/${first.body.invocationId}/attach`);
      assert.equal(out.body, "hello IdemSend");
      assert.equal(stepRuns.get("IdemSend"), 1);
    });

    it("concurrent idempotent sends with one key: exactly one is Accepted, the others PreviouslyAccepted", async () => {
      const headers = { "idempotency-key": "dup-send-concurrent" };
      const all = await Promise.all(
        [1, 2].map(() => post(base, "/Greeter/greet/send", "ConcurrentSend", { headers })),
      );
      await eventually("the invocation ran", () => stepRuns.get("ConcurrentSend") === 1);
      assert.deepEqual(all.map((r) => r.body.status).sort(), ["Accepted", "PreviouslyAccepted"]);
    });

    it("attach and output by service/handler/idempotency-key find the keyed invocation", async () => {
      const headers = { "idempotency-key": "by-key-1" };
      const first = await post(base, "/Greeter/greet", "ByKey", { headers });
      const attached = await get(base, "/restate/invocation/Greeter/greet/by-key-1/attach");
      const output = await get(base, "/restate/invocation/Greeter/greet/by-key-1/output");
      for (const r of [attached, output]) {
        assert.equal(r.status, 200);
        assert.equal(r.body, "hello ByKey");
        assert.equal(r.headers.get("x-restate-id"), first.headers.get("x-restate-id"));
      }
    });
  });

  describe("delays and running invocations", () => {
    it("a send with ?delay=1s is not completed right after the send, and attach later gets the result", async () => {
      const before = Date.now();
      const r = await post(base, "/Greeter/greet/send?delay=1s", "Later");
      assert.equal(r.status, 202);
      // As Restate: a delayed send's answer says when it will run.
      assert.ok(Date.parse(r.body.executionTime) >= before + 1000, JSON.stringify(r.body));
      const id = r.body.invocationId as string;
      const early = await get(base, `/restate/invocation/${id}/output`);
      assertError(early, 470, "OL1009");
      assert.equal(stepRuns.get("Later"), undefined);
      const attached = await get(base, `/restate/invocation/${id}/attach`);
      assert.equal(attached.status, 200);
      assert.equal(attached.body, "hello Later");
      assert.equal(stepRuns.get("Later"), 1);
    });

    it("output of a running invocation answers 470 JSON; once it completes, attach and output answer 200", async () => {
      const r = await post(base, "/Slow/wait/send", "gate-470", {
        headers: { "idempotency-key": "slow-470" },
      });
      const id = r.body.invocationId as string;
      await eventually("the handler is waiting on its gate", () => gates.has("gate-470"));
      assertError(await get(base, `/restate/invocation/${id}/output`), 470, "OL1009");
      gates.get("gate-470")!();
      const attached = await get(base, `/restate/invocation/${id}/attach`);
      assert.equal(attached.status, 200);
      assert.equal(attached.body, "opened gate-470");
      const output = await get(base, `/restate/invocation/${id}/output`);
      assert.equal(output.status, 200);
      assert.equal(output.body, "opened gate-470");
    });
  });

  describe("request errors", () => {
    it("unknown service → 404 OL1001", async () => {
      assertError(await post(base, "/Nope/greet", "x"), 404, "OL1001");
    });

    it("unknown handler → 404 OL1002", async () => {
      assertError(await post(base, "/Greeter/nope", "x"), 404, "OL1002");
    });

    it("GET on a handler path calls it with an empty input, as Restate; PUT → 405 OL1007", async () => {
      const r = await get(base, "/Tally/g1/bump");
      assert.equal(r.status, 200);
      assert.equal(r.body, 1);
      assert.match(r.headers.get("x-restate-id") ?? "", /^inv_/);
      assert.equal((await get(base, "/Tally/g1/bump")).body, 2);
      const put = await read(await fetch(base + "/Tally/g1/bump", { method: "PUT" }));
      assertError(put, 405, "OL1007");
      assert.equal(put.headers.get("allow"), "GET, POST");
    });

    it("a keyed path without its key → 400 OL1030 (a bad path, not an unknown target), as Restate", async () => {
      assertError(await post(base, "/Tally/bump"), 400, "OL1030");
      assertError(await get(base, "/Tally/bump"), 400, "OL1030");
      assertError(await post(base, "/Greeter/k/greet", "x"), 400, "OL1030");
    });

    it("an invalid JSON body → 400 OL1003", async () => {
      assertError(await post(base, "/Greeter/greet", undefined, { raw: "{not json" }), 400, "OL1003");
    });

    it("a body over maxRequestBytes → 413 OL1004 (declared length and chunked)", async () => {
      const big = JSON.stringify("x".repeat(2_000));
      assertError(await post(base, "/Greeter/greet", undefined, { raw: big }), 413, "OL1004");
      // Without a content-length: the limit is enforced while reading.
      const chunked = await new Promise<{ status: number; headers: Headers; body: any }>(
        (resolve, reject) => {
          const req = httpRequest(
            base + "/Greeter/greet",
            {
              method: "POST",
              headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
            },
            (res) => {
              let text = "";
              res.setEncoding("utf8");
              res.on("data", (c: string) => (text += c));
              res.on("end", () =>
                resolve({
                  status: res.statusCode ?? 0,
                  headers: new Headers({ "content-type": String(res.headers["content-type"] ?? "") }),
                  body: text === "" ? text : JSON.parse(text),
                }),
              );
            },
          );
          req.on("error", reject);
          req.write(big.slice(0, 700));
          req.end(big.slice(700));
        },
      );
      assertError(chunked, 413, "OL1004");
      assert.equal(stepRuns.get("x".repeat(2_000)), undefined);
    });

    it("a bad idempotency key (300 characters) → 400 OL1005", async () => {
      const r = await post(base, "/Greeter/greet", "x", { headers: { "idempotency-key": "k".repeat(300) } });
      assertError(r, 400, "OL1005");
    });

    it("a bad delay (?delay=soon) → 400 OL1006; a delay on a call → 400 OL1006", async () => {
      assertError(await post(base, "/Greeter/greet/send?delay=soon", "x"), 400, "OL1006");
      assertError(await post(base, "/Greeter/greet?delay=1s", "x"), 400, "OL1006");
    });

    it("a malformed invocation id on attach or output → 400 OL1013", async () => {
      assertError(await get(base, "/restate/invocation/inv_nothex/attach"), 400, "OL1013");
      assertError(await get(base, "/restate/invocation/hello/output"), 400, "OL1013");
    });

    it("an unknown invocation id → 404 OL1008", async () => {
      assertError(await get(base, `/restate/invocation/${UNKNOWN_ID}/attach`), 404, "OL1008");
      assertError(await get(base, `/restate/invocation/${UNKNOWN_ID}/output`), 404, "OL1008");
    });

    it("a handler of an ingressPrivate service → 400 OL1010", async () => {
      assertError(await post(base, "/Secret/peek"), 400, "OL1010");
    });

    it("an unknown path → 404 OL1012", async () => {
      assertError(await post(base, "/restate/nothing/here"), 404, "OL1012");
      assertError(await post(base, "/a/b/c/d"), 404, "OL1001");
    });
  });

  describe("handler failures", () => {
    it("a TerminalError with errorCode 422 → HTTP 422 JSON {code: 422, message}", async () => {
      const r = await post(base, "/Failing/terminal");
      assert.equal(r.status, 422);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(r.body, { code: 422, message: "cannot process that thing", source: "invocation" });
      // As restate-server ≥ 1.7.4: the source in a header too, so clients know not to retry it.
      assert.equal(r.headers.get("x-restate-error-source"), "invocation");
      assert.equal((await post(base, "/Nope/x")).headers.get("x-restate-error-source"), "ingress");
    });

    it("a TerminalError whose code is not an HTTP status → HTTP 500 with the code in the body", async () => {
      const r = await post(base, "/Failing/oddCode");
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, { code: 1234, message: "odd", source: "invocation" });
    });

    it("a handler that throws a plain error twice, then succeeds, answers 200", async () => {
      const r = await post(base, "/Failing/flaky", "flaky-1");
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, "ok after 3 attempts");
      assert.equal(flakyFailures.get("flaky-1"), 3);
    });

    it("retries used up with onMaxAttempts kill → 500 JSON saying it was killed", async () => {
      const r = await post(base, "/Failing/doomed");
      assert.equal(r.status, 500);
      assert.equal(r.body.code, 500);
      assert.equal(r.body.source, "invocation");
      assert.match(r.body.message, /killed after 2 attempts/);
      assert.match(r.body.message, /always broken/);
    });

    it("a paused invocation stays unanswered until it is resumed after the handler is fixed", async () => {
      const sent = await post(base, "/Failing/pausable/send");
      const id = sent.body.invocationId as string;
      let answered = false;
      const attach = get(base, `/restate/invocation/${id}/attach`).finally(() => (answered = true));
      await eventually("the invocation is paused", () => server.engine.statusOf(id)?.state === "paused");
      assertError(await get(base, `/restate/invocation/${id}/output`), 470, "OL1009");
      assert.equal(answered, false);
      healed = true;
      await server.engine.resume(id);
      const r = await attach;
      assert.equal(r.status, 200);
      assert.equal(r.body, "healed");
    });
  });
});

describe("ingress: durability across a restart", () => {
  it("an idempotent call answered before stop() gets the same output and id after a restart; the step does not run again", async () => {
    let runs = 0;
    const counted = onelog.service({
      name: "Counted",
      handlers: {
        once: async (ctx: onelog.Context, name: string) =>
          ctx.run("step", () => {
            runs++;
            return `counted ${name}`;
          }),
      },
    });
    const dir = tmpDir();
    const headers = { "idempotency-key": "survives-restart" };
    const first = await startOn(dir, [counted]);
    let before: Awaited<ReturnType<typeof post>>;
    try {
      before = await post(first.ingressUrl, "/Counted/once", "Ada", { headers });
    } finally {
      await first.stop();
    }
    const second = await startOn(dir, [counted]);
    try {
      const afterRestart = await post(second.ingressUrl, "/Counted/once", "Ada", { headers });
      assert.equal(before.status, 200);
      assert.equal(afterRestart.status, 200);
      assert.equal(afterRestart.body, "counted Ada");
      assert.equal(afterRestart.headers.get("x-restate-id"), before.headers.get("x-restate-id"));
      const output = await get(
        second.ingressUrl,
        `/restate/invocation/${before.headers.get("x-restate-id")}/output`,
      );
      assert.equal(output.body, "counted Ada");
      assert.equal(runs, 1);
    } finally {
      await second.stop();
    }
  });
});

describe("ingress: the data directory lock", () => {
  it("starting a server on a dataDir another live process serves throws DataDirLockedError", async () => {
    const dir = tmpDir();
    // The child holds the data directory until its stdin closes.
    const code = `
      import * as onelog from "onelog";
      const svc = onelog.service({ name: "Held", handlers: { h: async () => 1 } });
      const s = await onelog.start({ services: [svc], dataDir: ${JSON.stringify(dir)}, ingressPort: 0, adminPort: false,
        logger: { debug() {}, info() {}, warn() {}, error() {} } });
      process.stdout.write("ready\\n");
      process.stdin.resume();
      process.stdin.on("end", async () => { await s.stop(); process.exit(0); });
    `;
    const child: ChildProcess = spawn(
      process.execPath,
      ["--conditions=onelog-source", "--import", "tsx", "--input-type=module", "-e", code],
      { cwd: path.resolve(import.meta.dirname, "../.."), stdio: ["pipe", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
        child.on("exit", (c) => reject(new Error(`child exited early with ${c}`)));
      });
      await assert.rejects(startOn(dir, [greeter]), (e: unknown) => e instanceof onelog.DataDirLockedError);
    } finally {
      child.stdin!.end();
      await exited;
    }
    // Once the other process is gone, the directory can be used.
    const s = await startOn(dir, [greeter]);
    await s.stop();
  });

  it("starting a second server on the same dataDir in the same process while the first runs throws DataDirLockedError", async () => {
    const dir = tmpDir();
    const first = await startOn(dir, [greeter]);
    let second: onelog.OnelogServer | undefined;
    try {
      await assert.rejects(
        startOn(dir, [greeter]).then((s) => {
          second = s;
          return s;
        }),
        (e: unknown) => e instanceof onelog.DataDirLockedError,
      );
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});

describe("ingress: a terminal failure is logged", () => {
  it("once, with its target and invocation id, as Restate does", async () => {
    const warnings: { fields: Record<string, unknown>; message: string }[] = [];
    const logger: onelog.Logger = {
      ...silent,
      warn: (fields: object, message?: string) =>
        warnings.push({ fields: fields as Record<string, unknown>, message: message ?? "" }),
    };
    const server = await startOn(tmpDir(), [failing], { logger });
    try {
      const r = await post(server.ingressUrl, "/Failing/terminal");
      assert.equal(r.status, 422);
      const id = r.headers.get("x-restate-id");
      const about = warnings.filter((w) => w.fields.invocationId === id);
      assert.equal(about.length, 1, JSON.stringify(warnings));
      assert.equal(about[0]!.fields.target, "Failing/terminal");
      assert.match(about[0]!.message, /Failing\/terminal inv_\S+ failed: \[422\] cannot process that thing/);
    } finally {
      await server.stop();
    }
  });
});

describe("ingress: a terminal failure's metadata", () => {
  it("is in the error body, as restate-server answers it, and a caller's TerminalError has it", async () => {
    const picky = onelog.service({
      name: "Picky",
      handlers: {
        reject: async () => {
          throw new onelog.TerminalError("no", {
            errorCode: 422,
            metadata: { field: "email", rule: "unique" },
          });
        },
        relay: async (ctx: onelog.Context) => {
          try {
            await ctx.genericCall({ service: "Picky", method: "reject", parameter: new Uint8Array(0) });
            return null;
          } catch (e) {
            return (e as onelog.TerminalError).metadata;
          }
        },
      },
    });
    const server = await startOn(tmpDir(), [picky]);
    try {
      const r = await post(server.ingressUrl, "/Picky/reject");
      assert.equal(r.status, 422);
      assert.deepEqual(r.body, {
        code: 422,
        message: "no",
        metadata: { field: "email", rule: "unique" },
        source: "invocation",
      });
      const relayed = await post(server.ingressUrl, "/Picky/relay");
      assert.deepEqual([relayed.status, relayed.body], [200, { field: "email", rule: "unique" }]);
    } finally {
      await server.stop();
    }
  });
});
