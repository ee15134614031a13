/**
 * What the CLI prints: aligned tables and key/value blocks for people, JSON for scripts, and a
 * progress bar on stderr for long operations.
 */
/** A stored value as the admin API shows it: JSON text, or base64. */
export type ShownValue = { readonly json: string } | { readonly base64: string };

/** Shortens text to `max` characters, marking the cut with `…`. */
export function clip(text: string, max = 60): string {
  const flat = text.replace(/\s*\n\s*/g, " ");
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** A value for people: its JSON text, `base64:…`, or `(empty)`. */
export function showValue(v: ShownValue | null | undefined, max = 60): string {
  if (v === undefined || v === null) return "";
  if ("json" in v) return clip(v.json, max);
  return v.base64 === "" ? "(empty)" : clip(`base64:${v.base64}`, max);
}

/** A cell: strings as they are, null as empty, the rest as JSON. */
export function cell(v: unknown, max = 60): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return clip(v, max);
  return clip(JSON.stringify(v), max);
}

/** Renders rows as a table with a header line; columns are padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** Renders `label  value` lines, labels padded, skipping undefined values. */
export function keyValues(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== "");
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** Prints to stdout with a trailing newline. */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Prints a value as indented JSON (`--json`). */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/**
 * A progress bar on stderr: `[#####.....] 12/40 cancel`. Drawn only on a terminal (or with
 * ONELOG_PROGRESS=1, for logs), so pipes and scripts get clean output.
 */
export class Progress {
  private done = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = total > 0 && (stream.isTTY === true || process.env.ONELOG_PROGRESS === "1");
    this.draw();
  }

  tick(): void {
    this.done++;
    this.draw();
  }

  finish(): void {
    if (this.enabled) this.stream.write("\n");
  }

  private draw(): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    this.stream.write(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${this.done}/${this.total} ${this.label}`,
    );
  }
}
