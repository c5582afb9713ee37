--[[
  Shared helpers of the guardrail scripts (src/guardrails). Guardrail time is Redis time
  (TIME), so limits hold across worker machines whose clocks disagree.
]]
-- Read once per call: a Function library's call (src/guardrails/guard-functions.ts,
-- src/worker/fused-completion.ts) that settles one attempt and admits the next asks Redis's
-- clock once. A library sets GUARD_NOW back to nil at the start of each call, as GUARD_EVENTS.
local GUARD_NOW = nil
local function guardNow()
  if GUARD_NOW then return GUARD_NOW end
  local t = redis.call('TIME')
  GUARD_NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return GUARD_NOW
end

-- Every event a guardrail script writes, returned to the caller for in-process listeners.
local GUARD_EVENTS = {}

-- Appends an event to the global stream (and the run's, when it still exists) in the
-- engine's layout: type, ts, runId, stepId, attempt, workerId, data (JSON).
local function guardEmit(globalKey, runEventsKey, cap, now, etype, who, data)
  local f = {'type', etype, 'ts', tostring(now)}
  local ev = {type = etype, ts = now}
  if who.runId and who.runId ~= '' then f[#f + 1] = 'runId'; f[#f + 1] = who.runId; ev.runId = who.runId end
  if who.stepId and who.stepId ~= '' then f[#f + 1] = 'stepId'; f[#f + 1] = who.stepId; ev.stepId = who.stepId end
  if who.attempt and who.attempt ~= '' then
    f[#f + 1] = 'attempt'; f[#f + 1] = tostring(who.attempt); ev.attempt = tonumber(who.attempt)
  end
  if who.workerId and who.workerId ~= '' then f[#f + 1] = 'workerId'; f[#f + 1] = who.workerId; ev.workerId = who.workerId end
  if data then f[#f + 1] = 'data'; f[#f + 1] = cjson.encode(data); ev.data = data end
  redis.call('XADD', globalKey, 'MAXLEN', '~', cap, '*', unpack(f))
  if runEventsKey and who.runId and who.runId ~= '' and redis.call('EXISTS', runEventsKey) == 1 then
    redis.call('XADD', runEventsKey, '*', unpack(f))
  end
  GUARD_EVENTS[#GUARD_EVENTS + 1] = cjson.encode(ev)
end

local function numberOr(value, default)
  local n = tonumber(value)
  if n == nil then return default end
  return n
end
