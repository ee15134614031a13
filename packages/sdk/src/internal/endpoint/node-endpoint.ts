/**
 * The endpoint for Node processes, Restate's `endpoint()` name for name: bind services, then
 * `listen(port)` (HTTP/2 cleartext and HTTP/1.1 on one port, node-server.ts), or take a handler
 * for a server of one's own (`http2Handler`, `http1Handler`, or `handler` for either).
 */
import type http from "node:http";
import type http2 from "node:http2";
import { EndpointBuilder, type EndpointOptions, type RestateEndpointBase } from "./builder.js";
import type { LoggerTransport } from "./logger.js";
import { listenNode, nodeHandler, type EndpointServer } from "./node-server.js";

/**
 * An endpoint served by Node: every service bound to it, over the Restate service protocol.
 *
 * @example
 * await endpoint().bind(greeter).bind(counter).listen(9080);
 */
export interface RestateEndpoint extends RestateEndpointBase<RestateEndpoint> {
  /**
   * Listens on `port` (default: the `PORT` environment variable, else 9080), HTTP/2 cleartext
   * (bidirectional streams) and HTTP/1.1 (request/response) on the same port. Resolves with the
   * bound port; rejects if it cannot be bound (or for a configuration error).
   */
  listen(port?: number): Promise<number>;
  /** A handler for `http2.createServer`: bidirectional unless `bidirectional: false`. */
  http2Handler(options?: {
    bidirectional?: boolean;
  }): (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => void;
  /** A handler for `http.createServer`: request/response unless `bidirectional: true`. */
  http1Handler(options?: {
    bidirectional?: boolean;
  }): (request: http.IncomingMessage, response: http.ServerResponse) => void;
  /**
   * A handler for either kind of server: bidirectional over HTTP/2 and request/response over
   * HTTP/1.1, unless `bidirectional` says otherwise for both.
   */
  handler(options?: { bidirectional?: boolean }): {
    (request: http.IncomingMessage, response: http.ServerResponse): void;
    (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void;
  };
}

/** Options of {@link createEndpointHandler}. */
export interface NodeEndpointOptions extends EndpointOptions {
  /** Unset: by HTTP version (HTTP/2 bidirectional, HTTP/1.1 request/response); else for all. */
  bidirectional?: boolean;
}

/** Options of {@link serve}. */
export interface ServeOptions extends EndpointOptions {
  /** Default: the `PORT` environment variable, else 9080. */
  port?: number;
}

const mode = (bidirectional: boolean | undefined, otherwise: "BIDI_STREAM" | "REQUEST_RESPONSE" | "auto") =>
  bidirectional === undefined ? otherwise : bidirectional ? "BIDI_STREAM" : "REQUEST_RESPONSE";

class NodeEndpoint implements RestateEndpoint {
  readonly builder: EndpointBuilder;
  readonly servers: EndpointServer[] = [];

  constructor(options?: Partial<EndpointOptions>) {
    this.builder = new EndpointBuilder(options);
  }

  bind(definition: Parameters<RestateEndpoint["bind"]>[0]): RestateEndpoint {
    this.builder.bind(definition);
    return this;
  }

  withIdentityV1(...keys: string[]): RestateEndpoint {
    this.builder.withIdentityV1(...keys);
    return this;
  }

  setLogger(logger: LoggerTransport): RestateEndpoint {
    this.builder.setLogger(logger);
    return this;
  }

  async listen(port?: number): Promise<number> {
    return (await this.serve({ port: port ?? defaultPort() })).port;
  }

  /** Listens and returns the server (closable: for tests and embedding). */
  async serve(options: { port: number; host?: string }): Promise<EndpointServer> {
    const config = this.builder.build();
    const server = await listenNode(config, options);
    this.servers.push(server);
    config.logger(
      { source: "SYSTEM", level: "info", replaying: false },
      `onelog endpoint listening on port ${server.port} (HTTP/2 cleartext and HTTP/1.1)`,
    );
    return server;
  }

  http2Handler(options?: { bidirectional?: boolean }) {
    return nodeHandler(this.builder.build(), mode(options?.bidirectional, "BIDI_STREAM"));
  }

  http1Handler(options?: { bidirectional?: boolean }) {
    return nodeHandler(this.builder.build(), mode(options?.bidirectional, "REQUEST_RESPONSE"));
  }

  handler(options?: { bidirectional?: boolean }) {
    return nodeHandler(this.builder.build(), mode(options?.bidirectional, "auto"));
  }
}

function defaultPort(): number {
  const fromEnv = Number.parseInt(process.env.PORT ?? "", 10);
  return Number.isNaN(fromEnv) ? 9080 : fromEnv;
}

/**
 * A new endpoint for a Node process: bind services to it, then `listen()`.
 *
 * @example
 * import { endpoint, service } from "@onelog/sdk";
 * const greeter = service({ name: "Greeter", handlers: { greet: async (ctx, name: string) => `hi ${name}` } });
 * await endpoint().bind(greeter).listen(9080);
 */
export function endpoint(): RestateEndpoint {
  return new NodeEndpoint();
}

/**
 * A request handler for Node's HTTP/1.1 and HTTP/2 servers, serving `options.services`.
 *
 * @example
 * http2.createServer(createEndpointHandler({ services: [greeter] })).listen(9080);
 */
export function createEndpointHandler(options: NodeEndpointOptions): ReturnType<RestateEndpoint["handler"]> {
  return new NodeEndpoint(options).handler(
    options.bidirectional === undefined ? undefined : { bidirectional: options.bidirectional },
  );
}

/**
 * Serves `options.services` on `options.port` (see {@link RestateEndpoint.listen}); resolves with
 * the bound port.
 *
 * @example
 * await serve({ services: [greeter], port: 9080 });
 */
export function serve({ port, ...options }: ServeOptions): Promise<number> {
  return new NodeEndpoint(options).listen(port);
}

/**
 * Listens like `listen()` and returns the server, which `close()` stops (for tests and for
 * programs that manage the endpoint's lifetime).
 *
 * @example
 * const server = await listenEndpoint(endpoint().bind(greeter), { port: 0, host: "127.0.0.1" });
 * await server.close();
 */
export function listenEndpoint(
  e: RestateEndpoint,
  options: { port: number; host?: string },
): Promise<EndpointServer> {
  if (!(e instanceof NodeEndpoint))
    throw new TypeError("listenEndpoint takes an endpoint made by endpoint()");
  return e.serve(options);
}
