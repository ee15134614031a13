/**
 * What an endpoint answers, transport aside: `/health`, `GET /discover`, and
 * `POST /invoke/{service}/{handler}` with a protocol version this endpoint speaks, each under any
 * path prefix (as Restate's SDKs route). Discovery and invocations are checked against the
 * request identity keys first, when there are any: a request that fails gets 401 and runs nothing.
 */
import { resolveHandlers, type AnyDefinition, type ResolvedHandler } from "../definitions.js";
import { endpointManifest, MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION } from "../manifest.js";
import { discover, errorResponse, SERVER_HEADER, type SimpleResponse } from "./discovery.js";
import { identityVerifier, type IdentityVerifier } from "./identity.js";
import type { LoggerTransport } from "./logger.js";

export type ProtocolMode = "BIDI_STREAM" | "REQUEST_RESPONSE";

/** An endpoint's services, resolved once when it starts serving. */
export interface EndpointConfig {
  readonly definitions: readonly AnyDefinition[];
  /** By `service/handler`. */
  readonly handlers: ReadonlyMap<string, ResolvedHandler>;
  readonly services: ReadonlySet<string>;
  readonly verifier: IdentityVerifier | undefined;
  readonly logger: LoggerTransport;
}

/**
 * Resolves the bound definitions. Throws a TypeError for a service bound twice, a definition
 * that is not one, or a malformed identity key: configuration errors surface at startup.
 */
export function endpointConfig(
  definitions: readonly AnyDefinition[],
  identityKeys: readonly string[],
  logger: LoggerTransport,
): EndpointConfig {
  const handlers = new Map<string, ResolvedHandler>();
  const services = new Set<string>();
  for (const def of definitions) {
    if (services.has(def.name)) throw new TypeError(`service ${def.name} is bound twice to this endpoint`);
    services.add(def.name);
    for (const h of resolveHandlers(def)) handlers.set(`${h.service}/${h.name}`, h);
  }
  return {
    definitions,
    handlers,
    services,
    verifier: identityKeys.length === 0 ? undefined : identityVerifier(identityKeys),
    logger,
  };
}

/** What to do with a request. */
export type Route =
  | { readonly type: "respond"; readonly response: SimpleResponse }
  | {
      readonly type: "invoke";
      readonly handler: ResolvedHandler;
      /** The request's content type, which the response repeats (the negotiated version). */
      readonly contentType: string;
    };

const INVOCATION_CONTENT_TYPE = /^application\/vnd\.restate\.invocation\.v(\d+)$/;

/**
 * Routes a request by its path and headers.
 *
 * @example
 * const r = route(config, "/invoke/Greeter/greet", (h) => headers[h], "BIDI_STREAM");
 */
export function route(
  config: EndpointConfig,
  path: string,
  header: (name: string) => string | undefined,
  mode: ProtocolMode,
): Route {
  const parts = path.split("/");
  const last = parts[parts.length - 1];
  const respond = (response: SimpleResponse): Route => ({ type: "respond", response });
  if (last === "health") {
    return respond({
      status: 200,
      headers: { "content-type": "text/plain", "x-restate-server": SERVER_HEADER },
      body: new TextEncoder().encode("OK"),
    });
  }
  const invoke = parts.length >= 4 && parts[parts.length - 3] === "invoke";
  if (last !== "discover" && !invoke) {
    return respond(
      errorResponse(
        404,
        `no such path ${path}: this endpoint serves /health, /discover and /invoke/{service}/{handler}`,
      ),
    );
  }
  if (config.verifier !== undefined) {
    const refused = config.verifier.verify(path, header);
    if (refused !== undefined) {
      config.logger(
        { source: "SYSTEM", level: "error", replaying: false },
        `refused a request to ${path}: ${refused}`,
      );
      return respond(errorResponse(401, "Unauthorized"));
    }
  }
  if (!invoke) return respond(discover(endpointManifest(config.definitions, mode), header("accept")));
  const service = decodePart(parts[parts.length - 2]!);
  const name = decodePart(last!);
  const contentType = header("content-type");
  const version = INVOCATION_CONTENT_TYPE.exec(contentType ?? "")?.[1];
  if (
    version === undefined ||
    Number(version) < MIN_PROTOCOL_VERSION ||
    Number(version) > MAX_PROTOCOL_VERSION
  ) {
    return respond(
      errorResponse(
        415,
        `unsupported content-type ${JSON.stringify(contentType ?? "")}; this endpoint speaks application/vnd.restate.invocation.v${MIN_PROTOCOL_VERSION} to v${MAX_PROTOCOL_VERSION}`,
      ),
    );
  }
  if (!config.services.has(service))
    return respond(errorResponse(404, `no service ${service} on this endpoint`));
  const handler = config.handlers.get(`${service}/${name}`);
  if (handler === undefined)
    return respond(errorResponse(404, `no handler ${service}/${name} on this endpoint`));
  return { type: "invoke", handler, contentType: contentType! };
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part; // not percent-encoded text: no service has such a name, so it answers 404
  }
}
