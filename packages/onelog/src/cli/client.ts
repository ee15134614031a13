/**
 * The CLI's client of the admin endpoint: JSON over HTTP with the bearer token from
 * ONELOG_ADMIN_TOKEN, and errors turned into one-line messages (exit code 1).
 */

/** A failure the CLI reports as `error: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** The admin URL when neither --admin-url nor ONELOG_ADMIN_URL says otherwise. */
export const DEFAULT_ADMIN_URL = "http://127.0.0.1:9070";

const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EADDRNOTAVAIL"]);

/** The socket error codes inside a failed fetch (its cause, or each error of an AggregateError). */
function errorCodes(e: unknown): string[] {
  const cause = (e as { cause?: unknown }).cause;
  if (cause === undefined || cause === null) return [];
  const errors = (cause as { errors?: unknown[] }).errors;
  const all = Array.isArray(errors) ? errors : [cause];
  return all.map((x) => {
    const code = (x as { code?: unknown }).code;
    return typeof code === "string" ? code : "";
  });
}

export class AdminClient {
  readonly url: string;

  constructor(
    url: string,
    private readonly token: string | undefined,
  ) {
    this.url = url.replace(/\/+$/, "");
  }

  /**
   * Sends one request and returns the parsed JSON answer. Throws CliError when nothing listens
   * there, or with the endpoint's `{ code, message }` for an error status.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined && this.token !== "") headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      const codes = errorCodes(e);
      if (codes.some((c) => UNREACHABLE.has(c))) {
        throw new CliError(
          `no onelog admin endpoint at ${this.url} — start one with \`npm start\` or \`onelog dev <file>\``,
        );
      }
      const why = codes.find((c) => c !== "") ?? (e instanceof Error ? e.message : String(e));
      throw new CliError(`cannot reach the onelog admin endpoint at ${this.url}: ${why}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json ?? {}) as { onelog_code?: string; message?: string };
      const message = err.message ?? (text === "" ? `HTTP ${res.status}` : text);
      const hint = res.status === 401 ? " (set ONELOG_ADMIN_TOKEN)" : "";
      const code = err.onelog_code;
      throw new CliError(`${message}${code === undefined ? "" : ` [${code}]`}${hint}`);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }
}
