/**
 * Backpressure towards deployments: at most `limit` attempts run on one deployment at a time,
 * across every partition of this process; more wait in arrival order for a slot.
 *
 * Invariants:
 * 1. A deployment never has more than `limit` attempts started and not released.
 * 2. A waiter starts at most once, and not after its release function was called.
 */
export class DeploymentSlots {
  private readonly running = new Map<string, number>();
  private readonly queues = new Map<string, Set<() => void>>();

  constructor(readonly limit: number) {}

  /**
   * Runs `start` as soon as `deploymentId` has a free slot (at once if it has one). The result
   * gives the slot back, or, if `start` has not run yet, takes the waiter out of the queue (2).
   *
   * @example
   * const release = slots.acquire(d.id, () => openStream());
   * // …when the attempt ends or is aborted:
   * release();
   */
  acquire(deploymentId: string, start: () => void): () => void {
    let state: "waiting" | "running" | "released" = "waiting";
    const run = () => {
      state = "running";
      this.running.set(deploymentId, (this.running.get(deploymentId) ?? 0) + 1);
      start();
    };
    const release = () => {
      if (state === "waiting") this.queues.get(deploymentId)?.delete(run);
      else if (state === "running") {
        const n = (this.running.get(deploymentId) ?? 1) - 1;
        if (n === 0) this.running.delete(deploymentId);
        else this.running.set(deploymentId, n);
        this.next(deploymentId);
      }
      state = "released";
    };
    if ((this.running.get(deploymentId) ?? 0) < this.limit)
      run(); // 1
    else {
      let queue = this.queues.get(deploymentId);
      if (queue === undefined) this.queues.set(deploymentId, (queue = new Set()));
      queue.add(run);
    }
    return release;
  }

  /** Attempts running on a deployment now. */
  runningOn(deploymentId: string): number {
    return this.running.get(deploymentId) ?? 0;
  }

  private next(deploymentId: string): void {
    const queue = this.queues.get(deploymentId);
    if (queue === undefined) return;
    const first = queue.values().next();
    if (first.done === true) {
      this.queues.delete(deploymentId);
      return;
    }
    queue.delete(first.value);
    if (queue.size === 0) this.queues.delete(deploymentId);
    first.value();
  }
}
