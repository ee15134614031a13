/**
 * The engine: one partition processor per partition over a shared log, the services it knows
 * (from endpoint manifests: serializable, no functions), the invoker factory that runs their
 * attempts, and the invocation API the ingress (and the simulator) call.
 *
 * Invariants:
 * 1. An invocation is created only by an Invoke record applied in the partition its id names.
 * 2. A caller waiting for a result registers before its Invoke is appended, so a completion
 *    can never be missed; a completed invocation that is still retained answers at once.
 */
import { randomUUID } from "node:crypto";
import {
  DEFAULTS,
  endpointManifest,
  handlersOfManifest,
  resolveHandlers,
  type EndpointManifest,
  type HandlerInfo,
  type Result,
  type ServiceManifest,
} from "@onelog/sdk/internal";
import type { AnyDefinition } from "@onelog/sdk";
import type { Clock } from "./clock.js";
import { parseAwakeableId } from "@onelog/sdk/internal";
import { systemRandom, type Random } from "./random.js";
import { isInvocationId, newInvocationId, partitionOf, workflowRunId } from "./partition/ids.js";
import { inProcessInvokers } from "./invoker/in-process.js";
import type { InvokerFactory } from "./invoker/invoker.js";
import type { DeploymentClient } from "./invoker/deployment-client.js";
import type { Deployments } from "./invoker/deployments.js";
import { httpInvokers } from "./invoker/http.js";
import { routingInvokers } from "./invoker/routing.js";
import { DeploymentSlots } from "./invoker/slots.js";
import type { Log } from "./log/log.js";
import { EmbeddedLeadership, type Leadership } from "./partition/leadership.js";
import type { Logger } from "./ops/logger.js";
import {
  BehindTrimPointError,
  PartitionProcessor,
  ProcessorStoppedError,
  type ProcessorObserver,
  type ProcessorOptions,
} from "./partition/processor.js";
import type { InvokeBody, RecordBody, Target } from "./partition/records.js";
import { retentionOf } from "./partition/retention.js";
import type { InvocationStatus, PartitionStore } from "./partition/store/store.js";

/** Restate's answer to a second request-response call to a workflow's `run`. */
const WORKFLOW_ALREADY_INVOKED: Result = {
  err: { code: 409, message: "the workflow method was already invoked" },
};

export interface EngineOptions {
  readonly log: Log;
  /** The store of each partition (0 … log.partitions-1). */
  readonly storeFor: (partition: number) => PartitionStore;
  /**
   * Who leads which partition, with which epoch. Default: an {@link EmbeddedLeadership} that
   * grants every partition to this process, with epochs from the stores, kept in memory.
   */
  readonly leadership?: Leadership;
  readonly clock: Clock;
  /** Randomness for new invocation ids (default: the system's). */
  readonly random?: Random;
  readonly logger: Logger;
  /** Services whose handlers run in this process (the embedded deployment). */
  readonly services: readonly AnyDefinition[];
  readonly console?: Console;
  /** Suspend at every await that waits for a completion (test mode; env ONELOG_SUSPEND_ALWAYS=1). */
  readonly suspendAlways?: boolean;
  /**
   * Manifests of deployments whose handlers run elsewhere (their attempts go to `invokers`):
   * the engine learns their services from the manifest alone.
   */
  readonly deployments?: readonly EndpointManifest[];
  /**
   * Remote deployments (server mode): their services are invoked over the service protocol,
   * the in-process ones directly. Without it, only `services` (and `deployments`) are known.
   */
  readonly remote?: RemoteOptions;
  /** Runs attempts; default: the in-process invoker over `services` (and the HTTP one with `remote`). */
  readonly invokers?: InvokerFactory;
  /** Fault injection for the simulator. */
  readonly faults?: ProcessorOptions["faults"];
  /** Told the duration of each applied batch (admin metrics). */
  readonly observer?: ProcessorObserver;
  /**
   * Cluster mode: every processor follows its partition (applies the log, performs nothing)
   * from the start, and leads whenever `leadership` grants the partition to this node. A
   * processor whose grant ends is replaced by a new follower that asks again. `start` then
   * resolves once every partition caught up with the log, not once this node leads them.
   */
  readonly followers?: boolean;
  /**
   * Cluster mode: brings partition `p`'s store up to the log's trim point from a snapshot, for a
   * follower the log was trimmed past (processor.ts, invariant 4). Rejects if no snapshot covers
   * the trim point. Without it, such a partition stays stopped.
   */
  readonly catchUp?: (partition: number) => Promise<void>;
  /** Journal retention of handlers that set none (default 24 h, as Restate's `default-journal-retention`). */
  readonly defaultJournalRetentionMs?: number;
}

