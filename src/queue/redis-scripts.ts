/**
 * The Lua scripts of the Redis backend: each store operation is one script, so it is atomic
 * and a retried call (after a reconnection) is idempotent. Keys (docs/QUEUE.md, "Redis") all
 * carry the `{prefix}` hash tag. Times are the caller's `now` (ms), never Redis' clock, so the
 * backend runs in the conformance suite's virtual time.
 *
 * Layout 3: a recipient's entries live in a few keys of that recipient (a hash of entries by
 * position, a hash of positions by id), so a batch of n entries is a handful of commands with n
 * members each, not n commands. Positions are handed out in order and never reused, so the FIFO
 * is the entry hash itself read upwards from the recipient's `head` (no sorted set of pending
 * positions), and expiry is kept per block of BLOCK positions (one sorted-set member and one
 * counter per block, not per entry). An entry is one string, written by the client: a fixed
 * header (HEADER_BYTES, redis.ts) then the payload.
 */

/** The layout the scripts below read and write; `{p}:layout` holds it. */
export const LAYOUT = '3';

/** Helpers every script starts with. */
const PRELUDE = `
local p = ARGV[1]
local function k(a, b) if b then return p .. ':' .. a .. ':' .. b end return p .. ':' .. a end
local function num(v) return tonumber(v or '0') or 0 end
-- The entry header (redis.ts): id (16 bytes), expiry (15 digits), creation (15), type (3).
local HEAD = 49
local function eid(e) return string.sub(e, 1, 16) end
local function expiry(e) return tonumber(string.sub(e, 17, 31)) end
-- Expiry is kept per block of this many positions: {p}:x:r member 'b<n>' (score: the earliest
-- expiry in block n), {p}:xc:r field n (entries stored in it). Positions below the recipient's
-- 'x3' were stored by layout 2 and have a member of their own (the position).
local BLOCK = 128
local function block(pos) return math.floor((pos - 1) / BLOCK) end
-- One command for many arguments, in slices that fit Lua's stack; returns the sum of the replies.
local function many(cmd, key, args)
  local n = 0
  for i = 1, #args, 4000 do n = n + redis.call(cmd, key, unpack(args, i, math.min(i + 3999, #args))) end
  return n
end
-- The same, reading (HMGET, ZMSCORE): the replies of all slices in one list.
local function fetch(cmd, key, fields)
  local out = {}
  for i = 1, #fields, 4000 do
    local part = redis.call(cmd, key, unpack(fields, i, math.min(i + 3999, #fields)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end
local function hmget(key, fields) return fetch('HMGET', key, fields) end
-- The lowest pending position of r is at or above its head (a lower bound, moved up lazily).
local function headOf(v) return math.max(num(v), 1) end
-- Up to \`want\` pending entries of r (stored, not dead) above position \`from\`, in order, read in
-- slices that double while they find holes: positions, entries, and the last position looked at.
local function scan(r, from, want, seq, anyDead)
  local ps, es, span = {}, {}, want
  while #ps < want and from < seq do
    local cand = {}
    for q = 1, math.min(seq - from, span) do cand[q] = tostring(from + q) end
    local got = hmget(k('e', r), cand)
    local dead = anyDead and fetch('ZMSCORE', k('dl', r), cand) or {}
    for j = 1, #cand do
      from = from + 1
      if got[j] and not dead[j] then
        ps[#ps + 1] = cand[j]; es[#es + 1] = got[j]
        if #ps == want then break end
      end
    end
    span = math.min(span * 2, 4000)
  end
  return ps, es, from
end
-- The oldest \`limit\` entries of r in a state ('o': pending, 'dl': dead): positions, entries.
local function oldest(r, state, limit)
  if state == 'dl' then
    local ps = redis.call('ZRANGE', k('dl', r), 0, limit - 1)
    return ps, hmget(k('e', r), ps)
  end
  local u = redis.call('HMGET', k('u', r), 'head', 'seq', 'dead')
  local ps, es = scan(r, headOf(u[1]) - 1, limit, num(u[2]), num(u[3]) > 0)
  return ps, es
end
-- Removes the entries at positions ps of recipient r, pending or dead (ids, payload bytes).
local function drop(r, ps, ids, bytes)
  if #ps == 0 then return end
  local u = k('u', r)
  local st = redis.call('HMGET', u, 'head', 'x3', 'dead')
  local head, x3 = headOf(st[1]), num(st[2])
  many('HDEL', k('e', r), ps)
  many('HDEL', k('i', r), ids)
  -- Attempts are written only for entries handed out again: usually there is nothing to delete.
  if redis.call('EXISTS', k('a', r)) == 1 then many('HDEL', k('a', r), ps) end
  local nd = 0
  if num(st[3]) > 0 then nd = many('ZREM', k('dl', r), ps) end
  local nq = #ps - nd
  local gone, counts, legacy = {}, {}, {}
  for _, p in ipairs(ps) do
    local pos = tonumber(p)
    gone[pos] = true
    if pos < x3 then legacy[#legacy + 1] = p else
      local b = block(pos)
      counts[b] = (counts[b] or 0) + 1
    end
  end
  if #legacy > 0 then many('ZREM', k('x', r), legacy) end
  for b, n in pairs(counts) do
    if redis.call('HINCRBY', k('xc', r), b, -n) <= 0 then
      redis.call('HDEL', k('xc', r), b)
      redis.call('ZREM', k('x', r), 'b' .. b)
    end
  end
  -- The head moves over a run of removed positions that starts at it.
  if gone[head] then
    while gone[head] do head = head + 1 end
    redis.call('HSET', u, 'head', head)
  end
  if nq > 0 then redis.call('HINCRBY', u, 'messages', -nq) end
  if nd > 0 then redis.call('HINCRBY', u, 'dead', -nd) end
  redis.call('HINCRBY', u, 'bytes', -bytes)
end
-- Drops entries given as (position, entry) lists: returns their ids.
local function dropEntries(r, ps, es)
  local ids, bytes = {}, 0
  for j = 1, #ps do
    ids[j] = eid(es[j])
    bytes = bytes + #es[j] - HEAD
  end
  drop(r, ps, ids, bytes)
  return ids
end
-- Attempts as sqlite.ts counts them: the recipient's 'sent' is the highest position ever handed
-- out; an entry at or below it was handed out once more than its field in {p}:a:r says.
local function attempts(extra, pos, mark) return num(extra) + (pos <= mark and 1 or 0) end
`;

