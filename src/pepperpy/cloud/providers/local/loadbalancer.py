"""The local load balancer: one stable URL in front of a deployment's replicas.

It runs as its own process (``python -m pepperpy.cloud.providers.local.loadbalancer
--config PATH --port N``) so that it outlives the CLI, can be supervised like any
replica, and a crash in an app cannot take the front door down with it. It binds
127.0.0.1 only: the local provider is for one machine, not a network.

How it is driven. The supervisor owns a small JSON file::

    {"deployment": "rag-app",
     "backends": [{"id": "r1-0", "url": "http://127.0.0.1:8101", "revision": 1, "state": "active"}],
     "readiness_path": "/ready", "health_path": "/health",
     "check_interval": 1.0, "eject_after": 3,
     "cold_start": false, "scale_to_zero": {"idle_seconds": 900, "wake_url": null}}

and changes the set of replicas by writing a temporary file and renaming it over
this one. The balancer polls the file's identity (inode, mtime, size) a few times
a second and applies a new version as a whole, so a reader never sees half a
config and a rollout is a sequence of atomic steps: add the new revision's
backends, wait until ``/_pepperpy/status`` shows them ready, mark the old ones
``draining``, wait until their ``in_flight`` is 0, remove them.

What it does with requests.

* Least connections among backends that are ``active`` and *admitted*: the last
  readiness probe passed and the backend is not ejected. Ties rotate, so an idle
  deployment still spreads sequential requests across replicas.
* A background checker probes readiness and health every ``check_interval``.
  ``eject_after`` consecutive health failures eject a backend; it is re-admitted
  once a readiness *and* a health probe pass again. A backend that was never
  admitted (just added) is probed at a faster cadence so that a rollout or cold
  start does not wait a full interval for its first admission, and it must pass
  both probes once before it gets traffic.
* ``draining`` backends (and backends removed from the file) get no new requests;
  requests already in flight finish. ``/_pepperpy/status`` keeps listing removed
  backends while they still hold requests, so the supervisor knows when a
  replica may be stopped.
* A connection that fails before the backend answered anything (connection
  refused, or a pooled keep-alive connection the backend closed just as it was
  reused) is retried once for idempotent methods, on another admitted backend
  when the connection was refused; a refused backend is also taken out of
  rotation until its next probe passes. Nothing is retried once response bytes
  arrived, and a streamed request body is never replayed once started.
* Responses are streamed through as they arrive (chunked and server-sent
  events included); bodies are passed through undecoded. Hop-by-hop headers
  (RFC 9110 §7.6.1, plus any named in ``Connection``) are dropped both ways, and
  ``X-Forwarded-For``/``-Proto``/``-Host`` are set.
* No admitted backend: ``503`` with a JSON body and ``Retry-After``. With
  ``"cold_start": true`` the request is instead held for up to
  ``cold_start_timeout`` (30 s) while the file is polled for a backend to appear
  and pass its probes (the scale-to-zero path; if ``scale_to_zero.wake_url`` is
  set, it is POSTed once per cold start so the supervisor can start a replica).

Admin endpoints share the port under ``/_pepperpy/``: ``metrics`` (Prometheus
text from a per-process registry), ``status`` (JSON, including requests per
second over the last 10 s and latency percentiles over the last 60 s for the
autoscaler, and ``last_request_at`` for scale-to-zero), and ``health``.

Not supported, by design: WebSocket and other ``Upgrade`` requests (answered
``501``; the ASGI ``websocket`` scope is closed before accept), HTTP/2 to
clients or backends, TLS (everything is 127.0.0.1), trailers, and per-backend
weights.

Why this stack. Clients are served by uvicorn (a maintained HTTP/1.1 server
parsing untrusted input, graceful shutdown on SIGTERM, and httptools/uvloop
picked up automatically when installed). Towards the replicas the balancer uses
its own small keep-alive pool on asyncio streams with h11 for the framing, not
``httpx.AsyncClient``: measured with ``benchmarks/lb_bench.py`` on a 2-CPU
machine (wrk, 32 keep-alive connections, one replica), the h11 pool proxied
2,400-3,100 requests/s (p99 35-45 ms) where httpx's pooled transport managed
220-400 requests/s (p99 400-520 ms). The httpx path is kept (``--upstream
httpx``) so the comparison can be re-run; httpx still does the low-rate
readiness and health probes.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import logging
import math
import os
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOG = logging.getLogger("pepperpy.cloud.loadbalancer")

ADMIN_PREFIX = "/_pepperpy/"
HOST = "127.0.0.1"

# RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies also
# drop. ``expect`` is dropped because uvicorn already answered ``100 Continue``
# to the client when the body was read; ``host`` is set from the backend URL.
HOP_BY_HOP_REQUEST = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade", b"expect", b"host",
})
HOP_BY_HOP_RESPONSE = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
# Set by the balancer itself: forwarding headers are rebuilt, and the body is
# re-framed (uvicorn has already de-chunked it), so Content-Length is re-derived.
REBUILT_REQUEST = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"content-length"})

# RFC 9110 §9.2.2: a retry of these cannot do twice what the client asked once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

STATES = ("active", "draining")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ConfigError(ValueError):
    """The balancer's config file is missing, unreadable or malformed."""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Origin:
    """Where a backend listens, parsed once from its URL."""

    host: str
    port: int
    url: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"{url!r} is not an http://host:port URL")
        if parts.path not in ("", "/") or parts.query:
            raise ConfigError(f"{url!r} must not have a path or query")
        return cls(parts.hostname, parts.port or 80, f"http://{parts.netloc}")