/** Where remote deployments are registered and how they are reached. */
export interface RemoteOptions {
  readonly deployments: Deployments;
  readonly client: DeploymentClient;
  readonly abortTimeoutMs?: number;
  /** Attempts running at once on one deployment, across partitions (default {@link DEFAULT_ATTEMPTS_PER_DEPLOYMENT}). */
  readonly maxAttemptsPerDeployment?: number;
}

/** The default of {@link RemoteOptions.maxAttemptsPerDeployment}. */
export const DEFAULT_ATTEMPTS_PER_DEPLOYMENT = 1_000;

/** A request to start an invocation. */
export interface InvocationRequest {
  readonly target: Target;
  readonly argument: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  readonly idempotencyKey?: string;
  /** Only for sends: start no earlier than this many ms from now. */
  readonly delayMs?: number;
}

/** What `output` finds for an invocation id. */
export type OutputLookup =
  | { readonly state: "completed"; readonly result: Result }
  | { readonly state: "running"; readonly status: InvocationStatus }
  | { readonly state: "not_found" };

/** A service as the engine knows it. */
export interface RegisteredService {
  readonly name: string;
  readonly kind: "service" | "object" | "workflow";
  readonly handlers: ReadonlyMap<string, HandlerInfo>;
}

export class Engine {
  readonly partitions: number;
  /** The partitions' processors; in cluster mode one is replaced when it stops leading. */
  readonly processors: readonly PartitionProcessor[];
  private stopping = false;
  /** Per partition, told when its processor is replaced (cluster mode), and when the engine stops. */
  private readonly replaced: { promise: Promise<void>; resolve: () => void }[] = [];
  /** Cluster mode: the loops that lead each partition whenever it is granted. */
  private readonly leading: Promise<void>[] = [];
  /** Every service the engine knows, by name (changes as deployments are registered). */
  readonly services = new Map<string, RegisteredService>();
  /** Every handler, by `service/handler` (the processors read this same map). */
  private readonly handlers = new Map<string, HandlerInfo>();
  private readonly waiters = new Map<string, Set<(r: Result) => void>>();
  private readonly stores: readonly PartitionStore[];

  private readonly random: Random;
  /** What the embedded deployment serves, as discovery would describe it. */
  readonly manifest: EndpointManifest;

  /** Remote deployments, when this engine invokes any (server mode). */
  get remote(): RemoteOptions | undefined {
    return this.options.remote;
  }

  private constructor(private readonly options: EngineOptions) {
    const o = options;
    this.partitions = o.log.partitions;
    this.random = o.random ?? systemRandom();
    // The engine knows services only through the manifest; the functions stay in the invoker.
    this.manifest = endpointManifest(o.services);
    const inProcess = new Set(this.manifest.services.map((s) => s.name));
    this.refreshServices();
    o.remote?.deployments.onChange(() => this.refreshServices());
    const services = this.services;
    const isRegistered = (service: string, handler: string) =>
      services.get(service)?.handlers.has(handler) === true;
    const local = inProcessInvokers({
      handlers: new Map(
        o.services.flatMap((d) => resolveHandlers(d)).map((h) => [`${h.service}/${h.name}`, h]),
      ),
      isRegistered,
      ...(o.console === undefined ? {} : { console: o.console }),
      ...(o.suspendAlways === undefined ? {} : { suspendAlways: o.suspendAlways }),
    });
    const remote = o.remote;
    const invokers =
      o.invokers ??
      (remote === undefined
        ? local
        : routingInvokers({
            inProcess: local,
            isInProcess: (service) => inProcess.has(service),
            // A cluster's registry may gain a deployment any time (registered on another node).
            anyRemote: () => remote.deployments.isShared || remote.deployments.list().length > 0,
            remote: httpInvokers({
              deployments: remote.deployments,
              client: remote.client,
              slots: new DeploymentSlots(remote.maxAttemptsPerDeployment ?? DEFAULT_ATTEMPTS_PER_DEPLOYMENT),
              handler: (service, handler) => this.handler(service, handler),
              isRegistered,
              ...(o.suspendAlways === undefined ? {} : { suspendAlways: o.suspendAlways }),
              ...(remote.abortTimeoutMs === undefined ? {} : { abortTimeoutMs: remote.abortTimeoutMs }),
            }),
          }));
    const stores: PartitionStore[] = [];
    for (let p = 0; p < this.partitions; p++) stores.push(o.storeFor(p));
    const leadership =
      o.leadership ?? new EmbeddedLeadership({ lastEpoch: (p) => stores[p]!.getLeaderEpoch() });
    this.invokers = invokers;
    this.leadership = leadership;
    this.stores = stores;
    this.processors = Array.from({ length: this.partitions }, (_, p) => this.makeProcessor(p));
    for (let p = 0; p < this.partitions; p++) this.replaced.push(promiseWithResolve());
  }

