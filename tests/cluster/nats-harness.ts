// Starts and stops real nats-server processes for the cluster tests: 1 server, or 3 in a JetStream cluster with routes, on free loopback ports, each with JetStream in its own temp dir; says clearly when nats-server is missing, and under CI=true makes that a failure instead of a skip.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { freePort } from "../integration/admin-harness.js";
import os from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { StorageType, jetstreamManager } from "@nats-io/jetstream";

/** Where Debian puts the binary; /usr/sbin is not on every user's PATH. */
const CANDIDATES = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"];

/** The nats-server binary (NATS_SERVER_BIN, else the PATH, else Debian's), or undefined when there is none. */
export function findNatsServer(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== "") return fs.existsSync(fromEnv) ? fromEnv : undefined;
  const which = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  const found = which.status === 0 ? which.stdout.trim() : "";
  if (found !== "") return found;
  return CANDIDATES.find((p) => fs.existsSync(p));
}

const MISSING =
  "nats-server is not installed: the cluster tests need a real one (Debian: apt-get install nats-server, " +
  "as .ci/run does; or set NATS_SERVER_BIN)";

/**
 * What a cluster test passes to `describe`/`it` as its `skip` option: false when nats-server is
 * there; a message saying why the tests skipped when it is not. Under CI=true a missing
 * nats-server throws instead, so CI never passes by skipping.
 *
 * @example
 * void describe("JetStreamLog", { skip: natsSkip() }, () => { … });
 */
export function natsSkip(): false | string {
  if (findNatsServer() !== undefined) return false;
  if (process.env.CI === "true") throw new Error(`${MISSING}; CI=true, so this is a failure, not a skip`);
  console.error(`SKIPPED: ${MISSING}`);
  return MISSING;
}

export { freePort };

/**
 * Every nats-server this process runs: killed when it exits, also on SIGTERM/SIGINT (a test
 * runner's timeout), so no server outlives its test file.
 */
const running = new Set<ChildProcess>();
/** Their temp dirs, removed on exit too. */
const dirs = new Set<string>();
let hooked = false;
function track(proc: ChildProcess, dir: string): void {
  running.add(proc);
  dirs.add(dir);
  proc.once("exit", () => running.delete(proc));
  if (hooked) return;
  hooked = true;
  const killAll = (): void => {
    for (const p of running) p.kill("SIGKILL");
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  };
  process.once("exit", killAll);
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(signal === "SIGTERM" ? 143 : 130);
    });
  }
}

/** One nats-server of a {@link NatsCluster}. */
export interface NatsNode {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly url: string;
  readonly storeDir: string;
  readonly configFile: string;
  /** The running process, or undefined while stopped. */
  proc: ChildProcess | undefined;
  /** Everything the server wrote to stderr, across its lifetimes. */
  readonly log: string[];
}

/** How many times {@link NatsCluster.start} tries before it gives up. */
const START_ATTEMPTS = 3;

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** 1 (a single server, R1 only) or 3 (a JetStream cluster with routes, R1 or R3). */
  readonly servers: 1 | 3;
  /** How long to wait for JetStream to be ready (default 30 s). */
  readonly readyTimeoutMs?: number;
}

/**
 * Real nats-server processes with JetStream, on free loopback ports, each with its own store
 * directory under one temp dir. `stop()` ends them all and removes the dir.
 *
 * @example
 * const nats = await startNats({ servers: 3 });
 * const nc = await connect({ servers: nats.urls });
 * await nats.kill(1);            // SIGKILL one server
 * await nats.restart(1);         // same config, same store dir
 * await nats.stop();
 */
export class NatsCluster {
  readonly nodes: NatsNode[];
  readonly dir: string;
  readonly #bin: string;
  readonly #readyTimeoutMs: number;

