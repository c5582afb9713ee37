// The scenario-queue dashboard: plain ES modules, no build step. Every value from the API is
// put in the page with textContent (never innerHTML), so step ids and error messages stay text.

const root = document.getElementById('app');
const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'halted', 'skipped'];
const TERMINAL_RUN = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'halted', 'skipped']);
const STEP_END = new Set(['succeeded', 'failed', 'timed_out', 'skipped', 'cancelled', 'reused']);

/** Builds an element: `h('td', { class: 'x', 'data-step': id }, 'text', child)`. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function api(path, init = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.headers ?? {}) } });
  if (res.status === 401) {
    location.assign('/login');
    throw new Error('not logged in');
  }
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(body?.error ?? `HTTP ${res.status}`);
  return body;
}

const fmtDuration = (ms) => {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${Math.round((ms % 60_000) / 1000)}s`;
};
const fmtUsd = (usd) => `$${(usd ?? 0).toFixed(usd >= 1 ? 2 : 4)}`;
const fmtCost = (c) => (c ? `${fmtUsd(c.usd)} · ${c.tokens.input + c.tokens.output} tok · ${c.calls} calls` : '–');
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const badge = (status) => h('span', { class: `badge s-${status}`, 'data-status': status }, status.replace('_', ' '));

let cleanup = () => {};
function route() {
  cleanup();
  cleanup = () => {};
  const m = /^#\/runs\/([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) showRun(m[1]);
  else showRuns();
}

document.getElementById('logout').addEventListener('click', async () => {
  await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
  location.assign('/login');
});

// ---------------------------------------------------------------- runs list

const listFilters = { status: '', scenario: '' };

function showRuns() {
  const status = h('select', { name: 'status', 'aria-label': 'status' }, h('option', { value: '' }, 'any status'), RUN_STATUSES.map((s) => h('option', { value: s }, s)));
  status.value = listFilters.status;
  const scenario = h('input', { name: 'scenario', placeholder: 'scenario name', value: listFilters.scenario, 'aria-label': 'scenario' });
  const tbody = h('tbody');
  const services = h('div', { class: 'services' }, h('p', { class: 'muted' }, 'Loading services…'));
  const apply = () => {
    listFilters.status = status.value;
    listFilters.scenario = scenario.value.trim();
    void load();
  };
  status.addEventListener('change', apply);
  scenario.addEventListener('change', apply);
  root.replaceChildren(
    h('section', {},
      h('div', { class: 'toolbar' }, h('h1', {}, 'Runs'), h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); apply(); } }, status, scenario, h('button', { type: 'submit' }, 'Filter'))),
      h('table', { class: 'runs' }, h('thead', {}, h('tr', {}, ['Run', 'Scenario', 'Status', 'Created', 'Duration', 'Cost'].map((c) => h('th', {}, c)))), tbody)),
    h('section', {}, h('h2', {}, 'Circuits and budgets'), services),
  );

  async function load() {
    const q = new URLSearchParams({ limit: '100' });
    if (listFilters.status) q.set('status', listFilters.status);
    if (listFilters.scenario) q.set('scenario', listFilters.scenario);
    try {
      const { runs } = await api(`/runs?${q}`);
      tbody.replaceChildren(
        ...(runs.length === 0 ? [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No runs.'))] : []),
        ...runs.map((r) =>
          h('tr', { 'data-run': r.runId },
            h('td', {}, h('a', { href: `#/runs/${r.runId}` }, r.runId)),
            h('td', {}, r.scenario),
            h('td', {}, badge(r.status)),
            h('td', {}, fmtTime(r.createdAt)),
            h('td', { class: 'num' }, fmtDuration(r.durationMs)),
            h('td', { class: 'num' }, fmtCost(r.cost)))),
      );
    } catch (e) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 6, class: 'error' }, e.message)));
    }
  }
  const timer = setInterval(load, 3000);
  cleanup = () => clearInterval(timer);
  void load();
  void renderServices(services);
}

/** Circuit and budget state as GET /services reports it (`services status --json`). */
async function renderServices(container) {
  try {
    const body = await api('/services');
    const list = Array.isArray(body.services) ? body.services : [];
    const parts = [];
    if (list.length === 0) parts.push(h('p', { class: 'muted' }, body.note ?? 'No services applied (scenario-queue services apply services.yaml).'));
    for (const s of list) {
      const circuit = s.breaker?.state;
      const facts = [`in flight ${s.inFlight ?? 0}${s.policy?.maxConcurrency ? `/${s.policy.maxConcurrency}` : ''}`];
      if (s.windowUse) facts.push(`rate ${s.windowUse.used}/${s.windowUse.max} per ${fmtDuration(s.windowUse.perMs)}`);
      if (s.spend) facts.push(`spent ${fmtCost({ usd: s.spend.usd, tokens: s.spend.tokens ?? { input: 0, output: 0 }, calls: s.spend.calls })}`);
      parts.push(h('div', { class: 'service', 'data-service': s.name },
        h('strong', {}, s.name), ' ',
        circuit ? h('span', { class: `badge c-${circuit}`, 'data-circuit': circuit }, `circuit ${circuit.replace('_', '-')}`) : h('span', { class: 'muted' }, 'no breaker'),
        h('span', { class: 'muted' }, ` · ${facts.join(' · ')}`)));
    }
    if (body.maxConcurrentCalls) parts.push(h('div', { class: 'service' }, h('strong', {}, 'all services'), h('span', { class: 'muted' }, ` in flight ${body.maxConcurrentCalls.inFlight}/${body.maxConcurrentCalls.limit}`)));
    if (body.daily) {
      const { budget, spent, day } = body.daily;
      parts.push(h('div', { class: 'service', 'data-budget': 'daily' }, h('strong', {}, `daily budget ${day}`),
        ['usd', 'tokens', 'calls'].filter((r) => budget[r] !== undefined).map((r) => budgetMeter(r, spent[r], budget[r], budget.onExceed))));
    }
    for (const [scope, halt] of Object.entries(body.halts ?? {})) parts.push(h('div', { class: 'service halted' }, h('strong', {}, `halted ${scope === '*' ? '(everything)' : scope}`), h('span', { class: 'muted' }, ` ${halt.reason}`)));
    container.replaceChildren(...parts);
  } catch (e) {
    container.replaceChildren(h('p', { class: 'error' }, e.message));
  }
}

