/**
 * The Lua scripts of the Redis backend: each store operation is one script, so it is atomic
 * and a retried call (after a reconnection) is idempotent. Keys (docs/QUEUE.md) all carry the
 * `{prefix}` hash tag. Ids are hex; times are the caller's `now` (ms), never Redis' clock, so
 * the backend runs in the conformance suite's virtual time.
 */

/** Helpers every script starts with. */
const PRELUDE = `
local p = ARGV[1]
local function k(a, b) if b then return p .. ':' .. a .. ':' .. b end return p .. ':' .. a end
local function num(v) return tonumber(v or '0') or 0 end
-- Removes entry id (hash m) from its recipient's queue or dead letters, and its usage.
local function remove(id, m)
  local r, dead, size = m[1], m[2] == '1', m[3]
  redis.call('DEL', k('m', id), k('b', id))
  redis.call('ZREM', k('exp'), id)
  if dead then
    redis.call('ZREM', k('d', r), id)
    redis.call('HINCRBY', k('use', r), 'dead', -1)
  else
    redis.call('ZREM', k('q', r), id)
    redis.call('HINCRBY', k('use', r), 'messages', -1)
  end
  redis.call('HINCRBY', k('use', r), 'bytes', -size)
end
local function meta(id) return redis.call('HMGET', k('m', id), 'r', 'dead', 'size') end
-- Attempts as sqlite.ts counts them: the recipient's 'sent' is the highest position ever handed
-- out; an entry at or below it was handed out once more than its field 'a' says.
local function sent(r) return num(redis.call('HGET', k('use', r), 'sent')) end
local function attempts(m, pos, mark) return num(m) + (num(pos) <= mark and 1 or 0) end
-- One command for many arguments (in slices that fit Lua's stack): ZADD, ZREM, HSET of a batch.
local function many(cmd, key, args)
  for i = 1, #args, 4000 do redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args))) end
end
`;

/**
 * ARGV: prefix, quota messages, quota bytes, n, then n × (id, recipient, type, payload, created, expires). → pos | -1 | -2
 * Per new entry one HGET (is the id stored?) and one HSET; the queue and expiry sets, counters
 * and position of each recipient are written once per batch.
 */
export const PUT = `${PRELUDE}
local qm, qb, n = num(ARGV[2]), num(ARGV[3]), num(ARGV[4])
local out, rs = {}, {}
for i = 0, n - 1 do
  local b = 5 + i * 6
  local id, r, payload = ARGV[b], ARGV[b + 1], ARGV[b + 3]
  local pos = redis.call('HGET', k('m', id), 'pos')
  if pos then
    out[#out + 1] = num(pos)
  else
    local st = rs[r]
    if not st then
      local u = redis.call('HMGET', k('use', r), 'messages', 'dead', 'bytes')
      st = { m = num(u[1]), d = num(u[2]), b = num(u[3]), seq = num(redis.call('GET', k('seq', r))), q = {}, x = {}, added = 0, bytes = 0 }
      rs[r] = st
    end
    local size = string.len(payload)
    if st.m + st.d + 1 > qm then
      out[#out + 1] = -1
    elseif st.b + size > qb then
      out[#out + 1] = -2
    else
      st.seq = st.seq + 1
      pos = st.seq
      redis.call('HSET', k('m', id), 'r', r, 'pos', pos, 'type', ARGV[b + 2], 'size', size,
        'c', ARGV[b + 4], 'x', ARGV[b + 5], 'a', 0, 'dead', 0)
      redis.call('SET', k('b', id), payload)
      st.q[#st.q + 1] = pos
      st.q[#st.q + 1] = id
      st.x[#st.x + 1] = ARGV[b + 5]
      st.x[#st.x + 1] = id
      st.m, st.b, st.added, st.bytes = st.m + 1, st.b + size, st.added + 1, st.bytes + size
      out[#out + 1] = pos
    end
  end
end
for r, st in pairs(rs) do
  if st.added > 0 then
    redis.call('SET', k('seq', r), st.seq)
    many('ZADD', k('q', r), st.q)
    many('ZADD', k('exp'), st.x)
    redis.call('HINCRBY', k('use', r), 'messages', st.added)
    redis.call('HINCRBY', k('use', r), 'bytes', st.bytes)
    redis.call('SADD', k('rcpts'), r)
  end
end
return out
`;

