// Proves onelog's SDK endpoint speaks the Restate service protocol to a real restate-server (npm @restatedev/restate-server, free loopback ports, request signing on): registered through its admin API over HTTP/2 and over HTTP/1.1, it serves a greeter, an object with state, a step, a sleep that suspends and resumes, calls between services, an awakeable resolved through the ingress, and a workflow promise, all through restate's ingress.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  endpoint,
  handlers,
  object,
  service,
  workflow,
  type Context,
  type ObjectContext,
  type ObjectSharedContext,
  type WorkflowContext,
  type WorkflowSharedContext,
} from "onelog";
import { generateIdentityKeyPair, listenEndpoint, type EndpointServer } from "@onelog/sdk/internal";
import { eventually, tmpDir } from "../integration/http-harness.js";
import { RESTATE_SERVER, restateServerAvailable, startRestateServer } from "./restate-server.js";

// ---- The deployment: plain onelog SDK code.
let stepRuns = 0;
let napAttempts = 0;
const awakeables: string[] = [];

const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx: ObjectContext, n: number) => {
      const count = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", count);
      return count;
    },
    get: handlers.object.shared(async (ctx: ObjectSharedContext) => (await ctx.get<number>("count")) ?? 0),
  },
});

const greeter = service({
  name: "Greeter",
  handlers: {
    greet: async (_ctx: Context, name: string) => `hello ${name}`,
    step: async (ctx: Context, name: string) =>
      ctx.run("compose", () => {
        stepRuns++;
        return `composed for ${name}`;
      }),
    // Restate asks the attempt to suspend after 300 ms without progress; the timer resumes it.
    nap: handlers.handler({ inactivityTimeout: { milliseconds: 300 } }, async (ctx: Context, ms: number) => {
      napAttempts++;
      await ctx.sleep(ms);
      return "rested";
    }),
    callCounter: async (ctx: Context, key: string) => {
      const total = await ctx.objectClient(counter, key).add(5);
      ctx.objectSendClient(counter, key).add(1);
      return total;
    },
    waitForAwakeable: async (ctx: Context) => {
      const a = ctx.awakeable<string>();
      await ctx.run("publish", () => void awakeables.push(a.id));
      return `woken with ${await a.promise}`;
    },
  },
});

const signup = workflow({
  name: "Signup",
  handlers: {
    run: async (ctx: WorkflowContext, email: string) =>
      `${email} clicked ${await ctx.promise<string>("clicked")}`,
    click: async (ctx: WorkflowSharedContext, secret: string) => {
      await ctx.promise<string>("clicked").resolve(secret);
    },
  },
});

