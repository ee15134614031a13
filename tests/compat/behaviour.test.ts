// Proves onelog answers like Restate: the compat programs are served by a real restate-server (npm @restatedev/restate-server, free loopback ports, a temp base dir) with the Restate SDK's endpoint, by onelog embedded from a copy whose only change is the import, and by onelog as a server invoking that same Restate SDK endpoint over the service protocol; the same scripted requests go to each and status + body are compared with ids and times normalised; and the same typed-client program (programs/ingress-client.ts), with Restate's client and with onelog/clients, gets the same results from every server. Known differences are listed in docs/compatibility.md.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type * as onelog from "onelog";
import { eventually, silent, tmpDir } from "../integration/http-harness.js";
import {
  RESTATE_SERVER,
  freePort,
  registerWithRestate,
  restateServerAvailable,
  startRestateServer,
} from "./restate-server.js";

type Step = { method: "GET" | "POST"; path: string; body?: unknown; headers?: Record<string, string> };
type Answer = { status: number; body: unknown };

/** The script, in order; each step's answer is compared. */
const SCRIPT: Step[] = [
  { method: "POST", path: "/Greeter/greet", body: "Ada" },
  { method: "GET", path: "/Greeter/hello" },
  { method: "POST", path: "/Greeter/target" },
  { method: "POST", path: "/Cart/c1/target" },
  { method: "POST", path: "/Greeter/fail" },
  { method: "POST", path: "/Greeter/stepFails" },
  { method: "POST", path: "/Greeter/order", body: { id: "o1", qty: 2 } },
  { method: "POST", path: "/Greeter/greet", body: "Idem", headers: { "idempotency-key": "k1" } },
  { method: "POST", path: "/Greeter/greet", body: "Idem", headers: { "idempotency-key": "k1" } },
  { method: "POST", path: "/Cart/c1/add", body: "apple" },
  { method: "GET", path: "/Cart/c1/count" },
  { method: "POST", path: "/Cart/c1/untyped" },
  { method: "POST", path: "/Cart/add", body: "x" },
  { method: "POST", path: "/Nope/x" },
  { method: "POST", path: "/Greeter/nope" },
  { method: "POST", path: "/Greeter/greet/send?delay=1s", body: "Later" },
  { method: "POST", path: "/Signup/w1/run/send", body: "ada@example.com" },
  { method: "POST", path: "/Signup/w1/run/send", body: "ada@example.com" },
  { method: "POST", path: "/Signup/w1/click", body: "s3cret" },
  { method: "GET", path: "/restate/workflow/Signup/w1/attach" },
  { method: "GET", path: "/restate/workflow/Signup/w1/output" },
  { method: "POST", path: "/Signup/w1/run", body: "other@example.com" },
  { method: "POST", path: "/Signup/w1/email" },
  { method: "POST", path: "/Caller/calls", body: "bob" },
  { method: "POST", path: "/Caller/sends", body: "zed" },
  { method: "POST", path: "/Caller/generic", body: "eve" },
  { method: "POST", path: "/Caller/combine" },
  { method: "POST", path: "/Caller/errors" },
  { method: "POST", path: "/Greeter/nap" },
  { method: "POST", path: "/Caller/cancels" },
  // Named signals: ctx.signal, ctx.invocation(id).signal(name).resolve/reject, .cancel(), .attach().
  { method: "POST", path: "/Signals/roundtrip", body: "once" },
  { method: "POST", path: "/Signals/roundtrip", body: "twice" },
  { method: "POST", path: "/Signals/roundtrip", body: "both" },
  { method: "POST", path: "/Signals/roundtrip", body: "reject" },
  { method: "POST", path: "/Signals/roundtrip", body: "rejectTerminal" },
  { method: "POST", path: "/Signals/roundtrip", body: "void" },
  { method: "POST", path: "/Signals/roundtrip", body: "binary" },
  { method: "POST", path: "/Signals/early" },
  { method: "POST", path: "/Signals/cancels" },
  { method: "POST", path: "/Door/d1/open" },
  { method: "GET", path: "/restate/invocation/Greeter/greet/k1/output" },
  { method: "GET", path: "/restate/invocation/Greeter/greet/k1/attach" },
  { method: "GET", path: "/restate/invocation/Greeter/greet/never/output" },
  { method: "GET", path: "/restate/invocation/inv_bogus/output" },
  { method: "GET", path: "/restate/workflow/Signup/never/output" },
  { method: "POST", path: "/restate/a/nope/resolve", body: "x" },
  { method: "POST", path: "/Greeter/greet?delay=1s", body: "x" },
  { method: "POST", path: "/restate/awakeables/nope/resolve", body: "x" },
  { method: "GET", path: "/restate/health" },
  // History: a completed plain call or send answers attach and output by id while it is kept.
  { method: "POST", path: "/Greeter/greet", body: "Kept" },
  { method: "GET", path: "/restate/invocation/{last}/output" },
  { method: "GET", path: "/restate/invocation/{last}/attach" },
  { method: "POST", path: "/Greeter/greet/send", body: "KeptSend" },
  { method: "GET", path: "/restate/invocation/{last}/attach" },
  { method: "GET", path: "/restate/invocation/{last}/output" },
  { method: "POST", path: "/Greeter/fail" },
  { method: "GET", path: "/restate/invocation/{last}/output" },
];