  private readonly invokers: InvokerFactory;
  private readonly leadership: Leadership;

  private makeProcessor(p: number): PartitionProcessor {
    const o = this.options;
    return new PartitionProcessor({
      partition: p,
      log: o.log,
      store: this.stores[p]!,
      leadership: this.leadership,
      clock: o.clock,
      logger: o.logger,
      handlers: this.handlers,
      invokers: this.invokers,
      onCompleted: (id, result) => this.completed(id, result),
      ...(o.faults === undefined ? {} : { faults: o.faults }),
      ...(o.observer === undefined ? {} : { observer: o.observer }),
    });
  }

  /**
   * Recomputes the services from the in-process manifest, the fixed manifests and the registered
   * deployments, in place (the processors hold the handler map). Throws a TypeError at
   * construction for a service named twice; later, registration refuses such a service.
   */
  private refreshServices(): void {
    const o = this.options;
    const fixed = [this.manifest, ...(o.deployments ?? [])];
    const names = new Set<string>();
    for (const s of fixed.flatMap((m) => m.services)) {
      if (names.has(s.name)) throw new TypeError(`service ${s.name} is registered twice`);
      names.add(s.name);
    }
    this.services.clear();
    this.handlers.clear();
    // A later deployment of a service replaces an earlier one (deployments.ts, invariant 1).
    for (const m of [...fixed, ...(o.remote?.deployments.list().map((d) => d.manifest) ?? [])]) {
      for (const s of m.services) {
        for (const name of this.services.get(s.name)?.handlers.keys() ?? [])
          this.handlers.delete(`${s.name}/${name}`);
        this.services.set(s.name, { name: s.name, kind: kindOf(s.ty), handlers: new Map() });
      }
      for (const parsed of handlersOfManifest(m)) {
        // A handler without its own journal retention gets the engine's (retention.ts).
        const h: HandlerInfo =
          parsed.journalRetentionMs !== undefined
            ? parsed
            : { ...parsed, journalRetentionMs: o.defaultJournalRetentionMs ?? DEFAULTS.journalRetentionMs };
        (this.services.get(h.service)!.handlers as Map<string, HandlerInfo>).set(h.name, h);
        this.handlers.set(`${h.service}/${h.name}`, h);
      }
    }
  }

  /** Builds the engine and starts every partition; resolves once each one is leader. */
  static async start(o: EngineOptions): Promise<Engine> {
    const engine = new Engine(o);
    if (o.followers === true) {
      await Promise.all(engine.processors.map((_, p) => engine.follow(p)));
      for (let p = 0; p < engine.partitions; p++) engine.leading.push(engine.leadWhenGranted(p));
      return engine;
    }
    await Promise.all(engine.processors.map((p) => p.start()));
    return engine;
  }

  /**
   * Cluster mode: leads partition `p` whenever the leadership grants it. A processor never leads
   * twice (processor.ts, invariant 2): once deposed it is stopped (which releases its grant) and
   * replaced by a new follower, which replays from its store's applied LSN and asks again.
   */
  private async leadWhenGranted(p: number): Promise<void> {
    while (!this.stopping) {
      const processor = this.processors[p]!;
      try {
        await processor.lead();
        this.options.logger.info({ partition: p }, "leading partition");
        await processor.deposed();
      } catch (e) {
        if (this.stopping) return;
        this.options.logger.warn({ partition: p, err: e }, "partition leadership not taken; asking again");
      }
      if (this.stopping) return;
      await processor.stop();
      if (this.stopping) return;
      this.replaceProcessor(p);
      try {
        await this.follow(p);
      } catch (e) {
        if (this.stopping) return; // stop() ended the follow
        this.options.logger.error(
          { partition: p, err: e },
          "partition cannot follow the log; it stays stopped",
        );
        return;
      }
    }
  }

