/**
 * The endpoint manifest: what a deployment serves, in the shape of the Restate endpoint manifest
 * (service-protocol/endpoint_manifest_schema.json, the answer to discovery). It is plain JSON: the
 * engine knows services only through it, never through handler functions, so an in-process
 * deployment and a remote one (server mode, any Restate SDK) register the same way.
 *
 * Durations are milliseconds, as in the Restate schema. The retry policy fields follow Restate's
 * later manifest versions; a manifest without them gets onelog's defaults.
 */
import {
  DEFAULTS,
  definitionParts,
  resolveHandlers,
  type AnyDefinition,
  type HandlerKind,
} from "./definitions.js";

/** The protocol versions this SDK's endpoint speaks (the Restate service protocol). */
export const MIN_PROTOCOL_VERSION = 5;
export const MAX_PROTOCOL_VERSION = 6;

/** One handler of a service, as discovery describes it. */
export interface HandlerManifest {
  readonly name: string;
  /** Unset for services; EXCLUSIVE (default) or SHARED for objects; WORKFLOW for a workflow's `run`. */
  readonly ty?: "WORKFLOW" | "EXCLUSIVE" | "SHARED";
  readonly documentation?: string;
  readonly input?: {
    readonly required?: boolean;
    readonly contentType?: string;
    readonly jsonSchema?: unknown;
  };
  readonly output?: {
    readonly contentType?: string;
    readonly setContentTypeIfEmpty?: boolean;
    readonly jsonSchema?: unknown;
  };
  readonly inactivityTimeout?: number;
  readonly abortTimeout?: number;
  readonly journalRetention?: number;
  readonly idempotencyRetention?: number;
  readonly workflowCompletionRetention?: number;
  readonly enableLazyState?: boolean;
  readonly ingressPrivate?: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly retryPolicyInitialInterval?: number;
  readonly retryPolicyMaxInterval?: number;
  readonly retryPolicyExponentiationFactor?: number;
  /** Attempts in all; absent means onelog's default; 0 means unlimited (Restate's convention). */
  readonly retryPolicyMaxAttempts?: number;
  readonly retryPolicyOnMaxAttempts?: "PAUSE" | "KILL";
}

