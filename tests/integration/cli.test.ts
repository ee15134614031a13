// Proves the `onelog` CLI works end to end — `dev` serves a file's services and restarts when it changes (keeping in-flight invocations), `serve` runs it standalone, and services/deployments/invocations/state/sql print tables or --json, bulk operations report progress, errors are one line with exit code 1 — by spawning the real CLI (packages/onelog/src/cli/main.ts through tsx) against the embedded server it started.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as onelog from "onelog";
import { eventually, freePort, http, removeTmpDirs, startServer, tmpDir } from "./admin-harness.js";
import { CLI_NODE_ARGS, cleanEnv, cli, GroupProcess, ROOT, servicesFile } from "./cli-harness.js";

/** A long-running CLI (`dev`, `serve`), in its own process group so nothing outlives the test. */
class Daemon extends GroupProcess {
  constructor(args: readonly string[]) {
    super([...CLI_NODE_ARGS, ...args], { cwd: ROOT, env: cleanEnv({ ONELOG_LOG_LEVEL: "warn" }) });
  }

  /** SIGTERM to the CLI; after 20 s, SIGKILL to its whole group. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      try {
        process.kill(-this.child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, 20_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

let dev: Daemon;
let dir: string;
let file: string;
let ingress: string;
let admin: string;

before(async () => {
  dir = tmpDir("cli");
  file = servicesFile(dir, "hello");
  const [ingressPort, adminPort] = [await freePort(), await freePort()];
  ingress = `http://127.0.0.1:${ingressPort}`;
  admin = `http://127.0.0.1:${adminPort}`;
  dev = new Daemon([
    "dev",
    file,
    "--ingress-port",
    String(ingressPort),
    "--admin-port",
    String(adminPort),
    "--data-dir",
    path.join(dir, "data"),
  ]);
  const banner = await dev.banner();
  assert.match(banner, new RegExp(`serving Greeter, Counter — ingress ${ingress}, admin ${admin}`));
  await eventually("the web UI's URL is printed", () =>
    dev.stdout.includes(`onelog dev: web UI at ${admin}/ui/`),
  );
});

after(async () => {
  await dev?.stop();
  removeTmpDirs();
});

const run = (...args: string[]) => cli(["--admin-url", admin, ...args]);

describe("onelog dev and the admin commands", () => {
  it("services ls and describe print tables; --json prints the admin API's answer", async () => {
    const ls = await run("services", "ls");
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trim().split("\n");
    assert.match(lines[0]!, /^NAME\s+TYPE\s+HANDLERS\s+PUBLIC\s+DEPLOYMENT$/);
    assert.match(ls.stdout, /^Counter\s+VirtualObject\s+add\s+yes\s+dp_/m);
    assert.match(ls.stdout, /^Greeter\s+Service\s+greet, slow\s+yes\s+dp_/m);
    const json = await run("--json", "services", "ls");
    assert.deepEqual(
      JSON.parse(json.stdout).services.map((s: any) => s.name),
      ["Counter", "Greeter"],
    );
    const describe = await run("services", "describe", "Greeter");
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /^type\s+Service$/m);
    assert.match(
      describe.stdout,
      /^greet\s+-\s+yes\s+application\/json\s+application\/json\s+50ms ×2 up to 1m; 100 attempts, then pause/m,
    );
    const deployments = await run("deployments", "ls");
    assert.match(deployments.stdout, /^dp_\S+\s+embedded\s+in-process\s+\S+\s+Counter, Greeter$/m);
  });

  it("invocations ls and describe: the journal as a timeline", async () => {
    const greeted = await http("POST", `${ingress}/Greeter/greet`, '"Ada"', { "idempotency-key": "cli-1" });
    assert.equal(greeted.body, "hello Ada");
    const sent = await http("POST", `${ingress}/Greeter/slow/send`, '"nap"');
    const id = sent.body.invocationId as string;
    await eventually("the sleep is journaled", async () => {
      const r = await http("GET", `${admin}/invocations/${id}`);
      return r.body.journal?.length === 2;
    });
    const ls = await run("invocations", "ls", "--service", "Greeter");
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^ID\s+TARGET\s+STATUS\s+ATTEMPTS\s+CREATED\s+RESULT$/m);
    assert.match(ls.stdout, new RegExp(`^${id}\\s+Greeter/slow\\s+(invoked|suspended)\\s+1\\s`, "m"));
    // Completed invocations are kept for history, with their result.
    assert.match(ls.stdout, /Greeter\/greet\s+completed\s+1\s+\S+\s+→ "hello Ada"$/m);
    const d = await run("invocations", "describe", id);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`^id\\s+${id}$`, "m"));
    assert.match(d.stdout, /^target\s+Greeter\/slow$/m);
    assert.match(d.stdout, /^journal \(2 entries\):$/m);
    assert.match(d.stdout, /^\s+#\s+AT\s+ATTEMPT\s+COMMAND\s+ENTRY\s+VALUE$/m);
    assert.match(d.stdout, /^\s+0\s+\+\d+ms\s+cmd 0\s+Input\s+"nap"$/m);
    assert.match(d.stdout, /^\s+1\s+\+[\d.]+m?s\s+1\s+cmd 1\s+Sleep\s+until \d{4}-\d\d-\d\dT/m);
    const json = JSON.parse((await run("--json", "invocations", "describe", id)).stdout);
    assert.deepEqual(
      json.journal.map((e: any) => e.type),
      ["input", "sleep"],
    );
    // A completed one keeps its journal (the journal retention, 24 h by default).
    const done = await run("invocations", "describe", greeted.headers.get("x-restate-id")!);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^status\s+completed$/m);
    assert.match(done.stdout, /^result\s+"hello Ada"$/m);
    assert.match(done.stdout, /^kept\s+status and result 1d, journal 1d after completion$/m);
    assert.match(done.stdout, /^journal \(3 entries\):$/m);
    assert.match(done.stdout, /^\s+1\s+\+\d+ms\s+1\s+cmd 1\s+Run 'compose'/m);
  });

  it("state set and get go through the admin API; null deletes", async () => {
    assert.equal((await http("POST", `${ingress}/Counter/c1/add`, "2")).body, 2);
    const set = await run("state", "set", "Counter", "c1", "count=7", 'note="hi"');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^count\s+7$/m);
    assert.match(set.stdout, /^note\s+"hi"$/m);
    assert.equal((await http("POST", `${ingress}/Counter/c1/add`, "1")).body, 8);
    const del = await run("state", "set", "Counter", "c1", "note=null");
    assert.doesNotMatch(del.stdout, /note/);
    const get = JSON.parse((await run("--json", "state", "get", "Counter", "c1")).stdout);
    assert.deepEqual(get, {
      service: "Counter",
      key: "c1",
      version: get.version,
      state: { count: { json: "8" } },
    });
    assert.match(get.version, /^[0-9a-f]{16}$/);
    const bad = await run("state", "set", "Greeter", "x", "a=1");
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^error: Greeter is a service: only objects and workflows have state \[OL1003\]$/m,
    );
  });

  it("sql prints rows as a table; a write is refused with exit code 1", async () => {
    const r = await run(
      "sql",
      "SELECT target, status, completion_result FROM sys_invocation WHERE idempotency_key = 'cli-1'",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^target\s+status\s+completion_result$/m);
    assert.match(r.stdout, /^Greeter\/greet\s+completed\s+success$/m);
    assert.match(r.stdout, /^\(1 row\)$/m);
    const json = JSON.parse((await run("--json", "sql", "SELECT 1 AS one")).stdout);
    assert.deepEqual(json, { rows: [{ one: 1 }], truncated: false });
    const write = await run("sql", "DELETE FROM state");
    assert.equal(write.code, 1);
    assert.match(write.stderr, /^error: only read-only queries run here .*\[OL1019\]$/m);
  });

  it("cancel --all-matching asks for --yes, then cancels every match with a progress bar", async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3])
      ids.push((await http("POST", `${ingress}/Greeter/slow/send`, `"bulk-${n}"`)).body.invocationId);
    const where = `target_handler_name = 'slow' AND id IN (${ids.map((i) => `'${i}'`).join(", ")})`;
    const refused = await run("invocations", "cancel", "--all-matching", where);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: cancel 3 invocations\? add --yes to go ahead$/m);
    const r = await cli(["--admin-url", admin, "invocations", "cancel", "--all-matching", where, "--yes"], {
      ONELOG_PROGRESS: "1",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^cancelled 3 of 3 invocations$/m);
    assert.match(r.stderr, /\[#{30}\] 3\/3 cancel/);
    // Cancelled, they complete and are kept for history: no running one is left to cancel.
    const running = `${where} AND status <> 'completed'`;
    await eventually("the cancelled invocations complete", async () => {
      const rows = (
        await http("POST", `${admin}/query`, { query: `SELECT id FROM sys_invocation WHERE ${running}` })
      ).body.rows;
      return rows.length === 0;
    });
    const none = await run("invocations", "cancel", "--all-matching", running);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /no invocation matches: nothing cancelled/);
    const unknown = await run("invocations", "kill", `inv_${"0".repeat(40)}`);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: invocation inv_0+ not found \[OL1008\]$/m);
  });

  it("dev restarts when the file changes; invocations in flight survive the restart", async () => {
    const inFlight = (await http("POST", `${ingress}/Greeter/slow/send`, '"across"')).body
      .invocationId as string;
    await eventually(
      "the sleep is journaled",
      async () => (await http("GET", `${admin}/invocations/${inFlight}`)).body.journal?.length === 2,
    );
    servicesFile(dir, "HOWDY");
    await eventually(
      "the new code answers",
      async () => (await http("POST", `${ingress}/Greeter/greet`, '"Bo"')).body === "HOWDY Bo",
      60_000,
    );
    await dev.banner(2);
    const d = await run("--json", "invocations", "describe", inFlight);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(
      JSON.parse(d.stdout).journal.map((e: any) => e.type),
      ["input", "sleep"],
    );
  });

  it("stops on SIGTERM and releases the data directory", async () => {
    const code = await dev.stop();
    assert.equal(code, 0, dev.stderr);
    assert.equal(fs.existsSync(path.join(dir, "data", "LOCK")), false);
  });
});

describe("onelog serve", () => {
  it("runs the file's services standalone until SIGTERM", async () => {
    const serveDir = tmpDir("cli-serve");
    const serveFile = servicesFile(serveDir, "hi");
    const [ingressPort, adminPort] = [await freePort(), await freePort()];
    const serve = new Daemon([
      "serve",
      serveFile,
      "--ingress-port",
      String(ingressPort),
      "--admin-port",
      String(adminPort),
      "--data-dir",
      path.join(serveDir, "data"),
      "--partitions",
      "2",
    ]);
    try {
      await serve.banner();
      assert.equal(
        (await http("POST", `http://127.0.0.1:${ingressPort}/Greeter/greet`, '"Al"')).body,
        "hi Al",
      );
      const health = await http("GET", `http://127.0.0.1:${adminPort}/health`);
      assert.equal(health.body.partitions.length, 2);
    } finally {
      assert.equal(await serve.stop(), 0, serve.stderr);
    }
  });
});

describe("CLI errors", () => {
  it("says how to start a server when nothing listens, with exit code 1", async () => {
    const port = await freePort();
    const r = await cli(["--admin-url", `http://127.0.0.1:${port}`, "services", "ls"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `error: no onelog admin endpoint at http://127.0.0.1:${port} — start one with \`npm start\` or \`onelog dev <file>\`\n`,
    );
    assert.equal(r.stdout, "");
    const fromEnv = await cli(["services", "ls"], { ONELOG_ADMIN_URL: `http://127.0.0.1:${port}/` });
    assert.match(fromEnv.stderr, new RegExp(`no onelog admin endpoint at http://127.0.0.1:${port} `));
  });

  it("sends ONELOG_ADMIN_TOKEN and explains a 401", async () => {
    const greeter = onelog.service({ name: "Greeter", handlers: { greet: async () => "hi" } });
    const guarded = await startServer([greeter], { adminToken: "t0ken" });
    try {
      const denied = await cli(["--admin-url", guarded.adminUrl!, "services", "ls"]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /\[OL1017\] \(set ONELOG_ADMIN_TOKEN\)$/m);
      const allowed = await cli(["--admin-url", guarded.adminUrl!, "services", "ls"], {
        ONELOG_ADMIN_TOKEN: "t0ken",
      });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /^Greeter\s+Service/m);
    } finally {
      await guarded.stop();
    }
  });

  it("dev refuses a missing file", async () => {
    const r = await cli(["dev", path.join(ROOT, "no-such-file.ts")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: no such file: /);
  });
});
