-- Reserve worst-case LLM spend against every cap, or nothing at all.
-- KEYS: the ledger hashes to charge (bot day, global day, month); fields "spent", "reserved".
-- ARGV[1]: amount in micro-dollars; ARGV[2..n+1]: the cap of each key (micro-dollars);
-- ARGV[n+2..2n+1]: the TTL of each key in seconds.
-- Returns {1, used_1, ..., used_n} on success (used = spent + reserved after the reservation),
-- or {0, index_of_first_cap_that_would_be_passed, used_of_that_key}.
local amount = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if spent + reserved + amount > tonumber(ARGV[1 + i]) then
    return {0, i, spent + reserved}
  end
end
local result = {1}
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'reserved', amount)
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved'))
  result[#result + 1] = spent + reserved
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + n + i]))
end
return result
