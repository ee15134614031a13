/**
 * Discovery: `GET /discover` answers the endpoint manifest (manifest.ts) in the highest manifest
 * version the server accepts, as Restate's SDKs do. Each version allows a set of fields: v1 the
 * services and handlers, v2 adds documentation and metadata, v3 the per-service and per-handler
 * options (timeouts, retentions, lazy state, private), v4 the retry policy. A field a version
 * does not know is left out, so an older server registers the services with its own defaults
 * for those options (Restate's SDK refuses instead; onelog's manifest always carries resolved
 * options, so refusing would make every older server fail).
 */
import type { EndpointManifest, HandlerManifest, ServiceManifest } from "../manifest.js";

/** The manifest versions this endpoint can answer, highest first. */
const VERSIONS = [4, 3, 2, 1] as const;

const contentType = (v: number): string => `application/vnd.restate.endpointmanifest.v${v}+json`;

const V2_FIELDS = ["documentation", "metadata"];
const V3_FIELDS = [
  "inactivityTimeout",
  "abortTimeout",
  "journalRetention",
  "idempotencyRetention",
  "workflowCompletionRetention",
  "enableLazyState",
  "ingressPrivate",
];
const V4_FIELDS = [
  "retryPolicyInitialInterval",
  "retryPolicyMaxInterval",
  "retryPolicyExponentiationFactor",
  "retryPolicyMaxAttempts",
  "retryPolicyOnMaxAttempts",
];

/** A complete HTTP answer with a small body. */
export interface SimpleResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** The value of the `x-restate-server` header this endpoint sends. */
export const SERVER_HEADER = "onelog-sdk/0.1.0";

/** A JSON error answer: `{"message": …}`, as Restate's SDKs answer. */
export function errorResponse(status: number, message: string): SimpleResponse {
  return {
    status,
    headers: { "content-type": "application/json", "x-restate-server": SERVER_HEADER },
    body: new TextEncoder().encode(JSON.stringify({ message })),
  };
}

/** Fields of `o` without those a manifest version does not allow. */
function allowed<T extends object>(o: T, version: number): T {
  const drop = new Set([
    ...(version < 2 ? V2_FIELDS : []),
    ...(version < 3 ? V3_FIELDS : []),
    ...(version < 4 ? V4_FIELDS : []),
  ]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (drop.has(k) || v === undefined) continue;
    // onelog's manifest writes 0 for "retry forever"; a Restate server reads 0 as one attempt,
    // so the field is left out and the server's default policy applies (docs/compatibility.md).
    if (k === "retryPolicyMaxAttempts" && v === 0) continue;
    out[k] = v;
  }
  return out as T;
}

/** The manifest as manifest version `version` allows it. */
export function manifestForVersion(manifest: EndpointManifest, version: number): EndpointManifest {
  return {
    ...allowed(manifest, version),
    services: manifest.services.map((s): ServiceManifest => ({
      ...allowed(s, version),
      handlers: s.handlers.map((h): HandlerManifest => allowed(h, version)),
    })),
  };
}

/**
 * The answer to `GET /discover` with this `accept` header: the manifest in the highest version
 * both sides know, or 415 naming the versions this endpoint speaks.
 *
 * @example
 * const r = discover(endpointManifest(defs, "BIDI_STREAM"), req.headers.accept);
 * res.writeHead(r.status, r.headers).end(r.body);
 */
export function discover(manifest: EndpointManifest, accept: string | undefined): SimpleResponse {
  if (accept === undefined) return errorResponse(415, "discovery needs an accept header");
  const version = VERSIONS.find((v) => accept.includes(contentType(v)));
  if (version === undefined) {
    return errorResponse(
      415,
      `unsupported endpoint manifest version(s) '${accept}'; this endpoint answers ${VERSIONS.map(contentType).join(", ")}`,
    );
  }
  return {
    status: 200,
    headers: { "content-type": contentType(version), "x-restate-server": SERVER_HEADER },
    body: new TextEncoder().encode(JSON.stringify(manifestForVersion(manifest, version))),
  };
}
