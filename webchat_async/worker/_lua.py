"""The Lua scripts of the Redis store: each fenced write checks the token and writes in one
atomic step (one round trip).

Times are milliseconds of the Redis server's clock (``TIME``), so workers on several hosts
agree on when a lease runs out; a test passes its own ``now`` instead (argument ``> 0``).
Redis 7 replicates a script's effects, which makes ``TIME`` in a writing script safe.

Every key a script writes gets an expiry in the same script (no extra round trip): a
chat's hash lives ``retention`` past the end of its lease (or reservation), pushed on at
every claim, renewal, commit and release, so it never expires while a worker holds it; a
finished chat's hash is deleted. A worker's own keys (description, owned chats, inbox)
live one lease past its last heartbeat. The fleet's shared keys (leases, workers,
counters, log) live at least as long as the longest-lived chat (:func:`keep` only ever
pushes an expiry on).
"""

from __future__ import annotations

from ._keys import LUA_NAMES

__all__ = [
    "ADD",
    "CLAIM",
    "COMMIT",
    "FINISH",
    "GIVE_UP",
    "RECORD_SEND",
    "REGISTER",
    "RELEASE",
    "RENEW",
    "RESTORE",
    "SCAN",
]

#: A worker whose heartbeat ran out this many leases ago is removed from the fleet's
#: list (and from ``status``) by the next renewal of any worker.
PRUNE_LEASES = 3

_PRELUDE = (
    LUA_NAMES
    + f"local PRUNE_LEASES = {PRUNE_LEASES}\n"
    + """-- Expire key in ms from now, unless it already lives longer (a new key has no expiry).
local function keep(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
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
-- The chat's hash (and the leases) then live retain past the reservation.
local function hand(P, leases, cid, key, now, target, reserve, retain)
  redis.call('HSET', key, 'owner', '', 'reserved', target)
  if target == '' then
    redis.call('ZADD', leases, 0, cid)
  else
    redis.call('ZADD', leases, now + reserve, cid)
    local inbox = inbox_key(P, target)
    redis.call('RPUSH', inbox, cid)
    -- Renewed with the target's heartbeat: gone a lease after the target died.
    local wttl = tonumber(redis.call('HGET', worker_key(P, target), 'ttl') or '') or 0
    keep(inbox, wttl > 0 and wttl or reserve)
  end
  redis.call('PEXPIRE', key, reserve + retain)
  keep(leases, reserve + retain)
end
local function note(P, op, cid, worker, other, token, now, retain)
  redis.call('XADD', P .. 'log', 'MAXLEN', '~', 100000, '*', 'op', op, 'chat', cid,
             'worker', worker, 'other', other, 'token', token, 'at', now)
  keep(P .. 'log', retain)
end
"""
)

#: KEYS: chat, leases, workers, stats. ARGV: prefix, cid, saved, base, now, reserve_ms,
#: retention_ms, protocol ('webchat' or 'messaging'; a record without it is Web Chat v2).
ADD = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', ''} end
local P, cid = ARGV[1], ARGV[2]
local now = now_ms(ARGV[5])
redis.call('HSET', KEYS[1], 'saved', ARGV[3], 'base', ARGV[4], 'token', 0, 'pos', '',
           'out', '[]', 'pev', '', 'psends', '[]', 'proto', ARGV[8] or 'webchat')
local target = pick(P, KEYS[3], now, '')
local retain = tonumber(ARGV[7])
hand(P, KEYS[2], cid, KEYS[1], now, target, tonumber(ARGV[6]), retain)
redis.call('HINCRBY', KEYS[4], 'added', 1)
keep(KEYS[4], retain)
return {'ok', target}
"""
)

#: KEYS: workers, worker, epoch. ARGV: worker, now, ttl_ms, concurrency, host, pid,
#: retention_ms, a new epoch. Returns the store's epoch: the marker of its state, set by
#: the first worker; a Redis that restarted empty has none, and the next worker sets a new
#: one (see RESTORE).
REGISTER = (
    _PRELUDE
    + """
