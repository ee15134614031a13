/** The admin endpoint's errors: an HTTP status and a body in Restate's admin shape (errors.ts). */
import { errorBody } from "../errors.js";

/** The body of an admin error: Restate's admin shape plus onelog's code (errors.ts `errorBody`). */
export function adminError(onelogCode: string, message: string): Record<string, unknown> {
  return errorBody("admin", { status: 0, message, onelogCode });
}

/** An error answered with its status and an `errorBody("admin", …)`. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra headers of the answer. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
