/** Request targets of the HTTP endpoints (ingress, admin). */

/** A request target split by hand: `new URL(target, base)` would read `//x` as a host and `\` as `/`. */
export interface RequestTarget {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

export function parseTarget(target: string): RequestTarget | undefined {
  if (!target.startsWith("/")) return undefined;
  const q = target.indexOf("?");
  return q < 0
    ? { pathname: target, searchParams: new URLSearchParams() }
    : { pathname: target.slice(0, q), searchParams: new URLSearchParams(target.slice(q + 1)) };
}
