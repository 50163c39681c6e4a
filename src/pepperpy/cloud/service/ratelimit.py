"""Per-key and global rate limits: two token buckets checked (and charged) together.

A request costs one token from its key's bucket and one from the global bucket; it is refused, with the
seconds until a token is back (``Retry-After``), when either is empty, and then neither is charged. With
``REDIS_URL`` the buckets live in Redis and one Lua script reads, refills and charges both atomically, so
every worker and every replica share the limits. Without it each process keeps its own buckets.

If Redis fails mid-flight the request is let through (and counted in ``redis_errors_total``): a cache outage
should not become an API outage; ``/ready`` reports Redis as down meanwhile.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pepperpy.cloud.service.metrics import ServiceMetrics
    from pepperpy.cloud.service.redis_client import RedisHandle

log = logging.getLogger("pepperpy.cloud.service.ratelimit")


@dataclass(frozen=True)
class Limits:
    per_key_rate: float
    per_key_burst: int
    global_rate: float
    global_burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0
    scope: str = ""

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1 (HTTP's Retry-After has no fractions)."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter(Protocol):
    async def hit(self, key_id: str) -> Decision: ...


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class InProcessLimiter:
    """Token buckets in this process's memory."""

    def __init__(self, limits: Limits, clock: Callable[[], float] | None = None) -> None:
        self.limits = limits
        self._clock = clock or time.monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _level(self, name: str, rate: float, burst: int, now: float) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            bucket = self._buckets[name] = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        return bucket

    async def hit(self, key_id: str) -> Decision:
        lim = self.limits
        with self._lock:
            now = self._clock()
            key = self._level("key:" + key_id, lim.per_key_rate, lim.per_key_burst, now)
            glob = self._level("global", lim.global_rate, lim.global_burst, now)
            if key.tokens < 1:
                return Decision(False, (1 - key.tokens) / lim.per_key_rate, "key")
            if glob.tokens < 1:
                return Decision(False, (1 - glob.tokens) / lim.global_rate, "global")
            key.tokens -= 1
            glob.tokens -= 1
        return Decision(True)


# KEYS: global bucket, key bucket. ARGV: global rate, global burst, key rate, key burst.
# Numbers go back as strings: Redis truncates Lua numbers to integers.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level(key, rate, burst)
  local v = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(v[1]) or burst
  local ts = tonumber(v[2]) or now
  return math.min(burst, tokens + math.max(0, now - ts) * rate)
end
local grate, gburst = tonumber(ARGV[1]), tonumber(ARGV[2])
local krate, kburst = tonumber(ARGV[3]), tonumber(ARGV[4])
local g = level(KEYS[1], grate, gburst)
local k = level(KEYS[2], krate, kburst)
if k < 1 then return {0, tostring((1 - k) / krate), 'key'} end
if g < 1 then return {0, tostring((1 - g) / grate), 'global'} end
local function save(key, tokens, rate, burst)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
save(KEYS[1], g - 1, grate, gburst)
save(KEYS[2], k - 1, krate, kburst)
return {1, '0', ''}
"""


class RedisLimiter:
    """The same buckets in Redis, shared by every process that uses the same prefix."""

    def __init__(self, limits: Limits, redis: RedisHandle, prefix: str,
                 metrics: ServiceMetrics | None = None) -> None:
        self.limits = limits
        self.redis = redis
        self.prefix = prefix
        self.metrics = metrics
        self._sha: str | None = None

    async def _eval(self, keys: list[str], args: list[float | int]) -> list[object]:
        client = self.redis.client()
        if self._sha is None:
            self._sha = await client.script_load(_LUA)
        try:
            result = await client.evalsha(self._sha, len(keys), *keys, *args)
        except Exception as exc:  # NOSCRIPT after a Redis restart or SCRIPT FLUSH: load it again
            if "NOSCRIPT" not in str(exc):
                raise
            self._sha = await client.script_load(_LUA)
            result = await client.evalsha(self._sha, len(keys), *keys, *args)
        return list(result)

    async def hit(self, key_id: str) -> Decision:
        lim = self.limits
        keys = [f"{self.prefix}rl:global", f"{self.prefix}rl:key:{key_id}"]
        try:
            allowed, wait, scope = await self._eval(
                keys, [lim.global_rate, lim.global_burst, lim.per_key_rate, lim.per_key_burst])
        except Exception as exc:
            log.warning("rate limiter: Redis failed (%s); request allowed", type(exc).__name__)
            if self.metrics is not None:
                self.metrics.redis_errors.labels("rate_limit").inc()
            return Decision(True)
        if int(allowed):  # type: ignore[call-overload]
            return Decision(True)
        scope_text = scope.decode() if isinstance(scope, bytes) else str(scope)
        wait_text = wait.decode() if isinstance(wait, bytes) else str(wait)
        return Decision(False, float(wait_text), scope_text)