  /**
   * Starts partition `p`'s processor as a follower; if its store is behind the log's trim point
   * and `catchUp` is given, restores the store from a snapshot, replaces the processor and tries
   * again — as often as trims pass a slow follower, while each restore moves the store forward.
   */
  private async follow(p: number): Promise<void> {
    for (;;) {
      try {
        await this.processors[p]!.follow();
        return;
      } catch (e) {
        const catchUp = this.options.catchUp;
        if (!(e instanceof BehindTrimPointError) || catchUp === undefined || this.stopping) throw e;
        await this.processors[p]!.stop();
        this.options.logger.warn(
          { partition: p, appliedLsn: e.appliedLsn, nextLsn: e.nextLsn },
          "the log was trimmed past this partition's store; restoring it from a snapshot",
        );
        await catchUp(p);
        // Each restore moves the store forward; one that did not would loop (no snapshot covers).
        const restoredTo = this.stores[p]!.getAppliedLsn();
        if (restoredTo <= e.appliedLsn) throw e;
        this.replaceProcessor(p);
        this.answerFromStore(p);
      }
    }
  }

  /**
   * Callers waiting for invocations of partition `p` whose completion was in records a restore
   * skipped: answered from the restored store (patch_state callers are not; their answers are
   * not kept).
   */
  private answerFromStore(p: number): void {
    for (const id of [...this.waiters.keys()]) {
      if (!isInvocationId(id) || partitionOf(id, this.partitions) !== p) continue;
      const result = this.statusOf(id)?.result;
      if (result !== undefined) this.completed(id, result);
    }
  }

  /** The handler a target names, or undefined. */
  handler(service: string, handler: string): HandlerInfo | undefined {
    return this.services.get(service)?.handlers.get(handler);
  }

  /**
   * Starts an invocation and waits for its result. With an idempotency key, a duplicate gets the
   * first one's result. A call to a workflow's `run` whose workflow id was already invoked (running
   * or finished) gets a 409 failure instead, as in Restate: attach or output give its result.
   */
  async call(req: InvocationRequest): Promise<{ invocationId: string; result: Result }> {
    const invocationId = this.invocationIdFor(req);
    const workflowRun = this.isWorkflowRun(req.target);
    if (workflowRun && this.statusOf(invocationId) !== undefined) {
      return { invocationId, result: WORKFLOW_ALREADY_INVOKED };
    }
    const result = this.waitFor(invocationId); // 2
    try {
      const lsn = await this.appendInvoke(invocationId, req);
      if (workflowRun) {
        // Concurrent first calls may both get here: apply decides which Invoke created the run.
        await this.waitApplied(invocationId, lsn);
        if (this.statusOf(invocationId)?.createdLsn !== lsn) {
          this.dropWaiter(invocationId, result);
          return { invocationId, result: WORKFLOW_ALREADY_INVOKED };
        }
      }
    } catch (e) {
      this.dropWaiter(invocationId, result);
      throw e;
    }
    return { invocationId, result: await result.promise };
  }

  /**
   * Starts an invocation without waiting for it; resolves once the Invoke is durable.
   * `previouslyAccepted` is true when an invocation with this idempotency key already exists.
   */
  async send(req: InvocationRequest): Promise<{ invocationId: string; previouslyAccepted: boolean }> {
    const invocationId = this.invocationIdFor(req);
    if (req.idempotencyKey === undefined && !this.isWorkflowRun(req.target)) {
      await this.appendInvoke(invocationId, req);
      return { invocationId, previouslyAccepted: false };
    }
    if (this.statusOf(invocationId) !== undefined) return { invocationId, previouslyAccepted: true };
    // Concurrent duplicates may both get here: apply decides which Invoke created it.
    const lsn = await this.appendInvoke(invocationId, req);
    await this.waitApplied(invocationId, lsn);
    const status = this.statusOf(invocationId);
    return { invocationId, previouslyAccepted: status !== undefined && status.createdLsn !== lsn };
  }

