/**
 * Remote deployments (server mode): processes that serve handlers over the Restate service
 * protocol, registered by URL. Registration asks the deployment what it serves (discovery,
 * `GET {uri}/discover`), and the registry remembers it, durably, so a restarted server routes
 * to the same places.
 *
 * Invariants:
 * 1. A service is served by at most one deployment at a time: the latest one that registered it
 *    (its revision counts registrations). A new invocation goes to the service's current
 *    deployment; once its journal has a command from one, it stays pinned to that one (the
 *    status's `pinnedDeployment`), so a journal is always replayed by the code that made it.
 * 2. A URI is registered at most once. Registering it again returns it unchanged, as Restate
 *    does; with `force` it is replaced in place (same id), unless an invocation pinned to it and
 *    still running uses a handler the new manifest lacks.
 * 3. Every change is durable (`DeploymentRecords.save`) before it is visible to routing.
 * 4. A deployment with running invocations pinned to it is removed only with `force`.
 */
import { randomBytes } from "node:crypto";
import {
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  handlersOfManifest,
  type EndpointManifest,
} from "@onelog/sdk/internal";
import type { DeploymentClient } from "./deployment-client.js";

/** A registered deployment. */
export interface Deployment {
  /** `dp_` + 26 hex digits. */
  readonly id: string;
  /** The base URL; invocations go to `{uri}/invoke/{service}/{handler}`. */
  readonly uri: string;
  readonly protocolMode: "BIDI_STREAM" | "REQUEST_RESPONSE";
  /**
   * HTTP/1.1 instead of HTTP/2 (then request/response only). Otherwise http:// is HTTP/2
   * cleartext and https:// is whichever of HTTP/2 and HTTP/1.1 the deployment picks (ALPN).
   */
  readonly useHttp11: boolean;
  /** Sent with every request to it (e.g. an API gateway's key). */
  readonly additionalHeaders: Readonly<Record<string, string>>;
  readonly minProtocolVersion: number;
  readonly maxProtocolVersion: number;
  /** ms since the epoch. */
  readonly createdAt: number;
  readonly manifest: EndpointManifest;
  /** The revision of each of its services when it registered them. */
  readonly revisions: Readonly<Record<string, number>>;
}

/** Where the registry keeps its deployments (a file embedded; a KV bucket in a cluster). */
export interface DeploymentRecords {
  load(): Deployment[];
  /** Replaces every record; returns once durable. */
  save(deployments: readonly Deployment[]): void;
}

/** In memory only (tests). */
export function memoryDeploymentRecords(): DeploymentRecords {
  let saved: Deployment[] = [];
  return { load: () => saved, save: (d) => void (saved = [...d]) };
}

/** A registration that cannot be done as asked (409 on the admin API). */
export class DeploymentConflictError extends Error {
  readonly code = "OL1031";
  constructor(message: string) {
    super(message);
    this.name = "DeploymentConflictError";
  }
}

/** Discovery failed: unreachable, a non-2xx answer, or a manifest onelog cannot use (400). */
export class DiscoveryError extends Error {
  readonly code = "OL1032";
  constructor(message: string) {
    super(message);
    this.name = "DiscoveryError";
  }
}

/** What a registration asks for. */
export interface RegisterRequest {
  readonly uri: string;
  readonly manifest: EndpointManifest;
  readonly useHttp11?: boolean;
  readonly additionalHeaders?: Readonly<Record<string, string>>;
  /** Replace a deployment with the same URI (2). */
  readonly force?: boolean;
}

/** The registry of remote deployments and which one serves each service (1). */
export class Deployments {
  private deployments: Deployment[];
  private readonly listeners: (() => void)[] = [];
  /**
   * The handlers (`service/handler`) of running invocations pinned to a deployment; set by
   * whoever can see every partition (the admin endpoint). Unset, nothing is known to be pinned.
   */
  inFlight: ((deploymentId: string) => Promise<readonly string[]>) | undefined;

  constructor(
    private readonly records: DeploymentRecords,
    /** Services that cannot be taken by a deployment (the ones served in-process). */
    private readonly reserved: (service: string) => boolean = () => false,
  ) {
    this.deployments = records.load();
  }

  /** Every deployment, oldest first. */
  list(): readonly Deployment[] {
    return this.deployments;
  }

  get(id: string): Deployment | undefined {
    return this.deployments.find((d) => d.id === id);
  }

  /** The deployment that serves a service now (1). */
  forService(service: string): Deployment | undefined {
    for (let i = this.deployments.length - 1; i >= 0; i--) {
      const d = this.deployments[i]!;
      if (d.manifest.services.some((s) => s.name === service)) return d;
    }
    return undefined;
  }

