/**
 * BullMQ's scripts begin with their includes: `local rcall = redis.call` and a few dozen
 * local functions (41 in moveToFinished), then the script's own code. Run as a script (or as
 * a function's body, as src/worker/fused-completion.ts first composed them), every call makes
 * every one of those closures anew, and Redis's Lua collects them afterwards: ~8 % of Redis's
 * instructions per step here (docs/performance.md). In a library they can be made once, at
 * load, like the engine's own functions.
 *
 * `hoistFunctions` splits a script's text into those definitions and the rest. It works on the
 * text's layout (a definition starts at column 0 with `local function name(` or
 * `local name = function(`, and ends at the next line that is `end` at column 0), which holds
 * for the BullMQ scripts the composition is verified against; test/unit/hoist-lua.test.ts
 * parses each of them and checks that the definitions use nothing of a call's (KEYS, ARGV, a
 * local of the script's own code): only Lua's and Redis's globals, rcall and one another.
 */

const DEFINITION = /^local (?:function [A-Za-z_][A-Za-z0-9_]*\s*\(|[A-Za-z_][A-Za-z0-9_]* = function\s*\()/;
const RCALL = /^local rcall = redis\.call\s*$/;

export interface HoistedLua {
  /** `local rcall` (set by the body: see below) and every top-level function definition, in their order. */
  readonly functions: string;
  /** Everything else, in its order; first `rcall = redis.call` when the script had `local rcall = redis.call`. */
  readonly body: string;
  /** The names defined in `functions`. */
  readonly names: readonly string[];
}

export function hoistFunctions(lua: string): HoistedLua {
  const functions: string[] = [];
  const body: string[] = [];
  const names: string[] = [];
  const lines = lua.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (RCALL.test(line)) {
      // redis.call does not exist while a library loads: declared here, set first by each call.
      functions.push('local rcall');
      body.unshift('rcall = redis.call');
      names.push('rcall');
      continue;
    }
    if (!DEFINITION.test(line)) {
      body.push(line);
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !/^end\s*$/.test(lines[end])) end++;
    if (end === lines.length) throw new Error(`hoistFunctions: the definition at line ${i + 1} has no "end" at column 0`);
    functions.push(...lines.slice(i, end + 1));
    names.push((/^local (?:function )?([A-Za-z_][A-Za-z0-9_]*)/.exec(line) as RegExpExecArray)[1]);
    i = end;
  }
  return { functions: functions.join('\n'), body: body.join('\n'), names };
}

/**
 * A BullMQ script as the local function `name` of KEYS and ARGV whose definitions are made
 * once, for a library's top level. They sit in a `do` block, which keeps the script's names
 * from the code around it, and theirs from the script.
 */
export function hoistedScriptFunction(name: string, lua: string): string {
  const { functions, body } = hoistFunctions(lua);
  return [`local ${name}`, 'do', functions, `${name} = function(KEYS, ARGV)`, body, 'end', 'end'].join('\n');
}
