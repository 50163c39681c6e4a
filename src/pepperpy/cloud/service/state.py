"""What one app instance holds (settings, key store, limiter, cache, metrics) and the /v1 guard.

Routes reach it as ``request.app.state.service``; ``authorize`` is the dependency every /v1 route has:
key check (401), then the rate limits (429 with Retry-After).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pepperpy.cloud.service.auth import AuthError, KeyInfo, KeyStore
from pepperpy.cloud.service.cache import ResponseCache, canonical_key
from pepperpy.cloud.service.errors import RateLimitedError
from pepperpy.cloud.service.metrics import ServiceMetrics
from pepperpy.cloud.service.ratelimit import RateLimiter

if TYPE_CHECKING:
    from pepperpy.cloud.service.redis_client import RedisHandle
    from pepperpy.cloud.service.settings import ServiceSettings


@dataclass
class ServiceState:
    settings: ServiceSettings
    keys: KeyStore
    limiter: RateLimiter
    cache: ResponseCache
    metrics: ServiceMetrics
    redis: RedisHandle | None
    extras: dict[str, Any] = field(default_factory=dict)


def service(request: Request) -> ServiceState:
    found: ServiceState = request.app.state.service
    return found


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer ppc_...")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: ppc_...")


async def authorize(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
    api_key: str | None = Security(_api_key),
) -> KeyInfo:
    """The caller's key record; 401 without a valid active key, 429 over a rate limit."""
    svc = service(request)
    key = api_key or (bearer.credentials if bearer is not None else None)
    info = svc.keys.verify(key)
    request.state.key_id = info.id
    decision = await svc.limiter.hit(info.id)
    if not decision.allowed:
        svc.metrics.rate_limited.labels(decision.scope).inc()
        scope = "this key's" if decision.scope == "key" else "the service's"
        raise RateLimitedError(f"rate limit exceeded ({scope} limit)", retry_after=decision.retry_after_header,
                               hint=f"retry after {decision.retry_after_header} s")
    return info


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def cached_json(request: Request, route: str, key_payload: Any,
                      compute: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    """Serve from the LRU or Redis, else ``compute()`` and remember the serialized answer."""
    svc = service(request)
    key = canonical_key(route, key_payload)
    body, layer = await svc.cache.get(route, key)
    request.state.cache = layer
    if body is None:
        payload = await compute()
        body = dumps(payload)
        await svc.cache.set(key, body)
    return Response(body, media_type="application/json")


__all__ = ["AuthError", "ServiceState", "authorize", "cached_json", "dumps", "service"]
