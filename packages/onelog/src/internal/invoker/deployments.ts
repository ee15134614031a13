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
 * 3. Every change is durable (`DeploymentRecords.save`, or in a cluster
 *    `SharedDeploymentRecords.replace`) before it is visible to routing.
 * 4. A deployment with running invocations pinned to it is removed only with `force`.
 * 5. A change is decided on the registry as it is when it is written: it is computed from a
 *    version of the list (the in-memory list embedded, a revision of the shared document in a
 *    cluster) and written only if that version is still the latest; otherwise it is decided
 *    again on the newer one. So 1, 2 and 4 hold across concurrent changes, on one server or on
 *    several, and none is lost.
 * 6. Shared (cluster): the list only moves forward — a revision is adopted only if it is newer
 *    than the one held — and a lookup that finds nothing may first ask the cluster for its latest
 *    revision ({@link Deployments.sync}), so a server never answers "unknown" for a deployment
 *    whose registration had been acknowledged anywhere before the lookup began.
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

/** Where one server keeps its deployments (a file in the data directory). */
export interface DeploymentRecords {
  load(): Deployment[];
  /** Replaces every record; returns once durable. */
  save(deployments: readonly Deployment[]): void;
}

/** One version of a shared registry: every deployment, and the revision that wrote them. */
export interface DeploymentsRevision {
  /** Grows with every write; 0 before the first one. */
  readonly revision: number;
  readonly deployments: readonly Deployment[];
}

/**
 * Where the servers of a cluster keep their deployments together (`@onelog/nats`: a JetStream
 * KV bucket): one document, replaced by compare-and-set on its revision, and watched.
 */
export interface SharedDeploymentRecords {
  /**
   * The latest revision: it includes every write acknowledged before this was called (a read of
   * the store's leader, not of a replica that may lag).
   */
  latest(): Promise<DeploymentsRevision>;
  /**
   * Writes `deployments` as the next revision if the latest one is still `revision`; resolves with
   * the new revision once durable, or undefined when another write came first (nothing written).
   * Rejects when the outcome cannot be known (the store unreachable for too long).
   */
  replace(revision: number, deployments: readonly Deployment[]): Promise<number | undefined>;
  /**
   * Calls `onRevision` with the latest revision and then with every later one, written by any
   * server, in order. Resolves once watching; `stop()` ends it.
   */
  watch(onRevision: (revision: DeploymentsRevision) => void): Promise<{ stop(): void }>;
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

/** A change as decided on one version of the list: the next list (none: nothing to write) and the answer. */
interface Decision<T> {
  readonly next?: Deployment[];
  readonly result: T;
}

/** How many times a change is decided again after losing its compare-and-set (5) before giving up. */
const MAX_DECISIONS = 100;

/** The registry of remote deployments and which one serves each service (1). */
export class Deployments {
  private deployments: readonly Deployment[];
  private readonly listeners: (() => void)[] = [];
  /** Cluster: the shared records, the revision held (6), the watch, and the syncs under way. */
  private readonly shared: SharedDeploymentRecords | undefined;
  /** Embedded: the file (or memory) records. */
  private readonly local: DeploymentRecords | undefined;
  private revision = 0;
  private stopWatch: (() => void) | undefined;
  private syncing: Promise<boolean> | undefined;
  private queuedSync: Promise<boolean> | undefined;
  /**
   * The handlers (`service/handler`) of running invocations pinned to a deployment; set by
   * whoever can see every partition (the admin endpoint). Unset, nothing is known to be pinned.
   */
  inFlight: ((deploymentId: string) => Promise<readonly string[]>) | undefined;

  constructor(
    records: DeploymentRecords | SharedDeploymentRecords,
    /** Services that cannot be taken by a deployment (the ones served in-process). */
    private readonly reserved: (service: string) => boolean = () => false,
  ) {
    if ("load" in records) {
      this.local = records;
      this.shared = undefined;
      this.deployments = records.load();
    } else {
      this.local = undefined;
      this.shared = records;
      this.deployments = []; // until shared() has read the latest revision
    }
  }