@dataclass(frozen=True)
class BackendSpec:
    """One replica as the supervisor describes it."""

    id: str
    url: str
    revision: int = 0
    state: str = "active"


@dataclass(frozen=True)
class LBConfig:
    """A parsed config file; immutable so a reload swaps it as a whole."""

    deployment: str
    backends: tuple[BackendSpec, ...] = ()
    readiness_path: str = "/ready"
    health_path: str = "/health"
    check_interval: float = 1.0
    check_timeout: float = 2.0
    eject_after: int = 3
    cold_start: bool = False
    cold_start_timeout: float = 30.0
    idle_seconds: float | None = None
    wake_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float | None = 300.0

    @classmethod
    def from_dict(cls, data: Any) -> LBConfig:
        """Validate a decoded JSON document, naming the offending field on error."""
        if not isinstance(data, dict):
            raise ConfigError("config must be a JSON object")
        deployment = data.get("deployment")
        if not isinstance(deployment, str) or not deployment:
            raise ConfigError("'deployment' must be a non-empty string")
        raw_backends = data.get("backends", [])
        if not isinstance(raw_backends, list):
            raise ConfigError("'backends' must be a list")
        backends: list[BackendSpec] = []
        seen: set[str] = set()
        for i, item in enumerate(raw_backends):
            if not isinstance(item, dict):
                raise ConfigError(f"backends[{i}] must be an object")
            bid, url = item.get("id"), item.get("url")
            if not isinstance(bid, str) or not bid:
                raise ConfigError(f"backends[{i}].id must be a non-empty string")
            if bid in seen:
                raise ConfigError(f"backends[{i}].id {bid!r} is duplicated")
            seen.add(bid)
            if not isinstance(url, str):
                raise ConfigError(f"backends[{i}].url must be an http://host:port URL")
            try:
                url = Origin.parse(url).url
            except ConfigError as exc:
                raise ConfigError(f"backends[{i}].url: {exc}") from None
            state = item.get("state", "active")
            if state not in STATES:
                raise ConfigError(f"backends[{i}].state must be one of {', '.join(STATES)}")
            revision = item.get("revision", 0)
            if not isinstance(revision, int):
                raise ConfigError(f"backends[{i}].revision must be an integer")
            backends.append(BackendSpec(bid, url, revision, state))
        for key in ("readiness_path", "health_path"):
            value = data.get(key, "/ready" if key == "readiness_path" else "/health")
            if not isinstance(value, str) or not value.startswith("/"):
                raise ConfigError(f"'{key}' must be a path starting with '/'")
        stz = data.get("scale_to_zero") or {}
        if not isinstance(stz, dict):
            raise ConfigError("'scale_to_zero' must be an object")
        read_timeout = data.get("read_timeout", 300.0)
        try:
            cfg = cls(
                deployment=deployment,
                backends=tuple(backends),
                readiness_path=data.get("readiness_path", "/ready"),
                health_path=data.get("health_path", "/health"),
                check_interval=float(data.get("check_interval", 1.0)),
                check_timeout=float(data.get("check_timeout", 2.0)),
                eject_after=int(data.get("eject_after", 3)),
                cold_start=bool(data.get("cold_start", False)),
                cold_start_timeout=float(data.get("cold_start_timeout", 30.0)),
                idle_seconds=None if stz.get("idle_seconds") is None else float(stz["idle_seconds"]),
                wake_url=stz.get("wake_url") or None,
                connect_timeout=float(data.get("connect_timeout", 5.0)),
                read_timeout=None if read_timeout is None else float(read_timeout),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad numeric setting: {exc}") from None
        if cfg.check_interval <= 0:
            raise ConfigError("'check_interval' must be > 0")
        if cfg.eject_after < 1:
            raise ConfigError("'eject_after' must be >= 1")
        if cfg.cold_start_timeout < 0:
            raise ConfigError("'cold_start_timeout' must be >= 0")
        return cfg

    @classmethod
    def load(cls, path: Path) -> LBConfig:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)


# --------------------------------------------------------------------------- backends


@dataclass(eq=False)
class Backend:
    """A replica plus what the balancer has learned about it.

    Identity is the object, not the id: a request holds the object it was sent
    to, so counters stay right even if the config replaces or removes it.
    """

    id: str
    url: str
    revision: int
    state: str
    ready: bool = False
    healthy: bool = False
    admitted: bool = False
    ever_admitted: bool = False
    ejected: bool = False
    removed: bool = False
    health_failures: int = 0
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    last_error: str | None = None
    last_check_at: float | None = None
    next_check_at: float = 0.0
    added_at: float = field(default_factory=time.monotonic)
    checking: bool = False
    origin: Origin = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.origin = Origin.parse(self.url)

    @property
    def eligible(self) -> bool:
        return self.admitted and self.ready and self.state == "active" and not self.removed

    def to_status(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "revision": self.revision,
            "state": "removed" if self.removed else self.state,
            "ready": self.ready, "healthy": self.healthy, "admitted": self.admitted,
            "ejected": self.ejected, "eligible": self.eligible,
            "health_failures": self.health_failures, "in_flight": self.in_flight,
            "requests": self.requests, "failures": self.failures, "last_error": self.last_error,
            "last_check_at": self.last_check_at,
        }


# --------------------------------------------------------------------------- statistics


