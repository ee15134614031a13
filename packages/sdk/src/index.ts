// onelog SDK: the handler API (handler-api.ts, shared with the fetch entry) and the Node
// endpoint. Names and semantics follow the Restate TypeScript SDK 1.x.
export * from "./handler-api.js";
export { createEndpointHandler, endpoint, serve } from "./internal/endpoint/node-endpoint.js";
export type {
  NodeEndpointOptions,
  RestateEndpoint,
  ServeOptions,
} from "./internal/endpoint/node-endpoint.js";
export type { EndpointOptions, RestateEndpointBase } from "./internal/endpoint/builder.js";
export type { LogMetadata, LoggerContext, LoggerTransport } from "./internal/endpoint/logger.js";
export { LogSource, RestateLogLevel } from "./internal/endpoint/logger.js";
