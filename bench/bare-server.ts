// The ceiling of HTTP on this machine: a bare node:http server that answers the workloads' paths with the same status and bodies as onelog (bench/services.ts), from memory, with no log, no store and no durability. Run by bench/run.ts as a child process, like the engine.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ChildReady } from "./child.js";
import { flowOutput, greeting, type FlowInput } from "./answers.js";

if (process.send === undefined)
  throw new Error("bench/bare-server.ts is started by bench/run.ts (needs IPC)");
const send = process.send.bind(process);

/** Counter values per key, as Counter.add keeps them in its state. */
const counters = new Map<string, number>();
let ids = 0;

/** The answer to one request, as onelog would give it: status and JSON body. */
function answer(method: string, path: string, body: string): { status: number; body: unknown } {
  if (method !== "POST") return { status: 405, body: { code: "OL1007", message: "use POST" } };
  const segments = path.split("/").filter((s) => s !== "");
  const input: unknown = body === "" ? undefined : JSON.parse(body);
  if (segments.length === 2 && segments[0] === "Greeter" && segments[1] === "greet") {
    return { status: 200, body: greeting((input as string | undefined) ?? "stranger") };
  }
  if (segments.length === 3 && segments[0] === "Counter" && segments[2] === "add") {
    const key = decodeURIComponent(segments[1]!);
    const value = (counters.get(key) ?? 0) + ((input as number | undefined) ?? 1);
    counters.set(key, value);
    return { status: 200, body: value };
  }
  if (segments.length === 3 && segments[0] === "Flow" && segments[2] === "run") {
    return { status: 200, body: flowOutput(decodeURIComponent(segments[1]!), input as FlowInput) };
  }
  return { status: 404, body: { code: "OL1012", message: `no such path: ${path}` } };
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    let reply: { status: number; body: unknown };
    try {
      const url = new URL(req.url ?? "/", "http://ingress");
      reply = answer(req.method ?? "GET", url.pathname, Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      reply = { status: 400, body: { code: "OL1003", message: String(e) } };
    }
    const bytes = Buffer.from(JSON.stringify(reply.body));
    // The same headers onelog's ingress sends, with an id of the same length.
    res.writeHead(reply.status, {
      "content-type": "application/json",
      "content-length": bytes.length,
      "x-restate-id": `inv_${(ids++).toString(16).padStart(40, "0")}`,
    });
    res.end(bytes);
  });
}

const server = createServer(handle);
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const addr = server.address() as AddressInfo;
  const ready: ChildReady = { type: "ready", url: `http://127.0.0.1:${addr.port}` };
  send(ready);
});

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.once("disconnect", stop);