/**
 * ARGV: prefix, new epoch (hex). → { 'ok', epoch } | { 'layout', value } | { 'old' }.
 * A prefix with layout-1 entries ({p}:exp) is refused; one without entries is taken over
 * under a new epoch (its positions start again from 1). A layout-2 prefix is migrated in place:
 * per recipient, its lowest pending position becomes the head, the sorted set of pending
 * positions is deleted (UNLINK: freed in the background), and 'x3' marks the positions whose
 * expiry members are layout 2's own (one per entry), which the scripts keep reading.
 */
export const OPEN = `${PRELUDE}
local layout = redis.call('GET', k('layout'))
if layout == '${LAYOUT}' then return {'ok', redis.call('GET', k('epoch'))} end
if layout == '2' then
  for _, r in ipairs(redis.call('SMEMBERS', k('rc'))) do
    local u = k('u', r)
    local seq = num(redis.call('HGET', u, 'seq'))
    local first = redis.call('ZRANGE', k('o', r), 0, 0)[1]
    redis.call('HSET', u, 'head', first or seq + 1, 'x3', seq + 1)
    redis.call('UNLINK', k('o', r))
  end
  redis.call('SET', k('layout'), '${LAYOUT}')
  return {'ok', redis.call('GET', k('epoch'))}
end
if layout then return {'layout', layout} end
if redis.call('EXISTS', k('exp')) == 1 then return {'old'} end
redis.call('SET', k('epoch'), ARGV[2])
redis.call('SET', k('layout'), '${LAYOUT}')
return {'ok', ARGV[2]}
`;

/**
 * ARGV: prefix, quota messages, quota bytes, then per recipient: r, n, n entries (the id and the
 * expiry are in the entry's header). → pos | -1 (messages) | -2 (bytes) per entry, in order. Per
 * recipient one HMGET (which ids are stored) and one HMGET of its counters; then one HSET, HSET,
 * then per block of positions touched one HINCRBY and one ZADD.
 */
