/** `isRestatePromise`, as in the Restate SDK. */
import { DurablePromiseImpl, RestatePromiseImpl, type RestatePromise } from "./restate-promise.js";

/**
 * True for a journaled future made by a context (`ctx.run`, `ctx.sleep`, a call, an awakeable's
 * promise, a durable promise, a combinator): one that `RestatePromise.all/race/…` accept. False
 * for a plain Promise. Never throws.
 *
 * @example
 * if (!isRestatePromise(p)) throw new TypeError("combine only journaled futures");
 */
export function isRestatePromise<T>(p: Promise<T>): p is RestatePromise<T> {
  return p instanceof RestatePromiseImpl || p instanceof DurablePromiseImpl;
}
