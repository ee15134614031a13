// Proves what a new user meets when starting and stopping onelog — Ctrl-C (SIGINT to the process group, once or twice) and SIGTERM release the data directory's LOCK, so does a SIGKILL of the CLI alone (its server stops), a LOCK left by SIGKILL is taken over with a log line, a port in use is one line naming the flag with exit code 1, `dev` reloads after a rename-over save and keeps the old version on a syntax error, and each entry file gets its own default data directory — by spawning the real CLI and `npm start`'s program and signalling them as a terminal would.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { eventually, freePort, http, removeTmpDirs, tmpDir } from "./admin-harness.js";
import { GroupProcess } from "./cli-harness.js";
import { alive } from "../support/processes.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = path.join(ROOT, "packages/onelog/src/cli/main.ts");
// tsx by absolute URL, so the CLI can run with another working directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const NODE_ARGS = ["--conditions=onelog-source", "--import", TSX];

after(() => removeTmpDirs());

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ONELOG_LOG_LEVEL: "warn" };
  for (const name of ["ONELOG_ADMIN_URL", "ONELOG_ADMIN_TOKEN", "ONELOG_DATA_DIR"]) delete env[name];
  for (const name of ["ONELOG_INGRESS_PORT", "ONELOG_ADMIN_PORT"]) delete env[name];
  return env;
}

/** A process in its own group, as a shell runs a foreground command: Ctrl-C signals the group. */
class Proc extends GroupProcess {
  constructor(args: readonly string[], cwd = ROOT, env: Record<string, string> = {}) {
    super([...NODE_ARGS, ...args], { cwd, env: { ...cleanEnv(), ...env } });
  }

  static cli(args: readonly string[], cwd = ROOT): Proc {
    return new Proc([MAIN, ...args], cwd);
  }

  /** A signal to the whole group (what Ctrl-C in a terminal does). */
  group(signal: NodeJS.Signals): void {
    process.kill(-this.child.pid!, signal);
  }

