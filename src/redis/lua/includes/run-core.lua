--[[
  The core of every engine script: its keys and arguments, events, the run's status and the
  answer. Inlined alone where a script only claims (startAttempt): Lua makes every `local
  function` of an included file anew on each call, and a claim needs only these.

  Every engine script takes the same 10 keys (all under one hash tag on Redis Cluster):
    KEYS[1]  run hash          meta: status, open, inflight (kept while open > maxParallel), failed,
                               aborting, deadline, ...
    KEYS[2]  steps hash        per step: st|id n|id b|id a|id t0|id t1|id ts|id w|id r|id c|id
                               (n| absent: 0 needs left; t0| absent: ts| is the first start)
    KEYS[3]  dag hash          static: id -> "<hasIf><coe>|<group>|<dependents csv>", _ids, g|group
    KEYS[4]  outputs hash      id -> output JSON
    KEYS[5]  attempts hash     id|n -> attempt record JSON
    KEYS[6]  run events stream
    KEYS[7]  global events stream (capped)
    KEYS[8]  wait list         ready steps held back by maxParallel
    KEYS[9]  groups hash       to|g timeoutMs, start|g, dl|g
    KEYS[10] active runs zset
  ARGV[1] runId, ARGV[2] now (ms, an integer), ARGV[3] workerId ('' for clients), ARGV[4] control
  channel, ARGV[5] global stream cap; script-specific arguments follow.
  Every engine script answers result(): {code, toEnqueue, emitted, runStatus, extra}, toEnqueue
  the steps to enqueue as "sid|attempt|delayMs" joined by ',', emitted the events written as
  "type|sid|attempt|dataJson" joined by '\n' (cjson escapes newlines; step ids hold neither).

  Costs that add up at thousands of steps a second: numbers written back to Redis are passed as
  the strings they came in as (NOW_S; formatting a Lua number goes through printf), and the run's
  status is read once per script (runStatus) and kept current by the writes here.

  Every script starts with begin(KEYS, ARGV) (beginRun in run-state.lua), which sets the
  state below for this call: the functions here never read the globals KEYS and ARGV, so the
  worker's Redis Function library (src/worker/fused-completion.ts) makes them once, at load,
  and calls them with each call's keys and arguments. A script makes them anew on every call;
  each outer local a function uses is then one more capture (`luaF_findupval`, ~190
  instructions, plus closing and freeing it), which is why the helpers read KS and AV by index.
]]
-- This call's keys and arguments, and the names the scripts' own code uses.
local KS, AV = nil, nil
local K_RUN, K_STEPS, K_DAG, K_OUT, K_ATT, K_GRP, K_ACTIVE = nil, nil, nil, nil, nil, nil, nil
local RUN_ID, NOW, NOW_S, WORKER = nil, nil, nil, nil
local EMITTED, TO_ENQUEUE, STATUS = nil, nil, nil
-- redis.call, set by begin: an upvalue is one read, the global `redis` and its field two table
-- lookups, ~40 times a step. (A library cannot read redis.call while it loads: it exists only
-- in a call.)
local rcall = nil
-- What a finish leaves for the claim that follows it in the same call of the worker's fused
-- completion (src/worker/fused-completion.ts): {run hash key, status now, deadline}, so a claim
-- in the same run reads no run hash. The status is the one the finish's writes left; the
-- deadline never changes after createRun. Nil in every other call.
local CARRY = nil

-- The group of a step's static entry "<hasIf><coe>|<group>|<dependents csv>" (store.ts
-- staticOf), '' for none, and where the '|' after it is. A plain find, not a pattern with
-- captures: it runs on every claim and finish.
local function entryGroup(entry)
  -- A step in no group and with no dependents, the most common entry: no search.
  if entry == '00||' then return '', 4 end
  local bar = string.find(entry, '|', 4, true)
  return string.sub(entry, 4, bar - 1), bar
end