local now = now_ms(ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], 'concurrency', ARGV[4], 'host', ARGV[5], 'pid', ARGV[6],
           'ttl', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
keep(KEYS[1], tonumber(ARGV[7]))
redis.call('SET', KEYS[3], ARGV[8], 'NX')
keep(KEYS[3], tonumber(ARGV[3]) + tonumber(ARGV[7]))
return redis.call('GET', KEYS[3])
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

#: KEYS: chat, leases, stats. ARGV: prefix, cid, worker, now, ttl_ms, retention_ms.
CLAIM = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- Finished, or expired after retention: no scan should offer it again.
  redis.call('ZREM', KEYS[2], ARGV[2])
  return {'gone'}
end
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'owner', 'token', 'reserved', 'saved', 'base', 'pos',
                     'out', 'pev', 'psends', 'fsince', 'proto')
local owner, reserved = h[1] or '', h[3] or ''
local expires = tonumber(redis.call('ZSCORE', KEYS[2], cid) or '0')
-- Its own lease that ran out (the worker lost the chat locally, e.g. the store was out of
-- reach for longer than a lease) is claimed again, with a new token, like anyone's.
if owner == me and expires > now then return {'held'} end
if expires > now and not (owner == '' and reserved == me) then return {'busy'} end
local token = tonumber(h[2] or '0') + 1
local ttl, retain = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'owner', me, 'token', token, 'reserved', '')
redis.call('PEXPIRE', KEYS[1], ttl + retain)
redis.call('ZADD', KEYS[2], now + ttl, cid)
keep(KEYS[2], ttl + retain)
if owner ~= '' then
  redis.call('SREM', owned_key(P, owner), cid)
  redis.call('HINCRBY', KEYS[3], 'takeovers', 1)
end
local owned = owned_key(P, me)
redis.call('SADD', owned, cid)
keep(owned, ttl)
redis.call('HINCRBY', KEYS[3], 'claims', 1)
keep(KEYS[3], ttl + retain)
note(P, 'claim', cid, me, owner, token, now, ttl + retain)
local failing = ''
if h[10] and h[10] ~= '' then failing = tostring(now - tonumber(h[10])) end
return {'ok', token, h[4] or '', h[5] or '', h[6] or '', h[7] or '[]', h[8] or '',
        h[9] or '[]', owner, failing, h[11] or ''}
"""
)

#: KEYS: workers, leases, epoch. ARGV: prefix, worker, now, ttl_ms, retention_ms, the epoch
#: the worker registered under, then cid, token pairs. Returns {'ok', lost cid...}, or
#: {'reset'} (nothing written) when the store's epoch is not the worker's: the store lost
#: its state.
RENEW = (
    _PRELUDE
    + """
local P, me = ARGV[1], ARGV[2]
-- No epoch: a caller that did not register through this store (nothing to compare).
if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[6] then return {'reset'} end
local now = now_ms(ARGV[3])
local ttl, retain = tonumber(ARGV[4]), tonumber(ARGV[5])
keep(KEYS[3], ttl + retain)
redis.call('ZADD', KEYS[1], now + ttl, me)
keep(KEYS[1], ttl + retain)
-- Workers not heard of for PRUNE_LEASES leases (this one's) are dead: out of `status`.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - PRUNE_LEASES * ttl))
-- The worker's own keys live one lease past this heartbeat (PEXPIRE: a no-op on a key
-- that does not exist).
redis.call('PEXPIRE', worker_key(P, me), ttl)
redis.call('PEXPIRE', owned_key(P, me), ttl)
redis.call('PEXPIRE', inbox_key(P, me), ttl)
local lost = {'ok'}
for i = 7, #ARGV, 2 do
  local cid, token = ARGV[i], ARGV[i + 1]
  local key = chat_key(P, cid)
  local h = redis.call('HMGET', key, 'owner', 'token')
  if h[1] == me and h[2] == token then
    redis.call('ZADD', KEYS[2], now + ttl, cid)
    redis.call('PEXPIRE', key, ttl + retain)
  else
    table.insert(lost, cid)
  end
