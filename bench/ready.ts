// The end every onelog server child of the bench shares; kept apart from child.ts, whose top level
// belongs to the bench process (it kills leftover children on exit).
import type { ChildReady } from "./child.js";

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