  /** Waits for the exit; after 30 s, SIGKILL to the group so nothing outlives the test. */
  async exit(): Promise<number | null> {
    const timer = setTimeout(() => {
      try {
        this.group("SIGKILL");
      } catch {
        // already gone
      }
    }, 30_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends whatever is left of the group (after a test failed half way). */
  kill(): void {
    try {
      this.group("SIGKILL");
    } catch {
      // already gone
    }
  }
}

function servicesFile(dir: string, greeting: string, name = "services.ts"): string {
  fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
  const file = path.join(dir, name);
  fs.writeFileSync(file, servicesSource(greeting));
  return file;
}

function servicesSource(greeting: string): string {
  const onelogSource = pathToFileURL(path.join(ROOT, "packages/onelog/src/index.ts")).href;
  return `import * as onelog from ${JSON.stringify(onelogSource)};
export const greeter = onelog.service({
  name: "Greeter",
  handlers: { greet: async (ctx: onelog.Context, name: string) => \`${greeting} \${name}\` },
});
`;
}

async function ports(): Promise<string[]> {
  return ["--ingress-port", String(await freePort()), "--admin-port", String(await freePort())];
}

const lockOf = (dataDir: string) => path.join(dataDir, "LOCK");

describe("stopping releases the data directory", () => {
  for (const mode of ["dev", "serve"] as const) {
    it(`${mode}: Ctrl-C (SIGINT to the group), twice, SIGTERM to the CLI — each time the next start works`, async () => {
      const dir = tmpDir(`stop-${mode}`);
      const file = servicesFile(dir, "hi");
      const data = path.join(dir, "data");
      const stops: [string, (p: Proc) => void][] = [
        ["Ctrl-C", (p) => p.group("SIGINT")],
        [
          "Ctrl-C twice",
          (p) => {
            p.group("SIGINT");
            setTimeout(() => {
              try {
                p.group("SIGINT");
              } catch {
                // already gone
              }
            }, 20);
          },
        ],
        ["SIGTERM", (p) => p.child.kill("SIGTERM")],
      ];
      for (const [what, stop] of stops) {
        const p = Proc.cli([mode, file, "--data-dir", data, ...(await ports())]);
        try {
          await p.banner();
          assert.ok(fs.existsSync(lockOf(data)), "the server holds the LOCK");
          stop(p);
          assert.equal(await p.exit(), 0, `${what}: ${p.stderr}`);
          assert.equal(fs.existsSync(lockOf(data)), false, `${what} left the LOCK behind`);
        } finally {
          p.kill();
        }
      }
    });
  }

  it("serve: SIGKILL to the CLI alone stops its server too, which releases the LOCK", async () => {
    const dir = tmpDir("stop-cli-kill");
    const file = servicesFile(dir, "hi");
    const data = path.join(dir, "data");
    const args = await ports();
    const p = Proc.cli(["serve", file, "--data-dir", data, ...args]);
    try {
      await p.banner();
      const lock = fs.readFileSync(lockOf(data), "utf8");
      const server = Number(lock.split(" ")[0]);
      assert.notEqual(server, p.child.pid, "the server is the CLI's child");
      p.child.kill("SIGKILL");
      await p.exit();
      await eventually(
        "the orphaned server stopped and released the LOCK",
        () => !fs.existsSync(lockOf(data)) && !alive(server),
        20_000,
      );
      await eventually("the server said why it stopped", () =>
        /the onelog command that started this server is gone; stopping/.test(p.stderr),
      );
    } finally {
      p.kill();
    }
  });

  it("after SIGKILL the LOCK stays, and the next start takes it over and says so", async () => {
    const dir = tmpDir("stop-kill");
    const file = servicesFile(dir, "hi");
    const data = path.join(dir, "data");
    const first = Proc.cli(["serve", file, "--data-dir", data, ...(await ports())]);
    try {
      await first.banner();
      first.group("SIGKILL");
      await first.exit();
    } finally {
      first.kill();
    }
    const dead = Number(fs.readFileSync(lockOf(data), "utf8").split(" ")[0]);
    const args = await ports();
    const second = Proc.cli(["serve", file, "--data-dir", data, ...args]);
    try {
      await second.banner();
      const line = second.stdout.split("\n").find((l) => l.includes("taking it over"));
      assert.ok(line, second.stdout);
      assert.match(JSON.parse(line).msg, new RegExp(`LOCK names process ${dead}, which no longer runs`));
      const ingress = `http://127.0.0.1:${args[1]}`;
      assert.equal((await http("POST", `${ingress}/Greeter/greet`, '"Al"')).body, "hi Al");
      second.child.kill("SIGTERM");
      assert.equal(await second.exit(), 0, second.stderr);
    } finally {
      second.kill();
    }
  });
});

describe("a port in use", () => {
  it("is one line naming the port and the flag, exit code 1, for dev, serve and npm start", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const dir = tmpDir("port");
      const file = servicesFile(dir, "hi");
      for (const mode of ["dev", "serve"] as const) {
        const p = Proc.cli([mode, file, "--data-dir", path.join(dir, mode), "--ingress-port", String(port)]);
        try {
          assert.equal(await p.exit(), 1, p.stderr);
        } finally {
          p.kill();
        }
        assert.equal(
          p.stderr,
          `onelog ${mode}: cannot start: the ingress port ${port} on 127.0.0.1 is in use by another process: ` +
            `stop it, or choose another port with --ingress-port <n> or ONELOG_INGRESS_PORT=<n> ` +
            `(start({ ingressPort }) in code) [OL1025]\n`,
        );
        assert.equal(fs.existsSync(lockOf(path.join(dir, mode))), false, "the data directory is released");
      }
      const start = new Proc([path.join(ROOT, "examples/main.ts")], ROOT, {
        ONELOG_INGRESS_PORT: String(await freePort()),
        ONELOG_ADMIN_PORT: String(port),
        ONELOG_DATA_DIR: path.join(dir, "npm-start"),
      });
      try {
        assert.equal(await start.exit(), 1, start.stderr);
      } finally {
        start.kill();
      }
      assert.match(
        start.stderr,
        new RegExp(
          `^npm start: cannot start: the admin port ${port} on 127.0.0.1 is in use .*--admin-port <n> or ONELOG_ADMIN_PORT=<n>`,
        ),
      );
      assert.equal(start.stderr.trim().split("\n").length, 1, start.stderr);
    } finally {
      busy.close();
    }
  });
});

