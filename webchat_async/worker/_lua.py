"""The Lua scripts of the Redis store: each fenced write checks the token and writes in one
atomic step (one round trip).

Times are milliseconds of the Redis server's clock (``TIME``), so workers on several hosts
agree on when a lease runs out; a test passes its own ``now`` instead (argument ``> 0``).
Redis 7 replicates a script's effects, which makes ``TIME`` in a writing script safe.
"""

from __future__ import annotations

from ._keys import LUA_NAMES

__all__ = [
    "ADD",
    "CLAIM",
    "COMMIT",
    "FINISH",
    "RECORD_SEND",
    "REGISTER",
    "RELEASE",
    "RENEW",
    "SCAN",
]

_PRELUDE = (
    LUA_NAMES
    + """
local function now_ms(arg)
  local n = tonumber(arg)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The least loaded live worker with room (chats held + chats handed), other than exclude.
-- A worker that renewed within the last half of its lease comes first: one that missed a
-- renewal is likely dead (killed, paused), and a chat reserved for it waits out the
-- reservation. Renewals come every third of the lease, so a live one is never that late.
local function pick(P, workers, now, exclude)
  local best, best_load, best_stale = '', -1, true
  local rows = redis.call('ZRANGEBYSCORE', workers, '(' .. now, '+inf', 'WITHSCORES')
  for i = 1, #rows, 2 do
    local w = rows[i]
    if w ~= exclude then
      local info = redis.call('HMGET', worker_key(P, w), 'concurrency', 'ttl')
      local cap = tonumber(info[1] or '0') or 0
      local ttl = tonumber(info[2] or '0') or 0
      local stale = tonumber(rows[i + 1]) - now < ttl / 2
      local load = redis.call('SCARD', owned_key(P, w)) + redis.call('LLEN', inbox_key(P, w))
      if load < cap and (best_load < 0 or (best_stale and not stale)
                         or (stale == best_stale and load < best_load)) then
        best, best_load, best_stale = w, load, stale
      end
    end
  end
  return best
end
-- Nobody holds the chat now: reserve it for target (and tell it), or free it for all.
local function hand(P, leases, cid, key, now, target, reserve)
  redis.call('HSET', key, 'owner', '', 'reserved', target)
  if target == '' then
    redis.call('ZADD', leases, 0, cid)
  else
    redis.call('ZADD', leases, now + reserve, cid)
    redis.call('RPUSH', inbox_key(P, target), cid)
  end
end
local function note(P, op, cid, worker, other, token, now)
  redis.call('XADD', P .. 'log', 'MAXLEN', '~', 100000, '*', 'op', op, 'chat', cid,
             'worker', worker, 'other', other, 'token', token, 'at', now)
end
"""
)

#: KEYS: chat, leases, workers, stats. ARGV: prefix, cid, saved, base, now, reserve_ms.
ADD = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', ''} end
local P, cid = ARGV[1], ARGV[2]
local now = now_ms(ARGV[5])
redis.call('HSET', KEYS[1], 'saved', ARGV[3], 'base', ARGV[4], 'token', 0, 'pos', '',
           'out', '[]', 'pev', '', 'psends', '[]')
local target = pick(P, KEYS[3], now, '')
hand(P, KEYS[2], cid, KEYS[1], now, target, tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[4], 'added', 1)
return {'ok', target}
"""
)

#: KEYS: workers, worker. ARGV: worker, now, ttl_ms, concurrency, host, pid.
REGISTER = (
    _PRELUDE
    + """
local now = now_ms(ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], 'concurrency', ARGV[4], 'host', ARGV[5], 'pid', ARGV[6],
           'ttl', ARGV[3])
return now
"""
)

#: KEYS: leases, workers. ARGV: prefix, now, limit.
SCAN = (
    _PRELUDE
    + """
local P = ARGV[1]
local now = now_ms(ARGV[2])
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                        tonumber(ARGV[3]))
local loads = {}
for _, w in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
  table.insert(loads, w)
  table.insert(loads, redis.call('SCARD', owned_key(P, w)) + redis.call('LLEN', inbox_key(P, w)))
end
return {now, redis.call('ZCARD', KEYS[1]), rows, loads}
"""
)

#: KEYS: chat, leases, stats. ARGV: prefix, cid, worker, now, ttl_ms.
CLAIM = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'owner', 'token', 'reserved', 'saved', 'base', 'pos',
                     'out', 'pev', 'psends')
local owner, reserved = h[1] or '', h[3] or ''
if owner == me then return {'held'} end
local expires = tonumber(redis.call('ZSCORE', KEYS[2], cid) or '0')
if expires > now and not (owner == '' and reserved == me) then return {'busy'} end
local token = tonumber(h[2] or '0') + 1
redis.call('HSET', KEYS[1], 'owner', me, 'token', token, 'reserved', '')
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), cid)
if owner ~= '' then
  redis.call('SREM', owned_key(P, owner), cid)
  redis.call('HINCRBY', KEYS[3], 'takeovers', 1)
end
redis.call('SADD', owned_key(P, me), cid)
redis.call('HINCRBY', KEYS[3], 'claims', 1)
note(P, 'claim', cid, me, owner, token, now)
return {'ok', token, h[4] or '', h[5] or '', h[6] or '', h[7] or '[]', h[8] or '',
        h[9] or '[]', owner}
"""
)