  /** The id a request names: a workflow's run has one per workflow id; idempotent requests derive theirs. */
  invocationIdFor(req: Pick<InvocationRequest, "target" | "idempotencyKey">): string {
    if (this.isWorkflowRun(req.target)) return workflowRunId(req.target.service, req.target.key!);
    return newInvocationId(req.target, req.idempotencyKey, this.random);
  }

  private isWorkflowRun(target: Target): boolean {
    return this.handler(target.service, target.handler)?.kind === "workflow" && target.key !== undefined;
  }

  /**
   * Completes an awakeable from outside (the ingress). Resolves once durable; throws a
   * TypeError for a malformed id.
   */
  async completeAwakeable(awakeableId: string, result: Result): Promise<void> {
    const target = parseAwakeableId(awakeableId);
    if (target === undefined) throw new TypeError(`${JSON.stringify(awakeableId)} is not an awakeable id`);
    await this.appendExternal(target.invocationId, {
      type: "resolve_awakeable",
      ...target,
      result,
    });
  }

  /**
   * An operator request on an invocation: cancel (the handler sees CancelledError and may
   * compensate), kill (ends it now, no compensation), purge (forgets a completed one), pause,
   * resume. Resolves once applied.
   */
  async operate(op: "cancel" | "kill" | "purge" | "pause" | "resume", invocationId: string): Promise<void> {
    await this.waitApplied(invocationId, await this.appendExternal(invocationId, { type: op, invocationId }));
  }

  /**
   * Changes one object key's or workflow's state through its partition's log: each name gets
   * its value, `null` deletes it. Resolves once applied, with `{ ok }` or, while an invocation
   * holds the key's lock, a 409 failure and nothing written; with `expectedVersion`, a 412
   * failure when the state's version (partition/state-version.ts) is another.
   *
   * @example
   * const r = await engine.patchState("Account", "alice", [{ name: "balance", value: enc(50) }]);
   * if ("err" in r) console.log(r.err.message); // Account/alice is locked by invocation inv_…
   */
  async patchState(
    service: string,
    key: string,
    changes: readonly { readonly name: string; readonly value: Uint8Array | null }[],
    expectedVersion?: string,
  ): Promise<Result> {
    // Any invocation id for this key names the key's partition.
    const keyId = newInvocationId({ service, handler: "", key }, undefined, this.random);
    const requestId = `patch_${randomUUID()}`;
    const result = this.waitFor(requestId); // 2
    try {
      await this.appendExternal(keyId, {
        type: "patch_state",
        requestId,
        service,
        key,
        changes,
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      });
    } catch (e) {
      this.dropWaiter(requestId, result);
      throw e;
    }
    return result.promise;
  }

  /** Waits for an existing invocation's result; undefined if no such invocation is known. */
  attach(invocationId: string): Promise<Result> | undefined {
    const found = this.output(invocationId);
    if (found.state === "not_found") return undefined;
    if (found.state === "completed") return Promise.resolve(found.result);
    return this.waitFor(invocationId).promise;
  }

  /** The result of an invocation if it has one, without waiting. */
  output(invocationId: string): OutputLookup {
    const status = this.statusOf(invocationId);
    if (status === undefined) return { state: "not_found" };
    if (status.result !== undefined) return { state: "completed", result: status.result };
    return { state: "running", status };
  }

  /** The status row of an invocation, read from its partition's store. */
  statusOf(invocationId: string): InvocationStatus | undefined {
    if (!isInvocationId(invocationId)) return undefined;
    return this.stores[partitionOf(invocationId, this.partitions)]!.getStatus(invocationId);
  }

  /** Resumes a paused invocation (its retries were used up, or an operator paused it). */
  async resume(invocationId: string): Promise<void> {
    await this.operate("resume", invocationId);
  }

  /** Stops every partition; callers still waiting are dropped (their connections close with the ingress). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const r of this.replaced) r.resolve(); // waits on a replacement end now
    await Promise.all(this.processors.map((p) => p.stop()));
    await Promise.all(this.leading);
    // A loop may have put a new processor in place while the others stopped.
    await Promise.all(this.processors.map((p) => p.stop()));
    this.waiters.clear();
  }

  /** Resolves once the partition of `invocationId` applied `lsn` (see {@link onCurrent}). */
  private waitApplied(invocationId: string, lsn: number): Promise<void> {
    return this.onCurrent(invocationId, (processor) => processor.waitApplied(lsn));
  }

