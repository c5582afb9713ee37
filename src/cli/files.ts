import { glob } from 'tinyglobby';
import { UsageError } from './errors.ts';

/** Expands globs (quoted ones the shell did not expand); a literal path is kept as given. */
export async function expandFiles(patterns: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of patterns) {
    if (!/[*?[\]{}]/.test(p)) {
      out.push(p);
      continue;
    }
    const matches = (await glob(p, { onlyFiles: true })).sort();
    if (matches.length === 0) throw new UsageError(`no file matches "${p}"`);
    out.push(...matches);
  }
  return [...new Set(out)];
}
