/**
 * `onelog dev <file>` and `onelog serve <file>`: onelog embedded, in a child process, with the
 * services the file exports. `dev` runs it under `node --watch`, so the child restarts when the
 * file or anything it imported changes; in-flight invocations carry on after the restart, from
 * the log. TypeScript files run through tsx, as `npm start` does.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { CliError } from "../client.js";

interface RunOptions {
  ingressPort?: number;
  adminPort?: number;
  dataDir?: string;
  host?: string;
  partitions?: number;
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError("expected a port number");
  return n;
}

/** tsx's loader for `--import`, from the project in the working directory, else from onelog's. */
function tsxLoader(): string | undefined {
  for (const from of [pathToFileURL(join(process.cwd(), "noop.js")).href, import.meta.url]) {
    try {
      return pathToFileURL(createRequire(from).resolve("tsx")).href;
    } catch {
      // try the next place
    }
  }
  return undefined;
}

async function run(mode: "dev" | "serve", file: string, o: RunOptions): Promise<number> {
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(`no such file: ${file}`);
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const runner = join(dirname(here), "..", fromSource ? "serve-file.ts" : "serve-file.js");
  const execArgv = [...process.execArgv];
  if ((fromSource || /\.[cm]?tsx?$/.test(path)) && !execArgv.some((a) => a.includes("tsx"))) {
    const loader = tsxLoader();
    if (loader === undefined)
      throw new CliError(`${file} is TypeScript: install tsx (npm i -D tsx) to run it`);
    execArgv.push("--import", loader);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ONELOG_CLI_MODE: mode };
  if (o.ingressPort !== undefined) env.ONELOG_INGRESS_PORT = String(o.ingressPort);
  if (o.adminPort !== undefined) env.ONELOG_ADMIN_PORT = String(o.adminPort);
  if (o.dataDir !== undefined) env.ONELOG_DATA_DIR = o.dataDir;
  if (o.host !== undefined) env.ONELOG_HOST = o.host;
  if (o.partitions !== undefined) env.ONELOG_PARTITIONS = String(o.partitions);
  const args = [...(mode === "dev" ? ["--watch", "--watch-preserve-output"] : []), ...execArgv, runner, path];
  const child = spawn(process.execPath, args, { stdio: "inherit", env });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    return await new Promise<number>((resolveExit, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => resolveExit(code ?? (signal === null ? 0 : 1)));
    });
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

export function registerRun(program: Command): void {
  const modes = [
    ["dev", "start onelog embedded with the services <file> exports; restart when it changes"],
    [
      "serve",
      "run onelog standalone with the services <file> exports (remote deployments are not built yet)",
    ],
  ] as const;
  for (const [mode, description] of modes) {
    program
      .command(mode)
      .argument("<file>", "a module that exports services (export const greeter = onelog.service(…))")
      .description(description)
      .option("--ingress-port <port>", "ingress port (default 8080, env ONELOG_INGRESS_PORT)", port)
      .option("--admin-port <port>", "admin port (default 9070, env ONELOG_ADMIN_PORT)", port)
      .option("--data-dir <dir>", "where the log and state live (default .onelog, env ONELOG_DATA_DIR)")
      .option("--host <host>", "interface to bind (default 127.0.0.1, env ONELOG_HOST)")
      .option("--partitions <n>", "partitions of a new data directory (default 4)", (t) => {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
        return n;
      })
      .action(async (file: string, opts: RunOptions) => {
        process.exitCode = await run(mode, file, opts);
      });
  }
}
