/**
 * `onelog.start()`: the embedded mode — log and stores in SQLite under a data directory, the
 * engine, the ingress and the admin endpoint in this process (docs/architecture.md).
 */
import { join, resolve } from "node:path";
import { pino } from "pino";
import type { AnyDefinition } from "@onelog/sdk";
import type { Duration } from "@onelog/sdk";
import { durationMs } from "@onelog/sdk/internal";
import { Admin, AdminTokenRequiredError, isLoopbackHost } from "../http/admin.js";
import { isTimerMs, MAX_TIMER_MS, systemClock } from "../clock.js";
import { fileDeploymentRecords, fileEpochRecord, openDataDir } from "./data-dir.js";
import { DeploymentClient } from "../invoker/deployment-client.js";
import { Deployments } from "../invoker/deployments.js";
import { requestIdentitySigner } from "../invoker/request-identity.js";
import { portError } from "./port-in-use.js";
import { Engine } from "../engine.js";
import { Ingress } from "../http/ingress.js";
import type { Logger } from "../ops/logger.js";
import type { Log } from "../log/log.js";
import { SqliteLog } from "../log/sqlite-log.js";
import { Metrics } from "../ops/metrics.js";
import { EmbeddedLeadership, type Leadership } from "../partition/leadership.js";
import { compactCluster, restorePartition, type ClusterBackend } from "./cluster.js";
import { SqliteStoreDb } from "../partition/store/sqlite-store.js";

/** Options of {@link start}. */
export interface StartOptions {
  /** The services this process serves. */
  readonly services: readonly AnyDefinition[];
  /** Where the log and state live. Default `./.onelog`; created on first start, reused after. */
  readonly dataDir?: string;
  /** Ingress port. Default: env ONELOG_INGRESS_PORT, else 8080; 0 picks a free one. */
  readonly ingressPort?: number;
  /**
   * Admin port. Default: env ONELOG_ADMIN_PORT, else 9070; 0 picks a free one; `false` serves no
   * admin endpoint.
   */
  readonly adminPort?: number | false;
  /** Interface both servers bind to. Default 127.0.0.1. */
  readonly host?: string;
  /** Interface the admin endpoint binds to. Default: `host`. Beyond loopback it needs `adminToken`. */
  readonly adminHost?: string;
  /**
   * Bearer token the admin endpoint requires on every path but /health. Default: env
   * ONELOG_ADMIN_TOKEN. Without one, start() refuses to bind the admin endpoint beyond loopback
   * (AdminTokenRequiredError, OL1018).
   */
  readonly adminToken?: string;
  /** Partitions of a new data directory (an existing one keeps its own). Default 4. */
  readonly partitions?: number;
  /** Largest request body the ingress accepts. Default 10 MiB. */
  readonly maxRequestBytes?: number;
  /** Ingress requests handled at once; beyond, 503 with Retry-After. Default 10,000. */
  readonly maxInflightRequests?: number;
  /**
   * Suspend every attempt at every await that waits for a completion, and resume it by replay
   * (a test mode that proves handlers replay deterministically). Default: env
   * ONELOG_SUSPEND_ALWAYS=1.
   */
  readonly suspendAlways?: boolean;
  /** How often applied log records are trimmed after a store checkpoint. Default 60 s. */
  readonly compactIntervalMs?: number;
  /**
   * A PKCS#8 PEM file with an ed25519 private key: requests to deployments are signed with it
   * (Restate's request identity v1), so deployments can verify where they come from. Default: env
   * ONELOG_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE; unset, requests are not signed.
   */
  readonly requestIdentityKeyFile?: string;
  /**
   * Attempts running at once on one deployment (server mode); more wait for a slot. Default:
   * env ONELOG_MAX_ATTEMPTS_PER_DEPLOYMENT, else 1,000.
   */
  readonly maxAttemptsPerDeployment?: number;
  /** How long one admin `POST /query` may run before it is stopped. Default 10 s. */
  readonly queryTimeoutMs?: number;
  /** A pino-compatible logger. Default: pino at level `info` (env ONELOG_LOG_LEVEL). */
  readonly logger?: Logger;
  /**
   * How long a completed invocation keeps its journal when its handler sets no
   * `journalRetention` (history for the admin API, the CLI and the UI). Default: env
   * ONELOG_DEFAULT_JOURNAL_RETENTION (`24h`, `90m`, `0`, …), else 24 h; 0 keeps no journals.
   */
  readonly defaultJournalRetention?: Duration;
}