describe(
  "onelog SDK endpoint behind a real restate-server",
  { skip: restateServerAvailable ? false : `no ${RESTATE_SERVER}` },
  () => {
    const children: ChildProcess[] = [];
    const requests: string[] = [];
    const keys = generateIdentityKeyPair();
    let server: EndpointServer;
    let ingress = "";
    let admin = "";

    const call = async (p: string, body?: unknown, method = "POST") => {
      const res = await fetch(ingress + p, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text === "" ? undefined : (JSON.parse(text) as unknown) };
    };

    const register = async (uri: string, extra: Record<string, unknown> = {}) => {
      const r = await fetch(`${admin}/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ uri, force: true, ...extra }),
      });
      assert.equal(r.status, 201, await r.text());
    };

    before(async () => {
      const dir = tmpDir("onelog-endpoint-restate-");
      const keyFile = path.join(dir, "identity.pem");
      fs.writeFileSync(keyFile, keys.privateKeyPem);
      // Restate signs its requests to deployments; the endpoint accepts only those.
      const restate = await startRestateServer({
        RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE: keyFile,
      });
      children.push(restate.process);
      server = await listenEndpoint(
        endpoint()
          .bind(greeter)
          .bind(counter)
          .bind(signup)
          .withIdentityV1(keys.publicKey)
          .setLogger((meta, message) => {
            if (meta.source === "SYSTEM") requests.push(String(message));
          }),
        { port: 0, host: "127.0.0.1" },
      );
      ingress = restate.ingress;
      admin = restate.admin;
      await register(`http://127.0.0.1:${server.port}`);
    });

    after(async () => {
      for (const c of children) c.kill("SIGKILL");
      await server?.close();
    });

    it("restate discovers over HTTP/2 (manifest v4) and invokes with protocol V6 in bidirectional streams", async () => {
      assert.equal((await call("/Greeter/greet", "Ada")).body, "hello Ada");
      assert.ok(
        requests.some((r) => /^GET \/discover HTTP\/2\.0 .*endpointmanifest\.v4\+json.* -> 200$/.test(r)),
        requests.join("\n"),
      );
      assert.ok(
        requests.some((r) =>
          r.startsWith(
            "POST /invoke/Greeter/greet HTTP/2.0 application/vnd.restate.invocation.v6 -> BIDI_STREAM application/vnd.restate.invocation.v6",
          ),
        ),
        requests.join("\n"),
      );
      // Restate's requests are signed; one without a signature is refused.
      const unsigned = await fetch(`http://127.0.0.1:${server.port}/discover`, {
        headers: { accept: "application/vnd.restate.endpointmanifest.v4+json" },
      });
      assert.equal(unsigned.status, 401);
    });

    it("an object keeps its state across invocations; shared handlers read it", async () => {
      assert.equal((await call("/Counter/c1/add", 2)).body, 2);
      assert.equal((await call("/Counter/c1/add", 3)).body, 5);
      assert.equal((await call("/Counter/c1/get")).body, 5);
      assert.equal((await call("/Counter/c2/get")).body, 0);
    });

    it("a step's result is journaled once", async () => {
      stepRuns = 0;
      assert.equal((await call("/Greeter/step", "Bo")).body, "composed for Bo");
      assert.equal(stepRuns, 1);
    });

    it("a sleep suspends the attempt (restate's inactivity timeout) and restate resumes it when the timer fires", async () => {
      napAttempts = 0;
      const t0 = Date.now();
      assert.equal((await call("/Greeter/nap", 1_500)).body, "rested");
      assert.ok(Date.now() - t0 >= 1_400);
      assert.ok(napAttempts >= 2, `attempts: ${napAttempts}`);
      assert.ok(requests.some((r) => r.startsWith("suspended")));
    });

    it("a call and a send between services", async () => {
      assert.equal((await call("/Greeter/callCounter", "c3")).body, 5);
      await eventually("the send was applied", async () => (await call("/Counter/c3/get")).body === 6);
    });

    it("an awakeable resolved through restate's ingress", async () => {
      const sent = await call("/Greeter/waitForAwakeable/send");
      assert.equal(sent.status, 202);
      const invocationId = (sent.body as { invocationId: string }).invocationId;
      const id = await eventually("the awakeable id is published", () => awakeables.at(-1));
      assert.match(id, /^sign_1/);
      const resolved = await fetch(`${ingress}/restate/awakeables/${id}/resolve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify("ping"),
      });
      assert.equal(resolved.status, 202, await resolved.text());
      assert.equal(
        (await call(`/restate/invocation/${invocationId}/attach`, undefined, "GET")).body,
        "woken with ping",
      );
    });

    it("a workflow waits on its durable promise until a shared handler resolves it", async () => {
      assert.equal((await call("/Signup/w1/run/send", "ada@example.com")).status, 202);
      assert.equal((await call("/Signup/w1/click", "s3cret")).status, 200);
      assert.equal(
        (await call("/restate/workflow/Signup/w1/attach", undefined, "GET")).body,
        "ada@example.com clicked s3cret",
      );
    });

    it("registered with use_http_11, restate talks HTTP/1.1 request/response; every await suspends", async () => {
      await register(`http://127.0.0.1:${server.port}/h1`, { use_http_11: true });
      assert.ok(requests.some((r) => /^GET \/h1\/discover HTTP\/1\.1 /.test(r)));
      napAttempts = 0;
      assert.equal((await call("/Greeter/nap", 200)).body, "rested");
      assert.equal(napAttempts, 2);
      assert.equal((await call("/Counter/c1/add", 1)).body, 6);
      stepRuns = 0;
      assert.equal((await call("/Greeter/step", "Cy")).body, "composed for Cy");
      assert.equal(stepRuns, 1);
      assert.ok(
        requests.some((r) =>
          r.startsWith(
            "POST /h1/invoke/Greeter/step HTTP/1.1 application/vnd.restate.invocation.v6 -> REQUEST_RESPONSE",
          ),
        ),
      );
    });
  },
);
