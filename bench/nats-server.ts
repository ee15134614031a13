// A real nats-server (Debian's 2.9.10, /usr/sbin/nats-server, or NATS_SERVER_BIN) for the cluster systems of the bench, started with the config file BENCH_NATS_CONFIG that bench/cluster.ts wrote (JetStream in its own store dir, loopback ports, routes to its peers for R3). Run by bench/run.ts as a child process that guards it, as bench/restate-server.ts guards restate-server: it reports the server's pid at once and its client URL (BENCH_NATS_URL) once nats-server logs that it is ready, stops it when the parent goes away (even a parent that was SIGKILLed: the IPC channel closes), and exits when it does.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { ChildReady } from "./child.js";
import { guardProcess } from "./ready.js";

/** Shorter than the bench's own wait, so that this guard, not the bench, gives up first. */
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

const config = process.env.BENCH_NATS_CONFIG;
const url = process.env.BENCH_NATS_URL;
if (config === undefined || url === undefined || process.send === undefined) {
  throw new Error(
    "bench/nats-server.ts is started by bench/run.ts (needs BENCH_NATS_CONFIG, BENCH_NATS_URL and IPC)",
  );
}
const send = process.send.bind(process);
const bin = natsServerBin();
if (bin === undefined) {
  console.error("nats-server is not installed (Debian: apt-get install nats-server; or set NATS_SERVER_BIN)");
  process.exit(1);
}

/** NATS_SERVER_BIN, else the PATH, else Debian's place (as tests/cluster/nats-harness.ts looks). */
function natsServerBin(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== "") return existsSync(fromEnv) ? fromEnv : undefined;
  const which = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  if (which.status === 0 && which.stdout.trim() !== "") return which.stdout.trim();
  return ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((p) =>
    existsSync(p),
  );
}

// stderr is read for "Server is ready" and copied to this process's (the bench's log file).
const server = spawn(bin, ["-c", config], { stdio: ["ignore", "inherit", "pipe"] });
const guard = guardProcess(server, `nats-server (${bin})`, STOP_TIMEOUT_MS);

const timer = setTimeout(() => {
  console.error(`nats-server not ready after ${READY_TIMEOUT_MS} ms`);
  guard.stop();
}, READY_TIMEOUT_MS);
let buffered = "";
let ready = false;
server.stderr.setEncoding("utf8");
server.stderr.on("data", (chunk: string) => {
  process.stderr.write(chunk);
  if (ready) return;
  buffered += chunk;
  if (!buffered.includes("Server is ready")) return;
  ready = true;
  buffered = "";
  clearTimeout(timer);
  if (guard.stopping) return;
  const message: ChildReady = { type: "ready", url, pid: server.pid! };
  send(message);
});