describe("onelog dev reloads", () => {
  it("after a rename-over save; a file that does not load keeps the old version running", async () => {
    const dir = tmpDir("dev-rename");
    const file = servicesFile(dir, "one");
    const args = await ports();
    const ingress = `http://127.0.0.1:${args[1]}`;
    const dev = Proc.cli(["dev", file, "--data-dir", path.join(dir, "data"), ...args]);
    // What vim and many IDEs do: write a temp file next to it, rename it over the original.
    const save = (text: string) => {
      const tmp = path.join(dir, `.services.ts.${Date.now()}.tmp`);
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
    };
    const greet = async () => (await http("POST", `${ingress}/Greeter/greet`, '"Bo"')).body;
    try {
      await dev.banner();
      assert.equal(await greet(), "one Bo");
      save(servicesSource("two"));
      await eventually("the renamed-over file is served", async () => (await greet()) === "two Bo", 60_000);
      await dev.banner(2);
      save(servicesSource("three").replace("export const", "export const const"));
      await eventually(
        "the load error is printed",
        () => /does not load; the previous version keeps running/.test(dev.stderr),
        60_000,
      );
      assert.match(dev.stderr, /services\.ts/);
      assert.equal(await greet(), "two Bo", "the previous version still serves");
      save(servicesSource("four"));
      await eventually("the fixed file is served", async () => (await greet()) === "four Bo", 60_000);
      assert.equal(dev.stdout.split("\n").filter((l) => /^onelog dev: serving/.test(l)).length, 3);
      dev.group("SIGINT");
      assert.equal(await dev.exit(), 0, dev.stderr);
    } finally {
      dev.kill();
    }
  });
});

describe("default data directories", () => {
  it("are keyed by the entry file: onelog serve a.ts uses ./.onelog-a", async () => {
    const dir = tmpDir("default-dir");
    const a = servicesFile(dir, "a", "a.ts");
    const p = Proc.cli(["serve", a, ...(await ports())], dir);
    try {
      assert.match(await p.banner(), new RegExp(`data in ${path.join(dir, ".onelog-a")}$`));
      p.child.kill("SIGTERM");
      assert.equal(await p.exit(), 0, p.stderr);
    } finally {
      p.kill();
    }
  });
});

describe("a config file (--config)", () => {
  it("sets the options as the flags do, paths relative to it; flags win; a wrong key is one clear error", async () => {
    const dir = tmpDir("config");
    const file = servicesFile(dir, "hey");
    const [ingressPort, adminPort, flagAdminPort] = [await freePort(), await freePort(), await freePort()];
    const config = path.join(dir, "onelog.json");
    fs.writeFileSync(config, JSON.stringify({ ingressPort, adminPort, dataDir: "state" }));
    const p = Proc.cli(["serve", file, "--config", config, "--admin-port", String(flagAdminPort)], ROOT);
    try {
      const banner = await p.banner();
      assert.match(banner, new RegExp(`ingress http://127.0.0.1:${ingressPort}`));
      assert.match(
        banner,
        new RegExp(`admin http://127.0.0.1:${flagAdminPort}`),
        "the flag wins over the file",
      );
      assert.ok(fs.existsSync(lockOf(path.join(dir, "state"))), "dataDir is relative to the config file");
      assert.equal(
        (await http("POST", `http://127.0.0.1:${ingressPort}/Greeter/greet`, '"Al"')).body,
        "hey Al",
      );
      p.child.kill("SIGTERM");
      assert.equal(await p.exit(), 0, p.stderr);
    } finally {
      p.kill();
    }
    fs.writeFileSync(config, JSON.stringify({ ingresPort: 8080 }));
    const bad = Proc.cli(["serve", file, "--config", config], ROOT);
    try {
      assert.notEqual(await bad.exit(), 0);
      assert.match(
        bad.stderr,
        /config .*onelog\.json: unknown option "ingresPort"; known: ingressPort, adminPort/,
      );
    } finally {
      bad.kill();
    }
  });
});
