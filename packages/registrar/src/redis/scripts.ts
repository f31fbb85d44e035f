// Lua scripts where a change must be atomic in Redis. Keys of the location service share the
// hash tag `{loc}` (subscribers `{sub}`), so each script touches one Cluster slot.

/**
 * Compare-and-set of one AOR. KEYS: aor hash, expiry zset. ARGV: expected version ('' = none),
 * aor, pexpireat of the hash, channel, event, nDel, del keys…, nSet, (key, json, expiresAt)…
 * Returns 0 when the version moved (the caller re-reads and retries), else 1.
 */
const LOC_CAS = `
local v = redis.call('HGET', KEYS[1], '_v')
if (v or '') ~= ARGV[1] then return 0 end
local aor = ARGV[2]
local i = 6
local nDel = tonumber(ARGV[i]); i = i + 1
for k = 1, nDel do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], aor .. '\\n' .. ARGV[i])
  i = i + 1
end
local nSet = tonumber(ARGV[i]); i = i + 1
for k = 1, nSet do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], ARGV[i + 2], aor .. '\\n' .. ARGV[i])
  i = i + 3
end
local n = redis.call('HLEN', KEYS[1])
if redis.call('HEXISTS', KEYS[1], '_v') == 1 then n = n - 1 end
if n <= 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('HINCRBY', KEYS[1], '_v', 1)
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * Removes the expired bindings among the given keys of one AOR (and their index entries);
 * re-indexes a live one whose index score was behind. KEYS: aor hash, expiry zset.
 * ARGV: aor, now, channel, event, keys… Returns how many were removed.
 */
const LOC_PURGE = `
local aor = ARGV[1]
local now = tonumber(ARGV[2])
local removed = 0
for i = 5, #ARGV do
  local key = ARGV[i]
  local member = aor .. '\\n' .. key
  local v = redis.call('HGET', KEYS[1], key)
  if not v then
    redis.call('ZREM', KEYS[2], member)
  else
    local ok, b = pcall(cjson.decode, v)
    local exp = 0
    if ok and type(b) == 'table' then exp = tonumber(b['expiresAt']) or 0 end
    if exp <= now then
      redis.call('HDEL', KEYS[1], key)
      redis.call('ZREM', KEYS[2], member)
      removed = removed + 1
    else
      redis.call('ZADD', KEYS[2], exp, member)
    end
  end
end
if removed > 0 then
  local n = redis.call('HLEN', KEYS[1])
  if redis.call('HEXISTS', KEYS[1], '_v') == 1 then n = n - 1 end
  if n <= 0 then redis.call('DEL', KEYS[1]) else redis.call('HINCRBY', KEYS[1], '_v', 1) end
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return removed
`;

/** Deletes a subscriber; drops its domain from the index when it was the last. KEYS: domain hash, domain index. ARGV: user, domain, channel, event. */
const SUB_DEL = `
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n > 0 then
  if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return n
`;

export const LUA: Readonly<Record<string, { lua: string; numberOfKeys: number }>> = {
  sfLocCas: { lua: LOC_CAS, numberOfKeys: 2 },
  sfLocPurge: { lua: LOC_PURGE, numberOfKeys: 2 },
  sfSubDel: { lua: SUB_DEL, numberOfKeys: 2 },
};
