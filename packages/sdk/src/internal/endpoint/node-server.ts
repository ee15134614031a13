/**
 * The endpoint on Node's HTTP servers. One port answers both HTTP/2 cleartext with prior
 * knowledge (h2c, what a Restate server speaks to `http://` deployments, bidirectional streams)
 * and HTTP/1.1 (request/response): Node's cleartext HTTP/2 server does not fall back to HTTP/1.1
 * (`allowHTTP1` works only with TLS, through ALPN), so a plain TCP server looks at the first bytes
 * of each connection — the HTTP/2 connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` or not —
 * puts them back, and hands the connection to an HTTP/2 or an HTTP/1.1 server.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { runInvocation, versionOption } from "./invocation.js";
import { route, type EndpointConfig, type ProtocolMode } from "./router.js";
import { SERVER_HEADER } from "./discovery.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** A Node request handler (HTTP/1.1 or HTTP/2 compatibility API). */
export type NodeHandler = (request: NodeRequest, response: NodeResponse) => void;

/**
 * A handler for Node's HTTP servers. `mode` "auto" speaks bidirectional streams over HTTP/2 and
 * request/response over HTTP/1.1, and says so in discovery.
 */
export function nodeHandler(config: EndpointConfig, mode: ProtocolMode | "auto"): NodeHandler {
  const handle = serveRequest(config, mode);
  return (req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      // A request this code did not foresee must not take the process down.
      config.logger({ source: "SYSTEM", level: "error", replaying: false }, `cannot serve ${req.url}`, e);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end();
    }
  };
}

function serveRequest(config: EndpointConfig, mode: ProtocolMode | "auto"): NodeHandler {
  return (req, res) => {
    const protocolMode: ProtocolMode =
      mode !== "auto" ? mode : req.httpVersionMajor >= 2 ? "BIDI_STREAM" : "REQUEST_RESPONSE";
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const path = new URL(req.url ?? "/", "http://endpoint").pathname;
    const r = route(config, path, header, protocolMode);
    config.logger(
      { source: "SYSTEM", level: "debug", replaying: false },
      `${req.method} ${path} HTTP/${req.httpVersion} ${header("content-type") ?? header("accept") ?? ""} -> ${r.type === "respond" ? r.response.status : `${protocolMode} ${r.contentType}`}`,
    );
    // A stream reset by the server is not an error of this process.
    req.on("error", () => {});
    (res as NodeJS.EventEmitter).on("error", () => {});
    if (r.type === "respond") {
      req.resume(); // read and drop what the request still sends
      res.writeHead(r.response.status, r.response.headers);
      res.end(r.response.body);
      return;
    }
    res.writeHead(200, { "content-type": r.contentType, "x-restate-server": SERVER_HEADER });
    // The server waits for the response head before it streams notifications (bidirectional).
    if (protocolMode === "BIDI_STREAM") (res as { flushHeaders?: () => void }).flushHeaders?.();
    const aborted = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    const writable = () => !res.destroyed && !res.writableEnded;
    void runInvocation(
      r.handler,
      {
        input: req as AsyncIterable<Uint8Array>,
        write: (bytes) => {
          if (writable()) (res as http.ServerResponse).write(bytes);
        },
        end: () => {
          if (writable()) res.end();
        },
      },
      { logger: config.logger, signal: aborted.signal, ...versionOption(r.contentType) },
    );
  };
}

/** A listening endpoint server. */
export interface EndpointServer {
  readonly port: number;
  /** Stops accepting connections and closes the open ones. */
  close(): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SNIFF_TIMEOUT_MS = 30_000;

/**
 * Listens on `port` (0: any free port) with HTTP/2 cleartext and HTTP/1.1 on the same port
 * (see the module comment). Rejects if the port cannot be bound.
 *
 * @example
 * const server = await listenNode(config, { port: 9080 });
 * await server.close();
 */
export function listenNode(
  config: EndpointConfig,
  options: { readonly port: number; readonly host?: string },
): Promise<EndpointServer> {
  const h2 = http2.createServer(nodeHandler(config, "BIDI_STREAM"));
  // Invocations stream for as long as their handler runs: no request timeout.
  const h1 = http.createServer({ requestTimeout: 0 }, nodeHandler(config, "REQUEST_RESPONSE"));
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.setNoDelay(true);
    // A connection that says nothing cannot be told apart; it is not kept open forever.
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2c = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2c && n < PREFACE.length) return; // not enough bytes to tell yet
      socket.removeListener("data", onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(seen);
      if (h2c) {
        // The HTTP/2 session reads the bytes put back from the socket's buffer itself.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port, options.host, () => {
      tcp.removeListener("error", reject);
      const address = tcp.address() as net.AddressInfo;
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            tcp.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
