/**
 * The cluster's deployment registry (docs/deployments.md, docs/cluster.md): every deployment
 * registered on any node, kept in a JetStream KV bucket so that every node invokes the same
 * deployments and `GET /deployments` is the same everywhere.
 *
 * One key, `registry`, holds the whole list as one JSON document `{ format, writer,
 * deployments }`, replaced by compare-and-set on the key's revision — not one key per
 * deployment. The registry's rules span deployments: a URI is registered once, a service's
 * revision counts its registrations across deployments, and the latest registration of a
 * service serves it (deployments.ts, 1–2). With one key, one compare-and-set decides all of
 * them at once; with a key per deployment, two nodes registering the same URI, or two
 * deployments of one service, at the same time could both succeed. The price — every change
 * rewrites the list — is nothing for a registry that changes by hand a few times a day; the
 * document must stay under the server's `max_payload` (1 MiB by default: hundreds of
 * deployments).
 *
 * Invariants:
 * 1. At most one write succeeds on each revision, and only on the revision its writer read: the
 *    write is cas.ts's compare-and-set on the key's subject (the expected revision and a message
 *    id naming it). The expectation alone is what KV `update` does, and on a replicated stream
 *    nats-server 2.9 does not check it atomically — two writes racing on one revision can both
 *    be stored (here the race test lost a registration that way). The loser decides again on the
 *    winner's list (deployments.ts, 5): no change is lost.
 * 2. `replace` resolves only once JetStream acknowledged the write (the bucket's replicas: a
 *    quorum with R3), so a node answers a registration only once it is durable in the cluster.
 * 3. Reads go to the bucket's stream leader (the bucket is created with `allow_direct: false`):
 *    a direct get may be answered by a replica that has not applied the latest write yet, and
 *    then a node could answer 404 for a deployment registered and acknowledged elsewhere.
 * 4. Each write carries a fresh `writer` token. A write answered "duplicate", or whose outcome is
 *    unknown (a timeout, no stream leader during an election), is resolved by reading the key
 *    back: its own token there means it landed; a newer revision by someone else means it lost;
 *    the same revision means it may be sent again (id and expectation make the resend harmless).
 */
