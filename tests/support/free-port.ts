// A free TCP port on 127.0.0.1 for a server a test or the bench starts and configures by number
// (nats-server's client, route and monitor ports; restate-server's; onelog's).
import fs from "node:fs";
import net from "node:net";

/** Where Linux takes the ports of outgoing connections and of listen(0); its default if unreadable. */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = fs
      .readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! };
  } catch {
    // not Linux: the default range below
  }
  return { low: 32768, high: 60999 };
}

/** Below this, ports are left to services a machine may run. */
const LOWEST = 10_000;

/**
 * A port nothing listens on now, picked at random below the kernel's ephemeral range. A port the
 * kernel hands out (listen on port 0, then close) is taken back into that range at once: an
 * outgoing connection made before the server binds it — nats-servers starting together open
 * their routes to each other — can get it, and the server fails with "address already in use"
 * (seen in the bench: a monitor port taken so). Outside the range, only another process picking
 * the same port by chance in the same moment can take it. Falls back to the kernel's choice when
 * the range leaves no room below it.
 */
export async function freePort(): Promise<number> {
  const { low } = ephemeralRange();
  const high = low - 1;
  if (high - LOWEST >= 1000) {
    for (let tries = 0; tries < 50; tries++) {
      const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
      if ((await listenOn(port)) !== undefined) return port;
    }
  }
  return (await listenOn(0))!;
}

/** Listens on `port` (0: any) on 127.0.0.1 and closes again; the port, or undefined if taken. */
function listenOn(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}
