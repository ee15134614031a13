/**
 * Routes each invocation to the invoker of the place its service runs: handlers in this process
 * to the in-process invoker, every other service to the HTTP invoker (remote deployments). Acks,
 * notifications and aborts go to both: an invoker ignores invocations it does not run (the
 * Invoker contract, invoker.ts).
 */
import type { Invoker, InvokerFactory } from "./invoker.js";

export interface Routes {
  readonly inProcess: InvokerFactory;
  readonly remote: InvokerFactory;
  /** True for services whose handlers are in this process. */
  readonly isInProcess: (service: string) => boolean;
  /** False while no deployment is registered: then every attempt runs in process, unread. */
  readonly anyRemote: () => boolean;
}

/** One invoker per partition that dispatches to an in-process and a remote one. */
export function routingInvokers(routes: Routes): InvokerFactory {
  return (host) => {
    const local = routes.inProcess(host);
    const remote = routes.remote(host);
    const both: readonly Invoker[] = [local, remote];
    return {
      get running() {
        return local.running + remote.running;
      },
      invoke(id, epoch) {
        // The embedded mode's hot path reads no status here: with nothing remote, all is local.
        if (!routes.anyRemote()) return local.invoke(id, epoch);
        const status = host.store.getStatus(id);
        const here = status === undefined || routes.isInProcess(status.target.service);
        (here ? local : remote).invoke(id, epoch);
      },
      ack: (id, epoch, index, position) => both.forEach((i) => i.ack(id, epoch, index, position)),
      notify: (id, epoch, entry, position) => both.forEach((i) => i.notify(id, epoch, entry, position)),
      abort: (id) => both.forEach((i) => i.abort(id)),
      stop: () => both.forEach((i) => i.stop()),
    };
  };
}