// ---------------------------------------------------------------- one run

function showRun(runId) {
  const model = { runId, summary: null, status: 'queued', t0: null, tEnd: null, steps: new Map(), live: 'connecting' };
  const head = h('div', { class: 'run-head' });
  const timeline = h('div', { class: 'timeline', 'data-run': runId });
  const details = h('div', { class: 'details' });
  const services = h('div', { class: 'services' });
  root.replaceChildren(h('p', {}, h('a', { href: '#/' }, '← all runs')), head, h('h2', {}, 'Timeline'), legend(), timeline, details);

  const stepOf = (id) => {
    let s = model.steps.get(id);
    if (!s) {
      s = { id, status: 'pending', attempts: [] };
      model.steps.set(id, s);
    }
    return s;
  };

  function onEvent(e) {
    model.t0 ??= e.ts;
    const [family, what] = e.type.split('.');
    if (family === 'run') {
      if (what !== 'queued' && what !== 'started') model.status = what;
      else if (model.status === 'queued') model.status = what === 'started' ? 'running' : 'queued';
      if (TERMINAL_RUN.has(what)) model.tEnd = e.ts;
      return;
    }
    if (family !== 'step' || !e.stepId) return;
    const step = stepOf(e.stepId);
    const attempt = (n) => {
      let a = step.attempts.find((x) => x.n === n);
      if (!a) {
        a = { n, start: e.ts };
        step.attempts.push(a);
      }
      return a;
    };
    if (what === 'queued') step.status = step.status === 'retrying' ? 'retrying' : 'queued';
    else if (what === 'started') {
      const a = attempt(e.attempt ?? 1);
      a.start = e.ts;
      step.status = 'running';
    } else if (what === 'retrying') {
      Object.assign(attempt(e.attempt ?? 1), { end: e.ts, outcome: 'retry', kind: e.data.kind, message: e.data.message, delayMs: e.data.delayMs });
      step.status = 'retrying';
    } else if (STEP_END.has(what)) {
      step.status = what;
      if (e.data.reason) step.reason = e.data.reason;
      if (e.data.continued) step.continued = true;
      const open = e.attempt !== undefined ? step.attempts.find((x) => x.n === e.attempt) : undefined;
      if (open && open.end === undefined) Object.assign(open, { end: e.ts, outcome: what, kind: e.data.kind, message: e.data.message });
    }
  }

  let frame = 0;
  const render = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      renderHead(head, model);
      renderTimeline(timeline, model);
      renderDetails(details, model, services);
    });
  };

  let summaryTimer = 0;
  const refreshSummary = () => {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(async () => {
      try {
        model.summary = await api(`/runs/${runId}`);
        if (TERMINAL_RUN.has(model.summary.status)) model.status = model.summary.status;
        for (const s of model.summary.steps) Object.assign(stepOf(s.id), { handler: s.handler, service: s.service, cost: s.cost });
        if (!services.hasChildNodes() || TERMINAL_RUN.has(model.summary.status)) void renderServices(services);
        render();
      } catch (e) {
        head.replaceChildren(h('p', { class: 'error' }, e.message));
      }
    }, 250);
  };

  const source = new EventSource(`/runs/${runId}/events`);
  source.onopen = () => {
    model.live = 'live';
    render();
  };
  source.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    onEvent(event);
    if (event.type.startsWith('run.') || STEP_END.has(event.type.split('.')[1]) || event.type === 'step.retrying') refreshSummary();
    render();
  };
  source.addEventListener('end', () => {
    source.close();
    model.live = 'ended';
    refreshSummary();
    render();
  });
  source.onerror = () => {
    if (model.live !== 'ended') {
      model.live = 'reconnecting';
      render();
    }
  };
  // Running bars grow while the run is live.
  const ticker = setInterval(() => {
    if (model.live !== 'ended' && !TERMINAL_RUN.has(model.status)) render();
  }, 500);
  cleanup = () => {
    source.close();
    clearInterval(ticker);
    clearTimeout(summaryTimer);
  };
  refreshSummary();
}

