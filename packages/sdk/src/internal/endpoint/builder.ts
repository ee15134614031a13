/**
 * What every endpoint flavour shares: the services bound to it, its request identity keys and its
 * logger, as Restate's `RestateEndpointBase`.
 */
import type { ServiceDefinition, VirtualObjectDefinition, WorkflowDefinition } from "../definitions.js";
import { defaultLogger, type LoggerTransport } from "./logger.js";
import { endpointConfig, type EndpointConfig } from "./router.js";

/** A service, virtual object or workflow definition, as `bind` takes it. */
export type BindableDefinition =
  | ServiceDefinition<string, unknown>
  | VirtualObjectDefinition<string, unknown>
  | WorkflowDefinition<string, unknown>;

/** Options of `createEndpointHandler` and `serve`. */
export interface EndpointOptions {
  /** The services, virtual objects and workflows this endpoint serves. */
  services: BindableDefinition[];
  /**
   * Request identity public keys (`publickeyv1_…`): when given, every request must carry a valid
   * token signed with one of the matching private keys, or it gets 401.
   */
  identityKeys?: string[];
  /** Where the endpoint logs (default: `info` and above to the console). */
  logger?: LoggerTransport;
}

/** The methods every endpoint has, returning the endpoint itself for chaining. */
export interface RestateEndpointBase<E> {
  /**
   * Serves a service, virtual object or workflow on this endpoint.
   *
   * @example
   * endpoint().bind(greeter).bind(counter).listen(9080);
   */
  bind<P extends string, M>(
    service: ServiceDefinition<P, M> | VirtualObjectDefinition<P, M> | WorkflowDefinition<P, M>,
  ): E;
  /**
   * Accepts only requests signed by a server holding one of the matching private keys (request
   * identity v1: `x-restate-signature-scheme: v1` and a JWT in `x-restate-jwt-v1`). Any other
   * request, discovery included, gets 401 and runs nothing.
   *
   * @example
   * endpoint().bind(greeter).withIdentityV1("publickeyv1_2G8dCQhArfvGpzPw5Vx2ALciR4xCLHfS5YaT93XjNxX9");
   */
  withIdentityV1(...keys: string[]): E;
  /** Replaces the default console logger (see {@link LoggerTransport}). */
  setLogger(logger: LoggerTransport): E;
}

/** The bound services, keys and logger; `build()` resolves them once the endpoint serves. */
export class EndpointBuilder {
  private readonly definitions: BindableDefinition[] = [];
  private readonly keys: string[] = [];
  private logger: LoggerTransport = defaultLogger;

  constructor(options?: Partial<EndpointOptions>) {
    for (const s of options?.services ?? []) this.bind(s);
    this.withIdentityV1(...(options?.identityKeys ?? []));
    if (options?.logger !== undefined) this.setLogger(options.logger);
  }

  bind(definition: BindableDefinition): void {
    this.definitions.push(definition);
  }

  withIdentityV1(...keys: string[]): void {
    this.keys.push(...keys);
  }

  setLogger(logger: LoggerTransport): void {
    this.logger = logger;
  }

  /** Throws a TypeError for a configuration error (a service bound twice, a malformed key). */
  build(): EndpointConfig {
    return endpointConfig([...this.definitions], [...this.keys], this.logger);
  }
}