/**
 * ARGV: prefix, recipient, owner, after, max, leaseMs, maxAttempts, now.
 * → { held, entries (id, pos, type, payload, created, expires, attempts)…, expired ids, dead ids }
 */
export const LEASE = `${PRELUDE}
local r, owner, after, max, leaseMs, maxAttempts, now = ARGV[2], ARGV[3], num(ARGV[4]), num(ARGV[5]), num(ARGV[6]), num(ARGV[7]), num(ARGV[8])
local lk = k('lease', r)
local cur = redis.call('HMGET', lk, 'owner', 'until')
if cur[1] and cur[1] ~= owner and num(cur[2]) > now then return {0, {}, {}, {}} end
redis.call('HSET', lk, 'owner', owner, 'until', now + leaseMs)
local entries, expired, dead, got = {}, {}, {}, 0
local mark, top = sent(r), 0
while got < max do
  local ids = redis.call('ZRANGEBYSCORE', k('q', r), '(' .. after, '+inf', 'LIMIT', 0, max - got)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local m = redis.call('HMGET', k('m', id), 'r', 'dead', 'size', 'pos', 'type', 'c', 'x', 'a')
    after = num(m[4])
    local handed = attempts(m[8], after, mark)
    if num(m[7]) <= now then
      remove(id, m)
      expired[#expired + 1] = id
    elseif handed >= maxAttempts then
      redis.call('HSET', k('m', id), 'dead', 1)
      redis.call('ZREM', k('q', r), id)
      redis.call('ZADD', k('d', r), m[4], id)
      redis.call('HINCRBY', k('use', r), 'messages', -1)
      redis.call('HINCRBY', k('use', r), 'dead', 1)
      dead[#dead + 1] = id
    else
      -- Only an entry handed out again is written; a first hand-out just moves the mark.
      if after <= mark then redis.call('HINCRBY', k('m', id), 'a', 1) end
      top = after
      for _, v in ipairs({id, m[4], m[5], false, m[6], m[7], handed + 1}) do entries[#entries + 1] = v end
      got = got + 1
    end
  end
end
-- The payloads with one MGET per slice (4th of each 7 fields).
local keys = {}
for i = 1, #entries, 7 do keys[#keys + 1] = k('b', entries[i]) end
for s = 1, #keys, 4000 do
  local vals = redis.call('MGET', unpack(keys, s, math.min(s + 3999, #keys)))
  for j, v in ipairs(vals) do entries[(s + j - 2) * 7 + 4] = v end
end
if top > mark then redis.call('HSET', k('use', r), 'sent', top) end
return {1, entries, expired, dead}
`;

/** ARGV: prefix, recipient, ids… → removed ids. Per id one HMGET; the DEL of the keys, the sets and counters once. */
export const ACK = `${PRELUDE}
local r = ARGV[2]
local out, q, d = {}, {}, {}
local nq, nd, bytes = 0, 0, 0
local keys, done = {}, {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local m = done[id] and {} or meta(id)
  if m[1] == r then
    done[id] = true
    keys[#keys + 1] = k('m', id)
    keys[#keys + 1] = k('b', id)
    if m[2] == '1' then d[#d + 1] = id else q[#q + 1] = id end
    bytes = bytes + num(m[3])
    out[#out + 1] = id
  end
end
if #out > 0 then
  for c = 1, #keys, 4000 do redis.call('DEL', unpack(keys, c, math.min(c + 3999, #keys))) end
  many('ZREM', k('exp'), out)
  if #q > 0 then many('ZREM', k('q', r), q); redis.call('HINCRBY', k('use', r), 'messages', -#q) end
  if #d > 0 then many('ZREM', k('d', r), d); redis.call('HINCRBY', k('use', r), 'dead', -#d) end
  redis.call('HINCRBY', k('use', r), 'bytes', -bytes)
end
return out
`;

/** ARGV: prefix, recipient, owner */
export const RELEASE = `${PRELUDE}
if redis.call('HGET', k('lease', ARGV[2]), 'owner') == ARGV[3] then redis.call('DEL', k('lease', ARGV[2])) end
return 0
`;

