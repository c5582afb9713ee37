/**
 * Just enough PromQL and exposition-format reading to check that dashboards and alert rules
 * only name metrics the project exports.
 */

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** A selector in an expression: metric name and the label names its matchers use. */
export interface Selector {
  readonly name: string;
  readonly labels: readonly string[];
}

/** Metric selectors of a PromQL expression (or Grafana query): functions, keywords, strings and grouping labels left out. */
export function selectorsIn(expr: string): Selector[] {
  const text = expr
    // Grafana's `label_values(metric, label)` names a metric, then a label.
    .replace(/label_values\(\s*([^,()]+?)\s*,\s*\w+\s*\)/g, '$1')
    // Grafana variables: $__rate_interval, ${datasource}, $scenario.
    .replace(/\$\{[^}]*\}|\$\w+/g, '1m')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const out: Selector[] = [];
  for (const m of text.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const [, name, matchers] = m;
    const after = text.slice((m.index ?? 0) + m[0].length);
    if (!matchers && after.startsWith('(')) continue;
    if (KEYWORDS.has(name.toLowerCase())) continue;
    const labels = [...(matchers ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]);
    out.push({ name, labels });
  }
  return out;
}

/** The names a Prometheus exposition makes queryable, and the label names seen per name. */
export interface Exposition {
  readonly names: ReadonlySet<string>;
  readonly labels: ReadonlyMap<string, ReadonlySet<string>>;
}

const SUFFIXES: Record<string, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Reads `# TYPE` lines (families exist even before a first observation) and sample lines. */
export function readExposition(text: string): Exposition {
  const names = new Set<string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      for (const suffix of SUFFIXES[type[2]] ?? ['']) names.add(type[1] + suffix);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    names.add(sample[1]);
    const seen = labels.get(sample[1]) ?? new Set<string>();
    for (const l of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) seen.add(l[1]);
    labels.set(sample[1], seen);
  }
  return { names, labels };
}

/** Labels Prometheus adds at scrape time (or histograms carry), valid on every metric. */
export const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance', 'le', 'quantile']);

/** What a query names that the exposition does not offer; `known` are extra valid names (recording rules, `up`). */
export function unknownReferences(expr: string, exposition: Exposition, known: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  for (const selector of selectorsIn(expr)) {
    if (known.has(selector.name)) continue;
    if (!exposition.names.has(selector.name)) {
      problems.push(`metric ${selector.name}`);
      continue;
    }
    const seen = exposition.labels.get(selector.name);
    // A family with no sample yet shows no labels: nothing to hold the matchers against.
    if (!seen || seen.size === 0) continue;
    for (const label of selector.labels) if (!seen.has(label) && !TARGET_LABELS.has(label)) problems.push(`label ${label} of ${selector.name}`);
  }
  return problems;
}