/** A running embedded onelog. */
export interface OnelogServer {
  /** Base URL of the ingress, e.g. `http://127.0.0.1:8080`. */
  readonly ingressUrl: string;
  /** Base URL of the admin endpoint, if served. */
  readonly adminUrl: string | undefined;
  readonly dataDir: string;
  /** The engine, for embedding programs and tests. */
  readonly engine: Engine;
  /** Stops the servers, the partitions, and closes the files. Safe to call twice. */
  stop(): Promise<void>;
}

/** A port from the environment; undefined when unset, an error when it is not a port number. */
function envPort(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new TypeError(`${name} must be a port number, not ${JSON.stringify(text)}`);
  return n;
}

/** A positive count from the environment; undefined when unset, an error when it is not one. */
function envCount(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new TypeError(`${name} must be a positive integer, not ${JSON.stringify(text)}`);
  return n;
}

/**
 * A duration from the environment: ms (`5000`) or units (`24h`, `1h30m`, `90s`, `500ms`, `2d`);
 * undefined when unset, a TypeError when it is not a duration.
 */
function envDurationMs(name: string): number | undefined {
  const text = process.env[name]?.trim();
  if (text === undefined || text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|d|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text)
    throw new TypeError(
      `${name} must be a duration such as 24h, 90m, 30s or 5000 (ms), not ${JSON.stringify(text)}`,
    );
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]!]!, 0));
}

/**
 * Starts onelog embedded in this process and resolves once every partition has a leader and
 * the ingress listens. Fails (and releases everything it took) if the data directory is used by
 * another live process (DataDirLockedError) or a port is taken (PortInUseError, OL1025).
 *
 * @example
 * const server = await onelog.start({ services: [greeter] });
 * console.log(`call me: curl -X POST ${server.ingressUrl}/Greeter/greet -d '"Ada"'`);
 */
export async function start(options: StartOptions): Promise<OnelogServer> {
  return startServer(options);
}

/**
 * {@link start}, or with `cluster` a node of a cluster (docs/cluster.md): the log, leadership
 * and snapshots come from the cluster, and the data directory holds this node's stores only.
 * This node applies and leads the partitions its leases give it, and asks the other partitions'
 * leaders for the rest (engine.ts, invariant 3). Resolves once the ingress listens; a partition
 * is led here once its lease is taken and its store caught up.
 */