end
if #ARGV >= 7 then keep(KEYS[2], ttl + retain) end
return lost
"""
)

#: KEYS: chat, leases. ARGV: cid, token, event key, index, body, now, margin_ms.
#: Returns 1, 0 (token no longer current), -1 (too little of the lease left) or -2 (no such
#: chat: finished, or the store lost its state). The token alone names the lease (a claim
#: always makes a new one); a released chat has no owner.
RECORD_SEND = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
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
#: handler raised), retention_ms, then for each commit five values: cid, token, saved,
#: position, outstanding (JSON); an empty saved keeps the one stored (a Web Messaging
#: chat's record does not change between commits). Returns one character per commit: '1'
#: written, '0' the token is no longer current, '2' no such chat (finished, or the store
#: lost its state) (one string: an array of numbers costs the client a parse per element).
#: Many commits in one script: a pipeline of one script per commit cost the client more
#: than the events (each command packed and its answer parsed on its own); each commit is
#: still checked against its own token, and the whole script is one atomic step.
COMMIT = (
    _PRELUDE
    + """
local P, flags = ARGV[1], ARGV[4]
local ttl, retain = tonumber(ARGV[3]), tonumber(ARGV[5])
local expires = now_ms(ARGV[2]) + ttl
local answers, handled, failed = {}, 0, 0
for i = 6, #ARGV, 5 do
  local cid = ARGV[i]
  local key = chat_key(P, cid)
  local h = redis.call('HMGET', key, 'owner', 'token')
  if not h[2] then
    table.insert(answers, '2')
  elseif not h[1] or h[1] == '' or h[2] ~= ARGV[i + 1] then
    table.insert(answers, '0')
  else
    redis.call('HSET', key, 'pos', ARGV[i + 3], 'out', ARGV[i + 4], 'pev', '',
               'psends', '[]', 'fsince', '')
    if ARGV[i + 2] ~= '' then redis.call('HSET', key, 'saved', ARGV[i + 2]) end
    redis.call('PEXPIRE', key, ttl + retain)
    redis.call('ZADD', KEYS[1], expires, cid)
    handled = handled + 1
    if string.byte(flags, #answers + 1) == 49 then failed = failed + 1 end  -- '1'
    table.insert(answers, '1')
  end
end
if handled > 0 then
  redis.call('HINCRBY', KEYS[2], 'handled', handled)
  keep(KEYS[1], ttl + retain)
  keep(KEYS[2], ttl + retain)
end
if failed > 0 then redis.call('HINCRBY', KEYS[2], 'handler_errors', failed) end
return table.concat(answers)
"""
)

#: KEYS: chat, leases, workers, stats. ARGV: prefix, cid, worker, token, now, reserve_ms,
#: retention_ms, failed ('1': not resumed or streamed here; the first such release after
#: a commit notes the time in 'fsince').
RELEASE = (
    _PRELUDE
    + """
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if not h[2] then return {'gone', ''} end
if h[1] ~= me or h[2] ~= ARGV[4] then return {'lost', ''} end
redis.call('SREM', owned_key(P, me), cid)
local now = now_ms(ARGV[5])
if ARGV[8] == '1' and (redis.call('HGET', KEYS[1], 'fsince') or '') == '' then
  redis.call('HSET', KEYS[1], 'fsince', now)
end
local target = pick(P, KEYS[3], now, me)
local reserve, retain = tonumber(ARGV[6]), tonumber(ARGV[7])
hand(P, KEYS[2], cid, KEYS[1], now, target, reserve, retain)
redis.call('HINCRBY', KEYS[4], 'handovers', 1)
keep(KEYS[4], reserve + retain)
note(P, 'release', cid, me, target, ARGV[4], now, reserve + retain)
return {'ok', target}
"""
)

#: KEYS: chat, leases, stats. ARGV: prefix, cid, worker, token, now, retention_ms.
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
keep(KEYS[3], tonumber(ARGV[6]))
note(P, 'finish', cid, me, '', ARGV[4], now_ms(ARGV[5]), tonumber(ARGV[6]))
return 1
"""
)

