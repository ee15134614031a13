// The onelog web UI (docs/ui.md): Preact + htm as plain ES modules, no build step. Every value
// comes from the admin API on this same origin; nothing is fetched from elsewhere.
import { h, render } from "./vendor/preact.mjs";
import { useCallback, useEffect, useRef, useState } from "./vendor/hooks.mjs";
import htm from "./vendor/htm.mjs";

const html = htm.bind(h);
const POLL_MS = 2000;
const PAGE = 50;
const STATUSES = ["scheduled", "inboxed", "invoked", "suspended", "backing-off", "paused", "completed"];
const TOKEN_KEY = "onelog-admin-token";

// ---------------------------------------------------------------------------------------------
// The admin API

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** One admin API call; JSON in and out. Throws ApiError (status 401: a token is needed). */
async function api(method, path, body, headers = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    method,
    headers: {
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let data = null;
  try {
    data = text === "" ? null : JSON.parse(text);
  } catch {
    data = text;
  }
  if (!res.ok) {
    if (res.status === 401) authListeners.forEach((f) => f());
    const message = data && typeof data === "object" && data.message ? data.message : `HTTP ${res.status}`;
    throw new ApiError(res.status, message, data);
  }
  return { data, headers: res.headers };
}
const authListeners = new Set();

/** Loads `load()` now, again when `deps` change, and every POLL_MS while `poll` is true. */
function useData(load, deps, poll = false) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const seq = useRef(0);
  const refresh = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    return load().then(
      (data) => mine === seq.current && setState({ data, error: undefined, loading: false }),
      (error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, deps);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  useEffect(() => {
    if (!poll) return undefined;
    const t = setInterval(() => {
      if (document.visibilityState === "visible") void refresh();
    }, POLL_MS);
    return () => clearInterval(t);
  }, [refresh, poll]);
  return { ...state, refresh };
}

// ---------------------------------------------------------------------------------------------
// Routing: #/invocations?…, #/invocations/{id}, #/state?…, #/services, #/sql

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/invocations";
  const [path, query = ""] = raw.split("?");
  return {
    parts: path.split("/").filter(Boolean).map(decodeURIComponent),
    params: new URLSearchParams(query),
  };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function hrefOf(path, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
  const s = q.toString();
  return `#${path}${s === "" ? "" : `?${s}`}`;
}
const invocationHref = (id) => `#/invocations/${encodeURIComponent(id)}`;

// ---------------------------------------------------------------------------------------------
// Small pieces

/** A stored value as the admin API shows it ({ json } or { base64 }), pretty-printed. */
function shownText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object" && "json" in v) {
    try {
      return JSON.stringify(JSON.parse(v.json), null, 2);
    } catch {
      return v.json;
    }
  }
  if (typeof v === "object" && "base64" in v)
    return v.base64 === "" ? "(empty)" : `bytes (base64): ${v.base64}`;
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

function Value({ value, label }) {
  return html`<pre class="value" aria-label=${label}>${shownText(value)}</pre>`;
}

function Status({ status, failed }) {
  const cls = failed ? "s-failed" : `s-${status}`;
  return html`<span class=${`badge ${cls}`}>${failed ? "failed" : status}</span>`;
}

function Time({ iso }) {
  if (!iso) return html`<span class="muted">–</span>`;
  const d = new Date(iso);
  return html`<time datetime=${iso} title=${iso}>${d.toLocaleString()}</time>`;
}