function legend() {
  const item = (cls, text) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${cls}` }), text);
  return h('div', { class: 'legend' },
    item('o-succeeded', 'succeeded'), item('o-retry', 'failed, retried'), item('o-failed', 'failed'),
    item('o-timed_out', 'timed out'), item('o-cancelled', 'cancelled'), item('o-running', 'running'),
    item('o-delay', 'backoff before retry'), item('o-skipped', 'skipped'));
}

function renderHead(head, model) {
  const s = model.summary;
  const duration = s?.durationMs ?? (model.t0 ? (model.tEnd ?? Date.now()) - model.t0 : undefined);
  head.replaceChildren(
    h('h1', {}, s?.scenario ?? 'run', ' ', h('span', { id: 'run-status' }, badge(model.status)), ' ',
      h('span', { class: `live live-${model.live}`, id: 'live-state' }, model.live)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Run'), h('dd', {}, model.runId),
      h('dt', {}, 'Duration'), h('dd', {}, fmtDuration(duration)),
      h('dt', {}, 'Cost'), h('dd', {}, fmtCost(s?.cost)),
      s?.suite ? [h('dt', {}, 'Suite'), h('dd', {}, s.suite)] : null,
      s?.reason ? [h('dt', {}, 'Reason'), h('dd', {}, s.reason)] : null),
  );
}

function renderTimeline(container, model) {
  const order = model.summary ? model.summary.steps.map((s) => s.id) : [...model.steps.keys()];
  const t0 = model.t0 ?? Date.now();
  const now = Date.now();
  const tEnd = model.tEnd ?? now;
  const span = Math.max(1, tEnd - t0);
  const pct = (t) => `${(Math.min(Math.max(t - t0, 0), span) / span) * 100}%`;
  const width = (a, b) => `${Math.max(((Math.min(b, tEnd) - Math.max(a, t0)) / span) * 100, 0.4)}%`;
  container.setAttribute('data-run-status', model.status);
  const axis = h('div', { class: 'axis' }, h('div', { class: 'label' }), h('div', { class: 'track' },
    [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', { class: 'tick', style: { left: `${f * 100}%` } }, fmtDuration(f * span)))));
  const rows = order.map((id) => {
    const step = model.steps.get(id) ?? { id, status: 'pending', attempts: [] };
    const summaryStep = model.summary?.steps.find((s) => s.id === id);
    // Events are the live truth; the summary fills in steps whose events were trimmed away.
    const status = step.status !== 'pending' ? step.status : summaryStep?.status ?? 'pending';
    const bars = [];
    for (const a of step.attempts) {
      const end = a.end ?? (TERMINAL_RUN.has(model.status) ? tEnd : now);
      const outcome = a.outcome ?? (TERMINAL_RUN.has(model.status) ? 'cancelled' : 'running');
      const title = `attempt ${a.n}: ${outcome}${a.kind ? ` (${a.kind})` : ''} · ${fmtDuration(end - a.start)}${a.message ? ` · ${a.message}` : ''}`;
      bars.push(h('div', {
        class: `attempt o-${outcome}`, 'data-attempt': a.n, 'data-outcome': outcome, 'data-kind': a.kind, title,
        style: { left: pct(a.start), width: width(a.start, end) },
      }, h('span', { class: 'bar-label' }, outcome === 'retry' ? `#${a.n} ${a.kind ?? ''}` : `#${a.n}`)));
      if (outcome === 'retry' && a.delayMs) {
        const next = step.attempts.find((x) => x.n === a.n + 1);
        const delayEnd = Math.min(next?.start ?? end + a.delayMs, end + a.delayMs);
        bars.push(h('div', { class: 'delay o-delay', title: `backoff ${fmtDuration(a.delayMs)}`, style: { left: pct(end), width: width(end, delayEnd) } }));
      }
    }
    const note = status === 'skipped' ? `skipped${step.reason ? ` (${step.reason.replace(/_/g, ' ')})` : ''}` : step.continued ? 'failed, continued' : '';
    return h('div', { class: `step-row r-${status}`, 'data-step': id, 'data-status': status },
      h('div', { class: 'label' }, h('span', { class: 'step-id' }, id), ' ', badge(status),
        summaryStep?.service ? h('span', { class: 'muted small' }, ` ${summaryStep.service}`) : null),
      h('div', { class: 'track' }, bars, note ? h('span', { class: 'note' }, note) : null));
  });
  container.replaceChildren(axis, ...rows);
}

