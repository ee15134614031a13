// Proves what a deployment written with another Restate SDK does through onelog serve as through restate-server: attach and get-output from a handler by idempotency key and by workflow target (not found, not yet completed, completed), named signals (sent by one handler, awaited by a suspended one) and V6 failure metadata (journaled, answered at the ingress, given to an attacher) — one raw-protocol deployment (tests/integration/probe-deployment.ts) registered with onelog in-process and with a real restate-server, the same script against each, answers compared.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventually, http, removeTmpDirs, startServer } from "../integration/admin-harness.js";
import { startProbeDeployment, type Answer, type Ask } from "../integration/probe-deployment.js";
import { registerWithRestate, restateServerAvailable, startRestateServer } from "./restate-server.js";

after(() => removeTmpDirs());

type Results = Record<string, unknown>;

/** The script: every step's answer under a name. `ingress` has both servers' paths. */
async function script(
  ingress: string,
  probe: { release: (o: unknown) => void; held: () => number },
): Promise<Results> {
  const r: Results = {};
  const ask = async (a: Ask): Promise<Answer> => {
    const res = await http("POST", `${ingress}/Probe/ask`, a);
    assert.equal(res.status, 200, `ask ${JSON.stringify(a)}: ${res.text}`);
    return res.body as Answer;
  };
  const idem = (key: string) => ({ service: "Probe", handler: "echo", idempotencyKey: key });

  // Completed targets, by idempotency key and by workflow id.
  r.echo = (await http("POST", `${ingress}/Probe/echo`, '"hi"', { "idempotency-key": "k1" })).body;
  r.outputByKey = await ask({ command: "output", idempotent: idem("k1") });
  r.attachByKey = await ask({ command: "attach", idempotent: idem("k1") });
  r.outputUnknownKey = await ask({ command: "output", idempotent: idem("nope") });
  r.attachUnknownKey = await ask({ command: "attach", idempotent: idem("nope") });
  r.run = (await http("POST", `${ingress}/Flow/w1/run`, '"x"')).body;
  r.outputWorkflow = await ask({ command: "output", workflow: { workflow: "Flow", workflowId: "w1" } });
  r.attachWorkflow = await ask({ command: "attach", workflow: { workflow: "Flow", workflowId: "w1" } });
  r.outputUnknownWorkflow = await ask({
    command: "output",
    workflow: { workflow: "Flow", workflowId: "w2" },
  });
  r.attachUnknownWorkflow = await ask({
    command: "attach",
    workflow: { workflow: "Flow", workflowId: "w2" },
  });

  // A target still running: get-output answers void at once, attach waits for the result.
  const sent = await http("POST", `${ingress}/Probe/hold/send`, {}, { "idempotency-key": "k2" });
  r.holdSent = sent.status;
  await eventually("the held invocation runs", () => probe.held() === 1, 30_000);
  r.outputRunning = await ask({ command: "output", idempotent: { ...idem("k2"), handler: "hold" } });
  const attaching = ask({ command: "attach", idempotent: { ...idem("k2"), handler: "hold" } });
  await new Promise((res) => setTimeout(res, 500)); // the attach is waiting by now
  probe.release("released");
  r.attachRunning = await attaching;

  // Failure metadata: at the ingress, and to an attacher and a get-output.
  const fail = { fail: "nope", code: 422, metadata: { field: "email", reason: "taken" } };
  const failed = await http("POST", `${ingress}/Probe/echo`, fail, { "idempotency-key": "k3" });
  r.failed = { status: failed.status, body: failed.body };
  r.attachFailed = await ask({ command: "attach", idempotent: idem("k3") });
  r.outputFailed = await ask({ command: "output", idempotent: idem("k3") });

  // Named signals: one handler suspends on "go", another sends it.
  const waiting = await http("POST", `${ingress}/Probe/wait/send`, {});
  const waitingId = (waiting.body as { invocationId: string }).invocationId;
  await new Promise((res) => setTimeout(res, 500)); // it has suspended by now
  r.signalSent = (
    await http("POST", `${ingress}/Probe/signal`, { to: waitingId, name: "go", value: 42 })
  ).body;
  r.signalled = (await http("GET", `${ingress}/restate/invocation/${waitingId}/attach`)).body;
  return r;
}

/** What onelog must answer (and, but for the 404 wording, restate-server does). */
const EXPECTED: Results = {
  echo: "hi",
  outputByKey: { ok: "hi" },
  attachByKey: { ok: "hi" },
  outputUnknownKey: { err: { code: 404, message: "…" } },
  attachUnknownKey: { err: { code: 404, message: "…" } },
  run: "x",
  outputWorkflow: { ok: "x" },
  attachWorkflow: { ok: "x" },
  outputUnknownWorkflow: { err: { code: 404, message: "…" } },
  attachUnknownWorkflow: { err: { code: 404, message: "…" } },
  holdSent: 202,
  outputRunning: { void: true },
  attachRunning: { ok: "released" },
  failed: {
    status: 422,
    body: { code: 422, message: "nope", metadata: { field: "email", reason: "taken" }, source: "invocation" },
  },
  attachFailed: {
    err: {
      code: 422,
      message: "nope",
      metadata: [
        { key: "field", value: "email" },
        { key: "reason", value: "taken" },
      ],
    },
  },
  outputFailed: {
    err: {
      code: 422,
      message: "nope",
      metadata: [
        { key: "field", value: "email" },
        { key: "reason", value: "taken" },
      ],
    },
  },
  signalSent: "sent",
  signalled: { ok: 42 },
};

/** The message of a 404 is each server's own ("not found" / "invocation inv_… not found"); the code is compared. */
function normalise(r: Results): Results {
  return JSON.parse(
    JSON.stringify(r, (_k, v: unknown) => {
      if (v !== null && typeof v === "object" && (v as { code?: unknown }).code === 404 && "message" in v) {
        return { ...v, message: "…" };
      }
      if (v !== null && typeof v === "object" && "onelog_code" in v) {
        const { onelog_code: _c, ...rest } = v as Record<string, unknown>;
        return rest;
      }
      return v;
    }),
  ) as Results;
}

describe("a deployment of another SDK: attach/output by target, named signals, failure metadata", () => {
  it("onelog serve answers the script", async () => {
    const probe = await startProbeDeployment();
    const server = await startServer([], { partitions: 4 });
    try {
      const reg = await http("POST", `${server.adminUrl}/deployments`, { uri: probe.uri });
      assert.equal(reg.status, 201, reg.text);
      const r = await script(server.ingressUrl, probe);
      assert.deepEqual(normalise(r), EXPECTED);
      assert.ok(
        probe.versions.every((v) => v.endsWith(".v6")),
        `onelog invoked with ${probe.versions.join(", ")}`,
      );
    } finally {
      await server.stop();
      await probe.close();
    }
  });

  it(
    "restate-server answers the same script",
    { skip: restateServerAvailable ? false : "restate-server is not installed" },
    async () => {
      const probe = await startProbeDeployment();
      const restate = await startRestateServer();
      try {
        await registerWithRestate(restate.admin, probe.uri);
        const r = await script(restate.ingress, probe);
        assert.deepEqual(normalise(r), EXPECTED);
      } finally {
        restate.process.kill("SIGKILL");
        await probe.close();
      }
    },
  );
});
