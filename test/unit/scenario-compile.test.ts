import { describe, expect, it } from 'vitest';
import { compileScenario, loadScenario, parseScenario, type ExpressionContext } from '../../src/scenario/index.ts';

describe('compileScenario', () => {
  it('gives the graph of the SPEC §2 example', async () => {
    const compiled = compileScenario(await loadScenario('examples/checkout-journey.yaml'));
    expect(compiled.topoOrder).toEqual(['login', 'plan', 'premium-path', 'basic-path', 'verify', 'teardown']);
    expect(compiled.roots).toEqual(['login']);
    expect(compiled.dependents.plan).toEqual(['premium-path', 'basic-path']);
    expect(compiled.step('plan').dependents).toEqual(['premium-path', 'basic-path']);
  });

  it('lists the steps each step reads, from if, templates and assert', async () => {
    const compiled = compileScenario(await loadScenario('examples/checkout-journey.yaml'));
    expect(compiled.step('login').referencedSteps).toEqual([]);
    expect(compiled.step('plan').referencedSteps).toEqual(['login']);
    expect(compiled.step('premium-path').referencedSteps).toEqual(['login']);
    expect(compiled.step('verify').referencedSteps).toEqual(['plan']);
  });

  it('evaluates the compiled if and renders with for an attempt', async () => {
    const compiled = compileScenario(await loadScenario('examples/checkout-journey.yaml'));
    const context: ExpressionContext = {
      input: compiled.def.input,
      steps: { login: { output: { body: { name: 'Alice', tier: 'premium' } }, status: 'succeeded' } },
      run: { id: 'r', attempt: 1 },
    };
    expect(compiled.step('premium-path').if?.test(context)).toBe(true);
    expect(compiled.step('basic-path').if?.test(context)).toBe(false);
    expect(compiled.step('login').if).toBeUndefined();
    expect(compiled.step('login').render(context)).toEqual({ method: 'POST', url: 'http://127.0.0.1:8080/login', json: { user: 'alice' } });
    expect(compiled.step('plan').render(context)).toEqual({ model: 'gpt-4o-mini', prompt: 'Plan a checkout for Alice' });
  });

  it('compiles each step once', async () => {
    const compiled = compileScenario(await loadScenario('examples/checkout-journey.yaml'));
    expect(compiled.step('plan')).toBe(compiled.step('plan'));
    expect(() => compiled.step('nope')).toThrow('scenario "checkout-journey" has no step "nope"');
  });

  it('lists the secrets a step reads', () => {
    const def = parseScenario('name: s\nsteps:\n  - { id: a, uses: http, credentials: [T], with: { h: "{{ secrets.T }}" } }\n');
    expect(compileScenario(def).step('a').referencedSecrets).toEqual(['T']);
  });
});
