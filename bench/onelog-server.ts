// The engine under load, run by bench/run.ts as a child process so its memory and CPU are its own: onelog on BENCH_DATA_DIR with ingress and admin on free ports. BENCH_MODE=embedded (the default) serves Greeter, Counter and Flow in this process; BENCH_MODE=server serves no handlers of its own (`services: []`, as `onelog serve` without a file), and bench/run.ts registers a deployment through the admin API. It reports its URLs over the IPC channel and exits when the parent goes away.
import * as onelog from "onelog";
import { counter } from "../examples/counter.js";
import { greeter } from "../examples/greeter.js";
import { flow, quietGreeter } from "./services.js";
import { reportReady } from "./ready.js";

const dataDir = process.env.BENCH_DATA_DIR;
if (dataDir === undefined || dataDir === "" || process.send === undefined) {
  throw new Error("bench/onelog-server.ts is started by bench/run.ts (needs BENCH_DATA_DIR and IPC)");
}
const mode = process.env.BENCH_MODE ?? "embedded";
if (mode !== "embedded" && mode !== "server") {
  throw new Error(`bench/onelog-server.ts: BENCH_MODE is embedded or server, not ${mode}`);
}

const server = await onelog.start({
  services:
    mode === "server" ? [] : [process.env.BENCH_GREETER === "quiet" ? quietGreeter : greeter, counter, flow],
  dataDir,
  ingressPort: 0,
  adminPort: 0,
  host: "127.0.0.1",
});

reportReady(server);
