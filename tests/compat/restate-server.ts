// A real restate-server for the compatibility tests: the binary that npm's @restatedev/restate-server installs, on free
// loopback ports with its base directory in a temp dir, and the admin call that registers a deployment with it.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { freePort } from "../integration/admin-harness.js";
import path from "node:path";
import { eventually, tmpDir } from "../integration/http-harness.js";

export const RESTATE_SERVER = "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server";

/** Whether the binary is installed (the tests say they skipped when it is not). */
export const restateServerAvailable = fs.existsSync(RESTATE_SERVER);

export { freePort };

/** A running restate-server: its ingress and admin URLs, and the process (SIGKILL it when done). */
export interface RestateServer {
  readonly ingress: string;
  readonly admin: string;
  readonly process: ChildProcess;
}

/** Starts restate-server (2 partitions, logs at warn) and resolves once its admin /health answers. */
export async function startRestateServer(env: Record<string, string> = {}): Promise<RestateServer> {
  const dir = tmpDir("onelog-restate-");
  const [ingress, admin, node, pg] = await Promise.all([1, 2, 3, 4].map(() => freePort()));
  const child = spawn(
    RESTATE_SERVER,
    [
      "--no-logo",
      "--listen-mode",
      "tcp",
      "--base-dir",
      path.join(dir, "restate"),
      "--default-num-partitions",
      "2",
    ],
    {
      env: {
        ...process.env,
        RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingress}`,
        RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${admin}`,
        RESTATE_BIND_ADDRESS: `127.0.0.1:${node}`,
        RESTATE_ADMIN__QUERY_ENGINE__PGSQL_BIND_ADDRESS: `127.0.0.1:${pg}`,
        RESTATE_LOG_FILTER: "warn",
        ...env,
      },
      stdio: "ignore",
    },
  );
  const server = {
    ingress: `http://127.0.0.1:${ingress}`,
    admin: `http://127.0.0.1:${admin}`,
    process: child,
  };
  await eventually(
    "restate-server is up",
    async () => (await fetch(`${server.admin}/health`).catch(() => undefined))?.ok === true,
    60_000,
  );
  return server;
}

/** `POST /deployments` with force, until restate-server accepts it (the endpoint may still be starting). */
export async function registerWithRestate(
  admin: string,
  uri: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await eventually(
    `${uri} is registered with restate-server`,
    async () => {
      const r = await fetch(`${admin}/deployments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ uri, force: true, ...extra }),
      }).catch(() => undefined);
      return r !== undefined && r.status < 300;
    },
    60_000,
  );
}