#: KEYS: workers, leases, epoch, worker, owned, stats. ARGV: prefix, worker, now, ttl_ms,
#: retention_ms, the epoch the worker knows, a new epoch, concurrency, host, pid, then per
#: chat nine values: cid, token, saved, base, position, outstanding (JSON), pending event
#: key, pending sends (JSON), protocol. When the store's epoch is the worker's, nothing happened:
#: returns {'same'}. Otherwise (the store lost its state) it adopts the store's epoch (or
#: sets the new one), registers the worker again and writes back each chat unless the
#: store has it under a newer token (another worker wrote it back, or took it since):
#: returns {'restored', epoch, cid...}.
RESTORE = (
    _PRELUDE
    + """
local P, me = ARGV[1], ARGV[2]
local current = redis.call('GET', KEYS[3])
if current == ARGV[6] then return {'same'} end
local now = now_ms(ARGV[3])
local ttl, retain = tonumber(ARGV[4]), tonumber(ARGV[5])
if not current then
  redis.call('SET', KEYS[3], ARGV[7])
  current = ARGV[7]
end
keep(KEYS[3], ttl + retain)
redis.call('ZADD', KEYS[1], now + ttl, me)
keep(KEYS[1], ttl + retain)
redis.call('HSET', KEYS[4], 'concurrency', ARGV[8], 'host', ARGV[9], 'pid', ARGV[10],
           'ttl', ARGV[4])
redis.call('PEXPIRE', KEYS[4], ttl)
local written = {'restored', current}
for i = 11, #ARGV, 9 do
  local cid, token = ARGV[i], ARGV[i + 1]
  local key = chat_key(P, cid)
  local h = redis.call('HMGET', key, 'owner', 'token')
  local theirs = tonumber(h[2] or '-1') or -1
  local mine = tonumber(token)
  if theirs < mine or (theirs == mine and h[1] == me) then
    redis.call('HSET', key, 'saved', ARGV[i + 2], 'base', ARGV[i + 3], 'owner', me,
               'token', token, 'reserved', '', 'pos', ARGV[i + 4], 'out', ARGV[i + 5],
               'pev', ARGV[i + 6], 'psends', ARGV[i + 7], 'proto', ARGV[i + 8])
    redis.call('PEXPIRE', key, ttl + retain)
    redis.call('ZADD', KEYS[2], now + ttl, cid)
    redis.call('SADD', KEYS[5], cid)
    table.insert(written, cid)
  end
end
if #written > 2 then
  keep(KEYS[2], ttl + retain)
  keep(KEYS[5], ttl)
  redis.call('HINCRBY', KEYS[6], 'restored', #written - 2)
  keep(KEYS[6], ttl + retain)
end
note(P, 'restore', '', me, '', #written - 2, now, ttl + retain)
return written
"""
)

#: KEYS: chat, leases, stats, given up (stream). ARGV: prefix, cid, worker, token, now,
#: retention_ms, reason. FINISH, plus the reason kept in a capped stream for `status`.
GIVE_UP = (
    _PRELUDE
    + """
local P, cid, me = ARGV[1], ARGV[2], ARGV[3]
local h = redis.call('HMGET', KEYS[1], 'owner', 'token')
if h[1] ~= me or h[2] ~= ARGV[4] then return 0 end
local now = now_ms(ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], cid)
redis.call('SREM', owned_key(P, me), cid)
redis.call('HINCRBY', KEYS[3], 'finished', 1)  -- removed, as by FINISH
redis.call('HINCRBY', KEYS[3], 'given_up', 1)
keep(KEYS[3], tonumber(ARGV[6]))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 1000, '*', 'chat', cid, 'reason', ARGV[7],
           'worker', me, 'at', now)
keep(KEYS[4], tonumber(ARGV[6]))
note(P, 'give_up', cid, me, '', ARGV[4], now, tonumber(ARGV[6]))
return 1
"""
)
