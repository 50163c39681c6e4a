"""Logical metrics (seed 000's names) computed from the raw series in the store.

Every point comes from samples of real scrapes: gauges are aggregated across replicas at
the same scrape; counters become per-interval increases (a drop is a process restart, and
the new value is the increase, as Prometheus does); latency is Δsum/Δcount per interval and
p95 is Prometheus' ``histogram_quantile`` on the bucket increases. An interval with no
request has no latency point rather than a zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pepperpy.cloud.monitor import definitions as d
from pepperpy.cloud.monitor.series import Series
from pepperpy.cloud.monitor.store import ROLLUP, MetricStore, SeriesData

Arrays = tuple[np.ndarray, np.ndarray]
EMPTY: Arrays = (np.empty(0), np.empty(0))


def aggregate(parts: list[SeriesData], how: str) -> Arrays:
    """Combine series sampled at the same scrape timestamps with ``sum``, ``avg`` or ``max``."""
    parts = [p for p in parts if p.timestamps.size]
    if not parts:
        return EMPTY
    ts = np.concatenate([p.timestamps for p in parts])
    val = np.concatenate([p.values for p in parts])
    uniq, inverse = np.unique(ts, return_inverse=True)
    sums = np.bincount(inverse, weights=val, minlength=uniq.size)
    if how == "sum":
        return uniq, sums
    if how == "avg":
        return uniq, sums / np.bincount(inverse, minlength=uniq.size)
    out = np.full(uniq.size, -np.inf)
    np.maximum.at(out, inverse, val)
    return uniq, out


def increases(ts: np.ndarray, val: np.ndarray) -> Arrays:
    """Per-interval increase of a counter, stamped at the end of each interval."""
    if ts.size < 2:
        return EMPTY
    delta = np.diff(val)
    delta = np.where(delta < 0, val[1:], delta)
    return ts[1:], delta


def counter_increase(parts: list[SeriesData]) -> Arrays:
    """Sum over series of each one's per-interval increase (resets handled per series)."""
    return aggregate([SeriesData(p.name, p.labels, *increases(p.timestamps, p.values)) for p in parts], "sum")


def histogram_quantile(q: float, buckets: list[SeriesData]) -> Arrays:
    """Prometheus' estimate: find the bucket holding rank q·count, interpolate linearly in it."""
    increased = []
    for part in buckets:
        le = float(part.labels.get("le", "nan").replace("+Inf", "inf"))
        ts, inc = increases(part.timestamps, part.values)
        increased.append((le, ts, inc))
    increased.sort(key=lambda x: x[0])
    if not increased or not increased[0][1].size:
        return EMPTY
    common = increased[0][1]
    for _, ts, _ in increased[1:]:
        common = np.intersect1d(common, ts)
    bounds = np.array([b[0] for b in increased])
    counts = np.vstack([inc[np.isin(ts, common)] for _, ts, inc in increased])  # cumulative per le
    total = counts[-1]
    out_t, out_v = [], []
    for j, stamp in enumerate(common):
        if total[j] <= 0:
            continue
        rank = q * total[j]
        i = int(np.searchsorted(counts[:, j], rank))
        i = min(i, len(bounds) - 1)
        if np.isinf(bounds[i]):
            value = bounds[i - 1] if i > 0 else 0.0
        else:
            lower = bounds[i - 1] if i > 0 else 0.0
            below = counts[i - 1, j] if i > 0 else 0.0
            inside = counts[i, j] - below
            value = lower + (bounds[i] - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        out_t.append(stamp)
        out_v.append(value)
    return np.array(out_t), np.array(out_v)


def _ratio(num: Arrays, den: Arrays, scale: float = 1.0) -> Arrays:
    common, i, j = np.intersect1d(num[0], den[0], return_indices=True)
    keep = den[1][j] > 0
    return common[keep], scale * num[1][i][keep] / den[1][j][keep]


def _rate(arrays: Arrays, previous: Callable[[], np.ndarray]) -> Arrays:
    ts, inc = arrays
    starts = previous()
    dt = ts - starts
    keep = dt > 0
    return ts[keep], inc[keep] / dt[keep]


def compute(store: MetricStore, deployment: str, name: str, start: float, end: float,
            resolution: int | None = None) -> Series:
    """The logical metric ``name`` of ``deployment`` between ``start`` and ``end``."""
    definition = d.metric(name)
    res = resolution if resolution is not None else (ROLLUP if end - start > 2 * 86400 else 0)
    match = {"deployment": deployment}

    def read(raw: str, extra: dict[str, str] | None = None) -> list[SeriesData]:
        # One sample more on the left so the first interval's increase is measured, not dropped.
        return store.read(raw, {**match, **(extra or {})}, start - max(res, 60), end, res)

    def trim(arrays: Arrays) -> Arrays:
        keep = arrays[0] >= start
        return arrays[0][keep], arrays[1][keep]

    ts, val = _evaluate(name, read)
    ts, val = trim((ts, val))
    return Series(name, deployment, definition.unit, ts, val, {"deployment": deployment},
                  definition.description)


def _evaluate(name: str, read: Callable[..., list[SeriesData]]) -> Arrays:
    if name == "cpu_usage":
        return aggregate(read(d.RAW_CPU), "avg")
    if name == "memory_usage":
        return aggregate(read(d.RAW_MEMORY), "sum")
    if name == "replicas":
        return aggregate(read(d.RAW_REPLICAS), "max")
    if name == "in_flight":
        return aggregate(read(d.RAW_IN_FLIGHT), "sum")
    if name == "requests_count":
        return counter_increase(read(d.RAW_REQUESTS))
    if name in ("errors_4xx", "errors_5xx"):
        return counter_increase(read(d.RAW_REQUESTS, {"status_class": name[-3:]}))
    if name == "error_rate":
        return _ratio(counter_increase(read(d.RAW_REQUESTS, {"status_class": "5xx"})),
                      counter_increase(read(d.RAW_REQUESTS)), 100.0)
    if name == "requests_per_second":
        parts = read(d.RAW_REQUESTS)
        total = counter_increase(parts)
        stamps = np.unique(np.concatenate([p.timestamps for p in parts])) if parts else np.empty(0)

        def previous() -> np.ndarray:
            idx = np.searchsorted(stamps, total[0]) - 1
            return np.asarray(stamps[np.maximum(idx, 0)])
        return _rate(total, previous)
    if name == "response_time":
        return _ratio(counter_increase(read(d.RAW_LATENCY_SUM)), counter_increase(read(d.RAW_LATENCY_COUNT)))
    if name == "response_time_p95":
        return histogram_quantile(0.95, read(d.RAW_LATENCY_BUCKET))
    raise AssertionError(f"metric {name} has a definition but no evaluation")


def latest(store: MetricStore, deployment: str, name: str, now: float, window: float) -> float | None:
    """The newest point of ``name`` within ``window`` seconds of ``now``; None when there is none."""
    series = compute(store, deployment, name, now - window, now, resolution=0)
    return series.last
