/**
 * The admin API's view of the services this process serves (`GET /services`, `/deployments`,
 * and the `sys_service` / `sys_deployment` SQL tables). Shapes follow Restate's admin API: snake
 * case, `ty`, durations as text such as `1d`, `1m` or `50ms`.
 */
import { createHash } from "node:crypto";
import { DEFAULTS, type HandlerInfo } from "@onelog/sdk/internal";
import type { Engine } from "../engine.js";
import type { Deployment } from "../invoker/deployments.js";

/** A retry policy in the shape of Restate's admin API. */
export interface RetryPolicyDescription {
  readonly initial_interval: string;
  readonly exponentiation_factor: number;
  readonly max_interval: string;
  /** Attempts in all, the first included; null retries forever. */
  readonly max_attempts: number | null;
  readonly on_max_attempts: "Pause" | "Kill";
}

/** One handler with its resolved options. */
export interface HandlerDescription {
  readonly name: string;
  /** `Exclusive`, `Shared` or `Workflow` for objects and workflows; null for services. */
  readonly ty: "Exclusive" | "Shared" | "Workflow" | null;
  /** False for handlers marked `ingressPrivate`. */
  readonly public: boolean;
  readonly input_content_type: string | null;
  readonly output_content_type: string | null;
  /** The JSON schemas a deployment's manifest gives (Restate's fields); null when none. */
  readonly input_json_schema: unknown;
  readonly output_json_schema: unknown;
  readonly retry_policy: RetryPolicyDescription;
  /** How long a completed idempotent invocation (or a workflow run) keeps its result. */
  readonly idempotency_retention: string;
  readonly journal_retention: string;
  readonly inactivity_timeout: string;
}

/** One service. */
export interface ServiceDescription {
  readonly name: string;
  readonly ty: "Service" | "VirtualObject" | "Workflow";
  /** In-process services: 1. Remote ones: how many registrations of the service led to this one. */
  readonly revision: number;
  /** True when at least one handler is reachable from the ingress. */
  readonly public: boolean;
  readonly deployment_id: string;
  readonly handlers: readonly HandlerDescription[];
}

/** One deployment: this process (`embedded`), or a remote one registered by URL (`http`). */
export interface DeploymentDescription {
  readonly id: string;
  /** `embedded`: the handlers run in the engine's process; `http`: over the service protocol. */
  readonly ty: "embedded" | "http";
  /** Where the engine reaches the handlers; null for in-process handlers. */
  readonly endpoint: string | null;
  readonly created_at: string;
  readonly services: readonly { readonly name: string; readonly revision: number }[];
  /** Remote deployments, as Restate's admin API shows them. */
  readonly uri?: string;
  readonly protocol_type?: "BidiStream" | "RequestResponse";
  readonly http_version?: "HTTP/2.0" | "HTTP/1.1";
  readonly additional_headers?: Readonly<Record<string, string>>;
  readonly min_protocol_version?: number;
  readonly max_protocol_version?: number;
}

/** Formats ms as `1d 2h`, `1m`, `50ms`; `0s` for 0. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "forever";
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
    ["ms", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.length === 0 ? "0s" : parts.join(" ");
}

const SERVICE_TY = { service: "Service", object: "VirtualObject", workflow: "Workflow" } as const;

function handlerTy(h: HandlerInfo): HandlerDescription["ty"] {
  if (h.serviceKind === "service") return null;
  return h.kind === "workflow" ? "Workflow" : h.kind === "shared" ? "Shared" : "Exclusive";
}

/** A resolved retry policy (a handler's, or the one an invocation carries) as the admin shows it. */
export function describeRetryPolicy(r: HandlerInfo["retryPolicy"]): RetryPolicyDescription {
  return {
    initial_interval: formatDuration(r.initialIntervalMs),
    exponentiation_factor: r.factor,
    max_interval: formatDuration(r.maxIntervalMs),
    max_attempts: r.maxAttempts,
    on_max_attempts: r.onMaxAttempts === "kill" ? "Kill" : "Pause",
  };
}

