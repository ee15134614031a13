// The workloads' services (examples/greeter.ts, examples/counter.ts, bench/services.ts's Flow — the same definitions onelog embedded runs) served by onelog's own SDK endpoint (`endpoint().bind(…).listen(0)`: the Restate service protocol over HTTP/2 cleartext and HTTP/1.1) on a free port: run by bench/run.ts as a child process, one fresh endpoint per system under test, which then registers it with onelog as a server or with restate-server. It reports its URL over the IPC channel and exits when the parent goes away.
import { endpoint } from "onelog";
import { counter } from "../examples/counter.js";
import { greeter } from "../examples/greeter.js";
import type { ChildReady } from "./child.js";
import { flow, quietGreeter } from "./services.js";

if (process.send === undefined) {
  throw new Error("bench/onelog-endpoint.ts is started by bench/run.ts (needs IPC)");
}
const send = process.send.bind(process);

const port = await endpoint()
  .bind(process.env.BENCH_GREETER === "quiet" ? quietGreeter : greeter)
  .bind(counter)
  .bind(flow)
  .listen(0);

// Exiting is the way to stop, as for the Restate SDK's endpoint (bench/restate-services.ts).
const stop = (): void => process.exit(0);
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.once("disconnect", stop);

const ready: ChildReady = { type: "ready", url: `http://127.0.0.1:${port}` };
send(ready);
