-- Settle a reservation: release what was reserved and charge the actual cost.
-- KEYS: the same ledger hashes as the reservation.
-- ARGV[1]: reserved micro-dollars; ARGV[2]: actual micro-dollars.
-- Returns the spent total of each key after settling.
local reserved = tonumber(ARGV[1])
local actual = tonumber(ARGV[2])
local result = {}
for i = 1, #KEYS do
  local left = redis.call('HINCRBY', KEYS[i], 'reserved', -reserved)
  if left < 0 then
    redis.call('HSET', KEYS[i], 'reserved', 0)
  end
  result[#result + 1] = redis.call('HINCRBY', KEYS[i], 'spent', actual)
end
return result
