"""One asyncio Redis client per event loop, created on first use.

redis-py's asyncio connections belong to the loop that opened them; a test client or a second worker
runs its own loop, so the client is keyed by loop instead of being made once at import or start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class RedisHandle:
    """Lazily connects to ``url``; ``client()`` returns the client of the running loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[int, Any] = {}

    def client(self) -> Any:
        import redis.asyncio as aioredis

        loop_id = id(asyncio.get_running_loop())
        found = self._clients.get(loop_id)
        if found is None:
            found = aioredis.Redis.from_url(self.url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                            health_check_interval=30)
            self._clients = {loop_id: found}  # a finished loop's client is dropped with it
        return found

    async def ping(self) -> bool:
        return bool(await self.client().ping())

    async def aclose(self) -> None:
        for client in list(self._clients.values()):
            with contextlib.suppress(Exception):  # a client whose loop is gone must not fail shutdown
                await client.aclose()
        self._clients.clear()