#: KEYS: workers, leases. ARGV: prefix, worker, now, ttl_ms, then cid, token pairs.
RENEW = (
    _PRELUDE
    + """
local P, me = ARGV[1], ARGV[2]
local now = now_ms(ARGV[3])
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now + ttl, me)
local lost = {}
for i = 5, #ARGV, 2 do
  local cid, token = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', chat_key(P, cid), 'owner', 'token')
  if h[1] == me and h[2] == token then
    redis.call('ZADD', KEYS[2], now + ttl, cid)
  else
    table.insert(lost, cid)
  end
end
return lost
"""
)

#: KEYS: chat, leases. ARGV: cid, token, event key, index, body, now, margin_ms.
#: Returns 1, 0 (token no longer current) or -1 (too little of the lease left). The token
#: alone names the lease (a claim always makes a new one); a released chat has no owner.
RECORD_SEND = (
    _PRELUDE
    + """
local h = redis.call('HMGET', KEYS[1], 'owner', 'token', 'pev', 'psends')
if not h[1] or h[1] == '' or h[2] ~= ARGV[2] then return 0 end
local expires = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
if expires - now_ms(ARGV[6]) < tonumber(ARGV[7]) then return -1 end
local sends = {}
if h[3] == ARGV[3] then sends = cjson.decode(h[4]) end
-- The k-th send of the event goes in the k-th place: made again by a later owner, it
-- replaces what an earlier owner recorded there.
local index = tonumber(ARGV[4]) + 1
if index > #sends + 1 then index = #sends + 1 end
sends[index] = ARGV[5]
redis.call('HSET', KEYS[1], 'pev', ARGV[3], 'psends', cjson.encode(sends))
return 1
"""
)

#: KEYS: leases, stats. ARGV: prefix, now, ttl_ms, failed (one '0'/'1' per commit: the
#: handler raised), then for each commit five values: cid, token, saved, position,
#: outstanding (JSON). Returns one character per commit: '1' written, '0' the token is no
#: longer current (one string: an array of numbers costs the client a parse per element).
#: Many commits in one script: a pipeline of one script per commit cost the client more
#: than the events (each command packed and its answer parsed on its own); each commit is
#: still checked against its own token, and the whole script is one atomic step.
COMMIT = (
    _PRELUDE
    + """
local P, flags = ARGV[1], ARGV[4]
local expires = now_ms(ARGV[2]) + tonumber(ARGV[3])
local answers, handled, failed = {}, 0, 0
for i = 5, #ARGV, 5 do
  local cid = ARGV[i]
  local key = chat_key(P, cid)
  local h = redis.call('HMGET', key, 'owner', 'token')
  if not h[1] or h[1] == '' or h[2] ~= ARGV[i + 1] then
    table.insert(answers, '0')
  else
    redis.call('HSET', key, 'saved', ARGV[i + 2], 'pos', ARGV[i + 3], 'out', ARGV[i + 4],
               'pev', '', 'psends', '[]')
    redis.call('ZADD', KEYS[1], expires, cid)
    handled = handled + 1
    if string.byte(flags, #answers + 1) == 49 then failed = failed + 1 end  -- '1'
    table.insert(answers, '1')
  end
end
if handled > 0 then redis.call('HINCRBY', KEYS[2], 'handled', handled) end
if failed > 0 then redis.call('HINCRBY', KEYS[2], 'handler_errors', failed) end
return table.concat(answers)
"""
)

#: KEYS: chat, leases, workers, stats. ARGV: prefix, cid, worker, token, now, reserve_ms.
RELEASE = (
    _PRELUDE
    + """
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if h[1] ~= me or h[2] ~= ARGV[4] then return {'lost', ''} end
redis.call('SREM', owned_key(P, me), cid)
local now = now_ms(ARGV[5])
local target = pick(P, KEYS[3], now, me)
hand(P, KEYS[2], cid, KEYS[1], now, target, tonumber(ARGV[6]))
redis.call('HINCRBY', KEYS[4], 'handovers', 1)
note(P, 'release', cid, me, target, ARGV[4], now)
return {'ok', target}
"""
)

#: KEYS: chat, leases, stats. ARGV: prefix, cid, worker, token, now.
FINISH = (
    _PRELUDE
    + """
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if h[1] ~= me or h[2] ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], cid)
redis.call('SREM', owned_key(P, me), cid)
redis.call('HINCRBY', KEYS[3], 'finished', 1)
note(P, 'finish', cid, me, '', ARGV[4], now_ms(ARGV[5]))
return 1
"""
)