export const PUT = `${PRELUDE}
local qm, qb = num(ARGV[2]), num(ARGV[3])
local out = {}
local b = 4
while b <= #ARGV do
  local r, n = ARGV[b], num(ARGV[b + 1])
  local ids = {}
  for j = 1, n do ids[j] = eid(ARGV[b + 1 + j]) end
  local known = hmget(k('i', r), ids)
  local u = redis.call('HMGET', k('u', r), 'messages', 'dead', 'bytes', 'seq')
  local m, d, used, seq = num(u[1]), num(u[2]), num(u[3]), num(u[4])
  local added, bytes, fresh = 0, 0, {}
  local es, is, blocks = {}, {}, {}
  for j = 1, n do
    local id, e = ids[j], ARGV[b + 1 + j]
    local have = known[j] or fresh[id]
    if have then
      out[#out + 1] = tonumber(string.match(have, '^%d+'))
    else
      local size = #e - HEAD
      if m + d + 1 > qm then
        out[#out + 1] = -1
      elseif used + size > qb then
        out[#out + 1] = -2
      else
        seq = seq + 1
        -- One number-to-string conversion (redis.call would make one per use).
        local ps = tostring(seq)
        local v = ps .. ' ' .. size
        fresh[id] = v
        es[#es + 1] = ps; es[#es + 1] = e
        is[#is + 1] = id; is[#is + 1] = v
        -- The block's count and earliest expiry (kept as the header's digits, for ZADD).
        local b, x = block(seq), string.sub(e, 17, 31)
        local bl = blocks[b]
        if not bl then blocks[b] = {1, x}
        else
          bl[1] = bl[1] + 1
          if tonumber(x) < tonumber(bl[2]) then bl[2] = x end
        end
        m, used, added, bytes = m + 1, used + size, added + 1, bytes + size
        out[#out + 1] = seq
      end
    end
  end
  if added > 0 then
    many('HSET', k('e', r), es)
    many('HSET', k('i', r), is)
    for b, bl in pairs(blocks) do
      redis.call('HINCRBY', k('xc', r), b, bl[1])
      redis.call('ZADD', k('x', r), 'LT', bl[2], 'b' .. b)
    end
    redis.call('HSET', k('u', r), 'seq', seq)
    redis.call('HINCRBY', k('u', r), 'messages', added)
    redis.call('HINCRBY', k('u', r), 'bytes', bytes)
    redis.call('SADD', k('rc'), r)
  end
  b = b + 2 + n
end
return out
`;

/**
 * ARGV: prefix, recipient, owner, after, max, leaseMs, maxAttempts, now.
 * → { held, entries (pos, entry, attempts)…, expired ids, dead ids }. Reads the entry hash upwards
 * from max(after, head - 1) + 1 (scan); a pass that starts at the head moves the head up to
 * the first entry still pending.
 */
export const LEASE = `${PRELUDE}
local r, owner, after, max, leaseMs, maxAttempts, now = ARGV[2], ARGV[3], num(ARGV[4]), num(ARGV[5]), num(ARGV[6]), num(ARGV[7]), num(ARGV[8])
local u = k('u', r)
local cur = redis.call('HMGET', u, 'owner', 'until', 'sent', 'head', 'seq', 'dead')
if cur[1] and cur[1] ~= owner and num(cur[2]) > now then return {0, {}, {}, {}} end
redis.call('HSET', u, 'owner', owner, 'until', now + leaseMs)
local mark, top, head, seq, anyDead = num(cur[3]), 0, headOf(cur[4]), num(cur[5]), num(cur[6]) > 0
local fromHead = after < head
local from, first = math.max(after, head - 1), nil
local entries, expired, dead, got = {}, {}, {}, 0
local xps, xes, dps, again = {}, {}, {}, {}
while got < max do
  local ps, es
  ps, es, from = scan(r, from, max - got, seq, anyDead)
  if #ps == 0 then break end
  local extra = {}
  if tonumber(ps[1]) <= mark then extra = hmget(k('a', r), ps) end
  for j = 1, #ps do
    local pos, e = tonumber(ps[j]), es[j]
    local handed = attempts(extra[j], pos, mark)
    if expiry(e) <= now then
      xps[#xps + 1] = ps[j]; xes[#xes + 1] = e
    elseif handed >= maxAttempts then
      dps[#dps + 1] = ps[j]
      dead[#dead + 1] = eid(e)
    else
      -- Only an entry handed out again is written; a first hand-out just moves the mark.
      if pos <= mark then again[#again + 1] = ps[j]; again[#again + 1] = num(extra[j]) + 1 end
      entries[#entries + 1] = pos; entries[#entries + 1] = e; entries[#entries + 1] = handed + 1
      first = first or pos
      top = pos
      got = got + 1
    end
  end
end
if #again > 0 then many('HSET', k('a', r), again) end
if #dps > 0 then
  local z = {}
  for _, pos in ipairs(dps) do z[#z + 1] = pos; z[#z + 1] = pos end
  many('ZADD', k('dl', r), z)
  redis.call('HINCRBY', u, 'messages', -#dps)
  redis.call('HINCRBY', u, 'dead', #dps)
end
expired = dropEntries(r, xps, xes)
-- Everything between the head and the first entry handed out (or the last position looked at)
-- is gone, dead or expired now.
local h = first or from + 1
if fromHead and h ~= head then redis.call('HSET', u, 'head', h) end
if top > mark then redis.call('HSET', u, 'sent', top) end
return {1, entries, expired, dead}
`;

