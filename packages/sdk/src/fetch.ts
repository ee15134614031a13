// onelog SDK for fetch-style runtimes (serverless functions, workers), as Restate's
// `@restatedev/restate-sdk/fetch`: the whole handler API (handler-api.ts, shared with index.ts),
// with `endpoint()` and `createEndpointHandler()` giving fetch handlers. Imports no Node HTTP module.
export * from "./handler-api.js";
export {
  createFetchEndpointHandler as createEndpointHandler,
  fetchEndpoint as endpoint,
} from "./internal/endpoint/fetch-endpoint.js";
export type { FetchEndpoint, FetchEndpointOptions } from "./internal/endpoint/fetch-endpoint.js";
export type { EndpointOptions, RestateEndpointBase } from "./internal/endpoint/builder.js";
export type { LogMetadata, LoggerContext, LoggerTransport } from "./internal/endpoint/logger.js";
export { LogSource, RestateLogLevel } from "./internal/endpoint/logger.js";