/** ARGV: prefix, now, limit → { recipient, id, recipient, id, … }, seen ids pruned */
export const SWEEP = `${PRELUDE}
local now, limit = ARGV[2], num(ARGV[3])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k('exp'), '-inf', now, 'LIMIT', 0, limit)) do
  local m = meta(id)
  if m[1] then
    remove(id, m)
    out[#out + 1] = m[1]
    out[#out + 1] = id
  else
    redis.call('ZREM', k('exp'), id)
  end
end
local old = redis.call('ZRANGEBYSCORE', k('seenexp'), '-inf', now, 'LIMIT', 0, limit)
for _, key in ipairs(old) do
  local sep = string.find(key, '|', 1, true)
  local sender, id = string.sub(key, 1, sep - 1), string.sub(key, sep + 1)
  redis.call('HDEL', k('seen', sender), id)
  redis.call('HINCRBY', k('snd', sender), 'count', -1)
  redis.call('ZREM', k('seenexp'), key)
end
return {out, #old}
`;

/** ARGV: prefix, recipient or '' (all) → { messages, bytes, dead } */
export const USAGE = `${PRELUDE}
local rs = ARGV[2] == '' and redis.call('SMEMBERS', k('rcpts')) or {ARGV[2]}
local t = {0, 0, 0}
for _, r in ipairs(rs) do
  local u = redis.call('HMGET', k('use', r), 'messages', 'bytes', 'dead')
  for i = 1, 3 do t[i] = t[i] + num(u[i]) end
end
return t
`;

/** ARGV: prefix → recipients with pending entries (forgets those with none left) */
export const RECIPIENTS = `${PRELUDE}
local out = {}
for _, r in ipairs(redis.call('SMEMBERS', k('rcpts'))) do
  local u = redis.call('HMGET', k('use', r), 'messages', 'dead')
  if num(u[1]) > 0 then out[#out + 1] = r elseif num(u[2]) == 0 then redis.call('SREM', k('rcpts'), r) end
end
return out
`;

/** ARGV: prefix, recipient or '', 'q' | 'd', limit → { id, recipient, pos, type, size, created, expires, attempts, dead }… */
export const LIST = `${PRELUDE}
local rs = ARGV[2] == '' and redis.call('SMEMBERS', k('rcpts')) or {ARGV[2]}
table.sort(rs)
local limit, out, n = num(ARGV[4]), {}, 0
for _, r in ipairs(rs) do
  local mark = sent(r)
  for _, id in ipairs(redis.call('ZRANGE', k(ARGV[3], r), 0, limit - n - 1)) do
    local m = redis.call('HMGET', k('m', id), 'r', 'pos', 'type', 'size', 'c', 'x', 'a', 'dead')
    m[7] = attempts(m[7], m[2], mark)
    out[#out + 1] = id
    for i = 1, 8 do out[#out + 1] = m[i] end
    n = n + 1
  end
  if n >= limit then break end
end
return out
`;

/** ARGV: prefix, recipient, ids… or none (all dead letters) → count revived */
export const RETRY = `${PRELUDE}
local r = ARGV[2]
local ids = {}
if #ARGV > 2 then for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end else ids = redis.call('ZRANGE', k('d', r), 0, -1) end
local n = 0
for _, id in ipairs(ids) do
  local m = redis.call('HMGET', k('m', id), 'r', 'dead', 'pos')
  if m[1] == r and m[2] == '1' then
    redis.call('HSET', k('m', id), 'dead', 0, 'a', num(m[3]) <= sent(r) and -1 or 0)
    redis.call('ZREM', k('d', r), id)
    redis.call('ZADD', k('q', r), m[3], id)
    redis.call('HINCRBY', k('use', r), 'dead', -1)
    redis.call('HINCRBY', k('use', r), 'messages', 1)
    n = n + 1
  end
end
return n
`;