/** ARGV: prefix, recipient, ids… → removed ids, in the order given. One HMGET of the ids, then drop(). */
export const ACK = `${PRELUDE}
local r = ARGV[2]
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
local vals = hmget(k('i', r), ids)
local ps, out, done, bytes = {}, {}, {}, 0
for j, id in ipairs(ids) do
  local v = vals[j]
  if v and not done[id] then
    done[id] = true
    local pos, size = string.match(v, '^(%d+) (%d+)$')
    ps[#ps + 1] = pos
    out[#out + 1] = id
    bytes = bytes + tonumber(size)
  end
end
drop(r, ps, out, bytes)
return out
`;

/** ARGV: prefix, recipient, owner */
export const RELEASE = `${PRELUDE}
local u = k('u', ARGV[2])
if redis.call('HGET', u, 'owner') == ARGV[3] then redis.call('HDEL', u, 'owner', 'until') end
return 0
`;

/** ARGV: prefix, now, limit → { recipient, id, recipient, id, … }, seen ids pruned */
export const SWEEP = `${PRELUDE}
local now, limit = num(ARGV[2]), num(ARGV[3])
local out = {}
for _, r in ipairs(redis.call('SMEMBERS', k('rc'))) do
  if #out >= 2 * limit then break end
  local x3 = num(redis.call('HGET', k('u', r), 'x3'))
  local ps, es = {}, {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', k('x', r), '-inf', now, 'LIMIT', 0, limit - #out / 2)) do
    if #ps >= limit - #out / 2 then break end
    -- A block: its stored entries; a layout-2 member: its own position.
    local b, cand = nil, {}
    if string.sub(m, 1, 1) == 'b' then
      b = tonumber(string.sub(m, 2))
      for q = math.max(b * BLOCK + 1, x3), (b + 1) * BLOCK do cand[#cand + 1] = tostring(q) end
    else
      cand[1] = m
    end
    local left, found = nil, 0
    for j, e in ipairs(hmget(k('e', r), cand)) do
      if e then
        found = found + 1
        local x = expiry(e)
        if x <= now and #ps < limit - #out / 2 then
          ps[#ps + 1] = cand[j]; es[#es + 1] = e
        elseif not left or x < left then
          left = x
        end
      end
    end
    -- Entries left in the block: its score becomes their earliest expiry. None: dropEntries
    -- removes the member with the last one; a member with nothing stored is removed here.
    if left then redis.call('ZADD', k('x', r), 'XX', string.format('%d', left), m)
    elseif found == 0 then
      redis.call('ZREM', k('x', r), m)
      if b then redis.call('HDEL', k('xc', r), b) end
    end
  end
  for _, id in ipairs(dropEntries(r, ps, es)) do
    out[#out + 1] = r
    out[#out + 1] = id
  end
end
-- Seen ids: a member is 'sender|' then the ids (32 hex digits each) that came in one accept.
local pruned = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', k('seenexp'), '-inf', now, 'LIMIT', 0, limit)) do
  if pruned >= limit then break end
  local sep = string.find(m, '|', 1, true)
  local sender, ids = string.sub(m, 1, sep - 1), {}
  for at = sep + 1, #m, 32 do
    if pruned + #ids >= limit then break end
    ids[#ids + 1] = string.sub(m, at, at + 31)
  end
  redis.call('ZREM', k('seenexp'), m)
  local rest = sep + 1 + #ids * 32
  -- Over the limit: the ids not pruned now stay, under the same keep-until.
  if rest <= #m then redis.call('ZADD', k('seenexp'), now, sender .. '|' .. string.sub(m, rest)) end
  local n = many('HDEL', k('seen', sender), ids)
  if n > 0 then redis.call('HINCRBY', k('snd', sender), 'count', -n) end
  pruned = pruned + #ids
end
return {out, pruned}
`;