/** One service of a deployment, as discovery describes it. */
export interface ServiceManifest {
  readonly name: string;
  readonly ty: "SERVICE" | "VIRTUAL_OBJECT" | "WORKFLOW";
  readonly documentation?: string;
  readonly handlers: readonly HandlerManifest[];
  readonly inactivityTimeout?: number;
  readonly abortTimeout?: number;
  readonly journalRetention?: number;
  readonly idempotencyRetention?: number;
  readonly enableLazyState?: boolean;
  readonly ingressPrivate?: boolean;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** What a deployment serves: the answer to `GET /discover`. */
export interface EndpointManifest {
  readonly protocolMode?: "BIDI_STREAM" | "REQUEST_RESPONSE";
  readonly minProtocolVersion: number;
  readonly maxProtocolVersion: number;
  readonly services: readonly ServiceManifest[];
}

/**
 * The engine's view of one handler: where it is and its options, resolved with the defaults.
 * Serializable; it holds no function. (The in-process invoker's `ResolvedHandler` adds the
 * function and the serdes to these same fields.)
 */
export interface HandlerInfo {
  readonly service: string;
  readonly name: string;
  readonly serviceKind: "service" | "object" | "workflow";
  readonly kind: HandlerKind;
  readonly ingressPrivate: boolean;
  readonly retryPolicy: {
    readonly initialIntervalMs: number;
    readonly factor: number;
    readonly maxIntervalMs: number;
    /** Attempts in all, the first included; null retries forever. */
    readonly maxAttempts: number | null;
    readonly onMaxAttempts: "pause" | "kill";
  };
  readonly idempotencyRetentionMs: number;
  /** How long a completed invocation keeps its journal; absent: the engine's default. */
  readonly journalRetentionMs?: number;
  readonly inactivityTimeoutMs: number;
  /** How long a remote attempt asked to suspend may take to end (manifest `abortTimeout`); unset: the engine's default. */
  readonly abortTimeoutMs?: number;
  /** `jsonSchema` when the deployment's manifest gives one (server mode). */
  readonly input: { readonly contentType?: string; readonly jsonSchema?: unknown };
  readonly output: { readonly contentType?: string; readonly jsonSchema?: unknown };
}

const SERVICE_TY = { service: "SERVICE", object: "VIRTUAL_OBJECT", workflow: "WORKFLOW" } as const;
const HANDLER_TY = { exclusive: "EXCLUSIVE", shared: "SHARED", workflow: "WORKFLOW" } as const;

/**
 * The manifest of the services an endpoint serves, with every option resolved per handler (so
 * the engine applies exactly what the SDK resolved).
 *
 * @example
 * const manifest = endpointManifest([greeter, counter]);
 * JSON.stringify(manifest); // what GET /discover answers
 */
export function endpointManifest(
  definitions: readonly AnyDefinition[],
  protocolMode: "BIDI_STREAM" | "REQUEST_RESPONSE" = "BIDI_STREAM",
): EndpointManifest {
  return {
    protocolMode,
    minProtocolVersion: MIN_PROTOCOL_VERSION,
    maxProtocolVersion: MAX_PROTOCOL_VERSION,
    services: definitions.map((def) => ({
      name: def.name,
      ty: SERVICE_TY[definitionParts(def).kind],
      handlers: resolveHandlers(def).map((h): HandlerManifest => {
        const p = h.retryPolicy;
        return {
          name: h.name,
          ...(h.kind === "service" ? {} : { ty: HANDLER_TY[h.kind] }),
          input: {
            required: false,
            ...(h.input.contentType === undefined ? {} : { contentType: h.input.contentType }),
          },
          output: h.output.contentType === undefined ? {} : { contentType: h.output.contentType },
          inactivityTimeout: h.inactivityTimeoutMs,
          ...(h.journalRetentionMs === undefined ? {} : { journalRetention: h.journalRetentionMs }),
          ...(h.kind === "workflow"
            ? { workflowCompletionRetention: h.idempotencyRetentionMs }
            : { idempotencyRetention: h.idempotencyRetentionMs }),
          ingressPrivate: h.ingressPrivate,
          retryPolicyInitialInterval: p.initialIntervalMs,
          retryPolicyMaxInterval: p.maxIntervalMs,
          retryPolicyExponentiationFactor: p.factor,
          retryPolicyMaxAttempts: p.maxAttempts ?? 0,
          retryPolicyOnMaxAttempts: p.onMaxAttempts === "kill" ? "KILL" : "PAUSE",
        };
      }),
    })),
  };
}

/**
 * Every handler a manifest describes, with service-level options and onelog's defaults filled
 * in. Throws a TypeError naming the field for a manifest that is not well formed.
 */
export function handlersOfManifest(manifest: EndpointManifest): HandlerInfo[] {
  const out: HandlerInfo[] = [];
  for (const s of manifest.services) {
    const serviceKind =
      s.ty === "SERVICE"
        ? "service"
        : s.ty === "VIRTUAL_OBJECT"
          ? "object"
          : s.ty === "WORKFLOW"
            ? "workflow"
            : undefined;
    if (serviceKind === undefined)
      throw new TypeError(`service ${s.name}: unknown ty ${JSON.stringify(s.ty)}`);
    for (const h of s.handlers) {
      const kind: HandlerKind =
        serviceKind === "service"
          ? "service"
          : h.ty === "SHARED"
            ? "shared"
            : h.ty === "WORKFLOW" || (serviceKind === "workflow" && h.ty === undefined)
              ? "workflow"
              : "exclusive";
      const maxAttempts = h.retryPolicyMaxAttempts ?? DEFAULTS.maxAttempts;
      out.push({
        service: s.name,
        name: h.name,
        serviceKind,
        kind,
        ingressPrivate: h.ingressPrivate ?? s.ingressPrivate ?? false,
        retryPolicy: {
          initialIntervalMs: h.retryPolicyInitialInterval ?? DEFAULTS.initialIntervalMs,
          factor: h.retryPolicyExponentiationFactor ?? DEFAULTS.factor,
          maxIntervalMs: h.retryPolicyMaxInterval ?? DEFAULTS.maxIntervalMs,
          maxAttempts: maxAttempts === 0 ? null : maxAttempts,
          onMaxAttempts: h.retryPolicyOnMaxAttempts === "KILL" ? "kill" : "pause",
        },
        idempotencyRetentionMs:
          kind === "workflow"
            ? (h.workflowCompletionRetention ?? DEFAULTS.workflowRetentionMs)
            : (h.idempotencyRetention ?? s.idempotencyRetention ?? DEFAULTS.idempotencyRetentionMs),
        ...journalRetentionOf(h.journalRetention ?? s.journalRetention),
        inactivityTimeoutMs: h.inactivityTimeout ?? s.inactivityTimeout ?? DEFAULTS.inactivityTimeoutMs,
        ...((h.abortTimeout ?? s.abortTimeout) === undefined
          ? {}
          : { abortTimeoutMs: (h.abortTimeout ?? s.abortTimeout)! }),
        input: {
          ...(h.input?.contentType === undefined ? {} : { contentType: h.input.contentType }),
          ...(h.input?.jsonSchema === undefined ? {} : { jsonSchema: h.input.jsonSchema }),
        },
        output: {
          ...(h.output?.contentType === undefined ? {} : { contentType: h.output.contentType }),
          ...(h.output?.jsonSchema === undefined ? {} : { jsonSchema: h.output.jsonSchema }),
        },
      });
    }
  }
  return out;
}

/** A handler's journal retention when its manifest says one; absent leaves the engine's default. */
function journalRetentionOf(ms: number | undefined): { journalRetentionMs?: number } {
  return ms === undefined ? {} : { journalRetentionMs: ms };
}