/** Ids and times differ by construction; onelog's extra error field and ingress wording are documented. */
function normalise(a: Answer): Answer {
  const text = JSON.stringify(a.body ?? null)
    .replace(/inv_[0-9A-Za-z]+/g, "inv_…")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, "<time>");
  const body = JSON.parse(text) as unknown;
  if (typeof body === "object" && body !== null && !Array.isArray(body)) {
    const b = { ...(body as Record<string, unknown>) };
    delete b.onelog_code;
    if (Array.isArray(b.services)) b.services = [...(b.services as string[])].sort(); // /restate/health: any order
    if (b.source === "ingress") delete b.message; // different wording (docs/compatibility.md)
    return { status: a.status, body: b };
  }
  return { status: a.status, body };
}

async function run(base: string): Promise<Answer[]> {
  const out: Answer[] = [];
  /** The invocation id the last step answered (`{last}` in a path). */
  let last = "";
  for (const s of SCRIPT) {
    const res = await fetch(base + s.path.replace("{last}", last), {
      method: s.method,
      headers: { "content-type": "application/json", ...s.headers },
      ...(s.body === undefined ? {} : { body: JSON.stringify(s.body) }),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text === "" ? "" : JSON.parse(text);
    } catch {
      // not JSON: compared as text
    }
    const sent = (body as { invocationId?: unknown } | null)?.invocationId;
    last = typeof sent === "string" ? sent : (res.headers.get("x-restate-id") ?? last);
    out.push(normalise({ status: res.status, body }));
  }
  return out;
}

describe(
  "compatibility with Restate (behaviour)",
  { skip: restateServerAvailable ? false : `no ${RESTATE_SERVER}` },
  () => {
    const children: ChildProcess[] = [];
    let restateIngress = "";
    let server: onelog.OnelogServer | undefined;
    let remote: onelog.OnelogServer | undefined;
    let remoteOnelog: onelog.OnelogServer | undefined;
    let restateWithOnelogEndpoint = "";

    /** Starts a restate-server with `uri` registered; resolves with its ingress URL. */
    async function startRestate(uri: string): Promise<string> {
      const restate = await startRestateServer();
      children.push(restate.process);
      await registerWithRestate(restate.admin, uri);
      return restate.ingress;
    }

    before(async () => {
      const endpoint = await freePort();
      const onelogEndpoint = await freePort();
      children.push(
        spawn(
          process.execPath,
          [
            "--import",
            "./tests/compat/with-resolvers.mjs",
            "--import",
            "tsx",
            "tests/compat/restate-endpoint.ts",
            String(endpoint),
          ],
          { stdio: "ignore" },
        ),
        spawn(
          process.execPath,
          [
            "--conditions=onelog-source",
            "--import",
            "tsx",
            "tests/compat/onelog-endpoint.ts",
            String(onelogEndpoint),
          ],
          { stdio: "ignore" },
        ),
      );
      // One restate-server with the Restate SDK's endpoint (the reference), one with onelog's.
      const [ingress, restate2Ingress] = await Promise.all([
        startRestate(`http://127.0.0.1:${endpoint}`),
        startRestate(`http://127.0.0.1:${onelogEndpoint}`),
      ]);
      restateWithOnelogEndpoint = restate2Ingress;
      restateIngress = ingress;

      // onelog: the same program with its import changed, nothing else.
      const generated = path.resolve("tests/compat/.generated");
      fs.mkdirSync(generated, { recursive: true });
      const source = fs.readFileSync("tests/compat/programs/shop.ts", "utf8");
      assert.ok(source.includes('from "@restatedev/restate-sdk"'));
      fs.writeFileSync(
        path.join(generated, "shop.ts"),
        source.replace('from "@restatedev/restate-sdk"', 'from "onelog"'),
      );
      const clientSource = fs.readFileSync("tests/compat/programs/ingress-client.ts", "utf8");
      assert.ok(clientSource.includes('from "@restatedev/restate-sdk-clients"'));
      fs.writeFileSync(
        path.join(generated, "ingress-client.ts"),
        clientSource.replace('from "@restatedev/restate-sdk-clients"', 'from "onelog/clients"'),
      );
      const ol = await import("onelog");
      const shop = (await import(path.join(generated, "shop.ts"))) as Record<string, onelog.AnyDefinition>;
      server = await ol.start({
        services: [shop.greeter!, shop.cart!, shop.signup!, shop.caller!, shop.signals!, shop.door!],
        dataDir: tmpDir("onelog-compat-data-"),
        ingressPort: 0,
        adminPort: false,
        logger: silent,
      });

      // onelog as a server: no handlers of its own, the Restate SDK's endpoint registered by URL.
      remote = await ol.start({
        services: [],
        dataDir: tmpDir("onelog-compat-remote-"),
        ingressPort: 0,
        adminPort: false,
        logger: silent,
      });
      const r = remote.engine.remote!;
      await r.deployments.discoverAndRegister(r.client, { uri: `http://127.0.0.1:${endpoint}` });

      // onelog as a server with onelog's own endpoint.
      remoteOnelog = await ol.start({
        services: [],
        dataDir: tmpDir("onelog-compat-remote-onelog-"),
        ingressPort: 0,
        adminPort: false,
        logger: silent,
      });
      const ro = remoteOnelog.engine.remote!;
      await eventually(
        "onelog's endpoint is registered",
        async () =>
          ro.deployments
            .discoverAndRegister(ro.client, { uri: `http://127.0.0.1:${onelogEndpoint}`, force: true })
            .then(() => true),
        60_000,
      );
    });

    after(async () => {
      await server?.stop();
      await remote?.stop();
      await remoteOnelog?.stop();
      for (const c of children) c.kill("SIGKILL");
    });

    /** restate-server's answers: the script runs once there (its state would differ on a second run). */
    let fromRestateOnce: Promise<Answer[]> | undefined;
    const restateAnswers = () => (fromRestateOnce ??= run(restateIngress));

    it("the same requests get the same status and body from restate-server and from onelog", async () => {
      const fromRestate = await restateAnswers();
      const fromOnelog = await run(server!.ingressUrl);
      const differences = SCRIPT.flatMap((s, i) =>
        JSON.stringify(fromRestate[i]) === JSON.stringify(fromOnelog[i])
          ? []
          : [
              `${s.method} ${s.path}: restate ${JSON.stringify(fromRestate[i])} / onelog ${JSON.stringify(fromOnelog[i])}`,
            ],
      );
      assert.deepEqual(differences, []);
    });

    it("onelog as a server, invoking the Restate SDK's endpoint over the service protocol, answers the same", async () => {
      const fromRestate = await restateAnswers();
      const fromRemote = await run(remote!.ingressUrl);
      const differences = SCRIPT.flatMap((s, i) =>
        JSON.stringify(fromRestate[i]) === JSON.stringify(fromRemote[i])
          ? []
          : [
              `${s.method} ${s.path}: restate ${JSON.stringify(fromRestate[i])} / onelog server ${JSON.stringify(fromRemote[i])}`,
            ],
      );
      assert.deepEqual(differences, []);
    });

    for (const [name, base] of [
      [
        "onelog as a server, invoking onelog's own SDK endpoint over the service protocol",
        () => remoteOnelog!.ingressUrl,
      ],
      ["restate-server invoking onelog's own SDK endpoint", () => restateWithOnelogEndpoint],
    ] as const) {
      it(`${name}, answers the same`, async (t) => {
        const fromRestate = await restateAnswers();
        const got = await run(base());
        const differences = SCRIPT.flatMap((s, i) =>
          JSON.stringify(fromRestate[i]) === JSON.stringify(got[i])
            ? []
            : [
                `${s.method} ${s.path}: restate ${JSON.stringify(fromRestate[i])} / here ${JSON.stringify(got[i])}`,
              ],
        );
        t.diagnostic(
          `${SCRIPT.length - differences.length}/${SCRIPT.length} answers equal to restate-server's`,
        );
        assert.deepEqual(differences, []);
      });
    }

    it("the same typed-client program gets the same results with either client from either server", async () => {
      type Script = { script: (url: string, tag: string) => Promise<Record<string, unknown>> };
      const restateClient = (await import(path.resolve("tests/compat/programs/ingress-client.ts"))) as Script;
      const onelogClient = (await import(
        path.resolve("tests/compat/.generated/ingress-client.ts")
      )) as Script;
      const runs = {
        "Restate's client → restate-server": await restateClient.script(restateIngress, "rr"),
        "Restate's client → onelog": await restateClient.script(server!.ingressUrl, "ro"),
        "onelog/clients → restate-server": await onelogClient.script(restateIngress, "or"),
        "onelog/clients → onelog": await onelogClient.script(server!.ingressUrl, "oo"),
        "onelog/clients → onelog server + Restate SDK endpoint": await onelogClient.script(
          remote!.ingressUrl,
          "os",
        ),
      };
      const [reference, ...others] = Object.entries(runs);
      for (const [name, got] of others) assert.deepEqual(got, reference![1], `${name} vs ${reference![0]}`);
    });
  },
);
