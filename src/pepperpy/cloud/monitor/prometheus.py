"""Read a deployment's metrics from a Prometheus server's HTTP API (issue 6).

When a Prometheus server scrapes the load balancer and the replicas (``PEPPERPY_PROMETHEUS_URL``),
``get_metrics`` asks it instead of the local collector: the same logical metrics, computed by the
PromQL in :mod:`pepperpy.cloud.monitor.definitions`, so a dashboard panel and the CLI show the same
numbers. Only ``/api/v1/query_range`` and ``/api/v1/query`` are used, with plain GETs, so any
Prometheus-compatible API (Thanos, Mimir, VictoriaMetrics) works too.

Failures are :class:`InputError` naming the field to fix: ``prometheus_url`` when the server cannot be
reached or does not answer like Prometheus, ``metrics`` when Prometheus rejects the query.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from pepperpy.cloud.errors import InputError
from pepperpy.cloud.monitor import definitions
from pepperpy.cloud.monitor.series import MetricsResult, Series

ENV_URL = "PEPPERPY_PROMETHEUS_URL"
# The default step keeps a range at or under this many points per series...
TARGET_POINTS = 1000
# ...but never goes below Prometheus's default scrape interval: finer steps would repeat samples.
MIN_DEFAULT_STEP = 15
# Prometheus refuses a range query with more points than this per series.
MAX_POINTS = 11_000

URL_FIELD = "prometheus_url"
URL_HINT = f"give the server root, e.g. http://localhost:9090 (set {ENV_URL} or pass prometheus_url)"

Sample = tuple[dict[str, str], np.ndarray, np.ndarray]


def default_step(start: float, end: float) -> int:
    """Seconds between points: the range over ``TARGET_POINTS``, rounded, at least ``MIN_DEFAULT_STEP``."""
    return max(MIN_DEFAULT_STEP, round((end - start) / TARGET_POINTS))


def _epoch(value: datetime | float | int, field: str) -> float:
    """Unix seconds from a datetime (naive means UTC, as in TimeRange) or a number."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise InputError(field, f"{value!r} is not a datetime or a Unix timestamp")


def _validate_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InputError(URL_FIELD, f"{url!r} is not a URL", hint=URL_HINT)
    text = url.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as exc:
        raise InputError(URL_FIELD, f"{text!r} is not a valid URL: {exc}", hint=URL_HINT) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(URL_FIELD, f"{text!r} is not an http:// or https:// URL", hint=URL_HINT)
    if parts.query or parts.fragment:
        raise InputError(URL_FIELD, f"{text!r} has a query or fragment; give only the server root", hint=URL_HINT)
    return text.rstrip("/")


