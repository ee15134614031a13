/**
 * Every error code users and operators meet, in one table that every layer uses: the code, the
 * HTTP status it answers with (null where no HTTP request is answered: `start()` refusals, the
 * SDK's journal mismatch), a title, and where it arises. Each code has a page
 * `docs/errors/{code}.md`; a test (tests/unit/error-codes.test.ts) checks that the table, the
 * pages, their index and the codes used in the sources agree. The JSON body of an HTTP error has
 * Restate's fields plus onelog's code (see {@link errorBody}).
 */
export const ErrorCodes = {
  OL0001: { status: null, title: "journal mismatch (SDK, fails the attempt)", where: "sdk" },
  OL1000: { status: 500, title: "internal error", where: "ingress" },
  OL1001: { status: 404, title: "unknown service", where: "ingress" },
  OL1002: { status: 404, title: "unknown handler", where: "ingress" },
  OL1003: { status: 400, title: "bad request body", where: "ingress" },
  OL1004: { status: 413, title: "request too large", where: "ingress" },
  OL1005: { status: 400, title: "bad idempotency key", where: "ingress" },
  OL1006: { status: 400, title: "bad delay", where: "ingress" },
  OL1007: { status: 405, title: "method not allowed", where: "ingress" },
  OL1008: { status: 404, title: "invocation not found", where: "ingress" },
  OL1009: { status: 470, title: "invocation not completed yet", where: "ingress" },
  OL1010: { status: 400, title: "service is private", where: "ingress" },
  OL1011: { status: 503, title: "cannot accept the request now", where: "ingress" },
  OL1012: { status: 404, title: "no such path", where: "ingress" },
  OL1013: { status: 400, title: "bad invocation id", where: "ingress" },
  OL1014: { status: 400, title: "bad awakeable id", where: "ingress" },
  OL1015: { status: 413, title: "journal entry too large", where: "ingress" },
  OL1016: { status: 503, title: "too many requests in flight", where: "ingress" },
  OL1017: { status: 401, title: "admin request without a valid token", where: "admin" },
  OL1018: { status: null, title: "admin endpoint beyond loopback without a token", where: "start" },
  OL1019: { status: 400, title: "the SQL query cannot run", where: "admin" },
  OL1020: { status: 409, title: "state patch refused, the key is locked", where: "admin" },
  OL1021: { status: 400, title: "malformed HTTP request", where: "ingress" },
  OL1022: { status: null, title: "data written in another format", where: "start" },
  OL1023: { status: 409, title: "the operation does not apply to the invocation's state", where: "admin" },
  OL1024: { status: 400, title: "bad query parameter", where: "admin" },
  OL1025: { status: null, title: "port in use", where: "start" },
  OL1030: { status: 400, title: "bad path (a keyed path without its key)", where: "ingress" },
  OL1031: { status: 409, title: "deployment conflict", where: "admin" },
  OL1032: { status: 400, title: "deployment discovery failed", where: "admin" },
  OL1033: { status: 403, title: "cross-origin request refused", where: "admin" },
  OL1040: { status: 412, title: "state changed since it was read", where: "admin" },
  OL1050: { status: 503, title: "a partition's leader cannot answer now (admin, cluster)", where: "admin" },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** The codes the ingress answers with (an HTTP status each). */
export const IngressErrors = ErrorCodes;

export type IngressErrorCode = {
  [C in ErrorCode]: (typeof ErrorCodes)[C]["where"] extends "ingress" ? C : never;
}[ErrorCode];

/** An error the ingress answers with its code's status and a JSON body. */
export class IngressError extends Error {
  readonly status: number;
  constructor(
    readonly code: IngressErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "IngressError";
    this.status = ErrorCodes[code].status;
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
    /** A terminal failure's metadata: an object of its pairs, as restate-server answers it. */
    readonly metadata?: readonly { readonly key: string; readonly value: string }[];
  },
): Record<string, unknown> {
  const own = e.onelogCode === undefined ? {} : { onelog_code: e.onelogCode };
  if (surface === "admin") return { message: e.message, restate_code: null, ...own };
  const metadata =
    e.metadata === undefined || e.metadata.length === 0
      ? {}
      : { metadata: Object.fromEntries(e.metadata.map((m) => [m.key, m.value])) };
  return { code: e.status, message: e.message, ...metadata, source: e.source ?? "ingress", ...own };
}
