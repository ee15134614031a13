/**
 * `onelog dev <file>` and `onelog serve <file>`: onelog embedded, in a child process, with the
 * services the file exports. TypeScript files run through tsx, as `npm start` does.
 *
 * `dev` watches the directories under the file's directory (not the files' inodes, so an editor
 * that saves by renaming a temp file over the original is seen), waits for changes to settle,
 * loads the changed code in a throwaway process first, and only then restarts the server: code
 * that does not load is printed and the previous version keeps serving. In-flight invocations
 * carry on after a restart, from the log.
 *
 * Signals: the first SIGINT/SIGTERM is forwarded to the server, which stops and releases the
 * data directory; the command exits with the server's exit code. Later signals are absorbed,
 * so a second Ctrl-C cannot leave the LOCK behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, watch, type FSWatcher } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { CliError } from "../client.js";

interface RunOptions {
  requestIdentityKey?: string;
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

/**
 * The default data directory of `onelog dev|serve <file>`: `.onelog-<file name without
 * extension>` in the working directory, so two entry files (and `npm start`, which uses
 * `.onelog-examples`) never share a log and retry each other's invocations.
 */
export function defaultDataDir(file: string): string {
  const stem = basename(file, extname(file)).replace(/[^A-Za-z0-9._-]/g, "_");
  return `.onelog-${stem}`;
}

/** Files whose change restarts `dev`. */
const SOURCE = /\.(?:[cm]?[jt]sx?|json)$/;
/** How long changes must settle before `dev` reloads (editors write several times per save). */
const DEBOUNCE_MS = 150;
/** At most this many directories are watched (a file next to a huge tree must not hang dev). */
const MAX_WATCHED_DIRS = 500;

/** The directories `dev` watches: `root` and its subdirectories but node_modules and dot-dirs. */
function directoriesUnder(root: string, skip: string): string[] {
  const out: string[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < MAX_WATCHED_DIRS) {
    const dir = queue.shift()!;
    if (dir === skip) continue;
    out.push(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory() && e.name !== "node_modules" && !e.name.startsWith("."))
        queue.push(join(dir, e.name));
    }
  }
  return out;
}

function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolveExit, reject) => {
    if (child.exitCode !== null) return resolveExit(child.exitCode);
    if (child.signalCode !== null) return resolveExit(1);
    child.once("error", reject);
    child.once("exit", (code, signal) => resolveExit(code ?? (signal === null ? 0 : 1)));
  });
}

/** The data directory of `onelog serve` without a file (the server mode). */
export const SERVER_DATA_DIR = ".onelog-server";