function renderDetails(container, model, services) {
  const s = model.summary;
  const parts = [];
  const errors = [...model.steps.values()].flatMap((step) => step.attempts.filter((a) => a.kind).map((a) => ({ step: step.id, ...a })));
  if (errors.length > 0) {
    parts.push(h('h2', {}, 'Attempt errors'), h('table', { class: 'errors' },
      h('thead', {}, h('tr', {}, ['Step', 'Attempt', 'Outcome', 'Kind', 'Message', 'Retry after'].map((c) => h('th', {}, c)))),
      h('tbody', {}, errors.map((e) => h('tr', { 'data-step': e.step, 'data-attempt': e.n },
        h('td', {}, e.step), h('td', { class: 'num' }, e.n), h('td', {}, e.outcome), h('td', {}, h('code', {}, e.kind)),
        h('td', { class: 'message' }, e.message ?? ''), h('td', { class: 'num' }, e.delayMs ? fmtDuration(e.delayMs) : '–'))))));
  }
  if (s) {
    const costed = s.steps.filter((step) => step.cost);
    const byService = new Map();
    for (const step of costed) {
      const key = step.service ?? '(no service)';
      const t = byService.get(key) ?? { usd: 0, tokens: { input: 0, output: 0 }, calls: 0 };
      t.usd += step.cost.usd;
      t.tokens.input += step.cost.tokens.input;
      t.tokens.output += step.cost.tokens.output;
      t.calls += step.cost.calls;
      byService.set(key, t);
    }
    const costTable = (title, rows) => h('div', {}, h('h3', {}, title), h('table', { class: 'cost' },
      h('thead', {}, h('tr', {}, ['', 'USD', 'Tokens in', 'Tokens out', 'Calls'].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows.length === 0 ? h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No cost recorded.')) : rows.map(([name, c]) => h('tr', {},
        h('td', {}, name), h('td', { class: 'num' }, fmtUsd(c.usd)), h('td', { class: 'num' }, c.tokens.input), h('td', { class: 'num' }, c.tokens.output), h('td', { class: 'num' }, c.calls))))));
    parts.push(h('h2', {}, 'Cost'), h('div', { class: 'cols' },
      costTable('By step', costed.map((step) => [step.id, step.cost])),
      costTable('By service', [...byService.entries()])));
    if (s.budget) parts.push(h('h2', {}, 'Run budget'), budgetBars(s.budget, s.cost));
  }
  parts.push(h('h2', {}, 'Circuits and budgets'), services);
  container.replaceChildren(...parts);
}

function budgetBars(budget, cost) {
  const used = { usd: cost.usd, tokens: cost.tokens.input + cost.tokens.output, calls: cost.calls };
  return h('div', {}, ['usd', 'tokens', 'calls'].filter((r) => budget[r] !== undefined).map((r) => budgetMeter(r, used[r], budget[r], budget.onExceed ?? 'fail')));
}

function budgetMeter(resource, used, limit, onExceed) {
  const share = Math.min(used / limit, 1);
  const show = (v) => (resource === 'usd' ? fmtUsd(v) : v);
  return h('div', { class: 'budget', 'data-resource': resource },
    h('span', { class: 'label' }, `${resource} ${show(used)} of ${show(limit)} (on exceed: ${onExceed})`),
    h('div', { class: 'meter' }, h('div', { class: share >= 1 ? 'fill over' : 'fill', style: { width: `${share * 100}%` } })));
}

window.addEventListener('hashchange', route);
route();
