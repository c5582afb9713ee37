import { describe, expect, it } from 'vitest';
import { isScenarioError } from '../../src/errors.ts';
import { collectTemplates, compileTemplates, renderTemplates, type ExpressionContext } from '../../src/scenario/index.ts';

const context: ExpressionContext = {
  input: { baseUrl: 'http://127.0.0.1:8080', user: 'alice', n: 3, price: 2.5, flags: { beta: true } },
  steps: {
    login: { output: { body: { name: 'Alice', tier: 'premium', ids: [1, 2] } }, status: 'succeeded' },
    'premium-path': { output: { total: 42 }, status: 'succeeded' },
  },
  run: { id: 'run-1', attempt: 2 },
  secrets: { API_TOKEN: 's3cret' },
};

describe('renderTemplates (SPEC §3)', () => {
  it('renders templates inside strings, recursively through objects and arrays', () => {
    const rendered = renderTemplates(
      { method: 'POST', url: '{{ input.baseUrl }}/login', json: { user: '{{ input.user }}', list: ['x', '{{ run.attempt }}'] } },
      context,
    );
    expect(rendered).toEqual({ method: 'POST', url: 'http://127.0.0.1:8080/login', json: { user: 'alice', list: ['x', 2] } });
  });

  it('keeps the value type when the string is exactly one template', () => {
    expect(renderTemplates('{{ input.n }}', context)).toBe(3);
    expect(renderTemplates('{{ input.price }}', context)).toBe(2.5);
    expect(renderTemplates('{{ input.flags.beta }}', context)).toBe(true);
    expect(renderTemplates('{{ steps.login.output.body }}', context)).toEqual({ name: 'Alice', tier: 'premium', ids: [1, 2] });
    expect(renderTemplates('{{ input.n + 1 }}', context)).toBe(4);
  });

  it('stringifies values into a longer string, objects as JSON', () => {
    expect(renderTemplates('n={{ input.n }}', context)).toBe('n=3');
    expect(renderTemplates('ids: {{ steps.login.output.body.ids }}', context)).toBe('ids: [1,2]');
    expect(renderTemplates(' {{ input.flags }} ', context)).toBe(' {"beta":true} ');
    expect(renderTemplates('{{ input.user }}-{{ input.n }}', context)).toBe('alice-3');
  });

  it('reads hyphenated step ids through the index form', () => {
    expect(renderTemplates("{{ steps['premium-path'].output.total }}", context)).toBe(42);
  });

  it('reads declared secrets', () => {
    expect(renderTemplates({ headers: { authorization: 'Bearer {{ secrets.API_TOKEN }}' } }, context)).toEqual({
      headers: { authorization: 'Bearer s3cret' },
    });
  });

  it('understands braces and quotes inside the expression', () => {
    expect(renderTemplates('{{ {"a": {"b": 1}} }}', context)).toEqual({ a: { b: 1 } });
    expect(renderTemplates('{{ "}}" }}', context)).toBe('}}');
    expect(renderTemplates("literal {{ '{{' }}name}}", context)).toBe('literal {{name}}');
  });

  it('fails a missing value as invalid_input naming the template', () => {
    try {
      renderTemplates({ prompt: 'Plan for {{ steps.login.output.body.nme }}' }, context);
      expect.unreachable();
    } catch (e) {
      expect(isScenarioError(e) && e.kind).toBe('invalid_input');
      expect(isScenarioError(e) && e.retryable).toBe(false);
      expect((e as Error).message).toBe('template "{{ steps.login.output.body.nme }}": no such key: nme');
      expect(isScenarioError(e) && e.details).toMatchObject({ path: 'with.prompt' });
    }
  });

  it('leaves values without templates alone', () => {
    expect(renderTemplates({ a: 1, b: [true, null], c: 'plain {text}' }, context)).toEqual({ a: 1, b: [true, null], c: 'plain {text}' });
  });
});

describe('compileTemplates', () => {
  it('compiles once and renders per attempt with fresh values', () => {
    const renderer = compileTemplates({ attempt: '{{ run.attempt }}' });
    expect(renderer.hasTemplates).toBe(true);
    expect(renderer.render(context)).toEqual({ attempt: 2 });
    expect(renderer.render({ ...context, run: { id: 'run-1', attempt: 3 } })).toEqual({ attempt: 3 });
  });

  it('lists the steps and secrets the templates read', () => {
    const renderer = compileTemplates({ a: '{{ steps.login.output }}', b: "x {{ steps['premium-path'].status }} {{ secrets.API_TOKEN }}" });
    expect(renderer.references.steps).toEqual(['login', 'premium-path']);
    expect(renderer.references.secrets).toEqual(['API_TOKEN']);
  });

  it('gives each render its own copy of constant parts', () => {
    const renderer = compileTemplates({ body: { items: [1] } });
    (renderer.render(context) as { body: { items: number[] } }).body.items.push(2);
    expect(renderer.render(context)).toEqual({ body: { items: [1] } });
  });

  it('throws on a malformed template', () => {
    expect(() => compileTemplates({ url: '{{ input.baseUrl' })).toThrow('with.url: unclosed template');
  });
});

describe('collectTemplates', () => {
  it('finds every template with its path, and flags malformed ones', () => {
    expect(collectTemplates({ url: '{{ a }}/{{ b }}', list: ['{{}}', '{{ c'] })).toEqual([
      { path: ['url'], raw: '{{ a }}', expression: 'a' },
      { path: ['url'], raw: '{{ b }}', expression: 'b' },
      { path: ['list', 0], raw: '{{}}', expression: '', syntaxError: 'empty template "{{ }}"' },
      { path: ['list', 1], raw: '{{ c', expression: '', syntaxError: 'unclosed template "{{ c": missing "}}"' },
    ]);
  });
});