async function run(mode: "dev" | "serve", file: string | undefined, o: RunOptions): Promise<number> {
  const path = file === undefined ? undefined : resolve(file);
  if (path !== undefined && !existsSync(path)) throw new CliError(`no such file: ${file}`);
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const runner = join(dirname(here), "..", fromSource ? "serve-file.ts" : "serve-file.js");
  const execArgv = [...process.execArgv];
  if ((fromSource || /\.[cm]?tsx?$/.test(path ?? "")) && !execArgv.some((a) => a.includes("tsx"))) {
    const loader = tsxLoader();
    if (loader === undefined)
      throw new CliError(`${file} is TypeScript: install tsx (npm i -D tsx) to run it`);
    execArgv.push("--import", loader);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ONELOG_CLI_MODE: mode };
  if (o.ingressPort !== undefined) env.ONELOG_INGRESS_PORT = String(o.ingressPort);
  if (o.adminPort !== undefined) env.ONELOG_ADMIN_PORT = String(o.adminPort);
  env.ONELOG_DATA_DIR =
    o.dataDir ?? (env.ONELOG_DATA_DIR || (path === undefined ? SERVER_DATA_DIR : defaultDataDir(path)));
  if (o.host !== undefined) env.ONELOG_HOST = o.host;
  if (o.requestIdentityKey !== undefined) {
    env.ONELOG_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE = resolve(o.requestIdentityKey);
  }
  if (o.partitions !== undefined) env.ONELOG_PARTITIONS = String(o.partitions);
  const args = [...execArgv, runner, ...(path === undefined ? [] : [path])];

  let stopping = false;
  // The server sends one IPC message once it serves (dev tells a failing start from a crash).
  const serverStdio = ["inherit", "inherit", "inherit", "ipc"] as const;
  let child = spawn(process.execPath, args, { stdio: [...serverStdio], env });
  let exited = exitCodeOf(child);
  let checker: ChildProcess | undefined;
  const watchers: FSWatcher[] = [];
  let stopped!: (code: number) => void;
  const done = new Promise<number>((r) => (stopped = r));

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const w of watchers.splice(0)) w.close();
    checker?.kill("SIGKILL");
    child.kill(signal);
    void exited.then(stopped, () => stopped(1));
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);

  if (mode === "serve") {
    void exited.then(stopped, () => stopped(1));
  } else {
    // The first server's failure to start (a port in use, a held data directory) ends dev; a
    // later one waits for the next change.
    let first = true;
    const watchExit = () => {
      const mine = child;
      void exited.then((code) => {
        if (stopping || mine !== child) return;
        if (first) {
          stopping = true;
          for (const w of watchers.splice(0)) w.close();
          stopped(code);
        } else {
          process.stderr.write(`onelog dev: the server exited with code ${code}; waiting for a change\n`);
        }
      });
    };
    watchExit();
    child.once("message", () => (first = false));

    let timer: NodeJS.Timeout | undefined;
    let busy = false;
    let again = false;
    const dataDir = resolve(env.ONELOG_DATA_DIR);
    const rewatch = () => {
      for (const w of watchers.splice(0)) w.close();
      for (const dir of directoriesUnder(dirname(path!), dataDir)) {
        try {
          const w = watch(dir, (_event, name) => {
            if (name === null || SOURCE.test(name.toString())) schedule();
          });
          w.on("error", () => w.close());
          watchers.push(w);
        } catch {
          // a directory that vanished meanwhile
        }
      }
    };
    const schedule = () => {
      if (stopping) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), DEBOUNCE_MS);
    };
    const reload = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          // Load the new code in a throwaway process first: if it does not load, say why and
          // keep the running version.
          const check = spawn(process.execPath, args, {
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...env, ONELOG_CHECK_ONLY: "1" },
          });
          checker = check;
          let errors = "";
          check.stderr.on("data", (d: Buffer) => (errors += d.toString()));
          const ok = (await exitCodeOf(check)) === 0;
          checker = undefined;
          if (stopping) return;
          if (!ok) {
            process.stderr.write(
              `onelog dev: ${file} does not load; the previous version keeps running\n${errors}`,
            );
            continue;
          }
          if (again) continue;
          process.stdout.write(`onelog dev: ${file} changed; restarting\n`);
          const old = child;
          old.kill("SIGTERM");
          await exited;
          if (stopping) return;
          child = spawn(process.execPath, args, { stdio: [...serverStdio], env });
          exited = exitCodeOf(child);
          first = false;
          watchExit();
          rewatch();
        } while (again && !stopping);
      } finally {
        busy = false;
      }
    };
    rewatch();
  }

  try {
    return await done;
  } finally {
    clearAll();
    // The signal listeners stay (they do nothing once stopping): removed here, a second Ctrl-C
    // arriving between the server's exit and this process's own would kill it by the signal
    // instead of letting it exit with the server's code.
  }

  function clearAll() {
    for (const w of watchers.splice(0)) w.close();
  }
}

export function registerRun(program: Command): void {
  const modes = [
    ["dev", "start onelog embedded with the services <file> exports; restart when it changes"],
    [
      "serve",
      "run onelog standalone: with the services [file] exports, and with deployments registered by URL (without a file: deployments only)",
    ],
  ] as const;
  for (const [mode, description] of modes) {
    program
      .command(mode)
      .argument(
        mode === "serve" ? "[file]" : "<file>",
        "a module that exports services (export const greeter = onelog.service(…))",
      )
      .description(description)
      .option("--ingress-port <port>", "ingress port (default 8080, env ONELOG_INGRESS_PORT)", port)
      .option("--admin-port <port>", "admin port (default 9070, env ONELOG_ADMIN_PORT)", port)
      .option(
        "--data-dir <dir>",
        `where the log and state live (default .onelog-<file name>${mode === "serve" ? `, or ${SERVER_DATA_DIR} without a file` : ""}, env ONELOG_DATA_DIR)`,
      )
      .option("--host <host>", "interface to bind (default 127.0.0.1, env ONELOG_HOST)")
      .option(
        "--request-identity-key <pem-file>",
        "sign requests to deployments with this ed25519 private key (PKCS#8 PEM; env ONELOG_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE)",
      )
      .option("--partitions <n>", "partitions of a new data directory (default 4)", (t) => {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
        return n;
      })
      .action(async (file: string | undefined, opts: RunOptions) => {
        process.exitCode = await run(mode, file, opts);
      });
  }
}
