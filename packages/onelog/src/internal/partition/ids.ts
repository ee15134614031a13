/**
 * Invocation ids and partition keys. The partition key (64 bits) is inside the id, so anything
 * can route by id alone (docs/architecture.md). Id format: `inv_` + 16 hex digits of partition key +
 * 24 hex digits of identity (random, or derived from an idempotency key).
 */
import { createHash } from "node:crypto";
import type { Random } from "../random.js";
import type { Target } from "./records.js";

const ID = /^inv_[0-9a-f]{40}$/;

function hash64(...parts: string[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex").slice(0, 16);
}

/** The partition key of a target: keyed targets hash their service and key; others are random. */
export function partitionKeyFor(target: Target, idempotencyKey: string | undefined, random: Random): string {
  if (target.key !== undefined) return hash64(target.service, target.key);
  if (idempotencyKey !== undefined) return hash64(target.service, target.handler, idempotencyKey);
  return random.hex(8);
}

/**
 * A new invocation id. With an idempotency key the id is derived from it and the target, so a
 * duplicate request names the same invocation and lands in the same partition.
 */
export function newInvocationId(target: Target, idempotencyKey: string | undefined, random: Random): string {
  if (idempotencyKey !== undefined) return idempotentInvocationId(target, idempotencyKey);
  return `inv_${partitionKeyFor(target, undefined, random)}${random.hex(12)}`;
}

/** The id an idempotency key names for a target: the same for every duplicate request. */
export function idempotentInvocationId(target: Target, idempotencyKey: string): string {
  const pk =
    target.key !== undefined
      ? hash64(target.service, target.key)
      : hash64(target.service, target.handler, idempotencyKey);
  const rest = createHash("sha256")
    .update(`${target.service}\0${target.handler}\0${target.key ?? ""}\0${idempotencyKey}`)
    .digest("hex")
    .slice(0, 24);
  return `inv_${pk}${rest}`;
}

/**
 * The id of an invocation started by a handler's command: derived from the caller's id and the
 * command index (or from the idempotency key), so apply computes the same id on every replay.
 */
export function derivedInvocationId(
  target: Target,
  parentId: string,
  commandIndex: number,
  options: { idempotencyKey?: string | undefined; workflow?: boolean | undefined },
): string {
  if (options.workflow === true && target.handler === "run" && target.key !== undefined) {
    return workflowRunId(target.service, target.key);
  }
  if (options.idempotencyKey !== undefined) return idempotentInvocationId(target, options.idempotencyKey);
  const seed = createHash("sha256").update(`${parentId}\0${commandIndex}`).digest("hex");
  const pk = target.key !== undefined ? hash64(target.service, target.key) : seed.slice(0, 16);
  return `inv_${pk}${seed.slice(16, 40)}`;
}

/**
 * The id of a workflow's `run` invocation: one per workflow id, so a second submission names
 * the same invocation.
 */
export function workflowRunId(service: string, workflowId: string): string {
  return idempotentInvocationId({ service, handler: "run", key: workflowId }, "\0workflow");
}

/** True when `id` has the shape of an invocation id. */
export function isInvocationId(id: string): boolean {
  return ID.test(id);
}

/**
 * The partition that owns an invocation: partitions own equal ranges of the 64-bit key space
 * (the top 32 bits decide, which is exact enough for up to 2^32 partitions).
 */
export function partitionOf(invocationId: string, partitions: number): number {
  const hi = Number.parseInt(invocationId.slice(4, 12), 16);
  return Math.floor((hi * partitions) / 0x1_0000_0000);
}

/**
 * The partition that owns an object key or a workflow id: the one its invocations land in (its
 * partition key is hash64(service, key), as in {@link partitionKeyFor}). The store uses it to
 * tell one partition's state rows from another's.
 */
export function partitionOfKey(service: string, key: string, partitions: number): number {
  return partitionOf(`inv_${hash64(service, key)}`, partitions);
}
