import { stripAnsi } from './format.ts';

/** Printed width of a cell, ignoring ANSI codes. */
export function visibleWidth(text: string): number {
  return Array.from(stripAnsi(text)).length;
}

/** Aligns rows into space-separated columns (ANSI-aware); the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleWidth(cell))));
  return rows.map((row) => {
    const cells = row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i] - visibleWidth(cell))));
    return `${indent}${cells.join('  ')}`.trimEnd();
  });
}
