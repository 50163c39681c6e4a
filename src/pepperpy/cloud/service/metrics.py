"""Prometheus metrics of the service itself, in a registry of its own (one per app, so tests can build many).

With several uvicorn workers each worker counts its own requests; a Prometheus scrape through the port reaches
one worker at a time, so rates are per worker (sum them by ``instance`` or run one worker per port).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """Requests, latency, cache hits and misses, rate-limit refusals, Redis errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pepperpy_service_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("pepperpy_service_request_duration_seconds", "Time to answer a request",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.cache_hits = Counter("pepperpy_service_cache_hits_total", "Answers served from a cache layer",
                                  ["route", "layer"], registry=self.registry)
        self.cache_misses = Counter("pepperpy_service_cache_misses_total", "Answers computed (no layer had them)",
                                    ["route"], registry=self.registry)
        self.rate_limited = Counter("pepperpy_service_rate_limited_total", "Requests refused with 429",
                                    ["scope"], registry=self.registry)
        self.redis_errors = Counter("pepperpy_service_redis_errors_total",
                                    "Redis calls that failed (the service went on without Redis)",
                                    ["operation"], registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
