#!/usr/bin/env bash
# A new user's own project, end to end (README "Using onelog in your own project"): build and pack
# onelog and @onelog/sdk, check the tarballs hold built JS and types only, install them into a
# fresh `npm init -y` project, and run the README's 15-line example with `npx tsx` and with plain
# `node` after `tsc`, calling its handler each time. Bounded: every step has a timeout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
timeout 300 npm run build >/dev/null
for pkg in sdk onelog; do
  (cd "packages/$pkg" && timeout 120 npm pack --silent --pack-destination "$work" >/dev/null)
done
for tgz in "$work"/*.tgz; do
  extra="$(tar tzf "$tgz" | grep -Ev '^package/(package\.json|dist/.*\.(js|d\.ts)|ui/(index\.html|app\.js|style\.css))$' || true)"
  if [ -n "$extra" ]; then
    echo "new-user: $(basename "$tgz") holds files a user does not need:" >&2
    echo "$extra" >&2
    exit 1
  fi
done

app="$work/app"
mkdir "$app"
cd "$app"
npm init -y >/dev/null
npm pkg set type=module
timeout 600 npm install --no-audit --no-fund --silent \
  "$work/onelog-sdk-0.1.0.tgz" "$work/onelog-0.1.0.tgz" tsx typescript @types/node
# The example exactly as the README prints it.
awk '/^## A service in 15 lines/{f=1;next} f&&/^```ts/{g=1;next} g&&/^```/{exit} g{print}' \
  "$root/README.md" >main.ts
[ -s main.ts ] || { echo "new-user: no example found in README.md" >&2; exit 1; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Starts "$@" with free ports, calls Greeter/greet, stops it.
run_example() {
  local ingress admin out
  ingress="$(free_port)"
  admin="$(free_port)"
  ONELOG_INGRESS_PORT="$ingress" ONELOG_ADMIN_PORT="$admin" ONELOG_LOG_LEVEL=warn "$@" >"$work/out" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if out="$(curl -sf -X POST "http://127.0.0.1:$ingress/Greeter/greet" -d '"Ada"' 2>/dev/null)"; then break; fi
    sleep 0.2
  done
  # The web UI comes with the package: its page and Preact from the app's own node_modules.
  for file in "" app.js vendor/preact.mjs vendor/hooks.mjs vendor/htm.mjs; do
    if ! curl -sf -o /dev/null "http://127.0.0.1:$admin/ui/$file"; then
      echo "new-user: '$*' does not serve /ui/$file" >&2
      out="(no UI)"
    fi
  done
  kill -INT "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  if [ "${out:-}" != '"Hello, Ada!"' ]; then
    echo "new-user: '$*' did not answer \"Hello, Ada!\" (got '${out:-nothing}'):" >&2
    cat "$work/out" >&2
    exit 1
  fi
  echo "new-user: '$*' answered $out"
}

run_example timeout 60 npx tsx main.ts
cat >tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "es2022",
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "strict": true,
    "types": ["node"],
    "skipLibCheck": false,
    "outDir": "dist"
  },
  "include": ["main.ts"]
}
JSON
timeout 120 npx tsc -p tsconfig.json
run_example timeout 60 node dist/main.js
rm -rf .onelog

# Server mode from the same project (README "Handlers in their own process"): a deployment that
# depends on @onelog/sdk alone, `onelog serve` without handlers, registration with the CLI.
cat >deployment.mjs <<'JS'
import { endpoint, service } from "@onelog/sdk";
const greeter = service({
  name: "Greeter",
  handlers: { greet: async (ctx, name) => ctx.run("compose", () => `Hello, ${name}!`) },
});
await endpoint().bind(greeter).listen(Number(process.env.PORT));
JS
deployment_port="$(free_port)"
PORT="$deployment_port" timeout 120 node deployment.mjs >"$work/deployment.out" 2>&1 &
deployment_pid=$!
ingress="$(free_port)"
admin="$(free_port)"
ONELOG_LOG_LEVEL=warn timeout 120 npx onelog serve --ingress-port "$ingress" --admin-port "$admin" \
  --data-dir "$work/server-data" >"$work/out" 2>&1 &
server_pid=$!
registered=""
for _ in $(seq 1 100); do
  if registered="$(npx onelog --admin-url "http://127.0.0.1:$admin" deployments register \
    "http://127.0.0.1:$deployment_port" 2>&1)"; then break; fi
  registered=""
  sleep 0.3
done
out="$(curl -sf -X POST "http://127.0.0.1:$ingress/Greeter/greet" -d '"Ada"' || true)"
kill -INT "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""
kill "$deployment_pid" 2>/dev/null || true
if [ -z "$registered" ] || [ "$out" != '"Hello, Ada!"' ]; then
  echo "new-user: server mode did not answer \"Hello, Ada!\" (registration: '${registered:-failed}', answer: '${out:-nothing}'):" >&2
  cat "$work/out" "$work/deployment.out" >&2
  exit 1
fi
echo "new-user: onelog serve + a @onelog/sdk deployment answered $out"