  /**
   * The registry of a cluster's servers: loads the latest revision of the shared records and
   * follows every later one (every server sees a registration made on any of them). Rejects if
   * the records cannot be read. Call {@link close} to stop following.
   *
   * @example
   * const deployments = await Deployments.shared(cluster.deployments, (s) => inProcess.has(s));
   */
  static async shared(
    records: SharedDeploymentRecords,
    reserved?: (service: string) => boolean,
  ): Promise<Deployments> {
    const d = new Deployments(records, reserved);
    const watch = await records.watch((r) => d.adopt(r));
    d.stopWatch = () => watch.stop();
    await d.sync();
    return d;
  }

  /** Whether the registry is shared by the servers of a cluster (it may change without a call here). */
  get isShared(): boolean {
    return this.shared !== undefined;
  }

  /** Stops following the shared records (nothing to do embedded). */
  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  /**
   * Shared: reads the cluster's latest revision and adopts it if it is newer than the one held
   * (6); resolves true when the list changed. It includes every write acknowledged before it was
   * called: concurrent calls share one read only if that read began after them. Embedded: false
   * at once (this process makes every change itself).
   */
  sync(): Promise<boolean> {
    const shared = this.shared;
    if (shared === undefined) return Promise.resolve(false);
    if (this.queuedSync !== undefined) return this.queuedSync;
    const read = (): Promise<boolean> => {
      const p = shared.latest().then((r) => this.adopt(r));
      this.syncing = p;
      const done = () => {
        if (this.syncing === p) this.syncing = undefined;
      };
      p.then(done, done);
      return p;
    };
    if (this.syncing === undefined) return read();
    // A read under way may have begun before this call: the caller waits for the next one.
    const queued = this.syncing
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.queuedSync = undefined;
        return read();
      });
    this.queuedSync = queued;
    return queued;
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
    return this.change((current) => this.decideRegistration(current, req));
  }

  private async decideRegistration(
    current: readonly Deployment[],
    req: RegisterRequest,
  ): Promise<Decision<{ deployment: Deployment; created: boolean }>> {
    const existing = current.find((d) => d.uri === req.uri);
    if (existing !== undefined && req.force !== true)
      return { result: { deployment: existing, created: false } }; // 2
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
    const rest = current.filter((d) => d !== existing);
    const revisions: Record<string, number> = {};
    for (const s of req.manifest.services) {
      const before = [...current].reverse().find((d) => d.revisions[s.name] !== undefined);
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
    return { next: [...rest, deployment], result: { deployment, created: existing === undefined } };
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
    return this.change(async (current) => {
      const rest = current.filter((d) => d.id !== id);
      if (rest.length === current.length) return { result: false };
      const running = (await this.inFlight?.(id)) ?? [];
      if (running.length > 0 && !force) {
        throw new DeploymentConflictError(
          `deployment ${id} has ${running.length} running invocation(s) pinned to it (${[...new Set(running)].join(", ")}); remove it with force to let them fail until it is registered again`,
        ); // 4
      }
      return { next: rest, result: true };
    });
  }

  /**
   * Invariant 5: decides a change on the latest version of the list and writes it only if that
   * version is still the latest (3); decides again otherwise.
   */
  private async change<T>(decide: (current: readonly Deployment[]) => Promise<Decision<T>>): Promise<T> {
    for (let round = 0; round < MAX_DECISIONS; round++) {
      const { local, shared } = this;
      if (shared === undefined) {
        const base = this.deployments;
        const { next, result } = await decide(base);
        if (next === undefined) return result;
        if (this.deployments !== base) continue; // changed while deciding
        local?.save(next); // 3
        this.adoptList(next);
        return result;
      }
      const base = await shared.latest();
      this.adopt(base);
      const { next, result } = await decide(base.deployments);
      if (next === undefined) return result;
      const revision = await shared.replace(base.revision, next); // 3
      if (revision === undefined) {
        // Another server wrote first; its write may not be readable for a moment yet.
        await new Promise((r) => setTimeout(r, Math.min(5 * round, 100)));
        continue;
      }
      this.adopt({ revision, deployments: next });
      return result;
    }
    throw new Error(
      `the deployments changed ${MAX_DECISIONS} times while this change was decided; try again`,
    );
  }

  /** Invariant 6: takes a shared revision if it is newer than the one held; true if it was. */
  private adopt(r: DeploymentsRevision): boolean {
    if (r.revision <= this.revision) return false;
    this.revision = r.revision;
    this.adoptList(r.deployments);
    return true;
  }

  private adoptList(next: readonly Deployment[]): void {
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
