// Proves server mode with real processes: `onelog serve` without a file, a deployment written with the official Restate SDK registered with `onelog deployments register`, invocations through the ingress; the deployment SIGKILLed while an invocation waits on it — the invocation retries, replays and completes exactly once when the deployment is back, and no step that reached the journal runs twice; a restarted server keeps its deployments; a deployment that answers garbage fails its invocation's attempts with the reason in its status, and the server goes on serving.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import path from "node:path";
import { eventually, freePort, http, removeTmpDirs, tmpDir } from "../integration/admin-harness.js";
import { CLI_NODE_ARGS, GroupProcess, ROOT, cleanEnv, cli } from "../integration/cli-harness.js";

after(() => removeTmpDirs());

/** The official Restate SDK endpoint of tests/e2e/restate-deployment.ts, as its own process. */
function startDeployment(port: number, stepsFile: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      "--import",
      "./tests/compat/with-resolvers.mjs",
      "--import",
      "tsx",
      "tests/e2e/restate-deployment.ts",
      String(port),
      stepsFile,
    ],
    { cwd: ROOT, stdio: "ignore" },
  );
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The awakeable id the deployment's Order/place handler wrote for order `order`, once it did. */
function awakeableOf(stepsFile: string, order: string): Promise<string> {
  return eventually(`${order} waits on its awakeable`, () =>
    fs.existsSync(stepsFile)
      ? fs
          .readFileSync(stepsFile, "utf8")
          .split("\n")
          .find((l) => l.startsWith(`awakeable ${order} `))
          ?.split(" ")[2]
      : undefined,
  );
}

const exited = (c: ChildProcess) =>
  new Promise<void>((resolve) =>
    c.exitCode !== null || c.signalCode !== null ? resolve() : c.once("exit", () => resolve()),
  );

