"""Logical metrics from raw series: per-scrape aggregation, counter increases, latency, quantiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pepperpy.cloud.errors import NotFoundError
from pepperpy.cloud.monitor import definitions as d
from pepperpy.cloud.monitor.query import compute, histogram_quantile, increases
from pepperpy.cloud.monitor.store import MetricStore, SeriesData

T0 = 1_800_000_000.0
DEP = {"deployment": "web"}


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    with MetricStore(tmp_path / "m.db") as s:
        yield s


def _put(store: MetricStore, name: str, labels: dict[str, str], values: list[float], step: float = 10.0) -> None:
    store.append([(name, {**DEP, **labels}, T0 + i * step, v) for i, v in enumerate(values)], counters=d.COUNTERS)


def test_cpu_is_averaged_over_replicas_at_each_scrape(store: MetricStore) -> None:
    _put(store, d.RAW_CPU, {"replica": "0"}, [10, 20, 30])
    _put(store, d.RAW_CPU, {"replica": "1"}, [30, 40, 90])
    got = compute(store, "web", "cpu_usage", T0, T0 + 30)
    assert got.unit == "percent"
    assert got.values.tolist() == [20.0, 30.0, 60.0]
    assert got.timestamps.tolist() == [T0, T0 + 10, T0 + 20]


def test_a_missing_scrape_stays_a_gap(store: MetricStore) -> None:
    store.append([(d.RAW_MEMORY, {**DEP, "replica": "0"}, T0 + t, 1.0) for t in (0, 10, 50)])
    got = compute(store, "web", "memory_usage", T0, T0 + 60)
    assert got.timestamps.tolist() == [T0, T0 + 10, T0 + 50]


def test_counter_increases_survive_a_restart() -> None:
    ts = np.array([0.0, 10, 20, 30])
    t, inc = increases(ts, np.array([5.0, 9, 2, 4]))  # the process restarted before the third scrape
    assert t.tolist() == [10, 20, 30] and inc.tolist() == [4, 2, 2]


def test_requests_count_rate_and_errors(store: MetricStore) -> None:
    _put(store, d.RAW_REQUESTS, {"status_class": "2xx"}, [0, 100, 250])
    _put(store, d.RAW_REQUESTS, {"status_class": "5xx"}, [0, 0, 50])
    assert compute(store, "web", "requests_count", T0, T0 + 30).values.tolist() == [100, 200]
    assert compute(store, "web", "requests_per_second", T0, T0 + 30).values.tolist() == [10, 20]
    assert compute(store, "web", "errors_5xx", T0, T0 + 30).values.tolist() == [0, 50]
    assert compute(store, "web", "error_rate", T0, T0 + 30).values.tolist() == [0, 25]


def test_response_time_is_mean_per_interval_and_skips_idle_intervals(store: MetricStore) -> None:
    _put(store, d.RAW_LATENCY_SUM, {}, [0, 2.0, 2.0, 5.0])
    _put(store, d.RAW_LATENCY_COUNT, {}, [0, 10, 10, 20])
    got = compute(store, "web", "response_time", T0, T0 + 40)
    assert got.timestamps.tolist() == [T0 + 10, T0 + 30]  # no request in the second interval: no point
    assert got.values.tolist() == pytest.approx([0.2, 0.3])


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    ts = np.array([0.0, 10.0])
    buckets = [SeriesData("b", {"le": le}, ts, np.array([0.0, c])) for le, c in
               (("0.1", 50), ("0.5", 90), ("1.0", 100), ("+Inf", 100))]
    _, v = histogram_quantile(0.95, buckets)
    # rank 95 falls in (0.5, 1.0] holding 10 observations, 5 of them below the rank: 0.5 + 0.5 * 5/10
    assert v.tolist() == pytest.approx([0.75])
    _, v = histogram_quantile(0.5, buckets)
    assert v.tolist() == pytest.approx([0.1])


def test_unknown_metric_names_the_field(store: MetricStore) -> None:
    with pytest.raises(NotFoundError, match="metrics: unknown metric 'cpu_usge'.*cpu_usage"):
        compute(store, "web", "cpu_usge", T0, T0 + 10)