class RequestStats:
    """Request rate and latency percentiles over a sliding minute, in O(1) memory.

    The autoscaler needs "requests per second now" and "p95 latency now", not
    since start, and Prometheus histograms only give cumulative buckets. So each
    second of the last 60 gets a slot holding a count and a log-spaced latency
    histogram (15 % wide buckets, 0.5 ms to ~2 min); a percentile is read from the
    merged slots and reported as its bucket's upper bound, i.e. it overstates
    the true value by at most 15 %.
    """

    SLOTS = 60
    GROWTH = 1.15

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        bounds: list[float] = []
        edge = 0.0005
        while edge < 120.0:
            bounds.append(edge)
            edge *= self.GROWTH
        self._bounds = bounds
        self._second = [-1] * self.SLOTS
        self._count = [0] * self.SLOTS
        self._hist = [[0] * (len(bounds) + 1) for _ in range(self.SLOTS)]

    def record(self, latency: float) -> None:
        sec = int(self._clock())
        slot = sec % self.SLOTS
        if self._second[slot] != sec:
            self._second[slot] = sec
            self._count[slot] = 0
            hist = self._hist[slot]
            for i in range(len(hist)):
                hist[i] = 0
        self._count[slot] += 1
        self._hist[slot][bisect.bisect_left(self._bounds, latency)] += 1

    def _slots(self, window: int) -> Iterable[int]:
        now_sec = int(self._clock())
        return (i for i in range(self.SLOTS) if now_sec - window < self._second[i] <= now_sec)

    def count(self, window: int) -> int:
        return sum(self._count[i] for i in self._slots(window))

    def rate(self, window: int = 10) -> float:
        """Requests per second over the last ``window`` seconds (fewer just after start)."""
        now = self._clock()
        span = min(window - 1 + (now - int(now)), now - self._started)
        return self.count(window) / span if span > 0 else 0.0

    def percentiles(self, window: int = 60, qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[float, float | None]:
        merged = [0] * (len(self._bounds) + 1)
        total = 0
        for i in self._slots(window):
            total += self._count[i]
            for j, n in enumerate(self._hist[i]):
                if n:
                    merged[j] += n
        out: dict[float, float | None] = {}
        for q in qs:
            if total == 0:
                out[q] = None
                continue
            rank = max(1, math.ceil(q * total))
            seen = 0
            for j, n in enumerate(merged):
                seen += n
                if seen >= rank:
                    out[q] = self._bounds[j] if j < len(self._bounds) else float("inf")
                    break
        return out


class Metrics:
    """Prometheus series for one balancer process, in its own registry.

    A per-process registry (not the global default) so that importing this module
    in a test or in the CLI never pollutes another registry, and so that the
    exposition contains exactly the balancer's series. Label children are cached
    because ``.labels()`` costs a lock and a dict lookup on every request.
    """

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pepperpy_requests", "Requests answered by the load balancer, by status class.",
            ["deployment", "status_class"], registry=self.registry)
        self.response_time = Histogram(
            "pepperpy_response_time_seconds", "Time from request received to response complete.",
            ["deployment"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.backend_up = Gauge(
            "pepperpy_backend_up", "1 when the backend is admitted and passed its last readiness probe.",
            ["deployment", "backend"], registry=self.registry)
        self.in_flight = Gauge(
            "pepperpy_in_flight", "Requests being proxied right now.", ["deployment"], registry=self.registry)
        self._class_children = {
            cls: self.requests.labels(deployment, cls) for cls in ("1xx", "2xx", "3xx", "4xx", "5xx")
        }
        self._latency_child = self.response_time.labels(deployment)
        self.in_flight_child = self.in_flight.labels(deployment)

    def observe(self, status: int, latency: float) -> None:
        cls = f"{status // 100}xx"
        child = self._class_children.get(cls)
        if child is None:
            child = self._class_children[cls] = self.requests.labels(self.deployment, cls)
        child.inc()
        self._latency_child.observe(latency)

    def set_backend(self, backend: Backend) -> None:
        self.backend_up.labels(self.deployment, backend.id).set(1 if backend.admitted and backend.ready else 0)

    def drop_backend(self, backend_id: str) -> None:
        with contextlib.suppress(KeyError):
            self.backend_up.remove(self.deployment, backend_id)


# --------------------------------------------------------------------------- upstream clients


class ClientDisconnected(Exception):
    """The client went away while its request was being proxied."""


class UpstreamError(Exception):
    """The backend could not be used for this request; subclasses say how far it got."""


class UpstreamConnectError(UpstreamError):
    """No connection could be opened: nothing was sent, the backend is not there."""


class UpstreamClosedError(UpstreamError):
    """The connection closed before any response byte: the backend answered nothing."""


class UpstreamTimeout(UpstreamError):
    """The backend did not answer within the read timeout."""


class _RequestBody:
    """The client's request body as an async iterator, remembering if it was started.

    Retrying on another backend is only safe while nothing of a streamed body has
    been handed to the first one; bodies that arrived whole are always replayable.
    """

    def __init__(self, first: bytes, receive: Receive) -> None:
        self._first = first
        self._receive = receive
        self.started = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        if self._first:
            yield self._first
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return


RequestBody = bytes | _RequestBody


@dataclass
class UpstreamResponse:
    """A backend's response head, with its body still to be read.

    ``body`` yields ``(chunk, last)``: a client knowing that a chunk ends the
    body lets the balancer finish the response in the same ASGI send instead of
    a separate empty one, which is measurable at thousands of requests a second.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: AsyncIterator[tuple[bytes, bool]]
    close: Callable[[], Awaitable[None]]


class Upstream:
    """What the balancer needs from an HTTP client: send one request, stream the answer."""

    name = "abstract"

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float | None = 300.0,
                 keepalive_expiry: float = 4.0, max_idle_per_origin: int = 256) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_idle_per_origin = max_idle_per_origin

    async def send(self, origin: Origin, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: RequestBody) -> UpstreamResponse:
        """Send one request; ``headers`` already carry the body's framing (length or chunked)."""
        raise NotImplementedError

    def prune(self) -> None:
        """Close idle connections that expired or that the backend closed."""

    async def aclose(self) -> None:
        raise NotImplementedError


class _H11Connection:
    __slots__ = ("conn", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def usable(self, now: float, expiry: float) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof() or now - self.idle_since > expiry)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class H11Upstream(Upstream):
    """Pooled HTTP/1.1 keep-alive client on asyncio streams, with h11 doing the framing.

    Why not ``httpx.AsyncClient``: as a plain client against one uvicorn replica
    (no balancer involved), httpx 0.28 did ~300 requests/s through 32 concurrent
    keep-alive connections (its pool does work proportional to the number of
    connections on every request, and httpcore retries a failing
    ``import sniffio`` on every lock it creates when sniffio is absent, as it is
    here), while this pool did ~5,500/s through the same 32. h11 is the
    HTTP/1.1 state machine uvicorn and httpcore already use, so framing (chunked,
    Content-Length, HEAD, 1xx, read-until-close) is not hand-written here.

    Idle connections are kept per origin, reused most-recent-first, and dropped
    after ``keepalive_expiry`` seconds, which stays under uvicorn's default 5 s
    keep-alive so the balancer closes an idle connection before the replica
    does; the other order makes a reused connection fail under the request.
    """

    name = "h11"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._idle: dict[tuple[str, int], deque[_H11Connection]] = {}

    def _checkout(self, key: tuple[str, int]) -> _H11Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle and not idle[0].usable(now, self.keepalive_expiry):  # the coldest may have expired
            idle.popleft().close()
        while idle:
            candidate = idle.pop()
            if candidate.usable(now, self.keepalive_expiry):
                return candidate
            candidate.close()
        return None

    def _checkin(self, key: tuple[str, int], connection: _H11Connection) -> None:
        conn = connection.conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            idle = self._idle.setdefault(key, deque())
            if len(idle) < self.max_idle_per_origin:
                connection.idle_since = time.monotonic()
                idle.append(connection)
                return
        connection.close()

    async def _connect(self, origin: Origin) -> _H11Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(origin.host, origin.port, limit=2**20)
        except TimeoutError:
            raise UpstreamConnectError(f"connect to {origin.url} timed out") from None
        except OSError as exc:
            raise UpstreamConnectError(f"connect to {origin.url}: {exc.strerror or exc}") from None
        return _H11Connection(reader, writer)

    async def _read(self, connection: _H11Connection) -> bytes:
        if self.read_timeout is None:
            return await connection.reader.read(65536)
        try:
            async with asyncio.timeout(self.read_timeout):
                return await connection.reader.read(65536)
        except TimeoutError:
            raise UpstreamTimeout(f"no data within {self.read_timeout} s") from None

    async def send(self, origin: Origin, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: RequestBody) -> UpstreamResponse:
        key = (origin.host, origin.port)
        connection = self._checkout(key)
        if connection is None:
            connection = await self._connect(origin)
        conn = connection.conn
        writer = connection.writer
        try:
            out = [(b"host", origin.url[7:].encode())]
            out += headers
            if isinstance(body, bytes):
                data = conn.send(h11.Request(method=method, target=target, headers=out))
                if body:
                    data += conn.send(h11.Data(data=body))
                data += conn.send(h11.EndOfMessage())
                writer.write(data)
            else:
                writer.write(conn.send(h11.Request(method=method, target=target, headers=out)))
                async for chunk in body:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
                writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await self._read(connection)
                    if not chunk and conn.their_state is h11.SEND_RESPONSE:
                        raise UpstreamClosedError(f"{origin.url} closed the connection without a response")
                    conn.receive_data(chunk)
                elif isinstance(event, h11.Response):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise UpstreamClosedError(f"{origin.url} closed the connection without a response")
                # InformationalResponse (1xx): the final response follows.
        except (ConnectionError, OSError) as exc:
            connection.close()
            raise UpstreamClosedError(f"{origin.url}: {exc}") from None
        except h11.ProtocolError as exc:
            connection.close()
            raise UpstreamError(f"{origin.url} sent an invalid response: {exc}") from None
        except BaseException:
            connection.close()
            raise

        finished = False

        async def body_iter() -> AsyncIterator[tuple[bytes, bool]]:
            nonlocal finished
            try:
                pending: Any = None
                while True:
                    ev = pending if pending is not None else conn.next_event()
                    pending = None
                    if ev is h11.NEED_DATA:
                        conn.receive_data(await self._read(connection))
                    elif isinstance(ev, h11.Data):
                        # Look ahead without waiting: is the message complete already?
                        pending = conn.next_event()
                        last = isinstance(pending, h11.EndOfMessage)
                        finished = finished or last
                        yield bytes(ev.data), last
                        if last:
                            return
                    elif isinstance(ev, h11.EndOfMessage | h11.ConnectionClosed):
                        finished = True
                        return
            except (ConnectionError, OSError) as exc:
                raise UpstreamError(f"{origin.url} broke the response: {exc}") from None
            except h11.ProtocolError as exc:
                raise UpstreamError(f"{origin.url} broke the response: {exc}") from None

        async def close() -> None:
            if finished:
                self._checkin(key, connection)
            else:
                connection.close()

        return UpstreamResponse(event.status_code, list(event.headers.raw_items()), body_iter(), close)

    def prune(self) -> None:
        # Without this, idle connections to a replica that was removed (and so
        # is never asked for again) would keep their file descriptors forever.
        now = time.monotonic()
        for key in list(self._idle):
            fresh: deque[_H11Connection] = deque()
            for connection in self._idle[key]:
                if connection.usable(now, self.keepalive_expiry):
                    fresh.append(connection)
                else:
                    connection.close()
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]

    async def aclose(self) -> None:
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()


class HttpxUpstream(Upstream):
    """The same contract on httpx's pooled transport; kept to make the comparison reproducible.

    Selected with ``--upstream httpx``. It uses the transport, not
    ``AsyncClient``, because the client layer would add default headers
    (``User-Agent``, ``Accept-Encoding``), keep one cookie jar for all users and
    run redirect machinery a proxy must not apply.
    """

    name = "httpx"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._timeout = {"connect": self.connect_timeout, "read": self.read_timeout,
                         "write": self.read_timeout, "pool": self.connect_timeout}
        self._transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=self.max_idle_per_origin,
                                keepalive_expiry=self.keepalive_expiry), retries=0)

    async def send(self, origin: Origin, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                   body: RequestBody) -> UpstreamResponse:
        request = httpx.Request(method, origin.url + target.decode("latin-1"), headers=headers, content=body,
                                extensions={"timeout": self._timeout})
        try:
            response = await self._transport.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamConnectError(f"connect to {origin.url}: {exc}") from None
        except httpx.RemoteProtocolError as exc:
            raise UpstreamClosedError(f"{origin.url}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{origin.url}: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{origin.url}: {type(exc).__name__}: {exc}") from None
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)

        async def body_iter() -> AsyncIterator[tuple[bytes, bool]]:
            try:
                async for chunk in stream:
                    yield chunk, False
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{origin.url} broke the response: {type(exc).__name__}") from None

        return UpstreamResponse(response.status_code, list(response.headers.raw), body_iter(), stream.aclose)

    async def aclose(self) -> None:
        await self._transport.aclose()


