// Type-aware lint: the promise rules catch the classic durability bug, an append nobody awaited.
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "eslint.config.js",
      "scripts/**/*.mjs",
      "tests/compat/programs/**",
      "tests/compat/restate-endpoint.ts",
      "tests/compat/with-resolvers.mjs",
      "tests/compat/.generated/**",
      "bench/results/**",
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises the runner itself tracks.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", name: ["describe", "it", "test", "suite"], package: "node:test" },
          ],
        },
      ],
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/require-await": "off",
      // A workflow's DurablePromise is a Promise whose reject(message) takes a message, as in the
      // Restate SDK: this rule would flag every ctx.promise(name).reject("…").
      "@typescript-eslint/prefer-promise-reject-errors": "off",
    },
  },
  {
    // The web UI is browser JavaScript served as it is (no build step, docs/ui.md): linted without
    // type information; tests/browser/ui.test.ts runs it in Chromium.
    files: ["packages/onelog/ui/**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // apply() and the tables it writes are pure (docs/architecture.md): time comes from record headers,
    // ids from records, and nothing touches the process, files or sockets. Replaying the log must
    // rebuild exactly the same store, so these files may not reach for a clock or randomness.
    files: [
      "packages/onelog/src/internal/partition/apply.ts",
      "packages/onelog/src/internal/partition/records.ts",
      "packages/onelog/src/internal/partition/ids.ts",
      "packages/onelog/src/internal/partition/store/store.ts",
      "packages/onelog/src/internal/partition/store/memory-store.ts",
      "packages/onelog/src/internal/partition/retention.ts",
      "packages/onelog/src/internal/partition/state-version.ts",
    ],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            ...[
              "fs",
              "node:fs",
              "fs/promises",
              "node:fs/promises",
              "net",
              "node:net",
              "http",
              "node:http",
              "http2",
              "node:http2",
              "process",
              "node:process",
              "child_process",
              "node:child_process",
              "os",
              "node:os",
              "timers",
              "node:timers",
            ].map((name) => ({ name, message: "apply and the tables do no I/O" })),
            ...["crypto", "node:crypto"].map((name) => ({
              name,
              importNames: ["randomFillSync", "randomBytes", "randomUUID", "randomInt", "getRandomValues"],
              message: "apply is deterministic: ids come from records, randomness is injected (random.ts)",
            })),
          ],
          patterns: [
            {
              group: ["**/clock.js", "**/random.js"],
              allowTypeImports: true,
              message: "apply takes no clock or randomness: time comes from the record header",
            },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        ...["process", "setTimeout", "setInterval", "setImmediate", "performance", "Date", "fetch"].map(
          (name) => ({ name, message: `apply is pure: no ${name}` }),
        ),
      ],
      "no-restricted-properties": [
        "error",
        { object: "Math", property: "random", message: "apply is deterministic: no Math.random" },
        { object: "crypto", property: "randomUUID", message: "apply is deterministic" },
      ],
    },
  },
);