/** ARGV: prefix, recipient or '' (all) → { messages, bytes, dead } */
export const USAGE = `${PRELUDE}
local rs = ARGV[2] == '' and redis.call('SMEMBERS', k('rc')) or {ARGV[2]}
local t = {0, 0, 0}
for _, r in ipairs(rs) do
  local u = redis.call('HMGET', k('u', r), 'messages', 'bytes', 'dead')
  for i = 1, 3 do t[i] = t[i] + num(u[i]) end
end
return t
`;

/** ARGV: prefix → recipients with pending entries (forgets those with none left) */
export const RECIPIENTS = `${PRELUDE}
local out = {}
for _, r in ipairs(redis.call('SMEMBERS', k('rc'))) do
  local u = redis.call('HMGET', k('u', r), 'messages', 'dead')
  if num(u[1]) > 0 then out[#out + 1] = r elseif num(u[2]) == 0 then redis.call('SREM', k('rc'), r) end
end
return out
`;

/** The fields LIST and GET return for an entry: recipient, pos, header, size, attempts, dead. */
const DESCRIBE = `
local function describe(out, r, pos, e, extra, mark, dead)
  for _, v in ipairs({r, pos, string.sub(e, 1, HEAD), #e - HEAD, attempts(extra, tonumber(pos), mark), dead}) do out[#out + 1] = v end
end
`;

/** ARGV: prefix, recipient or '', 'o' | 'dl', limit → { recipient, pos, header, size, attempts, dead }… */
export const LIST = `${PRELUDE}${DESCRIBE}
local rs = ARGV[2] == '' and redis.call('SMEMBERS', k('rc')) or {ARGV[2]}
table.sort(rs)
local limit, out, n = num(ARGV[4]), {}, 0
for _, r in ipairs(rs) do
  local ps, es = oldest(r, ARGV[3], limit - n)
  if #ps > 0 then
    local extra, mark = hmget(k('a', r), ps), num(redis.call('HGET', k('u', r), 'sent'))
    for j = 1, #ps do describe(out, r, ps[j], es[j], extra[j], mark, ARGV[3] == 'dl' and 1 or 0) end
    n = n + #ps
  end
  if n >= limit then break end
end
return out
`;

/** ARGV: prefix, id → { recipient, pos, header, size, attempts, dead, entry } or {} */
export const GET = `${PRELUDE}${DESCRIBE}
for _, r in ipairs(redis.call('SMEMBERS', k('rc'))) do
  local v = redis.call('HGET', k('i', r), ARGV[2])
  if v then
    local pos = string.match(v, '^%d+')
    local e = redis.call('HGET', k('e', r), pos)
    local out = {}
    describe(out, r, pos, e, redis.call('HGET', k('a', r), pos), num(redis.call('HGET', k('u', r), 'sent')),
      redis.call('ZSCORE', k('dl', r), pos) and 1 or 0)
    out[#out + 1] = e
    return out
  end
end
return {}
`;

/** ARGV: prefix, recipient, ids… or none (all dead letters) → count revived */
export const RETRY = `${PRELUDE}
local r = ARGV[2]
local ps = {}
if #ARGV > 2 then
  local ids = {}
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
  for _, v in ipairs(hmget(k('i', r), ids)) do
    if v then
      local pos = string.match(v, '^%d+')
      if redis.call('ZREM', k('dl', r), pos) == 1 then ps[#ps + 1] = pos end
    end
  end
else
  ps = redis.call('ZRANGE', k('dl', r), 0, -1)
  redis.call('DEL', k('dl', r))
end
if #ps == 0 then return 0 end
-- Attempts back to 0: -1 where the mark would count one more. The head comes down to the lowest.
local u = redis.call('HMGET', k('u', r), 'sent', 'head')
local mark, head = num(u[1]), headOf(u[2])
local a, clear = {}, {}
for _, pos in ipairs(ps) do
  head = math.min(head, tonumber(pos))
  if tonumber(pos) <= mark then a[#a + 1] = pos; a[#a + 1] = -1 else clear[#clear + 1] = pos end
end
redis.call('HSET', k('u', r), 'head', head)
if #a > 0 then many('HSET', k('a', r), a) end
if #clear > 0 then many('HDEL', k('a', r), clear) end
redis.call('HINCRBY', k('u', r), 'dead', -#ps)
redis.call('HINCRBY', k('u', r), 'messages', #ps)
return #ps
`;

