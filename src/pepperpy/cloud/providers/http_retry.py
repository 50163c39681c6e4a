"""The retry loop the REST-based cloud clients share (Azure ARM, GCP): throttling, 5xx and dropped
connections are retried with ``Retry-After`` or exponential backoff; anything else is returned."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def retry_delay(response: httpx.Response, attempt: int, backoff: float, max_wait: float) -> float:
    """Seconds to wait before retrying: ``Retry-After`` (seconds or HTTP date) if given, else 2^attempt backoff."""
    header = response.headers.get("Retry-After")
    if header:
        with contextlib.suppress(ValueError):
            return min(max(float(header), 0.0), max_wait)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(header).timestamp()
            return min(max(when - time.time(), 0.0), max_wait)
    return min(backoff * 2**attempt, max_wait)


def send_with_retries(client: Any, method: str, url: str, body: dict[str, Any] | None,
                      token: Callable[[], str], on_transport_error: Callable[[httpx.TransportError], Exception]
                      ) -> httpx.Response:
    """One logical call through ``client`` (its ``http``, ``calls``, ``sleep``, ``max_retries``,
    ``retry_backoff``, ``max_wait`` and ``wait_for``); a connection that keeps failing raises
    ``on_transport_error(exc)``."""
    for attempt in range(client.max_retries + 1):
        headers = {"Authorization": f"Bearer {token()}", "Accept": "application/json"}
        client.calls.append((method, httpx.URL(url).path))
        try:
            response: httpx.Response = client.http.request(method, url, json=body, headers=headers)
        except httpx.TransportError as exc:
            if attempt < client.max_retries:
                client.sleep(min(client.retry_backoff * 2**attempt, client.max_wait))
                continue
            raise on_transport_error(exc) from None
        if response.status_code in RETRY_STATUSES and attempt < client.max_retries:
            client.sleep(client.wait_for(response, attempt))
            continue
        return response
    raise AssertionError("unreachable")  # pragma: no cover
