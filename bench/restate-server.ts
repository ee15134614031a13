// A real restate-server (npm @restatedev/restate-server) for the bench: started on free loopback ports with a fresh base dir (BENCH_DATA_DIR) and BENCH_PARTITIONS partitions, run by bench/run.ts as a child process that guards it: it reports the server's URLs and pid over the IPC channel once the admin API and the ingress answer, stops the server when the parent goes away (even a parent that was SIGKILLed: the IPC channel closes), and exits when the server does.
import { spawn } from "node:child_process";
import { RESTATE_SERVER, type ChildReady } from "./child.js";
import { freePort, guardProcess } from "./ready.js";

/** Shorter than the bench's own wait, so that this guard, not the bench, gives up first. */
const READY_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 8_000;

const baseDir = process.env.BENCH_DATA_DIR;
const partitions = process.env.BENCH_PARTITIONS ?? "4";
if (baseDir === undefined || baseDir === "" || process.send === undefined) {
  throw new Error("bench/restate-server.ts is started by bench/run.ts (needs BENCH_DATA_DIR and IPC)");
}
const send = process.send.bind(process);

const [ingress, admin, node, pg] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
const server = spawn(
  RESTATE_SERVER,
  ["--no-logo", "--listen-mode", "tcp", "--base-dir", baseDir, "--default-num-partitions", partitions],
  {
    env: {
      ...process.env,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${node}`,
      RESTATE_ADMIN__QUERY_ENGINE__PGSQL_BIND_ADDRESS: `127.0.0.1:${pg}`,
    },
    // Its log goes where this process's goes: the bench's log file for it.
    stdio: ["ignore", "inherit", "inherit"],
  },
);
const guard = guardProcess(server, `restate-server (${RESTATE_SERVER})`, STOP_TIMEOUT_MS);

const ingressUrl = `http://127.0.0.1:${ingress}`;
const adminUrl = `http://127.0.0.1:${admin}`;
const ok = async (url: string) =>
  (await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok === true;
const deadline = Date.now() + READY_TIMEOUT_MS;
while (!((await ok(`${adminUrl}/health`)) && (await ok(`${ingressUrl}/restate/health`)))) {
  if (Date.now() > deadline) {
    console.error(`restate-server not ready after ${READY_TIMEOUT_MS} ms`);
    guard.stop();
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
if (!guard.stopping) {
  const ready: ChildReady = { type: "ready", url: ingressUrl, adminUrl, pid: server.pid! };
  send(ready);
}
