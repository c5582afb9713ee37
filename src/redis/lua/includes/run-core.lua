--[[
  The core of every engine script: its keys and arguments, events, the run's status and the
  answer. Inlined alone where a script only claims (startAttempt): Lua makes every `local
  function` of an included file anew on each call, and a claim needs only these.

  Every engine script takes the same 10 keys (all under one hash tag on Redis Cluster):
    KEYS[1]  run hash          meta: status, open, inflight, failed, aborting, deadline, ...
    KEYS[2]  steps hash        per step: st|id n|id b|id a|id t0|id t1|id ts|id w|id r|id c|id
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

  The functions here and in run-state.lua read KEYS and ARGV by index rather than the names
  below, which are for the scripts' own code: Lua makes every `local function` anew on each
  call, and each outer local a function uses is one more capture (`luaF_findupval`, ~190
  instructions, plus closing and freeing it). KEYS and ARGV are two captures for all of them.
]]
-- Only the names some script's own code uses (the streams, wait list, channel and cap are
-- used only by the functions here, by index).
local K_RUN, K_STEPS, K_DAG, K_OUT, K_ATT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_GRP, K_ACTIVE = KEYS[9], KEYS[10]
local RUN_ID, NOW, NOW_S, WORKER = ARGV[1], tonumber(ARGV[2]), ARGV[2], ARGV[3]

local EMITTED = {}
local TO_ENQUEUE = {}

-- `attempt` is best passed as a string: a Lua number is formatted through printf.
local function emit(etype, sid, attempt, data)
  -- Made with room for every field (a table that grows is reallocated); n fields are used.
  -- ARGV[2] now, ARGV[1] run id, ARGV[3] worker id.
  local f = {'type', etype, 'ts', ARGV[2], 'runId', ARGV[1], 0, 0, 0, 0, 0, 0, 0, 0}
  local n = 6
  if sid then f[7] = 'stepId'; f[8] = sid; n = 8 end
  if attempt then attempt = tostring(attempt); f[n + 1] = 'attempt'; f[n + 2] = attempt; n = n + 2 end
  if ARGV[3] ~= '' then f[n + 1] = 'workerId'; f[n + 2] = ARGV[3]; n = n + 2 end
  local json = ''
  if data then json = cjson.encode(data); f[n + 1] = 'data'; f[n + 2] = json; n = n + 2 end
  -- The run's stream, and the global one capped at ARGV[5].
  redis.call('XADD', KEYS[6], '*', unpack(f, 1, n))
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[5], '*', unpack(f, 1, n))
  -- Returned too, so in-process listeners see what the streams got (data last: it may hold '|').
  EMITTED[#EMITTED + 1] = etype .. '|' .. (sid or '') .. '|' .. (attempt or '') .. '|' .. json
end

local STATUS = nil
local function runStatus()
  if STATUS == nil then STATUS = redis.call('HGET', KEYS[1], 'status') or false end
  return STATUS
end

-- Strings rather than nested tables: Redis converts every table of the answer at a cost.
local function result(code, extra)
  return {code, table.concat(TO_ENQUEUE, ','), table.concat(EMITTED, '\n'), runStatus(), extra or ''}
end