  /** Called after every change. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Registers a deployment from its manifest (discovery already done); `created` is false when
   * the URI was registered already (2). Throws DeploymentConflictError for a service served
   * in-process or a forced replacement that would strand running invocations, and
   * DiscoveryError for a manifest onelog cannot use.
   *
   * @example
   * const d = await deployments.register({ uri: "http://127.0.0.1:9080", manifest: await discover(uri) });
   */
  async register(req: RegisterRequest): Promise<{ deployment: Deployment; created: boolean }> {
    checkManifest(req.manifest);
    const existing = this.deployments.find((d) => d.uri === req.uri);
    if (existing !== undefined && req.force !== true) return { deployment: existing, created: false }; // 2
    for (const s of req.manifest.services) {
      if (this.reserved(s.name)) {
        throw new DeploymentConflictError(
          `service ${s.name} is served in-process by this server; a deployment cannot take it over`,
        );
      }
    }
    if (existing !== undefined) {
      const offered = new Set(handlersOfManifest(req.manifest).map((h) => `${h.service}/${h.name}`));
      const broken = [...new Set((await this.inFlight?.(existing.id)) ?? [])].filter((h) => !offered.has(h));
      if (broken.length > 0) {
        throw new DeploymentConflictError(
          `deployment ${existing.id} at ${req.uri} has running invocations of ${broken.join(", ")}, which the new code does not serve; register the new code at another URI (a new deployment), or let them finish first`,
        );
      }
    }
    const rest = this.deployments.filter((d) => d !== existing);
    const revisions: Record<string, number> = {};
    for (const s of req.manifest.services) {
      const before = [...this.deployments].reverse().find((d) => d.revisions[s.name] !== undefined);
      revisions[s.name] = (before?.revisions[s.name] ?? 0) + 1;
    }
    const deployment: Deployment = {
      id: existing?.id ?? `dp_${randomBytes(13).toString("hex")}`,
      uri: req.uri,
      protocolMode: req.manifest.protocolMode ?? "BIDI_STREAM",
      useHttp11: req.useHttp11 ?? false,
      additionalHeaders: req.additionalHeaders ?? {},
      minProtocolVersion: req.manifest.minProtocolVersion,
      maxProtocolVersion: req.manifest.maxProtocolVersion,
      createdAt: Date.now(),
      manifest: req.manifest,
      revisions,
    };
    this.commit([...rest, deployment]); // 3
    return { deployment, created: existing === undefined };
  }

  /**
   * Discovers what `uri` serves (`GET {uri}/discover`) and registers it. Rejects with
   * DiscoveryError (unreachable, an error answer, a manifest onelog cannot use) or
   * DeploymentConflictError (see {@link register}).
   *
   * @example
   * await deployments.discoverAndRegister(client, { uri: "http://127.0.0.1:9080" });
   */
  async discoverAndRegister(
    client: DeploymentClient,
    req: Omit<RegisterRequest, "manifest">,
  ): Promise<{ deployment: Deployment; created: boolean }> {
    let url: URL;
    try {
      url = new URL(req.uri);
    } catch {
      throw new DiscoveryError(`${JSON.stringify(req.uri)} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new DiscoveryError(`${req.uri}: a deployment's URI is http:// or https://`);
    }
    let manifest: unknown;
    try {
      manifest = await client.discover({
        uri: req.uri,
        useHttp11: req.useHttp11 ?? false,
        additionalHeaders: req.additionalHeaders ?? {},
      });
    } catch (e) {
      throw new DiscoveryError(`discovery of ${req.uri} failed: ${(e as Error).message}`);
    }
    return this.register({ ...req, manifest: manifest as EndpointManifest });
  }

  /**
   * Removes a deployment. Its services are no longer served (unless an older deployment also
   * serves them); their invocations retry until one is registered again. False if unknown;
   * DeploymentConflictError when running invocations are pinned to it and not `force` (4).
   */
  async remove(id: string, force = false): Promise<boolean> {
    const rest = this.deployments.filter((d) => d.id !== id);
    if (rest.length === this.deployments.length) return false;
    const running = (await this.inFlight?.(id)) ?? [];
    if (running.length > 0 && !force) {
      throw new DeploymentConflictError(
        `deployment ${id} has ${running.length} running invocation(s) pinned to it (${[...new Set(running)].join(", ")}); remove it with force to let them fail until it is registered again`,
      ); // 4
    }
    this.commit(rest);
    return true;
  }

  private commit(next: Deployment[]): void {
    this.records.save(next);
    this.deployments = next;
    for (const l of this.listeners) l();
  }
}

/** Throws DiscoveryError unless onelog can invoke this manifest's services. */
function checkManifest(m: EndpointManifest): void {
  if (typeof m !== "object" || m === null || !Array.isArray(m.services)) {
    throw new DiscoveryError("the manifest has no services array");
  }
  const min = m.minProtocolVersion;
  const max = m.maxProtocolVersion;
  if (
    !Number.isInteger(min) ||
    !Number.isInteger(max) ||
    max < MIN_PROTOCOL_VERSION ||
    min > MAX_PROTOCOL_VERSION
  ) {
    throw new DiscoveryError(
      `the deployment speaks service protocol versions ${min}..${max}; onelog speaks ${MIN_PROTOCOL_VERSION}..${MAX_PROTOCOL_VERSION}`,
    );
  }
  if (
    m.protocolMode !== undefined &&
    m.protocolMode !== "BIDI_STREAM" &&
    m.protocolMode !== "REQUEST_RESPONSE"
  ) {
    throw new DiscoveryError(`unknown protocolMode ${JSON.stringify(m.protocolMode)}`);
  }
  try {
    handlersOfManifest(m);
  } catch (e) {
    throw new DiscoveryError(`the manifest is not well formed: ${(e as Error).message}`);
  }
}

/** The protocol version onelog speaks with a deployment: the highest both know. */
export function protocolVersionFor(d: Pick<Deployment, "minProtocolVersion" | "maxProtocolVersion">): number {
  return Math.min(d.maxProtocolVersion, MAX_PROTOCOL_VERSION);
}