/** ARGV: prefix, id → { r, pos, type, size, created, expires, attempts, dead }, payload (one script: both or neither) */
export const GET = `${PRELUDE}
local m = redis.call('HMGET', k('m', ARGV[2]), 'r', 'pos', 'type', 'size', 'c', 'x', 'a', 'dead')
if m[1] then m[7] = attempts(m[7], m[2], sent(m[1])) end
return {m, redis.call('GET', k('b', ARGV[2]))}
`;

/** ARGV: prefix, recipient, 'q' | 'd' → count removed */
export const PURGE = `${PRELUDE}
local ids = redis.call('ZRANGE', k(ARGV[3], ARGV[2]), 0, -1)
for _, id in ipairs(ids) do remove(id, meta(id)) end
return #ids
`;

/**
 * ARGV: prefix, max seen per sender, n, then n × (sender, epoch, id, pos, prev, keepUntil).
 * → 'new' | 'redeliver' | 'duplicate' | 'gap' | 'full' each. Per sender and batch one HMGET
 * (which ids are seen), and the seen hash, expiry set and sender state written once.
 */
export const ACCEPT = `${PRELUDE}
local maxSeen, n = num(ARGV[2]), num(ARGV[3])
local out, ss = {}, {}
for i = 0, n - 1 do
  local b = 4 + i * 6
  local sender, epoch, id, pos, prev = ARGV[b], ARGV[b + 1], ARGV[b + 2], num(ARGV[b + 3]), num(ARGV[b + 4])
  local s = ss[sender]
  if not s then
    local row = redis.call('HMGET', k('snd', sender), 'epoch', 'last', 'count')
    s = { epoch = row[1], last = num(row[2]), count = num(row[3]), added = 0, seen = {}, fresh = {}, exp = {}, known = {} }
    -- Which of this sender's ids in the batch are in the seen set: one HMGET for all of them.
    local ids = {}
    for j = 0, n - 1 do if ARGV[4 + j * 6] == sender then ids[#ids + 1] = ARGV[4 + j * 6 + 2] end end
    for c = 1, #ids, 4000 do
      local hs = redis.call('HMGET', k('seen', sender), unpack(ids, c, math.min(c + 3999, #ids)))
      for j = 1, #hs do if hs[j] then s.known[ids[c + j - 1]] = hs[j] end end
    end
    ss[sender] = s
  end
  local h = s.fresh[id] and '0' or s.known[id]
  if h then
    out[#out + 1] = h == '1' and 'duplicate' or 'redeliver'
  else
    local last = s.epoch == epoch and s.last or 0
    if prev ~= 0 and prev > last then
      out[#out + 1] = 'gap'
    elseif s.count >= maxSeen then
      out[#out + 1] = 'full'
    else
      s.fresh[id] = true
      s.seen[#s.seen + 1] = id
      s.seen[#s.seen + 1] = 0
      s.exp[#s.exp + 1] = ARGV[b + 5]
      s.exp[#s.exp + 1] = sender .. '|' .. id
      s.epoch, s.last, s.count, s.added = epoch, pos, s.count + 1, s.added + 1
      out[#out + 1] = 'new'
    end
  end
end
for sender, s in pairs(ss) do
  if s.added > 0 then
    many('HSET', k('seen', sender), s.seen)
    many('ZADD', k('seenexp'), s.exp)
    redis.call('HSET', k('snd', sender), 'epoch', s.epoch, 'last', s.last)
    redis.call('HINCRBY', k('snd', sender), 'count', s.added)
  end
end
return out
`;

/** ARGV: prefix, then (sender, id) pairs. Per sender one HMGET (which ids are still in the set) and one HSET. */
export const HANDLED = `${PRELUDE}
local by = {}
for i = 2, #ARGV, 2 do
  local l = by[ARGV[i]] or {}
  by[ARGV[i]] = l
  l[#l + 1] = ARGV[i + 1]
end
for sender, ids in pairs(by) do
  local marks = {}
  for c = 1, #ids, 4000 do
    local hs = redis.call('HMGET', k('seen', sender), unpack(ids, c, math.min(c + 3999, #ids)))
    for j = 1, #hs do
      if hs[j] then
        marks[#marks + 1] = ids[c + j - 1]
        marks[#marks + 1] = 1
      end
    end
  end
  many('HSET', k('seen', sender), marks)
end
return 0
`;