describe("server mode (onelog serve + a Restate SDK deployment, real processes)", () => {
  const dataDir = tmpDir("server-mode-");
  const stepsFile = path.join(tmpDir("server-mode-steps-"), "steps.log");
  let ingressPort = 0;
  let adminPort = 0;
  let deploymentPort = 0;
  let server: GroupProcess | undefined;
  let deployment: ChildProcess | undefined;
  let junk: http2.Http2Server | undefined;
  const ingress = () => `http://127.0.0.1:${ingressPort}`;
  const admin = () => `http://127.0.0.1:${adminPort}`;

  async function startServer(): Promise<void> {
    server = new GroupProcess(
      [
        ...CLI_NODE_ARGS,
        "serve",
        "--ingress-port",
        String(ingressPort),
        "--admin-port",
        String(adminPort),
        "--data-dir",
        dataDir,
      ],
      { cwd: ROOT, env: cleanEnv({ ONELOG_LOG_LEVEL: "warn" }) },
    );
    const banner = await server.banner();
    assert.match(banner, /serving no services of its own/);
  }

  async function stopServer(): Promise<void> {
    if (server === undefined) return;
    process.kill(-server.child.pid!, "SIGTERM");
    await server.exited;
    server = undefined;
  }

  before(async () => {
    [ingressPort, adminPort, deploymentPort] = await Promise.all([freePort(), freePort(), freePort()]);
    deployment = startDeployment(deploymentPort, stepsFile);
    await eventually("the deployment listens", () => listening(deploymentPort), 30_000);
    await startServer();
  });

  after(async () => {
    junk?.close();
    if (deployment !== undefined) deployment.kill("SIGKILL");
    if (server !== undefined) process.kill(-server.child.pid!, "SIGKILL");
  });

  it("registers the deployment with the CLI and invokes it through the ingress", async () => {
    const env = { ONELOG_ADMIN_URL: admin() };
    const url = `http://127.0.0.1:${deploymentPort}`;
    const reg = await cli(["deployments", "register", url], env);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, /registered dp_[0-9a-f]+ at/);
    assert.match(reg.stdout, /Counter/);

    // As Restate: the same URI again is the same deployment, unchanged (force replaces it in place).
    const again = await cli(["deployments", "register", url], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(/dp_[0-9a-f]+/.exec(again.stdout)?.[0], /dp_[0-9a-f]+/.exec(reg.stdout)?.[0]);

    const ls = await cli(["deployments", "ls", "--json"], env);
    const listed = JSON.parse(ls.stdout) as {
      deployments: { ty: string; uri?: string; protocol_type?: string }[];
    };
    assert.deepEqual(
      listed.deployments.map((d) => [d.ty, d.uri, d.protocol_type]),
      [["http", url, "BidiStream"]],
    );

    assert.equal((await http("POST", `${ingress()}/Counter/c1/add`, 2)).body, 2);
    assert.equal((await http("POST", `${ingress()}/Counter/c1/add`, 3)).body, 5);

    const unreachable = await http("POST", `${admin()}/deployments`, {
      uri: `http://127.0.0.1:${await freePort()}`,
    });
    assert.equal(unreachable.status, 400);
    assert.equal(unreachable.body.onelog_code, "OL1032");
  });

  it("an invocation whose deployment is SIGKILLed completes once the deployment is back, each journaled step run once", async () => {
    // With an idempotency key, the result is kept after completion (output can read it).
    const sent = await http("POST", `${ingress()}/Order/place/send`, JSON.stringify("o1"), {
      "content-type": "application/json",
      "idempotency-key": "o1",
    });
    assert.equal(sent.status, 202);
    const id = sent.body.invocationId as string;
    const awakeable = await awakeableOf(stepsFile, "o1");
    deployment!.kill("SIGKILL");
    await exited(deployment!);
    // While it is down, the attempt fails and retries; the awakeable can be resolved meanwhile.
    const resolved = await http("POST", `${ingress()}/restate/awakeables/${awakeable}/resolve`, '"alice"', {
      "content-type": "application/json",
    });
    assert.equal(resolved.status, 202, resolved.text);
    deployment = startDeployment(deploymentPort, stepsFile);
    const output = await eventually(
      "the invocation completes",
      async () => {
        const r = await http("GET", `${ingress()}/restate/invocation/${id}/output`);
        return r.status === 200 ? r.body : undefined;
      },
      60_000,
    ).catch(async (e: unknown) => {
      const status = await http("GET", `${admin()}/invocations/${id}`);
      throw new Error(`${String(e)}; status ${status.text}; server stderr ${server?.stderr.slice(-3000)}`);
    });
    assert.equal(output, "o1 paid by alice");
    const lines = fs.readFileSync(stepsFile, "utf8").split("\n");
    assert.equal(lines.filter((l) => l === "a o1").length, 1, "step a ran once");
    assert.equal(lines.filter((l) => l === "b o1").length, 1, "step b ran once");
  });

  it("a restarted server keeps its deployments", async () => {
    await stopServer();
    await startServer();
    const r = await http("GET", `${admin()}/deployments`);
    assert.equal(r.body.deployments.length, 1);
    assert.equal((await http("POST", `${ingress()}/Counter/c1/add`, 1)).body, 6);
  });

  it("a deployment that answers garbage fails its invocation's attempts, not the server", async () => {
    junk = http2.createServer((req, res) => {
      if (req.url === "/discover") {
        res.writeHead(200, { "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
        res.end(
          JSON.stringify({
            protocolMode: "BIDI_STREAM",
            minProtocolVersion: 5,
            maxProtocolVersion: 6,
            services: [{ name: "Junk", ty: "SERVICE", handlers: [{ name: "run" }] }],
          }),
        );
        return;
      }
      req.resume();
      res.writeHead(200, { "content-type": "application/vnd.restate.invocation.v6" });
      res.end(Buffer.from("77770000000000ffgarbage", "latin1")); // an unknown message type
    });
    const junkPort = await freePort();
    await new Promise<void>((resolve) => junk!.listen(junkPort, "127.0.0.1", resolve));
    const reg = await http("POST", `${admin()}/deployments`, { uri: `http://127.0.0.1:${junkPort}` });
    assert.equal(reg.status, 201, reg.text);
    assert.deepEqual(
      reg.body.services.map((s: { name: string }) => s.name),
      ["Junk"],
    );
    const sent = await http("POST", `${ingress()}/Junk/run/send`, JSON.stringify("x"));
    const id = sent.body.invocationId as string;
    const failure = await eventually("the attempt failed with the reason", async () => {
      const r = await http("GET", `${admin()}/invocations/${id}`);
      const f = (r.body.last_failure ?? r.body.status?.last_failure) as string | undefined;
      return f !== undefined && f !== null ? f : undefined;
    });
    assert.match(failure, /broke the service protocol/);
    // The server still serves everything else.
    assert.equal((await http("POST", `${ingress()}/Counter/c1/add`, 1)).body, 7);
    await http("PATCH", `${admin()}/invocations/${id}/kill`);
  });

  it("an invocation whose server is SIGKILLed mid-invocation completes once the server is back, each journaled step run once", async () => {
    const sent = await http("POST", `${ingress()}/Order/place/send`, JSON.stringify("o2"), {
      "content-type": "application/json",
      "idempotency-key": "o2",
    });
    assert.equal(sent.status, 202);
    const id = sent.body.invocationId as string;
    const awakeable = await awakeableOf(stepsFile, "o2");
    // The server dies with the attempt's stream open; the deployment sees the stream break.
    process.kill(-server!.child.pid!, "SIGKILL");
    await server!.exited;
    server = undefined;
    await startServer();
    const resolved = await http("POST", `${ingress()}/restate/awakeables/${awakeable}/resolve`, '"bob"', {
      "content-type": "application/json",
    });
    assert.equal(resolved.status, 202, resolved.text);
    const output = await eventually(
      "the invocation completes",
      async () => {
        const r = await http("GET", `${ingress()}/restate/invocation/${id}/output`);
        return r.status === 200 ? r.body : undefined;
      },
      60_000,
    );
    assert.equal(output, "o2 paid by bob");
    const lines = fs.readFileSync(stepsFile, "utf8").split("\n");
    assert.equal(lines.filter((l) => l === "a o2").length, 1, "step a ran once");
    assert.equal(lines.filter((l) => l === "b o2").length, 1, "step b ran once");
  });

  it("a deployment that hangs is asked to suspend after the inactivity timeout, then cancelled after the abort timeout", async () => {
    let inputEnded = 0;
    const hang = http2.createServer((req, res) => {
      if (req.url === "/discover") {
        res.writeHead(200, { "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
        res.end(
          JSON.stringify({
            protocolMode: "BIDI_STREAM",
            minProtocolVersion: 5,
            maxProtocolVersion: 6,
            services: [
              {
                name: "Hang",
                ty: "SERVICE",
                handlers: [{ name: "run", inactivityTimeout: 300, abortTimeout: 300 }],
              },
            ],
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "application/vnd.restate.invocation.v6" });
      req.on("end", () => inputEnded++); // the server closed its side: "suspend now"
      req.resume(); // and never answer anything
    });
    const port = await freePort();
    await new Promise<void>((resolve) => hang.listen(port, "127.0.0.1", resolve));
    try {
      const reg = await http("POST", `${admin()}/deployments`, { uri: `http://127.0.0.1:${port}` });
      assert.equal(reg.status, 201, reg.text);
      const sent = await http("POST", `${ingress()}/Hang/run/send`, JSON.stringify("x"));
      const id = sent.body.invocationId as string;
      const failure = await eventually("the attempt was cancelled", async () => {
        const r = await http("GET", `${admin()}/invocations/${id}`);
        return typeof r.body.last_failure === "string" ? (r.body.last_failure as string) : undefined;
      });
      assert.match(failure, /did not end the attempt within 300 ms after it was asked to suspend/);
      assert.ok(inputEnded >= 1, "the request body was closed to ask for suspension");
      await http("PATCH", `${admin()}/invocations/${id}/kill`);
    } finally {
      hang.close();
    }
  });

  it("an invocation stays on the deployment its journal was made with; that deployment is removed only once it is done", async () => {
    const first = (await http("GET", `${admin()}/deployments`)).body.deployments.find(
      (d: { uri?: string }) => d.uri === `http://127.0.0.1:${deploymentPort}`,
    ).id as string;
    const sent = await http("POST", `${ingress()}/Order/place/send`, JSON.stringify("o3"), {
      "content-type": "application/json",
      "idempotency-key": "o3",
    });
    const id = sent.body.invocationId as string;
    const awakeable = await awakeableOf(stepsFile, "o3");
    const pinned = await http("GET", `${admin()}/invocations/${id}`);
    assert.equal(pinned.body.pinned_deployment_id, first);
    // New code for Order at another URI: a new deployment, which new invocations go to.
    const port2 = await freePort();
    const steps2 = path.join(tmpDir("server-mode-steps2-"), "steps.log");
    const second = startDeployment(port2, steps2);
    try {
      await eventually("the second deployment listens", () => listening(port2), 30_000);
      const reg = await http("POST", `${admin()}/deployments`, { uri: `http://127.0.0.1:${port2}` });
      assert.equal(reg.status, 201, reg.text);
      assert.notEqual(reg.body.id, first);
      // The old one still has a running invocation pinned to it.
      const refused = await http("DELETE", `${admin()}/deployments/${first}`);
      assert.equal(refused.status, 409, refused.text);
      assert.match(refused.body.message, /running invocation/);
      const fresh = await http("POST", `${ingress()}/Order/place/send`, JSON.stringify("o4"), {
        "content-type": "application/json",
        "idempotency-key": "o4",
      });
      await eventually("o4 runs on the second deployment", () =>
        fs.existsSync(steps2) && fs.readFileSync(steps2, "utf8").includes("a o4") ? true : undefined,
      );
      // The pin is recorded once the server heard from the deployment, which may be just after
      // the handler's first step ran.
      await eventually("o4 is pinned to the second deployment", async () =>
        (await http("GET", `${admin()}/invocations/${fresh.body.invocationId}`)).body.pinned_deployment_id ===
        reg.body.id
          ? true
          : undefined,
      );
      await http("POST", `${ingress()}/restate/awakeables/${awakeable}/resolve`, '"carol"', {
        "content-type": "application/json",
      });
      const output = await eventually("o3 completes", async () => {
        const r = await http("GET", `${ingress()}/restate/invocation/${id}/output`);
        return r.status === 200 ? r.body : undefined;
      });
      assert.equal(output, "o3 paid by carol");
      assert.ok(fs.readFileSync(stepsFile, "utf8").includes("b o3"), "o3 finished on the first deployment");
      assert.ok(!fs.readFileSync(steps2, "utf8").includes("o3"), "o3 never ran on the second");
      const o4 = await awakeableOf(steps2, "o4");
      await http("POST", `${ingress()}/restate/awakeables/${o4}/resolve`, '"dan"', {
        "content-type": "application/json",
      });
      await eventually(
        "o4 completes",
        async () =>
          (await http("GET", `${ingress()}/restate/invocation/${fresh.body.invocationId}/output`)).status ===
          200,
      );
      const removed = await http("DELETE", `${admin()}/deployments/${first}`);
      assert.equal(removed.status, 202, removed.text);
    } finally {
      second.kill("SIGKILL");
    }
  });
});
