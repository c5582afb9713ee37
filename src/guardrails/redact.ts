/**
 * Secret redaction (SPEC §10): a secret value found in an output, error message, stack,
 * log line or event becomes `[redacted:NAME]`. Values are registered per process when an
 * attempt resolves its declared credentials; every log line of the process goes through
 * `redactSecrets` (a pino stream hook, see observability/logger.ts).
 */

/** Shorter values would redact ordinary words; credentials are never this short. */
export const MIN_SECRET_LENGTH = 4;

const names = new Map<string, string>();
let pattern: RegExp | undefined;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The forms a value takes in stored text: as is, JSON-escaped, URL-encoded. */
function formsOf(value: string): string[] {
  return [...new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)])];
}

/** Registers secret values by credential name; idempotent and cheap to repeat. */
export function registerSecrets(secrets: Readonly<Record<string, string>>): void {
  let changed = false;
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
    for (const form of formsOf(value)) {
      if (names.get(form) === name) continue;
      names.set(form, name);
      changed = true;
    }
  }
  if (!changed) return;
  // Longest first, so a secret that contains another is replaced whole.
  const alternatives = [...names.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  pattern = new RegExp(alternatives.join('|'), 'g');
}

/** Replaces every registered secret value in `text`. */
export function redactSecrets(text: string): string {
  if (!pattern || text.length < MIN_SECRET_LENGTH) return text;
  return text.replace(pattern, (match) => `[redacted:${names.get(match) ?? 'secret'}]`);
}

