/**
 * Error codes users and operators meet at the ingress, each with a page in docs/errors/.
 * The HTTP status goes with the code; the JSON body has Restate's fields plus onelog's code
 * (see {@link errorBody}).
 */
export const IngressErrors = {
  OL1000: { status: 500, title: "internal error" },
  OL1001: { status: 404, title: "unknown service" },
  OL1002: { status: 404, title: "unknown handler" },
  OL1003: { status: 400, title: "bad request body" },
  OL1004: { status: 413, title: "request too large" },
  OL1005: { status: 400, title: "bad idempotency key" },
  OL1006: { status: 400, title: "bad delay" },
  OL1007: { status: 405, title: "method not allowed" },
  OL1008: { status: 404, title: "invocation not found" },
  OL1009: { status: 470, title: "invocation not completed yet" },
  OL1010: { status: 400, title: "service is private" },
  OL1011: { status: 503, title: "cannot accept the request now" },
  OL1012: { status: 404, title: "no such path" },
  OL1013: { status: 400, title: "bad invocation id" },
  OL1014: { status: 400, title: "bad awakeable id" },
  OL1015: { status: 413, title: "journal entry too large" },
  OL1016: { status: 503, title: "too many requests in flight" },
  OL1021: { status: 400, title: "malformed HTTP request" },
  OL1030: { status: 400, title: "bad path" },
} as const;

export type IngressErrorCode = keyof typeof IngressErrors;

/** An error the ingress answers with its code's status and a JSON body. */
export class IngressError extends Error {
  readonly status: number;
  constructor(
    readonly code: IngressErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "IngressError";
    this.status = IngressErrors[code].status;
  }
}

/** Which HTTP surface answers: Restate's ingress and admin APIs have different error bodies. */
export type ErrorSurface = "ingress" | "admin";

/** Where an ingress error comes from, as Restate's `source` field says: the request or the invocation. */
export type ErrorSource = "ingress" | "invocation";

/**
 * The JSON body of an error answer, in the shape Restate's servers use so that clients and tools
 * that read them carry over, with onelog's own code as the extra field `onelog_code`:
 *   ingress: `{ code: <HTTP status>, message, source, onelog_code }`
 *   admin:   `{ message, restate_code: null, onelog_code }`
 * A failed invocation's own error (a TerminalError) has no onelog code: `onelog_code` is left out.
 * Never throws.
 *
 * @example
 * errorBody("ingress", { status: 404, message: "unknown service \"X\"", onelogCode: "OL1001" })
 * // { code: 404, message: "unknown service \"X\"", source: "ingress", onelog_code: "OL1001" }
 */
export function errorBody(
  surface: ErrorSurface,
  e: {
    readonly status: number;
    readonly message: string;
    readonly onelogCode?: string;
    readonly source?: ErrorSource;
  },
): Record<string, unknown> {
  const own = e.onelogCode === undefined ? {} : { onelog_code: e.onelogCode };
  if (surface === "admin") return { message: e.message, restate_code: null, ...own };
  return { code: e.status, message: e.message, source: e.source ?? "ingress", ...own };
}