  private constructor(bin: string, dir: string, nodes: NatsNode[], readyTimeoutMs: number) {
    this.#bin = bin;
    this.dir = dir;
    this.nodes = nodes;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  /** Client URLs of every server (pass them all: the client fails over between them). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /**
   * Starts the servers; a start that fails (a server that exits before it is ready, JetStream
   * not ready in time) is logged with the servers' output and made again on fresh ports and a
   * fresh dir, up to {@link START_ATTEMPTS} times. A free port found by binding and closing it
   * can be taken by another process before nats-server binds it; a second try costs less than
   * a flaky suite.
   */
  static async start(options: StartNatsOptions): Promise<NatsCluster> {
    const bin = findNatsServer();
    if (bin === undefined) throw new Error(MISSING);
    for (let attempt = 1; ; attempt++) {
      const startedAt = Date.now();
      try {
        const cluster = await NatsCluster.#startOnce(bin, options);
        if (attempt > 1 || Date.now() - startedAt > 10_000) {
          console.error(
            `nats-harness: ${options.servers} nats-server(s) ready after ${Date.now() - startedAt} ms (attempt ${attempt})`,
          );
        }
        return cluster;
      } catch (error) {
        console.error(
          `nats-harness: starting ${options.servers} nats-server(s) failed after ${Date.now() - startedAt} ms ` +
            `(attempt ${attempt} of ${START_ATTEMPTS}): ${error instanceof Error ? error.message : String(error)}`,
        );
        if (attempt >= START_ATTEMPTS) throw error;
      }
    }
  }

  static async #startOnce(bin: string, options: StartNatsOptions): Promise<NatsCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "onelog-nats-"));
    const nodes: NatsNode[] = [];
    for (let i = 0; i < options.servers; i++) {
      const name = `n${i + 1}`;
      const port = await freePort();
      const clusterPort = await freePort();
      const storeDir = path.join(dir, name);
      fs.mkdirSync(storeDir);
      nodes.push({
        name,
        port,
        clusterPort,
        url: `nats://127.0.0.1:${port}`,
        storeDir,
        configFile: path.join(dir, `${name}.conf`),
        proc: undefined,
        log: [],
      });
    }
    for (const node of nodes) fs.writeFileSync(node.configFile, configOf(node, nodes));
    const cluster = new NatsCluster(bin, dir, nodes, options.readyTimeoutMs ?? 30_000);
    try {
      await Promise.all(nodes.map((_, i) => cluster.#spawn(i)));
      await cluster.waitForJetStream();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /**
   * Resolves once JetStream can place a stream on every running server: a probe stream with as
   * many replicas as servers run is created and deleted (account info alone answers before a
   * cluster's peers all joined the meta group).
   */
  async waitForJetStream(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    let last: unknown;
    const live = this.nodes.filter((n) => n.proc !== undefined).map((n) => n.url);
    while (Date.now() < deadline) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({ servers: live, timeout: 1000 });
        const jsm = await jetstreamManager(nc, { timeout: 1000 });
        const name = `ready_probe_${process.pid}_${Date.now()}`;
        await jsm.streams.add({
          name,
          subjects: [`${name}.>`],
          num_replicas: live.length,
          storage: StorageType.Memory,
        });
        await jsm.streams.delete(name);
        return;
      } catch (error) {
        last = error;
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        await nc?.close().catch(() => undefined);
      }
    }
    throw new Error(
      `JetStream not ready after ${this.#readyTimeoutMs} ms: ${String(last)}\n` +
        this.nodes.map((n) => `--- ${n.name}\n${n.log.slice(-20).join("\n")}`).join("\n"),
    );
  }

  /** SIGKILLs server `index` (0-based) and waits for it to exit; its store dir stays. */
  async kill(index: number): Promise<void> {
    await this.#signal(index, "SIGKILL");
  }

  /** Stops server `index` gracefully (SIGTERM) and waits for it to exit. */
  async stopServer(index: number): Promise<void> {
    await this.#signal(index, "SIGTERM");
  }

  /** Starts server `index` again with the same config and store dir; waits until it listens. */
  async restart(index: number): Promise<void> {
    if (this.nodes[index]?.proc !== undefined) throw new Error(`server ${index} is running`);
    await this.#spawn(index);
  }

  /** Ends every server (SIGTERM, then SIGKILL after 5 s) and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (_, i) => {
        const timer = setTimeout(() => this.nodes[i]?.proc?.kill("SIGKILL"), 5000);
        try {
          await this.#signal(i, "SIGTERM");
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async #signal(index: number, signal: NodeJS.Signals): Promise<void> {
    const node = this.nodes[index];
    if (node === undefined) throw new RangeError(`no server ${index}`);
    const proc = node.proc;
    if (proc === undefined) return;
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once("exit", () => resolve());
    });
    proc.kill(signal);
    await exited;
    node.proc = undefined;
  }

  /** Spawns server `index`; resolves once it logs that it accepts client connections. */
  async #spawn(index: number): Promise<void> {
    const node = this.nodes[index]!;
    const proc = spawn(this.#bin, ["-c", node.configFile], { stdio: ["ignore", "ignore", "pipe"] });
    node.proc = proc;
    track(proc, this.dir);
    await new Promise<void>((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `nats-server ${node.name} not listening after ${this.#readyTimeoutMs} ms:\n${node.log.slice(-20).join("\n")}`,
            ),
          ),
        this.#readyTimeoutMs,
      );
      proc.stderr.setEncoding("utf8");
      proc.stderr.on("data", (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          node.log.push(line);
          if (line.includes("Server is ready")) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        if (node.proc === proc) node.proc = undefined;
        reject(
          new Error(
            `nats-server ${node.name} exited (${code ?? signal}) before it was ready:\n${node.log.slice(-20).join("\n")}`,
          ),
        );
      });
    });
  }
}

/** Starts nats-server processes; see {@link NatsCluster}. */
export function startNats(options: StartNatsOptions): Promise<NatsCluster> {
  return NatsCluster.start(options);
}

function configOf(node: NatsNode, all: readonly NatsNode[]): string {
  const lines = [
    `server_name: ${node.name}`,
    `listen: "127.0.0.1:${node.port}"`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(node.storeDir)}`,
    `  max_memory_store: 256MB`,
    `  max_file_store: 4GB`,
    `}`,
  ];
  if (all.length > 1) {
    const routes = all
      .filter((other) => other !== node)
      .map((other) => `    "nats-route://127.0.0.1:${other.clusterPort}"`);
    lines.push(
      `cluster {`,
      `  name: onelog-test`,
      `  listen: "127.0.0.1:${node.clusterPort}"`,
      `  routes: [`,
      ...routes,
      `  ]`,
      `}`,
    );
  }
  return lines.join("\n") + "\n";
}
