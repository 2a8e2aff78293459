-- Reserve worst-case LLM spend against every cap, or nothing at all.
-- KEYS[1..n]: the ledger hashes to charge (bot day, global day, month); fields "spent",
--   "reserved", "closed" (set when an endpoint reported more than was reserved), "reclaimed".
-- KEYS[n+1]: the reservation book (hash: id -> "amount|key|key|..."),
-- KEYS[n+2]: reservation deadlines (zset: id -> epoch seconds).
-- ARGV[1]: amount in micro-dollars; ARGV[2]: reservation id; ARGV[3]: now (epoch seconds);
-- ARGV[4]: deadline of this reservation; ARGV[5..n+4]: the cap of each key (micro-dollars);
-- ARGV[n+5..2n+4]: the TTL of each key in seconds.
-- First reclaims reservations past their deadline (left by a crashed process; all ledger keys
-- share one hash tag, so they live in this slot). Returns {1, reclaimed_count} on success, or
-- {0, index_of_first_cap_refused, used_of_that_key, closed (0/1), reclaimed_count}.
local n = #KEYS - 2
local book, deadlines = KEYS[n + 1], KEYS[n + 2]
local amount = tonumber(ARGV[1])

local reclaimed = 0
local expired = redis.call('ZRANGEBYSCORE', deadlines, '-inf', ARGV[3], 'LIMIT', 0, 100)
for _, rid in ipairs(expired) do
  local entry = redis.call('HGET', book, rid)
  if entry then
    local amt = nil
    for part in string.gmatch(entry, '[^|]+') do
      if amt == nil then
        amt = tonumber(part)
      elseif redis.call('EXISTS', part) == 1 then
        if redis.call('HINCRBY', part, 'reserved', -amt) < 0 then
          redis.call('HSET', part, 'reserved', 0)
        end
        redis.call('HINCRBY', part, 'reclaimed', amt)
      end
    end
    redis.call('HDEL', book, rid)
    reclaimed = reclaimed + 1
  end
  redis.call('ZREM', deadlines, rid)
end

for i = 1, n do
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if redis.call('HEXISTS', KEYS[i], 'closed') == 1 then
    return {0, i, spent + reserved, 1, reclaimed}
  end
  if spent + reserved + amount > tonumber(ARGV[4 + i]) then
    return {0, i, spent + reserved, 0, reclaimed}
  end
end
local entry = tostring(amount)
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'reserved', amount)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[4 + n + i]))
  entry = entry .. '|' .. KEYS[i]
end
redis.call('HSET', book, ARGV[2], entry)
redis.call('ZADD', deadlines, ARGV[4], ARGV[2])
return {1, reclaimed}
