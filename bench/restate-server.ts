// A real restate-server (npm @restatedev/restate-server) for the bench: started on free loopback ports with a fresh base dir (BENCH_DATA_DIR) and BENCH_PARTITIONS partitions, run by bench/run.ts as a child process that guards it: it reports the server's URLs and pid over the IPC channel once the admin API and the ingress answer, stops the server when the parent goes away (even a parent that was SIGKILLed: the IPC channel closes), and exits when the server does.
import { spawn } from "node:child_process";
import net from "node:net";
import { RESTATE_SERVER, type ChildGuarding, type ChildReady } from "./child.js";

/** Shorter than the bench's own wait, so that this guard, not the bench, gives up first. */
const READY_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 8_000;

const baseDir = process.env.BENCH_DATA_DIR;
const partitions = process.env.BENCH_PARTITIONS ?? "4";
if (baseDir === undefined || baseDir === "" || process.send === undefined) {
  throw new Error("bench/restate-server.ts is started by bench/run.ts (needs BENCH_DATA_DIR and IPC)");
}
const send = process.send.bind(process);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

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
server.once("error", (e) => {
  console.error(`restate-server (${RESTATE_SERVER}) could not start: ${e.message}`);
  process.exit(1);
});
if (server.pid !== undefined) {
  const guarding: ChildGuarding = { type: "guarding", pid: server.pid };
  send(guarding);
}
server.once("exit", (code, signal) => {
  if (!stopping) console.error(`restate-server exited (${code ?? signal}) before it was asked to stop`);
  process.exit(stopping ? 0 : 1);
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.kill("SIGTERM");
  setTimeout(() => server.kill("SIGKILL"), STOP_TIMEOUT_MS).unref();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.once("disconnect", stop);

const ingressUrl = `http://127.0.0.1:${ingress}`;
const adminUrl = `http://127.0.0.1:${admin}`;
const ok = async (url: string) =>
  (await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok === true;
const deadline = Date.now() + READY_TIMEOUT_MS;
while (!((await ok(`${adminUrl}/health`)) && (await ok(`${ingressUrl}/restate/health`)))) {
  if (Date.now() > deadline) {
    console.error(`restate-server not ready after ${READY_TIMEOUT_MS} ms`);
    stop();
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
if (!stopping) {
  const ready: ChildReady = { type: "ready", url: ingressUrl, adminUrl, pid: server.pid! };
  send(ready);
}
