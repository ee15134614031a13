/** Invocation ids as a branded string type, as in the Restate SDK. */

/** An invocation id (`inv_…`): a string, branded so it is not mixed up with other strings. */
export type InvocationId = string & { __brand: "InvocationId" };

/**
 * Makes an {@link InvocationId} from a string, e.g. one read from a request or a database.
 * Throws a TypeError for a string that is not an invocation id (`inv_` and more).
 *
 * @example
 * ctx.cancel(InvocationIdParser.fromString(req.invocationId));
 */
export const InvocationIdParser = {
  fromString(id: string): InvocationId {
    if (typeof id !== "string" || !/^inv_[0-9A-Za-z]+$/.test(id)) {
      throw new TypeError(`${JSON.stringify(id)} is not an invocation id (inv_…)`);
    }
    return id as InvocationId;
  },
} as const;