UPSTREAMS: dict[str, type[Upstream]] = {"h11": H11Upstream, "httpx": HttpxUpstream}


# --------------------------------------------------------------------------- the balancer


class LoadBalancer:
    """The ASGI application: admin endpoints, proxying, and the background loops."""

    CONFIG_POLL = 0.2
    FAST_CHECK = 0.2
    STARTING_WINDOW = 60.0

    def __init__(self, config_path: Path, upstream: str = "h11") -> None:
        if upstream not in UPSTREAMS:
            raise ConfigError(f"unknown upstream client {upstream!r}; choose from {', '.join(UPSTREAMS)}")
        self.upstream_name = upstream
        self.config_path = Path(config_path)
        self.config = LBConfig.load(self.config_path)
        self._config_id = self._file_identity()
        self.config_loaded_at = time.time()
        self.config_error: str | None = None
        self.metrics = Metrics(self.config.deployment)
        self.stats = RequestStats()
        self.backends: dict[str, Backend] = {}
        self._order: list[Backend] = []
        self._retired: list[Backend] = []
        self._rr = 0
        self.in_flight = 0
        self.total_requests = 0
        self.last_request_at: float | None = None
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._check_tasks: set[asyncio.Task[None]] = set()
        self._upstream: Upstream | None = None
        self._checker: httpx.AsyncClient | None = None
        self._waking = False
        self._apply(self.config, initial=True)

    # ----- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith(ADMIN_PREFIX):
                await self._admin(path, send)
            else:
                await self._proxy(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: not supported, say so by closing before accept
            await send({"type": "websocket.close", "code": 1003, "reason": "websocket not supported"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        """Open the upstream pools and start the config watcher and the checker."""
        self._upstream = UPSTREAMS[self.upstream_name](
            connect_timeout=self.config.connect_timeout, read_timeout=self.config.read_timeout)
        # Probes get their own client: a saturated data path must not delay the
        # checks that decide whether a backend is alive. No keep-alive: each
        # probe also proves the replica still accepts connections, and no probe
        # connection to a dead replica lingers half-closed.
        self._checker = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
            timeout=self.config.check_timeout, follow_redirects=False,
            trust_env=False,  # never route probes of 127.0.0.1 through an HTTP_PROXY from the environment
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch_config()), loop.create_task(self._check_loop())]
        _log("started", deployment=self.config.deployment, backends=len(self.backends))

    async def stop(self) -> None:
        for task in [*self._tasks, *self._check_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._check_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._upstream is not None:
            await self._upstream.aclose()
        if self._checker is not None:
            await self._checker.aclose()

    # ----- config

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            st = self.config_path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def reload_if_changed(self) -> bool:
        """Apply the config file if it changed since it was last read."""
        identity = self._file_identity()
        if identity is None or identity == self._config_id:
            return False
        self._config_id = identity
        try:
            config = LBConfig.load(self.config_path)
        except ConfigError as exc:
            # Keep serving with the last good config: a bad write must not take
            # the deployment down. The error shows in /_pepperpy/status.
            self.config_error = str(exc)
            _log("config_rejected", level=logging.WARNING, error=str(exc))
            return False
        self.config_error = None
        self.config_loaded_at = time.time()
        self._apply(config)
        return True

    def _apply(self, config: LBConfig, initial: bool = False) -> None:
        old = self.backends
        new: dict[str, Backend] = {}
        for spec in config.backends:
            current = old.get(spec.id)
            if current is not None and current.url == spec.url:
                if current.state != spec.state:
                    _log("backend_state", backend=spec.id, state=spec.state)
                current.state = spec.state
                current.revision = spec.revision
                new[spec.id] = current
            else:
                backend = Backend(spec.id, spec.url, spec.revision, spec.state)
                new[spec.id] = backend
                self.metrics.set_backend(backend)
                if not initial:
                    _log("backend_added", backend=spec.id, url=spec.url, revision=spec.revision)
                    self._schedule_check(backend)
        for bid, backend in old.items():
            if new.get(bid) is not backend:
                backend.removed = True
                if bid not in new:
                    self.metrics.drop_backend(bid)
                if backend.in_flight:
                    self._retired.append(backend)
                _log("backend_removed", backend=bid, in_flight=backend.in_flight)
        self.config = config
        self.backends = new
        self._order = list(new.values())

    async def _watch_config(self) -> None:
        while True:
            await asyncio.sleep(self.CONFIG_POLL)
            try:
                self.reload_if_changed()
            except Exception as exc:  # never let the watcher die
                _log("config_watch_error", level=logging.ERROR, error=repr(exc))

    # ----- checks

    async def _check_loop(self) -> None:
        while True:
            now = time.monotonic()
            for backend in self._order:
                if not backend.checking and now >= backend.next_check_at:
                    self._schedule_check(backend)
            if self._upstream is not None:
                self._upstream.prune()
            await asyncio.sleep(min(self.FAST_CHECK, self.config.check_interval))

    def _schedule_check(self, backend: Backend) -> None:
        if backend.checking or self._checker is None:
            return
        backend.checking = True
        task = asyncio.get_running_loop().create_task(self._check(backend))
        self._check_tasks.add(task)
        task.add_done_callback(self._check_tasks.discard)

    async def _probe(self, backend: Backend, path: str) -> str | None:
        """GET one probe path; ``None`` when it answered 2xx, else why not."""
        assert self._checker is not None
        try:
            response = await self._checker.get(backend.url + path, timeout=self.config.check_timeout)
        except httpx.HTTPError as exc:
            return f"{path}: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"{path}: HTTP {response.status_code}"

    async def _check(self, backend: Backend) -> None:
        config = self.config
        try:
            if config.readiness_path == config.health_path:
                ready_err = health_err = await self._probe(backend, config.readiness_path)
            else:
                ready_err, health_err = await asyncio.gather(
                    self._probe(backend, config.readiness_path), self._probe(backend, config.health_path))
            self._record_check(backend, ready_err, health_err)
        finally:
            backend.checking = False
            backend.last_check_at = time.time()
            # A replica that is starting gets probed fast for its first minute, so
            # admission follows readiness closely; after that, or once admitted,
            # the configured interval applies (a broken replica is not hammered).
            starting = not backend.ever_admitted and time.monotonic() - backend.added_at < self.STARTING_WINDOW
            interval = min(self.FAST_CHECK, config.check_interval) if starting else config.check_interval
            backend.next_check_at = time.monotonic() + interval

    def _record_check(self, backend: Backend, ready_err: str | None, health_err: str | None) -> None:
        was_eligible = backend.eligible
        backend.ready = ready_err is None
        backend.healthy = health_err is None
        backend.last_error = ready_err or health_err
        if backend.healthy:
            backend.health_failures = 0
        else:
            backend.health_failures += 1
        if backend.admitted and backend.health_failures >= self.config.eject_after:
            backend.admitted = False
            backend.ejected = True
            _log("backend_ejected", level=logging.WARNING, backend=backend.id, error=health_err,
                 failures=backend.health_failures)
        elif not backend.admitted and backend.ready and backend.healthy:
            backend.admitted = backend.ever_admitted = True
            if backend.ejected:
                _log("backend_readmitted", backend=backend.id)
            backend.ejected = False
        if backend.eligible != was_eligible:
            _log("backend_eligible" if backend.eligible else "backend_not_eligible",
                 backend=backend.id, error=backend.last_error)
        if not backend.removed:
            self.metrics.set_backend(backend)

    def _mark_unreachable(self, backend: Backend, error: str) -> None:
        """Take a backend that refused a connection out of rotation until a probe passes."""
        backend.failures += 1
        backend.last_error = error
        if backend.ready:
            backend.ready = False
            _log("backend_unreachable", level=logging.WARNING, backend=backend.id, error=error)
            if not backend.removed:
                self.metrics.set_backend(backend)
        backend.next_check_at = 0.0

    # ----- selection

    def _acquire(self, exclude: Backend | None = None) -> Backend | None:
        """Least connections among eligible backends; ties rotate. Counts the pick as in flight."""
        order = self._order
        n = len(order)
        if n == 0:
            return None
        start = self._rr = (self._rr + 1) % n
        best: Backend | None = None
        for i in range(n):
            backend = order[(start + i) % n]
            if backend is exclude or not backend.eligible:
                continue
            if best is None or backend.in_flight < best.in_flight:
                best = backend
        if best is not None:
            best.in_flight += 1
            best.requests += 1
        return best

    def _release(self, backend: Backend) -> None:
        backend.in_flight -= 1
        if backend.removed and backend.in_flight == 0 and backend in self._retired:
            self._retired.remove(backend)

    async def _wait_for_backend(self) -> Backend | None:
        """Cold start: hold the request while the supervisor brings a replica up."""
        deadline = time.monotonic() + self.config.cold_start_timeout
        self._wake()
        while True:
            backend = self._acquire()
            if backend is not None:
                return backend
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)
            # Poll the file ourselves too: a waiting request should not depend on
            # the watcher's cadence.
            self.reload_if_changed()

    def _wake(self) -> None:
        url = self.config.wake_url
        if not url or self._waking or self._checker is None:
            return
        self._waking = True
        checker = self._checker

        async def wake() -> None:
            try:
                await checker.post(url, json={"deployment": self.config.deployment, "reason": "cold_start"})
            except httpx.HTTPError as exc:
                _log("wake_failed", level=logging.WARNING, url=url, error=type(exc).__name__)
            finally:
                await asyncio.sleep(1.0)
                self._waking = False

        task = asyncio.get_running_loop().create_task(wake())
        self._check_tasks.add(task)
        task.add_done_callback(self._check_tasks.discard)

    # ----- proxying

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        self.last_request_at = time.time()
        self.in_flight += 1
        self.total_requests += 1
        self.metrics.in_flight_child.inc()
        status = 500
        try:
            status = await self._forward(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight_child.dec()
            latency = time.perf_counter() - started
            self.metrics.observe(status, latency)
            self.stats.record(latency)

    def _upstream_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], bytes | None, bytes | None]:
        """Headers for the backend, the Content-Length the client declared, and any Upgrade asked for."""
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        extra_hop: set[bytes] = set()
        host = b""
        forwarded_for = b""
        declared: bytes | None = None
        upgrade: bytes | None = None
        out: list[tuple[bytes, bytes]] = []
        for name, value in raw:
            if name == b"connection":
                extra_hop.update(t.strip().lower() for t in value.split(b","))
        for name, value in raw:
            if name in HOP_BY_HOP_REQUEST or name in REBUILT_REQUEST or name in extra_hop:
                if name == b"host":
                    host = value
                elif name == b"content-length":
                    declared = value
                elif name == b"upgrade":
                    upgrade = value
                elif name == b"x-forwarded-for":
                    forwarded_for = value if not forwarded_for else forwarded_for + b", " + value
                continue
            out.append((name, value))
        client = scope.get("client")
        peer = client[0].encode() if client else b""
        if peer:
            forwarded_for = forwarded_for + b", " + peer if forwarded_for else peer
        if forwarded_for:
            out.append((b"x-forwarded-for", forwarded_for))
        out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        if host:
            out.append((b"x-forwarded-host", host))
        return out, declared, upgrade

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> int:
        method: str = scope["method"]
        headers, declared, upgrade = self._upstream_headers(scope)
        if upgrade is not None:
            # Proxying an upgraded connection (WebSocket, h2c) needs a raw byte
            # tunnel this balancer does not have; say so instead of forwarding a
            # stripped request the app would misread.
            return await self._error(send, 501, "upgrade_not_supported",
                                     f"the local load balancer does not proxy Upgrade: {upgrade.decode('latin-1')}")
        backend = self._acquire()
        if backend is None and self.config.cold_start:
            backend = await self._wait_for_backend()
        if backend is None:
            return await self._unavailable(send)

        first = await receive()
        if first["type"] == "http.disconnect":
            self._release(backend)
            return 499
        body: bytes | _RequestBody
        if first.get("more_body", False):
            body = _RequestBody(first.get("body", b""), receive)
        else:
            body = first.get("body", b"")
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target = target + b"?" + scope["query_string"]
        if isinstance(body, bytes):
            if body or declared is not None:
                headers.append((b"content-length", str(len(body)).encode()))
        elif declared is not None:
            headers.append((b"content-length", declared))
        else:
            headers.append((b"transfer-encoding", b"chunked"))
        retries_left = 1 if method in IDEMPOTENT_METHODS else 0
        upstream = self._upstream
        assert upstream is not None

        while True:
            try:
                response = await upstream.send(backend.origin, method, target, headers, body)
            except (UpstreamConnectError, UpstreamClosedError) as exc:
                # A closed-without-response connection is typically a pooled
                # keep-alive connection the backend closed just as it was reused,
                # or a replica that died: nothing was answered, so an idempotent
                # request may be sent again. Only a refused connection says the
                # backend itself is gone and takes it out of rotation.
                self._release(backend)
                refused = isinstance(exc, UpstreamConnectError)
                if refused:
                    self._mark_unreachable(backend, str(exc))
                replayable = not isinstance(body, _RequestBody) or not body.started
                if retries_left and replayable:
                    retries_left -= 1
                    other = self._acquire(exclude=backend if refused else None)
                    if other is not None:
                        backend = other
                        continue
                backend.failures += not refused
                return await self._error(send, 502, "bad_gateway", f"backend {backend.id} unreachable")
            except UpstreamTimeout:
                self._release(backend)
                backend.failures += 1
                return await self._error(send, 504, "gateway_timeout", f"backend {backend.id} timed out")
            except ClientDisconnected:
                self._release(backend)
                return 499
            except UpstreamError as exc:
                self._release(backend)
                backend.failures += 1
                backend.last_error = str(exc)
                return await self._error(send, 502, "bad_gateway", f"backend {backend.id} sent an invalid response")
            except BaseException:
                self._release(backend)
                raise
            break

        try:
            return await self._relay(response, scope, receive, send)
        finally:
            self._release(backend)

    async def _relay(self, response: UpstreamResponse, scope: Scope, receive: Receive, send: Send) -> int:
        """Stream the backend's response to the client as it arrives."""
        raw = response.headers
        extra_hop: set[bytes] = set()
        for name, value in raw:
            if name.lower() == b"connection":
                extra_hop.update(t.strip().lower() for t in value.split(b","))
        headers = []
        length_known = False
        for name, value in raw:
            lname = name.lower()
            if lname in HOP_BY_HOP_RESPONSE or lname in extra_hop:
                continue
            if lname == b"content-length":
                length_known = True
            headers.append((lname, value))
        status = response.status
        body = response.body
        watcher: asyncio.Task[Any] | None = None
        last = False
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if length_known or scope["method"] == "HEAD":
                async for chunk, last in body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            else:
                # Open-ended (chunked, server-sent events): uvicorn drops writes to
                # a gone client silently, so watch for the disconnect or an
                # endless stream would be read from the backend forever.
                watcher = asyncio.ensure_future(_wait_disconnect(receive))
                while True:
                    next_chunk = asyncio.ensure_future(anext(body))
                    done, _ = await asyncio.wait({next_chunk, watcher}, return_when=asyncio.FIRST_COMPLETED)
                    if watcher in done:
                        next_chunk.cancel()
                        with contextlib.suppress(BaseException):
                            await next_chunk
                        return 499
                    try:
                        chunk, last = next_chunk.result()
                    except StopAsyncIteration:
                        break
                    await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                    if last:
                        break
            if not last:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamError as exc:
            # Headers are gone already; the only honest signal left is to cut
            # the connection so the client sees a truncated response.
            _log("upstream_broken", level=logging.WARNING, error=str(exc))
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            await response.close()
        return status

    async def _unavailable(self, send: Send) -> int:
        retry_after = max(1, math.ceil(self.config.check_interval))
        return await self._error(
            send, 503, "no_ready_backend",
            f"deployment {self.config.deployment!r} has no ready replica", retry_after=retry_after)

    async def _error(self, send: Send, status: int, code: str, detail: str, retry_after: int | None = None) -> int:
        body = json.dumps({"error": code, "detail": detail, "deployment": self.config.deployment}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        with contextlib.suppress(Exception):
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        return status

    # ----- admin

    def status(self) -> dict[str, Any]:
        """Everything the supervisor and the autoscaler read, as one JSON document."""
        pct = self.stats.percentiles(60)
        backends = [b.to_status() for b in self._order] + [b.to_status() for b in self._retired]
        return {
            "deployment": self.config.deployment,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "config_path": str(self.config_path),
            "config_loaded_at": self.config_loaded_at,
            "config_error": self.config_error,
            "cold_start": self.config.cold_start,
            "scale_to_zero": {"idle_seconds": self.config.idle_seconds, "wake_url": self.config.wake_url},
            "backends": backends,
            "ready_backends": sum(1 for b in self._order if b.eligible),
            "in_flight": self.in_flight,
            "total_requests": self.total_requests,
            "last_request_at": self.last_request_at,
            "seconds_since_last_request": None if self.last_request_at is None
            else round(time.time() - self.last_request_at, 3),
            "windows_seconds": {"requests_per_second": 10, "latency": 60},
            "requests_per_second": round(self.stats.rate(10), 3),
            "requests_last_60s": self.stats.count(60),
            "latency_p50_seconds": pct[0.5],
            "latency_p95_seconds": pct[0.95],
            "latency_p99_seconds": pct[0.99],
        }

    async def _admin(self, path: str, send: Send) -> None:
        if path == "/_pepperpy/metrics":
            body = generate_latest(self.metrics.registry)
            ctype = CONTENT_TYPE_LATEST.encode()
            status = 200
        elif path == "/_pepperpy/status":
            body, ctype, status = json.dumps(self.status()).encode(), b"application/json", 200
        elif path == "/_pepperpy/health":
            payload = {"status": "ok", "deployment": self.config.deployment,
                       "ready_backends": sum(1 for b in self._order if b.eligible)}
            body, ctype, status = json.dumps(payload).encode(), b"application/json", 200
        else:
            body, ctype, status = b'{"error": "not_found"}', b"application/json", 404
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


# --------------------------------------------------------------------------- process entry


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, like the replicas' logs, so one reader handles both."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def _log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    LOG.log(level, event, extra={"fields": fields})


def bind_socket(port: int) -> socket.socket:
    """Bind 127.0.0.1:port ourselves so port 0 works and the real port is known before serving."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose
    # proto says TCP, and without it Nagle + delayed ACK add ~40 ms per response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m pepperpy.cloud.providers.local.loadbalancer",
        description="Local least-connections load balancer for one PepperPy Cloud deployment (127.0.0.1 only).")
    parser.add_argument("--config", required=True, type=Path, help="JSON config file, re-read when it changes")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--upstream", default="h11", choices=sorted(UPSTREAMS),
                        help="client used towards replicas (httpx is kept for comparison; it is slower)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--graceful-timeout", type=int, default=30,
                        help="seconds to let in-flight requests finish on SIGTERM")
    args = parser.parse_args(argv)

    # One JSON object per line for uvicorn's own messages too (log_config=None
    # below leaves its loggers to propagate here).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(args.log_level.upper())
    # httpx logs every probe at INFO; the balancer logs what the probes change.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

    try:
        app = LoadBalancer(args.config, upstream=args.upstream)
        sock = bind_socket(args.port)
    except (ConfigError, OSError) as exc:
        print(f"pepperpy load balancer: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    if args.port_file:
        tmp = args.port_file.with_name(args.port_file.name + ".tmp")
        tmp.write_text(str(port), encoding="utf-8")
        tmp.replace(args.port_file)
    _log("listening", url=f"http://{HOST}:{port}", config=str(args.config))
    config = uvicorn.Config(
        app, lifespan="on", access_log=False, log_level=args.log_level, log_config=None,
        # The backend's own Server and Date headers pass through; the client's
        # X-Forwarded-For is extended by us, not trusted by uvicorn.
        server_header=False, date_header=False, proxy_headers=False,
        timeout_keep_alive=15, timeout_graceful_shutdown=args.graceful_timeout,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
