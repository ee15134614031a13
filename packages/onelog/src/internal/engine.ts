/**
 * The engine: one partition processor per partition over a shared log, the services it knows
 * (from endpoint manifests: serializable, no functions), the invoker factory that runs their
 * attempts, and the invocation API the ingress (and the simulator) call.
 *
 * Invariants:
 * 1. An invocation is created only by an Invoke record applied in the partition its id names.
 * 2. A caller waiting for a result registers before its Invoke is appended, so a completion
 *    can never be missed; a completed invocation that is still retained answers at once.
 * 3. Cluster mode: what reads a partition's store or waits on its processor runs on the node
 *    that leads the partition — here, or asked of that node (partition/peers.ts) — and a
 *    caller waiting here when the partition moves away waits on its new leader. Only appends
 *    that need no read first (a plain send, an awakeable's completion) go to the log from any
 *    node.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Packr } from "msgpackr";
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
import { LogError, type Log } from "./log/log.js";
import { EmbeddedLeadership, type Leadership, type LeadershipGrant } from "./partition/leadership.js";
import { encodeRecord } from "./partition/codec.js";
import { PeerUnavailableError, type PartitionPeers } from "./partition/peers.js";
import type { Logger } from "./ops/logger.js";
import {
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
   * Cluster mode: this node applies and leads only the partitions `leadership` grants it, and
   * asks the leader of any other partition (see the header of {@link Engine}). `start` then
   * resolves at once; a partition is led here once its grant came and its store caught up.
   */
  readonly cluster?: EngineCluster;
  /** Journal retention of handlers that set none (default 24 h, as Restate's `default-journal-retention`). */
  readonly defaultJournalRetentionMs?: number;
}

/** What cluster mode needs beyond the shared log and leadership. */
export interface EngineCluster {
  /** Reaches the node that leads a partition (partition/peers.ts). */
  readonly peers: PartitionPeers;
  /**
   * Brings partition `p`'s store up to date before this node leads it: from the latest snapshot
   * when the store is behind it or behind the log's trim point (embedded/cluster.ts, invariant
   * 1). Rejects if no snapshot covers the trim point.
   */
  readonly catchUp: (partition: number) => Promise<void>;
}

/**
 * How long a leader holds a request that waits for a result before it answers "pending". Short,
 * because a caller whose leader died hears nothing until its request times out (this plus
 * PEER_SLACK_MS), and only then asks the new one.
 */
const PEER_WAIT_MS = 5_000;
/** How much longer than it may be held a request is waited for (NATS and event-loop delays). */
const PEER_SLACK_MS = 3_000;
/** How long a node keeps asking while a partition has no leader (a lease moving) before it gives up. */
const PEER_UNAVAILABLE_MS = 30_000;
/**
 * How long a leader keeps its answer to a write asked by another node (send, operate, patch), so
 * that a repeat of the request, sent because the answer was late or lost, gets that answer
 * instead of doing the write again: longer than the asker waits for a try plus its pause.
 */
