--[[
  The core of every engine script: its keys and arguments, events, the step reads, the run's
  status and the answer. Inlined alone where a script only claims (startAttempt): Lua makes
  every `local function` of an included file anew on each call, and a claim needs these.

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
]]
local K_RUN, K_STEPS, K_DAG, K_OUT, K_ATT = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_EV, K_GEV, K_WAIT, K_GRP, K_ACTIVE = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local RUN_ID, NOW, NOW_S, WORKER, CHANNEL, GLOBAL_CAP = ARGV[1], tonumber(ARGV[2]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local EMITTED = {}
local TO_ENQUEUE = {}
local TO_ABORT = {}

local function emit(etype, sid, attempt, data)
  local f = {'type', etype, 'ts', NOW_S, 'runId', RUN_ID}
  if sid then f[#f + 1] = 'stepId'; f[#f + 1] = sid end
  if attempt then f[#f + 1] = 'attempt'; f[#f + 1] = tostring(attempt) end
  if WORKER ~= '' then f[#f + 1] = 'workerId'; f[#f + 1] = WORKER end
  local json = ''
  if data then json = cjson.encode(data); f[#f + 1] = 'data'; f[#f + 1] = json end
  redis.call('XADD', K_EV, '*', unpack(f))
  redis.call('XADD', K_GEV, 'MAXLEN', '~', GLOBAL_CAP, '*', unpack(f))
  -- Returned too, so in-process listeners see what the streams got (data last: it may hold '|').
  EMITTED[#EMITTED + 1] = etype .. '|' .. (sid or '') .. '|' .. (attempt or '') .. '|' .. json
end

local function sget(field, sid)
  return redis.call('HGET', K_STEPS, field .. '|' .. sid)
end

local function split(csv)
  local out = {}
  if csv and csv ~= '' then
    for item in string.gmatch(csv, '[^,]+') do out[#out + 1] = item end
  end
  return out
end

-- Static facts of a step: has an `if`, continueOnError, group, dependents. Read once per
-- script: a step's static entry never changes after createRun.
local STATIC = {}
local function static(sid)
  local f = STATIC[sid]
  if not f then
    local s = redis.call('HGET', K_DAG, sid)
    local rest = string.sub(s, 4)
    local bar = string.find(rest, '|', 1, true)
    f = {string.sub(s, 1, 1) == '1', string.sub(s, 2, 2) == '1', string.sub(rest, 1, bar - 1), split(string.sub(rest, bar + 1))}
    STATIC[sid] = f
  end
  return f[1], f[2], f[3], f[4]
end

local STATUS = nil
local function runStatus()
  if STATUS == nil then STATUS = redis.call('HGET', K_RUN, 'status') or false end
  return STATUS
end

local function runTerminal()
  local st = runStatus()
  return st ~= 'queued' and st ~= 'running'
end

-- Strings rather than nested tables: Redis converts every table of the answer at a cost.
local function result(code, extra)
  return {code, table.concat(TO_ENQUEUE, ','), table.concat(EMITTED, '\n'), runStatus(), extra or ''}
end
