/**
 * The admin endpoint (default :9070). This release serves `/health` (200 once every partition
 * has a leader, 503 otherwise), `/stats` (group-commit and apply counters),
 * `GET /invocations/{id}` (the status row), and `PATCH /invocations/{id}/cancel|kill|purge|pause|resume`
 * (also `DELETE /invocations/{id}?mode=cancel|kill|purge`, Restate's older form). The full admin API
 * (DESIGN.md §5) grows here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Engine } from "./engine.js";
import { isInvocationId } from "./ids.js";
import type { Log } from "./log/log.js";

export interface AdminOptions {
  readonly engine: Engine;
  readonly log: Log;
  readonly host: string;
  readonly port: number;
}

export class Admin {
  private server: Server | undefined;

  constructor(private readonly o: AdminOptions) {}

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      try {
        this.route(req, res);
      } catch (e) {
        if (res.headersSent) res.destroy();
        else {
          const bytes = Buffer.from(
            JSON.stringify({ code: "OL1000", message: `internal error: ${String(e)}` }),
          );
          res.writeHead(500, { "content-type": "application/json", "content-length": bytes.length });
          res.end(bytes);
        }
      }
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    return `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    {
      const send = (status: number, body: unknown) => {
        const bytes = Buffer.from(JSON.stringify(body));
        res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length });
        res.end(bytes);
      };
      const url = new URL(req.url ?? "/", "http://admin");
      const path = url.pathname;
      const op = /^\/invocations\/([^/]+)\/(cancel|kill|purge|pause|resume)$/.exec(path);
      const del = /^\/invocations\/([^/]+)$/.exec(path);
      if (op !== null || (req.method === "DELETE" && del !== null)) {
        if (op !== null && req.method !== "PATCH" && req.method !== "POST") {
          res.setHeader("allow", "PATCH, POST");
          return send(405, { code: "OL1007", message: `use PATCH for /invocations/{id}/${op[2]}` });
        }
        const id = decodeURIComponent((op ?? del)![1]!);
        const mode = op?.[2] ?? url.searchParams.get("mode") ?? "cancel";
        if (
          mode !== "cancel" &&
          mode !== "kill" &&
          mode !== "purge" &&
          mode !== "pause" &&
          mode !== "resume"
        ) {
          return send(400, { code: "OL1012", message: `mode must be cancel, kill or purge, not ${mode}` });
        }
        if (!isInvocationId(id)) {
          return send(400, { code: "OL1013", message: `${JSON.stringify(id)} is not an invocation id` });
        }
        if (this.o.engine.statusOf(id) === undefined) {
          return send(404, { code: "OL1008", message: `invocation ${id} not found` });
        }
        this.o.engine.operate(mode, id).then(
          () => send(202, { invocationId: id, operation: mode }),
          (e: unknown) => send(503, { code: "OL1011", message: String(e) }),
        );
        return;
      }
      if (req.method !== "GET") {
        return send(405, { code: "OL1007", message: "the admin endpoint takes GET here" });
      }
      if (path === "/health") {
        const partitions = this.o.engine.processors.map((p) => ({
          partition: p.partition,
          leader: p.isLeader,
          appliedLsn: p.appliedLsn,
          tailLsn: this.o.log.tailLsn(p.partition),
        }));
        const ok = partitions.every((p) => p.leader);
        return send(ok ? 200 : 503, { status: ok ? "ok" : "unavailable", partitions });
      }
      if (path === "/stats") {
        return send(200, {
          log: this.o.log.stats ?? null,
          partitions: this.o.engine.processors.map((p) => ({
            partition: p.partition,
            appliedLsn: p.appliedLsn,
            batches: p.stats.batches,
            records: p.stats.records,
            storeErrors: p.storeErrors,
            runningAttempts: p.runningAttempts,
          })),
        });
      }
      const m = /^\/invocations\/([^/]+)$/.exec(path);
      if (m !== null) {
        const id = decodeURIComponent(m[1]!);
        if (!isInvocationId(id)) {
          return send(400, { code: "OL1013", message: `${JSON.stringify(id)} is not an invocation id` });
        }
        const status = this.o.engine.statusOf(id);
        if (status === undefined) return send(404, { code: "OL1008", message: "invocation not found" });
        const { result, ...rest } = status;
        return send(200, {
          ...rest,
          ...(result === undefined
            ? {}
            : "ok" in result
              ? { output: Buffer.from(result.ok).toString("utf8") }
              : { failure: result.err }),
        });
      }
      send(404, { code: "OL1012", message: `no such path: ${path}` });
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
