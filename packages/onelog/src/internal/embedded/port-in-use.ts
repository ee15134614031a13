/** The error `start()` throws when the ingress or admin port is taken (OL1025). */

/** Which of the two servers could not bind, with the setting that moves it. */
const SETTINGS = {
  ingress: { option: "ingressPort", flag: "--ingress-port", env: "ONELOG_INGRESS_PORT" },
  admin: { option: "adminPort", flag: "--admin-port", env: "ONELOG_ADMIN_PORT" },
} as const;

/**
 * Thrown by `start()` when another process listens on the ingress or admin port. Its message is
 * one line naming the port and how to choose another; `start()` has released everything it took
 * (the data directory, the other port) before throwing.
 *
 * @example
 * try { await onelog.start({ services }) } catch (e) { if (e instanceof PortInUseError) console.error(e.message) }
 */
export class PortInUseError extends Error {
  readonly code = "OL1025";
  constructor(
    readonly server: "ingress" | "admin",
    readonly port: number,
    host: string,
  ) {
    const s = SETTINGS[server];
    super(
      `the ${server} port ${port} on ${host} is in use by another process: stop it, or choose another ` +
        `port with ${s.flag} <n> or ${s.env}=<n> (start({ ${s.option} }) in code) [OL1025]`,
    );
    this.name = "PortInUseError";
  }
}

/** Turns a listen() EADDRINUSE into a PortInUseError; anything else as is. */
export function portError(e: unknown, server: "ingress" | "admin", port: number, host: string): unknown {
  return (e as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE"
    ? new PortInUseError(server, port, host)
    : e;
}