  /** Appends a record from outside to the partition of `invocationId` (see {@link onCurrent}). */
  private appendExternal(invocationId: string, body: RecordBody): Promise<number> {
    return this.onCurrent(invocationId, (processor) => processor.appendExternal(body));
  }

  /**
   * Runs `fn` on the processor of `invocationId`'s partition. In cluster mode a partition's
   * processor is replaced when it stops leading, and when the log was trimmed past its store
   * (restored from a snapshot): `fn` on a processor stopped so, or failed so, goes on with its
   * replacement, which applies the same log to the same store. Anything else throws as it is.
   */
  private async onCurrent<T>(
    invocationId: string,
    fn: (processor: PartitionProcessor) => Promise<T>,
  ): Promise<T> {
    const p = partitionOf(invocationId, this.partitions);
    // One node, one processor per partition for good: nothing to go on with.
    if (this.options.followers !== true) return fn(this.processors[p]!);
    for (let replaced = 0; ; replaced++) {
      const processor = this.processors[p]!;
      try {
        return await fn(processor);
      } catch (e) {
        const replaceable =
          e instanceof ProcessorStoppedError ||
          (processor.behindTrimPoint && this.options.catchUp !== undefined);
        if (!replaceable || this.stopping || replaced >= 10) throw e;
        // The replacement is put in place once the stopped processor released its grant, or the
        // store was restored (a partition that stays stopped gets none: give up after 30 s).
        if (this.processors[p] === processor) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            this.replaced[p]!.promise,
            new Promise((r) => (timer = setTimeout(r, 30_000))),
          ]);
          clearTimeout(timer);
        }
        if (this.stopping || this.processors[p] === processor) throw e;
      }
    }
  }

  /** Cluster mode: puts a new processor in place of partition `p`'s and tells who waits for one. */
  private replaceProcessor(p: number): void {
    (this.processors as PartitionProcessor[])[p] = this.makeProcessor(p);
    const told = this.replaced[p]!;
    this.replaced[p] = promiseWithResolve();
    told.resolve();
  }

  private async appendInvoke(invocationId: string, req: InvocationRequest): Promise<number> {
    const h = this.handler(req.target.service, req.target.handler);
    if (h === undefined) throw new TypeError(`unknown handler ${req.target.service}/${req.target.handler}`);
    const body: InvokeBody = {
      type: "invoke",
      invocationId,
      target: req.target,
      handlerKind: h.kind,
      argument: req.argument,
      headers: req.headers ?? {},
      retry: h.retryPolicy,
      ...retentionOf(h, { fromIngress: true, keyed: req.idempotencyKey !== undefined }),
      ...(req.idempotencyKey === undefined ? {} : { idempotencyKey: req.idempotencyKey }),
      ...(req.delayMs === undefined || req.delayMs <= 0
        ? {}
        : { executeAt: this.options.clock.now() + req.delayMs }),
    };
    return this.appendExternal(invocationId, body);
  }

  private waitFor(invocationId: string): { promise: Promise<Result>; resolve: (r: Result) => void } {
    let resolve!: (r: Result) => void;
    const promise = new Promise<Result>((r) => (resolve = r));
    let set = this.waiters.get(invocationId);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(invocationId, set);
    }
    set.add(resolve);
    return { promise, resolve };
  }

  private dropWaiter(invocationId: string, w: { resolve: (r: Result) => void }): void {
    const set = this.waiters.get(invocationId);
    set?.delete(w.resolve);
    if (set?.size === 0) this.waiters.delete(invocationId);
  }

  private completed(invocationId: string, result: Result): void {
    const set = this.waiters.get(invocationId);
    if (set === undefined) return;
    this.waiters.delete(invocationId);
    for (const resolve of set) resolve(result);
  }
}

function promiseWithResolve(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function kindOf(ty: ServiceManifest["ty"]): RegisteredService["kind"] {
  return ty === "SERVICE" ? "service" : ty === "VIRTUAL_OBJECT" ? "object" : "workflow";
}