/** ARGV: prefix, recipient, 'o' | 'dl', limit → count removed (the oldest `limit`; the client repeats). */
export const PURGE = `${PRELUDE}
local r = ARGV[2]
local ps, es = oldest(r, ARGV[3], num(ARGV[4]))
dropEntries(r, ps, es)
return #ps
`;

/**
 * Marks handled the ids given as (sender, id) pairs in ARGV[from] … ARGV[to]: per sender one
 * HMGET (which are still in the set: a pruned id is not written back) and one HSET.
 */
const MARK = `
local function mark(from, to)
  local by = {}
  for i = from, to, 2 do
    local l = by[ARGV[i]] or {}
    by[ARGV[i]] = l
    l[#l + 1] = ARGV[i + 1]
  end
  for sender, ids in pairs(by) do
    local marks = {}
    local hs = hmget(k('seen', sender), ids)
    for j = 1, #ids do
      if hs[j] then
        marks[#marks + 1] = ids[j]
        marks[#marks + 1] = 1
      end
    end
    if #marks > 0 then many('HSET', k('seen', sender), marks) end
  end
end
`;

/**
 * ARGV: prefix, max seen per sender, m, m × (sender, id) handled marks written first (MARK), n,
 * then n × (sender, epoch, id, pos, prev, keepUntil).
 * → 'new' | 'redeliver' | 'duplicate' | 'gap' | 'full' each. Per sender and batch one HMGET
 * (which ids are seen), and the seen hash, sender state and one expiry member written once.
 */
export const ACCEPT = `${PRELUDE}${MARK}
local maxSeen, m = num(ARGV[2]), num(ARGV[3])
mark(4, 3 + 2 * m)
local n, r0 = num(ARGV[4 + 2 * m]), 5 + 2 * m
local out, ss = {}, {}
for i = 0, n - 1 do
  local b = r0 + i * 6
  local sender, epoch, id, pos, prev = ARGV[b], ARGV[b + 1], ARGV[b + 2], num(ARGV[b + 3]), num(ARGV[b + 4])
  local s = ss[sender]
  if not s then
    local row = redis.call('HMGET', k('snd', sender), 'epoch', 'last', 'count')
    s = { epoch = row[1], last = num(row[2]), count = num(row[3]), added = 0, keep = 0, seen = {}, fresh = {}, exp = {}, known = {} }
    -- Which of this sender's ids in the batch are in the seen set: one HMGET for all of them.
    local ids = {}
    for j = 0, n - 1 do if ARGV[r0 + j * 6] == sender then ids[#ids + 1] = ARGV[r0 + j * 6 + 2] end end
    local hs = hmget(k('seen', sender), ids)
    for j = 1, #ids do if hs[j] then s.known[ids[j]] = hs[j] end end
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
      s.exp[#s.exp + 1] = id
      s.keep = math.max(s.keep, num(ARGV[b + 5]))
      s.epoch, s.last, s.count, s.added = epoch, pos, s.count + 1, s.added + 1
      out[#out + 1] = 'new'
    end
  end
end
for sender, s in pairs(ss) do
  if s.added > 0 then
    many('HSET', k('seen', sender), s.seen)
    -- One expiry member for the sender's new ids of this batch, kept until the latest of them.
    redis.call('ZADD', k('seenexp'), string.format('%d', s.keep), sender .. '|' .. table.concat(s.exp))
    redis.call('HSET', k('snd', sender), 'epoch', s.epoch, 'last', s.last)
    redis.call('HINCRBY', k('snd', sender), 'count', s.added)
  end
end
return out
`;

/** ARGV: prefix, then (sender, id) pairs: marks them handled (MARK). */
export const HANDLED = `${PRELUDE}${MARK}
mark(2, #ARGV)
return 0
`;
