/**
 * The admin API's view of the services this process serves (`GET /services`, `/deployments`,
 * and the `sys_service` / `sys_deployment` SQL tables). Shapes follow Restate's admin API: snake
 * case, `ty`, durations as text such as `1d`, `1m` or `50ms`.
 */
import { createHash } from "node:crypto";
import type { HandlerInfo } from "@onelog/sdk/internal";
import type { RegisteredService } from "../engine.js";

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
  /** Always 1: the embedded mode has one revision, the code in this process. */
  readonly revision: number;
  /** True when at least one handler is reachable from the ingress. */
  readonly public: boolean;
  readonly deployment_id: string;
  readonly handlers: readonly HandlerDescription[];
}

/** One deployment: in the embedded mode, this process. */
export interface DeploymentDescription {
  readonly id: string;
  /** `embedded`: the handlers run in the engine's process. Remote deployments are not built yet. */
  readonly ty: "embedded";
  /** Where the engine reaches the handlers; null for in-process handlers. */
  readonly endpoint: string | null;
  readonly created_at: string;
  readonly services: readonly { readonly name: string; readonly revision: number }[];
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
    retry_policy: describeRetryPolicy(h.retryPolicy),
    idempotency_retention: formatDuration(h.idempotencyRetentionMs),
    journal_retention: formatDuration(h.journalRetentionMs),
    inactivity_timeout: formatDuration(h.inactivityTimeoutMs),
  };
}

/** The services and the one in-process deployment of an engine's registry. */
export class Registry {
  readonly services: readonly ServiceDescription[];
  readonly deployment: DeploymentDescription;

  constructor(services: ReadonlyMap<string, RegisteredService>, startedAt: number) {
    const sorted = [...services.values()].sort((a, b) => a.name.localeCompare(b.name));
    // Stable for the same code: the id names the set of services and handlers this process serves.
    const hash = createHash("sha256");
    for (const s of sorted) hash.update(`${s.name}\0${s.kind}\0${[...s.handlers.keys()].sort().join(",")}\n`);
    const deploymentId = `dp_${hash.digest("hex").slice(0, 26)}`;
    this.services = sorted.map((s) => {
      const handlers = [...s.handlers.values()].map(describeHandler);
      return {
        name: s.name,
        ty: SERVICE_TY[s.kind],
        revision: 1,
        public: handlers.some((h) => h.public),
        deployment_id: deploymentId,
        handlers,
      };
    });
    this.deployment = {
      id: deploymentId,
      ty: "embedded",
      endpoint: null,
      created_at: new Date(startedAt).toISOString(),
      services: this.services.map((s) => ({ name: s.name, revision: s.revision })),
    };
  }

  service(name: string): ServiceDescription | undefined {
    return this.services.find((s) => s.name === name);
  }
}
