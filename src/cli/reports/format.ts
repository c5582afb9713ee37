import type { AttemptError, CostTotals, StepSummary } from '../../engine/types.ts';

// CSI sequences (colors, cursor movement) that tools print into error messages.
const ANSI_CSI = /\u001b\[[0-?]*[ -/]*[@-~]/g;
// C0 controls other than tab/newline/carriage return, DEL and C1 controls.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

/** Removes ANSI escape sequences so reports never carry terminal codes. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_CSI, '');
}

/** Strips ANSI codes and makes the remaining control characters visible as `\xNN`. */
export function sanitizeText(text: string): string {
  return stripAnsi(text).replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Sanitizes and folds whitespace runs (newlines included) into single spaces. */
export function oneLine(text: string): string {
  return sanitizeText(text).replace(/\s+/g, ' ').trim();
}

/** Cuts `text` to at most `max` characters, marking the cut with `…`. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** `80ms`, `1.2s`, `2m 05s`, `1h 02m`; `-` when unknown. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds with millisecond precision, as JUnit `time` attributes want. */
export function formatSeconds(ms: number | undefined): string {
  return ((ms ?? 0) / 1000).toFixed(3);
}

/** US dollars with enough digits for LLM-sized amounts: `$0.0120`. */
export function formatUsd(usd: number): string {
  return `$${usd.toFixed(4)}`;
}

/** True when nothing was spent. */
export function isZeroCost(cost: CostTotals | undefined): boolean {
  return !cost || (cost.usd === 0 && cost.calls === 0 && cost.tokens.input === 0 && cost.tokens.output === 0);
}

/** `$0.0120, 1200 tokens (900 in / 300 out), 7 calls`; `no cost` when nothing was spent. */
export function formatCost(cost: CostTotals | undefined): string {
  if (!cost || isZeroCost(cost)) return 'no cost';
  const tokens = cost.tokens.input + cost.tokens.output;
  const parts = [formatUsd(cost.usd)];
  if (tokens > 0) parts.push(`${tokens} tokens (${cost.tokens.input} in / ${cost.tokens.output} out)`);
  parts.push(`${cost.calls} ${cost.calls === 1 ? 'call' : 'calls'}`);
  return parts.join(', ');
}

/** `attempt 1: server_error: HTTP 503 (retried after 1000ms)`; the message kept verbatim. */
export function formatAttemptError(error: AttemptError): string {
  const retry = error.retryDelayMs !== undefined ? ` (retried after ${error.retryDelayMs}ms)` : '';
  const worker = error.workerId ? ` [worker ${error.workerId}]` : '';
  return `attempt ${error.attempt}: ${error.kind}: ${error.message}${retry}${worker}`;
}

/** The error that ended a step: its last recorded attempt error. */
export function lastError(step: StepSummary): AttemptError | undefined {
  return step.errors.length > 0 ? step.errors[step.errors.length - 1] : undefined;
}