import { nuid, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { Deployment, DeploymentsRevision, SharedDeploymentRecords } from "onelog/internal";
import { publishIfLast } from "./cas.js";
import { isTransient, retrying } from "./nats-errors.js";

/** Options of {@link KvDeploymentRecords}. */
export interface KvDeploymentRecordsOptions {
  /** The connection to use; never closed by this. */
  readonly connection: NatsConnection;
  /** The KV bucket (default "onelog-deployments"). */
  readonly bucket?: string;
  /** Replicas of a bucket this node creates (default 1; 3 in production). */
  readonly replicas?: number;
  /** How long a read or write retries while JetStream answers slowly (timeouts, 503) (default 30 s). */
  readonly retryMs?: number;
}

/** The document's layout; a node refuses a document with another one. */
export const DEPLOYMENTS_DOCUMENT_FORMAT = 1;

/** The one key of the bucket. */
const KEY = "registry";

interface Document {
  readonly format: number;
  readonly writer: string;
  readonly deployments: Deployment[];
}

/** A revision as read, with the token of whoever wrote it (invariant 4). */
interface Read extends DeploymentsRevision {
  readonly writer: string | undefined;
}

/**
 * The deployments of a cluster in a JetStream KV bucket; see the header.
 *
 * @example
 * const records = await KvDeploymentRecords.open({ connection: nc, replicas: 3 });
 * const deployments = await Deployments.shared(records);   // onelog/internal: loads, then watches
 */
export class KvDeploymentRecords implements SharedDeploymentRecords {
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  /** The key's subject, which writes are published to. */
  readonly #subject: string;
  readonly #retryMs: number;

  private constructor(kv: KV, js: JetStreamClient, bucket: string, retryMs: number) {
    this.#kv = kv;
    this.#js = js;
    this.#subject = `$KV.${bucket}.${KEY}`;
    this.#retryMs = retryMs;
  }

  /** Opens (or creates) the bucket. Rejects if JetStream cannot be reached. */
  static async open(options: KvDeploymentRecordsOptions): Promise<KvDeploymentRecords> {
    const retryMs = options.retryMs ?? 30_000;
    const bucket = options.bucket ?? "onelog-deployments";
    const kv = await retrying(
      () =>
        new Kvm(options.connection).create(bucket, {
          replicas: options.replicas ?? 1,
          history: 1,
          allow_direct: false, // invariant 3
          description: "onelog deployments registered by URL",
        }),
      retryMs,
    );
    return new KvDeploymentRecords(kv, jetstream(options.connection), bucket, retryMs);
  }

  /** Invariant 3: the latest revision as the bucket's stream leader has it. */
  async latest(): Promise<DeploymentsRevision> {
    const { revision, deployments } = await this.#read();
    return { revision, deployments };
  }

  /** Invariants 1, 2 and 4. */
  async replace(revision: number, deployments: readonly Deployment[]): Promise<number | undefined> {
    const writer = nuid.next();
    const document: Document = { format: DEPLOYMENTS_DOCUMENT_FORMAT, writer, deployments: [...deployments] };
    const value = JSON.stringify(document);
    const deadline = Date.now() + this.#retryMs;
    for (;;) {
      try {
        const written = await publishIfLast(this.#js, this.#subject, value, revision);
        if (written !== undefined) return written;
        // Another write on this revision was stored first — or this one, sent before.
        const now = await this.#read();
        return now.writer === writer ? now.revision : undefined;
      } catch (error) {
        const transient = isTransient(error) || (error instanceof Error && isTransient(error.cause));
        if (!transient || Date.now() > deadline) throw error;
        const now = await this.#read().catch(() => undefined); // invariant 4
        if (now?.writer === writer) return now.revision;
        if (now !== undefined && now.revision !== revision) return undefined;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async watch(onRevision: (revision: DeploymentsRevision) => void): Promise<{ stop(): void }> {
    const watch = await retrying(() => this.#kv.watch({ key: KEY }), this.#retryMs);
    void (async () => {
      try {
        for await (const entry of watch) {
          let read: Read;
          try {
            read = readEntry(entry);
          } catch {
            // A document this node cannot read: latest() says so to whoever asks next.
            continue;
          }
          onRevision({ revision: read.revision, deployments: read.deployments });
        }
      } catch {
        // The watch ended with the connection; lookups that miss still read the latest revision.
      }
    })();
    return { stop: () => watch.stop() };
  }

  async #read(): Promise<Read> {
    const entry = await retrying(() => this.#kv.get(KEY), this.#retryMs);
    return entry === null ? { revision: 0, deployments: [], writer: undefined } : readEntry(entry);
  }
}

/** The revision an entry holds; a deleted key (by hand) is an empty list. */
function readEntry(entry: KvEntry): Read {
  if (entry.operation !== "PUT") return { revision: entry.revision, deployments: [], writer: undefined };
  let document: Partial<Document>;
  try {
    document = entry.json<Partial<Document>>();
  } catch (e) {
    throw new Error(
      `the cluster's deployment registry (revision ${entry.revision}) is not JSON: ${String(e)}`,
    );
  }
  if (document.format !== DEPLOYMENTS_DOCUMENT_FORMAT || !Array.isArray(document.deployments)) {
    throw new Error(
      `the cluster's deployment registry (revision ${entry.revision}) has format ${JSON.stringify(document.format)}; ` +
        `this onelog reads format ${DEPLOYMENTS_DOCUMENT_FORMAT} (was it written by another onelog version?)`,
    );
  }
  return {
    revision: entry.revision,
    deployments: document.deployments,
    writer: typeof document.writer === "string" ? document.writer : undefined,
  };
}