function describeHandler(h: HandlerInfo): HandlerDescription {
  return {
    name: h.name,
    ty: handlerTy(h),
    public: !h.ingressPrivate,
    input_content_type: h.input.contentType ?? null,
    output_content_type: h.output.contentType ?? null,
    input_json_schema: h.input.jsonSchema ?? null,
    output_json_schema: h.output.jsonSchema ?? null,
    retry_policy: describeRetryPolicy(h.retryPolicy),
    idempotency_retention: formatDuration(h.idempotencyRetentionMs),
    journal_retention: formatDuration(h.journalRetentionMs ?? DEFAULTS.journalRetentionMs),
    inactivity_timeout: formatDuration(h.inactivityTimeoutMs),
  };
}

/** A remote deployment as the admin API shows it. */
export function describeDeployment(d: Deployment): DeploymentDescription {
  return {
    id: d.id,
    ty: "http",
    endpoint: d.uri,
    created_at: new Date(d.createdAt).toISOString(),
    services: d.manifest.services.map((s) => ({ name: s.name, revision: d.revisions[s.name] ?? 1 })),
    uri: d.uri,
    protocol_type: d.protocolMode === "REQUEST_RESPONSE" || d.useHttp11 ? "RequestResponse" : "BidiStream",
    http_version: d.useHttp11 ? "HTTP/1.1" : "HTTP/2.0",
    additional_headers: d.additionalHeaders,
    min_protocol_version: d.minProtocolVersion,
    max_protocol_version: d.maxProtocolVersion,
  };
}

/**
 * The services and deployments of an engine, as the admin API and the SQL tables show them:
 * read live (deployments come and go in server mode); `version` changes with every change.
 */
export class Registry {
  private cached:
    { version: number; services: ServiceDescription[]; deployments: DeploymentDescription[] } | undefined;
  private changes = 0;

  constructor(
    private readonly engine: Pick<Engine, "services" | "manifest" | "remote">,
    private readonly startedAt: number,
  ) {
    engine.remote?.deployments.onChange(() => this.changes++);
  }

  /** Bumped whenever a deployment is registered or removed. */
  get version(): number {
    return this.changes;
  }

  get services(): readonly ServiceDescription[] {
    return this.current().services;
  }

  get deployments(): readonly DeploymentDescription[] {
    return this.current().deployments;
  }

  service(name: string): ServiceDescription | undefined {
    return this.services.find((s) => s.name === name);
  }

  deployment(id: string): DeploymentDescription | undefined {
    return this.deployments.find((d) => d.id === id);
  }

  private current(): { services: ServiceDescription[]; deployments: DeploymentDescription[] } {
    if (this.cached?.version === this.changes) return this.cached;
    const inProcess = new Set(this.engine.manifest.services.map((s) => s.name));
    const sorted = [...this.engine.services.values()].sort((a, b) => a.name.localeCompare(b.name));
    const local = sorted.filter((s) => inProcess.has(s.name));
    // Stable for the same code: the id names the set of services and handlers this process serves.
    const hash = createHash("sha256");
    for (const s of local) hash.update(`${s.name}\0${s.kind}\0${[...s.handlers.keys()].sort().join(",")}\n`);
    const embeddedId = `dp_${hash.digest("hex").slice(0, 26)}`;
    const remote = this.engine.remote?.deployments;
    const services = sorted.map((s): ServiceDescription => {
      const handlers = [...s.handlers.values()].map(describeHandler);
      const d = inProcess.has(s.name) ? undefined : remote?.forService(s.name);
      return {
        name: s.name,
        ty: SERVICE_TY[s.kind],
        revision: d?.revisions[s.name] ?? 1,
        public: handlers.some((h) => h.public),
        deployment_id: d?.id ?? embeddedId,
        handlers,
      };
    });
    const deployments: DeploymentDescription[] = [];
    if (local.length > 0) {
      deployments.push({
        id: embeddedId,
        ty: "embedded",
        endpoint: null,
        created_at: new Date(this.startedAt).toISOString(),
        services: local.map((s) => ({ name: s.name, revision: 1 })),
      });
    }
    for (const d of remote?.list() ?? []) deployments.push(describeDeployment(d));
    this.cached = { version: this.changes, services, deployments };
    return this.cached;
  }
}
