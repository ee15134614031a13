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
import { existsSync, readFileSync, readdirSync, watch, type FSWatcher } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { CliError } from "../client.js";
import { isTimerMs, MAX_TIMER_MS } from "../../internal/clock.js";

interface RunOptions {
  config?: string;
  requestIdentityKey?: string;
  ingressPort?: number;
  adminPort?: number;
  dataDir?: string;
  host?: string;
  partitions?: number;
  cluster?: string;
  node?: string;
  replicas?: number;
  compactIntervalMs?: number;
  leaseMs?: number;
}

function ms(text: string): number {
  const n = Number(text);
  if (!isTimerMs(n)) throw new InvalidArgumentError(`expected whole ms from 1 to ${MAX_TIMER_MS}`);
  return n;
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

/** How long signals must be quiet before the CLI exits after a signal (see `run`). */
const SIGNAL_QUIET_MS = 300;

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

/** What a config file (`--config`) may set: the long options, in camelCase. */
const CONFIG_KEYS = {
  ingressPort: "port",
  adminPort: "port",
  dataDir: "path",
  host: "string",
  requestIdentityKey: "path",
  partitions: "count",
  cluster: "urls",
  node: "string",
  replicas: "count",
  compactIntervalMs: "ms",
  leaseMs: "ms",
} as const;

/**
 * The options a JSON config file sets (docs/cli.md): the same as the flags, which win over it.
 * Paths in it are relative to the file. Throws a CliError naming the file and the key for
 * anything else: an unknown key, a wrong type, JSON that does not parse.
 */
function readConfig(file: string): RunOptions {
  const where = resolve(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(where, "utf8"));
  } catch (e) {
    throw new CliError(`config ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CliError(`config ${file}: expected a JSON object of options`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const kind = (CONFIG_KEYS as Record<string, string>)[key];
    if (kind === undefined) {
      throw new CliError(
        `config ${file}: unknown option ${JSON.stringify(key)}; known: ${Object.keys(CONFIG_KEYS).join(", ")}`,
      );
    }
    const bad = (expected: string) =>
      new CliError(`config ${file}: ${key} must be ${expected}, not ${JSON.stringify(value)}`);
    if (kind === "port") {
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65_535)
        throw bad("a port number");
      out[key] = value;
    } else if (kind === "ms") {
      if (!isTimerMs(value)) throw bad(`whole ms from 1 to ${MAX_TIMER_MS}`);
      out[key] = value;
    } else if (kind === "count") {
      if (!Number.isInteger(value) || (value as number) < 1) throw bad("a positive integer");
      out[key] = value;
    } else if (kind === "urls") {
      const urls = typeof value === "string" ? [value] : value;
      if (!Array.isArray(urls) || urls.length === 0 || urls.some((u) => typeof u !== "string" || u === "")) {
        throw bad("a URL or a list of URLs");
      }
      out[key] = (urls as string[]).join(",");
    } else {
      if (typeof value !== "string" || value === "") throw bad("a non-empty string");
      out[key] = kind === "path" ? resolve(dirname(where), value) : value;
    }
  }
  return out;
}

/** The data directory of `onelog serve` without a file (the server mode). */
export const SERVER_DATA_DIR = ".onelog-server";

async function run(mode: "dev" | "serve", file: string | undefined, flags: RunOptions): Promise<number> {
  // Flags win over the config file, which wins over the environment and the defaults.
  const o: RunOptions = flags.config === undefined ? flags : { ...readConfig(flags.config), ...flags };
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
  if (o.cluster !== undefined) env.ONELOG_CLUSTER = o.cluster;
  if (o.node !== undefined) env.ONELOG_NODE = o.node;
  if (o.replicas !== undefined) env.ONELOG_REPLICAS = String(o.replicas);
  if (o.compactIntervalMs !== undefined) env.ONELOG_COMPACT_INTERVAL_MS = String(o.compactIntervalMs);
  if (o.leaseMs !== undefined) env.ONELOG_LEASE_MS = String(o.leaseMs);
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

  let lastSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    lastSignalAt = Date.now();
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
    const code = await done;
    // A Ctrl-C pressed twice signals the group twice. The listeners stay to the end, but a signal
    // that arrives while the process itself tears down would still kill it by the signal: exit
    // only once signals have been quiet for a moment, so the later ones are absorbed.
    while (lastSignalAt > 0 && Date.now() - lastSignalAt < SIGNAL_QUIET_MS) {
      await new Promise((r) => setTimeout(r, SIGNAL_QUIET_MS - (Date.now() - lastSignalAt)));
    }
    return code;
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
      .option(
        "--config <file>",
        "a JSON file of these options in camelCase (ingressPort, dataDir, cluster, …); flags win over it",
      )
      .option(
        "--compact-interval-ms <ms>",
        "how often the log is trimmed behind a store checkpoint (in a cluster: behind a snapshot; default 60000, env ONELOG_COMPACT_INTERVAL_MS)",
        ms,
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
  // Cluster mode (docs/cluster.md): the log, leases and snapshots in NATS JetStream.
  const serve = program.commands.find((c) => c.name() === "serve")!;
  serve
    .option(
      "--cluster <urls>",
      "join a cluster on NATS JetStream at these comma-separated nats:// URLs (needs @onelog/nats; env ONELOG_CLUSTER)",
    )
    .option(
      "--node <id>",
      "this node's id in the cluster, stable across restarts (default: the host name; env ONELOG_NODE)",
    )
    .option(
      "--lease-ms <ms>",
      "how long a partition lease lasts unrenewed: a dead node's partitions move after it (default 10000, env ONELOG_LEASE_MS)",
      ms,
    )
    .option(
      "--replicas <n>",
      "replicas of the stream and buckets the cluster creates on first start (default 1; 3 in production)",
      (t) => {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 1 || n > 5) throw new InvalidArgumentError("expected 1 to 5");
        return n;
      },
    );
}