export async function startServer(options: StartOptions, cluster?: ClusterBackend): Promise<OnelogServer> {
  const dataDir = resolve(options.dataDir ?? ".onelog");
  const logger: Logger = options.logger ?? pino({ level: process.env.ONELOG_LOG_LEVEL ?? "info" });
  const compactIntervalMs = options.compactIntervalMs ?? 60_000;
  // Node's timers hold at most 2^31 - 1 ms; a longer interval would fire every millisecond.
  if (!isTimerMs(compactIntervalMs)) {
    throw new TypeError(
      `compactIntervalMs must be a whole number of ms from 1 to ${MAX_TIMER_MS} (24.8 days), not ${compactIntervalMs}`,
    );
  }
  const startedAt = Date.now();
  const adminHost = options.adminHost ?? options.host ?? "127.0.0.1";
  const adminToken = options.adminToken ?? (process.env.ONELOG_ADMIN_TOKEN || undefined);
  if (options.adminPort !== false && adminToken === undefined && !isLoopbackHost(adminHost)) {
    throw new AdminTokenRequiredError(adminHost);
  }
  const metrics = options.adminPort === false ? undefined : new Metrics();
  const defaultJournalRetentionMs =
    options.defaultJournalRetention === undefined
      ? envDurationMs("ONELOG_DEFAULT_JOURNAL_RETENTION")
      : durationMs(options.defaultJournalRetention);
  const { meta, release } = openDataDir(dataDir, {
    partitions: options.partitions ?? 4,
    onStaleLock: (pid) =>
      logger.warn(
        { dataDir, pid },
        `data directory ${dataDir}: its LOCK names process ${pid}, which no longer runs (killed or crashed); taking it over`,
      ),
  });
  const cleanups: (() => Promise<void> | void)[] = [release];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const stores = SqliteStoreDb.open(join(dataDir, "store.db"), {
      partitions: meta.partitions,
      checkpointInWorker: true,
      onCheckpointError: (message) =>
        logger.warn({ err: message }, "the store's WAL checkpoint failed; it is tried again"),
    });
    cleanups.push(() => stores.close());
    let log: Log;
    let leadership: Leadership;
    if (cluster === undefined) {
      const sqliteLog = SqliteLog.open({ path: join(dataDir, "log.db"), partitions: meta.partitions });
      cleanups.push(() => sqliteLog.close());
      log = metrics === undefined ? sqliteLog : metrics.meter(sqliteLog);
      // One node, every partition; epochs above the stores' and recorded in epochs.json.
      leadership = new EmbeddedLeadership({
        lastEpoch: (p) => stores.partition(p).getLeaderEpoch(),
        epochs: fileEpochRecord(dataDir),
      });
    } else {
      if (cluster.log.partitions !== meta.partitions) {
        throw new Error(
          `data directory ${dataDir} has ${meta.partitions} partitions, the cluster's log ${cluster.log.partitions}; ` +
            "give this node a data directory of its own with the cluster's partition count",
        );
      }
      cleanups.push(() => cluster.close());
      log = cluster.log;
      const kv = await cluster.leadership((p) => stores.partition(p).getLeaderEpoch());
      cleanups.push(() => kv.close());
      leadership = kv;
    }
    // Server mode: deployments registered by URL, invoked over the service protocol. A cluster
    // keeps them in the cluster, shared by every node; one server in its data directory.
    const inProcess = new Set(options.services.map((d) => d.name));
    let deployments: Deployments;
    if (cluster === undefined) {
      deployments = new Deployments(fileDeploymentRecords(dataDir), (name) => inProcess.has(name));
    } else {
      const shared = await Deployments.shared(cluster.deployments, (name) => inProcess.has(name));
      cleanups.push(() => shared.close());
      deployments = shared;
      warnOfLocalDeployments(dataDir, logger);
    }
    const keyFile =
      options.requestIdentityKeyFile ??
      (process.env.ONELOG_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE || undefined);
    const client = new DeploymentClient(
      keyFile === undefined ? {} : { requestHeaders: requestIdentitySigner(keyFile) },
    );
    cleanups.push(() => client.close());
    const perDeployment = options.maxAttemptsPerDeployment ?? envCount("ONELOG_MAX_ATTEMPTS_PER_DEPLOYMENT");
    const engine = await Engine.start({
      remote: {
        deployments,
        client,
        ...(perDeployment === undefined ? {} : { maxAttemptsPerDeployment: perDeployment }),
      },
      log,
      storeFor: (p) => stores.partition(p),
      leadership,
      clock: systemClock,
      logger,
      services: options.services,
      suspendAlways: options.suspendAlways ?? process.env.ONELOG_SUSPEND_ALWAYS === "1",
      ...(defaultJournalRetentionMs === undefined ? {} : { defaultJournalRetentionMs }),
      ...(metrics === undefined ? {} : { observer: metrics }),
      ...(cluster === undefined
        ? {}
        : {
            cluster: {
              peers: cluster.peers,
              catchUp: async (p: number) => {
                await restorePartition(cluster, stores, p, await cluster.snapshots.appliedLsn(p), logger);
              },
            },
          }),
    });
    cleanups.push(() => engine.stop());
    const host = options.host ?? "127.0.0.1";
    const ingressPort = options.ingressPort ?? envPort("ONELOG_INGRESS_PORT") ?? 8080;
    const ingress = new Ingress({
      engine,
      logger,
      host,
      port: ingressPort,
      ...(options.maxRequestBytes === undefined ? {} : { maxRequestBytes: options.maxRequestBytes }),
      ...(options.maxInflightRequests === undefined
        ? {}
        : { maxInflightRequests: options.maxInflightRequests }),
    });
    const ingressUrl = await ingress.listen().catch((e: unknown) => {
      throw portError(e, "ingress", ingressPort, host);
    });
    cleanups.push(() => ingress.close());
    let adminUrl: string | undefined;
    if (options.adminPort !== false) {
      const adminPort = options.adminPort ?? envPort("ONELOG_ADMIN_PORT") ?? 9070;
      const admin = new Admin({
        engine,
        log,
        host: adminHost,
        port: adminPort,
        storePath: join(dataDir, "store.db"),
        ...(cluster === undefined ? { logPath: join(dataDir, "log.db") } : { clusterNodes: cluster.nodes }),
        logger,
        startedAt,
        ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
        ...(adminToken === undefined ? {} : { token: adminToken }),
        ...(metrics === undefined ? {} : { metrics }),
      });
      adminUrl = await admin.listen().catch((e: unknown) => {
        throw portError(e, "admin", adminPort, adminHost);
      });
      cleanups.push(() => admin.close());
    }
    // The store is the materialized log: the log is trimmed behind the oldest snapshot still
    // needed (docs/architecture.md). Embedded, the only snapshot is the store file itself, as a
    // checkpoint leaves it: it covers each partition up to the applied LSN the checkpoint made
    // durable, and nothing older is kept, so that LSN is the trim point. In a cluster, each
    // leader writes its partitions' snapshots to the cluster, and the log is trimmed behind them
    // (cluster.ts, invariant 2).
    let trimPoints = Array.from({ length: meta.partitions }, () => 0);
    const compactOnce = async () => {
      if (cluster !== undefined) {
        trimPoints = await compactCluster(cluster, stores, (p) => engine.leads(p), trimPoints);
        return;
      }
      const snapshots = stores.checkpoint();
      await Promise.all(snapshots.map(({ partition, appliedLsn }) => log.trim(partition, appliedLsn)));
    };
    /** The round in flight: one at a time (a snapshot's put may retry for longer than a tick). */
    let compacting: Promise<void> | undefined;
    const compact = (): void => {
      if (compacting !== undefined) return;
      compacting = compactOnce()
        .catch((e: unknown) => logger.warn({ err: e }, "log trim failed; will try again"))
        .finally(() => (compacting = undefined));
    };
    // A round in flight finishes before the log and stores close.
    cleanups.push(() => compacting);
    // The first pass soon after start, so a process that restarts often still trims.
    const firstCompaction = setTimeout(compact, Math.min(5_000, compactIntervalMs));
    firstCompaction.unref();
    cleanups.push(() => clearTimeout(firstCompaction));
    const compactor = setInterval(compact, compactIntervalMs);
    compactor.unref();
    cleanups.push(() => clearInterval(compactor));
    logger.info({ dataDir, partitions: meta.partitions, ingressUrl, adminUrl }, "onelog started");
    let stopping: Promise<void> | undefined;
    return {
      ingressUrl,
      adminUrl,
      dataDir,
      engine,
      stop: () => (stopping ??= cleanup()),
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * A cluster node whose data directory has deployments of its own (registered on this node before
 * the cluster kept them): they are not used; the operator registers them again, once, on any node.
 */
function warnOfLocalDeployments(dataDir: string, logger: Logger): void {
  let local: readonly { readonly id: string; readonly uri: string }[];
  try {
    local = fileDeploymentRecords(dataDir).load();
  } catch {
    return;
  }
  if (local.length === 0) return;
  logger.warn(
    { dataDir, deployments: local.map((d) => ({ id: d.id, uri: d.uri })) },
    `${join(dataDir, "deployments.json")} lists ${local.length} deployment(s) registered on this node alone; ` +
      "a cluster keeps its deployments in the cluster, so these are not used: register them again on any node (onelog deployments register <uri>)",
  );
}
