import { describe, expect, it } from 'vitest';
import { buildDag, findCycles, findDuplicateIds, findUnknownNeeds, isUpstream } from '../../src/scenario/index.ts';

const step = (id: string, ...needs: string[]) => ({ id, needs });

describe('findCycles', () => {
  it('names the cycle along needs, starting at its first step in file order', () => {
    const cycles = findCycles([step('a', 'c'), step('b', 'a'), step('c', 'b'), step('d', 'a')]);
    expect(cycles.map((c) => `cycle: ${c.ids.join(' -> ')}`)).toEqual(['cycle: a -> c -> b -> a']);
    expect(cycles[0].index).toBe(0);
  });

  it('reports a step that needs itself', () => {
    expect(findCycles([step('a', 'a')]).map((c) => c.ids)).toEqual([['a', 'a']]);
  });

  it('reports separate cycles separately and none for a DAG', () => {
    expect(findCycles([step('a', 'b'), step('b', 'a'), step('c', 'd'), step('d', 'c')]).map((c) => c.ids.join(' -> '))).toEqual([
      'a -> b -> a',
      'c -> d -> c',
    ]);
    expect(findCycles([step('a'), step('b', 'a'), step('c', 'a', 'b')])).toEqual([]);
  });

  it('handles a long chain without blowing the stack', () => {
    const chain = Array.from({ length: 1000 }, (_, i) => step(`s${i}`, ...(i === 0 ? ['s999'] : [`s${i - 1}`])));
    expect(findCycles(chain)[0].ids).toHaveLength(1001);
  });
});

describe('findDuplicateIds / findUnknownNeeds', () => {
  it('reports duplicates with the first position', () => {
    expect(findDuplicateIds([step('a'), step('b'), step('a')])).toEqual([{ index: 2, firstIndex: 0, id: 'a' }]);
  });

  it('reports unknown needs with their positions', () => {
    expect(findUnknownNeeds([step('login'), step('plan', 'login', 'lgoin')])).toEqual([{ index: 1, needIndex: 1, id: 'lgoin' }]);
  });
});

describe('buildDag', () => {
  const dag = buildDag([step('login'), step('plan', 'login'), step('a', 'plan'), step('b', 'plan'), step('verify', 'a', 'b'), step('other')]);

  it('orders every step after its needs', () => {
    expect(dag.topoOrder).toEqual(['login', 'other', 'plan', 'a', 'b', 'verify']);
  });

  it('lists roots and dependents', () => {
    expect(dag.roots).toEqual(['login', 'other']);
    expect(dag.dependents).toEqual({ login: ['plan'], plan: ['a', 'b'], a: ['verify'], b: ['verify'], verify: [], other: [] });
  });

  it('refuses a graph with a cycle', () => {
    expect(() => buildDag([step('a', 'b'), step('b', 'a')])).toThrow(/cycle/);
  });
});

describe('isUpstream', () => {
  it('follows needs transitively', () => {
    const nodes = [step('a'), step('b', 'a'), step('c', 'b'), step('d')];
    expect(isUpstream(nodes, 'c', 'a')).toBe(true);
    expect(isUpstream(nodes, 'a', 'c')).toBe(false);
    expect(isUpstream(nodes, 'c', 'd')).toBe(false);
  });
});
