--[[
  Creates a run and queues its root steps, atomically.
  KEYS[1..10] as in includes/run-core.lua; KEYS[11] runs index zset (by creation time).
  ARGV[6]  run meta JSON (flat object of strings/numbers written to the run hash)
  ARGV[7]  number of steps S, then S quintuples: stepId, static ("<hasIf><coe>|<group>|<deps csv>"),
           needs count, the handler of a plain step ('' otherwise: it has an `if`, a service,
           credentials or a cost), written as `p|<stepId>`, and what admits a guarded step on
           hand-over (store.ts handoverAdmissionOf, '' for none), written as `a|<stepId>` unless
           the run is mocked; both for src/worker/fused-completion.ts, with the run's `|scenario`
           and `|suite` in the dag hash too (no step id holds a '|')
  then     number of groups G, then G pairs: group name, timeoutMs
  then     number of reused steps R (optional), then R pairs: stepId, output JSON — steps that
           succeeded in the run being resumed; they start `reused` and release their dependents
  Returns  {code, toEnqueue, emitted, runStatus, ''}; code -1 when the run id exists.
]]
--- @include "run-state"
beginRun(KEYS, ARGV)

if redis.call('EXISTS', K_RUN) == 1 then return {-1, '', '', '', ''} end

local function hsetBatched(key, flat)
  for i = 1, #flat, 2000 do
    redis.call('HSET', key, unpack(flat, i, math.min(i + 1999, #flat)))
  end
end

local meta = cjson.decode(ARGV[6])
local runFields = {}
for k, v in pairs(meta) do runFields[#runFields + 1] = k; runFields[#runFields + 1] = tostring(v) end
hsetBatched(K_RUN, runFields)

local n = tonumber(ARGV[7])
local ids, dagFields, stepFields, members, roots = {}, {}, {}, {}, {}
local live = tostring(meta.mock or 0) ~= '1'
local idx = 8
for _ = 1, n do
  local sid, st, needs, plain, admit = ARGV[idx], ARGV[idx + 1], ARGV[idx + 2], ARGV[idx + 3], ARGV[idx + 4]
  idx = idx + 5
  ids[#ids + 1] = sid
  dagFields[#dagFields + 1] = sid; dagFields[#dagFields + 1] = st
  if plain ~= '' then dagFields[#dagFields + 1] = 'p|' .. sid; dagFields[#dagFields + 1] = plain end
  if admit ~= '' and live then dagFields[#dagFields + 1] = 'a|' .. sid; dagFields[#dagFields + 1] = admit end
  stepFields[#stepFields + 1] = 'st|' .. sid; stepFields[#stepFields + 1] = 'pending'
  -- Needs left to end; none (a root) is no field, read as 0.
  if needs ~= '0' then stepFields[#stepFields + 1] = 'n|' .. sid; stepFields[#stepFields + 1] = needs end
  local group = entryGroup(st)
  if group ~= '' then
    members[group] = members[group] or {}
    table.insert(members[group], sid)
  end
  if needs == '0' then roots[#roots + 1] = sid end
end
dagFields[#dagFields + 1] = '_ids'; dagFields[#dagFields + 1] = table.concat(ids, ',')
dagFields[#dagFields + 1] = '|scenario'; dagFields[#dagFields + 1] = tostring(meta.scenario or '')
dagFields[#dagFields + 1] = '|suite'; dagFields[#dagFields + 1] = tostring(meta.suite or '')
for group, list in pairs(members) do
  dagFields[#dagFields + 1] = 'g|' .. group; dagFields[#dagFields + 1] = table.concat(list, ',')
end
hsetBatched(K_DAG, dagFields)
-- The steps hash takes up to 8 fields per step and every attempt reads and writes a few. Redis
-- keeps a hash of up to hash-max-listpack-entries fields (128, or 512 on Debian) with short
-- values as a listpack, which it scans field by field on every access: a run of 100 steps spent
-- more of its script time there than anywhere else. A value longer than hash-max-listpack-value
-- (64 bytes) makes Redis keep the hash as a hash table; small runs stay compact.
if n > 16 then stepFields[#stepFields + 1] = '_encoding'; stepFields[#stepFields + 1] = string.rep('-', 72) end
hsetBatched(K_STEPS, stepFields)

local g = tonumber(ARGV[idx])
idx = idx + 1
for _ = 1, g do
  redis.call('HSET', K_GRP, 'to|' .. ARGV[idx], ARGV[idx + 1])
  idx = idx + 2
end

local reused, isReused = {}, {}
for _ = 1, tonumber(ARGV[idx] or '0') do
  local sid = ARGV[idx + 1]
  redis.call('HSET', K_OUT, sid, ARGV[idx + 2])
  reused[#reused + 1] = sid
  isReused[sid] = true
  idx = idx + 2
end

redis.call('ZADD', KEYS[11], NOW, RUN_ID)
redis.call('ZADD', K_ACTIVE, NOW, RUN_ID)
emit('run.queued', nil, nil, {scenario = meta['scenario']})
local done = {}
for _, sid in ipairs(reused) do
  done[#done + 1] = {sid, finishStep(sid, 'reused', 'resumed', false, nil, {from = meta['resumedFrom']})}
end
for _, sid in ipairs(roots) do
  if not isReused[sid] then admit(sid) end
end
advance(done)
return result(1)