const PEER_REPEAT_MS = PEER_WAIT_MS + PEER_SLACK_MS + 2_000;

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
  /**
   * The partitions' processors. Cluster mode: a partition not led here has one that never
   * started (or stopped), and each grant gets a new one.
   */
  readonly processors: readonly PartitionProcessor[];
  private stopping = false;
  private readonly stopSignal = new AbortController();
  /** Cluster mode: the loops that lead each partition whenever it is granted. */
  private readonly leading: Promise<void>[] = [];
  /** Cluster mode: the partition of each state patch waiting here (handOver). */
  private readonly patchPartitions = new Map<string, number>();
  /**
   * Cluster mode: waiters that hold another node's request (within), with what ends the hold
   * early; a hand-over ends it, and the asking node asks the new leader itself.
   */
  private readonly peerHeld = new Map<(r: Result) => void, () => void>();
  /** Cluster mode: invocations whose Invoke this node is appending (callHere), until it lands. */
  private readonly pendingInvokes = new Map<string, Promise<number>>();
  /** Cluster mode: answers to other nodes' writes by request id (answerPeer), oldest first. */
  private readonly peerAnswers = new Map<string, { answer: Promise<PeerAnswer>; settledAt?: number }>();
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
    // Cluster mode: each partition's loop waits on this signal (a leadership acquire, a backoff
    // sleep), so it has a few listeners per partition by design; Node's default limit of 10
    // printed a "possible memory leak" warning on every node with more than 10 partitions.
    setMaxListeners(10 + 4 * this.partitions, this.stopSignal.signal);
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

  /** Builds the engine and starts every partition; resolves once each one is leader (cluster mode: at once). */
  static async start(o: EngineOptions): Promise<Engine> {
    const engine = new Engine(o);
    if (o.cluster !== undefined) {
      for (let p = 0; p < engine.partitions; p++) engine.leading.push(engine.own(p, o.cluster));
      return engine;
    }
    await Promise.all(engine.processors.map((p) => p.start()));
    return engine;
  }

  /**
   * Cluster mode: leads partition `p` whenever the leadership grants it to this node — brings
   * its store up to date (a snapshot, then the log's tail), builds a processor, announces the
   * grant and serves the partition's requests from other nodes (invariant 3) until deposed. A
   * processor never leads twice (processor.ts, invariant 2): the next grant gets a new one.
   */
  private async own(p: number, cluster: EngineCluster): Promise<void> {
    const logger = this.options.logger;
    for (let failures = 0; !this.stopping;) {
      let grant: LeadershipGrant;
      try {
        grant = await this.leadership.acquire(p, this.stopSignal.signal);
      } catch (e) {
        if (this.stopping) return;
        logger.warn({ partition: p, err: e }, "partition leadership not taken; asking again");
        await sleep(1_000);
        continue;
      }
      let stopServing: (() => Promise<void>) | undefined;
      /** This round built a processor (until then, `this.processors[p]` is an earlier round's). */
      let built = false;
      let erred = false;
      try {
        await cluster.catchUp(p);
        if (this.stopping || grant.revoked.aborted) continue;
        this.replaceProcessor(p);
        built = true;
        const processor = this.processors[p]!;
        await processor.follow();
        await processor.lead(grant);
        stopServing = await cluster.peers.serve(p, (body) => this.answerPeer(processor, body));
        logger.info({ partition: p, epoch: grant.epoch }, "leading partition");
        await processor.deposed();
      } catch (e) {
        erred = true;
        if (!this.stopping) logger.warn({ partition: p, err: e }, "partition not led; asking again");
      } finally {
        await stopServing?.().catch(() => {});
        await this.processors[p]!.stop();
        await this.leadership.release(grant);
        this.handOver(p);
      }
      // A failed catch-up (no snapshot covers the gap, one this version cannot read) or a failed
      // apply (a broken invariant, processor.ts invariant 3) fails again on any node: ask again
      // more and more slowly rather than take the lease and fail in a loop. (A log trimmed past
      // the store between catch-up and replay is not one: the next catch-up restores it.)
      const processor = this.processors[p]!;
      const trimmed = built && processor.behindTrimPoint;
      failures = (erred || (built && processor.failed)) && !trimmed ? failures + 1 : 0;
      if (failures > 0 && !this.stopping) {
        const delay = Math.min(1_000 * 2 ** (failures - 1), 60_000);
        logger.error(
          { partition: p, failures, retryInMs: delay },
          "partition stopped on an error; asking for it again later",
        );
        await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => {});
      }
    }
  }

  /**
   * Cluster mode: partition `p` is no longer led here. Callers still waiting here for one of its
   * invocations wait on its new leader instead (once an Invoke this node is still appending has
   * landed, so the new leader can find it); requests held for other nodes are answered "still
   * running", and those nodes ask the new leader themselves; a state patch's caller is told it
   * may or may not have been applied (its answer is not kept anywhere).
   */
  private handOver(p: number): void {
    if (this.stopping) return; // the waiting connections close with the ingress
    for (const [id, set] of [...this.waiters]) {
      const patchPartition = this.patchPartitions.get(id);
      if (patchPartition === p) {
        this.patchPartitions.delete(id);
        this.completed(id, patchMayHaveApplied(p));
        continue;
      }
      if (!isInvocationId(id) || partitionOf(id, this.partitions) !== p) continue;
      this.waiters.delete(id);
      const local: ((r: Result) => void)[] = [];
      for (const resolve of set) {
        const endHold = this.peerHeld.get(resolve);
        if (endHold !== undefined) endHold();
        else local.push(resolve);
      }
      if (local.length === 0) continue;
      const landed = (this.pendingInvokes.get(id) ?? Promise.resolve(0)).catch(() => 0);
      landed
        .then(() => this.attachThere(p, id, { retryNotFoundMs: 3_000 }))
        .then(
          (result) => {
            const answer = result ?? { err: { code: 404, message: `invocation ${id} not found` } };
            for (const resolve of local) resolve(answer);
          },
          (e: unknown) => {
            for (const resolve of local) resolve({ err: { code: 503, message: String(e) } });
          },
        );
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
    // Built here: the leader may not know a deployment registered a moment ago on this node.
    const invoke = this.invokeBody(invocationId, req);
    const result = await this.onLeader(
      invocationId,
      async () => (await this.callHere(invoke))!,
      async (p, again) => {
        // A call asked again may have appended its Invoke the first time (peers.ts, invariant 2).
        const first = await this.ask(
          p,
          (delivered) => ({ op: "call", invoke, again: again || delivered }),
          PEER_WAIT_MS,
        );
        if (first.result !== undefined) return first.result;
        return this.waitThere(p, invocationId);
      },
    );
    return { invocationId, result };
  }

  /**
   * Here, on the partition's leader: starts the invocation (invariant 2) and waits for its result
   * — at most `waitMs`, if given (then undefined: still running, and the wait is dropped).
   */
  private async callHere(invoke: InvokeBody, waitMs?: number): Promise<Result | undefined> {
    const invocationId = invoke.invocationId;
    const workflowRun = isWorkflowRun(invoke);
    if (workflowRun && this.statusOf(invocationId) !== undefined) return WORKFLOW_ALREADY_INVOKED;
    const result = this.waitFor(invocationId); // 2
    // Held for another node from now on, so that a hand-over during the append ends the hold.
    const held = waitMs === undefined ? undefined : this.within(invocationId, result, waitMs);
    const appending = this.appendExternal(invocationId, invoke);
    if (this.options.cluster !== undefined) this.pendingInvokes.set(invocationId, appending);
    try {
      const lsn = await appending;
      if (workflowRun) {
        // Concurrent first calls may both get here: apply decides which Invoke created the run.
        await this.waitApplied(invocationId, lsn);
        if (this.statusOf(invocationId)?.createdLsn !== lsn) {
          this.peerHeld.get(result.resolve)?.();
          this.dropWaiter(invocationId, result);
          return WORKFLOW_ALREADY_INVOKED;
        }
      }
    } catch (e) {
      this.peerHeld.get(result.resolve)?.();
      this.dropWaiter(invocationId, result);
      throw e;
    } finally {
      if (this.pendingInvokes.get(invocationId) === appending) this.pendingInvokes.delete(invocationId);
    }
    return held ?? result.promise;
  }

  /**
   * Starts an invocation without waiting for it; resolves once the Invoke is durable.
   * `previouslyAccepted` is true when an invocation with this idempotency key already exists.
   */
  async send(req: InvocationRequest): Promise<{ invocationId: string; previouslyAccepted: boolean }> {
    const invocationId = this.invocationIdFor(req);
    // Nothing to read first: any node appends it (the log takes appends from every node).
    const invoke = this.invokeBody(invocationId, req);
    if (req.idempotencyKey === undefined && !isWorkflowRun(invoke)) {
      await this.appendExternal(invocationId, invoke);
      return { invocationId, previouslyAccepted: false };
    }
    const previouslyAccepted = await this.onLeader(
      invocationId,
      () => this.sendHere(invoke),
      async (p) => (await this.ask(p, (again) => ({ op: "send", invoke, again }), 0)).previouslyAccepted!,
    );
    return { invocationId, previouslyAccepted };
  }

  /** Here, on the partition's leader: an idempotent or workflow send; true if it existed already. */
  private async sendHere(invoke: InvokeBody): Promise<boolean> {
    const invocationId = invoke.invocationId;
    if (this.statusOf(invocationId) !== undefined) return true;
    // Concurrent duplicates may both get here: apply decides which Invoke created it.
    const lsn = await this.appendExternal(invocationId, invoke);
    await this.waitApplied(invocationId, lsn);
    const status = this.statusOf(invocationId);
    return status !== undefined && status.createdLsn !== lsn;
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
  async operate(op: Operation, invocationId: string): Promise<void> {
    await this.onLeader(
      invocationId,
      () => this.operateHere(op, invocationId),
      async (p) => void (await this.ask(p, { op: "operate", id: invocationId, operation: op }, 0)),
    );
  }

  private async operateHere(op: Operation, invocationId: string): Promise<void> {
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
    changes: readonly StateChange[],
    expectedVersion?: string,
  ): Promise<Result> {
    // Any invocation id for this key names the key's partition.
    const keyId = newInvocationId({ service, handler: "", key }, undefined, this.random);
    return this.onLeader(
      keyId,
      () => this.patchHere(keyId, service, key, changes, expectedVersion),
      async (p) =>
        (
          await this.ask(
            p,
            (again) => ({ op: "patch", id: keyId, service, key, changes, expectedVersion, again }),
            0,
          )
        ).result!,
    );
  }

  private async patchHere(
    keyId: string,
    service: string,
    key: string,
    changes: readonly StateChange[],
    expectedVersion: string | undefined,
  ): Promise<Result> {
    const requestId = `patch_${randomUUID()}`;
    const result = this.waitFor(requestId); // 2
    if (this.options.cluster !== undefined)
      this.patchPartitions.set(requestId, partitionOf(keyId, this.partitions));
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
      this.patchPartitions.delete(requestId);
      throw e;
    }
    return result.promise.finally(() => this.patchPartitions.delete(requestId));
  }

  /** Waits for an existing invocation's result; undefined if no such invocation is known. */
  async attach(invocationId: string): Promise<Result | undefined> {
    return this.onLeader(
      invocationId,
      async () => {
        const found = this.attachHere(invocationId);
        return found === "not_found" ? undefined : found;
      },
      (p) => this.attachThere(p, invocationId),
    );
  }

  /** Here: the result, or a promise of it (at most `waitMs`, then undefined), or not_found. */
  private attachHere(invocationId: string, waitMs?: number): Promise<Result | undefined> | "not_found" {
    const found = this.output(invocationId);
    if (found.state === "not_found") return "not_found";
    if (found.state === "completed") return Promise.resolve(found.result);
    const waiter = this.waitFor(invocationId);
    return waitMs === undefined ? waiter.promise : this.within(invocationId, waiter, waitMs);
  }

  /**
   * From another node: waits for an invocation's result on its partition's leader, asking again
   * while it runs (each ask waits at most PEER_WAIT_MS there). `retryNotFoundMs`: how long a
   * "not found" is asked again (an Invoke appended just before the partition moved may not be
   * applied yet on its new leader).
   */
  private async attachThere(
    p: number,
    invocationId: string,
    o?: { retryNotFoundMs?: number },
  ): Promise<Result | undefined> {
    const until = Date.now() + (o?.retryNotFoundMs ?? 0);
    for (;;) {
      const reply = await this.ask(p, { op: "attach", id: invocationId }, PEER_WAIT_MS);
      if (reply.result !== undefined) return reply.result;
      if (reply.notFound === true) {
        if (Date.now() >= until) return undefined;
        await sleep(100);
      }
    }
  }

  /** From another node: waits for the result of an invocation known to exist there. */
  private async waitThere(p: number, invocationId: string): Promise<Result> {
    const result = await this.attachThere(p, invocationId, { retryNotFoundMs: 3_000 });
    if (result === undefined)
      throw new LogError("io", `invocation ${invocationId} was not found on its partition's leader`);
    return result;
  }

  /** The status row of an invocation, read on its partition's leader (cluster mode: wherever it is). */
  async status(invocationId: string): Promise<InvocationStatus | undefined> {
    if (!isInvocationId(invocationId)) return undefined;
    return this.onLeader(
      invocationId,
      async () => this.statusOf(invocationId),
      async (p) => (await this.ask(p, { op: "status", id: invocationId }, 0)).status,
    );
  }

  /** The result of an invocation if it has one, without waiting, from this node's store. */
  output(invocationId: string): OutputLookup {
    const status = this.statusOf(invocationId);
    if (status === undefined) return { state: "not_found" };
    if (status.result !== undefined) return { state: "completed", result: status.result };
    return { state: "running", status };
  }

  /**
   * The status row of an invocation, read from this node's store of its partition (cluster mode:
   * current only where this node leads the partition; {@link status} reads it wherever it is).
   */
  statusOf(invocationId: string): InvocationStatus | undefined {
    if (!isInvocationId(invocationId)) return undefined;
    return this.stores[partitionOf(invocationId, this.partitions)]!.getStatus(invocationId);
  }

  /** Resumes a paused invocation (its retries were used up, or an operator paused it). */
  async resume(invocationId: string): Promise<void> {
    await this.operate("resume", invocationId);
  }

  /** True when this node leads partition `p` now (always, once started, outside cluster mode). */
  leads(p: number): boolean {
    return this.processors[p]!.isLeader;
  }

  /** Stops every partition; callers still waiting are dropped (their connections close with the ingress). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await Promise.all(this.processors.map((p) => p.stop()));
    await Promise.all(this.leading);
    // A loop may have put a new processor in place while the others stopped.
    await Promise.all(this.processors.map((p) => p.stop()));
    this.waiters.clear();
  }

  /**
   * Runs `here` if this node leads the partition of `id` (always, outside cluster mode);
   * otherwise, or if the partition moved away while `here` ran, `there`, which asks its leader
   * (`again`: `here` ran and may have done part of the work; peers.ts, invariant 2).
   */
  private async onLeader<T>(
    id: string,
    here: () => Promise<T>,
    there: (p: number, again: boolean) => Promise<T>,
  ): Promise<T> {
    if (this.options.cluster === undefined) return here();
    const p = partitionOf(id, this.partitions);
    const processor = this.processors[p]!;
    if (!processor.isLeader) return there(p, false);
    try {
      return await here();
    } catch (e) {
      if (this.stopping || (processor.isLeader && !(e instanceof ProcessorStoppedError))) throw e;
      return there(p, true);
    }
  }

  /**
   * Asks the leader of partition `p` (peers.ts); `waitMs`: how long it may hold the request.
   * Every try carries the same request id; `request(again)` builds it, `again` true once an
   * earlier try may have reached a leader (peers.ts, invariant 2). While no node leads `p`, asks
   * again for up to PEER_UNAVAILABLE_MS, then fails with a LogError (the ingress answers 503).
   */
  private async ask(
    p: number,
    request: PeerOp | ((again: boolean) => PeerOp),
    waitMs: number,
  ): Promise<PeerAnswer> {
    const peers = this.options.cluster!.peers;
    const until = Date.now() + PEER_UNAVAILABLE_MS;
    const rid = randomUUID();
    let delivered = false;
    for (let tries = 0; ; tries++) {
      const op = typeof request === "function" ? request(delivered) : request;
      const body = peerCodec.pack({ ...op, rid } satisfies PeerRequest);
      let reply: PeerReply | undefined;
      try {
        reply = peerCodec.unpack(await peers.request(p, body, waitMs + PEER_SLACK_MS)) as PeerReply;
      } catch (e) {
        if (!(e instanceof PeerUnavailableError)) throw e;
        delivered ||= e.maybeDelivered;
      }
      if (reply !== undefined && "ok" in reply) return reply.ok;
      if (reply !== undefined && "error" in reply) throw rebuiltError(reply.error);
      // A node that stopped leading while it served the request may have done part of it.
      if (reply !== undefined && reply.served === true) delivered = true;
      if (this.stopping || Date.now() >= until) {
        throw new LogError("io", `no node leads partition ${p} now (its lease is moving); try again`);
      }
      await sleep(Math.min(50 * 2 ** tries, 1_000));
    }
  }

  /**
   * Answers another node's request for a partition `processor` leads (peers.ts, invariant 1). A
   * repeated write joins the first one's answer, or gets it if it came within PEER_REPEAT_MS
   * (invariant 2).
   */
  private async answerPeer(processor: PartitionProcessor, body: Uint8Array): Promise<Uint8Array> {
    let reply: PeerReply;
    try {
      const r = peerCodec.unpack(body) as PeerRequest;
      const known = this.peerAnswers.get(r.rid);
      if (known !== undefined) reply = { ok: await known.answer };
      else if (!processor.isLeader) reply = { retry: true };
      else reply = { ok: await this.servedOnce(r) };
    } catch (e) {
      reply =
        e instanceof ProcessorStoppedError || !processor.isLeader
          ? { retry: true, served: true }
          : { error: { name: (e as Error).name, message: (e as Error).message, code: (e as LogError).code } };
    }
    return peerCodec.pack(reply);
  }

  /**
   * Serves a request, keeping a write's answer under its request id while it runs and for
   * PEER_REPEAT_MS after (a failed one is forgotten at once: a repeat does it again). Reads and
   * calls need none: repeating them is harmless (a call asked `again` attaches).
   */
  private servedOnce(r: PeerRequest): Promise<PeerAnswer> {
    const answer = this.served(r);
    if (r.op !== "send" && r.op !== "operate" && r.op !== "patch") return answer;
    const now = Date.now();
    for (const [rid, kept] of this.peerAnswers) {
      if (kept.settledAt === undefined || now - kept.settledAt < PEER_REPEAT_MS) break;
      this.peerAnswers.delete(rid);
    }
    const kept: { answer: Promise<PeerAnswer>; settledAt?: number } = { answer };
    this.peerAnswers.set(r.rid, kept);
    answer.then(
      () => (kept.settledAt = Date.now()),
      () => this.peerAnswers.delete(r.rid),
    );
    return answer;
  }

  private async served(r: PeerRequest): Promise<PeerAnswer> {
    switch (r.op) {
      case "call": {
        // Asked again after a first try that may have appended the Invoke: wait for that one.
        const id = r.invoke.invocationId;
        if (r.again && this.statusOf(id) !== undefined) return this.servedAttach(id);
        return { result: await this.callHere(r.invoke, PEER_WAIT_MS) };
      }
      case "attach":
        return this.servedAttach(r.id);
      case "send":
        // Asked again of a leader that does not know the request: a first try may have created
        // it, and then it reads as accepted before (docs/cluster.md).
        return { previouslyAccepted: await this.sendHere(r.invoke) };
      case "status":
        return { status: this.statusOf(r.id) };
      case "operate":
        await this.operateHere(r.operation, r.id);
        return {};
      case "patch":
        // A repeat this node does not know may follow a first try that was applied elsewhere:
        // doing it again could fail its version check on its own change, so say so instead.
        if (r.again) return { result: patchMayHaveApplied(partitionOf(r.id, this.partitions)) };
        return { result: await this.patchHere(r.id, r.service, r.key, r.changes, r.expectedVersion) };
    }
  }

  private async servedAttach(id: string): Promise<PeerAnswer> {
    const found = this.attachHere(id, PEER_WAIT_MS);
    return found === "not_found" ? { notFound: true } : { result: await found };
  }

  /**
   * The waiter's result, held for another node: undefined after `waitMs`, or when a hand-over
   * ends the hold ({@link peerHeld}); the waiter is dropped then.
   */
  private within(
    invocationId: string,
    waiter: { promise: Promise<Result>; resolve: (r: Result) => void },
    waitMs: number,
  ): Promise<Result | undefined> {
    let endHold!: () => void;
    const ended = new Promise<undefined>((resolve) => {
      endHold = () => {
        this.dropWaiter(invocationId, waiter);
        resolve(undefined);
      };
    });
    const timer = setTimeout(endHold, waitMs);
    this.peerHeld.set(waiter.resolve, endHold);
    return Promise.race([waiter.promise, ended]).finally(() => {
      clearTimeout(timer);
      this.peerHeld.delete(waiter.resolve);
    });
  }

  /** Resolves once the partition of `invocationId` applied `lsn` (this node leads it). */
  private waitApplied(invocationId: string, lsn: number): Promise<void> {
    return this.processors[partitionOf(invocationId, this.partitions)]!.waitApplied(lsn);
  }

  /** Appends a record from outside to the partition of `invocationId` (cluster mode: from any node; the log is shared). */
  private async appendExternal(invocationId: string, body: RecordBody): Promise<number> {
    const p = partitionOf(invocationId, this.partitions);
    const processor = this.processors[p]!;
    if (this.options.cluster === undefined || processor.isLeader) return processor.appendExternal(body);
    const [lsn] = await this.options.log.append(p, [
      encodeRecord({ header: { at: this.options.clock.now() }, body }),
    ]);
    return lsn!;
  }

  /** Cluster mode: puts a new processor in place of partition `p`'s. */
  private replaceProcessor(p: number): void {
    (this.processors as PartitionProcessor[])[p] = this.makeProcessor(p);
  }

  /** The Invoke record of a request; throws a TypeError for an unknown handler. */
  private invokeBody(invocationId: string, req: InvocationRequest): InvokeBody {
    const h = this.handler(req.target.service, req.target.handler);
    if (h === undefined) throw new TypeError(`unknown handler ${req.target.service}/${req.target.handler}`);
    return {
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

/** An operator request on an invocation (admin API). */
export type Operation = "cancel" | "kill" | "purge" | "pause" | "resume";

/** One state name's new value; null deletes it. */
export interface StateChange {
  readonly name: string;
  readonly value: Uint8Array | null;
}

/**
 * What one node asks the leader of a partition (engine.ts invariant 3). `again`: an earlier try
 * of the same request may have reached a leader.
 */
type PeerOp =
  | { readonly op: "call"; readonly invoke: InvokeBody; readonly again: boolean }
  | { readonly op: "attach"; readonly id: string }
  | { readonly op: "send"; readonly invoke: InvokeBody; readonly again: boolean }
  | { readonly op: "status"; readonly id: string }
  | { readonly op: "operate"; readonly id: string; readonly operation: Operation }
  | {
      readonly op: "patch";
      readonly id: string;
      readonly service: string;
      readonly key: string;
      readonly changes: readonly StateChange[];
      readonly expectedVersion: string | undefined;
      readonly again: boolean;
    };

/** A {@link PeerOp} with the request id its tries share (peers.ts, invariant 2). */
type PeerRequest = PeerOp & { readonly rid: string };

/** What the leader answers, by request: a result (undefined: still running), a status, … */
interface PeerAnswer {
  readonly result?: Result | undefined;
  readonly notFound?: boolean;
  readonly previouslyAccepted?: boolean;
  readonly status?: InvocationStatus | undefined;
}

/**
 * `retry`: the node no longer leads the partition (it is moving); ask again. `served`: it stopped
 * leading while it served the request, which may have been done in part.
 */
type PeerReply =
  | { readonly ok: PeerAnswer }
  | { readonly retry: true; readonly served?: boolean }
  | { readonly error: { readonly name: string; readonly message: string; readonly code?: string } };

/** Requests and replies between nodes as MessagePack: results and arguments are bytes. */
const peerCodec = new Packr({ useRecords: false });

/** The leader's error, as the caller would have got it here (the ingress maps each kind). */
function rebuiltError(e: { readonly name: string; readonly message: string; readonly code?: string }): Error {
  if (e.name === "TypeError") return new TypeError(e.message);
  if (e.name === "LogError") return new LogError((e.code ?? "io") as LogError["code"], e.message);
  const error = new Error(e.message);
  error.name = e.name;
  return error;
}

/** The answer to a state patch whose partition moved while it was applied: it may or may not have been. */
function patchMayHaveApplied(p: number): Result {
  return {
    err: {
      code: 503,
      message: `partition ${p} moved to another node while the patch was applied; read the state to see whether it was`,
    },
  };
}

/** A call to a workflow's `run`: one per workflow id. */
function isWorkflowRun(invoke: InvokeBody): boolean {
  return invoke.handlerKind === "workflow" && invoke.target.key !== undefined;
}

function kindOf(ty: ServiceManifest["ty"]): RegisteredService["kind"] {
  return ty === "SERVICE" ? "service" : ty === "VIRTUAL_OBJECT" ? "object" : "workflow";
}