-- The last deadline parsed (deadlineOf): a worker's claims in a row are mostly of one run.
local DEADLINE_S, DEADLINE = nil, nil
local function deadlineOf(text)
  if text ~= DEADLINE_S then DEADLINE_S, DEADLINE = text, tonumber(text) end
  return DEADLINE
end

local function begin(keys, argv)
  rcall = redis.call
  -- The same keys table as the last call's (a fused call's finish and claim of one run share
  -- the library's runKeys table): its names are read already.
  if keys ~= KS then
    K_RUN, K_STEPS, K_DAG, K_OUT, K_ATT, K_GRP, K_ACTIVE = keys[1], keys[2], keys[3], keys[4], keys[5], keys[9], keys[10]
  end
  KS, AV = keys, argv
  -- A fused call's finish and claim take the same time: parsed once (strtod is ~600 instructions).
  if argv[2] ~= NOW_S then NOW = tonumber(argv[2]) end
  RUN_ID, NOW_S, WORKER = argv[1], argv[2], argv[3]
  EMITTED, TO_ENQUEUE, STATUS = {}, {}, nil
end

-- `attempt` is best passed as a string: a Lua number is formatted through printf.
local function emit(etype, sid, attempt, data)
  -- AV[2] now, AV[1] run id, AV[3] worker id, AV[5] the global stream's cap.
  if sid and attempt and not data and AV[3] ~= '' then
    -- A worker's step event without data (a step started or succeeded): its fields as
    -- arguments, not a table unpacked twice.
    attempt = tostring(attempt)
    rcall('XADD', KS[6], '*', 'type', etype, 'ts', NOW_S, 'runId', RUN_ID, 'stepId', sid, 'attempt', attempt, 'workerId', WORKER)
    rcall('XADD', KS[7], 'MAXLEN', '~', AV[5], '*', 'type', etype, 'ts', NOW_S, 'runId', RUN_ID, 'stepId', sid, 'attempt', attempt, 'workerId', WORKER)
    EMITTED[#EMITTED + 1] = etype .. '|' .. sid .. '|' .. attempt .. '|'
    return
  end
  -- Made with room for every field (a table that grows is reallocated); n fields are used.
  local f = {'type', etype, 'ts', AV[2], 'runId', AV[1], 0, 0, 0, 0, 0, 0, 0, 0}
  local n = 6
  if sid then f[7] = 'stepId'; f[8] = sid; n = 8 end
  if attempt then attempt = tostring(attempt); f[n + 1] = 'attempt'; f[n + 2] = attempt; n = n + 2 end
  if AV[3] ~= '' then f[n + 1] = 'workerId'; f[n + 2] = AV[3]; n = n + 2 end
  local json = ''
  if data then json = cjson.encode(data); f[n + 1] = 'data'; f[n + 2] = json; n = n + 2 end
  -- The run's stream, and the global one capped at AV[5].
  rcall('XADD', KS[6], '*', unpack(f, 1, n))
  rcall('XADD', KS[7], 'MAXLEN', '~', AV[5], '*', unpack(f, 1, n))
  -- Returned too, so in-process listeners see what the streams got (data last: it may hold '|').
  EMITTED[#EMITTED + 1] = etype .. '|' .. (sid or '') .. '|' .. (attempt or '') .. '|' .. json
end

local function runStatus()
  if STATUS == nil then STATUS = rcall('HGET', KS[1], 'status') or false end
  return STATUS
end

-- Strings rather than nested tables: Redis converts every table of the answer at a cost.
-- A list of one entry (a step's event, most often) is that entry: table.concat would copy it
-- into a buffer and intern the copy again.
local function result(code, extra)
  local q, e = TO_ENQUEUE, EMITTED
  local n, m = #q, #e
  if n == 1 then q = q[1] elseif n == 0 then q = '' else q = table.concat(q, ',') end
  if m == 1 then e = e[1] elseif m == 0 then e = '' else e = table.concat(e, '\n') end
  return {code, q, e, runStatus(), extra or ''}
end
