"""Seed 002's cache layers for estimates and answers: an in-process LRU, then Redis with a TTL.

Entries are the serialized JSON responses, keyed by route + the canonical JSON of the validated request
(sorted keys, no spaces), so two spellings of the same question share an entry and a hit costs no
re-serialization. A Redis hit is promoted into the LRU. Redis errors count as misses (and in
``redis_errors_total``): the answer is computed instead of the request failing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from pepperpy.cloud import __version__

if TYPE_CHECKING:
    from pepperpy.cloud.service.metrics import ServiceMetrics
    from pepperpy.cloud.service.redis_client import RedisHandle

log = logging.getLogger("pepperpy.cloud.service.cache")


def canonical_key(route: str, payload: Any) -> str:
    """``route`` + a digest of the canonical JSON of ``payload``; the version keeps upgrades from serving stale."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{__version__}|{body}".encode()).hexdigest()
    return f"{route}:{digest}"


class LRU:
    """A bounded, thread-safe map whose entries also expire after ``ttl`` seconds (0: never)."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            expires, value = found
            if expires and expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        if self.size <= 0:
            return
        expires = time.monotonic() + self.ttl if self.ttl else 0.0
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class ResponseCache:
    """LRU first, Redis second; counts hits per layer and misses per route."""

    def __init__(self, metrics: ServiceMetrics, *, size: int, ttl: int, redis: RedisHandle | None,
                 prefix: str) -> None:
        self.metrics = metrics
        self.lru = LRU(size, ttl)
        self.ttl = ttl
        self.redis = redis if ttl > 0 else None
        self.prefix = prefix + "cache:"

    async def get(self, route: str, key: str) -> tuple[bytes | None, str]:
        """(value, layer) where layer is ``memory``, ``redis`` or ``miss``."""
        value = self.lru.get(key)
        if value is not None:
            self.metrics.cache_hits.labels(route, "memory").inc()
            return value, "memory"
        if self.redis is not None:
            try:
                value = await self.redis.client().get(self.prefix + key)
            except Exception as exc:
                log.warning("cache: Redis get failed (%s)", type(exc).__name__)
                self.metrics.redis_errors.labels("cache_get").inc()
                value = None
            if value is not None:
                self.lru.set(key, value)
                self.metrics.cache_hits.labels(route, "redis").inc()
                return value, "redis"
        self.metrics.cache_misses.labels(route).inc()
        return None, "miss"

    async def set(self, key: str, value: bytes) -> None:
        self.lru.set(key, value)
        if self.redis is None:
            return
        try:
            await self.redis.client().set(self.prefix + key, value, ex=self.ttl)
        except Exception as exc:
            log.warning("cache: Redis set failed (%s)", type(exc).__name__)
            self.metrics.redis_errors.labels("cache_set").inc()
