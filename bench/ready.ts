// The end every onelog server child of the bench shares; kept apart from child.ts, whose top level
// belongs to the bench process (it kills leftover children on exit).
import type { ChildProcess } from "node:child_process";
import type { ChildGuarding, ChildReady } from "./child.js";

/**
 * The end of a onelog server child (onelog-server.ts, scaling-server.ts, cluster-node.ts): it
 * reports `ready` over the IPC channel, and stops cleanly — so that `--cpu-prof` writes its
 * profile and a cluster node releases its leases — on SIGTERM, SIGINT or when the bench goes
 * away; with `stopTimeoutMs`, a stop that hangs exits with code 1 after it.
 */
export function reportReady(
  server: { readonly ingressUrl: string; readonly adminUrl?: string | undefined; stop(): Promise<void> },
  stopTimeoutMs?: number,
): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (stopTimeoutMs !== undefined) setTimeout(() => process.exit(1), stopTimeoutMs).unref();
    void server.stop().finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.once("disconnect", stop);
  const ready: ChildReady = {
    type: "ready",
    url: server.ingressUrl,
    ...(server.adminUrl === undefined ? {} : { adminUrl: server.adminUrl }),
  };
  process.send!(ready);
}

export { freePort } from "../tests/support/free-port.js";

/**
 * The guard of a server the bench measures (restate-server.ts, nats-server.ts): it tells the
 * bench the server's pid, exits when the server exits unasked (code 1, saying so), and on
 * SIGTERM, SIGINT or the bench going away stops the server with SIGTERM, then SIGKILL after
 * `stopTimeoutMs`.
 */
export function guardProcess(
  server: ChildProcess,
  name: string,
  stopTimeoutMs: number,
): { stop(): void; readonly stopping: boolean } {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.kill("SIGTERM");
    setTimeout(() => server.kill("SIGKILL"), stopTimeoutMs).unref();
  };
  server.once("error", (e) => {
    console.error(`${name} could not start: ${e.message}`);
    process.exit(1);
  });
  if (server.pid !== undefined) {
    const guarding: ChildGuarding = { type: "guarding", pid: server.pid };
    process.send!(guarding);
  }
  server.once("exit", (code, signal) => {
    if (!stopping) console.error(`${name} exited (${code ?? signal}) before it was asked to stop`);
    process.exit(stopping ? 0 : 1);
  });
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.once("disconnect", stop);
  return {
    stop,
    get stopping() {
      return stopping;
    },
  };
}