class PrometheusReader:
    """A client for one Prometheus server: range queries in, numpy arrays and ``Series`` out.

    Holds one ``httpx.Client`` so the queries of a ``get_metrics`` call share a connection; use it as
    a context manager (or call :meth:`close`) to release it.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = _validate_url(url)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
            raise InputError("timeout", f"{timeout!r} is not a positive number of seconds")
        self.timeout = float(timeout)
        self._client = httpx.Client(timeout=self.timeout, headers={"Accept": "application/json"})

    @classmethod
    def from_env(cls, timeout: float = 10.0) -> PrometheusReader | None:
        """A reader for ``$PEPPERPY_PROMETHEUS_URL``, or None when it is unset or empty (use the local collector)."""
        url = os.environ.get(ENV_URL, "").strip()
        return cls(url, timeout=timeout) if url else None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PrometheusReader({self.url!r}, timeout={self.timeout})"

    # -- HTTP API ----------------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str]) -> Any:
        """GET ``path`` and return the ``data`` of a ``status: success`` answer; anything else is an InputError."""
        endpoint = self.url + path
        try:
            response = self._client.get(endpoint, params=params)
        except httpx.TimeoutException as exc:
            raise InputError(URL_FIELD, f"Prometheus at {self.url} did not answer within {self.timeout:g}s",
                             hint="check the server's load, or raise the timeout") from exc
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, bad URL...
            raise InputError(URL_FIELD, f"cannot reach Prometheus at {self.url}: {exc or type(exc).__name__}",
                             hint=f"is the server running? {URL_HINT}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            # Not the Prometheus API: a wrong path or port (an exporter, a proxy's HTML page, a 404).
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise InputError(URL_FIELD, f"{endpoint} answered HTTP {response.status_code} ({kind}), "
                                        "not a Prometheus API response", hint=URL_HINT)
        if body["status"] == "error":
            error_type = str(body.get("errorType", "error"))
            message = str(body.get("error", "no detail given"))
            if error_type in ("bad_data", "execution"):
                raise InputError("metrics", f"Prometheus rejected the query ({error_type}): {message}",
                                 hint=f"query: {params.get('query', '')}")
            if error_type == "timeout":
                raise InputError("metrics", f"the query timed out on Prometheus: {message}",
                                 hint="narrow the time range or use a larger step")
            raise InputError(URL_FIELD, f"Prometheus at {self.url} failed ({error_type}, HTTP "
                                        f"{response.status_code}): {message}",
                             hint="check the server's logs")
        return body.get("data")

    def query(self, promql: str, at: datetime | float | None = None) -> list[tuple[dict[str, str], float, float]]:
        """An instant query: ``(labels, timestamp, value)`` per series (vector results; a scalar has no labels)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{_epoch(at, 'time'):.3f}"
        data = self._get("/api/v1/query", params)
        kind = data.get("resultType") if isinstance(data, dict) else None
        if kind in ("scalar", "string"):
            ts, value = data["result"]
            return [({}, float(ts), _value(value))]
        if kind != "vector":
            raise InputError(URL_FIELD, f"Prometheus answered an instant query with {kind!r}, not a vector")
        return [(dict(item.get("metric", {})), float(item["value"][0]), _value(item["value"][1]))
                for item in data["result"] if "value" in item]

    def query_range(self, promql: str, start: datetime | float, end: datetime | float,
                    step: float) -> list[Sample]:
        """``/api/v1/query_range``: ``(labels, timestamps, values)`` per series, as float64 arrays.

        Values are as Prometheus computed them: ``NaN`` (e.g. 0/0 in a ratio) and ``±Inf`` (e.g. a
        quantile above the largest histogram bucket) stay, so the caller decides what they mean.
        """
        lo, hi = _epoch(start, "start"), _epoch(end, "end")
        if hi <= lo:
            raise InputError("time_range", "the range is empty: end is not after start",
                             hint="swap start and end, or widen the range")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0 or not math.isfinite(step):
            raise InputError("step", f"{step!r} is not a positive number of seconds")
        if (hi - lo) / step > MAX_POINTS:
            least = math.ceil((hi - lo) / MAX_POINTS)
            raise InputError("step", f"{step:g}s over {hi - lo:.0f}s is more than Prometheus's {MAX_POINTS} "
                                     "points per series", hint=f"use a step of at least {least}s")
        data = self._get("/api/v1/query_range",
                         {"query": promql, "start": f"{lo:.3f}", "end": f"{hi:.3f}", "step": f"{step:g}"})
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
            raise InputError(URL_FIELD, f"Prometheus answered a range query with {kind!r}, not a matrix")
        out: list[Sample] = []
        for item in data.get("result", []):
            pairs = item.get("values", [])  # native histograms come as "histograms" and are not read here
            timestamps = np.array([float(t) for t, _ in pairs], dtype=np.float64)
            values = np.array([_value(v) for _, v in pairs], dtype=np.float64)
            out.append((dict(item.get("metric", {})), timestamps, values))
        return out

    # -- logical metrics -----------------------------------------------------------------------------------

    def get_metrics(self, resource: str, metrics: Sequence[str], start: datetime | float, end: datetime | float,
                    step: float | None = None) -> MetricsResult:
        """The logical ``metrics`` of deployment ``resource`` between ``start`` and ``end``, from Prometheus.

        Every name is checked before any query (an unknown one is a NotFoundError listing the known ones).
        One ``Series`` per metric, in the order asked; a metric the server has no data for is an empty
        series, not an error. Points whose value is not finite (NaN when a ratio has no requests, +Inf
        when a quantile is above the largest bucket) are dropped: a gap, as when a scrape is missing,
        rather than a number a table or JSON could not hold.
        """
        if not isinstance(resource, str) or not resource:
            raise InputError("resource", f"{resource!r} is not a deployment name")
        if isinstance(metrics, str):
            metrics = [metrics]
        defs = [definitions.metric(name) for name in metrics]
        lo, hi = _epoch(start, "start"), _epoch(end, "end")
        if hi <= lo:
            raise InputError("time_range", "the range is empty: end is not after start",
                             hint="swap start and end, or widen the range")
        step = default_step(lo, hi) if step is None else step
        # Each point's increase covers one step (no double counting), and at least 4 scrapes of 15 s.
        window = f"{int(max(step, 60))}s"
        result = MetricsResult(resource=resource, start=lo, end=hi, source="prometheus")
        for d in defs:
            found = self.query_range(definitions.promql(d.name, resource, window), lo, hi, step)
            if not found:
                found = [({}, np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64))]
            for labels, timestamps, values in found:
                keep = np.isfinite(values)
                result.series.append(Series(d.name, resource, d.unit, timestamps[keep], values[keep],
                                            labels=labels, description=d.description))
        return result


def _value(text: object) -> float:
    """A sample value: Prometheus sends strings ("1.5", "NaN", "+Inf", "-Inf"), which float() reads."""
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InputError(URL_FIELD, f"Prometheus sent {text!r} as a sample value") from exc
