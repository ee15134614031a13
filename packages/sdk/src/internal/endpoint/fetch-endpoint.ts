/**
 * The endpoint for fetch-style runtimes (serverless functions, workers), Restate's
 * `@restatedev/restate-sdk/fetch` name for name: `endpoint().bind(…).handler()` gives
 * `{ fetch(request) }`, and `createEndpointHandler({ services })` the fetch function itself.
 * Request/response unless `bidirectional()`. It imports no Node HTTP module.
 */
import { EndpointBuilder, type EndpointOptions, type RestateEndpointBase } from "./builder.js";
import { fetchHandler, type FetchHandler } from "./fetch-handler.js";
import type { LoggerTransport } from "./logger.js";

/**
 * An endpoint served by a fetch-style runtime.
 *
 * @example
 * export default endpoint().bind(greeter).handler();
 */
export interface FetchEndpoint extends RestateEndpointBase<FetchEndpoint> {
  /** The handler, as a worker's default export: `{ fetch }`. */
  handler(): { fetch: (request: Request, ...extraArgs: unknown[]) => Promise<Response> };
  /** Streams both ways (the runtime must stream request and response bodies over HTTP/2). */
  bidirectional(set?: boolean): FetchEndpoint;
}

/** Options of {@link createEndpointHandler}. */
export interface FetchEndpointOptions extends EndpointOptions {
  /** Default false: request/response. */
  bidirectional?: boolean;
}

class FetchEndpointImpl implements FetchEndpoint {
  private readonly builder: EndpointBuilder;
  private mode: "BIDI_STREAM" | "REQUEST_RESPONSE";

  constructor(options?: Partial<FetchEndpointOptions>) {
    this.builder = new EndpointBuilder(options);
    this.mode = options?.bidirectional === true ? "BIDI_STREAM" : "REQUEST_RESPONSE";
  }

  bind(definition: Parameters<FetchEndpoint["bind"]>[0]): FetchEndpoint {
    this.builder.bind(definition);
    return this;
  }

  withIdentityV1(...keys: string[]): FetchEndpoint {
    this.builder.withIdentityV1(...keys);
    return this;
  }

  setLogger(logger: LoggerTransport): FetchEndpoint {
    this.builder.setLogger(logger);
    return this;
  }

  bidirectional(set = true): FetchEndpoint {
    this.mode = set ? "BIDI_STREAM" : "REQUEST_RESPONSE";
    return this;
  }

  handler(): { fetch: FetchHandler } {
    return { fetch: fetchHandler(this.builder.build(), this.mode) };
  }
}

/**
 * A new endpoint for a fetch-style runtime.
 *
 * @example
 * import { endpoint } from "@onelog/sdk/fetch";
 * export default endpoint().bind(greeter).handler();
 */
export function fetchEndpoint(): FetchEndpoint {
  return new FetchEndpointImpl();
}

/**
 * The fetch function serving `options.services`.
 *
 * @example
 * import { createEndpointHandler } from "@onelog/sdk/fetch";
 * export const handler = createEndpointHandler({ services: [greeter] });
 */
export function createFetchEndpointHandler(
  options: FetchEndpointOptions,
): (request: Request, ...extraArgs: unknown[]) => Promise<Response> {
  return new FetchEndpointImpl(options).handler().fetch;
}