function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="message error" role="alert">${error.message ?? String(error)}</p>`;
}

function ms(n) {
  if (!Number.isFinite(n)) return "";
  if (n < 1000) return `${Math.max(0, Math.round(n))} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(2)} s`;
  return `${Math.floor(n / 60_000)} min ${Math.round((n % 60_000) / 1000)} s`;
}

/** A confirmation dialog (native <dialog>: focus trapped, Escape cancels). */
function Confirm({ ask, onClose }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (ask && d && !d.open) d.showModal();
    if (!ask && d && d.open) d.close();
  }, [ask]);
  if (!ask) return html`<dialog ref=${ref}></dialog>`;
  return html`<dialog ref=${ref} aria-labelledby="confirm-title" onClose=${() => onClose(false)}>
    <h2 id="confirm-title">${ask.title}</h2>
    <p>${ask.text}</p>
    <div class="actions">
      <button type="button" class=${ask.danger ? "danger" : "primary"} onClick=${() => onClose(true)}>
        ${ask.confirm}
      </button>
      <button type="button" autofocus onClick=${() => onClose(false)}>Go back</button>
    </div>
  </dialog>`;
}

/** An asker: `ask({ title, text, confirm, danger })` resolves true when confirmed. */
function useConfirm() {
  const [ask, setAsk] = useState(null);
  const resolver = useRef(null);
  const request = useCallback(
    (a) =>
      new Promise((resolve) => {
        resolver.current = resolve;
        setAsk(a);
      }),
    [],
  );
  const onClose = useCallback((yes) => {
    setAsk(null);
    resolver.current?.(yes);
    resolver.current = null;
  }, []);
  return [request, html`<${Confirm} ask=${ask} onClose=${onClose} />`];
}

// ---------------------------------------------------------------------------------------------
// Invocations

function useServices() {
  return useData(async () => (await api("GET", "/services")).data.services, []);
}

function InvocationsPage({ params }) {
  const filters = {
    status: params.get("status") ?? "",
    service: params.get("service") ?? "",
    handler: params.get("handler") ?? "",
    key: params.get("key") ?? "",
    since: params.get("since") ?? "",
  };
  const [cursors, setCursors] = useState([]);
  const [live, setLive] = useState(true);
  const services = useServices();
  const filterKey = JSON.stringify(filters);
  useEffect(() => setCursors([]), [filterKey]);
  const cursor = cursors[cursors.length - 1];
  const list = useData(
    async () => {
      const q = new URLSearchParams({ limit: String(PAGE), counts: "true" });
      for (const [k, v] of Object.entries(filters)) {
        if (v === "") continue;
        q.set(k, k === "since" ? new Date(v).toISOString() : v);
      }
      if (cursor) q.set("cursor", cursor);
      return (await api("GET", `/invocations?${q}`)).data;
    },
    [filterKey, cursor],
    live,
  );
  const set = (name, value) => {
    location.hash = hrefOf("/invocations", { ...filters, [name]: value });
  };
  const counts = list.data?.counts ?? {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const handlers = services.data?.find((s) => s.name === filters.service)?.handlers ?? [];
  return html`
    <h1>Invocations</h1>
    <form class="row" aria-label="Filters" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Status
        <select value=${filters.status} onChange=${(e) => set("status", e.target.value)}>
          <option value="">any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label
        >Service
        <select value=${filters.service} onChange=${(e) => set("service", e.target.value)}>
          <option value="">any</option>
          ${(services.data ?? []).map((s) => html`<option value=${s.name}>${s.name}</option>`)}
        </select>
      </label>
      <label
        >Handler
        <input
          list="handler-names"
          value=${filters.handler}
          onChange=${(e) => set("handler", e.target.value.trim())}
          size="12"
        />
        <datalist id="handler-names">${handlers.map((hd) => html`<option value=${hd.name} />`)}</datalist>
      </label>
      <label
        >Key
        <input value=${filters.key} onChange=${(e) => set("key", e.target.value.trim())} size="12" />
      </label>
      <label
        >Created since
        <input type="datetime-local" value=${filters.since} onChange=${(e) => set("since", e.target.value)} />
      </label>
      <label class="live"
        ><span>Live updates</span>
        <input type="checkbox" checked=${live} onChange=${(e) => setLive(e.target.checked)} />
      </label>
      ${Object.values(filters).some((v) => v !== "") ? html`<a href="#/invocations">Clear filters</a>` : null}
    </form>
    <div class="counts row" role="group" aria-label="Invocations by status">
      <button type="button" aria-pressed=${filters.status === ""} onClick=${() => set("status", "")}>
        all <strong>${total}</strong>
      </button>
      ${STATUSES.filter((s) => counts[s] !== undefined).map(
        (s) =>
          html`<button
            type="button"
            aria-pressed=${filters.status === s}
            onClick=${() => set("status", filters.status === s ? "" : s)}
          >
            ${s} <strong>${counts[s]}</strong>
          </button>`,
      )}
    </div>
    <${ErrorBox} error=${list.error} />
    ${
      list.data === undefined
        ? html`<p class="muted">Loading…</p>`
        : list.data.invocations.length === 0
          ? html`<p class="muted">No invocations${cursor ? " on this page" : ""}.</p>`
          : html`<div class="scroll">
              <table>
                <caption>
                  Newest first${live ? ", updated every 2 s" : ""}. Page ${cursors.length + 1}.
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Invocation</th>
                    <th scope="col">Target</th>
                    <th scope="col">Status</th>
                    <th scope="col" class="hide-narrow">Attempts</th>
                    <th scope="col" class="hide-narrow">Created</th>
                    <th scope="col">Result</th>
                  </tr>
                </thead>
                <tbody>
                  ${list.data.invocations.map(
                    (r) =>
                      html`<tr key=${r.id} data-id=${r.id}>
                        <td class="mono"><a href=${invocationHref(r.id)}>${r.id}</a></td>
                        <td>${r.target}</td>
                        <td><${Status} status=${r.status} failed=${r.completion_result === "failure"} /></td>
                        <td class="hide-narrow">${r.attempt_epoch}</td>
                        <td class="hide-narrow"><${Time} iso=${r.created_at} /></td>
                        <td class="clip" title=${rowResult(r)}>${rowResult(r)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
    }
    <nav class="pager" aria-label="Pages">
      <button
        type="button"
        disabled=${cursors.length === 0}
        onClick=${() => setCursors(cursors.slice(0, -1))}
      >
        ← Newer
      </button>
      <button
        type="button"
        disabled=${!list.data?.next_cursor}
        onClick=${() => setCursors([...cursors, list.data.next_cursor])}
      >
        Older →
      </button>
    </nav>
  `;
}

function rowResult(r) {
  if (r.completion_result === "failure") return `✗ ${r.completion_failure ?? ""}`;
  if (r.completion_result === "success") return `→ ${r.completion_value_utf8 ?? "(bytes)"}`;
  if (r.last_failure) return `last failure: ${r.last_failure}`;
  return "";
}

/** Which operations apply in a state (the admin API answers 409 for the others). */
function operationsFor(d) {
  const ops = [];
  if (d.status !== "completed") ops.push("cancel", "kill");
  if (["invoked", "suspended", "backing-off"].includes(d.status)) ops.push("pause");
  if (d.status === "paused") ops.push("resume");
  if (d.status === "completed") {
    ops.push("purge");
    if (d.handler_kind !== "workflow" && d.journal.length > 0) ops.push("restart-as-new");
  }
  return ops;
}

const OPERATION_TEXT = {
  cancel: [
    "Cancel",
    "The handler sees a CancelledError at its next await and may compensate; calls it is waiting on are cancelled too.",
  ],
  kill: [
    "Kill",
    "It ends now as failed (Killed): no more of its code runs, nothing compensates. Calls it is waiting on are killed too.",
  ],
  pause: ["Pause", "Its running attempt stops and no new attempt starts until it is resumed."],
  resume: ["Resume", "A new attempt starts, replaying its journal; its retry count starts again."],
  purge: ["Purge", "Its status, result and journal are deleted now, before its retention ends."],
  "restart-as-new": [
    "Restart",
    "A new invocation of the same handler starts with the same input. This one stays as it is.",
  ],
};

function InvocationPage({ id }) {
  const [message, setMessage] = useState(null);
  const [ask, dialog] = useConfirm();
  const inv = useData(async () => (await api("GET", `/invocations/${encodeURIComponent(id)}`)).data, [id]);
  const running = inv.data !== undefined && inv.data.status !== "completed";
  useEffect(() => {
    if (!running) return undefined;
    const t = setInterval(() => document.visibilityState === "visible" && void inv.refresh(), POLL_MS);
    return () => clearInterval(t);
  }, [running, inv.refresh]);
  if (inv.data === undefined) {
    return html`<h1>Invocation ${id}</h1>
      ${inv.error ? html`<${ErrorBox} error=${inv.error} />` : html`<p class="muted">Loading…</p>`}
      <p><a href="#/invocations">Back to the invocations</a></p>`;
  }
  const d = inv.data;
  const operate = async (op) => {
    const [title, text] = OPERATION_TEXT[op];
    const yes = await ask({
      title: `${title} ${d.target}?`,
      text,
      confirm: `${title} invocation`,
      danger: op !== "resume",
    });
    if (!yes) return;
    try {
      const r = await api("PATCH", `/invocations/${encodeURIComponent(d.id)}/${op}`);
      if (op === "restart-as-new") {
        location.hash = invocationHref(r.data.new_invocation_id);
        return;
      }
      setMessage({ text: `${title}: done.` });
      if (op === "purge") location.hash = "#/invocations";
      else await inv.refresh();
    } catch (e) {
      setMessage({ text: e.message, error: true });
    }
  };
  const input = d.journal[0]?.type === "input" ? d.journal[0].fields.argument : undefined;
  return html`
    <p><a href="#/invocations">← Invocations</a></p>
    <h1>${d.target} <${Status} status=${d.status} failed=${d.completion_result === "failure"} /></h1>
    <p class="mono muted">${d.id}</p>
    <div class="actions" role="group" aria-label="Operations">
      ${operationsFor(d).map(
        (op) =>
          html`<button
            type="button"
            class=${op === "resume" ? "primary" : "danger"}
            onClick=${() => operate(op)}
          >
            ${OPERATION_TEXT[op][0]}
          </button>`,
      )}
    </div>
    ${dialog}
    <div role="status" aria-live="polite">
      ${message ? html`<p class=${`message${message.error ? " error" : ""}`}>${message.text}</p>` : null}
    </div>
    <div class="panels">
      <section class="panel" aria-labelledby="facts-h">
        <h2 id="facts-h">Status</h2>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>${d.handler_kind}</dd>
          ${
            d.target_service_key !== null
              ? html`<dt>Key</dt>
                  <dd>${d.target_service_key}</dd>`
              : null
          }
          ${
            d.idempotency_key !== null
              ? html`<dt>Idempotency key</dt>
                  <dd>${d.idempotency_key}</dd>`
              : null
          }
          <dt>Invoked by</dt>
          <dd>
            ${
              d.invoked_by_id
                ? html`<a href=${invocationHref(d.invoked_by_id)}>${d.invoked_by_target}</a>`
                : "ingress"
            }
          </dd>
          ${
            d.callers.length > 0
              ? html`<dt>Waiting for it</dt>
                  <dd>${d.callers.map((c) => html`<a class="mono" href=${invocationHref(c)}>${c}</a> `)}</dd>`
              : null
          }
          <dt>Attempts</dt>
          <dd>${d.attempt_epoch} started, ${d.retry_count} failed since start or resume</dd>
          ${
            d.next_retry_at
              ? html`<dt>Next attempt</dt>
                  <dd><${Time} iso=${d.next_retry_at} /></dd>`
              : null
          }
          ${
            d.waiting_on
              ? html`<dt>Waiting on</dt>
                  <dd>
                    ${
                      [
                        ...d.waiting_on.completion_ids.map((c) => `completion ${c}`),
                        ...d.waiting_on.signal_ids.filter((g) => g !== 1).map((g) => `signal ${g}`),
                      ].join(", ") || "cancellation"
                    }
                  </dd>`
              : null
          }
          <dt>Created</dt>
          <dd><${Time} iso=${d.created_at} /></dd>
          <dt>Modified</dt>
          <dd><${Time} iso=${d.modified_at} /></dd>
          ${
            d.completed_at
              ? html`<dt>Completed</dt>
                  <dd>
                    <${Time} iso=${d.completed_at} />
                    ${` (after ${ms(Date.parse(d.completed_at) - Date.parse(d.created_at))})`}
                  </dd>
                  <dt>Kept</dt>
                  <dd>
                    ${`status and result ${d.completion_retention}, journal ${d.journal_retention ?? "0s"}`}
                  </dd>`
              : null
          }
        </dl>
      </section>
      <section class="panel" aria-labelledby="input-h">
        <h2 id="input-h">Input</h2>
        ${
          input === undefined
            ? html`<p class="muted">Not kept (the journal is gone).</p>`
            : html`<${Value} value=${input} label="input" />`
        }
        <h2 id="output-h">${d.failure ? "Failure" : "Output"}</h2>
        ${
          d.failure
            ? html`<p class="error" aria-labelledby="output-h">[${d.failure.code}] ${d.failure.message}</p>`
            : d.output_value
              ? html`<${Value} value=${d.output_value} label="output" />`
              : html`<p class="muted">${d.status === "completed" ? "(empty)" : "Not completed yet."}</p>`
        }
        ${
          d.last_failure && d.status !== "completed"
            ? html`<h2>Last failure</h2>
                <pre class="value error">${d.last_failure}</pre>`
            : null
        }
      </section>
    </div>
    <h2 id="timeline-h">Journal</h2>
    <${Timeline} d=${d} />
  `;
}

/** The journal as a timeline: attempts, commands and notifications with times, failures, outcome. */
function Timeline({ d }) {
  if (d.journal.length === 0) {
    return html`<p class="muted">
      ${
        d.status === "completed"
          ? `No journal kept (journal retention ${d.journal_retention ?? "0s"}, or it has expired).`
          : "Empty."
      }
    </p>`;
  }
  const start = Date.parse(d.created_at);
  const commandAt = new Map();
  for (const e of d.journal) {
    const cid = e.fields?.completion_id ?? e.fields?.result_completion_id;
    if (e.command_index !== undefined && cid !== undefined && e.appended_at)
      commandAt.set(cid, Date.parse(e.appended_at));
  }
  const failures = new Map(d.failures.map((f) => [f.attempt, f]));
  const items = [];
  // The attempt whose header was shown last; an attempt that failed is closed with its error.
  let attempt = 0;
  const advanceTo = (target) => {
    while (attempt < target) {
      if (attempt > 0) pushFailure(attempt);
      attempt++;
      items.push(html`<li class="attempt">Attempt ${attempt}</li>`);
    }
  };
  const pushFailure = (a) => {
    const f = failures.get(a);
    if (!f) return;
    failures.delete(a);
    items.push(html`<li class="failure">
      <div class="entry-head">
        <span class="kind">attempt ${a} failed</span>
        <span class="muted">+${ms(Date.parse(f.at) - start)}</span>
      </div>
      <pre class="value error">${f.message}</pre>
      ${f.stack ? html`<details><summary>stack</summary><pre class="value error">${f.stack}</pre></details>` : null}
    </li>`);
  };
  for (const e of d.journal) {
    if (e.attempt !== null && e.attempt !== undefined) advanceTo(e.attempt);
    const at = e.appended_at ? Date.parse(e.appended_at) : NaN;
    const isCommand = e.command_index !== undefined;
    const started = !isCommand ? commandAt.get(e.fields?.completion_id) : undefined;
    items.push(html`<li class=${isCommand ? "command" : "notification"} data-type=${e.type}>
      <div class="entry-head">
        <span class="kind">${isCommand ? `command ${e.command_index}` : "notification"}</span>
        <strong>${e.description}</strong>
        ${Number.isFinite(at) ? html`<span class="muted">+${ms(at - start)}</span>` : null}
        ${started !== undefined && Number.isFinite(at) ? html`<span class="muted">took ${ms(at - started)}</span>` : null}
        <${EntryLinks} e=${e} />
      </div>
      <${EntryDetail} e=${e} />
    </li>`);
  }
  // Attempts that added nothing (they replayed the journal and failed, or are running now).
  advanceTo(d.attempt_epoch);
  pushFailure(attempt);
  if (d.status === "completed") {
    items.push(
      html`<li class=${d.failure ? "outcome-failure" : "outcome-success"}>
        <div class="entry-head">
          <span class="kind">completed</span>
          <strong>${d.failure ? `failed [${d.failure.code}] ${d.failure.message}` : "succeeded"}</strong>
          ${d.completed_at ? html`<span class="muted">+${ms(Date.parse(d.completed_at) - start)}</span>` : null}
        </div>
      </li>`,
    );
  }
  return html`<ol class="timeline" aria-labelledby="timeline-h">
    ${items}
  </ol>`;
}

function EntryLinks({ e }) {
  const v = e.fields?.value;
  if (v && typeof v === "object" && "invocation_id" in v) {
    return html`<span
      >→ <a class="mono" href=${invocationHref(v.invocation_id)}>${v.invocation_id}</a></span
    >`;
  }
  if ((e.type === "attach" || e.type === "cancel_invocation") && e.fields?.invocation_id) {
    return html`<a class="mono" href=${invocationHref(e.fields.invocation_id)}>${e.fields.invocation_id}</a>`;
  }
  return null;
}

function EntryDetail({ e }) {
  const f = e.fields ?? {};
  let value;
  switch (e.type) {
    case "input":
      value = f.argument;
      break;
    case "set_state":
      value = f.value;
      break;
    case "call":
    case "send":
      value = f.argument;
      break;
    case "completion":
    case "signal":
      if (f.value && typeof f.value === "object") {
        if ("ok" in f.value) value = f.value.ok;
        else if ("err" in f.value || "failure" in f.value) {
          const err = f.value.err ?? f.value.failure;
          return html`<p class="error">[${err.code}] ${err.message}</p>`;
        } else if ("state_keys" in f.value) value = { json: JSON.stringify(f.value.state_keys) };
      }
      break;
    case "sleep":
      return f.wake_up_at
        ? html`<p class="muted">until <${Time} iso=${new Date(f.wake_up_at).toISOString()} /></p>`
        : null;
    default:
      return null;
  }
  if (value === undefined) return null;
  return html`<${Value} value=${value} label=${`${e.description} value`} />`;
}

// ---------------------------------------------------------------------------------------------
// State

function StatePage({ params }) {
  const service = params.get("service") ?? "";
  const key = params.get("key") ?? "";
  const services = useServices();
  const keyed = (services.data ?? []).filter((s) => s.ty !== "Service");
  const [keyText, setKeyText] = useState(key);
  useEffect(() => setKeyText(key), [key]);
  const keys = useData(
    async () =>
      service === ""
        ? []
        : (
            await api("POST", "/query", {
              query:
                "SELECT DISTINCT service_key AS k FROM state WHERE service_name = ? ORDER BY 1 LIMIT 500",
              params: [service],
            })
          ).data.rows.map((r) => r.k),
    [service],
  );
  const go = (s, k) => (location.hash = hrefOf("/state", { service: s, key: k }));
  return html`
    <h1>State</h1>
    <form
      class="row"
      aria-label="Which key"
      onSubmit=${(e) => {
        e.preventDefault();
        go(service, keyText.trim());
      }}
    >
      <label
        >Object or workflow
        <select value=${service} onChange=${(e) => go(e.target.value, "")}>
          <option value="">choose…</option>
          ${keyed.map((s) => html`<option value=${s.name}>${s.name}</option>`)}
        </select>
      </label>
      <label
        >Key
        <input list="state-keys" value=${keyText} onInput=${(e) => setKeyText(e.target.value)} />
        <datalist id="state-keys">${(keys.data ?? []).map((k) => html`<option value=${k} />`)}</datalist>
      </label>
      <button type="submit" class="primary" disabled=${service === ""}>Show</button>
    </form>
    ${
      service !== "" && key === "" && keys.data && keys.data.length > 0
        ? html`<h2>Keys of ${service} with state</h2>
            <ul>
              ${keys.data.map((k) => html`<li><a href=${hrefOf("/state", { service, key: k })}>${k}</a></li>`)}
            </ul>`
        : null
    }
    ${service !== "" && key !== "" ? html`<${StateEditor} service=${service} stateKey=${key} />` : null}
  `;
}

function StateEditor({ service, stateKey }) {
  const st = useData(
    async () =>
      (await api("GET", `/state/${encodeURIComponent(service)}/${encodeURIComponent(stateKey)}`)).data,
    [service, stateKey],
  );
  const [editing, setEditing] = useState(null);
  const [message, setMessage] = useState(null);
  const [ask, dialog] = useConfirm();
  const save = async (name, value) => {
    try {
      await api(
        "PATCH",
        `/state/${encodeURIComponent(service)}/${encodeURIComponent(stateKey)}`,
        { [name]: value },
        { "if-match": `"${st.data.version}"` },
      );
      setEditing(null);
      setMessage({ text: value === null ? `Deleted ${name}.` : `Saved ${name}.` });
    } catch (e) {
      // A stale edit: show the values as they are now, not the edit made against older ones.
      if (e.status === 412) setEditing(null);
      setMessage({
        text:
          e.status === 412
            ? `Not saved: the state changed since it was read. It is shown again as it is now; edit it again.`
            : `Not saved: ${e.message}`,
        error: true,
      });
    }
    await st.refresh();
  };
  const entries = Object.entries(st.data?.state ?? {});
  return html`
    <h2>${service}/${stateKey}</h2>
    ${dialog}
    <div role="status" aria-live="polite">
      ${message ? html`<p class=${`message${message.error ? " error" : ""}`}>${message.text}</p>` : null}
    </div>
    <${ErrorBox} error=${st.error} />
    ${
      st.data === undefined
        ? html`<p class="muted">Loading…</p>`
        : html`<p class="muted">
              Version <code>${st.data.version}</code>${": an edit is refused if the state changes before it is applied."}
            </p>
            ${entries.length === 0 ? html`<p class="muted">No state for this key.</p>` : null}
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Value</th>
                    <th scope="col"><span class="hide-narrow">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  ${entries.map(
                    ([name, value]) =>
                      html`<tr key=${name} data-name=${name}>
                        <th scope="row" class="mono">${name}</th>
                        <td>
                          ${
                            editing?.name === name
                              ? html`<${ValueEditor}
                                  name=${name}
                                  initial=${shownText(value)}
                                  onSave=${(v) => save(name, v)}
                                  onCancel=${() => setEditing(null)}
                                />`
                              : html`<${Value} value=${value} label=${`value of ${name}`} />`
                          }
                        </td>
                        <td>
                          ${
                            editing?.name === name
                              ? null
                              : html`<div class="actions">
                                  <button
                                    type="button"
                                    disabled=${"base64" in value}
                                    onClick=${() => setEditing({ name })}
                                  >
                                    Edit <span class="sr-only">${name}</span>
                                  </button>
                                  <button
                                    type="button"
                                    class="danger"
                                    onClick=${async () => {
                                      if (
                                        await ask({
                                          title: `Delete ${name}?`,
                                          text: `The state name ${name} of ${service}/${stateKey} is deleted through the log.`,
                                          confirm: "Delete",
                                          danger: true,
                                        })
                                      )
                                        await save(name, null);
                                    }}
                                  >
                                    Delete <span class="sr-only">${name}</span>
                                  </button>
                                </div>`
                          }
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>
            ${
              editing?.name === ""
                ? html`<${ValueEditor}
                    name=""
                    initial=""
                    onSave=${(v, n) => save(n, v)}
                    onCancel=${() => setEditing(null)}
                  />`
                : html`<p>
                    <button type="button" onClick=${() => setEditing({ name: "" })}>Add a value</button>
                  </p>`
            }`
    }
  `;
}

function ValueEditor({ name, initial, onSave, onCancel }) {
  const [text, setText] = useState(initial);
  const [newName, setNewName] = useState(name);
  const [error, setError] = useState(null);
  const submit = (e) => {
    e.preventDefault();
    let value;
    try {
      value = JSON.parse(text);
    } catch (err) {
      setError(`Not JSON: ${err.message}`);
      return;
    }
    if (newName.trim() === "") {
      setError("The name is empty.");
      return;
    }
    void onSave(value, newName.trim());
  };
  return html`<form onSubmit=${submit} aria-label=${name === "" ? "New value" : `Edit ${name}`}>
    ${
      name === ""
        ? html`<label
            >Name <input value=${newName} onInput=${(e) => setNewName(e.target.value)} required
          /></label>`
        : null
    }
    <label
      >Value (JSON)
      <textarea rows="6" value=${text} onInput=${(e) => setText(e.target.value)} autofocus></textarea>
    </label>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="actions">
      <button type="submit" class="primary">Save</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

// ---------------------------------------------------------------------------------------------
// Services and deployments

function ServicesPage() {
  const data = useData(async () => {
    const [services, deployments] = await Promise.all([api("GET", "/services"), api("GET", "/deployments")]);
    return { services: services.data.services, deployments: deployments.data.deployments };
  }, []);
  if (data.data === undefined)
    return html`<h1>Services</h1>
      <${ErrorBox} error=${data.error} />`;
  return html`
    <h1>Services</h1>
    ${data.data.services.map(
      (s) =>
        html`<section class="panel spaced" aria-labelledby=${`svc-${s.name}`}>
          <h2 id=${`svc-${s.name}`}>${s.name} <span class="badge">${s.ty}</span></h2>
          <p class="muted">
            Deployment <code>${s.deployment_id}</code>
            ${` · revision ${s.revision} · ${s.public ? "public" : "private"} · `}
            <a href=${hrefOf("/invocations", { service: s.name })}>its invocations</a>
            ${
              s.ty !== "Service"
                ? html`${" · "}<a href=${hrefOf("/state", { service: s.name })}>its state</a>`
                : null
            }
          </p>
          <div class="scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Handler</th>
                  <th scope="col">Type</th>
                  <th scope="col">Public</th>
                  <th scope="col">Retry policy</th>
                  <th scope="col">Idempotency retention</th>
                  <th scope="col">Journal retention</th>
                  <th scope="col">Inactivity timeout</th>
                  <th scope="col">Input / output</th>
                </tr>
              </thead>
              <tbody>
                ${s.handlers.map(
                  (hd) =>
                    html`<tr>
                      <th scope="row">${hd.name}</th>
                      <td>${hd.ty ?? "–"}</td>
                      <td>${hd.public ? "yes" : "no"}</td>
                      <td>${retryText(hd.retry_policy)}</td>
                      <td>${hd.idempotency_retention ?? hd.workflow_completion_retention ?? "–"}</td>
                      <td>${hd.journal_retention ?? "–"}</td>
                      <td>${hd.inactivity_timeout ?? "–"}</td>
                      <td>
                        ${hd.input_content_type ?? hd.input_description ?? "–"} /
                        ${hd.output_content_type ?? hd.output_description ?? "–"}
                      </td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>
        </section>`,
    )}
    <h2>Deployments</h2>
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Type</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Services</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          ${data.data.deployments.map(
            (dp) =>
              html`<tr>
                <td class="mono">${dp.id}</td>
                <td>${dp.ty}</td>
                <td>${dp.endpoint ?? "this process"}</td>
                <td>${dp.services.map((s) => s.name ?? s).join(", ")}</td>
                <td><${Time} iso=${dp.created_at} /></td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  `;
}

function retryText(p) {
  if (!p) return "–";
  const parts = [];
  if (p.initial_interval)
    parts.push(`${p.initial_interval} ×${p.exponentiation_factor ?? "?"} ≤ ${p.max_interval ?? "?"}`);
  parts.push(
    p.max_attempts === null || p.max_attempts === undefined ? "forever" : `${p.max_attempts} attempts`,
  );
  if (p.on_max_attempts) parts.push(`then ${String(p.on_max_attempts).toLowerCase()}`);
  return parts.join(", ");
}

// ---------------------------------------------------------------------------------------------
// SQL

const EXAMPLES = [
  "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status",
  "SELECT id, target, status, last_failure FROM sys_invocation WHERE status <> 'completed' ORDER BY created_at DESC LIMIT 50",
  "SELECT service_name, service_key, key, value_utf8 FROM state LIMIT 100",
  'SELECT id, "index", entry_type, name, appended_at, attempt FROM sys_journal ORDER BY appended_at DESC LIMIT 50',
];
const SHOWN_ROWS = 1000;

function SqlPage() {
  const [text, setText] = useState(EXAMPLES[0]);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult((await api("POST", "/query", { query: text })).data);
    } catch (e) {
      setResult(null);
      setError(e);
    }
    setBusy(false);
  };
  const columns = result && result.rows.length > 0 ? Object.keys(result.rows[0]) : [];
  return html`
    <h1>SQL</h1>
    <p class="muted">
      ${"Read-only SQL over the views sys_invocation, sys_journal, state, sys_inbox, sys_promise, sys_service and sys_deployment (docs/admin.md)."}
    </p>
    <form
      onSubmit=${(e) => {
        e.preventDefault();
        void run();
      }}
    >
      <label
        >Query (Ctrl+Enter runs it)
        <textarea
          rows="5"
          value=${text}
          onInput=${(e) => setText(e.target.value)}
          onKeyDown=${(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void run();
            }
          }}
        ></textarea>
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Run</button>
        ${EXAMPLES.map(
          (q, i) =>
            html`<button type="button" onClick=${() => setText(q)} title=${q}>Example ${i + 1}</button>`,
        )}
      </div>
    </form>
    <${ErrorBox} error=${error} />
    <div role="status" aria-live="polite">
      ${result ? html`<p class="muted">${rowCount(result)}</p>` : null}
    </div>
    ${
      columns.length > 0
        ? html`<div class="scroll">
            <table>
              <thead>
                <tr>
                  ${columns.map((c) => html`<th scope="col">${c}</th>`)}
                </tr>
              </thead>
              <tbody>
                ${result.rows.slice(0, SHOWN_ROWS).map(
                  (r) =>
                    html`<tr>
                      ${columns.map((c) => html`<td class="clip mono" title=${cellText(r[c])}>${cellText(r[c])}</td>`)}
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
        : null
    }
  `;
}

function rowCount(result) {
  const n = result.rows.length;
  return (
    `${n} row${n === 1 ? "" : "s"}` +
    (result.truncated ? " (truncated: more rows matched)" : "") +
    (n > SHOWN_ROWS ? `, the first ${SHOWN_ROWS} shown` : "") +
    "."
  );
}

function cellText(v) {
  if (v === null || v === undefined) return "NULL";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

// ---------------------------------------------------------------------------------------------
// The frame

function TokenForm({ onDone }) {
  const [text, setText] = useState("");
  return html`<main id="main">
    <h1>Admin token</h1>
    <p>This admin endpoint needs a token (<code>ONELOG_ADMIN_TOKEN</code>). It is kept in this tab only.</p>
    <form
      class="row"
      onSubmit=${(e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, text.trim());
        onDone();
      }}
    >
      <label
        >Token
        <input type="password" value=${text} onInput=${(e) => setText(e.target.value)} autofocus required
      /></label>
      <button type="submit" class="primary">Use it</button>
    </form>
  </main>`;
}

const PAGES = [
  ["invocations", "Invocations"],
  ["state", "State"],
  ["services", "Services"],
  ["sql", "SQL"],
];

function App() {
  const route = useRoute();
  const [needToken, setNeedToken] = useState(false);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const on = () => setNeedToken(true);
    authListeners.add(on);
    return () => authListeners.delete(on);
  }, []);
  const [page, id] = route.parts;
  useEffect(() => {
    document.title = `${id ?? PAGES.find(([p]) => p === page)?.[1] ?? "onelog"} · onelog`;
  }, [page, id]);
  let body;
  if (page === "invocations" && id) body = html`<${InvocationPage} id=${id} />`;
  else if (page === "state") body = html`<${StatePage} params=${route.params} />`;
  else if (page === "services") body = html`<${ServicesPage} />`;
  else if (page === "sql") body = html`<${SqlPage} />`;
  else body = html`<${InvocationsPage} params=${route.params} />`;
  return html`
    <header class="top">
      <a class="brand" href="#/invocations">onelog</a>
      <nav aria-label="Pages">
        <ul>
          ${PAGES.map(
            ([p, label]) =>
              html`<li>
                <a href=${`#/${p}`} aria-current=${(page ?? "invocations") === p ? "page" : undefined}
                  >${label}</a
                >
              </li>`,
          )}
        </ul>
      </nav>
    </header>
    ${
      needToken
        ? html`<${TokenForm}
            onDone=${() => {
              setNeedToken(false);
              setGeneration(generation + 1);
            }}
          />`
        : html`<main id="main" key=${generation}>${body}</main>`
    }
  `;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
