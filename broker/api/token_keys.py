"""Where tokens live in Redis, and the scripts that change them.

    {ns}:tokens                  hash  sha256(token) -> "role|actor_id|qual1,qual2"  (auth reads)
    {ns}:actors                  hash  actor_id -> role  (ids are unique across roles)
    {ns}:profiles                hash  actor_id -> "role|actor_id|quals"  (what a new token is)
    {ns}:actor-tokens:{actor_id} set   the digests of that actor's live tokens
    {ns}:indexed                 "1" once tokens made before the index are in it

A token is found by its digest on every request, and revoked through its actor's set, so
the hash and the sets must never disagree: every change to both is one Lua script (atomic
in Redis), never two commands a crash could separate.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "pw:auth"
# A token id names a token without revealing it: the first 64 bits of its SHA-256.
TOKEN_ID_HEX = 16


@dataclass(frozen=True)
class TokenKeys:
    namespace: str = NAMESPACE

    @property
    def tokens(self) -> str:
        return f"{self.namespace}:tokens"

    @property
    def actors(self) -> str:
        return f"{self.namespace}:actors"

    @property
    def profiles(self) -> str:
        return f"{self.namespace}:profiles"

    @property
    def indexed(self) -> str:
        return f"{self.namespace}:indexed"

    def of_actor(self, actor_id: str) -> str:
        return f"{self.namespace}:actor-tokens:{actor_id}"


# KEYS actors, profiles, tokens, actor set; ARGV actor_id, role, profile, digest -> 0 if taken
REGISTER_LUA = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""

# Same keys and args; overwrites (the operator's bootstrap token, installed at every start).
INSTALL_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""

# KEYS actors, profiles, tokens, actor set; ARGV actor_id, digest, revoke_existing ('1'/'0')
#   -> nil for an unknown actor, else {profile, {revoked digests}}
ISSUE_LUA = """
local profile = redis.call('HGET', KEYS[2], ARGV[1])
if not profile then
  local role = redis.call('HGET', KEYS[1], ARGV[1])
  if not role then return false end
  profile = role .. '|' .. ARGV[1] .. '|'
end
local revoked = {}
if ARGV[3] == '1' then
  revoked = redis.call('SMEMBERS', KEYS[4])
  for _, d in ipairs(revoked) do redis.call('HDEL', KEYS[3], d) end
  redis.call('DEL', KEYS[4])
end
redis.call('HSET', KEYS[3], ARGV[2], profile)
redis.call('SADD', KEYS[4], ARGV[2])
return {profile, revoked}
"""

# KEYS actors, tokens, actor set; ARGV actor_id, token id ('' = all)
#   -> nil for an unknown actor, else the revoked digests
REVOKE_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return false end
local revoked = {}
for _, d in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if ARGV[2] == '' or string.sub(d, 1, #ARGV[2]) == ARGV[2] then
    redis.call('HDEL', KEYS[2], d)
    redis.call('SREM', KEYS[3], d)
    revoked[#revoked + 1] = d
  end
end
return revoked
"""

# KEYS tokens, profiles, then one actor set per triple; ARGV digest, value, actor_id, ...
# Indexes a token only if it is still live, so it cannot undo a revocation it raced with.
BACKFILL_LUA = """
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('SADD', KEYS[2 + (i + 2) / 3], ARGV[i])
    redis.call('HSETNX', KEYS[2], ARGV[i + 2], ARGV[i + 1])
  end
end
return 1
"""
