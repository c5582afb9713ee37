/**
 * The step graph: a step `needs` others. Checks (duplicates, unknown needs, cycles) report
 * positions so load.ts can build paths; `buildDag` assumes a graph that passed them.
 */

/** The part of a step the graph cares about. */
export interface DagNode {
  id: string;
  needs: readonly string[];
}

/** A second step with an id already used by the step at `firstIndex`. */
export interface DuplicateId {
  index: number;
  firstIndex: number;
  id: string;
}

/** `nodes[index].needs[needIndex]` names no step. */
export interface UnknownNeed {
  index: number;
  needIndex: number;
  id: string;
}

/** A cycle as the ids along it, first id repeated at the end: `[a, b, c, a]`. */
export interface Cycle {
  /** Index of the cycle's first step in file order. */
  index: number;
  ids: string[];
}

/** Ready-to-use graph facts the engine needs. */
export interface Dag {
  /** Every id, each after all of its needs; ties keep file order. */
  topoOrder: string[];
  /** Steps without needs: ready when the run starts. */
  roots: string[];
  /** id → ids of steps that need it, in file order. */
  dependents: Record<string, string[]>;
}

/** Steps whose id repeats an earlier step's id. */
export function findDuplicateIds(nodes: readonly DagNode[]): DuplicateId[] {
  const first = new Map<string, number>();
  const duplicates: DuplicateId[] = [];
  nodes.forEach((node, index) => {
    const firstIndex = first.get(node.id);
    if (firstIndex === undefined) first.set(node.id, index);
    else duplicates.push({ index, firstIndex, id: node.id });
  });
  return duplicates;
}

/** `needs` entries that name no step. */
export function findUnknownNeeds(nodes: readonly DagNode[]): UnknownNeed[] {
  const ids = new Set(nodes.map((node) => node.id));
  const unknown: UnknownNeed[] = [];
  nodes.forEach((node, index) =>
    node.needs.forEach((id, needIndex) => {
      if (!ids.has(id)) unknown.push({ index, needIndex, id });
    }),
  );
  return unknown;
}

/**
 * One named cycle per strongly connected component that loops (Tarjan), so a tangle of
 * steps is reported once, not once per step in it. Unknown needs are ignored here.
 */
export function findCycles(nodes: readonly DagNode[]): Cycle[] {
  const indexOf = new Map<string, number>();
  nodes.forEach((node, index) => {
    if (!indexOf.has(node.id)) indexOf.set(node.id, index);
  });
  const edges = (i: number): number[] => nodes[i].needs.flatMap((id) => (indexOf.has(id) ? [indexOf.get(id) as number] : []));
  const components = stronglyConnected(nodes.length, edges);
  const cycles: Cycle[] = [];
  for (const component of components) {
    const start = Math.min(...component);
    const loops = component.length > 1 || edges(start).includes(start);
    if (loops) cycles.push({ index: start, ids: cyclePath(start, new Set(component), edges).map((i) => nodes[i].id) });
  }
  return cycles.sort((a, b) => a.index - b.index);
}

/** Topological order, roots and dependents; call only on a graph without unknown needs or cycles. */
export function buildDag(nodes: readonly DagNode[]): Dag {
  const dependents: Record<string, string[]> = {};
  const waiting = new Map<string, number>();
  for (const node of nodes) {
    dependents[node.id] = [];
    waiting.set(node.id, new Set(node.needs).size);
  }
  for (const node of nodes) for (const need of new Set(node.needs)) dependents[need]?.push(node.id);
  const roots = nodes.filter((node) => waiting.get(node.id) === 0).map((node) => node.id);
  const topoOrder: string[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    topoOrder.push(id);
    for (const dependent of dependents[id]) {
      const left = (waiting.get(dependent) as number) - 1;
      waiting.set(dependent, left);
      if (left === 0) queue.push(dependent);
    }
  }
  if (topoOrder.length !== nodes.length) throw new Error('buildDag: graph has a cycle or unknown needs; validate first');
  return { topoOrder, roots, dependents };
}

/** True when `target` is reachable from `from` through `needs` (transitively). */
export function isUpstream(nodes: readonly DagNode[], from: string, target: string): boolean {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const seen = new Set<string>();
  const stack = [...(byId.get(from)?.needs ?? [])];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (id === target) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(byId.get(id)?.needs ?? []));
  }
  return false;
}

function stronglyConnected(count: number, edges: (i: number) => number[]): number[][] {
  const index = new Array<number>(count).fill(-1);
  const low = new Array<number>(count).fill(0);
  const onStack = new Array<boolean>(count).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let next = 0;
  const connect = (v: number): void => {
    index[v] = low[v] = next++;
    stack.push(v);
    onStack[v] = true;
    for (const w of edges(v)) {
      if (index[w] === -1) {
        connect(w);
        low[v] = Math.min(low[v], low[w]);
      } else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
    }
    if (low[v] !== index[v]) return;
    const component: number[] = [];
    let w: number;
    do {
      w = stack.pop() as number;
      onStack[w] = false;
      component.push(w);
    } while (w !== v);
    components.push(component);
  };
  // Recursion depth is bounded by the 1000-step limit, well within the stack.
  for (let v = 0; v < count; v++) if (index[v] === -1) connect(v);
  return components;
}

/** A shortest loop from `start` back to itself inside its component (BFS over needs). */
function cyclePath(start: number, component: Set<number>, edges: (i: number) => number[]): number[] {
  const parent = new Map<number, number>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as number;
    for (const w of edges(v)) {
      if (w === start) {
        const path = [start];
        for (let cur = v; cur !== start; cur = parent.get(cur) as number) path.splice(1, 0, cur);
        return [...path, start];
      }
      if (component.has(w) && !parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
