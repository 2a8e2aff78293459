-- Settle a reservation: release what was reserved and charge the actual cost, atomically.
-- KEYS[1..n]: the same ledger hashes as the reservation; KEYS[n+1]: the reservation book;
-- KEYS[n+2]: reservation deadlines.
-- ARGV[1]: reservation id; ARGV[2]: reserved micro-dollars; ARGV[3]: actual micro-dollars.
-- A reservation already reclaimed (its deadline passed) releases nothing: only the charge is
-- added. When the actual cost exceeds the reservation (an endpoint reporting more than the
-- upper bound), every cap of the call is closed to new reservations for its period.
-- Returns {over (0/1), was_open (0/1), spent_1, ..., spent_n}.
local n = #KEYS - 2
local book, deadlines = KEYS[n + 1], KEYS[n + 2]
local reserved = tonumber(ARGV[2])
local actual = tonumber(ARGV[3])
local was_open = redis.call('HDEL', book, ARGV[1])
redis.call('ZREM', deadlines, ARGV[1])
local over = 0
if actual > reserved then over = 1 end
local result = {over, was_open}
for i = 1, n do
  if was_open == 1 then
    if redis.call('HINCRBY', KEYS[i], 'reserved', -reserved) < 0 then
      redis.call('HSET', KEYS[i], 'reserved', 0)
    end
  end
  if over == 1 then
    redis.call('HSET', KEYS[i], 'closed', 'over-report')
  end
  result[#result + 1] = redis.call('HINCRBY', KEYS[i], 'spent', actual)
end
return result
